//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its tokens. Unknown tokens, and
//! tokens of other clients, are answered 200 and left alone.

use super::client_auth;
use crate::events::AuthEvent;
use crate::state::State;
use crate::web::{self, OAuthError, Params, Request, Response};
use bytes::Bytes;
use http_body_util::Full;

fn revoke(state: &State, request: &Request) -> Result<(), OAuthError> {
    if !web::is_form(request) {
        return Err(OAuthError::invalid_request("the body must be a form"));
    }
    let params = Params::parse(&request.body);
    let client = client_auth::authenticate(state, request, &params)?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    state.emit(|| AuthEvent::Revoked {
        client_id: client.client_id.clone(),
        kind: state
            .grants
            .introspect(token)
            .filter(|info| info.client_id == client.client_id)
            .map(|info| info.kind),
        token_length: token.len(),
    });
    state.grants.revoke(token, &client.client_id);
    Ok(())
}

/// Handles a revocation request.
pub fn handle(state: &State, request: &Request) -> Response {
    match revoke(state, request) {
        Ok(()) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            web::no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
}
