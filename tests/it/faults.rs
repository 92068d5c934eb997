//! Fault injection (issue 7): providers and upstreams that are down, slow, broken or lying, during
//! login, callback, refresh and proxying. Each case asserts the status, the JSON body, that the
//! session is kept when the fault is transient, and recovery without a restart.
//!
//! Dependencies go down and come back through a [`Relay`] on a fixed address (the provider's
//! issuer, or a route's upstream), or through the demo provider's fault switches. Cases covered
//! elsewhere: a hanging token endpoint at the callback (`callback.rs`), a provider answering 503
//! or shut down at refresh (`auth.rs`, `metrics.rs`), a provider down at startup and a foreign
//! discovery document (`auth.rs`), unreachable and slow upstreams with their metrics and log
//! lines (`proxy.rs`, `metrics.rs`, `cli.rs`), key rotation by restart and by SIGHUP (`auth.rs`,
//! `reload.rs`).

use crate::support::browser::{Browser, clears};
use crate::support::observe::{
    LOGINS_FAILED_AT_EXCHANGE, LOGINS_FAILED_AT_ID_TOKEN, Log, REFRESHES_REFUSED,
    REFRESHES_UNAVAILABLE, metric, metric_now, readyz, scrape,
};
use crate::support::process::{GatewayProcess, config_file};
use crate::support::relay::{Mode, Relay};
use crate::support::token_handler::{
    KEY_A, KEY_B, Options, SESSION, Setup, demo_provider, free_port, login_cookie_names,
    session_value, setup, signed_in, touches_session, wait_ready,
};
use crate::support::upstream::Echo;
use crate::support::{TestGateway, TestUpstream, client};
use bff_demo_auth_server::{AuthServer, AuthServerConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the token endpoint fails: the provider behind the relay is down (connections refused) or
/// never answers, or the token endpoint answers 500 or `200` with a body that is not JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenFault {
    Down,
    Hanging,
    Status500,
    GarbageJson,
}

impl TokenFault {
    const ALL: [Self; 4] = [
        Self::Down,
        Self::Hanging,
        Self::Status500,
        Self::GarbageJson,
    ];

    async fn apply(self, s: &Setup, relay: &Relay) {
        match self {
            Self::Down => relay.set_mode(Mode::Refuse).await,
            Self::Hanging => relay.set_mode(Mode::Hang).await,
            Self::Status500 => s
                .provider
                .faults()
                .set(|f| f.token_endpoint_status = Some(500)),
            Self::GarbageJson => s
                .provider
                .faults()
                .set(|f| f.token_endpoint_status = Some(200)),
        }
    }

    async fn clear(self, s: &Setup, relay: &Relay) {
        relay.set_mode(Mode::Pass).await;
        s.provider.faults().clear();
    }
}

/// `options` with the provider reachable only through `relay`: its issuer (so discovery and
/// every endpoint) is the relay's URL.
fn behind(relay: &Relay, mut options: Options) -> Options {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    options.provider.listen = listen;
    options.provider.issuer = Some(relay.url());
    relay.set_target(listen);
    options
}

// checklist B2, D4 (issue 7): the token endpoint down, hanging past `oauth.timeout`, answering
// 500 or garbage at the callback gives the error page (502, 504 for the timeout) within the
// timeout, ends that login only (its login cookie cleared), leaves the browser's existing
// session alone, is counted, and the next login works once the provider is back.
#[tokio::test]
async fn token_endpoint_faults_at_the_callback_fail_that_login_only() {
    let relay = Relay::bind(None).await;
    let s = setup(behind(
        &relay,
        Options {
            oauth_extra: "  timeout: 1s\n".to_owned(),
            ..Options::default()
        },
    ))
    .await;
    let admin = s.gateway.admin.unwrap();
    let mut browser = Browser::new();
    s.login(&mut browser).await;
    let session = session_value(&browser, &s.base).unwrap();
    for (failures, fault) in (1..).zip(TokenFault::ALL) {
        let callback = s.start_login(&mut browser, "/home").await;
        let pending = login_cookie_names(&browser, &s.base);
        fault.apply(&s, &relay).await;
        let started = Instant::now();
        let response = browser.get(&callback).await;
        let took = started.elapsed();
        let status = if fault == TokenFault::Hanging {
            504
        } else {
            502
        };
        assert_eq!(response.status(), status, "{fault:?}");
        assert!(took < Duration::from_secs(4), "{fault:?} took {took:?}");
        for name in &pending {
            assert!(clears(&response, name), "{fault:?}: {name} not cleared");
        }
        assert!(
            !touches_session(&response),
            "{fault:?}: the session was touched"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("could not be reached"), "{fault:?}: {page}");
        assert_eq!(
            metric_now(admin, LOGINS_FAILED_AT_EXCHANGE).await,
            failures as f64,
            "{fault:?}"
        );
        fault.clear(&s, &relay).await;
        assert_eq!(session_value(&browser, &s.base).as_ref(), Some(&session));
        assert_eq!(
            s.api(&mut browser, "/api/x").await.status(),
            200,
            "{fault:?}"
        );
    }
    s.login(&mut browser).await;
    assert_ne!(session_value(&browser, &s.base).unwrap(), session);
}

