//! The event hook (`AuthServerConfig::on_event`): every step of a login, token exchange,
//! introspection, refresh, revocation and logout is reported — and no event carries a secret.

use crate::browser::{form, get, request_id, session_cookie};
use crate::support::*;
use bff_demo_auth_server::{
    AuthEvent, AuthServer, AuthServerConfig, ClientAuth, EventHook, GrantType, TokenKind,
};
use reqwest::StatusCode;
use std::sync::{Arc, Mutex};

/// An interactive server whose events land in the returned list.
async fn recording_server() -> (AuthServer, Arc<Mutex<Vec<AuthEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let config = AuthServerConfig {
        on_event: Some(EventHook::new(move |event| {
            sink.lock().unwrap().push(event.clone());
        })),
        ..interactive_config()
    };
    (AuthServer::start(config).await.unwrap(), events)
}

fn take(events: &Mutex<Vec<AuthEvent>>) -> Vec<AuthEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

#[tokio::test]
async fn a_whole_session_is_reported_step_by_step_without_secrets() {
    let (server, events) = recording_server().await;
    let pkce = pkce();
    let page = get(&authorize_url(&server, &pkce, &[]), None).await;
    let id = request_id(&page.text().await.unwrap());
    let wrong = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "x"),
    ];
    form(&server, "/oauth2/login", &wrong, None).await;
    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let consent = form(&server, "/oauth2/login", &right, None).await;
    let cookie = session_cookie(&consent).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let consent_id = request_id(&consent.text().await.unwrap());
    let approve = [("request", consent_id.as_str()), ("decision", "approve")];
    let approved = form(&server, "/oauth2/consent", &approve, Some(&cookie)).await;
    assert_eq!(approved.status(), StatusCode::FOUND);
    let code = query(&location(&approved))["code"][0].clone();
    let tokens = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    let access = text(&tokens.json, "access_token");
    let refresh = text(&tokens.json, "refresh_token");
    introspect(&server, &access).await;
    let refreshed = post(
        &server,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Auth::Post(CLIENT, SECRET),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    introspect(&server, &access).await;
    let rotated = text(&refreshed.json, "refresh_token");
    let revoke = [("token", rotated.as_str())];
    post(
        &server,
        "/oauth2/revoke",
        &revoke,
        Auth::Basic(CLIENT, SECRET),
    )
    .await;
    let logout = format!("{}/oauth2/logout?client_id={CLIENT}", server.issuer());
    get(&logout, Some(&cookie)).await;

    let events = take(&events);
    let scopes: Vec<String> = SCOPE.split(' ').map(str::to_owned).collect();
    let expected = [
        AuthEvent::AuthorizationRequested {
            client_id: CLIENT.to_owned(),
            scopes: scopes.clone(),
            pkce_method: Some("S256"),
        },
        AuthEvent::LoginFormShown {
            client_id: CLIENT.to_owned(),
        },
        AuthEvent::LoginFailed {
            client_id: CLIENT.to_owned(),
        },
        AuthEvent::LoginSucceeded {
            username: "demo".to_owned(),
        },
        AuthEvent::ConsentShown {
            client_id: CLIENT.to_owned(),
            username: "demo".to_owned(),
            scopes: scopes.clone(),
        },
        AuthEvent::ConsentApproved {
            client_id: CLIENT.to_owned(),
            username: "demo".to_owned(),
            scopes: scopes.clone(),
        },
        AuthEvent::CodeIssued {
            client_id: CLIENT.to_owned(),
            username: "demo".to_owned(),
            code_length: code.len(),
        },
    ];
    assert_eq!(events[..expected.len()], expected[..]);
    let rest = &events[expected.len()..];
    assert!(
        matches!(&rest[0], AuthEvent::TokensIssued {
            grant_type: GrantType::AuthorizationCode,
            client_auth: ClientAuth::ClientSecretBasic,
            refresh_token: true,
            id_token: true,
            access_token_length,
            ..
        } if *access_token_length == access.len()),
        "{:?}",
        rest[0]
    );
    assert!(
        matches!(&rest[1], AuthEvent::Introspected { client_id, active: Some(token), .. }
            if client_id == CLIENT && token.kind == TokenKind::Access && token.scopes == scopes),
        "{:?}",
        rest[1]
    );
    assert!(
        matches!(
            &rest[2],
            AuthEvent::TokensIssued {
                grant_type: GrantType::RefreshToken,
                client_auth: ClientAuth::ClientSecretPost,
                refresh_token: true,
                ..
            }
        ),
        "{:?}",
        rest[2]
    );
    // The first access token is still within its lifetime: refreshing does not revoke it.
    assert!(matches!(
        &rest[3],
        AuthEvent::Introspected {
            active: Some(_),
            ..
        }
    ));
    assert!(matches!(
        &rest[4],
        AuthEvent::Revoked {
            kind: Some(TokenKind::Refresh),
            ..
        }
    ));
    assert_eq!(
        rest[5],
        AuthEvent::LoggedOut {
            client_id: Some(CLIENT.to_owned()),
            had_session: true,
            redirected: false,
        }
    );
    assert_eq!(rest.len(), 6, "{rest:?}");

    let printed = format!("{events:?}");
    let id_token = text(&tokens.json, "id_token");
    let secrets = [
        code.as_str(),
        access.as_str(),
        refresh.as_str(),
        rotated.as_str(),
        id_token.as_str(),
        SECRET,
        &pkce.verifier,
        &pkce.challenge,
        &id,
        &consent_id,
        &cookie["demo_auth_server_session=".len()..],
    ];
    for secret in secrets {
        assert!(!printed.contains(secret), "an event carries a secret");
    }
}

