//! Finding the builds of a change the way the repository's own tools define them: the
//! discovery sources of `engine::sources` (Compose projects with their `.env`, includes, extends
//! and overrides; GitHub workflow steps; scripts and Makefiles; bake files; the configuration's
//! `builds:`) asked on both sides of the change, with the files each still needs read between
//! its rounds. Builds that are the same build (same Dockerfile, context, target, args and named
//! contexts) are folded into one with all their origins. Dockerfiles no evidence names get a
//! context by the heuristic, with one info line for all of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::engine::report::{FileDiagnostic, Severity};
pub use crate::engine::sources::Found;
use crate::engine::sources::{self, Declaration};
use crate::engine::tree::{ChangeSet, Side};
use crate::engine::{FileText, discover};
use crate::ports::{RepoSource, SourceError};

fn text_of(f: Option<FileText>) -> Option<String> {
    match f {
        Some(FileText::Text(t)) => Some(t),
        _ => None,
    }
}

async fn read_map<R: RepoSource>(
    repo: &R,
    side: Side,
    paths: &[String],
    into: &mut BTreeMap<String, Option<String>>,
) -> Result<(), SourceError> {
    let want: Vec<String> = paths
        .iter()
        .filter(|p| !into.contains_key(*p))
        .cloned()
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    // every path asked is recorded: one the reader gave no answer for is absent (so a source
    // that asked for it moves on)
    let mut got = repo.read_files(side, &want).await?.into_iter();
    for p in want {
        into.insert(p, text_of(got.next().flatten()));
    }
    Ok(())
}

/// The declarations of a few recent trees, for callers that analyse many revisions in a row
/// (`history`): one side's declared builds are a function of the build files found, the options
/// and the texts of the files read, so a tree whose files read the same texts reuses them
/// instead of parsing its compose, bake and workflow files again. Holds at most
/// `DeclCache::CAPACITY` entries (memory stays flat over any number of commits), and what the
/// last analyses asked to have listed and read, for the next one to load first.
#[derive(Default)]
pub struct DeclCache {
    entries: Mutex<Vec<Arc<DeclEntry>>>,
    /// The YAML documents read lately (a commit that changes one file of many reads the rest
    /// from here).
    memo: crate::engine::Memo,
    /// What the analyses of the last commits asked to list and read (see `warm_requests`).
    warm: Mutex<Vec<crate::engine::tree::Request>>,
}

struct DeclEntry {
    names: Vec<String>,
    env: BTreeMap<String, String>,
    config: crate::engine::config::Config,
    config_file: String,
    /// Every file the resolution read, with the text it read (`None`: absent or not text).
    files: BTreeMap<String, Option<String>>,
    out: Vec<Declaration>,
    diags: Vec<FileDiagnostic>,
}

impl DeclCache {
    pub const CAPACITY: usize = 4;
    /// The most requests kept for the next analysis to load first (see `warm_requests`).
    pub const WARM_REQUESTS: usize = 4096;
    /// The most file histories an analysis loads first (see `analyze::analyze_with`).
    pub const WARM_HISTORIES: usize = 8;

    /// The memo the cache keeps across the trees of a history (YAML documents, what a
    /// Dockerfile text copies by name).
    pub fn memo(&self) -> &crate::engine::Memo {
        &self.memo
    }

