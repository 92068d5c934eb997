//! The OAuth 2.0 client: provider metadata (discovered or configured), the authorization URL,
//! code exchange, refresh, revocation and ID-token validation (checklist A1–A6, B5, R*, O*).
//!
//! Knows nothing about hyper's server side or cookies. Never logs a token, code or secret.

use super::discovery::{self, DiscoveryError};
use super::http::{FormAuth, ProviderHttp, ProviderHttpError, parse_json};
use super::id_token::{self, Expected, IdTokenError};
use super::jwks::JwksCache;
use crate::config::{ClientAuthMethod, OAuthConfig, ProviderEndpoints, ProviderSource};
use crate::error::error_chain;
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// The provider as known after discovery.
#[derive(Debug)]
pub struct Provider {
    pub endpoints: ProviderEndpoints,
    pub jwks: Option<JwksCache>,
}

impl Provider {
    fn new(endpoints: ProviderEndpoints) -> Self {
        let jwks = endpoints.jwks_uri.clone().map(JwksCache::new);
        Self { endpoints, jwks }
    }
}

/// Tokens from the token endpoint, checked for shape (checklist B5).
#[derive(Clone)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
pub enum TokenError {
    /// A definite OAuth error from the provider (`invalid_grant`, `invalid_client`, ...).
    #[error("the provider refused the request: {code}")]
    Rejected { code: String },
    #[error(transparent)]
    Unavailable(#[from] ProviderHttpError),
    #[error("the provider's token response is unusable: {0}")]
    Invalid(&'static str),
}

impl TokenError {
    /// Worth retrying later (the session is kept), as opposed to a definite refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(e) => e.is_transient(),
            Self::Rejected { .. } | Self::Invalid(_) => false,
        }
    }
}

#[derive(Debug)]
pub struct OAuthClient {
    config: OAuthConfig,
    redirect_uri: String,
    http: ProviderHttp,
    provider: OnceLock<Arc<Provider>>,
}

