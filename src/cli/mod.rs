//! The command-line shell: flags, reading the environment for `--build-arg KEY`, choosing the
//! trees, printing the rendered report, and the exit status (0 done, 1 `--fail-on` exceeded,
//! 2 usage or I/O error with a one-line message).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adapters::local::LocalRepo;
use crate::app::analyze::{AnalyzeError, AnalyzeOptions, analyze};
use crate::engine::EngineKind;
use crate::engine::report::{FileDiagnostic, Report, Severity};
use crate::ports::RepoSource;
use crate::render::{self, RunMeta};

const ANALYZE_ABOUT: &str = "\
Predict, before any build, which steps of which Dockerfiles a change makes BuildKit rebuild, and why.

--base and --head each name a tree: an existing directory is a tree root (the repository root);
anything else is a git revision of --repo, read from the object database without a checkout.

Without --dockerfile, every Dockerfile of the head tree (Dockerfile, Dockerfile.*, *.Dockerfile,
*.dockerfile) and every build: entry of compose files (compose.y*ml, docker-compose*.y*ml) is
found, and only the builds the change touches are reported.

Assumption: the base revision was built with the same target and build args on this builder, and
its cache is warm. Predictions say what misses relative to that cache.

Exit status: 0 analysis done, 1 --fail-on exceeded, 2 usage or I/O error.";

#[derive(Debug, Parser)]
#[command(
    name = "cachebust",
    version,
    about = "Reviews changes for Docker build-cache damage: predicts which BuildKit cache entries a change misses, before any build."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Predict which build steps a change rebuilds (a dry run: nothing is built).
    #[command(long_about = ANALYZE_ABOUT)]
    Analyze(AnalyzeArgs),
    /// Replay a first-parent history: what each commit rebuilt relative to its parent, which
    /// steps rebuild most often and why, the total rebuild time and the avoidable share.
    History(HistoryArgs),
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
    /// Dockerfiles to follow, relative to the root (repeatable). Default: discover at each commit.
    #[arg(long = "dockerfile", value_name = "PATH")]
    pub dockerfiles: Vec<String>,
    /// The build context, relative to the root.
    #[arg(long, value_name = "DIR")]
    pub context: Option<String>,
    /// The stage to build (default: the last stage).
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// A build arg, as for `docker build`.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The builder whose cache rules to follow.
    #[arg(long, value_enum, default_value = "buildkit")]
    pub engine: EngineArg,
    /// Build logs whose step times replace the cost model (repeatable).
    #[arg(long = "timings", value_name = "FILE")]
    pub timings: Vec<PathBuf>,
    /// The configuration file (YAML; `cost:` overrides).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: HistoryFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HistoryFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EngineArg {
    /// Current BuildKit, as run by docker/setup-buildx-action.
    Buildkit,
    /// The BuildKit built into Docker Engine 20.10.
    #[value(name = "docker-20.10")]
    Docker2010,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// `--fail-on` condition: a metric above a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOn {
    /// More rebuilt steps than this.
    RebuiltSteps(usize),
    /// More estimated rebuild seconds than this.
    RebuildSeconds(f64),
}

impl FailOn {
    pub fn exceeded(&self, report: &Report) -> bool {
        match *self {
            FailOn::RebuiltSteps(n) => report.rebuilt_steps() > n,
            FailOn::RebuildSeconds(s) => report.rebuild_seconds() > s,
        }
    }
}

pub fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    let t = s.replace(' ', "");
    let (metric, rest) = if let Some(r) = t.strip_prefix("rebuilt-steps") {
        ("steps", r)
    } else if let Some(r) = t.strip_prefix("rebuild-seconds") {
        ("seconds", r)
    } else {
        return Err(format!(
            "unknown condition {s:?}: expected rebuilt-steps>N or rebuild-seconds>N (or >=)"
        ));
    };
    let (n, ge) = match rest.strip_prefix(">=") {
        Some(n) => (n, true),
        None => (
            rest.strip_prefix('>')
                .ok_or_else(|| format!("{s:?}: expected > or >= after the metric"))?,
            false,
        ),
    };
    match metric {
        "steps" => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("{s:?}: {n:?} is not a whole number"))?;
            if ge && n == 0 {
                return Err(format!("{s:?} is always true"));
            }
            Ok(FailOn::RebuiltSteps(if ge { n - 1 } else { n }))
        }
        _ => {
            let x: f64 = n
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{s:?}: {n:?} is not a number of seconds"))?;
            Ok(FailOn::RebuildSeconds(if ge { x - 1e-9 } else { x }))
        }
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The tree before the change: a directory or a git revision of --repo.
    #[arg(long, value_name = "DIR|GIT-REV")]
    pub base: String,
    /// The tree after the change: a directory or a git revision of --repo.
    #[arg(long, value_name = "DIR|GIT-REV")]
    pub head: String,
    /// The git repository revisions are read from.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// A Dockerfile to analyse, relative to the tree root (repeatable). Default: discover.
    #[arg(long = "dockerfile", value_name = "PATH")]
    pub dockerfiles: Vec<String>,
    /// The build context, relative to the tree root (default `.`; inferred for discovered
    /// Dockerfiles in subdirectories when not given).
    #[arg(long, value_name = "DIR")]
    pub context: Option<String>,
    /// The stage to build (default: the last stage).
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// A build arg, as for `docker build` (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The builder whose cache rules to follow.
    #[arg(long, value_enum, default_value = "buildkit")]
    pub engine: EngineArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit with status 1 when the change rebuilds too much: `rebuilt-steps>N`,
    /// `rebuild-seconds>N` (estimated), or the same with `>=`.
    #[arg(long, value_name = "CONDITION", value_parser = parse_fail_on)]
    pub fail_on: Option<FailOn>,
    /// A BuildKit build log (`--progress=plain`, a GitHub Actions log, or `--progress=rawjson`)
    /// whose step times replace the cost model (repeatable; the median is used).
    #[arg(long = "timings", value_name = "FILE")]
    pub timings: Vec<PathBuf>,
    /// The configuration file (YAML; `cost:` overrides per step pattern). Default:
    /// `.github/cachebust.yml` of the head tree when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The outcome of a command, mapped to the process exit status by `main`.
