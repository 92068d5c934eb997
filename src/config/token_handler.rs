//! The token handler's sections of `gateway.yaml`: `oauth:` (the provider and this client),
//! `session:` (cookie keys and lifetimes) and `auth:` (the `/auth/*` endpoints and browser rules).
//!
//! Secrets (`client_secret`, session keys) are held in redacting newtypes from here on; no
//! message ever repeats them.

use super::raw::{RawAuth, RawOAuth, RawSession, Scalar};
use super::validate::{Checker, is_loopback_host, parse_bool, parse_duration, parse_route_path};
use super::{PublicUrl, resolve_secret};
use crate::session::MasterKey;
use cookie::SameSite;
use http::HeaderName;
use http::uri::{Scheme, Uri};
use jsonwebtoken::Algorithm;
use std::fmt;
use std::time::Duration;

/// A secret value; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct TokenHandlerConfig {
    pub oauth: OAuthConfig,
    pub session: SessionConfig,
    pub auth: AuthConfig,
}

/// Where the provider's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSource {
    /// OpenID Connect discovery at `<issuer>/.well-known/openid-configuration`.
    Discovery { issuer: String },
    /// Endpoints written in the file (plain OAuth 2.0 servers).
    Explicit(ProviderEndpoints),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderEndpoints {
    pub issuer: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    /// RFC 9207: the provider sends `iss` in authorization responses.
    pub iss_parameter_supported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub source: ProviderSource,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuthMethod,
    pub scopes: Vec<String>,
    pub extra_authorize_params: Vec<(String, String)>,
    pub pkce: bool,
    pub id_token_algs: Vec<Algorithm>,
    pub clock_skew: Duration,
    pub timeout: Duration,
    pub allow_http_provider: bool,
    /// Add the UserInfo endpoint's claims to the session's profile claims at login.
    pub userinfo_claims: bool,
}

impl OAuthConfig {
    pub fn wants_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

#[derive(Clone)]
pub struct SessionConfig {
    pub keys: Vec<MasterKey>,
    pub cookie_name: String,
    /// Login-transaction cookies are `<login_cookie_prefix><id>`.
    pub login_cookie_prefix: String,
    pub same_site: SameSite,
    pub secure: bool,
    pub absolute_lifetime: Duration,
    pub idle_timeout: Duration,
    pub refresh_skew: Duration,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("keys", &self.keys.len())
            .field("cookie_name", &self.cookie_name)
            .field("same_site", &self.same_site)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub path_prefix: String,
    pub default_return_to: String,
    pub error_path: Option<String>,
    pub post_logout_redirect: String,
    pub logout_get: bool,
    pub csrf_header: HeaderName,
    /// Origins (`scheme://host[:port]`, lowercase) allowed for CORS and the Origin check.
    pub allowed_origins: Vec<String>,
    pub max_login_cookies: usize,
}

const DEFAULT_ALGS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

impl Checker<'_> {
    pub(super) fn token_handler(
        &mut self,
        oauth: Option<&RawOAuth>,
        session: Option<&RawSession>,
        auth: Option<&RawAuth>,
        public_url: &PublicUrl,
    ) -> Option<TokenHandlerConfig> {
        let Some(oauth) = oauth else {
            for (present, key) in [(session.is_some(), "session"), (auth.is_some(), "auth")] {
                if present {
                    self.problem(
                        key,
                        "only used with `oauth:`; add an `oauth:` section or remove this one",
                    );
                }
            }
            return None;
        };
        let oauth = self.oauth(oauth);
        let default_session = RawSession::default();
        let session = self.session(session.unwrap_or(&default_session), public_url);
        let default_auth = RawAuth::default();
        let auth = self.auth(auth.unwrap_or(&default_auth));
        Some(TokenHandlerConfig {
            oauth: oauth?,
            session: session?,
            auth,
        })
    }

