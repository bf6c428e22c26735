//! CI cache backends against real BuildKit (Docker 28.5.2 with the containerd image store, the
//! only docker-driver daemon that exports caches): each scenario is a workflow job of
//! `docker/build-push-action` steps with `cache-from` / `cache-to` (`type=local`, the offline
//! stand-in for `type=gha`: the same exporter), run once on the base tree (the previous run,
//! which exports), then on a fresh runner (build cache pruned, images removed) on the head tree,
//! every step of the job on the same builder, as a job runs. The statuses BuildKit reports for
//! each head build (rawjson: a step is cached when any update of its vertex says so) must equal
//! the table's truth, and cachebust's prediction of each step (found through the workflow, the
//! way `analyze` finds it) must equal them, step for step, on every platform.

use std::collections::HashMap;

use cachebust::adapters::fs::DirTree;
use cachebust::adapters::local::{LocalRepo, Tree};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::dockerfile::{self as df, Kind};
use cachebust::engine::report::{Confidence, Origin, Status};

use crate::buildkit::real_statuses_all;
use crate::support::docker::{self, BASE1, Daemon};
use crate::support::trees::{apply_edits, write_tree};

/// One `docker/build-push-action` step of the job.
#[derive(Clone, Copy)]
struct Step {
    target: Option<&'static str>,
    /// `cache-from` / `cache-to` (`{C}`: the scenario's cache directory); "" for none.
    from: &'static str,
    to: &'static str,
    /// More `with:` inputs: `no-cache`, `no-cache-filters`, `platforms`.
    with: &'static [(&'static str, &'static str)],
}

const fn step(target: Option<&'static str>, from: &'static str, to: &'static str) -> Step {
    Step {
        target,
        from,
        to,
        with: &[],
    }
}

struct Bk {
    name: &'static str,
    /// The behaviour it covers.
    what: &'static str,
    base: &'static [(&'static str, &'static str)],
    head: &'static [(&'static str, Option<&'static str>)],
    steps: &'static [Step],
    /// The base revision's workflow, when the change edits it.
    base_steps: Option<&'static [Step]>,
    /// Per step: the head Dockerfile's steps in file order (`-` FROM, `C` cached, `R` ran, `U`
    /// not built for the target).
    expect: &'static [&'static str],
    /// Lines where the outcome depends on build output (the prediction says `likely`).
    likely: &'static [u32],
}

const MIN: Step = step(
    None,
    "type=local,src={C}/c",
    "type=local,dest={C}/c,mode=min",
);
const MAX: Step = step(
    None,
    "type=local,src={C}/c",
    "type=local,dest={C}/c,mode=max",
);
const NO_CACHE_DECLARED: Step = step(None, "", "");
const EXPORT_ONLY_MAX: Step = step(None, "", "type=local,dest={C}/c,mode=max");
const EXPORT_ONLY_MIN: Step = step(None, "", "type=local,dest={C}/c");
const SCOPE_A: Step = step(
    Some("app1"),
    "type=local,src={C}/a",
    "type=local,dest={C}/a,mode=max",
);
const SCOPE_B: Step = step(
    Some("app2"),
    "type=local,src={C}/b",
    "type=local,dest={C}/b,mode=max",
);

const TWO: &str = "FROM {B1} AS build
RUN echo deps > /deps.txt
COPY src.txt /src.txt
RUN cat /deps.txt /src.txt > /out.txt

FROM {B1}
COPY app.txt /app.txt
RUN echo final-base > /base.txt
COPY --from=build /out.txt /out.txt
COPY late.txt /late.txt
";

const TWO_FILES: &[(&str, &str)] = &[
    ("Dockerfile", TWO),
    ("src.txt", "v1\n"),
    ("app.txt", "app\n"),
    ("late.txt", "late\n"),
    ("notes.txt", "notes\n"),
];

const MID: &str = "FROM {B1} AS base
RUN echo base > /base.txt

FROM base AS tools
RUN echo tools > /tools.txt

FROM {B1} AS gen
RUN echo gen > /gen.txt
COPY gen.txt /g
RUN cat /g >> /gen.txt

