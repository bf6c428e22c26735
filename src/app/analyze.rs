//! The analysis use-case shared by the CLI, the Action and the server.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::engine::backend::{self, CiSetup};
use crate::engine::discover;
use crate::engine::report::{ContextGuess, FileDiagnostic, Guess, Origin, Report, Severity};
use crate::engine::tree::{Listing, Side};
use crate::engine::{self, BuildInput, EngineKind, FileText, Inputs, SideInput};
use crate::ports::{RepoSource, SourceError};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AnalyzeOptions {
    pub engine: EngineKind,
    /// Root-relative Dockerfiles to analyse; empty = discover.
    pub dockerfiles: Vec<String>,
    /// Root-relative build context; `None` = `.` for named Dockerfiles, inferred for discovered ones.
    pub context: Option<String>,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// Build args of the base build when they differ from the head's (compose files, tests).
    pub base_build_args: Option<BTreeMap<String, String>>,
    /// Build logs for timings: (name, text).
    pub timings: Vec<(String, String)>,
    /// Real builds of the head to compare the prediction with (`verify`).
    #[serde(default, skip)]
    pub records: Vec<crate::engine::verify::RealBuild>,
    /// Build records fetched from CI (`app::ci`): the head's to compare with, the base
    /// branch's for costs. Serialized: the server's isolated analysis gets them too.
    #[serde(default)]
    pub ci: crate::engine::CiRecords,
    pub config: crate::engine::config::Config,
    /// Report every Dockerfile found, touched by the change or not (`check`).
    pub report_all: bool,
    /// Variables for compose and bake interpolation, over the project's `.env` (`--env`).
    pub env: BTreeMap<String, String>,
    /// Where the configuration was read from (named in diagnostics about `builds:`).
    pub config_file: String,
    /// What the report is for (`history` sets `Purpose::History`).
    #[serde(default)]
    pub purpose: crate::engine::input::Purpose,
}

impl AnalyzeOptions {
    pub fn new(engine: EngineKind) -> AnalyzeOptions {
        AnalyzeOptions {
            engine,
            dockerfiles: Vec::new(),
            context: None,
            target: None,
            build_args: BTreeMap::new(),
            base_build_args: None,
            timings: Vec::new(),
            records: Vec::new(),
            ci: Default::default(),
            config: Default::default(),
            report_all: false,
            env: BTreeMap::new(),
            config_file: ".github/cachebust.yml".into(),
            purpose: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Usage(String),
}

/// Clean a user-given root-relative path (`./a/b/` → `a/b`, `.` → ``).
pub fn clean_rel(p: &str) -> String {
    engine::tree::join_clean("", p)
}

struct Spec {
    dockerfile: String,
    context: String,
    origin: Origin,
    origins: Vec<Origin>,
    head_inline: Option<String>,
    base_inline: Option<String>,
    head_args: BTreeMap<String, String>,
    base_args: BTreeMap<String, String>,
    head_target: Option<String>,
    base_target: Option<String>,
    always: bool,
    extra_touched: Vec<String>,
    /// The workflow step's cache setup (head, base), for a build a workflow runs on a fresh
    /// runner.
    ci: Option<(CiSetup, Option<CiSetup>)>,
    /// No declaration names the build: how its context was guessed, and whether it counts.
    guessed: Option<crate::engine::report::Guess>,
    /// In a test-fixture or demo tree, and not declared (`BuildInput::fixture`).
    fixture: bool,
    /// The bake calls that build it (`BuildInput::calls`).
    calls: Vec<String>,
}

/// What is at `path` when it is not a readable file, and on which side ("head" first): a
/// directory named like a Dockerfile is worth saying, not "no such file".
async fn not_a_file<R: RepoSource>(
    repo: &R,
    path: &str,
) -> Result<Option<(&'static str, &'static str)>, AnalyzeError> {
    use crate::engine::tree::EntryKind;
    for (side, name) in [(Side::Head, "head"), (Side::Base, "base")] {
        let listed = repo.list(side, &[(path.to_string(), false)]).await?;
        let kind = listed
            .iter()
            .flat_map(|(_, _, entries)| entries)
            .find(|(p, _)| p == path)
            .map(|(_, e)| e.kind);
        if let Some(k) = kind {
            let what = match k {
                EntryKind::Dir => "a directory",
                EntryKind::Submodule => "a submodule",
                EntryKind::Symlink => "a symlink that leads to no file",
                EntryKind::File => "a file whose contents could not be read",
            };
            return Ok(Some((name, what)));
        }
    }
    Ok(None)
}

/// First-parent commits a file's history covers (CB003's evidence of a changing value).
pub const HISTORY_COMMITS: usize = 300;

pub async fn analyze<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
) -> Result<Report, AnalyzeError> {
    // one memo per analysis (a server job's dies with the job)
    analyze_with(repo, opts, None, &engine::Memo::default()).await
}

/// The specs of the Dockerfiles named by `--dockerfile`: one each, with the CLI's context, args
/// and target; a Dockerfile the change deletes is a note, one in neither tree a usage error.
async fn named_specs<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
    specs: &mut Vec<Spec>,
    diagnostics: &mut Vec<FileDiagnostic>,
) -> Result<(), AnalyzeError> {
    let context = clean_rel(opts.context.as_deref().unwrap_or("."));
    let paths: Vec<String> = opts.dockerfiles.iter().map(|d| clean_rel(d)).collect();
    let head = repo.read_files(Side::Head, &paths).await?;
    let base = repo.read_files(Side::Base, &paths).await?;
    for ((p, h), b) in paths.iter().zip(head).zip(base) {
        match (h, b) {
            (None, None) => {
                return Err(AnalyzeError::Usage(match not_a_file(repo, p).await? {
                    Some((side, what)) => {
                        format!("--dockerfile {p}: {what} in the {side} tree, not a Dockerfile")
                    }
                    None => {
                        format!("--dockerfile {p}: no such file in the base or the head tree")
                    }
                }));
            }
            (None, Some(_)) => diagnostics.push(FileDiagnostic {
                file: p.clone(),
                line: None,
                severity: Severity::Info,
                message: "the Dockerfile is deleted by this change; nothing to build".into(),
            }),
            (h, _) => specs.push(named_spec(repo, opts, &context, p, h.as_ref()).await?),
        }
    }
    Ok(())
}

