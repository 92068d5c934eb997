//! `soak serve`: the two servers the gateway talks to, in one process — the demo authorization
//! server (real authorization code + PKCE, RS256 ID tokens, refresh tokens rotated on every use
//! with reuse detection) and the upstream (an API that checks every Bearer against that server's
//! live tokens, the SPA's static files, and a WebSocket echo behind the same Bearer check).
//!
//! Access tokens live [`ACCESS_TOKEN_TTL`], so every session refreshes every few seconds while
//! the driver keeps calling. The upstream never trusts the gateway: an API request without an
//! active Bearer is refused with `401` and `WWW-Authenticate: Bearer error="invalid_token"`
//! (which lets the gateway refresh once and retry), a Bearer or a gateway session cookie on a
//! public path is a `500` the driver counts as an error.
//!
//! Prints `issuer <url>` and `upstream <addr>` on stdout, then serves until killed.

use bff_demo_auth_server::{
    AuthEvent, AuthServer, AuthServerConfig, ClientConfig, EventHook, GrantType, UserConfig,
};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Short, so that refreshes (and their races) happen all the time; the gateway's
/// `refresh_skew` (set by `soak/run`) is below it.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(8);
/// Where the API route's upstream URL points (`<upstream>/backend`); everything else is public.
pub const API_BASE: &str = "/backend";
/// The gateway's session cookie family, which must never reach an upstream.
const SESSION_COOKIE: &str = "__Host-bff";

/// The virtual user `n`'s login name and password at the authorization server.
pub fn credentials(n: usize) -> (String, String) {
    (format!("soak-{n:02}"), format!("pw-soak-{n:02}"))
}

/// The SPA's static files: (path, content type, body). Deterministic, so the driver checks
/// every byte it gets back.
pub fn asset(path: &str) -> Option<(&'static str, Bytes)> {
    static APP_JS: LazyLock<Bytes> = LazyLock::new(|| {
        let mut js = String::with_capacity(64 * 1024);
        let mut i = 0;
        while js.len() < 64 * 1024 {
            js.push_str(&format!("export const v{i} = {};\n", i * 7919 % 10007));
            i += 1;
        }
        Bytes::from(js)
    });
    match path {
        "/" | "/index.html" => Some((
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<!doctype html><html><head><meta charset=\"utf-8\"><title>soak</title>\
                  <script type=\"module\" src=\"/assets/app.js\"></script></head>\
                  <body><main id=\"app\"></main></body></html>",
            ),
        )),
        "/assets/app.js" => Some(("text/javascript", APP_JS.clone())),
        _ => None,
    }
}

/// What the servers saw, for the driver's report (`GET /_soak/stats` on the upstream).
#[derive(Default)]
struct Counts {
    api: AtomicU64,
    api_rejected: AtomicU64,
    ws: AtomicU64,
    spa: AtomicU64,
    leaks: AtomicU64,
    refresh_issued: AtomicU64,
    refresh_refused: AtomicU64,
    code_issued: AtomicU64,
    login_forms: AtomicU64,
}

struct Upstream {
    provider: AuthServer,
    counts: Arc<Counts>,
}

pub fn serve(public_url: &str, users: usize) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(public_url.trim_end_matches('/'), users))
}

async fn run(public_url: &str, users: usize) -> Result<(), Box<dyn Error>> {
    let counts = Arc::new(Counts::default());
    let provider = AuthServer::start(provider_config(public_url, users, counts.clone())).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "issuer {}", provider.issuer())?;
    writeln!(stdout, "upstream {}", listener.local_addr()?)?;
    stdout.flush()?;
    let upstream = Arc::new(Upstream { provider, counts });
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("soak upstream: accept: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let upstream = upstream.clone();
                async move { Ok::<_, Infallible>(upstream.answer(request).await) }
            });
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = connection.await;
        });
    }
}

