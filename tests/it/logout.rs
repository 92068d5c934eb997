//! RP-initiated logout with a `state` that comes back (checklist O4), and the GET variant's
//! default (issue 3: "a GET variant only if configured"). Uses the setup of `auth.rs`.

use crate::auth::{Options, Setup, setup};
use crate::support::browser::{Browser, absolute, location, query_params};

const LOGOUT_COOKIE: &str = "__Host-bff-login-logout";

fn options() -> Options {
    Options {
        auth_extra: "  post_logout_redirect: /bye\n".to_owned(),
        ..Options::default()
    }
}

fn set_cookie_lines(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn clears(response: &reqwest::Response, name: &str) -> bool {
    set_cookie_lines(response)
        .iter()
        .any(|l| l.starts_with(&format!("{name}=;")) && l.contains("Max-Age=0"))
}

/// Logs in, then `POST /auth/logout` (a form-style top-level logout); returns the end-session URL.
async fn log_in_and_out(s: &Setup, browser: &mut Browser) -> String {
    s.login(browser).await;
    let response = browser
        .send(
            reqwest::Method::POST,
            &s.url("/auth/logout"),
            &[("x-csrf", "1")],
        )
        .await;
    assert_eq!(response.status(), 302);
    location(&response)
}

// checklist O4: the end-session redirect carries a fresh 256-bit state, bound to this browser by
// a sealed, short-lived SameSite=Lax cookie; the provider sends it back to /auth/logout/done,
// which checks it, spends the cookie and goes to the configured post-logout path.
#[tokio::test]
async fn logout_sends_a_fresh_state_that_is_checked_on_return() {
    let s = setup(options()).await;
    let mut browser = Browser::new();
    let end_session = log_in_and_out(&s, &mut browser).await;
    assert!(
        end_session.starts_with(&format!("{}/oauth2/logout?", s.provider.issuer())),
        "{end_session}"
    );
    let q = query_params(&end_session);
    assert_eq!(q["client_id"], ["msnID"]);
    assert!(q.contains_key("id_token_hint"));
    assert_eq!(q["post_logout_redirect_uri"], [s.url("/auth/logout/done")]);
    let state = q["state"][0].clone();
    assert!(state.len() >= 43, "state must carry >= 256 bits: {state}");
    let cookie = browser
        .jar(&s.base)
        .get(LOGOUT_COOKIE)
        .cloned()
        .expect("logout-state cookie");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(
            cookie.attributes.contains(attribute),
            "{attribute}: {}",
            cookie.attributes
        );
    }
    assert!(!cookie.value.contains(&state), "the state must be sealed");

    // The provider ends its session and echoes the state (RP-Initiated Logout §3).
    let at_provider = browser.get(&end_session).await;
    assert_eq!(at_provider.status(), 302);
    let back = absolute(&end_session, &location(&at_provider));
    assert_eq!(
        back,
        format!("{}?state={state}", s.url("/auth/logout/done"))
    );
    let done = browser.get(&back).await;
    assert_eq!(done.status(), 302);
    assert_eq!(location(&done), "/bye");
    assert_eq!(done.headers()["cache-control"], "no-store");
    assert!(
        clears(&done, LOGOUT_COOKIE),
        "{:?}",
        set_cookie_lines(&done)
    );
    assert!(!browser.jar(&s.base).contains_key(LOGOUT_COOKIE));
    assert_eq!(browser.get(&s.url("/auth/session")).await.status(), 401);

    // Every logout gets a new state.
    let again = log_in_and_out(&s, &mut browser).await;
    assert_ne!(query_params(&again)["state"][0], state);
}

