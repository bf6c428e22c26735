//! What a rebuild costs, in seconds: per step from real build logs when they are given (median
//! over logs of the `DONE` time of the vertex that maps to the step), otherwise from a model per
//! step class with a range (package installs per manager, compiles, COPY by bytes, FROM pulls by
//! image), overridable per step pattern in the configuration file. Pure: logs and configuration
//! arrive as text.

use super::buildlog::{LogBuild, VertexStatus};
use super::report::{CostSource, DockerfileReport, Kind, Status};
use super::settings::{Config, wildcard};
use super::shell::Script;
pub use super::shell::{runnable_commands, tested_files};
pub use super::shellwords::{
    MAX_CLASSIFIED_BYTES, Unclassified, existence_test, mount_covers, simple_commands,
};
use crate::engine::memo::{Kind as Memoized, Memo};
use std::sync::Arc;

/// What the cost model needs to know about one step of the head Dockerfile.
#[derive(Debug, Clone)]
pub struct StepFact {
    pub line: u32,
    pub kind: Kind,
    /// Stage display name and position `k` in BuildKit's `[stage k/n]` numbering.
    pub stage: Arc<str>,
    pub position: Option<u32>,
    /// Texts a progress log may print for the step (whitespace collapsed), raw and expanded.
    pub texts: Arc<[String]>,
    /// The raw text with each variable reference as `*`: BuildKit prints the values of the
    /// build that ran, which for a changed ARG are the old ones.
    pub pattern: Option<Arc<str>>,
    /// RUN: the command text (heredoc bodies included); FROM: the normalised image reference.
    pub command: Arc<str>,
    /// RUN: targets of `--mount=type=cache` that hold what earlier builds left (none on a fresh
    /// CI runner: no cache backend exports a cache mount).
    pub cache_mounts: Arc<[String]>,
    /// COPY/ADD: bytes under the sources, when the listing holds them.
    pub bytes: Option<u64>,
    /// ADD of a URL.
    pub remote: bool,
    /// RUN: download classes this step repeats because an earlier step downloaded into a cache
    /// mount this step does not mount (`go mod download` under a mount, then `go build`
    /// without it: the modules are not in the image, so the build fetches them all again).
    pub refetch: Arc<[&'static str]>,
    /// RUN: files its existence tests look for that are absent from the context (as written in
    /// the test): what they guard (`if [ -f requirements.txt ]; then pip install …; fi`) does
    /// not run and costs nothing.
    pub absent_files: Vec<String>,
}

pub use super::tools::{Download, Estimate};

/// How a RUN text relates to a download: `downloads` when it runs the download, `consumer`
/// `Some(offline)` when it runs a reader of the downloads (without being the download itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadUse {
    pub downloads: bool,
    pub consumer: Option<bool>,
}

/// A RUN text lexed by the shell model: once per text, since every kind of download, every
/// rule, every build and every commit of `history` asks about the same texts (kept in the
/// caller's memo).
fn script(memo: &Memo, command: &str) -> std::sync::Arc<Script> {
    memo.get_or(Memoized::Commands, command, || {
        std::sync::Arc::new(Script::parse(command))
    })
}

/// Every download-only command of the tool table.
pub fn downloads() -> impl Iterator<Item = &'static Download> {
    super::tools::downloads().map(|(_, d)| d)
}

/// How a RUN text relates to each download, in the order of [`downloads`]: once per text (kept
/// in the caller's memo), since the cost facts and CB004 ask about every download for every RUN
/// and the RUNs above it.
pub fn download_uses(memo: &Memo, command: &str) -> std::sync::Arc<[DownloadUse]> {
    memo.get_or(Memoized::Uses, command, || {
        let s = script(memo, command);
        downloads().map(|d| use_in(&s, d)).collect()
    })
}

fn use_in(s: &Script, d: &Download) -> DownloadUse {
    let mut downloads = false;
    let mut consumer: Option<bool> = None;
    for c in s.commands() {
        let Some(p) = &c.program else { continue };
        if p.runs(d.words) {
            downloads = true;
            continue;
        }
        if p.runs_any(d.consumers) {
            let offline = c
                .words
                .iter()
                .any(|w| d.offline_flags.contains(&w.as_str()));
            consumer = Some(consumer.unwrap_or(false) || offline);
        }
    }
    DownloadUse {
        downloads,
        consumer,
    }
}

