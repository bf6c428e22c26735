//! File listings of the base and head trees and the change set between them. Listings may be
//! partial: the engine records which paths it needed but was not given (`Request`), and the
//! caller loads them and runs the analysis again. Paths are relative to the repository root,
//! slash-separated, without a leading `./`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Base,
    Head,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum EntryKind {
    File,
    Symlink,
    Dir,
    /// A git submodule (gitlink): the docker CLI sends the checked-out directory, which a
    /// git-tree listing cannot see.
    Submodule,
}

/// One path of a tree. `id` identifies the content: the git blob id for files (directories
/// hash their files into the same form), the link target for symlinks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits (`0o644`, `0o755`, …).
    pub mode: u32,
    pub id: String,
    /// Size in bytes, when the source knows it without reading the file.
    pub size: Option<u64>,
}

/// What the engine asks for when a listing lacks a path: its entries (`recursive`: the whole
/// subtree), or with `text` the file's contents (a small manifest a rule reads, such as
/// `package.json`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    pub side: SideKey,
    pub path: String,
    pub recursive: bool,
    pub text: bool,
    /// The file's history over the base revision's first-parent commits (see
    /// `volatility::FileHistory`), not a listing.
    pub history: bool,
}

/// `Side` made orderable for request sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SideKey {
    Base,
    Head,
}

impl From<Side> for SideKey {
    fn from(s: Side) -> Self {
        match s {
            Side::Base => SideKey::Base,
            Side::Head => SideKey::Head,
        }
    }
}

impl From<SideKey> for Side {
    fn from(s: SideKey) -> Self {
        match s {
            SideKey::Base => Side::Base,
            SideKey::Head => Side::Head,
        }
    }
}

/// A (possibly partial) listing of one tree.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    entries: BTreeMap<String, Entry>,
    /// Directories whose whole subtree is loaded (`""` = the whole tree).
    complete: BTreeSet<String>,
    /// Exact paths that were looked up (present in `entries` or known absent).
    looked_up: BTreeSet<String>,
    /// Contents of files read on request (`None`: absent, or not text).
    texts: BTreeMap<String, Option<String>>,
}

/// The answer to a listing query: the data, or a note that it was not loaded.
pub enum Lookup<T> {
    Loaded(T),
    Missing,
}

impl Listing {
    /// A listing that holds the whole tree.
    pub fn complete(entries: impl IntoIterator<Item = (String, Entry)>) -> Listing {
        let mut l = Listing {
            entries: entries.into_iter().collect(),
            ..Default::default()
        };
        l.complete.insert(String::new());
        l
    }

    pub fn is_complete(&self) -> bool {
        self.complete.contains("")
    }

    /// Add entries loaded for a request.
    pub fn add(
        &mut self,
        req_path: &str,
        recursive: bool,
        entries: impl IntoIterator<Item = (String, Entry)>,
    ) {
        for (p, e) in entries {
            self.entries.insert(p, e);
        }
        self.looked_up.insert(req_path.to_string());
        if recursive {
            self.complete.insert(req_path.to_string());
        }
    }

    /// Record the contents read for a text request (`None`: no such file, or not text).
    pub fn add_text(&mut self, path: &str, text: Option<String>) {
        self.texts.insert(path.to_string(), text);
    }

    /// The contents of the file at `path`, when they were read (see [`Needs::request_text`]).
    pub fn text(&self, path: &str) -> Lookup<Option<&str>> {
        match self.texts.get(path) {
            Some(t) => Lookup::Loaded(t.as_deref()),
            None => Lookup::Missing,
        }
    }

