//! The callback's failure paths and the provider options around the code exchange: login
//! cookies cleared on every failure (checklist B2, A7), a hanging token endpoint (issue 3: "never
//! a hang"), `pkce: disabled` (A3), `auth.error_path` (B4) and exact issuer matching (I2).

use crate::support::TestGateway;
use crate::support::browser::{Browser, location, query_params, set_cookie_lines};
use crate::support::token_handler::{
    KEY_A, Options, Setup, demo_provider, free_port, login_cookie_names, setup, wait_ready,
};
use bff_demo_auth_server::{AuthServer, AuthServerConfig};
use std::time::{Duration, Instant};

fn login_cookies(browser: &Browser, s: &Setup) -> Vec<String> {
    login_cookie_names(browser, &s.base)
}

fn cleared(response: &reqwest::Response) -> Vec<String> {
    set_cookie_lines(response)
        .into_iter()
        .filter(|l| l.contains("Max-Age=0"))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.to_owned()))
        .collect()
}

fn without_param(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect();
    format!("{base}?{}", kept.join("&"))
}

/// How one failed callback is provoked: from the callback URL the provider sent back.
type Provoke = fn(&Setup, &mut Browser, &str) -> String;

// checklist B2, A7 (issue 3: login cookies "cleared on every error path"): every kind of failed
// callback answers with a Set-Cookie deleting the login cookie of its transaction, or, when the
// answer names no single transaction (no state, a repeated state), every pending login cookie.
#[tokio::test]
async fn every_failed_callback_clears_the_login_cookie() {
    let s = setup(Options::default()).await;
    let kinds: [(&str, u16, Provoke); 8] = [
        ("duplicated code", 400, |_, _, cb| {
            format!("{cb}&code=other")
        }),
        ("duplicated state", 400, |_, _, cb| {
            format!("{cb}&state=other")
        }),
        ("missing state", 400, |_, _, cb| without_param(cb, "state")),
        ("empty state", 400, |_, _, cb| {
            let state = query_params(cb)["state"][0].clone();
            cb.replace(&format!("state={state}"), "state=")
        }),
        ("foreign iss", 400, |_, _, cb| {
            cb.replace("iss=http", "iss=https")
        }),
        ("missing code", 400, |_, _, cb| without_param(cb, "code")),
        ("tampered login cookie", 400, |s, browser, cb| {
            let host = s.base.trim_start_matches("http://").to_owned();
            for cookie in browser.jars.get_mut(&host).unwrap().values_mut() {
                cookie.value = cookie.value.chars().rev().collect();
            }
            cb.to_owned()
        }),
        ("provider error", 302, |_, _, cb| {
            let state = query_params(cb)["state"][0].clone();
            let iss = query_params(cb)["iss"][0].clone();
            let iss: String = form_urlencoded::byte_serialize(iss.as_bytes()).collect();
            let base = cb.split_once('?').unwrap().0;
            format!("{base}?error=access_denied&state={state}&iss={iss}")
        }),
    ];
    for (kind, status, provoke) in kinds {
        let mut browser = Browser::new();
        let callback = s.start_login(&mut browser, "/home").await;
        let before = login_cookies(&browser, &s);
        assert_eq!(before.len(), 1, "{kind}");
        let url = provoke(&s, &mut browser, &callback);
        let response = browser.get(&url).await;
        assert_eq!(response.status(), status, "{kind}");
        assert_eq!(
            cleared(&response),
            before,
            "{kind}: login cookie not cleared"
        );
        assert!(login_cookies(&browser, &s).is_empty(), "{kind}");
        assert!(!browser.jar(&s.base).contains_key("__Host-bff"), "{kind}");
    }
    assert_eq!(s.provider.count("/oauth2/token"), 0);

    // Failures at or after the code exchange: refused code, provider down, bad ID token.
    type Fault = fn(&bff_demo_auth_server::Faults);
    let faults: [(&str, u16, Fault); 3] = [
        ("provider answers 500", 502, |f| {
            f.set(|s| s.token_endpoint_status = Some(500))
        }),
        ("provider answers 400", 502, |f| {
            f.set(|s| s.token_endpoint_status = Some(400))
        }),
        ("bad ID token", 400, |f| f.set(|s| s.wrong_nonce = true)),
    ];
    for (kind, status, apply) in faults {
        let mut browser = Browser::new();
        let callback = s.start_login(&mut browser, "/home").await;
        let before = login_cookies(&browser, &s);
        apply(s.provider.faults());
        let response = browser.get(&callback).await;
        s.provider.faults().clear();
        assert_eq!(response.status(), status, "{kind}");
        assert_eq!(
            cleared(&response),
            before,
            "{kind}: login cookie not cleared"
        );
        assert!(!browser.jar(&s.base).contains_key("__Host-bff"), "{kind}");
    }
    // A replayed code (a saved copy of the login cookie): the provider refuses it.
    let mut browser = Browser::new();
    let callback = s.start_login(&mut browser, "/home").await;
    let saved = browser.jars.clone();
    assert_eq!(browser.get(&callback).await.status(), 200);
    browser.jars = saved;
    let before = login_cookies(&browser, &s);
    let response = browser.get(&callback).await;
    assert_eq!(response.status(), 400);
    assert_eq!(cleared(&response), before, "replayed code");
}

