//! The contacts API, a resource server: `GET /contacts` reads the Bearer token, asks the
//! authorization server whether it is active (RFC 7662 introspection, authenticated as the
//! client) and answers the user's contacts when it is and carries the `contacts` scope.
//!
//! Every refusal is `403`, as the seed scenario's resource server answers, with an RFC 6750 §3
//! challenge that says why: no token → a bare `Bearer` challenge naming the scope; an inactive
//! token → `error="invalid_token"` (the gateway reads that, refreshes once and retries); an
//! active token without the `contacts` scope → `error="insufficient_scope"` (no refresh helps).
//! When introspection itself fails the API answers `503`: that is no verdict on the token, and
//! a `403 invalid_token` would make the gateway spend a refresh token for nothing.
//! The token itself is never logged or journaled — only its length.

use crate::journal::{Actor, Journal, Step};
use crate::serve::{self, Body, Handler};
use crate::servers::{CLIENT_ID, CLIENT_SECRET};
use bff_demo_auth_server::{AuthServer, Contact};
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
    introspection_url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    /// Each user's contacts, by username.
    address_books: HashMap<String, Vec<Contact>>,
    journal: Arc<Journal>,
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
    /// The API for the demo's client: checks tokens at `introspection_url` (authenticated as
    /// the client) and answers from the address books of `auth`'s users.
    pub fn new(
        auth: &AuthServer,
        introspection_url: String,
        http: reqwest::Client,
        journal: Arc<Journal>,
    ) -> Self {
        Self {
            introspection_url,
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            http,
            address_books: auth
                .config()
                .users
                .iter()
                .map(|u| (u.username.clone(), u.contacts.clone()))
                .collect(),
            journal,
        }
    }

    async fn contacts(&self, headers: &HeaderMap) -> Response<Body> {
        let Some(token) = bearer_token(headers) else {
            self.journal.record(Step::new(
                Actor::ContactsApi,
                "api_no_token",
                "GET /contacts without a Bearer token → 403",
                "Without a token the API refuses; behind the gateway this never happens, \
                     because the gateway adds the token or answers 401 itself.",
            ));
            return refuse(Refusal::NoToken);
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
                "Token not active → 403 invalid_token",
                "An expired or revoked token gets 403 with WWW-Authenticate: Bearer \
                 error=\"invalid_token\"; the gateway then refreshes once and retries.",
            ));
            return refuse(Refusal::InvalidToken);
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
            return refuse(Refusal::InsufficientScope);
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

/// Why the API refuses a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NoToken,
    InvalidToken,
    InsufficientScope,
}

