//! The upstream connection pool (issue 6: the worker's own pool on `hyper::client::conn`):
//! connections are reused, an upstream that closes its idle connections costs no request, and
//! idle connections are closed after `upstream.pool_idle_timeout`.

use crate::support::{TestGateway, client};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An HTTP/1.1 upstream that counts the connections it accepted and those still open. With
/// `close_after`, it closes every connection that long after its first response, without
/// announcing it (no `Connection: close`), as servers with a short keep-alive timeout do.
struct CountingUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingUpstream {
    async fn start(close_after: Option<Duration>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (acc, op) = (accepted.clone(), open.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                op.fetch_add(1, Ordering::SeqCst);
                let op = op.clone();
                tokio::spawn(async move {
                    let service = service_fn(|request: http::Request<hyper::body::Incoming>| {
                        let path = request.uri().path().to_owned();
                        let status = match path.as_str() {
                            "/empty" => StatusCode::NO_CONTENT,
                            _ => StatusCode::OK,
                        };
                        let body = if status == StatusCode::OK {
                            "pooled"
                        } else {
                            ""
                        };
                        async move {
                            if path == "/slow" {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    match close_after {
                        None => {
                            let _ = connection.await;
                        }
                        Some(after) => {
                            // The connection is dropped (closed) `after` from its start: long
                            // enough to answer the one request it gets in these tests.
                            let _ = tokio::time::timeout(after, connection).await;
                        }
                    }
                    op.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            accepted,
            open,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits (at most 3 s) until no more than `most` connections are open; returns how long.
    async fn open_drops_to(&self, most: usize) -> Duration {
        let started = Instant::now();
        while self.open() > most {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{} upstream connections still open after {:?}, expected at most {most}",
                self.open(),
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }
}

fn yaml(upstream: SocketAddr, upstream_block: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  workers: 1\n\
         {upstream_block}\
         routes:\n  - path: /\n    upstream: http://{upstream}\n    auth: none\n    \
         methods: [GET, HEAD]\n"
    )
}

async fn send(gw: &TestGateway, http: &reqwest::Client, method: Method, path: &str) -> u16 {
    http.request(method, format!("http://{}{path}", gw.addr))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn upstream_connections_are_reused_across_requests_and_clients() {
    let upstream = CountingUpstream::start(None).await;
    let gw = TestGateway::start(&yaml(upstream.addr, "")).await;
    let http = client();
    // Bodies read to the end, bodiless answers (HEAD, 204): each gives its connection back.
    for i in 0..30 {
        let (method, path, want) = match i % 3 {
            0 => (Method::GET, "/x", 200),
            1 => (Method::HEAD, "/x", 200),
            _ => (Method::GET, "/empty", 204),
        };
        assert_eq!(send(&gw, &http, method, path).await, want, "request {i}");
    }
    assert_eq!(
        upstream.accepted(),
        1,
        "30 sequential requests share one upstream connection"
    );
    // Other clients (their own connections to the gateway) use the same pooled connection.
    for i in 0..5 {
        assert_eq!(
            send(&gw, &client(), Method::GET, "/x").await,
            200,
            "client {i}"
        );
    }
    assert_eq!(upstream.accepted(), 1);
    // Eight at once need eight connections; afterwards they are all reused.
    let wave = || async {
        let requests = (0..8).map(|_| {
            let http = client();
            let gw = &gw;
            async move { send(gw, &http, Method::GET, "/x").await }
        });
        futures_util::future::join_all(requests).await
    };
    assert!(wave().await.iter().all(|s| *s == 200));
    let after_first_wave = upstream.accepted();
    assert!(after_first_wave <= 9, "{after_first_wave}");
    assert!(wave().await.iter().all(|s| *s == 200));
    assert_eq!(
        upstream.accepted(),
        after_first_wave,
        "the second wave found the first one's connections in the pool"
    );
}

#[tokio::test]
async fn an_upstream_closing_its_idle_connections_costs_no_request() {
    // Every connection is closed by the upstream 50 ms after it was opened, unannounced.
    let upstream = CountingUpstream::start(Some(Duration::from_millis(50))).await;
    let gw = TestGateway::start(&yaml(upstream.addr, "")).await;
    let http = client();
    for i in 0..10 {
        assert_eq!(
            send(&gw, &http, Method::GET, "/x").await,
            200,
            "request {i}"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    assert_eq!(
        upstream.accepted(),
        10,
        "each request found the previous connection closed and opened a new one"
    );
}

#[tokio::test]
async fn idle_upstream_connections_are_closed_after_pool_idle_timeout() {
    let upstream = CountingUpstream::start(None).await;
    let gw = TestGateway::start(&yaml(
        upstream.addr,
        "upstream:\n  pool_idle_timeout: 300ms\n",
    ))
    .await;
    let http = client();
    assert_eq!(send(&gw, &http, Method::GET, "/x").await, 200);
    assert_eq!(upstream.open(), 1, "kept open for the next request");
    let closed_after = upstream.open_drops_to(0).await;
    // Closed by the gateway once idle for the timeout, not at once.
    assert!(
        closed_after >= Duration::from_millis(250),
        "{closed_after:?}"
    );
    // The pool is empty again, and the next request opens a new connection.
    assert_eq!(send(&gw, &http, Method::GET, "/x").await, 200);
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn pool_max_idle_per_host_bounds_what_is_kept() {
    let upstream = CountingUpstream::start(None).await;
    let gw = TestGateway::start(&yaml(
        upstream.addr,
        "upstream:\n  pool_max_idle_per_host: 2\n",
    ))
    .await;
    let requests = (0..6).map(|_| {
        let gw = &gw;
        async move { send(gw, &client(), Method::GET, "/slow").await }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        upstream.accepted(),
        6,
        "six slow requests at once, six connections"
    );
    // At most 2 may be kept.
    upstream.open_drops_to(2).await;
    assert!(upstream.open() >= 1, "some are kept");
}
