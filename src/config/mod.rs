//! Loading `gateway.yaml`: read → parse (`raw`) → interpolate (`interpolate`) → type and check
//! (`validate`). One `load` serves `run`, `check` and (later) reload.
//!
//! Everything a request needs is decided here, at startup: the request path never parses config
//! text. Errors name the key path and line; they never quote config values, which may be secrets.

mod effective;
mod interpolate;
mod lines;
mod raw;
mod token_handler;
mod validate;

pub use effective::render as render_effective;
pub use interpolate::{Env, InterpolateError, SecretError, interpolate, resolve_secret};
pub use lines::Position;
pub use token_handler::{
    AuthConfig, ClientAuthMethod, OAuthConfig, ProviderEndpoints, ProviderSource, Secret,
    SessionConfig, TokenHandlerConfig, parse_origin,
};

use http::Method;
use http::uri::{Authority, Scheme};
use ipnet::IpNet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The validated configuration: typed, defaults applied, nothing left to parse.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamClientConfig,
    /// `oauth:` + `session:` + `auth:`; `None` when the gateway only proxies.
    pub token_handler: Option<TokenHandlerConfig>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: Option<SocketAddr>,
    pub public_url: PublicUrl,
    pub trusted_proxies: Vec<IpNet>,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// After SIGTERM/SIGINT, how long `/readyz` answers 503 while the listener still accepts
    /// and serves, so load balancers stop sending traffic before the drain starts.
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
    /// Worker threads serving the main listener, each with its own event loop and upstream
    /// connection pool (`server.workers`; `auto`: the CPUs this process may use).
    pub workers: Workers,
}

/// `server.workers`: a number, or `auto` (resolved when the gateway starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    Auto,
    Fixed(usize),
}

impl Workers {
    /// The highest `server.workers` accepted.
    pub const MAX: usize = 256;

    /// How many worker threads to start: `auto` is the CPUs this process may run on (its
    /// affinity mask and cgroup CPU quota, so a container limited to one CPU gets one).
    pub fn count(self) -> usize {
        match self {
            Self::Fixed(n) => n,
            Self::Auto => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(Self::MAX),
        }
    }
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => write!(f, "auto (now {})", self.count()),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The origin browsers see, e.g. `https://app.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Listener limits. Defaults are in `validate.rs` and README's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    pub max_body_bytes: u64,
    pub header_read_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub h2_max_concurrent_streams: u32,
}

/// The outbound (upstream) HTTP client.
#[derive(Debug, Clone)]
pub struct UpstreamClientConfig {
    pub connect_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub extra_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Stable label for logs and metrics (defaults to the path).
    pub name: String,
    /// Normalised prefix: starts with `/`, no trailing `/` unless it is `/` itself.
    pub path: String,
    pub upstream: UpstreamUrl,
    pub strip_prefix: bool,
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub host_header: HostHeader,
    pub websocket: bool,
    /// `None` allows every method.
    pub methods: Option<Vec<Method>>,
    pub auth: AuthMode,
    pub token: TokenKind,
    /// API routes require the CSRF header and a same-origin request (default true).
    pub csrf: bool,
    pub unauthenticated: Unauthenticated,
}

/// What a signed-in route answers when there is no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// 302 to login for page navigations, 401 JSON for everything else.
    Auto,
    /// Always 401 JSON.
    Status,
    /// Always 302 to login.
    Redirect,
}

/// Where a route forwards to; the only source of upstream URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Prefix put before the forwarded path; empty for `/`.
    pub base_path: String,
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

/// What the forwarded `Host` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostHeader {
    /// The upstream's own authority (default; what TLS SNI and virtual hosts expect).
    Upstream,
    /// The `Host` the client sent (the original host is in `X-Forwarded-Host` either way).
    Preserve,
}

/// Whether a route needs a signed-in session. Acted on by the token handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Optional,
    Required,
}

/// Which token the token handler puts in `Authorization: Bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    AccessToken,
    IdToken,
    None,
}

/// One problem in the file: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.position {
            write!(f, "line {}, column {}: ", p.line, p.column)?;
        }
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Structure errors from serde_yaml: unknown keys, wrong types, YAML syntax. Its message
    /// carries the key path, line and column.
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {}", list_problems(.problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn list_problems(problems: &[Problem]) -> String {
    let mut out = match problems.len() {
        1 => String::from("1 problem"),
        n => format!("{n} problems"),
    };
    for problem in problems {
        out.push_str("\n  - ");
        out.push_str(&problem.to_string());
    }
    out
}

/// Reads and validates a config file.
pub fn load(file: &Path, env: &Env<'_>) -> Result<Config, ConfigError> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: name.clone(),
        source,
    })?;
    // Relative paths inside the file (TLS files, CA files) are relative to the file's folder.
    let base = file.parent().unwrap_or(Path::new("."));
    load_str(&text, &name, base, env)
}

/// Validates config text; `file` is only used in messages, `base` resolves relative paths.
pub fn load_str(text: &str, file: &str, base: &Path, env: &Env<'_>) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig = serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_owned(),
        message: syntax_message(&e),
    })?;
    let lines = lines::KeyLines::index(text);
    validate::validate(raw, &lines, base, env).map_err(|problems| ConfigError::Invalid {
        file: file.to_owned(),
        problems,
    })
}

/// serde_yaml says "routes[0]: unknown field `x`, expected one of ... at line 5 column 5"; put
/// the position first so every config message reads the same way.
fn syntax_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    match (error.location(), text.rfind(" at line ")) {
        (Some(loc), Some(cut)) => {
            format!(
                "line {}, column {}: {}",
                loc.line(),
                loc.column(),
                &text[..cut]
            )
        }
        _ => text,
    }
}
