//! The main listener: accept loop, optional TLS, HTTP/1.1 + HTTP/2 (ALPN over TLS, prior
//! knowledge in clear text, told apart in `protocol`) and the limits that protect it, then a
//! graceful drain.
//!
//! Thread per core: `server.workers` threads each run their own single-threaded event loop and
//! accept from the same listening socket (whichever worker is idle takes the next connection).
//! A connection stays on the worker that accepted it, and each worker has its own upstream
//! connection pool, so a request never crosses threads: no work stealing, no cross-thread
//! wake-ups, no shared pool lock on the hot path.
//!
//! Limits: at most `max_connections` open connections (accepting pauses at the cap), a deadline
//! for the TLS handshake, for a connection's first bytes (`protocol` in clear text, `first_bytes`
//! over TLS) and for reading request headers (slowloris), a header-block size cap
//! (431) and count cap, HTTP/2 stream and reset caps. An `h2c` upgrade is never honoured: hyper
//! does not implement it and the `Upgrade` header is hop-by-hop, so it never reaches an upstream.

pub mod admin;
mod first_bytes;
mod protocol;
pub mod tls;

use crate::config::Limits;
use crate::gateway::Gateway;
use arc_swap::ArcSwap;
use first_bytes::FirstBytesDeadline;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use protocol::Protocol;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the accept loops need.
pub struct Listener {
    /// The bound socket (non-blocking); every worker accepts from a duplicate of it.
    pub tcp: std::net::TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub limits: Limits,
    /// The `active_connections` gauge.
    pub connections: prometheus_client::metrics::gauge::Gauge,
}

/// The worker threads serving a listener.
pub struct Workers {
    done: Vec<tokio::sync::oneshot::Receiver<()>>,
}

impl Workers {
    /// Starts `count` worker threads. Each accepts connections until `stop` is cancelled, then
    /// lets its open connections finish their in-flight requests for up to `grace`.
    pub fn start(
        listener: Listener,
        count: usize,
        gateway: Arc<ArcSwap<Gateway>>,
        stop: CancellationToken,
        grace: Duration,
    ) -> std::io::Result<Self> {
        let (http1, http2) = connection_builders(&listener.limits);
        let shared = Arc::new(Shared {
            http1,
            http2,
            handshake_timeout: listener.limits.tls_handshake_timeout,
            first_bytes_timeout: listener.limits.header_read_timeout,
            // `max_connections` holds across all workers.
            permits: Arc::new(Semaphore::new(listener.limits.max_connections)),
            tls: listener.tls,
            connections: listener.connections,
            gateway,
            stop,
            grace,
        });
        let port = listener.tcp.local_addr().map_or(0, |a| a.port());
        let mut done = Vec::with_capacity(count);
        for worker in 0..count.max(1) {
            let tcp = listener.tcp.try_clone()?;
            let (finished, receiver) = tokio::sync::oneshot::channel();
            let shared = shared.clone();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                // `top -H` shows e.g. `bff-8080-w0` (Linux keeps 15 bytes of a thread name).
                .name(format!("bff-{port}-w{worker}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        match TcpListener::from_std(tcp) {
                            Ok(tcp) => accept_loop(tcp, worker, &shared).await,
                            Err(error) => {
                                tracing::error!(worker, %error, "worker cannot use the listener");
                            }
                        }
                    });
                    // Pooled upstream connections and leftover tasks end with the runtime.
                    drop(runtime);
                    let _ = finished.send(());
                })?;
            done.push(receiver);
        }
        Ok(Self { done })
    }

    /// Waits until every worker has drained and stopped.
    pub async fn wait(self) {
        for finished in self.done {
            // An error means the worker thread died without reporting; nothing is left to wait for.
            let _ = finished.await;
        }
    }
}

/// What every worker shares.
struct Shared {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    handshake_timeout: Duration,
    /// How long a connection may take to send the bytes that pick HTTP/1 or HTTP/2.
    first_bytes_timeout: Duration,
    permits: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    connections: prometheus_client::metrics::gauge::Gauge,
    gateway: Arc<ArcSwap<Gateway>>,
    stop: CancellationToken,
    grace: Duration,
}

