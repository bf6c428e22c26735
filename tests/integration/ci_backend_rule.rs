//! The rules over a CI cache backend, as `analyze` finds them through the workflow: CB011 (a
//! backend that cannot serve steps a warm builder keeps cached) and CB012 (a cache exported and
//! never imported). A table of changes and workflows per rule, whether the rule fires, and what
//! its patch does. Every patch offered is applied to the workflow on both sides, and the
//! repository analysed again must rebuild exactly what the finding's saving said, with the
//! finding gone. The same patches are built for real in `backends::cb011_patches_hold_on_real_builds`
//! and `backends::cb012_patches_hold_on_real_builds`.
use cachebust::adapters::fs::DirTree;
use cachebust::adapters::local::{LocalRepo, Tree};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::report::{Finding, Report};

use crate::support::trees::{apply_edits, write_tree};

const GO: &str = "FROM golang:1.22 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
RUN go build -o /app ./cmd/app

FROM alpine:3.20
COPY --from=build /app /app
COPY web /web
";

const TWO_TARGETS: &str = "FROM alpine:3.20 AS base
RUN apk add --no-cache curl
COPY shared shared

FROM base AS api
COPY api api
RUN make -C api

FROM base AS web
COPY web web
RUN npm --prefix web ci
";

/// A workflow of one job whose `docker/build-push-action` steps each have these `with:` lines
/// (the job restores `/tmp/.buildx-cache` with `actions/cache`, as jobs with local caches do).
fn workflow(steps: &[&[&str]]) -> String {
    let mut y = String::from(
        "name: images\non: pull_request\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/cache@v4\n        with:\n          path: /tmp/.buildx-cache\n          key: buildx-${{ github.sha }}\n          restore-keys: buildx-\n      - uses: docker/setup-buildx-action@v3\n",
    );
    for (i, with) in steps.iter().enumerate() {
        y.push_str(&format!(
            "      - name: s{}\n        uses: docker/build-push-action@v6\n        with:\n          context: .\n",
            i + 1
        ));
        for w in *with {
            y.push_str(&format!("          {w}\n"));
        }
    }
    y
}