#[tokio::test]
async fn a_denied_consent_and_a_refused_token_request_are_reported() {
    let (server, events) = recording_server().await;
    let pkce = pkce();
    let page = get(&authorize_url(&server, &pkce, &[]), None).await;
    let id = request_id(&page.text().await.unwrap());
    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let consent = form(&server, "/oauth2/login", &right, None).await;
    let cookie = session_cookie(&consent).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let consent_id = request_id(&consent.text().await.unwrap());
    let deny = [("request", consent_id.as_str()), ("decision", "deny")];
    let denied = form(&server, "/oauth2/consent", &deny, Some(&cookie)).await;
    assert_eq!(query(&location(&denied))["error"], ["access_denied"]);
    let refused = exchange(&server, "no-such-code", &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_error(&refused, 400, "invalid_grant");

    let events = take(&events);
    let tail = &events[events.len() - 3..];
    assert_eq!(
        tail[0],
        AuthEvent::ConsentDenied {
            client_id: CLIENT.to_owned(),
            username: "demo".to_owned(),
        }
    );
    assert_eq!(
        tail[1],
        AuthEvent::AuthorizationError {
            error: "access_denied"
        }
    );
    assert!(
        matches!(
            &tail[2],
            AuthEvent::TokenRefused {
                grant_type: Some(GrantType::AuthorizationCode),
                error: "invalid_grant",
                ..
            }
        ),
        "{:?}",
        tail[2]
    );
}

#[tokio::test]
async fn discovery_and_key_reads_are_reported() {
    let (server, events) = recording_server().await;
    for path in ["/.well-known/openid-configuration", "/oauth2/jwks"] {
        let response = http()
            .get(format!("{}{path}", server.issuer()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        take(&events),
        [AuthEvent::DiscoveryServed, AuthEvent::JwksServed]
    );
}

#[tokio::test]
async fn a_user_still_signed_in_skips_the_login_form() {
    let (server, events) = recording_server().await;
    let page = get(&authorize_url(&server, &pkce(), &[]), None).await;
    let id = request_id(&page.text().await.unwrap());
    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let consent = form(&server, "/oauth2/login", &right, None).await;
    let cookie = session_cookie(&consent).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    take(&events);
    get(&authorize_url(&server, &pkce(), &[]), Some(&cookie)).await;
    let events = take(&events);
    assert!(
        matches!(
            &events[..],
            [
                AuthEvent::AuthorizationRequested { .. },
                AuthEvent::LoginSessionReused { username },
                AuthEvent::ConsentShown { .. },
            ] if username == "demo"
        ),
        "{events:?}"
    );
}
