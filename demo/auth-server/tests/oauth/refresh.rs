//! Refresh-token rotation and reuse detection (RFC 9700 §4.14.2).

use crate::code_flow::verify_id_token;
use crate::support::*;
use bff_demo_auth_server::AuthServer;
use reqwest::StatusCode;

async fn refresh(server: &AuthServer, token: &str, extra: &[(&str, &str)]) -> Answer {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    post(server, "/oauth2/token", &form, Auth::Basic(CLIENT, SECRET)).await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let server = AuthServer::start(config()).await.unwrap();
    let first = login(&server).await;
    let r1 = text(&first, "refresh_token");

    let second = refresh(&server, &r1, &[]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    assert_eq!(second.headers["cache-control"], "no-store");
    let second = second.json;
    let r2 = text(&second, "refresh_token");
    let a2 = text(&second, "access_token");
    assert_ne!(r1, r2);
    assert_ne!(text(&first, "access_token"), a2);
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], SCOPE);
    let claims = verify_id_token(&server, &text(&second, "id_token")).await;
    assert_eq!(claims["sub"], "demo-user-0001");
    assert!(claims.get("nonce").is_none());
    assert_eq!(server.count_grant("refresh_token"), 1);

    // The rotated-out token is spent; using it again revokes everything from that login.
    assert_error(&refresh(&server, &r1, &[]).await, 400, "invalid_grant");
    assert!(!server.introspect_active(&a2));
    assert!(!server.introspect_active(&r2));
    assert_error(&refresh(&server, &r2, &[]).await, 400, "invalid_grant");
    assert!(server.count_grant("refresh_token") == 3);
}

#[tokio::test]
async fn refresh_can_narrow_but_not_widen_the_scope_and_is_bound_to_its_client() {
    let mut config = config();
    config.clients.push(client("other-app", "other-secret"));
    let server = AuthServer::start(config).await.unwrap();
    let r1 = text(&login(&server).await, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r1.as_str()),
    ];
    let answer = post(
        &server,
        "/oauth2/token",
        &form,
        Auth::Basic("other-app", "other-secret"),
    )
    .await;
    assert_error(&answer, 400, "invalid_grant");

    assert_error(
        &refresh(&server, &r1, &[("scope", "openid admin")]).await,
        400,
        "invalid_scope",
    );
    let narrowed = refresh(&server, &r1, &[("scope", "contacts")]).await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.json);
    assert_eq!(narrowed.json["scope"], "contacts");
    assert!(narrowed.json.get("id_token").is_none());
    // The new refresh token keeps the original grant.
    let r2 = text(&narrowed.json, "refresh_token");
    let full = refresh(&server, &r2, &[]).await;
    assert_eq!(full.json["scope"], SCOPE);
}

#[tokio::test]
async fn revoke_all_makes_refresh_fail() {
    let server = AuthServer::start(config()).await.unwrap();
    let r1 = text(&login(&server).await, "refresh_token");
    server.revoke_all();
    assert_error(&refresh(&server, &r1, &[]).await, 400, "invalid_grant");
}