struct Case {
    name: &'static str,
    dockerfile: &'static str,
    steps: &'static [&'static [&'static str]],
    /// Files the change edits (the workflow stays as it is).
    change: &'static [(&'static str, &'static str)],
    /// `None`: the rule does not fire; else the line it is on and the fix's description (""
    /// for a finding without one).
    expect: Option<(u32, &'static str)>,
}

const FILES: &[(&str, &str)] = &[
    ("go.mod", "module x\n"),
    ("go.sum", ""),
    ("cmd/app/main.go", "package main\n"),
    ("web/index.html", "<p>hi</p>\n"),
    ("shared/lib.txt", "lib\n"),
    ("api/Makefile", "all:\n"),
];

fn cases() -> Vec<Case> {
    const GHA_MIN: &[&[&str]] = &[&["cache-from: type=gha", "cache-to: type=gha"]];
    const GHA_MIN_COMMENT: &[&[&str]] = &[&[
        "cache-from: type=gha",
        "cache-to: \"type=gha,mode=min\" # the default",
    ]];
    const GHA_MAX: &[&[&str]] = &[&["cache-from: type=gha", "cache-to: type=gha,mode=max"]];
    const BLOCK: &[&[&str]] = &[&[
        "cache-from: |",
        "  type=local,src=/tmp/.buildx-cache",
        "cache-to: |",
        "  type=local,dest=/tmp/.buildx-cache,mode=min",
    ]];
    const BARE_REF: &[&[&str]] = &[&[
        "cache-from: ghcr.io/o/app:buildcache",
        "cache-to: ghcr.io/o/app:buildcache",
    ]];
    const INLINE: &[&[&str]] = &[&[
        "tags: ghcr.io/o/app:main",
        "cache-from: type=registry,ref=ghcr.io/o/app:main",
        "cache-to: type=inline",
    ]];
    const SHARED: &[&[&str]] = &[
        &[
            "target: api",
            "cache-from: type=gha",
            "cache-to: type=gha,mode=max",
        ],
        &[
            "target: web",
            "cache-from: type=gha",
            "cache-to: type=gha,mode=max",
        ],
    ];
    const SCOPED: &[&[&str]] = &[
        &[
            "target: api",
            "cache-from: type=gha,scope=api",
            "cache-to: type=gha,scope=api,mode=max",
        ],
        &[
            "target: web",
            "cache-from: type=gha,scope=web",
            "cache-to: type=gha,scope=web,mode=max",
        ],
    ];
    const MAIN_GO: &[(&str, &str)] = &[("cmd/app/main.go", "package main // edited\n")];
    vec![
        Case {
            name: "mode=min, a builder step changes",
            dockerfile: GO,
            steps: GHA_MIN,
            change: MAIN_GO,
            expect: Some((2, "export the CI cache with mode=max")),
        },
        Case {
            name: "mode=min written out, quoted, with a comment",
            dockerfile: GO,
            steps: GHA_MIN_COMMENT,
            change: MAIN_GO,
            expect: Some((2, "export the CI cache with mode=max")),
        },
        Case {
            name: "mode=min in a block, the actions/cache directory",
            dockerfile: GO,
            steps: BLOCK,
            change: MAIN_GO,
            expect: Some((2, "export the CI cache with mode=max")),
        },
        Case {
            name: "mode=min to a bare registry reference",
            dockerfile: GO,
            steps: BARE_REF,
            change: MAIN_GO,
            expect: Some((2, "export the CI cache with mode=max")),
        },
        Case {
            name: "an inline cache: no mode=max to give it",
            dockerfile: GO,
            steps: INLINE,
            change: MAIN_GO,
            expect: Some((2, "")),
        },
        Case {
            name: "mode=max already",
            dockerfile: GO,
            steps: GHA_MAX,
            change: MAIN_GO,
            expect: None,
        },
        Case {
            name: "mode=min, only the final stage changes",
            dockerfile: GO,
            steps: GHA_MIN,
            change: &[("web/index.html", "<p>hello</p>\n")],
            expect: None,
        },
        Case {
            name: "mode=min, ignored in the Dockerfile",
            dockerfile: "# cachebust: ignore-file=CB011\nFROM golang:1.22 AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY cmd cmd\nRUN go build -o /app ./cmd/app\n\nFROM alpine:3.20\nCOPY --from=build /app /app\n",
            steps: GHA_MIN,
            change: MAIN_GO,
            expect: None,
        },
        Case {
            name: "two targets share the default gha scope",
            dockerfile: TWO_TARGETS,
            steps: SHARED,
            change: &[("web/index.html", "<p>hello</p>\n")],
            expect: Some((6, "give the build a gha cache scope of its own")),
        },
        Case {
            name: "two targets, a scope each",
            dockerfile: TWO_TARGETS,
            steps: SCOPED,
            change: &[("web/index.html", "<p>hello</p>\n")],
            expect: None,
        },
    ]
}

fn cb012_cases() -> Vec<Case> {
    const MAIN_GO: &[(&str, &str)] = &[("cmd/app/main.go", "package main // edited\n")];
    vec![
        Case {
            name: "a gha export, no import",
            dockerfile: GO,
            steps: &[&["cache-to: type=gha,mode=max"]],
            change: MAIN_GO,
            expect: Some((2, "import the CI cache the step exports")),
        },
        Case {
            name: "a gha export with mode=min, no import",
            dockerfile: GO,
            steps: &[&["cache-to: type=gha # min"]],
            change: MAIN_GO,
            expect: Some((
                2,
                "import the CI cache the step exports, exported with mode=max",
            )),
        },
        Case {
            name: "a gha export with mode=min, no import, only the final stage changes",
            dockerfile: GO,
            steps: &[&["cache-to: type=gha,mode=min"]],
            change: &[("web/index.html", "<p>hello</p>\n")],
            expect: Some((
                2,
                "import the CI cache the step exports, exported with mode=max",
            )),
        },
        Case {
            name: "a registry export, no import",
            dockerfile: GO,
            steps: &[&["cache-to: type=registry,ref=ghcr.io/o/app:cache,mode=max"]],
            change: MAIN_GO,
            expect: Some((2, "import the CI cache the step exports")),
        },
        Case {
            name: "two exports in a block, no import",
            dockerfile: GO,
            steps: &[&[
                "cache-to: |",
                "  type=local,dest=/tmp/.buildx-cache,mode=max",
                "  type=gha,scope=go,mode=max",
            ]],
            change: MAIN_GO,
            expect: Some((2, "import the CI cache the step exports")),
        },
        Case {
            name: "a local export under ${{ github.workspace }}, a directory no step restores as written: advice only",
            dockerfile: GO,
            steps: &[&["cache-to: type=local,dest=${{ github.workspace }}/.buildx-cache,mode=max"]],
            change: MAIN_GO,
            expect: Some((2, "")),
        },
        Case {
            name: "a gha scope written as an expression",
            dockerfile: GO,
            steps: &[&["cache-to: type=gha,scope=${{ github.ref_name }}-go,mode=max"]],
            change: MAIN_GO,
            expect: Some((2, "import the CI cache the step exports")),
        },
        Case {
            name: "a local export to a directory the job does not restore: advice only",
            dockerfile: GO,
            steps: &[&["cache-to: type=local,dest=/tmp/other,mode=max"]],
            change: MAIN_GO,
            expect: Some((2, "")),
        },
        Case {
            name: "a cache-from that imports on some events only",
            dockerfile: GO,
            steps: &[&[
                "cache-from: ${{ github.event_name == 'push' && 'type=gha' || '' }}",
                "cache-to: type=gha,mode=max",
            ]],
            change: MAIN_GO,
            expect: None,
        },
        Case {
            name: "an inline export: no import to write",
            dockerfile: GO,
            steps: &[&["tags: ghcr.io/o/app:main", "cache-to: type=inline"]],
            change: MAIN_GO,
            expect: Some((2, "")),
        },
        Case {
            name: "the export is imported",
            dockerfile: GO,
            steps: &[&["cache-from: type=gha", "cache-to: type=gha,mode=max"]],
            change: MAIN_GO,
            expect: None,
        },
        Case {
            name: "no cache declared: the runner is not assumed fresh",
            dockerfile: GO,
            steps: &[&["push: false"]],
            change: MAIN_GO,
            expect: None,
        },
        Case {
            name: "ignored in the Dockerfile",
            dockerfile: "# cachebust: ignore-file=CB012\nFROM golang:1.22 AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY cmd cmd\nRUN go build -o /app ./cmd/app\n\nFROM alpine:3.20\nCOPY --from=build /app /app\n",
            steps: &[&["cache-to: type=gha,mode=max"]],
            change: MAIN_GO,
            expect: None,
        },
    ]
}

/// The base tree (`FILES`, the Dockerfile and, when given, the workflow) and the head tree with
/// `change` applied, in a fresh directory.
fn trees(
    dockerfile: &str,
    workflow_text: Option<String>,
    change: &[(&str, &str)],
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<(&str, String)> = FILES.iter().map(|(p, t)| (*p, t.to_string())).collect();
    files.push(("Dockerfile", dockerfile.to_string()));
    if let Some(w) = workflow_text {
        files.push((".github/workflows/images.yml", w));
    }
    let edits: Vec<(&str, Option<String>)> = change
        .iter()
        .map(|(p, t)| (*p, Some(t.to_string())))
        .collect();
    let head_files = apply_edits(&files, &edits);
    let head_ref: Vec<(&str, String)> = head_files
        .iter()
        .map(|(p, t)| (p.as_str(), t.clone()))
        .collect();
    let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
    write_tree(&base, &files);
    write_tree(&head, &head_ref);
    (tmp, base, head)
}

async fn run(base: &std::path::Path, head: &std::path::Path) -> Report {
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(base).unwrap()),
        Tree::Dir(DirTree::open(head).unwrap()),
    );
    analyze(&repo, &AnalyzeOptions::new(EngineKind::Buildkit))
        .await
        .unwrap()
}