// checklist R4, D4 (issue 7): the token endpoint down, hanging past `oauth.timeout`, answering
// 500 or `200` with garbage when an access token needs a refresh: 503 `provider_unavailable`
// within the timeout (a hanging one after about 1 s with `oauth.timeout: 1s`, under 4 s), the
// session cookie untouched, counted as `unavailable` (never `refused`), and the same session
// refreshes and works once the provider is back. (Garbage used to end the session with a 401.)
#[tokio::test]
async fn token_endpoint_faults_at_refresh_keep_the_session_until_the_provider_is_back() {
    let relay = Relay::bind(None).await;
    let mut options = Options::short_lived_tokens(Duration::from_secs(1));
    options.oauth_extra = "  timeout: 1s\n".to_owned();
    // Every API call below needs a refresh: the access token lives 1 s, refresh_skew is 1 s.
    let (s, mut browser) = signed_in(behind(&relay, options)).await;
    let admin = s.gateway.admin.unwrap();
    for (failures, fault) in (1..).zip(TokenFault::ALL) {
        fault.apply(&s, &relay).await;
        let started = Instant::now();
        let response = s.api(&mut browser, "/api/x").await;
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "{fault:?}");
        // Never a hang (checklist D4): a token endpoint that does not answer costs
        // `oauth.timeout` (1 s), not the browser's patience.
        assert!(took < Duration::from_secs(4), "{fault:?} took {took:?}");
        if fault == TokenFault::Hanging {
            assert!(
                took >= Duration::from_millis(900),
                "{fault:?} took {took:?}"
            );
        }
        assert!(
            !touches_session(&response),
            "{fault:?}: the session was touched"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "provider_unavailable", "{fault:?}");
        assert_eq!(
            metric_now(admin, REFRESHES_UNAVAILABLE).await,
            failures as f64,
            "{fault:?}"
        );
        fault.clear(&s, &relay).await;
        let response = s.api(&mut browser, "/api/x").await;
        assert_eq!(
            response.status(),
            200,
            "{fault:?}: no recovery without a login"
        );
        assert!(
            touches_session(&response),
            "{fault:?}: refreshed session not stored"
        );
    }
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);
}

// checklist I6, D4 (issue 7): an ID token signed with a key the gateway has not seen (a key
// rollover) makes it fetch the JWKS at the callback; a JWKS that is down (503), failing (500) or
// garbage is the provider's failure, 502 and no new session, not a bad token; the session the
// browser already had is left alone and keeps working; counted at the `id_token` step; the next
// login works once the JWKS is back. (It used to be a 400 "did not pass validation".)
#[tokio::test]
async fn a_jwks_down_or_garbage_at_the_callback_is_502_and_the_next_login_works() {
    for status in [503, 500, 200] {
        let (s, mut browser) = signed_in(Options::default()).await;
        let session = session_value(&browser, &s.base).unwrap();
        let callback = s.start_login(&mut browser, "/home").await;
        s.provider.faults().set(|f| {
            f.unknown_kid = true;
            f.jwks_status = Some(status);
        });
        let jwks_before = s.provider.count("/oauth2/jwks");
        let response = browser.get(&callback).await;
        assert_eq!(response.status(), 502, "JWKS answering {status}");
        assert!(!touches_session(&response), "JWKS answering {status}");
        let page = response.text().await.unwrap();
        assert!(page.contains("signing keys could not be fetched"), "{page}");
        assert_eq!(s.provider.count("/oauth2/jwks"), jwks_before + 1);
        assert_eq!(
            metric_now(s.gateway.admin.unwrap(), LOGINS_FAILED_AT_ID_TOKEN).await,
            1.0
        );
        assert_eq!(
            session_value(&browser, &s.base).as_ref(),
            Some(&session),
            "JWKS answering {status}: the existing session was changed"
        );
        let response = s.api(&mut browser, "/api/x").await;
        assert_eq!(response.status(), 200, "JWKS answering {status}");
        assert!(!touches_session(&response), "JWKS answering {status}");
        s.provider.faults().clear();
        s.login(&mut browser).await;
        assert_ne!(session_value(&browser, &s.base).unwrap(), session);
    }
}

// checklist I7, R4, D4 (issue 7): a refresh whose new ID token cannot be checked, because the
// provider signed it with a key the gateway has not seen (a rollover) while the JWKS is down, or
// while the JWKS re-fetch is rate-limited (I6), is not a refused refresh: the new access and
// (rotated) refresh tokens are stored, the request is served with the new Bearer, the unchecked
// ID token is dropped and the previous one kept. Ending the session there (as it used to) lost
// the refresh token the provider had just rotated. Refreshed ID tokens that are checked and fail
// still end the session (`auth.rs`: a_refreshed_id_token_that_fails_its_checks_ends_the_session).
// The JWKS fails by answering 503, 500 or `200` with garbage, each with its own gateway (the
// forced re-fetch is rate-limited per gateway); the rate-limited re-fetch and the recovery are
// followed after the 503 only.
#[tokio::test]
async fn a_refreshed_id_token_whose_keys_are_unavailable_keeps_the_refreshed_session() {
    keys_unavailable_at_refresh(503, true).await;
    for status in [500, 200] {
        keys_unavailable_at_refresh(status, false).await;
    }
}

