//! Session cookies end to end: split `Cookie` fields over HTTP/2 and HTTP/1.1 (checklist S6),
//! `session.same_site: lax` (S1), an expired session (S7, S3), and CORS on a CSRF refusal (X3).

use crate::support::browser::{Browser, clears};
use crate::support::token_handler::{
    Options, Setup, assert_cors_allows, assert_no_cors, setup, signed_in,
};
use crate::support::upstream::Echo;
use std::time::Duration;

/// A session large enough to be chunked over several cookies (as in the S4 test).
async fn chunked_session() -> (Setup, Browser) {
    let mut options = Options::default();
    options.provider.users[0].name = "N".repeat(2500);
    let (s, browser) = signed_in(options).await;
    let chunks = browser
        .jar(&s.base)
        .keys()
        .filter(|n| n.starts_with("__Host-bffC"))
        .count();
    assert!(chunks >= 1, "expected a chunked session");
    (s, browser)
}

/// `GET /api/contacts` with every cookie of the jar in its own `Cookie` field, plus two
/// cookies of the SPA, over `client`.
async fn split_cookie_request(
    s: &Setup,
    browser: &Browser,
    client: &reqwest::Client,
) -> reqwest::Response {
    let mut request = client.get(s.url("/api/contacts")).header("x-csrf", "1");
    request = request.header("cookie", "theme=dark");
    for (name, cookie) in browser.jar(&s.base) {
        request = request.header("cookie", format!("{name}={}", cookie.value));
    }
    request = request.header("cookie", "lang=en");
    request.send().await.expect("request")
}

// checklist S6: an HTTP/2 request carrying the session and its chunks in separate `cookie`
// fields (RFC 9113 §8.2.3 crumbs) is signed in, and the upstream gets one well-formed Cookie
// line with only the SPA's cookies; the same holds for several Cookie lines over HTTP/1.1.
#[tokio::test]
async fn session_crumbs_in_separate_cookie_fields_are_reassembled() {
    let (s, browser) = chunked_session().await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for (protocol, client) in [("h2", h2), ("http/1.1", crate::support::client())] {
        let response = split_cookie_request(&s, &browser, &client).await;
        if protocol == "h2" {
            assert_eq!(response.version(), reqwest::Version::HTTP_2);
        }
        let echo = Echo::from(response).await;
        assert!(
            echo.header("authorization")[0].starts_with("Bearer "),
            "{protocol}: not signed in"
        );
        assert_eq!(
            echo.header("cookie"),
            ["theme=dark; lang=en"],
            "{protocol}: the upstream must see one Cookie line without the gateway's cookies"
        );
    }
}

// checklist S1 (issue 3: "configurable ... SameSite Lax"): `session.same_site: lax` makes a Lax
// session cookie (chunks too), keeps the login cookie Lax and the CSRF check in force.
#[tokio::test]
async fn same_site_lax_gives_a_lax_session_cookie_and_keeps_csrf() {
    let mut options = Options {
        session_extra: "  same_site: lax\n".to_owned(),
        ..Options::default()
    };
    options.provider.users[0].name = "N".repeat(2500);
    let s = setup(options).await;
    let mut browser = Browser::new();
    let callback = s.start_login(&mut browser, "/home").await;
    let login = browser
        .jar(&s.base)
        .into_iter()
        .find(|(n, _)| n.starts_with("__Host-bff-login-"))
        .expect("login cookie");
    assert!(login.1.attributes.contains("SameSite=Lax"));
    assert_eq!(browser.get(&callback).await.status(), 200);
    let jar = browser.jar(&s.base);
    let session: Vec<_> = jar
        .iter()
        .filter(|(n, _)| *n == "__Host-bff" || n.starts_with("__Host-bffC"))
        .collect();
    assert!(session.len() >= 2, "session and chunks: {session:?}");
    for (name, cookie) in session {
        for attribute in ["SameSite=Lax", "HttpOnly", "Secure", "Path=/"] {
            assert!(
                cookie.attributes.contains(attribute),
                "{name}: {attribute} in {}",
                cookie.attributes
            );
        }
        assert!(!cookie.attributes.contains("Strict"), "{name}");
    }
    assert_eq!(s.api(&mut browser, "/api/x").await.status(), 200);
    let response = browser.get(&s.url("/api/x")).await;
    assert_eq!(response.status(), 403, "Lax keeps the CSRF header check");
}

// checklist S7, S3: a session cookie past its lifetime (the timestamps inside the sealed
// payload, whatever the browser does with Max-Age) is no session: 401 and cleared, on API
// routes and at /auth/session, and nothing reaches the upstream.
#[tokio::test]
async fn an_expired_session_cookie_is_401_and_cleared() {
    let (s, mut browser) = signed_in(Options {
        session_extra: "  absolute_lifetime: 2s\n  idle_timeout: 2s\n".to_owned(),
        ..Options::default()
    })
    .await;
    assert_eq!(s.api(&mut browser, "/api/x").await.status(), 200);
    let saved = browser.jars.clone();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let response = s.api(&mut browser, "/api/x").await;
    assert_eq!(response.status(), 401);
    assert!(
        clears(&response, "__Host-bff"),
        "the expired session cookie was not cleared"
    );
    assert!(!browser.jar(&s.base).contains_key("__Host-bff"));
    // A browser that keeps sending it anyway (a saved copy) gets the same.
    browser.jars = saved;
    let response = browser.get(&s.url("/auth/session")).await;
    assert_eq!(response.status(), 401);
    assert!(!browser.jar(&s.base).contains_key("__Host-bff"));
    assert_eq!(s.provider.count_grant("refresh_token"), 0);
}

// checklist X3 (issue 3: "401/403 answers carry the CORS headers"): a CSRF refusal for an
// allowed origin is readable by the SPA; for another origin it carries no CORS headers.
#[tokio::test]
async fn csrf_refusals_carry_cors_headers_for_allowed_origins() {
    let (s, mut browser) = signed_in(Options {
        auth_extra: "  allowed_origins: [\"https://spa.example\"]\n".to_owned(),
        ..Options::default()
    })
    .await;
    let response = browser
        .send(
            reqwest::Method::POST,
            &s.url("/api/contacts"),
            &[("origin", "https://spa.example")],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_cors_allows(&response, "https://spa.example");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "csrf");
    let response = browser
        .send(
            reqwest::Method::POST,
            &s.url("/api/contacts"),
            &[("origin", "https://evil.example"), ("x-csrf", "1")],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_no_cors(&response);
}
