//! Token endpoint errors (RFC 6749 §5.2), introspection, revocation and userinfo.

use crate::support::*;
use bff_demo_auth_server::{AuthServer, AuthServerConfig};
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client_401() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    let code = authorize(&server, &pkce).await;
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, "wrong")).await;
    assert_error(&answer, 401, "invalid_client");
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let answer = exchange(&server, &code, &pkce, Auth::Post(CLIENT, "wrong")).await;
    assert_error(&answer, 401, "invalid_client");
    let answer = exchange(&server, &code, &pkce, Auth::Basic("stranger", SECRET)).await;
    assert_error(&answer, 401, "invalid_client");
    let answer = exchange(&server, &code, &pkce, Auth::None).await;
    assert_error(&answer, 401, "invalid_client");
    // The code was never looked at: it still works.
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_the_first_tokens() {
    let server = AuthServer::start(config()).await.unwrap();
    let pkce = pkce();
    let code = authorize(&server, &pkce).await;
    let first = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET))
        .await
        .json;
    let access = text(&first, "access_token");
    let refresh = text(&first, "refresh_token");
    assert_eq!(introspect(&server, &access).await["active"], true);
    let again = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_error(&again, 400, "invalid_grant");
    assert_eq!(introspect(&server, &access).await["active"], false);
    assert_eq!(introspect(&server, &refresh).await["active"], false);
    assert!(!server.introspect_active(&access));
}

#[tokio::test]
async fn a_wrong_redirect_uri_or_verifier_or_client_is_invalid_grant() {
    let mut config = config();
    config.clients.push(client("other-app", "other-secret"));
    let server = AuthServer::start(config).await.unwrap();
    let basic = Auth::Basic(CLIENT, SECRET);

    let pkce_a = pkce();
    let code = authorize(&server, &pkce_a).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.example/other"),
        ("code_verifier", &pkce_a.verifier),
    ];
    assert_error(
        &post(&server, "/oauth2/token", &form, basic).await,
        400,
        "invalid_grant",
    );

    let code = authorize(&server, &pkce_a).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", &pkce_a.verifier),
    ];
    assert_error(
        &post(&server, "/oauth2/token", &form, basic).await,
        400,
        "invalid_grant",
    );

    let code = authorize(&server, &pkce_a).await;
    let wrong = pkce();
    assert_error(
        &exchange(&server, &code, &wrong, basic).await,
        400,
        "invalid_grant",
    );
    // A failed attempt spends the code.
    assert_error(
        &exchange(&server, &code, &pkce_a, basic).await,
        400,
        "invalid_grant",
    );

    let code = authorize(&server, &pkce_a).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ];
    assert_error(
        &post(&server, "/oauth2/token", &form, basic).await,
        400,
        "invalid_grant",
    );

    let code = authorize(&server, &pkce_a).await;
    let answer = exchange(
        &server,
        &code,
        &pkce_a,
        Auth::Basic("other-app", "other-secret"),
    )
    .await;
    assert_error(&answer, 400, "invalid_grant");

    let made_up = pkce();
    assert_error(
        &exchange(&server, &made_up.verifier, &pkce_a, basic).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let server = AuthServer::start(AuthServerConfig {
        code_ttl: Duration::from_secs(1),
        ..config()
    })
    .await
    .unwrap();
    let pkce = pkce();
    let code = authorize(&server, &pkce).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_error(&answer, 400, "invalid_grant");
}

