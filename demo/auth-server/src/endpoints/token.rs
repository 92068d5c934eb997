//! `POST /oauth2/token` (RFC 6749 §3.2, §4.1.3, §6): the authorization code grant (with PKCE)
//! and the refresh token grant (with rotation). Honours the token-endpoint faults (delay, status,
//! token type) and mints ID tokens with the ID-token faults.

use super::client_auth;
use crate::config::ClientConfig;
use crate::events::{AuthEvent, GrantType};
use crate::faults::FaultSettings;
use crate::id_token::{self, IdTokenInput};
use crate::keys;
use crate::pkce;
use crate::request::AuthorizationRequest;
use crate::state::State;
use crate::store::grants::{GrantError, Issued};
use crate::web::{self, OAuthError, Params, Request, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};
use http_body_util::Full;
use serde_json::{Value, json};

/// The `token_endpoint_status`, `discovery_status` and `jwks_status` faults: that status with a
/// body no client can parse.
pub(crate) fn garbage(status: u16) -> Response {
    let mut response = Response::new(Full::new(Bytes::from_static(
        b"<html><body>Internal hiccup {{not json",
    )));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

impl From<GrantError> for OAuthError {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::InvalidGrant(description) => {
                Self::bad_request("invalid_grant", description)
            }
            GrantError::InvalidScope(description) => {
                Self::bad_request("invalid_scope", description)
            }
            GrantError::Random(_) => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "server_error",
                description: "internal error".to_owned(),
                challenge: None,
            },
        }
    }
}

/// Handles a token request.
pub async fn handle(state: &State, request: &Request) -> Response {
    let params = Params::parse(&request.body);
    let grant_type = params.get("grant_type");
    if let Ok(Some(grant_type)) = grant_type {
        state.counters.hit_grant(grant_type);
    }
    let faults = state.faults.get();
    if let Some(delay) = faults.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = faults.token_endpoint_status {
        return garbage(status);
    }
    if let Some(target) = &faults.token_redirect {
        return web::redirect_with_status(StatusCode::TEMPORARY_REDIRECT, target);
    }
    let known_grant = grant_type
        .as_ref()
        .ok()
        .copied()
        .flatten()
        .and_then(GrantType::parse);
    match grant(state, request, &params, grant_type) {
        Ok(issued) => {
            if let Some(grant_type) = known_grant {
                state.emit(|| tokens_issued(state, request, grant_type, &issued));
            }
            respond(state, issued, &faults).await
        }
        Err(error) => {
            state.emit(|| AuthEvent::TokenRefused {
                grant_type: known_grant,
                error: error.error,
                description: error.description.clone(),
            });
            error.into_response()
        }
    }
}

/// The event for a successful grant: kinds and lengths, never the tokens.
fn tokens_issued(
    state: &State,
    request: &Request,
    grant_type: GrantType,
    issued: &Issued,
) -> AuthEvent {
    AuthEvent::TokensIssued {
        grant_type,
        client_id: issued.client_id.clone(),
        client_auth: client_auth::method(request),
        username: issued.user.username.clone(),
        scopes: issued.scopes.clone(),
        access_token_length: issued.access_token.len(),
        access_token_ttl: state.config.access_token_ttl,
        refresh_token: issued.refresh_token.is_some(),
        id_token: issued.scopes.iter().any(|s| s == "openid"),
    }
}

/// Authenticates the client and runs the grant.
fn grant(
    state: &State,
    request: &Request,
    params: &Params,
    grant_type: Result<Option<&str>, web::Repeated>,
) -> Result<Issued, OAuthError> {
    if !web::is_form(request) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let client = client_auth::authenticate(state, request, params)?;
    match grant_type? {
        None => Err(OAuthError::invalid_request("grant_type is missing")),
        Some("authorization_code") => code_grant(state, client, params),
        Some("refresh_token") => refresh_grant(state, client, params),
        Some(_) => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            "only authorization_code and refresh_token are supported",
        )),
    }
}

/// Checks a code's binding: same client, same redirect URI, matching PKCE verifier.
fn check_binding(
    bound: &AuthorizationRequest,
    client: &ClientConfig,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), GrantError> {
    if bound.client_id != client.client_id {
        return Err(GrantError::InvalidGrant(
            "the code was issued to another client",
        ));
    }
    let redirect_ok = match redirect_uri {
        Some(uri) => uri == bound.redirect_uri,
        None => !bound.redirect_uri_sent,
    };
    if !redirect_ok {
        return Err(GrantError::InvalidGrant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&bound.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(GrantError::InvalidGrant("code_verifier does not match")),
        (Some(_), None) => Err(GrantError::InvalidGrant("code_verifier is missing")),
        (None, Some(_)) => Err(GrantError::InvalidGrant(
            "code_verifier sent, but the authorization request had no code_challenge",
        )),
        (None, None) => Ok(()),
    }
}

fn code_grant(state: &State, client: &ClientConfig, params: &Params) -> Result<Issued, OAuthError> {
    let code = params
        .get("code")?
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let redirect_uri = params.get("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let issued = state.grants.redeem_code(
        code,
        |bound| check_binding(bound, client, redirect_uri, verifier),
        state.lifetimes(),
    )?;
    Ok(issued)
}

fn refresh_grant(
    state: &State,
    client: &ClientConfig,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let token = params
        .get("refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let scopes = params.get("scope")?.map(|s| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let rotate = !state.faults.get().no_rotation;
    let issued =
        state
            .grants
            .refresh(token, &client.client_id, scopes, state.lifetimes(), rotate)?;
    Ok(issued)
}

/// The successful token response (RFC 6749 §5.1), with an ID token for `openid`.
async fn respond(state: &State, issued: Issued, faults: &FaultSettings) -> Response {
    let token_type = faults.token_type.as_deref().unwrap_or("Bearer");
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": token_type,
        "expires_in": state.config.access_token_ttl.as_secs(),
        "scope": issued.scopes.join(" "),
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = Value::from(refresh.as_str());
    }
    if issued.scopes.iter().any(|s| s == "openid") {
        match mint(state, &issued, faults).await {
            Some(token) => body["id_token"] = Value::from(token),
            None => return web::server_error(),
        }
    }
    web::json(StatusCode::OK, &body)
}

async fn mint(state: &State, issued: &Issued, faults: &FaultSettings) -> Option<String> {
    let user = state.config.user(&issued.user.username)?;
    let foreign = if faults.unknown_kid {
        // First use generates the key: keep that off the async workers.
        Some(
            tokio::task::spawn_blocking(keys::foreign)
                .await
                .ok()?
                .ok()?,
        )
    } else {
        None
    };
    let input = IdTokenInput {
        issuer: &state.issuer,
        client_id: &issued.client_id,
        user,
        auth_time: issued.user.auth_time,
        nonce: issued.nonce.as_deref(),
        scopes: &issued.scopes,
        ttl: state.config.id_token_ttl,
    };
    id_token::mint(&input, faults, state.keys, foreign).ok()
}