    fn oauth(&mut self, raw: &RawOAuth) -> Option<OAuthConfig> {
        let allow_http = self.value(
            "oauth.allow_http_provider",
            raw.allow_http_provider.as_ref(),
            false,
            parse_bool,
        );
        let url = |c: &mut Self, key: &str, s: Option<&Scalar>| -> Option<String> {
            let key = format!("oauth.{key}");
            c.value(&key, s, None, |t| {
                parse_provider_url(t, allow_http).map(Some)
            })
        };
        let issuer = url(self, "issuer", raw.issuer.as_ref());
        let authorization = url(
            self,
            "authorization_endpoint",
            raw.authorization_endpoint.as_ref(),
        );
        let token = url(self, "token_endpoint", raw.token_endpoint.as_ref());
        let endpoints = ProviderEndpoints {
            issuer: issuer.clone(),
            authorization_endpoint: authorization.clone().unwrap_or_default(),
            token_endpoint: token.clone().unwrap_or_default(),
            userinfo_endpoint: url(self, "userinfo_endpoint", raw.userinfo_endpoint.as_ref()),
            jwks_uri: url(self, "jwks_uri", raw.jwks_uri.as_ref()),
            end_session_endpoint: url(
                self,
                "end_session_endpoint",
                raw.end_session_endpoint.as_ref(),
            ),
            revocation_endpoint: url(
                self,
                "revocation_endpoint",
                raw.revocation_endpoint.as_ref(),
            ),
            introspection_endpoint: url(
                self,
                "introspection_endpoint",
                raw.introspection_endpoint.as_ref(),
            ),
            iss_parameter_supported: false,
        };
        let given = (
            raw.issuer.is_some(),
            raw.authorization_endpoint.is_some(),
            raw.token_endpoint.is_some(),
        );
        let source = match (&issuer, &authorization, &token) {
            (_, Some(_), Some(_)) => Some(ProviderSource::Explicit(endpoints.clone())),
            (Some(issuer), None, None) if !given.1 && !given.2 => Some(ProviderSource::Discovery {
                issuer: issuer.clone(),
            }),
            // A value was given but is invalid: that problem is already recorded.
            _ if self.has_problem_under("oauth.") => None,
            _ if given == (false, false, false) => {
                self.problem(
                    "oauth",
                    "needs `issuer` (OpenID Connect discovery) or `authorization_endpoint` and \
                     `token_endpoint`",
                );
                None
            }
            _ => {
                self.problem(
                    "oauth",
                    "explicit endpoints need both `authorization_endpoint` and `token_endpoint`",
                );
                None
            }
        };
        let client_id = self.value(
            "oauth.client_id",
            Some(&raw.client_id),
            String::new(),
            |t| {
                if t.is_empty() {
                    Err("must not be empty".to_owned())
                } else {
                    Ok(t.to_owned())
                }
            },
        );
        let client_secret = self.client_secret(raw);
        let client_auth = self.value(
            "oauth.client_auth_method",
            raw.client_auth_method.as_ref(),
            ClientAuthMethod::ClientSecretBasic,
            |t| match t {
                "client_secret_basic" => Ok(ClientAuthMethod::ClientSecretBasic),
                "client_secret_post" => Ok(ClientAuthMethod::ClientSecretPost),
                _ => Err("expected `client_secret_basic` or `client_secret_post`".to_owned()),
            },
        );
        let scopes: Vec<String> = match &raw.scopes {
            None => ["openid", "profile", "email"].map(String::from).to_vec(),
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    self.value(&format!("oauth.scopes[{i}]"), Some(s), String::new(), |t| {
                        if !t.is_empty()
                            && t.bytes()
                                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                        {
                            Ok(t.to_owned())
                        } else {
                            Err("a scope is one word of printable ASCII".to_owned())
                        }
                    })
                })
                .collect(),
        };
        if scopes.is_empty() {
            self.problem(
                "oauth.scopes",
                "list at least one scope, e.g. `[openid, profile]`",
            );
        }
        let extra_authorize_params = raw
            .extra_authorize_params
            .iter()
            .flatten()
            .filter_map(|(name, value)| {
                let key = format!("oauth.extra_authorize_params.{name}");
                const RESERVED: [&str; 12] = [
                    "response_mode",
                    "request",
                    "request_uri",
                    "response_type",
                    "client_id",
                    "redirect_uri",
                    "scope",
                    "state",
                    "nonce",
                    "code_challenge",
                    "code_challenge_method",
                    "client_secret",
                ];
                if RESERVED.contains(&name.as_str()) {
                    self.problem(
                        &key,
                        "is set by the gateway itself and cannot be overridden",
                    );
                    return None;
                }
                let value = self.value(&key, Some(value), String::new(), |t| Ok(t.to_owned()));
                Some((name.clone(), value))
            })
            .collect();
        let pkce = self.value("oauth.pkce", raw.pkce.as_ref(), true, |t| match t {
            "S256" => Ok(true),
            "disabled" => Ok(false),
            _ => Err(
                "expected `S256` (default) or `disabled` (only for servers that reject PKCE)"
                    .to_owned(),
            ),
        });
        let openid = scopes.iter().any(|s| s == "openid");
        if !pkce && !openid {
            self.problem(
                "oauth.pkce",
                "without PKCE the OpenID `nonce` is the only code-injection defence; add `openid` \
                 to `oauth.scopes` or keep `pkce: S256`",
            );
        }
        if openid
            && let Some(ProviderSource::Explicit(e)) = &source
            && (e.jwks_uri.is_none() || e.issuer.is_none())
        {
            self.problem(
                "oauth",
                "the `openid` scope needs `issuer` and `jwks_uri` to validate ID tokens; add \
                 them or use discovery (`issuer` alone)",
            );
        }
        let id_token_algs = match &raw.id_token_algs {
            None => DEFAULT_ALGS.to_vec(),
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    self.value(
                        &format!("oauth.id_token_algs[{i}]"),
                        Some(s),
                        Algorithm::RS256,
                        parse_alg,
                    )
                })
                .collect(),
        };
        let clock_skew = self.value(
            "oauth.clock_skew",
            raw.clock_skew.as_ref(),
            Duration::from_secs(60),
            parse_duration,
        );
        let timeout = self.value(
            "oauth.timeout",
            raw.timeout.as_ref(),
            Duration::from_secs(10),
            parse_duration,
        );
        let userinfo_claims = self.value(
            "oauth.userinfo_claims",
            raw.userinfo_claims.as_ref(),
            false,
            parse_bool,
        );
        Some(OAuthConfig {
            source: source?,
            client_id,
            client_secret: client_secret?,
            client_auth,
            scopes,
            extra_authorize_params,
            pkce,
            id_token_algs,
            clock_skew,
            timeout,
            allow_http_provider: allow_http,
            userinfo_claims,
        })
    }

    fn client_secret(&mut self, raw: &RawOAuth) -> Option<Secret> {
        let inline = raw.client_secret.as_ref().map(|s| {
            self.value("oauth.client_secret", Some(s), String::new(), |t| {
                Ok(t.to_owned())
            })
        });
        let file = raw
            .client_secret_file
            .as_ref()
            .map(|s| self.file("oauth.client_secret_file", s));
        match resolve_secret("oauth.client_secret", inline, file.as_deref()) {
            Ok(Some(secret)) if !secret.is_empty() => Some(Secret::new(secret)),
            Ok(_) => {
                self.problem(
                    "oauth.client_secret",
                    "a confidential client needs `client_secret` (e.g. `${CLIENT_SECRET}`) or \
                     `client_secret_file`",
                );
                None
            }
            Err(e) => {
                self.problem("oauth.client_secret", e.to_string());
                None
            }
        }
    }

    fn session(&mut self, raw: &RawSession, public_url: &PublicUrl) -> Option<SessionConfig> {
        let dev = self.value(
            "session.dev_insecure_cookies",
            raw.dev_insecure_cookies.as_ref(),
            false,
            parse_bool,
        );
        let loopback = is_loopback_host(public_url.authority.host());
        if dev && !loopback {
            self.problem(
                "session.dev_insecure_cookies",
                "is only allowed when `server.public_url` is a loopback address (localhost, \
                 127.0.0.1); production cookies must be `Secure` with the `__Host-` prefix",
            );
        }
        if !dev && public_url.scheme == Scheme::HTTP && !loopback {
            self.problem(
                "server.public_url",
                "session cookies are `Secure`, which browsers never send over plain http; use \
                 `https://`",
            );
        }
        let keys = self.session_keys(raw);
        let default_name = if dev { "bff" } else { "__Host-bff" };
        let cookie_name = self.value(
            "session.cookie_name",
            raw.cookie_name.as_ref(),
            default_name.to_owned(),
            |t| {
                if t.is_empty()
                    || !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                {
                    Err("use letters, digits, `-`, `_` and `.` only".to_owned())
                } else if !dev && !t.starts_with("__Host-") {
                    Err(
                        "must start with `__Host-` (the browser then refuses it from subdomains \
                         and without `Secure`)"
                            .to_owned(),
                    )
                } else {
                    Ok(t.to_owned())
                }
            },
        );
        let same_site = self.value(
            "session.same_site",
            raw.same_site.as_ref(),
            SameSite::Strict,
            |t| match t {
                "strict" => Ok(SameSite::Strict),
                "lax" => Ok(SameSite::Lax),
                _ => Err("expected `strict` (default) or `lax`".to_owned()),
            },
        );
        let absolute_lifetime = self.value(
            "session.absolute_lifetime",
            raw.absolute_lifetime.as_ref(),
            Duration::from_secs(12 * 3600),
            parse_duration,
        );
        let idle_timeout = self.value(
            "session.idle_timeout",
            raw.idle_timeout.as_ref(),
            Duration::from_secs(3600),
            parse_duration,
        );
        if idle_timeout > absolute_lifetime {
            self.problem(
                "session.idle_timeout",
                "must not be longer than `session.absolute_lifetime`",
            );
        }
        let refresh_skew = self.value(
            "session.refresh_skew",
            raw.refresh_skew.as_ref(),
            Duration::from_secs(30),
            parse_duration,
        );
        Some(SessionConfig {
            keys: keys?,
            login_cookie_prefix: format!("{cookie_name}-login-"),
            cookie_name,
            same_site,
            secure: !dev,
            absolute_lifetime,
            idle_timeout,
            refresh_skew,
        })
    }

    fn session_keys(&mut self, raw: &RawSession) -> Option<Vec<MasterKey>> {
        let mut texts: Vec<(String, String)> = Vec::new();
        for (i, s) in raw.keys.iter().flatten().enumerate() {
            let key = format!("session.keys[{i}]");
            let text = self.value(&key, Some(s), String::new(), |t| Ok(t.to_owned()));
            texts.push((key, text));
        }
        if let Some(file) = &raw.keys_file {
            let path = self.file("session.keys_file", file);
            match std::fs::read_to_string(&path) {
                Ok(content) => {
                    for (i, line) in content
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .enumerate()
                    {
                        texts.push((
                            format!("session.keys_file (key {})", i + 1),
                            line.to_owned(),
                        ));
                    }
                }
                Err(_) if !path.is_file() => {}
                Err(e) => self.problem(
                    "session.keys_file",
                    format!("cannot read {}: {e}", path.display()),
                ),
            }
        }
        if texts.is_empty() {
            self.problem(
                "session.keys",
                "needs at least one key to encrypt session cookies; generate one with \
                 `bff-gateway keygen` and pass it as `keys: [\"${SESSION_KEY}\"]` or `keys_file`",
            );
            return None;
        }
        let mut keys = Vec::new();
        for (key, text) in texts {
            match MasterKey::from_base64(&text) {
                Ok(k) => keys.push(k),
                Err(e) => self.problem(&key, e.to_string()),
            }
        }
        Some(keys)
    }

    fn auth(&mut self, raw: &RawAuth) -> AuthConfig {
        let local_path = |t: &str| -> Result<String, String> {
            if crate::auth::return_to::is_safe_local_path(t) {
                Ok(t.to_owned())
            } else {
                Err("must be a path on this site, like `/` or `/app/`".to_owned())
            }
        };
        let path_prefix = self.value(
            "auth.path_prefix",
            raw.path_prefix.as_ref(),
            "/auth".to_owned(),
            parse_route_path,
        );
        if path_prefix == "/" {
            self.problem(
                "auth.path_prefix",
                "must not be `/`; the default is `/auth`",
            );
        }
        let allowed_origins = raw
            .allowed_origins
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| {
                self.value(
                    &format!("auth.allowed_origins[{i}]"),
                    Some(s),
                    String::new(),
                    parse_origin,
                )
            })
            .collect();
        AuthConfig {
            default_return_to: self.value(
                "auth.default_return_to",
                raw.default_return_to.as_ref(),
                "/".to_owned(),
                local_path,
            ),
            error_path: raw
                .error_path
                .as_ref()
                .map(|s| self.value("auth.error_path", Some(s), "/".to_owned(), local_path)),
            post_logout_redirect: self.value(
                "auth.post_logout_redirect",
                raw.post_logout_redirect.as_ref(),
                "/".to_owned(),
                local_path,
            ),
            logout_get: self.value(
                "auth.logout_get",
                raw.logout_get.as_ref(),
                false,
                parse_bool,
            ),
            csrf_header: self.value(
                "auth.csrf_header",
                raw.csrf_header.as_ref(),
                HeaderName::from_static("x-csrf"),
                |t| {
                    HeaderName::from_bytes(t.as_bytes())
                        .map_err(|_| "expected a header name like `X-CSRF`".to_owned())
                },
            ),
            allowed_origins,
            max_login_cookies: self.value(
                "auth.max_login_cookies",
                raw.max_login_cookies.as_ref(),
                3,
                |t| match t.parse::<usize>() {
                    Ok(n) if (1..=10).contains(&n) => Ok(n),
                    _ => Err("expected a number from 1 to 10".to_owned()),
                },
            ),
            path_prefix,
        }
    }
}

