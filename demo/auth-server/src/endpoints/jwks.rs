//! `GET /oauth2/jwks`: the public signing key (RFC 7517).

use crate::events::AuthEvent;
use crate::state::State;
use crate::web::{self, Response};
use http::StatusCode;
use serde_json::json;

/// The JWK Set.
pub fn handle(state: &State) -> Response {
    state.emit(|| AuthEvent::JwksServed);
    web::json(StatusCode::OK, &json!({ "keys": [state.keys.jwk()] }))
}
