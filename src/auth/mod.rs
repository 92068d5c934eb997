//! The token handler: the `/auth/*` endpoints (`endpoints`) and the auth step of signed-in API
//! routes (`api`), on top of sealed cookie sessions.
//!
//! [`TokenHandler`] holds what both need: the OAuth client, the cookie codecs and specs, and the
//! refresh coordinator. It must never log a token, code, state, verifier, cookie or secret.

pub mod api;
pub mod cors;
pub mod csrf;
pub mod endpoints;
pub mod logout;
pub mod opened;
pub mod pages;
pub mod refresh;
pub mod return_to;

use crate::config::{AuthConfig, Config, SessionConfig};
use crate::metrics::AuthMetrics;
use crate::oauth::OAuthClient;
use crate::oauth::http::ProviderHttpError;
use crate::session::cookies::{self, CookieSpec, RequestCookies};
use crate::session::{Purpose, Session, SessionCodec};
use cookie::SameSite;
use csrf::Origins;
use http::HeaderValue;
use refresh::RefreshCoordinator;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a login may take, from `/auth/login` to the callback (checklist A7).
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

pub struct TokenHandler {
    pub client: OAuthClient,
    pub session: SessionConfig,
    pub auth: AuthConfig,
    pub origins: Origins,
    /// `server.public_url` as text (no trailing slash).
    pub public_url: String,
    session_codec: SessionCodec,
    login_codec: SessionCodec,
    session_cookie: CookieSpec,
    /// The largest sealed session written, so that every request still fits the listener's
    /// header limit with room for the rest of the headers (checklist S4).
    max_session_bytes: usize,
    refresh: Arc<RefreshCoordinator>,
    /// Session cookies this handler opened recently, per worker thread.
    opened: opened::OpenedSessions,
    /// Login and refresh counters (unregistered ones until the gateway sets its own).
    pub(crate) metrics: AuthMetrics,
}

/// Header room kept free for everything but the session cookie (other cookies, `Accept`, ...).
const OTHER_HEADERS_ROOM: usize = 4096;

impl std::fmt::Debug for TokenHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHandler").finish_non_exhaustive()
    }
}

/// Why a session cookie did not give a session; every case means "signed out".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// No session cookie at all.
    Absent,
    /// A cookie was there but is unusable (tampered, foreign key, expired, chunk trouble).
    Invalid,
}

impl TokenHandler {
    /// Builds the token handler for a config with `oauth:`; `None` without it.
    pub fn new(config: &Config) -> Result<Option<Self>, ProviderHttpError> {
        let Some(th) = &config.token_handler else {
            return Ok(None);
        };
        let public_url = config.server.public_url.to_string();
        let redirect_uri = format!("{public_url}{}/callback", th.auth.path_prefix);
        let client = OAuthClient::new(th.oauth.clone(), redirect_uri)?;
        let app = format!("{public_url} {}", th.oauth.client_id);
        // Validation guarantees at least one key; an empty ring is treated as no token handler.
        let (Some(session_codec), Some(login_codec)) = (
            SessionCodec::new(Purpose::Session, &th.session.keys, &app),
            SessionCodec::new(Purpose::Login, &th.session.keys, &app),
        ) else {
            return Ok(None);
        };
        let session_cookie = CookieSpec {
            name: th.session.cookie_name.clone(),
            secure: th.session.secure,
            same_site: th.session.same_site,
            max_age: Some(th.session.absolute_lifetime),
        };
        Ok(Some(Self {
            client,
            origins: Origins {
                public: public_url.clone(),
                allowed: th.auth.allowed_origins.clone(),
            },
            public_url,
            session: th.session.clone(),
            auth: th.auth.clone(),
            session_codec,
            login_codec,
            session_cookie,
            max_session_bytes: config
                .server
                .limits
                .max_header_bytes
                .saturating_sub(OTHER_HEADERS_ROOM),
            refresh: Arc::default(),
            opened: opened::OpenedSessions::default(),
            metrics: AuthMetrics::default(),
        }))
    }

    /// Carries over what a config reload should not lose from the handler it replaces: the
    /// discovered provider (when `oauth:` is unchanged) and the refresh single-flight state.
    /// Returns whether the provider was taken over.
    pub fn adopt(&mut self, old: &TokenHandler) -> bool {
        self.refresh = old.refresh.clone();
        self.client.adopt_provider(&old.client)
    }

    /// Whether the provider is known (discovery done); `/readyz` and logins wait for it.
    pub fn is_ready(&self) -> bool {
        self.client.provider().is_some()
    }

    /// Whether a cookie is the gateway's own (session, its chunks, login state); such cookies
    /// are removed from requests sent upstream.
    pub fn owns_cookie(&self, name: &str) -> bool {
        cookies::is_family_member(name, &self.session.cookie_name)
            || name.starts_with(&self.session.login_cookie_prefix)
    }

