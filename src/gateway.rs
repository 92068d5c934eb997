//! The per-request pipeline; read this first. Phases, in order:
//!
//! 1. **request checks** — framing and target sanity (CL+TE, Host, absolute-form, URI length),
//!    path normalisation (checklist P1–P3);
//! 2. **route** — longest segment prefix, method allow-list, declared body size;
//! 3. **auth step** — the token handler plugs in here for routes with `auth` (next issue);
//! 4. **upstream request** — URL from config only (P4), hop-by-hop removal, `X-Forwarded-*`,
//!    `Host`, streamed and size-limited body;
//! 5. **forward** — pooled client, timeout, WebSocket tunnel;
//! 6. **response** — hop-by-hop removal; errors become JSON in `GatewayError::respond`;
//! 7. **access log** — one line: method, path (never the query), route, status, upstream, latency.
//!
//! Nothing here panics on request input, and nothing logs a header value.

use crate::body::{LimitedBody, ResponseBody};
use crate::config::Config;
use crate::error::GatewayError;
use crate::proxy::headers::{self, Peer};
use crate::proxy::{ClientSetupError, Forwarder, upgrade};
use crate::request_path;
use crate::router::{Route, Router};
use http::header::{CONTENT_LENGTH, HOST, HeaderValue, TRANSFER_ENCODING};
use http::{Method, Request, Response, Uri, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Client(#[from] ClientSetupError),
    #[error("a route's upstream or methods cannot be written as a header: {0}")]
    Header(#[from] http::header::InvalidHeaderValue),
}

/// Everything a request needs, built once per config generation.
pub struct Gateway {
    router: Router,
    forwarder: Forwarder,
    trusted_proxies: Vec<IpNet>,
    max_uri_bytes: usize,
}

impl Gateway {
    pub fn new(config: &Config) -> Result<Self, SetupError> {
        Ok(Self {
            router: Router::new(&config.routes)?,
            forwarder: Forwarder::new(&config.upstream)?,
            trusted_proxies: config.server.trusted_proxies.clone(),
            max_uri_bytes: config.server.limits.max_uri_bytes,
        })
    }

    /// Handles one request from a client at `peer_ip`; never fails, errors become responses.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer_ip: IpAddr,
        tls: bool,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let uri = request.uri().clone();
        let peer = Peer::new(peer_ip, tls, &self.trusted_proxies);
        let routed = self.route(&request);
        let route = routed.as_ref().ok().map(|(route, _)| *route);
        let result = match routed {
            Ok((route, path)) => self.forward(route, &path, request, &peer).await,
            Err(error) => Err(error),
        };
        let (route_name, upstream) = match route {
            Some(route) => (route.config.name.as_str(), route.upstream_label.as_str()),
            None => ("-", "-"),
        };
        let response = result.unwrap_or_else(|error| error.respond(route_name, upstream));
        tracing::info!(
            target: "bff_gateway::access",
            method = %method,
            path = uri.path(),
            route = route_name,
            status = response.status().as_u16(),
            upstream,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        );
        response
    }

    /// Phases 1 and 2: checks the request and picks its route. Returns the normalised path.
    fn route(&self, request: &Request<Incoming>) -> Result<(&Route, String), GatewayError> {
        check_framing(request)?;
        let uri = request.uri();
        let target_len = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
        if target_len > self.max_uri_bytes {
            return Err(GatewayError::UriTooLong {
                limit: self.max_uri_bytes,
            });
        }
        let path = request_path::normalise(uri.path())?;
        let route = self.router.route(&path).ok_or(GatewayError::NoRoute)?;
        let method = request.method();
        if let Some(allowed) = &route.config.methods
            && !allowed.contains(method)
        {
            return Err(GatewayError::MethodNotAllowed {
                method: method.clone(),
                allow: route.allow.clone(),
            });
        }
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > route.config.max_body_bytes) {
            return Err(GatewayError::BodyTooLarge {
                limit: route.config.max_body_bytes,
            });
        }
        Ok((route, path.into_owned()))
    }

    /// Phases 4 to 6 for a routed request.
    async fn forward(
        &self,
        route: &Route,
        path: &str,
        mut request: Request<Incoming>,
        peer: &Peer,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let config = &route.config;
        let websocket = if config.websocket {
            upgrade::websocket_request(&request)
                .map(|value| (value, hyper::upgrade::on(&mut request)))
        } else {
            None
        };
        let path_and_query = route
            .upstream_path(path, request.uri().query())
            .map_err(GatewayError::BuildRequest)?;
        let uri = Uri::builder()
            .scheme(config.upstream.scheme.clone())
            .authority(config.upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(GatewayError::BuildRequest)?;
        let (mut parts, body) = request.into_parts();
        let client_version = parts.version;
        let original_host = original_host(&parts);
        headers::remove_hop_by_hop(&mut parts.headers);
        headers::set_forwarded(&mut parts.headers, peer, original_host.as_ref());
        headers::set_host(
            &mut parts.headers,
            config.host_header,
            &route.upstream_host,
            original_host,
        );
        // Phase 3, the auth step, will set `Authorization` here (next issue).
        if let Some((value, _)) = &websocket {
            upgrade::restore_handshake(&mut parts.headers, value.clone());
        }
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let upstream_request =
            Request::from_parts(parts, LimitedBody::new(body, config.max_body_bytes));

        let mut response = self
            .forwarder
            .forward(upstream_request, config.timeout)
            .await?;
        let tunnelled = match websocket {
            Some((value, client)) => {
                upgrade::tunnel_if_switched(client, &mut response, value, &config.name)
            }
            None => false,
        };
        if !tunnelled {
            headers::remove_hop_by_hop(response.headers_mut());
        }
        // Answer in the client's protocol, whatever the upstream spoke.
        *response.version_mut() = client_version;
        Ok(response.map(Either::Left))
    }
}

/// Request smuggling and confused-deputy guards (checklist H4).
fn check_framing(request: &Request<Incoming>) -> Result<(), GatewayError> {
    let headers = request.headers();
    if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
        return Err(GatewayError::AmbiguousLength);
    }
    if request.method() == Method::CONNECT {
        return Err(GatewayError::MethodNotAllowed {
            method: Method::CONNECT,
            allow: None,
        });
    }
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::DuplicateHost);
    }
    let target = request.uri().authority();
    match (request.version(), host, target) {
        (Version::HTTP_11, None, _) => Err(GatewayError::MissingHost),
        // Absolute-form (HTTP/1) or `:authority` (HTTP/2) must agree with `Host`.
        (_, Some(host), Some(target))
            if !host
                .as_bytes()
                .eq_ignore_ascii_case(target.as_str().as_bytes()) =>
        {
            Err(GatewayError::ForeignTarget)
        }
        _ => Ok(()),
    }
}

/// The host the client addressed: `Host`, or HTTP/2's `:authority`.
fn original_host(parts: &http::request::Parts) -> Option<HeaderValue> {
    parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}
