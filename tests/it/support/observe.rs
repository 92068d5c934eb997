//! What a test reads off a running gateway besides its answers: the admin listener's metrics and
//! the real binary's JSON log lines.

use crate::support::process::GatewayProcess;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// `GET /metrics` on the admin listener.
pub async fn scrape(admin: SocketAddr) -> String {
    let response = crate::support::client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .expect("scrape the admin listener");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of one series (name with its labels, as printed); 0 when it is not exported yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// One series, scraped now.
pub async fn metric_now(admin: SocketAddr, series: &str) -> f64 {
    metric(&scrape(admin).await, series)
}

/// The status of `GET /readyz` on the admin listener.
pub async fn readyz(admin: SocketAddr) -> u16 {
    crate::support::client()
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .expect("ask the admin listener")
        .status()
        .as_u16()
}

/// Series of the token handler's counters, as `metric` reads them.
pub const LOGINS_FAILED_AT_EXCHANGE: &str =
    r#"bff_gateway_logins_failed_total{reason="code_exchange"}"#;
pub const LOGINS_FAILED_AT_ID_TOKEN: &str = r#"bff_gateway_logins_failed_total{reason="id_token"}"#;
pub const REFRESHES_UNAVAILABLE: &str =
    r#"bff_gateway_token_refreshes_total{outcome="unavailable"}"#;
pub const REFRESHES_REFUSED: &str = r#"bff_gateway_token_refreshes_total{outcome="refused"}"#;

/// The real binary's JSON log lines read so far.
#[derive(Default)]
pub struct Log {
    pub events: Vec<serde_json::Value>,
}

impl Log {
    /// Waits (at most 10 s) until an event whose fields contain every `(field, part)` has been
    /// logged (`message`, `target`, `route`, `error`, ...; numbers compare as their decimal
    /// text); returns it.
    pub async fn wait_for(
        &mut self,
        gateway: &GatewayProcess,
        fields: &[(&str, &str)],
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.events.extend(gateway.drain_lines().iter().map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
            }));
            if let Some(event) = self.events.iter().find(|e| matches(e, fields)) {
                return event.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {fields:?} in {:#?}",
                self.events
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the access-log line of a request to `path` on `route` answered with `status`.
    pub async fn wait_for_access(
        &mut self,
        gateway: &GatewayProcess,
        route: &str,
        path: &str,
        status: u16,
    ) -> serde_json::Value {
        let status = status.to_string();
        self.wait_for(
            gateway,
            &[
                ("target", "bff_gateway::access"),
                ("route", route),
                ("path", path),
                ("status", &status),
            ],
        )
        .await
    }
}

fn matches(event: &serde_json::Value, fields: &[(&str, &str)]) -> bool {
    fields.iter().all(|(field, part)| {
        let value = &event[*field];
        value
            .as_str()
            .map(str::to_owned)
            .or_else(|| value.as_u64().map(|n| n.to_string()))
            .is_some_and(|text| text.contains(part))
    })
}
