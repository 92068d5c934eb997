//! `GET /oauth2/jwks`: the public signing key (RFC 7517). Honours the `jwks_delay`,
//! `jwks_status` and `publish_foreign_key` faults.

use crate::events::AuthEvent;
use crate::state::State;
use crate::web::{self, Response};
use http::StatusCode;
use serde_json::json;

/// The JWK Set (after the `jwks_delay` fault's wait, if set).
pub async fn handle(state: &State) -> Response {
    state.emit(|| AuthEvent::JwksServed);
    if let Some(delay) = state.faults.get().jwks_delay {
        tokio::time::sleep(delay).await;
    }
    let faults = state.faults.get();
    if let Some(status) = faults.jwks_status {
        return super::token::garbage(status);
    }
    let mut keys = vec![state.keys.jwk()];
    if faults.publish_foreign_key
        && let Ok(foreign) = crate::keys::foreign()
    {
        keys.push(foreign.jwk());
    }
    web::json(StatusCode::OK, &json!({ "keys": keys }))
}
