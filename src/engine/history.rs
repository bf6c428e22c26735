//! A Dockerfile's cost over its history: the reports of each first-parent commit (predicted
//! against its parent) folded into counts per step, the paths and lines that trigger rebuilds,
//! the total rebuild time, and the part a fix would have saved. "Avoidable" means what the
//! engine measured for the commit: its change predicted again with a rule's fix in place on both
//! sides (the findings' `savings`, as `analyze` and the review show them); the best single fix
//! counts (fixes overlap, so their savings do not add up), never more than the rebuild itself.
//! A commit whose rebuild no fix shortens has nothing avoidable. Also the path classes CB002
//! shares: dependency manifests and files that never belong in an image.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::{DockerfileReport, Report, Status};

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

/// What the best single fix of this build would have saved on this change: (the rule's name in
/// snake case, seconds). `None` when no fix with a measured saving shortens the rebuild.
pub fn avoidable(df: &DockerfileReport) -> Option<(String, f64)> {
    let rebuild = df
        .cost
        .as_ref()
        .map_or(0.0, |c| c.estimated_rebuild_seconds);
    df.findings
        .iter()
        .filter(|f| {
            f.fix
                .as_ref()
                .is_some_and(|x| x.applicability != crate::engine::fix::Applicability::DisplayOnly)
        })
        .filter_map(|f| {
            let s = f.savings.as_ref()?;
            let saved = (s.seconds_before - s.seconds_after).min(rebuild);
            (saved > 0.05).then(|| (f.name.replace('-', "_"), saved))
        })
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
}

/// One commit of the history.
#[derive(Debug, Clone, Serialize)]
pub struct CommitCost {
    pub commit: String,
    pub subject: String,
    pub rebuilt_steps: usize,
    pub rebuild_seconds: f64,
    pub avoidable_seconds: f64,
    /// The builds this commit rebuilt something of, in the report's order.
    pub builds: Vec<CommitBuild>,
}

