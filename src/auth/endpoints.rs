//! `/auth/login`, `/auth/callback`, `/auth/session` (checklist A*, B*); the dispatch of every
//! `/auth/*` endpoint (logout lives in `logout`).
//!
//! Everything origin-dependent (redirect_uri, post-logout URL, Location) comes from config, never
//! from `Host` or `X-Forwarded-*`; a request for another host is refused (checklist K4).

use super::logout::LOGOUT_COOKIE_ID;
use super::pages::{self, with_cookies};
use super::{LOGIN_TTL, NoSession, TokenHandler, return_to, unix_now};
use crate::body::ResponseBody;
use crate::error::error_chain;
use crate::oauth::http::ProviderHttpError;
use crate::oauth::id_token::{IdTokenError, constant_time_eq};
use crate::oauth::pkce::{Pkce, random_token};
use crate::oauth::{Provider, TokenError};
use crate::session::cookies::{self, RequestCookies};
use crate::session::model::profile_claims;
use crate::session::{LoginState, Session};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{COOKIE, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Parsed query string; keeps duplicates so they can be refused (checklist B1).
pub(super) struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    pub(super) fn parse(query: Option<&'a str>) -> Self {
        let pairs = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
            .unwrap_or_default();
        Self { pairs }
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    pub(super) fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| k == name).count()
    }

    /// The value of a parameter given exactly once; a repeated one is no value (checklist B1).
    pub(super) fn unique(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|_| self.count(name) == 1)
    }
}