impl OAuthClient {
    pub fn new(config: OAuthConfig, redirect_uri: String) -> Result<Self, ProviderHttpError> {
        let http = ProviderHttp::new(config.timeout)?;
        let provider = OnceLock::new();
        if let ProviderSource::Explicit(endpoints) = &config.source {
            let _ = provider.set(Arc::new(Provider::new(endpoints.clone())));
        }
        Ok(Self {
            config,
            redirect_uri,
            http,
            provider,
        })
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The provider, once discovery succeeded (always, for explicit endpoints).
    pub fn provider(&self) -> Option<&Provider> {
        self.provider.get().map(|p| &**p)
    }

    /// Takes over the provider `old` already discovered when both are configured alike (a
    /// config reload that left `oauth:` as it was); returns whether it did.
    pub fn adopt_provider(&self, old: &OAuthClient) -> bool {
        let same = old.config.source == self.config.source
            && old.config.allow_http_provider == self.config.allow_http_provider
            && old.config.pkce == self.config.pkce;
        match (same, old.provider.get()) {
            (true, Some(provider)) => self.provider.set(provider.clone()).is_ok(),
            _ => false,
        }
    }

    /// One discovery attempt (a reload waits for it before switching).
    pub async fn discover_now(&self) -> Result<(), DiscoveryError> {
        let ProviderSource::Discovery { issuer } = &self.config.source else {
            return Ok(());
        };
        let provider = self.discover_once(issuer).await?;
        let _ = self.provider.set(Arc::new(provider));
        Ok(())
    }

    /// Runs discovery with exponential backoff (0.5 s doubling to 30 s) until it succeeds or
    /// `stop` is cancelled. Readiness follows `provider()`.
    pub async fn discover_until_ready(&self, stop: CancellationToken) {
        let ProviderSource::Discovery { issuer } = &self.config.source else {
            return;
        };
        let mut delay = Duration::from_millis(500);
        loop {
            match self.discover_once(issuer).await {
                Ok(provider) => {
                    let _ = self.provider.set(Arc::new(provider));
                    tracing::info!(issuer, "provider discovery done");
                    return;
                }
                Err(error) => {
                    tracing::warn!(issuer, error = %error_chain(&error), retry_in = %humantime::format_duration(delay), "provider discovery failed");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    async fn discover_once(&self, issuer: &str) -> Result<Provider, DiscoveryError> {
        let endpoints = discovery::discover(
            &self.http,
            issuer,
            self.config.allow_http_provider,
            self.config.pkce,
        )
        .await?;
        let provider = Provider::new(endpoints);
        if let Some(jwks) = &provider.jwks {
            jwks.refresh(&self.http).await?;
        }
        Ok(provider)
    }

    /// The authorization request URL (checklist A1, A3, A5, A6).
    pub fn authorize_url(
        &self,
        provider: &Provider,
        state: &str,
        code_challenge: Option<&str>,
        nonce: Option<&str>,
        prompt: Option<&str>,
    ) -> String {
        let endpoint = &provider.endpoints.authorization_endpoint;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", state);
        if let Some(challenge) = code_challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        if let Some(nonce) = nonce {
            query.append_pair("nonce", nonce);
        }
        if let Some(prompt) = prompt {
            query.append_pair("prompt", prompt);
        }
        for (name, value) in &self.config.extra_authorize_params {
            // The login's own `prompt` (silent login, re-authentication) wins over the default.
            if name == "prompt" && prompt.is_some() {
                continue;
            }
            query.append_pair(name, value);
        }
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        format!("{endpoint}{separator}{}", query.finish())
    }

    /// Redeems an authorization code (checklist B5).
    pub async fn exchange_code(
        &self,
        provider: &Provider,
        code: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier));
        }
        self.token_request(provider, form).await
    }

    /// Uses a refresh token (checklist R*).
    pub async fn refresh(
        &self,
        provider: &Provider,
        refresh_token: &str,
    ) -> Result<TokenResponse, TokenError> {
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token_request(provider, form).await
    }

    /// Revokes a token (RFC 7009); failures are logged, never fatal to logout.
    pub async fn revoke(&self, provider: &Provider, token: &str, hint: &str) {
        let Some(endpoint) = &provider.endpoints.revocation_endpoint else {
            return;
        };
        let form = vec![("token", token), ("token_type_hint", hint)];
        let (form, auth) = self.with_client_auth(form);
        match self.http.post_form(endpoint, &form, auth).await {
            Ok((200, _)) => tracing::debug!(hint, "token revoked"),
            Ok((status, _)) => tracing::warn!(status, "token revocation refused"),
            Err(error) => tracing::warn!(error = %error_chain(&error), "token revocation failed"),
        }
    }

    /// The UserInfo endpoint's claims for `access_token`, when the provider has the endpoint.
    pub async fn userinfo(
        &self,
        provider: &Provider,
        access_token: &str,
    ) -> Option<Result<Map<String, Value>, ProviderHttpError>> {
        let endpoint = provider.endpoints.userinfo_endpoint.as_ref()?;
        Some(self.http.get_json_bearer(endpoint, access_token).await)
    }

    /// Validates an ID token for this client (checklist I1–I5).
    pub async fn validate_id_token(
        &self,
        provider: &Provider,
        token: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<Map<String, Value>, IdTokenError> {
        let (Some(jwks), Some(issuer)) = (&provider.jwks, &provider.endpoints.issuer) else {
            return Err(IdTokenError::UnknownKey);
        };
        let expected = Expected {
            issuer,
            client_id: &self.config.client_id,
            nonce,
            algs: &self.config.id_token_algs,
            skew: self.config.clock_skew,
            now,
        };
        id_token::validate(token, jwks, &self.http, &expected).await
    }

    /// RP-initiated logout URL, when the provider has an end-session endpoint. `state` comes
    /// back on the redirect to `post_logout_redirect_uri` (OIDC RP-Initiated Logout §2, §3).
    pub fn end_session_url(
        &self,
        provider: &Provider,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> Option<String> {
        let endpoint = provider.endpoints.end_session_endpoint.as_ref()?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(hint) = id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
        query
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("state", state);
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Some(format!("{endpoint}{separator}{}", query.finish()))
    }

    async fn token_request<'a>(
        &'a self,
        provider: &Provider,
        form: Vec<(&'a str, &'a str)>,
    ) -> Result<TokenResponse, TokenError> {
        let endpoint = &provider.endpoints.token_endpoint;
        let (form, auth) = self.with_client_auth(form);
        let (status, body) = self.http.post_form(endpoint, &form, auth).await?;
        let json: Map<String, Value> = parse_json(endpoint, &body)?;
        if status != 200 {
            let code = json
                .get("error")
                .and_then(Value::as_str)
                .filter(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .unwrap_or("unknown_error");
            return Err(TokenError::Rejected {
                code: code.to_owned(),
            });
        }
        parse_token_response(&json)
    }

    fn with_client_auth<'a>(
        &'a self,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> (Vec<(&'a str, &'a str)>, FormAuth<'a>) {
        let id = self.config.client_id.as_str();
        let secret = self.config.client_secret.expose();
        match self.config.client_auth {
            ClientAuthMethod::ClientSecretBasic => (form, FormAuth::Basic { id, secret }),
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", id));
                form.push(("client_secret", secret));
                (form, FormAuth::None)
            }
        }
    }
}

/// The longest access-token lifetime taken from a provider (ten years): a larger `expires_in` is
/// capped, so that `now + expires_in` cannot overflow (which made every request refresh).
const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

fn parse_token_response(json: &Map<String, Value>) -> Result<TokenResponse, TokenError> {
    let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Invalid("no access_token"))?;
    let token_type = text("token_type").ok_or(TokenError::Invalid("no token_type"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Invalid("token_type is not Bearer"));
    }
    let expires_in = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .map(|seconds: u64| seconds.min(MAX_EXPIRES_IN));
    Ok(TokenResponse {
        access_token,
        expires_in,
        refresh_token: text("refresh_token").filter(|t| !t.is_empty()),
        id_token: text("id_token").filter(|t| !t.is_empty()),
        scope: text("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<TokenResponse, TokenError> {
        parse_token_response(v.as_object().unwrap())
    }

    // checklist B5
    #[test]
    fn token_responses_must_be_bearer_with_an_access_token() {
        assert!(
            parse(json!({"access_token": "a", "token_type": "bearer", "expires_in": "60"})).is_ok()
        );
        assert!(parse(json!({"access_token": "a", "token_type": "mac"})).is_err());
        assert!(parse(json!({"token_type": "Bearer"})).is_err());
        assert!(parse(json!({"access_token": "", "token_type": "Bearer"})).is_err());
        let r = parse(
            json!({"access_token": "a", "token_type": "Bearer", "expires_in": 30, "unknown": 1}),
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(30));
        assert!(!format!("{r:?}").contains("\"a\""));
    }

    // Found reviewing the overflow fuzz findings (issue 7): `expires_in` near u64::MAX made
    // `now + expires_in` overflow (a panic with overflow checks; without, an expiry in the past,
    // so every request refreshed). It is capped at ten years.
    #[test]
    fn review_expires_in_near_u64_max_is_capped_so_the_expiry_cannot_overflow() {
        for expires_in in [json!(u64::MAX), json!(u64::MAX.to_string())] {
            let r = parse(
                json!({"access_token": "a", "token_type": "Bearer", "expires_in": expires_in}),
            )
            .unwrap();
            assert_eq!(r.expires_in, Some(MAX_EXPIRES_IN));
            assert!(
                1_800_000_000u64
                    .checked_add(r.expires_in.unwrap())
                    .is_some()
            );
        }
    }
}
