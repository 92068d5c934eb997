//! Hostile input (issue 7): oversized, malformed, smuggling and flooding requests. Each case
//! asserts a 4xx or a closed connection, no panic, bounded memory, and other clients unaffected.
//!
//! Covered elsewhere, not repeated here: an oversized header block and too many headers (431),
//! an over-long request target (414), a slowloris header sender, CL+TE in both orders, a
//! duplicate `Host`, absolute-form and `CONNECT` targets (`limits.rs`); `%zz`, dot segments and
//! encoded separators in paths, bodies over the route limit through a client library
//! (`proxy.rs`); duplicated `state` and `code` (`callback.rs`, `auth.rs`); doubly-encoded CR/LF
//! in `return_to` on the success page (`auth.rs`).

use crate::support::browser::{Browser, location, query_params, set_cookie_lines};
use crate::support::http2_frames::{
    CANCEL, CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, Frame, HEADERS,
    MAX_FRAME_PAYLOAD, NO_ERROR, REFUSED_STREAM, RST_STREAM, client_start, frame,
    get_request_block, literal, read_outcome, request_block, rst_stream,
};
use crate::support::proc_stats::{self, ensure_open_files, is_running, open_fds, rss_kib};
use crate::support::process::{GatewayProcess, config_file};
use crate::support::token_handler::{Options, setup};
use crate::support::{
    TestGateway, TestUpstream, assert_still_serving, client, raw_exchange, read_until_close,
    status_of,
};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// The request targets an upstream received, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// An echo upstream that also records every request target it receives.
async fn recording_echo() -> (TestUpstream, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let upstream = TestUpstream::start(move |request: http::Request<hyper::body::Incoming>| {
        log.lock().unwrap().push(request.uri().to_string());
        crate::support::upstream::echo(request)
    })
    .await;
    (upstream, seen)
}

/// A gateway in front of a recording echo upstream on `/`, with `limits` lines (indented four
/// spaces) and route lines (indented four spaces).
async fn gateway(limits: &str, route_extra: &str) -> (TestGateway, TestUpstream, Seen) {
    let (upstream, seen) = recording_echo().await;
    let gw = TestGateway::start(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  limits:\n    max_headers: 100\n{limits}\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n{route_extra}",
        upstream.url()
    ))
    .await;
    (gw, upstream, seen)
}

/// Sends `request` on a fresh connection; returns the text read and whether the server closed
/// the connection within `WAIT` (rather than keeping it open).
async fn exchange_and_close(addr: SocketAddr, request: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await;
    (String::from_utf8_lossy(&raw).into_owned(), read.is_ok())
}

// checklist D2: a cookie header over the header block limit is 431, in one field or in many.
#[tokio::test]
async fn an_oversized_cookie_header_gets_431() {
    let (gw, _api, seen) = gateway("    max_header_bytes: 16KiB\n", "").await;
    let one = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nCookie: big={}\r\n\r\n",
        "b".repeat(20_000)
    );
    let pieces: String = (0..40)
        .map(|i| format!("Cookie: c{i}={}\r\n", "b".repeat(500)))
        .collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{pieces}\r\n");
    for request in [one, many] {
        let (raw, closed) = exchange_and_close(gw.addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(431), "{raw}");
        assert!(closed, "the connection stayed open after a 431");
    }
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serving(gw.addr).await;
}

