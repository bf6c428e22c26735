//! `.dockerignore`: the file reader (`moby/patternmatcher/ignorefile: ReadAll`), the current
//! matcher (`moby/patternmatcher`), Docker 20.10's matcher (`pkg/fileutils` in moby v20.10.27),
//! and the context walkers of both (which may prune a whole excluded directory). What decides
//! whether a file reaches the build is `Matcher::walk_excluded`, not the bare match.

use crate::engine::memo::{Kind as Memoized, Memo};
use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::engine::hash::HashMap;

/// Which implementation to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// moby/patternmatcher + current fsutil walker.
    Current,
    /// Docker Engine/CLI 20.10: `pkg/fileutils` + the v0.8-era fsutil walker.
    Docker2010,
}

/// Most `.dockerignore` patterns read: a pull request controls the file, and matching costs
/// patterns × files. Real files have tens of patterns.
pub const MAX_PATTERNS: usize = 1000;

/// The 1-based line of the first pattern past `MAX_PATTERNS`, when there is one.
pub fn line_past_limit(text: &str) -> Option<u32> {
    let mut n = 0;
    for (i, line) in text.split('\n').enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        n += 1;
        if n > MAX_PATTERNS {
            return Some(i as u32 + 1);
        }
    }
    None
}

/// `ignorefile.ReadAll`: comments (`#` in column 0), trimming, `!` exceptions,
/// `filepath.Clean`, one leading `/` removed.
/// The 1-based line of `text` that holds the pattern an error names (0 when none is found).
pub fn error_line(text: &str, e: &IgnoreError) -> u32 {
    let hit = |i: usize, l: &str| {
        let l = l.trim();
        let l = if i == 0 {
            l.trim_start_matches('\u{feff}')
        } else {
            l
        };
        match e {
            IgnoreError::LoneBang => l.strip_prefix('!').is_some_and(|r| r.trim().is_empty()),
            IgnoreError::BadPattern(p) => {
                !l.starts_with('#') && !p.is_empty() && l.contains(p.as_str())
            }
        }
    };
    text.split('\n')
        .enumerate()
        .find(|(i, l)| hit(*i, l))
        .map_or(0, |(i, _)| i as u32 + 1)
}

pub fn read_patterns(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let mut line = line.strip_suffix('\r').unwrap_or(line);
        if i == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = pattern.to_string();
        if !p.is_empty() {
            p = go_clean(&p);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
        if out.len() == MAX_PATTERNS {
            break;
        }
    }
    out
}

