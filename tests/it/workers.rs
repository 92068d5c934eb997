//! `server.workers`: the main listener is served by that many worker threads, each with its own
//! event loop and upstream pool; they all stop with the gateway.

use crate::support::{TestGateway, TestUpstream, client};
use std::time::Duration;

/// Threads of this test process that are workers of the gateway listening on `port`
/// (named `bff-<port>-w<n>`).
fn worker_threads(port: u16) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let prefix = format!("bff-{port}-w");
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with(&prefix))
        .count()
}

/// Waits (up to 5 s) until `port`'s gateway has `want` worker threads; returns the count seen.
async fn settle(port: u16, want: usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while worker_threads(port) != want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker_threads(port)
}

#[tokio::test]
async fn workers_serve_concurrent_connections_and_stop_with_the_gateway() {
    let upstream = TestUpstream::echo().await;
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  workers: 3\n  shutdown_grace: 2s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        upstream.url()
    ))
    .await;
    let port = gw.addr.port();
    // A thread names itself once it runs, a moment after the start.
    assert_eq!(settle(port, 3).await, 3, "three worker threads run");
    // Many connections at once (a client each, so no connection is shared); all answered.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let url = gw.url(&format!("/item/{i}"));
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut ok = 0;
            for _ in 0..5 {
                if c.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
                {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    assert_eq!(answered, 24 * 5);
    gw.stop().await;
    // `wait` returns once every worker has drained; the threads end right after.
    assert_eq!(settle(port, 0).await, 0, "the worker threads ended");
}

#[tokio::test]
async fn a_dropped_gateway_stops_its_workers() {
    let upstream = TestUpstream::echo().await;
    let mut gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  workers: 2\n  shutdown_grace: 1s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        upstream.url()
    ))
    .await;
    let port = gw.addr.port();
    assert_eq!(settle(port, 2).await, 2);
    // Dropping the handle (not calling shutdown) stops the gateway too.
    drop(gw.running.take());
    assert_eq!(settle(port, 0).await, 0, "the worker threads ended");
    assert!(
        tokio::net::TcpStream::connect(gw.addr).await.is_err(),
        "the listener is closed"
    );
}