// checklist D2: a declared length over the route's limit is refused before a byte of the body
// is read (the client sends none), with or without `Expect: 100-continue`; an absurd one too.
#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_it_is_sent() {
    let (gw, _api, seen) = gateway("", "    max_body_bytes: 1KiB\n").await;
    for headers in [
        "Content-Length: 2048\r\n",
        "Content-Length: 2048\r\nExpect: 100-continue\r\n",
        "Content-Length: 1000000000000000000\r\n",
    ] {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(format!("POST /upload HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes())
            .await
            .unwrap();
        let raw = read_until_close(&mut stream, Duration::from_secs(2)).await;
        assert_eq!(status_of(&raw), Some(413), "{headers:?}: {raw}");
        assert!(!raw.contains("100 Continue"), "{headers:?}: {raw}");
        assert!(raw.contains("payload_too_large"), "{headers:?}: {raw}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert_still_serving(gw.addr).await;
}

// checklist D2: a chunked body is cut off with 413 once it passes the limit, while the client is
// still sending (no final chunk ever comes), and the connection is closed.
#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_while_streaming() {
    let (gw, _api, _seen) = gateway("", "    max_body_bytes: 1KiB\n").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("200\r\n{}\r\n", "x".repeat(0x200));
    for _ in 0..4 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    // No final `0` chunk: the answer must not wait for the end of the body.
    let raw = read_until_close(&mut stream, WAIT).await;
    assert_eq!(status_of(&raw), Some(413), "{raw}");
    assert!(raw.contains("connection: close"), "{raw}");
    assert_still_serving(gw.addr).await;
}

// checklist P1, D5: malformed escapes and raw bytes outside ASCII (invalid UTF-8, overlong `/`, or
// valid UTF-8 that an upstream might read in another charset) are 400 before routing.
#[tokio::test]
async fn malformed_escapes_and_raw_non_ascii_bytes_in_paths_get_400() {
    let (gw, _api, seen) = gateway("", "").await;
    let paths: [&[u8]; 8] = [
        b"/api/%",
        b"/api/%2",
        b"/api/%zz",
        b"/api/%g0/x",
        b"/api/\xff",
        b"/api/\xc0\xaf..",
        b"/api/\xc3\xa9",
        b"/api/\xef\xbc\x8fadmin",
    ];
    for path in paths {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(path);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let (raw, closed) = exchange_and_close(gw.addr, &request).await;
        let shown = String::from_utf8_lossy(path);
        assert_eq!(status_of(&raw), Some(400), "{shown}: {raw}");
        assert!(closed, "{shown}: the connection stayed open");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // The same characters percent-encoded are a valid path and pass through unchanged.
    let r = client().get(gw.url("/api/%C3%A9")).send().await.unwrap();
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["target"], "/api/%C3%A9");
}

// checklist H3: a Content-Length that overflows, is signed, or names two different lengths is
// 400 and the connection is closed; the body bytes never reach the upstream as a request.
// (Identical duplicates are one length, RFC 9110 §8.6, and are served.)
#[tokio::test]
async fn absurd_or_conflicting_content_lengths_get_400_and_close() {
    let (gw, _api, seen) = gateway("", "").await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    for lengths in [
        "Content-Length: 99999999999999999999\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +4\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 4\r\nContent-Length: 40\r\n",
        "Content-Length: 40\r\nContent-Length: 4\r\n",
        "Content-Length: 4, 40\r\n",
        "Content-Length: 4 4\r\n",
    ] {
        let request = format!("POST /first HTTP/1.1\r\nHost: a\r\n{lengths}\r\nabcd{smuggled}");
        let (raw, closed) = exchange_and_close(gw.addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(400), "{lengths:?}: {raw}");
        assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{lengths:?}: {raw}");
        assert!(closed, "{lengths:?}: the connection stayed open");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    let (raw, _) = exchange_and_close(
        gw.addr,
        b"POST /same HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
    )
    .await;
    assert_eq!(status_of(&raw), Some(200), "{raw}");
    assert!(raw.contains("\"body_len\":4"), "{raw}");
    assert_still_serving(gw.addr).await;
}

// checklist H3: obfuscated Transfer-Encoding (TE.TE) and malformed chunk sizes: 400 and close,
// never a second request at the upstream. A tab before `chunked` is legal whitespace.
#[tokio::test]
async fn obfuscated_transfer_encodings_and_bad_chunk_sizes_never_smuggle() {
    let (gw, _api, seen) = gateway("", "").await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    for framing in [
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        "Transfer-Encoding : chunked\r\n",
        "Content-Length: 40\r\nTransfer-Encoding: x-chunked\r\n",
        "Transfer-Encoding: \x0bchunked\r\n",
    ] {
        let request =
            format!("POST /first HTTP/1.1\r\nHost: a\r\n{framing}\r\n0\r\n\r\n{smuggled}");
        let (raw, closed) = exchange_and_close(gw.addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(400), "{framing:?}: {raw}");
        assert!(closed, "{framing:?}: the connection stayed open");
    }
    // Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: a faulty framing).
    let (raw, closed) = exchange_and_close(
        gw.addr,
        format!("POST /first HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&raw), Some(400), "{raw}");
    assert!(closed);
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // Chunk sizes that overflow or are not hex, and data longer than its chunk size, end the
    // request with 400.
    for chunk in [
        "fffffffffffffffffffff\r\n",
        "zz\r\n",
        "-1\r\n",
        "1\r\nxy\r\n",
    ] {
        let request = format!(
            "POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"
        );
        let (raw, closed) = exchange_and_close(gw.addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(400), "{chunk:?}: {raw}");
        assert!(closed, "{chunk:?}: the connection stayed open");
    }
    let (raw, _) = exchange_and_close(
        gw.addr,
        format!("POST /tab HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n0\r\n\r\n{smuggled}")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&raw), Some(200), "{raw}");
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{raw}");
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|t| t.contains("smuggled")),
        "a smuggled request reached the upstream: {seen:?}"
    );
    assert_still_serving(gw.addr).await;
}

// checklist H3, D5: obsolete line folding, a bare CR, NUL, and whitespace before the colon are
// 400.
// A bare LF is a line end (RFC 9112 §2.2 lets a recipient accept it): the gateway reads the
// fields exactly as it then writes them, with CRLF, so the upstream cannot see other fields.
#[tokio::test]
async fn malformed_header_lines_get_400_and_bare_lf_is_read_as_a_line_end() {
    let (gw, _api, _seen) = gateway("", "").await;
    for fields in [
        "X-A: 1\r\n x-b: 2\r\n",
        "X-A: 1\r\n\tTransfer-Encoding: chunked\r\n",
        "X-A: 1\rX-B: 2\r\n",
        "X-A: 1\r\r\n",
        "X-A: 1\x002\r\n",
        "X-A : 1\r\n",
        "X A: 1\r\n",
        ": 1\r\n",
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}Connection: close\r\n\r\n");
        let (raw, closed) = exchange_and_close(gw.addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(400), "{fields:?}: {raw}");
        assert!(closed, "{fields:?}: the connection stayed open");
    }
    let (raw, _) = exchange_and_close(
        gw.addr,
        b"GET /lf HTTP/1.1\nHost: a\nX-A: 1\nX-B: 2\r\nConnection: close\n\n",
    )
    .await;
    assert_eq!(status_of(&raw), Some(200), "{raw}");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    let echo: serde_json::Value = serde_json::from_str(body).expect(body);
    assert_eq!(echo["headers"]["x-a"][0], "1");
    assert_eq!(echo["headers"]["x-b"][0], "2");
    assert_still_serving(gw.addr).await;
}

/// `return_to` values that decode to CR/LF (once, twice, or as the low bytes of U+560A/U+560D
/// for a server that truncates to Latin-1), given as the raw query value.
const CRLF_RETURN_TO: [&str; 5] = [
    "/%0d%0aSet-Cookie:%20injected=1",
    "/x%0aLocation:%20https://evil.example",
    "/%0dSet-Cookie:injected=1",
    "/%250d%250aSet-Cookie:%20injected=1",
    "/x%E5%98%8A%E5%98%8DSet-Cookie:%20injected=1",
];

// checklist A8, H4: CR/LF in `return_to` never reaches a header. A provider error sends the
// browser back to the login's `return_to` with a Location header: these fall back to the
// default, and no header carries the payload.
#[tokio::test]
async fn cr_lf_in_return_to_never_reaches_the_location_header() {
    let s = setup(Options::default()).await;
    let iss: String = form_urlencoded::byte_serialize(s.provider.issuer().as_bytes()).collect();
    for payload in CRLF_RETURN_TO {
        let mut browser = Browser::new();
        let login = browser
            .get(&s.url(&format!("/auth/login?return_to={payload}")))
            .await;
        assert_eq!(login.status(), 302, "{payload}");
        let state = query_params(&location(&login))["state"][0].clone();
        let response = browser
            .get(&s.url(&format!(
                "/auth/callback?error=access_denied&state={state}&iss={iss}"
            )))
            .await;
        assert_eq!(response.status(), 302, "{payload}");
        assert_eq!(
            location(&response),
            "/home?auth_error=access_denied",
            "{payload}"
        );
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
            assert!(
                !value.contains("injected") && !value.contains("evil"),
                "{payload}: {name}: {value}"
            );
        }
        assert!(
            !set_cookie_lines(&response)
                .iter()
                .any(|c| c.contains("injected")),
            "{payload}"
        );
    }
    assert_still_serving(s.gateway.addr).await;
}

