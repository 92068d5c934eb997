//! The running server: binds, accepts connections (one task each, HTTP/1.1 via hyper), routes
//! requests to the endpoints, counts them, and stops on `shutdown()` or drop.

use crate::config::AuthServerConfig;
use crate::endpoints;
use crate::error::AuthServerError;
use crate::faults::Faults;
use crate::keys;
use crate::state::State;
use crate::store::counters::Counters;
use crate::store::grants::{Grants, TokenInfo};
use crate::store::logins::Logins;
use crate::web::{self, BodyError, Request, Response};
use http::{Method, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long `shutdown` lets open connections finish.
const DRAIN: Duration = Duration::from_secs(5);
/// How long a client may take to send request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running demo authorization server. DEMO ONLY, NOT FOR PRODUCTION.
/// Dropping it (or [`shutdown`](Self::shutdown)) stops it.
#[derive(Debug)]
pub struct AuthServer {
    state: Arc<State>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl AuthServer {
    /// Generates (or reuses) the signing key, binds `config.listen` and starts serving.
    pub async fn start(config: AuthServerConfig) -> Result<AuthServer, AuthServerError> {
        config.check().map_err(AuthServerError::Config)?;
        let keys = tokio::task::spawn_blocking(keys::signing)
            .await
            .map_err(|e| AuthServerError::Keys(e.to_string()))?
            .map_err(|e| AuthServerError::Keys(e.to_string()))?;
        let bind = |source| AuthServerError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let issuer = match &config.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => default_issuer(addr),
        };
        let state = Arc::new(State {
            config,
            issuer,
            keys,
            grants: Grants::default(),
            logins: Logins::default(),
            counters: Counters::default(),
            faults: Faults::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&state), stopped));
        Ok(AuthServer {
            state,
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The issuer URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &AuthServerConfig {
        &self.state.config
    }

    /// The fault switches, e.g. `server.faults().set(|s| s.wrong_aud = true)`.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Requests received on `path` (e.g. `/oauth2/token`), whatever their outcome.
    pub fn count(&self, path: &str) -> usize {
        self.state.counters.path(path)
    }

    /// Token requests received with `grant_type`, counted before any check.
    pub fn count_grant(&self, grant_type: &str) -> usize {
        self.state.counters.grant(grant_type)
    }

    /// Whether `/oauth2/introspect` would call `token` active.
    pub fn introspect_active(&self, access_token: &str) -> bool {
        self.state.grants.introspect(access_token).is_some()
    }

    /// What a live token stands for (as introspection reports it), e.g. for a demo API.
    pub fn introspect(&self, token: &str) -> Option<TokenInfo> {
        self.state.grants.introspect(token)
    }

    /// Revokes every access and refresh token (an administrator's "log everyone out").
    pub fn revoke_all(&self) {
        self.state.grants.revoke_all();
    }

    /// Stops accepting, lets open connections finish (up to a few seconds), then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `http://127.0.0.1:<port>` for a wildcard or IPv4 loopback bind, else the bound address.
fn default_issuer(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        return format!(
            "http://{}",
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        );
    }
    format!("http://{addr}")
}

/// Resolves once the server is told to stop (or the `AuthServer` is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The accept loop: one task per connection; on stop, drains them for a while.
async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, Arc::clone(&state), stop.clone()));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(DRAIN, drained).await;
    // Dropping the set aborts what is left.
}

/// Serves one connection until it closes or the server stops (then gracefully).
async fn connection(stream: TcpStream, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Counts, reads (bounded) and routes one request.
async fn handle(state: &State, request: hyper::Request<Incoming>) -> Response {
    state.counters.hit_path(request.uri().path());
    match web::read(request).await {
        Ok(request) => route(state, &request).await,
        Err(BodyError::TooLarge) => web::json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "invalid_request", "error_description": "the body is too large"}),
        ),
        Err(BodyError::Broken) => web::text(StatusCode::BAD_REQUEST, "unreadable request body\n"),
    }
}

async fn route(state: &State, request: &Request) -> Response {
    let get = request.method == Method::GET;
    let post = request.method == Method::POST;
    match request.uri.path() {
        "/.well-known/openid-configuration" if get => endpoints::discovery::handle(state),
        "/oauth2/jwks" if get => endpoints::jwks::handle(state).await,
        "/.well-known/openid-configuration" | "/oauth2/jwks" => web::method_not_allowed("GET"),
        "/oauth2/authorize" if get || post => endpoints::authorize::handle(state, request),
        "/oauth2/userinfo" if get || post => endpoints::userinfo::handle(state, request),
        "/oauth2/logout" if get || post => endpoints::logout::handle(state, request),
        "/oauth2/authorize" | "/oauth2/userinfo" | "/oauth2/logout" => {
            web::method_not_allowed("GET, POST")
        }
        "/oauth2/token" if post => endpoints::token::handle(state, request).await,
        "/oauth2/introspect" if post => endpoints::introspect::handle(state, request),
        "/oauth2/revoke" if post => endpoints::revoke::handle(state, request),
        "/oauth2/login" if post => endpoints::login::handle(state, request),
        "/oauth2/consent" if post => endpoints::consent::handle(state, request),
        "/oauth2/token" | "/oauth2/introspect" | "/oauth2/revoke" | "/oauth2/login"
        | "/oauth2/consent" => web::method_not_allowed("POST"),
        _ => web::not_found(),
    }
}
