//! Micro-benchmarks of the per-request work (issue 6): the session cookie codec (seal and open of
//! a 4 KB session), the whole "open the session cookie and build the Bearer" step of a signed-in
//! API request, route lookup and header rewriting.
//!
//! `cargo bench --bench hot_path`; the numbers are reported in BENCHMARKS.md.

use bff_gateway::auth::TokenHandler;
use bff_gateway::auth::opened::CAPACITY as OPENED_CAPACITY;
use bff_gateway::config::{self, Config};
use bff_gateway::metrics::Metrics;
use bff_gateway::proxy::headers::{self, Peer};
use bff_gateway::request_path;
use bff_gateway::router::Router;
use bff_gateway::session::{MasterKey, Purpose, Session, SessionCodec};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::header::{COOKIE, HeaderMap, HeaderValue};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const NOW: u64 = 1_800_000_000;

fn config(routes: usize) -> Config {
    let mut yaml = String::from(
        "server:\n  listen: 127.0.0.1:0\n  public_url: https://app.example.com\n\
         oauth:\n  issuer: https://login.example.com\n  client_id: spa\n  client_secret: s3cret\n\
         \x20 scopes: [openid, profile, email, offline_access]\n\
         session:\n  keys: [\"",
    );
    yaml.push_str(KEY);
    yaml.push_str("\"]\nroutes:\n");
    for i in 0..routes {
        yaml.push_str(&format!(
            "  - name: r{i}\n    path: /svc{i}/v1\n    upstream: https://10.0.0.{}:8443\n    auth: none\n",
            i % 250 + 1
        ));
    }
    yaml.push_str(
        "  - name: api\n    path: /api\n    upstream: http://127.0.0.1:9000\n    strip_prefix: true\n    auth: required\n\
         \x20 - name: spa\n    path: /\n    upstream: http://127.0.0.1:9001\n    auth: none\n",
    );
    match config::load_str(&yaml, "bench.yaml", Path::new("."), &|_| None) {
        Ok(config) => config,
        Err(error) => panic!("bench config: {error}"),
    }
}

/// Token-like text of `len` characters (base64url alphabet, like a JWT's).
fn token(seed: u8, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|i| ALPHABET[(i * 7 + usize::from(seed) * 13) % 64] as char)
        .collect()
}

/// A session the size a real provider's tokens give: ~1.2 KB access token, ~1 KB refresh and
/// ID tokens, a few profile claims — about 4 KB sealed.
fn session() -> Session {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "248289761001".into());
    claims.insert("name".into(), "Jane Doe".into());
    claims.insert("email".into(), "jane.doe@example.com".into());
    Session {
        at: token(1, 1200),
        at_exp: Some(NOW + 3600),
        rt: Some(token(2, 900)),
        idt: Some(token(3, 1000)),
        claims,
        created: NOW,
        seen: NOW,
    }
}

fn codec(c: &mut Criterion) {
    let key = match MasterKey::from_base64(KEY) {
        Ok(key) => key,
        Err(error) => panic!("key: {error}"),
    };
    let Some(codec) = SessionCodec::new(Purpose::Session, &[key], "https://app.example.com spa")
    else {
        panic!("codec");
    };
    let plaintext = match serde_json::to_vec(&session()) {
        Ok(bytes) => bytes,
        Err(error) => panic!("session json: {error}"),
    };
    let sealed = codec.seal("__Host-bff", &plaintext, NOW + 3600);
    let mut group = c.benchmark_group("session_codec");
    group.throughput(Throughput::Bytes(sealed.len() as u64));
    group.bench_function("seal_4kb", |b| {
        b.iter(|| codec.seal(black_box("__Host-bff"), black_box(&plaintext), NOW + 3600));
    });
    group.bench_function("open_4kb", |b| {
        b.iter(|| codec.open(black_box("__Host-bff"), black_box(&sealed), NOW));
    });
    group.finish();
}

