//! The browser side of the server: authorization requests waiting for login or consent
//! (identified by an unguessable id carried in the forms' hidden field), login sessions
//! (identified by the auth server's own cookie) and remembered consents.

use super::{Digest, digest, lock};
use crate::random::{self, RandomError};
use crate::request::{AuthorizationRequest, LoggedIn};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a login or consent form stays usable.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a login session lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Wrong passwords allowed per pending request before it is dropped.
const MAX_FAILURES: u32 = 5;

/// An authorization request waiting for the user.
#[derive(Clone, Debug)]
pub struct Pending {
    pub request: AuthorizationRequest,
    /// Set once the user is authenticated; the consent form needs it.
    pub user: Option<LoggedIn>,
    /// The login session (cookie) the user authenticated with, if any: consent must come from it.
    pub session: Option<Digest>,
}

struct PendingEntry {
    pending: Pending,
    failures: u32,
    expires_at: Instant,
}

struct Session {
    user: LoggedIn,
    expires_at: Instant,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<Digest, PendingEntry>,
    sessions: HashMap<Digest, Session>,
    /// (username, client_id) → scopes the user approved.
    consents: HashMap<(String, String), BTreeSet<String>>,
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        self.pending.retain(|_, p| now < p.expires_at);
        self.sessions.retain(|_, s| now < s.expires_at);
    }
}

/// Pending requests, login sessions and consents of one server.
#[derive(Default)]
pub struct Logins {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins").finish_non_exhaustive()
    }
}

impl Logins {
    /// Parks `pending`; returns its id for the form's hidden field.
    pub fn park(&self, pending: Pending) -> Result<String, RandomError> {
        let id = random::token()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        inner.purge(now);
        inner.pending.insert(
            digest(&id),
            PendingEntry {
                pending,
                failures: 0,
                expires_at: now + PENDING_TTL,
            },
        );
        Ok(id)
    }

    /// The pending request `id`, if it is still usable.
    pub fn pending(&self, id: &str) -> Option<Pending> {
        let now = Instant::now();
        lock(&self.inner)
            .pending
            .get(&digest(id))
            .filter(|p| now < p.expires_at)
            .map(|p| p.pending.clone())
    }

    /// Counts a wrong password; returns false once the request is dropped for too many.
    pub fn login_failed(&self, id: &str) -> bool {
        let mut inner = lock(&self.inner);
        let key = digest(id);
        let Some(entry) = inner.pending.get_mut(&key) else {
            return false;
        };
        entry.failures += 1;
        if entry.failures >= MAX_FAILURES {
            inner.pending.remove(&key);
            return false;
        }
        true
    }

    /// Records that the user of pending request `id` authenticated in login session `session`.
    pub fn authenticated(&self, id: &str, user: LoggedIn, session: &str) -> bool {
        let mut inner = lock(&self.inner);
        match inner.pending.get_mut(&digest(id)) {
            Some(entry) => {
                entry.pending.user = Some(user);
                entry.pending.session = Some(digest(session));
                true
            }
            None => false,
        }
    }

    /// Removes and returns pending request `id` (each is answered once).
    pub fn take(&self, id: &str) -> Option<Pending> {
        let now = Instant::now();
        lock(&self.inner)
            .pending
            .remove(&digest(id))
            .filter(|p| now < p.expires_at)
            .map(|p| p.pending)
    }

    /// Starts a login session for `user`; returns the session id for the cookie.
    pub fn start_session(&self, user: LoggedIn) -> Result<String, RandomError> {
        let id = random::token()?;
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        inner.purge(now);
        inner.sessions.insert(
            digest(&id),
            Session {
                user,
                expires_at: now + SESSION_TTL,
            },
        );
        Ok(id)
    }

    /// The user of live login session `id`.
    pub fn session(&self, id: &str) -> Option<LoggedIn> {
        let now = Instant::now();
        lock(&self.inner)
            .sessions
            .get(&digest(id))
            .filter(|s| now < s.expires_at)
            .map(|s| s.user.clone())
    }

    /// Ends login session `id`.
    pub fn end_session(&self, id: &str) {
        lock(&self.inner).sessions.remove(&digest(id));
    }

    /// Remembers that `username` approved `scopes` for `client_id`.
    pub fn remember_consent(&self, username: &str, client_id: &str, scopes: &[String]) {
        lock(&self.inner)
            .consents
            .entry((username.to_owned(), client_id.to_owned()))
            .or_default()
            .extend(scopes.iter().cloned());
    }

    /// Whether `username` approved all of `scopes` for `client_id` before.
    pub fn has_consent(&self, username: &str, client_id: &str, scopes: &[String]) -> bool {
        lock(&self.inner)
            .consents
            .get(&(username.to_owned(), client_id.to_owned()))
            .is_some_and(|given| scopes.iter().all(|s| given.contains(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Prompt;

    fn pending() -> Pending {
        Pending {
            request: AuthorizationRequest {
                client_id: "app".to_owned(),
                redirect_uri: "https://app/cb".to_owned(),
                redirect_uri_sent: true,
                scopes: vec!["openid".to_owned()],
                state: None,
                nonce: None,
                code_challenge: None,
                prompt: Prompt::default(),
            },
            user: None,
            session: None,
        }
    }

    fn demo() -> LoggedIn {
        LoggedIn {
            username: "demo".to_owned(),
            auth_time: 5,
        }
    }

    #[test]
    fn pending_requests_are_answered_once() {
        let logins = Logins::default();
        let id = logins.park(pending()).unwrap();
        assert!(logins.pending(&id).is_some());
        assert!(logins.authenticated(&id, demo(), "sid"));
        let taken = logins.take(&id).unwrap();
        assert_eq!(taken.user, Some(demo()));
        assert_eq!(taken.session, Some(digest("sid")));
        assert!(logins.take(&id).is_none());
        assert!(logins.pending("made-up").is_none());
    }

    #[test]
    fn too_many_wrong_passwords_drop_the_request() {
        let logins = Logins::default();
        let id = logins.park(pending()).unwrap();
        for _ in 1..MAX_FAILURES {
            assert!(logins.login_failed(&id));
        }
        assert!(!logins.login_failed(&id));
        assert!(logins.pending(&id).is_none());
    }

    #[test]
    fn sessions_and_consents() {
        let logins = Logins::default();
        let sid = logins.start_session(demo()).unwrap();
        assert_eq!(logins.session(&sid), Some(demo()));
        logins.end_session(&sid);
        assert!(logins.session(&sid).is_none());
        let scopes = vec!["openid".to_owned(), "email".to_owned()];
        assert!(!logins.has_consent("demo", "app", &scopes));
        logins.remember_consent("demo", "app", &scopes);
        assert!(logins.has_consent("demo", "app", &scopes[..1]));
        assert!(!logins.has_consent("demo", "other", &scopes));
    }
}
