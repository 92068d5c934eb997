//! Turns the raw mirror into [`Config`]: interpolates each value, types it, applies defaults and
//! checks what no type can (duplicate routes, impossible limits, unsafe upstreams).
//!
//! Every problem is collected, so one run of `bff-gateway check` lists them all. Messages name
//! the key path and line; they never repeat a value, which may have come from a secret.

use super::lines::KeyLines;
use super::raw::{RawConfig, RawLimits, RawRoute, RawServer, RawUpstreamClient, Scalar};
use super::{
    AuthMode, Config, Env, HostHeader, Limits, Problem, PublicUrl, RouteConfig, ServerConfig,
    TlsFiles, TokenKind, Unauthenticated, UpstreamClientConfig, UpstreamUrl, Workers, interpolate,
};
use http::Method;
use http::uri::{Authority, Scheme, Uri};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// hyper refuses a smaller read buffer; the whole header block must fit in it.
const MIN_HEADER_BYTES: usize = 8192;

pub fn validate(
    raw: RawConfig,
    lines: &KeyLines,
    base: &Path,
    env: &Env<'_>,
) -> Result<Config, Vec<Problem>> {
    let mut c = Checker {
        lines,
        env,
        base,
        problems: Vec::new(),
    };
    let server = c.server(&raw.server);
    let upstream = c.upstream_client(&raw.upstream);
    let token_handler = c.token_handler(
        raw.oauth.as_ref(),
        raw.session.as_ref(),
        raw.auth.as_ref(),
        &server.public_url,
    );
    let has_oauth = raw.oauth.is_some();
    let routes = c.routes(&raw.routes, server.limits.max_body_bytes, has_oauth);
    if token_handler.is_some() && server.limits.max_header_bytes < MIN_HEADER_BYTES_WITH_OAUTH {
        c.problem(
            "server.limits.max_header_bytes",
            format!("must be at least {MIN_HEADER_BYTES_WITH_OAUTH} bytes with `oauth:`: the session cookie (often several KiB of tokens) travels in the request headers"),
        );
    }
    if let Some(th) = &token_handler {
        let prefix = th.auth.path_prefix.as_str();
        for (i, route) in routes.iter().enumerate() {
            let under = route.path == prefix || route.path.starts_with(&format!("{prefix}/"));
            if under {
                c.problem(
                    &format!("routes[{i}].path"),
                    format!("is under `auth.path_prefix` ({prefix}), whose endpoints come first; this route could never be reached"),
                );
            }
        }
    }
    if c.problems.is_empty() {
        Ok(Config {
            server,
            upstream,
            token_handler,
            routes,
        })
    } else {
        Err(c.problems)
    }
}

/// With a token handler, requests carry the session cookie: keep room for it (checklist S4).
const MIN_HEADER_BYTES_WITH_OAUTH: usize = 8192;

