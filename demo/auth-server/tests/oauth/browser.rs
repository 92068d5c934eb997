//! The login form and consent screen, driven like a browser (cookies by hand, no auto-redirects).

use crate::support::*;
use bff_demo_auth_server::AuthServer;
use reqwest::StatusCode;

const COOKIE: &str = "demo_auth_server_session";

/// The hidden pending-request id of a login or consent form.
pub(crate) fn request_id(html: &str) -> String {
    let start = html
        .find("name=\"request\" value=\"")
        .expect("a request field")
        + 22;
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// The login-session cookie set by `response`.
pub(crate) fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{COOKIE}=")))
}

pub(crate) async fn get(url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = http().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

pub(crate) async fn form(
    server: &AuthServer,
    path: &str,
    fields: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = http()
        .post(format!("{}{path}", server.issuer()))
        .form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Logs in through the form; returns the consent page's request id and the cookie (`name=value`).
async fn sign_in(server: &AuthServer, url: &str) -> (String, String) {
    let page = get(url, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let id = request_id(&page.text().await.unwrap());
    let login = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let consent = form(server, "/oauth2/login", &login, None).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let cookie = session_cookie(&consent).expect("a login session cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = consent.text().await.unwrap();
    assert!(html.contains("value=\"approve\""), "{html}");
    (request_id(&html), cookie)
}

#[tokio::test]
async fn login_form_then_consent_then_code() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let pkce = pkce();
    let url = authorize_url(&server, &pkce, &[]);

    let page = get(&url, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("DEMO ONLY, NOT FOR PRODUCTION"));
    assert!(html.contains("action=\"/oauth2/login\"") && html.contains("type=\"password\""));
    let id = request_id(&html);
    assert!(id.len() >= 43);

    let wrong = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "nope"),
    ];
    let again = form(&server, "/oauth2/login", &wrong, None).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(session_cookie(&again).is_none());
    let html = again.text().await.unwrap();
    assert!(html.contains("Wrong username or password") && html.contains("type=\"password\""));
    assert_eq!(request_id(&html), id);

    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let consent = form(&server, "/oauth2/login", &right, None).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let set_cookie = session_cookie(&consent).unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let html = consent.text().await.unwrap();
    for scope in ["openid", "profile", "email", "offline_access", "contacts"] {
        assert!(html.contains(&format!("<code>{scope}</code>")), "{scope}");
    }
    assert!(html.contains("Demo User"));
    let consent_id = request_id(&html);

    let approved = form(
        &server,
        "/oauth2/consent",
        &[("request", &consent_id), ("decision", "approve")],
        Some(&cookie),
    )
    .await;
    assert_eq!(approved.status(), StatusCode::FOUND);
    let q = query(&location(&approved));
    assert_eq!(q["state"], ["st&te=1 2"]);
    assert_eq!(q["iss"], [server.issuer()]);
    let answer = exchange(&server, &q["code"][0], &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);

    // The form cannot be answered twice.
    let replay = form(
        &server,
        "/oauth2/consent",
        &[("request", &consent_id), ("decision", "approve")],
        Some(&cookie),
    )
    .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.headers().get("location").is_none());

    // Logged in and consented: the next request goes straight back with a code.
    let pkce2 = crate::support::pkce();
    let direct = get(&authorize_url(&server, &pkce2, &[]), Some(&cookie)).await;
    assert_eq!(direct.status(), StatusCode::FOUND);
    assert!(query(&location(&direct)).contains_key("code"));
    // prompt=none works silently too.
    let silent = get(
        &authorize_url(&server, &pkce2, &[("prompt", "none")]),
        Some(&cookie),
    )
    .await;
    assert!(query(&location(&silent)).contains_key("code"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let url = authorize_url(&server, &pkce(), &[]);
    let (id, cookie) = sign_in(&server, &url).await;
    let denied = form(
        &server,
        "/oauth2/consent",
        &[("request", &id), ("decision", "deny")],
        Some(&cookie),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FOUND);
    let q = query(&location(&denied));
    assert_eq!(q["error"], ["access_denied"]);
    assert_eq!(q["state"], ["st&te=1 2"]);
    assert_eq!(q["iss"], [server.issuer()]);
    assert!(!q.contains_key("code"));
    // Nothing was remembered: the session asks again, and prompt=none says so.
    let asked = get(&url, Some(&cookie)).await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked.text().await.unwrap().contains("value=\"deny\""));
    let silent = get(
        &authorize_url(&server, &pkce(), &[("prompt", "none")]),
        Some(&cookie),
    )
    .await;
    assert_eq!(query(&location(&silent))["error"], ["consent_required"]);
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required_and_prompt_login_shows_the_form() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let pkce = pkce();
    let silent = get(&authorize_url(&server, &pkce, &[("prompt", "none")]), None).await;
    assert_eq!(silent.status(), StatusCode::FOUND);
    let q = query(&location(&silent));
    assert_eq!(q["error"], ["login_required"]);
    assert_eq!(q["state"], ["st&te=1 2"]);
    assert_eq!(q["iss"], [server.issuer()]);

    let (_, cookie) = sign_in(&server, &authorize_url(&server, &pkce, &[])).await;
    let forced = get(
        &authorize_url(&server, &pkce, &[("prompt", "login")]),
        Some(&cookie),
    )
    .await;
    assert_eq!(forced.status(), StatusCode::OK);
    assert!(forced.text().await.unwrap().contains("type=\"password\""));
    // A stale or forged cookie is no session.
    let forged = get(
        &authorize_url(&server, &pkce, &[("prompt", "none")]),
        Some(&format!("{COOKIE}=forged")),
    )
    .await;
    assert_eq!(query(&location(&forged))["error"], ["login_required"]);
}

#[tokio::test]
async fn consent_must_come_from_the_session_that_signed_in() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let (id, _cookie) = sign_in(&server, &authorize_url(&server, &pkce(), &[])).await;
    let stranger = form(
        &server,
        "/oauth2/consent",
        &[("request", &id), ("decision", "approve")],
        None,
    )
    .await;
    assert_eq!(stranger.status(), StatusCode::BAD_REQUEST);
    assert!(stranger.headers().get("location").is_none());

    let unknown = form(
        &server,
        "/oauth2/login",
        &[
            ("request", "made-up"),
            ("username", "demo"),
            ("password", "demo"),
        ],
        None,
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&unknown).is_none());
}