/// The estimate for a RUN with no recognised command.
const GENERIC_RUN: Estimate = Estimate::new(2.0, 0.2, 15.0);

/// Model estimate of a RUN: each simple command classified by its program and arguments, the
/// recognised classes summed (each once), halved for package managers whose cache directory is
/// a cache mount the step does not empty itself (`super::cleans`). A command too long or with
/// unbalanced quotes gets the generic range, and the reason is returned.
pub fn model_run(
    command: &str,
    cache_mounts: &[String],
) -> (Estimate, Vec<&'static str>, Option<Unclassified>) {
    model_run_in(command, cache_mounts, &[], &[])
}

/// [`model_run`] knowing more of the step: files its tests find absent (what they guard does
/// not run) and download classes it repeats (see [`StepFact::refetch`], added at full cost).
pub fn model_run_in(
    command: &str,
    cache_mounts: &[String],
    absent: &[String],
    refetch: &[&'static str],
) -> (Estimate, Vec<&'static str>, Option<Unclassified>) {
    let commands = match runnable_commands(command, absent) {
        Ok(c) => c,
        Err(why) => return (GENERIC_RUN, Vec::new(), Some(why)),
    };
    // `sh -c "…"` runs its script: its commands count too (one level); `mvn -v` builds nothing
    let programs: Vec<super::shell::Program> = super::shell::commands_of(&commands)
        .into_iter()
        .filter(|(w, p)| !super::tools::version_check(w, p))
        .map(|(_, p)| p)
        .collect();
    let mut total: Option<Estimate> = None;
    let mut labels = Vec::new();
    for tool in super::tools::TOOLS {
        let Some(est) = tool.cost else { continue };
        if labels.contains(&tool.label) || !programs.iter().any(|p| tool.priced(p)) {
            continue;
        }
        let mut e = est;
        // a mount the step empties itself (`npm cache clean --force`) keeps nothing
        if tool.mount_dirs.iter().any(|d| {
            cache_mounts.iter().any(|m| {
                m.contains(d.trim_start_matches('.')) && !super::cleans::empties(command, m)
            })
        }) {
            e = e.scale(0.5);
        }
        total = Some(total.map_or(e, |t| t.plus(e)));
        labels.push(tool.label);
    }
    // a sleep of a literal duration costs what it waits
    let slept: f64 = programs
        .iter()
        .filter_map(super::tools::sleep_seconds)
        .sum();
    if slept > 0.0 {
        let e = Estimate::new(slept, slept, slept);
        total = Some(total.map_or(e, |t| t.plus(e)));
        labels.push("sleep");
    }
    for r in refetch {
        if let Some(est) = super::tools::labelled(r).and_then(|t| t.cost) {
            total = Some(total.map_or(est, |t| t.plus(est)));
        }
    }
    (total.unwrap_or(GENERIC_RUN), labels, None)
}

/// How many programs an "unknown" label names at most.
const UNPRICED_NAMED: usize = 3;

/// The programs of a RUN that the model cannot price: neither a tool of the table nor a cheap
/// command (`./build.sh`, `bench migrate`, `chmod -R …`), in order, each once. Empty when the
/// text cannot be read (it gets the generic range and says why).
pub fn unpriced(command: &str, absent: &[String]) -> Vec<String> {
    let Ok(commands) = runnable_commands(command, absent) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (w, p) in super::shell::commands_of(&commands) {
        if super::tools::priced(&p) || super::tools::cheap(&w, &p) {
            continue;
        }
        if !out.contains(&p.name) {
            out.push(p.name);
        }
    }
    out
}

/// Approximate compressed size in MB of a base image, from its name and tag.
fn image_megabytes(reference: &str) -> f64 {
    let r = reference.to_ascii_lowercase();
    let name = r.rsplit('/').next().unwrap_or(&r);
    let (repo, tag) = name.split_once(':').unwrap_or((name, "latest"));
    let tag = tag.split('@').next().unwrap_or(tag);
    let slim = tag.contains("slim");
    let alpine = tag.contains("alpine");
    match repo {
        "scratch" => 0.0,
        "busybox" => 2.0,
        "alpine" => 4.0,
        _ if r.contains("distroless") => 10.0,
        "debian" | "ubuntu" => {
            if slim {
                30.0
            } else {
                50.0
            }
        }
        "node" => {
            if alpine {
                50.0
            } else if slim {
                80.0
            } else {
                400.0
            }
        }
        "python" => {
            if alpine {
                20.0
            } else if slim {
                50.0
            } else {
                370.0
            }
        }
        "golang" => {
            if alpine {
                90.0
            } else {
                300.0
            }
        }
        "rust" => {
            if alpine {
                300.0
            } else if slim {
                250.0
            } else {
                550.0
            }
        }
        "nginx" | "httpd" | "caddy" => {
            if alpine {
                20.0
            } else {
                70.0
            }
        }
        "openjdk" | "eclipse-temurin" | "maven" | "gradle" => 200.0,
        "ruby" | "php" => {
            if alpine {
                40.0
            } else {
                300.0
            }
        }
        _ => 150.0,
    }
}

/// What the model makes of a RUN: its tool classes, and its estimate and label.
struct RunModel {
    classes: Vec<String>,
    step: (Option<Estimate>, String),
}

/// [`model_step`] of a RUN with its classes, remembered in `kept` by what they are made of (a
/// history prices the same RUN texts at every commit, and again for every fix it measures).
fn run_model(kept: &Memo, f: &StepFact) -> std::sync::Arc<RunModel> {
    let key = format!(
        "{}\0{}\0{}\0{}",
        f.command,
        f.cache_mounts.join("\n"),
        f.absent_files.join("\n"),
        f.refetch.join("\n")
    );
    kept.get_or(super::memo::Kind::RunModel, &key, || {
        std::sync::Arc::new(RunModel {
            classes: model_run_in(&f.command, &f.cache_mounts, &f.absent_files, &f.refetch)
                .1
                .into_iter()
                .map(str::to_string)
                .collect(),
            step: model_step(f),
        })
    })
}

/// Model estimate of one step.
/// `None` for a RUN the model cannot price (see [`unpriced`]): its label starts with
/// `unknown`, and it adds nothing to the totals.
pub fn model_step(f: &StepFact) -> (Option<Estimate>, String) {
    let (e, label) = match f.kind {
        Kind::Run => return model_run_step(f),
        Kind::Copy | Kind::Add if f.remote => (Estimate::new(2.0, 0.5, 30.0), "download".into()),
        Kind::Copy | Kind::Add => match f.bytes {
            Some(b) => {
                let mb = b as f64 / 1_000_000.0;
                (
                    Estimate::new(0.2 + mb / 40.0, 0.1 + mb / 150.0, 1.0 + mb / 10.0),
                    format!("copy of {:.1} MB", mb),
                )
            }
            None => (
                Estimate::new(0.5, 0.1, 5.0),
                "copy (size not listed)".into(),
            ),
        },
        Kind::Workdir => (Estimate::new(0.1, 0.05, 0.5), "mkdir".into()),
        // a stage (`FROM build`): nothing to pull, it starts from the stage's result
        Kind::From if f.command.is_empty() => (Estimate::new(0.0, 0.0, 0.0), "a stage".into()),
        Kind::From => {
            let mb = image_megabytes(&f.command);
            (
                Estimate::new(2.0 + mb / 40.0, 1.0 + mb / 150.0, 5.0 + mb / 10.0),
                format!("pull of ~{mb:.0} MB"),
            )
        }
        _ => (Estimate::new(0.0, 0.0, 0.0), String::new()),
    };
    (Some(e), label)
}

/// [`model_step`] of a RUN: `None` with an `unknown: no model for …` label when it runs
/// commands the model cannot price, else its estimate and the classes it found.
fn model_run_step(f: &StepFact) -> (Option<Estimate>, String) {
    let (e, labels, why) = model_run_in(&f.command, &f.cache_mounts, &f.absent_files, &f.refetch);
    if why.is_none() && labels.is_empty() && f.refetch.is_empty() {
        let names = unpriced(&f.command, &f.absent_files);
        if !names.is_empty() {
            return (None, unpriced_label(&names));
        }
    }
    let label = run_label(why, &labels, f);
    let label = if f.absent_files.is_empty() {
        label
    } else {
        format!(
            "{label}; not run: tests of {} absent from the context",
            f.absent_files
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    (Some(e), label)
}

/// The label of a RUN the model cannot price: the first `UNPRICED_NAMED` commands it does not
/// know, and how many more.
fn unpriced_label(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(UNPRICED_NAMED)
        .map(|n| format!("`{}`", n.replace('`', "'")))
        .collect();
    let more = names.len().saturating_sub(UNPRICED_NAMED);
    format!(
        "unknown: no model for {}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The label of a priced RUN: why it was not classified, or its classes and the downloads it
/// repeats.
fn run_label(why: Option<Unclassified>, labels: &[&str], f: &StepFact) -> String {
    match why {
        Some(Unclassified::TooLong) => format!(
            "RUN longer than {} KB, not classified (generic range)",
            MAX_CLASSIFIED_BYTES / 1024
        ),
        Some(Unclassified::UnbalancedQuotes) => {
            "RUN with unbalanced quotes, not classified (generic range)".to_string()
        }
        None if labels.is_empty() && f.refetch.is_empty() => "RUN (no known tool)".to_string(),
        None => {
            let mut l = labels.join(" + ");
            for r in f.refetch.iter() {
                if !l.is_empty() {
                    l.push_str(" + ");
                }
                l.push_str(&format!(
                    "{r} again (an earlier step downloaded into a cache mount this step does not mount)"
                ));
            }
            l
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How many steps of `facts` a build log's vertices map to.
pub fn match_count(log: &LogBuild, facts: &[StepFact]) -> usize {
    facts
        .iter()
        .filter(|f| !vertices_for(log, f).is_empty())
        .count()
}

/// Log vertices that are this step: same instruction text (in the same stage when the log
/// names stages), or for FROM the first vertex of the stage.
pub fn vertices_for<'a>(log: &'a LogBuild, f: &StepFact) -> Vec<&'a super::buildlog::LogVertex> {
    log.vertices
        .iter()
        .filter(|v| {
            let Some(instr) = &v.instruction else {
                return false;
            };
            let stage_ok = match &v.stage {
                Some(s) => **s == *f.stage,
                None => true,
            };
            if !stage_ok {
                return false;
            }
            if f.kind == Kind::From {
                return instr.starts_with("FROM ") && v.step.map(|(k, _)| k) == f.position;
            }
            let t = collapse(instr);
            f.texts.contains(&t) || f.pattern.as_deref().is_some_and(|p| wildcard(p, &t))
        })
        .collect()
}

/// Seconds a step took in one log: `Some(None)` when it was cached there (no duration),
/// `None` when the log does not show it.
fn seconds_in(log: &LogBuild, f: &StepFact) -> Option<Option<f64>> {
    let vs = vertices_for(log, f);
    if vs.is_empty() {
        return None;
    }
    let done: Vec<f64> = vs
        .iter()
        .filter(|v| v.status == VertexStatus::Done)
        .filter_map(|v| v.seconds)
        .collect();
    if done.is_empty() {
        return Some(None);
    }
    // several platforms build in parallel: the slowest decides
    Some(
        done.into_iter()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The real builds that time a build's steps: `logs`, the build logs given (`--timings`, a
/// verified record), and `ci`, the build records CI uploaded for the base branch.
#[derive(Debug, Clone, Copy)]
pub struct Timed<'a, 'l> {
    pub logs: &'a [&'l LogBuild],
    pub ci: &'a [&'l LogBuild],
}

/// The median and the spread of a step's durations over `logs`, with the number of samples;
/// `None` when no log shows it run.
fn sampled(logs: &[&LogBuild], f: &StepFact) -> Option<(Estimate, usize)> {
    let mut t: Vec<f64> = logs
        .iter()
        .filter_map(|l| seconds_in(l, f))
        .flatten()
        .collect();
    if t.is_empty() {
        return None;
    }
    let m = median(&mut t);
    let lo = t.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = t.iter().cloned().fold(0.0, f64::max);
    Some((Estimate::new(m, lo, hi), t.len()))
}

/// Fill in per-step estimates and the build's totals from the real builds assigned to this
/// build: a configured cost first, then the logs given, then CI's records of the base branch
/// (`CostSource::Records`, labelled with the number of samples), then the model.
pub fn apply(
    report: &mut DockerfileReport,
    facts: &[StepFact],
    timed: Timed<'_, '_>,
    config: &Config,
    kept: &Memo,
) {
    let logs = timed.logs;
    let mut rebuild = Estimate::new(0.0, 0.0, 0.0);
    let mut full = Estimate::new(0.0, 0.0, 0.0);
    let mut untimed = Vec::new();
    let (mut unknown, mut unknown_rebuilt) = (0usize, 0usize);
    for step in report.steps.iter_mut() {
        if step.status == Status::Unused {
            continue;
        }
        let Some(f) = facts.iter().find(|f| f.line == step.line) else {
            continue;
        };
        let run = (f.kind == Kind::Run).then(|| run_model(kept, f));
        if let Some(m) = &run {
            step.classes = m.classes.clone();
        }
        let over = config.cost.iter().find(|r| {
            wildcard(&r.pattern, &step.instruction)
                && r.dockerfile
                    .as_deref()
                    .is_none_or(|d| wildcard(d, &report.path))
        });
        let (est, source, label): (Option<Estimate>, _, _) = if let Some(r) = over {
            let [lo, hi] = r.range.unwrap_or([r.seconds, r.seconds]);
            (
                Some(Estimate::new(r.seconds, lo, hi)),
                CostSource::Config,
                Some(format!("configured for `{}`", r.pattern)),
            )
        } else if let Some((e, _)) = sampled(logs, f) {
            (Some(e), CostSource::Timings, None)
        } else if let Some((e, n)) = sampled(timed.ci, f) {
            (
                Some(e),
                CostSource::Records,
                Some(format!("{n} sample{}", if n == 1 { "" } else { "s" })),
            )
        } else {
            if (!logs.is_empty() || !timed.ci.is_empty()) && f.kind != Kind::From {
                untimed.push(step.line);
            }
            let (e, l) = match &run {
                Some(m) => m.step.clone(),
                None => model_step(f),
            };
            (e, CostSource::Model, Some(l))
        };
        step.cost_source = Some(source);
        step.cost_label = label;
        let Some(est) = est else {
            // the model cannot price it: counted, not guessed
            unknown += 1;
            if step.status == Status::Rebuilt {
                unknown_rebuilt += 1;
            }
            continue;
        };
        step.estimated_seconds = Some(round(est.seconds));
        let sampled = matches!(source, CostSource::Timings | CostSource::Records);
        step.estimated_range =
            (!sampled || est.low != est.high).then(|| [round(est.low), round(est.high)]);
        full = full.plus(est);
        if step.status == Status::Rebuilt {
            rebuild = rebuild.plus(est);
        }
    }
    let built = report.summary.rebuilt + report.summary.cached;
    report.cost = Some(super::report::CostSummary {
        estimated_rebuild_seconds: round(rebuild.seconds),
        estimated_rebuild_range: [round(rebuild.low), round(rebuild.high)],
        estimated_full_build_seconds: round(full.seconds),
        cached_step_share: if built == 0 {
            1.0
        } else {
            round(report.summary.cached as f64 / built as f64)
        },
        cached_step_share_warm: 1.0,
        cached_seconds_share: if full.seconds <= 0.0 {
            1.0
        } else {
            round(1.0 - rebuild.seconds / full.seconds)
        },
        logs: logs.len() + timed.ci.len(),
        steps_without_timing: untimed,
        unknown_steps: unknown,
        unknown_rebuilt_steps: unknown_rebuilt,
    });
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_classes() {
        let (e, l, _) = model_run(
            "apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
            &[],
        );
        assert_eq!(l, vec!["apt-get install", "apt-get update"]);
        assert_eq!(e.seconds, 36.0);
        let (_, l, _) = model_run("npm ci && npm run build", &[]);
        assert_eq!(l, vec!["npm install", "JS build"]);
        let (e, _, _) = model_run("npm ci", &["/root/.npm".into()]);
        assert_eq!(e.seconds, 22.5);
        let (e, l, _) = model_run("echo hi", &[]);
        assert!(l.is_empty());
        assert_eq!(e, GENERIC_RUN);
        let (_, l, _) = model_run("CGO_ENABLED=0 go build -o /out/app ./cmd", &[]);
        assert_eq!(l, vec!["go build"]);
        let (_, l, _) = model_run("/usr/local/bin/pip install -r requirements.txt", &[]);
        assert_eq!(l, vec!["pip install"]);
    }

    /// Classification by command word and arguments, not by substring (issue 14).
    #[test]
    fn classified_by_command_word() {
        let cases: &[(&str, &[&str])] = &[
            ("chmod +x ./gradlew", &[]),
            ("chmod +x ./gradlew && ./gradlew build", &["maven/gradle"]),
            ("echo 'apt-get install x' > notes.txt", &[]),
            (
                "if [ -s requirements.txt ]; then pip install -r requirements.txt; fi",
                &["pip install"],
            ),
            (
                "python3 -m pip install --no-cache-dir flask",
                &["pip install"],
            ),
            ("sudo -E apt-get install -y git", &["apt-get install"]),
            (
                "sh -c \"npm ci && npm run build\"",
                &["npm install", "JS build"],
            ),
            ("npm clean-install", &["npm install"]),
            ("grep make Makefile", &[]),
            ("cd /src && make -j4 install", &["make"]),
            ("for f in a b; do go build ./$f; done", &["go build"]),
            ("case $X in a) yarn install ;; esac", &["yarn install"]),
            ("# apt-get install\necho ok", &[]),
        ];
        for (cmd, want) in cases {
            let (_, l, why) = model_run(cmd, &[]);
            assert_eq!(why, None, "{cmd}");
            assert_eq!(&l, want, "{cmd}");
        }
    }

    /// Conditions on files absent from the context cost nothing (issue 14).
    #[test]
    fn tests_of_absent_files_guard_nothing_that_costs() {
        let absent = vec!["requirements.txt".to_string()];
        let cmd = "if [ -s requirements.txt ]; then pip install -r requirements.txt; fi";
        assert_eq!(tested_files(cmd), absent);
        let (e, l, _) = model_run_in(cmd, &[], &absent, &[]);
        assert_eq!((e, l), (GENERIC_RUN, vec![]));
        // present: it runs
        let (_, l, _) = model_run_in(cmd, &[], &[], &[]);
        assert_eq!(l, vec!["pip install"]);
        // `&&` after the test, nested ifs, else branches
        let (_, l, _) = model_run_in(
            "test -f requirements.txt && pip install -r requirements.txt; npm ci",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["npm install"]);
        let (_, l, _) = model_run_in(
            "if [ -f requirements.txt ]; then if true; then pip install x; fi; else poetry install; fi",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["poetry install"]);
        // a test of another file guards nothing
        let (_, l, _) = model_run_in(
            "if [ -f setup.py ]; then pip install .; fi",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["pip install"]);
        // a repeated download is charged
        let (e, _, _) = model_run_in("go build ./...", &[], &[], &["go mod download"]);
        assert_eq!(e.seconds, 60.0);
    }

    #[test]
    fn downloads_and_their_readers() {
        // how `command` relates to the download of `class`
        let used = |command: &str, class: &str| {
            let at = downloads().position(|d| d.class == class).unwrap();
            download_uses(&Memo::default(), command)[at]
        };
        assert!(used("go mod download -x", "go mod download").downloads);
        assert_eq!(
            used("CGO_ENABLED=0 go build -o /app .", "go mod download").consumer,
            Some(false)
        );
        assert_eq!(
            used(
                "dotnet publish -c Release --no-restore -o /out",
                "dotnet restore"
            )
            .consumer,
            Some(true)
        );
        assert!(mount_covers("/root/.nuget", "/root/.nuget/packages"));
        assert!(!mount_covers("/root/.npm", "/root/.nuget/packages"));
    }

    #[test]
    fn bad_input_falls_back_to_the_generic_range() {
        let long = format!("echo {}", "x".repeat(100_000));
        let (e, l, why) = model_run(&long, &[]);
        assert_eq!(
            (e, l.len(), why),
            (GENERIC_RUN, 0, Some(Unclassified::TooLong))
        );
        let (e, _, why) = model_run("echo 'unclosed && apt-get install x", &[]);
        assert_eq!(
            (e, why),
            (GENERIC_RUN, Some(Unclassified::UnbalancedQuotes))
        );
        // deeply nested conditionals: linear, no recursion
        let mut nested = String::new();
        for _ in 0..3_000 {
            nested.push_str("if true; then ");
        }
        nested.push_str("pip install x");
        for _ in 0..3_000 {
            nested.push_str("; fi");
        }
        let (_, l, why) = model_run(&nested, &[]);
        assert_eq!((l, why), (vec!["pip install"], None));
        let f = StepFact {
            line: 3,
            kind: Kind::From,
            stage: "app".into(),
            position: None,
            texts: Default::default(),
            pattern: None,
            command: "".into(),
            cache_mounts: Default::default(),
            bytes: None,
            remote: false,
            refetch: Default::default(),
            absent_files: vec![],
        };
        assert_eq!(model_step(&f).0.map(|e| e.seconds), Some(0.0));
    }

    fn run_fact(command: &str) -> StepFact {
        StepFact {
            line: 1,
            kind: Kind::Run,
            stage: "".into(),
            position: None,
            texts: Default::default(),
            pattern: None,
            command: command.into(),
            cache_mounts: Default::default(),
            bytes: None,
            remote: false,
            refetch: Default::default(),
            absent_files: vec![],
        }
    }

    /// Issue 31 part 5: test runners, linters, bundlers, bun, cross-compilers, docs builders
    /// and framework installers seen in the real-repository corpus are priced (with a range);
    /// a RUN the model cannot price is "unknown", with no number; a RUN of cheap commands only
    /// keeps the generic range.
    #[test]
    fn tools_of_the_corpus_are_priced_and_the_rest_is_unknown() {
        let priced: &[(&str, &str)] = &[
            ("go test -race ./...", "go test"),
            ("golangci-lint run --timeout 5m ./...", "linter"),
            ("ruff check . && mypy src", "linter"),
            ("bun install --frozen-lockfile", "bun install"),
            ("bun run build", "JS build"),
            ("xx-go build -o /out/app ./cmd/app", "go build"),
            (
                "xx-cargo build --release --target-dir ./build",
                "cargo build",
            ),
            ("xx-apk add --no-cache gcc musl-dev", "apk add"),
            (
                "bench init --skip-redis-config-generation frappe-bench",
                "framework install",
            ),
            (
                "composer create-project laravel/laravel app",
                "framework install",
            ),
            ("yarn build:web", "JS build"),
            ("npm run build-docker", "JS build"),
            ("npx vite build && npx esbuild src/x.ts", "JS build"),
            (
                "PNPM_IGNORE_SCRIPTS=none pnpm --filter backend deploy --prod /app",
                "pnpm install",
            ),
            ("pytest -q tests", "Python tests"),
            ("pnpm test", "JS tests"),
            ("cargo test --workspace", "cargo test/check"),
            ("mkdocs build --strict", "docs build"),
            ("hugo --minify", "docs build"),
            ("zig cc -o /out/x x.c", "zig build"),
            (
                "docker-php-ext-install -j$(nproc) pdo_mysql",
                "PHP extension build",
            ),
            (
                "curl -fsSL https://example.com/x.tgz | tar -xz -C /opt",
                "download",
            ),
        ];
        for (cmd, want) in priced {
            let (e, label) = model_step(&run_fact(cmd));
            let e = e.unwrap_or_else(|| panic!("{cmd}: {label}"));
            assert!(label.split(" + ").any(|l| l == *want), "{cmd}: {label}");
            assert!(e.low < e.seconds && e.seconds < e.high, "{cmd}: {e:?}");
            assert!(e.seconds >= 5.0, "{cmd}: {e:?}");
        }
        let unknown: &[(&str, &str)] = &[
            ("./build.sh --release", "unknown: no model for `build.sh`"),
            ("chmod -R 755 /app", "unknown: no model for `chmod`"),
            (
                "chmod 700 node_modules/puppeteer/.local-chromium/linux-*/chrome-linux/chrome",
                "unknown: no model for `chmod`",
            ),
            (
                "bench migrate && a && b && c",
                "unknown: no model for `bench`, `a`, `b` and 1 more",
            ),
            ("sh /install.sh", "unknown: no model for `sh`"),
        ];
        for (cmd, want) in unknown {
            assert_eq!(
                model_step(&run_fact(cmd)),
                (None, want.to_string()),
                "{cmd}"
            );
        }
        let cheap = [
            "mkdir -p /app && echo ok > /app/x",
            "useradd --system app && chown app /data",
            "chmod +x /entrypoint.sh",
            "mvn -v && go version",
            "case \"$arch\" in amd64) a=x ;; *) echo no ;; esac",
            "cat <<EOF > /etc/x\nbench init\nEOF",
            "sh -c 'ln -s /a /b'",
        ];
        for cmd in cheap {
            assert_eq!(
                model_step(&run_fact(cmd)),
                (Some(GENERIC_RUN), "RUN (no known tool)".to_string()),
                "{cmd}"
            );
        }
    }

    #[test]
    fn images() {
        assert!(
            image_megabytes("docker.io/library/node:20-alpine")
                < image_megabytes("docker.io/library/node:20")
        );
        assert_eq!(image_megabytes("docker.io/library/alpine:3.20"), 4.0);
    }
}