// checklist A8, H4: a page navigation to a signed-in route without a session is redirected to
// login with the page as `return_to`; escaped CR/LF in that page's path stays escaped in the
// Location header (checked on the raw bytes), and never comes back as a target.
#[tokio::test]
async fn cr_lf_in_a_path_stays_escaped_in_the_login_redirect() {
    let s = setup(Options::default()).await;
    let raw = raw_exchange(
        s.gateway.addr,
        format!(
            "GET /api/x%0d%0aSet-Cookie:%20injected=1 HTTP/1.1\r\nHost: {}\r\n\
             Accept: text/html\r\nSec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n",
            s.base.trim_start_matches("http://")
        )
        .as_bytes(),
        WAIT,
    )
    .await;
    assert_eq!(status_of(&raw), Some(302), "{raw}");
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let location = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("no Location: {raw}"));
    assert_eq!(
        location,
        "/auth/login?return_to=%2Fapi%2Fx%250d%250aSet-Cookie%3A%2520injected%3D1"
    );
    for line in head.split("\r\n").filter(|l| !l.starts_with("location: ")) {
        assert!(!line.contains("injected"), "{line}");
    }
    // Following it: the decoded target still holds CR/LF once decoded again, so login falls
    // back to the default rather than ever writing it into a header.
    let mut browser = Browser::new();
    let login = browser.get(&s.url(location)).await;
    assert_eq!(login.status(), 302);
    let state = query_params(&crate::support::browser::location(&login))["state"][0].clone();
    let iss: String = form_urlencoded::byte_serialize(s.provider.issuer().as_bytes()).collect();
    let response = browser
        .get(&s.url(&format!(
            "/auth/callback?error=access_denied&state={state}&iss={iss}"
        )))
        .await;
    assert_eq!(
        crate::support::browser::location(&response),
        "/home?auth_error=access_denied"
    );
}

/// The client preface, then `streams` requests for `/reset`, each cancelled (RST_STREAM) as soon
/// as it is sent: the HTTP/2 rapid-reset attack (CVE-2023-44487).
fn rapid_reset(streams: u32) -> Vec<u8> {
    let mut attack = client_start();
    for i in 0..streams {
        let id = 1 + 2 * i;
        attack.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_request_block("a", "/reset"),
        ));
        attack.extend(rst_stream(id, CANCEL));
    }
    attack
}

// checklist D3: HTTP/2 rapid reset (CVE-2023-44487): a client opening and cancelling streams
// faster than they are served gets GOAWAY ENHANCE_YOUR_CALM and is closed; no request is
// served for it, and other clients (HTTP/2 included) are.
#[tokio::test]
async fn http2_rapid_reset_gets_goaway_and_others_are_still_served() {
    let (gw, _api, seen) = gateway("", "").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let attack = rapid_reset(10_000);
    // The server may close before it has read everything; a failed write is part of that.
    let _ = stream.write_all(&attack).await;
    let outcome = read_outcome(&mut stream, WAIT).await;
    let goaway = outcome.goaway().expect("a GOAWAY");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    assert!(outcome.closed, "the connection stayed open after GOAWAY");
    let served: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.contains("/reset"))
        .cloned()
        .collect();
    assert!(
        served.is_empty(),
        "{} reset streams reached the upstream",
        served.len()
    );
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}

/// An HTTP/2 client (prior knowledge) is still served.
async fn assert_h2_still_serving(addr: SocketAddr) {
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{addr}/h2-after"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
}