FROM tools AS mid
WORKDIR /app
RUN echo mid > mid.txt
COPY --from=gen /gen.txt /app/gen.txt
COPY mid.txt /app/m
RUN cat m

FROM mid AS final
COPY fin.txt /fin
RUN echo final
";

const MID_FILES: &[(&str, &str)] = &[
    ("Dockerfile", MID),
    ("gen.txt", "g1\n"),
    ("mid.txt", "m1\n"),
    ("fin.txt", "f1\n"),
    ("notes.txt", "notes\n"),
];

const SHARED: &str = "FROM {B1} AS common
RUN echo common > /common.txt

FROM common AS app1
COPY one.txt /one
RUN cat /one > /app1.txt

FROM common AS app2
COPY two.txt /two
RUN cat /two > /app2.txt
";

const SHARED_FILES: &[(&str, &str)] = &[
    ("Dockerfile", SHARED),
    ("one.txt", "1\n"),
    ("two.txt", "2\n"),
    ("notes.txt", "notes\n"),
];

const PLAT: &str = "FROM --platform=$BUILDPLATFORM {B1} AS build
RUN echo deps > /deps.txt
COPY src.txt /src.txt
ARG TARGETARCH
RUN cat /deps.txt /src.txt > /out.txt && echo $TARGETARCH >> /out.txt

FROM scratch
COPY --from=build /out.txt /out.txt
";

const PLAT_FILES: &[(&str, &str)] = &[
    ("Dockerfile", PLAT),
    ("src.txt", "v1\n"),
    ("notes.txt", "notes\n"),
];

const PLATFORMS: &[(&str, &str)] = &[("platforms", "linux/amd64,linux/386")];

const BUILDERS: &str = "FROM {B1} AS a
RUN echo a-deps > /a
COPY a.txt /a.txt

FROM {B1} AS b
RUN echo b-deps > /b
COPY b.txt /b.txt

FROM {B1}
COPY --from=a /a.txt /a.txt
COPY --from=b /b.txt /b.txt
";

const BUILDERS_FILES: &[(&str, &str)] = &[
    ("Dockerfile", BUILDERS),
    ("a.txt", "a1\n"),
    ("b.txt", "b1\n"),
];

const CHILD: &str = "FROM {B1} AS build
RUN echo deps > /deps
COPY src.txt /src

FROM build AS final
COPY late.txt /late
";

const CHILD_FILES: &[(&str, &str)] = &[
    ("Dockerfile", CHILD),
    ("src.txt", "s1\n"),
    ("late.txt", "l1\n"),
];

