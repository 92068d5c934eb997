//! Single-flight token refresh per session (checklist R*).
//!
//! Requests of one session that need a refresh at the same time share one call to the provider,
//! keyed by a hash of the refresh token (never the token itself). The result stays available for
//! a short grace period, so a request that still carries the old cookie after the refresh reuses
//! the new tokens instead of spending a rotated refresh token again (which makes providers with
//! rotation revoke the whole grant). A transient failure is not kept, so a later request retries.

use crate::oauth::TokenResponse;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long a refresh result is reused for requests carrying the old refresh token.
pub const GRACE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub enum RefreshOutcome {
    /// New tokens, and when (unix seconds) the provider issued them.
    Refreshed(Arc<TokenResponse>, u64),
    /// The provider refused (`invalid_grant` ...): the session is over.
    Rejected(String),
    /// The provider could not be asked: keep the session, try later.
    Unavailable,
}

struct Entry {
    cell: Arc<OnceCell<RefreshOutcome>>,
    created: Instant,
}

#[derive(Default)]
pub struct RefreshCoordinator {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshCoordinator")
    }
}

impl RefreshCoordinator {
    /// The finished outcome remembered for `refresh_token`, if any (within the grace period).
    pub fn peek(&self, refresh_token: &str) -> Option<RefreshOutcome> {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&key)?;
        if entry.created.elapsed() >= GRACE {
            return None;
        }
        entry.cell.get().cloned()
    }

    /// Runs `refresh` once for concurrent callers with the same refresh token and shares its
    /// outcome. `refresh` runs in its own task, so a caller that goes away cannot cancel it.
    /// A finished outcome that `usable` rejects (say, its access token has expired since) is
    /// not reused: it is replaced by a new run.
    pub async fn run<F>(
        &self,
        refresh_token: &str,
        usable: impl Fn(&RefreshOutcome) -> bool,
        refresh: F,
    ) -> RefreshOutcome
    where
        F: Future<Output = RefreshOutcome> + Send + 'static,
    {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let cell = {
            let Ok(mut entries) = self.entries.lock() else {
                return RefreshOutcome::Unavailable;
            };
            let now = Instant::now();
            entries.retain(|_, e| now.duration_since(e.created) < GRACE);
            let stale = entries
                .get(&key)
                .and_then(|e| e.cell.get())
                .is_some_and(|outcome| !usable(outcome));
            if stale {
                entries.remove(&key);
            }
            entries
                .entry(key)
                .or_insert_with(|| Entry {
                    cell: Arc::new(OnceCell::new()),
                    created: now,
                })
                .cell
                .clone()
        };
        let outcome = cell
            .get_or_init(|| async move {
                tokio::spawn(refresh)
                    .await
                    .unwrap_or(RefreshOutcome::Unavailable)
            })
            .await
            .clone();
        if matches!(outcome, RefreshOutcome::Unavailable)
            && let Ok(mut entries) = self.entries.lock()
            && entries
                .get(&key)
                .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell))
        {
            entries.remove(&key);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tokens() -> RefreshOutcome {
        RefreshOutcome::Refreshed(
            Arc::new(TokenResponse {
                access_token: "new".into(),
                expires_in: Some(60),
                refresh_token: Some("rt2".into()),
                id_token: None,
                scope: None,
            }),
            0,
        )
    }

    // checklist R*: concurrent requests spend the refresh token once.
    #[tokio::test]
    async fn concurrent_refreshes_of_one_token_call_the_provider_once() {
        let coordinator = Arc::new(RefreshCoordinator::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let coordinator = coordinator.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                coordinator
                    .run("rt1", |_| true, async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        tokens()
                    })
                    .await
            }));
        }
        for task in tasks {
            assert!(matches!(task.await.unwrap(), RefreshOutcome::Refreshed(..)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A late request with the old token reuses the result within the grace period.
        let late = coordinator
            .run("rt1", |_| true, async {
                RefreshOutcome::Rejected("x".into())
            })
            .await;
        assert!(matches!(late, RefreshOutcome::Refreshed(..)));
    }

    // checklist R1: a remembered result whose access token is no longer usable is not reused.
    #[tokio::test]
    async fn unusable_results_are_replaced() {
        let coordinator = RefreshCoordinator::default();
        let first = coordinator.run("rt", |_| true, async { tokens() }).await;
        assert!(matches!(first, RefreshOutcome::Refreshed(..)));
        let again = coordinator
            .run("rt", |_| false, async { RefreshOutcome::Unavailable })
            .await;
        assert!(matches!(again, RefreshOutcome::Unavailable));
    }

    #[tokio::test]
    async fn transient_failures_are_not_remembered() {
        let coordinator = RefreshCoordinator::default();
        let first = coordinator
            .run("rt", |_| true, async { RefreshOutcome::Unavailable })
            .await;
        assert!(matches!(first, RefreshOutcome::Unavailable));
        let second = coordinator.run("rt", |_| true, async { tokens() }).await;
        assert!(matches!(second, RefreshOutcome::Refreshed(..)));
    }
}
