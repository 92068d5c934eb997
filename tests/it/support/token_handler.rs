//! The token handler under test: the demo authorization server (`bff-demo-auth-server`, a real
//! HTTP provider with scriptable faults), an upstream behind `/api`, and the gateway in front,
//! started in-process on loopback ports; plus the browser steps every token-handler test takes
//! (log in, log out) and the CORS answers they check.

use crate::support::browser::{Browser, StartedLogin};
use crate::support::{TestGateway, TestUpstream};
use bff_demo_auth_server::{AuthServer, AuthServerConfig};
use std::time::Duration;

/// The session cookie and the login-cookie prefix of the default config.
pub const SESSION: &str = "__Host-bff";
pub const LOGIN_PREFIX: &str = "__Host-bff-login-";

/// The session cookie's value in `browser`'s jar for `base`.
pub fn session_value(browser: &Browser, base: &str) -> Option<String> {
    browser.jar(base).get(SESSION).map(|c| c.value.clone())
}

/// The login-transaction cookies in `browser`'s jar for `base`.
pub fn login_cookie_names(browser: &Browser, base: &str) -> Vec<String> {
    browser
        .jar(base)
        .into_keys()
        .filter(|name| name.starts_with(LOGIN_PREFIX))
        .collect()
}

/// Whether the response sets or clears the session cookie.
pub fn touches_session(response: &reqwest::Response) -> bool {
    crate::support::browser::set_cookie_lines(response)
        .iter()
        .any(|line| line.starts_with(&format!("{SESSION}=")))
}

pub const KEY_A: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
pub const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The attributes of a login-transaction cookie, and of the pending logout's (one of that
/// family): sent on the provider's cross-site redirect back (Lax), gone after ten minutes.
pub const LOGIN_COOKIE_ATTRIBUTES: [&str; 5] = [
    "HttpOnly",
    "Secure",
    "SameSite=Lax",
    "Path=/",
    "Max-Age=600",
];

