//! The engine's memos. None is global: the caller makes them and hands them in, so what one
//! run learns never reaches another's (a server job's memo dies with the job). A memo may be
//! shared by the threads of one run: each kind is locked only to look a key up and to insert,
//! never while a value is computed (two threads may both compute one, and one value is kept).
//!
//! `Memo` remembers pure functions called again and again with the same text across the calls
//! of one run: a side's simulation, a RUN text's simple commands, a Dockerfile version's
//! declarations (CB003's evidence), a `.dockerignore` compiled, a regular expression, a YAML
//! document, what a Dockerfile copies by name (a guessed build's context). `history` replays
//! hundreds of commits whose Dockerfiles, ignore files and workflows rarely change, so the same
//! texts come back for every commit. The text itself is the key (no hash that could collide),
//! each kind holds a fixed number of entries, and a memo never changes a result: it only skips
//! recomputing it. Eviction is by generations (a full young generation becomes the old one, the
//! old one is dropped outside the lock), so a lookup and an insertion cost the same at any size.
//!
//! `Shared` is the memo of one `engine::analyze` call: what a context source selects of the
//! change set and of the listing, asked again by every build that shares the context (a
//! monorepo's builds of the root context), by both sides of a build and by the re-predictions
//! that measure fixes. It lives as long as the call, whose change set and listings do not change.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::engine::hash::HashMap;

/// What a `Memo` remembers, each kind with its own bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A side's simulation with its diagnostics (`predict::sides`): 384 sides hold two commits
    /// of a 30-build monorepo with the fixes measured on each.
    Side,
    /// The first side simulated of some inputs, by everything but the target
    /// (`predict::sides`): the sides for other targets are derived from it (`sim::retarget`).
    Targets,
    /// A RUN text lexed by the shell model (`cost`, and the rules through `shell::Scripts`).
    Commands,
    /// The files a RUN text tests for existence (`predict::facts`): every step of every
    /// prediction asks, and the texts come back with every commit and fix measured.
    Tested,
    /// What a Dockerfile text reads by name from its context (`rules::context_reads`, asked
    /// for every build of an analysis when a rule edits an ignore file).
    Reads,
    /// What the cost model makes of a RUN (its classes, estimate and label, `cost`): a history
    /// prices the same RUN texts at every commit, and once more per fix measured.
    RunModel,
    /// The ARG and ENV values a Dockerfile version declares (`volatility`): a history window of
    /// up to 300 versions, replayed for every commit.
    Declarations,
    /// The same, by the git blob id of a version (`volatility`): a window's versions are looked
    /// up by id, not by their whole texts. 8,192: docker-library/php's 71 Dockerfiles have
    /// about 3,300 versions in a window, and a memo smaller than that parsed 19,567 of them again
    /// (9.9 s instead of 11.4 s).
    BlobDeclarations,
    /// A `.dockerignore` compiled (`ignore`): 1,000 patterns are 1,000 regular expressions.
    Ignore,
    /// A regular expression compiled (`ignore`: CB002's trial matchers add a pattern or two).
    Regex,
    /// A YAML document read under the budgets (`decl`): a monorepo reads tens per commit.
    Yaml,
    /// A directory's bake files resolved (`bake::resolve_in`): a history resolves the same
    /// texts at every commit that changes some other declaration file.
    Bake,
    /// What a Dockerfile text copies from its context by name (`discover::context_sources`):
    /// a history infers the context of every Dockerfile no declaration names at every commit
    /// (docker-library/php: 71 of them, 14% of its time parsing them again).
    ContextSources,
    /// A Dockerfile text parsed (`dockerfile::parse_in`): the builds of one Dockerfile with
    /// other arguments or targets (a bake file's 40 targets on tonistiigi/xx), the next commit's
    /// base, discovery and CB003's reading of the head parse it once, not once per use.
    Parsed,
    /// What the rules read of a Dockerfile text by instruction and line (`predict::TextParts`):
    /// its RUN scripts lexed and its line ends, shared by every side of the text.
    Lexed,
    /// The cleaning commands of a RUN text (`cleans`, asked by CB004 for every package
    /// manager RUN of every build on both sides: docker-library/php's RUNs are pages long).
    Cleans,
    /// The simple commands of a RUN text as words (`shellwords::simple_commands`, what CB007
    /// reads of every RUN of a single-stage build).
    Words,
    /// How often an ARG's value changed over a window of a Dockerfile's versions, by the
    /// versions' blob ids and the name (`volatility`).
    Window,
    /// How a RUN text relates to each download of the tool table (`cost::download_uses`): the
    /// cost facts and CB004 ask for every download, every RUN and the RUNs above it.
    Uses,
    /// The head lines a line diff marks changed, by the two Dockerfile texts
    /// (`predict::changed_head_lines`): every build of a changed Dockerfile asks (tonistiigi/xx's
    /// bake file builds one Dockerfile for 28 targets).
    ChangedLines,
    /// A workflow's path filter compiled (`workflows`), by its patterns: a history reads the
    /// workflows of every commit again, and compiling them was a twentieth of its time on
    /// tonistiigi/xx.
    Filter,
}

