//! `POST /oauth2/introspect` (RFC 7662): any registered client may ask whether a token is live.

use super::client_auth;
use crate::events::{ActiveToken, AuthEvent};
use crate::state::State;
use crate::store::grants::TokenKind;
use crate::web::{self, OAuthError, Params, Request, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// The introspection answer for `token`.
pub fn answer(state: &State, token: &str) -> Value {
    let Some(info) = state.grants.introspect(token) else {
        return json!({"active": false});
    };
    let sub = state
        .config
        .user(&info.username)
        .map_or(info.username.as_str(), |u| u.subject.as_str());
    json!({
        "active": true,
        "scope": info.scopes.join(" "),
        "client_id": info.client_id,
        "sub": sub,
        "username": info.username,
        "exp": info.exp,
        "iat": info.iat,
        "token_type": match info.kind {
            TokenKind::Access => "Bearer",
            TokenKind::Refresh => "refresh_token",
        },
        "iss": state.issuer,
    })
}

fn introspect(state: &State, request: &Request) -> Result<Value, OAuthError> {
    if !web::is_form(request) {
        return Err(OAuthError::invalid_request("the body must be a form"));
    }
    let params = Params::parse(&request.body);
    let client = client_auth::authenticate(state, request, &params)?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    state.emit(|| AuthEvent::Introspected {
        client_id: client.client_id.clone(),
        client_auth: client_auth::method(request),
        token_length: token.len(),
        active: state.grants.introspect(token).map(|info| ActiveToken {
            kind: info.kind,
            username: info.username,
            scopes: info.scopes,
        }),
    });
    Ok(answer(state, token))
}

/// Handles an introspection request.
pub fn handle(state: &State, request: &Request) -> Response {
    match introspect(state, request) {
        Ok(answer) => web::json(StatusCode::OK, &answer),
        Err(error) => error.into_response(),
    }
}