    /// Opens the session from the request's cookies, enforcing absolute and idle lifetimes.
    pub fn open_session(
        &self,
        cookies: &RequestCookies<'_>,
        now: u64,
    ) -> Result<Arc<Session>, NoSession> {
        let name = &self.session.cookie_name;
        let value = match cookies.read(name) {
            Ok(Some(value)) => value,
            Ok(None) => return Err(NoSession::Absent),
            Err(_) => return Err(NoSession::Invalid),
        };
        // A value opened before on this worker opens to the same session (see `opened`); the
        // sealed expiry is the session's absolute end, checked below either way.
        let session = match self.opened.get(&value) {
            Some(session) => session,
            None => {
                let plaintext = self
                    .session_codec
                    .open(name, &value, now)
                    .map_err(|_| NoSession::Invalid)?;
                let session: Arc<Session> =
                    Arc::new(serde_json::from_slice(&plaintext).map_err(|_| NoSession::Invalid)?);
                self.opened.put(&value, &session);
                session
            }
        };
        // Checked: timestamps so large that the end overflows make no session (a panic with
        // overflow checks, a wrapped end without; found with the `session_cookie` fuzz target).
        let ended = |start: u64, length: Duration| {
            start
                .checked_add(length.as_secs())
                .is_none_or(|end| now >= end)
        };
        if ended(session.created, self.session.absolute_lifetime)
            || ended(session.seen, self.session.idle_timeout)
        {
            return Err(NoSession::Invalid);
        }
        Ok(session)
    }

    /// `Set-Cookie` values storing `session` (and deleting chunks an earlier, larger one left).
    pub fn write_session(
        &self,
        session: &Session,
        cookies: &RequestCookies<'_>,
    ) -> Result<Vec<HeaderValue>, cookies::ChunkError> {
        self.write_session_over(session, cookies.chunk_count(&self.session.cookie_name))
    }

    /// `Set-Cookie` values storing `session` over a cookie of `previous_chunks` chunks.
    pub fn write_session_over(
        &self,
        session: &Session,
        previous_chunks: usize,
    ) -> Result<Vec<HeaderValue>, cookies::ChunkError> {
        let expires = session.created + self.session.absolute_lifetime.as_secs();
        let plaintext = serde_json::to_vec(session).unwrap_or_default();
        let sealed = self
            .session_codec
            .seal(&self.session.cookie_name, &plaintext, expires);
        // A session the browser would send back in a header this gateway refuses (431) would
        // lock the user out until it expires: fail loudly now instead.
        if sealed.len() > self.max_session_bytes {
            return Err(cookies::ChunkError::TooLarge);
        }
        cookies::write(&self.session_cookie, &sealed, previous_chunks)
    }

    /// `Set-Cookie` values deleting the session cookie and all its chunks.
    pub fn clear_session(&self, cookies: &RequestCookies<'_>) -> Vec<HeaderValue> {
        cookies::clear(
            &self.session_cookie,
            cookies.chunk_count(&self.session.cookie_name),
        )
    }

    /// When the session ends at the latest (absolute lifetime or idle timeout).
    pub fn expires_at(&self, session: &Session) -> u64 {
        (session.created + self.session.absolute_lifetime.as_secs())
            .min(session.seen + self.session.idle_timeout.as_secs())
    }

    /// Whether the idle clock should be moved forward on this request (re-sealing on every
    /// request would cost a cookie per response for nothing).
    pub fn needs_touch(&self, session: &Session, now: u64) -> bool {
        let step = (self.session.idle_timeout.as_secs() / 8).max(1);
        now.saturating_sub(session.seen) >= step
    }