fn parse_provider_url(text: &str, allow_http: bool) -> Result<String, String> {
    let uri: Uri = text
        .parse()
        .map_err(|_| "expected a URL like `https://login.example.com`".to_owned())?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_http => {}
        Some("http") => {
            return Err("must use `https://`; for a local test provider set \
                        `oauth.allow_http_provider: true`"
                .to_owned());
        }
        _ => return Err("must start with `https://`".to_owned()),
    }
    let Some(authority) = uri.authority() else {
        return Err("needs a host".to_owned());
    };
    if authority.as_str().contains('@') || text.contains('#') {
        return Err("must not contain user information or a fragment".to_owned());
    }
    Ok(text.to_owned())
}

fn parse_alg(text: &str) -> Result<Algorithm, String> {
    match text {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        _ => Err("expected an asymmetric algorithm: RS256/384/512, PS256/384/512, ES256/384 or EdDSA (`none` and HS* are refused)".to_owned()),
    }
}

/// `https://app.example.com[:port]` → lowercase origin text.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let uri: Uri = text
        .parse()
        .map_err(|_| "expected an origin like `https://app.example.com`".to_owned())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("expected an origin like `https://app.example.com`".to_owned());
    };
    if !matches!(scheme, "http" | "https") || authority.as_str().contains('@') {
        return Err("expected an http(s) origin without user information".to_owned());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("an origin has no path or query".to_owned());
    }
    Ok(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, load_str, render_effective};
    use std::path::Path;

    const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    fn yaml(oauth: &str, session: &str, extra: &str) -> String {
        format!(
            "server:\n  listen: 127.0.0.1:0\n  public_url: https://app.example\noauth:\n{oauth}session:\n{session}{extra}routes:\n  - path: /api\n    upstream: http://127.0.0.1:3000\n"
        )
    }

    fn oauth() -> &'static str {
        "  issuer: https://login.example\n  client_id: app\n  client_secret: ${SECRET}\n"
    }

    fn problems(text: &str) -> Vec<String> {
        let env = |name: &str| (name == "SECRET").then(|| "s3cret-value".to_owned());
        match load_str(text, "t.yaml", Path::new("."), &env) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(|p| p.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn a_complete_token_handler_config_loads_and_check_redacts_secrets() {
        let text = yaml(oauth(), &format!("  keys: [\"{KEY}\"]\n"), "");
        let env = |name: &str| (name == "SECRET").then(|| "s3cret-value".to_owned());
        let config = load_str(&text, "t.yaml", Path::new("."), &env).unwrap();
        let th = config.token_handler.as_ref().unwrap();
        assert_eq!(th.session.cookie_name, "__Host-bff");
        assert_eq!(th.auth.path_prefix, "/auth");
        assert_eq!(th.oauth.scopes, ["openid", "profile", "email"]);
        // checklist K2: the secret and keys never appear in `check` output or Debug.
        let shown = format!("{}{config:?}", render_effective(&config));
        assert!(
            !shown.contains("s3cret-value") && !shown.contains(KEY),
            "{shown}"
        );
        assert!(shown.contains("client_secret: \"<redacted>\""));
    }

    // checklist K3
    #[test]
    fn session_keys_are_required_and_must_be_32_random_bytes() {
        let p = problems(&yaml(oauth(), "  cookie_name: __Host-x\n", ""));
        assert!(
            p.iter()
                .any(|p| p.contains("`session.keys`") && p.contains("keygen")),
            "{p:?}"
        );
        let p = problems(&yaml(oauth(), "  keys: [\"c2hvcnQ=\"]\n", ""));
        assert!(
            p.iter()
                .any(|p| p.contains("`session.keys[0]`") && p.contains("32")),
            "{p:?}"
        );
    }

    // checklist K3: the insecure dev mode only on loopback.
    #[test]
    fn dev_cookies_are_refused_for_a_public_origin() {
        let session = format!("  keys: [\"{KEY}\"]\n  dev_insecure_cookies: true\n");
        let p = problems(&yaml(oauth(), &session, ""));
        assert!(
            p.iter()
                .any(|p| p.contains("`session.dev_insecure_cookies`")),
            "{p:?}"
        );
        let session = format!("  keys: [\"{KEY}\"]\n  cookie_name: bff\n");
        let p = problems(&yaml(oauth(), &session, ""));
        assert!(
            p.iter()
                .any(|p| p.contains("`session.cookie_name`") && p.contains("__Host-")),
            "{p:?}"
        );
    }

    // checklist K1, K2
    #[test]
    fn provider_must_be_https_and_the_secret_present() {
        let session = format!("  keys: [\"{KEY}\"]\n");
        let p = problems(&yaml(
            "  issuer: http://login.example\n  client_id: app\n",
            &session,
            "",
        ));
        assert!(
            p.iter()
                .any(|p| p.contains("`oauth.issuer`") && p.contains("https")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("`oauth.client_secret`")),
            "{p:?}"
        );
        let p = problems(&yaml(
            "  client_id: app\n  client_secret: x\n",
            &session,
            "",
        ));
        assert!(
            p.iter()
                .any(|p| p.contains("`oauth`") && p.contains("issuer")),
            "{p:?}"
        );
    }

    #[test]
    fn client_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "from-file\n").unwrap();
        let text = yaml(
            "  issuer: https://login.example\n  client_id: app\n  client_secret_file: secret\n",
            &format!("  keys: [\"{KEY}\"]\n"),
            "",
        );
        let config = load_str(&text, "t.yaml", dir.path(), &|_| None).unwrap();
        assert_eq!(
            config.token_handler.unwrap().oauth.client_secret.expose(),
            "from-file"
        );
    }

    #[test]
    fn signed_in_routes_need_oauth_and_auth_paths_cannot_be_shadowed() {
        let text = "server:\n  listen: 127.0.0.1:0\n  public_url: https://a\nroutes:\n  - path: /api\n    upstream: http://127.0.0.1:1\n";
        let p = problems(text);
        assert!(
            p.iter()
                .any(|p| p.contains("`routes[0].auth`") && p.contains("oauth")),
            "{p:?}"
        );
        let text = yaml(oauth(), &format!("  keys: [\"{KEY}\"]\n"), "")
            .replace("path: /api", "path: /auth/x");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|p| p.contains("`routes[0].path`") && p.contains("auth.path_prefix")),
            "{p:?}"
        );
    }
}
