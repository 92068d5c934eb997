//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the user's claims for a Bearer access token
//! (RFC 6750 §2.1), filtered by its scopes.

use crate::state::State;
use crate::store::grants::TokenInfo;
use crate::web::{self, Request, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

/// The access token from `Authorization: Bearer`.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 401: no token (no error code, RFC 6750 §3.1) or an invalid one.
fn unauthorized(token_sent: bool) -> Response {
    let (body, challenge) = if token_sent {
        (
            json!({"error": "invalid_token"}),
            "Bearer error=\"invalid_token\"",
        )
    } else {
        (
            json!({"error": "unauthorized"}),
            "Bearer realm=\"demo-auth-server\"",
        )
    };
    let mut response = web::json(StatusCode::UNAUTHORIZED, &body);
    web::www_authenticate(&mut response, challenge);
    response
}

/// The claims `info` allows.
fn claims(state: &State, info: &TokenInfo) -> Option<Value> {
    let user = state.config.user(&info.username)?;
    let has = |scope: &str| info.scopes.iter().any(|s| s == scope);
    let mut claims = Map::new();
    let other = state.faults.get().userinfo_other_sub;
    let sub = if other {
        crate::id_token::OTHER_SUBJECT
    } else {
        user.subject.as_str()
    };
    claims.insert("sub".to_owned(), json!(sub));
    if has("profile") {
        let name = if other {
            "Someone Else"
        } else {
            user.name.as_str()
        };
        claims.insert("name".to_owned(), json!(name));
        claims.insert("preferred_username".to_owned(), json!(user.username));
    }
    if has("email") {
        claims.insert("email".to_owned(), json!(user.email));
        claims.insert("email_verified".to_owned(), json!(user.email_verified));
    }
    Some(Value::Object(claims))
}

/// Handles a userinfo request.
pub fn handle(state: &State, request: &Request) -> Response {
    let Some(token) = bearer(request) else {
        return unauthorized(false);
    };
    let Some(info) = state.grants.access_token(token) else {
        return unauthorized(true);
    };
    if !info.scopes.iter().any(|s| s == "openid") {
        let mut response = web::json(
            StatusCode::FORBIDDEN,
            &json!({"error": "insufficient_scope"}),
        );
        web::www_authenticate(
            &mut response,
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        );
        return response;
    }
    match claims(state, &info) {
        Some(claims) => web::json(StatusCode::OK, &claims),
        None => unauthorized(true),
    }
}