/// The JWKS answering `status` at a refresh whose ID token needs a key the gateway has not
/// seen; with `whole`, then the rate-limited re-fetch and the recovery too.
async fn keys_unavailable_at_refresh(status: u16, whole: bool) {
    let (s, mut browser) = signed_in(Options::short_lived_tokens(Duration::from_secs(1))).await;
    let admin = s.gateway.admin.unwrap();
    let bearer_of = async |response: reqwest::Response| {
        assert_eq!(response.status(), 200, "JWKS answering {status}");
        assert!(
            touches_session(&response),
            "JWKS answering {status}: refreshed session not stored"
        );
        Echo::from(response).await.header("authorization")[0].clone()
    };
    let first = bearer_of(s.api(&mut browser, "/api/x").await).await;

    // The JWKS failing: the forced re-fetch for the unknown key fails.
    s.provider.faults().set(|f| {
        f.unknown_kid = true;
        f.jwks_status = Some(status);
    });
    let jwks_before = s.provider.count("/oauth2/jwks");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = bearer_of(s.api(&mut browser, "/api/x").await).await;
    assert_eq!(
        s.provider.count("/oauth2/jwks"),
        jwks_before + 1,
        "JWKS answering {status}"
    );
    assert_ne!(second, first, "the refreshed access token was not used");
    assert_eq!(
        metric_now(admin, REFRESHES_REFUSED).await,
        0.0,
        "JWKS answering {status}"
    );
    if !whole {
        return;
    }

    // The JWKS back with the new key, but the re-fetch is rate-limited for 30 s: still unknown.
    s.provider.faults().set(|f| {
        f.jwks_status = None;
        f.publish_foreign_key = true;
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = bearer_of(s.api(&mut browser, "/api/x").await).await;
    assert_ne!(third, second);
    assert_eq!(s.provider.count("/oauth2/jwks"), jwks_before + 1);

    // The provider back to its usual key: the next refresh's ID token checks out.
    s.provider.faults().clear();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fourth = bearer_of(s.api(&mut browser, "/api/x").await).await;
    assert_ne!(fourth, third);
    assert!(
        s.provider
            .introspect_active(fourth.trim_start_matches("Bearer ")),
        "an inactive token was forwarded"
    );
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);
    assert_eq!(s.provider.count_grant("refresh_token"), 4);
}

/// A token-handler gateway on `port` in front of `issuer`: `/api` (signed in) and `/` (no auth)
/// both go to `api`; `session_extra` lines are added under `session:`.
fn gateway_yaml(port: u16, issuer: &str, api: &str, keys: &[&str], session_extra: &str) -> String {
    gateway_yaml_with(port, issuer, api, keys, "", session_extra)
}

/// [`gateway_yaml`] with `oauth_extra` lines added under `oauth:` (e.g. `  timeout: 1s\n`).
fn gateway_yaml_with(
    port: u16,
    issuer: &str,
    api: &str,
    keys: &[&str],
    oauth_extra: &str,
    session_extra: &str,
) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1:{port}\n\
         oauth:\n  issuer: {issuer}\n  allow_http_provider: true\n  client_id: msnID\n  client_secret: demo-secret\n\
         \x20 scopes: [openid, profile, offline_access]\n{oauth_extra}\
         session:\n  keys: [{keys}]\n{session_extra}\
         routes:\n  - name: api\n    path: /api\n    upstream: {api}\n    strip_prefix: true\n    timeout: 500ms\n\
         \x20 - name: web\n    path: /\n    upstream: {api}\n    auth: none\n",
        keys = keys.join(", "),
    )
}

/// The demo provider for a gateway on `port`, with `adjust` applied to its settings.
async fn provider_for(port: u16, adjust: impl FnOnce(&mut AuthServerConfig)) -> AuthServer {
    let mut config = demo_provider();
    config.clients[0].redirect_uris = vec![format!("http://127.0.0.1:{port}/auth/callback")];
    adjust(&mut config);
    AuthServer::start(config).await.expect("provider starts")
}

/// [`provider_for`], reachable only through `relay`: its issuer (so discovery and every
/// endpoint) is the relay's URL.
async fn provider_behind(
    relay: &Relay,
    port: u16,
    adjust: impl FnOnce(&mut AuthServerConfig),
) -> AuthServer {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    relay.set_target(listen);
    provider_for(port, |c| {
        c.listen = listen;
        c.issuer = Some(relay.url());
        adjust(c);
    })
    .await
}

