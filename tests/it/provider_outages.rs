//! Provider outages (issue 7) not covered in `faults.rs`: a JWKS that answers too slowly, at the
//! callback and at refresh; a provider whose host name does not resolve (discovery, and an
//! explicitly configured token endpoint); and a gateway restarted while the provider is down,
//! whose cookie-only sessions must outlive both the restart and the outage.
//!
//! The JWKS is fetched (past the copy read at discovery) only for a key the gateway has not seen:
//! the demo provider's `unknown_kid` fault forces that, `jwks_delay` makes it slow. Forced
//! re-fetches are rate-limited to one per 30 s per gateway, so every case has its own gateway.

use crate::support::browser::{Browser, clears};
use crate::support::observe::{
    LOGINS_FAILED_AT_EXCHANGE, LOGINS_FAILED_AT_ID_TOKEN, Log, REFRESHES_REFUSED,
    REFRESHES_UNAVAILABLE, metric_now, readyz,
};
use crate::support::process::{GatewayProcess, config_file};
use crate::support::relay::{Mode, Relay};
use crate::support::token_handler::{
    KEY_A, Options, demo_provider, free_port, login_cookie_names, session_value, setup, signed_in,
    touches_session, wait_ready,
};
use crate::support::upstream::Echo;
use crate::support::{TestGateway, TestUpstream, client};
use bff_demo_auth_server::AuthServer;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const JWKS: &str = "/oauth2/jwks";
const JWKS_DELAY: Duration = Duration::from_secs(30);

const LOGINS_FAILED_NOT_READY: &str =
    r#"bff_gateway_logins_failed_total{reason="provider_not_ready"}"#;
const REFRESHES_SUCCEEDED: &str = r#"bff_gateway_token_refreshes_total{outcome="succeeded"}"#;

/// A token-handler gateway listening on `port` (its public URL too), `oauth` its provider
/// lines (each indented two spaces, client `msnID` / `demo-secret` added), the session sealed
/// with [`KEY_A`] plus `session_extra`, `/api` (signed in, prefix stripped) going to `api`.
fn token_handler_yaml(port: u16, oauth: &str, api: &str, session_extra: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1:{port}\n\
         oauth:\n{oauth}  allow_http_provider: true\n  client_id: msnID\n  client_secret: demo-secret\n\
         session:\n  keys: [\"{KEY_A}\"]\n{session_extra}\
         routes:\n  - name: api\n    path: /api\n    upstream: {api}\n    strip_prefix: true\n"
    )
}

/// The `Authorization` header the upstream received, from its echo.
async fn bearer_of(response: reqwest::Response) -> String {
    Echo::from(response).await.header("authorization")[0].clone()
}

// checklist I6, D4 (issue 7): at the callback, an ID token signed with a key the gateway has not
// seen makes it fetch the JWKS, which takes 30 s to answer: with `oauth.timeout: 1s` the browser
// gets the 502 error page after about that timeout (not 30 s later), no session, counted at the
// `id_token` step; the next login works once the JWKS is quick again.
#[tokio::test]
async fn a_slow_jwks_at_the_callback_is_502_within_the_timeout_and_no_session() {
    let s = setup(Options {
        oauth_extra: "  timeout: 1s\n".to_owned(),
        ..Options::default()
    })
    .await;
    let admin = s.gateway.admin.unwrap();
    let mut browser = Browser::new();
    let callback = s.start_login(&mut browser, "/home").await;
    let pending = login_cookie_names(&browser, &s.base);
    assert_eq!(pending.len(), 1, "{pending:?}");
    s.provider.faults().set(|f| {
        f.unknown_kid = true;
        f.jwks_delay = Some(JWKS_DELAY);
    });
    let jwks_before = s.provider.count(JWKS);
    let started = Instant::now();
    let response = browser.get(&callback).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 502);
    // It waited for the JWKS up to the timeout, and no longer.
    assert!(took >= Duration::from_millis(900), "gave up after {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(s.provider.count(JWKS), jwks_before + 1, "no JWKS fetch");
    assert!(!touches_session(&response), "a session was set");
    assert!(clears(&response, &pending[0]), "the login cookie is kept");
    let page = response.text().await.unwrap();
    assert!(page.contains("signing keys could not be fetched"), "{page}");
    assert_eq!(session_value(&browser, &s.base), None);
    assert_eq!(metric_now(admin, LOGINS_FAILED_AT_ID_TOKEN).await, 1.0);

    s.provider.faults().clear();
    s.login(&mut browser).await;
    assert!(session_value(&browser, &s.base).is_some());
    assert_eq!(metric_now(admin, LOGINS_FAILED_AT_ID_TOKEN).await, 1.0);
}

