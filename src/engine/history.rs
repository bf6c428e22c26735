//! A Dockerfile's cost over its history: the reports of each first-parent commit (predicted
//! against its parent) folded into counts per step, the paths and lines that trigger rebuilds,
//! the total rebuild time, and the share caused by avoidable patterns. Also the classification of
//! a rebuild chain as avoidable, shared with the review: a broad COPY before a dependency install
//! (manifest-first), files that never belong in the image (context noise), and a volatile
//! ARG/ENV declared above steps that do not use it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::{CauseKind, DockerfileReport, Report, Status};

/// Why a rebuild could have been avoided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Avoidable {
    /// A dependency install re-ran because a broad COPY above it copied changed non-manifest files.
    ManifestFirst,
    /// Only files that never belong in an image changed (the Dockerfile, docs, CI files, …).
    ContextNoise,
    /// A build arg or ENV changed that the rebuilt steps above its first use do not read.
    VolatileArg,
}

/// An avoidable part of a rebuild chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvoidableChain {
    pub kind: Avoidable,
    pub origin_line: u32,
    /// Seconds of the steps that would not have rebuilt.
    pub seconds: f64,
    /// Lines of those steps.
    pub lines: Vec<u32>,
}

const MANIFESTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    ".npmrc",
    ".yarnrc.yml",
    "requirements.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "setup.py",
    "setup.cfg",
    "Gemfile",
    "Gemfile.lock",
    "composer.json",
    "composer.lock",
    "go.mod",
    "go.sum",
    "Cargo.toml",
    "Cargo.lock",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "gradle.properties",
    "packages.lock.json",
    "Directory.Packages.props",
    "nuget.config",
    "mix.exs",
    "mix.lock",
];

/// Whether a path is a dependency manifest or lockfile.
pub fn is_manifest(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    MANIFESTS.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || name.ends_with(".csproj")
        || name.ends_with(".fsproj")
}

/// Whether a changed path is one that never belongs in an image.
pub fn is_noise(path: &str, dockerfile: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    path == dockerfile
        || name == ".dockerignore"
        || name.ends_with(".dockerignore")
        || super::discover::is_dockerfile_name(path)
        || super::discover::is_compose_name(path)
        || path.split('/').any(|c| {
            matches!(
                c,
                ".git"
                    | ".github"
                    | ".gitlab"
                    | ".circleci"
                    | ".idea"
                    | ".vscode"
                    | "node_modules"
                    | "__pycache__"
                    | ".pytest_cache"
                    | ".mypy_cache"
                    | "docs"
            )
        })
        || lower.ends_with(".md")
        || lower.ends_with(".rst")
        || lower.ends_with(".log")
        || lower.ends_with(".swp")
        || lower.ends_with('~')
        || matches!(
            lower.as_str(),
            "license"
                | "license.txt"
                | "changelog"
                | "authors"
                | ".gitignore"
                | ".gitattributes"
                | ".editorconfig"
                | "makefile.local"
                | "jenkinsfile"
                | ".gitlab-ci.yml"
                | ".travis.yml"
                | ".ds_store"
        )
}

/// Labels of the cost model that are dependency installs.
const INSTALLS: &[&str] = &[
    "npm install",
    "yarn install",
    "pnpm install",
    "pip install",
    "poetry install",
    "uv sync",
    "pipenv install",
    "bundle install",
    "composer install",
    "go mod download",
    "cargo fetch",
    "maven/gradle",
    "dotnet restore",
];

/// Whether a step runs a dependency install.
pub fn is_install(step: &crate::engine::report::Step) -> bool {
    step.classes.iter().any(|c| INSTALLS.contains(&c.as_str()))
}

fn references(text: &str, name: &str) -> bool {
    text.contains(&format!("${name}")) || text.contains(&format!("${{{name}"))
}

