//! Unguessable values (codes, tokens, session ids): 256 bits from the OS, base64url.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// 32 random bytes as 43 base64url characters.
pub fn token() -> Result<String, RandomError> {
    token_of(32)
}

/// `len` random bytes, base64url.
pub fn token_of(len: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).map_err(|_| RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_and_distinct() {
        let a = super::token().unwrap();
        let b = super::token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(super::token_of(1536).unwrap().len(), 2048);
    }
}
