//! bff-gateway: an OAuth 2.0 Backend-For-Frontend token handler and streaming reverse proxy.
//!
//! [`start`] binds the listeners for a validated [`config::Config`] and returns a [`Running`]
//! handle; `main.rs`, the integration tests and the demo all start the gateway this way.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod oauth;
pub mod proxy;
pub mod request_path;
pub mod router;
pub mod server;
pub mod session;
pub mod telemetry;

use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use config::Config;
use gateway::{Gateway, SetupError};
use server::admin::{self, Readiness};
use server::tls::TlsSetupError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the worker threads (server.workers): {0}")]
    Workers(#[source] std::io::Error),
    #[error("TLS setup failed: {0}")]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A started gateway.
pub struct Running {
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    readiness: Readiness,
    /// Cancelled by [`Running::shutdown`]: readiness is false from then on.
    draining: CancellationToken,
    /// Cancelled when accepting stops (`server.shutdown_delay` after `draining`).
    stop: CancellationToken,
    /// Dropping the handle stops the gateway, like a shutdown.
    _stop_on_drop: tokio_util::sync::DropGuard,
    served: JoinHandle<()>,
    /// Worker threads serving the main listener.
    workers: usize,
    /// The configuration generation serving new requests.
    current: Arc<ArcSwap<Gateway>>,
    /// The listener-level settings in force (they need a restart to change).
    server: config::ServerConfig,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Error)]
pub enum ReloadError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("the sign-in provider of the new configuration cannot be discovered: {0}")]
    Discovery(#[from] oauth::discovery::DiscoveryError),
    #[error("the sign-in provider of the new configuration did not answer in time")]
    DiscoveryTimeout,
}

impl Running {
    /// The bound address of the main listener (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of the admin listener, if configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The process's metrics (they outlive configuration reloads).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Switches to `config` for new requests; requests in flight finish on the old one. When
    /// the new `oauth:` differs, its provider is discovered first, and a failure keeps the old
    /// configuration. Listener settings (`server.listen`, `admin_listen`, `tls`, `limits`,
    /// `workers`) need a restart: a change there is logged and the rest applied. Counted in
    /// `bff_gateway_config_reloads_total`.
    pub async fn reload(&self, config: Config) -> Result<(), ReloadError> {
        let result = self.prepare(&config).await;
        match result {
            Ok(next) => {
                let ready = next.token_handler().is_none_or(|th| th.is_ready());
                self.current.store(Arc::new(next));
                if ready && !self.draining.is_cancelled() {
                    self.readiness.set(true);
                }
                self.metrics.config_reload("applied");
                tracing::info!(routes = config.routes.len(), "configuration reloaded");
                Ok(())
            }
            Err(error) => {
                self.metrics.config_reload("invalid");
                Err(error)
            }
        }
    }

    /// Counts a reload whose file did not load (invalid YAML or values); the old one stays.
    pub fn reload_refused(&self) {
        self.metrics.config_reload("invalid");
    }

    async fn prepare(&self, config: &Config) -> Result<Gateway, ReloadError> {
        let next = &config.server;
        let now = &self.server;
        if next.listen != now.listen
            || next.admin_listen != now.admin_listen
            || next.tls != now.tls
            || next.limits != now.limits
            || next.workers != now.workers
        {
            tracing::warn!(
                "server.listen, admin_listen, tls, limits and workers only change on a restart; keeping the current ones"
            );
        }
        let previous = self.current.load_full();
        let next = Gateway::new(config, &self.metrics, Some(&previous), self.workers)?;
        if let Some(th) = next.token_handler()
            && !th.is_ready()
        {
            let timeout = th.client.config().timeout * 2;
            tokio::time::timeout(timeout, th.client.discover_now())
                .await
                .map_err(|_| ReloadError::DiscoveryTimeout)??;
        }
        Ok(next)
    }

    /// Starts the shutdown: readiness goes false at once; the listener keeps accepting and
    /// serving for `server.shutdown_delay` (so load balancers see the 503 and stop sending
    /// traffic first), then stops accepting, and in-flight requests go on for up to
    /// `server.shutdown_grace`.
    pub fn shutdown(&self) {
        self.readiness.set(false);
        self.draining.cancel();
        if self.server.shutdown_delay.is_zero() {
            self.stop.cancel();
        }
    }

