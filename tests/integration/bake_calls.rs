//! The builds of `docker/bake-action` steps (issue 29, classes 1, 3 and 9), predicted and then
//! built with the real `docker buildx bake` (buildx 0.29.1) on both engines: Docker 28.5.2
//! (`--engine buildkit`) and Docker 20.10's own BuildKit through buildx's `docker` driver
//! (`--engine docker-20.10`).
//!
//! One repository: a Dockerfile whose stages `a`, `b` (FROM a) and `bench` (FROM a) share stage
//! `a`, a bake file whose `default` group builds a and b, a target `bench-race` that inherits
//! from `bench`, and a workflow with two bake-action steps: `Bake` (no `targets:`, the default
//! group) and `Bench` (`targets: bench`).
//! - class 1: base equal to head rebuilds nothing (each step's targets keep their own base);
//! - class 3: `bench` is a build of the `Bench` step although `bench-race` inherits from it;
//! - class 9: a change to stage `a` runs its vertices once in the `Bake` call: the totals count
//!   them once, as the real bake log shows.

use std::path::Path;

use cachebust::adapters::fs::DirTree;
use cachebust::adapters::local::{LocalRepo, Tree};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::buildlog::{self, VertexStatus};
use cachebust::engine::report::{DockerfileReport, Kind, Origin, Report, Status};

use crate::support::docker::{self, BASE1, Daemon};
use crate::support::trees::write_tree;

const WORKFLOW: &str = "on: push\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - name: Bake\n        uses: docker/bake-action@v6\n      - name: Bench\n        uses: docker/bake-action@v6\n        with:\n          targets: bench\n";

/// `network = "none"` through an `inherits` parent: the builders here have no bridge.
const BAKE: &str = r#"group "default" { targets = ["a", "b"] }
target "_net" { network = "none" }
target "a" {
  inherits = ["_net"]
  target = "a"
}
target "b" {
  inherits = ["_net"]
  target = "b"
}
target "bench" {
  inherits = ["_net"]
  target = "bench"
}
target "bench-race" {
  inherits = ["bench"]
  target = "bench-race"
}
"#;

fn tree(shared: &str, two: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "Dockerfile",
            format!(
                "FROM {BASE1} AS a\nCOPY shared.txt /shared.txt\nRUN cat /shared.txt > /one\nFROM a AS b\nRUN echo {two} > /two\nFROM a AS bench\nCOPY bench.txt /bench.txt\nRUN cat /bench.txt > /bench\nFROM bench AS bench-race\nRUN echo race > /race\n"
            ),
        ),
        ("shared.txt", format!("{shared}\n")),
        ("bench.txt", "bench\n".to_string()),
        ("docker-bake.hcl", BAKE.to_string()),
        (".github/workflows/ci.yml", WORKFLOW.to_string()),
    ]
}

pub(crate) async fn predict(base: &Path, head: &Path, engine: EngineKind, all: bool) -> Report {
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(base).unwrap()),
        Tree::Dir(DirTree::open(head).unwrap()),
    );
    let mut opts = AnalyzeOptions::new(engine);
    opts.report_all = all;
    if engine == EngineKind::Buildkit {
        // Docker 28.5.2 builds with Docker Engine's own BuildKit (buildx `docker` driver)
        opts.config = cachebust::engine::config::parse(
            "cachebust.yml",
            "builder:\n  driver: docker\n",
            &cachebust::engine::rules::codes(),
        )
        .unwrap();
    }
    analyze(&repo, &opts).await.unwrap()
}

/// The build a bake-action step builds for `target`.
fn of_step<'r>(r: &'r Report, step: &str, target: &str) -> Option<&'r DockerfileReport> {
    r.dockerfiles.iter().find(|d| {
        d.origins.iter().any(|o| {
            matches!(o, Origin::Workflow { step: s, target: Some(t), .. } if s == step && t == target)
        })
    })
}

