//! What the virtual users count: operations by kind (with latency), HTTP requests, errors by
//! cause and sessions lost. Shared by all users; the lock is never held across an await.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// One thing a user does; a login or logout is several HTTP requests (the redirects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Login,
    ApiGet,
    ApiPost,
    SpaAsset,
    WebSocket,
    Logout,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Login,
        Kind::ApiGet,
        Kind::ApiPost,
        Kind::SpaAsset,
        Kind::WebSocket,
        Kind::Logout,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Login => "login (authorization code flow, login form)",
            Kind::ApiGet => "API GET (`auth: required`, in bursts)",
            Kind::ApiPost => "API POST with a body",
            Kind::SpaAsset => "SPA asset (`auth: none`)",
            Kind::WebSocket => "WebSocket round trip (3 echoes)",
            Kind::Logout => "logout (RP-initiated, via the provider)",
        }
    }
}

#[derive(Default)]
pub struct KindStats {
    pub operations: u64,
    pub failed: u64,
    pub requests: u64,
    /// Microseconds, of the operations that succeeded.
    pub latencies: Vec<u32>,
}

impl KindStats {
    /// The `q` quantile in milliseconds (the latencies must be sorted).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let last = self.latencies.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        f64::from(self.latencies[index.min(last)]) / 1000.0
    }
}

#[derive(Default)]
struct Inner {
    kinds: BTreeMap<Kind, KindStats>,
    errors: BTreeMap<String, u64>,
    lost: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Tally {
    inner: Mutex<Inner>,
    /// HTTP requests sent (WebSocket handshakes included), for the rate over time.
    pub requests: AtomicU64,
    pub sessions_lost: AtomicU64,
    pub logins: AtomicU64,
    /// API bursts in which at least one answer rewrote the session cookie (a refresh) …
    pub bursts_refreshed: AtomicU64,
    /// … and those in which two or more concurrent answers did (the refresh raced).
    pub bursts_raced: AtomicU64,
}

impl Tally {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }

    /// One HTTP request of `kind` went out.
    pub fn request(&self, kind: Kind) {
        self.requests.fetch_add(1, Relaxed);
        self.with(|i| i.kinds.entry(kind).or_default().requests += 1);
    }

    pub fn succeeded(&self, kind: Kind, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.with(|i| {
            let stats = i.kinds.entry(kind).or_default();
            stats.operations += 1;
            stats.latencies.push(micros);
        });
    }

    /// An operation failed for a reason that is not a lost session; `cause` names it.
    pub fn failed(&self, kind: Kind, cause: String) {
        self.with(|i| {
            i.kinds.entry(kind).or_default().operations += 1;
            i.kinds.entry(kind).or_default().failed += 1;
            *i.errors.entry(cause).or_default() += 1;
        });
    }

    /// A signed-in user was answered `401`: the session is gone. Counted once per session.
    pub fn lost(&self, kind: Kind, how: String) {
        self.sessions_lost.fetch_add(1, Relaxed);
        self.with(|i| {
            i.kinds.entry(kind).or_default().operations += 1;
            i.kinds.entry(kind).or_default().failed += 1;
            *i.lost.entry(how).or_default() += 1;
        });
    }

    /// Everything counted, with the latencies sorted.
    pub fn snapshot(&self) -> Snapshot {
        self.with(|i| {
            let mut kinds = std::mem::take(&mut i.kinds);
            for stats in kinds.values_mut() {
                stats.latencies.sort_unstable();
            }
            Snapshot {
                kinds,
                errors: i.errors.clone(),
                lost: i.lost.clone(),
            }
        })
    }
}

pub struct Snapshot {
    pub kinds: BTreeMap<Kind, KindStats>,
    pub errors: BTreeMap<String, u64>,
    pub lost: BTreeMap<String, u64>,
}
