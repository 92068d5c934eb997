//! RP-initiated logout.

use crate::support::*;
use bff_demo_auth_server::AuthServer;
use reqwest::StatusCode;

fn logout_url(server: &AuthServer, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    format!("{}/oauth2/logout?{}", server.issuer(), query.finish())
}

fn clears_cookie(response: &reqwest::Response) -> bool {
    response.headers().get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("demo_auth_server_session=;") && v.contains("Max-Age=0")
    })
}

#[tokio::test]
async fn logout_redirects_to_a_registered_uri_with_state() {
    let server = AuthServer::start(config()).await.unwrap();
    let id_token = text(&login(&server).await, "id_token");
    let url = logout_url(
        &server,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "a b&c"),
        ],
    );
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), format!("{POST_LOGOUT}?state=a+b%26c"));
    assert!(clears_cookie(&response));

    // client_id instead of a hint, as a form POST, without state.
    let response = http()
        .post(format!("{}/oauth2/logout", server.issuer()))
        .form(&[
            ("client_id", CLIENT),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), POST_LOGOUT);
}

#[tokio::test]
async fn an_expired_hint_is_fine_but_a_forged_or_foreign_one_is_not() {
    let server = AuthServer::start(config()).await.unwrap();
    server.faults().set(|f| f.expired = true);
    let expired = text(&login(&server).await, "id_token");
    server.faults().set(|f| {
        f.expired = false;
        f.unknown_kid = true;
    });
    let foreign = text(&login(&server).await, "id_token");
    server.faults().clear();

    let url = logout_url(
        &server,
        &[
            ("id_token_hint", &expired),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    assert_eq!(
        http().get(url).send().await.unwrap().status(),
        StatusCode::FOUND
    );
    for hint in [foreign.as_str(), "not-a-jwt", "e30.e30."] {
        let url = logout_url(
            &server,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        );
        let response = http().get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hint}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn an_unregistered_or_unverifiable_redirect_gets_a_page() {
    let server = AuthServer::start(config()).await.unwrap();
    let id_token = text(&login(&server).await, "id_token");
    for pairs in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", POST_LOGOUT)],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", "other"),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    ] {
        let response = http()
            .get(logout_url(&server, &pairs))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{pairs:?}");
        assert!(response.headers().get("location").is_none());
    }
    let response = http().get(logout_url(&server, &[])).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("signed out"));
}

#[tokio::test]
async fn logout_ends_the_login_session() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let pkce = pkce();
    let page = http()
        .get(authorize_url(&server, &pkce, &[]))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let start = html.find("name=\"request\" value=\"").unwrap() + 22;
    let id = &html[start..start + 43];
    let response = http()
        .post(format!("{}/oauth2/login", server.issuer()))
        .form(&[("request", id), ("username", "demo"), ("password", "demo")])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let silent = authorize_url(&server, &pkce, &[("prompt", "none")]);
    let before = http()
        .get(&silent)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&before))["error"],
        ["consent_required"],
        "logged in, not consented"
    );

    let out = http()
        .get(logout_url(&server, &[]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(clears_cookie(&out));
    let after = http()
        .get(&silent)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&after))["error"], ["login_required"]);
}