pub struct Setup {
    pub provider: AuthServer,
    pub gateway: TestGateway,
    /// The upstream behind `/api`, kept alive for the test's duration.
    _api: Kept,
    /// `http://127.0.0.1:<port>`, the gateway's public URL.
    pub base: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The API upstream behind `/api`.
#[derive(Default)]
pub enum Api {
    /// Echoes the request as JSON.
    #[default]
    Echo,
    /// A resource server that introspects the Bearer token at the provider (RFC 7662) and
    /// answers `401 invalid_token` when it is not active, else echoes.
    Introspecting,
    /// Any other upstream.
    Custom(TestUpstream),
    /// A WebSocket echo server (the route gets `websocket: true`).
    WebSocket,
}

/// The upstream behind `/api`, kept alive with the setup.
enum Kept {
    Http(#[allow(dead_code)] TestUpstream),
    Ws(#[allow(dead_code)] crate::support::upstream::WsUpstream),
}

pub struct Options {
    pub api: Api,
    pub keys: Vec<&'static str>,
    /// Lines added to `oauth:` (indented two spaces).
    pub oauth_extra: String,
    /// The client secret, at the provider and in the gateway's config.
    pub client_secret: &'static str,
    pub session_extra: String,
    pub auth_extra: String,
    /// The `/api` route's `auth:` mode.
    pub route_auth: &'static str,
    pub route_extra: String,
    pub provider: AuthServerConfig,
    pub port: Option<u16>,
}

/// The demo authorization server's settings for these tests: consent is given and user `demo`
/// logged in without a form. Redirect URIs are for the caller to register.
pub fn demo_provider() -> AuthServerConfig {
    AuthServerConfig {
        auto_approve: true,
        auto_login_user: Some("demo".to_owned()),
        ..AuthServerConfig::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            api: Api::Echo,
            keys: vec![KEY_A],
            oauth_extra: String::new(),
            client_secret: "demo-secret",
            session_extra: String::new(),
            auth_extra: String::new(),
            route_auth: "required",
            route_extra: String::new(),
            provider: demo_provider(),
            port: None,
        }
    }
}

impl Options {
    /// Access tokens that live `ttl` at the provider; the gateway refreshes one that expires
    /// within a second (`session.refresh_skew: 1s`).
    pub fn short_lived_tokens(ttl: Duration) -> Self {
        let mut options = Self::default();
        options.provider.access_token_ttl = ttl;
        options.session_extra = "  refresh_skew: 1s\n".to_owned();
        options
    }
}

pub async fn setup(mut options: Options) -> Setup {
    let port = options.port.unwrap_or_else(free_port);
    let base = format!("http://127.0.0.1:{port}");
    for client in &mut options.provider.clients {
        client.redirect_uris = vec![format!("{base}/auth/callback")];
        client.post_logout_redirect_uris = vec![format!("{base}/auth/logout/done")];
        client.client_secret = options.client_secret.to_owned();
    }
    let provider = AuthServer::start(options.provider)
        .await
        .expect("provider starts");
    let mut route_extra = options.route_extra;
    let (api_url, api) = match options.api {
        Api::WebSocket => {
            let ws = crate::support::upstream::WsUpstream::start().await;
            route_extra.push_str("    websocket: true\n");
            (format!("http://{}", ws.addr), Kept::Ws(ws))
        }
        other => {
            let upstream = match other {
                Api::Introspecting => {
                    introspecting_api(provider.issuer(), options.client_secret).await
                }
                Api::Custom(upstream) => upstream,
                _ => TestUpstream::echo().await,
            };
            (upstream.url(), Kept::Http(upstream))
        }
    };
    let keys: Vec<String> = options.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  public_url: {base}\n\
         oauth:\n  issuer: {issuer}\n  allow_http_provider: true\n  client_id: msnID\n  client_secret: \"{secret}\"\n\
         \x20 scopes: [openid, profile, email, offline_access, contacts]\n{oauth_extra}\
         session:\n  keys: [{keys}]\n{session_extra}\
         auth:\n  default_return_to: /home\n{auth_extra}\
         routes:\n  - name: api\n    path: /api\n    upstream: {api}\n    strip_prefix: true\n    auth: {route_auth}\n{route_extra}\
         \x20 - name: spa\n    path: /\n    upstream: {api}\n    auth: none\n",
        issuer = provider.issuer(),
        secret = options.client_secret,
        oauth_extra = options.oauth_extra,
        keys = keys.join(", "),
        session_extra = options.session_extra,
        auth_extra = options.auth_extra,
        route_extra = route_extra,
        route_auth = options.route_auth,
        api = api_url,
    );
    let gateway = TestGateway::start(&yaml).await;
    wait_ready(&gateway).await;
    Setup {
        provider,
        gateway,
        _api: api,
        base,
    }
}

/// A setup and a browser that has completed a login there.
pub async fn signed_in(options: Options) -> (Setup, Browser) {
    let s = setup(options).await;
    let mut browser = Browser::new();
    s.login(&mut browser).await;
    (s, browser)
}

/// `Api::Introspecting`: checks the Bearer at `{issuer}/oauth2/introspect` like the seed's
/// resource server does.
async fn introspecting_api(issuer: String, secret: &'static str) -> TestUpstream {
    TestUpstream::start(move |request| {
        let issuer = issuer.clone();
        async move {
            let token = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let active = match token {
                None => false,
                Some(token) => {
                    crate::support::client()
                        .post(format!("{issuer}/oauth2/introspect"))
                        .basic_auth("msnID", Some(secret))
                        .form(&[("token", token)])
                        .send()
                        .await
                        .unwrap()
                        .json::<serde_json::Value>()
                        .await
                        .unwrap()["active"]
                        == true
                }
            };
            if active {
                crate::support::upstream::echo(request).await
            } else {
                invalid_token()
            }
        }
    })
    .await
}

/// A resource server's refusal of the token: `401` with `Bearer error="invalid_token"`.
pub fn invalid_token() -> hyper::Response<crate::support::upstream::UpBody> {
    let mut response = crate::support::upstream::full(hyper::StatusCode::UNAUTHORIZED, "");
    response.headers_mut().insert(
        "www-authenticate",
        "Bearer error=\"invalid_token\"".parse().unwrap(),
    );
    response
}

pub async fn wait_ready(gateway: &TestGateway) {
    let admin = gateway.admin.expect("admin listener");
    for _ in 0..100 {
        if let Ok(r) = crate::support::client()
            .get(format!("http://{admin}/readyz"))
            .send()
            .await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway never became ready");
}

impl Setup {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/auth/login` → provider (auto-approves) → redirect to the callback (not yet followed).
    pub async fn start_login(&self, browser: &mut Browser, return_to: &str) -> String {
        let login = self.url(&format!("/auth/login?return_to={return_to}"));
        browser.start_login(&login).await.callback
    }

    /// `/auth/login?prompt=none` (the provider must answer without any interaction) →
    /// provider → redirect to the callback (not yet followed).
    pub async fn start_silent_login(&self, browser: &mut Browser, return_to: &str) -> StartedLogin {
        let login = self.url(&format!("/auth/login?prompt=none&return_to={return_to}"));
        browser.start_login(&login).await
    }

    /// A complete login; returns the callback response.
    pub async fn login(&self, browser: &mut Browser) -> reqwest::Response {
        let callback = self.start_login(browser, "/home").await;
        let response = browser.get(&callback).await;
        assert_eq!(response.status(), 200, "callback failed");
        response
    }

    pub async fn api(&self, browser: &mut Browser, path: &str) -> reqwest::Response {
        browser
            .send(reqwest::Method::GET, &self.url(path), &[("x-csrf", "1")])
            .await
    }

    /// `POST /auth/logout` with the CSRF header and `headers`.
    pub async fn logout(
        &self,
        browser: &mut Browser,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let headers: Vec<(&str, &str)> = [("x-csrf", "1")]
            .into_iter()
            .chain(headers.iter().copied())
            .collect();
        browser
            .send(reqwest::Method::POST, &self.url("/auth/logout"), &headers)
            .await
    }
}

/// Asserts that `response` lets JavaScript from `origin` read it, with credentials.
pub fn assert_cors_allows(response: &reqwest::Response, origin: &str) {
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
}

/// Asserts that `response` carries no CORS permission.
pub fn assert_no_cors(response: &reqwest::Response) {
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