// checklist B2, A7: a missing state clears every pending login (no transaction is named); a
// foreign state names another transaction and leaves this browser's own login alone, so a
// forged callback cannot end a login it does not know.
#[tokio::test]
async fn a_callback_without_state_ends_all_pending_logins_but_a_foreign_one_ends_none() {
    let s = setup(Options::default()).await;
    let mut browser = Browser::new();
    let first = s.start_login(&mut browser, "/one").await;
    s.start_login(&mut browser, "/two").await;
    assert_eq!(login_cookies(&browser, &s).len(), 2);
    let mut attacker = Browser::new();
    let foreign = s.start_login(&mut attacker, "/home").await;
    let response = browser.get(&foreign).await;
    assert_eq!(response.status(), 400);
    assert_eq!(login_cookies(&browser, &s).len(), 2);
    let response = browser.get(&s.url("/auth/callback?code=abc")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(cleared(&response).len(), 2);
    assert!(login_cookies(&browser, &s).is_empty());
    assert_eq!(browser.get(&first).await.status(), 400);
    assert_eq!(s.provider.count("/oauth2/token"), 0);
}

// Issue 3 ("an unreachable provider is a clear error, never a hang"): a token endpoint that
// does not answer gives a clear 504 page within `oauth.timeout`, and no session.
#[tokio::test]
async fn a_hanging_token_endpoint_answers_504_within_the_timeout() {
    let s = setup(Options {
        oauth_extra: "  timeout: 1s\n".to_owned(),
        ..Options::default()
    })
    .await;
    let mut browser = Browser::new();
    let callback = s.start_login(&mut browser, "/home").await;
    s.provider
        .faults()
        .set(|f| f.delay = Some(Duration::from_secs(60)));
    let started = Instant::now();
    let response = browser.get(&callback).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 504);
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert!(!browser.jar(&s.base).contains_key("__Host-bff"));
    let page = response.text().await.unwrap();
    assert!(page.contains("could not be reached"), "{page}");
}

// checklist D4 (issue 7): a slow token endpoint that still answers within `oauth.timeout`
// (300 ms of 1 s) is no fault: the login completes with a session, after the delay.
#[tokio::test]
async fn a_slow_token_endpoint_within_the_timeout_still_signs_in() {
    let s = setup(Options {
        oauth_extra: "  timeout: 1s\n".to_owned(),
        ..Options::default()
    })
    .await;
    let mut browser = Browser::new();
    let callback = s.start_login(&mut browser, "/home").await;
    s.provider
        .faults()
        .set(|f| f.delay = Some(Duration::from_millis(300)));
    let started = Instant::now();
    let response = browser.get(&callback).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200, "took {took:?}");
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert!(browser.jar(&s.base).contains_key("__Host-bff"));
    assert!(login_cookies(&browser, &s).is_empty());
    assert_eq!(s.provider.count_grant("authorization_code"), 1);
}

