//! `/auth/logout`, `/auth/logout/continue` and `/auth/logout/done` (checklist O1–O4, O-get).
//!
//! RP-initiated logout (OIDC RP-Initiated Logout §2, §3): the end-session URL carries
//! `id_token_hint`, `client_id`, a `post_logout_redirect_uri` built from config only
//! (`server.public_url` + `auth.path_prefix` + `/logout/done`) and a fresh random `state`, which
//! is also sealed into a short-lived `SameSite=Lax` cookie (the provider's redirect back is a
//! cross-site top-level navigation). `/logout/done` compares the two in constant time and then
//! redirects to `auth.post_logout_redirect`; nothing from its query is ever a redirect target.
//! Never logs the state, a token or a cookie value.

use super::endpoints::Query;
use super::pages::{self, with_cookies};
use super::{LOGIN_TTL, TokenHandler};
use crate::body::ResponseBody;
use crate::oauth::id_token::constant_time_eq;
use crate::oauth::pkce::random_token;
use crate::session::cookies::{self, RequestCookies};
use http::header::ACCEPT;
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::json;

/// AAD name of the sealed logout hop, and how long it stays valid (seconds).
const LOGOUT_HOP: &str = "logout-continue";
const LOGOUT_HOP_TTL: u64 = 300;

/// What follows the login-cookie prefix in the pending logout's cookie name.
pub(super) const LOGOUT_COOKIE_ID: &str = "logout";

impl TokenHandler {
    /// The cookie holding the pending logout's `state`: in the login-cookie family, so it is
    /// never forwarded upstream nor settable by an upstream; sealed for the login purpose with
    /// its own name as associated data, so no login cookie can stand in for it.
    pub(super) fn logout_cookie_name(&self) -> String {
        format!("{}{LOGOUT_COOKIE_ID}", self.session.login_cookie_prefix)
    }

    /// Where the provider sends the browser after logout (must be registered there).
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}{}/logout/done", self.public_url, self.auth.path_prefix)
    }

    pub(super) async fn logout<B>(
        &self,
        request: &Request<B>,
        cookies: &RequestCookies<'_>,
        now: u64,
        post: bool,
    ) -> Response<ResponseBody> {
        // POST needs the CSRF header; the optional GET variant at least a same-origin request
        // (checklist O-get).
        let checked = if post {
            self.origins
                .check(request.headers(), &self.auth.csrf_header, true)
        } else {
            self.origins.check_navigation(request.headers())
        };
        if let Err(error) = checked {
            return pages::json(
                StatusCode::FORBIDDEN,
                &json!({"error": "csrf", "message": error.to_string()}),
            );
        }
        let session = self.open_session(cookies, now).ok();
        let mut set_cookies = self.clear_session(cookies);
        // Pending logins end with the session too (checklist O1).
        set_cookies.extend(self.clear_login_cookies(cookies));
        let provider = self.client.provider();
        if let (Some(session), Some(provider)) = (&session, provider) {
            if let Some(rt) = &session.rt {
                self.client.revoke(provider, rt, "refresh_token").await;
            }
            self.client
                .revoke(provider, &session.at, "access_token")
                .await;
        }
        // checklist O4: a fresh 256-bit state per logout, bound to this browser by the cookie.
        let state = random_token(32);
        let end_session = provider.and_then(|p| {
            let hint = session.as_ref().and_then(|s| s.idt.as_deref());
            self.client
                .end_session_url(p, hint, &self.post_logout_redirect_uri(), &state)
        });
        let name = self.logout_cookie_name();
        let logout_url = match end_session {
            Some(url) => {
                let sealed =
                    self.login_codec
                        .seal(&name, state.as_bytes(), now + LOGIN_TTL.as_secs());
                match cookies::write(&self.login_cookie_spec(name), &sealed, 0) {
                    Ok(values) => set_cookies.extend(values),
                    // Unreachable for a 43-character state; the session is cleared anyway.
                    Err(_) => return with_cookies(self.logged_out_locally(), set_cookies),
                }
                url
            }
            None => {
                if cookies.iter().any(|(n, _)| n == name) {
                    set_cookies.extend(cookies::clear(&self.login_cookie_spec(name), 0));
                }
                self.auth.post_logout_redirect.clone()
            }
        };
        tracing::info!(target: "bff_gateway::auth", had_session = session.is_some(), "logout");
        let wants_json = request
            .headers()
            .get(ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
        let response = if wants_json {
            // The end-session URL carries the ID token as `id_token_hint`; JavaScript gets a
            // sealed hop through this gateway instead, so no token is ever readable by it.
            let hop = if logout_url.contains("id_token_hint=") {
                let sealed =
                    self.login_codec
                        .seal(LOGOUT_HOP, logout_url.as_bytes(), now + LOGOUT_HOP_TTL);
                format!(
                    "{}{}/logout/continue?t={sealed}",
                    self.public_url, self.auth.path_prefix
                )
            } else {
                logout_url
            };
            pages::json(StatusCode::OK, &json!({"logout_url": hop}))
        } else {
            pages::redirect(&logout_url)
        };
        with_cookies(response, set_cookies)
    }

    fn logged_out_locally(&self) -> Response<ResponseBody> {
        pages::redirect(&self.auth.post_logout_redirect)
    }

    /// `GET /auth/logout/continue?t=<sealed>`: the second half of a JSON logout; redirects to
    /// the provider's end-session URL sealed in `t`, or home when `t` is not one of ours.
    pub(super) fn logout_continue(&self, query: &Query<'_>, now: u64) -> Response<ResponseBody> {
        let target = query
            .unique("t")
            .and_then(|t| self.login_codec.open(LOGOUT_HOP, t, now).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|url| {
                self.client
                    .provider()
                    .and_then(|p| p.endpoints.end_session_endpoint.as_deref())
                    .is_some_and(|endpoint| url.starts_with(endpoint))
            });
        match target {
            Some(url) => pages::redirect(&url),
            None => self.logged_out_locally(),
        }
    }

    /// `GET /auth/logout/done?state=…`: the provider's redirect after its logout (checklist O4).
    /// A matching state (constant time) spends the logout cookie; a missing or foreign one
    /// changes nothing (a forged link must not cancel the real logout's state). Either way the
    /// browser goes to `auth.post_logout_redirect`, never to a target from the query.
    pub(super) fn logout_done(
        &self,
        query: &Query<'_>,
        cookies: &RequestCookies<'_>,
        now: u64,
    ) -> Response<ResponseBody> {
        let name = self.logout_cookie_name();
        let returned = query.unique("state");
        let (matched, spent) = match cookies.get_unique(&name) {
            Ok(Some(value)) => match self.login_codec.open(&name, value, now) {
                Ok(expected) => {
                    let matched = returned.is_some_and(|r| constant_time_eq_bytes(&expected, r));
                    (matched, matched)
                }
                // Tampered, foreign or expired: worthless, so it goes.
                Err(_) => (false, true),
            },
            // A doubled cookie is not trusted, and cleared.
            Err(_) => (false, true),
            Ok(None) => (false, false),
        };
        tracing::info!(target: "bff_gateway::auth", state_matched = matched, "back from the provider's logout");
        let clear: Vec<HeaderValue> = if spent {
            cookies::clear(&self.login_cookie_spec(name), 0)
        } else {
            Vec::new()
        };
        with_cookies(self.logged_out_locally(), clear)
    }
}

fn constant_time_eq_bytes(expected: &[u8], returned: &str) -> bool {
    std::str::from_utf8(expected).is_ok_and(|e| constant_time_eq(e, returned))
}