    fn login_cookie_spec(&self, name: String) -> CookieSpec {
        CookieSpec {
            name,
            secure: self.session.secure,
            // Lax: the callback arrives by a cross-site top-level navigation (checklist A7).
            same_site: SameSite::Lax,
            max_age: Some(LOGIN_TTL),
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use http::HeaderValue;
    use std::path::Path;

    fn handler() -> TokenHandler {
        let yaml = "server:\n  listen: 127.0.0.1:0\n  public_url: https://app.example\n\
                    oauth:\n  authorization_endpoint: https://as.example/authorize\n  token_endpoint: https://as.example/token\n\
                    \x20 client_id: app\n  client_secret: s\n  scopes: [api]\n\
                    session:\n  keys: [\"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\"]\n  idle_timeout: 1h\n  absolute_lifetime: 8h\n\
                    routes:\n  - path: /\n    upstream: http://127.0.0.1:1\n";
        let config = load_str(yaml, "t.yaml", Path::new("."), &|_| None).unwrap();
        TokenHandler::new(&config).unwrap().unwrap()
    }

    fn session(now: u64, at_len: usize) -> Session {
        Session {
            at: "a".repeat(at_len),
            at_exp: Some(now + 60),
            rt: Some("refresh".into()),
            idt: None,
            claims: Default::default(),
            created: now,
            seen: now,
        }
    }

    /// Turns `Set-Cookie` values into the `Cookie` header a browser would send back.
    fn echo_back(set: &[HeaderValue]) -> HeaderValue {
        let pairs: Vec<&str> = set
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap())
            .filter(|p| !p.ends_with('='))
            .collect();
        HeaderValue::from_str(&pairs.join("; ")).unwrap()
    }

    // checklist S7: lifetimes are enforced from timestamps inside the sealed cookie.
    #[test]
    fn sessions_end_at_the_idle_timeout_and_the_absolute_lifetime() {
        let th = handler();
        let now = 1_800_000_000;
        let empty = RequestCookies::default();
        let set = th.write_session(&session(now, 10), &empty).unwrap();
        let header = echo_back(&set);
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert!(th.open_session(&cookies, now + 3599).is_ok());
        assert_eq!(
            th.open_session(&cookies, now + 3600).unwrap_err(),
            NoSession::Invalid
        );
        let mut active = session(now, 10);
        active.seen = now + 7 * 3600;
        let header = echo_back(&th.write_session(&active, &empty).unwrap());
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert!(th.open_session(&cookies, now + 7 * 3600 + 10).is_ok());
        assert_eq!(
            th.open_session(&cookies, now + 8 * 3600).unwrap_err(),
            NoSession::Invalid
        );
    }

    // Found with the session_cookie fuzz target (issue 7): `created` or `seen` near u64::MAX
    // overflowed the lifetime sums (a panic with overflow checks); such a session is no session.
    // checklist S3, S7.
    #[test]
    fn fuzz_session_timestamps_that_overflow_the_lifetime_are_no_session() {
        let th = handler();
        let now = 1_800_000_000;
        for (created, seen) in [
            (u64::MAX, now),
            (now, u64::MAX),
            (u64::MAX - 1, u64::MAX - 1),
        ] {
            let plaintext = format!(r#"{{"at":"a","created":{created},"seen":{seen}}}"#);
            let sealed =
                th.session_codec
                    .seal(&th.session.cookie_name, plaintext.as_bytes(), now + 60);
            let header = HeaderValue::from_str(&format!("__Host-bff={sealed}")).unwrap();
            let cookies = RequestCookies::parse(std::iter::once(&header));
            assert_eq!(
                th.open_session(&cookies, now).unwrap_err(),
                NoSession::Invalid,
                "created {created}, seen {seen}"
            );
        }
    }

    // checklist S4: a large session is chunked, reassembled, and shrinks without stale chunks.
    #[test]
    fn large_sessions_round_trip_through_chunks() {
        let th = handler();
        let now = 1_800_000_000;
        let big = th
            .write_session(&session(now, 9000), &RequestCookies::default())
            .unwrap();
        assert!(big.len() >= 4, "{} cookies", big.len());
        assert!(big.iter().all(|c| c.len() <= cookies::MAX_SET_COOKIE_BYTES));
        let header = echo_back(&big);
        let cookies = RequestCookies::parse(std::iter::once(&header));
        assert_eq!(th.open_session(&cookies, now).unwrap().at.len(), 9000);
        let small = th.write_session(&session(now, 10), &cookies).unwrap();
        let deleted = small
            .iter()
            .filter(|c| c.to_str().unwrap().contains("Max-Age=0"))
            .count();
        assert_eq!(deleted, big.len() - 1, "stale chunks must be deleted");
    }

    // checklist K5: on an https public URL the auth endpoints send HSTS and nosniff.
    #[tokio::test]
    async fn auth_endpoints_send_hsts_on_https() {
        let th = handler();
        let request = http::Request::builder()
            .uri("/auth/session")
            .header(http::header::HOST, "app.example")
            .body(())
            .unwrap();
        let response = th.endpoint(&request, "/session", None).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[http::header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
        assert_eq!(
            response.headers()[http::header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }

    // checklist S4: a session that would not fit the request-header limit is refused.
    #[test]
    fn sessions_beyond_the_header_budget_are_refused() {
        let th = handler();
        let now = 1_800_000_000;
        assert!(
            th.write_session(&session(now, 20_000), &RequestCookies::default())
                .is_err()
        );
    }

    #[test]
    fn the_gateway_owns_its_session_chunk_and_login_cookies_only() {
        let th = handler();
        for name in ["__Host-bff", "__Host-bffC1", "__Host-bff-login-abc"] {
            assert!(th.owns_cookie(name), "{name}");
        }
        for name in ["__Host-bffX", "theme", "__Host-other"] {
            assert!(!th.owns_cookie(name), "{name}");
        }
    }
}
