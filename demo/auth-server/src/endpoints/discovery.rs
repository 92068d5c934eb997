//! `GET /.well-known/openid-configuration` (OIDC Discovery §3, RFC 8414). Honours the
//! `discovery_status` fault.

use crate::events::AuthEvent;
use crate::state::State;
use crate::web::{self, Response};
use http::StatusCode;
use serde_json::json;

/// The provider metadata.
pub fn handle(state: &State) -> Response {
    state.emit(|| AuthEvent::DiscoveryServed);
    if let Some(status) = state.faults.get().discovery_status {
        return super::token::garbage(status);
    }
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    web::json(
        StatusCode::OK,
        &json!({
            "issuer": state.issuer,
            "authorization_endpoint": state.url("/oauth2/authorize"),
            "token_endpoint": state.url("/oauth2/token"),
            "jwks_uri": state.url("/oauth2/jwks"),
            "userinfo_endpoint": state.url("/oauth2/userinfo"),
            "introspection_endpoint": state.url("/oauth2/introspect"),
            "revocation_endpoint": state.url("/oauth2/revoke"),
            "end_session_endpoint": state.url("/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": state.config.scopes_supported,
            "subject_types_supported": ["public"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp",
                "name", "preferred_username", "email", "email_verified"
            ],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }),
    )
}
