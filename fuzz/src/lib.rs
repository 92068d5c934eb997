//! What the fuzz targets share: one fixed configuration, the token handler built from it, codecs
//! equal to the handler's (so a target can seal plaintexts of its own choosing and reach the
//! deserializers behind the AEAD), and a tiny runner for `/auth/*` requests.
//!
//! Nothing here may reach the network: the provider's endpoints are on a closed local port and
//! the targets never send a request that gets as far as the token endpoint.

use bff_gateway::auth::TokenHandler;
use bff_gateway::body::ResponseBody;
use bff_gateway::config::{Config, load_str};
use bff_gateway::session::{MasterKey, Purpose, SessionCodec};
use http::{HeaderValue, Request, Response};
use std::path::Path;
use std::sync::OnceLock;

/// The clock of every target that takes `now` (the seed cookies are sealed to outlive it).
pub const NOW: u64 = 1_800_000_000;

/// Fixed test keys: the first seals, both open. They protect nothing but the seed corpora.
pub const KEYS: [&str; 2] = [
    "4Sm78wStj5Rwf+ybs9oD8gbzAwijT9trq6DcaFp7pAE=",
    "I6X7Vv6/Oq3yohFLdlo5KCYCLB0MRoU/6POL8iJK65c=",
];

/// `"<public_url> <client_id>"`: the label the token handler derives its cookie keys with.
const APP: &str = "https://app.example app";

pub const SESSION_COOKIE: &str = "__Host-bff";
pub const LOGIN_PREFIX: &str = "__Host-bff-login-";
pub const HOST: &str = "app.example";

/// Explicit endpoints (so the provider is known without discovery) on a closed port.
pub fn config_text() -> String {
    format!(
        "server:
  listen: 127.0.0.1:0
  public_url: https://{HOST}
oauth:
  issuer: https://as.example
  authorization_endpoint: https://as.example/authorize
  token_endpoint: http://127.0.0.1:1/token
  jwks_uri: http://127.0.0.1:1/jwks
  end_session_endpoint: https://as.example/logout
  allow_http_provider: true
  client_id: app
  client_secret: fuzz-secret
  scopes: [openid, profile]
session:
  keys: [\"{}\", \"{}\"]
  idle_timeout: 1h
  absolute_lifetime: 8h
routes:
  - path: /api
    upstream: http://127.0.0.1:1
    auth: required
",
        KEYS[0], KEYS[1]
    )
}

pub fn config() -> Config {
    match load_str(&config_text(), "fuzz.yaml", Path::new("."), &|_| None) {
        Ok(config) => config,
        Err(error) => panic!("the fuzz configuration does not load: {error}"),
    }
}

/// The token handler of [`config`], built once per process.
pub fn handler() -> &'static TokenHandler {
    static HANDLER: OnceLock<TokenHandler> = OnceLock::new();
    HANDLER.get_or_init(|| match TokenHandler::new(&config()) {
        Ok(Some(th)) => th,
        _ => panic!("the fuzz configuration has no token handler"),
    })
}

fn keys() -> Vec<MasterKey> {
    KEYS.iter()
        .map(|k| MasterKey::from_base64(k).unwrap_or_else(|_| panic!("bad fuzz key")))
        .collect()
}

/// A codec equal to the handler's for `purpose` (same keys, same application label); the
/// targets check once that the handler opens what it seals, so a change in the derivation shows
/// up as a failing fuzz run rather than as a target that silently stops reaching the parsers.
pub fn codec(purpose: Purpose) -> &'static SessionCodec {
    static SESSION: OnceLock<SessionCodec> = OnceLock::new();
    static LOGIN: OnceLock<SessionCodec> = OnceLock::new();
    let slot = match purpose {
        Purpose::Session => &SESSION,
        Purpose::Login => &LOGIN,
    };
    slot.get_or_init(|| {
        SessionCodec::new(purpose, &keys(), APP).unwrap_or_else(|| panic!("empty key ring"))
    })
}

/// The `Cookie` header a browser sends back for these `Set-Cookie` values (deletions dropped).
pub fn echo_back(set_cookies: &[HeaderValue]) -> Option<HeaderValue> {
    let pairs: Vec<&str> = set_cookies
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .filter(|p| !p.ends_with('='))
        .collect();
    HeaderValue::from_str(&pairs.join("; ")).ok()
}

/// Runs one `GET` of `/auth<rest>?<query>` through [`TokenHandler::endpoint`]; `None` when the
/// input cannot form a request (an invalid URI or header value).
pub fn get(rest: &str, query: Option<&str>, cookies: &[&[u8]]) -> Option<Response<ResponseBody>> {
    let uri = match query {
        Some(q) => format!("/auth{rest}?{q}"),
        None => format!("/auth{rest}"),
    };
    let mut builder = Request::get(uri).header(http::header::HOST, HOST);
    for line in cookies {
        builder = builder.header(http::header::COOKIE, HeaderValue::from_bytes(line).ok()?);
    }
    let request = builder.body(()).ok()?;
    Some(runtime().block_on(handler().endpoint(&request, rest, None)))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("no tokio runtime: {e}"))
    })
}

/// The handler names a login cookie after a hash of its state, never the state itself.
pub fn login_cookie_name(state: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(state.as_bytes());
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9]);
    format!("{LOGIN_PREFIX}{id}")
}

/// Splits a fuzz input into lines at `\n` (several `Cookie` headers, or query + cookies).
pub fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n').collect()
}

#[cfg(test)]
mod seeds;