    fn covered(&self, path: &str) -> bool {
        if self.complete.contains("")
            || self.complete.contains(path)
            || self.looked_up.contains(path)
        {
            return true;
        }
        let mut p = path;
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if self.complete.contains(p) {
                return true;
            }
        }
        false
    }

    /// The entry at `path` (directories are reported only when the source lists them).
    pub fn entry(&self, path: &str) -> Lookup<Option<&Entry>> {
        if !self.covered(path) {
            return Lookup::Missing;
        }
        Lookup::Loaded(self.entries.get(path))
    }

    /// Whether `path` exists as a file, link or directory (a directory exists when it has entries).
    pub fn exists(&self, path: &str) -> Lookup<bool> {
        if path.is_empty() {
            return Lookup::Loaded(true);
        }
        match self.entry(path) {
            Lookup::Missing => Lookup::Missing,
            Lookup::Loaded(Some(_)) => Lookup::Loaded(true),
            Lookup::Loaded(None) => {
                let prefix = format!("{path}/");
                Lookup::Loaded(
                    self.entries
                        .range(prefix.clone()..)
                        .next()
                        .is_some_and(|(k, _)| k.starts_with(&prefix)),
                )
            }
        }
    }

    /// All entries strictly below directory `dir` (`""` = everything), if loaded.
    pub fn under(&self, dir: &str) -> Lookup<Vec<(&str, &Entry)>> {
        if !(self.complete.contains("")
            || self.complete.contains(dir)
            || self.covered_by_ancestor(dir))
        {
            return Lookup::Missing;
        }
        if dir.is_empty() {
            return Lookup::Loaded(self.entries.iter().map(|(k, v)| (k.as_str(), v)).collect());
        }
        let prefix = format!("{dir}/");
        Lookup::Loaded(
            self.entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k.as_str(), v))
                .collect(),
        )
    }

    /// The entries below directory `dir` (`""` = everything) fewer than `depth` levels down
    /// (1: its children), if loaded, in path order. Deeper subtrees are skipped by seeking,
    /// not walked: a context's top two levels, not the whole repository below it.
    pub fn shallow(&self, dir: &str, depth: usize) -> Lookup<Vec<(&str, &Entry)>> {
        if !(self.complete.contains("")
            || self.complete.contains(dir)
            || self.covered_by_ancestor(dir))
        {
            return Lookup::Missing;
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out = Vec::new();
        let mut from = prefix.clone();
        loop {
            let mut skip_to = None;
            for (k, v) in self.entries.range(from..) {
                let Some(rel) = k.strip_prefix(&prefix) else {
                    break;
                };
                match rel.match_indices('/').nth(depth.max(1) - 1) {
                    None => out.push((k.as_str(), v)),
                    // every path below `rel[..i]/` sorts before `rel[..i]0` ('0' follows '/')
                    Some((i, _)) => {
                        skip_to = Some(format!("{prefix}{}0", &rel[..i]));
                        break;
                    }
                }
            }
            match skip_to {
                Some(next) => from = next,
                None => break,
            }
        }
        Lookup::Loaded(out)
    }

    fn covered_by_ancestor(&self, dir: &str) -> bool {
        let mut p = dir;
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if self.complete.contains(p) {
                return true;
            }
        }
        false
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The names directly inside `dir` (`""` = the root), as far as the listing holds them.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                p.strip_prefix(&prefix)
                    .filter(|r| !r.is_empty() && !r.contains('/'))
                    .map(str::to_string)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Deleted,
    Modified,
    /// Only the permission bits or the kind (file ↔ symlink) changed.
    ModeChanged,
    /// A git submodule points at another commit. A checkout without submodules (the default of
    /// `actions/checkout` and of `git clone`) leaves it an empty directory on both sides, so
    /// what a COPY takes from it is the same.
    SubmoduleMoved,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// Paths that differ between base and head (content, mode, kind, link target, presence).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ChangeSet {
    changes: Vec<Change>,
}

impl ChangeSet {
    pub fn new(mut changes: Vec<Change>) -> ChangeSet {
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        changes.dedup_by(|a, b| a.path == b.path);
        ChangeSet { changes }
    }

    /// The same changes, a modified path that is a git submodule on both sides marked as
    /// `SubmoduleMoved` (for change sets from a list of paths, such as a pull request's files).
    pub fn with_submodules_marked(mut self, base: &Listing, head: &Listing) -> ChangeSet {
        let gitlink = |l: &Listing, p: &str| {
            l.entries
                .get(p)
                .is_some_and(|e| e.kind == EntryKind::Submodule)
        };
        for c in &mut self.changes {
            if c.kind == ChangeKind::Modified && gitlink(base, &c.path) && gitlink(head, &c.path) {
                c.kind = ChangeKind::SubmoduleMoved;
            }
        }
        self
    }

    /// Derive the change set from two complete listings.
    pub fn between(base: &Listing, head: &Listing) -> ChangeSet {
        let out = changed_entries(base, head)
            .into_iter()
            .filter(|c| shows_in_change_set(base, head, c))
            .collect();
        ChangeSet::new(out)
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter()
    }

    pub fn get(&self, path: &str) -> Option<&Change> {
        self.changes
            .binary_search_by(|c| c.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.changes[i])
    }

    /// Changes strictly below `path` (not `""`), a slice of the sorted set.
    fn below(&self, path: &str) -> &[Change] {
        let prefix = format!("{path}/");
        let start = self
            .changes
            .partition_point(|c| c.path.as_str() < prefix.as_str());
        let len = self.changes[start..].partition_point(|c| c.path.starts_with(&prefix));
        &self.changes[start..start + len]
    }

