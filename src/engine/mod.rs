//! The pure core of cachebust: Dockerfile parsing, the stage graph, `.dockerignore` matching,
//! the change set and BuildKit's cache-key model. It takes texts and file listings and returns
//! a `Report`; it never touches the file system, the environment, the network or the terminal.
//! When a listing lacks paths it needs, `analyze` says which (`Outcome::need`) and the caller
//! loads them and calls again.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod buildlog;
pub mod compose;
pub mod config;
pub mod cost;
pub mod discover;
pub mod dockerfile;
pub mod expand;
pub mod glob;
pub mod history;
pub mod ignore;
pub mod predict;
pub mod report;
pub mod tree;

use std::collections::BTreeMap;

pub use report::Report;
use tree::{ChangeSet, Listing, Needs, Request};

/// Which builder the prediction follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EngineKind {
    /// Current BuildKit, as run by docker/setup-buildx-action (buildx + buildkitd).
    #[serde(rename = "buildkit")]
    Buildkit,
    /// The BuildKit built into Docker Engine 20.10 (v0.8, dockerfile frontend 1.2).
    #[serde(rename = "docker-20.10")]
    Docker2010,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Buildkit => "buildkit",
            EngineKind::Docker2010 => "docker-20.10",
        }
    }
}

/// A file's text as read, or why it could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileText {
    Text(String),
    /// The file exists but is not UTF-8 text (or holds NUL bytes).
    Binary,
    /// The file could not be read; the message says why.
    Unreadable(String),
}

impl FileText {
    pub fn from_bytes(bytes: Vec<u8>) -> FileText {
        if bytes.contains(&0) {
            return FileText::Binary;
        }
        match String::from_utf8(bytes) {
            Ok(s) => FileText::Text(s),
            Err(_) => FileText::Binary,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            FileText::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One side (base or head) of a build.
#[derive(Debug, Clone, Default)]
pub struct SideInput {
    /// The Dockerfile; `None` when it does not exist on this side.
    pub dockerfile: Option<FileText>,
    /// `<Dockerfile>.dockerignore` next to the Dockerfile, if present.
    pub dockerfile_ignore: Option<FileText>,
    /// `<context>/.dockerignore`, if present.
    pub context_ignore: Option<FileText>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
}

/// One Dockerfile build to predict.
#[derive(Debug, Clone)]
pub struct BuildInput {
    /// Root-relative path of the Dockerfile.
    pub dockerfile: String,
    /// Root-relative build context ("" = the root).
    pub context: String,
    pub origin: report::Origin,
    pub base: SideInput,
    pub head: SideInput,
    /// Report this build even if the change does not touch it.
    pub always_report: bool,
    /// Extra changed inputs (the compose file that declares it, when its entry changed).
    pub extra_touched: Vec<String>,
}

/// Everything `analyze` needs.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub engine: EngineKind,
    pub builds: Vec<BuildInput>,
    pub changes: ChangeSet,
    pub base_tree: Listing,
    pub head_tree: Listing,
    /// Diagnostics gathered before the engine ran (compose parsing, discovery).
    pub diagnostics: Vec<report::FileDiagnostic>,
    /// Build logs given for timings: (name, text).
    pub timings: Vec<(String, String)>,
    pub config: config::Config,
}

/// The result of one `analyze` call.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// Listing requests that could not be answered; load them and call again.
    pub need: Vec<Request>,
}

/// Predict every build in `inputs`.
pub fn analyze(inputs: &Inputs) -> Outcome {
    let needs = Needs::default();
    let ctx = predict::Ctx {
        engine: inputs.engine,
        changes: &inputs.changes,
        base_tree: &inputs.base_tree,
        head_tree: &inputs.head_tree,
        needs: &needs,
    };
    let mut predicted = Vec::new();
    for b in &inputs.builds {
        if let Some(r) = predict::predict_build(&ctx, b) {
            predicted.push(r);
        }
    }
    let mut diagnostics = inputs.diagnostics.clone();
    // Each log goes to the builds its vertices match best.
    let logs: Vec<(String, Vec<buildlog::LogBuild>)> = inputs
        .timings
        .iter()
        .map(|(n, t)| (n.clone(), buildlog::parse_any(t)))
        .collect();
    let mut assigned: Vec<Vec<&buildlog::LogBuild>> = vec![Vec::new(); predicted.len()];
    for (name, builds) in &logs {
        if builds.is_empty() {
            diagnostics.push(report::FileDiagnostic {
                file: name.clone(),
                line: None,
                severity: report::Severity::Warning,
                message: "no BuildKit progress found in this log (expected --progress=plain or rawjson output)".into(),
            });
        }
        for lb in builds {
            let counts: Vec<usize> = predicted
                .iter()
                .map(|(_, f)| cost::match_count(lb, f))
                .collect();
            let best = counts.iter().copied().max().unwrap_or(0);
            if best == 0 {
                continue;
            }
            for (i, c) in counts.iter().enumerate() {
                if *c == best {
                    assigned[i].push(lb);
                }
            }
        }
    }
    let mut dockerfiles = Vec::new();
    for ((mut r, facts), logs) in predicted.into_iter().zip(assigned) {
        cost::apply(&mut r, &facts, &logs, &inputs.config);
        dockerfiles.push(r);
    }
    let report = Report {
        engine: inputs.engine.name().to_string(),
        dockerfiles,
        diagnostics,
        changed_paths: inputs.changes.len(),
    };
    Outcome {
        report,
        need: needs.take(),
    }
}