/// Whether `path.Clean` would return `path` unchanged: no empty, `.` or `..` segment and no
/// trailing slash (`/` and `.` themselves are clean).
fn is_clean(path: &str) -> bool {
    if path == "/" || path == "." {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    !body.is_empty() && body.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

/// Go's `path.Clean`.
pub fn go_clean(path: &str) -> String {
    if is_clean(path) {
        return path.to_string();
    }
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp(Regex),
    /// The regular expression failed to compile: matching fails with an error.
    Bad,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    cleaned: String,
    dirs: usize,
    kind: MatchType,
    /// For a regular expression: a text every path it matches contains (checked before the
    /// expression runs).
    literal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneBang,
    #[error("syntax error in pattern {0:?}")]
    BadPattern(String),
}

/// A list of `.dockerignore` patterns, compiled, with what its walk has decided so far (shared
/// by its clones). The same patterns compiled again (each side of a build, the rules, every
/// re-prediction of a fix, the next commit of a history) share one `Compiled`.
#[derive(Debug, Clone)]
pub struct Matcher {
    compiled: Arc<Compiled>,
    /// What the walker decided for the directories and files asked about so far (see `Walked`).
    walked: Arc<Mutex<Walked>>,
}

impl std::ops::Deref for Matcher {
    type Target = Compiled;

    fn deref(&self) -> &Compiled {
        &self.compiled
    }
}

/// The patterns of a `Matcher`, compiled.
#[derive(Debug)]
pub struct Compiled {
    flavor: Flavor,
    patterns: Vec<Pattern>,
    exclusions: bool,
    only_prefix_exceptions: bool,
    /// The patterns as runs of the same polarity, literal ones in a set (`None` when a pattern
    /// fails to match: then every pattern is tried in turn, as Go does, to fail at the same one).
    blocks: Option<Vec<Block>>,
}

/// Patterns as bits (bit `i` is pattern `i`).
#[derive(Debug, Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn or(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
}

/// The walker's view of one directory of the context.
#[derive(Debug)]
struct DirState {
    /// The patterns that match the directory's own path.
    own: Bits,
    /// `own` with every ancestor's: the patterns `MatchesOrParentMatches` finds for a path below.
    any: Bits,
    /// The ancestors' `own`, nearest last (the one at depth `k` is `up[k - 1]`): Docker 20.10's
    /// `Matches` checks only the parent prefix as deep as the pattern.
    up: Vec<Arc<DirState>>,
    /// The walker leaves the directory out: it or an ancestor matches and is pruned.
    pruned: bool,
}

/// Most files, and bytes of directory states, remembered by one matcher's walk (past it the memo
/// starts again: answers stay the same, only slower).
const MAX_WALKED_FILES: usize = 200_000;
const MAX_WALKED_DIR_BYTES: usize = 32 << 20;

/// What a matcher's walk decided, by path: each directory is matched once, however many files
/// lie below it, and each file once however often it is asked about. Matching every pattern
/// against every prefix of every path cost patterns × files × depth² regular expression runs
/// (a `.dockerignore` of 1,000 wildcard patterns over 20,000 files took 110 s).
#[derive(Debug, Default)]
struct Walked {
    dirs: HashMap<String, Arc<DirState>>,
    files: HashMap<String, bool>,
}

/// Consecutive patterns that are all exceptions or all not. Within a run the first match decides
/// (Go stops trying the run's patterns once one matched: the rest cannot change the answer), so
/// the literal patterns of a run are one hash lookup per candidate path instead of one
/// comparison each: a file with thousands of plain paths costs what one does.
#[derive(Debug, Clone)]
struct Block {
    exclusion: bool,
    exact: std::collections::HashSet<String>,
    /// Indexes of the run's other patterns.
    others: Vec<usize>,
}

impl Block {
    /// Whether a pattern of the run matches `file` or, with `all` (`MatchesOrParentMatches`),
    /// any parent prefix, or else (`Matches`) the parent prefix with as many segments as the
    /// pattern (for a literal pattern the only prefix that can equal it).
    fn any(&self, m: &Matcher, file: &str, parent: &str, prefixes: &[usize], all: bool) -> bool {
        let has_parent = parent != ".";
        if self.exact.contains(file)
            || (has_parent && prefixes.iter().any(|&e| self.exact.contains(&parent[..e])))
        {
            return true;
        }
        self.others.iter().any(|&i| {
            let p = &m.patterns[i];
            if Matcher::pattern_match(p, file).unwrap_or(false) {
                return true;
            }
            if !has_parent {
                return false;
            }
            if all {
                prefixes
                    .iter()
                    .any(|&e| Matcher::pattern_match(p, &parent[..e]).unwrap_or(false))
            } else {
                p.dirs <= prefixes.len()
                    && Matcher::pattern_match(p, &parent[..prefixes[p.dirs - 1]]).unwrap_or(false)
            }
        })
    }
}

fn blocks_of(patterns: &[Pattern]) -> Option<Vec<Block>> {
    let mut out: Vec<Block> = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        if matches!(p.kind, MatchType::Bad) {
            return None;
        }
        if out.last().is_none_or(|b| b.exclusion != p.exclusion) {
            out.push(Block {
                exclusion: p.exclusion,
                exact: Default::default(),
                others: Vec::new(),
            });
        }
        let b = out.last_mut()?;
        match p.kind {
            MatchType::Exact => {
                b.exact.insert(p.cleaned.clone());
            }
            _ => b.others.push(i),
        }
    }
    Some(out)
}

impl Matcher {
    /// `patternmatcher.New` / `fileutils.NewPatternMatcher`.
    pub fn new(patterns: &[String], flavor: Flavor) -> Result<Matcher, IgnoreError> {
        Ok(Matcher {
            compiled: Matcher::compile(patterns, flavor, None)?,
            walked: Arc::default(),
        })
    }

    /// [`Matcher::new`], the compiled patterns remembered in `memo` by flavor and patterns (a
    /// `.dockerignore` of 1,000 patterns is 1,000 regular expressions to build).
    pub fn new_in(
        memo: &Memo,
        patterns: &[String],
        flavor: Flavor,
    ) -> Result<Matcher, IgnoreError> {
        // the key: the flavor, then each pattern with its length (no separator to confuse)
        let mut key = format!("{flavor:?}");
        for p in patterns {
            key.push_str(&format!("\u{0}{}:{p}", p.len()));
        }
        let compiled = memo.get_or(Memoized::Ignore, &key, || {
            Matcher::compile(patterns, flavor, Some(memo))
        })?;
        Ok(Matcher {
            compiled,
            walked: Arc::default(),
        })
    }

    /// [`Matcher::new`], each pattern's regular expression remembered in `memo` but not the
    /// matcher: for the one-off pattern lists of a trial (CB002 tries an entry after the file's
    /// patterns), which would crowd the files themselves out of the memo.
    pub fn new_with_regexes(
        memo: &Memo,
        patterns: &[String],
        flavor: Flavor,
    ) -> Result<Matcher, IgnoreError> {
        Ok(Matcher {
            compiled: Matcher::compile(patterns, flavor, Some(memo))?,
            walked: Arc::default(),
        })
    }

