//! Prometheus metrics for `GET /metrics` on the admin listener (prometheus-client text format).
//!
//! Label values are bounded: route names from the config (plus `auth` for the token handler's
//! endpoints and `-` for requests that matched nothing), method and status *classes*, and fixed
//! reason words — never a raw path, host or header.
//!
//! The request path only touches atomics: every route gets its counters and its latency
//! histogram once, when a config generation is built ([`RouteMetrics`]), and the histogram is
//! lock-free ([`LatencyHistogram`]).

use http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    route: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The process's metrics; one instance lives for the whole process (across config reloads).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, LatencyHistogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    logins_failed: Family<ReasonLabel, Counter>,
    refreshes: Family<OutcomeLabel, Counter>,
    config_reloads: Family<OutcomeLabel, Counter>,
    logins_started: Counter,
    logins_completed: Counter,
    active_connections: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bff_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route, method class (read: GET/HEAD/OPTIONS; write: the rest) and status class",
            requests.clone(),
        );
        let latency = Family::<RouteLabel, LatencyHistogram>::default();
        registry.register_with_unit(
            "request_duration",
            "Time from request headers to response headers, by route",
            Unit::Seconds,
            latency.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream failures by route and kind (connect, timeout, other)",
            upstream_errors.clone(),
        );
        let logins_started = Counter::default();
        registry.register(
            "logins_started",
            "Logins sent to the provider",
            logins_started.clone(),
        );
        let logins_completed = Counter::default();
        registry.register(
            "logins_completed",
            "Logins that ended with a new session",
            logins_completed.clone(),
        );
        let logins_failed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "logins_failed",
            "Logins that ended without a session, by reason",
            logins_failed.clone(),
        );
        let refreshes = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "token_refreshes",
            "Token refreshes by outcome (succeeded, refused, unavailable)",
            refreshes.clone(),
        );
        let config_reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads by outcome (applied, invalid)",
            config_reloads.clone(),
        );
        let active_connections = Gauge::default();
        registry.register(
            "active_connections",
            "Client connections open now",
            active_connections.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            upstream_errors,
            logins_failed,
            refreshes,
            config_reloads,
            logins_started,
            logins_completed,
            active_connections,
        }
    }

    /// The handles one route (or `auth`, or `-`) updates on the request path.
    pub fn route(&self, route: &str) -> RouteMetrics {
        let mut requests = Vec::with_capacity(2 * STATUS_CLASSES.len());
        for method in METHOD_CLASSES {
            for status in STATUS_CLASSES {
                requests.push(self.requests.get_or_create_owned(&RequestLabels {
                    route: route.to_owned(),
                    method,
                    status,
                }));
            }
        }
        let error = |kind| {
            self.upstream_errors
                .get_or_create_owned(&UpstreamErrorLabels {
                    route: route.to_owned(),
                    kind,
                })
        };
        RouteMetrics(Arc::new(RouteHandles {
            requests,
            latency: self.latency.get_or_create_owned(&RouteLabel {
                route: route.to_owned(),
            }),
            upstream_connect: error("connect"),
            upstream_timeout: error("timeout"),
            upstream_other: error("other"),
            upstream_body: error("body"),
        }))
    }

    /// The handles of the token handler.
    pub fn auth(&self) -> AuthMetrics {
        let failed = |reason| {
            self.logins_failed
                .get_or_create_owned(&ReasonLabel { reason })
        };
        let refresh = |outcome| {
            self.refreshes
                .get_or_create_owned(&OutcomeLabel { outcome })
        };
        AuthMetrics {
            logins_started: self.logins_started.clone(),
            logins_completed: self.logins_completed.clone(),
            logins_failed: LOGIN_FAILURES
                .map(|reason| (reason, failed(reason)))
                .to_vec(),
            refresh_succeeded: refresh("succeeded"),
            refresh_refused: refresh("refused"),
            refresh_unavailable: refresh("unavailable"),
        }
    }

    /// Counts a configuration reload: `applied` or `invalid`.
    pub fn config_reload(&self, outcome: &'static str) {
        self.config_reloads
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// The gauge of open client connections.
    pub fn active_connections(&self) -> Gauge {
        self.active_connections.clone()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

const METHOD_CLASSES: [&str; 2] = ["read", "write"];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Why a login ended without a session; the label values of `logins_failed`.
pub const LOGIN_FAILURES: [&str; 8] = [
    "provider_error",
    "provider_not_ready",
    "state",
    "issuer",
    "code_exchange",
    "id_token",
    "session_too_large",
    "other",
];

struct RouteHandles {
    /// `[method class][status class]`, flattened.
    requests: Vec<Counter>,
    latency: LatencyHistogram,
    upstream_connect: Counter,
    upstream_timeout: Counter,
    upstream_other: Counter,
    upstream_body: Counter,
}

/// A route's metric handles (cheap to clone; updates are atomic operations).
#[derive(Clone)]
pub struct RouteMetrics(Arc<RouteHandles>);

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteMetrics")
    }
}

