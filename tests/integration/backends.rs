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
    ]
}

/// The workflow that runs `steps` (one job: the steps share a builder).
fn workflow(steps: &[Step], cache: &str) -> String {
    let mut y = String::from(
        "name: images\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: docker/setup-buildx-action@v3\n",
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
        let fill = |c: &str| c.replace("{B1}", BASE1);
        let mut base_files: Vec<(&str, String)> =
            s.base.iter().map(|(p, c)| (*p, fill(c))).collect();
        let base_steps = s.base_steps.unwrap_or(s.steps);
        base_files.push((".github/workflows/images.yml", workflow(base_steps, cache)));
        let mut edits: Vec<(&str, Option<String>)> =
            s.head.iter().map(|(p, c)| (*p, c.map(fill))).collect();
        edits.push((
            ".github/workflows/images.yml",
            Some(workflow(s.steps, cache)),
        ));
        let head_files = apply_edits(&base_files, &edits);
        let head_ref: Vec<(&str, String)> = head_files
            .iter()
            .map(|(p, c)| (p.as_str(), c.clone()))
            .collect();
        let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
        write_tree(&base, &base_files);
        write_tree(&head, &head_ref);
        let tags: Vec<String> = (0..s.steps.len())
            .map(|i| format!("cbci/{}:{i}", s.name))
            .collect();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        // the previous run, on the base, exports
        d.fresh_runner(&tag_refs);
        for (i, st) in base_steps.iter().enumerate() {
            let b = d.buildx(&base, st.target, &buildx_args(st, cache), &tags[i]);
            build_seconds += b.seconds;
            builds += 1;
            assert!(b.ok, "{}: base build s{} failed:\n{}", s.name, i + 1, b.log);
        }
        // this run: a fresh runner, the job's steps in order on one builder
        d.fresh_runner(&tag_refs);
        let mut logs = Vec::new();
        for (i, st) in s.steps.iter().enumerate() {
            let h = d.buildx(&head, st.target, &buildx_args(st, cache), &tags[i]);
            build_seconds += h.seconds;
            builds += 1;
            assert!(h.ok, "{}: head build s{} failed:\n{}", s.name, i + 1, h.log);
            logs.push(h.log);
        }
        d.fresh_runner(&tag_refs);
        let text = std::fs::read_to_string(head.join("Dockerfile")).unwrap();
        let lines = steps_of(&text);
        let predicted = predict(&base, &head).await;
        for (i, (log, expect)) in logs.iter().zip(s.expect).enumerate() {
            let real = real_statuses_all(log, &text);
            let want: Vec<char> = expect
                .split_whitespace()
                .map(|w| w.chars().next().unwrap())
                .collect();
            let name = format!("s{}", i + 1);
            let Some(rep) = predicted.get(&name) else {
                failures.push(format!("{} {name}: no prediction for the step", s.name));
                continue;
            };
            for ((line, kind), w) in lines.iter().zip(&want) {
                if *kind == Kind::From {
                    continue;
                }
                let got: Option<char> = real.get(line).map(|v| {
                    if v.iter().all(|c| *c == v[0]) {
                        v[0]
                    } else {
                        '±'
                    }
                });
                match (got, w) {
                    (None, 'U') => {}
                    (Some(r), w) if r == *w => {}
                    (r, w) => failures.push(format!(
                        "{} {name} ({}): line {line}: BuildKit reported {r:?} ({:?}), the table says {w}",
                        s.name,
                        s.what,
                        real.get(line)
                    )),
                }
                let Some(p) = rep.steps.iter().find(|p| p.line == *line) else {
                    failures.push(format!("{} {name}: line {line} not predicted", s.name));
                    continue;
                };
                let g = match p.status {
                    Status::Rebuilt => 'R',
                    Status::Cached => 'C',
                    Status::Unused => 'U',
                };
                checked += 1;
                let likely_ok = s.likely.contains(line) && p.confidence == Confidence::Likely;
                if let Some(r) = got {
                    if g != r && !likely_ok {
                        failures.push(format!(
                            "{} {name} ({}): line {line}: predicted {g} ({}), BuildKit reported {r}",
                            s.name,
                            s.what,
                            cachebust::render::reason(p, rep)
                        ));
                    }
                } else if g != 'U' && *w == 'U' {
                    failures.push(format!(
                        "{} {name}: line {line}: predicted {g}, not built",
                        s.name
                    ));
                }
            }
        }
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