async fn log_in(browser: &mut Browser, base: &str) {
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    assert_eq!(browser.get(&login.callback).await.status(), 200, "login");
}

/// `GET /auth/login` on a gateway without a usable provider: 503 JSON `provider_not_ready`.
async fn assert_login_not_ready(base: &str, case: &str) {
    let login = client()
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 503, "{case}");
    assert_eq!(
        login.headers()["content-type"],
        "application/json",
        "{case}"
    );
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["error"], "provider_not_ready", "{case}");
}

/// Polls `check` every 50 ms for up to `limit`.
async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// checklist K1, D4 (issue 7): a discovery document that is not JSON, then a JWKS that is not
// JSON: not ready and no logins (503 `provider_not_ready`) while either is broken; ready, and
// logins work, once both answer, without a restart (discovery is retried with backoff).
#[tokio::test]
async fn garbage_discovery_then_garbage_jwks_keep_the_gateway_unready_until_both_recover() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = provider_for(port, |_| {}).await;
    provider.faults().set(|f| f.discovery_status = Some(200));
    let api = TestUpstream::echo().await;
    let gateway = TestGateway::start(&gateway_yaml(
        port,
        &provider.issuer(),
        &api.url(),
        &[KEY_A],
        "",
    ))
    .await;
    let admin = gateway.admin.unwrap();
    let discovery = "/.well-known/openid-configuration";
    eventually(
        "a second discovery attempt",
        Duration::from_secs(5),
        async || provider.count(discovery) >= 2,
    )
    .await;
    assert_eq!(readyz(admin).await, 503);
    let login = client()
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 503);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["error"], "provider_not_ready");

    provider.faults().set(|f| {
        f.discovery_status = None;
        f.jwks_status = Some(200);
    });
    eventually("a JWKS fetch", Duration::from_secs(5), async || {
        provider.count("/oauth2/jwks") >= 1
    })
    .await;
    assert_eq!(readyz(admin).await, 503, "ready without usable keys");
    assert_login_not_ready(&base, "garbage JWKS").await;

    provider.faults().clear();
    eventually("readiness", Duration::from_secs(10), async || {
        readyz(admin).await == 200
    })
    .await;
    log_in(&mut Browser::new(), &base).await;
}

/// How discovery fails at startup: the document answers 500 or `200` with garbage, or the
/// provider (behind a relay) accepts and never answers.
#[derive(Clone, Copy, Debug)]
enum DiscoveryFault {
    Status500,
    Garbage,
    Hanging,
}

// checklist K1, D4 (issue 7): a discovery document answering 500, `200` with garbage, or never
// (past `oauth.timeout: 1s`): each attempt fails within the timeout and is logged with its cause
// and the retry; meanwhile not ready and logins are 503 JSON `provider_not_ready`; once the
// provider answers, ready and a login works, without a restart. (The real binary, for its log.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_answering_500_garbage_or_never_keeps_logins_503_until_it_is_back() {
    for fault in [
        DiscoveryFault::Status500,
        DiscoveryFault::Garbage,
        DiscoveryFault::Hanging,
    ] {
        let case = format!("{fault:?}");
        let relay = Relay::bind(None).await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let provider = provider_behind(&relay, port, |_| {}).await;
        let cause = match fault {
            DiscoveryFault::Status500 => {
                provider.faults().set(|f| f.discovery_status = Some(500));
                "/.well-known/openid-configuration answered 500"
            }
            DiscoveryFault::Garbage => {
                provider.faults().set(|f| f.discovery_status = Some(200));
                "/.well-known/openid-configuration is not the expected JSON"
            }
            DiscoveryFault::Hanging => {
                relay.set_mode(Mode::Hang).await;
                "/.well-known/openid-configuration did not answer within 1s"
            }
        };
        let api = TestUpstream::echo().await;
        let file = config_file(&gateway_yaml_with(
            port,
            &provider.issuer(),
            &api.url(),
            &[KEY_A],
            "  timeout: 1s\n",
            "",
        ));
        let gw = GatewayProcess::start_async(file.path()).await;
        let admin = gw.admin.unwrap();
        let mut log = Log::default();
        let warning = log
            .wait_for(
                &gw,
                &[
                    ("message", "provider discovery failed"),
                    ("issuer", &relay.url()),
                    ("error", cause),
                ],
            )
            .await;
        assert_eq!(warning["level"], "WARN", "{case}: {warning}");
        assert!(warning["retry_in"].is_string(), "{case}: {warning}");
        assert_eq!(readyz(admin).await, 503, "{case}");
        assert_login_not_ready(&base, &case).await;

        provider.faults().clear();
        relay.set_mode(Mode::Pass).await;
        eventually("readiness", Duration::from_secs(15), async || {
            readyz(admin).await == 200
        })
        .await;
        log.wait_for(&gw, &[("message", "provider discovery done")])
            .await;
        log_in(&mut Browser::new(), &base).await;
    }
}

