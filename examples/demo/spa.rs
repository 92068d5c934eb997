//! The SPA's server (behind the gateway's `/` route, `auth: none`): the static files, compiled
//! in, and the journal — `GET /demo/journal?after=<seq>` for the step-by-step panel and
//! `POST /demo/journal/browser` for the few steps only the browser sees (a click, a 401).
//!
//! The browser can only name a step from a fixed list; it never writes free text into the
//! journal (an `auth_error` code must look like one).

use crate::journal::{Actor, Journal, Step};
use crate::serve::{self, Body, Handler};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use std::sync::Arc;

const INDEX_HTML: &str = include_str!("spa/index.html");
const APP_JS: &str = include_str!("spa/app.js");
const APP_CSS: &str = include_str!("spa/app.css");

/// Scripts, styles and fetches from this origin only; no frames, no plugins.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// Largest browser note accepted.
const MAX_NOTE_BYTES: usize = 1024;

pub struct SpaSite {
    pub journal: Arc<Journal>,
}

impl Handler for SpaSite {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        match (&method, path.as_str()) {
            (&Method::GET, "/" | "/index.html") => page(INDEX_HTML),
            (&Method::GET, "/app.js") => {
                serve::respond(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS)
            }
            (&Method::GET, "/app.css") => {
                serve::respond(StatusCode::OK, "text/css; charset=utf-8", APP_CSS)
            }
            (&Method::GET, "/demo/journal") => {
                let after = after_param(request.uri().query().unwrap_or(""));
                serve::json(StatusCode::OK, &self.journal.since(after))
            }
            (&Method::POST, "/demo/journal/browser") => self.browser_note(request).await,
            _ => serve::error(StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

fn page(html: &'static str) -> Response<Body> {
    let mut response = serve::respond(StatusCode::OK, "text/html; charset=utf-8", html);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `after=<seq>` from the query; 0 when missing or malformed.
fn after_param(query: &str) -> u64 {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "after")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// What the SPA reports: `{"step": "...", "error": "..."}`.
#[derive(Deserialize)]
struct BrowserNote {
    step: String,
    #[serde(default)]
    error: String,
}

impl SpaSite {
    async fn browser_note(&self, request: Request<Incoming>) -> Response<Body> {
        let Ok(body) = Limited::new(request.into_body(), MAX_NOTE_BYTES)
            .collect()
            .await
        else {
            return serve::error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
        };
        let Ok(note) = serde_json::from_slice::<BrowserNote>(&body.to_bytes()) else {
            return serve::error(StatusCode::BAD_REQUEST, "bad_note");
        };
        match browser_step(&note.step, &note.error) {
            Some(step) => {
                self.journal.record(step);
                serve::respond(StatusCode::NO_CONTENT, "text/plain", "")
            }
            None => serve::error(StatusCode::BAD_REQUEST, "unknown_step"),
        }
    }
}

fn browser(kind: &'static str, title: impl Into<String>, explain: &'static str) -> Step {
    Step::new(Actor::Browser, kind, title, explain)
}

/// The journal step for a browser note; `None` for an unknown step or a malformed error code.
fn browser_step(step: &str, error: &str) -> Option<Step> {
    let step = match step {
        "signed_out" => browser(
            "spa_signed_out",
            "SPA loaded: not signed in",
            "The SPA asked the gateway's /auth/session; without a session cookie the answer is \
             401, so it shows \"Not signed in\".",
        ),
        "signed_in" => browser(
            "spa_signed_in",
            "SPA loaded: signed in",
            "The SPA took the user's name from /auth/session — claims only; JavaScript never \
             holds a token.",
        ),
        "get_contacts" => browser(
            "click_get_contacts",
            "Clicked \"Get contacts\" → fetch('/api/contacts') with X-CSRF: 1",
            "The SPA calls its own origin; the browser adds the session cookie, which \
             JavaScript cannot read.",
        ),
        "login_redirect" if error.is_empty() => browser(
            "spa_login_redirect",
            "Got 401 → navigating to /auth/login?return_to=/",
            "Not signed in: the SPA hands the browser to the gateway to start the login.",
        ),
        "login_redirect" if error == "invalid_token" => browser(
            "spa_login_redirect",
            "Got 403 invalid_token → navigating to /auth/login?return_to=/",
            "The API refused the access token even after the gateway's one refresh: only a \
             new login gets a good one.",
        ),
        "contacts_shown" => browser(
            "spa_contacts_shown",
            "Contacts shown",
            "The SPA rendered the API's JSON; it never knew which token was used.",
        ),
        "log_out" => browser(
            "click_log_out",
            "Clicked \"Log out\" → POST /auth/logout",
            "The SPA asks the gateway to end the session, then follows the logout URL it gets \
             back to the authorization server.",
        ),
        "auth_error" if is_error_code(error) => browser(
            "spa_auth_error",
            format!("Back from login with auth_error={error}"),
            "The authorization server answered with an error instead of a code; the gateway \
             passed it to the SPA, which explains it.",
        ),
        _ => return None,
    };
    Some(step)
}

/// An OAuth error code as the gateway passes it on: `[a-z_]`, not too long.
fn is_error_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_cursor_is_read_from_the_query() {
        assert_eq!(after_param("after=12"), 12);
        assert_eq!(after_param("x=1&after=3"), 3);
        assert_eq!(after_param("after=-1"), 0);
        assert_eq!(after_param(""), 0);
    }

    #[test]
    fn the_browser_names_steps_from_a_fixed_list_only() {
        assert_eq!(
            browser_step("get_contacts", "").unwrap().kind,
            "click_get_contacts"
        );
        assert!(browser_step("<script>", "").is_none());
        let step = browser_step("auth_error", "access_denied").unwrap();
        assert_eq!(step.title, "Back from login with auth_error=access_denied");
        assert!(browser_step("auth_error", "<b>hi</b>").is_none());
        assert!(browser_step("auth_error", "").is_none());
        let step = browser_step("login_redirect", "invalid_token").unwrap();
        assert_eq!(step.kind, "spa_login_redirect");
        assert!(step.title.starts_with("Got 403 invalid_token"));
        assert!(browser_step("login_redirect", "<b>hi</b>").is_none());
    }
}