pub(super) struct Checker<'a> {
    lines: &'a KeyLines,
    env: &'a Env<'a>,
    base: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn has_problem_under(&self, prefix: &str) -> bool {
        self.problems.iter().any(|p| p.key.starts_with(prefix))
    }

    pub(super) fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_owned(),
            position: self.lines.find(key),
            message: message.into(),
        });
    }

    /// Interpolates and parses one value; on failure records the problem and returns `fallback`
    /// so that checking goes on and every problem is reported at once.
    pub(super) fn value<T>(
        &mut self,
        key: &str,
        scalar: Option<&Scalar>,
        fallback: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some(scalar) = scalar else {
            return fallback;
        };
        let text = match interpolate(&scalar.0, self.env) {
            Ok(text) => text,
            Err(e) => {
                self.problem(key, e.to_string());
                return fallback;
            }
        };
        match parse(text.trim()) {
            Ok(v) => v,
            Err(message) => {
                self.problem(key, message);
                fallback
            }
        }
    }

    fn server(&mut self, raw: &RawServer) -> ServerConfig {
        let unspecified = SocketAddr::from(([127, 0, 0, 1], 0));
        let listen = self.value(
            "server.listen",
            Some(&raw.listen),
            unspecified,
            parse_socket_addr,
        );
        let admin_listen = raw.admin_listen.as_ref().map(|s| {
            self.value(
                "server.admin_listen",
                Some(s),
                unspecified,
                parse_socket_addr,
            )
        });
        if admin_listen == Some(listen) && listen.port() != 0 {
            self.problem(
                "server.admin_listen",
                "must differ from `server.listen`; give the admin listener its own port",
            );
        }
        let public_url = self.value(
            "server.public_url",
            Some(&raw.public_url),
            PublicUrl {
                scheme: Scheme::HTTP,
                authority: Authority::from_static("localhost"),
            },
            parse_public_url,
        );
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let key = format!("server.trusted_proxies[{i}]");
                self.value(&key, Some(s), None, |t| parse_cidr(t).map(Some))
            })
            .collect();
        let tls = raw.tls.as_ref().map(|tls| TlsFiles {
            cert_file: self.file("server.tls.cert_file", &tls.cert_file),
            key_file: self.file("server.tls.key_file", &tls.key_file),
        });
        let limits = self.limits(&raw.limits);
        let shutdown_delay = self.value(
            "server.shutdown_delay",
            raw.shutdown_delay.as_ref(),
            Duration::ZERO,
            // Unlike the timeouts, `0s` is meaningful here: no delay.
            |text| match humantime::parse_duration(text) {
                Ok(d) if d.is_zero() => Ok(d),
                _ => parse_duration(text),
            },
        );
        let shutdown_grace = self.value(
            "server.shutdown_grace",
            raw.shutdown_grace.as_ref(),
            Duration::from_secs(30),
            parse_duration,
        );
        let workers = self.value(
            "server.workers",
            raw.workers.as_ref(),
            Workers::Auto,
            parse_workers,
        );
        ServerConfig {
            listen,
            admin_listen,
            public_url,
            trusted_proxies,
            tls,
            limits,
            shutdown_delay,
            shutdown_grace,
            workers,
        }
    }

    fn limits(&mut self, raw: &RawLimits) -> Limits {
        let k = "server.limits";
        let limits = Limits {
            max_header_bytes: self.value(
                &format!("{k}.max_header_bytes"),
                raw.max_header_bytes.as_ref(),
                16 * 1024,
                |t| usize_from(parse_bytes(t)?),
            ),
            max_headers: self.value(
                &format!("{k}.max_headers"),
                raw.max_headers.as_ref(),
                100,
                parse_positive,
            ),
            max_uri_bytes: self.value(
                &format!("{k}.max_uri_bytes"),
                raw.max_uri_bytes.as_ref(),
                8 * 1024,
                |t| usize_from(parse_bytes(t)?),
            ),
            max_body_bytes: self.value(
                &format!("{k}.max_body_bytes"),
                raw.max_body_bytes.as_ref(),
                10 * 1024 * 1024,
                parse_bytes,
            ),
            header_read_timeout: self.value(
                &format!("{k}.header_read_timeout"),
                raw.header_read_timeout.as_ref(),
                Duration::from_secs(10),
                parse_duration,
            ),
            tls_handshake_timeout: self.value(
                &format!("{k}.tls_handshake_timeout"),
                raw.tls_handshake_timeout.as_ref(),
                Duration::from_secs(10),
                parse_duration,
            ),
            max_connections: self.value(
                &format!("{k}.max_connections"),
                raw.max_connections.as_ref(),
                10_000,
                parse_positive,
            ),
            h2_max_concurrent_streams: self.value(
                &format!("{k}.h2_max_concurrent_streams"),
                raw.h2_max_concurrent_streams.as_ref(),
                200,
                |t| u32::try_from(parse_positive(t)?).map_err(|_| "too large".to_owned()),
            ),
        };
        if limits.max_header_bytes < MIN_HEADER_BYTES {
            self.problem(
                &format!("{k}.max_header_bytes"),
                format!("must be at least {MIN_HEADER_BYTES} (8KiB); browsers send more"),
            );
        }
        if limits.max_uri_bytes > limits.max_header_bytes {
            self.problem(
                &format!("{k}.max_uri_bytes"),
                "cannot exceed `max_header_bytes`: the request line is part of the header block",
            );
        }
        limits
    }

    fn upstream_client(&mut self, raw: &RawUpstreamClient) -> UpstreamClientConfig {
        UpstreamClientConfig {
            connect_timeout: self.value(
                "upstream.connect_timeout",
                raw.connect_timeout.as_ref(),
                Duration::from_secs(5),
                parse_duration,
            ),
            pool_idle_timeout: self.value(
                "upstream.pool_idle_timeout",
                raw.pool_idle_timeout.as_ref(),
                Duration::from_secs(90),
                parse_duration,
            ),
            pool_max_idle_per_host: self.value(
                "upstream.pool_max_idle_per_host",
                raw.pool_max_idle_per_host.as_ref(),
                256,
                |t| t.parse().map_err(|_| "expected a whole number".to_owned()),
            ),
            extra_ca_file: raw
                .extra_ca_file
                .as_ref()
                .map(|s| self.file("upstream.extra_ca_file", s)),
        }
    }

    /// A path to a file that must exist; relative paths are relative to the config's folder.
    pub(super) fn file(&mut self, key: &str, scalar: &Scalar) -> PathBuf {
        let base = self.base;
        self.value(key, Some(scalar), PathBuf::new(), |t| {
            let path = base.join(t);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("file {} does not exist", path.display()))
            }
        })
    }

    fn routes(&mut self, raw: &[RawRoute], default_body: u64, has_oauth: bool) -> Vec<RouteConfig> {
        if raw.is_empty() {
            self.problem(
                "routes",
                "no routes; add at least one `- path: / upstream: ...`",
            );
        }
        let routes: Vec<RouteConfig> = raw
            .iter()
            .enumerate()
            .map(|(i, r)| self.route(&format!("routes[{i}]"), r, default_body, has_oauth))
            .collect();
        for (i, route) in routes.iter().enumerate() {
            if let Some(j) = routes[..i].iter().position(|r| r.path == route.path) {
                self.problem(
                    &format!("routes[{i}].path"),
                    format!("same prefix as routes[{j}]; this route could never be reached"),
                );
            } else if let Some(j) = routes[..i].iter().position(|r| r.name == route.name) {
                self.problem(
                    &format!("routes[{i}].name"),
                    format!("same name as routes[{j}]; route names label logs and metrics"),
                );
            }
        }
        routes
    }

    fn route(
        &mut self,
        k: &str,
        raw: &RawRoute,
        default_body: u64,
        has_oauth: bool,
    ) -> RouteConfig {
        let path = self.value(
            &format!("{k}.path"),
            Some(&raw.path),
            "/".to_owned(),
            parse_route_path,
        );
        let allow_plain_http = self.value(
            &format!("{k}.allow_plain_http"),
            raw.allow_plain_http.as_ref(),
            false,
            parse_bool,
        );
        let upstream = self.value(
            &format!("{k}.upstream"),
            Some(&raw.upstream),
            UpstreamUrl {
                scheme: Scheme::HTTP,
                authority: Authority::from_static("localhost"),
                base_path: String::new(),
            },
            |t| parse_upstream(t, allow_plain_http),
        );
        let methods = raw.methods.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    let key = format!("{k}.methods[{i}]");
                    self.value(&key, Some(s), Method::GET, parse_method)
                })
                .collect::<Vec<_>>()
        });
        let websocket = self.value(
            &format!("{k}.websocket"),
            raw.websocket.as_ref(),
            false,
            parse_bool,
        );
        if websocket && methods.as_ref().is_some_and(|m| !m.contains(&Method::GET)) {
            self.problem(
                &format!("{k}.methods"),
                "a `websocket: true` route must allow GET (WebSocket upgrades are GET requests)",
            );
        }
        let auth = self.value(
            &format!("{k}.auth"),
            raw.auth.as_ref(),
            AuthMode::Required,
            parse_auth,
        );
        if auth != AuthMode::None && !has_oauth {
            self.problem(
                &format!("{k}.auth"),
                "signed-in routes (the default) need the token handler: add an `oauth:` section, \
                 or write `auth: none` for a route that needs no sign-in",
            );
        }
        let csrf = self.value(&format!("{k}.csrf"), raw.csrf.as_ref(), true, parse_bool);
        let unauthenticated = self.value(
            &format!("{k}.unauthenticated"),
            raw.unauthenticated.as_ref(),
            Unauthenticated::Auto,
            |t| match t {
                "auto" => Ok(Unauthenticated::Auto),
                "status" => Ok(Unauthenticated::Status),
                "redirect" => Ok(Unauthenticated::Redirect),
                _ => Err("expected `auto` (401 for fetch, login redirect for page loads), `status` or `redirect`".to_owned()),
            },
        );
        let token = self.value(
            &format!("{k}.token"),
            raw.token.as_ref(),
            TokenKind::AccessToken,
            parse_token,
        );
        RouteConfig {
            name: self.value(
                &format!("{k}.name"),
                raw.name.as_ref(),
                path.clone(),
                parse_name,
            ),
            path,
            upstream,
            strip_prefix: self.value(
                &format!("{k}.strip_prefix"),
                raw.strip_prefix.as_ref(),
                false,
                parse_bool,
            ),
            timeout: self.value(
                &format!("{k}.timeout"),
                raw.timeout.as_ref(),
                Duration::from_secs(30),
                parse_duration,
            ),
            max_body_bytes: self.value(
                &format!("{k}.max_body_bytes"),
                raw.max_body_bytes.as_ref(),
                default_body,
                parse_bytes,
            ),
            host_header: self.value(
                &format!("{k}.host_header"),
                raw.host_header.as_ref(),
                HostHeader::Upstream,
                |t| match t {
                    "upstream" => Ok(HostHeader::Upstream),
                    "preserve" => Ok(HostHeader::Preserve),
                    _ => Err("expected `upstream` or `preserve`".to_owned()),
                },
            ),
            websocket,
            methods,
            auth,
            token,
            csrf,
            unauthenticated,
        }
    }
}

fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected an IP address and port, like `127.0.0.1:8080`, `0.0.0.0:8080` or `[::]:8080`"
            .to_owned()
    })
}

fn parse_public_url(text: &str) -> Result<PublicUrl, String> {
    let uri: Uri = text
        .parse()
        .map_err(|_| "expected an origin like `https://app.example.com`".to_owned())?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::HTTPS,
        Some("http") => Scheme::HTTP,
        _ => return Err("must start with `https://` (or `http://` for local use)".to_owned()),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| "needs a host, like `https://app.example.com`".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("must not contain user information (`user@`)".to_owned());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("must be an origin only (scheme, host, port), without a path or query".into());
    }
    Ok(PublicUrl { scheme, authority })
}

fn parse_upstream(text: &str, allow_plain_http: bool) -> Result<UpstreamUrl, String> {
    let uri: Uri = text
        .parse()
        .map_err(|_| "expected a URL like `http://127.0.0.1:3000` or `https://api.internal`")?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::HTTPS,
        Some("http") => Scheme::HTTP,
        _ => return Err("must start with `http://` or `https://`".to_owned()),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| "needs a host, like `http://127.0.0.1:3000`".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("must not contain user information (`user@`)".to_owned());
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("must not contain a query or fragment".to_owned());
    }
    if scheme == Scheme::HTTP && !allow_plain_http && !is_loopback_host(authority.host()) {
        return Err(
            "plain `http://` is only allowed to loopback hosts; use `https://`, or set \
             `allow_plain_http: true` on this route for a trusted network (tokens travel in clear)"
                .to_owned(),
        );
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    if base_path.contains("//") || base_path.split('/').any(|s| s == "." || s == "..") {
        return Err("the path part must not contain `//`, `.` or `..` segments".to_owned());
    }
    Ok(UpstreamUrl {
        scheme,
        authority,
        base_path,
    })
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn parse_route_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("must start with `/`, like `/api`".to_owned());
    }
    if text.contains(['?', '#', '%', '\\']) || text.chars().any(|c| c.is_control() || c == ' ') {
        return Err("must be a plain path: no query, `%`-escapes, `\\` or spaces".to_owned());
    }
    if text.contains("//") || text.split('/').any(|s| s == "." || s == "..") {
        return Err("must not contain `//`, `.` or `..` segments".to_owned());
    }
    let trimmed = text.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_owned())
}

