//! `cachebust verify`: real build records read right (the reference reader's answers and the
//! records' own step counts), a prediction compared step by step with the real build of the
//! head, and every difference explained — on the real `.dockerbuild` samples and on builds made
//! here with both real engines (plain and rawjson progress, and a record exported with
//! `docker buildx history export`).

use std::path::Path;

use cachebust::adapters::buildrecord::read_archive;
use cachebust::engine::buildlog::VertexStatus;
use serde_json::Value;

use crate::cli::{cachebust, root};
use crate::support::docker::{self, BASE1, Daemon, Progress};
use crate::support::trees::write_tree;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/records").join(name)).unwrap()
}

/// The steps of each sample as `shared/buildkit-records/dockerbuild_steps.py` lists them (a
/// step is cached when any update of its vertex says so), and the record's `numCachedSteps`.
/// A sample: its file, (step name, outcome) as the reference reader lists them, its cached count.
type Sample<'a> = (&'a str, &'a [(&'a str, &'a str)], usize);

#[test]
fn records_are_read_as_the_reference_reader_reads_them() {
    let cases: &[Sample] = &[
        (
            "local-min-src-changed.dockerbuild",
            &[
                (
                    "[build 2/4] RUN echo \"deps\" > /deps.txt && sleep 2",
                    "ran",
                ),
                ("[build 3/4] COPY src.txt /src.txt", "ran"),
                ("[build 4/4] RUN cat /deps.txt /src.txt > /out.txt", "ran"),
                (
                    "[stage-1 2/3] RUN echo \"final-base\" > /base.txt",
                    "CACHED",
                ),
                ("[stage-1 3/3] COPY --from=build /out.txt /out.txt", "ran"),
            ],
            1,
        ),
        (
            "registry-max-src-changed.dockerbuild",
            &[
                (
                    "[build 2/4] RUN echo \"deps\" > /deps.txt && sleep 2",
                    "CACHED",
                ),
                ("[build 3/4] COPY src.txt /src.txt", "ran"),
                ("[build 4/4] RUN cat /deps.txt /src.txt > /out.txt", "ran"),
                (
                    "[stage-1 2/3] RUN echo \"final-base\" > /base.txt",
                    "CACHED",
                ),
                ("[stage-1 3/3] COPY --from=build /out.txt /out.txt", "ran"),
            ],
            2,
        ),
        (
            "failed-run-step.dockerbuild",
            &[
                ("[2/3] RUN echo ok", "ran"),
                ("[3/3] RUN echo boom && exit 3", "ERROR"),
            ],
            0,
        ),
    ];
    for (file, want, cached) in cases {
        let records = read_archive(&fixture(file)).unwrap();
        assert_eq!(records.len(), 1, "{file}");
        let r = &records[0];
        let got: Vec<(String, &str)> = r
            .build
            .vertices
            .iter()
            .filter(|v| v.name.contains("] RUN") || v.name.contains("] COPY"))
            .map(|v| {
                (
                    v.name.clone(),
                    match v.status {
                        VertexStatus::Cached => "CACHED",
                        VertexStatus::Done => "ran",
                        VertexStatus::Error => "ERROR",
                        _ => "?",
                    },
                )
            })
            .collect();
        let mut got = got;
        got.sort();
        let mut want: Vec<(String, &str)> = want.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        want.sort();
        assert_eq!(got, want, "{file}");
        let n = r
            .build
            .vertices
            .iter()
            .filter(|v| v.status == VertexStatus::Cached)
            .count();
        assert_eq!(n, *cached, "{file}: numCachedSteps");
        assert!(!r.reference.is_empty());
    }
    let r = &read_archive(&fixture("registry-max-src-changed.dockerbuild")).unwrap()[0];
    assert_eq!(r.cache_imports, vec!["registry 127.0.0.1:5055/cache:max"]);
    let f = &read_archive(&fixture("failed-run-step.dockerbuild")).unwrap()[0];
    assert!(
        f.error.as_deref().unwrap_or("").contains("exit code: 3"),
        "{:?}",
        f.error
    );
    // not an archive, a cut one, an empty one: errors, never a panic
    assert!(read_archive(b"hello").is_err());
    let whole = fixture("local-min-src-changed.dockerbuild");
    assert!(read_archive(&whole[..whole.len() / 2]).is_err());
    assert!(read_archive(&[0x1f, 0x8b]).is_err());
}

