//! One virtual user: logs in through the gateway (the real authorization code flow: `/auth/login`
//! → the provider's authorize endpoint → its login form, or its SSO session → `/auth/callback`),
//! then until the deadline: a burst of concurrent API calls sharing the one cookie jar (so
//! refreshes race, and the last response to arrive writes the cookie), the SPA's assets, now
//! and then a WebSocket round trip, and now and then a logout and a fresh login.
//!
//! A `401` from the gateway while the user holds a session is a lost session: counted once,
//! and the user signs in again, as an SPA would send its user to the login page.

use crate::browser::{Answer, Browser};
use crate::servers::{self, credentials};
use crate::tally::{Kind, Tally};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

mod sign_in;

/// The gateway's session cookie (the base of its chunked family).
const SESSION_COOKIE: &str = "__Host-bff";

/// What every user does, and until when.
pub struct Plan {
    /// The gateway's public URL.
    pub base: Url,
    /// `http://127.0.0.1:<port>`: the `Origin` an SPA served by the gateway sends.
    pub origin: String,
    /// Pause between iterations (±50 %).
    pub think: Duration,
    /// Concurrent API calls per burst.
    pub burst: usize,
    /// One iteration in this many has a WebSocket round trip.
    pub websocket_every: u64,
    /// One iteration in this many ends with a logout (and the next starts with a login).
    pub logout_every: u64,
    pub deadline: Instant,
}

/// How an operation ended when it did not succeed.
enum Failure {
    /// The gateway answered `401` to a signed-in user.
    Lost(String),
    Error(String),
}

type Outcome = Result<(), Failure>;

fn error(text: impl Into<String>) -> Failure {
    Failure::Error(text.into())
}

fn transport(what: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    error(format!("{what}: transport error ({kind})"))
}

/// A small xorshift generator: reproducible per user, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub struct User {
    n: usize,
    username: String,
    password: String,
    browser: Browser,
    plan: Arc<Plan>,
    tally: Arc<Tally>,
}

impl User {
    pub fn new(n: usize, plan: Arc<Plan>, tally: Arc<Tally>) -> Result<Self, reqwest::Error> {
        let (username, password) = credentials(n);
        Ok(Self {
            n,
            username,
            password,
            browser: Browser::new()?,
            plan,
            tally,
        })
    }

    fn url(&self, path: &str) -> Url {
        self.plan
            .base
            .join(path)
            .expect("a path joins the base URL")
    }

