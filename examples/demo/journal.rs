//! The demo's journal: what the browser, the gateway, the authorization server and the contacts
//! API did, in order, for the SPA's step-by-step panel (`GET /demo/journal?after=<seq>`).
//!
//! Every entry is written by code that never puts a secret into it: no token, code, cookie
//! value, client secret or PKCE value — at most the kind of a token and its length.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries kept; older ones are dropped (the panel only needs the recent story).
const CAPACITY: usize = 1000;

/// Who did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Browser,
    Gateway,
    AuthorizationServer,
    ContactsApi,
}

impl Actor {
    pub fn label(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Gateway => "gateway",
            Self::AuthorizationServer => "authorization server",
            Self::ContactsApi => "contacts API",
        }
    }
}

/// One thing that happened, told for a person.
#[derive(Clone, Debug)]
pub struct Step {
    pub actor: Actor,
    /// A stable name for this kind of step (the SPA styles by it, the tests look for it),
    /// e.g. `token_exchange`.
    pub kind: &'static str,
    pub title: String,
    pub detail: String,
    /// One sentence on what this kind of step means in the flow.
    pub explain: &'static str,
}

impl Step {
    pub fn new(
        actor: Actor,
        kind: &'static str,
        title: impl Into<String>,
        explain: &'static str,
    ) -> Self {
        Self {
            actor,
            kind,
            title: title.into(),
            detail: String::new(),
            explain,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

struct Entry {
    seq: u64,
    unix_ms: u64,
    step: Step,
}

#[derive(Default)]
struct Entries {
    list: VecDeque<Entry>,
    last_seq: u64,
}

/// The shared journal; cheap to write from any thread (a short lock, no I/O).
#[derive(Default)]
pub struct Journal {
    entries: Mutex<Entries>,
}

impl Journal {
    /// Appends `step` with the next sequence number.
    pub fn record(&self, step: Step) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.last_seq += 1;
        let seq = entries.last_seq;
        if entries.list.len() == CAPACITY {
            entries.list.pop_front();
        }
        entries.list.push_back(Entry { seq, unix_ms, step });
    }

    /// `{"last": <seq>, "entries": [...]}` with the entries after `seq`.
    pub fn since(&self, seq: u64) -> Value {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let list: Vec<Value> = entries
            .list
            .iter()
            .filter(|e| e.seq > seq)
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "time": e.unix_ms,
                    "actor": e.step.actor.label(),
                    "kind": e.step.kind,
                    "title": e.step.title,
                    "detail": e.step.detail,
                    "explain": e.step.explain,
                })
            })
            .collect();
        json!({ "last": entries.last_seq, "entries": list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_after_a_sequence_number_are_returned_in_order() {
        let journal = Journal::default();
        for kind in ["a", "b", "c"] {
            journal.record(Step::new(Actor::Browser, kind, kind, "x"));
        }
        let answer = journal.since(1);
        assert_eq!(answer["last"], 3);
        let kinds: Vec<&str> = answer["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["b", "c"]);
        assert_eq!(answer["entries"][0]["actor"], "browser");
    }

    #[test]
    fn the_oldest_entries_are_dropped_at_capacity() {
        let journal = Journal::default();
        for _ in 0..CAPACITY + 5 {
            journal.record(Step::new(Actor::Gateway, "k", "t", "x"));
        }
        let answer = journal.since(0);
        assert_eq!(answer["entries"].as_array().unwrap().len(), CAPACITY);
        assert_eq!(answer["entries"][0]["seq"], 6);
    }
}
