//! RP-initiated logout with a `state` that comes back (checklist O4), and the GET variant's
//! default (issue 3: "a GET variant only if configured"). Uses `support::token_handler`.

use crate::support::browser::{
    Browser, absolute, clears, location, query_params, set_cookie_lines,
};
use crate::support::token_handler::{LOGIN_COOKIE_ATTRIBUTES, Options, Setup, setup, signed_in};

const LOGOUT_COOKIE: &str = "__Host-bff-login-logout";

fn options() -> Options {
    Options {
        auth_extra: "  post_logout_redirect: /bye\n".to_owned(),
        ..Options::default()
    }
}

/// Logs in, then `POST /auth/logout` (a form-style top-level logout); returns the end-session URL.
async fn log_in_and_out(s: &Setup, browser: &mut Browser) -> String {
    s.login(browser).await;
    let response = s.logout(browser, &[]).await;
    assert_eq!(response.status(), 302);
    location(&response)
}

/// A setup with `options()` and a browser that has logged in and out; the end-session URL.
async fn logged_out() -> (Setup, Browser, String) {
    let s = setup(options()).await;
    let mut browser = Browser::new();
    let end_session = log_in_and_out(&s, &mut browser).await;
    (s, browser, end_session)
}

/// The `state` parameter of a URL.
fn state_of(url: &str) -> String {
    query_params(url)["state"][0].clone()
}

// checklist O4: the end-session redirect carries a fresh 256-bit state, bound to this browser by
// a sealed, short-lived SameSite=Lax cookie; the provider sends it back to /auth/logout/done,
// which checks it, spends the cookie and goes to the configured post-logout path.
#[tokio::test]
async fn logout_sends_a_fresh_state_that_is_checked_on_return() {
    let (s, mut browser, end_session) = logged_out().await;
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
    cookie.assert_attributes(&LOGIN_COOKIE_ATTRIBUTES);
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
    assert_ne!(state_of(&again), state);
}

// checklist O4: the JSON logout's sealed hop leads to the same end-session URL with its state.
#[tokio::test]
async fn a_json_logout_carries_the_state_through_the_hop() {
    let (s, mut browser) = signed_in(options()).await;
    let response = s
        .logout(&mut browser, &[("accept", "application/json")])
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let hop = body["logout_url"].as_str().unwrap().to_owned();
    assert!(
        !hop.contains("state="),
        "the state travels sealed in the hop: {hop}"
    );
    let end_session = location(&browser.get(&hop).await);
    let state = state_of(&end_session);
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
    let (s, mut browser, end_session) = logged_out().await;
    let state = state_of(&end_session);
    let mut other = Browser::new();
    let foreign = state_of(&log_in_and_out(&s, &mut other).await);
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
    let (s, mut browser, first) = logged_out().await;
    for _ in 0..4 {
        let login = browser.get(&s.url("/auth/login")).await;
        assert!(!clears(&login, LOGOUT_COOKIE));
    }
    let response = s.logout(&mut browser, &[]).await;
    let lines: Vec<String> = set_cookie_lines(&response)
        .into_iter()
        .filter(|l| l.starts_with(&format!("{LOGOUT_COOKIE}=")))
        .collect();
    assert_eq!(lines.len(), 1, "one Set-Cookie per name: {lines:?}");
    assert!(!lines[0].contains("Max-Age=0"));
    // The first logout's state is spent: only the newest one matches.
    let old = state_of(&first);
    let done = browser
        .get(&s.url(&format!("/auth/logout/done?state={old}")))
        .await;
    assert!(!clears(&done, LOGOUT_COOKIE));
    let new = state_of(&location(&response));
    let done = browser
        .get(&s.url(&format!("/auth/logout/done?state={new}")))
        .await;
    assert!(clears(&done, LOGOUT_COOKIE));
}

// Issue 3 ("a GET variant only if configured"), checklist O-get: by default GET /auth/logout is
// refused, even as a same-origin navigation, and the session survives.
#[tokio::test]
async fn get_logout_is_refused_unless_configured() {
    let (s, mut browser) = signed_in(Options::default()).await;
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
