//! Everything a request handler can reach: configuration, keys, stores, faults and counters.

use crate::config::AuthServerConfig;
use crate::events::AuthEvent;
use crate::faults::Faults;
use crate::keys::KeyPair;
use crate::store::counters::Counters;
use crate::store::grants::{Grants, Lifetimes};
use crate::store::logins::Logins;

/// The shared state of one running server.
#[derive(Debug)]
pub struct State {
    pub config: AuthServerConfig,
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// The published signing key.
    pub keys: &'static KeyPair,
    pub grants: Grants,
    pub logins: Logins,
    pub counters: Counters,
    pub faults: Faults,
}

/// The auth server's own login-session cookie (distinct from any client's cookie names).
pub const SESSION_COOKIE: &str = "demo_auth_server_session";

impl State {
    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Reports an event to the configured hook; `event` is only built when there is one.
    pub fn emit(&self, event: impl FnOnce() -> AuthEvent) {
        if let Some(hook) = &self.config.on_event {
            hook.call(&event());
        }
    }

    /// Token lifetimes from the configuration.
    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access: self.config.access_token_ttl,
            refresh: self.config.refresh_token_ttl,
            access_token_bytes: self.config.access_token_bytes,
        }
    }

    /// A `Set-Cookie` value for the login session (`None` clears it).
    pub fn session_cookie(&self, session: Option<&str>) -> String {
        let secure = if self.issuer.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        match session {
            Some(id) => format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}"),
            None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
        }
    }
}