// checklist O4: the JSON logout's sealed hop leads to the same end-session URL with its state.
#[tokio::test]
async fn a_json_logout_carries_the_state_through_the_hop() {
    let s = setup(options()).await;
    let mut browser = Browser::new();
    s.login(&mut browser).await;
    let response = browser
        .send(
            reqwest::Method::POST,
            &s.url("/auth/logout"),
            &[("x-csrf", "1"), ("accept", "application/json")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let hop = body["logout_url"].as_str().unwrap().to_owned();
    assert!(
        !hop.contains("state="),
        "the state travels sealed in the hop: {hop}"
    );
    let end_session = location(&browser.get(&hop).await);
    let state = query_params(&end_session)["state"][0].clone();
    let back = absolute(&end_session, &location(&browser.get(&end_session).await));
    assert!(back.ends_with(&format!("/auth/logout/done?state={state}")));
    let done = browser.get(&back).await;
    assert_eq!(location(&done), "/bye");
    assert!(clears(&done, LOGOUT_COOKIE));
}

// checklist O4: a missing, repeated or foreign state (or one without the cookie) trusts nothing:
// the browser goes to the configured path whatever the query says, and the pending logout's
// cookie survives a forged return so that the real one still matches.
#[tokio::test]
async fn a_missing_or_foreign_logout_state_trusts_nothing() {
    let s = setup(options()).await;
    let mut browser = Browser::new();
    let end_session = log_in_and_out(&s, &mut browser).await;
    let state = query_params(&end_session)["state"][0].clone();
    let mut other = Browser::new();
    let foreign = query_params(&log_in_and_out(&s, &mut other).await)["state"][0].clone();
    for query in [
        String::new(),
        "?state=".to_owned(),
        format!("?state={foreign}"),
        format!("?state={state}&state={state}"),
        format!("?state={foreign}&post_logout_redirect_uri=https%3A%2F%2Fevil.example"),
        "?return_to=%2F%2Fevil.example&redirect_uri=https%3A%2F%2Fevil.example".to_owned(),
    ] {
        let done = browser
            .get(&s.url(&format!("/auth/logout/done{query}")))
            .await;
        assert_eq!(done.status(), 302, "{query}");
        assert_eq!(location(&done), "/bye", "{query}");
        assert!(!clears(&done, LOGOUT_COOKIE), "{query}");
    }
    // The state without its cookie (another browser) is no match either.
    let done = other
        .get(&s.url(&format!("/auth/logout/done?state={state}")))
        .await;
    assert_eq!(location(&done), "/bye");
    assert!(other.jar(&s.base).contains_key(LOGOUT_COOKIE));
    // The real return still works after the forgeries.
    let done = browser
        .get(&s.url(&format!("/auth/logout/done?state={state}")))
        .await;
    assert_eq!(location(&done), "/bye");
    assert!(clears(&done, LOGOUT_COOKIE));
    // A tampered cookie is worthless and removed.
    let host = s.base.trim_start_matches("http://").to_owned();
    let cookie = other
        .jars
        .get_mut(&host)
        .unwrap()
        .get_mut(LOGOUT_COOKIE)
        .unwrap();
    cookie.value = cookie.value.replacen('A', "B", 1).replacen('a', "b", 1);
    let done = other
        .get(&s.url(&format!("/auth/logout/done?state={foreign}")))
        .await;
    assert_eq!(location(&done), "/bye");
    assert!(clears(&done, LOGOUT_COOKIE));
}

// checklist O4, O1: the logout cookie is not a login: a new login neither counts nor evicts it,
// and logging out again replaces it rather than clearing and setting it in one answer.
#[tokio::test]
async fn the_logout_cookie_is_not_taken_for_a_login_cookie() {
    let s = setup(options()).await;
    let mut browser = Browser::new();
    let first = log_in_and_out(&s, &mut browser).await;
    for _ in 0..4 {
        let login = browser.get(&s.url("/auth/login")).await;
        assert!(!clears(&login, LOGOUT_COOKIE));
    }
    let response = browser
        .send(
            reqwest::Method::POST,
            &s.url("/auth/logout"),
            &[("x-csrf", "1")],
        )
        .await;
    let lines: Vec<String> = set_cookie_lines(&response)
        .into_iter()
        .filter(|l| l.starts_with(&format!("{LOGOUT_COOKIE}=")))
        .collect();
    assert_eq!(lines.len(), 1, "one Set-Cookie per name: {lines:?}");
    assert!(!lines[0].contains("Max-Age=0"));
    // The first logout's state is spent: only the newest one matches.
    let old = query_params(&first)["state"][0].clone();
    let done = browser
        .get(&s.url(&format!("/auth/logout/done?state={old}")))
        .await;
    assert!(!clears(&done, LOGOUT_COOKIE));
    let new = query_params(&location(&response))["state"][0].clone();
    let done = browser
        .get(&s.url(&format!("/auth/logout/done?state={new}")))
        .await;
    assert!(clears(&done, LOGOUT_COOKIE));
}

// Issue 3 ("a GET variant only if configured"), checklist O-get: by default GET /auth/logout is
// refused, even as a same-origin navigation, and the session survives.
#[tokio::test]
async fn get_logout_is_refused_unless_configured() {
    let s = setup(Options::default()).await;
    let mut browser = Browser::new();
    s.login(&mut browser).await;
    let response = browser
        .send(
            reqwest::Method::GET,
            &s.url("/auth/logout"),
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "navigate"),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(response.status(), 405);
    assert!(set_cookie_lines(&response).is_empty());
    assert_eq!(browser.get(&s.url("/auth/session")).await.status(), 200);
    assert_eq!(s.provider.count("/oauth2/revoke"), 0);
}
