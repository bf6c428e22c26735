//! The command-line shell: flags, reading the environment for `--build-arg KEY`, choosing the
//! trees, printing the rendered report, and the exit status (0 done, 1 `--fail-on` exceeded or a
//! `check` finding at `--fail-on-severity`,
//! 2 usage or I/O error with a one-line message).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};

use crate::adapters::local::{LocalRepo, Spec};
use crate::app::analyze::{AnalyzeError, AnalyzeOptions, analyze};
pub use crate::engine::gate::{FailOn, parse_fail_on};
use crate::engine::report::{FileDiagnostic, Report, Severity};
use crate::ports::RepoSource;
use crate::render::{self, RunMeta};
pub use crate::shell::{EngineArg, Exit};

const ANALYZE_ABOUT: &str = "\
Predict, before any build, which steps of which Dockerfiles a change makes BuildKit rebuild, and why.

--base and --head name git revisions of --repo, read from the object database without a
checkout; --base-dir and --head-dir name directories (tree roots: the repository root), and the
two kinds may be mixed. A directory is never read for --base or --head: a name that is both a
revision and a directory (say `main` with a `main/` directory) is refused as ambiguous unless it
is a full commit id, and a directory given to --base says to use --base-dir.

Without --dockerfile, builds are found as the repository's own tools define them: Compose projects
(compose*.y*ml, docker-compose*.y*ml with their override files, include, extends and .env),
bake files (docker-bake.hcl/.json and overrides), workflow steps of docker/build-push-action and
docker/bake-action, literal `docker build`/`buildx build` commands of scripts, Makefiles and
workflow run: blocks, and `builds:` in .github/cachebust.yml; then every other Dockerfile of the
head tree (Dockerfile, Dockerfile.*, *.Dockerfile, *.dockerfile, Containerfile, Containerfile.*,
*.containerfile) as a guessed build with a guessed context: labelled so, and left out of the
totals and --fail-on unless the repository declares no build at all. Test-fixture, demo and
example trees and vendored trees are not searched (`discovery.skip`), nor are Windows Dockerfiles
taken. A build declared several times is one build; a bake-action step is one build per bake
target it selects, and a step its targets share in one bake call counts once in the totals. Only
the builds the change touches are reported.

Assumption: the base revision was built with the same target and build args on this builder, and
its cache is warm. Predictions say what misses relative to that cache.

Exit status: 0 analysis done, 1 --fail-on exceeded, 2 usage or I/O error.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Predict which build steps a change rebuilds (a dry run: nothing is built).
    #[command(long_about = ANALYZE_ABOUT)]
    Analyze(AnalyzeArgs),
    /// Replay a first-parent history: what each commit rebuilt relative to its parent, which
    /// steps rebuild most often and why, the total rebuild time and the avoidable share.
    History(HistoryArgs),
    /// Audit whole Dockerfiles with the rule catalog (CB001…): every finding, with its fix.
    /// The long help is `check_about()`, set by `with_rule_catalog`.
    Check(CheckArgs),
    /// Apply the rules' fixes: print the unified diff, or write it with --apply.
    #[command(long_about = FIX_ABOUT)]
    Fix(FixArgs),
    /// Compare the prediction with a real build of the head (a build record or a BuildKit log):
    /// what agreed, what differed, and why.
    #[command(long_about = VERIFY_ABOUT)]
    Verify(VerifyArgs),
    /// List the builds discovery finds in one tree: Dockerfile, context, target, build args and
    /// what declares each (compose services, bake targets, workflow steps), or that its context
    /// is guessed.
    #[command(long_about = BUILDS_ABOUT)]
    Builds(BuildsArgs),
}

const BUILDS_ABOUT: &str = "\
List the builds discovery finds in one tree, as `analyze` finds them (see `analyze --help`), without
predicting anything: each build's Dockerfile, context, target and build args as resolved (compose
interpolation and `.env`, bake variables and inherits, workflow env), and every declaration of
it; Dockerfiles nothing declares are listed with their guessed context. The JSON form holds what
`docker compose config --format json` and `docker buildx bake --print` resolve, to compare with
them. Build args are printed as resolved, as those tools print them.

