//! A minimal, fast HTTP/1.1 upstream for `bench/run`: every request gets `200` with a small JSON
//! body, keep-alive on. A request carrying `Authorization: Bearer …` gets `x-bench-bearer: yes`
//! in the answer, so the benchmark can check that a proxy really injected a token.
//!
//! Usage: `cargo run --release --example bench_upstream -- 127.0.0.1:0`
//!
//! The first line on stdout is the bound address (`127.0.0.1:PORT`), so a script can pass port 0
//! and read the port back. A current-thread runtime keeps it on one core (the benchmark pins it
//! with `taskset` next to the load generator).

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::error::Error;
use std::io::Write;
use tokio::net::TcpListener;

const BODY: &[u8] = br#"{"ok":true,"items":[1,2,3]}"#;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer ") && v.len() > 7);
    if bearer {
        headers.insert("x-bench-bearer", HeaderValue::from_static("yes"));
    }
    Ok(response)
}

fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(&addr))
}

async fn serve(addr: &str) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(error) => {
                eprintln!("accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer));
            // Clients closing mid-request is normal at the end of a wrk run.
            let _ = connection.await;
        });
    }
}
