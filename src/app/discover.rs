//! Finding the builds of a change the way the repository's own tools define them: Compose
//! projects (with their `.env`, includes, extends and overrides), bake files, GitHub workflow
//! steps and the configuration's `builds:`, each resolved on both sides of the change. Builds that
//! are the same build (same Dockerfile, context, target, args and named contexts) are folded into
//! one with all their origins. Dockerfiles no evidence names get a context by the heuristic, with
//! one info line for all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::engine::backend::CiSetup;
use crate::engine::report::{FileDiagnostic, Origin, Severity};
use crate::engine::tree::{ChangeSet, Side};
use crate::engine::{FileText, bake, compose, decl, discover, scripts, workflows};
use crate::ports::{RepoSource, SourceError};

/// Scripts and Makefiles read for `docker build` commands, at most (a tree can hold any number).
pub const MAX_SCRIPTS: usize = 2000;

/// A build as one declaration gives it, on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// What declares it: on one side, the k-th declaration of an origin is the k-th declaration
    /// of that origin on the other side.
    pub origin: Origin,
    /// More origins the same declaration stands for (the bake target a bake-action step builds
    /// from files of its own).
    pub also: Vec<Origin>,
    pub dockerfile: String,
    pub context: String,
    pub inline: Option<String>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub contexts: BTreeMap<String, String>,
    /// Files the declaration was resolved from (compose files, `.env`, bake files, workflow).
    pub inputs: Vec<String>,
    /// A workflow step that declares cache backends runs it on a fresh runner.
    pub ci: Option<CiSetup>,
    /// The `docker buildx bake` calls that build it: the bake-action step, the bake groups
    /// that name it (a group is built in one call).
    pub calls: Vec<String>,
    /// A workflow's declaration: when the workflow runs (its `on:`).
    pub triggers: Option<workflows::Triggers>,
}

impl Declared {
    fn same_build(&self, o: &Declared) -> bool {
        self.dockerfile == o.dockerfile
            && self.context == o.context
            && self.inline == o.inline
            && self.args == o.args
            && self.target == o.target
            && self.contexts == o.contexts
    }

    /// The same build run the same way: a declaration without cache backends folds into one
    /// with them (the CI run is what a review is about); two different setups stay apart.
    fn same_run(&self, o: &Declared) -> bool {
        self.same_build(o)
            && match (&self.ci, &o.ci) {
                (Some(a), Some(b)) => a.same_config(b),
                _ => true,
            }
    }

