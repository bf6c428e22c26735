//! The analysis use-case shared by the CLI, the Action and the server.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::engine::compose::{self, ComposeBuild};
use crate::engine::discover;
use crate::engine::report::{FileDiagnostic, Origin, Report, Severity};
use crate::engine::tree::{Listing, Side};
use crate::engine::{self, BuildInput, EngineKind, FileText, Inputs, SideInput};
use crate::ports::{RepoSource, SourceError};

#[derive(Debug, Clone)]
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
    pub config: crate::engine::config::Config,
    /// Report every Dockerfile found, touched by the change or not (`check`).
    pub report_all: bool,
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
            config: Default::default(),
            report_all: false,
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
    head_args: BTreeMap<String, String>,
    base_args: BTreeMap<String, String>,
    head_target: Option<String>,
    base_target: Option<String>,
    always: bool,
    extra_touched: Vec<String>,
}

pub async fn analyze<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
) -> Result<Report, AnalyzeError> {
    let changes = repo.changes().await?;
    let mut diagnostics: Vec<FileDiagnostic> = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();

    if !opts.dockerfiles.is_empty() {
        let context = clean_rel(opts.context.as_deref().unwrap_or("."));
        let paths: Vec<String> = opts.dockerfiles.iter().map(|d| clean_rel(d)).collect();
        let head = repo.read_files(Side::Head, &paths).await?;
        let base = repo.read_files(Side::Base, &paths).await?;
        for ((p, h), b) in paths.iter().zip(head).zip(base) {
            match (h, b) {
                (None, None) => {
                    return Err(AnalyzeError::Usage(format!(
                        "--dockerfile {p}: no such file in the base or the head tree"
                    )));
                }
                (None, Some(_)) => diagnostics.push(FileDiagnostic {
                    file: p.clone(),
                    line: None,
                    severity: Severity::Info,
                    message: "the Dockerfile is deleted by this change; nothing to build".into(),
                }),
                (h, _) => specs.push(Spec {
                    dockerfile: p.clone(),
                    // `check` infers the context of a named Dockerfile as discovery does
                    context: match (&opts.context, p.rsplit_once('/')) {
                        (None, Some((dir, _))) if opts.report_all => {
                            infer_context(repo, p, dir, h.as_ref(), &mut diagnostics).await?
                        }
                        _ => context.clone(),
                    },
                    origin: Origin::Cli,
                    head_args: opts.build_args.clone(),
                    base_args: opts
                        .base_build_args
                        .clone()
                        .unwrap_or_else(|| opts.build_args.clone()),
                    head_target: opts.target.clone(),
                    base_target: opts.target.clone(),
                    always: true,
                    extra_touched: Vec::new(),
                }),
            }
        }
    } else {
        discover_specs(repo, opts, &changes, &mut specs, &mut diagnostics).await?;
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
                target: &Option<String>| SideInput {
        dockerfile: files.get(&s.dockerfile).cloned().flatten(),
        dockerfile_ignore: files
            .get(&format!("{}.dockerignore", s.dockerfile))
            .cloned()
            .flatten(),
        context_ignore: files.get(&ctx_ignore(&s.context)).cloned().flatten(),
        build_args: args.clone(),
        target: target.clone(),
    };
    let builds: Vec<BuildInput> = specs
        .iter()
        .map(|s| BuildInput {
            dockerfile: s.dockerfile.clone(),
            context: s.context.clone(),
            origin: s.origin.clone(),
            base: side(&base_files, s, &s.base_args, &s.base_target),
            head: side(&head_files, s, &s.head_args, &s.head_target),
            always_report: s.always,
            extra_touched: s.extra_touched.clone(),
        })
        .collect();

    let (base_tree, head_tree) = repo.complete_listings().unwrap_or_default();
    let mut inputs = Inputs {
        timings: opts.timings.clone(),
        config: opts.config.clone(),
        engine: opts.engine,
        builds,
        changes,
        base_tree,
        head_tree,
        diagnostics,
    };
    let mut last_need = Vec::new();
    for _ in 0..8 {
        let out = engine::analyze(&inputs);
        if out.need.is_empty() {
            return Ok(out.report);
        }
        last_need = out
            .need
            .iter()
            .map(|r| format!("{}{}", r.path, if r.recursive { "/**" } else { "" }))
            .collect();
        for side in [Side::Base, Side::Head] {
            let reqs: Vec<(String, bool)> = out
                .need
                .iter()
                .filter(|r| Side::from(r.side) == side)
                .map(|r| (r.path.clone(), r.recursive))
                .collect();
            if reqs.is_empty() {
                continue;
            }
            let listed = repo.list(side, &reqs).await?;
            let l: &mut Listing = match side {
                Side::Base => &mut inputs.base_tree,
                Side::Head => &mut inputs.head_tree,
            };
            for (p, r, entries) in listed {
                l.add(&p, r, entries);
            }
        }
    }
    Err(AnalyzeError::Source(SourceError::Io(format!(
        "the analysis kept asking for more of the tree ({}); giving up",
        last_need.join(", ")
    ))))
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
) -> Result<(), AnalyzeError> {
    let names = repo.discover(Side::Head).await?;
    let dockerfiles: Vec<String> = names
        .iter()
        .filter(|n| discover::is_dockerfile_name(n))
        .cloned()
        .collect();
    let composes: Vec<String> = names
        .iter()
        .filter(|n| discover::is_compose_name(n))
        .cloned()
        .collect();

    // Compose builds, head and base.
    let head_c = repo.read_files(Side::Head, &composes).await?;
    let base_c = repo.read_files(Side::Base, &composes).await?;
    let mut used: HashSet<String> = HashSet::new();
    for ((file, h), b) in composes.iter().zip(head_c).zip(base_c) {
        let Some(FileText::Text(ht)) = h else {
            diagnostics.push(FileDiagnostic {
                file: file.clone(),
                line: None,
                severity: Severity::Warning,
                message: "not a text file; skipped".into(),
            });
            continue;
        };
        let (hb, problems) = compose::parse(file, &ht);
        for p in problems {
            diagnostics.push(FileDiagnostic {
                file: file.clone(),
                line: p.line,
                severity: Severity::Warning,
                message: p.message,
            });
        }
        let bb: Vec<ComposeBuild> = match b {
            Some(FileText::Text(bt)) => compose::parse(file, &bt).0,
            _ => Vec::new(),
        };
        for c in hb {
            let base = bb.iter().find(|x| x.service == c.service);
            let mut args = c.args.clone();
            for (k, v) in &opts.build_args {
                args.insert(k.clone(), v.clone());
            }
            let mut base_args = base
                .map(|x| x.args.clone())
                .unwrap_or_else(|| c.args.clone());
            for (k, v) in &opts.build_args {
                base_args.insert(k.clone(), v.clone());
            }
            let target = opts.target.clone().or(c.target.clone());
            let base_target = opts
                .target
                .clone()
                .or(base.map(|x| x.target.clone()).unwrap_or(c.target.clone()));
            let entry_changed = base.is_none_or(|x| x != &c) && changes.get(file).is_some();
            used.insert(c.dockerfile.clone());
            specs.push(Spec {
                dockerfile: c.dockerfile.clone(),
                context: c.context.clone(),
                origin: Origin::Compose {
                    file: file.clone(),
                    service: c.service.clone(),
                },
                head_args: args,
                base_args,
                head_target: target,
                base_target,
                always: opts.report_all,
                extra_touched: if entry_changed {
                    vec![file.clone()]
                } else {
                    Vec::new()
                },
            });
        }
    }

    // Plain Dockerfiles not built by a compose service.
    let rest: Vec<String> = dockerfiles
        .into_iter()
        .filter(|d| !used.contains(d))
        .collect();
    let texts = repo.read_files(Side::Head, &rest).await?;
    for (d, t) in rest.iter().zip(texts) {
        let dir = d
            .rsplit_once('/')
            .map(|(a, _)| a.to_string())
            .unwrap_or_default();
        let context = match &opts.context {
            Some(c) => clean_rel(c),
            None if dir.is_empty() => String::new(),
            None => infer_context(repo, d, &dir, t.as_ref(), diagnostics).await?,
        };
        specs.push(Spec {
            dockerfile: d.clone(),
            context,
            origin: Origin::Discovered,
            head_args: opts.build_args.clone(),
            base_args: opts
                .base_build_args
                .clone()
                .unwrap_or_else(|| opts.build_args.clone()),
            head_target: opts.target.clone(),
            base_target: opts.target.clone(),
            always: opts.report_all,
            extra_touched: Vec::new(),
        });
    }
    Ok(())
}

/// The build context of a Dockerfile found in a subdirectory when none was given: its own
/// directory when the files it copies are there (and not at the root), or, when it copies
/// only `.`, when the directory holds more than Dockerfiles; otherwise the repository root.
async fn infer_context<R: RepoSource>(
    repo: &R,
    dockerfile: &str,
    dir: &str,
    text: Option<&FileText>,
    diagnostics: &mut Vec<FileDiagnostic>,
) -> Result<String, AnalyzeError> {
    let sources = text
        .and_then(|t| t.text().map(discover::context_sources))
        .unwrap_or_default();
    let chosen = if sources.is_empty() {
        let own = repo.children(Side::Head, dir).await?.iter().any(|n| {
            !discover::is_dockerfile_name(n)
                && !n.ends_with(".dockerignore")
                && !n.to_ascii_lowercase().starts_with("readme")
        });
        if own { dir.to_string() } else { String::new() }
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
            dir.to_string()
        } else {
            String::new()
        }
    };
    if !chosen.is_empty() {
        diagnostics.push(FileDiagnostic {
            file: dockerfile.to_string(),
            line: None,
            severity: Severity::Info,
            message: format!("build context taken to be {chosen}/ (the files it copies are there); pass --context to choose another"),
        });
    }
    Ok(chosen)
}
