//! What the server reports as it works, for a demo's step-by-step view: set
//! [`AuthServerConfig::on_event`](crate::AuthServerConfig::on_event) to an [`EventHook`].
//!
//! An event must never carry a token, code, secret, password, `state`, `nonce` or PKCE value —
//! at most the kind of a token and its length. Names (client id, username) and scopes are fine.

use crate::store::grants::TokenKind;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One step of the authorization server's work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// `/.well-known/openid-configuration` was read.
    DiscoveryServed,
    /// The public signing keys (`/oauth2/jwks`) were read.
    JwksServed,
    /// A valid authorization request arrived (RFC 6749 §4.1.1).
    AuthorizationRequested {
        client_id: String,
        scopes: Vec<String>,
        /// `Some("S256")` when a PKCE challenge came with it.
        pkce_method: Option<&'static str>,
    },
    /// The user had to sign in: the login form was shown.
    LoginFormShown { client_id: String },
    /// A wrong username or password was typed.
    LoginFailed { client_id: String },
    /// The user signed in with the login form.
    LoginSucceeded { username: String },
    /// The user was still signed in here (the auth server's own session cookie).
    LoginSessionReused { username: String },
    /// The consent screen was shown.
    ConsentShown {
        client_id: String,
        username: String,
        scopes: Vec<String>,
    },
    /// The user approved the consent screen.
    ConsentApproved {
        client_id: String,
        username: String,
        scopes: Vec<String>,
    },
    /// The user denied the consent screen.
    ConsentDenied { client_id: String, username: String },
    /// An authorization code was issued and the browser sent back to the client.
    CodeIssued {
        client_id: String,
        username: String,
        code_length: usize,
    },
    /// An authorization error was sent back to the client's redirect URI (e.g. `access_denied`).
    AuthorizationError { error: &'static str },
    /// The token endpoint issued tokens.
    TokensIssued {
        grant_type: GrantType,
        client_id: String,
        client_auth: ClientAuth,
        username: String,
        scopes: Vec<String>,
        access_token_length: usize,
        access_token_ttl: Duration,
        /// A (new, rotated) refresh token came with it.
        refresh_token: bool,
        id_token: bool,
    },
    /// The token endpoint refused a request.
    TokenRefused {
        /// `None` when missing or not one this server knows.
        grant_type: Option<GrantType>,
        error: &'static str,
        description: String,
    },
    /// A client asked whether a token is active (RFC 7662).
    Introspected {
        /// Who asked.
        client_id: String,
        client_auth: ClientAuth,
        token_length: usize,
        /// What the token stands for; `None` when it is not active.
        active: Option<ActiveToken>,
    },
    /// A client revoked a token (RFC 7009).
    Revoked {
        client_id: String,
        /// The kind of the token when it was still active.
        kind: Option<TokenKind>,
        token_length: usize,
    },
    /// RP-initiated logout: the auth server's login session ended.
    LoggedOut {
        client_id: Option<String>,
        had_session: bool,
        /// The browser was sent back to the client's `post_logout_redirect_uri`.
        redirected: bool,
    },
}

/// What an active token stands for, as introspection reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub kind: TokenKind,
    pub username: String,
    pub scopes: Vec<String>,
}

/// The grant of a token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` value of `text`, if this server supports it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// How a client authenticated (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Receives every [`AuthEvent`] as it happens, on the request's task: keep it quick and never
/// block on I/O in it.
#[derive(Clone)]
pub struct EventHook(Arc<dyn Fn(&AuthEvent) + Send + Sync>);

impl EventHook {
    pub fn new(hook: impl Fn(&AuthEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }

    pub(crate) fn call(&self, event: &AuthEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook(..)")
    }
}
