//! Graceful shutdown: stop accepting, finish in-flight requests within the grace period, exit 0.

use crate::support::process::GatewayProcess;
use crate::support::{TestGateway, TestUpstream, client};
use std::io::Write;
use std::time::Duration;

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
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    write!(
        file,
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 10s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    )
    .unwrap();
    let path = file.path().to_owned();
    let mut gw = tokio::task::spawn_blocking(move || GatewayProcess::start(&path, &[]))
        .await
        .unwrap();
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