Exit status: 0 done, 2 usage or I/O error.";

#[derive(Debug, Args)]
pub struct BuildsArgs {
    /// The tree: a directory or a git revision of --repo.
    #[arg(value_name = "DIR|GIT-REV", default_value = ".")]
    pub tree: String,
    /// The git repository revisions are read from.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// A variable for Compose and bake interpolation (`KEY=VALUE`, or `KEY` from the
    /// environment), over the project's `.env`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The configuration file (`builds:`, `discovery:`). Default: `.github/cachebust.yml` of
    /// the tree when it is a directory that has one.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: BuildsFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BuildsFormat {
    Text,
    Json,
}

const VERIFY_ABOUT: &str = "\
Predict the change as `analyze` does, then compare each build's prediction with what a real build
of the head did, step by step: cached or ran. A real build is a build record (`.dockerbuild`, what
`docker buildx history export` writes and docker/build-push-action uploads as an artifact) or a
BuildKit progress log (`--progress=rawjson`, or `--progress=plain`, which cannot always tell a
cache hit whose layer is downloaded from a run). A step counts as cached when any update of its
vertex says so. Every difference gets a reason: the cache backend's mode, an evicted record, a base
tag that moved upstream, `no-cache`, or a step the model got wrong. FROM is not compared. The real
build's step times replace the cost model.

Exit status: 0 done, 1 a step differed and --fail-on-difference was given, 2 usage or I/O error.";

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    /// A real build of the head: a `.dockerbuild` record archive or a BuildKit progress log
    /// (repeatable; each is compared with the build whose steps it matches).
    #[arg(long = "record", value_name = "FILE", required = true)]
    pub records: Vec<PathBuf>,
    /// Exit with status 1 when a step's real outcome differs from the prediction.
    #[arg(long)]
    pub fail_on_difference: bool,
}

