//! The server's in-memory state, each part behind its own short-held `std::sync::Mutex`.
//! Secrets (codes, tokens, session ids) are keyed by their SHA-256 digest, never stored as is.

pub mod counters;
pub mod grants;
pub mod logins;

use sha2::{Digest as _, Sha256};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// SHA-256 of a secret, the key it is stored under.
pub type Digest = [u8; 32];

/// The digest of `secret`.
pub fn digest(secret: &str) -> Digest {
    Sha256::digest(secret.as_bytes()).into()
}

/// Locks `mutex`, carrying on after a panic elsewhere (the data stays consistent per operation).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