// checklist I6, I7, R4, D4 (issue 7): a refresh whose new ID token is signed with a key the
// gateway has not seen, while the JWKS takes 30 s to answer: after the 1 s `oauth.timeout` the
// request is served (200, not after 30 s) and the refreshed session stored, the unchecked ID
// token dropped and the previous one kept (the route forwards the ID token, so the upstream
// shows which); not counted as refused. Once the JWKS is quick again the next refresh, made with
// the refresh token stored by the slow one (the provider rotates them and would refuse the old
// one), stores a new checked ID token.
#[tokio::test]
async fn a_slow_jwks_at_refresh_keeps_the_refreshed_session_and_the_previous_id_token() {
    let mut options = Options::short_lived_tokens(Duration::from_secs(1));
    options.oauth_extra = "  timeout: 1s\n".to_owned();
    options.route_extra = "    token: id_token\n".to_owned();
    // Every API call needs a refresh (access tokens live 1 s, refresh_skew is 1 s); the sleeps
    // keep the previous call's refresh from being reused.
    let (s, mut browser) = signed_in(options).await;
    let admin = s.gateway.admin.unwrap();
    let response = s.api(&mut browser, "/api/x").await;
    assert_eq!(response.status(), 200);
    assert!(touches_session(&response), "refreshed session not stored");
    let checked = bearer_of(response).await;
    assert_eq!(metric_now(admin, REFRESHES_SUCCEEDED).await, 1.0);

    s.provider.faults().set(|f| {
        f.unknown_kid = true;
        f.jwks_delay = Some(JWKS_DELAY);
    });
    let jwks_before = s.provider.count(JWKS);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let response = s.api(&mut browser, "/api/x").await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert!(took >= Duration::from_millis(900), "gave up after {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(s.provider.count(JWKS), jwks_before + 1, "no JWKS fetch");
    assert_eq!(s.provider.count_grant("refresh_token"), 2);
    assert!(touches_session(&response), "refreshed session not stored");
    assert_eq!(
        bearer_of(response).await,
        checked,
        "the unchecked ID token was used"
    );
    assert_eq!(metric_now(admin, REFRESHES_SUCCEEDED).await, 2.0);
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);

    s.provider.faults().clear();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = s.api(&mut browser, "/api/x").await;
    assert_eq!(response.status(), 200, "no recovery without a login");
    assert!(touches_session(&response), "refreshed session not stored");
    assert_ne!(
        bearer_of(response).await,
        checked,
        "the new ID token was not stored"
    );
    assert_eq!(s.provider.count_grant("refresh_token"), 3);
    assert_eq!(
        s.provider.count_grant("authorization_code"),
        1,
        "a new login"
    );
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);
}