/// `check`'s long help: the rule catalog as the rule table has it (so a new rule is listed),
/// then `CHECK_ABOUT`.
pub fn check_about() -> String {
    // the rules over a change's prediction (CB011, CB012) are `analyze`'s only
    let rules: Vec<String> = crate::engine::rules::RULES
        .iter()
        .map(|r| r.meta())
        .filter(|r| r.reads == crate::engine::rules::Reads::Dockerfile)
        .map(|r| format!("{} {}", r.code, r.name))
        .collect();
    let first = format!(
        "Audit whole Dockerfiles with the rule catalog ({}). Every finding is reported, not only \
         those a change touches (that is `analyze`).",
        rules.join(", ")
    );
    // wrapped as the written paragraphs below it are
    let mut lines: Vec<String> = vec![String::new()];
    for word in first.split(' ') {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > 98 {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    format!("{}\n\n{CHECK_ABOUT}", lines.join("\n"))
}

/// The command line with the help texts that are generated rather than written (`check`'s rule
/// catalog); the binary parses with this.
pub fn with_rule_catalog(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommand("check", |c| c.long_about(check_about()))
}

const CHECK_ABOUT: &str = "\
PATHS are Dockerfiles or directories anywhere (relative to the current directory); directories
are searched as discovery does. The root (contexts and .dockerignore files are resolved in it) is
--root, else the top level of the git repository the PATHS lie in, else the directory of the
first PATH (without PATHS: the current directory). Without PATHS, every Dockerfile of the root. The build
context of a Dockerfile in a subdirectory is inferred as discovery does unless --context is given.

Silence a finding with `# cachebust: ignore=CB001 reason` on the line above the instruction, or
for a whole file with `# cachebust: ignore-file=CB008 reason`; switch rules off or change their
severity in .github/cachebust.yml (`rules: {CB004: off, CB008: error}`).

Exit status: 0 no finding at or above --fail-on-severity, 1 otherwise, 2 usage or I/O error.";

const FIX_ABOUT: &str = "\
Apply the fixes of the rule catalog until none is left (each pass applies the fixes that do not
overlap, then the files are checked again). Without --apply the unified diff is printed and
nothing is written. Safe fixes keep what the image holds; --unsafe also applies fixes that change
it or may change what a step does (review them). Fixes that must be completed by hand are never
applied (`cachebust check` shows them). A fix that would leave a Dockerfile unparsable is not
applied. With --apply, files are replaced atomically, and a file that changed on disk since it
was read is not overwritten.

Exit status: 0 done, 2 usage or I/O error.";

/// What `check` and `fix` share.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Dockerfiles or directories to audit (default: every Dockerfile under --root).
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// The tree root (the repository root): contexts and .dockerignore files are resolved in it.
    /// Default: the git repository PATHS lie in (its top level), else the directory of the
    /// first PATH; without PATHS, the current directory.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub shape: BuildShape,
    /// The configuration file. Default: `.github/cachebust.yml` under --root when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub audit: AuditArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit with status 1 when a finding has this severity or a higher one (`none`: never).
    #[arg(long, value_enum, default_value = "warning")]
    pub fail_on_severity: FailSeverity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailSeverity {
    Info,
    Warning,
    Error,
    None,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    #[command(flatten)]
    pub audit: AuditArgs,
    /// Write the fixed files (default: print the diff only).
    #[arg(long)]
    pub apply: bool,
    /// Also apply fixes to review (they change what the image holds or may change a step).
    #[arg(long = "unsafe")]
    pub unsafe_fixes: bool,
}

/// The build flags `analyze` and `history` share: which Dockerfiles, how they are built, what
/// the steps cost.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A Dockerfile to analyse, relative to the tree root (repeatable). Default: discover (for
    /// `history`, at each commit).
    #[arg(long = "dockerfile", value_name = "PATH")]
    pub dockerfiles: Vec<String>,
    #[command(flatten)]
    pub shape: BuildShape,
    /// A variable for Compose and bake interpolation (`KEY=VALUE`, or `KEY` to take it from the
    /// environment), over the project's `.env` as `docker compose` reads the shell's.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A BuildKit build log (`--progress=plain`, a GitHub Actions log, or `--progress=rawjson`)
    /// whose step times replace the cost model (repeatable; the median is used).
    #[arg(long = "timings", value_name = "FILE")]
    pub timings: Vec<PathBuf>,
}

/// How a build is run, for every command that audits or predicts one (`check`, `fix`,
/// `analyze`, `history`): declared once so that the four say the same.
#[derive(Debug, Args)]
pub struct BuildShape {
    /// The build context, relative to the tree root. Default: inferred for each Dockerfile as
    /// discovery does (the root for one at the root); with `analyze` and `history`, `.` for one
    /// named with --dockerfile.
    #[arg(long, value_name = "DIR")]
    pub context: Option<String>,
    /// The stage to build (default: the last stage); the prediction and the rules follow the
    /// stages it builds.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// A build arg, as for `docker build` (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The builder whose cache rules to follow.
    #[arg(long, value_enum, default_value = "buildkit")]
    pub engine: EngineArg,
}

impl BuildShape {
    /// Analysis options with these flags set (build args checked).
    fn options(&self) -> Result<AnalyzeOptions> {
        let mut opts = AnalyzeOptions::new(self.engine.into());
        opts.context = self.context.clone();
        opts.target = self.target.clone();
        opts.build_args = crate::shell::key_values(&self.build_args, "--build-arg")?;
        Ok(opts)
    }
}