#[tokio::test]
async fn malformed_token_requests() {
    let server = AuthServer::start(config()).await.unwrap();
    let basic = Auth::Basic(CLIENT, SECRET);
    let answer = post(
        &server,
        "/oauth2/token",
        &[("grant_type", "password")],
        basic,
    )
    .await;
    assert_error(&answer, 400, "unsupported_grant_type");
    assert_eq!(server.count_grant("password"), 1);
    assert_error(
        &post(&server, "/oauth2/token", &[], basic).await,
        400,
        "invalid_request",
    );
    let answer = post(
        &server,
        "/oauth2/token",
        &[("grant_type", "authorization_code")],
        basic,
    )
    .await;
    assert_error(&answer, 400, "invalid_request");
    let twice = [
        ("grant_type", "refresh_token"),
        ("grant_type", "refresh_token"),
    ];
    assert_error(
        &post(&server, "/oauth2/token", &twice, basic).await,
        400,
        "invalid_request",
    );
    // Two authentication methods at once.
    let both = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
    ];
    assert_error(
        &post(&server, "/oauth2/token", &both, basic).await,
        400,
        "invalid_request",
    );
    // Not a form; too large; wrong method.
    let url = format!("{}/oauth2/token", server.issuer());
    let response = http()
        .post(&url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let huge = "x".repeat(70 * 1024);
    let response = http().post(&url).body(huge).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn introspection_needs_client_authentication_and_reports_live_tokens() {
    let server = AuthServer::start(config()).await.unwrap();
    let tokens = login(&server).await;
    let access = text(&tokens, "access_token");
    let answer = post(
        &server,
        "/oauth2/introspect",
        &[("token", &access)],
        Auth::None,
    )
    .await;
    assert_error(&answer, 401, "invalid_client");
    let answer = post(
        &server,
        "/oauth2/introspect",
        &[("token", &access)],
        Auth::Basic(CLIENT, "x"),
    )
    .await;
    assert_error(&answer, 401, "invalid_client");

    let info = introspect(&server, &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["scope"], SCOPE);
    assert_eq!(info["client_id"], CLIENT);
    assert_eq!(info["sub"], "demo-user-0001");
    assert_eq!(info["username"], "demo");
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["iss"], server.issuer());
    assert_eq!(
        info["exp"].as_u64().unwrap() - info["iat"].as_u64().unwrap(),
        300
    );
    let answer = post(
        &server,
        "/oauth2/introspect",
        &[("token", &access)],
        Auth::Post(CLIENT, SECRET),
    )
    .await;
    assert_eq!(answer.json["active"], true);

    let unknown = introspect(&server, "no-such-token").await;
    assert_eq!(unknown, serde_json::json!({"active": false}));
    server.revoke_all();
    assert_eq!(
        introspect(&server, &access).await,
        serde_json::json!({"active": false})
    );
    assert!(!server.introspect_active(&access));
}

#[tokio::test]
async fn access_tokens_expire() {
    let server = AuthServer::start(AuthServerConfig {
        access_token_ttl: Duration::from_secs(1),
        ..config()
    })
    .await
    .unwrap();
    let tokens = login(&server).await;
    assert_eq!(tokens["expires_in"], 1);
    let access = text(&tokens, "access_token");
    assert!(server.introspect_active(&access));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(introspect(&server, &access).await["active"], false);
}

#[tokio::test]
async fn revocation() {
    let server = AuthServer::start(config()).await.unwrap();
    let basic = Auth::Basic(CLIENT, SECRET);
    let tokens = login(&server).await;
    let access = text(&tokens, "access_token");
    let refresh = text(&tokens, "refresh_token");
    let answer = post(&server, "/oauth2/revoke", &[("token", &access)], Auth::None).await;
    assert_error(&answer, 401, "invalid_client");
    assert!(server.introspect_active(&access));

    let answer = post(
        &server,
        "/oauth2/revoke",
        &[("token", &access), ("token_type_hint", "access_token")],
        basic,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!server.introspect_active(&access));
    assert!(
        server.introspect_active(&refresh),
        "revoking an access token keeps the refresh token"
    );

    let fresh = post(
        &server,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        basic,
    )
    .await
    .json;
    let access2 = text(&fresh, "access_token");
    let refresh2 = text(&fresh, "refresh_token");
    let answer = post(
        &server,
        "/oauth2/revoke",
        &[("token", &refresh2)],
        Auth::Post(CLIENT, SECRET),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!server.introspect_active(&refresh2));
    assert!(
        !server.introspect_active(&access2),
        "revoking a refresh token revokes its family"
    );

    let answer = post(&server, "/oauth2/revoke", &[("token", "unknown")], basic).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(server.count("/oauth2/revoke"), 4);
}

#[tokio::test]
async fn userinfo_answers_for_live_bearer_tokens_only() {
    let server = AuthServer::start(config()).await.unwrap();
    let access = text(&login(&server).await, "access_token");
    let url = format!("{}/oauth2/userinfo", server.issuer());
    let response = http().get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let claims: serde_json::Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], "demo-user-0001");
    assert_eq!(claims["name"], "Demo User");
    assert_eq!(claims["email"], "demo@example.com");

    let response = http().get(&url).bearer_auth("forged").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    server.revoke_all();
    let response = http().get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
