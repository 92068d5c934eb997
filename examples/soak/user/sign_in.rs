//! Signing in and out as a browser does: top-level navigations through the redirects, the
//! provider's login form filled in, and the checks that the session is this user's (after a
//! login) or gone (after a logout).

use super::{Failure, Outcome, SESSION_COOKIE, User, error, transport};
use crate::browser::Answer;
use crate::tally::Kind;
use reqwest::{Method, StatusCode, Url};
use std::sync::atomic::Ordering::Relaxed;

const MAX_HOPS: usize = 10;

impl User {
    /// Top-level navigations from `url` until an answer that is not a redirect.
    async fn navigate(&self, kind: Kind, mut url: Url) -> Result<(Url, Answer), Failure> {
        let headers = [
            ("accept", "text/html"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "same-origin"),
        ];
        for _ in 0..MAX_HOPS {
            let answer = self
                .send(kind, Method::GET, &url, &headers, None)
                .await
                .map_err(|e| transport(&format!("GET {}", url.path()), &e))?;
            match answer
                .status
                .is_redirection()
                .then(|| answer.location(&url))
            {
                Some(Some(next)) => url = next,
                Some(None) => return Err(error("a redirect without a Location")),
                None => return Ok((url, answer)),
            }
        }
        Err(error("too many redirects"))
    }

    /// `GET /auth/session` as the SPA asks it, counted under `kind`.
    async fn session_info(&self, kind: Kind) -> Result<Answer, Failure> {
        let session = self.url("/auth/session");
        self.send(
            kind,
            Method::GET,
            &session,
            &[("accept", "application/json")],
            None,
        )
        .await
        .map_err(|e| transport("GET /auth/session", &e))
    }

    pub(super) async fn login(&self) -> Outcome {
        self.tally.logins.fetch_add(1, Relaxed);
        let (mut url, mut answer) = self
            .navigate(Kind::Login, self.url("/auth/login?return_to=/"))
            .await?;
        let mut forms = 0;
        // The provider's login form (no SSO session there yet): fill it in.
        while let Some(request_id) = form_request_id(&answer.body) {
            forms += 1;
            if forms > 2 {
                return Err(error("login: the provider's form came back twice"));
            }
            let form_url = url.join("/oauth2/login").expect("an absolute path joins");
            let body: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("request", &request_id)
                .append_pair("username", &self.username)
                .append_pair("password", &self.password)
                .finish();
            let headers = [("content-type", "application/x-www-form-urlencoded")];
            let posted = self
                .send(Kind::Login, Method::POST, &form_url, &headers, Some(body))
                .await
                .map_err(|e| transport("POST /oauth2/login", &e))?;
            let Some(next) = posted
                .location(&form_url)
                .filter(|_| posted.status.is_redirection())
            else {
                return Err(error(format!(
                    "login: the provider's form answered {}",
                    posted.status
                )));
            };
            (url, answer) = self.navigate(Kind::Login, next).await?;
        }
        // The callback ends on a same-origin page that continues to `return_to`.
        if url.path() == "/auth/callback" {
            if answer.status != StatusCode::OK {
                return Err(error(format!("login: callback answered {}", answer.status)));
            }
            (_, answer) = self.navigate(Kind::Login, self.url("/")).await?;
        }
        if answer.status != StatusCode::OK || !self.browser.holds(&self.plan.base, SESSION_COOKIE) {
            return Err(error(format!(
                "login: ended at {} with {} and no session cookie",
                url.path(),
                answer.status
            )));
        }
        // The session is this user's (a mix-up of users would show here).
        let answer = self.session_info(Kind::Login).await?;
        let info: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let subject = format!("soak-subject-{:02}", self.n);
        if answer.status != StatusCode::OK || info["claims"]["sub"] != subject.as_str() {
            return Err(error(format!(
                "login: /auth/session answered {} without this user",
                answer.status
            )));
        }
        Ok(())
    }

    /// `POST /auth/logout` as a form would, through the provider's end-session endpoint and
    /// back; the session cookie must be gone and `/auth/session` must say so.
    pub(super) async fn logout(&self) -> Outcome {
        let url = self.url("/auth/logout");
        let headers = [
            ("accept", "text/html"),
            ("x-csrf", "1"),
            ("origin", self.plan.origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];
        let answer = self
            .send(Kind::Logout, Method::POST, &url, &headers, None)
            .await
            .map_err(|e| transport("POST /auth/logout", &e))?;
        let Some(next) = answer
            .location(&url)
            .filter(|_| answer.status.is_redirection())
        else {
            return Err(error(format!(
                "logout: answered {}",
                answer.status.as_u16()
            )));
        };
        let (end, answer) = self.navigate(Kind::Logout, next).await?;
        if answer.status != StatusCode::OK || end.path() != "/" {
            return Err(error(format!(
                "logout: ended at {} with {}",
                end.path(),
                answer.status
            )));
        }
        if self.browser.holds(&self.plan.base, SESSION_COOKIE) {
            return Err(error("logout: the session cookie is still there"));
        }
        let answer = self.session_info(Kind::Logout).await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Err(error(format!(
                "logout: /auth/session answered {}",
                answer.status.as_u16()
            )));
        }
        Ok(())
    }
}

/// The pending request id of the provider's login form, when `body` is that form.
fn form_request_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("action=\"/oauth2/login\"") {
        return None;
    }
    let marker = "name=\"request\" value=\"";
    let start = text.find(marker)? + marker.len();
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}