pub enum Exit {
    Ok,
    FailOn,
}

pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Analyze(a) => run_analyze(a),
        Command::History(h) => run_history(h),
    }
}

fn build_args(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in raw {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            Some(_) => return Err(anyhow!("--build-arg {a:?}: the name is empty")),
            None => {
                // Like docker: take the value from the environment, skip when unset.
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Drive a future whose I/O is synchronous underneath (the local adapters never wait on a
/// reactor), without starting an async runtime: it completes on the first poll.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// The configuration: `--config FILE`, else `.github/cachebust.yml` when the head is a directory
/// that has one. A file that does not parse is an error (exit 2) with its line.
fn load_config(
    path: Option<&std::path::Path>,
    head: &str,
) -> Result<crate::engine::config::Config> {
    let p = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let d = std::path::Path::new(head).join(".github/cachebust.yml");
            if !d.is_file() {
                return Ok(Default::default());
            }
            d
        }
    };
    let text = std::fs::read_to_string(&p).map_err(|e| anyhow!("--config {}: {e}", p.display()))?;
    crate::engine::config::parse(&p.display().to_string(), &text).map_err(|e| anyhow!("{e}"))
}

fn run_analyze(a: AnalyzeArgs) -> Result<Exit> {
    let args = build_args(&a.build_args)?;
    let repo = LocalRepo::open(&a.base, &a.head, &a.repo).map_err(|(side, e)| match side {
        crate::engine::tree::Side::Base => anyhow!("--base {}: {e}", a.base),
        crate::engine::tree::Side::Head => anyhow!("--head {}: {e}", a.head),
    })?;
    let mut opts = AnalyzeOptions::new(engine_of(a.engine));
    opts.dockerfiles = a.dockerfiles.clone();
    opts.context = a.context.clone();
    opts.target = a.target.clone();
    opts.build_args = args;
    opts.timings = read_timings(&a.timings)?;
    opts.config = load_config(a.config.as_deref(), &a.head)?;
    let mut report: Report = block_on(analyze(&repo, &opts)).map_err(|e| match e {
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
    };
    let out = match a.format {
        Format::Text => render::text::render(&report),
        Format::Json => render::json::render(&report, &meta),
        Format::Markdown => render::markdown::render(&report),
    };
    print!("{out}");
    if let Some(f) = a.fail_on {
        if f.exceeded(&report) {
            return Ok(Exit::FailOn);
        }
    }
    Ok(Exit::Ok)
}

fn engine_of(e: EngineArg) -> EngineKind {
    match e {
        EngineArg::Buildkit => EngineKind::Buildkit,
        EngineArg::Docker2010 => EngineKind::Docker2010,
    }
}

fn read_timings(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    files
        .iter()
        .map(|t| {
            let bytes = std::fs::read(t).map_err(|e| anyhow!("--timings {}: {e}", t.display()))?;
            Ok((
                t.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })
        .collect()
}

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
    let mut opts = AnalyzeOptions::new(engine_of(h.engine));
    opts.dockerfiles = h.dockerfiles.clone();
    opts.context = h.context.clone();
    opts.target = h.target.clone();
    opts.build_args = build_args(&h.build_args)?;
    opts.timings = read_timings(&h.timings)?;
    if let Some(c) = &h.config {
        opts.config = load_config(Some(c), ".")?;
    }
    let report =
        block_on(crate::app::history::history(&hist, &span, &opts)).map_err(|e| match e {
            AnalyzeError::Usage(m) => anyhow!(m),
            AnalyzeError::Source(s) => anyhow!(s),
        })?;
    let out = match h.format {
        HistoryFormat::Text => render::history::text(&report, &label),
        HistoryFormat::Json => render::history::json(&report, &label),
    };
    print!("{out}");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_conditions() {
        assert_eq!(
            parse_fail_on("rebuilt-steps>3"),
            Ok(FailOn::RebuiltSteps(3))
        );
        assert_eq!(
            parse_fail_on("rebuilt-steps>=1"),
            Ok(FailOn::RebuiltSteps(0))
        );
        assert_eq!(
            parse_fail_on("rebuild-seconds>120"),
            Ok(FailOn::RebuildSeconds(120.0))
        );
        assert!(parse_fail_on("rebuilt-steps>x").is_err());
        assert!(parse_fail_on("rebuild-seconds>-1").is_err());
        assert!(parse_fail_on("steps>1").is_err());
    }
}