#[tokio::test]
async fn auto_login_still_shows_consent_unless_auto_approve() {
    let mut config = interactive_config();
    config.auto_login_user = Some("demo".to_owned());
    let server = AuthServer::start(config).await.unwrap();
    let page = get(&authorize_url(&server, &pkce(), &[]), None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let id = request_id(&html);
    let approved = form(
        &server,
        "/oauth2/consent",
        &[("request", &id), ("decision", "approve")],
        None,
    )
    .await;
    assert_eq!(approved.status(), StatusCode::FOUND);
    assert!(query(&location(&approved)).contains_key("code"));
}

#[tokio::test]
async fn too_many_wrong_passwords_end_the_attempt() {
    let server = AuthServer::start(interactive_config()).await.unwrap();
    let page = get(&authorize_url(&server, &pkce(), &[]), None).await;
    let id = request_id(&page.text().await.unwrap());
    let wrong = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "nope"),
    ];
    for _ in 0..4 {
        assert_eq!(
            form(&server, "/oauth2/login", &wrong, None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        form(&server, "/oauth2/login", &wrong, None).await.status(),
        StatusCode::BAD_REQUEST
    );
    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    assert_eq!(
        form(&server, "/oauth2/login", &right, None).await.status(),
        StatusCode::BAD_REQUEST
    );
}
