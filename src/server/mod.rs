//! The main listener: accept loop, optional TLS, HTTP/1.1 + HTTP/2 (ALPN over TLS, prior
//! knowledge in clear text) and the limits that protect it, then a graceful drain.
//!
//! Limits: at most `max_connections` open connections (accepting pauses at the cap), a deadline
//! for the TLS handshake and for reading request headers (slowloris), a header-block size cap
//! (431) and count cap, HTTP/2 stream and reset caps. An `h2c` upgrade is never honoured: hyper
//! does not implement it and the `Upgrade` header is hop-by-hop, so it never reaches an upstream.

pub mod admin;
pub mod tls;

use crate::config::Limits;
use crate::gateway::Gateway;
use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What the accept loop needs.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub limits: Limits,
    /// The `active_connections` gauge.
    pub connections: prometheus_client::metrics::gauge::Gauge,
}

/// Accepts connections until `stop` is cancelled, then lets open connections finish their
/// in-flight requests for up to `grace`.
pub async fn serve(
    listener: Listener,
    gateway: Arc<ArcSwap<Gateway>>,
    stop: CancellationToken,
    grace: Duration,
) {
    let builder = Arc::new(connection_builder(&listener.limits));
    let handshake_timeout = listener.limits.tls_handshake_timeout;
    let permits = Arc::new(Semaphore::new(listener.limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            gateway: gateway.clone(),
            watcher: graceful.watcher(),
            peer,
        };
        let tls = listener.tls.clone();
        let open = OpenConnection::new(&listener.connections);
        tokio::spawn(async move {
            match tls {
                None => connection.serve(stream, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection.serve(stream, true).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
            drop(open);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(grace = %humantime::format_duration(grace), "grace period over; closing the remaining connections");
        }
    }
}

/// Counts one open connection in the gauge for as long as it lives.
struct OpenConnection(prometheus_client::metrics::gauge::Gauge);

impl OpenConnection {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    /// The current configuration generation; each request takes the one current when it starts.
    gateway: Arc<ArcSwap<Gateway>>,
    watcher: Watcher,
    peer: SocketAddr,
}

impl Connection {
    async fn serve<I>(self, io: I, tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            builder,
            gateway,
            watcher,
            peer,
        } = self;
        let peer_ip = peer.ip();
        let service = service_fn(move |request: http::Request<Incoming>| {
            let gateway = gateway.load_full();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer_ip, tls).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%peer, error = %error, "connection ended with an error");
        }
    }
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(1024)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}