/// What kind of upstream failure a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Connect,
    Timeout,
    Other,
    /// The response body broke off after its headers were passed on (reset, early close).
    Body,
}

impl RouteMetrics {
    /// Counts one answered request and its latency.
    pub fn observe(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        let method_class = usize::from(!matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS
        ));
        let status_class = usize::from((status.as_u16() / 100).clamp(1, 5) - 1);
        if let Some(counter) = self
            .0
            .requests
            .get(method_class * STATUS_CLASSES.len() + status_class)
        {
            counter.inc();
        }
        self.0.latency.observe(elapsed);
    }

    pub fn upstream_failure(&self, failure: UpstreamFailure) {
        match failure {
            UpstreamFailure::Connect => self.0.upstream_connect.inc(),
            UpstreamFailure::Timeout => self.0.upstream_timeout.inc(),
            UpstreamFailure::Other => self.0.upstream_other.inc(),
            UpstreamFailure::Body => self.0.upstream_body.inc(),
        };
    }
}

/// The token handler's metric handles.
#[derive(Clone, Debug, Default)]
pub struct AuthMetrics {
    logins_started: Counter,
    logins_completed: Counter,
    logins_failed: Vec<(&'static str, Counter)>,
    refresh_succeeded: Counter,
    refresh_refused: Counter,
    refresh_unavailable: Counter,
}

impl AuthMetrics {
    pub fn login_started(&self) {
        self.logins_started.inc();
    }

    pub fn login_completed(&self) {
        self.logins_completed.inc();
    }

    /// `reason` is one of [`LOGIN_FAILURES`]; anything else counts as `other`.
    pub fn login_failed(&self, reason: &str) {
        let counter = self
            .logins_failed
            .iter()
            .find(|(r, _)| *r == reason)
            .or_else(|| self.logins_failed.iter().find(|(r, _)| *r == "other"));
        if let Some((_, counter)) = counter {
            counter.inc();
        }
    }

    pub fn refresh_succeeded(&self) {
        self.refresh_succeeded.inc();
    }

    pub fn refresh_refused(&self) {
        self.refresh_refused.inc();
    }

    pub fn refresh_unavailable(&self) {
        self.refresh_unavailable.inc();
    }
}

/// A latency histogram with fixed buckets and atomic counts (no lock on the request path).
#[derive(Debug)]
pub struct LatencyHistogram(Arc<HistogramCells>);

#[derive(Debug)]
struct HistogramCells {
    /// Per bucket (not cumulative), the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self(Arc::new(HistogramCells {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }))
    }
}

impl Clone for LatencyHistogram {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(bucket) = self.0.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.0.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let count = self.0.count.load(Ordering::Relaxed);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_method_and_status_class() {
        let metrics = Metrics::new();
        let api = metrics.route("api");
        api.observe(&Method::GET, StatusCode::OK, Duration::from_millis(3));
        api.observe(
            &Method::POST,
            StatusCode::BAD_GATEWAY,
            Duration::from_secs(20),
        );
        api.upstream_failure(UpstreamFailure::Timeout);
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                r#"bff_gateway_requests_total{route="api",method="read",status="2xx"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"bff_gateway_requests_total{route="api",method="write",status="5xx"} 1"#
            )
        );
        assert!(
            text.contains(
                r#"bff_gateway_request_duration_seconds_bucket{le="0.005",route="api"} 1"#
            ) || text.contains(
                r#"bff_gateway_request_duration_seconds_bucket{route="api",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"bff_gateway_request_duration_seconds_count{route="api"} 2"#));
        assert!(
            text.contains(r#"bff_gateway_upstream_errors_total{route="api",kind="timeout"} 1"#)
        );
    }

    #[test]
    fn login_failures_outside_the_list_count_as_other() {
        let metrics = Metrics::new();
        let auth = metrics.auth();
        auth.login_failed("state");
        auth.login_failed("made up");
        let text = metrics.render().unwrap();
        assert!(text.contains(r#"bff_gateway_logins_failed_total{reason="state"} 1"#));
        assert!(text.contains(r#"bff_gateway_logins_failed_total{reason="other"} 1"#));
    }
}
