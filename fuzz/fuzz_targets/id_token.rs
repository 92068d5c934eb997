//! ID token header and claims parsing: `check_header` (size, shape, `crit`, algorithm
//! allow-list) and `verify_with_key` (signature, then every claim), the two pure halves of
//! `id_token::validate` (checklist I1-I5, D5).
//!
//! Input: one mode byte, then
//! - even: a token as a provider (or an attacker) sends it, checked against a fixed RS256 key
//!   and a fixed HS256 key. Only the one token really signed with the RS256 key may pass;
//! - odd: a JOSE header and a claims set (JSON, separated by `\n`) the harness signs with the
//!   HS256 key, so the fuzzer reaches the claim checks; whatever passes is checked again here.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bff_gateway::oauth::id_token::{Expected, check_header, verify_with_key};
use bff_gateway_fuzz::NOW;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// The signing input of the seed `fuzz/corpus/id_token/real-rs256` (its private key is gone).
const SIGNED: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZ1enotcnMyNTYifQ.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJzdWIiOiIyNDgyODk3NjEwMDEiLCJhdWQiOiJhcHAiLCJhenAiOiJhcHAiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTgwMDAwMDAwMCwiYXV0aF90aW1lIjoxNzk5OTk5OTk1LCJub25jZSI6Im4tMFM2X1d6QTJNaiIsIm5hbWUiOiJKYW5lIERvZSIsImVtYWlsIjoiamFuZWRvZUBleGFtcGxlLmNvbSIsImVtYWlsX3ZlcmlmaWVkIjp0cnVlLCJzaWQiOiIwOGE1MDE5Yy0xN2UxLTQ5NzctOGY0Mi02NWExMjg0M2VhMDIifQ";
const RSA_JWK: &str = r#"{"kty":"RSA","kid":"fuzz-rs256","alg":"RS256","use":"sig","e":"AQAB","n":"0YfPZom8xQQOJruEUh1jZJQVb_cmxy1N5OuJBP00zK8mX3kIS5Q8MP26oxfonJnjkyAEv0iYTxr8UmC8XgV_LM7_XolbHrysqo7czXGZFV-AJaNtM_W18NjGbaHiukqX10tF212Af7GTeT_p4Y717wEhzREoJ3sXvjSb2OyTcndpvmZvy6fMowBcyHqVAj9IuNohhmtEfwggdJRuGWPjMZod3ITJQVogP_shNshYcruYC9gfuczBD5e9SRTYAvYSw6M0AcdNybu5GJCU0isqpUXQpjLTNtPfrMyb1ayu3tF5pkfM4iKgh2TplexpqoLp6Hbe8w06FTpNXJ5P-j_Oyw"}"#;
const HMAC_SECRET: &[u8] = b"bff-gateway fuzz HS256 key, protects nothing";
const ISSUER: &str = "https://as.example";
const CLIENT: &str = "app";
const NONCE: &str = "n-0S6_WzA2Mj";
const SKEW: u64 = 60;

fn keys() -> &'static [Jwk; 2] {
    static KEYS: OnceLock<[Jwk; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let oct = format!(
            r#"{{"kty":"oct","kid":"fuzz-hs256","alg":"HS256","k":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(HMAC_SECRET)
        );
        let parse = |text: &str| serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        [parse(RSA_JWK), parse(&oct)]
    })
}

/// As `JwksCache::lookup`: by `kid`; without one only a single-key set will do (ours has two).
fn lookup(kid: Option<&str>) -> Option<&'static Jwk> {
    keys()
        .iter()
        .find(|k| kid.is_some() && k.common.key_id.as_deref() == kid)
}

fn expected(nonce: Option<&'static str>) -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce,
        algs: &[
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::HS256,
        ],
        skew: Duration::from_secs(SKEW),
        now: NOW,
    }
}

fn validate(token: &str, nonce: Option<&'static str>) -> Option<serde_json::Map<String, Value>> {
    let expected = expected(nonce);
    let header = check_header(token, expected.algs).ok()?;
    let jwk = lookup(header.kid.as_deref())?;
    verify_with_key(token, &header, jwk, &expected).ok()
}

/// What every accepted token must satisfy, judged here without the code under test.
fn assert_acceptable(claims: &serde_json::Map<String, Value>, nonce: Option<&str>) {
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some(ISSUER),
        "I2"
    );
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == CLIENT,
        Some(Value::Array(list)) => !list.is_empty() && list.iter().all(|a| a == CLIENT),
        _ => false,
    };
    assert!(aud_ok, "I3: {:?}", claims.get("aud"));
    if let Some(azp) = claims.get("azp") {
        assert_eq!(azp.as_str(), Some(CLIENT), "I3 azp");
    }
    // jsonwebtoken judges `exp` and `nbf` by the system clock; `iat` is judged by `NOW`.
    let clock = jsonwebtoken::get_current_timestamp() as f64;
    let exp = claims.get("exp").and_then(Value::as_f64);
    assert!(
        // 2 s of slack: the clock is read again after the library's check.
        exp.is_some_and(|e| e + (SKEW + 2) as f64 >= clock),
        "I4 exp: {exp:?}"
    );
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        assert!(nbf <= clock + SKEW as f64, "I4 nbf: {nbf}");
    }
    let iat = claims.get("iat").and_then(Value::as_f64);
    assert!(
        iat.is_some_and(|i| i <= (NOW + SKEW) as f64),
        "I4 iat: {iat:?}"
    );
    if let Some(want) = nonce {
        assert_eq!(
            claims.get("nonce").and_then(Value::as_str),
            Some(want),
            "I5"
        );
    }
    assert!(
        claims
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty()),
        "sub"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let nonce = (mode & 2 == 0).then_some(NONCE);
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        if let Some(claims) = validate(token, nonce) {
            // checklist I1: no forged signature passes.
            assert_eq!(token.rsplit_once('.').map(|(s, _)| s), Some(SIGNED));
            assert_acceptable(&claims, nonce);
        }
        return;
    }
    let (header, claims) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let Ok(signature) = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(HMAC_SECRET),
        Algorithm::HS256,
    ) else {
        return;
    };
    if let Some(claims) = validate(&format!("{input}.{signature}"), nonce) {
        assert_acceptable(&claims, nonce);
    }
});
