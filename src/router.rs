//! Picks the route for a normalised path: the longest configured prefix that matches on a segment
//! boundary (`/api` matches `/api` and `/api/x`, never `/apix`), and builds the upstream
//! path-and-query from that route's config (checklist P4).
//!
//! The router must never look at `Host` or any `X-Forwarded-*` header: the upstream comes only
//! from config.

use crate::config::RouteConfig;
use crate::metrics::{Metrics, RouteMetrics};
use http::HeaderValue;
use http::header::InvalidHeaderValue;
use http::uri::PathAndQuery;
use std::sync::Arc;

/// A configured route, ready for the request path.
#[derive(Debug)]
pub struct Route {
    pub config: RouteConfig,
    /// `Allow` header value for 405 answers, when the route restricts methods.
    pub allow: Option<HeaderValue>,
    /// The upstream's authority as a `Host` value, built once.
    pub upstream_host: HeaderValue,
    /// What the route's logs and metrics name; shared with its streamed response bodies.
    pub report: Arc<RouteReport>,
    /// The upstream's number among the configuration's distinct upstreams (`scheme://authority`):
    /// its slot in each worker's connection pool.
    pub upstream_slot: usize,
}

/// A route as its log lines and metrics know it.
#[derive(Debug)]
pub struct RouteReport {
    pub name: String,
    /// `scheme://authority/base`.
    pub upstream: String,
    /// This route's counters and latency histogram.
    pub metrics: RouteMetrics,
}

#[derive(Debug)]
pub struct Router {
    /// Longest prefix first, so the first match is the right one.
    routes: Vec<Route>,
    /// How many distinct upstreams the routes name.
    upstreams: usize,
}

impl Router {
    pub fn new(configs: &[RouteConfig], metrics: &Metrics) -> Result<Self, InvalidHeaderValue> {
        let mut routes = Vec::with_capacity(configs.len());
        let mut upstreams: Vec<(&http::uri::Scheme, &http::uri::Authority)> = Vec::new();
        for config in configs {
            let upstream = (&config.upstream.scheme, &config.upstream.authority);
            let upstream_slot = match upstreams.iter().position(|known| *known == upstream) {
                Some(slot) => slot,
                None => {
                    upstreams.push(upstream);
                    upstreams.len() - 1
                }
            };
            let allow = match &config.methods {
                Some(methods) => {
                    let list: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
                    Some(HeaderValue::from_str(&list.join(", "))?)
                }
                None => None,
            };
            routes.push(Route {
                allow,
                upstream_host: HeaderValue::from_str(config.upstream.authority.as_str())?,
                report: Arc::new(RouteReport {
                    name: config.name.clone(),
                    upstream: config.upstream.to_string(),
                    metrics: metrics.route(&config.name),
                }),
                config: config.clone(),
                upstream_slot,
            });
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.config.path.len()));
        Ok(Self {
            routes,
            upstreams: upstreams.len(),
        })
    }

    /// How many distinct upstreams (`scheme://authority`) the routes name.
    pub fn upstreams(&self) -> usize {
        self.upstreams
    }

    /// The route for a path already passed through `request_path::normalise`.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|route| prefix_matches(&route.config.path, path))
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || (path.starts_with(prefix)
            && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/')))
}

impl Route {
    /// The upstream's path and query for a matched request: the route's base path, then the
    /// request path (minus the route prefix when `strip_prefix` is set), then the query as sent.
    pub fn upstream_path(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<PathAndQuery, http::Error> {
        let config = &self.config;
        let rest = if config.strip_prefix && config.path != "/" {
            &path[config.path.len().min(path.len())..]
        } else {
            path
        };
        let base = config.upstream.base_path.as_str();
        let mut out =
            String::with_capacity(base.len() + rest.len() + 2 + query.map_or(0, str::len));
        out.push_str(base);
        if rest.is_empty() {
            out.push('/');
        } else {
            out.push_str(rest);
        }
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        Ok(PathAndQuery::try_from(out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthMode, HostHeader, TokenKind, Unauthenticated, UpstreamUrl};
    use http::uri::{Authority, Scheme};
    use std::time::Duration;

    fn route(path: &str, base: &str, strip: bool) -> RouteConfig {
        RouteConfig {
            name: path.to_owned(),
            path: path.to_owned(),
            upstream: UpstreamUrl {
                scheme: Scheme::HTTP,
                authority: Authority::from_static("127.0.0.1:1"),
                base_path: base.to_owned(),
            },
            strip_prefix: strip,
            timeout: Duration::from_secs(1),
            max_body_bytes: 1,
            host_header: HostHeader::Upstream,
            websocket: false,
            methods: None,
            auth: AuthMode::None,
            token: TokenKind::None,
            csrf: true,
            unauthenticated: Unauthenticated::Auto,
        }
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let router = Router::new(
            &[
                route("/", "", false),
                route("/api", "", false),
                route("/api/admin", "", false),
            ],
            &Metrics::new(),
        )
        .unwrap();
        let pick = |p: &str| router.route(p).map(|r| r.config.path.as_str());
        assert_eq!(pick("/api"), Some("/api"));
        assert_eq!(pick("/api/"), Some("/api"));
        assert_eq!(pick("/api/x"), Some("/api"));
        assert_eq!(pick("/apix"), Some("/"));
        assert_eq!(pick("/api/admin/users"), Some("/api/admin"));
        assert_eq!(pick("/api/administrator"), Some("/api"));
    }

    #[test]
    fn no_route_matches_outside_every_prefix() {
        let router = Router::new(&[route("/api", "", false)], &Metrics::new()).unwrap();
        assert!(router.route("/").is_none());
        assert!(router.route("/apix").is_none());
        assert!(router.route("/static/api").is_none());
    }

    #[test]
    fn upstream_path_strips_prefix_and_joins_base_path() {
        let router = Router::new(&[route("/api", "/v1", true)], &Metrics::new()).unwrap();
        let r = router.route("/api/contacts").unwrap();
        assert_eq!(
            r.upstream_path("/api/contacts", Some("a=1")).unwrap(),
            "/v1/contacts?a=1"
        );
        assert_eq!(r.upstream_path("/api", None).unwrap(), "/v1/");

        let keep = Router::new(&[route("/api", "", false)], &Metrics::new()).unwrap();
        let r = keep.route("/api/x").unwrap();
        assert_eq!(r.upstream_path("/api/x", None).unwrap(), "/api/x");
    }

    #[test]
    fn routes_to_the_same_upstream_share_a_pool_slot() {
        let mut other = route("/other", "", false);
        other.upstream.authority = Authority::from_static("127.0.0.1:2");
        let mut tls = route("/tls", "", false);
        tls.upstream.scheme = Scheme::HTTPS;
        let router = Router::new(
            &[
                route("/api", "/v1", true),
                other,
                route("/", "", false),
                tls,
            ],
            &Metrics::new(),
        )
        .unwrap();
        assert_eq!(router.upstreams(), 3);
        let slot = |p: &str| router.route(p).map(|r| r.upstream_slot);
        assert_eq!(
            slot("/api/x"),
            slot("/index.html"),
            "one authority, one slot"
        );
        assert_ne!(slot("/api/x"), slot("/other"));
        assert_ne!(slot("/api/x"), slot("/tls"), "the scheme is part of it");
        assert!(router.routes.iter().all(|r| r.upstream_slot < 3));
    }
}