fn of_rule<'a>(r: &'a Report, code: &str) -> Vec<(&'a str, &'a Finding)> {
    r.dockerfiles
        .iter()
        .flat_map(|d| {
            d.findings
                .iter()
                .filter(|f| f.code == code && f.relevant)
                .map(move |f| (d.target.as_deref().unwrap_or(""), f))
        })
        .collect()
}

fn rebuilt(r: &Report, target: &str) -> usize {
    r.dockerfiles
        .iter()
        .filter(|d| d.target.as_deref().unwrap_or("") == target)
        .map(|d| d.summary.rebuilt)
        .sum()
}

#[tokio::test]
async fn cb011_fires_where_the_backend_loses_steps_and_its_patch_does_what_it_says() {
    let (failures, patched) = scenarios("CB011", cases()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(patched, 5);
}

#[tokio::test]
async fn cb012_fires_where_an_export_is_never_imported_and_its_patch_does_what_it_says() {
    let (failures, patched) = scenarios("CB012", cb012_cases()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(patched, 6);
}

/// Each case of `cases` analysed as a change (and with nothing changed), the rule `code`'s
/// finding compared with the case, its patch applied on both sides and the change analysed
/// again: the failures, and how many patches were checked.
async fn scenarios(code: &str, cases: Vec<Case>) -> (Vec<String>, usize) {
    let found_by = |r: &Report| -> Vec<(String, Finding)> {
        of_rule(r, code)
            .into_iter()
            .map(|(t, f)| (t.to_string(), f.clone()))
            .collect()
    };
    let mut failures = Vec::new();
    let mut patched = 0;
    for c in cases {
        let wf = workflow(c.steps);
        let (_tmp, base, head) = trees(c.dockerfile, Some(wf.clone()), c.change);
        // base equal to head: nothing about this change
        let same = run(&head, &head).await;
        if !found_by(&same).is_empty() {
            failures.push(format!("{}: fires with nothing changed", c.name));
        }
        let report = run(&base, &head).await;
        let found = found_by(&report);
        match (c.expect, found.as_slice()) {
            (None, []) => continue,
            (None, f) => {
                failures.push(format!("{}: fired: {:?}", c.name, f[0].1.message));
                continue;
            }
            (Some(_), []) => {
                failures.push(format!("{}: did not fire", c.name));
                continue;
            }
            (Some((line, fix)), [(target, f), ..]) => {
                if f.line != line {
                    failures.push(format!("{}: on line {}, not {line}", c.name, f.line));
                }
                let got = f.fix.as_ref().map_or("", |x| x.description.as_str());
                if got != fix {
                    failures.push(format!("{}: fix {got:?}, expected {fix:?}", c.name));
                }
                let Some(x) = &f.fix else { continue };
                let s = f.savings.as_ref().expect("a patch's saving is measured");
                if s.rebuilt_steps_after >= s.rebuilt_steps_before {
                    failures.push(format!("{}: the patch saves nothing: {s:?}", c.name));
                }
                // the patch on both sides, and the repository analysed again
                let files = std::collections::BTreeMap::from([(
                    ".github/workflows/images.yml".to_string(),
                    wf.clone(),
                )]);
                let (out, applied) = cachebust::engine::fix::apply(&files, &[x]);
                assert_eq!(applied, [0], "{}", c.name);
                let fixed = out[".github/workflows/images.yml"].clone();
                for dir in [&base, &head] {
                    std::fs::write(dir.join(".github/workflows/images.yml"), &fixed).unwrap();
                }
                let again = run(&base, &head).await;
                if found_by(&again).iter().any(|(t, _)| t == target) {
                    failures.push(format!("{}: still fires once patched:\n{fixed}", c.name));
                }
                let after = rebuilt(&again, target);
                if after != s.rebuilt_steps_after {
                    failures.push(format!(
                        "{}: patched, the change rebuilds {after} steps; the saving said {}",
                        c.name, s.rebuilt_steps_after
                    ));
                }
                patched += 1;
            }
        }
    }
    (failures, patched)
}

/// `cachebust analyze --format <format>` of the two trees: its output (the run must succeed).
fn analyze_cli(format: &str, base: &std::path::Path, head: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cachebust"))
        .args(["analyze", "--format", format, "--base-dir"])
        .arg(base)
        .arg("--head-dir")
        .arg(head)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What a user reads of rule `code` on the change: its line in the markdown (the Action's
/// summary) and its finding in the JSON report.
fn as_the_cli_says_it(
    code: &str,
    base: &std::path::Path,
    head: &std::path::Path,
) -> (String, serde_json::Value) {
    let md = analyze_cli("markdown", base, head);
    let line = md
        .lines()
        .find(|l| l.contains(&format!("**{code}**")))
        .unwrap_or_else(|| panic!("{code} in the markdown:\n{md}"))
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&analyze_cli("json", base, head)).unwrap();
    let f = v["dockerfiles"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("{code} in the JSON"))
        .clone();
    (line, f)
}

/// What a user reads of CB011: the finding in the markdown and its patch, snapshots.
#[tokio::test]
async fn cb011_as_the_cli_says_it() {
    let (_tmp, base, head) = trees(
        GO,
        Some(workflow(&[&["cache-from: type=gha", "cache-to: type=gha"]])),
        &[("cmd/app/main.go", "package main // edited\n")],
    );
    let (line, f) = as_the_cli_says_it("CB011", &base, &head);
    insta::assert_snapshot!("cb011_markdown_finding", line);
    insta::assert_snapshot!("cb011_patch", f["fix"]["diff"].as_str().unwrap());
}

/// What a user reads of CB012: the finding in the markdown and its patch of the workflow,
/// snapshots, and the saving.
#[tokio::test]
async fn cb012_as_the_cli_says_it() {
    let (_tmp, base, head) = trees(
        GO,
        Some(workflow(&[&["push: false", "cache-to: type=gha"]])),
        &[("cmd/app/main.go", "package main // edited\n")],
    );
    let (line, f) = as_the_cli_says_it("CB012", &base, &head);
    insta::assert_snapshot!("cb012_markdown_finding", line);
    insta::assert_snapshot!("cb012_patch", f["fix"]["diff"].as_str().unwrap());
    assert_eq!(f["savings"]["rebuilt_steps_before"], 7, "{f:#}");
    assert_eq!(f["savings"]["rebuilt_steps_after"], 4, "{f:#}");
}

/// A cache mount starts empty on a fresh CI runner (no cache backend exports one): CB004's
/// mount saves time on a warm builder, and nothing on the runner, where its saving is measured
/// with the step priced as without the mount.
#[tokio::test]
async fn a_cache_mount_saves_nothing_on_a_fresh_runner() {
    let mut claims = Vec::new();
    for workflow_steps in [
        None,
        Some(&[&["cache-from: type=gha", "cache-to: type=gha,mode=max"][..]][..]),
    ] {
        let (_tmp, base, head) = trees(
            GO,
            workflow_steps.map(workflow),
            &[("go.mod", "module x\n\ngo 1.22\n")],
        );
        let r = run(&base, &head).await;
        let f = r.dockerfiles[0]
            .findings
            .iter()
            .find(|f| f.code == "CB004" && f.line == 4)
            .expect("CB004 on go mod download");
        let s = f.savings.as_ref().expect("measured");
        claims.push(s.seconds_before - s.seconds_after);
    }
    assert!(
        claims[0] > 5.0,
        "warm builder: the mount saves ({claims:?})"
    );
    assert!(
        claims[1].abs() < 0.05,
        "fresh runner: it saves nothing ({claims:?})"
    );
}
