//! Test harness: a gateway started in-process on port 0, real hyper upstreams, raw sockets, the
//! token handler in front of the demo authorization server (`token_handler`).

#![allow(dead_code)]

pub mod browser;
pub mod process;
pub mod token_handler;
pub mod upstream;

use bff_gateway::Running;
use bff_gateway::config;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use upstream::TestUpstream;

/// A gateway running in this process.
pub struct TestGateway {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
}

impl TestGateway {
    /// Starts a gateway from YAML text; `${VAR}`s come from `vars` only.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with(yaml, &[]).await
    }

    pub async fn start_with(yaml: &str, vars: &[(&str, &str)]) -> Self {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| vars.get(name).cloned();
        let config = config::load_str(yaml, "test.yaml", Path::new("."), &env)
            .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
        let running = bff_gateway::start(config).await.expect("gateway starts");
        Self {
            addr: running.local_addr(),
            admin: running.admin_addr(),
            running: Some(running),
        }
    }

    /// A gateway with the given routes (YAML list items) and default server settings.
    pub async fn with_routes(routes: &str) -> Self {
        Self::start(&format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\nroutes:\n{routes}"
        ))
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown();
            running.wait().await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.shutdown();
        }
    }
}

/// A plain HTTP/1.1 client that never uses a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client builds")
}

/// Sends raw bytes and reads until the server closes or `wait` passes; returns the text read.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    read_until_close(&mut stream, wait).await
}

pub async fn read_until_close(stream: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in raw HTTP/1 text.
pub fn status_of(raw: &str) -> Option<u16> {
    raw.split_whitespace().nth(1)?.parse().ok()
}
pub mod http2_frames;
pub mod observe;
pub mod proc_stats;
pub mod relay;

/// The "other clients unaffected" check every attack ends with: a plain request is served.
pub async fn assert_still_serving(addr: SocketAddr) {
    let started = Instant::now();
    let r = client()
        .get(format!("http://{addr}/after-the-attack"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("a normal client is still served");
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal request took {:?}",
        started.elapsed()
    );
}