fn scenarios() -> Vec<Bk> {
    let unrelated: &'static [(&str, Option<&str>)] = &[("notes.txt", Some("changed\n"))];
    vec![
        Bk {
            name: "min-nothing-changed",
            what: "mode=min, no input changed: every step hits, the builder's too",
            base: TWO_FILES,
            head: unrelated,
            steps: &[MIN],
            base_steps: None,
            expect: &["- C C C - C C C C"],
            likely: &[],
        },
        Bk {
            name: "min-builder-source-changed",
            what: "mode=min, a file the builder copies: the builder's RUN above it runs again",
            base: TWO_FILES,
            head: &[("src.txt", Some("v2\n"))],
            steps: &[MIN],
            base_steps: None,
            expect: &["- R R R - C C R R"],
            likely: &[],
        },
        Bk {
            name: "max-builder-source-changed",
            what: "mode=max, the same change: the builder's RUN above it stays cached",
            base: TWO_FILES,
            head: &[("src.txt", Some("v2\n"))],
            steps: &[MAX],
            base_steps: None,
            expect: &["- C R R - C C R R"],
            likely: &[],
        },
        Bk {
            name: "min-final-change-after-copy-from",
            what: "mode=min, a change after every COPY --from: the builder stays a hit",
            base: TWO_FILES,
            head: &[("late.txt", Some("late2\n"))],
            steps: &[MIN],
            base_steps: None,
            expect: &["- C C C - C C C R"],
            likely: &[],
        },
        Bk {
            name: "min-final-change-before-copy-from",
            what: "mode=min, a change in the final stage before COPY --from: the whole builder runs",
            base: TWO_FILES,
            head: &[("app.txt", Some("app2\n"))],
            steps: &[MIN],
            base_steps: None,
            expect: &["- R R R - R R R R"],
            likely: &[],
        },
        Bk {
            name: "max-final-change-before-copy-from",
            what: "mode=max, the same change: the builder stays a hit",
            base: TWO_FILES,
            head: &[("app.txt", Some("app2\n"))],
            steps: &[MAX],
            base_steps: None,
            expect: &["- C C C - R R R R"],
            likely: &[],
        },
        Bk {
            name: "no-cache",
            what: "no-cache: true re-runs every step whatever the cache holds",
            base: TWO_FILES,
            head: unrelated,
            steps: &[Step {
                with: &[("no-cache", "true")],
                ..MAX
            }],
            base_steps: Some(&[MAX]),
            expect: &["- R R R - R R R R"],
            likely: &[],
        },
        Bk {
            name: "cache-added-by-the-change",
            what: "the change adds cache-from/cache-to: the previous run exported nothing",
            base: TWO_FILES,
            head: unrelated,
            steps: &[MAX],
            base_steps: Some(&[NO_CACHE_DECLARED]),
            expect: &["- R R R - R R R R"],
            likely: &[],
        },
        Bk {
            name: "min-middle-target-own-change",
            what: "mode=min, middle-stage target: its parents and the stage it copies from hit",
            base: MID_FILES,
            head: &[("mid.txt", Some("m2\n"))],
            steps: &[Step {
                target: Some("mid"),
                ..MIN
            }],
            base_steps: None,
            expect: &["- C - C - C C C - C C C R R - U U"],
            likely: &[],
        },
        Bk {
            name: "min-middle-target-copied-stage-change",
            what: "mode=min, middle-stage target: a change in the stage it copies from re-runs all of it",
            base: MID_FILES,
            head: &[("gen.txt", Some("g2\n"))],
            steps: &[Step {
                target: Some("mid"),
                ..MIN
            }],
            base_steps: None,
            expect: &["- C - C - R R R - C C R R R - U U"],
            likely: &[],
        },
        Bk {
            name: "max-middle-target-copied-stage-change",
            what: "mode=max, the same change: the copied-from stage keeps its first step",
            base: MID_FILES,
            head: &[("gen.txt", Some("g2\n"))],
            steps: &[Step {
                target: Some("mid"),
                ..MAX
            }],
            base_steps: None,
            expect: &["- C - C - C R R - C C R R R - U U"],
            likely: &[],
        },
        Bk {
            name: "min-final-target-own-change",
            what: "mode=min, a change in the last stage: the stages it is built FROM hit",
            base: MID_FILES,
            head: &[("fin.txt", Some("f2\n"))],
            steps: &[Step {
                target: Some("final"),
                ..MIN
            }],
            base_steps: None,
            expect: &["- C - C - C C C - C C C C C - R R"],
            likely: &[],
        },
        Bk {
            name: "no-cache-filters-middle-stage",
            what: "no-cache-filters: mid re-runs the stage but its WORKDIR, and the stage built FROM it",
            base: MID_FILES,
            head: unrelated,
            steps: &[Step {
                target: Some("final"),
                with: &[("no-cache-filters", "mid")],
                ..MAX
            }],
            base_steps: Some(&[Step {
                target: Some("final"),
                ..MAX
            }]),
            expect: &["- C - C - C C C - C R R R R - R R"],
            likely: &[],
        },
        Bk {
            name: "no-cache-filters-copied-stage",
            what: "no-cache-filters: gen re-runs gen; COPY --from=gen hits on the same bytes",
            base: MID_FILES,
            head: unrelated,
            steps: &[Step {
                target: Some("final"),
                with: &[("no-cache-filters", "gen")],
                ..MAX
            }],
            base_steps: Some(&[Step {
                target: Some("final"),
                ..MAX
            }]),
            expect: &["- C - C - R R R - C C C C C - C C"],
            likely: &[15],
        },
        Bk {
            name: "no-cache-filters-first-stage",
            what: "no-cache-filters: base re-runs it and every stage built FROM it",
            base: MID_FILES,
            head: unrelated,
            steps: &[Step {
                target: Some("final"),
                with: &[("no-cache-filters", "base")],
                ..MAX
            }],
            base_steps: Some(&[Step {
                target: Some("final"),
                ..MAX
            }]),
            expect: &["- R - R - C C C - R R R R R - R R"],
            likely: &[],
        },
        Bk {
            name: "shared-scope-two-targets",
            what: "two targets export to one place: each imports the other's export and misses its own steps",
            base: SHARED_FILES,
            head: unrelated,
            steps: &[
                Step {
                    target: Some("app1"),
                    ..MAX
                },
                Step {
                    target: Some("app2"),
                    ..MAX
                },
            ],
            base_steps: None,
            expect: &["- C - R R - U U", "- C - U U - R R"],
            likely: &[],
        },
        Bk {
            name: "shared-scope-two-targets-min",
            what: "the same with mode=min",
            base: SHARED_FILES,
            head: unrelated,
            steps: &[
                Step {
                    target: Some("app1"),
                    ..MIN
                },
                Step {
                    target: Some("app2"),
                    ..MIN
                },
            ],
            base_steps: None,
            expect: &["- C - R R - U U", "- C - U U - R R"],
            likely: &[],
        },
        Bk {
            name: "scope-per-target",
            what: "a scope per target: both hit",
            base: SHARED_FILES,
            head: unrelated,
            steps: &[SCOPE_A, SCOPE_B],
            base_steps: None,
            expect: &["- C - C C - U U", "- C - U U - C C"],
            likely: &[],
        },
        Bk {
            name: "scope-per-target-own-change",
            what: "a scope per target, one target's file changed: the other's build hits",
            base: SHARED_FILES,
            head: &[("one.txt", Some("one\n"))],
            steps: &[SCOPE_A, SCOPE_B],
            base_steps: None,
            expect: &["- C - R R - U U", "- C - U U - C C"],
            likely: &[],
        },
        Bk {
            name: "two-platforms-min-source-changed",
            what: "two platforms, mode=min: each platform's build re-runs the builder",
            base: PLAT_FILES,
            head: &[("src.txt", Some("v2\n"))],
            steps: &[Step {
                with: PLATFORMS,
                ..MIN
            }],
            base_steps: None,
            expect: &["- R R R - R"],
            likely: &[],
        },
        Bk {
            name: "two-platforms-max-source-changed",
            what: "two platforms, mode=max: the shared first step hits",
            base: PLAT_FILES,
            head: &[("src.txt", Some("v2\n"))],
            steps: &[Step {
                with: PLATFORMS,
                ..MAX
            }],
            base_steps: None,
            expect: &["- C R R - R"],
            likely: &[],
        },
        Bk {
            name: "two-platforms-min-nothing-changed",
            what: "two platforms, mode=min, nothing changed: every step hits on both",
            base: PLAT_FILES,
            head: unrelated,
            steps: &[Step {
                with: PLATFORMS,
                ..MIN
            }],
            base_steps: None,
            expect: &["- C C C - C"],
            likely: &[],
        },
        Bk {
            name: "min-two-builders-first-changed",
            what: "mode=min, two builders: a change in the first re-runs the second, whose result the next COPY --from needs",
            base: BUILDERS_FILES,
            head: &[("a.txt", Some("a2\n"))],
            steps: &[MIN],
            base_steps: None,
            expect: &["- R R - R R - R R"],
            likely: &[],
        },
        Bk {
            name: "max-two-builders-first-changed",
            what: "mode=max, the same change: the second builder hits",
            base: BUILDERS_FILES,
            head: &[("a.txt", Some("a2\n"))],
            steps: &[MAX],
            base_steps: None,
            expect: &["- C R - C C - R R"],
            likely: &[],
        },
        Bk {
            name: "min-target-built-from-the-builder",
            what: "mode=min, a target built FROM the builder stage: the builder's layers are exported",
            base: CHILD_FILES,
            head: &[("late.txt", Some("l2\n"))],
            steps: &[MIN],
            base_steps: None,
            expect: &["- C C - R"],
            likely: &[],
        },
        Bk {
            name: "max-export-never-imported",
            what: "a mode=max export and no import: the runner starts empty and every step runs",
            base: TWO_FILES,
            head: &[("src.txt", Some("v2\n"))],
            steps: &[EXPORT_ONLY_MAX],
            base_steps: None,
            expect: &["- R R R - R R R R"],
            likely: &[],
        },
        Bk {
            name: "min-export-never-imported",
            what: "a mode=min export and no import, a change after every COPY --from: every step runs",
            base: TWO_FILES,
            head: &[("late.txt", Some("late2\n"))],
            steps: &[EXPORT_ONLY_MIN],
            base_steps: None,
            expect: &["- R R R - R R R R"],
            likely: &[],
        },
    ]
}