/// A request header block of `extra` bytes of literal fields, as HEADERS plus CONTINUATION
/// frames of at most the default frame size.
fn split_header_block(stream_id: u32, extra: usize) -> Vec<u8> {
    let mut block = get_request_block("a", "/big");
    let mut i = 0;
    while block.len() < extra {
        literal(&mut block, &format!("x-h{i}"), &[b'v'; 1000]);
        i += 1;
    }
    let pieces: Vec<&[u8]> = block.chunks(MAX_FRAME_PAYLOAD).collect();
    let mut out = Vec::new();
    for (n, piece) in pieces.iter().enumerate() {
        let (kind, mut flags) = if n == 0 {
            (HEADERS, END_STREAM)
        } else {
            (CONTINUATION, 0)
        };
        if n + 1 == pieces.len() {
            flags |= END_HEADERS;
        }
        out.extend(frame(kind, flags, stream_id, piece));
    }
    out
}

// checklist D2, D3: an HTTP/2 header list over `max_header_bytes` (advertised as
// SETTINGS_MAX_HEADER_LIST_SIZE) is refused and the connection closed; one under it, split the
// same way across CONTINUATION frames, is served.
#[tokio::test]
async fn an_oversized_http2_header_list_is_refused_and_closed() {
    let (gw, _api, seen) = gateway("    max_header_bytes: 16KiB\n", "").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let mut request = client_start();
    request.extend(split_header_block(1, 12 * 1024));
    stream.write_all(&request).await.unwrap();
    let outcome = read_outcome(&mut stream, Duration::from_secs(1)).await;
    assert_eq!(outcome.statuses(), [(1, Some(200))], "{outcome:?}");

    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let mut request = client_start();
    request.extend(split_header_block(1, 40 * 1024));
    let _ = stream.write_all(&request).await;
    let outcome = read_outcome(&mut stream, WAIT).await;
    assert!(outcome.goaway().is_some(), "{outcome:?}");
    assert!(outcome.closed, "{outcome:?}");
    assert!(
        outcome.statuses().iter().all(|(_, s)| *s != Some(200)),
        "{outcome:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the small request is served"
    );
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}

// checklist D2, D3: a CONTINUATION flood (a header block that never ends, CVE-2024-27316 family)
// is cut off long before the attacker has sent 64 MiB: the server closes the connection (EOF or
// reset, after a GOAWAY ENHANCE_YOUR_CALM when it sends one) within 5 s of the first frame; a
// server that merely stops reading does not pass. Nothing reaches the upstream.
#[tokio::test]
async fn an_http2_continuation_flood_is_cut_off() {
    let (gw, _api, seen) = gateway("    max_header_bytes: 16KiB\n", "").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(&client_start()).await.unwrap();
    stream
        .write_all(&frame(
            HEADERS,
            END_STREAM,
            1,
            &get_request_block("a", "/flood"),
        ))
        .await
        .unwrap();
    let mut fields = Vec::new();
    while fields.len() + 1100 < MAX_FRAME_PAYLOAD {
        literal(&mut fields, "x-flood", &[b'v'; 1000]);
    }
    let continuation = frame(CONTINUATION, 0, 1, &fields);
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // The flood is written while the answer is read, so a server that stops reading without
    // closing cannot pass as one that cut the client off.
    let flood = tokio::spawn(async move {
        let mut sent = 0usize;
        while sent < 64 << 20 {
            if writer.write_all(&continuation).await.is_err() {
                return (sent, true);
            }
            sent += continuation.len();
        }
        (sent, false)
    });
    let mut raw = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 16_384];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let closed_after = started.elapsed();
    assert!(
        read.is_ok(),
        "the connection was still open {WAIT:?} into the flood ({} bytes read)",
        raw.len()
    );
    let (sent, refused) = tokio::time::timeout(WAIT, flood)
        .await
        .expect("the flood writer stalled on a closed connection")
        .unwrap();
    assert!(refused, "the server read 64 MiB of one header block");
    let goaway = crate::support::http2_frames::parse_frames(&raw)
        .into_iter()
        .find(|f| f.kind == crate::support::http2_frames::GOAWAY);
    if let Some(goaway) = &goaway {
        assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    }
    eprintln!(
        "continuation flood: closed after {closed_after:?} and {sent} bytes written (kernel \
         buffers included); GOAWAY {:?}",
        goaway.and_then(|g| g.error_code())
    );
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}

// checklist H3: malformed HTTP/2 requests (a connection-specific field, CR/LF or NUL in a value,
// an upper-case name, `:authority` and `Host` naming different hosts) are never served; the
// stream is reset or answered 400, and the same connection still serves a good request.
#[tokio::test]
async fn malformed_http2_requests_are_refused() {
    let (gw, _api, seen) = gateway("", "").await;
    let cases: [(&str, &[u8]); 6] = [
        ("connection", b"keep-alive"),
        ("transfer-encoding", b"chunked"),
        ("x-a", b"1\r\nx-b: 2"),
        ("x-a", b"1\x002"),
        ("X-Upper", b"1"),
        ("host", b"other.example"),
    ];
    for (name, value) in cases {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        let mut bad = get_request_block("a", "/malformed");
        literal(&mut bad, name, value);
        let mut request = client_start();
        request.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &bad));
        request.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            3,
            &get_request_block("a", "/good"),
        ));
        stream.write_all(&request).await.unwrap();
        let outcome = read_outcome(&mut stream, Duration::from_secs(1)).await;
        let shown = format!("{name}: {}", String::from_utf8_lossy(value).escape_debug());
        let refused = outcome
            .frames
            .iter()
            .any(|f| f.stream == 1 && (f.kind == RST_STREAM || f.status() == Some(400)))
            || outcome.goaway().is_some();
        assert!(refused, "{shown}: {outcome:?}");
        assert!(
            !outcome.statuses().contains(&(1, Some(200))),
            "{shown}: served: {outcome:?}"
        );
        if outcome.goaway().is_none() {
            assert!(
                outcome.statuses().contains(&(3, Some(200))),
                "{shown}: {outcome:?}"
            );
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|t| t.contains("malformed")), "{seen:?}");
    assert_h2_still_serving(gw.addr).await;
}