/// The instructions (RUN/COPY/ADD/WORKDIR) a call of builds runs, as cachebust counts them:
/// every rebuilt step of its builds but those an earlier build of the call runs already.
pub(crate) fn predicted_runs(builds: &[&DockerfileReport]) -> Vec<String> {
    let mut out: Vec<String> = builds
        .iter()
        .flat_map(|d| {
            let shared = d
                .shared
                .as_ref()
                .map(|s| s.lines.clone())
                .unwrap_or_default();
            d.steps
                .iter()
                .filter(move |s| {
                    s.status == Status::Rebuilt && s.kind != Kind::From && !shared.contains(&s.line)
                })
                .map(|s| s.instruction.clone())
        })
        .collect();
    out.sort();
    out
}

/// The instructions a real bake log ran (not CACHED), FROM and internal vertices left out.
pub(crate) fn real_runs(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in buildlog::parse_any(log) {
        for v in b.vertices {
            let Some(i) = v.instruction else { continue };
            let kw = i.split_whitespace().next().unwrap_or_default();
            if ["RUN", "COPY", "ADD", "WORKDIR"].contains(&kw) && v.status == VertexStatus::Done {
                out.push(i);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn bake_action_steps_build_their_own_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, same, edited) = (
        tmp.path().join("base"),
        tmp.path().join("same"),
        tmp.path().join("edited"),
    );
    write_tree(&base, &tree("1", "two"));
    write_tree(&same, &tree("1", "two"));
    write_tree(&edited, &tree("1", "2"));
    for engine in [EngineKind::Buildkit, EngineKind::Docker2010] {
        // class 1: nothing changed, nothing rebuilds (target b was compared with target a's base)
        let r = predict(&base, &same, engine, false).await;
        assert_eq!(r.changed_paths, 0);
        assert_eq!(r.rebuilt_steps(), 0, "{:#?}", r.dockerfiles);
        assert!(r.dockerfiles.is_empty());
        // class 3: every build, with the steps and bake targets that declare it
        let r = predict(&base, &same, engine, true).await;
        let mut builds: Vec<(Option<&str>, Vec<String>)> = r
            .dockerfiles
            .iter()
            .map(|d| {
                let origins = d
                    .origins
                    .iter()
                    .map(|o| match o {
                        Origin::Bake { target, .. } => format!("bake {target}"),
                        Origin::Workflow { step, target, .. } => {
                            format!("step {step} {}", target.as_deref().unwrap_or("-"))
                        }
                        other => format!("{other:?}"),
                    })
                    .collect();
                (d.target.as_deref(), origins)
            })
            .collect();
        builds.sort();
        assert_eq!(
            builds,
            vec![
                (Some("a"), vec!["bake a".into(), "step Bake a".into()]),
                (Some("b"), vec!["bake b".into(), "step Bake b".into()]),
                (
                    Some("bench"),
                    vec!["bake bench".into(), "step Bench bench".into()]
                ),
                (Some("bench-race"), vec!["bake bench-race".into()]),
            ]
        );
        // an edit of stage b rebuilds one step of one build (the others are reported: their
        // Dockerfile changed)
        let r = predict(&base, &edited, engine, false).await;
        assert_eq!(r.rebuilt_steps(), 1, "{:#?}", r.dockerfiles);
        let rebuilt: Vec<Option<&str>> = r
            .dockerfiles
            .iter()
            .filter(|d| d.summary.rebuilt > 0)
            .map(|d| d.target.as_deref())
            .collect();
        assert_eq!(rebuilt, vec![Some("b")]);
    }
}

/// Base: `shared.txt` = 1. Head: the same tree (class 1), or `shared.txt` = 2 (classes 3 and
/// 9). Each call is built from a pruned cache, base then head, in fresh directories.
#[tokio::test]
async fn bake_calls_match_real_bake_on_both_engines() {
    for daemon in [Daemon::D2010, Daemon::D28] {
        let Some((d, _lock)) = docker::exclusive(daemon).await else {
            continue;
        };
        let engine = daemon.engine();
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        write_tree(&base, &tree("1", "two"));
        let bake = |dir: &Path, targets: &[&str]| {
            let out = d.bake(dir, targets)?;
            assert!(out.ok, "{} bake {targets:?}: {}", d.label(), out.log);
            Some(out.log)
        };
        for (name, shared, call, targets) in [
            ("same", "1", "Bake", &[][..]),
            ("same-bench", "1", "Bench", &["bench"][..]),
            ("shared", "2", "Bake", &[][..]),
            ("shared-bench", "2", "Bench", &["bench"][..]),
        ] {
            let head = tmp.path().join(name);
            write_tree(&head, &tree(shared, "two"));
            d.prune();
            let Some(_) = bake(&base, targets) else {
                return;
            };
            let Some(log) = bake(&head, targets) else {
                return;
            };
            let real = real_runs(&log);
            let r = predict(&base, &head, engine, false).await;
            let builds: Vec<&DockerfileReport> = match call {
                "Bake" => ["a", "b"]
                    .iter()
                    .filter_map(|t| of_step(&r, call, t))
                    .collect(),
                _ => of_step(&r, call, "bench").into_iter().collect(),
            };
            let predicted = predicted_runs(&builds);
            assert_eq!(
                predicted,
                real,
                "{name} on {}: cachebust's steps of the {call} call vs the real bake",
                d.label()
            );
            match name {
                "same" | "same-bench" => assert_eq!(r.rebuilt_steps(), 0),
                "shared" => {
                    // class 9: COPY and RUN of stage a once (for a), RUN echo two for b
                    assert_eq!(real.len(), 3, "{log}");
                    assert_eq!(builds.len(), 2);
                    let b = builds[1].shared.as_ref().expect("b shares stage a with a");
                    assert_eq!(b.lines, vec![2, 3, 4]);
                    assert_eq!(b.target.as_deref(), Some("a"));
                }
                _ => {
                    // class 3: the Bench step builds target bench
                    assert_eq!(builds.len(), 1, "{:#?}", r.dockerfiles);
                    assert_eq!(real.len(), 4, "{log}");
                }
            }
            // the totals: every build once, a vertex of one call once
            let per_build: usize = r.dockerfiles.iter().map(|d| d.summary.rebuilt).sum();
            let shared_steps: usize = r
                .dockerfiles
                .iter()
                .filter_map(|d| d.shared.as_ref())
                .map(|s| s.lines.len())
                .sum();
            assert_eq!(r.rebuilt_steps(), per_build - shared_steps);
        }
    }
}

/// How a report says that steps of one bake call are shared (text and markdown).
#[tokio::test]
async fn shared_steps_are_said_where_they_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
    write_tree(&base, &tree("1", "two"));
    write_tree(&head, &tree("2", "two"));
    let r = predict(&base, &head, EngineKind::Buildkit, false).await;
    // the builds of the Bake call: a, then b, which shares stage a's steps
    let call: Vec<DockerfileReport> = ["a", "b"]
        .iter()
        .filter_map(|t| of_step(&r, "Bake", t).cloned())
        .collect();
    insta::assert_snapshot!(
        "bake_shared_text",
        cachebust::render::text::render(&Report {
            dockerfiles: call,
            ..r.clone()
        })
    );
    let md = cachebust::render::markdown::render(&r);
    let note = "Steps the builds of one bake call share run once; the total counts them once.";
    assert_eq!(md.matches(note).count(), 1, "{md}");
    assert!(
        md.contains(
            "Lines 2, 3 and 4 also rebuild for target a of the same bake call, which runs them once: the totals count them there"
        ),
        "{md}"
    );
}

/// `cachebust builds` lists every build of the tree with what declares it, and the one
/// Dockerfile nothing declares with its guessed context.
#[test]
fn builds_lists_what_discovery_finds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let mut files = tree("1", "two");
    files.push(("tools/Dockerfile", "FROM busybox\nCOPY gen.sh /\n".into()));
    files.push(("tools/gen.sh", "echo\n".into()));
    write_tree(&root, &files);
    let o = crate::cli::cachebust(&["builds", "--format", "json"], &root);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let builds = v["builds"].as_array().unwrap();
    let targets: Vec<&str> = builds
        .iter()
        .filter(|b| !b["guessed"].as_bool().unwrap())
        .map(|b| b["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["a", "b", "bench", "bench-race"], "{v:#}");
    let guessed: Vec<(&str, &str)> = builds
        .iter()
        .filter(|b| b["guessed"].as_bool().unwrap())
        .map(|b| {
            (
                b["dockerfile"].as_str().unwrap(),
                b["context"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(guessed, vec![("tools/Dockerfile", "tools")]);
    let o = crate::cli::cachebust(&["builds"], &root);
    assert!(o.status.success());
    insta::assert_snapshot!("builds_text", String::from_utf8_lossy(&o.stdout));
}

/// A side simulated for one target and derived for another (`sim::retarget`, how the builds of
/// one Dockerfile for other bake targets share a simulation) equals the side simulated for that
/// target: every corpus Dockerfile, every stage name, no target and a missing one, with both
/// frontends and with build args; a Dockerfile that reads `TARGETSTAGE` is simulated again.
#[test]
fn a_side_derived_for_another_target_is_the_side_simulated_for_it() {
    use cachebust::engine::dockerfile::{self, stages};
    use cachebust::engine::expand::Frontend;
    use cachebust::engine::predict::sim::{self, Semantics, SideSpec, Sim};
    use std::collections::BTreeMap;

    fn view(s: &Sim) -> String {
        let mut step: Vec<String> = s.step.iter().map(|e| format!("{e:?}")).collect();
        step.sort();
        let mut stage_of: Vec<_> = s.stage_of.iter().collect();
        stage_of.sort();
        let mut notes: Vec<String> = s.notes.iter().map(|e| format!("{e:?}")).collect();
        notes.sort();
        format!(
            "{:?}\n{:?}\n{:?}\n{:?} {}\n{step:?}\n{stage_of:?}\n{notes:?}",
            s.stages, s.vertices, s.diagnostics, s.target, s.target_missing
        )
    }

    let mut compared = 0;
    let mut refused = 0;
    let mut texts: Vec<String> = crate::rules::corpus()
        .into_iter()
        .map(|(_, t, _)| t)
        .collect();
    texts.push(
        "FROM busybox AS a\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\nFROM a AS b\nRUN echo b\n"
            .to_string(),
    );
    for text in &texts {
        let df = dockerfile::parse(text);
        let (_, infos) = stages::split(&df);
        let mut targets: Vec<Option<String>> = vec![None, Some("no-such-stage".into())];
        targets.extend(infos.iter().filter_map(|s| s.name.clone()).map(Some));
        let mut args = BTreeMap::new();
        args.insert("VERSION".to_string(), "1.2.3".to_string());
        for (frontend, build_args) in [
            (Frontend::Current, BTreeMap::new()),
            (Frontend::V0_8, BTreeMap::new()),
            (Frontend::Current, args),
        ] {
            let sem = Semantics {
                frontend,
                daemon_current: frontend == Frontend::Current,
                resolves_tags: frontend == Frontend::Current,
                merge_op: false,
            };
            let simulate = |target: Option<&str>| {
                sim::simulate(&SideSpec {
                    df: &df,
                    build_args: &build_args,
                    target,
                    sem,
                    context: "",
                })
            };
            let first = simulate(targets[0].as_deref());
            for t in targets.iter().rev() {
                let direct = simulate(t.as_deref());
                match sim::retarget(&first, &df, t.as_deref()) {
                    Some(derived) => {
                        assert_eq!(view(&derived), view(&direct), "target {t:?} of\n{text}");
                        compared += 1;
                    }
                    None => {
                        assert!(text.contains("TARGETSTAGE"), "refused without TARGETSTAGE");
                        refused += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 2_000, "{compared} sides compared");
    assert!(refused >= 3, "{refused} refused");
}
