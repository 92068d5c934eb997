//! The authorization code flow with PKCE, its ID token, and the authorization-endpoint errors.

use crate::support::*;
use bff_demo_auth_server::AuthServer;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Map, Value};

/// Verifies an ID token with the server's JWKS, as a relying party would.
pub async fn verify_id_token(server: &AuthServer, token: &str) -> Map<String, Value> {
    let jwks = jwks(server).await;
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[server.issuer()]);
    validation.set_audience(&[CLIENT]);
    let key = DecodingKey::from_jwk(jwk).unwrap();
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn code_flow_with_pkce_and_client_secret_basic() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    let code = authorize(&server, &pkce).await;
    assert!(code.len() >= 43, "codes carry at least 128 bits");
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let tokens = answer.json;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], SCOPE);
    assert!(text(&tokens, "access_token").len() >= 43);
    assert!(tokens["refresh_token"].is_string());

    let claims = verify_id_token(&server, &text(&tokens, "id_token")).await;
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["azp"], CLIENT);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sub"], "demo-user-0001");
    assert_eq!(claims["name"], "Demo User");
    assert_eq!(claims["preferred_username"], "demo");
    assert_eq!(claims["email"], "demo@example.com");
    assert_eq!(claims["email_verified"], true);
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert!(claims["auth_time"].as_u64().unwrap() <= iat);

    assert!(server.introspect_active(&text(&tokens, "access_token")));
    assert_eq!(server.count("/oauth2/token"), 1);
    assert_eq!(server.count_grant("authorization_code"), 1);
}

#[tokio::test]
async fn client_secret_post_and_form_encoded_basic_credentials() {
    let mut config = config();
    config.clients.push(client("my:client", "s3cr%t +&"));
    let server = AuthServer::start(config).await.unwrap();
    let pkce_a = pkce();
    let code = authorize(&server, &pkce_a).await;
    let answer = exchange(&server, &code, &pkce_a, Auth::Post(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);

    let pkce_b = pkce();
    let url = authorize_url(&server, &pkce_b, &[("client_id", "my:client")]);
    let response = http().get(url).send().await.unwrap();
    let code = query(&location(&response))["code"][0].clone();
    let answer = exchange(
        &server,
        &code,
        &pkce_b,
        Auth::Basic("my:client", "s3cr%t +&"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access_and_no_id_token_without_openid() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    let url = authorize_url(&server, &pkce, &[("scope", "contacts")]);
    let response = http().get(url).send().await.unwrap();
    let code = query(&location(&response))["code"][0].clone();
    let tokens = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET))
        .await
        .json;
    assert_eq!(tokens["scope"], "contacts");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("id_token").is_none());
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_gets_a_page_and_no_redirect() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    for overrides in [
        [("client_id", "stranger")],
        [("redirect_uri", "https://evil.example/cb")],
        [("redirect_uri", "https://app.example/auth/callback/")],
    ] {
        let response = http()
            .get(authorize_url(&server, &pkce, &overrides))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(response.text().await.unwrap().contains("DEMO ONLY"));
    }
}

#[tokio::test]
async fn authorization_errors_redirect_with_state_and_iss() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "")], "invalid_request"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let response = http()
            .get(authorize_url(&server, &pkce, overrides))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{overrides:?}");
        let location = location(&response);
        assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
        let q = query(&location);
        assert_eq!(q["error"], [error], "{overrides:?}");
        assert_eq!(q["state"], ["st&te=1 2"]);
        assert_eq!(q["iss"], [server.issuer()]);
        assert!(!q.contains_key("code"));
    }
    // Repeated parameters are refused too.
    let url = format!("{}&scope=openid", authorize_url(&server, &pkce, &[]));
    let response = http().get(url).send().await.unwrap();
    assert_eq!(query(&location(&response))["error"], ["invalid_request"]);
}

#[tokio::test]
async fn a_client_that_may_not_use_a_scope_gets_invalid_scope() {
    let mut config = config();
    config.clients[0].allowed_scopes = vec!["openid".to_owned()];
    let server = AuthServer::start(config).await.unwrap();
    let response = http()
        .get(authorize_url(&server, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&response))["error"], ["invalid_scope"]);
}

#[tokio::test]
async fn pkce_can_be_optional_per_client_but_a_verifier_then_is_refused() {
    let mut config = config();
    config.clients[0].require_pkce = false;
    let server = AuthServer::start(config).await.unwrap();
    let pkce = pkce();
    let url = authorize_url(
        &server,
        &pkce,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let response = http().get(&url).send().await.unwrap();
    let code = query(&location(&response))["code"][0].clone();
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_error(&answer, 400, "invalid_grant");
    let response = http().get(&url).send().await.unwrap();
    let code = query(&location(&response))["code"][0].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ];
    let answer = post(&server, "/oauth2/token", &form, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}