    fn compile(
        patterns: &[String],
        flavor: Flavor,
        memo: Option<&Memo>,
    ) -> Result<Arc<Compiled>, IgnoreError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = go_clean(p);
            let mut exclusion = false;
            if p.starts_with('!') {
                if p.len() == 1 {
                    return Err(IgnoreError::LoneBang);
                }
                exclusion = true;
                exclusions = true;
                p.remove(0);
            }
            // only a class or an escape can make `path.Match` fail
            if p.contains(['[', ']', '\\']) && crate::engine::glob::path_match(&p, ".").is_err() {
                return Err(IgnoreError::BadPattern(p));
            }
            let kind = match flavor {
                Flavor::Current => compile_current(&p, memo),
                Flavor::Docker2010 => compile_2010(&p, memo),
            };
            let literal = match kind {
                MatchType::Regexp(_) => required_literal(&p, flavor),
                _ => None,
            };
            out.push(Pattern {
                exclusion,
                dirs: p.split('/').count(),
                cleaned: p,
                kind,
                literal,
            });
        }
        let only_prefix_exceptions = out
            .iter()
            .filter(|p| p.exclusion)
            .all(|p| !without_trailing_glob(&p.cleaned).contains(['*', '[', ']', '?', '^', '\\']));
        Ok(Arc::new(Compiled {
            flavor,
            blocks: blocks_of(&out),
            patterns: out,
            exclusions,
            only_prefix_exceptions,
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn pattern_match(p: &Pattern, path: &str) -> Result<bool, IgnoreError> {
        Ok(match &p.kind {
            MatchType::Exact => path == p.cleaned,
            MatchType::Prefix => path.starts_with(&p.cleaned[..p.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &p.cleaned[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            MatchType::Regexp(re) => {
                p.literal.as_ref().is_none_or(|l| path.contains(l.as_str())) && re.is_match(path)
            }
            MatchType::Bad => return Err(IgnoreError::BadPattern(p.cleaned.clone())),
        })
    }

    /// `MatchesOrParentMatches`: the path or any parent directory prefix matches.
    pub fn matches_or_parent(&self, file: &str) -> Result<bool, IgnoreError> {
        let parent = go_dir(file);
        let prefixes = prefix_ends(&parent);
        let mut matched = false;
        if let Some(blocks) = &self.blocks {
            for b in blocks {
                if b.exclusion == matched && b.any(self, file, &parent, &prefixes, true) {
                    matched = !b.exclusion;
                }
            }
            return Ok(matched);
        }
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = Self::pattern_match(p, file)?;
            if !m && parent != "." {
                // `strings.Join(parentPathDirs[:i+1], "/")` is the parent's text up to its
                // (i+1)-th separator
                for &end in &prefixes {
                    if Self::pattern_match(p, &parent[..end]).unwrap_or(false) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// The deprecated `Matches` (and Docker 20.10's): only the parent prefix with as many
    /// segments as the pattern is checked.
    pub fn matches_single_parent(&self, file: &str) -> Result<bool, IgnoreError> {
        let parent = go_dir(file);
        let prefixes = prefix_ends(&parent);
        let mut matched = false;
        if let Some(blocks) = &self.blocks {
            for b in blocks {
                if self.flavor == Flavor::Current && b.exclusion != matched {
                    continue;
                }
                if b.any(self, file, &parent, &prefixes, false) {
                    matched = !b.exclusion;
                }
            }
            return Ok(matched);
        }
        for p in &self.patterns {
            if self.flavor == Flavor::Current && p.exclusion != matched {
                continue;
            }
            let mut m = Self::pattern_match(p, file)?;
            if !m && parent != "." && p.dirs <= prefixes.len() {
                m = Self::pattern_match(p, &parent[..prefixes[p.dirs - 1]]).unwrap_or(false);
            }
            if m {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// The matcher the context walker of this flavor uses.
    pub fn matches(&self, path: &str) -> Result<bool, IgnoreError> {
        match self.flavor {
            Flavor::Current => self.matches_or_parent(path),
            Flavor::Docker2010 => self.matches_single_parent(path),
        }
    }

    /// Whether the walker skips a matched directory without looking inside.
    fn prunes_dir(&self, dir: &str) -> bool {
        if !self.exclusions {
            return true;
        }
        if self.flavor == Flavor::Current && !self.only_prefix_exceptions {
            return false;
        }
        let dir_slash = format!("{dir}/");
        !self
            .patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }

    /// Whether a regular file at `path` (every earlier component a directory) is left out of the
    /// build context.
    pub fn walk_excluded(&self, path: &str) -> Result<bool, IgnoreError> {
        if self.patterns.is_empty() {
            return Ok(false);
        }
        if let Some(answer) = self.walked_file(path) {
            return Ok(answer);
        }
        self.walk_excluded_each(path)
    }

    /// `walk_excluded` matching every pattern against every prefix (the reference the walk's
    /// memo answers as; also what answers for a pattern that fails to match).
    fn walk_excluded_each(&self, path: &str) -> Result<bool, IgnoreError> {
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if self.matches(&prefix)? && self.prunes_dir(&prefix) {
                return Ok(true);
            }
        }
        self.matches(path)
    }

    /// What `walk_excluded(path) || dir_pruned(path)` answers for the matcher of this one's
    /// patterns followed by `extra`'s, computed without compiling the two together: a pattern
    /// appended without `!` can only add matches (`path` or a parent matching it is excluded
    /// whatever came before) and leaves the exceptions, hence the directory pruning, as they
    /// are. `None` when that does not hold (`extra` has exceptions or another flavor, or a
    /// pattern of either fails to match): then build the whole matcher.
    pub fn drops_with(&self, extra: &Matcher, path: &str) -> Option<bool> {
        let newly = self.newly_drops(extra, path)?;
        Some(newly || self.walk_excluded(path).ok()? || self.dir_pruned(path).ok()?)
    }

    /// The text of the matcher's only pattern when that is a plain literal path (no `!`, no
    /// wildcard): it matches a path exactly when it equals one of the path's `literal_keys`.
    pub fn as_literal(&self) -> Option<&str> {
        match self.patterns.as_slice() {
            [p] if !p.exclusion && matches!(p.kind, MatchType::Exact) => Some(&p.cleaned),
            _ => None,
        }
    }

    /// Whether `newly_drops` can answer for `extra` appended to this matcher: `extra` has no
    /// exception, the same flavor, and neither has a pattern that fails to match (`blocks` is
    /// `None` exactly then).
    pub fn appends_plainly(&self, extra: &Matcher) -> bool {
        !extra.exclusions
            && extra.flavor == self.flavor
            && self.blocks.is_some()
            && extra.blocks.is_some()
    }

    /// The part of `drops_with` that `extra` adds: whether `path` or one of its directories
    /// matches `extra` where this matcher's walker would prune or exclude it. A caller that
    /// tries many single entries against the same file checks the file's own answer once.
    pub fn newly_drops(&self, extra: &Matcher, path: &str) -> Option<bool> {
        if !self.appends_plainly(extra) {
            return None;
        }
        if extra.patterns.is_empty() {
            return Some(false);
        }
        // the prefixes `dir_pruned` builds (which cover `walk_excluded`'s)
        let mut prefix = String::new();
        for c in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if extra.matches(&prefix).ok()? && self.prunes_dir(&prefix) {
                return Some(true);
            }
        }
        extra.matches(path).ok()
    }

    /// Like `walk_excluded` for a directory at `path`: the directory itself is not sent and
    /// nothing below it is.
    pub fn dir_pruned(&self, path: &str) -> Result<bool, IgnoreError> {
        if self.patterns.is_empty() {
            return Ok(false);
        }
        if walkable(path) && self.blocks.is_some() {
            if let Ok(mut w) = self.walked.lock() {
                return Ok(self.dir_state(&mut w, path).pruned);
            }
        }
        self.dir_pruned_each(path)
    }

    /// `dir_pruned` matching every pattern against every prefix.
    fn dir_pruned_each(&self, path: &str) -> Result<bool, IgnoreError> {
        let mut prefix = String::new();
        for c in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if self.matches(&prefix)? && self.prunes_dir(&prefix) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Matcher {
    /// `walk_excluded` for a clean relative path, from the memo of the walk (`None`: a path or
    /// a pattern the memo does not take; ask the pattern loop).
    fn walked_file(&self, path: &str) -> Option<bool> {
        if !walkable(path) || self.blocks.is_none() {
            return None;
        }
        let mut w = self.walked.lock().ok()?;
        if let Some(a) = w.files.get(path) {
            return Some(*a);
        }
        let answer = match path.rfind('/') {
            None => self.fold(path, None),
            Some(i) => {
                let parent = self.dir_state(&mut w, &path[..i]);
                parent.pruned || self.fold(path, Some(&parent))
            }
        };
        if w.files.len() >= MAX_WALKED_FILES {
            w.files.clear();
        }
        w.files.insert(path.to_string(), answer);
        Some(answer)
    }

    /// The state of directory `dir` (clean, relative), its ancestors' first.
    fn dir_state(&self, w: &mut Walked, dir: &str) -> Arc<DirState> {
        if let Some(s) = w.dirs.get(dir) {
            return s.clone();
        }
        // the nearest known ancestor, then down from it
        let ends: Vec<usize> = dir
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(dir.len()))
            .collect();
        let mut start = 0;
        let mut state: Option<Arc<DirState>> = None;
        for (k, &e) in ends.iter().enumerate().rev() {
            if let Some(s) = w.dirs.get(&dir[..e]) {
                state = Some(s.clone());
                start = k + 1;
                break;
            }
        }
        for &e in &ends[start..] {
            let s = Arc::new(self.dir_below(&dir[..e], state.as_ref()));
            // two bit sets and the ancestors per directory
            let per = self.patterns.len() / 4 + 8 * s.up.len() + e + 64;
            if w.dirs.len().saturating_mul(per) >= MAX_WALKED_DIR_BYTES {
                w.dirs.clear();
            }
            w.dirs.insert(dir[..e].to_string(), s.clone());
            state = Some(s);
        }
        state.expect("a directory has at least one component")
    }

    /// The state of directory `dir` whose parent's state is `parent` (`None`: the root).
    fn dir_below(&self, dir: &str, parent: Option<&Arc<DirState>>) -> DirState {
        let n = self.patterns.len();
        let mut own = Bits::new(n);
        for (i, p) in self.patterns.iter().enumerate() {
            if Self::pattern_match(p, dir).unwrap_or(false) {
                own.set(i);
            }
        }
        let mut any = own.clone();
        let mut up = Vec::new();
        if let Some(p) = parent {
            any.or(&p.any);
            up = p.up.clone();
            up.push(p.clone());
        }
        let own_of = |k: usize| up.get(k.wrapping_sub(1)).map(|s| &s.own);
        let matched = self.fold_with(
            |i| own.get(i),
            |i| match self.flavor {
                Flavor::Current => parent.is_some_and(|p| p.any.get(i)),
                Flavor::Docker2010 => own_of(self.patterns[i].dirs).is_some_and(|b| b.get(i)),
            },
        );
        let pruned = parent.is_some_and(|p| p.pruned) || (matched && self.prunes_dir(dir));
        DirState {
            own,
            any,
            up,
            pruned,
        }
    }

    /// `matches(path)` for a file whose parent directory's state is `parent`.
    fn fold(&self, path: &str, parent: Option<&Arc<DirState>>) -> bool {
        self.fold_with(
            |i| Self::pattern_match(&self.patterns[i], path).unwrap_or(false),
            |i| match (self.flavor, parent) {
                (_, None) => false,
                (Flavor::Current, Some(p)) => p.any.get(i),
                (Flavor::Docker2010, Some(p)) => {
                    let k = self.patterns[i].dirs;
                    match k.cmp(&(p.up.len() + 1)) {
                        std::cmp::Ordering::Less => p.up[k - 1].own.get(i),
                        std::cmp::Ordering::Equal => p.own.get(i),
                        std::cmp::Ordering::Greater => false,
                    }
                }
            },
        )
    }

    /// The pattern loop of `matches` (Go's order and skipping) over answers given per pattern:
    /// whether it matches the path itself, and whether it matches the parent prefixes the flavor
    /// checks. The path is matched only for the patterns the loop reaches.
    fn fold_with(&self, itself: impl Fn(usize) -> bool, parents: impl Fn(usize) -> bool) -> bool {
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let skips = match self.flavor {
                Flavor::Current => p.exclusion != matched,
                Flavor::Docker2010 => false,
            };
            if skips {
                continue;
            }
            if parents(i) || itself(i) {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// A path the walk's memo takes: relative, clean (no empty, `.` or `..` component).
fn walkable(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && path != "." && is_clean(path)
}

/// A text that every path a regular-expression pattern matches contains: the longest run of
/// plain characters outside wildcards and classes (`None` when the pattern holds syntax the
/// run could be part of: escapes, anchors, nested classes, or in Docker 20.10's dialect, where
/// more characters are operators, any of them).
fn required_literal(pattern: &str, flavor: Flavor) -> Option<String> {
    let operators: &[char] = match flavor {
        Flavor::Current => &['\\'],
        Flavor::Docker2010 => &['\\', '^', '+', '(', ')', '|', '{', '}'],
    };
    if pattern.contains(operators) {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut best = String::new();
    let mut run = String::new();
    let mut i = 0;
    let mut end_run = |run: &mut String| {
        if run.chars().count() > best.chars().count() {
            best = std::mem::take(run);
        } else {
            run.clear();
        }
    };
    while i < chars.len() {
        match chars[i] {
            '*' => {
                end_run(&mut run);
                i += 1;
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    // `**/` is one optional group, its slash included
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                }
            }
            '?' => {
                end_run(&mut run);
                i += 1;
            }
            '[' => {
                end_run(&mut run);
                // a class is one character: `[`, an optional `^`, a `]` there is a member, and
                // it ends at the next `]`
                let mut j = i + 1;
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                let close = chars[j..].iter().position(|c| *c == ']').map(|k| j + k)?;
                if chars[i + 1..close].contains(&'[') {
                    return None;
                }
                i = close + 1;
            }
            // an anchor (a class's `^` is read with the class)
            ']' | '^' => return None,
            c => {
                run.push(c);
                i += 1;
            }
        }
    }
    end_run(&mut run);
    (!best.is_empty()).then_some(best)
}

/// For a clean relative `path`: the path and each of its directories (`a/b/c` → `a/b/c`, `a`,
/// `a/b`). A literal pattern (`Matcher::as_literal`) appended to a matcher newly drops `path`
/// (`Matcher::newly_drops`) exactly when it is one of them: it then matches the path itself,
/// or a directory above it, and both flavors match a literal against the path and every parent
/// directory. `None` for a path that needs cleaning (ask `newly_drops`).
pub fn literal_keys(path: &str) -> Option<Vec<&str>> {
    if path.starts_with('/') || path == "." || !is_clean(path) {
        return None;
    }
    let mut out = vec![path];
    out.extend(path.match_indices('/').map(|(i, _)| &path[..i]));
    Some(out)
}

/// Where each of `path`'s slash-separated prefixes ends: `a/b/c` → `[1, 3, 5]`
/// (`a`, `a/b`, `a/b/c`), so a prefix is a slice instead of a joined copy.
fn prefix_ends(path: &str) -> Vec<usize> {
    let mut out: Vec<usize> = path
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'/')
        .map(|(i, _)| i)
        .collect();
    out.push(path.len());
    out
}

fn without_trailing_glob(p: &str) -> &str {
    let p = p.strip_suffix("/**").unwrap_or(p);
    p.strip_suffix("/*").unwrap_or(p)
}

/// Go's `filepath.Dir` for slash paths (borrowed when it needs no cleaning).
fn go_dir(path: &str) -> std::borrow::Cow<'_, str> {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) if is_clean(&path[..i]) => (&path[..i]).into(),
        Some(i) => go_clean(&path[..=i]).into(),
        None => ".".into(),
    }
}

fn push_escaped(re: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        // Go allows \<letter> escapes such as \b; keep the same text.
        re.push('\\');
        re.push(c);
    } else {
        re.push_str(&regex::escape(&c.to_string()));
    }
}

fn compile_current(pattern: &str, memo: Option<&Memo>) -> MatchType {
    // nothing but literal characters: the loop below would detect an exact match
    if !pattern.contains(['*', '?', '\\', '[', ']']) {
        return MatchType::Exact;
    }
    let mut re = String::from("^");
    let mut detected = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regexp
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut iter = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if detected == 0 {
                        detected = 1;
                    } else {
                        re.push_str(".*");
                        detected = 3;
                    }
                } else {
                    // `**/**/` is `**/`: one group is the same language as any run of them
                    if !re.ends_with("(.*/)?") {
                        re.push_str("(.*/)?");
                    }
                    detected = 3;
                }
                if iter == 0 {
                    detected = 2;
                }
            } else {
                re.push_str("[^/]*");
                detected = 3;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            detected = 3;
        } else if ".+()|{}$".contains(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            if i < chars.len() {
                push_escaped(&mut re, chars[i]);
                i += 1;
                detected = 3;
            } else {
                re.push_str("\\\\");
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            detected = 3;
        } else {
            push_literal(&mut re, ch);
        }
        iter += 1;
    }
    match detected {
        0 => MatchType::Exact,
        1 => MatchType::Prefix,
        2 => MatchType::Suffix,
        _ => {
            re.push('$');
            go_regex(&re, memo)
        }
    }
}

/// Characters that are literal in Go's pattern conversion but would be syntax in our regex
/// engine only where Go's would also treat them as syntax; everything else is pushed as is.
fn push_literal(re: &mut String, ch: char) {
    re.push(ch);
}

fn compile_2010(pattern: &str, memo: Option<&Memo>) -> MatchType {
    // without wildcards, escapes or characters RE2 reads as syntax, `^pattern$` (`.` and `$`
    // escaped) matches the pattern's own text and nothing else
    if !pattern.contains(['*', '?', '\\', '+', '(', ')', '|', '{', '}', '[', ']', '^']) {
        return MatchType::Exact;
    }
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else if !re.ends_with("(.*/)?") {
                    re.push_str("(.*/)?");
                }
            } else {
                re.push_str("[^/]*");
            }
        } else if ch == '?' {
            re.push_str("[^/]");
        } else if ch == '.' || ch == '$' {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            if i < chars.len() {
                push_escaped(&mut re, chars[i]);
                i += 1;
            } else {
                re.push_str("\\\\");
            }
        } else {
            push_literal(&mut re, ch);
        }
    }
    re.push('$');
    go_regex(&re, memo)
}

/// Compile a regular expression written for Go's RE2 dialect (remembered across calls: the
/// same ignore files come back for every commit of a history).
fn go_regex(re: &str, memo: Option<&Memo>) -> MatchType {
    let compiled = match memo {
        Some(m) => m.regex(re),
        None => regex::Regex::new(re).ok(),
    };
    match compiled {
        Some(r) => MatchType::Regexp(r),
        None => MatchType::Bad,
    }
}

#[cfg(test)]
impl Matcher {
    /// The same patterns answered by trying each in turn (no literal sets, no memo).
    fn without_blocks(&self) -> Matcher {
        Matcher {
            compiled: Arc::new(Compiled {
                flavor: self.flavor,
                patterns: self.patterns.clone(),
                exclusions: self.exclusions,
                only_prefix_exceptions: self.only_prefix_exceptions,
                blocks: None,
            }),
            walked: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_past_the_limit_are_not_read() {
        let text = format!("# c\n\n{}", "a\n".repeat(MAX_PATTERNS + 3));
        assert_eq!(read_patterns(&text).len(), MAX_PATTERNS);
        assert_eq!(line_past_limit(&text), Some(MAX_PATTERNS as u32 + 3));
        let fits = "a\n".repeat(MAX_PATTERNS);
        assert_eq!(line_past_limit(&fits), None);
        assert_eq!(read_patterns(&fits).len(), MAX_PATTERNS);
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(go_clean("a/../b"), "b");
        assert_eq!(go_clean("./a"), "a");
        assert_eq!(go_clean("dir/"), "dir");
        assert_eq!(go_clean("/"), "/");
        assert_eq!(go_clean("/../a"), "/a");
        assert_eq!(go_clean("../a"), "../a");
        assert_eq!(go_clean(""), ".");
    }

    const PATTERNS: &[&str] = &[
        "a",
        "a/b",
        "!a/b/c",
        "*.md",
        "!README.md",
        "docs",
        "x/**",
        "**/tmp",
        "!keep/**",
        "keep/y",
        "b+c",
        "d.e",
        "s[0-9]",
        "!s1",
        "deep/one/two",
    ];
    const PATHS: &[&str] = &[
        "a",
        "a/x",
        "a/b",
        "a/b/c",
        "a/b/c/d",
        "README.md",
        "z/README.md",
        "CHANGES.md",
        "docs/x/y",
        "x/1",
        "x",
        "q/tmp/r",
        "keep/y",
        "keep/y/z",
        "b+c",
        "b+c/d",
        "dxe",
        "d.e/f",
        "s1",
        "s2/x",
        "deep/one/two/three",
        "deep/one",
        "other",
    ];

    #[test]
    fn literal_sets_answer_as_the_pattern_loop() {
        // every prefix and suffix of the pattern list, each flavor: the indexed runs must give
        // the answers of Go's loop over the patterns one by one
        for flavor in [Flavor::Current, Flavor::Docker2010] {
            for start in 0..PATTERNS.len() {
                for end in start..=PATTERNS.len() {
                    let pats: Vec<String> =
                        PATTERNS[start..end].iter().map(|s| s.to_string()).collect();
                    let fast = Matcher::new(&pats, flavor).unwrap();
                    assert!(fast.blocks.is_some());
                    let slow = fast.without_blocks();
                    for p in PATHS {
                        for (what, f, s) in [
                            ("matches", fast.matches(p), slow.matches(p)),
                            (
                                "single",
                                fast.matches_single_parent(p),
                                slow.matches_single_parent(p),
                            ),
                            ("walk", fast.walk_excluded(p), slow.walk_excluded(p)),
                            ("pruned", fast.dir_pruned(p), slow.dir_pruned(p)),
                        ] {
                            assert_eq!(f, s, "{what} {p:?} with {pats:?} ({flavor:?})");
                        }
                    }
                }
            }
        }
    }

    /// The walk's memo (each directory matched once) and the prefilter by literal answer as the
    /// pattern loop over every prefix, for generated pattern lists (wildcards, `**`, classes,
    /// exceptions, both flavors) and paths, asked in any order.
    #[test]
    fn the_walk_memo_answers_as_every_prefix_matched() {
        let pieces = [
            "a", "b", "ab", "*", "**", "?", "[ab]", "[^a]", "[]a]", "x.y", "+", "(", "|", "{1}",
            "^", "\\a", "$",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let names = ["a", "b", "ab", "ba", "x.y", "a+", "(|)", "aa", "]"];
        let mut paths = Vec::new();
        for _ in 0..60 {
            let depth = 1 + next(4);
            let p: Vec<&str> = (0..depth).map(|_| names[next(names.len())]).collect();
            paths.push(p.join("/"));
        }
        for round in 0..300 {
            let n = 1 + next(6);
            let mut pats = Vec::new();
            for _ in 0..n {
                let segs = 1 + next(3);
                let mut p = String::new();
                if next(4) == 0 {
                    p.push('!');
                }
                for k in 0..segs {
                    if k > 0 {
                        p.push('/');
                    }
                    for _ in 0..1 + next(3) {
                        p.push_str(pieces[next(pieces.len())]);
                    }
                }
                pats.push(p);
            }
            for flavor in [Flavor::Current, Flavor::Docker2010] {
                let Ok(fast) = Matcher::new(&pats, flavor) else {
                    continue;
                };
                if fast.blocks.is_none() {
                    continue;
                }
                for p in &fast.patterns {
                    if let (MatchType::Regexp(re), Some(l)) = (&p.kind, &p.literal) {
                        for path in &paths {
                            assert!(
                                !re.is_match(path) || path.contains(l.as_str()),
                                "{path:?} matches {:?} without its literal {l:?}",
                                p.cleaned
                            );
                        }
                    }
                }
                let order = next(2);
                for (k, _) in paths.iter().enumerate() {
                    let path = if order == 0 {
                        &paths[k]
                    } else {
                        &paths[paths.len() - 1 - k]
                    };
                    assert_eq!(
                        fast.walk_excluded(path),
                        fast.walk_excluded_each(path),
                        "walk {path:?} with {pats:?} ({flavor:?}, round {round})"
                    );
                    assert_eq!(
                        fast.dir_pruned(path),
                        fast.dir_pruned_each(path),
                        "pruned {path:?} with {pats:?} ({flavor:?}, round {round})"
                    );
                }
            }
        }
    }

    #[test]
    fn required_literals_are_the_plain_runs() {
        let lit = |p: &str| required_literal(p, Flavor::Current);
        assert_eq!(lit("**/**/*537*x?y*[a-c]").as_deref(), Some("537"));
        assert_eq!(lit("**/foo/**/bar").as_deref(), Some("foo/"));
        assert_eq!(lit("[]ab]cd*e").as_deref(), Some("cd"));
        assert_eq!(lit("[^]x]yy").as_deref(), Some("yy"));
        assert_eq!(lit("a\\*b"), None);
        assert_eq!(lit("*[[:alpha:]]x"), None);
        assert_eq!(required_literal("ab+c*", Flavor::Docker2010), None);
        assert_eq!(lit("ab+c*").as_deref(), Some("ab+c"));
        // runs of `**/` are one group
        assert!(
            matches!(compile_current("**/**/**/*.c", None), MatchType::Regexp(r) if r.as_str() == "^(.*/)?[^/]*\\.c$")
        );
    }

    #[test]
    fn appending_a_plain_pattern_is_answered_without_recompiling() {
        let extras = ["a", "a/b/c", "docs", "*.md", "keep", "x/1", "s*", "other"];
        for flavor in [Flavor::Current, Flavor::Docker2010] {
            for end in 0..=PATTERNS.len() {
                let pats: Vec<String> = PATTERNS[..end].iter().map(|s| s.to_string()).collect();
                let m = Matcher::new(&pats, flavor).unwrap();
                for extra in extras {
                    let e = Matcher::new(&[extra.to_string()], flavor).unwrap();
                    let mut all = pats.clone();
                    all.push(extra.to_string());
                    let whole = Matcher::new(&all, flavor).unwrap();
                    for p in PATHS {
                        let want = whole.walk_excluded(p).unwrap() || whole.dir_pruned(p).unwrap();
                        assert_eq!(
                            m.drops_with(&e, p),
                            Some(want),
                            "{p:?} with {all:?} ({flavor:?})"
                        );
                    }
                }
            }
        }
        // a literal entry drops what its keys say
        for flavor in [Flavor::Current, Flavor::Docker2010] {
            for end in 0..=PATTERNS.len() {
                let pats: Vec<String> = PATTERNS[..end].iter().map(|s| s.to_string()).collect();
                let m = Matcher::new(&pats, flavor).unwrap();
                for extra in ["a", "a/b/c", "docs", "keep", "x/1", "other", "d.e"] {
                    let e = Matcher::new(&[extra.to_string()], flavor).unwrap();
                    assert_eq!(e.as_literal(), Some(extra));
                    for p in PATHS {
                        let keys = literal_keys(p).unwrap();
                        assert_eq!(
                            m.newly_drops(&e, p),
                            Some(keys.contains(&extra)),
                            "{p:?} with {pats:?} + {extra} ({flavor:?})"
                        );
                    }
                }
            }
        }
        assert_eq!(literal_keys("a//b"), None);
        let star = Matcher::new(&["*.md".to_string()], Flavor::Current).unwrap();
        assert_eq!(star.as_literal(), None);
        let m = Matcher::new(&["a".to_string()], Flavor::Current).unwrap();
        let exception = Matcher::new(&["!a/b".to_string()], Flavor::Current).unwrap();
        assert_eq!(m.drops_with(&exception, "a/b"), None);
    }

    #[test]
    fn node_modules_and_exceptions() {
        let m = Matcher::new(
            &read_patterns("node_modules\n*.md\n!README.md\n"),
            Flavor::Current,
        )
        .unwrap();
        assert!(m.walk_excluded("node_modules/a/b.js").unwrap());
        assert!(m.walk_excluded("CHANGES.md").unwrap());
        assert!(!m.walk_excluded("README.md").unwrap());
        assert!(!m.walk_excluded("src/x.md").unwrap());
    }
}
