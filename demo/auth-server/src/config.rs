//! The authorization server's configuration: registered clients, demo users, lifetimes and the
//! listen address. Everything has a demo-friendly default.

use crate::events::EventHook;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The whole configuration of one [`AuthServer`](crate::AuthServer).
#[derive(Clone, Debug)]
pub struct AuthServerConfig {
    /// Registered (confidential) clients. Default: one client, see [`ClientConfig::default`].
    pub clients: Vec<ClientConfig>,
    /// Users who can log in. Default: `demo` / `demo`, see [`UserConfig::default`].
    pub users: Vec<UserConfig>,
    /// Skips the consent screen (tests).
    pub auto_approve: bool,
    /// Skips the login form and logs in as this username (tests); every authorization request
    /// is then a fresh login (also with `prompt=login`).
    pub auto_login_user: Option<String>,
    /// Lifetime of access tokens. Default 300 s.
    pub access_token_ttl: Duration,
    /// Random bytes in each (opaque) access token. Default 32 (43 characters). The benchmark
    /// uses 1,536 (2,048 characters), the size of a production provider's JWT access token, so
    /// that sessions are as large as real ones.
    pub access_token_bytes: usize,
    /// Lifetime of each refresh token (every rotation starts a new one). Default 8 h.
    pub refresh_token_ttl: Duration,
    /// Lifetime of authorization codes. Default 60 s.
    pub code_ttl: Duration,
    /// Lifetime of ID tokens. Default 300 s.
    pub id_token_ttl: Duration,
    /// Where to listen. Default `127.0.0.1:0` (any free port).
    pub listen: SocketAddr,
    /// The issuer URL (scheme, host and port, no path). Default `http://127.0.0.1:<bound port>`.
    pub issuer: Option<String>,
    /// Scopes the server knows. Default `openid profile email offline_access contacts`.
    pub scopes_supported: Vec<String>,
    /// Called with every [`AuthEvent`](crate::AuthEvent) (login, consent, token exchange,
    /// introspection, ...), e.g. for a demo's step-by-step view. Default none.
    pub on_event: Option<EventHook>,
}

/// A registered confidential client (`client_secret_basic` or `client_secret_post`).
#[derive(Clone)]
pub struct ClientConfig {
    /// Default `msnID`.
    pub client_id: String,
    /// Default `demo-secret`.
    pub client_secret: String,
    /// Exact-match redirect URIs. Default: `/auth/callback` on `127.0.0.1:8080` and `localhost:8080`.
    pub redirect_uris: Vec<String>,
    /// Exact-match post-logout redirect URIs. Default: `/` on `127.0.0.1:8080` and `localhost:8080`.
    pub post_logout_redirect_uris: Vec<String>,
    /// Refuses authorization requests without a PKCE S256 challenge. Default true.
    pub require_pkce: bool,
    /// Scopes this client may ask for. Default: all of the default supported scopes.
    pub allowed_scopes: Vec<String>,
}

/// A demo user who can log in with a username and password.
#[derive(Clone)]
pub struct UserConfig {
    /// The login name, also the `preferred_username` claim.
    pub username: String,
    /// The password, in clear text: this is a demo.
    pub password: String,
    /// The `sub` claim: stable and opaque.
    pub subject: String,
    /// The `name` claim.
    pub name: String,
    /// The `email` claim.
    pub email: String,
    /// The `email_verified` claim.
    pub email_verified: bool,
    /// The user's address book, for the demo contacts API.
    pub contacts: Vec<Contact>,
}

/// One entry of a demo user's address book.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("require_pkce", &self.require_pkce)
            .field("allowed_scopes", &self.allowed_scopes)
            .finish()
    }
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("subject", &self.subject)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("contacts", &self.contacts.len())
            .finish()
    }
}

/// Longest lifetime accepted for any token or code (keeps time arithmetic far from overflow).
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The scopes supported by default.
pub const DEFAULT_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "contacts"];

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

impl Default for AuthServerConfig {
    fn default() -> Self {
        Self {
            clients: vec![ClientConfig::default()],
            users: vec![UserConfig::default()],
            auto_approve: false,
            auto_login_user: None,
            access_token_ttl: Duration::from_secs(300),
            access_token_bytes: 32,
            refresh_token_ttl: Duration::from_secs(8 * 3600),
            code_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(300),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            issuer: None,
            scopes_supported: strings(&DEFAULT_SCOPES),
            on_event: None,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_id: "msnID".to_owned(),
            client_secret: "demo-secret".to_owned(),
            redirect_uris: strings(&[
                "http://127.0.0.1:8080/auth/callback",
                "http://localhost:8080/auth/callback",
            ]),
            // Where bff-gateway's RP-initiated logout comes back (with `state`).
            post_logout_redirect_uris: strings(&[
                "http://127.0.0.1:8080/auth/logout/done",
                "http://localhost:8080/auth/logout/done",
            ]),
            require_pkce: true,
            allowed_scopes: strings(&DEFAULT_SCOPES),
        }
    }
}