impl Kind {
    const ALL: [Kind; 21] = [
        Kind::Side,
        Kind::Targets,
        Kind::Commands,
        Kind::Tested,
        Kind::Reads,
        Kind::RunModel,
        Kind::Declarations,
        Kind::BlobDeclarations,
        Kind::Ignore,
        Kind::Regex,
        Kind::Yaml,
        Kind::Bake,
        Kind::ContextSources,
        Kind::Parsed,
        Kind::Lexed,
        Kind::Cleans,
        Kind::Words,
        Kind::Window,
        Kind::Uses,
        Kind::ChangedLines,
        Kind::Filter,
    ];

    fn capacity(self) -> usize {
        match self {
            Kind::Side => 384,
            Kind::Targets => 256,
            Kind::Commands => 1024,
            Kind::Tested => 1024,
            Kind::Reads => 256,
            Kind::RunModel => 1024,
            Kind::Declarations => 1024,
            Kind::BlobDeclarations => 8192,
            Kind::Ignore => 16,
            Kind::Regex => 512,
            Kind::Yaml => 96,
            Kind::Bake => 32,
            Kind::ContextSources => 256,
            Kind::Parsed => 256,
            Kind::Lexed => 256,
            Kind::Cleans => 1024,
            Kind::Words => 1024,
            Kind::Window => 1024,
            Kind::Uses => 1024,
            Kind::ChangedLines => 16,
            Kind::Filter => 64,
        }
    }
}

type Value = Arc<dyn Any + Send + Sync>;

/// Two generations of values by key: lookups promote an old value into the young generation;
/// a young generation at half the capacity becomes the old one and the old one goes.
#[derive(Default)]
struct Generations {
    young: HashMap<String, Value>,
    old: HashMap<String, Value>,
}

impl Generations {
    fn get(&mut self, key: &str, half: usize) -> (Option<Value>, Option<HashMap<String, Value>>) {
        if let Some(v) = self.young.get(key) {
            return (Some(v.clone()), None);
        }
        match self.old.remove_entry(key) {
            Some((k, v)) => {
                let dropped = self.insert(k, v.clone(), half);
                (Some(v), dropped)
            }
            None => (None, None),
        }
    }

