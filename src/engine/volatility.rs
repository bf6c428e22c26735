//! How often a value a build gives a variable changes, from evidence rather than from its name:
//! the Dockerfile's own history (the `ARG` default or `ENV` value in each version of the file
//! over the first-parent commits the tool can see, read through `ports::RepoSource`), and the
//! build's declared arg values (a workflow passing `${{ github.sha }}` gives a new value on
//! every commit). CB003 reports a variable only when this evidence says it changes often enough
//! that moving it pays for the rebuild the move itself costs.

use crate::engine::memo::{Kind as Memoized, Memo};
use std::collections::BTreeMap;

use super::dockerfile::{Body, Kind};

/// Versions of a file over the first-parent history ending at the base revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHistory {
    /// First-parent commits looked at (the base revision and those before it).
    pub commits: usize,
    /// Seconds from the oldest to the newest commit looked at.
    pub seconds: u64,
    /// The file's text after each commit that changed it, oldest first (`None`: absent then).
    pub versions: Vec<Option<String>>,
    /// Each version's git blob id, where the reader knows it (as many as `versions`, or none):
    /// what `history_changes` remembers a version's declarations by, instead of its whole text.
    pub ids: Vec<Option<String>>,
}

/// Most versions of a file read, and the largest text parsed (the newest are kept).
pub const MAX_VERSIONS: usize = 300;
pub const MAX_VERSION_BYTES: usize = 256 << 10;

/// Histories by root-relative path (`None`: the source has no history to read).
pub type Histories = BTreeMap<String, Option<FileHistory>>;

/// How often a variable's value changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Volatility {
    /// The build's declared value is an expression with a new value on every commit or run.
    EveryCommit { value: String },
    /// Over the visible history: `changes` of the `commits` looked at changed the value.
    History {
        changes: usize,
        commits: usize,
        seconds: u64,
    },
}

impl Volatility {
    /// Whether the value changes often enough that moving its declaration pays: moving it
    /// re-runs the steps it passes once; each later change it no longer re-runs them. At least
    /// `MIN_CHANGES` changes, and one in every `COMMITS_PER_CHANGE` commits or more often.
    pub fn often(&self) -> bool {
        match self {
            Volatility::EveryCommit { .. } => true,
            Volatility::History {
                changes, commits, ..
            } => *changes >= MIN_CHANGES && changes * COMMITS_PER_CHANGE >= *commits,
        }
    }
}

pub const MIN_CHANGES: usize = 3;
pub const COMMITS_PER_CHANGE: usize = 20;

/// Every variable a Dockerfile text declares, with the values it is given (`ARG name=…` defaults
/// and `ENV name=…` values as written, in file order); `None`: the text does not parse or is
/// over the size read.
type Declarations = Option<std::sync::Arc<std::collections::BTreeMap<String, Vec<Option<String>>>>>;

/// The declarations of a text, remembered in the caller's memo: `history` replays a window of up
/// to 300 versions of a Dockerfile for every commit, and the windows of neighbouring commits are
/// nearly the same, so each version is parsed once, not once per commit and variable
/// (moby/buildkit: 5 s a commit).
fn declarations(memo: &Memo, text: &str) -> Declarations {
    if text.len() > MAX_VERSION_BYTES {
        return None;
    }
    memo.get_or(Memoized::Declarations, text, || {
        declarations_in(&super::dockerfile::parse_in(memo, text))
    })
}

/// [`declarations`] read from the text (no memo: the versions of a history are parsed once
/// each and kept by blob id, not in the memo of parsed texts).
fn read_declarations(text: &str) -> Declarations {
    declarations_in(&super::dockerfile::parse(text))
}

/// [`declarations`] of a parsed text.
fn declarations_in(df: &super::dockerfile::Dockerfile) -> Declarations {
    if !df.ok {
        return None;
    }
    let mut out: std::collections::BTreeMap<String, Vec<Option<String>>> =
        std::collections::BTreeMap::new();
    for i in &df.instructions {
        match (&i.kind, &i.body) {
            (Kind::Arg, Body::Arg(a)) => {
                for (n, v) in a {
                    out.entry(n.clone()).or_default().push(v.clone());
                }
            }
            (Kind::Env, Body::Pairs(p)) => {
                for (n, v) in p {
                    out.entry(n.clone()).or_default().push(Some(v.clone()));
                }
            }
            _ => {}
        }
    }
    Some(std::sync::Arc::new(out))
}

/// [`declarations`] of a version git names `id` (a blob id names one text): remembered by the
/// id, so a window of 300 versions costs 300 short lookups rather than hashing 300 texts again
/// for every commit, build and variable.
fn declarations_of_blob(memo: &Memo, id: &str, text: &str) -> Declarations {
    if text.len() > MAX_VERSION_BYTES {
        return None;
    }
    memo.get_or(Memoized::BlobDeclarations, id, || read_declarations(text))
}

