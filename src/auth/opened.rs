//! A per-worker cache of opened session cookies.
//!
//! A browser sends the same sealed session cookie with every API call until the session is
//! rewritten (a refresh, or the idle-timeout touch every `idle_timeout / 8`). Opening it costs
//! about 5 µs for a 4 KB session (base64, AES-GCM, JSON), most of a signed-in request's own
//! work; decrypting the same bytes again always gives the same session, so each worker thread
//! keeps the sessions it opened recently, keyed by the sealed value itself.
//!
//! Safety of a hit: the lookup key is a fingerprint (length and last 32 characters, which hold
//! the end of the GCM tag), but a hit also needs the **whole** sealed value to be equal to the
//! one that was opened, so a value that differs anywhere — tampered, re-chunked, another key —
//! is a miss and goes through full decryption. (The comparison need not be constant-time: a
//! value only reaches it when its fingerprint already matches an entry, and the fingerprint is
//! the unguessable tag of a session the sender would have to hold already.) Entries belong to
//! one token-handler instance: a reload (new keys, new lifetimes) starts from empty. Lifetimes
//! are still checked on every request by the caller; the sealed expiry equals the session's
//! absolute end, which that check covers.
//!
//! Bounds: at most [`CAPACITY`] entries per worker thread (about 8 KB each for a 4 KB
//! session); when full, an arbitrary entry makes room. Thread-local: no lock on the hot path.

use crate::session::Session;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sessions kept per worker thread.
pub const CAPACITY: usize = 256;

/// Characters of the sealed value's end that form the lookup key.
const FINGERPRINT: usize = 32;

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

type Key = (u64, usize, [u8; FINGERPRINT]);

struct Entry {
    sealed: Box<str>,
    session: Arc<Session>,
}

thread_local! {
    static ENTRIES: RefCell<HashMap<Key, Entry>> = RefCell::new(HashMap::new());
}

/// One token handler's view of the per-thread cache.
#[derive(Debug)]
pub struct OpenedSessions {
    owner: u64,
}

impl Default for OpenedSessions {
    fn default() -> Self {
        Self {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl OpenedSessions {
    fn key(&self, sealed: &str) -> Option<Key> {
        let tail = sealed
            .as_bytes()
            .get(sealed.len().checked_sub(FINGERPRINT)?..)?;
        let mut fingerprint = [0u8; FINGERPRINT];
        fingerprint.copy_from_slice(tail);
        Some((self.owner, sealed.len(), fingerprint))
    }

    /// The session `sealed` opened to before on this thread, if it is exactly that value. Shared,
    /// not copied: a signed-in request reads it (a copy of its tokens and claims per request was
    /// a dozen allocations); the rare one that changes it copies it then.
    pub fn get(&self, sealed: &str) -> Option<Arc<Session>> {
        let key = self.key(sealed)?;
        ENTRIES.with(|entries| {
            let entries = entries.borrow();
            let entry = entries.get(&key)?;
            (*entry.sealed == *sealed).then(|| Arc::clone(&entry.session))
        })
    }

    /// Remembers that `sealed` opened to `session`.
    pub fn put(&self, sealed: &str, session: &Arc<Session>) {
        let Some(key) = self.key(sealed) else { return };
        ENTRIES.with(|entries| {
            let mut entries = entries.borrow_mut();
            if entries.len() >= CAPACITY
                && !entries.contains_key(&key)
                && let Some(evict) = entries.keys().next().copied()
            {
                entries.remove(&evict);
            }
            entries.insert(
                key,
                Entry {
                    sealed: sealed.into(),
                    session: Arc::clone(session),
                },
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(at: &str) -> Arc<Session> {
        Arc::new(Session {
            at: at.to_owned(),
            at_exp: None,
            rt: None,
            idt: None,
            claims: serde_json::Map::new(),
            created: 1,
            seen: 1,
        })
    }

    const SEALED: &str = "AQAAAAEAAAAAaQ0Kx1y2z3A4B5C6D7E8F9G0H1I2J3K4L5M6N7O8P9Q0R1S2T3U4";

    // checklist S3: a tampered value never rides on a cached session.
    #[test]
    fn a_hit_needs_the_whole_value_not_just_the_fingerprint() {
        let cache = OpenedSessions::default();
        cache.put(SEALED, &session("token-a"));
        assert_eq!(
            cache.get(SEALED).map(|s| s.at.clone()),
            Some("token-a".to_owned())
        );
        // Same length and same last 32 characters, one byte changed at the front: a miss.
        let mut tampered = SEALED.to_owned();
        tampered.replace_range(0..1, "B");
        assert_eq!(tampered.len(), SEALED.len());
        assert!(cache.get(&tampered).is_none());
        // Too short to fingerprint: never cached.
        cache.put("short", &session("x"));
        assert!(cache.get("short").is_none());
    }

    // checklist S8: entries never cross token-handler instances (reloaded keys, other apps).
    #[test]
    fn entries_belong_to_one_token_handler() {
        let before_reload = OpenedSessions::default();
        let after_reload = OpenedSessions::default();
        before_reload.put(SEALED, &session("token-a"));
        assert!(after_reload.get(SEALED).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = OpenedSessions::default();
        for i in 0..(CAPACITY * 3) {
            let sealed = format!("{SEALED}{i:08}");
            cache.put(&sealed, &session("t"));
        }
        let mine = ENTRIES.with(|e| e.borrow().keys().filter(|k| k.0 == cache.owner).count());
        assert!(mine <= CAPACITY, "{mine} entries");
        // The newest is kept.
        assert!(
            cache
                .get(&format!("{SEALED}{:08}", CAPACITY * 3 - 1))
                .is_some()
        );
    }
}
