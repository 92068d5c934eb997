//! `GET /metrics` on the admin listener after real traffic (issue 5): requests by route, method
//! class and status class, latency histograms, upstream errors, logins, refreshes, connections.

use crate::support::browser::Browser;
use crate::support::token_handler::{Options, Setup, free_port, signed_in};
use crate::support::{TestGateway, TestUpstream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn scrape(admin: SocketAddr) -> String {
    let response = crate::support::client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    response.text().await.unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

/// Like [`value`], but a series not exported yet counts as 0.
fn count(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_requests_logins_refreshes_and_upstream_errors() {
    let (s, mut browser) = signed_in(Options::short_lived_tokens(Duration::from_secs(1))).await;
    let admin = s.gateway.admin.unwrap();
    // A callback with a foreign state: one failed login.
    browser
        .get(&s.url("/auth/callback?code=x&state=nope"))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.api(&mut browser, "/api/contacts").await.status(), 200);
    assert_eq!(s.api(&mut browser, "/api/contacts").await.status(), 200);
    browser
        .send(reqwest::Method::POST, &s.url("/api/x"), &[])
        .await; // 403: no CSRF header
    browser.get(&s.url("/nowhere/../x")).await; // 400, unrouted

    let text = scrape(admin).await;
    assert!(
        value(
            &text,
            r#"bff_gateway_requests_total{route="api",method="read",status="2xx"}"#
        ) >= 2.0
    );
    assert_eq!(
        value(
            &text,
            r#"bff_gateway_requests_total{route="api",method="write",status="4xx"}"#
        ),
        1.0
    );
    assert!(
        value(
            &text,
            r#"bff_gateway_requests_total{route="auth",method="read",status="3xx"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"bff_gateway_request_duration_seconds_count{route="api"}"#
        ) >= 3.0
    );
    assert!(
        text.contains(r#"bff_gateway_request_duration_seconds_bucket{le="+Inf",route="api"}"#)
            || text
                .contains(r#"bff_gateway_request_duration_seconds_bucket{route="api",le="+Inf"}"#),
        "{text}"
    );
    assert_eq!(value(&text, "bff_gateway_logins_started_total"), 1.0);
    assert_eq!(value(&text, "bff_gateway_logins_completed_total"), 1.0);
    assert_eq!(
        value(&text, r#"bff_gateway_logins_failed_total{reason="state"}"#),
        1.0
    );
    assert!(
        value(
            &text,
            r#"bff_gateway_token_refreshes_total{outcome="succeeded"}"#
        ) >= 1.0
    );
    // Bounded labels: no raw path ever becomes a label value.
    assert!(
        !text.contains("/api/contacts") && !text.contains("nowhere"),
        "{text}"
    );
}

#[tokio::test]
async fn upstream_failures_are_counted_by_kind() {
    let dead = free_port();
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
         routes:\n  - name: dead\n    path: /\n    upstream: http://127.0.0.1:{dead}\n    auth: none\n"
    ))
    .await;
    one_upstream_error(&gw, "/x", 502, "dead", "connect").await;
}

/// `GET path` through `gw` answers `status`, and the scrape counts it once as an upstream error
/// of `kind` on `route` and once as a 5xx there; returns the scrape.
async fn one_upstream_error(
    gw: &TestGateway,
    path: &str,
    status: u16,
    route: &str,
    kind: &str,
) -> String {
    let response = crate::support::client()
        .get(gw.url(path))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    let text = scrape(gw.admin.unwrap()).await;
    let errors = format!(r#"bff_gateway_upstream_errors_total{{route="{route}",kind="{kind}"}}"#);
    assert_eq!(value(&text, &errors), 1.0, "{errors}");
    let requests =
        format!(r#"bff_gateway_requests_total{{route="{route}",method="read",status="5xx"}}"#);
    assert_eq!(value(&text, &requests), 1.0, "{requests}");
    text
}

/// Polls the scrape until `series` has `expected`, for up to 5 s; returns the last value.
async fn settles_at(admin: SocketAddr, series: &str, expected: f64) -> f64 {
    let mut last = f64::NAN;
    for _ in 0..50 {
        last = value(&scrape(admin).await, series);
        if last == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

/// A keep-alive connection that has been answered once and is then held open.
async fn answered_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the gateway answered")
            .unwrap();
        assert!(n > 0, "the gateway closed the connection");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[tokio::test]
async fn active_connections_follow_open_keep_alive_connections() {
    const SERIES: &str = "bff_gateway_active_connections";
    let api = TestUpstream::echo().await;
    let gw = TestGateway::with_routes(&format!(
        "  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ))
    .await;
    let admin = gw.admin.unwrap();
    // Scrapes go to the admin listener, which the gauge does not count.
    assert_eq!(value(&scrape(admin).await, SERIES), 0.0);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(answered_connection(gw.addr).await);
    }
    assert_eq!(
        value(&scrape(admin).await, SERIES),
        3.0,
        "three answered keep-alive connections are open"
    );
    held.truncate(1);
    assert_eq!(settles_at(admin, SERIES, 1.0).await, 1.0, "two were closed");
    drop(held);
    assert_eq!(settles_at(admin, SERIES, 0.0).await, 0.0, "all were closed");
}

#[tokio::test]
async fn upstream_timeouts_are_counted_as_timeout() {
    let api = TestUpstream::echo().await;
    let gw = TestGateway::with_routes(&format!(
        "  - name: slow\n    path: /\n    upstream: {}\n    auth: none\n    timeout: 300ms\n",
        api.url()
    ))
    .await;
    let text = one_upstream_error(&gw, "/slow/3000", 504, "slow", "timeout").await;
    assert_eq!(
        count(
            &text,
            r#"bff_gateway_upstream_errors_total{route="slow",kind="connect"}"#
        ),
        0.0
    );
}

/// A signed-in browser whose access token needs a refresh on its next API call.
async fn signed_in_with_an_expired_token() -> (Setup, Browser) {
    let signed = signed_in(Options::short_lived_tokens(Duration::from_secs(1))).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    signed
}

// checklist R4: a refused refresh (invalid_grant) ends the session and is counted as `refused`.
#[tokio::test]
async fn a_refresh_refused_with_invalid_grant_is_counted_as_refused() {
    let (s, mut browser) = signed_in_with_an_expired_token().await;
    s.provider.revoke_all();
    assert_eq!(s.api(&mut browser, "/api/x").await.status(), 401);
    let text = scrape(s.gateway.admin.unwrap()).await;
    assert_eq!(
        value(
            &text,
            r#"bff_gateway_token_refreshes_total{outcome="refused"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &text,
            r#"bff_gateway_token_refreshes_total{outcome="unavailable"}"#
        ),
        0.0
    );
}

// checklist R4: a provider that is down keeps the session and the refresh counts as `unavailable`.
#[tokio::test]
async fn a_refresh_while_the_provider_is_down_is_counted_as_unavailable() {
    let (s, mut browser) = signed_in_with_an_expired_token().await;
    let admin = s.gateway.admin.unwrap();
    let api = format!("{}/api/x", s.base);
    s.provider.shutdown().await;
    let response = browser
        .send(reqwest::Method::GET, &api, &[("x-csrf", "1")])
        .await;
    assert_eq!(response.status(), 503);
    let text = scrape(admin).await;
    assert_eq!(
        value(
            &text,
            r#"bff_gateway_token_refreshes_total{outcome="unavailable"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &text,
            r#"bff_gateway_token_refreshes_total{outcome="refused"}"#
        ),
        0.0
    );
}