/// The workflow that runs `steps` (one job: the steps share a builder).
fn workflow(steps: &[Step], cache: &str) -> String {
    // the job restores the local cache directory between runs, as `actions/cache` does on a
    // runner (here the directory stays on disk)
    let mut y = format!(
        "name: images\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/cache@v4\n        with:\n          path: {cache}/c\n          key: buildx\n      - uses: docker/setup-buildx-action@v3\n",
    );
    for (i, s) in steps.iter().enumerate() {
        y.push_str(&format!(
            "      - name: s{}\n        uses: docker/build-push-action@v6\n        with:\n          context: .\n",
            i + 1
        ));
        if let Some(t) = s.target {
            y.push_str(&format!("          target: {t}\n"));
        }
        if !s.from.is_empty() {
            y.push_str(&format!(
                "          cache-from: {}\n",
                s.from.replace("{C}", cache)
            ));
        }
        if !s.to.is_empty() {
            y.push_str(&format!(
                "          cache-to: {}\n",
                s.to.replace("{C}", cache)
            ));
        }
        for (k, v) in s.with {
            y.push_str(&format!("          {k}: {v}\n"));
        }
    }
    y
}

/// What docker/build-push-action passes to buildx for a step.
fn buildx_args(s: &Step, cache: &str) -> Vec<String> {
    let mut a = Vec::new();
    let from = s.from.replace("{C}", cache);
    // a fresh scope holds nothing: the import finds nothing (buildx refuses a missing directory)
    let exists = from
        .split(',')
        .find_map(|f| f.strip_prefix("src="))
        .is_some_and(|d| std::path::Path::new(d).join("index.json").exists());
    if !from.is_empty() && exists {
        a.push("--cache-from".into());
        a.push(from);
    }
    if !s.to.is_empty() {
        a.push("--cache-to".into());
        a.push(s.to.replace("{C}", cache));
    }
    for (k, v) in s.with {
        match *k {
            "no-cache" if *v == "true" => a.push("--no-cache".into()),
            "no-cache-filters" => {
                a.push("--no-cache-filter".into());
                a.push(v.to_string());
            }
            "platforms" => {
                a.push("--platform".into());
                a.push(v.to_string());
            }
            _ => {}
        }
    }
    a
}

