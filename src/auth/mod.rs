//! The token handler: the `/auth/*` endpoints (`endpoints`) and the auth step of signed-in API
//! routes (`api`), on top of sealed cookie sessions.
//!
//! [`TokenHandler`] holds what both need: the OAuth client, the cookie codecs and specs, and the
//! refresh coordinator. It must never log a token, code, state, verifier, cookie or secret.

pub mod api;
pub mod cors;
pub mod csrf;
pub mod endpoints;
pub mod pages;
pub mod refresh;
pub mod return_to;

use crate::config::{AuthConfig, Config, SessionConfig};
use crate::oauth::OAuthClient;
use crate::oauth::http::ProviderHttpError;
use crate::session::cookies::{self, CookieSpec, RequestCookies};
use crate::session::{Purpose, Session, SessionCodec};
use cookie::SameSite;
use csrf::Origins;
use http::HeaderValue;
use refresh::RefreshCoordinator;
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
    refresh: RefreshCoordinator,
}

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
        // Validation guarantees at least one key; an empty ring is treated as no token handler.
        let (Some(session_codec), Some(login_codec)) = (
            SessionCodec::new(Purpose::Session, &th.session.keys),
            SessionCodec::new(Purpose::Login, &th.session.keys),
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
            refresh: RefreshCoordinator::default(),
        }))
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
    ) -> Result<Session, NoSession> {
        let name = &self.session.cookie_name;
        let value = match cookies.read(name) {
            Ok(Some(value)) => value,
            Ok(None) => return Err(NoSession::Absent),
            Err(_) => return Err(NoSession::Invalid),
        };
        let plaintext = self
            .session_codec
            .open(name, &value, now)
            .map_err(|_| NoSession::Invalid)?;
        let session: Session =
            serde_json::from_slice(&plaintext).map_err(|_| NoSession::Invalid)?;
        if now >= session.created + self.session.absolute_lifetime.as_secs()
            || now >= session.seen + self.session.idle_timeout.as_secs()
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
        let expires = session.created + self.session.absolute_lifetime.as_secs();
        let plaintext = serde_json::to_vec(session).unwrap_or_default();
        let sealed = self
            .session_codec
            .seal(&self.session.cookie_name, &plaintext, expires);
        let previous = cookies.chunk_count(&self.session.cookie_name);
        cookies::write(&self.session_cookie, &sealed, previous)
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