const DEMO: &str = "FROM 127.0.0.1:5055/busybox:1 AS build
RUN echo \"deps\" > /deps.txt && sleep 2
COPY src.txt /src.txt
RUN cat /deps.txt /src.txt > /out.txt

FROM 127.0.0.1:5055/busybox:1
RUN echo \"final-base\" > /base.txt
COPY --from=build /out.txt /out.txt
";

fn demo_workflow(mode: &str) -> String {
    format!(
        "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/setup-buildx-action@v3\n      - name: build\n        uses: docker/build-push-action@v6\n        with:\n          cache-from: type=local,src=/tmp/cache\n          cache-to: type=local,dest=/tmp/cache,mode={mode}\n"
    )
}

/// The trees the samples were built from: `src.txt` v1 → v2 (with a workflow when `mode`).
fn demo_trees(dir: &Path, mode: Option<&str>) -> (String, String) {
    for (side, src) in [("base", "v1\n"), ("head", "v2\n")] {
        let mut files = vec![
            ("Dockerfile", DEMO.to_string()),
            ("src.txt", src.to_string()),
        ];
        if let Some(m) = mode {
            files.push((".github/workflows/ci.yml", demo_workflow(m)));
        }
        write_tree(&dir.join(side), &files);
    }
    (
        dir.join("base").display().to_string(),
        dir.join("head").display().to_string(),
    )
}