/// How often `name`'s declared value changed over `history`, the head's text (`head`, the
/// change under review) counted as one more version when it differs from the last.
pub fn history_changes(
    memo: &Memo,
    history: &FileHistory,
    head: Option<&str>,
    name: &str,
) -> Volatility {
    let from = history.versions.len().saturating_sub(MAX_VERSIONS);
    let (mut changes, last) = window_changes(memo, history, from, name);
    let mut commits = history.commits;
    if let Some(h) = head {
        if history.versions.last().and_then(|v| v.as_deref()) != Some(h) {
            commits += 1;
            let now = declarations(memo, h).and_then(|d| d.get(name).cloned());
            if let (Some(a), Some(b)) = (&last, &now) {
                if a != b {
                    changes += 1;
                }
            }
        }
    }
    Volatility::History {
        changes,
        commits,
        seconds: history.seconds,
    }
}

/// How often `name`'s declared value changed over the versions of `history` from `from` on, and
/// its last declared value. Remembered by the versions' blob ids where each present version has
/// one: every build of a commit asks for each of its ARGs on both sides, and the next commit asks
/// for nearly the same window again (docker-library/php: 8% of its time walking windows).
fn window_changes(
    memo: &Memo,
    history: &FileHistory,
    from: usize,
    name: &str,
) -> (usize, Option<Vec<Option<String>>>) {
    let ids = |i: usize| {
        (history.ids.len() == history.versions.len())
            .then(|| history.ids[i].as_deref())
            .flatten()
    };
    let walk = || {
        let mut changes = 0;
        let mut last: Option<Vec<Option<String>>> = None;
        for (i, v) in history.versions.iter().enumerate().skip(from) {
            let now = v.as_deref().and_then(|t| {
                let d = match ids(i) {
                    Some(id) => declarations_of_blob(memo, id, t),
                    None => declarations(memo, t),
                };
                d?.get(name).cloned()
            });
            if let (Some(a), Some(b)) = (&last, &now) {
                if a != b {
                    changes += 1;
                }
            }
            if now.is_some() {
                last = now;
            }
        }
        (changes, last)
    };
    // the key names every version (`-` for an absent one) and the variable
    let mut key = String::new();
    for (i, v) in history.versions.iter().enumerate().skip(from) {
        match (v, ids(i)) {
            (None, _) => key.push('-'),
            (Some(_), Some(id)) => key.push_str(id),
            // a version known by its text only: not remembered
            (Some(_), None) => return walk(),
        }
        key.push('\n');
    }
    key.push_str(name);
    memo.get_or(Memoized::Window, &key, walk)
}

/// CI expressions whose value is new on every commit or run.
const PER_COMMIT: &[&str] = &[
    "github.sha",
    "github.run_number",
    "github.run_id",
    "github.run_attempt",
    "github.event.pull_request.head.sha",
    "github.event.head_commit.id",
    "GITHUB_SHA",
    "GITHUB_RUN_NUMBER",
    "GITHUB_RUN_ID",
    "CI_COMMIT_SHA",
    "CI_PIPELINE_ID",
    "BUILD_NUMBER",
    "git rev-parse",
    "git describe",
    "date ",
    "date)",
];

/// A declared build-arg value that changes on every commit or run (`${{ github.sha }}`,
/// `$GITHUB_SHA`, `$(git rev-parse HEAD)`).
pub fn per_commit(value: &str) -> Option<Volatility> {
    let expression = value.contains("${{") || value.contains('$');
    (expression && PER_COMMIT.iter().any(|p| value.contains(p))).then(|| Volatility::EveryCommit {
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(versions: &[&str], commits: usize) -> FileHistory {
        FileHistory {
            commits,
            seconds: 0,
            versions: versions.iter().map(|v| Some(v.to_string())).collect(),
            ids: Vec::new(),
        }
    }

    #[test]
    fn counts_value_changes_not_edits() {
        let v = [
            "FROM a\nARG V=1\nRUN x\n",
            "FROM a\nARG V=1\nRUN y\n",
            "FROM a\nARG V=2\nRUN y\n",
            "FROM a\nRUN y\n",
            "FROM a\nARG V=3\nRUN y\n",
        ];
        let h = hist(&v, 300);
        assert_eq!(
            history_changes(&Memo::default(), &h, None, "V"),
            Volatility::History {
                changes: 2,
                commits: 300,
                seconds: 0
            }
        );
        // the change under review is one more version
        let c = history_changes(&Memo::default(), &h, Some("FROM a\nARG V=4\nRUN y\n"), "V");
        assert_eq!(
            c,
            Volatility::History {
                changes: 3,
                commits: 301,
                seconds: 0
            }
        );
        // twice in five years, three times in 301 commits: not often
        assert!(!c.often());
        let many: Vec<String> = (0..20).map(|i| format!("FROM a\nARG V={i}\n")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(history_changes(&Memo::default(), &hist(&many, 300), None, "V").often());
        assert!(!history_changes(&Memo::default(), &hist(&many, 300), None, "W").often());
    }

    #[test]
    fn per_commit_values() {
        assert!(per_commit("${{ github.sha }}").is_some());
        assert!(per_commit("$(git rev-parse --short HEAD)").is_some());
        assert!(per_commit("${GITHUB_SHA}").is_some());
        assert!(per_commit("1.2.3").is_none());
        assert!(per_commit("${{ env.NODE_VERSION }}").is_none());
        assert!(per_commit("github.sha").is_none());
    }
}
