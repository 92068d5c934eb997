//! The serde mirror of `gateway.yaml`: structure only, no meaning.
//!
//! Every struct denies unknown keys, so a typo is a startup error that serde_yaml reports with the
//! key path, line and column. Every leaf is a [`Scalar`] (the text as written) because values may
//! hold `${VAR}` references; `validate` interpolates and types them. This module must never read
//! the environment or the file system.

use serde::Deserialize;
use std::fmt;

/// One YAML scalar kept as text: strings, numbers and booleans alike.
#[derive(Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl fmt::Debug for Scalar {
    // The raw text may be a secret in later keys; never print it through Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scalar(..)")
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl serde::de::Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (text, number or boolean)")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    #[serde(default)]
    pub upstream: RawUpstreamClient,
    pub oauth: Option<RawOAuth>,
    pub session: Option<RawSession>,
    pub auth: Option<RawAuth>,
    pub routes: Vec<RawRoute>,
}

/// `oauth:` — one provider. A later `providers:` list can sit next to it without breaking files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    pub issuer: Option<Scalar>,
    pub authorization_endpoint: Option<Scalar>,
    pub token_endpoint: Option<Scalar>,
    pub userinfo_endpoint: Option<Scalar>,
    pub jwks_uri: Option<Scalar>,
    pub end_session_endpoint: Option<Scalar>,
    pub revocation_endpoint: Option<Scalar>,
    pub introspection_endpoint: Option<Scalar>,
    pub client_id: Scalar,
    pub client_secret: Option<Scalar>,
    pub client_secret_file: Option<Scalar>,
    pub client_auth_method: Option<Scalar>,
    pub scopes: Option<Vec<Scalar>>,
    pub extra_authorize_params: Option<std::collections::BTreeMap<String, Scalar>>,
    pub pkce: Option<Scalar>,
    pub id_token_algs: Option<Vec<Scalar>>,
    pub clock_skew: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub allow_http_provider: Option<Scalar>,
    pub userinfo_claims: Option<Scalar>,
}

/// `session:` — the encrypted cookie session.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub keys: Option<Vec<Scalar>>,
    pub keys_file: Option<Scalar>,
    pub cookie_name: Option<Scalar>,
    pub same_site: Option<Scalar>,
    pub absolute_lifetime: Option<Scalar>,
    pub idle_timeout: Option<Scalar>,
    pub refresh_skew: Option<Scalar>,
    pub dev_insecure_cookies: Option<Scalar>,
}

/// `auth:` — the `/auth/*` endpoints and the browser-facing rules.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub path_prefix: Option<Scalar>,
    pub default_return_to: Option<Scalar>,
    pub error_path: Option<Scalar>,
    pub post_logout_redirect: Option<Scalar>,
    pub logout_get: Option<Scalar>,
    pub csrf_header: Option<Scalar>,
    pub allowed_origins: Option<Vec<Scalar>>,
    pub max_login_cookies: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Scalar,
    pub admin_listen: Option<Scalar>,
    pub public_url: Scalar,
    #[serde(default)]
    pub trusted_proxies: Vec<Scalar>,
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub limits: RawLimits,
    pub shutdown_delay: Option<Scalar>,
    pub shutdown_grace: Option<Scalar>,
    pub workers: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Scalar,
    pub key_file: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_header_bytes: Option<Scalar>,
    pub max_headers: Option<Scalar>,
    pub max_uri_bytes: Option<Scalar>,
    pub max_body_bytes: Option<Scalar>,
    pub header_read_timeout: Option<Scalar>,
    pub tls_handshake_timeout: Option<Scalar>,
    pub max_connections: Option<Scalar>,
    pub h2_max_concurrent_streams: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamClient {
    pub connect_timeout: Option<Scalar>,
    pub pool_idle_timeout: Option<Scalar>,
    pub pool_max_idle_per_host: Option<Scalar>,
    pub extra_ca_file: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Option<Scalar>,
    pub path: Scalar,
    pub upstream: Scalar,
    pub strip_prefix: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub max_body_bytes: Option<Scalar>,
    pub host_header: Option<Scalar>,
    pub websocket: Option<Scalar>,
    pub allow_plain_http: Option<Scalar>,
    pub methods: Option<Vec<Scalar>>,
    pub auth: Option<Scalar>,
    pub token: Option<Scalar>,
    pub csrf: Option<Scalar>,
    pub unauthenticated: Option<Scalar>,
}
