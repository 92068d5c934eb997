//! What the sealed cookies carry: the signed-in [`Session`] and the in-flight [`LoginState`].
//! Short field names keep cookies small; `Debug` never prints a token.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A signed-in user's tokens and the timestamps that bound the session (checklist S7).
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// Access token.
    pub at: String,
    /// Access token expiry, unix seconds (absent: the provider did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idt: Option<String>,
    /// Profile claims shown by `/auth/session` (never tokens).
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Created, unix seconds (absolute lifetime counts from here).
    pub created: u64,
    /// Last activity, unix seconds (idle timeout counts from here).
    pub seen: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("at_exp", &self.at_exp)
            .field("has_refresh_token", &self.rt.is_some())
            .field("created", &self.created)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// One login transaction, bound to the browser by its own cookie (checklist A4, A7, A8).
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub return_to: String,
    pub created: u64,
    /// Creation time in milliseconds: orders logins started within the same second, so the
    /// oldest is the one dropped when too many are pending.
    #[serde(default)]
    pub created_ms: u64,
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginState")
            .field("return_to", &self.return_to)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Claims that describe the user; protocol claims are dropped.
pub fn profile_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    const PROTOCOL: [&str; 12] = [
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "at_hash",
        "c_hash",
        "azp",
        "jti",
        "sid",
        "s_hash",
        "auth_time",
    ];
    claims
        .iter()
        .filter(|(k, _)| !PROTOCOL.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
