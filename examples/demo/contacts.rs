//! The contacts API, a resource server: `GET /contacts` reads the Bearer token, asks the
//! authorization server whether it is active (RFC 7662 introspection, authenticated as the
//! client) and answers the user's contacts when it is and carries the `contacts` scope.
//!
//! Refusals follow RFC 6750 §3.1: no token → `401` with a bare `Bearer` challenge; an inactive
//! token → `401` `invalid_token` (the gateway then refreshes once and retries); an active token
//! without the `contacts` scope → `403` `insufficient_scope`. The token itself is never logged
//! or journaled — only its length.

use crate::journal::{Actor, Journal, Step};
use crate::serve::{self, Body, Handler};
use bff_demo_auth_server::Contact;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

const SCOPE: &str = "contacts";

/// The API and what it needs to check tokens.
pub struct ContactsApi {
    /// The authorization server's `introspection_endpoint`.
    pub introspection_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub http: reqwest::Client,
    /// Each user's contacts, by username.
    pub address_books: HashMap<String, Vec<Contact>>,
    pub journal: Arc<Journal>,
}

/// The part of an introspection answer the API uses.
#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    token_type: String,
}

impl Handler for ContactsApi {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/contacts") => self.contacts(request.headers()).await,
            (_, "/contacts") => {
                let mut response =
                    serve::error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
                response
            }
            _ => serve::error(StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

impl ContactsApi {
    async fn contacts(&self, headers: &HeaderMap) -> Response<Body> {
        let Some(token) = bearer_token(headers) else {
            self.journal.record(Step::new(
                Actor::ContactsApi,
                "api_no_token",
                "GET /contacts without a Bearer token → 401",
                "Without a token the API refuses; behind the gateway this never happens, \
                     because the gateway adds the token or answers 401 itself.",
            ));
            return challenge(StatusCode::UNAUTHORIZED, None);
        };
        self.journal.record(
            Step::new(
                Actor::ContactsApi,
                "api_token_received",
                "GET /contacts with a Bearer token",
                "The API receives the access token in the Authorization header from the \
                 gateway; the browser only sent its cookie.",
            )
            .detail(format!("opaque token, {} characters", token.len())),
        );
        let introspection = match self.introspect(token).await {
            Ok(introspection) => introspection,
            Err(error) => {
                self.journal.record(
                    Step::new(
                        Actor::ContactsApi,
                        "api_unavailable",
                        "Introspection failed → 503",
                        "The API could not ask the authorization server about the token, so it \
                         cannot answer safely.",
                    )
                    .detail(error.without_url().to_string()),
                );
                return serve::error(StatusCode::SERVICE_UNAVAILABLE, "introspection_unavailable");
            }
        };
        // A refresh token is active too, but it is no Bearer credential for an API.
        if !introspection.active || introspection.token_type == "refresh_token" {
            self.journal.record(Step::new(
                Actor::ContactsApi,
                "api_invalid_token",
                "Token not active → 401 invalid_token",
                "An expired or revoked token gets 401 with WWW-Authenticate: Bearer \
                 error=\"invalid_token\"; the gateway then refreshes once and retries.",
            ));
            return challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"));
        }
        if !introspection.scope.split(' ').any(|s| s == SCOPE) {
            self.journal.record(
                Step::new(
                    Actor::ContactsApi,
                    "api_insufficient_scope",
                    "Token lacks the contacts scope → 403 insufficient_scope",
                    "The token is valid, but the user did not grant this app access to \
                     contacts.",
                )
                .detail(format!("scopes: {}", introspection.scope)),
            );
            return challenge(StatusCode::FORBIDDEN, Some("insufficient_scope"));
        }
        let contacts = self
            .address_books
            .get(&introspection.username)
            .cloned()
            .unwrap_or_default();
        self.journal.record(
            Step::new(
                Actor::ContactsApi,
                "api_answered",
                format!(
                    "Token active → 200 with {} contacts of {}",
                    contacts.len(),
                    introspection.username
                ),
                "Introspection said the token is active and carries the contacts scope, so \
                 the API answers with that user's contacts.",
            )
            .detail(format!("scopes: {}", introspection.scope)),
        );
        serve::json(
            StatusCode::OK,
            &json!({ "owner": introspection.username, "contacts": contacts }),
        )
    }

    /// RFC 7662: `POST token=…` to the introspection endpoint with HTTP Basic client credentials.
    async fn introspect(&self, token: &str) -> Result<Introspection, reqwest::Error> {
        self.http
            .post(&self.introspection_url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await?
            .error_for_status()?
            .json::<Introspection>()
            .await
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), if well-formed.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.chars().all(b64token))
        .then_some(token)
}

/// A refusal with an RFC 6750 `WWW-Authenticate` challenge.
fn challenge(status: StatusCode, error: Option<&'static str>) -> Response<Body> {
    let (value, body) = match error {
        Some(error) => (
            format!("Bearer realm=\"contacts\", error=\"{error}\""),
            serve::error(status, error),
        ),
        None => (
            "Bearer realm=\"contacts\"".to_owned(),
            serve::error(status, "unauthorized"),
        ),
    };
    let mut response = body;
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_well_formed_bearer_token_is_read() {
        assert_eq!(
            bearer_token(&headers("Bearer abc-_.~+/=")),
            Some("abc-_.~+/=")
        );
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer a b")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn challenges_name_the_error() {
        let response = challenge(StatusCode::FORBIDDEN, Some("insufficient_scope"));
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"contacts\", error=\"insufficient_scope\""
        );
        let response = challenge(StatusCode::UNAUTHORIZED, None);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"contacts\""
        );
    }
}
