//! Build records from CI in the Action and the App (issue 31 part 4), against the
//! Prism-validated fake GitHub: workflow runs, their artifacts, and the download that redirects
//! to another host, serving the real `.dockerbuild` samples (tests/fixtures/records, from
//! shared/buildkit-records) zipped as GitHub serves artifacts. The pull request's own record is
//! compared with the prediction ("predicted vs. what CI did"); the base branch's records price
//! the steps (samples and spread); a missing, expired or huge artifact degrades to the model
//! with one line.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::action::{PrRepo, event_file, no_violations, pr_repo_of, run_action, setup, text};
use crate::cli::root;
use crate::support::github::{Fake, Fault, fake};

/// The Dockerfile the samples were built from (shared/buildkit-records, ci-cache-demo.sh).
const DEMO: &str = "FROM 127.0.0.1:5055/busybox:1 AS build
RUN echo \"deps\" > /deps.txt && sleep 2
COPY src.txt /src.txt
RUN cat /deps.txt /src.txt > /out.txt

FROM 127.0.0.1:5055/busybox:1
RUN echo \"final-base\" > /base.txt
COPY --from=build /out.txt /out.txt
";

/// The change the samples built: `src.txt` v1 → v2.
fn demo_repo() -> PrRepo {
    pr_repo_of(
        &[("Dockerfile", DEMO), ("src.txt", "v1\n")],
        &[("src.txt", "v2\n")],
    )
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/records").join(name)).unwrap()
}