// checklist K1, I6, D4 (issue 7): a JWKS answering 503, 500 or `200` with garbage at startup:
// discovery is retried as a whole (document and keys), not ready and logins 503 JSON
// `provider_not_ready` meanwhile; ready, and a login works, once the JWKS is back.
#[tokio::test]
async fn a_jwks_failing_at_startup_keeps_logins_503_until_it_is_back() {
    for status in [503, 500, 200] {
        let case = format!("JWKS answering {status}");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let provider = provider_for(port, |_| {}).await;
        provider.faults().set(|f| f.jwks_status = Some(status));
        let api = TestUpstream::echo().await;
        let gateway = TestGateway::start(&gateway_yaml(
            port,
            &provider.issuer(),
            &api.url(),
            &[KEY_A],
            "",
        ))
        .await;
        let admin = gateway.admin.unwrap();
        eventually(
            "a second JWKS attempt",
            Duration::from_secs(5),
            async || provider.count("/oauth2/jwks") >= 2,
        )
        .await;
        assert!(
            provider.count("/.well-known/openid-configuration") >= 2,
            "{case}"
        );
        assert_eq!(readyz(admin).await, 503, "{case}");
        assert_login_not_ready(&base, &case).await;

        provider.faults().clear();
        eventually("readiness", Duration::from_secs(10), async || {
            readyz(admin).await == 200
        })
        .await;
        log_in(&mut Browser::new(), &base).await;
    }
}