/// The spec of Dockerfile `p` named on the command line (`h`: its head text).
async fn named_spec<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
    context: &str,
    p: &str,
    h: Option<&FileText>,
) -> Result<Spec, AnalyzeError> {
    Ok(Spec {
        dockerfile: p.to_string(),
        // `check` infers the context of a named Dockerfile as discovery does
        context: match (&opts.context, p.rsplit_once('/')) {
            (None, Some((dir, _))) if opts.report_all => infer_context(repo, dir, h, None).await?.0,
            _ => context.to_string(),
        },
        origin: Origin::Cli,
        origins: vec![Origin::Cli],
        head_inline: None,
        base_inline: None,
        head_args: opts.build_args.clone(),
        base_args: opts
            .base_build_args
            .clone()
            .unwrap_or_else(|| opts.build_args.clone()),
        head_target: opts.target.clone(),
        base_target: opts.target.clone(),
        always: true,
        extra_touched: Vec::new(),
        ci: None,
        guessed: None,
        fixture: discover::is_fixture_path(p),
        calls: Vec::new(),
    })
}

/// `analyze`, reusing the declared builds of recent trees (`history` replays many commits
/// whose compose, bake and workflow files rarely change) and what `memo` remembers of earlier
/// calls of the same run (side simulations, lexed commands, compiled ignore files).
pub async fn analyze_with<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
    cache: Option<&crate::app::discover::DeclCache>,
    memo: &engine::Memo,
) -> Result<Report, AnalyzeError> {
    let changes = repo.changes().await?;
    let mut diagnostics: Vec<FileDiagnostic> = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();

    if !opts.dockerfiles.is_empty() {
        named_specs(repo, opts, &mut specs, &mut diagnostics).await?;
    } else {
        discover_specs(
            repo,
            opts,
            &changes,
            &mut specs,
            &mut diagnostics,
            cache,
            true,
        )
        .await?;
    }

    // Read Dockerfiles and ignore files on both sides in one batch per side.
    let mut wanted: Vec<String> = Vec::new();
    for s in &specs {
        wanted.push(s.dockerfile.clone());
        wanted.push(format!("{}.dockerignore", s.dockerfile));
        wanted.push(ctx_ignore(&s.context));
    }
    wanted.sort();
    wanted.dedup();
    let head_files: HashMap<String, Option<FileText>> = wanted
        .iter()
        .cloned()
        .zip(repo.read_files(Side::Head, &wanted).await?)
        .collect();
    let base_files: HashMap<String, Option<FileText>> = wanted
        .iter()
        .cloned()
        .zip(repo.read_files(Side::Base, &wanted).await?)
        .collect();

    let side = |files: &HashMap<String, Option<FileText>>,
                s: &Spec,
                args: &BTreeMap<String, String>,
                target: &Option<String>,
                inline: &Option<String>| SideInput {
        dockerfile: match inline {
            Some(t) => Some(FileText::Text(t.clone())),
            None => files.get(&s.dockerfile).cloned().flatten(),
        },
        dockerfile_ignore: files
            .get(&format!("{}.dockerignore", s.dockerfile))
            .cloned()
            .flatten(),
        context_ignore: files.get(&ctx_ignore(&s.context)).cloned().flatten(),
        build_args: args.clone(),
        target: target.clone(),
    };
    let input_of = |s: &Spec| BuildInput {
        dockerfile: s.dockerfile.clone(),
        context: s.context.clone(),
        origin: s.origin.clone(),
        origins: s.origins.clone(),
        base: side(&base_files, s, &s.base_args, &s.base_target, &s.base_inline),
        head: side(&head_files, s, &s.head_args, &s.head_target, &s.head_inline),
        always_report: s.always,
        extra_touched: s.extra_touched.clone(),
        ci: None,
        guessed: s.guessed.clone(),
        fixture: s.fixture,
        calls: s.calls.clone(),
    };
    let ci = ci_caches(repo, &specs, &input_of).await?;
    let builds: Vec<BuildInput> = specs
        .iter()
        .zip(ci)
        .filter(|(s, _)| s.always || !untouched(s, &base_files, &head_files, &changes))
        .map(|(s, ci)| BuildInput { ci, ..input_of(s) })
        .collect();

    let (base_tree, head_tree) = repo.complete_listings().unwrap_or_default();
    let mut inputs = Inputs {
        timings: opts.timings.clone(),
        records: opts.records.clone(),
        ci: opts.ci.clone(),
        config: opts.config.clone(),
        engine: opts.engine,
        builds,
        changes,
        base_tree,
        head_tree,
        diagnostics,
        histories: Default::default(),
        purpose: opts.purpose,
    };
    // what the previous commit of a history asked to list and read, loaded first: consecutive
    // commits ask for nearly the same paths, and each round that finds one missing predicts
    // every build again for nothing (`DeclCache::warm_requests` says what is kept)
    let warm = cache.map(|c| c.warm_requests()).unwrap_or_default();
    // only what this commit's builds can read: a path in one of their contexts, a history of
    // one of their Dockerfiles (only its build's rules ask for one)
    let in_a_context = |p: &str| {
        inputs.builds.iter().any(|b| {
            b.context.is_empty()
                || p.strip_prefix(b.context.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    let mut first: Vec<engine::tree::Request> = warm
        .iter()
        .filter(|r| {
            if r.history {
                inputs.builds.iter().any(|b| b.dockerfile == r.path)
            } else {
                in_a_context(&r.path)
            }
        })
        .cloned()
        .collect();
    // a few histories at most: reading one walks 300 commits, and where a commit builds tens of
    // Dockerfiles (docker-library/php) most of those read for the last one go unread (the time
    // of the round they save is less than that of reading them)
    if first.iter().filter(|r| r.history).count() > crate::app::discover::DeclCache::WARM_HISTORIES
    {
        first.retain(|r| !r.history);
    }
    if !first.is_empty() {
        // one that cannot be answered now is asked again by the engine if it needs it
        let _ = load(repo, &mut inputs, &first).await;
    }
    let mut asked: Vec<engine::tree::Request> = Vec::new();
    let mut last_need = Vec::new();
    for _ in 0..8 {
        let out = engine::analyze(&inputs, memo);
        if out.need.is_empty() {
            if let Some(c) = cache {
                c.remember_requests(&warm, &asked, &out.histories_read);
            }
            return Ok(out.report);
        }
        load(repo, &mut inputs, &out.need).await?;
        asked.extend(out.need.iter().cloned());
        last_need = out
            .need
            .iter()
            .map(|r| {
                let tail = match (r.text, r.recursive) {
                    (true, _) => " (contents)",
                    (false, true) => "/**",
                    (false, false) => "",
                };
                format!("{}{tail}", r.path)
            })
            .collect();
    }
    Err(AnalyzeError::Source(SourceError::Io(format!(
        "the analysis kept asking for more of the tree ({}); giving up",
        last_need.join(", ")
    ))))
}

/// Load what the engine asked for into `inputs`: file histories (one that cannot be read is no
/// history, not a failure), then each side's listings and file texts, in one call each.
async fn load<R: RepoSource>(
    repo: &R,
    inputs: &mut Inputs,
    need: &[engine::tree::Request],
) -> Result<(), AnalyzeError> {
    for r in need.iter().filter(|r| r.history) {
        let h = repo
            .file_history(&r.path, HISTORY_COMMITS)
            .await
            .unwrap_or(None);
        inputs.histories.insert(r.path.clone(), h);
    }
    for side in [Side::Base, Side::Head] {
        let ours = || {
            need.iter()
                .filter(|r| Side::from(r.side) == side && !r.history)
        };
        let reqs: Vec<(String, bool)> = ours()
            .filter(|r| !r.text)
            .map(|r| (r.path.clone(), r.recursive))
            .collect();
        let texts: Vec<String> = ours().filter(|r| r.text).map(|r| r.path.clone()).collect();
        let listed = if reqs.is_empty() {
            Vec::new()
        } else {
            repo.list(side, &reqs).await?
        };
        let read = if texts.is_empty() {
            Vec::new()
        } else {
            repo.read_files(side, &texts).await?
        };
        let l: &mut Listing = match side {
            Side::Base => &mut inputs.base_tree,
            Side::Head => &mut inputs.head_tree,
        };
        for (p, r, entries) in listed {
            l.add(&p, r, entries);
        }
        for (p, t) in texts.iter().zip(read) {
            l.add_text(
                p,
                match t {
                    Some(FileText::Text(t)) => Some(t),
                    _ => None,
                },
            );
        }
    }
    Ok(())
}

/// Each build's cache on a fresh runner (`None` for a build no workflow step runs with a cache
/// backend): who wrote what each import reads, among every declared build (also those the
/// change leaves untouched: another target's export to a shared scope is what this one reads).
async fn ci_caches<R: RepoSource>(
    repo: &R,
    specs: &[Spec],
    input_of: &dyn Fn(&Spec) -> BuildInput,
) -> Result<Vec<Option<engine::input::CiCache>>, AnalyzeError> {
    let with: Vec<usize> = (0..specs.len())
        .filter(|&i| specs[i].ci.is_some())
        .collect();
    if with.is_empty() {
        return Ok(vec![None; specs.len()]);
    }
    let decls: Vec<backend::Declared<'_>> = with
        .iter()
        .filter_map(|&i| specs[i].ci.as_ref())
        .map(|(h, b)| backend::Declared {
            head: h,
            base: b.as_ref(),
        })
        .collect();
    let refs = backend::resolve(&decls);
    let mut files: Vec<String> = decls.iter().map(|d| d.head.file.clone()).collect();
    files.sort();
    files.dedup();
    let texts: HashMap<String, Option<String>> = files
        .iter()
        .cloned()
        .zip(
            repo.read_files(Side::Head, &files)
                .await?
                .into_iter()
                .map(|t| t.and_then(|t| t.text().map(str::to_string))),
        )
        .collect();
    let peer = |k: usize| -> Option<engine::input::Peer> {
        let s = &specs[*with.get(k)?];
        let (head, base) = s.ci.clone()?;
        Some(backend::Peer {
            label: peer_label(s, &head),
            head,
            base,
            build: Box::new(input_of(s)),
        })
    };
    let mut out = vec![None; specs.len()];
    for (k, &i) in with.iter().enumerate() {
        let Some((head, base)) = specs[i].ci.clone() else {
            continue;
        };
        let text = texts.get(&head.file).cloned().flatten();
        let earlier = backend::earlier_in_job(&decls, k);
        out[i] = Some(engine::input::CiCache::new(
            head, base, &refs[k], &earlier, &peer, text,
        ));
    }
    Ok(out)
}

/// How a sentence names another build: its Dockerfile and target, and the step that runs it.
fn peer_label(s: &Spec, ci: &CiSetup) -> String {
    let target = s
        .head_target
        .as_deref()
        .map(|t| format!(" (target {t})"))
        .unwrap_or_default();
    format!("{}{target}, {} step {}", s.dockerfile, ci.file, ci.step)
}

/// Every build discovery finds in the head tree, declared or guessed, with what declares it
/// (`cachebust builds`): the same discovery as `analyze`, without a prediction.
pub async fn list_builds<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
) -> Result<crate::engine::report::BuildList, AnalyzeError> {
    let changes = repo.changes().await?;
    let mut specs = Vec::new();
    let mut diagnostics = Vec::new();
    // every declaration, whatever its workflow runs on
    discover_specs(
        repo,
        opts,
        &changes,
        &mut specs,
        &mut diagnostics,
        None,
        false,
    )
    .await?;
    let builds = specs
        .into_iter()
        .map(|s| crate::engine::report::ListedBuild {
            inline: s.head_inline.is_some(),
            dockerfile: s.dockerfile,
            context: s.context,
            target: s.head_target,
            args: s.head_args,
            origins: s.origins,
        })
        .collect();
    Ok(crate::engine::report::BuildList {
        builds,
        diagnostics,
    })
}

/// A build the change cannot touch, left out before the engine sees it (it would predict every
/// step cached and report nothing): the same Dockerfile text (or inline text), ignore files,
/// args and target on both sides, no changed path in its context, and no changed declaration.
/// `history` replays every build of every commit, and most commits touch none of them.
fn untouched(
    s: &Spec,
    base: &HashMap<String, Option<FileText>>,
    head: &HashMap<String, Option<FileText>>,
    changes: &engine::tree::ChangeSet,
) -> bool {
    let same = |p: &str| base.get(p) == head.get(p);
    s.extra_touched.is_empty()
        && s.head_inline == s.base_inline
        && s.head_args == s.base_args
        && s.head_target == s.base_target
        && (s.head_inline.is_some() || same(&s.dockerfile))
        && same(&format!("{}.dockerignore", s.dockerfile))
        && same(&ctx_ignore(&s.context))
        && changes.at_or_under(&s.context).is_empty()
}

fn ctx_ignore(context: &str) -> String {
    if context.is_empty() {
        ".dockerignore".into()
    } else {
        format!("{context}/.dockerignore")
    }
}

async fn discover_specs<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
    changes: &engine::tree::ChangeSet,
    specs: &mut Vec<Spec>,
    diagnostics: &mut Vec<FileDiagnostic>,
    cache: Option<&crate::app::discover::DeclCache>,
    for_change: bool,
) -> Result<(), AnalyzeError> {
    let skip = opts.config.discovery.skipped();
    let names: Vec<String> = repo
        .discover(Side::Head)
        .await?
        .into_iter()
        .filter(|n| !discover::under_skipped(n, &skip))
        .collect();
    let dockerfiles: Vec<String> = names
        .iter()
        .filter(|n| discover::is_dockerfile_name(n))
        .cloned()
        .collect();

    // Builds the repository's own tools declare: compose, bake, workflows, `builds:`.
    let found = crate::app::discover::declared_builds(
        repo,
        &names,
        changes,
        &opts.env,
        &opts.config,
        &opts.config_file,
        diagnostics,
        cache,
        for_change,
    )
    .await?;
    // with no declared build at all, the guessed builds are all the evidence there is: they
    // count in the totals (each still labelled guessed)
    let counted = found.is_empty();
    let mut used: HashSet<String> = HashSet::new();
    for f in found {
        used.insert(f.head.dockerfile.clone());
        // declared by a workflow that does not run for this change: built, not by this change
        if f.off {
            continue;
        }
        let with_cli = |args: &BTreeMap<String, String>| {
            let mut a = args.clone();
            for (k, v) in &opts.build_args {
                a.insert(k.clone(), v.clone());
            }
            a
        };
        let base = f.base.as_ref().unwrap_or(&f.head);
        specs.push(Spec {
            dockerfile: f.head.dockerfile.clone(),
            context: f.head.context.clone(),
            origin: f.origins[0].clone(),
            origins: f.origins.clone(),
            head_args: with_cli(&f.head.args),
            base_args: with_cli(&base.args),
            head_target: opts.target.clone().or(f.head.target.clone()),
            base_target: opts.target.clone().or(base.target.clone()),
            head_inline: f.head.inline.clone(),
            base_inline: base.inline.clone(),
            always: opts.report_all,
            extra_touched: f.touched.clone(),
            ci: f
                .head
                .ci
                .clone()
                .map(|h| (h, f.base.as_ref().and_then(|b| b.ci.clone()))),
            guessed: None,
            fixture: false,
            calls: f.calls.clone(),
        });
    }

    // Plain Dockerfiles no evidence names: guessed builds, the context by the heuristic, said
    // once. Windows Dockerfiles are left out (a Linux BuildKit does not build them).
    let rest: Vec<String> = dockerfiles
        .into_iter()
        .filter(|d| !used.contains(d))
        .collect();
    let texts = repo.read_files(Side::Head, &rest).await?;
    let mut inferred: Vec<String> = Vec::new();
    let mut windows: Vec<String> = Vec::new();
    for (d, t) in rest.iter().zip(texts) {
        if discover::is_windows_dockerfile(d, t.as_ref().and_then(FileText::text)) {
            windows.push(d.clone());
            continue;
        }
        let dir = d
            .rsplit_once('/')
            .map(|(a, _)| a.to_string())
            .unwrap_or_default();
        let (context, how) = match &opts.context {
            Some(c) => (clean_rel(c), ContextGuess::Given),
            None if dir.is_empty() => (String::new(), ContextGuess::RootDockerfile),
            None => {
                let (c, how) =
                    infer_context(repo, &dir, t.as_ref(), cache.map(|c| c.memo())).await?;
                inferred.push(format!("{d} → {}", if c.is_empty() { "." } else { &c }));
                (c, how)
            }
        };
        specs.push(Spec {
            dockerfile: d.clone(),
            context,
            origin: Origin::Discovered,
            origins: vec![Origin::Discovered],
            head_args: opts.build_args.clone(),
            base_args: opts
                .base_build_args
                .clone()
                .unwrap_or_else(|| opts.build_args.clone()),
            head_target: opts.target.clone(),
            base_target: opts.target.clone(),
            head_inline: None,
            base_inline: None,
            always: opts.report_all,
            extra_touched: Vec::new(),
            ci: None,
            guessed: Some(Guess {
                context: how,
                counted,
            }),
            fixture: discover::is_fixture_path(d),
            calls: Vec::new(),
        });
    }
    if !inferred.is_empty() {
        diagnostics.push(FileDiagnostic {
            file: opts.config_file.clone(),
            line: None,
            severity: Severity::Info,
            message: crate::render::guessed_builds_sentence(counted, &inferred, &opts.config_file),
        });
    }
    if !windows.is_empty() {
        diagnostics.push(FileDiagnostic {
            file: opts.config_file.clone(),
            line: None,
            severity: Severity::Info,
            message: crate::render::windows_dockerfiles_sentence(&windows, &opts.config_file),
        });
    }
    Ok(())
}

/// The build context of a Dockerfile found in a subdirectory when none was given: its own
/// directory when the files it copies are there (and not at the root), or, when it copies
/// only `.`, when the directory holds more than Dockerfiles; otherwise the repository root.
/// `memo` remembers what each text copies (a history infers every commit's contexts again).
async fn infer_context<R: RepoSource>(
    repo: &R,
    dir: &str,
    text: Option<&FileText>,
    memo: Option<&engine::Memo>,
) -> Result<(String, ContextGuess), AnalyzeError> {
    let sources = text
        .and_then(FileText::text)
        .map(|t| match memo {
            Some(m) => discover::context_sources_in(m, t),
            None => discover::context_sources(t),
        })
        .unwrap_or_default();
    let chosen = if sources.is_empty() {
        let own = repo.children(Side::Head, dir).await?.iter().any(|n| {
            !discover::is_dockerfile_name(n)
                && !n.ends_with(".dockerignore")
                && !n.to_ascii_lowercase().starts_with("readme")
        });
        if own {
            (dir.to_string(), ContextGuess::ItsDirectory)
        } else {
            (String::new(), ContextGuess::Root)
        }
    } else {
        let mut reqs: Vec<(String, bool)> = sources
            .iter()
            .map(|s| (format!("{dir}/{s}"), false))
            .collect();
        reqs.extend(sources.iter().map(|s| (s.clone(), false)));
        let found = repo.list(Side::Head, &reqs).await?;
        let exists = |p: &str| found.iter().any(|(q, _, v)| q == p && !v.is_empty());
        let in_dir = sources.iter().all(|s| exists(&format!("{dir}/{s}")));
        let at_root = sources.iter().all(|s| exists(s));
        if in_dir && !at_root {
            (dir.to_string(), ContextGuess::CopiesFromItsDirectory)
        } else {
            (String::new(), ContextGuess::CopiesFromRoot)
        }
    };
    Ok(chosen)
}