    /// Waits until the drain is over (after [`Running::shutdown`]).
    pub async fn wait(self) {
        if let Err(error) = self.served.await {
            tracing::error!(%error, "the server task failed");
        }
    }
}

/// Binds the listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let server = &config.server;
    let tls = server.tls.as_ref().map(server::tls::acceptor).transpose()?;
    let metrics = Arc::new(Metrics::new());
    let workers = server.workers.count();
    let gateway = Arc::new(Gateway::new(&config, &metrics, None, workers)?);
    let current = Arc::new(ArcSwap::new(gateway.clone()));
    let tcp = bind("server.listen", server.listen).await?;
    let local_addr = tcp.local_addr().map_err(|source| StartError::Bind {
        key: "server.listen",
        addr: server.listen,
        source,
    })?;
    let readiness = Readiness::default();
    let draining = CancellationToken::new();
    let stop = CancellationToken::new();
    tokio::spawn(stop_after_delay(
        draining.clone(),
        stop.clone(),
        server.shutdown_delay,
    ));
    let admin_stop = CancellationToken::new();
    let admin_addr = match server.admin_listen {
        Some(addr) => {
            let admin = bind("server.admin_listen", addr).await?;
            let bound = admin.local_addr().ok();
            tokio::spawn(admin::serve(
                admin,
                readiness.clone(),
                metrics.clone(),
                admin_stop.clone(),
            ));
            bound
        }
        None => None,
    };
    let tcp = tcp.into_std().map_err(|source| StartError::Bind {
        key: "server.listen",
        addr: server.listen,
        source,
    })?;
    let listener = server::Listener {
        tcp,
        tls,
        limits: server.limits.clone(),
        connections: metrics.active_connections(),
    };
    let grace: Duration = server.shutdown_grace;
    let serving =
        match server::Workers::start(listener, workers, current.clone(), stop.clone(), grace) {
            Ok(serving) => serving,
            Err(error) => {
                stop.cancel();
                admin_stop.cancel();
                return Err(StartError::Workers(error));
            }
        };
    let served = tokio::spawn(async move {
        serving.wait().await;
        // The admin listener answers `/readyz` (503) for the whole drain, then stops.
        admin_stop.cancel();
    });
    // Ready once the listeners are bound and, with a token handler, the provider is known.
    match gateway.token_handler().cloned() {
        None => readiness.set(true),
        Some(th) => {
            let readiness = readiness.clone();
            let stop = stop.clone();
            let draining = draining.clone();
            tokio::spawn(async move {
                th.client.discover_until_ready(stop).await;
                if th.is_ready() && !draining.is_cancelled() {
                    readiness.set(true);
                }
            });
        }
    }
    let admin = admin_addr.map_or_else(|| "-".to_owned(), |a| a.to_string());
    tracing::info!(listen = %local_addr, admin, workers, routes = config.routes.len(), "bff-gateway ready");
    Ok(Running {
        local_addr,
        admin_addr,
        readiness,
        draining,
        _stop_on_drop: stop.clone().drop_guard(),
        stop,
        served,
        workers,
        current,
        server: config.server.clone(),
        metrics,
    })
}

/// Stops accepting `delay` after the shutdown started (at once for a zero delay, which
/// [`Running::shutdown`] handles itself). Dropping the [`Running`] handle ends it early.
async fn stop_after_delay(draining: CancellationToken, stop: CancellationToken, delay: Duration) {
    tokio::select! {
        () = draining.cancelled() => {}
        () = stop.cancelled() => return,
    }
    if delay.is_zero() {
        return;
    }
    let shown = humantime::format_duration(delay).to_string();
    tracing::info!(delay = %shown, "not ready; still serving for server.shutdown_delay before draining");
    tokio::select! {
        () = tokio::time::sleep(delay) => {
            tracing::info!("server.shutdown_delay over: no longer accepting, draining in-flight requests");
            stop.cancel();
        }
        () = stop.cancelled() => {}
    }
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { key, addr, source })
}
