//! Small bounded memos for pure functions that are called again and again with the same text:
//! compiling a `.dockerignore` pattern into a regular expression and reading a YAML document.
//! `history` replays hundreds of commits whose ignore files, compose files and workflows rarely
//! change, so the same texts come back for every commit. The text itself is the key (no hash
//! that could collide), each memo holds a fixed number of entries (the least recently used one
//! goes), and a memo never changes a result: it only skips recomputing it.
//!
//! `Shared` is the memo of one `engine::analyze` call: what a context source selects of the
//! change set and of the listing, asked again by every build that shares the context (a
//! monorepo's builds of the root context), by both sides of a build and by the re-predictions
//! that measure fixes. It lives as long as the call, whose change set and listings do not change.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;

use crate::engine::hash::HashMap;

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
            let (map, clock) = g.get_or_insert_with(|| (HashMap::default(), 0));
            *clock += 1;
            let now = *clock;
            if let Some((v, used)) = map.get_mut(key) {
                *used = now;
                return v.clone();
            }
        }
        let v = make();
        if let Ok(mut g) = self.inner.lock() {
            let (map, clock) = g.get_or_insert_with(|| (HashMap::default(), 0));
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

/// A context source as the prediction reads it: the build context, the source path, whether it
/// is a wildcard, and the patterns of the `.dockerignore` in effect (`None`: no matcher, the
/// file does not compile or there is none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceKey {
    pub context: String,
    pub path: String,
    pub wildcard: bool,
    pub ignore: Option<std::sync::Arc<Vec<String>>>,
}

/// Paths, each with a label, shared by the builds that ask for them.
pub type Labelled = Rc<Vec<(String, String)>>;

/// Per-call answers about context sources (see the module header). Keys name everything the
/// answer depends on besides the call's change set and listings.
#[derive(Debug, Default)]
pub struct Shared {
    /// Changed paths a source selects that reach the build (`content::relevant_changes`).
    relevant: RefCell<HashMap<SourceKey, Rc<Vec<String>>>>,
    /// Bytes a directory source reads from the head listing, and whether every size was known.
    bytes: RefCell<HashMap<SourceKey, (u64, bool)>>,
    /// Changed paths under a source with a label each (CB002's noise entries: path, pattern).
    labelled: RefCell<HashMap<SourceKey, Labelled>>,
}

impl Shared {
    /// The changed paths for `key`, computed by `make` the first time it is asked.
    pub fn relevant(&self, key: SourceKey, make: impl FnOnce() -> Vec<String>) -> Rc<Vec<String>> {
        if let Some(v) = self.relevant.borrow().get(&key) {
            return v.clone();
        }
        let v = Rc::new(make());
        self.relevant.borrow_mut().insert(key, v.clone());
        v
    }

    /// The labelled paths for `key`, computed by `make` the first time.
    pub fn labelled(
        &self,
        key: SourceKey,
        make: impl FnOnce() -> Vec<(String, String)>,
    ) -> Labelled {
        if let Some(v) = self.labelled.borrow().get(&key) {
            return v.clone();
        }
        let v = Rc::new(make());
        self.labelled.borrow_mut().insert(key, v.clone());
        v
    }

    /// The bytes of a directory source for `key`, computed by `make` the first time.
    pub fn bytes(&self, key: SourceKey, make: impl FnOnce() -> (u64, bool)) -> (u64, bool) {
        if let Some(v) = self.bytes.borrow().get(&key) {
            return *v;
        }
        let v = make();
        self.bytes.borrow_mut().insert(key, v);
        v
    }
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