// checklist K1, D4 (issue 7): an issuer whose host name does not resolve (the real binary, for
// its JSON log): not ready (`/readyz` 503), `/auth/login` 503 JSON `provider_not_ready` instead of
// a redirect to nowhere, and a discovery warning that names the issuer and the DNS failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_does_not_resolve_keeps_the_gateway_unready_and_logs_the_dns_failure() {
    let api = TestUpstream::echo().await;
    let issuer = "http://nonexistent.invalid";
    let file = config_file(&token_handler_yaml(
        free_port(),
        &format!("  issuer: {issuer}\n  scopes: [openid, profile]\n"),
        &api.url(),
        "",
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let mut log = Log::default();
    let warning = log
        .wait_for(
            &gw,
            &[("message", "provider discovery failed"), ("issuer", issuer)],
        )
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");
    let error = warning["error"].as_str().unwrap();
    assert!(error.contains("nonexistent.invalid"), "{warning}");
    assert!(error.contains("dns error"), "{warning}");
    assert_eq!(readyz(gw.admin.unwrap()).await, 503);
    let response = client().get(gw.url("/auth/login")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("location").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "provider_not_ready", "{body}");
    log.wait_for_access(&gw, "auth", "/auth/login", 503).await;
}

// checklist B2, D4 (issue 7): explicit endpoints whose token endpoint's host does not resolve
// (the real binary, for its JSON log): the callback is the 502 error page, no session, the login
// cookie cleared, counted at the `code_exchange` step, and the warning names the DNS failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_does_not_resolve_fails_the_callback_with_502() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = demo_provider();
    config.clients[0].redirect_uris = vec![format!("{base}/auth/callback")];
    let provider = AuthServer::start(config).await.expect("provider starts");
    let api = TestUpstream::echo().await;
    let file = config_file(&token_handler_yaml(
        port,
        &format!(
            "  authorization_endpoint: {}/oauth2/authorize\n  \
             token_endpoint: http://nonexistent.invalid/oauth2/token\n  \
             scopes: [contacts, offline_access]\n",
            provider.issuer()
        ),
        &api.url(),
        "",
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let admin = gw.admin.unwrap();
    let mut browser = Browser::new();
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    let pending = login_cookie_names(&browser, &base);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let response = browser.get(&login.callback).await;
    assert_eq!(response.status(), 502);
    assert!(!touches_session(&response), "a session was set");
    assert!(clears(&response, &pending[0]), "the login cookie is kept");
    let page = response.text().await.unwrap();
    assert!(page.contains("could not be reached"), "{page}");
    assert_eq!(session_value(&browser, &base), None);
    assert_eq!(metric_now(admin, LOGINS_FAILED_AT_EXCHANGE).await, 1.0);
    assert_eq!(provider.count_grant("authorization_code"), 0);
    let mut log = Log::default();
    let warning = log
        .wait_for(
            &gw,
            &[
                ("message", "code exchange failed"),
                ("error", "nonexistent.invalid/oauth2/token"),
            ],
        )
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(
        warning["error"].as_str().unwrap().contains("dns error"),
        "{warning}"
    );
    log.wait_for_access(&gw, "auth", "/auth/callback", 502)
        .await;
}

// checklist S3, R4, D4 (issue 7): sessions live only in their cookies, so a gateway restarted
// (same keys, same port) while the provider is down still knows them: the API call that needs a
// refresh is 503 `provider_unavailable` with the cookie untouched (not a 401 that would send the
// user to a login that cannot work), and the callback of a login started before the restart is
// 503 `provider_not_ready`; once the provider is back and the new gateway ready, the same
// session refreshes and is served, without a new login.
#[tokio::test]
async fn a_gateway_restarted_while_the_provider_is_down_keeps_its_sessions() {
    let relay = Relay::bind(None).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = demo_provider();
    config.listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    config.issuer = Some(relay.url());
    config.access_token_ttl = Duration::from_secs(1);
    config.clients[0].redirect_uris = vec![format!("{base}/auth/callback")];
    relay.set_target(config.listen);
    let provider = AuthServer::start(config).await.expect("provider starts");
    let api = TestUpstream::echo().await;
    // The access token lives 1 s and refresh_skew is 1 s: every API call needs a refresh.
    let yaml = token_handler_yaml(
        port,
        &format!(
            "  issuer: {}\n  scopes: [openid, profile, offline_access]\n",
            relay.url()
        ),
        &api.url(),
        "  refresh_skew: 1s\n",
    );
    let gateway = TestGateway::start(&yaml).await;
    wait_ready(&gateway).await;
    let mut browser = Browser::new();
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    assert_eq!(browser.get(&login.callback).await.status(), 200, "login");
    let session = session_value(&browser, &base).expect("a session");
    let pending = browser.start_login(&format!("{base}/auth/login")).await;
    let pending_cookies = login_cookie_names(&browser, &base);
    assert_eq!(pending_cookies.len(), 1, "{pending_cookies:?}");
    gateway.stop().await;

    relay.set_mode(Mode::Refuse).await;
    let gateway = TestGateway::start(&yaml).await;
    let admin = gateway.admin.unwrap();
    assert_eq!(readyz(admin).await, 503);
    let api_url = format!("{base}/api/x");
    let response = browser
        .send(reqwest::Method::GET, &api_url, &[("x-csrf", "1")])
        .await;
    assert_eq!(response.status(), 503);
    assert!(!touches_session(&response), "the session was touched");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "provider_unavailable", "{body}");
    assert_eq!(session_value(&browser, &base).as_ref(), Some(&session));
    // Counted like any refresh the provider could not answer (it used to go uncounted).
    assert_eq!(metric_now(admin, REFRESHES_UNAVAILABLE).await, 1.0);

    let response = browser.get(&pending.callback).await;
    assert_eq!(response.status(), 503);
    assert!(!touches_session(&response), "the session was touched");
    assert!(
        clears(&response, &pending_cookies[0]),
        "the login cookie is kept"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "provider_not_ready", "{body}");
    assert_eq!(metric_now(admin, LOGINS_FAILED_NOT_READY).await, 1.0);
    assert_eq!(session_value(&browser, &base).as_ref(), Some(&session));

    relay.set_mode(Mode::Pass).await;
    // Discovery retries with backoff (0.5 s doubling): the next attempt comes within seconds.
    let deadline = Instant::now() + Duration::from_secs(40);
    while readyz(admin).await != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = browser
        .send(reqwest::Method::GET, &api_url, &[("x-csrf", "1")])
        .await;
    assert_eq!(response.status(), 200, "no recovery without a login");
    assert!(touches_session(&response), "refreshed session not stored");
    let bearer = bearer_of(response).await;
    assert!(
        provider.introspect_active(bearer.trim_start_matches("Bearer ")),
        "an inactive token was forwarded"
    );
    assert_eq!(provider.count_grant("authorization_code"), 1, "a new login");
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);
}