impl Default for UserConfig {
    fn default() -> Self {
        let contact = |name: &str, email: &str, phone: &str| Contact {
            name: name.to_owned(),
            email: email.to_owned(),
            phone: phone.to_owned(),
        };
        Self {
            username: "demo".to_owned(),
            password: "demo".to_owned(),
            subject: "demo-user-0001".to_owned(),
            name: "Demo User".to_owned(),
            email: "demo@example.com".to_owned(),
            email_verified: true,
            contacts: vec![
                contact("Ada Lovelace", "ada@example.com", "+44 20 7946 0001"),
                contact("Alan Turing", "alan@example.com", "+44 20 7946 0002"),
                contact("Grace Hopper", "grace@example.com", "+1 202 555 0103"),
            ],
        }
    }
}

impl AuthServerConfig {
    /// The client registered under `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The user who logs in as `username`.
    pub fn user(&self, username: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.username == username)
    }

    /// Checks what `start` relies on; returns a description of the first problem.
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(issuer) = &self.issuer {
            check_issuer(issuer)?;
        }
        for client in &self.clients {
            if client.client_id.is_empty() || client.client_secret.is_empty() {
                return Err("every client needs a client_id and a client_secret".to_owned());
            }
            if self
                .clients
                .iter()
                .filter(|c| c.client_id == client.client_id)
                .count()
                > 1
            {
                return Err(format!("client {:?} is registered twice", client.client_id));
            }
            for uri in client
                .redirect_uris
                .iter()
                .chain(&client.post_logout_redirect_uris)
            {
                if !(uri.starts_with("http://") || uri.starts_with("https://")) || uri.contains('#')
                {
                    return Err(format!(
                        "client {:?}: {uri:?} must be an absolute http(s) URL without a fragment",
                        client.client_id
                    ));
                }
            }
        }
        for user in &self.users {
            if user.username.is_empty() || user.subject.is_empty() {
                return Err("every user needs a username and a subject".to_owned());
            }
        }
        if let Some(name) = &self.auto_login_user
            && self.user(name).is_none()
        {
            return Err(format!("auto_login_user {name:?} is not a configured user"));
        }
        if !(32..=8192).contains(&self.access_token_bytes) {
            return Err("access_token_bytes must be from 32 to 8192".to_owned());
        }
        let ttls = [
            self.access_token_ttl,
            self.refresh_token_ttl,
            self.code_ttl,
            self.id_token_ttl,
        ];
        if ttls.iter().any(|ttl| ttl.is_zero() || *ttl > MAX_TTL) {
            return Err("token and code lifetimes must be positive and at most a year".to_owned());
        }
        Ok(())
    }
}

/// An issuer is `http(s)://host[:port]`, without path, query or fragment.
fn check_issuer(issuer: &str) -> Result<(), String> {
    let trimmed = issuer.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(authority)
            if !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "issuer {issuer:?} must be http(s)://host[:port] without a path"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent() {
        let config = AuthServerConfig::default();
        assert!(config.check().is_ok());
        assert_eq!(config.clients[0].client_id, "msnID");
        assert!(config.user("demo").is_some());
        let debug = format!("{config:?}");
        assert!(!debug.contains("demo-secret") && debug.contains("<redacted>"));
    }

    #[test]
    fn bad_issuers_and_unknown_auto_login_users_are_refused() {
        for issuer in ["ftp://x", "http://", "http://host/path", "https://a#b"] {
            let config = AuthServerConfig {
                issuer: Some(issuer.to_owned()),
                ..AuthServerConfig::default()
            };
            assert!(config.check().is_err(), "{issuer}");
        }
        let ok = AuthServerConfig {
            issuer: Some("http://localhost:9000/".to_owned()),
            ..AuthServerConfig::default()
        };
        assert!(ok.check().is_ok());
        let config = AuthServerConfig {
            auto_login_user: Some("nobody".to_owned()),
            ..AuthServerConfig::default()
        };
        assert!(config.check().is_err());
        let config = AuthServerConfig {
            code_ttl: Duration::MAX,
            ..AuthServerConfig::default()
        };
        assert!(config.check().is_err());
    }
}