fn verify_json(base: &str, head: &str, records: &[&Path]) -> Value {
    let mut args = vec![
        "verify",
        "--base-dir",
        base,
        "--head-dir",
        head,
        "--format",
        "json",
    ];
    let paths: Vec<String> = records.iter().map(|p| p.display().to_string()).collect();
    for p in &paths {
        args.push("--record");
        args.push(p);
    }
    let o = cachebust(&args, &root());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// (line, real outcome, difference kind) of every compared step of the first verification.
fn checks(v: &Value) -> Vec<(u64, String, Option<String>)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["agrees"].is_null())
        .map(|c| {
            (
                c["line"].as_u64().unwrap(),
                c["real"].as_str().unwrap().to_string(),
                c["difference"]["kind"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The warm-builder prediction against the `mode=min` record: the builder's RUN that re-ran is
/// a difference, explained by the backend; predicted for the workflow's fresh runner, every
/// step agrees, and the `mode=max` record is the one that differs (the cache held the result).
#[test]
fn verify_explains_what_the_backend_did_on_the_real_samples() {
    let records = root().join("tests/fixtures/records");
    let min = records.join("local-min-src-changed.dockerbuild");
    let max = records.join("registry-max-src-changed.dockerbuild");
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = demo_trees(tmp.path(), None);
    let out = verify_json(&base, &head, &[&min, &max]);
    let df = &out["dockerfiles"][0];
    assert_eq!(df["builder"]["builder"], "warm_local");
    let v = df["verifications"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    let c = checks(&v[0]);
    assert_eq!(
        c,
        vec![
            (2, "ran".into(), Some("not_exported".into())),
            (3, "ran".into(), None),
            (4, "ran".into(), None),
            (7, "cached".into(), None),
            (8, "ran".into(), None),
        ]
    );
    let d = v[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == 2)
        .unwrap();
    assert_eq!(d["difference"]["needed_by"], 3);
    assert_eq!(v[0]["agreed"], 4);
    assert_eq!(v[0]["differed"], 1);
    assert!(
        v[0]["reasons"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("`mode=min`"),
        "{}",
        v[0]["reasons"]
    );
    // the max record: all as predicted for a warm builder
    assert_eq!(v[1]["differed"], 0);
    assert_eq!(v[1]["agreed"], 5);
    // real seconds replace the model
    let run = df["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == 4)
        .unwrap();
    assert_eq!(run["cost_source"], "timings");

    // predicted for the workflow's fresh runner with mode=min
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = demo_trees(tmp.path(), Some("min"));
    let out = verify_json(&base, &head, &[&min, &max]);
    let df = &out["dockerfiles"][0];
    assert_eq!(df["builder"]["builder"], "fresh_runner");
    let v = df["verifications"].as_array().unwrap();
    assert_eq!(
        (v[0]["agreed"].as_u64(), v[0]["differed"].as_u64()),
        (Some(5), Some(0))
    );
    let c = checks(&v[1]);
    assert_eq!(c[0], (2, "cached".into(), Some("cache_held".into())));
    assert_eq!(v[1]["differed"], 1);

    // markdown and text say the same
    let o = cachebust(
        &[
            "verify",
            "--base-dir",
            &base,
            "--head-dir",
            &head,
            "--format",
            "markdown",
            "--record",
            &max.display().to_string(),
        ],
        &root(),
    );
    let md = String::from_utf8_lossy(&o.stdout).into_owned();
    insta::assert_snapshot!("verify_markdown", md);
    let o = cachebust(
        &[
            "verify",
            "--base-dir",
            &base,
            "--head-dir",
            &head,
            "--record",
            &max.display().to_string(),
            "--fail-on-difference",
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    insta::assert_snapshot!("verify_text", text);
}

#[test]
fn verify_reports_the_failed_step_and_refuses_what_matches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for side in ["base", "head"] {
        write_tree(
            &tmp.path().join(side),
            &[(
                "Dockerfile",
                "FROM 127.0.0.1:5055/busybox:1\nRUN echo ok\nRUN echo boom && exit 3\n".into(),
            )],
        );
    }
    let (base, head) = (
        tmp.path().join("base").display().to_string(),
        tmp.path().join("head").display().to_string(),
    );
    let rec = root().join("tests/fixtures/records/failed-run-step.dockerbuild");
    let out = verify_json(&base, &head, &[&rec]);
    let v = &out["dockerfiles"][0]["verifications"][0];
    let c = checks(v);
    assert_eq!(c[1].0, 3);
    assert_eq!(c[1].1, "failed");
    assert_eq!(c[1].2.as_deref(), Some("failed"));
    // a record of another Dockerfile matches nothing: an error, exit 2
    let other = root().join("tests/fixtures/records/local-min-src-changed.dockerbuild");
    let o = cachebust(
        &[
            "verify",
            "--base-dir",
            &base,
            "--head-dir",
            &head,
            "--record",
            &other.display().to_string(),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2));
    // a log of another build whose only match is its first FROM (every build has one) is not a
    // build of this Dockerfile: nothing compared, not "0 of 0 steps as predicted"
    let from_only = tmp.path().join("other.log");
    std::fs::write(
        &from_only,
        "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/2] FROM docker.io/library/alpine:3.19\n#2 DONE 0.1s\n\n#3 [2/2] RUN make something-else\n#3 DONE 1.2s\n",
    )
    .unwrap();
    let o = cachebust(
        &[
            "verify",
            "--base-dir",
            &base,
            "--head-dir",
            &head,
            "--record",
            &from_only.display().to_string(),
        ],
        &root(),
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("other.log"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // neither a record nor a log
    let junk = tmp.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    let o = cachebust(
        &[
            "verify",
            "--base-dir",
            &base,
            "--head-dir",
            &head,
            "--record",
            &junk.display().to_string(),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.txt"));
}

const REAL: &str = "FROM {B1} AS build
RUN echo deps > /deps.txt
COPY src.txt /src.txt
RUN cat /deps.txt /src.txt > /out.txt

FROM {B1}
RUN echo final > /final.txt
COPY --from=build /out.txt /out.txt
";

/// One real build of the head per form of output, each verified: (name, file).
fn head_builds(
    d: &docker::Docker,
    dir: &Path,
    head: &Path,
    tag: &str,
) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let plain = d.build_with(head, "Dockerfile", None, &[], None, tag, Progress::Plain);
    assert!(plain.ok, "{}", plain.log);
    let file = tag.replace(['/', ':'], "-");
    let p = dir.join(format!("{file}.plain.log"));
    std::fs::write(&p, &plain.log).unwrap();
    out.push(("plain".to_string(), p));
    if d.daemon != Daemon::D2010 {
        let meta = dir.join(format!("{file}.meta.json"));
        let raw = d.buildx(
            head,
            None,
            &["--metadata-file".into(), meta.display().to_string()],
            tag,
        );
        assert!(raw.ok, "{}", raw.log);
        let p = dir.join(format!("{file}.rawjson.log"));
        std::fs::write(&p, &raw.log).unwrap();
        out.push(("rawjson".to_string(), p));
        let m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        let reference = m["buildx.build.ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let rec = dir.join(format!("{file}.dockerbuild"));
        let e = d
            .cmd()
            .args(["buildx", "history", "export", "--finalize", "--output"])
            .arg(&rec)
            .arg(&reference)
            .output()
            .unwrap();
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
        out.push(("record".to_string(), rec));
    }
    out
}

/// On each real engine: the head built on the base's builder agrees with the prediction step
/// for step in every form of output; built again after the cache is pruned, the steps the
/// prediction keeps cached ran and each difference says the build imported no cache; and a
/// prediction made from the wrong base (a deliberately wrong one) differs where it claimed a
/// rebuild, each difference naming the model.
async fn verify_on(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = REAL.replace("{B1}", BASE1);
    let tree = |name: &str, src: &str, notes: &str| {
        let p = tmp.path().join(name);
        write_tree(
            &p,
            &[
                ("Dockerfile", text.clone()),
                ("src.txt", src.to_string()),
                ("notes.txt", notes.to_string()),
            ],
        );
        p
    };
    let base = tree("base", "v1\n", "a\n");
    // the head changes a file no step copies: the real build hits everywhere
    let head = tree("head", "v1\n", "b\n");
    // a base that never was: src.txt differs, so the prediction claims rebuilds
    let wrong = tree("wrong-base", "v0\n", "a\n");
    let tag = format!("cbverify/{}", daemon.engine().name());
    d.prune();
    let b = d.build(&base, "Dockerfile", None, &[], None, &tag);
    assert!(b.ok, "{}", b.log);
    let s = |p: &Path| p.display().to_string();
    let mut failures = Vec::new();
    for (form, file) in head_builds(d, tmp.path(), &head, &tag) {
        let out = verify_json(&s(&base), &s(&head), &[&file]);
        let v = &out["dockerfiles"][0]["verifications"][0];
        if v["differed"] != 0 || v["agreed"].as_u64() != Some(5) {
            let log = if form == "record" {
                String::new()
            } else {
                std::fs::read_to_string(&file).unwrap_or_default()
            };
            failures.push(format!("{} {form}: warm builder: {v}\n{log}", d.label()));
        }
        let out = verify_json(&s(&wrong), &s(&head), &[&file]);
        let v = &out["dockerfiles"][0]["verifications"][0];
        let c = checks(v);
        let want: Vec<(u64, String, Option<String>)> = vec![
            (2, "cached".into(), None),
            (3, "cached".into(), Some("model_wrong".into())),
            (4, "cached".into(), Some("model_wrong".into())),
            (7, "cached".into(), None),
            // a copy of files a re-run step makes: the prediction said it may hit
            (8, "cached".into(), Some("same_bytes".into())),
        ];
        if c != want {
            failures.push(format!("{} {form}: wrong base: {c:?}", d.label()));
        }
    }
    // a builder without the base's cache
    d.prune();
    for (form, file) in head_builds(d, tmp.path(), &head, &format!("{tag}-pruned")) {
        let out = verify_json(&s(&base), &s(&head), &[&file]);
        let v = &out["dockerfiles"][0]["verifications"][0];
        let c = checks(v);
        // the first build after the prune runs everything; later ones (rawjson, record) hit
        // what the plain one left
        let expected_first = c
            .iter()
            .all(|(_, real, why)| real == "ran" && why.as_deref() == Some("no_cache_imported"));
        let later_agree = v["differed"] == 0;
        if !(form == "plain" && expected_first || form != "plain" && later_agree) {
            failures.push(format!("{} {form}: after a prune: {c:?}", d.label()));
        }
    }
    d.prune();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn verify_on_real_builds_of_docker_20_10() {
    verify_on(Daemon::D2010).await;
}

#[tokio::test]
async fn verify_on_real_builds_of_docker_28() {
    verify_on(Daemon::D28).await;
}
