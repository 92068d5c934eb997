//! Real upstream servers for the tests: an echo server that describes the request it got as JSON,
//! with a few paths that misbehave on purpose, and a WebSocket echo server.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type UpBody = BoxBody<Bytes, std::io::Error>;
type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<UpBody>> + Send>>
        + Send
        + Sync,
>;

/// A hyper server on 127.0.0.1:0; stops when dropped.
pub struct TestUpstream {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestUpstream {
    /// Serves every request with `handler` (HTTP/1.1 and h2c).
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<UpBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |r| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler(r).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, task }
    }

    /// The echo upstream (see `echo`).
    pub async fn echo() -> Self {
        Self::start(echo).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<UpBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// Describes the request as JSON: method, path and query as received, headers, body length.
/// `/slow/<ms>` waits first; `/redirect` answers 302 to another host; `/hop` answers with
/// hop-by-hop headers; `/bytes/<n>` streams n bytes.
pub async fn echo(request: Request<Incoming>) -> Response<UpBody> {
    let path = request.uri().path().to_owned();
    if let Some(ms) = path.strip_prefix("/slow/") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if path == "/redirect" {
        let mut r = full(StatusCode::FOUND, "");
        r.headers_mut().insert(
            "location",
            "http://elsewhere.example/next".parse().expect("value"),
        );
        return r;
    }
    if path == "/hop" {
        let mut r = full(StatusCode::OK, "hop");
        let h = r.headers_mut();
        h.insert("connection", "x-upstream-hop".parse().expect("value"));
        h.insert("x-upstream-hop", "1".parse().expect("value"));
        h.insert("keep-alive", "timeout=5".parse().expect("value"));
        h.insert("x-upstream-kept", "1".parse().expect("value"));
        return r;
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        let n: usize = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = (0..n.div_ceil(chunk.len())).map(move |i| {
            let len = chunk.len().min(n - i * chunk.len());
            Ok::<_, std::io::Error>(Frame::data(chunk.slice(..len)))
        });
        return Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            chunks,
        ))));
    }
    let method = request.method().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let version = format!("{:?}", request.version());
    let mut headers = serde_json::Map::new();
    for (name, value) in request.headers() {
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(list) = entry {
            list.push(
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
    }
    let body_len = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => return full(StatusCode::BAD_REQUEST, "body error"),
    };
    let json = serde_json::json!({
        "method": method,
        "target": target,
        "version": version,
        "headers": headers,
        "body_len": body_len,
    });
    let mut r = full(StatusCode::OK, json.to_string());
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    r
}

/// The echo answer, parsed.
pub struct Echo(pub serde_json::Value);

impl Echo {
    pub async fn from(response: reqwest::Response) -> Self {
        assert_eq!(
            response.status(),
            200,
            "expected the echo upstream to answer"
        );
        Self(response.json().await.expect("echo JSON"))
    }

    pub fn target(&self) -> &str {
        self.0["target"].as_str().unwrap_or_default()
    }

    /// All values of one header, in order.
    pub fn header(&self, name: &str) -> Vec<String> {
        self.0["headers"][name]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has_header(&self, name: &str) -> bool {
        !self.header(name).is_empty()
    }
}

/// A WebSocket echo server on raw TCP (tokio-tungstenite).
pub struct WsUpstream {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for WsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_text() || message.is_binary() {
                            if ws.send(message).await.is_err() {
                                return;
                            }
                        } else if message.is_close() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }
}
