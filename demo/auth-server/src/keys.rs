//! RSA signing keys, generated once per process and shared by every server in it (key generation
//! is slow; tests start many servers). One key is published in the JWKS; a second, "foreign"
//! key is never published and only signs tokens for the `unknown_kid` fault.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// RSA modulus size.
const BITS: usize = 2048;

/// An RSA key pair in the forms the server needs.
pub struct KeyPair {
    /// RFC 7638 JWK thumbprint, used as `kid`.
    pub kid: String,
    /// Signs RS256 tokens.
    pub encoding: EncodingKey,
    /// Verifies RS256 tokens (e.g. `id_token_hint`).
    pub decoding: DecodingKey,
    /// Public modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
    /// The public key as SPKI PEM (the `hs256_with_public_key` fault's HMAC key).
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Key generation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

static SIGNING: OnceLock<Result<KeyPair, KeyError>> = OnceLock::new();
static FOREIGN: OnceLock<Result<KeyPair, KeyError>> = OnceLock::new();

/// The published signing key (generated on first use; blocking, call off the async runtime).
pub fn signing() -> Result<&'static KeyPair, KeyError> {
    SIGNING.get_or_init(generate).as_ref().map_err(Clone::clone)
}

/// The unpublished key for the `unknown_kid` fault (generated on first use; blocking).
pub fn foreign() -> Result<&'static KeyPair, KeyError> {
    FOREIGN.get_or_init(generate).as_ref().map_err(Clone::clone)
}

fn generate() -> Result<KeyPair, KeyError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| KeyError(format!("{what}: {e}"));
    let private = RsaPrivateKey::new(&mut OsRng, BITS).map_err(|e| fail("generate", &e))?;
    let public = RsaPublicKey::from(&private);
    let pem = private
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| fail("encode private key", &e))?;
    let encoding =
        EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| fail("load private key", &e))?;
    let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
    let decoding =
        DecodingKey::from_rsa_components(&n, &e).map_err(|e| fail("load public key", &e))?;
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| fail("encode public key", &e))?;
    Ok(KeyPair {
        kid: thumbprint(&n, &e),
        encoding,
        decoding,
        n,
        e,
        public_pem,
    })
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyPair {
    /// The public key as a JWK (RFC 7517) for the JWKS.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_keys_differ_and_are_cached() {
        let a = signing().unwrap();
        let b = foreign().unwrap();
        assert_ne!(a.kid, b.kid);
        assert_eq!(a.kid.len(), 43);
        assert!(std::ptr::eq(a, signing().unwrap()));
        assert!(a.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(a.jwk()["e"], "AQAB");
    }
}