    /// What the next analysis loads before its first round (`analyze::analyze_with`): the
    /// entries and file texts the last commits' analyses asked for, and the histories the last
    /// one's rules read (the caller loads one only for a Dockerfile it builds, and only up to
    /// `WARM_HISTORIES`: reading one walks its 300 commits). Not a whole subtree: the cost facts
    /// read a directory's sizes only where the analysis listed it, so one listed ahead could
    /// change them.
    pub fn warm_requests(&self) -> Vec<crate::engine::tree::Request> {
        self.warm.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Remember, for the next analysis, the entries and texts one loaded first (`warm`) or
    /// asked for (`asked`), and the histories its rules read (`histories`); past
    /// `WARM_REQUESTS` entries and texts, only those it asked for.
    pub fn remember_requests(
        &self,
        warm: &[crate::engine::tree::Request],
        asked: &[crate::engine::tree::Request],
        histories: &[String],
    ) {
        use crate::engine::tree::{Request, SideKey};
        let kept = |r: &&Request| !r.recursive && !r.history;
        let mut all: std::collections::BTreeSet<Request> =
            warm.iter().filter(kept).cloned().collect();
        all.extend(asked.iter().filter(kept).cloned());
        if all.len() > Self::WARM_REQUESTS {
            all = asked.iter().filter(kept).cloned().collect();
        }
        all.extend(histories.iter().map(|p| Request {
            side: SideKey::Base,
            path: p.clone(),
            recursive: false,
            text: false,
            history: true,
        }));
        if let Ok(mut w) = self.warm.lock() {
            *w = all.into_iter().collect();
        }
    }

    /// Entries made with the same build files and options, most recent first.
    fn candidates(
        &self,
        names: &[String],
        env: &BTreeMap<String, String>,
        config: &crate::engine::config::Config,
        config_file: &str,
    ) -> Vec<Arc<DeclEntry>> {
        let Ok(g) = self.entries.lock() else {
            return Vec::new();
        };
        g.iter()
            .filter(|e| {
                e.names == names
                    && &e.env == env
                    && &e.config == config
                    && e.config_file == config_file
            })
            .cloned()
            .collect()
    }

    fn insert(&self, e: DeclEntry) {
        if let Ok(mut g) = self.entries.lock() {
            g.insert(0, Arc::new(e));
            g.truncate(Self::CAPACITY);
        }
    }
}

/// Every declared build of one side. `names` are the discovered build files of the head. The
/// sources (`engine::sources::sources()`) are asked in order; the files each still needs are
/// read here, between its rounds.
#[allow(clippy::too_many_arguments)]
async fn declared<R: RepoSource>(
    repo: &R,
    side: Side,
    names: &[String],
    outer_env: &BTreeMap<String, String>,
    config: &crate::engine::config::Config,
    config_file: &str,
    diagnostics: Option<&mut Vec<FileDiagnostic>>,
    cache: Option<&DeclCache>,
) -> Result<Vec<Declaration>, SourceError> {
    if let Some(c) = cache {
        for e in c.candidates(names, outer_env, config, config_file) {
            let paths: Vec<String> = e.files.keys().cloned().collect();
            let mut now: BTreeMap<String, Option<String>> = BTreeMap::new();
            read_map(repo, side, &paths, &mut now).await?;
            if now == e.files {
                if let Some(d) = diagnostics {
                    d.extend(e.diags.iter().cloned());
                }
                return Ok(e.out.clone());
            }
        }
    }
    // the YAML documents read: remembered across the trees of a history, else for this call
    let local = crate::engine::memo::Memo::default();
    let memo = cache.map_or(&local, |c| &c.memo);
    let cx = sources::Context {
        names,
        env: outer_env,
        config,
        config_file,
        memo,
    };
    let mut files = sources::Files::new();
    let mut board = sources::Board::default();
    for mut source in sources::sources() {
        while let sources::Progress::Need(paths) = source.resolve(&cx, &files, &mut board) {
            let before = files.len();
            read_map(repo, side, &paths, &mut files).await?;
            if files.len() == before {
                // a source must name a path not read yet (every path asked is recorded, read or
                // absent): asking again would loop
                debug_assert!(false, "a discovery source asked again for {paths:?}");
                break;
            }
        }
    }
    let (out, diags) = (board.declarations, board.diagnostics);
    if let Some(c) = cache {
        c.insert(DeclEntry {
            names: names.to_vec(),
            env: outer_env.clone(),
            config: config.clone(),
            config_file: config_file.to_string(),
            files,
            out: out.clone(),
            diags: diags.clone(),
        });
    }
    if let Some(d) = diagnostics {
        d.extend(diags);
    }
    Ok(out)
}

/// The declared builds of a change, folded by identity, with their base side. `cache` keeps
/// the declarations of recent trees across calls (see `DeclCache`). With `for_change`, a build
/// only workflows that do not run for this change declare (by their `on:`) is `off`, and each
/// such workflow is said once.
#[allow(clippy::too_many_arguments)]
pub async fn declared_builds<R: RepoSource>(
    repo: &R,
    names: &[String],
    changes: &ChangeSet,
    outer_env: &BTreeMap<String, String>,
    config: &crate::engine::config::Config,
    config_file: &str,
    diagnostics: &mut Vec<FileDiagnostic>,
    cache: Option<&DeclCache>,
    for_change: bool,
) -> Result<Vec<Found>, SourceError> {
    let head = declared(
        repo,
        Side::Head,
        names,
        outer_env,
        config,
        config_file,
        Some(diagnostics),
        cache,
    )
    .await?;
    let any_input_changed = head
        .iter()
        .flat_map(|d| d.inputs.iter())
        .any(|i| changes.get(i).is_some());
    let base = if any_input_changed {
        // the same declarations on the base side: the base's own files under the head's names
        // (a file the change adds is simply absent there)
        let mut base_names: Vec<String> = names.to_vec();
        for c in changes.iter().map(|c| c.path.as_str()) {
            if discover::is_build_file(c) && !base_names.iter().any(|n| n == c) {
                base_names.push(c.to_string());
            }
        }
        declared(
            repo,
            Side::Base,
            &base_names,
            outer_env,
            config,
            config_file,
            None,
            cache,
        )
        .await?
    } else {
        head.clone()
    };
    let folded = sources::fold(&head, &base, changes, for_change, cache.map(|c| c.memo()));
    for (file, why, n) in &folded.left_out {
        diagnostics.push(FileDiagnostic {
            file: file.clone(),
            line: None,
            severity: Severity::Info,
            message: crate::render::workflow_left_out_sentence(why, *n),
        });
    }
    Ok(folded.found)
}