impl TokenHandler {
    /// Answers a request under `auth.path_prefix`; `rest` is the path after the prefix.
    pub async fn endpoint<B>(
        &self,
        request: &Request<B>,
        rest: &str,
        forwarded_host: Option<&HeaderValue>,
    ) -> Response<ResponseBody> {
        if !self.host_is_public(request, forwarded_host) {
            return pages::json(
                StatusCode::MISDIRECTED_REQUEST,
                &json!({"error": "misdirected", "message": "this host is not the gateway's public_url"}),
            );
        }
        let cookies = RequestCookies::parse(request.headers().get_all(COOKIE).iter());
        let query = Query::parse(request.uri().query());
        let now = unix_now();
        let method = request.method();
        let mut response = match (rest, method) {
            ("/login", &Method::GET) => self.login(&query, &cookies, now),
            ("/callback", &Method::GET) => self.callback(&query, &cookies, now).await,
            ("/session", &Method::GET) => self.session_info(&cookies, now),
            ("/logout", &Method::POST) => self.logout(request, &cookies, now, true).await,
            ("/logout", &Method::GET) if self.auth.logout_get => {
                self.logout(request, &cookies, now, false).await
            }
            ("/logout/continue", &Method::GET) => self.logout_continue(&query, now),
            ("/logout/done", &Method::GET) => self.logout_done(&query, &cookies, now),
            (
                "/login" | "/callback" | "/session" | "/logout" | "/logout/continue"
                | "/logout/done",
                _,
            ) => pages::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": "method_not_allowed", "message": "see README: /auth endpoints"}),
            ),
            _ => pages::json(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "message": "unknown auth endpoint"}),
            ),
        };
        // checklist K5: the browser should never reach the sign-in endpoints over plain HTTP.
        if self.public_url.starts_with("https://") {
            response.headers_mut().insert(
                http::header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            );
        }
        response
    }

    fn host_is_public<B>(
        &self,
        request: &Request<B>,
        forwarded_host: Option<&HeaderValue>,
    ) -> bool {
        let host = forwarded_host
            .or_else(|| request.headers().get(HOST))
            .map(|h| h.as_bytes().to_vec())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|a| a.as_str().as_bytes().to_vec())
            });
        let public = self
            .public_url
            .split_once("://")
            .map_or("", |(_, authority)| authority);
        host.is_some_and(|h| h.eq_ignore_ascii_case(public.as_bytes()))
    }

    fn login(
        &self,
        query: &Query<'_>,
        cookies: &RequestCookies<'_>,
        now: u64,
    ) -> Response<ResponseBody> {
        let Some(provider) = self.client.provider() else {
            return not_ready();
        };
        let return_to = return_to::resolve(query.get("return_to"), &self.auth.default_return_to);
        let prompt = query
            .get("prompt")
            .filter(|p| matches!(*p, "none" | "login" | "consent"));
        let state = random_token(32);
        let pkce = self.client.config().pkce.then(Pkce::generate);
        let nonce = self
            .client
            .config()
            .wants_openid()
            .then(|| random_token(32));
        let login = LoginState {
            state: state.clone(),
            verifier: pkce.as_ref().map(|p| p.verifier.clone()),
            nonce: nonce.clone(),
            return_to: return_to.to_owned(),
            created: now,
            created_ms: unix_now_ms(),
        };
        let name = self.login_cookie_name(&state);
        let plaintext = serde_json::to_vec(&login).unwrap_or_default();
        let sealed = self
            .login_codec
            .seal(&name, &plaintext, now + LOGIN_TTL.as_secs());
        let mut set_cookies = self.evict_login_cookies(cookies, now);
        match cookies::write(&self.login_cookie_spec(name), &sealed, 0) {
            Ok(mut values) => set_cookies.append(&mut values),
            Err(_) => {
                return pages::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sign-in failed",
                    "The login state does not fit in a cookie.",
                );
            }
        }
        let location = self.client.authorize_url(
            provider,
            &state,
            pkce.as_ref().map(|p| p.challenge.as_str()),
            nonce.as_deref(),
            prompt,
        );
        tracing::info!(target: "bff_gateway::auth", "login started");
        self.metrics.login_started();
        with_cookies(pages::redirect(&location), set_cookies)
    }

    /// One login cookie per transaction, named after a hash of its state (never the state).
    fn login_cookie_name(&self, state: &str) -> String {
        let digest = Sha256::digest(state.as_bytes());
        let id = URL_SAFE_NO_PAD.encode(&digest[..9]);
        format!("{}{id}", self.session.login_cookie_prefix)
    }

    /// The request's login-transaction cookies: the login-cookie family without the pending
    /// logout's (`logout_cookie_name`, matched here without building it).
    fn login_cookies<'a>(
        &self,
        cookies: &RequestCookies<'a>,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        let prefix = self.session.login_cookie_prefix.as_str();
        cookies.iter().filter(move |(n, _)| {
            n.strip_prefix(prefix)
                .is_some_and(|id| id != LOGOUT_COOKIE_ID)
        })
    }

    /// Clears the oldest login cookies so that, with the one being added, at most
    /// `auth.max_login_cookies` exist (checklist A7: they must never pile up into 431s).
    fn evict_login_cookies(&self, cookies: &RequestCookies<'_>, now: u64) -> Vec<HeaderValue> {
        let mut live: Vec<(u64, &str)> = Vec::new();
        let mut out = Vec::new();
        for (name, value) in self.login_cookies(cookies) {
            match self.open_login(name, value, now) {
                // Saturating: an overflow panic found with the `login_cookie` fuzz target.
                Some(login) => live.push((
                    login.created_ms.max(login.created.saturating_mul(1000)),
                    name,
                )),
                None => out.extend(cookies::clear(&self.login_cookie_spec(name.to_owned()), 0)),
            }
        }
        live.sort_unstable();
        let excess = (live.len() + 1).saturating_sub(self.auth.max_login_cookies);
        for (_, name) in live.into_iter().take(excess) {
            out.extend(cookies::clear(&self.login_cookie_spec(name.to_owned()), 0));
        }
        out
    }

    /// `Set-Cookie` values deleting every login-transaction cookie the request carried (not the
    /// pending logout's), each name once.
    pub(super) fn clear_login_cookies(&self, cookies: &RequestCookies<'_>) -> Vec<HeaderValue> {
        let mut names: Vec<&str> = self.login_cookies(cookies).map(|(n, _)| n).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .flat_map(|n| cookies::clear(&self.login_cookie_spec(n.to_owned()), 0))
            .collect()
    }

    fn open_login(&self, name: &str, value: &str, now: u64) -> Option<LoginState> {
        let plaintext = self.login_codec.open(name, value, now).ok()?;
        serde_json::from_slice(&plaintext).ok()
    }

    async fn callback(
        &self,
        query: &Query<'_>,
        cookies: &RequestCookies<'_>,
        now: u64,
    ) -> Response<ResponseBody> {
        let state = query
            .unique("state")
            .filter(|s| !s.is_empty() && s.len() <= 512);
        // The login cookie is single-use: cleared on every outcome (checklist B2). A response
        // that names one transaction ends that one only (a forged callback cannot end another
        // tab's login); one that names none (no or repeated state) ends every pending login, so
        // that its cookie never lingers.
        let clear = match state {
            Some(state) => {
                cookies::clear(&self.login_cookie_spec(self.login_cookie_name(state)), 0)
            }
            None => self.clear_login_cookies(cookies),
        };
        if ["code", "state", "iss", "error"]
            .iter()
            .any(|name| query.count(name) > 1)
        {
            return self.failed(
                StatusCode::BAD_REQUEST,
                "duplicated_parameter",
                "The sign-in response repeats a parameter.",
                clear,
            );
        }
        let Some(state) = state else {
            return self.failed(
                StatusCode::BAD_REQUEST,
                "missing_state",
                "The sign-in response has no state.",
                clear,
            );
        };
        let name = self.login_cookie_name(state);
        let login = match cookies.get_unique(&name) {
            Ok(Some(value)) => self.open_login(&name, value, now),
            _ => None,
        };
        let Some(login) = login.filter(|l| constant_time_eq(&l.state, state)) else {
            return self.failed(
                StatusCode::BAD_REQUEST,
                "login_state_mismatch",
                "This sign-in was not started in this browser, or it took too long. Please start again.",
                clear,
            );
        };
        let Some(provider) = self.client.provider() else {
            self.metrics.login_failed("provider_not_ready");
            return with_cookies(not_ready(), clear);
        };
        // RFC 9207 covers error responses too: a forged `error=` from a mix-up is refused.
        if let Err(reason) = check_iss(provider, query.get("iss")) {
            return self.failed(StatusCode::BAD_REQUEST, "issuer_mismatch", reason, clear);
        }
        if let Some(error) = query.get("error") {
            return self.provider_error(error, &login, clear);
        }
        let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
            return self.failed(
                StatusCode::BAD_REQUEST,
                "missing_code",
                "The sign-in response has no code.",
                clear,
            );
        };
        match self
            .complete_login(provider, code, &login, cookies, now)
            .await
        {
            Ok(mut set_cookies) => {
                self.metrics.login_completed();
                set_cookies.extend(clear);
                with_cookies(pages::continue_to(&login.return_to), set_cookies)
            }
            Err((status, code, message)) => self.failed(status, code, message, clear),
        }
    }

    /// A failed callback: counted by reason, then the plain error page.
    fn failed(
        &self,
        status: StatusCode,
        code: &str,
        message: &str,
        clear: Vec<HeaderValue>,
    ) -> Response<ResponseBody> {
        let reason = match code {
            "duplicated_parameter" | "missing_state" | "login_state_mismatch" => "state",
            "issuer_mismatch" => "issuer",
            "code_rejected" | "provider_unavailable" | "provider_invalid" => "code_exchange",
            "id_token_invalid" | "id_token_missing" | "keys_unavailable" => "id_token",
            "session_too_large" => "session_too_large",
            _ => "other",
        };
        self.metrics.login_failed(reason);
        callback_failed(status, code, message, clear)
    }

    /// `error=` from the provider: no token request, no session (checklist B4). The SPA gets the
    /// allow-listed error code as `auth_error` (e.g. `login_required` after `prompt=none`).
    fn provider_error(
        &self,
        error: &str,
        login: &LoginState,
        clear: Vec<HeaderValue>,
    ) -> Response<ResponseBody> {
        let code = if !error.is_empty()
            && error.len() <= 64
            && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            error
        } else {
            "invalid_error"
        };
        tracing::info!(target: "bff_gateway::auth", error = code, "login ended with a provider error");
        self.metrics.login_failed("provider_error");
        let target = self.auth.error_path.as_deref().unwrap_or(&login.return_to);
        let separator = if target.contains('?') { '&' } else { '?' };
        with_cookies(
            pages::redirect(&format!("{target}{separator}auth_error={code}")),
            clear,
        )
    }

    /// Redeems the code, validates the ID token and seals the new session (checklist B5, B7, I*).
    async fn complete_login(
        &self,
        provider: &Provider,
        code: &str,
        login: &LoginState,
        cookies: &RequestCookies<'_>,
        now: u64,
    ) -> Result<Vec<HeaderValue>, (StatusCode, &'static str, &'static str)> {
        let tokens = self
            .client
            .exchange_code(provider, code, login.verifier.as_deref())
            .await
            .map_err(|error| {
                tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "code exchange failed");
                match error {
                    TokenError::Rejected { .. } => (StatusCode::BAD_REQUEST, "code_rejected", "The provider refused the sign-in code. Please start again."),
                    // checklist D4: a token endpoint that does not answer in time is a 504.
                    TokenError::Unavailable(ProviderHttpError::Timeout { .. }) => (StatusCode::GATEWAY_TIMEOUT, "provider_unavailable", "The sign-in provider could not be reached in time. Please try again."),
                    TokenError::Unavailable(_) => (StatusCode::BAD_GATEWAY, "provider_unavailable", "The sign-in provider could not be reached. Please try again."),
                    TokenError::Invalid(_) => (StatusCode::BAD_GATEWAY, "provider_invalid", "The sign-in provider's answer was unusable."),
                }
            })?;
        let claims = match (&tokens.id_token, self.client.config().wants_openid()) {
            (Some(id_token), _) => self
                .client
                .validate_id_token(provider, id_token, login.nonce.as_deref(), now)
                .await
                .map_err(|error| {
                    tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "ID token rejected");
                    match error {
                        // The provider's keys could not be fetched: its fault, not the token's.
                        IdTokenError::Jwks(_) => (StatusCode::BAD_GATEWAY, "keys_unavailable", "The sign-in provider's signing keys could not be fetched. Please try again."),
                        _ => (StatusCode::BAD_REQUEST, "id_token_invalid", "The provider's identity token did not pass validation."),
                    }
                })?,
            (None, true) => {
                return Err((StatusCode::BAD_GATEWAY, "id_token_missing", "The provider sent no identity token."));
            }
            (None, false) => serde_json::Map::new(),
        };
        let claims = self
            .with_userinfo(provider, &tokens.access_token, claims)
            .await;
        // A brand-new session; nothing from an earlier cookie is reused (checklist B7).
        let session = Session {
            at: tokens.access_token.clone(),
            at_exp: tokens.expires_in.map(|s| now + s),
            rt: tokens.refresh_token.clone(),
            idt: tokens.id_token.clone(),
            claims: profile_claims(&claims),
            created: now,
            seen: now,
        };
        let set_cookies = self.write_session(&session, cookies).map_err(|_| {
            (
                StatusCode::BAD_GATEWAY,
                "session_too_large",
                "The provider's tokens are too large to keep in cookies.",
            )
        })?;
        tracing::info!(target: "bff_gateway::auth", session = %session_label(&claims), "login completed");
        Ok(set_cookies)
    }

    /// Adds the UserInfo claims when configured (or when there is no ID token to take them
    /// from). UserInfo that names another subject than the ID token is discarded (checklist
    /// I7); a failing UserInfo endpoint costs the profile claims, not the sign-in.
    async fn with_userinfo(
        &self,
        provider: &Provider,
        access_token: &str,
        mut claims: serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        if !self.client.config().userinfo_claims && !claims.is_empty() {
            return claims;
        }
        let userinfo = match self.client.userinfo(provider, access_token).await {
            None => return claims,
            Some(Ok(userinfo)) => userinfo,
            Some(Err(error)) => {
                tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "UserInfo request failed; profile claims from the ID token only");
                return claims;
            }
        };
        if !userinfo.get("sub").is_some_and(|s| s.is_string()) {
            tracing::warn!(target: "bff_gateway::auth", "UserInfo answer has no subject; discarded");
            return claims;
        }
        if claims.contains_key("sub") && claims.get("sub") != userinfo.get("sub") {
            tracing::warn!(target: "bff_gateway::auth", "UserInfo names another subject than the ID token; discarded");
            return claims;
        }
        // UserInfo is the fresher source of profile claims; identity claims stay the ID token's.
        for (name, value) in userinfo {
            if !matches!(name.as_str(), "sub" | "iss" | "aud") {
                claims.insert(name, value);
            }
        }
        claims
    }

    fn session_info(&self, cookies: &RequestCookies<'_>, now: u64) -> Response<ResponseBody> {
        match self.open_session(cookies, now) {
            Ok(session) => pages::json(
                StatusCode::OK,
                &json!({
                    "authenticated": true,
                    "claims": session.claims,
                    "expires_at": self.expires_at(&session),
                }),
            ),
            Err(reason) => {
                let response =
                    pages::json(StatusCode::UNAUTHORIZED, &json!({"authenticated": false}));
                match reason {
                    NoSession::Invalid => with_cookies(response, self.clear_session(cookies)),
                    NoSession::Absent => response,
                }
            }
        }
    }
}