impl BuildArgs {
    /// The analysis options these flags set (build args and variables checked, build logs read).
    fn options(&self) -> Result<AnalyzeOptions> {
        let mut opts = self.shape.options()?;
        opts.dockerfiles = self.dockerfiles.clone();
        opts.env = crate::shell::key_values(&self.env, "--env")?;
        opts.timings = crate::shell::timings_files(&self.timings)?;
        Ok(opts)
    }
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The git repository.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// The commits to replay, `A..B` (first-parent commits after A up to B).
    #[arg(long, value_name = "A..B", conflicts_with = "last")]
    pub range: Option<String>,
    /// The last N first-parent commits of HEAD (default 100 when --range is not given).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    #[command(flatten)]
    pub build: BuildArgs,
    /// The configuration file (YAML; `cost:` overrides).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: HistoryFormat,
    /// Threads replaying commits side by side (default: the CPUs available). The report is the
    /// same for any number.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HistoryFormat {
    Text,
    Json,
    /// A self-contained HTML page: rebuild time per commit (an SVG plot) and the top triggers.
    Html,
}

/// Colour on the terminal: stdout is one, and `NO_COLOR` is unset or empty.
fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// SARIF 2.1.0, for code scanning uploads.
    Sarif,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("base_side").required(true).multiple(false)))]
#[command(group(clap::ArgGroup::new("head_side").required(true).multiple(false)))]
pub struct AnalyzeArgs {
    /// The tree before the change: a git revision of --repo (never a directory).
    #[arg(long, value_name = "REV", group = "base_side")]
    pub base: Option<String>,
    /// The tree before the change as a directory (the repository root).
    #[arg(long = "base-dir", value_name = "DIR", group = "base_side")]
    pub base_dir: Option<PathBuf>,
    /// The tree after the change: a git revision of --repo (never a directory).
    #[arg(long, value_name = "REV", group = "head_side")]
    pub head: Option<String>,
    /// The tree after the change as a directory (the repository root).
    #[arg(long = "head-dir", value_name = "DIR", group = "head_side")]
    pub head_dir: Option<PathBuf>,
    /// The git repository revisions are read from.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Output format (`sarif`: the cache misses and the findings that concern the change).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit with status 1 when the change rebuilds too much: `rebuilt-steps>N`,
    /// `rebuild-seconds>N` (estimated), or the same with `>=`.
    #[arg(long, value_name = "CONDITION", value_parser = parse_fail_on)]
    pub fail_on: Option<FailOn>,
    /// The configuration file (YAML; `cost:` overrides per step pattern). Default:
    /// `.github/cachebust.yml` of the head tree when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(command: Command) -> Result<Exit> {
    match command {
        Command::Analyze(a) => run_analyze(a),
        Command::History(h) => run_history(h),
        Command::Check(c) => run_check(c),
        Command::Fix(f) => run_fix(f),
        Command::Verify(v) => run_verify(v),
        Command::Builds(b) => run_builds(b),
    }
}

fn run_builds(a: BuildsArgs) -> Result<Exit> {
    // the tree is named explicitly here: an existing directory is one, anything else a revision
    let dir = std::path::Path::new(&a.tree);
    let spec = if dir.is_dir() {
        Spec::Dir(dir.to_path_buf())
    } else {
        Spec::Rev(a.tree.clone())
    };
    let shown = crate::render::visible(&a.tree);
    let repo = LocalRepo::open(&spec, &spec, &a.repo).map_err(|(_, e)| anyhow!("{shown}: {e}"))?;
    let mut opts = AnalyzeOptions::new(crate::engine::EngineKind::Buildkit);
    opts.env = crate::shell::key_values(&a.env, "--env")?;
    opts.config = load_config(a.config.as_deref(), dir.is_dir().then_some(dir))?;
    if let Some(c) = &a.config {
        opts.config_file = c.display().to_string();
    }
    let mut list =
        block_on(crate::app::analyze::list_builds(&repo, &opts))?.map_err(|e| match e {
            AnalyzeError::Usage(m) => anyhow!(m),
            AnalyzeError::Source(s) => anyhow!(s),
        })?;
    for (path, msg) in repo.problems() {
        list.diagnostics.push(FileDiagnostic {
            file: path,
            line: None,
            severity: Severity::Warning,
            message: format!("cannot read: {msg}"),
        });
    }
    let label = repo.label(crate::engine::tree::Side::Head);
    let out = match a.format {
        BuildsFormat::Text => render::builds::text(&list, &label),
        BuildsFormat::Json => render::builds::json(&list, &label),
    };
    print!("{out}");
    Ok(Exit::Ok)
}