// checklist A3 (issue 3: PKCE "can be disabled only for servers that reject it"): with
// `pkce: disabled` no code_challenge is sent, and the login still completes (nonce-protected).
#[tokio::test]
async fn pkce_disabled_sends_no_code_challenge() {
    let mut options = Options {
        oauth_extra: "  pkce: disabled\n".to_owned(),
        ..Options::default()
    };
    options.provider.clients[0].require_pkce = false;
    let s = setup(options).await;
    let mut browser = Browser::new();
    let login = browser.start_login(&s.url("/auth/login")).await;
    let authorize = login.authorize;
    let q = query_params(&authorize);
    assert!(!q.contains_key("code_challenge"), "{authorize}");
    assert!(!q.contains_key("code_challenge_method"), "{authorize}");
    assert!(q.contains_key("nonce") && q.contains_key("state"));
    assert_eq!(browser.get(&login.callback).await.status(), 200);
    assert!(browser.jar(&s.base).contains_key("__Host-bff"));
}

// checklist B4 (issue 3: "redirect to a configured error path"): provider errors go to
// `auth.error_path` with the allow-listed code, not to the login's return_to.
#[tokio::test]
async fn provider_errors_go_to_the_configured_error_path() {
    let mut options = Options {
        auth_extra: "  error_path: /signin-failed\n".to_owned(),
        ..Options::default()
    };
    options.provider.auto_login_user = None;
    let s = setup(options).await;
    let mut browser = Browser::new();
    let login = s.start_silent_login(&mut browser, "/app").await;
    let response = browser.get(&login.callback).await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(&response),
        "/signin-failed?auth_error=login_required"
    );
    assert!(!browser.jar(&s.base).contains_key("__Host-bff"));
    assert_eq!(s.provider.count("/oauth2/token"), 0);
}

/// A gateway on `port` with explicit endpoints naming `configured_issuer`, in front of
/// `provider`.
async fn explicit_gateway(
    provider: &AuthServer,
    port: u16,
    configured_issuer: &str,
) -> TestGateway {
    let base = format!("http://127.0.0.1:{port}");
    let real = provider.issuer();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  public_url: {base}\n\
         oauth:\n  issuer: \"{configured_issuer}\"\n  authorization_endpoint: {real}/oauth2/authorize\n\
         \x20 token_endpoint: {real}/oauth2/token\n  jwks_uri: {real}/oauth2/jwks\n\
         \x20 allow_http_provider: true\n  client_id: msnID\n  client_secret: demo-secret\n\
         \x20 scopes: [openid, profile]\n\
         session:\n  keys: [\"{KEY_A}\"]\n\
         routes:\n  - path: /\n    upstream: http://127.0.0.1:1\n    auth: none\n"
    );
    let gateway = TestGateway::start(&yaml).await;
    wait_ready(&gateway).await;
    gateway
}

// checklist I2: the ID token's `iss` must equal the configured issuer exactly: a trailing slash
// or a different letter case is another issuer. (The callback's RFC 9207 `iss` is left out so
// that the ID-token check is the one that decides; explicit endpoints announce no RFC 9207.)
#[tokio::test]
async fn an_id_token_issuer_differing_by_a_slash_or_case_is_refused() {
    let port = free_port();
    let issuer = format!("http://localhost:{port}");
    let cases = [
        (issuer.clone(), true),
        (format!("{issuer}/"), false),
        (format!("http://LOCALHOST:{port}"), false),
    ];
    let ports: Vec<u16> = cases.iter().map(|_| free_port()).collect();
    let mut config = AuthServerConfig {
        issuer: Some(issuer.clone()),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..demo_provider()
    };
    config.clients[0].redirect_uris = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/auth/callback"))
        .collect();
    let provider = AuthServer::start(config).await.expect("provider starts");
    for ((configured, works), port) in cases.iter().zip(ports) {
        let _gateway = explicit_gateway(&provider, port, configured).await;
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser::new();
        let login = browser.start_login(&format!("{base}/auth/login")).await;
        let callback = without_param(&login.callback, "iss");
        let response = browser.get(&callback).await;
        let signed_in = browser.jar(&base).contains_key("__Host-bff");
        if *works {
            assert_eq!(response.status(), 200, "exact issuer {configured}");
            assert!(signed_in);
        } else {
            assert_eq!(response.status(), 400, "issuer {configured} must not match");
            assert!(!signed_in, "{configured}");
        }
    }
}