    /// Insert; the generation that goes is returned, to be dropped outside the lock.
    fn insert(&mut self, key: String, v: Value, half: usize) -> Option<HashMap<String, Value>> {
        let mut dropped = None;
        if self.young.len() >= half && !self.young.contains_key(&key) {
            dropped = Some(std::mem::replace(
                &mut self.old,
                std::mem::take(&mut self.young),
            ));
        }
        self.young.insert(key, v);
        dropped
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// The memos of one run (see the module header): `history` makes one for its threads, each server
/// job and each `analyze` call of the CLI its own.
#[derive(Default)]
pub struct Memo {
    kinds: [Mutex<Generations>; Kind::ALL.len()],
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").finish_non_exhaustive()
    }
}

impl Memo {
    fn slot(&self, kind: Kind) -> &Mutex<Generations> {
        &self.kinds[Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    /// The value of `kind` for `key`, computed by `make` when it is not kept. A kind holds one
    /// type of value; a value of another type under its key is computed again, never returned.
    pub fn get_or<T: Clone + Send + Sync + 'static>(
        &self,
        kind: Kind,
        key: &str,
        make: impl FnOnce() -> T,
    ) -> T {
        let half = kind.capacity().div_ceil(2);
        let slot = self.slot(kind);
        let found = slot.lock().ok().map(|mut g| g.get(key, half));
        if let Some((Some(v), dropped)) = found {
            drop(dropped);
            if let Some(t) = v.downcast_ref::<T>() {
                return t.clone();
            }
        }
        let t = make();
        let dropped = slot
            .lock()
            .ok()
            .and_then(|mut g| g.insert(key.to_string(), Arc::new(t.clone()), half));
        drop(dropped);
        t
    }

    /// How many values of `kind` are kept now.
    pub fn len(&self, kind: Kind) -> usize {
        self.slot(kind).lock().map(|g| g.len()).unwrap_or(0)
    }

    /// `regex::Regex::new`, remembered (`None`: it does not compile).
    pub fn regex(&self, re: &str) -> Option<regex::Regex> {
        self.get_or(Kind::Regex, re, || regex::Regex::new(re).ok())
    }
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
    /// Changed paths a source selects that reach the build (`content::relevant_changes`), per
    /// change set and pair of listings: a cache writer's run is matched against an empty change
    /// set over the head tree twice, in the same analysis.
    relevant: RefCell<HashMap<RelevantKey, Rc<Vec<String>>>>,
    /// Bytes a directory source reads from the head listing, and whether every size was known.
    bytes: RefCell<HashMap<SourceKey, (u64, bool)>>,
    /// Changed paths under a source with a label each (CB002's noise entries: path, pattern).
    labelled: RefCell<HashMap<SourceKey, Labelled>>,
    /// What a source selects of one listing, sorted (`content`'s comparison of both sides, asked
    /// again by every build and peer export that reads the same context with the same ignore
    /// file, and by every re-prediction of a fix): by listing, source and `COPY --exclude`.
    selected: RefCell<HashMap<SelectionKey, Rc<Selection>>>,
}

/// Files a context source selects: (name relative to the source, kind, mode, id), sorted.
pub type Selection = Vec<(String, crate::engine::tree::EntryKind, u32, String)>;

/// Changed paths reaching a source, by change set, base and head listings and source.
type RelevantKey = (ChangesId, ListingId, ListingId, SourceKey);

/// A selection by listing, source and `COPY --exclude` patterns.
type SelectionKey = (ListingId, SourceKey, Vec<String>);

/// Which listing of the call an answer is about: its address. The listings of one `analyze`
/// call are borrowed for the whole call and never change, so the address names one listing.
pub type ListingId = usize;

/// A change set by its address: the analysis's own lives as long as this memo; the empty set a
/// cache writer's run is matched with is made anew each time, and any set later at its address
/// is that same empty set over the same listings.
pub type ChangesId = usize;

impl Shared {
    /// The changed paths for `key`, computed by `make` the first time it is asked.
    pub fn relevant(
        &self,
        changes: &crate::engine::tree::ChangeSet,
        trees: (&crate::engine::tree::Listing, &crate::engine::tree::Listing),
        key: SourceKey,
        make: impl FnOnce() -> Vec<String>,
    ) -> Rc<Vec<String>> {
        let key = (
            changes as *const crate::engine::tree::ChangeSet as ChangesId,
            trees.0 as *const crate::engine::tree::Listing as ListingId,
            trees.1 as *const crate::engine::tree::Listing as ListingId,
            key,
        );
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

    /// What a source selects of `listing` (sorted), computed by `make` the first time; `None`
    /// (a listing is missing and was requested) is not remembered.
    pub fn selected(
        &self,
        listing: &crate::engine::tree::Listing,
        key: SourceKey,
        exclude: &[String],
        make: impl FnOnce() -> Option<Selection>,
    ) -> Option<Rc<Selection>> {
        let k = (
            listing as *const crate::engine::tree::Listing as ListingId,
            key,
            exclude.to_vec(),
        );
        if let Some(v) = self.selected.borrow().get(&k) {
            return Some(v.clone());
        }
        let mut v = make()?;
        v.sort();
        let v = Rc::new(v);
        self.selected.borrow_mut().insert(k, v.clone());
        Some(v)
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
        let m = Memo::default();
        let cap = Kind::Ignore.capacity();
        let mut made = 0;
        for round in 0..3 {
            for k in 0..cap * 2 {
                m.get_or(Kind::Ignore, &k.to_string(), || {
                    made += 1;
                    k
                });
                assert!(
                    m.len(Kind::Ignore) <= cap,
                    "round {round}: {}",
                    m.len(Kind::Ignore)
                );
            }
        }
        // a key asked again at once is kept; another kind is another memo
        let before = made;
        for _ in 0..5 {
            m.get_or(Kind::Ignore, "x", || {
                made += 1;
                0usize
            });
        }
        assert_eq!(made, before + 1);
        assert_eq!(m.len(Kind::Regex), 0);
        // the recently used key survives a generation turning over
        for k in 0..cap / 2 {
            assert_eq!(m.get_or(Kind::Ignore, "x", || usize::MAX), 0, "x kept");
            m.get_or(Kind::Ignore, &format!("y{k}"), || k);
        }
        assert_eq!(m.get_or(Kind::Ignore, "x", || 99usize), 0);
    }

    #[test]
    fn a_remembered_regex_matches_as_a_fresh_one() {
        let m = Memo::default();
        let a = m.regex("^a.*b$").unwrap();
        let b = m.regex("^a.*b$").unwrap();
        assert!(a.is_match("axxb") && b.is_match("axxb") && !b.is_match("ba"));
        assert!(m.regex("(").is_none());
    }

    #[test]
    fn a_value_of_another_type_is_made_again() {
        let m = Memo::default();
        assert_eq!(m.get_or(Kind::Yaml, "k", || 1u32), 1);
        assert_eq!(m.get_or(Kind::Yaml, "k", || "s".to_string()), "s");
    }
}