// checklist D1. Regression: hyper-util's protocol detection read the first bytes with no
// deadline, so a client that connected and sent nothing, or half the HTTP/2 preface, held its
// connection (and a `max_connections` slot) for ever. The header read timeout now covers them.
#[tokio::test]
async fn connections_that_send_nothing_are_closed_after_the_header_read_timeout() {
    let (gw, _api, _seen) =
        gateway("    header_read_timeout: 1s\n    max_connections: 2\n", "").await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    let mut half_preface = TcpStream::connect(gw.addr).await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // Both slots are taken: a third client waits for one of them to be freed.
    let waiting = tokio::spawn(async move {
        let r = client()
            .get(format!("http://{}/waiting", gw.addr))
            .timeout(WAIT)
            .send()
            .await;
        (r.map(|r| r.status().as_u16()), started.elapsed(), gw)
    });
    for stream in [&mut silent, &mut half_preface] {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}; expected about 1 s"
    );
    let (status, served_after, gw) = waiting.await.unwrap();
    assert_eq!(status.ok(), Some(200));
    assert!(served_after < Duration::from_secs(3), "{served_after:?}");
    assert_still_serving(gw.addr).await;
}

/// Writes one HTTP/1.1 keep-alive request and reads its whole answer (length-delimited).
async fn keep_alive_request(stream: &mut TcpStream, path: &str) -> u16 {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .expect("write a request");
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.expect("read the answer");
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return status_of(&text).unwrap_or(0);
        }
    }
}

/// How many idle connections the flood test holds open at once.
const IDLE_CONNECTIONS: usize = 10_000;
/// The bound on the gateway binary's resident memory while it holds them: the debug build
/// measured 135.6-136.5 MiB (release about 148 MiB), plus about 30 %.
const IDLE_CONNECTIONS_RSS_KIB: u64 = 180 * 1024;
/// Set to `1` to skip the 10,000-connection test where `RLIMIT_NOFILE` cannot be raised.
const SKIP_10K_IDLE: &str = "BFF_TEST_SKIP_10K_IDLE";

// checklist D1, D2: 10,000 idle keep-alive connections against the real binary (each has been
// served one request, so each holds its HTTP/1 state): memory stays bounded, a new client is
// still served promptly, and the gateway is fine once they all go away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_keep_memory_bounded_and_new_clients_served() {
    // This process holds the client ends, the binary the server ends (it inherits the limit).
    // A limit that cannot be raised fails the test (CI runs as root, where it can); skipping
    // takes an explicit opt-out.
    if let Err(why) = ensure_open_files(IDLE_CONNECTIONS as u64 + 1024) {
        if std::env::var_os(SKIP_10K_IDLE).is_some_and(|v| v == "1") {
            eprintln!("SKIPPED ten_thousand_idle_connections ({SKIP_10K_IDLE}=1): {why}");
            return;
        }
        panic!(
            "cannot hold {IDLE_CONNECTIONS} connections: {why}; or set {SKIP_10K_IDLE}=1 to skip \
             this test explicitly"
        );
    }
    let (upstream, _seen) = recording_echo().await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  limits:\n\
         \x20   max_connections: {}\n    header_read_timeout: 120s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        IDLE_CONNECTIONS + 100,
        upstream.url()
    ));
    let gw = GatewayProcess::start_async(file.path()).await;
    let pid = gw.pid();
    let addr = gw.addr;
    let rss_before = rss_kib(pid);
    let started = Instant::now();
    let connections: Vec<TcpStream> = futures_util::stream::iter(0..IDLE_CONNECTIONS)
        .map(|i| async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let status = keep_alive_request(&mut stream, &format!("/idle/{i}")).await;
            assert_eq!(status, 200);
            stream
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let opened_in = started.elapsed();
    assert_eq!(connections.len(), IDLE_CONNECTIONS);
    assert!(
        open_fds(pid) >= IDLE_CONNECTIONS,
        "the gateway holds {} descriptors",
        open_fds(pid)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);
    let peak = proc_stats::status_kib(pid, "VmHWM");

    let new_client = Instant::now();
    assert_still_serving(addr).await;
    let served_in = new_client.elapsed();
    eprintln!(
        "{IDLE_CONNECTIONS} idle connections: opened in {opened_in:?}; gateway RSS {rss_before} KiB \
         before, {rss_idle} KiB idle ({} B per connection), peak {peak} KiB; a new client served in \
         {served_in:?}",
        (rss_idle.saturating_sub(rss_before) * 1024) / IDLE_CONNECTIONS as u64
    );
    assert!(
        rss_idle < IDLE_CONNECTIONS_RSS_KIB && peak < IDLE_CONNECTIONS_RSS_KIB,
        "the gateway's RSS was {rss_idle} KiB (peak {peak} KiB) with {IDLE_CONNECTIONS} idle \
         connections"
    );

    drop(connections);
    let deadline = Instant::now() + WAIT;
    while open_fds(pid) > 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        open_fds(pid) < 1000,
        "closed connections were kept: {}",
        open_fds(pid)
    );
    assert!(is_running(pid), "the gateway died");
    assert_still_serving(addr).await;
}