fn provider_config(public_url: &str, users: usize, counts: Arc<Counts>) -> AuthServerConfig {
    let client = ClientConfig {
        redirect_uris: vec![format!("{public_url}/auth/callback")],
        post_logout_redirect_uris: vec![format!("{public_url}/auth/logout/done")],
        ..ClientConfig::default()
    };
    let users = (1..=users)
        .map(|n| {
            let (username, password) = credentials(n);
            UserConfig {
                subject: format!("soak-subject-{n:02}"),
                name: format!("Soak User {n}"),
                email: format!("{username}@example.com"),
                username,
                password,
                ..UserConfig::default()
            }
        })
        .collect();
    AuthServerConfig {
        clients: vec![client],
        users,
        auto_approve: true,
        // Production-sized access tokens (2,048 characters): the session cookie is chunked.
        access_token_bytes: 1536,
        access_token_ttl: ACCESS_TOKEN_TTL,
        on_event: Some(EventHook::new(move |event| count_event(&counts, event))),
        ..AuthServerConfig::default()
    }
}

fn count_event(counts: &Counts, event: &AuthEvent) {
    let counter = match event {
        AuthEvent::TokensIssued {
            grant_type: GrantType::RefreshToken,
            ..
        } => &counts.refresh_issued,
        AuthEvent::TokensIssued {
            grant_type: GrantType::AuthorizationCode,
            ..
        } => &counts.code_issued,
        // Reuse of a rotated refresh token lands here, and revokes the whole grant.
        AuthEvent::TokenRefused {
            grant_type: Some(GrantType::RefreshToken),
            ..
        } => &counts.refresh_refused,
        AuthEvent::LoginFormShown { .. } => &counts.login_forms,
        _ => return,
    };
    counter.fetch_add(1, Relaxed);
}

impl Upstream {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let leaked = request.headers().get_all(COOKIE).iter().any(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .any(|pair| pair.trim().starts_with(SESSION_COOKIE))
        });
        if leaked {
            self.counts.leaks.fetch_add(1, Relaxed);
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session cookie reached the upstream",
            );
        }
        if path == "/_soak/stats" {
            return self.stats();
        }
        let Some(api_path) = path.strip_prefix(API_BASE) else {
            return self.public(&request, &path);
        };
        let bearer = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| self.provider.introspect(token));
        let Some(token) = bearer else {
            self.counts.api_rejected.fetch_add(1, Relaxed);
            let mut response = text(StatusCode::UNAUTHORIZED, "no active Bearer");
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        };
        if api_path == "/socket" {
            self.counts.ws.fetch_add(1, Relaxed);
            return websocket(request);
        }
        self.counts.api.fetch_add(1, Relaxed);
        let method = request.method().to_string();
        let body_len = match request.into_body().collect().await {
            Ok(body) => body.to_bytes().len(),
            Err(_) => return text(StatusCode::BAD_REQUEST, "body error"),
        };
        let answer = json!({
            "user": token.username,
            "method": method,
            "path": api_path,
            "body_len": body_len,
        });
        let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn public(&self, request: &Request<Incoming>, path: &str) -> Response<Full<Bytes>> {
        if request.headers().contains_key(AUTHORIZATION) {
            self.counts.leaks.fetch_add(1, Relaxed);
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "a Bearer on a public route",
            );
        }
        self.counts.spa.fetch_add(1, Relaxed);
        match asset(path) {
            Some((content_type, body)) => {
                let mut response = Response::new(Full::new(body));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                response
            }
            None => text(StatusCode::NOT_FOUND, "no such file"),
        }
    }

    fn stats(&self) -> Response<Full<Bytes>> {
        let c = &self.counts;
        let value = json!({
            "api": c.api.load(Relaxed),
            "api_rejected": c.api_rejected.load(Relaxed),
            "ws": c.ws.load(Relaxed),
            "spa": c.spa.load(Relaxed),
            "leaks": c.leaks.load(Relaxed),
            "refresh_issued": c.refresh_issued.load(Relaxed),
            "refresh_refused": c.refresh_refused.load(Relaxed),
            "code_issued": c.code_issued.load(Relaxed),
            "login_forms": c.login_forms.load(Relaxed),
        });
        Response::new(Full::new(Bytes::from(value.to_string())))
    }
}

/// Accepts a WebSocket handshake (RFC 6455 §4.2.2) and echoes text and binary messages.
fn websocket(mut request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = request.headers().get("sec-websocket-key").cloned() else {
        return text(StatusCode::BAD_REQUEST, "not a WebSocket handshake");
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        // A close is answered by the next read, which then ends the stream.
        while let Some(Ok(message)) = socket.next().await {
            let echo = matches!(message, Message::Text(_) | Message::Binary(_));
            if echo && socket.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert("connection", HeaderValue::from_static("upgrade"));
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}