/// Run a use-case on a current-thread tokio runtime (the local adapters' I/O is synchronous
/// underneath, so nothing waits on other threads).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting the async runtime: {e}"))?;
    Ok(rt.block_on(f))
}

/// The configuration: `--config FILE`, else `.github/cachebust.yml` when the head is a directory
/// that has one. A file that does not parse is an error (exit 2) with its line.
fn load_config(
    path: Option<&std::path::Path>,
    head: Option<&std::path::Path>,
) -> Result<crate::engine::config::Config> {
    let (name, bytes) = match path {
        Some(p) => (
            p.display().to_string(),
            crate::shell::read_regular(p, crate::shell::MAX_CONFIG_BYTES)
                .map_err(|e| anyhow!("--config {}: {e}", p.display()))?,
        ),
        None => {
            // the head tree's own file: read as COPY sources are (it may come from a pull request)
            let rel = crate::app::config::DEFAULT_PATH;
            let Some(root) = head else {
                return Ok(Default::default());
            };
            let d = root.join(rel);
            match crate::shell::read_in_tree(root, rel, crate::shell::MAX_CONFIG_BYTES) {
                Ok(Some(b)) => (d.display().to_string(), b),
                Ok(None) => return Ok(Default::default()),
                Err(e) => return Err(anyhow!("{}: {e}", d.display())),
            }
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("--config {name}: not UTF-8 text"))?;
    crate::engine::config::parse(&name, &text, &crate::engine::rules::codes())
        .map_err(|e| anyhow!("{e}"))
}

/// Whether `s` is a full commit id (SHA-1 or SHA-256 hex): it names one commit whatever the
/// work tree holds, so a directory of that name is no ambiguity.
fn full_commit_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One side of `analyze` from its flags (clap makes sure exactly one is given): `--base-dir`
/// is a directory; `--base` a revision, never read from a directory of that name. A revision
/// name that is also a directory (relative to the current directory, as the flag used to be
/// read) is refused unless it is a full commit id; a directory that is no revision gets the
/// flag to use instead.
fn side_spec(
    flag: &str,
    rev: Option<&String>,
    dir: Option<&PathBuf>,
    repo: &std::path::Path,
) -> Result<Spec> {
    if let Some(d) = dir {
        return Ok(Spec::Dir(d.clone()));
    }
    let rev = rev.ok_or_else(|| anyhow!("--{flag} or --{flag}-dir is required"))?;
    if full_commit_id(rev) || !std::path::Path::new(rev).is_dir() {
        return Ok(Spec::Rev(rev.clone()));
    }
    let shown = crate::render::visible(rev);
    let is_rev = crate::adapters::git::GitRepo::open(repo)
        .ok()
        .is_some_and(|g| g.has_commit(rev));
    if is_rev {
        Err(anyhow!(
            "--{flag} {shown}: both a git revision of {} and a directory; name the revision unambiguously (its full commit id, or refs/heads/… or refs/tags/…), or the directory with --{flag}-dir {shown}",
            repo.display()
        ))
    } else {
        Err(anyhow!(
            "--{flag} {shown}: not a git revision of {}; it is a directory: give --{flag}-dir {shown} (--{flag} names revisions only)",
            repo.display()
        ))
    }
}

fn run_analyze(a: AnalyzeArgs) -> Result<Exit> {
    let (report, meta) = analyze_report(&a, Vec::new())?;
    print!("{}", render_report(&report, &meta, a.format));
    if let Some(f) = a.fail_on {
        if f.exceeded(&report) {
            return Ok(Exit::FailOn);
        }
    }
    Ok(Exit::Ok)
}

fn run_verify(v: VerifyArgs) -> Result<Exit> {
    let records = crate::shell::record_files(&v.records)?;
    let (mut report, meta) = analyze_report(&v.analyze, records)?;
    // the builds a real build was compared with (every build is predicted, touched or not)
    report.dockerfiles.retain(|d| !d.verifications.is_empty());
    if report.dockerfiles.is_empty() {
        let names: Vec<String> = v
            .records
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        return Err(anyhow!(
            "--record {}: no step of {} (FROM aside) is a step of the builds found in --head; if it built a Dockerfile cachebust does not discover, name it with --dockerfile (and --context, --target)",
            names.join(", "),
            if names.len() == 1 {
                "this build"
            } else {
                "these builds"
            }
        ));
    }
    print!("{}", render_report(&report, &meta, v.analyze.format));
    let differed = report
        .dockerfiles
        .iter()
        .flat_map(|d| &d.verifications)
        .any(|x| x.differed > 0);
    if v.fail_on_difference && differed {
        return Ok(Exit::FailOn);
    }
    Ok(Exit::Ok)
}

fn render_report(report: &Report, meta: &RunMeta, format: Format) -> String {
    let meta = RunMeta {
        color: color_wanted(),
        ..meta.clone()
    };
    render::render(format.into(), report, &meta)
}

impl From<Format> for render::Format {
    fn from(f: Format) -> render::Format {
        match f {
            Format::Text => render::Format::Text,
            Format::Json => render::Format::Json,
            Format::Markdown => render::Format::Markdown,
            Format::Sarif => render::Format::Sarif,
        }
    }
}

/// The analysis of `analyze` (and of `verify`, with its real builds: every build is then
/// predicted, touched by the change or not).
fn analyze_report(
    a: &AnalyzeArgs,
    records: Vec<crate::engine::verify::RealBuild>,
) -> Result<(Report, RunMeta)> {
    let base = side_spec("base", a.base.as_ref(), a.base_dir.as_ref(), &a.repo)?;
    let head = side_spec("head", a.head.as_ref(), a.head_dir.as_ref(), &a.repo)?;
    let named = |s: &Spec, flag: &str| match s {
        Spec::Dir(d) => format!("--{flag}-dir {}", d.display()),
        Spec::Rev(r) => format!("--{flag} {}", crate::render::visible(r)),
    };
    let repo = LocalRepo::open(&base, &head, &a.repo).map_err(|(side, e)| match side {
        crate::engine::tree::Side::Base => anyhow!("{}: {e}", named(&base, "base")),
        crate::engine::tree::Side::Head => anyhow!("{}: {e}", named(&head, "head")),
    })?;
    let mut opts = a.build.options()?;
    opts.config = load_config(a.config.as_deref(), a.head_dir.as_deref())?;
    if let Some(c) = &a.config {
        opts.config_file = c.display().to_string();
    }
    opts.report_all = !records.is_empty();
    opts.records = records;
    let mut report: Report = block_on(analyze(&repo, &opts))?.map_err(|e| match e {
        AnalyzeError::Usage(m) => anyhow!(m),
        AnalyzeError::Source(s) => anyhow!(s),
    })?;
    for (path, msg) in repo.problems() {
        report.diagnostics.push(FileDiagnostic {
            file: path,
            line: None,
            severity: Severity::Warning,
            message: format!("cannot read: {msg}"),
        });
    }
    let meta = RunMeta {
        base: repo.label(crate::engine::tree::Side::Base),
        head: repo.label(crate::engine::tree::Side::Head),
        ..RunMeta::default()
    };
    Ok((report, meta))
}

/// The root of an audit without `--root`: the top level of the git repository holding the
/// first path (a directory with `.git`), else the path's own directory; the current directory
/// without paths. Every other path must lie under it.
fn audit_root(paths: &[PathBuf]) -> Result<PathBuf> {
    let Some(first) = paths.first() else {
        return Ok(PathBuf::from("."));
    };
    let c = first
        .canonicalize()
        .map_err(|e| anyhow!("{}: {e}", first.display()))?;
    let dir = if c.is_dir() {
        c.clone()
    } else {
        c.parent().map(PathBuf::from).unwrap_or(c.clone())
    };
    let top = dir
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(PathBuf::from)
        .unwrap_or(dir);
    for p in &paths[1..] {
        let q = p
            .canonicalize()
            .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        if !q.starts_with(&top) {
            return Err(anyhow!(
                "{} and {} are not in one repository or directory; give --root",
                first.display(),
                p.display()
            ));
        }
    }
    Ok(top)
}

/// The tree and the options of an audit: root-relative Dockerfiles from PATHS.
fn audit_setup(a: &AuditArgs) -> Result<(crate::adapters::fs::SameDir, AnalyzeOptions, PathBuf)> {
    let root_path = match &a.root {
        Some(r) => r.clone(),
        None => audit_root(&a.paths)?,
    };
    let root = root_path.to_string_lossy().into_owned();
    if !root_path.is_dir() {
        return Err(anyhow!("--root {root}: not a directory"));
    }
    let repo = crate::adapters::fs::SameDir::open(&root_path)
        .map_err(|e| anyhow!("--root {root}: {e}"))?;
    let canon_root = root_path
        .canonicalize()
        .map_err(|e| anyhow!("--root {root}: {e}"))?;
    let mut rel = Vec::new();
    for p in &a.paths {
        let c = p
            .canonicalize()
            .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        let r = c
            .strip_prefix(&canon_root)
            .map_err(|_| anyhow!("{}: not inside --root {root}", p.display()))?;
        rel.push(r.to_string_lossy().into_owned());
    }
    let config = load_config(a.config.as_deref(), Some(&root_path))?;
    let skip = config.discovery.skipped();
    let dockerfiles =
        block_on(crate::app::check::resolve(&repo, &rel, &skip))?.map_err(app_error)?;
    let mut opts = a.shape.options()?;
    opts.config = config;
    opts.dockerfiles = dockerfiles;
    Ok((repo, opts, root_path))
}

fn app_error(e: AnalyzeError) -> anyhow::Error {
    match e {
        AnalyzeError::Usage(m) => anyhow!(m),
        AnalyzeError::Source(s) => anyhow!(s),
    }
}

fn run_check(c: CheckArgs) -> Result<Exit> {
    let (repo, opts, _) = audit_setup(&c.audit)?;
    let mut report = block_on(crate::app::check::check(&repo, &opts))?.map_err(app_error)?;
    for (path, msg) in repo.problems() {
        report.diagnostics.push(FileDiagnostic {
            file: path,
            line: None,
            severity: Severity::Warning,
            message: format!("cannot read: {msg}"),
        });
    }
    let meta = RunMeta {
        mode: render::Mode::Check,
        ..RunMeta::default()
    };
    let out = render::render(c.format.into(), &report, &meta);
    print!("{out}");
    let threshold = match c.fail_on_severity {
        FailSeverity::None => return Ok(Exit::Ok),
        FailSeverity::Info => Severity::Info,
        FailSeverity::Warning => Severity::Warning,
        FailSeverity::Error => Severity::Error,
    };
    let worst = report
        .dockerfiles
        .iter()
        .flat_map(|d| {
            d.findings.iter().map(|f| f.severity).chain(
                d.diagnostics
                    .iter()
                    .map(|x| x.severity)
                    .filter(|s| *s == Severity::Error),
            )
        })
        .max();
    Ok(if worst.is_some_and(|w| w >= threshold) {
        Exit::FailOn
    } else {
        Exit::Ok
    })
}

fn run_fix(f: FixArgs) -> Result<Exit> {
    let (repo, opts, root) = audit_setup(&f.audit)?;
    let level = if f.unsafe_fixes {
        crate::engine::fix::Applicability::Unsafe
    } else {
        crate::engine::fix::Applicability::Safe
    };
    let out = block_on(crate::app::check::fix(&repo, &opts, level))?.map_err(app_error)?;
    // the diff as a patch applies it (tabs and CRLF kept), but no hidden character or workflow
    // command of the pull request's text reaches the terminal or the CI log
    print!(
        "{}",
        render::visible_lines(&render::diff::files_diff(&out.before, &out.after))
    );
    if f.apply {
        write_files(&root, &out)?;
    }
    eprint!("{}", render::check::fix_summary(&out, f.apply));
    Ok(Exit::Ok)
}

/// Write the fixed files: each replaced atomically (a temporary file renamed over it, its mode
/// kept), after checking that it still holds the text the fixes were computed from.
fn write_files(root: &std::path::Path, out: &crate::app::check::FixOutcome) -> Result<()> {
    // check every file first: nothing is written when one changed meanwhile
    for path in out.after.keys() {
        let p = root.join(path);
        let now = match std::fs::read(&p) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(anyhow!("{path}: {e}")),
        };
        if now.as_deref() != out.before.get(path).map(String::as_str) {
            return Err(anyhow!(
                "{path} changed on disk while cachebust ran; nothing was written, run again"
            ));
        }
    }
    for (path, text) in &out.after {
        let p = root.join(path);
        let dir = p.parent().unwrap_or(root);
        let tmp = dir.join(format!(
            ".{}.cachebust-tmp",
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::write(&tmp, text).map_err(|e| anyhow!("{}: {e}", tmp.display()))?;
        if let Ok(m) = std::fs::metadata(&p) {
            let _ = std::fs::set_permissions(&tmp, m.permissions());
        }
        std::fs::rename(&tmp, &p).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow!("{path}: {e}")
        })?;
    }
    Ok(())
}

