//! Request counters for tests: per path and per token `grant_type`.

use super::lock;
use std::collections::HashMap;
use std::sync::Mutex;

/// Distinct keys kept per counter (a flood of random paths cannot grow memory without bound).
const MAX_KEYS: usize = 512;
/// Longer keys are not counted.
const MAX_KEY_LEN: usize = 256;

/// Counts requests by path and token requests by grant type.
#[derive(Debug, Default)]
pub struct Counters {
    paths: Mutex<HashMap<String, usize>>,
    grants: Mutex<HashMap<String, usize>>,
}

fn bump(map: &Mutex<HashMap<String, usize>>, key: &str) {
    if key.len() > MAX_KEY_LEN {
        return;
    }
    let mut map = lock(map);
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < MAX_KEYS {
        map.insert(key.to_owned(), 1);
    }
}

fn read(map: &Mutex<HashMap<String, usize>>, key: &str) -> usize {
    lock(map).get(key).copied().unwrap_or(0)
}

impl Counters {
    /// Records a request to `path`.
    pub fn hit_path(&self, path: &str) {
        bump(&self.paths, path);
    }

    /// Requests seen on `path`.
    pub fn path(&self, path: &str) -> usize {
        read(&self.paths, path)
    }

    /// Records a token request with `grant_type`.
    pub fn hit_grant(&self, grant_type: &str) {
        bump(&self.grants, grant_type);
    }

    /// Token requests seen with `grant_type`.
    pub fn grant(&self, grant_type: &str) -> usize {
        read(&self.grants, grant_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_caps() {
        let c = Counters::default();
        c.hit_path("/a");
        c.hit_path("/a");
        c.hit_grant("refresh_token");
        assert_eq!(c.path("/a"), 2);
        assert_eq!(c.path("/b"), 0);
        assert_eq!(c.grant("refresh_token"), 1);
        for i in 0..2 * MAX_KEYS {
            c.hit_path(&format!("/{i}"));
        }
        assert_eq!(lock(&c.paths).len(), MAX_KEYS);
        assert_eq!(c.path("/a"), 2);
    }
}
