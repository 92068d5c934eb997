//! Graceful shutdown: readiness goes false at once, the listener serves on for
//! `server.shutdown_delay`, then stops accepting; in-flight requests finish within the grace
//! period, and the process exits 0.

use crate::support::process::{GatewayProcess, config_file};
use crate::support::{TestGateway, TestUpstream, client};
use std::time::{Duration, Instant};

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_readiness_goes_false() {
    let api = TestUpstream::echo().await;
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 10s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ))
    .await;
    let admin = gw.admin.unwrap();
    let c = client();
    assert_eq!(
        c.get(format!("http://{admin}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let in_flight = tokio::spawn(c.get(gw.url("/slow/1500")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let running = gw.running.as_ref().unwrap();
    running.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Draining: not ready, and new connections are refused.
    let ready = c
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        fresh.get(gw.url("/x")).send().await.is_err(),
        "a new connection was accepted while draining"
    );
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completed");
    assert_eq!(response.status(), 200);
    tokio::time::timeout(Duration::from_secs(5), gw.stop())
        .await
        .expect("the drain ended once the request finished");
}

#[tokio::test]
async fn sigterm_drains_and_the_process_exits_0() {
    let api = TestUpstream::echo().await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 10s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ));
    let mut gw = GatewayProcess::start_async(file.path()).await;
    let in_flight = tokio::spawn(client().get(gw.url("/slow/1500")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.signal("TERM");
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completed");
    assert_eq!(response.status(), 200);
    let status = tokio::task::spawn_blocking(move || {
        let status = gw.wait_exit(Duration::from_secs(10));
        (status, gw)
    })
    .await
    .unwrap();
    assert_eq!(status.0.and_then(|s| s.code()), Some(0));
}

#[tokio::test]
async fn the_grace_period_bounds_the_drain() {
    let api = TestUpstream::echo().await;
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 500ms\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ))
    .await;
    let _stuck = tokio::spawn(client().get(gw.url("/slow/30000")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(5), gw.stop())
        .await
        .expect("shutdown waited past the grace period");
}

async fn readyz(admin: std::net::SocketAddr) -> u16 {
    client()
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// A client with no pooled connection, so every request opens a new one.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

// Issue 5: readiness goes false on SIGTERM before draining, so Kubernetes stops sending traffic
// while the listener still serves it (`server.shutdown_delay`).
#[tokio::test]
async fn sigterm_flips_readiness_at_once_and_keeps_serving_for_the_shutdown_delay() {
    const DELAY: Duration = Duration::from_secs(3);
    let api = TestUpstream::echo().await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
         \x20 shutdown_delay: 3s\n  shutdown_grace: 10s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let admin = gw.admin.expect("admin listener");
    assert_eq!(readyz(admin).await, 200);
    // Outlasts the delay: it shows the drain that follows still lets it finish.
    let in_flight = tokio::spawn(client().get(gw.url("/slow/4500")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;

    gw.signal("TERM");
    let signalled = Instant::now();
    while readyz(admin).await != 503 {
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "/readyz did not go 503 after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Not ready, but a new connection is still accepted and proxied.
    let fresh = fresh_client().get(gw.url("/x")).send().await;
    assert_eq!(
        fresh.expect("accepted during the delay").status(),
        200,
        "a new request during the delay was not served"
    );
    assert!(
        signalled.elapsed() < DELAY,
        "the machine was too slow for this test to prove anything"
    );

    // Once the delay is over, accepting stops while the in-flight request drains.
    let refused_after = loop {
        if fresh_client().get(gw.url("/x")).send().await.is_err() {
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "new connections were still accepted long after the delay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        refused_after >= DELAY,
        "accepting stopped after {refused_after:?}, before the delay"
    );
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completed");
    assert_eq!(response.status(), 200);
    let (status, _gw) = tokio::task::spawn_blocking(move || {
        let mut gw = gw;
        (gw.wait_exit(Duration::from_secs(10)), gw)
    })
    .await
    .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn shutdown_delay_defaults_to_zero_accepts_0s_and_refuses_a_number_without_unit() {
    let load = |extra: &str| {
        bff_gateway::config::load_str(
            &format!(
                "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n{extra}\
                 routes:\n  - path: /\n    upstream: http://127.0.0.1:1\n    auth: none\n"
            ),
            "test.yaml",
            std::path::Path::new("."),
            &|_: &str| None,
        )
    };
    let delay = |extra: &str| load(extra).map(|c| c.server.shutdown_delay);
    assert_eq!(delay("").unwrap(), Duration::ZERO);
    assert_eq!(delay("  shutdown_delay: 0s\n").unwrap(), Duration::ZERO);
    assert_eq!(
        delay("  shutdown_delay: 5s\n").unwrap(),
        Duration::from_secs(5)
    );
    let error = load("  shutdown_delay: 5\n").unwrap_err().to_string();
    assert!(error.contains("server.shutdown_delay"), "{error}");
}