/// Commits a history thread replays in one go: adjacent commits share their sides' simulations.
const HISTORY_BLOCK: usize = 16;

fn run_history(h: HistoryArgs) -> Result<Exit> {
    let hist = crate::adapters::local::LocalHistory::open(&h.repo)
        .map_err(|e| anyhow!("--repo {}: {e}", h.repo.display()))?;
    let (span, label) = match (&h.range, h.last) {
        (Some(r), _) => (crate::ports::HistorySpan::Range(r.clone()), r.clone()),
        (None, n) => {
            let n = n.unwrap_or(100);
            if n == 0 {
                return Err(anyhow!("--last must be at least 1"));
            }
            (
                crate::ports::HistorySpan::Last(n),
                format!("last {n} commits"),
            )
        }
    };
    let jobs = match h.jobs {
        Some(0) => return Err(anyhow!("--jobs must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut opts = h.build.options()?;
    if let Some(c) = &h.config {
        opts.config = load_config(Some(c), None)?;
    }
    let to_anyhow = |e| match e {
        AnalyzeError::Usage(m) => anyhow!(m),
        AnalyzeError::Source(s) => anyhow!(s),
    };
    let commits = block_on(crate::app::history::commits(&hist, &span))?.map_err(to_anyhow)?;
    // each thread replays runs of adjacent commits (a commit's head is the next one's base)
    // with its own repository handle and runtime; the blocks are folded in commit order
    let plan = crate::shell::blocks::Plan::new(HISTORY_BLOCK, jobs);
    let mut fold = crate::app::history::Fold::default();
    // what the threads remember, shared: a side simulated, a text parsed or a commit's
    // declarations resolved by one thread is often what another's next run starts from
    let memo = crate::engine::Memo::default();
    let cache = crate::app::discover::DeclCache::default();
    crate::shell::blocks::run(
        commits.len(),
        plan,
        || -> Result<_> {
            // its own object reader; the commit rows `commits` read come along
            let hist = hist.sibling();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow!("starting the async runtime: {e}"))?;
            Ok((hist, rt))
        },
        |(hist, rt), r| {
            rt.block_on(crate::app::history::replay_block(
                hist,
                &commits[r],
                &opts,
                &cache,
                &memo,
            ))
            .map_err(to_anyhow)
        },
        |block| {
            fold.add_block(block);
            Ok(())
        },
    )?;
    let report = fold.finish();
    let out = match h.format {
        HistoryFormat::Text => render::history::text(&report, &label),
        HistoryFormat::Json => render::history::json(&report, &label),
        HistoryFormat::Html => render::history::html(&report, &label),
    };
    print!("{out}");
    Ok(Exit::Ok)
}