// checklist D1: at `max_connections` the next connection waits (accepting pauses) while the
// open ones keep working; it is served as soon as slots are freed.
#[tokio::test]
async fn the_connection_over_max_connections_waits_until_a_slot_is_freed() {
    let (gw, _api, _seen) = gateway(
        "    max_connections: 100\n    header_read_timeout: 60s\n",
        "",
    )
    .await;
    let mut held = Vec::new();
    for i in 0..100 {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(
            keep_alive_request(&mut stream, &format!("/held/{i}")).await,
            200
        );
        held.push(stream);
    }
    let addr = gw.addr;
    let over = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let status = keep_alive_request(&mut stream, "/over-the-cap").await;
        (status, Instant::now())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!over.is_finished(), "connection 101 was served at the cap");
    // The open connections still work.
    for stream in held.iter_mut().step_by(10) {
        assert_eq!(keep_alive_request(stream, "/still-working").await, 200);
    }
    assert!(!over.is_finished(), "connection 101 was served at the cap");
    let freed = Instant::now();
    held.truncate(50);
    let (status, served) = tokio::time::timeout(WAIT, over)
        .await
        .expect("connection 101 is served once slots are freed")
        .unwrap();
    assert_eq!(status, 200);
    assert!(served.duration_since(freed) < Duration::from_secs(2));
    drop(held);
    assert_still_serving(gw.addr).await;
}

/// The bound on the real binary's peak RSS (`VmHWM`, start-up included) after the hostile
/// replay: the debug build measured about 19 MiB (18 MiB at start), plus about 30 %.
const REPLAY_PEAK_RSS_KIB: u64 = 25 * 1024;

/// Sends one raw HTTP/1.1 request on a fresh connection and reads until the server closes it.
async fn h1_replay(addr: SocketAddr, request: &[u8]) -> String {
    let (raw, closed) = exchange_and_close(addr, request).await;
    assert!(closed, "the connection stayed open: {raw}");
    raw
}

// checklist D1, D2, D3, D5, H3: the hostile payloads replayed against the real binary, where a
// panic in a connection task is not swallowed by the test's runtime but printed to stderr: after
// rapid reset, a CONTINUATION flood, CL+TE smuggling, oversized headers and cookies, malformed
// paths and a slowloris client, the process is still running, has printed no "panicked", serves
// a normal request, and its peak RSS stayed bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_payloads_against_the_real_binary_never_panic_and_memory_stays_bounded() {
    let (upstream, seen) = recording_echo().await;
    let file = config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  limits:\n\
         \x20   max_header_bytes: 16KiB\n    header_read_timeout: 1s\n\
         routes:\n  - path: /\n    upstream: {}\n    auth: none\n",
        upstream.url()
    ));
    let gw = GatewayProcess::start_capturing_stderr(file.path()).await;
    let (pid, addr) = (gw.pid(), gw.addr);
    let rss_start = rss_kib(pid);

    // HTTP/2 rapid reset.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let attack = rapid_reset(10_000);
    let _ = stream.write_all(&attack).await;
    let outcome = read_outcome(&mut stream, WAIT).await;
    assert_eq!(
        outcome.goaway().and_then(Frame::error_code),
        Some(ENHANCE_YOUR_CALM),
        "rapid reset: {outcome:?}"
    );
    assert!(outcome.closed, "rapid reset: {outcome:?}");

    // HTTP/2 CONTINUATION flood (up to 16 MiB).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut start = client_start();
    start.extend(frame(
        HEADERS,
        END_STREAM,
        1,
        &get_request_block("a", "/flood"),
    ));
    stream.write_all(&start).await.unwrap();
    let mut fields = Vec::new();
    while fields.len() + 1100 < MAX_FRAME_PAYLOAD {
        literal(&mut fields, "x-flood", &[b'v'; 1000]);
    }
    let continuation = frame(CONTINUATION, 0, 1, &fields);
    let (mut reader, mut writer) = stream.into_split();
    let flood = tokio::spawn(async move {
        for _ in 0..(16 << 20) / continuation.len() {
            if writer.write_all(&continuation).await.is_err() {
                return true;
            }
        }
        false
    });
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(WAIT, reader.read_to_end(&mut sink)).await;
    assert!(
        closed.is_ok(),
        "CONTINUATION flood: the connection stayed open"
    );
    assert!(
        tokio::time::timeout(WAIT, flood).await.unwrap().unwrap(),
        "CONTINUATION flood: 16 MiB of one header block were read"
    );

    // CL+TE in both orders: framed by chunks, one answer, no smuggled request.
    for headers in [
        "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
    ] {
        let raw = h1_replay(
            addr,
            format!(
                "POST /first HTTP/1.1\r\nHost: a\r\n{headers}\r\n0\r\n\r\n\
                 GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{headers:?}: {raw}");
    }

    // Oversized header block and cookie: 431.
    for request in [
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nx-big: {}\r\n\r\n",
            "a".repeat(20_000)
        ),
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
            (0..40)
                .map(|i| format!("Cookie: c{i}={}\r\n", "b".repeat(500)))
                .collect::<String>()
        ),
    ] {
        let raw = h1_replay(addr, request.as_bytes()).await;
        assert_eq!(status_of(&raw), Some(431), "{raw}");
    }

    // Malformed paths: 400, escapes that are not UTF-8 included.
    let paths: [&[u8]; 6] = [
        b"/api/%ff",
        b"/api/%c0%ae%c0%ae/admin",
        b"/api/%zz",
        b"/api/%",
        b"/api/\xff",
        b"/api/../admin",
    ];
    for path in paths {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(path);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let raw = h1_replay(addr, &request).await;
        assert_eq!(
            status_of(&raw),
            Some(400),
            "{}: {raw}",
            String::from_utf8_lossy(path)
        );
    }

    // Slowloris: a header byte every 200 ms is closed after `header_read_timeout` (1 s).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let mut closed_after = None;
    for byte in b"GET / HTTP/1.1\r\nHost: a\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.expect("slowloris: the connection stayed open");
    assert!(closed_after < Duration::from_secs(3), "{closed_after:?}");

    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.contains("reset") || t.contains("flood") || t.contains("smuggled")),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(is_running(pid), "the gateway died");
    assert_still_serving(addr).await;
    assert_h2_still_serving(addr).await;
    let peak = proc_stats::status_kib(pid, "VmHWM");
    eprintln!(
        "hostile replay: RSS {rss_start} KiB at start, {} KiB now, peak {peak} KiB",
        rss_kib(pid)
    );
    let stderr = gw.stderr_text();
    assert!(
        !stderr.contains("panicked"),
        "the gateway panicked: {stderr}"
    );
    let logged: Vec<String> = gw
        .drain_lines()
        .into_iter()
        .filter(|l| l.contains("panicked"))
        .collect();
    assert!(logged.is_empty(), "the gateway panicked: {logged:?}");
    assert!(
        peak < REPLAY_PEAK_RSS_KIB,
        "the gateway's peak RSS was {peak} KiB"
    );
}