/// Unix time in milliseconds.
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 9207 (checklist B3): `iss`, when sent or announced, must equal the issuer exactly.
fn check_iss(provider: &Provider, iss: Option<&str>) -> Result<(), &'static str> {
    match (iss, &provider.endpoints.issuer) {
        (Some(iss), Some(issuer)) if iss == issuer => Ok(()),
        (Some(_), Some(_)) => Err("The sign-in response came from a different issuer."),
        // Explicit endpoints without an `issuer`: nothing to compare with.
        (Some(_), None) => Ok(()),
        (None, _) if provider.endpoints.iss_parameter_supported => {
            Err("The sign-in response lacks the issuer the provider promised to send.")
        }
        (None, _) => Ok(()),
    }
}

fn not_ready() -> Response<ResponseBody> {
    pages::json(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": "provider_not_ready", "message": "the sign-in provider is not reachable yet; try again shortly"}),
    )
}

fn callback_failed(
    status: StatusCode,
    code: &str,
    message: &str,
    clear: Vec<HeaderValue>,
) -> Response<ResponseBody> {
    tracing::info!(target: "bff_gateway::auth", reason = code, "callback refused");
    with_cookies(pages::error_page(status, "Sign-in failed", message), clear)
}

/// A short, non-reversible label for logs: never the subject itself.
fn session_label(claims: &serde_json::Map<String, serde_json::Value>) -> String {
    let sub = claims.get("sub").and_then(|s| s.as_str()).unwrap_or("");
    let digest = Sha256::digest(sub.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    fn handler() -> TokenHandler {
        let yaml = "server:\n  listen: 127.0.0.1:0\n  public_url: https://app.example\n\
                    oauth:\n  authorization_endpoint: https://as.example/authorize\n  token_endpoint: https://as.example/token\n\
                    \x20 client_id: app\n  client_secret: s\n  scopes: [api]\n\
                    session:\n  keys: [\"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\"]\n\
                    routes:\n  - path: /\n    upstream: http://127.0.0.1:1\n";
        let config = load_str(yaml, "t.yaml", Path::new("."), &|_| None).unwrap();
        TokenHandler::new(&config).unwrap().unwrap()
    }

    // Found with the login_cookie fuzz target (issue 7): a login state whose `created` is near
    // u64::MAX overflowed the eviction order (a panic with overflow checks); now it is the newest.
    #[test]
    fn fuzz_login_state_created_near_u64_max_is_evicted_without_overflow() {
        let th = handler();
        let now = 1_800_000_000;
        let name = th.login_cookie_name("s");
        let plaintext = format!(r#"{{"state":"s","return_to":"/","created":{}}}"#, u64::MAX);
        let sealed = th.login_codec.seal(&name, plaintext.as_bytes(), now + 60);
        let header = HeaderValue::from_str(&format!("{name}={sealed}")).unwrap();
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert!(th.open_login(&name, &sealed, now).is_some());
        // One live login: with the default of three, none is evicted.
        assert!(th.evict_login_cookies(&cookies, now).is_empty());
    }

    // checklist B1, A7: a login cookie older than its 10 minutes is no login at all.
    #[tokio::test]
    async fn a_login_cookie_past_its_lifetime_is_refused() {
        let th = handler();
        let now = 1_800_000_000;
        let login = th.login(&Query::parse(None), &RequestCookies::default(), now);
        assert_eq!(login.status(), StatusCode::FOUND);
        let location = login.headers()[http::header::LOCATION].to_str().unwrap();
        let state = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let pair = login
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|p| p.starts_with("__Host-bff-login-"))
            .unwrap();
        let header = HeaderValue::from_str(&pair).unwrap();
        let cookies = RequestCookies::parse(std::iter::once(&header));
        let callback = format!("code=c&state={state}");
        let late = th
            .callback(
                &Query::parse(Some(&callback)),
                &cookies,
                now + LOGIN_TTL.as_secs() + 1,
            )
            .await;
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    }
}
