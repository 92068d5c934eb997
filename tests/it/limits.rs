//! Listener limits and request-framing guards (checklist H3, P1, D1, D2). Each bad-input test
//! ends by checking that other clients are still served (issue 7).

use crate::support::{
    TestGateway, TestUpstream, assert_still_serving, raw_exchange, read_until_close, status_of,
};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn gateway(limits: &str) -> (TestGateway, TestUpstream) {
    let api = TestUpstream::echo().await;
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  limits:\n{limits}\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        api.url()
    ))
    .await;
    (gw, api)
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn oversized_header_block_gets_431() {
    let (gw, _api) = gateway("    max_header_bytes: 8KiB\n").await;
    let big = "a".repeat(10_000);
    let raw = raw_exchange(
        gw.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\nx-big: {big}\r\n\r\n").as_bytes(),
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(431), "{raw}");
    assert_still_serving(gw.addr).await;
}

#[tokio::test]
async fn too_many_headers_are_refused() {
    let (gw, _api) = gateway("    max_headers: 10\n").await;
    let headers: String = (0..20).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let raw = raw_exchange(
        gw.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes(),
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(431), "{raw}");
    assert_still_serving(gw.addr).await;
}

#[tokio::test]
async fn over_long_request_target_gets_414() {
    let (gw, _api) = gateway("    max_uri_bytes: 1KiB\n").await;
    let path = format!("/{}", "a".repeat(2000));
    let raw = raw_exchange(
        gw.addr,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(414), "{raw}");
    assert_still_serving(gw.addr).await;
}

// Slowloris: one header byte every half second never completes a request; the listener must
// close the connection once `header_read_timeout` has passed, not wait for the client.
#[tokio::test]
async fn slow_header_senders_are_cut_off_after_the_header_read_timeout() {
    let (gw, _api) = gateway("    header_read_timeout: 2s\n").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let request =
        b"GET / HTTP/1.1\r\nHost: a\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buf = [0u8; 1024];
    let mut closed_after = None;
    for byte in request {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            // An error response (408) is fine too; the connection must close right after it.
            Ok(Ok(_)) => {
                let rest = read_until_close(&mut stream, Duration::from_secs(2)).await;
                assert!(rest.is_empty() || rest.len() < 1024, "{rest}");
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.expect("the slow client kept its connection for 20 s");
    assert!(
        closed_after >= Duration::from_millis(1500) && closed_after < Duration::from_secs(6),
        "closed after {closed_after:?}; expected about 2 s"
    );
    assert_still_serving(gw.addr).await;
}

/// One request as an upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    content_length: Option<String>,
    body_len: usize,
}

/// An upstream that records every request it receives.
async fn recording_upstream() -> (TestUpstream, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = TestUpstream::start(move |request: http::Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let target = request.uri().to_string();
            let content_length = request
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body_len = request
                .into_body()
                .collect()
                .await
                .map_or(0, |b| b.to_bytes().len());
            log.lock().unwrap().push(Seen {
                target,
                content_length,
                body_len,
            });
            crate::support::upstream::full(http::StatusCode::OK, "seen")
        }
    })
    .await;
    (upstream, seen)
}

// checklist H3: request smuggling by conflicting framing (CL.TE and TE.CL). hyper 1's HTTP/1
// parser handles such a request before the gateway sees it, in the way RFC 9112 §6.1 allows:
// framing by Transfer-Encoding alone, Content-Length dropped, connection closed after the
// answer. `Content-Length: 40` covers exactly the smuggled `GET /smuggled`, so a server framing
// by length would read it as body and one framing by chunks as a second request; neither may
// reach the upstream, in either header order.
#[tokio::test]
async fn content_length_with_transfer_encoding_never_smuggles_a_second_request() {
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let body = format!("0\r\n\r\n{smuggled}");
    assert_eq!(body.len(), 40);
    for headers in [
        "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
    ] {
        let (upstream, seen) = recording_upstream().await;
        let gw = TestGateway::start(&format!(
            "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n\
             routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
            upstream.url()
        ))
        .await;
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(format!("POST /first HTTP/1.1\r\nHost: a\r\n{headers}\r\n{body}").as_bytes())
            .await
            .unwrap();
        // The gateway closes the connection after its one answer: reading ends before WAIT.
        let mut raw = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        assert!(
            matches!(read, Ok(Ok(_))),
            "the connection stayed open ({headers:?}): {raw}"
        );
        assert_eq!(status_of(&raw), Some(200), "{headers:?}: {raw}");
        assert_eq!(
            raw.matches("HTTP/1.1 ").count(),
            1,
            "a second request was served ({headers:?}): {raw}"
        );
        assert!(
            raw.to_ascii_lowercase().contains("connection: close"),
            "{headers:?}: {raw}"
        );
        // Give a smuggled request time to arrive, then look at what the upstream got.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{headers:?}: {seen:?}");
        assert_eq!(seen[0].target, "/first", "{headers:?}: {seen:?}");
        assert_eq!(
            seen[0].content_length, None,
            "the upstream saw Content-Length ({headers:?})"
        );
        assert_eq!(seen[0].body_len, 0, "framed by chunks: an empty body");
        assert_still_serving(gw.addr).await;
        gw.stop().await;
    }
}

#[tokio::test]
async fn duplicate_host_headers_are_refused() {
    let (gw, _api) = gateway("    max_headers: 100\n").await;
    let raw = raw_exchange(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(400), "{raw}");
    assert_still_serving(gw.addr).await;
}

// checklist P1: the gateway is not a forward proxy.
#[tokio::test]
async fn absolute_form_naming_another_host_is_refused() {
    let (gw, _api) = gateway("    max_headers: 100\n").await;
    let raw = raw_exchange(
        gw.addr,
        b"GET http://evil.example/x HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(400), "{raw}");
    assert!(raw.contains("not a forward proxy"), "{raw}");
    let raw = raw_exchange(
        gw.addr,
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(405), "{raw}");
    assert_still_serving(gw.addr).await;
}

#[tokio::test]
async fn h2c_upgrade_requests_are_answered_over_http1() {
    let (gw, _api) = gateway("    max_headers: 100\n").await;
    let raw = raw_exchange(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&raw), Some(200), "{raw}");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(!raw.contains("101"), "{raw}");
    assert!(
        !raw.contains("\"upgrade\""),
        "the upgrade reached the upstream: {raw}"
    );
    assert_still_serving(gw.addr).await;
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_in_clear_text() {
    let (gw, _api) = gateway("    max_headers: 100\n").await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = client.get(gw.url("/x?y=1")).send().await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["target"], "/x?y=1");
    assert_eq!(echo["headers"]["x-forwarded-host"][0], gw.addr.to_string());
}