/// A zip archive as GitHub serves an artifact: `files` deflated.
fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dir = Vec::new();
    for (name, data) in files {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        let body = e.finish().unwrap();
        let offset = out.len() as u32;
        let head = |sig: &[u8], central: bool| {
            let mut h = sig.to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&8u16.to_le_bytes());
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            if central {
                h.extend_from_slice(&[0; 12]);
                h.extend_from_slice(&offset.to_le_bytes());
            } else {
                h.extend_from_slice(&0u16.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(head(b"PK\x03\x04", false));
        out.extend_from_slice(&body);
        dir.extend(head(b"PK\x01\x02", true));
    }
    let at = out.len() as u32;
    out.extend_from_slice(&dir);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A run of `.github/workflows/ci.yml`.
fn run(id: u64, sha: &str, branch: &str, event: &str) -> Value {
    json!({"id": id, "head_sha": sha, "head_branch": branch, "event": event,
           "conclusion": "success", "status": "completed", "path": ".github/workflows/ci.yml"})
}

/// Give run `run_id` an artifact named `name` holding `bytes` (zipped), listed with `size`
/// (the archive's own size when `None`) and `expired`; `bytes: None` lists it without a
/// download behind it.
fn artifact(
    f: &Fake,
    run_id: u64,
    id: u64,
    name: &str,
    bytes: Option<Vec<u8>>,
    size: Option<u64>,
    expired: bool,
) {
    let mut s = f.state();
    let size = size.unwrap_or_else(|| bytes.as_ref().map_or(0, |b| b.len() as u64));
    s.artifacts.entry(run_id).or_default().push(json!({
        "id": id, "node_id": "x", "name": name, "size_in_bytes": size, "expired": expired,
        "url": "u", "archive_download_url": "u", "created_at": null, "expires_at": null, "updated_at": null
    }));
    if let Some(b) = bytes {
        s.blobs.insert(id, b);
    }
}

const HEAD_RECORD: &str = "octo~shop~X3AFZ7.dockerbuild";

/// This run (77) built the head and uploaded the `mode=min` record; two pushes to `main`
/// (runs 50 and 49) uploaded the `mode=min` and `mode=max` records.
fn serve_records(f: &Fake, r: &PrRepo) {
    {
        let mut s = f.state();
        s.runs = vec![
            run(77, &r.head, "feature", "pull_request"),
            run(50, &r.base, "main", "push"),
            run(49, &r.base, "main", "push"),
        ];
    }
    let min = sample("local-min-src-changed.dockerbuild");
    let max = sample("registry-max-src-changed.dockerbuild");
    artifact(
        f,
        77,
        901,
        HEAD_RECORD,
        Some(zip(&[(HEAD_RECORD, &min)])),
        None,
        false,
    );
    artifact(
        f,
        50,
        501,
        "octo~shop~AAAAAA.dockerbuild",
        Some(zip(&[("octo~shop~AAAAAA.dockerbuild", &min)])),
        None,
        false,
    );
    artifact(
        f,
        49,
        491,
        "octo~shop~BBBBBB.dockerbuild",
        Some(zip(&[("octo~shop~BBBBBB.dockerbuild", &max)])),
        None,
        false,
    );
    // an artifact that is not a build record is left alone
    artifact(
        f,
        50,
        502,
        "coverage",
        Some(zip(&[("lcov.info", b"x")])),
        None,
        false,
    );
}

fn ci_env(report_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_BASE_REF", "main".into()),
        (
            "GITHUB_WORKFLOW_REF",
            "octo/shop/.github/workflows/ci.yml@refs/pull/7/merge".into(),
        ),
        ("RUNNER_TEMP", report_dir.display().to_string()),
    ]
}

fn action(f: &Fake, r: &PrRepo, extra: &[(&str, String)]) -> (crate::action::Run, Value) {
    setup(f, r, &r.head);
    let tmp = tempfile::tempdir().unwrap();
    let mut env = ci_env(tmp.path());
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let out = run_action(&f.url, &r.dir, &ev, &env);
    let report = std::fs::read(tmp.path().join("cachebust-report.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    (out, report)
}

fn step(report: &Value, line: u64) -> &Value {
    report["dockerfiles"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == line)
        .unwrap()
}

/// The note line of a summary (`> **Note:** …`), its markdown escapes taken out.
fn note(summary: &str) -> String {
    summary
        .lines()
        .filter(|l| l.starts_with("> **Note:**"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace('\\', "")
}

#[test]
fn the_action_compares_with_what_ci_did_and_prices_from_the_base_branch() {
    let Some(f) = fake() else { return };
    let r = demo_repo();
    serve_records(&f, &r);
    let (run, report) = action(&f, &r, &[]);
    let t = text(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{t}");
    no_violations(&f);
    // predicted vs. what CI did: the job summary, the sticky summary comment, the JSON report
    let comment = {
        let s = f.state();
        s.issue_comments
            .iter()
            .map(|c| c.body.clone())
            .collect::<String>()
    };
    for body in [&run.summary, &comment] {
        assert!(
            body.contains(&format!(
                "**Predicted vs. what CI did** (`{HEAD_RECORD} (run 77) (record "
            )),
            "{body}"
        );
        assert!(
            body.contains("4 of 5 steps as predicted, 1 differ"),
            "{body}"
        );
    }
    let v = &report["dockerfiles"][0]["verifications"][0];
    assert_eq!(v["source"], "ci_record", "{v}");
    assert_eq!(
        (v["agreed"].as_u64(), v["differed"].as_u64()),
        (Some(4), Some(1))
    );
    // the builder's RUN re-ran under mode=min where a warm builder keeps it: explained
    let d = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == 2)
        .unwrap();
    assert_eq!(d["difference"]["kind"], "not_exported", "{d}");
    // costs from the base branch's two records: their median, samples and spread; the
    // head's own record (this pull request's workflow) never prices a step
    let cat = step(&report, 4);
    assert_eq!(cat["cost_source"], "records", "{cat}");
    assert_eq!(cat["cost_label"], "2 samples", "{cat}");
    let deps = step(&report, 2);
    assert_eq!(deps["cost_source"], "records", "{deps}");
    assert_eq!(deps["cost_label"], "1 sample", "{deps}");
    assert!(deps["estimated_seconds"].as_f64().unwrap() > 1.5, "{deps}");
    assert!(
        note(&run.summary).contains("step costs from 2 build records of main (runs 50, 49)"),
        "{}",
        run.summary
    );
    // the archive was fetched from the redirect without the token; the API calls with it
    let s = f.state();
    let blobs: Vec<_> = s
        .requests
        .iter()
        .filter(|q| q.path.starts_with("/_blobs/"))
        .collect();
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    assert!(blobs.iter().all(|q| q.authorization.is_none()), "{blobs:?}");
    assert!(
        s.requests
            .iter()
            .filter(|q| q.path.contains("/actions/"))
            .all(|q| q.authorization.is_some())
    );
    // the base runs are this workflow's successful pushes to main
    assert!(
        s.requests.iter().any(
            |q| q.path == "/repos/octo/shop/actions/workflows/ci.yml/runs"
                && q.query.contains("branch=main")
                && q.query.contains("event=push")
                && q.query.contains("status=success")
        ),
        "{:?}",
        s.requests
            .iter()
            .map(|q| (&q.path, &q.query))
            .collect::<Vec<_>>()
    );
    assert!(!t.contains("ghs_test_token_do_not_print"));
}

/// A bomb: a `.dockerbuild` entry that unpacks to 2 MiB of zeros from a few KiB.
fn bomb() -> Vec<u8> {
    zip(&[(HEAD_RECORD, &vec![0u8; 2 << 20])])
}

#[test]
fn missing_expired_and_huge_artifacts_degrade_to_the_model_with_one_line() {
    let Some(f) = fake() else { return };
    // (what, set-up of the head's artifact, the line said)
    type Setup = fn(&Fake);
    let cases: &[(&str, Setup, &str)] = &[
        (
            "listed as expired",
            |f| artifact(f, 77, 901, HEAD_RECORD, None, Some(1000), true),
            "of run 77 has expired: the prediction is not compared with what CI did",
        ),
        (
            "410 on download",
            |f| {
                artifact(
                    f,
                    77,
                    901,
                    HEAD_RECORD,
                    Some(zip(&[(HEAD_RECORD, b"x")])),
                    None,
                    false,
                );
                f.state().faults.push(Fault {
                    method: "GET",
                    path_suffix: "/actions/artifacts/901/zip".into(),
                    status: 410,
                    body: r#"{"message":"Artifact has expired"}"#.into(),
                    headers: Vec::new(),
                    land: false,
                    land_after: None,
                });
            },
            "of run 77 has expired: the prediction is not compared with what CI did",
        ),
        (
            "missing",
            |f| artifact(f, 77, 901, HEAD_RECORD, None, Some(1000), false),
            "of run 77 is gone (not found): the prediction is not compared with what CI did",
        ),
        (
            "listed larger than the limit",
            |f| artifact(f, 77, 901, HEAD_RECORD, None, Some(5 << 20), false),
            "of run 77 is larger than 1 MiB, the limit, and was not read",
        ),
        (
            "a zip bomb under a small listed size",
            |f| artifact(f, 77, 901, HEAD_RECORD, Some(bomb()), None, false),
            "of run 77 is larger than 1 MiB, the limit, and was not read",
        ),
    ];
    let r = demo_repo();
    for (what, set, line) in cases {
        {
            let mut s = f.state();
            s.runs = vec![run(77, &r.head, "feature", "pull_request")];
            s.artifacts.clear();
            s.blobs.clear();
            s.issue_comments.clear();
            s.reviews.clear();
            s.review_comments.clear();
            s.requests.clear();
        }
        set(&f);
        let (out, report) = action(&f, &r, &[("INPUT_BUILD_RECORDS_MAX_MB", "1".into())]);
        assert_eq!(out.out.status.code(), Some(0), "{what}: {}", text(&out.out));
        no_violations(&f);
        let n = note(&out.summary);
        assert_eq!(n.lines().count(), 1, "{what}: {}", out.summary);
        assert!(n.contains(HEAD_RECORD) && n.contains(line), "{what}: {n}");
        // the review goes on: posted, priced by the model, nothing compared
        assert!(out.summary.contains("Dockerfile"), "{what}");
        assert!(!out.summary.contains("Predicted vs. what CI did"), "{what}");
        assert!(
            report["dockerfiles"][0]["verifications"]
                .as_array()
                .is_none_or(|v| v.is_empty()),
            "{what}"
        );
        assert_eq!(step(&report, 4)["cost_source"], "model", "{what}");
        assert_eq!(
            f.state().issue_comments.len(),
            1,
            "{what}: the summary comment"
        );
    }

    // the base branch: an expired record and a missing one price nothing, said in one line;
    // the head run without a record (a workflow that builds no image) says nothing
    {
        let mut s = f.state();
        s.runs = vec![
            run(77, &r.head, "feature", "pull_request"),
            run(50, &r.base, "main", "push"),
            run(49, &r.base, "main", "push"),
        ];
        s.artifacts.clear();
        s.blobs.clear();
        s.issue_comments.clear();
    }
    artifact(
        &f,
        50,
        501,
        "octo~shop~AAAAAA.dockerbuild",
        None,
        Some(100),
        true,
    );
    artifact(
        &f,
        49,
        491,
        "octo~shop~BBBBBB.dockerbuild",
        None,
        Some(100),
        false,
    );
    let (out, report) = action(&f, &r, &[]);
    assert_eq!(out.out.status.code(), Some(0), "{}", text(&out.out));
    let n = note(&out.summary);
    assert_eq!(
        n,
        "> **Note:** the build record octo~shop~AAAAAA.dockerbuild of run 50 on main and 1 more were not used (the first one has expired): those steps' costs come from the model",
        "{}",
        out.summary
    );
    assert_eq!(step(&report, 4)["cost_source"], "model");
    assert_eq!(step(&report, 2)["cost_source"], "model");

    // a named workflow whose run for the head uploaded no record: said; none named, this run
    // without one (a workflow that builds no image) says nothing
    {
        let mut s = f.state();
        s.runs = vec![run(78, &r.head, "feature", "pull_request")];
        s.artifacts.clear();
        s.blobs.clear();
        s.issue_comments.clear();
    }
    let (out, _) = action(&f, &r, &[("INPUT_BUILD_RECORDS_WORKFLOW", "ci.yml".into())]);
    assert_eq!(out.out.status.code(), Some(0), "{}", text(&out.out));
    assert!(
        note(&out.summary).contains("run 78 uploaded no build record (no .dockerbuild artifact"),
        "{}",
        out.summary
    );
    let (out, _) = action(&f, &r, &[]);
    assert_eq!(note(&out.summary), "", "{}", out.summary);

    // a token without `actions: read` (403): nothing read, nothing said; GitHub down (500
    // after the retries): one line, and the review still lands
    artifact(
        &f,
        77,
        901,
        HEAD_RECORD,
        Some(zip(&[(HEAD_RECORD, b"x")])),
        None,
        false,
    );
    let refuse = |status: u16, times: usize| {
        for _ in 0..times {
            f.state().faults.push(Fault {
                method: "GET",
                path_suffix: "/actions/runs/77/artifacts".into(),
                status,
                body: r#"{"message":"Resource not accessible by integration"}"#.into(),
                headers: Vec::new(),
                land: false,
                land_after: None,
            });
        }
    };
    refuse(403, 1);
    let (out, _) = action(&f, &r, &[]);
    assert_eq!(out.out.status.code(), Some(0), "{}", text(&out.out));
    assert_eq!(note(&out.summary), "", "{}", out.summary);
    f.state().faults.clear();
    refuse(500, 8);
    let (out, _) = action(&f, &r, &[]);
    assert_eq!(out.out.status.code(), Some(0), "{}", text(&out.out));
    assert!(
        note(&out.summary).starts_with(
            "> **Note:** the build records of run 77 could not be listed (GitHub server error (500)"
        ),
        "{}",
        out.summary
    );
    f.state().faults.clear();
}

/// The App: the server's job finds the newest run for the head commit that uploaded a record,
/// compares, prices from the base branch (the analysis runs in its own process: the records
/// cross it), and a missing artifact is one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_compares_with_what_ci_did_and_prices_from_the_base_branch() {
    use crate::server::{job_of, post, pr_payload, serve_change, signed, start_server, wait_until};
    let Some(f) = fake() else { return };
    let r = demo_repo();
    serve_change(&f, &r, &r.base, &r.head, &[&r.base, &r.head]);
    serve_records(&f, &r);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let srv = start_server(&db, &f.url, &[("CACHEBUST_CHECK_RUNS", "false")]);
    let store = cachebust::adapters::store::SqlStore::open(db.to_str().unwrap())
        .await
        .unwrap();
    let body_of = |n: u64| -> String {
        let s = f.state();
        s.issue_comments
            .iter()
            .filter(|c| c.pr == n)
            .map(|c| c.body.clone())
            .collect()
    };
    let review = async |n: u64, delivery: &str| {
        let body = pr_payload(&f, "opened", n, &r.head, &r.base);
        let (st, b) = post(srv.port, "pull_request", delivery, &body, signed(&body)).unwrap();
        assert_eq!(st, 202, "{b}");
        let job = job_of(&b);
        wait_until("the job to end", Duration::from_secs(90), async || {
            let s = store.job_status(job).await.unwrap().unwrap().0;
            s == "done" || s == "failed"
        })
        .await;
        let s = store.job_status(job).await.unwrap().unwrap();
        assert_eq!(s.0, "done", "{s:?}");
    };
    review(7, "ci-1").await;
    let body = body_of(7);
    assert!(body.contains("**Predicted vs. what CI did**"), "{body}");
    assert!(
        body.contains("4 of 5 steps as predicted, 1 differ"),
        "{body}"
    );
    assert!(
        body.contains("step costs from 2 build records of main (runs 50, 49)"),
        "{body}"
    );
    no_violations(&f);
    {
        let s = f.state();
        assert!(
            s.requests
                .iter()
                .any(|q| q.path == "/repos/octo/shop/actions/runs"
                    && q.query.contains(&format!("head_sha={}", r.head))),
        );
        assert!(
            s.requests
                .iter()
                .filter(|q| q.path.starts_with("/_blobs/"))
                .all(|q| q.authorization.is_none())
        );
    }
    // the head's artifact is gone: one line, and the review still lands
    f.state().blobs.remove(&901);
    review(8, "ci-2").await;
    let body = body_of(8);
    assert!(
        body.contains(&format!(
            "the build record {} of run 77 is gone (not found): the prediction is not compared with what CI did",
            HEAD_RECORD.replace('~', "\\~")
        )),
        "{body}"
    );
    assert!(!body.contains("Predicted vs. what CI did"), "{body}");
    assert!(body.contains("step costs from 2 build records"), "{body}");
    drop(srv);
}

/// A build of `dir` on Docker 28 with buildx, exported as CI does
/// (`docker buildx history export --finalize`): the `.dockerbuild` bytes.
fn record_of(d: &crate::support::docker::Docker, dir: &Path, tag: &str, scratch: &Path) -> Vec<u8> {
    let meta = scratch.join(format!("{}.meta.json", tag.replace(['/', ':'], "-")));
    let b = d.buildx(
        dir,
        None,
        &["--metadata-file".into(), meta.display().to_string()],
        tag,
    );
    assert!(b.ok, "{}", b.log);
    let m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let reference = m["buildx.build.ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let rec = meta.with_extension("dockerbuild");
    let e = d
        .cmd()
        .args(["buildx", "history", "export", "--finalize", "--output"])
        .arg(&rec)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    std::fs::read(&rec).unwrap()
}

/// Real records from Docker 28.5.2 through the Action: the base built from cold (the base
/// branch's CI build: every step ran, each a sample), the head built on that builder (this
/// run's record). The warm-builder prediction agrees with what the head's build did step for
/// step, and the steps are priced from the base's record.
#[tokio::test]
async fn real_records_of_docker_28_through_the_action() {
    use crate::support::docker::{self, BASE1, Daemon};
    let Some(f) = fake() else { return };
    let Some((d, _guard)) = docker::exclusive(Daemon::D28).await else {
        return;
    };
    let dockerfile = "FROM {B1} AS build
RUN echo deps > /deps.txt
COPY src.txt /src.txt
RUN cat /deps.txt /src.txt > /out.txt

FROM {B1}
RUN echo final > /final.txt
COPY --from=build /out.txt /out.txt
"
    .replace("{B1}", BASE1);
    let r = pr_repo_of(
        &[("Dockerfile", &dockerfile), ("src.txt", "v1\n")],
        &[("src.txt", "v2\n")],
    );
    let scratch = tempfile::tempdir().unwrap();
    let tree = |sha: &str| {
        let p = scratch.path().join(sha);
        std::fs::create_dir_all(&p).unwrap();
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&r.dir)
            .args(["archive", sha])
            .output()
            .unwrap();
        tar::Archive::new(&o.stdout[..]).unpack(&p).unwrap();
        p
    };
    let tag = format!("cbcirecords/{}", std::process::id());
    d.prune();
    let base_rec = record_of(d, &tree(&r.base), &format!("{tag}-base"), scratch.path());
    let head_rec = record_of(d, &tree(&r.head), &format!("{tag}-head"), scratch.path());
    d.fresh_runner(&[&format!("{tag}-base"), &format!("{tag}-head")]);
    {
        let mut s = f.state();
        s.runs = vec![
            run(77, &r.head, "feature", "pull_request"),
            run(50, &r.base, "main", "push"),
        ];
    }
    artifact(
        &f,
        77,
        901,
        HEAD_RECORD,
        Some(zip(&[(HEAD_RECORD, &head_rec)])),
        None,
        false,
    );
    artifact(
        &f,
        50,
        501,
        "octo~shop~BASE01.dockerbuild",
        Some(zip(&[("octo~shop~BASE01.dockerbuild", &base_rec)])),
        None,
        false,
    );
    let (out, report) = action(&f, &r, &[]);
    assert_eq!(out.out.status.code(), Some(0), "{}", text(&out.out));
    no_violations(&f);
    let v = &report["dockerfiles"][0]["verifications"][0];
    assert_eq!(v["source"], "ci_record", "{v}");
    assert_eq!(
        (v["agreed"].as_u64(), v["differed"].as_u64()),
        (Some(5), Some(0)),
        "{} {v}",
        d.label()
    );
    assert!(
        out.summary.contains("**Predicted vs. what CI did**")
            && out.summary.contains("5 of 5 steps as predicted"),
        "{}",
        out.summary
    );
    for line in [2, 3, 4, 7, 8] {
        let s = step(&report, line);
        assert_eq!(s["cost_source"], "records", "line {line}: {s}");
        assert_eq!(s["cost_label"], "1 sample", "line {line}: {s}");
    }
}
