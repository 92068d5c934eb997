//! ID token validation (checklist I1–I5): signature with a JWKS key, algorithm from the
//! configured allow-list (never from the token alone), exact `iss`, `aud` of exactly this client,
//! `azp`, `exp`/`nbf`/`iat` with one skew, and `nonce`. Nothing is trusted before all pass.

use super::http::{ProviderHttp, ProviderHttpError};
use super::jwks::JwksCache;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::time::Duration;
use thiserror::Error;

/// Longest ID token accepted (checklist I1).
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Error)]
pub enum IdTokenError {
    #[error("the ID token is malformed")]
    Malformed,
    #[error("the ID token's algorithm is not in `oauth.id_token_algs`")]
    AlgorithmNotAllowed,
    #[error("the ID token has header fields the gateway does not support (`crit`)")]
    UnsupportedHeader,
    #[error("no key in the provider's JWKS matches the ID token")]
    UnknownKey,
    #[error("cannot fetch the provider's JWKS")]
    Jwks(#[source] ProviderHttpError),
    #[error("the ID token's signature or claims are invalid: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("the ID token's audience is not exactly this client")]
    Audience,
    #[error("the ID token's azp is not this client")]
    AuthorizedParty,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    #[error("the ID token's nonce does not match this login")]
    Nonce,
    #[error("the ID token has no subject")]
    NoSubject,
}

/// What the token must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// `Some` at login (must match); `None` for ID tokens from a refresh (must be absent or any).
    pub nonce: Option<&'a str>,
    pub algs: &'a [Algorithm],
    pub skew: Duration,
    /// Unix seconds.
    pub now: u64,
}

/// Validates `token`; returns its claims.
pub async fn validate(
    token: &str,
    jwks: &JwksCache,
    http: &ProviderHttp,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    reject_unsupported_header(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !expected.algs.contains(&header.alg) {
        return Err(IdTokenError::AlgorithmNotAllowed);
    }
    // `jku`, `x5u` and `jwk` in the header are ignored: keys only ever come from the JWKS.
    let jwk = jwks
        .find(http, header.kid.as_deref())
        .await
        .map_err(IdTokenError::Jwks)?
        .ok_or(IdTokenError::UnknownKey)?;
    if let Some(key_alg) = jwk.common.key_algorithm
        && format!("{key_alg:?}") != format!("{:?}", header.alg)
    {
        return Err(IdTokenError::UnknownKey);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| IdTokenError::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = expected.skew.as_secs();
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(IdTokenError::Invalid)?;
    check_claims(&data.claims, expected)?;
    Ok(data.claims)
}

fn reject_unsupported_header(token: &str) -> Result<(), IdTokenError> {
    let encoded = token.split('.').next().ok_or(IdTokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| IdTokenError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Malformed)?;
    if header.contains_key("crit") || header.contains_key("enc") {
        return Err(IdTokenError::UnsupportedHeader);
    }
    Ok(())
}

/// Checks the library does not make: single audience, `azp`, `iat` not in the future, `nonce`.
fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.client_id,
        Some(Value::Array(list)) => {
            !list.is_empty() && list.iter().all(|a| a.as_str() == Some(expected.client_id))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(IdTokenError::Audience);
    }
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(expected.client_id)
    {
        return Err(IdTokenError::AuthorizedParty);
    }
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat > expected.now + expected.skew.as_secs() {
        return Err(IdTokenError::IssuedInFuture);
    }
    match (expected.nonce, claims.get("nonce").and_then(Value::as_str)) {
        (Some(want), Some(got)) if constant_time_eq(want, got) => {}
        (Some(_), _) => return Err(IdTokenError::Nonce),
        (None, _) => {}
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(IdTokenError::NoSubject);
    }
    Ok(())
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(nonce: Option<&'static str>) -> Expected<'static> {
        Expected {
            issuer: "https://as",
            client_id: "app",
            nonce,
            algs: &[Algorithm::RS256],
            skew: Duration::from_secs(60),
            now: 1_000_000,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    // checklist I3
    #[test]
    fn audience_must_be_exactly_this_client() {
        let e = expected(None);
        let base = json!({"sub": "u", "iat": 1_000_000, "aud": "app"});
        assert!(check_claims(&claims(base), &e).is_ok());
        for aud in [json!("other"), json!(["app", "evil"]), json!([]), json!(5)] {
            let c = claims(json!({"sub": "u", "iat": 1_000_000, "aud": aud}));
            assert!(matches!(check_claims(&c, &e), Err(IdTokenError::Audience)));
        }
        let c = claims(json!({"sub": "u", "iat": 1_000_000, "aud": "app", "azp": "evil"}));
        assert!(matches!(
            check_claims(&c, &e),
            Err(IdTokenError::AuthorizedParty)
        ));
    }

    // checklist I4, I5
    #[test]
    fn iat_in_the_future_and_wrong_nonce_are_rejected() {
        let c = claims(json!({"sub": "u", "iat": 1_003_600, "aud": "app", "nonce": "n"}));
        assert!(matches!(
            check_claims(&c, &expected(Some("n"))),
            Err(IdTokenError::IssuedInFuture)
        ));
        let c = claims(json!({"sub": "u", "iat": 1_000_000, "aud": "app", "nonce": "old"}));
        assert!(matches!(
            check_claims(&c, &expected(Some("n"))),
            Err(IdTokenError::Nonce)
        ));
        let c = claims(json!({"sub": "u", "iat": 1_000_000, "aud": "app"}));
        assert!(matches!(
            check_claims(&c, &expected(Some("n"))),
            Err(IdTokenError::Nonce)
        ));
    }

    #[test]
    fn crit_header_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","crit":["x"]}"#);
        assert!(matches!(
            reject_unsupported_header(&format!("{header}.e30.sig")),
            Err(IdTokenError::UnsupportedHeader)
        ));
    }
}