fn steps_of(text: &str) -> Vec<(u32, Kind)> {
    df::parse(text)
        .instructions
        .iter()
        .filter(|i| i.kind.is_step())
        .map(|i| (i.line, i.kind))
        .collect()
}

#[test]
fn the_backend_table_is_large_and_well_formed() {
    let all = scenarios();
    assert!(all.len() >= 20, "{} scenarios", all.len());
    let mut names = std::collections::HashSet::new();
    for s in &all {
        assert!(names.insert(s.name), "{} twice", s.name);
        assert_eq!(s.expect.len(), s.steps.len(), "{}", s.name);
        let text = s.base.iter().find(|(p, _)| *p == "Dockerfile").unwrap().1;
        let n = steps_of(text).len();
        for e in s.expect {
            assert_eq!(e.split_whitespace().count(), n, "{}: {e}", s.name);
        }
    }
    for kind in ["mode=min", "mode=max", "no-cache", "platforms"] {
        assert!(
            all.iter()
                .any(|s| s.steps.iter().any(|st| st.to.contains(kind)
                    || st
                        .with
                        .iter()
                        .any(|(k, v)| k.contains(kind) || v.contains(kind)))),
            "{kind}"
        );
    }
}

/// The prediction of each step of the job, found through the workflow as `analyze` finds it.
async fn predict(
    base: &std::path::Path,
    head: &std::path::Path,
) -> HashMap<String, cachebust::engine::report::DockerfileReport> {
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(base).unwrap()),
        Tree::Dir(DirTree::open(head).unwrap()),
    );
    let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
    opts.config = cachebust::engine::config::parse(
        "cachebust.yml",
        "builder:\n  driver: docker\n",
        &cachebust::engine::rules::codes(),
    )
    .unwrap();
    opts.report_all = true;
    let report = analyze(&repo, &opts).await.unwrap();
    let mut out = HashMap::new();
    for d in report.dockerfiles {
        for o in &d.origins {
            if let Origin::Workflow { step, .. } = o {
                out.insert(step.clone(), d.clone());
            }
        }
    }
    out
}