// checklist D3: with `h2_max_concurrent_streams: 4`, streams opened beyond 4 (their request
// bodies never end, so none completes) are refused with RST_STREAM REFUSED_STREAM (or the
// connection with GOAWAY) and never reach the upstream; the 4 admitted ones still complete.
#[tokio::test]
async fn http2_streams_over_the_concurrency_limit_are_refused() {
    let (gw, _api, seen) = gateway("    h2_max_concurrent_streams: 4\n", "").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let mut request = client_start();
    for i in 0..10u32 {
        request.extend(frame(
            HEADERS,
            END_HEADERS,
            1 + 2 * i,
            &request_block("POST", "a", &format!("/open/{i}"), &[]),
        ));
    }
    stream.write_all(&request).await.unwrap();
    let outcome = read_outcome(&mut stream, Duration::from_secs(1)).await;
    let refused: Vec<u32> = outcome
        .frames
        .iter()
        .filter(|f| f.kind == RST_STREAM && f.error_code() == Some(REFUSED_STREAM))
        .map(|f| f.stream)
        .collect();
    if let Some(goaway) = outcome.goaway() {
        assert!(outcome.closed, "{outcome:?}");
        assert_ne!(goaway.error_code(), Some(NO_ERROR), "{goaway:?}");
    } else {
        assert_eq!(refused, [9, 11, 13, 15, 17, 19], "{outcome:?}");
        // The admitted streams finish once their bodies end.
        let mut ends = Vec::new();
        for id in [1, 3, 5, 7] {
            ends.extend(frame(DATA, END_STREAM, id, &[]));
        }
        stream.write_all(&ends).await.unwrap();
        let outcome = read_outcome(&mut stream, Duration::from_secs(1)).await;
        let mut ok: Vec<u32> = outcome
            .statuses()
            .into_iter()
            .filter(|(_, s)| *s == Some(200))
            .map(|(id, _)| id)
            .collect();
        ok.sort_unstable();
        assert_eq!(ok, [1, 3, 5, 7], "{outcome:?}");
    }
    let seen = seen.lock().unwrap().clone();
    for i in 4..10 {
        assert!(!seen.contains(&format!("/open/{i}")), "{seen:?}");
    }
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}

/// Writes `malformed` HEADERS carrying a connection-specific field, then one good request, on
/// a fresh HTTP/2 connection; returns what the server did.
async fn malformed_h2_burst(
    addr: SocketAddr,
    malformed: u32,
) -> crate::support::http2_frames::Outcome {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut attack = client_start();
    for i in 0..malformed {
        attack.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            1 + 2 * i,
            &request_block("GET", "a", "/malformed", &[("connection", b"keep-alive")]),
        ));
    }
    attack.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1 + 2 * malformed,
        &get_request_block("a", "/good-after-malformed"),
    ));
    let _ = stream.write_all(&attack).await;
    read_outcome(&mut stream, Duration::from_secs(2)).await
}

// checklist D3, H3: 2,000 malformed HEADERS (a connection-specific `connection` field) on one
// connection: past hyper's `max_local_error_reset_streams` (1024) the connection gets GOAWAY
// ENHANCE_YOUR_CALM, naming a last stream no later than the 1025th, and is closed; the good
// request behind them is not served. 500 of them are only reset, and the good request behind
// them is served on the same connection. None reaches the upstream; other clients are served.
#[tokio::test]
async fn a_flood_of_malformed_http2_requests_gets_goaway() {
    let (gw, _api, seen) = gateway("", "").await;
    let outcome = malformed_h2_burst(gw.addr, 500).await;
    assert!(outcome.goaway().is_none(), "{:?}", outcome.goaway());
    assert_eq!(outcome.statuses(), [(1001, Some(200))]);
    let resets = outcome
        .frames
        .iter()
        .filter(|f| f.kind == RST_STREAM)
        .count();
    assert_eq!(resets, 500);

    let outcome = malformed_h2_burst(gw.addr, 2_000).await;
    let goaway = outcome.goaway().expect("a GOAWAY");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    let last_stream = u32::from_be_bytes(goaway.payload[..4].try_into().unwrap()) & 0x7fff_ffff;
    assert!(
        last_stream <= 2 * 1025 + 1,
        "GOAWAY last stream {last_stream}"
    );
    assert!(outcome.closed, "the connection stayed open after GOAWAY");
    assert!(outcome.statuses().is_empty(), "{:?}", outcome.statuses());
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|t| t.contains("/malformed")), "{seen:?}");
    assert_eq!(seen, ["/good-after-malformed"]);
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}