/// The avoidable parts of this build's rebuild chains.
pub fn avoidable(df: &DockerfileReport) -> Vec<AvoidableChain> {
    let mut out = Vec::new();
    for (origin, follow) in crate::engine::report::chains(df) {
        let Some(cause) = &origin.cause else { continue };
        let chain: Vec<&crate::engine::report::Step> =
            std::iter::once(origin).chain(follow).collect();
        let secs = |steps: &[&&crate::engine::report::Step]| {
            steps
                .iter()
                .map(|s| s.estimated_seconds.unwrap_or(0.0))
                .sum::<f64>()
        };
        match cause.kind() {
            CauseKind::Files | CauseKind::Dockerignore
                if !cause.paths.is_empty() && cause.paths_total == cause.paths.len() =>
            {
                if cause.paths.iter().all(|p| is_noise(p, &df.path)) {
                    let all: Vec<&&crate::engine::report::Step> = chain.iter().collect();
                    out.push(AvoidableChain {
                        kind: Avoidable::ContextNoise,
                        origin_line: origin.line,
                        seconds: secs(&all),
                        lines: chain.iter().map(|s| s.line).collect(),
                    });
                } else if !cause.paths.iter().any(|p| is_manifest(p)) {
                    let installs: Vec<&&crate::engine::report::Step> =
                        chain.iter().filter(|s| is_install(s)).collect();
                    if !installs.is_empty() {
                        out.push(AvoidableChain {
                            kind: Avoidable::ManifestFirst,
                            origin_line: origin.line,
                            seconds: secs(&installs),
                            lines: installs.iter().map(|s| s.line).collect(),
                        });
                    }
                }
            }
            CauseKind::BuildArg | CauseKind::Arg | CauseKind::Env => {
                let Some(name) = cause.name.as_deref().filter(|n| *n != "order") else {
                    continue;
                };
                let unused: Vec<&&crate::engine::report::Step> = chain
                    .iter()
                    .take_while(|s| !references(&s.instruction, name))
                    .filter(|s| s.kind == crate::engine::report::Kind::Run)
                    .collect();
                if !unused.is_empty() {
                    out.push(AvoidableChain {
                        kind: Avoidable::VolatileArg,
                        origin_line: origin.line,
                        seconds: secs(&unused),
                        lines: unused.iter().map(|s| s.line).collect(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// One commit of the history.
#[derive(Debug, Clone, Serialize)]
pub struct CommitCost {
    pub commit: String,
    pub subject: String,
    pub rebuilt_steps: usize,
    pub rebuild_seconds: f64,
    pub avoidable_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Trigger {
    /// Cause kind of the first miss.
    pub kind: String,
    /// The step where the chain starts.
    pub line: u32,
    pub count: usize,
    /// The changed paths (or variable names) that triggered it most often.
    pub top: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepHistory {
    pub line: u32,
    pub stage: String,
    pub instruction: String,
    /// Commits in which this step rebuilt.
    pub rebuilds: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DockerfileHistory {
    pub path: String,
    /// Commits that rebuilt at least one step.
    pub commits_rebuilding: usize,
    pub rebuild_seconds: f64,
    pub avoidable_seconds: f64,
    pub avoidable: BTreeMap<String, f64>,
    /// Most often rebuilt steps first.
    pub steps: Vec<StepHistory>,
    /// What starts rebuild chains, most frequent first.
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryReport {
    pub commits: usize,
    pub total_rebuild_seconds: f64,
    pub avoidable_seconds: f64,
    pub avoidable_share: f64,
    pub dockerfiles: Vec<DockerfileHistory>,
    pub per_commit: Vec<CommitCost>,
}

/// Folds the per-commit reports into a history.
#[derive(Debug, Default)]
pub struct Accumulator {
    commits: Vec<CommitCost>,
    dfs: BTreeMap<String, DfAcc>,
}

/// Latest line of the chain's first step, how often it started a chain, what triggered it.
type TriggerAcc = (u32, usize, BTreeMap<String, usize>);

#[derive(Debug, Default)]
struct DfAcc {
    commits: usize,
    /// The last commit counted in `commits` (a Dockerfile built twice in one commit, e.g. for
    /// two targets, counts that commit once).
    last_commit: String,
    seconds: f64,
    avoidable: BTreeMap<String, f64>,
    /// (stage, instruction) → (latest line, count, seconds)
    steps: BTreeMap<(String, String), (u32, usize, f64)>,
    /// (kind, origin instruction) → (latest line, count, trigger → count)
    triggers: BTreeMap<(String, String), TriggerAcc>,
}

impl Accumulator {
    pub fn add(&mut self, commit: &str, subject: &str, report: &Report) {
        let mut cc = CommitCost {
            commit: commit.to_string(),
            subject: subject.to_string(),
            rebuilt_steps: 0,
            rebuild_seconds: 0.0,
            avoidable_seconds: 0.0,
        };
        for df in &report.dockerfiles {
            if df.summary.rebuilt == 0 {
                continue;
            }
            let acc = self.dfs.entry(df.path.clone()).or_default();
            if acc.last_commit != commit {
                acc.commits += 1;
                acc.last_commit = commit.to_string();
            }
            let secs = df
                .cost
                .as_ref()
                .map_or(0.0, |c| c.estimated_rebuild_seconds);
            acc.seconds += secs;
            cc.rebuilt_steps += df.summary.rebuilt;
            cc.rebuild_seconds += secs;
            for s in df.steps.iter().filter(|s| s.status == Status::Rebuilt) {
                let e = acc
                    .steps
                    .entry((s.stage.clone(), s.instruction.clone()))
                    .or_insert((s.line, 0, 0.0));
                e.0 = s.line;
                e.1 += 1;
                e.2 += s.estimated_seconds.unwrap_or(0.0);
            }
            for (origin, _) in crate::engine::report::chains(df) {
                let Some(c) = &origin.cause else { continue };
                let kind = serde_json::to_value(c.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let e = acc
                    .triggers
                    .entry((kind, origin.instruction.clone()))
                    .or_insert((origin.line, 0, BTreeMap::new()));
                e.0 = origin.line;
                e.1 += 1;
                let what: Vec<String> = if !c.paths.is_empty() {
                    c.paths.clone()
                } else if let Some(n) = &c.name {
                    vec![n.clone()]
                } else {
                    Vec::new()
                };
                for w in what {
                    *e.2.entry(w).or_default() += 1;
                }
            }
            for a in avoidable(df) {
                let k = serde_json::to_value(a.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                *acc.avoidable.entry(k).or_default() += a.seconds;
                cc.avoidable_seconds += a.seconds;
            }
        }
        self.commits.push(cc);
    }

    pub fn finish(self) -> HistoryReport {
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        let mut dockerfiles: Vec<DockerfileHistory> = self
            .dfs
            .into_iter()
            .map(|(path, a)| {
                let mut steps: Vec<StepHistory> = a
                    .steps
                    .into_iter()
                    .map(
                        |((stage, instruction), (line, rebuilds, seconds))| StepHistory {
                            line,
                            stage,
                            instruction,
                            rebuilds,
                            seconds: r2(seconds),
                        },
                    )
                    .collect();
                steps.sort_by(|x, y| {
                    y.rebuilds
                        .cmp(&x.rebuilds)
                        .then(
                            y.seconds
                                .partial_cmp(&x.seconds)
                                .unwrap_or(std::cmp::Ordering::Equal),
                        )
                        .then(x.line.cmp(&y.line))
                });
                let mut triggers: Vec<Trigger> = a
                    .triggers
                    .into_iter()
                    .map(|((kind, _), (line, count, what))| {
                        let mut top: Vec<(String, usize)> = what.into_iter().collect();
                        top.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                        top.truncate(5);
                        Trigger {
                            kind,
                            line,
                            count,
                            top,
                        }
                    })
                    .collect();
                triggers.sort_by(|x, y| y.count.cmp(&x.count).then(x.line.cmp(&y.line)));
                let avoidable_seconds = a.avoidable.values().sum();
                DockerfileHistory {
                    path,
                    commits_rebuilding: a.commits,
                    rebuild_seconds: r2(a.seconds),
                    avoidable_seconds: r2(avoidable_seconds),
                    avoidable: a.avoidable.into_iter().map(|(k, v)| (k, r2(v))).collect(),
                    steps,
                    triggers,
                }
            })
            .collect();
        dockerfiles.sort_by(|x, y| {
            y.rebuild_seconds
                .partial_cmp(&x.rebuild_seconds)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(x.path.cmp(&y.path))
        });
        let total: f64 = dockerfiles.iter().map(|d| d.rebuild_seconds).sum();
        let avoid: f64 = dockerfiles.iter().map(|d| d.avoidable_seconds).sum();
        HistoryReport {
            commits: self.commits.len(),
            total_rebuild_seconds: r2(total),
            avoidable_seconds: r2(avoid),
            avoidable_share: if total > 0.0 { r2(avoid / total) } else { 0.0 },
            dockerfiles,
            per_commit: self.commits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_and_noise() {
        assert!(is_manifest("api/package-lock.json"));
        assert!(is_manifest("requirements-dev.txt"));
        assert!(is_manifest("src/App.csproj"));
        assert!(!is_manifest("src/index.js"));
        assert!(is_noise("README.md", "Dockerfile"));
        assert!(is_noise("svc/Dockerfile", "svc/Dockerfile"));
        assert!(is_noise("docs/guide.txt", "Dockerfile"));
        assert!(!is_noise("src/main.go", "Dockerfile"));
    }
}