    /// Whether anything changed at `path` or below it (`""`: anything at all).
    pub fn any_at_or_under(&self, path: &str) -> bool {
        if path.is_empty() {
            return !self.changes.is_empty();
        }
        self.get(path).is_some() || !self.below(path).is_empty()
    }

    /// Changes at `path` or below it (`""` = all).
    pub fn at_or_under(&self, path: &str) -> Vec<&Change> {
        if path.is_empty() {
            return self.changes.iter().collect();
        }
        self.get(path).into_iter().chain(self.below(path)).collect()
    }
}

/// The paths whose entry differs between two listings (walked together in path order).
fn changed_entries(base: &Listing, head: &Listing) -> Vec<Change> {
    let mut out = Vec::new();
    let mut b = base.entries.iter().peekable();
    let mut h = head.entries.iter().peekable();
    loop {
        match (b.peek(), h.peek()) {
            (None, None) => break,
            (Some((bp, _)), None) => {
                out.push(Change {
                    path: (*bp).clone(),
                    kind: ChangeKind::Deleted,
                });
                b.next();
            }
            (None, Some((hp, _))) => {
                out.push(Change {
                    path: (*hp).clone(),
                    kind: ChangeKind::Added,
                });
                h.next();
            }
            (Some((bp, be)), Some((hp, he))) => match bp.cmp(hp) {
                std::cmp::Ordering::Less => {
                    out.push(Change {
                        path: (*bp).clone(),
                        kind: ChangeKind::Deleted,
                    });
                    b.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push(Change {
                        path: (*hp).clone(),
                        kind: ChangeKind::Added,
                    });
                    h.next();
                }
                std::cmp::Ordering::Equal => {
                    out.extend(entry_change(bp, be, he));
                    b.next();
                    h.next();
                }
            },
        }
    }
    out
}

/// The change of a path present in both listings: its kind or mode changed, else its content
/// (a submodule's commit); `None` when the entries are the same.
fn entry_change(path: &str, be: &Entry, he: &Entry) -> Option<Change> {
    let kind = if be.kind != he.kind || be.mode != he.mode {
        ChangeKind::ModeChanged
    } else if be.id != he.id {
        if be.kind == EntryKind::Submodule {
            ChangeKind::SubmoduleMoved
        } else {
            ChangeKind::Modified
        }
    } else {
        return None;
    };
    Some(Change {
        path: path.to_string(),
        kind,
    })
}

/// Whether a change belongs in the change set. Directory entries only matter when empty
/// directories appear or vanish (or change mode); a directory that gained or lost files is
/// already represented by those files.
fn shows_in_change_set(base: &Listing, head: &Listing, c: &Change) -> bool {
    let e = base
        .entries
        .get(&c.path)
        .or_else(|| head.entries.get(&c.path));
    !matches!(
        e,
        Some(Entry {
            kind: EntryKind::Dir,
            ..
        })
    ) || c.kind == ChangeKind::ModeChanged
        || {
            let prefix = format!("{}/", c.path);
            let has_children = |l: &Listing| {
                l.entries
                    .range(prefix.clone()..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&prefix))
            };
            !(has_children(base) || has_children(head))
        }
}

/// Collects listing requests the engine could not answer, and the file histories it read.
#[derive(Debug, Default)]
pub struct Needs {
    requests: RefCell<BTreeSet<Request>>,
    /// Paths whose history (`Inputs::histories`) a rule read: what a caller that analyses many
    /// revisions in a row loads ahead for the next one.
    histories_read: RefCell<BTreeSet<String>>,
}

impl Needs {
    /// Note that the history of the file at `path` was read (it was in `Inputs::histories`).
    pub fn history_read(&self, path: &str) {
        if !self.histories_read.borrow().contains(path) {
            self.histories_read.borrow_mut().insert(path.to_string());
        }
    }

    /// The paths whose history was read, sorted.
    pub fn take_histories_read(&self) -> Vec<String> {
        std::mem::take(&mut *self.histories_read.borrow_mut())
            .into_iter()
            .collect()
    }

    pub fn request(&self, side: Side, path: &str, recursive: bool) {
        self.requests.borrow_mut().insert(Request {
            side: side.into(),
            path: path.to_string(),
            recursive,
            text: false,
            history: false,
        });
    }

