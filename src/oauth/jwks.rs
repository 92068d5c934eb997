//! The provider's signing keys (checklist I6): fetched once, looked up by `kid`; an unknown `kid`
//! triggers one re-fetch, at most once per [`REFETCH_INTERVAL`], so a forged `kid` cannot turn
//! the gateway into a JWKS-fetching amplifier. Keys that do not parse are skipped, not fatal.
//! The set fetched before the latest one is kept too, so ID tokens signed just before a key
//! rollover still verify.

use super::http::{ProviderHttp, ProviderHttpError};
use jsonwebtoken::jwk::Jwk;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct JwksCache {
    uri: String,
    keys: RwLock<Generations>,
    last_forced: Mutex<Option<Instant>>,
}

/// The latest fetched key set and the one before it.
#[derive(Debug, Default, Clone)]
struct Generations {
    current: Arc<Vec<Jwk>>,
    previous: Arc<Vec<Jwk>>,
}

#[derive(serde::Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl JwksCache {
    pub fn new(uri: String) -> Self {
        Self {
            uri,
            keys: RwLock::new(Generations::default()),
            last_forced: Mutex::new(None),
        }
    }

    /// Fetches the key set now.
    pub async fn refresh(&self, http: &ProviderHttp) -> Result<(), ProviderHttpError> {
        let set: RawSet = http.get_json(&self.uri).await?;
        let keys: Vec<Jwk> = set
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        if let Ok(mut slot) = self.keys.write() {
            let previous = std::mem::replace(&mut slot.current, Arc::new(keys));
            slot.previous = previous;
        }
        Ok(())
    }

    /// The key with this `kid` (or the only key when the token names none), re-fetching once
    /// when it is unknown.
    pub async fn find(
        &self,
        http: &ProviderHttp,
        kid: Option<&str>,
    ) -> Result<Option<Jwk>, ProviderHttpError> {
        if let Some(key) = self.lookup(kid) {
            return Ok(Some(key));
        }
        if !self.may_refetch() {
            return Ok(None);
        }
        self.refresh(http).await?;
        Ok(self.lookup(kid))
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Jwk> {
        let keys = self.keys.read().ok()?.clone();
        match kid {
            Some(kid) => keys
                .current
                .iter()
                .chain(keys.previous.iter())
                .find(|k| k.common.key_id.as_deref() == Some(kid))
                .cloned(),
            // Without a `kid` only an unambiguous current set will do.
            None if keys.current.len() == 1 => keys.current.first().cloned(),
            None => None,
        }
    }

    fn may_refetch(&self) -> bool {
        let Ok(mut last) = self.last_forced.lock() else {
            return false;
        };
        let now = Instant::now();
        match *last {
            Some(at) if now.duration_since(at) < REFETCH_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}