/// One build a commit rebuilt: which one (its Dockerfile, context, target and the files that
/// declare it), how much of it, and the changed paths that are its inputs.
#[derive(Debug, Clone, Serialize)]
pub struct CommitBuild {
    pub path: String,
    pub context: String,
    pub target: Option<String>,
    /// The files that declare the build (compose, bake, workflow, configuration); empty for a
    /// Dockerfile found by name or named on the command line.
    pub declared_in: Vec<String>,
    /// A guessed build (no declaration builds it: `report::Guess`).
    pub guessed: bool,
    /// Whether it counts in this commit's `rebuilt_steps` and `rebuild_seconds` (declared, or
    /// guessed where the repository declares no build).
    pub counted: bool,
    pub rebuilt_steps: usize,
    pub rebuild_seconds: f64,
    /// Changed paths that are inputs of this build.
    pub touched_by: Vec<String>,
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

/// Per step over the range: (latest line, commits rebuilding it, seconds, last commit counted,
/// rebuilds the model could not price).
type StepAcc = (u32, usize, f64, usize, usize);

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepHistory {
    pub line: u32,
    pub stage: String,
    pub instruction: String,
    /// Commits in which this step rebuilt.
    pub rebuilds: usize,
    pub seconds: f64,
    /// Rebuilds the cost model could not price (`unknown`): not in `seconds`.
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DockerfileHistory {
    pub path: String,
    /// A guessed build (no declaration builds it: `report::Guess`).
    pub guessed: bool,
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
    /// The builds that count (declared, or guessed where nothing is declared), most expensive
    /// first: the totals above and `per_commit` are theirs.
    pub dockerfiles: Vec<DockerfileHistory>,
    /// Guessed builds left out of the totals and the ranking (the repository declares its
    /// builds, and none of these): what they would have rebuilt.
    pub not_counted: Vec<DockerfileHistory>,
    pub not_counted_rebuild_seconds: f64,
    pub per_commit: Vec<CommitCost>,
}

/// Folds the per-commit reports into a history.
#[derive(Debug, Default)]
pub struct Accumulator {
    commits: Vec<CommitCost>,
    /// By (path, counted): a Dockerfile guessed in some commits and declared in others is two
    /// entries.
    dfs: BTreeMap<(String, bool), DfAcc>,
}

/// Latest line of the chain's first step, in how many commits it started a chain, what
/// triggered it, and the last commit counted (by index).
type TriggerAcc = (u32, usize, BTreeMap<String, usize>, usize);

#[derive(Debug, Default)]
struct DfAcc {
    guessed: bool,
    commits: usize,
    /// The last commit counted in `commits` (a Dockerfile built twice in one commit, e.g. for
    /// two targets, counts that commit once).
    last_commit: String,
    seconds: f64,
    avoidable: BTreeMap<String, f64>,
    /// (stage, instruction) → (latest line, commits, seconds, last commit counted). A Dockerfile
    /// built by several builds (other args or targets) counts a commit once, its time per build.
    steps: BTreeMap<(String, String), StepAcc>,
    /// (kind, origin instruction) → (latest line, commits, trigger → count, last commit)
    triggers: BTreeMap<(String, String), TriggerAcc>,
}

impl Accumulator {
    pub fn add(&mut self, commit: &str, subject: &str, report: &Report) {
        let index = self.commits.len();
        let mut cc = CommitCost {
            commit: commit.to_string(),
            subject: subject.to_string(),
            rebuilt_steps: 0,
            rebuild_seconds: 0.0,
            avoidable_seconds: 0.0,
            builds: Vec::new(),
        };
        for df in &report.dockerfiles {
            if df.summary.rebuilt == 0 {
                continue;
            }
            let counted = df.counted();
            let acc = self.dfs.entry((df.path.clone(), counted)).or_default();
            acc.guessed |= df.guessed.is_some();
            if acc.last_commit != commit {
                acc.commits += 1;
                acc.last_commit = commit.to_string();
            }
            // a step an earlier build of the same bake call runs is counted there
            let secs = df.counted_seconds();
            acc.seconds += secs;
            if counted {
                cc.rebuilt_steps += df.counted_rebuilt();
                cc.rebuild_seconds += secs;
            }
            cc.builds.push(CommitBuild {
                path: df.path.clone(),
                context: df.context.clone(),
                target: df.target.clone(),
                declared_in: declared_in(df),
                guessed: df.guessed.is_some(),
                counted,
                rebuilt_steps: df.counted_rebuilt(),
                rebuild_seconds: cents(secs),
                touched_by: df.touched_by.clone(),
            });
            let shared = df.shared.as_ref().map_or(&[][..], |s| s.lines.as_slice());
            for s in df.steps.iter().filter(|s| s.status == Status::Rebuilt) {
                let e = acc
                    .steps
                    .entry((s.stage.clone(), s.instruction.clone()))
                    .or_insert((s.line, 0, 0.0, usize::MAX, 0));
                e.0 = s.line;
                if e.3 != index {
                    e.1 += 1;
                    e.3 = index;
                }
                if !shared.contains(&s.line) {
                    e.2 += s.estimated_seconds.unwrap_or(0.0);
                    if s.estimated_seconds.is_none()
                        && s.cost_label
                            .as_deref()
                            .is_some_and(|l| l.starts_with("unknown"))
                    {
                        e.4 += 1;
                    }
                }
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
                    .or_insert((origin.line, 0, BTreeMap::new(), usize::MAX));
                e.0 = origin.line;
                if e.3 == index {
                    continue;
                }
                e.1 += 1;
                e.3 = index;
                let what: Vec<String> = match (c.paths(), c.name()) {
                    (Some(p), _) if !p.shown.is_empty() => p.shown.clone(),
                    (_, Some(n)) => vec![n.to_string()],
                    _ => Vec::new(),
                };
                for w in what {
                    *e.2.entry(w).or_default() += 1;
                }
            }
            if let Some((k, secs)) = avoidable(df) {
                *acc.avoidable.entry(k).or_default() += secs;
                if counted {
                    cc.avoidable_seconds += secs;
                }
            }
        }
        self.commits.push(cc);
    }

    pub fn finish(self) -> HistoryReport {
        let (counted, not_counted): (Vec<_>, Vec<_>) =
            self.dfs.into_iter().partition(|((_, counted), _)| *counted);
        let dockerfiles = ranked(counted);
        let not_counted = ranked(not_counted);
        let total: f64 = dockerfiles.iter().map(|d| d.rebuild_seconds).sum();
        let avoid: f64 = dockerfiles.iter().map(|d| d.avoidable_seconds).sum();
        HistoryReport {
            commits: self.commits.len(),
            total_rebuild_seconds: cents(total),
            avoidable_seconds: cents(avoid),
            avoidable_share: share(avoid, total),
            dockerfiles,
            not_counted_rebuild_seconds: cents(not_counted.iter().map(|d| d.rebuild_seconds).sum()),
            not_counted,
            per_commit: self.commits,
        }
    }
}

/// The files that declare a build, each once, in the order of its origins.
fn declared_in(df: &DockerfileReport) -> Vec<String> {
    use super::report::Origin;
    let mut out: Vec<String> = Vec::new();
    for o in &df.origins {
        let file = match o {
            Origin::Compose { file, .. }
            | Origin::Bake { file, .. }
            | Origin::Workflow { file, .. }
            | Origin::Config { file, .. }
            | Origin::Script { file, .. } => file,
            Origin::Cli | Origin::Discovered => continue,
        };
        if !out.contains(file) {
            out.push(file.clone());
        }
    }
    out
}

/// The folded Dockerfiles, most expensive first.
fn ranked(dfs: Vec<((String, bool), DfAcc)>) -> Vec<DockerfileHistory> {
    let mut dockerfiles: Vec<DockerfileHistory> = dfs
        .into_iter()
        .map(|((path, _), a)| {
            let mut steps: Vec<StepHistory> = a
                .steps
                .into_iter()
                .map(
                    |((stage, instruction), (line, rebuilds, seconds, _, unknown))| StepHistory {
                        line,
                        stage,
                        instruction,
                        rebuilds,
                        seconds: cents(seconds),
                        unknown,
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
                .map(|((kind, _), (line, count, what, _))| {
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
            // causes first, then what follows from a stage that rebuilt (a `COPY --from`, a
            // `FROM` of a parent stage): those repeat every cause upstream, so counted alone
            // they would outrank each of them
            let downstream = |t: &Trigger| matches!(t.kind.as_str(), "copy_from" | "parent_stage");
            triggers.sort_by(|x, y| {
                downstream(x)
                    .cmp(&downstream(y))
                    .then(y.count.cmp(&x.count))
                    .then(x.line.cmp(&y.line))
            });
            let avoidable_seconds = a.avoidable.values().sum();
            DockerfileHistory {
                path,
                guessed: a.guessed,
                commits_rebuilding: a.commits,
                rebuild_seconds: cents(a.seconds),
                avoidable_seconds: cents(avoidable_seconds),
                avoidable: a
                    .avoidable
                    .into_iter()
                    .map(|(k, v)| (k, cents(v)))
                    .collect(),
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
    dockerfiles
}

/// Rounded to cents; `+ 0.0` turns a rounded -0.0 into 0.0 (never "-0%").
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

/// `part` of `total` in cents of one, within 0 and 1: sums of floats may fall a hair outside
/// (a share of -0.004 would read "-0%", one of -0.006 "-1%").
fn share(part: f64, total: f64) -> f64 {
    if total > 0.0 && part.is_finite() {
        cents((part / total).clamp(0.0, 1.0))
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_never_read_as_negative_percentages() {
        for (part, total, want) in [
            (-1e-9, 10.0, "0%"),
            (-0.04, 10.0, "0%"),
            (-0.06, 10.0, "0%"),
            (5.0, 10.0, "50%"),
            (10.000001, 10.0, "100%"),
            (3.0, 0.0, "0%"),
            (f64::NAN, 10.0, "0%"),
        ] {
            let s = share(part, total);
            assert_eq!(format!("{:.0}%", s * 100.0), want, "{part} of {total}");
        }
        assert_eq!(format!("{:.0}", cents(-0.004) * 100.0), "0");
    }

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