    /// Ask for the contents of the file at `path` (answered with [`Listing::add_text`]).
    pub fn request_text(&self, side: Side, path: &str) {
        self.requests.borrow_mut().insert(Request {
            side: side.into(),
            path: path.to_string(),
            recursive: false,
            text: true,
            history: false,
        });
    }

    /// Ask for the history of the file at `path` (answered in `Inputs::histories`).
    pub fn request_history(&self, path: &str) {
        self.requests.borrow_mut().insert(Request {
            side: SideKey::Base,
            path: path.to_string(),
            recursive: false,
            text: false,
            history: true,
        });
    }

    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.borrow_mut())
            .into_iter()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.borrow().is_empty()
    }
}

/// Join a directory and a relative path, then clean (`..` cannot leave the root).
/// Whether `name` can be one entry of a tree: git refuses to check out `.`, `..`, an empty name
/// or one holding `/` (a crafted tree can still hold them: `..` would make `../Dockerfile`), so
/// such an entry is no file of the repository.
pub fn is_entry_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.contains(['/', '\0'])
}

/// Whether every component of a slash-separated path is an entry name (`is_entry_name`).
pub fn is_clean_path(path: &str) -> bool {
    path.split('/').all(is_entry_name)
}

pub fn join_clean(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str) -> Entry {
        Entry {
            kind: EntryKind::File,
            mode: 0o644,
            id: id.into(),
            size: None,
        }
    }

    /// `shallow` skips deep subtrees by seeking; it must return exactly what filtering `under`
    /// by depth returns, including names that sort between a directory and its children
    /// (`a/b-x`, `a/b.txt` before `a/b/…`; `a/b0` after).
    #[test]
    fn shallow_is_under_cut_at_a_depth() {
        let paths = [
            "a",
            "a/b",
            "a/b-x",
            "a/b.txt",
            "a/b/c",
            "a/b/c/d.csproj",
            "a/b/e.csproj",
            "a/b0",
            "a/b0/x",
            "a/c.csproj",
            "ab",
            "ab/x",
            "x.sln",
            "z/y/x/w",
        ];
        let l = Listing::complete(paths.iter().map(|p| (p.to_string(), f(p))));
        for dir in ["", "a", "a/b", "ab", "z", "missing"] {
            for depth in 1..=4 {
                let Lookup::Loaded(all) = l.under(dir) else {
                    panic!("loaded")
                };
                let prefix = format!("{dir}/");
                let want: Vec<&str> = all
                    .iter()
                    .map(|(p, _)| *p)
                    .filter(|p| p.strip_prefix(&prefix).unwrap_or(p).matches('/').count() < depth)
                    .collect();
                let Lookup::Loaded(got) = l.shallow(dir, depth) else {
                    panic!("loaded")
                };
                let got: Vec<&str> = got.iter().map(|(p, _)| *p).collect();
                assert_eq!(got, want, "dir {dir:?} depth {depth}");
            }
        }
    }

    #[test]
    fn change_set_between_listings() {
        let base = Listing::complete([
            ("a".into(), f("1")),
            ("b/c".into(), f("2")),
            ("d".into(), f("3")),
        ]);
        let head = Listing::complete([
            ("a".into(), f("1")),
            ("b/c".into(), f("9")),
            ("e".into(), f("4")),
            (
                "d".into(),
                Entry {
                    mode: 0o755,
                    ..f("3")
                },
            ),
        ]);
        let cs = ChangeSet::between(&base, &head);
        let v: Vec<_> = cs.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            v,
            vec![
                ("b/c", ChangeKind::Modified),
                ("d", ChangeKind::ModeChanged),
                ("e", ChangeKind::Added)
            ]
        );
        assert_eq!(cs.at_or_under("b").len(), 1);
        assert_eq!(cs.at_or_under("").len(), 3);
    }

    #[test]
    fn partial_listing_reports_missing() {
        let mut l = Listing::default();
        assert!(matches!(l.entry("x"), Lookup::Missing));
        l.add("src", true, [("src/a".to_string(), f("1"))]);
        assert!(matches!(l.entry("src/a"), Lookup::Loaded(Some(_))));
        assert!(matches!(l.entry("src/zz"), Lookup::Loaded(None)));
        assert!(matches!(l.under("src"), Lookup::Loaded(v) if v.len() == 1));
        assert!(matches!(l.under("other"), Lookup::Missing));
    }

    #[test]
    fn join_clean_stays_inside() {
        assert_eq!(join_clean("", "./a/b/"), "a/b");
        assert_eq!(join_clean("ctx", "../../etc"), "etc");
        assert_eq!(join_clean("ctx", "/abs"), "ctx/abs");
    }
}
