//! OpenID Connect discovery (checklist K1): fetch `<issuer>/.well-known/openid-configuration`,
//! check that it names exactly the configured issuer and that its endpoints are https (unless
//! `allow_http_provider`), and remember whether the provider sends `iss` (RFC 9207, checklist B3).

use super::http::{ProviderHttp, ProviderHttpError};
use crate::config::ProviderEndpoints;
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Http(#[from] ProviderHttpError),
    #[error(
        "the discovery document names issuer {found:?}, but `oauth.issuer` is {expected:?}; they must be identical"
    )]
    IssuerMismatch { expected: String, found: String },
    #[error("the discovery document's {field} is not an https URL")]
    InsecureEndpoint { field: &'static str },
    #[error(
        "the provider does not list S256 in code_challenge_methods_supported; set `oauth.pkce: disabled` only if it rejects PKCE"
    )]
    NoS256,
}

#[derive(Debug, Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Fetches and checks the provider's metadata.
pub async fn discover(
    http: &ProviderHttp,
    issuer: &str,
    allow_http: bool,
    pkce: bool,
) -> Result<ProviderEndpoints, DiscoveryError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Document = http.get_json(&url).await?;
    if doc.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: doc.issuer,
        });
    }
    let secure = |field: &'static str, value: &Option<String>| match value {
        Some(v) if !is_allowed(v, allow_http) => Err(DiscoveryError::InsecureEndpoint { field }),
        _ => Ok(()),
    };
    secure(
        "authorization_endpoint",
        &Some(doc.authorization_endpoint.clone()),
    )?;
    secure("token_endpoint", &Some(doc.token_endpoint.clone()))?;
    secure("userinfo_endpoint", &doc.userinfo_endpoint)?;
    secure("jwks_uri", &doc.jwks_uri)?;
    secure("end_session_endpoint", &doc.end_session_endpoint)?;
    secure("revocation_endpoint", &doc.revocation_endpoint)?;
    secure("introspection_endpoint", &doc.introspection_endpoint)?;
    match &doc.code_challenge_methods_supported {
        Some(methods) if pkce && !methods.iter().any(|m| m == "S256") => {
            return Err(DiscoveryError::NoS256);
        }
        None if pkce => tracing::warn!(
            "the provider does not list code_challenge_methods_supported; sending PKCE S256 anyway"
        ),
        _ => {}
    }
    Ok(ProviderEndpoints {
        issuer: Some(doc.issuer),
        authorization_endpoint: doc.authorization_endpoint,
        token_endpoint: doc.token_endpoint,
        userinfo_endpoint: doc.userinfo_endpoint,
        jwks_uri: doc.jwks_uri,
        end_session_endpoint: doc.end_session_endpoint,
        revocation_endpoint: doc.revocation_endpoint,
        introspection_endpoint: doc.introspection_endpoint,
        iss_parameter_supported: doc.authorization_response_iss_parameter_supported,
    })
}

fn is_allowed(url: &str, allow_http: bool) -> bool {
    url.starts_with("https://") || (allow_http && url.starts_with("http://"))
}