    pub async fn run(self) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (self.n as u64).wrapping_mul(0x2545_F491));
        // Spread the first logins over the first seconds.
        tokio::time::sleep(Duration::from_millis(rng.below(3000))).await;
        let mut signed_in = false;
        while Instant::now() < self.plan.deadline {
            if !signed_in {
                signed_in = self.timed(Kind::Login, self.login()).await;
                if !signed_in {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            signed_in = self.api_burst(&mut rng).await
                && self.timed(Kind::SpaAsset, self.spa_assets()).await
                && (rng.below(self.plan.websocket_every) != 0
                    || self.timed(Kind::WebSocket, self.websocket(&mut rng)).await);
            if signed_in && rng.below(self.plan.logout_every) == 0 {
                self.timed(Kind::Logout, self.logout()).await;
                signed_in = false;
            }
            let think = self.plan.think.as_millis() as u64;
            let pause = think / 2 + rng.below(think.max(1));
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// Runs one operation and counts it; true when it succeeded.
    async fn timed(&self, kind: Kind, operation: impl Future<Output = Outcome>) -> bool {
        let started = Instant::now();
        match operation.await {
            Ok(()) => {
                self.tally.succeeded(kind, started.elapsed());
                true
            }
            Err(Failure::Lost(how)) => {
                self.tally.lost(kind, how);
                false
            }
            Err(Failure::Error(cause)) => {
                self.tally.failed(kind, cause);
                // After a failed login or logout the session is in doubt: start over.
                !matches!(kind, Kind::Login | Kind::Logout)
            }
        }
    }

    async fn send(
        &self,
        kind: Kind,
        method: Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Answer, reqwest::Error> {
        self.tally.request(kind);
        self.browser.send(method, url, headers, body).await
    }

    /// Concurrent API calls with one jar; each reads the jar when it is sent (a jitter of up to
    /// 30 ms lets some go out after others have written a refreshed cookie).
    async fn api_burst(&self, rng: &mut Rng) -> bool {
        let with_post = rng.below(4) == 0;
        let calls: Vec<_> = (0..self.plan.burst)
            .map(|i| {
                let jitter = Duration::from_millis(rng.below(30));
                let post = with_post && i == 0;
                async move {
                    tokio::time::sleep(jitter).await;
                    let kind = if post { Kind::ApiPost } else { Kind::ApiGet };
                    let started = Instant::now();
                    (kind, started, self.api_call(post, i).await)
                }
            })
            .collect();
        let mut lost = None;
        let mut rewrites = 0;
        for (kind, started, outcome) in futures_util::future::join_all(calls).await {
            match outcome {
                Ok(rewrote) => {
                    rewrites += usize::from(rewrote);
                    self.tally.succeeded(kind, started.elapsed());
                }
                Err(Failure::Lost(how)) => lost = Some((kind, how)),
                Err(Failure::Error(cause)) => self.tally.failed(kind, cause),
            }
        }
        if rewrites > 0 {
            self.tally.bursts_refreshed.fetch_add(1, Relaxed);
        }
        if rewrites > 1 {
            self.tally.bursts_raced.fetch_add(1, Relaxed);
        }
        match lost {
            // One lost session, however many calls of the burst saw its 401.
            Some((kind, how)) => {
                self.tally.lost(kind, how);
                false
            }
            None => true,
        }
    }

    /// One API call; `Ok(true)` when its answer rewrote the session cookie (a refresh).
    async fn api_call(&self, post: bool, i: usize) -> Result<bool, Failure> {
        let (kind, method, what) = if post {
            (Kind::ApiPost, Method::POST, "POST /api/items")
        } else {
            (Kind::ApiGet, Method::GET, "GET /api/items/n")
        };
        let url = if post {
            self.url("/api/items")
        } else {
            self.url(&format!("/api/items/{i}"))
        };
        let body = post.then(|| {
            format!(
                "{{\"user\":\"{}\",\"note\":\"{}\"}}",
                self.username,
                "x".repeat(200 + i)
            )
        });
        let sent_len = body.as_ref().map_or(0, String::len);
        let mut headers = vec![
            ("accept", "application/json"),
            ("x-csrf", "1"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "same-origin"),
        ];
        if post {
            headers.push(("origin", self.plan.origin.as_str()));
            headers.push(("content-type", "application/json"));
        }
        let answer = self
            .send(kind, method, &url, &headers, body)
            .await
            .map_err(|e| transport(what, &e))?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Lost(format!("{what} answered 401")));
        }
        if answer.status != StatusCode::OK {
            return Err(error(format!("{what}: status {}", answer.status.as_u16())));
        }
        let echo: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if echo["user"] != self.username.as_str() {
            return Err(error(format!(
                "{what}: the upstream saw another user's Bearer"
            )));
        }
        if echo["body_len"] != sent_len {
            return Err(error(format!(
                "{what}: the upstream got another body length"
            )));
        }
        let rewrote = answer.headers.get_all(SET_COOKIE).iter().any(|v| {
            v.as_bytes().starts_with(SESSION_COOKIE.as_bytes())
                && v.as_bytes().get(SESSION_COOKIE.len()) == Some(&b'=')
        });
        Ok(rewrote)
    }

    /// The SPA's page and script, fetched together as a browser would; every byte is checked.
    async fn spa_assets(&self) -> Outcome {
        let fetch = |path: &'static str| async move {
            let url = self.url(path);
            let headers = [
                ("sec-fetch-mode", "no-cors"),
                ("sec-fetch-site", "same-origin"),
            ];
            let answer = self
                .send(Kind::SpaAsset, Method::GET, &url, &headers, None)
                .await
                .map_err(|e| transport(&format!("GET {path}"), &e))?;
            let expected = servers::asset(path).map(|(_, body)| body);
            if answer.status != StatusCode::OK {
                return Err(error(format!(
                    "GET {path}: status {}",
                    answer.status.as_u16()
                )));
            }
            if Some(&answer.body) != expected.as_ref() {
                return Err(error(format!("GET {path}: the body differs from the file")));
            }
            Ok(())
        };
        let (page, script) = tokio::join!(fetch("/index.html"), fetch("/assets/app.js"));
        page.and(script)
    }

    /// A WebSocket on the signed-in API route: handshake with the session cookie and the SPA's
    /// Origin (the gateway adds the Bearer), three echoes, a clean close.
    async fn websocket(&self, rng: &mut Rng) -> Outcome {
        let url = self.url("/api/socket");
        let mut ws_url = url.clone();
        let _ = ws_url.set_scheme("ws");
        let mut request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|_| error("ws: cannot build the handshake"))?;
        let headers = request.headers_mut();
        if let Some(cookie) = self
            .browser
            .cookie_header(&url)
            .and_then(|c| c.parse().ok())
        {
            headers.insert("cookie", cookie);
        }
        if let Ok(origin) = self.plan.origin.parse() {
            headers.insert("origin", origin);
        }
        self.tally.request(Kind::WebSocket);
        let connect = tokio_tungstenite::connect_async(request);
        let (mut socket, response) =
            match tokio::time::timeout(crate::browser::REQUEST_TIMEOUT, connect).await {
                Err(_) => return Err(error("ws: handshake timeout")),
                Ok(Ok(connected)) => connected,
                Ok(Err(tungstenite::Error::Http(response))) => {
                    self.browser.store(&url, response.headers());
                    if response.status() == StatusCode::UNAUTHORIZED {
                        return Err(Failure::Lost("WebSocket handshake answered 401".into()));
                    }
                    return Err(error(format!(
                        "ws: handshake status {}",
                        response.status().as_u16()
                    )));
                }
                Ok(Err(_)) => return Err(error("ws: handshake transport error")),
            };
        self.browser.store(&url, response.headers());
        for i in 0..3 {
            let text = format!("{}-{}-{}", self.username, i, rng.next());
            socket
                .send(Message::text(text.clone()))
                .await
                .map_err(|_| error("ws: send failed"))?;
            let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
            match echoed {
                Ok(Some(Ok(Message::Text(got)))) if got.as_str() == text => {}
                Ok(Some(Ok(_))) => return Err(error("ws: the echo differs")),
                Ok(Some(Err(_)) | None) => return Err(error("ws: closed before the echo")),
                Err(_) => return Err(error("ws: no echo within 5 s")),
            }
        }
        socket
            .close(None)
            .await
            .map_err(|_| error("ws: close failed"))?;
        // The close handshake: read until the server's close frame ends the stream.
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await
        {}
        Ok(())
    }
}