fn parse_name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(text.to_owned())
    } else {
        Err("use 1–64 characters from letters, digits, `-`, `_`, `.` and `/`".to_owned())
    }
}

fn parse_method(text: &str) -> Result<Method, String> {
    let valid = !text.is_empty() && text.chars().all(|c| c.is_ascii_uppercase());
    if !valid || text == "CONNECT" {
        return Err(
            "expected an HTTP method in capitals, like `GET` or `POST` (not CONNECT)".into(),
        );
    }
    Method::from_bytes(text.as_bytes()).map_err(|_| "not an HTTP method".to_owned())
}

fn parse_auth(text: &str) -> Result<AuthMode, String> {
    match text {
        "none" => Ok(AuthMode::None),
        "optional" => Ok(AuthMode::Optional),
        "required" => Ok(AuthMode::Required),
        _ => Err("expected `required`, `optional` or `none`".to_owned()),
    }
}

fn parse_token(text: &str) -> Result<TokenKind, String> {
    match text {
        "access_token" => Ok(TokenKind::AccessToken),
        "id_token" => Ok(TokenKind::IdToken),
        "none" => Ok(TokenKind::None),
        _ => Err("expected `access_token`, `id_token` or `none`".to_owned()),
    }
}

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| "expected an address or CIDR range, like `10.0.0.0/8` or `::1`".to_owned())
}

pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected `true` or `false`".to_owned()),
    }
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|_| "expected a duration with a unit, like `500ms`, `30s` or `2m`".to_owned())?;
    if d.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(d)
}

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".to_owned()),
    }
}

/// `1048576`, `512KiB`, `10MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err("expected a size like `65536`, `64KiB`, `10MiB` or `1GiB`".to_owned()),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a size like `65536`, `64KiB`, `10MiB` or `1GiB`".to_owned())?;
    match n.checked_mul(scale) {
        Some(0) => Err("must be larger than zero".to_owned()),
        Some(v) => Ok(v),
        None => Err("too large".to_owned()),
    }
}

fn parse_workers(text: &str) -> Result<Workers, String> {
    if text == "auto" {
        return Ok(Workers::Auto);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=Workers::MAX).contains(&n) => Ok(Workers::Fixed(n)),
        _ => Err(format!(
            "expected `auto` or a number of worker threads from 1 to {}",
            Workers::MAX
        )),
    }
}

fn usize_from(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| "too large for this machine".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_auto_or_a_bounded_count() {
        assert_eq!(parse_workers("auto"), Ok(Workers::Auto));
        assert_eq!(parse_workers("4"), Ok(Workers::Fixed(4)));
        for bad in ["0", "-1", "257", "two", ""] {
            assert!(parse_workers(bad).is_err(), "{bad}");
        }
        assert!(Workers::Auto.count() >= 1);
    }

    #[test]
    fn byte_sizes_parse_with_units() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2MB"), Ok(2_000_000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }

    #[test]
    fn route_paths_are_normalised_or_refused() {
        assert_eq!(parse_route_path("/api/").unwrap(), "/api");
        assert_eq!(parse_route_path("/").unwrap(), "/");
        assert_eq!(
            parse_route_path("//").unwrap_err(),
            "must not contain `//`, `.` or `..` segments"
        );
        assert!(parse_route_path("api").is_err());
        assert!(parse_route_path("/a/../b").is_err());
        assert!(parse_route_path("/a%2fb").is_err());
        assert!(parse_route_path("/a?b").is_err());
    }

    #[test]
    fn upstreams_must_be_http_urls_without_userinfo() {
        let u = parse_upstream("http://127.0.0.1:3000/v1/", false).unwrap();
        assert_eq!(u.authority.as_str(), "127.0.0.1:3000");
        assert_eq!(u.base_path, "/v1");
        assert!(parse_upstream("ftp://x", false).is_err());
        assert!(parse_upstream("https://user:pw@x", false).is_err());
        assert!(parse_upstream("https://x/?a=b", false).is_err());
        assert!(parse_upstream("/relative", false).is_err());
    }

    // checklist P5: plain HTTP only to loopback unless explicitly allowed.
    #[test]
    fn plain_http_to_a_remote_host_needs_explicit_opt_in() {
        assert!(parse_upstream("http://api.internal", false).is_err());
        assert!(parse_upstream("http://api.internal", true).is_ok());
        assert!(parse_upstream("http://localhost:1", false).is_ok());
        assert!(parse_upstream("http://[::1]:1", false).is_ok());
        assert!(parse_upstream("https://api.internal", false).is_ok());
    }

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(parse_public_url("https://app.example.com").is_ok());
        assert!(parse_public_url("https://app.example.com/").is_ok());
        assert!(parse_public_url("https://app.example.com/x").is_err());
        assert!(parse_public_url("app.example.com").is_err());
    }

    #[test]
    fn methods_are_capitalised_tokens_and_never_connect() {
        assert_eq!(parse_method("GET"), Ok(Method::GET));
        assert!(parse_method("get").is_err());
        assert!(parse_method("CONNECT").is_err());
    }

    #[test]
    fn cidrs_and_single_addresses_are_accepted() {
        assert!(parse_cidr("10.0.0.0/8").is_ok());
        assert_eq!(parse_cidr("::1").unwrap().prefix_len(), 128);
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }
}