/// A `403` with the RFC 6750 §3 challenge and a small JSON body for `refusal`. RFC 6750 §3.1:
/// a request without a token gets no `error` code in the challenge.
fn refuse(refusal: Refusal) -> Response<Body> {
    let (challenge, error, description) = match refusal {
        Refusal::NoToken => (
            "Bearer realm=\"contacts\", scope=\"contacts\"",
            "missing_token",
            "send an access token with the contacts scope",
        ),
        Refusal::InvalidToken => (
            "Bearer realm=\"contacts\", error=\"invalid_token\"",
            "invalid_token",
            "the access token is not active",
        ),
        Refusal::InsufficientScope => (
            "Bearer realm=\"contacts\", error=\"insufficient_scope\", scope=\"contacts\"",
            "insufficient_scope",
            "the access token lacks the contacts scope",
        ),
    };
    let mut response = serve::json(
        StatusCode::FORBIDDEN,
        &json!({ "error": error, "error_description": description }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
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
    fn every_refusal_is_a_403_with_its_challenge() {
        let cases = [
            (
                Refusal::NoToken,
                "Bearer realm=\"contacts\", scope=\"contacts\"",
            ),
            (
                Refusal::InvalidToken,
                "Bearer realm=\"contacts\", error=\"invalid_token\"",
            ),
            (
                Refusal::InsufficientScope,
                "Bearer realm=\"contacts\", error=\"insufficient_scope\", scope=\"contacts\"",
            ),
        ];
        for (refusal, challenge) in cases {
            let response = refuse(refusal);
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{refusal:?}");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], challenge);
        }
    }

    // The gateway's refresh-and-retry (checklist P7) must see the API's verdicts as meant.
    #[test]
    fn the_gateway_retries_on_invalid_token_only() {
        assert!(bff_gateway::auth::api::rejects_token(&refuse(
            Refusal::InvalidToken
        )));
        assert!(!bff_gateway::auth::api::rejects_token(&refuse(
            Refusal::InsufficientScope
        )));
        assert!(!bff_gateway::auth::api::rejects_token(&refuse(
            Refusal::NoToken
        )));
    }

    /// The API in front of the real demo authorization server's introspection, each on a free
    /// loopback port; login and consent skipped.
    mod introspected {
        use super::super::*;
        use crate::serve::Server;
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use bff_demo_auth_server::{AuthServerConfig, ClientConfig};
        use serde_json::Value;
        use sha2::{Digest, Sha256};
        use tokio::net::TcpListener;

        const REDIRECT: &str = "http://127.0.0.1:1/auth/callback";
        const VERIFIER: &str = "contacts-api-test-verifier-0123456789-abcdefghijkl";

        struct Setup {
            auth: AuthServer,
            api: Server,
            http: reqwest::Client,
            journal: Arc<Journal>,
        }

        fn http() -> reqwest::Client {
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
        }

        async fn start_api(auth: &AuthServer, introspection_url: String) -> (Server, Arc<Journal>) {
            let journal = Arc::new(Journal::default());
            let api = ContactsApi::new(auth, introspection_url, http(), Arc::clone(&journal));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            (Server::start(listener, api).unwrap(), journal)
        }

        async fn setup() -> Setup {
            let auth = AuthServer::start(AuthServerConfig {
                clients: vec![ClientConfig {
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: CLIENT_SECRET.to_owned(),
                    redirect_uris: vec![REDIRECT.to_owned()],
                    ..ClientConfig::default()
                }],
                auto_approve: true,
                auto_login_user: Some("demo".to_owned()),
                ..AuthServerConfig::default()
            })
            .await
            .unwrap();
            let introspection_url = format!("{}/oauth2/introspect", auth.issuer());
            let (api, journal) = start_api(&auth, introspection_url).await;
            Setup {
                auth,
                api,
                http: http(),
                journal,
            }
        }

        impl Setup {
            /// A code flow for `scope`; the token response.
            async fn login(&self, scope: &str) -> Value {
                let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
                let authorize = self
                    .http
                    .get(format!("{}/oauth2/authorize", self.auth.issuer()))
                    .query(&[
                        ("response_type", "code"),
                        ("client_id", CLIENT_ID),
                        ("redirect_uri", REDIRECT),
                        ("scope", scope),
                        ("state", "state-1"),
                        ("nonce", "nonce-1"),
                        ("code_challenge", &challenge),
                        ("code_challenge_method", "S256"),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(authorize.status(), StatusCode::FOUND);
                let location = authorize.headers()[header::LOCATION].to_str().unwrap();
                let query = location.split_once('?').unwrap().1;
                let code = form_urlencoded::parse(query.as_bytes())
                    .find(|(name, _)| name == "code")
                    .unwrap()
                    .1
                    .into_owned();
                let tokens = self
                    .http
                    .post(format!("{}/oauth2/token", self.auth.issuer()))
                    .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", VERIFIER),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(tokens.status(), StatusCode::OK);
                tokens.json().await.unwrap()
            }

            async fn access_token(&self, scope: &str) -> String {
                self.login(scope).await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }

            /// `GET /contacts` with `authorization`; status, `WWW-Authenticate` and body.
            async fn contacts(&self, authorization: Option<&str>) -> (u16, String, Value) {
                get_contacts(&self.http, &self.api, authorization).await
            }
        }

        async fn get_contacts(
            http: &reqwest::Client,
            api: &Server,
            authorization: Option<&str>,
        ) -> (u16, String, Value) {
            let mut request = http.get(format!("http://{}/contacts", api.addr()));
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map_or("", |v| v.to_str().unwrap())
                .to_owned();
            (status, challenge, response.json().await.unwrap())
        }

        const FULL_SCOPE: &str = "openid profile email offline_access contacts";

        #[tokio::test]
        async fn an_active_token_with_the_contacts_scope_gets_the_users_contacts() {
            let s = setup().await;
            let token = s.access_token(FULL_SCOPE).await;
            let (status, challenge, body) = s.contacts(Some(&format!("Bearer {token}"))).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(challenge, "");
            assert_eq!(body["owner"], "demo");
            let expected = &s.auth.config().users[0].contacts;
            assert!(!expected.is_empty());
            assert_eq!(body["contacts"], serde_json::to_value(expected).unwrap());
            let journal = s.journal.since(0).to_string();
            assert!(journal.contains("api_answered"), "{journal}");
            assert!(!journal.contains(&token), "the journal holds the token");
        }

        #[tokio::test]
        async fn an_inactive_token_gets_403_invalid_token() {
            let s = setup().await;
            let token = s.access_token(FULL_SCOPE).await;
            s.auth.revoke_all();
            for value in [format!("Bearer {token}"), "Bearer unknown-token".to_owned()] {
                let (status, challenge, body) = s.contacts(Some(&value)).await;
                assert_eq!(status, 403, "{body}");
                assert_eq!(
                    challenge,
                    "Bearer realm=\"contacts\", error=\"invalid_token\""
                );
                assert_eq!(body["error"], "invalid_token");
            }
        }

        // A refresh token is active at introspection, but it is no access token.
        #[tokio::test]
        async fn a_refresh_token_gets_403_invalid_token() {
            let s = setup().await;
            let tokens = s.login(FULL_SCOPE).await;
            let refresh = tokens["refresh_token"].as_str().unwrap();
            let (status, _, body) = s.contacts(Some(&format!("Bearer {refresh}"))).await;
            assert_eq!(status, 403, "{body}");
            assert_eq!(body["error"], "invalid_token");
        }

        #[tokio::test]
        async fn a_token_without_the_contacts_scope_gets_403_insufficient_scope() {
            let s = setup().await;
            let token = s.access_token("openid profile").await;
            let (status, challenge, body) = s.contacts(Some(&format!("Bearer {token}"))).await;
            assert_eq!(status, 403, "{body}");
            assert_eq!(
                challenge,
                "Bearer realm=\"contacts\", error=\"insufficient_scope\", scope=\"contacts\""
            );
            assert_eq!(body["error"], "insufficient_scope");
        }

        #[tokio::test]
        async fn a_request_without_a_token_gets_403() {
            let s = setup().await;
            for authorization in [None, Some("Basic ZGVtbzpkZW1v"), Some("Bearer ")] {
                let (status, challenge, body) = s.contacts(authorization).await;
                assert_eq!(status, 403, "{authorization:?}");
                // RFC 6750 §3.1: no error code when the request carries no token.
                assert_eq!(challenge, "Bearer realm=\"contacts\", scope=\"contacts\"");
                assert_eq!(body["error"], "missing_token");
            }
            assert_eq!(s.auth.count("/oauth2/introspect"), 0);
        }

        // No verdict on the token: neither a 403 nor a reason for the gateway to refresh.
        #[tokio::test]
        async fn an_unreachable_introspection_endpoint_gets_503() {
            let s = setup().await;
            let token = s.access_token(FULL_SCOPE).await;
            let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/oauth2/introspect", closed.local_addr().unwrap());
            drop(closed);
            let (api, _journal) = start_api(&s.auth, url).await;
            let (status, challenge, body) =
                get_contacts(&s.http, &api, Some(&format!("Bearer {token}"))).await;
            assert_eq!(status, 503, "{body}");
            assert_eq!(challenge, "");
            assert_eq!(body["error"], "introspection_unavailable");
        }
    }
}