async fn accept_loop(tcp: TcpListener, worker: usize, shared: &Arc<Shared>) {
    let stop = &shared.stop;
    // This worker's connections, and their signal to finish: per worker, so that a connection
    // task waiting for it never shares a lock with another worker's.
    let connections = TaskTracker::new();
    let drain = stop.child_token();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = shared.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = tcp.accept() => match accepted {
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
            shared: shared.clone(),
            drain: drain.clone(),
            peer,
            worker,
        };
        let tls = shared.tls.clone();
        let handshake_timeout = shared.handshake_timeout;
        let first_bytes_timeout = shared.first_bytes_timeout;
        let open = OpenConnection::new(&shared.connections);
        // Two task shapes: a task's memory is its largest state, and a TLS connection's state
        // (rustls buffers) would otherwise be carried by every clear-text connection too.
        match tls {
            None => {
                connections.spawn(async move {
                    match Protocol::sniff(&stream, first_bytes_timeout).await {
                        Some(protocol) => connection.serve(stream, false, protocol).await,
                        None => tracing::debug!(%peer, "no request before the deadline, or closed"),
                    }
                    drop(permit);
                    drop(open);
                });
            }
            Some(acceptor) => {
                connections.spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let protocol = Protocol::from_alpn(stream.get_ref().1.alpn_protocol());
                            // hyper's HTTP/2 side reads the preface without a deadline.
                            let stream = FirstBytesDeadline::new(stream, first_bytes_timeout);
                            connection.serve(stream, true, protocol).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                    drop(permit);
                    drop(open);
                });
            }
        }
    }
    drop(tcp);
    drain.cancel();
    connections.close();
    let grace = shared.grace;
    tokio::select! {
        _ = connections.wait() => tracing::debug!(worker, "all connections drained"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(worker, grace = %humantime::format_duration(grace), "grace period over; closing the remaining connections");
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
    /// The connection builder and the current configuration generation (each request takes
    /// the one current when it starts).
    shared: Arc<Shared>,
    /// Cancelled when the worker stops: the connection finishes its in-flight requests and
    /// closes (HTTP/1 after the current response, HTTP/2 with a GOAWAY).
    drain: CancellationToken,
    peer: SocketAddr,
    /// The worker serving this connection (it picks the upstream pool).
    worker: usize,
}

impl Connection {
    async fn serve<I>(self, io: I, tls: bool, protocol: Protocol)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            shared,
            drain,
            peer,
            worker,
        } = self;
        let peer_ip = peer.ip();
        let gateways = shared.clone();
        let service = service_fn(move |request: http::Request<Incoming>| {
            let gateway = gateways.gateway.load_full();
            // Boxed per request: hyper keeps a slot the size of the service's future in every
            // connection, and the request pipeline's future is large; an idle keep-alive
            // connection then holds only a pointer.
            let future: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                Ok::<_, Infallible>(gateway.handle(request, peer_ip, tls, worker).await)
            });
            future
        });
        let io = TokioIo::new(io);
        let result = match protocol {
            Protocol::Http1 => {
                let connection =
                    std::pin::pin!(shared.http1.serve_connection(io, service).with_upgrades());
                until_drained(connection, &drain).await
            }
            // Boxed: the HTTP/2 state is twice the HTTP/1 one, and every HTTP/1 connection's
            // task would carry it.
            Protocol::Http2 => {
                let mut connection = Box::pin(shared.http2.serve_connection(io, service));
                until_drained(connection.as_mut(), &drain).await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, error = %error, "connection ended with an error");
        }
    }
}

/// A hyper connection that can be asked to finish: no new requests, the in-flight ones answered.
trait Drain: Future<Output = Result<(), hyper::Error>> {
    fn start_draining(self: Pin<&mut Self>);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, B> Drain for http1::UpgradeableConnection<I, S>
where
    Self: Future<Output = Result<(), hyper::Error>>,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn start_draining(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Drain for http2::Connection<I, S, TokioExecutor>
where
    Self: Future<Output = Result<(), hyper::Error>>,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    fn start_draining(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves `connection` to its end; once `drain` is cancelled, lets it finish what is in flight.
/// The connection is pinned by the caller: moved in, it would take its (large) room twice in
/// the task, as the argument and as the pinned local.
async fn until_drained<C: Drain>(
    mut connection: Pin<&mut C>,
    drain: &CancellationToken,
) -> Result<(), hyper::Error> {
    tokio::select! {
        result = connection.as_mut() => return result,
        _ = drain.cancelled() => {}
    }
    connection.as_mut().start_draining();
    connection.await
}

fn connection_builders(limits: &Limits) -> (http1::Builder, http2::Builder<TokioExecutor>) {
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(1024)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    (h1, h2)
}