/// One job's builds for real: the previous run on `base` (it exports), then this run on a fresh
/// runner on `head`, each step with its buildx arguments (cache flags from `args`), every step of
/// the job on one builder. The log of each head build.
struct Job<'a> {
    d: &'a docker::Docker,
    name: &'a str,
    builds: usize,
    seconds: f64,
}

impl Job<'_> {
    /// `steps`: the number of steps of the base's job and of the head's; `args(head, i)`: step
    /// i's target and buildx arguments, asked for when the step runs (an import is passed only
    /// when its directory holds a cache by then).
    fn run(
        &mut self,
        base: &std::path::Path,
        head: &std::path::Path,
        steps: (usize, usize),
        args: &dyn Fn(bool, usize) -> (Option<&'static str>, Vec<String>),
    ) -> Vec<String> {
        let tags: Vec<String> = (0..steps.0.max(steps.1))
            .map(|i| format!("cbci/{}:{i}", self.name))
            .collect();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.d.fresh_runner(&tag_refs);
        for (i, tag) in tags.iter().enumerate().take(steps.0) {
            let (target, args) = args(false, i);
            let b = self.d.buildx(base, target, &args, tag);
            self.seconds += b.seconds;
            self.builds += 1;
            assert!(
                b.ok,
                "{}: base build s{} failed:\n{}",
                self.name,
                i + 1,
                b.log
            );
        }
        self.d.fresh_runner(&tag_refs);
        let mut logs = Vec::new();
        for (i, tag) in tags.iter().enumerate().take(steps.1) {
            let (target, args) = args(true, i);
            let h = self.d.buildx(head, target, &args, tag);
            self.seconds += h.seconds;
            self.builds += 1;
            assert!(
                h.ok,
                "{}: head build s{} failed:\n{}",
                self.name,
                i + 1,
                h.log
            );
            logs.push(h.log);
        }
        self.d.fresh_runner(&tag_refs);
        logs
    }
}

/// Each step's prediction against what BuildKit reported for it (and, with `expect`, the
/// table's truth); mismatches go to `failures`. Returns the steps compared.
fn compare(
    label: &str,
    likely: &[u32],
    text: &str,
    logs: &[String],
    expect: Option<&[&str]>,
    predicted: &HashMap<String, cachebust::engine::report::DockerfileReport>,
    failures: &mut Vec<String>,
) -> usize {
    let lines = steps_of(text);
    let mut checked = 0;
    for (i, log) in logs.iter().enumerate() {
        let real = real_statuses_all(log, text);
        let want: Option<Vec<char>> = expect.map(|e| {
            e[i].split_whitespace()
                .map(|w| w.chars().next().unwrap())
                .collect()
        });
        let name = format!("s{}", i + 1);
        let Some(rep) = predicted.get(&name) else {
            failures.push(format!("{label} {name}: no prediction for the step"));
            continue;
        };
        for (k, (line, kind)) in lines.iter().enumerate() {
            if *kind == Kind::From {
                continue;
            }
            let w = want.as_ref().map(|w| w[k]);
            let got: Option<char> = real.get(line).map(|v| {
                if v.iter().all(|c| *c == v[0]) {
                    v[0]
                } else {
                    '±'
                }
            });
            match (got, w) {
                (_, None) | (None, Some('U')) => {}
                (Some(r), Some(w)) if r == w => {}
                (r, Some(w)) => failures.push(format!(
                    "{label} {name}: line {line}: BuildKit reported {r:?} ({:?}), the table says {w}",
                    real.get(line)
                )),
            }
            let Some(p) = rep.steps.iter().find(|p| p.line == *line) else {
                failures.push(format!("{label} {name}: line {line} not predicted"));
                continue;
            };
            let g = match p.status {
                Status::Rebuilt => 'R',
                Status::Cached => 'C',
                Status::Unused => 'U',
            };
            checked += 1;
            let likely_ok = likely.contains(line) && p.confidence == Confidence::Likely;
            match got {
                Some(r) if g != r && !likely_ok => failures.push(format!(
                    "{label} {name}: line {line}: predicted {g} ({}), BuildKit reported {r}",
                    cachebust::render::reason(p, rep)
                )),
                None if g != 'U' => failures.push(format!(
                    "{label} {name}: line {line}: predicted {g}, not built"
                )),
                _ => {}
            }
        }
    }
    checked
}