    fn same_ci(&self, o: &Declared) -> bool {
        match (&self.ci, &o.ci) {
            (Some(a), Some(b)) => a.same_config(b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// One build to predict, with every declaration of it.
#[derive(Debug, Clone)]
pub struct Found {
    pub head: Declared,
    /// The same declarations on the base side (by origin), when they existed.
    pub base: Option<Declared>,
    pub origins: Vec<Origin>,
    /// Files whose change alters the build's declaration (e.g. a `.env` bumping a build arg).
    pub touched: Vec<String>,
    /// The bake calls of all its declarations (`Declared::calls`).
    pub calls: Vec<String>,
    /// Declared only by workflows that do not run for this change (`on:` is a release, a
    /// schedule, a tag push, or its path filters match nothing the change touches): a build of
    /// the repository, not of this change.
    pub off: bool,
}

fn diag(file: &str, line: Option<u32>, error: bool, message: String) -> FileDiagnostic {
    FileDiagnostic {
        file: file.to_string(),
        line,
        severity: if error {
            Severity::Error
        } else {
            Severity::Warning
        },
        message,
    }
}

/// A workflow's or script's problem: an error, or else information (a step or command known
/// only when it runs is normal, not a warning).
fn quiet(pr: crate::engine::decl::Problem) -> FileDiagnostic {
    FileDiagnostic {
        file: pr.file,
        line: pr.line,
        severity: if pr.error {
            Severity::Error
        } else {
            Severity::Info
        },
        message: pr.message,
    }
}

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
    let got = repo.read_files(side, &want).await?;
    for (p, t) in want.into_iter().zip(got) {
        into.insert(p, text_of(t));
    }
    Ok(())
}

/// The declarations of a few recent trees, for callers that analyse many revisions in a row
/// (`history`): one side's declared builds are a function of the build files found, the options
/// and the texts of the files read, so a tree whose files read the same texts reuses them
/// instead of parsing its compose, bake and workflow files again. Holds at most
/// `DeclCache::CAPACITY` entries (memory stays flat over any number of commits).
#[derive(Default)]
pub struct DeclCache {
    entries: Mutex<Vec<Arc<DeclEntry>>>,
    /// The YAML documents read lately (a commit that changes one file of many reads the rest
    /// from here).
    memo: crate::engine::Memo,
}

struct DeclEntry {
    names: Vec<String>,
    env: BTreeMap<String, String>,
    config: crate::engine::config::Config,
    config_file: String,
    /// Every file the resolution read, with the text it read (`None`: absent or not text).
    files: BTreeMap<String, Option<String>>,
    out: Vec<Declared>,
    diags: Vec<FileDiagnostic>,
}

impl DeclCache {
    pub const CAPACITY: usize = 4;

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

/// One `docker buildx bake` resolution: a directory's default files, or the files a
/// bake-action step names, with the variables of the environment it runs in.
struct BakeRun {
    dir: String,
    files: Vec<String>,
    env: BTreeMap<String, String>,
    /// Names the steps of this run build (`default` for a step naming none).
    also: Vec<String>,
    /// The directory's default files as a developer's `docker buildx bake` reads them: its
    /// targets are declarations of the bake files themselves.
    own: bool,
    /// Indices of the bake-action steps that run it.
    steps: Vec<usize>,
}

/// Every declared build of one side. `names` are the discovered build files of the head.
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
) -> Result<Vec<Declared>, SourceError> {
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
    let local = crate::engine::Memo::default();
    let memo = cache.map_or(&local, |c| &c.memo);
    let mut diags: Vec<FileDiagnostic> = Vec::new();
    let mut out: Vec<Declared> = Vec::new();
    let mut files: BTreeMap<String, Option<String>> = BTreeMap::new();

    // --- Compose
    let composes: Vec<String> = names
        .iter()
        .filter(|n| discover::is_compose_name(n))
        .cloned()
        .collect();
    let dirs: BTreeSet<String> = composes
        .iter()
        .map(|c| {
            c.rsplit_once('/')
                .map(|x| x.0.to_string())
                .unwrap_or_default()
        })
        .collect();
    let envs: Vec<String> = dirs.iter().map(|d| compose::dotenv_path(d)).collect();
    read_map(repo, side, &envs, &mut files).await?;
    let mut compose_file = BTreeMap::new();
    for d in &dirs {
        if let Some(Some(t)) = files.get(&compose::dotenv_path(d)) {
            if let Some(cf) = compose::compose_file_from_dotenv(t) {
                compose_file.insert(d.clone(), cf);
            }
        }
    }
    let projects = compose::projects(&composes, &compose_file);
    // files named only as includes / extends of another project are fragments, not projects
    let mut fragments: BTreeSet<String> = BTreeSet::new();
    let mut resolved: Vec<(compose::Project, compose::Resolved)> = Vec::new();
    for p in &projects {
        let mut given: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut result = None;
        for _ in 0..(compose::MAX_NESTING + 4) {
            match compose::resolve_in(memo, p, &given, outer_env) {
                Ok(r) => {
                    result = Some(r);
                    break;
                }
                Err(compose::Need(paths)) => {
                    read_map(repo, side, &paths, &mut files).await?;
                    for q in paths {
                        given.insert(q.clone(), files.get(&q).cloned().flatten());
                    }
                }
            }
        }
        let Some(r) = result else {
            diags.push(diag(
                &p.files[0],
                None,
                true,
                "the compose project keeps naming more files to read; not analysed".into(),
            ));
            continue;
        };
        for i in &r.inputs {
            if !p.files.contains(i) {
                fragments.insert(i.clone());
            }
        }
        resolved.push((p.clone(), r));
    }
    for (p, r) in resolved {
        if p.files.len() == 1 && fragments.contains(&p.files[0]) {
            continue;
        }
        for pr in r.problems {
            diags.push(diag(&pr.file, pr.line, pr.error, pr.message));
        }
        for b in r.builds {
            out.push(Declared {
                origin: Origin::Compose {
                    file: b.file.clone(),
                    service: b.service.clone(),
                    project: p.label(),
                },
                also: Vec::new(),
                dockerfile: b.dockerfile,
                context: b.context,
                inline: b.inline,
                args: b.args,
                target: b.target,
                contexts: b.contexts,
                inputs: r.inputs.clone(),
                ci: None,
                calls: Vec::new(),
                triggers: None,
            });
        }
    }

    // --- Workflows (read before bake: a bake-action may name bake files of its own)
    let wfs: Vec<String> = names
        .iter()
        .filter(|n| discover::is_workflow_name(n))
        .cloned()
        .collect();
    read_map(repo, side, &wfs, &mut files).await?;
    let mut bake_steps: Vec<(workflows::StepBake, workflows::Triggers)> = Vec::new();
    let mut script_finds: Vec<(scripts::Found, Option<workflows::Triggers>)> = Vec::new();
    for w in &wfs {
        let Some(Some(t)) = files.get(w).cloned() else {
            continue;
        };
        let f = workflows::read_in(memo, w, &t);
        // an expression in a workflow is normal: say it once, quietly
        diags.extend(f.problems.into_iter().map(quiet));
        for b in f.builds {
            let ci = b.ci.declares_cache().then(|| b.ci.clone());
            out.push(Declared {
                origin: Origin::Workflow {
                    file: b.file.clone(),
                    job: b.job.clone(),
                    step: b.step.clone(),
                    target: None,
                },
                also: Vec::new(),
                dockerfile: b.dockerfile,
                context: b.context,
                inline: None,
                args: b.args,
                target: b.target,
                contexts: b.contexts,
                inputs: vec![b.file],
                ci,
                calls: Vec::new(),
                triggers: Some(f.triggers.clone()),
            });
        }
        bake_steps.extend(f.bakes.into_iter().map(|b| (b, f.triggers.clone())));
        if !f.runs.is_empty() {
            script_finds.push((
                scripts::read_run_blocks(w, &f.runs),
                Some(f.triggers.clone()),
            ));
        }
    }

    // --- Scripts and Makefiles that run `docker build` (a bounded number of them)
    let script_names: Vec<String> = names
        .iter()
        .filter(|n| discover::is_script_name(n))
        .take(MAX_SCRIPTS)
        .cloned()
        .collect();
    if script_names.len() == MAX_SCRIPTS {
        diags.push(diag(
            &script_names[MAX_SCRIPTS - 1],
            None,
            false,
            format!("more than {MAX_SCRIPTS} scripts and Makefiles: the first {MAX_SCRIPTS} are read for docker build commands"),
        ));
    }
    read_map(repo, side, &script_names, &mut files).await?;
    // the include lines of each Makefile, read once
    let includers: Vec<(&String, &str, Vec<String>)> = script_names
        .iter()
        .filter_map(|m| {
            let t = files.get(m)?.as_deref()?;
            let words = scripts::include_words(t);
            (!words.is_empty()).then_some((m, t, words))
        })
        .collect();
    // the makefiles a Makefile runs with `make -f` run in that Makefile's directory
    let mut run_from: BTreeMap<String, String> = BTreeMap::new();
    for m in script_names.iter().filter(|m| {
        m.rsplit('/')
            .next()
            .is_some_and(|n| n == "Makefile" || n == "GNUmakefile" || n == "makefile")
    }) {
        if let Some(Some(t)) = files.get(m) {
            for f in scripts::make_f_targets(m, t) {
                let dir = m
                    .rsplit_once('/')
                    .map(|x| x.0.to_string())
                    .unwrap_or_default();
                run_from.entry(f).or_insert(dir);
            }
        }
    }
    for n in &script_names {
        if let Some(Some(t)) = files.get(n) {
            if t.contains("build") || t.contains(" bud") {
                // a makefile another Makefile includes runs where that one runs
                let includer = scripts::is_included_kind(n)
                    .then(|| {
                        includers
                            .iter()
                            .find(|(m, _, w)| *m != n && scripts::includes(m, w, n))
                    })
                    .flatten();
                let runner = match (includer, run_from.get(n)) {
                    (Some((m, mt, _)), _) => scripts::Runner::IncludedBy(m, mt),
                    (None, Some(dir)) => scripts::Runner::RunFrom(dir),
                    (None, None) => scripts::Runner::Own,
                };
                script_finds.push((scripts::read(n, t, runner), None));
            }
        }
    }
    for (f, triggers) in script_finds {
        diags.extend(f.problems.into_iter().map(quiet));
        for b in f.builds {
            out.push(Declared {
                origin: Origin::Script {
                    file: b.file.clone(),
                    line: b.line,
                },
                also: Vec::new(),
                dockerfile: b.dockerfile,
                context: b.context,
                inline: None,
                args: b.args,
                target: b.target,
                contexts: b.contexts,
                inputs: vec![b.file],
                calls: Vec::new(),
                ci: None,
                triggers: triggers.clone(),
            });
        }
    }

    // --- Bake: what `docker buildx bake` reads in each directory (its default files), and what
    // each bake-action step reads (exactly the files it names, in its order, else its
    // directory's default files) with the step's `env:` for the variables. One resolution per
    // distinct (directory, files, environment); a step's builds are the targets it selects there,
    // one declaration per target.
    let default_names: Vec<String> = names
        .iter()
        .filter(|n| discover::is_bake_name(n))
        .cloned()
        .collect();
    let mut bake_names = default_names.clone();
    for (s, _) in &bake_steps {
        for f in &s.files {
            if !bake_names.contains(f) {
                bake_names.push(f.clone());
            }
        }
    }
    read_map(repo, side, &bake_names, &mut files).await?;
    let defaults = bake::projects(&default_names);
    let mut runs: Vec<BakeRun> = defaults
        .iter()
        .map(|(dir, f)| BakeRun {
            dir: dir.clone(),
            files: f.clone(),
            env: outer_env.clone(),
            also: Vec::new(),
            own: true,
            steps: Vec::new(),
        })
        .collect();
    for (i, (s, _)) in bake_steps.iter().enumerate() {
        let mut env = outer_env.clone();
        env.extend(s.env.clone());
        let (dir, f) = if s.files.is_empty() {
            match defaults.iter().find(|(d, _)| d == &s.workdir) {
                Some((d, f)) => (d.clone(), f.clone()),
                // no bake file there (bake would read the compose files): nothing to add
                None => continue,
            }
        } else {
            (s.workdir.clone(), s.files.clone())
        };
        let at = match runs
            .iter()
            .position(|r| r.dir == dir && r.files == f && r.env == env)
        {
            Some(at) => at,
            None => {
                runs.push(BakeRun {
                    dir,
                    files: f,
                    env,
                    also: Vec::new(),
                    own: false,
                    steps: Vec::new(),
                });
                runs.len() - 1
            }
        };
        let run = &mut runs[at];
        if s.targets.is_empty() {
            run.also.push("default".into());
        }
        run.also.extend(s.targets.iter().cloned());
        run.steps.push(i);
    }
    for run in &runs {
        let texts: Vec<(String, String)> = run
            .files
            .iter()
            .filter_map(|f| files.get(f).cloned().flatten().map(|t| (f.clone(), t)))
            .collect();
        if texts.is_empty() {
            continue;
        }
        let r = bake::resolve_in(memo, &run.dir, &texts, &run.env, &run.also);
        for pr in &r.problems {
            let d = diag(&pr.file, pr.line, pr.error, pr.message.clone());
            if !diags.contains(&d) {
                diags.push(d);
            }
        }
        let inputs: Vec<String> = texts.iter().map(|x| x.0.clone()).collect();
        let decl = |b: &bake::BakeBuild,
                    origin: Origin,
                    also: Vec<Origin>,
                    inputs: Vec<String>,
                    calls: Vec<String>| Declared {
            origin,
            also,
            dockerfile: b.dockerfile.clone(),
            context: b.context.clone(),
            inline: b.inline.clone(),
            args: b.args.clone(),
            target: b.target.clone(),
            contexts: b.contexts.clone(),
            inputs,
            calls,
            ci: None,
            triggers: None,
        };
        let bake_origin = |b: &bake::BakeBuild| Origin::Bake {
            file: b.file.clone(),
            target: b.target_name.clone(),
        };
        if run.own {
            // each group is one call (`docker buildx bake GROUP`)
            let groups: Vec<(String, Vec<String>)> = r
                .groups
                .keys()
                .filter_map(|g| {
                    let members = r.select(std::slice::from_ref(g)).ok()?;
                    Some((format!("group {g} of {}", inputs.join(", ")), members))
                })
                .collect();
            for b in &r.builds {
                let calls = groups
                    .iter()
                    .filter(|(_, m)| m.contains(&b.target_name))
                    .map(|(c, _)| c.clone())
                    .collect();
                out.push(decl(b, bake_origin(b), Vec::new(), inputs.clone(), calls));
            }
        }
        for (s, triggers) in run.steps.iter().map(|i| &bake_steps[*i]) {
            let chosen = match r.select(&s.targets) {
                Ok(c) => c,
                Err(name) => {
                    diags.push(diag(
                        &s.file,
                        s.line,
                        false,
                        format!(
                            "job {}, {}: bake target {name} is in none of {}; bake fails there, the step is not analysed",
                            s.job,
                            s.step,
                            inputs.join(", ")
                        ),
                    ));
                    continue;
                }
            };
            for t in chosen {
                let Some(b) = r.builds.iter().find(|b| b.target_name == t) else {
                    continue;
                };
                let origin = Origin::Workflow {
                    file: s.file.clone(),
                    job: s.job.clone(),
                    step: s.step.clone(),
                    target: Some(t.clone()),
                };
                // the directory's own resolution declares the target already
                let also = if run.own {
                    Vec::new()
                } else {
                    vec![bake_origin(b)]
                };
                let mut inputs = inputs.clone();
                inputs.push(s.file.clone());
                let call = format!("step {} of job {} in {}", s.step, s.job, s.file);
                let mut d = decl(b, origin, also, inputs, vec![call]);
                // the step's cache backends for this target (bake file, then the step's `set`)
                let ci =
                    crate::engine::backend::bake_setup(&s.ci, &b.target_name, &b.cache, &s.set);
                d.ci = ci.declares_cache().then_some(ci);
                d.triggers = Some(triggers.clone());
                out.push(d);
            }
        }
    }

    // --- builds: in the configuration
    for (i, b) in config.builds.iter().enumerate() {
        let context_raw = b.context.clone().unwrap_or_else(|| ".".into());
        let (Some(context), Some(dockerfile)) = (
            decl::inside("", &context_raw),
            decl::inside("", &b.dockerfile),
        ) else {
            diags.push(diag(
                config_file,
                None,
                true,
                format!(
                    "builds entry {}: a path is outside the repository; refused",
                    i + 1
                ),
            ));
            continue;
        };
        out.push(Declared {
            origin: Origin::Config {
                file: config_file.to_string(),
                index: i,
            },
            also: Vec::new(),
            dockerfile,
            context,
            inline: None,
            args: b.args.clone(),
            target: b.target.clone(),
            contexts: BTreeMap::new(),
            inputs: vec![config_file.to_string()],
            ci: None,
            calls: Vec::new(),
            triggers: None,
        });
    }
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

/// What names a declaration on both sides of a change: its origin, a script's command without
/// its line (an edit above it moves it).
fn identity(o: &Origin) -> Origin {
    match o {
        Origin::Script { file, .. } => Origin::Script {
            file: file.clone(),
            line: 0,
        },
        other => other.clone(),
    }
}

/// The workflows whose `on:` does not run them for a change of `changed` paths, with why; the
/// sentence said for each that declares a build.
fn workflows_off(head: &[Declared], changed: &[&str]) -> BTreeMap<String, workflows::Skip> {
    let mut off = BTreeMap::new();
    for d in head {
        let (Some(t), Some(file)) = (&d.triggers, workflow_file(&d.origin)) else {
            continue;
        };
        if off.contains_key(file) {
            continue;
        }
        if let Err(why) = t.runs_for(changed) {
            off.insert(file.to_string(), why);
        }
    }
    off
}

/// The workflow file an origin is in (a step, or a `run:` block of one).
fn workflow_file(o: &Origin) -> Option<&str> {
    match o {
        Origin::Workflow { file, .. } => Some(file),
        Origin::Script { file, .. } if discover::is_workflow_name(file) => Some(file),
        _ => None,
    }
}

fn off_sentence(why: &workflows::Skip, builds: usize) -> String {
    let s = if builds == 1 { "" } else { "s" };
    let reason = match why {
        workflows::Skip::Events(events) if events.is_empty() => {
            "runs on no event that a pull request or a push to a branch raises".to_string()
        }
        workflows::Skip::Events(events) => format!(
            "runs on {} only, not on a pull request or a push to a branch",
            events
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        workflows::Skip::Paths => {
            "runs only when a path its `paths`/`paths-ignore` filters select changes, and this change touches none".to_string()
        }
    };
    format!(
        "this workflow {reason}: the {builds} build{s} only it declares {} not this change's builds and {} left out",
        if builds == 1 { "is" } else { "are" },
        if builds == 1 { "is" } else { "are" },
    )
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
    let changed: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    let off_workflows = if for_change {
        workflows_off(&head, &changed)
    } else {
        BTreeMap::new()
    };
    let is_off =
        |d: &Declared| workflow_file(&d.origin).is_some_and(|f| off_workflows.contains_key(f));
    let mut found: Vec<Found> = Vec::new();
    let mut offs: Vec<&Declared> = Vec::new();
    for (k, h) in head.iter().enumerate() {
        if is_off(h) {
            offs.push(h);
            continue;
        }
        // the same declaration on the base side: the same origin, the same occurrence of it (a
        // script's k-th build command, wherever its lines moved)
        let id = identity(&h.origin);
        let nth = head[..k]
            .iter()
            .filter(|o| identity(&o.origin) == id)
            .count();
        let b = base
            .iter()
            .filter(|b| identity(&b.origin) == id)
            .nth(nth)
            .cloned();
        let h = h.clone();
        let mut touched: Vec<String> = Vec::new();
        match &b {
            Some(b) if !b.same_build(&h) || !b.same_ci(&h) => {
                touched = h
                    .inputs
                    .iter()
                    .chain(b.inputs.iter())
                    .filter(|i| changes.get(i).is_some())
                    .cloned()
                    .collect();
                touched.sort();
                touched.dedup();
            }
            None if changes
                .iter()
                .map(|c| c.path.as_str())
                .any(|c| h.inputs.iter().any(|i| i == c)) =>
            {
                // a new declaration: the file that declares it changed
                touched = h
                    .inputs
                    .iter()
                    .filter(|i| changes.get(i).is_some())
                    .cloned()
                    .collect();
            }
            _ => {}
        }
        match found.iter_mut().find(|f| f.head.same_run(&h)) {
            Some(f) => {
                if f.head.ci.is_none() && h.ci.is_some() {
                    f.head.ci = h.ci.clone();
                    f.base = b.clone().or(f.base.take());
                }
                for o in std::iter::once(&h.origin).chain(&h.also) {
                    if !f.origins.contains(o) {
                        f.origins.push(o.clone());
                    }
                }
                for t in touched {
                    if !f.touched.contains(&t) {
                        f.touched.push(t);
                    }
                }
                if f.base.is_none() {
                    f.base = b;
                }
                for c in &h.calls {
                    if !f.calls.contains(c) {
                        f.calls.push(c.clone());
                    }
                }
            }
            None => found.push(Found {
                origins: std::iter::once(&h.origin).chain(&h.also).cloned().collect(),
                calls: h.calls.clone(),
                head: h,
                base: b,
                touched,
                off: false,
            }),
        }
    }
    // builds only workflows that do not run for the change declare: left out, said per workflow
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    for h in offs {
        if found.iter().any(|f| !f.off && f.head.same_build(h)) {
            continue;
        }
        if let Some(file) = workflow_file(&h.origin) {
            *left_out.entry(file.to_string()).or_default() += 1;
        }
        match found.iter_mut().find(|f| f.off && f.head.same_build(h)) {
            Some(f) => {
                if !f.origins.contains(&h.origin) {
                    f.origins.push(h.origin.clone());
                }
            }
            None => found.push(Found {
                origins: vec![h.origin.clone()],
                calls: Vec::new(),
                head: h.clone(),
                base: None,
                touched: Vec::new(),
                off: true,
            }),
        }
    }
    for (file, n) in left_out {
        if let Some(why) = off_workflows.get(&file) {
            diagnostics.push(FileDiagnostic {
                file: file.clone(),
                line: None,
                severity: Severity::Info,
                message: off_sentence(why, n),
            });
        }
    }
    Ok(found)
}