// Issue 7, checklist R4, D4: the upstream of a signed-in route refusing connections (502),
// hanging past the route's timeout (504) or resetting the connection before its answer's
// headers (502): JSON error, counted by kind, and the session is kept
// (the one the auth step just refreshed is delivered with the error, since the provider has
// rotated the refresh token); the same session works once the upstream is back.
#[tokio::test]
async fn an_upstream_refusing_or_hanging_keeps_the_refreshed_session() {
    let echo = TestUpstream::echo().await;
    let relay = Relay::bind(Some(echo.addr)).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // Every API call refreshes: the access token lives 1 s, refresh_skew is 1 s.
    let provider = provider_for(port, |c| c.access_token_ttl = Duration::from_secs(1)).await;
    let gateway = TestGateway::start(&gateway_yaml(
        port,
        &provider.issuer(),
        &relay.url(),
        &[KEY_A],
        "  refresh_skew: 1s\n",
    ))
    .await;
    wait_ready(&gateway).await;
    let admin = gateway.admin.unwrap();
    let mut browser = Browser::new();
    log_in(&mut browser, &base).await;
    let api = format!("{base}/api/x");
    // `ResetAfter(0)`: the connection is accepted, then reset before a byte of an answer (the
    // request is not even passed on); no status line was sent, so a clean 502 is still possible.
    // The reset can reach the gateway before its client has the connection ready (counted as
    // `connect`) or after the request went out (`other`): either, once.
    let cases: [(Mode, u16, &str, &[&str]); 3] = [
        (Mode::Refuse, 502, "bad_gateway", &["connect"]),
        (Mode::Hang, 504, "gateway_timeout", &["timeout"]),
        (
            Mode::ResetAfter(0),
            502,
            "bad_gateway",
            &["connect", "other"],
        ),
    ];
    for (mode, status, code, kinds) in cases {
        relay.set_mode(mode).await;
        // Let the gateway's pool see the relay close the idle connection of the last request
        // first: a request sent on it at the same moment would meet another fault (502 `other`).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = session_value(&browser, &base).unwrap();
        let (counted, all) = (
            upstream_errors(admin, kinds).await,
            upstream_errors(admin, &UPSTREAM_ERROR_KINDS).await,
        );
        let started = Instant::now();
        let response = browser
            .send(reqwest::Method::GET, &api, &[("x-csrf", "1")])
            .await;
        assert_eq!(response.status(), status, "{mode:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{mode:?}");
        assert!(
            !clears(&response, SESSION),
            "{mode:?}: the session was cleared"
        );
        assert!(
            touches_session(&response),
            "{mode:?}: refreshed session dropped"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{mode:?}");
        assert_ne!(session_value(&browser, &base).unwrap(), before);
        assert_eq!(
            upstream_errors(admin, kinds).await,
            counted + 1.0,
            "{mode:?}: not counted as {kinds:?}"
        );
        assert_eq!(
            upstream_errors(admin, &UPSTREAM_ERROR_KINDS).await,
            all + 1.0,
            "{mode:?}: counted more than once"
        );
        relay.set_mode(Mode::Pass).await;
        let response = browser
            .send(reqwest::Method::GET, &api, &[("x-csrf", "1")])
            .await;
        let echo = Echo::from(response).await;
        assert!(echo.header("authorization")[0].starts_with("Bearer "));
    }
    assert_eq!(metric_now(admin, REFRESHES_REFUSED).await, 0.0);
}

const UPSTREAM_ERROR_KINDS: [&str; 4] = ["connect", "timeout", "other", "body"];

/// The `api` route's upstream failures of these `kinds`, summed.
async fn upstream_errors(admin: SocketAddr, kinds: &[&str]) -> f64 {
    let text = scrape(admin).await;
    kinds
        .iter()
        .map(|kind| {
            metric(
                &text,
                &format!(r#"bff_gateway_upstream_errors_total{{route="api",kind="{kind}"}}"#),
            )
        })
        .sum()
}

// Issue 7 (checklist D5): an upstream connection reset in the middle of a response body. The
// status line had been passed on, so the client sees that answer aborted (never a complete-looking
// truncated body); the warning names the route, the upstream and the cause, it is counted as
// `body`; the gateway keeps serving other requests, and the same route once the upstream behaves.
// (The real binary, for its JSON log.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_reset_mid_body_aborts_that_answer_only() {
    const SIZE: usize = 4 * 1024 * 1024;
    let echo = TestUpstream::echo().await;
    let relay = Relay::bind(Some(echo.addr)).await;
    relay.set_mode(Mode::ResetAfter(256 * 1024)).await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
         routes:\n  - name: cut\n    path: /cut\n    upstream: {}\n    strip_prefix: true\n    auth: none\n\
         \x20 - name: direct\n    path: /\n    upstream: {}\n    auth: none\n",
        relay.url(),
        echo.url()
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let big = gw.url(&format!("/cut/bytes/{SIZE}"));
    let (cut, other) = tokio::join!(
        async {
            let response = client().get(&big).send().await.unwrap();
            (response.status(), response.bytes().await.map(|b| b.len()))
        },
        async { client().get(gw.url("/other")).send().await.unwrap() }
    );
    assert_eq!(cut.0, 200, "the headers arrived before the reset");
    assert!(
        cut.1.is_err(),
        "a reset answer looked complete: {:?}",
        cut.1
    );
    assert_eq!(Echo::from(other).await.target(), "/other");
    let mut log = Log::default();
    let warning = log
        .wait_for(
            &gw,
            &[
                ("message", "upstream response body failed"),
                ("route", "cut"),
            ],
        )
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(
        warning["upstream"],
        relay.url().trim_end_matches('/'),
        "{warning}"
    );
    assert!(
        warning["error"]
            .as_str()
            .unwrap()
            .contains("error reading a body"),
        "{warning}"
    );
    let series = r#"bff_gateway_upstream_errors_total{route="cut",kind="body"}"#;
    assert_eq!(metric_now(gw.admin.unwrap(), series).await, 1.0);
    assert_eq!(
        Echo::from(client().get(gw.url("/after")).send().await.unwrap())
            .await
            .target(),
        "/after"
    );
    relay.set_mode(Mode::Pass).await;
    let whole = client().get(&big).send().await.unwrap();
    assert_eq!(whole.bytes().await.unwrap().len(), SIZE);
    assert_eq!(metric_now(gw.admin.unwrap(), series).await, 1.0);
}

// Issue 7: an upstream whose host name does not resolve is a 502 like any unreachable upstream;
// the warning names the route, the upstream and the DNS failure, it is counted as `connect`, and
// the other routes are served. (The real binary, for its JSON log.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_host_that_does_not_resolve_is_502_and_the_log_names_it() {
    let echo = TestUpstream::echo().await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
         routes:\n  - name: nowhere\n    path: /nowhere\n    upstream: http://nonexistent.invalid\n    allow_plain_http: true\n    auth: none\n\
         \x20 - name: web\n    path: /\n    upstream: {}\n    auth: none\n",
        echo.url()
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let response = client().get(gw.url("/nowhere/x")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
    let mut log = Log::default();
    let warning = log
        .wait_for(&gw, &[("message", "upstream failed"), ("route", "nowhere")])
        .await;
    assert_eq!(
        warning["upstream"], "http://nonexistent.invalid",
        "{warning}"
    );
    assert!(
        warning["error"].as_str().unwrap().contains("dns error"),
        "{warning}"
    );
    let series = r#"bff_gateway_upstream_errors_total{route="nowhere",kind="connect"}"#;
    assert_eq!(metric_now(gw.admin.unwrap(), series).await, 1.0);
    let other = client().get(gw.url("/x")).send().await.unwrap();
    assert_eq!(Echo::from(other).await.target(), "/x");
}

// Issue 7: provider faults in the real binary's JSON log, each with its cause (the provider URL
// and what went wrong) and the route in the request's access line: garbage discovery at startup;
// at the callback a token endpoint answering 500 or garbage JSON; at refresh one answering 503,
// refusing connections or never answering (past `oauth.timeout: 1s`); an unknown key while the
// JWKS answers 503, at the callback and at refresh; and an ID token from a clock beyond the
// leeway. The provider is behind a relay, to be switched off and on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_are_logged_with_their_cause_and_route() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let relay = Relay::bind(None).await;
    let provider = provider_behind(&relay, port, |c| {
        c.access_token_ttl = Duration::from_secs(1)
    })
    .await;
    provider.faults().set(|f| f.discovery_status = Some(200));
    let api = TestUpstream::echo().await;
    let file = config_file(&gateway_yaml_with(
        port,
        &provider.issuer(),
        &api.url(),
        &[KEY_A],
        "  timeout: 1s\n",
        "  refresh_skew: 1s\n",
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let admin = gw.admin.unwrap();
    let mut log = Log::default();
    let issuer = provider.issuer();
    let discovery = log
        .wait_for(
            &gw,
            &[
                ("message", "provider discovery failed"),
                ("issuer", &issuer),
                ("error", "/.well-known/openid-configuration"),
                ("error", "not the expected JSON"),
            ],
        )
        .await;
    assert_eq!(discovery["level"], "WARN", "{discovery}");
    provider.faults().clear();
    eventually("readiness", Duration::from_secs(10), async || {
        readyz(admin).await == 200
    })
    .await;

    let mut browser = Browser::new();
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    provider
        .faults()
        .set(|f| f.token_endpoint_status = Some(500));
    assert_eq!(browser.get(&login.callback).await.status(), 502);
    provider.faults().clear();
    log.wait_for(
        &gw,
        &[
            ("message", "code exchange failed"),
            ("error", "/oauth2/token answered 500"),
        ],
    )
    .await;
    log.wait_for(
        &gw,
        &[
            ("message", "callback refused"),
            ("reason", "provider_unavailable"),
        ],
    )
    .await;
    log.wait_for_access(&gw, "auth", "/auth/callback", 502)
        .await;

    // A token endpoint answering `200` with an HTML page (a proxy's error page) at the callback.
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    provider
        .faults()
        .set(|f| f.token_endpoint_status = Some(200));
    assert_eq!(browser.get(&login.callback).await.status(), 502);
    provider.faults().clear();
    log.wait_for(
        &gw,
        &[
            ("message", "code exchange failed"),
            (
                "error",
                &format!("{issuer}/oauth2/token is not the expected JSON"),
            ),
        ],
    )
    .await;

    log_in(&mut browser, &base).await;
    provider
        .faults()
        .set(|f| f.token_endpoint_status = Some(503));
    let response = browser
        .send(
            reqwest::Method::GET,
            &format!("{base}/api/x"),
            &[("x-csrf", "1")],
        )
        .await;
    assert_eq!(response.status(), 503);
    provider.faults().clear();
    log.wait_for(
        &gw,
        &[
            ("message", "token refresh failed; session kept"),
            ("error", "/oauth2/token answered 503"),
        ],
    )
    .await;
    // The provider failed, not the route's upstream (which was never asked): the warning says
    // so and names no upstream.
    let warning = log
        .wait_for(
            &gw,
            &[
                ("message", "sign-in provider unavailable"),
                ("route", "api"),
                ("error", "sign-in provider is unavailable"),
            ],
        )
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(warning.get("upstream").is_none(), "{warning}");

    // The provider refusing connections, then never answering, at refresh: 503 each time (the
    // hanging one within the timeout), the session kept, and the warning names the cause.
    let api_url = format!("{base}/api/x");
    let cases = [
        (Mode::Refuse, "cannot reach the provider at"),
        (Mode::Hang, "did not answer within 1s"),
    ];
    for (mode, cause) in cases {
        relay.set_mode(mode).await;
        let started = Instant::now();
        let response = browser
            .send(reqwest::Method::GET, &api_url, &[("x-csrf", "1")])
            .await;
        assert_eq!(response.status(), 503, "{mode:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "{mode:?}");
        assert!(!touches_session(&response), "{mode:?}");
        relay.set_mode(Mode::Pass).await;
        log.wait_for(
            &gw,
            &[
                ("message", "token refresh failed; session kept"),
                ("error", &format!("{issuer}/oauth2/token")),
                ("error", cause),
            ],
        )
        .await;
    }

    // A key the gateway has not seen while the JWKS answers 503: at the callback the forced
    // re-fetch fails (502) and the warning names the JWKS URL and its answer; at the next
    // refresh, within the re-fetch interval (checklist I6, 30 s), the key is still unknown: the
    // refreshed session is kept (200) and the warning says why the new ID token was set aside.
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    provider.faults().set(|f| {
        f.unknown_kid = true;
        f.jwks_status = Some(503);
    });
    assert_eq!(browser.get(&login.callback).await.status(), 502);
    log.wait_for(
        &gw,
        &[
            ("message", "ID token rejected"),
            ("error", "cannot fetch the provider's JWKS"),
            ("error", &format!("{issuer}/oauth2/jwks answered 503")),
        ],
    )
    .await;
    let response = browser
        .send(reqwest::Method::GET, &api_url, &[("x-csrf", "1")])
        .await;
    assert_eq!(response.status(), 200);
    assert!(touches_session(&response), "refreshed session not stored");
    provider.faults().clear();
    let warning = log
        .wait_for(
            &gw,
            &[
                (
                    "message",
                    "refreshed ID token could not be checked; the previous one is kept",
                ),
                (
                    "error",
                    "no key in the provider's JWKS matches the ID token",
                ),
            ],
        )
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");

    let login = browser.start_login(&format!("{base}/auth/login")).await;
    provider.faults().set(|f| f.clock_offset = 600);
    assert_eq!(browser.get(&login.callback).await.status(), 400);
    provider.faults().clear();
    log.wait_for(
        &gw,
        &[
            ("message", "ID token rejected"),
            ("error", "issued in the future"),
        ],
    )
    .await;
}

fn load(yaml: &str) -> bff_gateway::config::Config {
    bff_gateway::config::load_str(yaml, "test.yaml", Path::new("."), &|_| None)
        .unwrap_or_else(|e| panic!("test config is invalid: {e}"))
}

/// Sends `GET path` with `cookie` and the CSRF header until `stop`; returns the statuses.
fn traffic(
    url: String,
    cookie: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    tokio::spawn(async move {
        let client = client();
        let mut statuses = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let response = client
                .get(&url)
                .header("cookie", &cookie)
                .header("x-csrf", "1")
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    })
}

// checklist K3, S3 (issue 7): session keys rotated while requests flow. With the new key added
// in front, cookies sealed with the old one keep opening (every request 200); once the old key
// is removed they are no session: 401 and cleared, on API routes and at /auth/session, never a
// 500; sessions sealed with the new key live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_keys_rotated_mid_traffic_end_old_sessions_only_when_their_key_goes() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = provider_for(port, |_| {}).await;
    let api = TestUpstream::echo().await;
    let yaml = |keys: &[&str]| gateway_yaml(port, &provider.issuer(), &api.url(), keys, "");
    let gateway = TestGateway::start(&yaml(&[KEY_A])).await;
    wait_ready(&gateway).await;
    let running = gateway.running.as_ref().unwrap();
    let mut browser = Browser::new();
    log_in(&mut browser, &base).await;
    let old = browser.cookie_header(&base).unwrap();
    let api_url = format!("{base}/api/x");

    let stop = Arc::new(AtomicBool::new(false));
    let flowing = traffic(api_url.clone(), old.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.reload(load(&yaml(&[KEY_B, KEY_A]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = flowing.await.unwrap();
    assert!(statuses.len() > 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let mut fresh = Browser::new();
    log_in(&mut fresh, &base).await;
    let new = fresh.cookie_header(&base).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let flowing = traffic(api_url.clone(), old.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.reload(load(&yaml(&[KEY_B]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = flowing.await.unwrap();
    let switched = statuses
        .iter()
        .position(|s| *s != 200)
        .unwrap_or(statuses.len());
    assert!(
        switched < statuses.len() && statuses[switched..].iter().all(|s| *s == 401),
        "expected 200s, then only 401s: {statuses:?}"
    );
    for path in ["/api/x", "/auth/session"] {
        let response = client()
            .get(format!("{base}{path}"))
            .header("cookie", &old)
            .header("x-csrf", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert!(
            clears(&response, SESSION),
            "{path}: the dead cookie is kept"
        );
        if path == "/api/x" {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthenticated");
        }
    }
    let response = client()
        .get(&api_url)
        .header("cookie", &new)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a session sealed with the new key");
}

// checklist I4 (issue 7): clock skew between the provider and the gateway. With
// `oauth.clock_skew: 10s`, an ID token issued 4 s "in the future" or expired 4 s ago is
// accepted; 40 s either way is refused at the callback (400, no session), counted at the
// `id_token` step.
#[tokio::test]
async fn id_tokens_from_a_skewed_provider_clock_are_accepted_within_the_leeway_only() {
    let s = setup(Options {
        oauth_extra: "  clock_skew: 10s\n".to_owned(),
        ..Options::default()
    })
    .await;
    let ttl = i64::try_from(s.provider.config().id_token_ttl.as_secs()).unwrap();
    let cases = [
        ("iat 4 s ahead", 4, true),
        ("iat 40 s ahead", 40, false),
        ("exp 4 s ago", -(ttl + 4), true),
        ("exp 40 s ago", -(ttl + 40), false),
    ];
    let mut refused = 0.0;
    for (case, offset, accepted) in cases {
        let mut browser = Browser::new();
        let callback = s.start_login(&mut browser, "/home").await;
        s.provider.faults().set(|f| f.clock_offset = offset);
        let response = browser.get(&callback).await;
        s.provider.faults().clear();
        if accepted {
            assert_eq!(response.status(), 200, "{case}");
            assert!(session_value(&browser, &s.base).is_some(), "{case}");
        } else {
            refused += 1.0;
            assert_eq!(response.status(), 400, "{case}");
            assert!(session_value(&browser, &s.base).is_none(), "{case}");
            let page = response.text().await.unwrap();
            assert!(page.contains("did not pass validation"), "{case}: {page}");
        }
        let failed = metric_now(s.gateway.admin.unwrap(), LOGINS_FAILED_AT_ID_TOKEN).await;
        assert_eq!(failed, refused, "{case}");
    }
}