/// The signed-in request's auth step as the gateway runs it: parse the `Cookie` header, join
/// the chunks, decrypt, deserialize, check lifetimes, build `Authorization: Bearer`.
fn authorize(c: &mut Criterion) {
    let config = config(2);
    let th = match TokenHandler::new(&config) {
        Ok(Some(th)) => Arc::new(th),
        _ => panic!("token handler"),
    };
    // Each sealing uses a fresh nonce, so every request below carries a distinct cookie.
    let request = || {
        let set_cookies = match th.write_session_over(&session(), 0) {
            Ok(values) => values,
            Err(error) => panic!("write session: {error}"),
        };
        // Browser-style `Cookie` header: the gateway's chunks plus a couple of the app's own.
        let mut cookie = String::from("theme=dark; _ga=GA1.2.123456789.1700000000");
        for value in &set_cookies {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            cookie.push_str("; ");
            cookie.push_str(pair);
        }
        let mut request = http::Request::get("https://app.example.com/api/contacts")
            .header("host", "app.example.com")
            .header("origin", "https://app.example.com")
            .header("x-csrf", "1")
            .header("sec-fetch-site", "same-origin")
            .header("accept", "application/json")
            .body(())
            .unwrap_or_default();
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            request.headers_mut().insert(COOKIE, value);
        }
        (request.into_parts().0, cookie.len())
    };
    let (parts, cookie_len) = request();
    // Many more distinct sessions than a worker keeps opened: (nearly) every open is a miss.
    let distinct: Vec<_> = (0..(OPENED_CAPACITY * 32)).map(|_| request().0).collect();
    let Some(route) = config.routes.iter().find(|r| r.name == "api") else {
        panic!("api route");
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => panic!("runtime: {error}"),
    };
    let check = |grant: Result<_, bff_gateway::auth::api::Refusal>| match grant {
        Ok(grant) => {
            let grant: bff_gateway::auth::api::Grant = grant;
            assert!(grant.authorization.is_some() && grant.set_cookies.is_empty());
        }
        Err(refusal) => panic!("authorize refused the session: {}", refusal.error),
    };
    let mut group = c.benchmark_group("auth_step");
    group.throughput(Throughput::Bytes(cookie_len as u64));
    group.bench_function("open_session_cookie_and_bearer_first_sight", |b| {
        let mut next = distinct.iter().cycle();
        b.iter(|| {
            let parts = next.next().unwrap_or(&parts);
            check(runtime.block_on(th.authorize(route, black_box(parts), false, NOW)));
        });
    });
    group.bench_function("open_session_cookie_and_bearer_seen_on_this_worker", |b| {
        b.iter(|| check(runtime.block_on(th.authorize(route, black_box(&parts), false, NOW))));
    });
    group.finish();
}

fn routing(c: &mut Criterion) {
    let config = config(30);
    let router = match Router::new(&config.routes, &Metrics::new()) {
        Ok(router) => router,
        Err(error) => panic!("router: {error}"),
    };
    let mut group = c.benchmark_group("routing");
    group.bench_function("normalise_and_lookup_32_routes", |b| {
        b.iter(|| {
            let path = request_path::normalise(black_box("/api/contacts/42/notes"));
            let Ok(path) = path else { panic!("path") };
            router.route(&path).map(|r| r.config.name.len())
        });
    });
    group.finish();
}

fn header_rewrite(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36",
        ),
        ("accept", "application/json"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        ("origin", "https://app.example.com"),
        ("referer", "https://app.example.com/contacts"),
        ("x-requested-with", "XMLHttpRequest"),
        ("connection", "keep-alive"),
        (
            "cookie",
            "theme=dark; __Host-bff=chunks-2; __Host-bffC1=abc; __Host-bffC2=def",
        ),
    ] {
        headers.insert(
            http::header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let peer = Peer::new(
        "192.0.2.10"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        true,
        &[],
    );
    let upstream_host = HeaderValue::from_static("10.0.0.1:8080");
    let mut group = c.benchmark_group("headers");
    group.bench_function("rewrite_browser_request", |b| {
        b.iter_batched_ref(
            || headers.clone(),
            |headers| {
                let original = headers.get(http::header::HOST).cloned();
                headers::remove_hop_by_hop(headers);
                headers::set_forwarded(headers, &peer, original.as_ref());
                headers::set_host(
                    headers,
                    bff_gateway::config::HostHeader::Upstream,
                    &upstream_host,
                    original,
                );
                headers::strip_cookies(headers, |name| name.starts_with("__Host-bff"));
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, codec, authorize, routing, header_rewrite);
criterion_main!(benches);
