//! `.dockerignore`: the file reader (`moby/patternmatcher/ignorefile: ReadAll`), the current
//! matcher (`moby/patternmatcher`), Docker 20.10's matcher (`pkg/fileutils` in moby v20.10.27),
//! and the context walkers of both (which may prune a whole excluded directory). What decides
//! whether a file reaches the build is `Matcher::walk_excluded`, not the bare match.

use regex::Regex;

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

/// Go's `path.Clean`.
pub fn go_clean(path: &str) -> String {
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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneBang,
    #[error("syntax error in pattern {0:?}")]
    BadPattern(String),
}

/// A compiled list of `.dockerignore` patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    flavor: Flavor,
    patterns: Vec<Pattern>,
    exclusions: bool,
    only_prefix_exceptions: bool,
}

impl Matcher {
    /// `patternmatcher.New` / `fileutils.NewPatternMatcher`.
    pub fn new(patterns: &[String], flavor: Flavor) -> Result<Matcher, IgnoreError> {
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
            if crate::engine::glob::path_match(&p, ".").is_err() {
                return Err(IgnoreError::BadPattern(p));
            }
            let kind = match flavor {
                Flavor::Current => compile_current(&p),
                Flavor::Docker2010 => compile_2010(&p),
            };
            out.push(Pattern {
                exclusion,
                dirs: p.split('/').count(),
                cleaned: p,
                kind,
            });
        }
        let only_prefix_exceptions = out
            .iter()
            .filter(|p| p.exclusion)
            .all(|p| !without_trailing_glob(&p.cleaned).contains(['*', '[', ']', '?', '^', '\\']));
        Ok(Matcher {
            flavor,
            patterns: out,
            exclusions,
            only_prefix_exceptions,
        })
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
            MatchType::Regexp(re) => re.is_match(path),
            MatchType::Bad => return Err(IgnoreError::BadPattern(p.cleaned.clone())),
        })
    }

    /// `MatchesOrParentMatches`: the path or any parent directory prefix matches.
    pub fn matches_or_parent(&self, file: &str) -> Result<bool, IgnoreError> {
        let parent = go_dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = Self::pattern_match(p, file)?;
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    if Self::pattern_match(p, &parent_dirs[..=i].join("/")).unwrap_or(false) {
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
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if self.flavor == Flavor::Current && p.exclusion != matched {
                continue;
            }
            let mut m = Self::pattern_match(p, file)?;
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                m = Self::pattern_match(p, &parent_dirs[..p.dirs].join("/")).unwrap_or(false);
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

    /// Like `walk_excluded` for a directory at `path`: the directory itself is not sent and
    /// nothing below it is.
    pub fn dir_pruned(&self, path: &str) -> Result<bool, IgnoreError> {
        if self.patterns.is_empty() {
            return Ok(false);
        }
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

fn without_trailing_glob(p: &str) -> &str {
    let p = p.strip_suffix("/**").unwrap_or(p);
    p.strip_suffix("/*").unwrap_or(p)
}

/// Go's `filepath.Dir` for slash paths.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
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

fn compile_current(pattern: &str) -> MatchType {
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
                    re.push_str("(.*/)?");
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
            go_regex(&re)
        }
    }
}

/// Characters that are literal in Go's pattern conversion but would be syntax in our regex
/// engine only where Go's would also treat them as syntax; everything else is pushed as is.
fn push_literal(re: &mut String, ch: char) {
    re.push(ch);
}

fn compile_2010(pattern: &str) -> MatchType {
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
                } else {
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
    go_regex(&re)
}

/// Compile a regular expression written for Go's RE2 dialect (remembered across calls: the
/// same ignore files come back for every commit of a history).
fn go_regex(re: &str) -> MatchType {
    match crate::engine::memo::regex(re) {
        Some(r) => MatchType::Regexp(r),
        None => MatchType::Bad,
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
