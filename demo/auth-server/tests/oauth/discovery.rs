//! Discovery, JWKS, routing, counters and lifecycle.

use crate::support::*;
use bff_demo_auth_server::{AuthServer, AuthServerConfig, AuthServerError};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn the_discovery_document_names_every_endpoint() {
    let server = AuthServer::start(config()).await.unwrap();
    let issuer = server.issuer();
    assert_eq!(
        issuer,
        format!("http://127.0.0.1:{}", server.local_addr().port())
    );
    let url = format!("{issuer}/.well-known/openid-configuration");
    let doc: Value = get_json(&url).await;
    assert_eq!(doc["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("jwks_uri", "/oauth2/jwks"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(doc[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["scopes_supported"].as_array().unwrap().len(), 5);
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "refresh_token")
    );
    assert!(
        doc["claims_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "email")
    );

    let jwks: Value = get_json(format!("{issuer}/oauth2/jwks")).await;
    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    for (field, value) in [
        ("kty", "RSA"),
        ("use", "sig"),
        ("alg", "RS256"),
        ("e", "AQAB"),
    ] {
        assert_eq!(key[field], value);
    }
    assert!(key["kid"].is_string() && key["n"].as_str().unwrap().len() > 300);
    assert_eq!(server.count("/.well-known/openid-configuration"), 1);
}

#[tokio::test]
async fn unknown_paths_are_404_and_counted() {
    let server = AuthServer::start(config()).await.unwrap();
    let response = http()
        .get(format!("{}/nope", server.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http()
        .get(format!("{}/", server.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.count("/nope"), 1);
    assert_eq!(server.count("/oauth2/token"), 0);
}

#[tokio::test]
async fn a_configured_issuer_is_used_verbatim_without_trailing_slash() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server = AuthServer::start(AuthServerConfig {
        listen: addr,
        issuer: Some(format!("http://localhost:{}/", addr.port())),
        ..config()
    })
    .await
    .unwrap();
    assert_eq!(server.local_addr(), addr);
    assert_eq!(server.issuer(), format!("http://localhost:{}", addr.port()));
    let doc: Value = get_json(format!("http://{addr}/.well-known/openid-configuration")).await;
    assert_eq!(
        doc["token_endpoint"],
        format!("http://localhost:{}/oauth2/token", addr.port())
    );
}

#[tokio::test]
async fn bad_configurations_and_busy_ports_are_errors() {
    let broken = AuthServerConfig {
        auto_login_user: Some("nobody".to_owned()),
        ..config()
    };
    assert!(matches!(
        AuthServer::start(broken).await,
        Err(AuthServerError::Config(_))
    ));
    let first = AuthServer::start(config()).await.unwrap();
    let busy = AuthServerConfig {
        listen: first.local_addr(),
        ..config()
    };
    assert!(matches!(
        AuthServer::start(busy).await,
        Err(AuthServerError::Bind { .. })
    ));
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let server = AuthServer::start(config()).await.unwrap();
    let url = format!("{}/.well-known/openid-configuration", server.issuer());
    assert!(http().get(&url).send().await.unwrap().status().is_success());
    server.shutdown().await;
    assert!(http().get(&url).send().await.is_err());

    let server = AuthServer::start(config()).await.unwrap();
    let url = format!("{}/.well-known/openid-configuration", server.issuer());
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}
