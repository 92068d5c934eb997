//! `GET /metrics` on the admin listener after real traffic (issue 5): requests by route, method
//! class and status class, latency histograms, upstream errors, logins, refreshes, connections.

use crate::auth::{Options, setup};
use crate::support::browser::Browser;
use std::time::Duration;

async fn scrape(admin: std::net::SocketAddr) -> String {
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

#[tokio::test]
async fn metrics_count_requests_logins_refreshes_and_upstream_errors() {
    let mut options = Options::default();
    options.provider.access_token_ttl = Duration::from_secs(1);
    options.session_extra = "  refresh_skew: 1s\n".to_owned();
    let s = setup(options).await;
    let admin = s.gateway.admin.unwrap();
    let mut browser = Browser::new();
    s.login(&mut browser).await;
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
    assert!(value(&text, "bff_gateway_active_connections") >= 0.0);
    // Bounded labels: no raw path ever becomes a label value.
    assert!(
        !text.contains("/api/contacts") && !text.contains("nowhere"),
        "{text}"
    );
}

#[tokio::test]
async fn upstream_failures_are_counted_by_kind() {
    let dead = crate::auth::free_port();
    let gw = crate::support::TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
         routes:\n  - name: dead\n    path: /\n    upstream: http://127.0.0.1:{dead}\n    auth: none\n"
    ))
    .await;
    let response = crate::support::client()
        .get(format!("http://{}/x", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let text = scrape(gw.admin.unwrap()).await;
    assert_eq!(
        value(
            &text,
            r#"bff_gateway_upstream_errors_total{route="dead",kind="connect"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"bff_gateway_requests_total{route="dead",method="read",status="5xx"}"#
        ),
        1.0
    );
}