// checklist D1: a body sent one byte every 500 ms (Content-Length 1000, the upstream waits for
// all of it) does not hold the route for ever: at the route's `timeout` (1 s) the client gets
// 504 (or 408) and the connection is closed within a few seconds; other clients are served.
#[tokio::test]
async fn a_slow_body_upload_gets_504_and_is_closed() {
    let (gw, _api, _seen) = gateway("", "    timeout: 1s\n").await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer
        .write_all(b"POST /slow-upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut raw = Vec::new();
    let mut answered_after = None;
    let read = tokio::time::timeout(Duration::from_secs(8), async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answered_after.get_or_insert(started.elapsed());
                    raw.extend_from_slice(&chunk[..n]);
                }
            }
        }
    })
    .await;
    let closed_after = started.elapsed();
    trickle.abort();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    eprintln!("slow upload: answered after {answered_after:?}, closed after {closed_after:?}");
    assert!(
        matches!(status_of(&raw), Some(504 | 408)),
        "after {closed_after:?}: {raw}"
    );
    let answered_after = answered_after.unwrap();
    assert!(
        answered_after >= Duration::from_millis(900) && answered_after < Duration::from_secs(3),
        "answered after {answered_after:?}"
    );
    assert!(
        read.is_ok(),
        "the connection was still open after 8 s: {raw}"
    );
    assert!(
        closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    assert_still_serving(gw.addr).await;
}

// checklist D2: the HTTP/2 listener applies the same limits as HTTP/1: a `:path` longer than
// `max_uri_bytes` is 414, a body over the route's `max_body_bytes` is 413 whether declared
// (content-length) or streamed without a length; neither reaches the upstream.
#[tokio::test]
async fn http2_over_long_paths_get_414_and_over_large_bodies_413() {
    let (gw, _api, seen) = gateway("    max_uri_bytes: 1KiB\n", "    max_body_bytes: 1KiB\n").await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(WAIT)
        .build()
        .unwrap();
    let long = format!("/long/{}", "a".repeat(2000));
    let r = h2.get(gw.url(&long)).send().await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 414);
    let r = h2
        .post(gw.url("/declared"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'x'; 512])).collect();
    let r = h2
        .post(gw.url("/streamed"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|t| t.starts_with("/long") || t == "/declared"),
        "{seen:?}"
    );
    // Under the limits, the same client is served.
    let r = h2
        .post(gw.url("/small"))
        .body(vec![b'x'; 512])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_still_serving(gw.addr).await;
}

// checklist D1, D3: a slow HTTP/2 header block (HEADERS without END_HEADERS, then one small
// CONTINUATION every 500 ms) is not held open: hyper's h2 caps the CONTINUATION frames of one
// block by `max_header_bytes` (16 KiB: about 5 frames) and answers GOAWAY ENHANCE_YOUR_CALM and
// a close within a few seconds. (The client cannot answer a PING in between, RFC 9113 §6.10;
// with a 1 MiB limit the keep-alive PING, unanswered, closes it after about 50 s instead.)
#[tokio::test]
async fn a_slow_http2_header_block_is_cut_off() {
    let (gw, _api, seen) = gateway("    max_header_bytes: 16KiB\n", "").await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(&client_start()).await.unwrap();
    // Settle the SETTINGS exchange first: no frame may come between the block's frames.
    let _ = read_outcome(&mut stream, Duration::from_millis(300)).await;
    stream
        .write_all(&frame(
            HEADERS,
            END_STREAM,
            1,
            &get_request_block("a", "/slow-block"),
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let mut frames = Vec::new();
    let mut sent = 0;
    let closed = loop {
        if started.elapsed() > Duration::from_secs(10) {
            break false;
        }
        let mut fields = Vec::new();
        literal(&mut fields, &format!("x-s{sent}"), b"v");
        if stream
            .write_all(&frame(CONTINUATION, 0, 1, &fields))
            .await
            .is_err()
        {
            break true;
        }
        sent += 1;
        // Read what the server sends until the next frame is due; a `None` before then is
        // the connection closing.
        let deadline = Instant::now() + Duration::from_millis(500);
        while let Some(f) = crate::support::http2_frames::read_frame(
            &mut stream,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await
        {
            frames.push(f);
        }
        if Instant::now() < deadline {
            break true;
        }
    };
    let closed_after = started.elapsed();
    eprintln!("slow header block: closed {closed} after {closed_after:?} and {sent} frames");
    assert!(
        closed,
        "still open after {closed_after:?} ({sent} CONTINUATION frames)"
    );
    let goaway = frames
        .iter()
        .find(|f| f.kind == crate::support::http2_frames::GOAWAY)
        .expect("a GOAWAY");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serving(gw.addr).await;
    assert_h2_still_serving(gw.addr).await;
}
