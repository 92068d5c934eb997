//! What a client asked for in an authorization request, once validated, and who the user is.

/// A validated authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Where the response goes: exactly one of the client's registered redirect URIs.
    pub redirect_uri: String,
    /// The request carried `redirect_uri` (then the token request must repeat it, §4.1.3).
    pub redirect_uri_sent: bool,
    /// Requested scopes, deduplicated, in request order.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636).
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
}

/// The OIDC `prompt` parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// No UI at all: fail with `login_required` / `consent_required` instead.
    pub none: bool,
    /// Re-authenticate even with a live login session.
    pub login: bool,
    /// Ask for consent even if it was given before.
    pub consent: bool,
}

/// An authenticated end user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedIn {
    pub username: String,
    /// When the user authenticated (Unix seconds), the `auth_time` claim.
    pub auth_time: u64,
}