/// The trees of a scenario: the base with the base's workflow, the head with the change and the
/// head's workflow (`workflows`: base and head texts).
fn scenario_trees(
    s: &Bk,
    root: &std::path::Path,
    workflows: (&str, &str),
) -> (std::path::PathBuf, std::path::PathBuf) {
    let fill = |c: &str| c.replace("{B1}", BASE1);
    let mut base_files: Vec<(&str, String)> = s.base.iter().map(|(p, c)| (*p, fill(c))).collect();
    base_files.push((".github/workflows/images.yml", workflows.0.to_string()));
    let mut edits: Vec<(&str, Option<String>)> =
        s.head.iter().map(|(p, c)| (*p, c.map(fill))).collect();
    edits.push((
        ".github/workflows/images.yml",
        Some(workflows.1.to_string()),
    ));
    let head_files = apply_edits(&base_files, &edits);
    let head_ref: Vec<(&str, String)> = head_files
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let (base, head) = (root.join("base"), root.join("head"));
    write_tree(&base, &base_files);
    write_tree(&head, &head_ref);
    (base, head)
}

/// Every scenario: the real statuses equal the table, and the prediction equals them.
#[tokio::test]
async fn predictions_on_a_fresh_runner_match_real_cache_backends() {
    let Some((d, _guard)) = docker::exclusive(Daemon::D28Snap).await else {
        return;
    };
    let only: Vec<String> = std::env::var("CACHEBUST_SCENARIOS")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let (mut builds, mut checked, mut build_seconds) = (0, 0, 0.0);
    let all: Vec<Bk> = scenarios()
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    for s in &all {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let cache = cache.to_str().unwrap();
        let base_steps = s.base_steps.unwrap_or(s.steps);
        let (base, head) = scenario_trees(
            s,
            tmp.path(),
            (&workflow(base_steps, cache), &workflow(s.steps, cache)),
        );
        let mut job = Job {
            d,
            name: s.name,
            builds: 0,
            seconds: 0.0,
        };
        let logs = job.run(
            &base,
            &head,
            (base_steps.len(), s.steps.len()),
            &|head, i| {
                let st = if head { &s.steps[i] } else { &base_steps[i] };
                (st.target, buildx_args(st, cache))
            },
        );
        builds += job.builds;
        build_seconds += job.seconds;
        let text = std::fs::read_to_string(head.join("Dockerfile")).unwrap();
        let predicted = predict(&base, &head).await;
        checked += compare(
            &format!("{} ({})", s.name, s.what),
            s.likely,
            &text,
            &logs,
            Some(s.expect),
            &predicted,
            &mut failures,
        );
    }
    eprintln!(
        "{}: {} backend scenarios, {checked} steps compared over {builds} builds in {:.0} s ({build_seconds:.0} s in docker buildx build)",
        d.label(),
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// CB011's patches built for real: in every scenario where the rule offers one, the workflow is
/// patched on both runs (the previous run exported with it too), the job is built again, and
/// BuildKit's statuses must equal the prediction of the patched repository step for step, and
/// the steps it rebuilt the number the finding's saving claimed.
#[tokio::test]
async fn cb011_patches_hold_on_real_builds() {
    patches_hold_on_real_builds("CB011", 3).await;
}

/// CB012's patches (an import of what the step exports, `mode=max` for a `mode=min` export)
/// built for real the same way.
#[tokio::test]
async fn cb012_patches_hold_on_real_builds() {
    patches_hold_on_real_builds("CB012", 2).await;
}

/// The patches of rule `code` built for real (at least `least` of them).
async fn patches_hold_on_real_builds(code: &str, least: usize) {
    let Some((d, _guard)) = docker::exclusive(Daemon::D28Snap).await else {
        return;
    };
    let mut failures = Vec::new();
    let (mut patches, mut checked, mut builds) = (0, 0, 0);
    for s in scenarios().iter().filter(|s| s.base_steps.is_none()) {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let cache = cache.to_str().unwrap();
        let wf = workflow(s.steps, cache);
        let (base, head) = scenario_trees(s, tmp.path(), (&wf, &wf));
        let predicted = predict(&base, &head).await;
        let mut names: Vec<&String> = predicted.keys().collect();
        names.sort();
        let Some((step, f)) = names.iter().find_map(|n| {
            predicted[*n]
                .findings
                .iter()
                .find(|f| f.code == code && f.fix.is_some())
                .map(|f| (n.to_string(), f.clone()))
        }) else {
            continue;
        };
        let fix = f.fix.clone().unwrap();
        let claimed = f.savings.as_ref().unwrap().rebuilt_steps_after;
        let files =
            std::collections::BTreeMap::from([(".github/workflows/images.yml".to_string(), wf)]);
        let (out, _) = cachebust::engine::fix::apply(&files, &[&fix]);
        let fixed = out[".github/workflows/images.yml"].clone();
        let fixed_root = tmp.path().join("fixed");
        let (fbase, fhead) = scenario_trees(s, &fixed_root, (&fixed, &fixed));
        // the buildx arguments of the patched workflow, as the action passes them
        let read = cachebust::engine::workflows::read(".github/workflows/images.yml", &fixed);
        assert_eq!(read.builds.len(), s.steps.len(), "{}", s.name);
        let args = |_: bool, i: usize| {
            let (st, b) = (&s.steps[i], &read.builds[i]);
            let mut a = Vec::new();
            for e in &b.ci.imports {
                let dir = e.text.split(',').find_map(|f| f.strip_prefix("src="));
                if dir.is_some_and(|d| std::path::Path::new(d).join("index.json").exists()) {
                    a.extend(["--cache-from".to_string(), e.text.clone()]);
                }
            }
            for e in &b.ci.exports {
                a.extend(["--cache-to".to_string(), e.text.clone()]);
            }
            let others = Step {
                from: "",
                to: "",
                ..*st
            };
            a.extend(buildx_args(&others, cache));
            (st.target, a)
        };
        let mut job = Job {
            d,
            name: s.name,
            builds: 0,
            seconds: 0.0,
        };
        // the base's export is written by the first run of the job, read by the second
        let logs = job.run(&fbase, &fhead, (s.steps.len(), s.steps.len()), &args);
        builds += job.builds;
        let text = std::fs::read_to_string(fhead.join("Dockerfile")).unwrap();
        let again = predict(&fbase, &fhead).await;
        let label = format!("{} patched ({})", s.name, fix.description);
        checked += compare(&label, s.likely, &text, &logs, None, &again, &mut failures);
        let i: usize = step.trim_start_matches('s').parse().unwrap();
        // a FROM is not a step the totals count (a fresh runner loads its base either way)
        let real = real_statuses_all(&logs[i - 1], &text);
        let real_rebuilt = steps_of(&text)
            .iter()
            .filter(|(line, kind)| {
                *kind != Kind::From && real.get(line).is_some_and(|v| v.iter().all(|c| *c == 'R'))
            })
            .count();
        if real_rebuilt != claimed {
            failures.push(format!(
                "{label}: BuildKit rebuilt {real_rebuilt} steps of {step}; the saving claimed {claimed}"
            ));
        }
        patches += 1;
    }
    eprintln!(
        "{}: {patches} {code} patches built, {checked} steps compared over {builds} builds",
        d.label()
    );
    assert!(
        patches >= least,
        "only {patches} scenarios offer a {code} patch"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
