//! Small bounded memos for pure functions that are called again and again with the same text:
//! compiling a `.dockerignore` pattern into a regular expression and reading a YAML document.
//! `history` replays hundreds of commits whose ignore files, compose files and workflows rarely
//! change, so the same texts come back for every commit. The text itself is the key (no hash
//! that could collide), each memo holds a fixed number of entries (the least recently used one
//! goes), and a memo never changes a result: it only skips recomputing it.

use std::collections::HashMap;
use std::sync::Mutex;

/// Values by key with the tick of their last use, and the clock.
type Kept<V> = (HashMap<String, (V, u64)>, u64);

/// A bounded map from texts to values, least recently used out first.
pub struct Recent<V> {
    capacity: usize,
    inner: Mutex<Option<Kept<V>>>,
}

impl<V: Clone> Recent<V> {
    pub const fn new(capacity: usize) -> Recent<V> {
        Recent {
            capacity,
            inner: Mutex::new(None),
        }
    }

    /// The value for `key`, computed by `make` when it is not kept.
    pub fn get_or(&self, key: &str, make: impl FnOnce() -> V) -> V {
        if let Ok(mut g) = self.inner.lock() {
            let (map, clock) = g.get_or_insert_with(|| (HashMap::new(), 0));
            *clock += 1;
            let now = *clock;
            if let Some((v, used)) = map.get_mut(key) {
                *used = now;
                return v.clone();
            }
        }
        let v = make();
        if let Ok(mut g) = self.inner.lock() {
            let (map, clock) = g.get_or_insert_with(|| (HashMap::new(), 0));
            if map.len() >= self.capacity {
                if let Some(old) = map
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&old);
                }
            }
            map.insert(key.to_string(), (v.clone(), *clock));
        }
        v
    }

    /// How many values are kept now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|g| g.as_ref().map_or(0, |(m, _)| m.len()))
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Compiled `.dockerignore` regular expressions (a repository has tens of patterns; CB002's trial
/// matchers add a few more per build).
static REGEXES: Recent<Option<regex::Regex>> = Recent::new(512);

/// `regex::Regex::new`, remembered for the last 512 expressions (`None`: it does not compile).
pub fn regex(re: &str) -> Option<regex::Regex> {
    REGEXES.get_or(re, || regex::Regex::new(re).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_capacity_and_the_recent_ones() {
        let r: Recent<usize> = Recent::new(3);
        let mut made = 0;
        for k in ["a", "b", "c", "a", "d", "a", "b"] {
            r.get_or(k, || {
                made += 1;
                k.len()
            });
        }
        // a, b, c made; a kept; d evicts b (least recently used); a kept; b made again
        assert_eq!(made, 5);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn a_remembered_regex_matches_as_a_fresh_one() {
        let a = regex("^a.*b$").unwrap();
        let b = regex("^a.*b$").unwrap();
        assert!(a.is_match("axxb") && b.is_match("axxb") && !b.is_match("ba"));
        assert!(regex("(").is_none());
    }
}
