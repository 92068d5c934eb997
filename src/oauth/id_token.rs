//! ID token validation (checklist I1–I5): signature with a JWKS key, algorithm from the
//! configured allow-list (never from the token alone), exact `iss`, `aud` of exactly this client,
//! `azp`, `exp`/`nbf`/`iat` with one skew, and `nonce`. Nothing is trusted before all pass.

use super::http::{ProviderHttp, ProviderHttpError};
use super::jwks::JwksCache;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
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
    #[error("the ID token has no `iat`")]
    NoIssuedAt,
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
    let header = check_header(token, expected.algs)?;
    // `jku`, `x5u` and `jwk` in the header are ignored: keys only ever come from the JWKS.
    let jwk = jwks
        .find(http, header.kid.as_deref())
        .await
        .map_err(IdTokenError::Jwks)?
        .ok_or(IdTokenError::UnknownKey)?;
    verify_with_key(token, &header, &jwk, expected)
}

/// The header of a token of the right shape and size whose algorithm is allowed. Nothing in it
/// is trusted yet: it only picks the key. Pure, so the fuzz target `id_token` calls it directly.
pub fn check_header(token: &str, algs: &[Algorithm]) -> Result<Header, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    reject_unsupported_header(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !algs.contains(&header.alg) {
        return Err(IdTokenError::AlgorithmNotAllowed);
    }
    Ok(header)
}

/// Checks the signature of `token` (whose `header` passed [`check_header`]) with `jwk`, then
/// every claim; returns the claims. Pure, like [`check_header`].
pub fn verify_with_key(
    token: &str,
    header: &Header,
    jwk: &Jwk,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    if let Some(key_alg) = jwk.common.key_algorithm
        && format!("{key_alg:?}") != format!("{:?}", header.alg)
    {
        return Err(IdTokenError::UnknownKey);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey)?;
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
    // `iat` is REQUIRED (OIDC Core §2). jsonwebtoken ignores "iat" in `required_spec_claims`, so
    // a token without one passed until the `id_token` fuzz target found it (issue 7).
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or(IdTokenError::NoIssuedAt)?;
    if iat > (expected.now + expected.skew.as_secs()) as f64 {
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

    // Found by the id_token fuzz target (issue 7): a signed token without `iat` was accepted
    // (jsonwebtoken does not enforce "iat" in required_spec_claims). checklist I4.
    #[test]
    fn fuzz_id_token_without_iat_is_rejected() {
        let e = expected(None);
        for iat in [None, Some(json!("1000000")), Some(json!(null))] {
            let mut c = claims(json!({"sub": "u", "aud": "app", "exp": 1_000_600}));
            if let Some(iat) = iat {
                c.insert("iat".to_owned(), iat);
            }
            assert!(matches!(
                check_claims(&c, &e),
                Err(IdTokenError::NoIssuedAt)
            ));
        }
        // A fractional NumericDate is still a time, and judged as one.
        let c = claims(json!({"sub": "u", "aud": "app", "iat": 1_003_600.5}));
        assert!(matches!(
            check_claims(&c, &e),
            Err(IdTokenError::IssuedInFuture)
        ));
        let c = claims(json!({"sub": "u", "aud": "app", "iat": 999_999.5}));
        assert!(check_claims(&c, &e).is_ok());
    }

    // The whole pure path (header, signature, claims) with a key, as the fuzz target runs it.
    #[test]
    fn fuzz_signed_token_without_iat_fails_verification() {
        use jsonwebtoken::{EncodingKey, Header as JwtHeader, encode};
        let secret = b"a test secret for HS256 tokens!!";
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "oct", "kid": "k", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(secret)
        }))
        .unwrap();
        let mut header = JwtHeader::new(Algorithm::HS256);
        header.kid = Some("k".to_owned());
        let e = Expected {
            algs: &[Algorithm::HS256],
            ..expected(None)
        };
        let sign = |claims: Value| encode(&header, &claims, &EncodingKey::from_secret(secret));
        // jsonwebtoken judges `exp` by the system clock, the rest by `expected.now`.
        let base = json!({"iss": "https://as", "sub": "u", "aud": "app", "exp": 4_000_000_000u64});
        let token = sign(base.clone()).unwrap();
        let parsed = check_header(&token, e.algs).unwrap();
        assert!(matches!(
            verify_with_key(&token, &parsed, &jwk, &e),
            Err(IdTokenError::NoIssuedAt)
        ));
        let mut with_iat = base;
        with_iat["iat"] = json!(1_000_000);
        let token = sign(with_iat).unwrap();
        assert!(verify_with_key(&token, &parsed, &jwk, &e).is_ok());
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
