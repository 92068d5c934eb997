//! Shared helpers: a started server, a client that never follows redirects, JSON GETs (the
//! JWKS), PKCE pairs, and shortcuts for the authorization and token requests.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bff_demo_auth_server::{AuthServer, AuthServerConfig, ClientConfig};
use jsonwebtoken::jwk::JwkSet;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub const CLIENT: &str = "msnID";
pub const SECRET: &str = "demo-secret";
pub const REDIRECT: &str = "https://app.example/auth/callback";
pub const POST_LOGOUT: &str = "https://app.example/";
pub const SCOPE: &str = "openid profile email offline_access contacts";

/// A test configuration: one client with the redirect URIs above; login and consent skipped.
pub fn config() -> AuthServerConfig {
    AuthServerConfig {
        clients: vec![client(CLIENT, SECRET)],
        auto_approve: true,
        auto_login_user: Some("demo".to_owned()),
        ..AuthServerConfig::default()
    }
}

/// The same without the test shortcuts: the login form and consent screen are shown.
pub fn interactive_config() -> AuthServerConfig {
    AuthServerConfig {
        auto_approve: false,
        auto_login_user: None,
        ..config()
    }
}

pub fn client(id: &str, secret: &str) -> ClientConfig {
    ClientConfig {
        client_id: id.to_owned(),
        client_secret: secret.to_owned(),
        redirect_uris: vec![REDIRECT.to_owned()],
        post_logout_redirect_uris: vec![POST_LOGOUT.to_owned()],
        ..ClientConfig::default()
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs `url` (no redirects followed) and decodes the body as JSON, whatever the status.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: impl reqwest::IntoUrl) -> T {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// The server's JWKS.
pub async fn jwks(server: &AuthServer) -> JwkSet {
    get_json(format!("{}/oauth2/jwks", server.issuer())).await
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// A fresh verifier (unique per call) and its S256 challenge.
pub fn pkce() -> Pkce {
    static N: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}-{:?}",
        N.fetch_add(1, Ordering::Relaxed),
        std::time::Instant::now()
    );
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// An authorization URL with the usual parameters; `overrides` replace or add (empty value
/// removes).
pub fn authorize_url(server: &AuthServer, pkce: &Pkce, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", SCOPE),
        ("state", "st&te=1 2"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    format!("{}/oauth2/authorize?{}", server.issuer(), query.finish())
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    map
}

/// Runs the (auto-approved) authorization request; returns the code after checking the redirect.
pub async fn authorize(server: &AuthServer, pkce: &Pkce) -> String {
    let response = http()
        .get(authorize_url(server, pkce, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let q = query(&location);
    assert_eq!(q["state"], ["st&te=1 2"]);
    assert_eq!(q["iss"], [server.issuer()]);
    q["code"][0].clone()
}

/// How the client authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    None,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

/// POSTs a form to `path` with client authentication.
pub async fn post(
    server: &AuthServer,
    path: &str,
    form: &[(&str, &str)],
    auth: Auth<'_>,
) -> Answer {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut request = http().post(format!("{}{path}", server.issuer()));
    match auth {
        Auth::Basic(id, secret) => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        Auth::Post(id, secret) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
        Auth::None => {}
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        json,
    }
}

/// The code exchange.
pub async fn exchange(server: &AuthServer, code: &str, pkce: &Pkce, auth: Auth<'_>) -> Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &pkce.verifier),
    ];
    post(server, "/oauth2/token", &form, auth).await
}

/// A whole login; returns the token response.
pub async fn login(server: &AuthServer) -> Value {
    let pkce = pkce();
    let code = authorize(server, &pkce).await;
    let answer = exchange(server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    answer.json
}

/// Asserts an OAuth error answer.
pub fn assert_error(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.json);
    assert_eq!(answer.json["error"], error, "{}", answer.json);
    assert!(answer.json["error_description"].is_string() || status == 401);
}

pub async fn introspect(server: &AuthServer, token: &str) -> Value {
    let answer = post(
        server,
        "/oauth2/introspect",
        &[("token", token)],
        Auth::Basic(CLIENT, SECRET),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json
}

pub fn text(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {value}"))
        .to_owned()
}
