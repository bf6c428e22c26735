//! `cachebust action`, the real binary, against GitHub's OpenAPI description served by Prism
//! (every request validated) behind a stateful fake (reviews, comments, files, trees): a pull
//! request over a real temporary git repository, event files made from shared/github/webhooks
//! payloads. Re-runs on a new head (dedupe, sticky update, stale deletion, replies kept),
//! GitHub's real error bodies (403 read-only token, 422 line not in diff, secondary rate limit),
//! a 502 after the review landed (no second review), a dry run, a shallow checkout read through
//! the API, and a push event.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::cli::{copy_tree, git, root};
use crate::parser_corpus::shared;
use crate::support::github::{Fake, Fault, fake};

/// The example pull request plus Dockerfile edits the review can comment on.
pub struct PrRepo {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub base: String,
    pub head: String,
}

fn rev(dir: &Path, r: &str) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", r])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn edit(dir: &Path, path: &str, f: impl Fn(&str) -> String) {
    let p = dir.join(path);
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, f(&t)).unwrap();
}

pub fn commit(dir: &Path, msg: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    rev(dir, "HEAD")
}

pub fn pr_repo() -> PrRepo {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "t@example.invalid"]);
    git(&dir, &["config", "user.name", "t"]);
    copy_tree(&root().join("examples/base"), &dir);
    let base = commit(&dir, "base");
    git(&dir, &["rm", "-rq", "."]);
    copy_tree(&root().join("examples/head"), &dir);
    // lines of the Dockerfiles this pull request touches
    edit(&dir, "api/Dockerfile", |t| {
        t.replace("RUN npm ci --omit=dev", "RUN npm ci --omit=dev --no-audit")
    });
    edit(&dir, "pyapp/Dockerfile", |t| {
        t.replacen(
            "FROM python:3.12-slim\n",
            "FROM python:3.12-slim\nARG BUILD_DATE\n",
            1,
        )
    });
    let head = commit(&dir, "head");
    PrRepo {
        _tmp: tmp,
        dir,
        base,
        head,
    }
}

/// A pull request from the tree `base` to the tree `head` ((path, text) each).
pub fn pr_repo_of(base: &[(&str, &str)], head: &[(&str, &str)]) -> PrRepo {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "t@example.invalid"]);
    git(&dir, &["config", "user.name", "t"]);
    let write = |files: &[(&str, &str)]| {
        for (p, t) in files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        }
    };
    write(base);
    let base = commit(&dir, "base");
    write(head);
    let head = commit(&dir, "head");
    PrRepo {
        _tmp: tmp,
        dir,
        base,
        head,
    }
}

/// The pull request's files as GitHub lists them: statuses and patches of base...head.
pub fn pull_files(dir: &Path, base: &str, head: &str) -> Vec<Value> {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--name-status", "--no-renames", base, head])
        .output()
        .unwrap();
    let repo = cachebust::adapters::git::GitRepo::open(dir).unwrap();
    let mut out = Vec::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let (st, path) = l.split_once('\t').unwrap();
        let status = match st {
            "A" => "added",
            "D" => "removed",
            _ => "modified",
        };
        let patch = repo
            .patches(base, head, &[path.to_string()])
            .unwrap()
            .pop()
            .map(|(_, p)| p);
        out.push(json!({"filename": path, "status": status, "patch": patch, "sha": "0", "additions": 1, "deletions": 0, "changes": 1}));
    }
    out
}

/// An event file from a real payload, pointed at this repository's commits.
pub fn event_file(dir: &Path, number: u64, base: &str, head: &str) -> PathBuf {
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("github/webhooks/pull_request.opened.1.json"))
            .unwrap(),
    )
    .unwrap();
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["head"]["sha"] = json!(head);
    v["pull_request"]["base"]["sha"] = json!(base);
    v["pull_request"]["base"]["repo"]["full_name"] = json!("octo/shop");
    v["pull_request"]["head"]["repo"]["full_name"] = json!("octo/shop");
    let p = dir.join(format!("event-{}.json", &head[..8]));
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

pub struct Run {
    pub out: Output,
    pub summary: String,
    pub outputs: String,
}

pub fn run_action(api: &str, workspace: &Path, event: &Path, extra: &[(&str, &str)]) -> Run {
    let files = tempfile::tempdir().unwrap();
    let summary = files.path().join("summary.md");
    let output = files.path().join("output");
    let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()),
        )
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_REPOSITORY", "octo/shop")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_WORKSPACE", workspace)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", files.path())
        .env("INPUT_GITHUB_TOKEN", "ghs_test_token_do_not_print")
        // the runner starts steps in the workspace
        .current_dir(workspace)
        .arg("action");
    for (k, v) in extra {
        if *k == "--dry-run" {
            c.arg("--dry-run");
        } else {
            c.env(k, v);
        }
    }
    let out = c.output().unwrap();
    Run {
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        outputs: std::fs::read_to_string(&output).unwrap_or_default(),
        out,
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn setup(f: &Fake, r: &PrRepo, head: &str) {
    let mut s = f.state();
    s.files = pull_files(&r.dir, &r.base, head);
}

pub fn no_violations(f: &Fake) {
    let v = f.state().violations();
    assert!(
        v.is_empty(),
        "requests GitHub's description rejects:\n{}",
        v.join("\n")
    );
}

#[test]
fn reviews_a_pull_request_then_reruns_without_duplicates() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    let t = text(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{t}");
    assert!(!t.contains("ghs_test_token"), "the token was printed");
    no_violations(&f);
    {
        let s = f.state();
        let posts: Vec<_> = s
            .mutations()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        assert_eq!(
            posts
                .iter()
                .filter(|r| r.path.ends_with("/reviews"))
                .count(),
            1,
            "one review"
        );
        let review = &posts
            .iter()
            .find(|r| r.path.ends_with("/reviews"))
            .unwrap()
            .body;
        assert_eq!(review["event"], "COMMENT");
        assert_eq!(review["commit_id"], json!(r.head));
        let comments = review["comments"].as_array().unwrap();
        // api: CB004 on the changed RUN line, with a suggestion of that one line (its own part
        // of the fix merged with CB001's, which spans the deleted line)
        let api = comments
            .iter()
            .find(|c| {
                c["path"] == "api/Dockerfile"
                    && c["body"]
                        .as_str()
                        .unwrap()
                        .contains("<!-- cachebust:fp=CB004-")
            })
            .expect("a CB004 comment on api/Dockerfile");
        let body = api["body"].as_str().unwrap();
        assert!(body.contains("<!-- cachebust:fp=CB004-"), "{body}");
        assert!(body.contains("```suggestion\nRUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit\n```"), "{body}");
        assert_eq!(api["line"], 5);
        assert!(api.get("start_line").is_none());
        // pyapp: the new `ARG BUILD_DATE` nothing shows changing (no workflow passes it, no
        // history says so): no CB003 on it (issue 29)
        assert!(
            !comments
                .iter()
                .any(|c| c["body"].as_str().unwrap().contains("cachebust:fp=CB003-")),
            "{comments:?}"
        );
        // one sticky summary
        let sticky: Vec<_> = posts
            .iter()
            .filter(|r| r.path.ends_with("/issues/7/comments"))
            .collect();
        assert_eq!(sticky.len(), 1);
        let sb = sticky[0].body["body"].as_str().unwrap();
        assert!(sb.starts_with("<!-- cachebust:summary -->"));
        assert!(sb.contains("Suggestions not shown inline"), "{sb}");
    }
    assert!(
        run.summary.contains("<!-- cachebust:summary -->")
            && run.summary.contains("lose their cache")
    );
    assert!(run.outputs.contains("rebuilt_steps<<"), "{}", run.outputs);
    let report_line = run
        .outputs
        .lines()
        .skip_while(|l| !l.starts_with("report<<"))
        .nth(1)
        .unwrap()
        .to_string();
    assert!(report_line.ends_with("cachebust-report.json"));
    let posted_first = f.state().review_comments.len();
    assert!(posted_first >= 2);

    // the same head again: nothing new is posted, the summary is edited in place
    f.state().requests.clear();
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    {
        let s = f.state();
        let m: Vec<String> = s
            .mutations()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            m,
            vec![
                "PATCH /repos/octo/shop/issues/comments/".to_string()
                    + &s.issue_comments[0].id.to_string()
            ],
            "{m:?}"
        );
        assert_eq!(s.review_comments.len(), posted_first);
        assert_eq!(s.issue_comments.len(), 1);
    }

    // someone answers api's CB004 comment; a new head fixes api and drops the ARG
    let py_id = f
        .state()
        .review_comments
        .iter()
        .find(|c| c.body.contains("<!-- cachebust:fp=CB004-"))
        .unwrap()
        .id;
    // api has two: CB004's own part as a suggestion, CB001 with the combined patch
    let api_ids: Vec<u64> = f
        .state()
        .review_comments
        .iter()
        .filter(|c| c.path.as_deref() == Some("api/Dockerfile"))
        .map(|c| c.id)
        .collect();
    assert_eq!(api_ids.len(), 2);
    let unanswered: Vec<u64> = api_ids.iter().copied().filter(|i| *i != py_id).collect();
    {
        let mut s = f.state();
        let reply = crate::support::github::Comment {
            id: 99,
            body: "keeping it for now".into(),
            path: Some("api/Dockerfile".into()),
            in_reply_to: Some(py_id),
            pr: 7,
            user: "alice".into(),
            user_type: "User".into(),
            ..Default::default()
        };
        s.review_comments.push(reply);
        s.requests.clear();
    }
    edit(&r.dir, "api/Dockerfile", |t| {
        t.replace(
            "RUN npm ci",
            "RUN --mount=type=cache,target=/root/.npm npm ci",
        )
    });
    edit(&r.dir, "pyapp/Dockerfile", |t| {
        t.replace("ARG BUILD_DATE\n", "")
    });
    let head2 = commit(&r.dir, "fix");
    setup(&f, &r, &head2);
    let ev2 = event_file(&r.dir, 7, &r.base, &head2);
    let run = run_action(&f.url, &r.dir, &ev2, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    no_violations(&f);
    let s = f.state();
    let deletes: Vec<&str> = s
        .mutations()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        deletes,
        unanswered
            .iter()
            .map(|id| format!("/repos/octo/shop/pulls/comments/{id}"))
            .collect::<Vec<_>>(),
        "the unanswered api comment is stale"
    );
    assert!(
        s.review_comments.iter().any(|c| c.id == py_id),
        "a comment with a reply is kept"
    );
    assert_eq!(s.issue_comments.len(), 1, "still one summary");
}

#[test]
fn a_read_only_token_falls_back_to_annotations() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let body = std::fs::read_to_string(
        shared().join("github/errors/resource-not-accessible-by-integration.403.json"),
    )
    .unwrap();
    f.state().faults.push(Fault {
        method: "POST",
        path_suffix: "/issues/7/comments".into(),
        status: 403,
        body: body.clone(),
        headers: vec![],
        land: false,
        land_after: None,
    });
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    let out = String::from_utf8_lossy(&run.out.stdout).into_owned();
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    assert!(
        out.contains("::notice file=api/Dockerfile,line=5,endLine=5,title=CB004 cache-mount::"),
        "{out}"
    );
    assert!(
        out.contains("::warning file=api/Dockerfile,line=4,endLine=4,title=CB001 manifest-first::"),
        "{out}"
    );
    assert!(
        out.contains("Resource not accessible by integration"),
        "{out}"
    );
    assert!(
        run.summary.contains("could not post to the pull request"),
        "{}",
        run.summary
    );
    // with fail_on exceeded the exit status still says so
    f.state().faults.push(Fault {
        method: "POST",
        path_suffix: "/issues/7/comments".into(),
        status: 403,
        body,
        headers: vec![],
        land: false,
        land_after: None,
    });
    let run = run_action(&f.url, &r.dir, &ev, &[("INPUT_FAIL_ON", "rebuilt-steps>2")]);
    assert_eq!(run.out.status.code(), Some(1), "{}", text(&run.out));
}

#[test]
fn a_rejected_anchor_moves_every_comment_to_the_summary() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let body =
        std::fs::read_to_string(shared().join("github/errors/review-line-not-in-diff.422.json"))
            .unwrap();
    f.state().faults.push(Fault {
        method: "POST",
        path_suffix: "/pulls/7/reviews".into(),
        status: 422,
        body,
        headers: vec![],
        land: false,
        land_after: None,
    });
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    let s = f.state();
    assert!(s.reviews.is_empty());
    let sticky = &s.issue_comments[0].body;
    assert!(
        sticky.contains("CB004") && sticky.contains("CB001"),
        "{sticky}"
    );
}

#[test]
fn a_review_that_landed_before_a_502_is_not_posted_twice() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    f.state().faults.push(Fault {
        method: "POST",
        path_suffix: "/pulls/7/reviews".into(),
        status: 502,
        body: "{\"message\":\"Bad Gateway\"}".into(),
        headers: vec![],
        land: true,
        land_after: None,
    });
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    let s = f.state();
    assert_eq!(s.reviews.len(), 1, "the review landed once");
    assert_eq!(
        s.requests
            .iter()
            .filter(|q| q.method == "POST" && q.path.ends_with("/reviews"))
            .count(),
        1,
        "no second POST"
    );
    assert!(
        s.requests
            .iter()
            .any(|q| q.method == "GET" && q.path.ends_with("/pulls/7/reviews")),
        "it looked for the review first"
    );
}

#[test]
fn a_secondary_rate_limit_is_waited_out() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let body =
        std::fs::read_to_string(shared().join("github/errors/secondary-rate-limit.403.json"))
            .unwrap();
    f.state().faults.push(Fault {
        method: "GET",
        path_suffix: "/issues/7/comments".into(),
        status: 403,
        body,
        headers: vec![("retry-after", "1".into())],
        land: false,
        land_after: None,
    });
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let started = std::time::Instant::now();
    let run = run_action(&f.url, &r.dir, &ev, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(f.state().issue_comments.len(), 1);
}

#[test]
fn a_dry_run_prints_the_requests_and_sends_none() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let run = run_action(&f.url, &r.dir, &ev, &[("--dry-run", "")]);
    let out = String::from_utf8_lossy(&run.out.stdout).into_owned();
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    assert!(f.state().mutations().is_empty());
    assert!(out.contains("dry run: 2 request(s) would be sent"), "{out}");
    assert!(
        out.contains("POST /repos/octo/shop/pulls/7/reviews"),
        "{out}"
    );
    assert!(out.contains("\"event\": \"COMMENT\""), "{out}");
    assert!(
        out.contains("POST /repos/octo/shop/issues/7/comments"),
        "{out}"
    );
}

#[test]
fn a_shallow_checkout_is_read_through_the_api() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    // the fake serves both trees and the files' contents
    let repo = cachebust::adapters::git::GitRepo::open(&r.dir).unwrap();
    for sha in [&r.base, &r.head] {
        f.state().serve_commit(&r.dir, sha);
    }
    f.state().merge_base = Some(r.base.clone());
    drop(repo);
    // the workspace is not a repository holding the commits
    let empty = tempfile::tempdir().unwrap();
    let ev = event_file(empty.path(), 7, &r.base, &r.head);
    let run = run_action(&f.url, empty.path(), &ev, &[]);
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    no_violations(&f);
    {
        let s = f.state();
        assert!(s.requests.iter().any(|q| q.path.contains("/git/trees/")));
        assert!(
            s.requests
                .iter()
                .any(|q| q.path.contains("/contents/pyapp%2FDockerfile")),
            "paths are sent encoded"
        );
        assert_eq!(s.reviews.len(), 1);
        // each blob is read once (issue 30 item 9: every head Dockerfile was fetched twice, and
        // a file the change leaves alone once per side)
        let reads: Vec<(String, String)> = s
            .requests
            .iter()
            .filter(|q| q.method == "GET" && q.path.contains("/contents/"))
            .map(|q| {
                let p = q.path.split_once("/contents/").unwrap().1;
                let r = q.query.strip_prefix("ref=").unwrap_or(&q.query);
                (p.replace("%2F", "/"), r.to_string())
            })
            .collect();
        let blobs: std::collections::BTreeSet<String> = reads
            .iter()
            .map(|(p, git_ref)| rev(&r.dir, &format!("{git_ref}:{p}")))
            .collect();
        assert!(reads.len() > 3, "{reads:?}");
        assert_eq!(reads.len(), blobs.len(), "{reads:?}");
    }
    // the same prediction as from the git objects
    assert!(run.summary.contains("lose their cache"));
    let local = run_action(&f.url, &r.dir, &ev, &[("INPUT_MODE", "summary")]);
    // (the chains: seconds differ, git trees here do not list sizes and the API's do)
    let strip = |t: &str| {
        t.lines()
            .filter(|l| {
                l.starts_with("### cachebust")
                    || (l.starts_with("- line") && l.contains(" rebuilds: "))
                    || l.starts_with("  - then line")
            })
            // (the verdict's seconds differ too, and the mode changes its inline count)
            .map(|l| {
                if l.starts_with("### cachebust") {
                    "### cachebust"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(strip(&run.summary).lines().count() > 10);
    assert_eq!(strip(&run.summary), strip(&local.summary));
}

#[test]
fn a_push_writes_only_the_job_summary() {
    let r = pr_repo();
    let ev = r.dir.join("push.json");
    std::fs::write(
        &ev,
        json!({"before": r.base, "after": r.head, "ref": "refs/heads/main"}).to_string(),
    )
    .unwrap();
    // an API address nothing listens on: any request would fail the run
    let run = run_action(
        "http://127.0.0.1:9",
        &r.dir,
        &ev,
        &[("GITHUB_EVENT_NAME", "push")],
    );
    let out = text(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{out}");
    assert!(out.contains("nothing posted"), "{out}");
    assert!(run.summary.contains("lose their cache"));
}

#[test]
fn bad_inputs_are_refused_with_their_name() {
    let r = pr_repo();
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    for (k, v, want) in [
        ("INPUT_MODE", "loud", "input mode"),
        (
            "INPUT_MAX_INLINE_COMMENTS",
            "many",
            "input max_inline_comments",
        ),
        ("INPUT_FAIL_ON", "steps>1", "input fail_on"),
        ("INPUT_BUILD_ARGS", "=1", "input build_args"),
    ] {
        let run = run_action("http://127.0.0.1:9", &r.dir, &ev, &[(k, v)]);
        assert_eq!(run.out.status.code(), Some(2), "{k}");
        assert!(text(&run.out).contains(want), "{k}: {}", text(&run.out));
    }
}

/// An analysis that fails is said on the pull request (issue 30), not only in the step's log:
/// the summary comment says what was refused and why (edited in place by the next run, not
/// posted again), the job summary too, and the step fails.
#[test]
fn an_analysis_that_fails_is_said_on_the_pull_request() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    setup(&f, &r, &r.head);
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    for attempt in 1..=2 {
        let run = run_action(
            &f.url,
            &r.dir,
            &ev,
            &[
                ("INPUT_DOCKERFILES", "no/such/Dockerfile"),
                ("GITHUB_RUN_ATTEMPT", &attempt.to_string()),
            ],
        );
        let out = text(&run.out);
        assert_eq!(run.out.status.code(), Some(2), "{out}");
        assert!(out.contains("no/such/Dockerfile: no such file"), "{out}");
        assert!(
            out.contains("the summary comment on the pull request says so"),
            "{out}"
        );
        assert!(
            run.summary.contains("no prediction") && run.summary.contains("no/such/Dockerfile"),
            "{}",
            run.summary
        );
        let s = f.state();
        assert_eq!(s.issue_comments.len(), 1, "attempt {attempt}");
        let body = &s.issue_comments[0].body;
        assert!(
            body.starts_with("<!-- cachebust:summary -->")
                && body.contains("this pull request was not analysed")
                && body.contains("no/such/Dockerfile: no such file"),
            "{body}"
        );
        assert!(
            body.ends_with(&format!("<!-- cachebust:run gha-77-{attempt} -->")),
            "{body}"
        );
        assert!(s.reviews.is_empty());
    }
    no_violations(&f);
}

/// `build_args` as `docker build --build-arg` (and `cachebust analyze --build-arg`): a bare
/// `KEY` takes its value from the step's environment, and is left out when that does not set
/// it. The JSON report (written even with GitHub unreachable) shows whether `V` had a value.
#[test]
fn a_bare_build_arg_takes_its_value_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "t@example.invalid"]);
    git(&dir, &["config", "user.name", "t"]);
    let df = |run: &str| format!("ARG V\nFROM busybox:${{V}}\nRUN {run}\n");
    std::fs::write(dir.join("Dockerfile"), df("echo a")).unwrap();
    let base = commit(&dir, "base");
    std::fs::write(dir.join("Dockerfile"), df("echo b")).unwrap();
    let head = commit(&dir, "head");
    let ev = event_file(&dir, 7, &base, &head);
    let temp = tmp.path().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let unresolved = |extra: &[(&str, &str)]| -> bool {
        let mut extra = extra.to_vec();
        extra.push(("RUNNER_TEMP", temp.to_str().unwrap()));
        let run = run_action("http://127.0.0.1:9", &dir, &ev, &extra);
        assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
        let report = run
            .outputs
            .lines()
            .skip_while(|l| !l.starts_with("report<<"))
            .nth(1)
            .unwrap()
            .to_string();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let from = &v["dockerfiles"][0]["steps"][0];
        assert_eq!(from["instruction"], "FROM busybox:${V}", "{v}");
        from["notes"].as_array().is_some_and(|n| {
            n.iter()
                .any(|n| n["note"] == "unresolved_arg" && n["name"] == "V")
        })
    };
    assert!(!unresolved(&[("INPUT_BUILD_ARGS", "V"), ("V", "1.36")]));
    assert!(unresolved(&[("INPUT_BUILD_ARGS", "V")]));
    assert!(!unresolved(&[("INPUT_BUILD_ARGS", "V=1.36")]));
}

/// A stand-in for GitHub that answers every request with `status` (bounded: it stops after
/// `max` connections or when the test ends).
fn answering(status: u16, max: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in l.incoming().take(max) {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let body = format!("{{\"message\":\"Server Error {status}\"}}");
            let _ = write!(
                s,
                "HTTP/1.1 {status} Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// GitHub unreachable, or answering 5xx to every call: with both commits in the checkout the
/// job summary carries the prediction, the outputs and the JSON report are written, stderr
/// says in one line which call failed and how, and the token appears nowhere.
#[test]
fn github_down_degrades_to_the_job_summary_and_the_outputs() {
    let r = pr_repo();
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    for (api, kind) in [
        ("http://127.0.0.1:9".to_string(), "cannot reach GitHub"),
        (answering(500, 50), "GitHub server error (500)"),
        (answering(503, 50), "GitHub server error (503)"),
    ] {
        let run = run_action(&api, &r.dir, &ev, &[]);
        let stderr = String::from_utf8_lossy(&run.out.stderr).into_owned();
        let all = text(&run.out);
        assert_eq!(run.out.status.code(), Some(0), "{kind}: {all}");
        assert!(
            run.summary.contains("### cachebust: +") && run.summary.contains("lose their cache"),
            "{kind}: the prediction is in the job summary:\n{}",
            run.summary
        );
        assert!(run.summary.contains("could not post to the pull request"));
        assert!(run.outputs.contains("rebuilt_steps<<"), "{}", run.outputs);
        assert!(run.outputs.contains("estimated_rebuild_seconds<<"));
        let failed: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("cachebust: "))
            .collect();
        assert_eq!(failed.len(), 1, "{kind}: one line:\n{stderr}");
        assert!(
            failed[0].contains("listing the pull request's files failed")
                && failed[0].contains(kind),
            "{kind}: {stderr}"
        );
        assert!(!failed[0].contains("(422)"));
        let report = run
            .outputs
            .lines()
            .skip_while(|l| !l.starts_with("report<<"))
            .nth(1)
            .unwrap()
            .to_string();
        let json = std::fs::read_to_string(&report).unwrap_or_default();
        for (what, t) in [
            ("output", &all),
            ("summary", &run.summary),
            ("outputs", &run.outputs),
            ("report", &json),
        ] {
            assert!(!t.contains("ghs_test_token"), "the token is in the {what}");
        }
    }
}

/// action.yml: every input documented there and in docs/action.md and read by the Action (or,
/// for the release to install, by action/install.sh), the outputs the ones it writes, the release
/// it installs this version; the workflows pin every action by commit (the example names this
/// action by its release tag, which has no commit before it exists); the workflow the README and
/// docs/action.md show is docs/action-example.yml.
#[test]
fn action_yml_is_documented_and_pinned() {
    let root = root();
    let text = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let a: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(a["runs"]["using"], "composite");
    assert_eq!(
        a["inputs"]["version"]["default"],
        env!("CARGO_PKG_VERSION"),
        "the action installs the release of this version"
    );
    let installer = std::fs::read_to_string(root.join("action/install.sh")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let page = std::fs::read_to_string(root.join("docs/action.md")).unwrap();
    let source = std::fs::read_to_string(root.join("src/action/mod.rs")).unwrap();
    let inputs = a["inputs"].as_object().unwrap();
    assert!(inputs.len() >= 10);
    for (name, spec) in inputs {
        assert!(
            spec["description"].as_str().is_some_and(|d| d.len() > 20),
            "input {name} has no description"
        );
        assert!(
            page.lines()
                .any(|l| l.starts_with('|') && l.contains(&format!("`{name}`"))),
            "input {name} is not in docs/action.md's table of inputs"
        );
        assert!(
            source.contains(&format!("input(\"{name}\")"))
                || installer.contains(&format!("CACHEBUST_{}", name.to_uppercase())),
            "neither the Action nor the installer reads input {name}"
        );
    }
    let outputs: Vec<&String> = a["outputs"].as_object().unwrap().keys().collect();
    for o in ["rebuilt_steps", "estimated_rebuild_seconds", "report"] {
        assert!(outputs.iter().any(|x| *x == o), "output {o}");
        assert!(
            page.contains(&format!("`{o}`")),
            "output {o} is not in docs/action.md"
        );
        assert!(source.contains(&format!("\"{o}\"")));
    }
    // every action a workflow uses is pinned by commit
    let sha = regex::Regex::new(r"^[^@\s]+@[0-9a-f]{40}$").unwrap();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root.join("docs/action-example.yml"));
    for f in &files {
        let t = std::fs::read_to_string(f).unwrap();
        for l in t.lines() {
            let Some(u) = l
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            let u = u.split(" #").next().unwrap().trim();
            let own_release = f.ends_with("docs/action-example.yml")
                && u == format!("cachebust/cachebust@v{}", env!("CARGO_PKG_VERSION"));
            assert!(
                sha.is_match(u) || u == "./" || own_release,
                "{}: {u} is not pinned by commit",
                f.display()
            );
        }
    }
    // the release workflow: on tags, with provenance
    let rel: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    assert!(rel["on"]["push"]["tags"].is_array());
    let steps = rel["jobs"]["image"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["with"]["provenance"] == "mode=max" && s["with"]["push"] == true)
    );
    // provenance of the image and of every asset; the assets' checksums
    let uses = |job: &str| -> Vec<String> {
        rel["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["uses"].as_str().map(str::to_string))
            .collect()
    };
    for job in ["image", "release"] {
        assert!(
            uses(job)
                .iter()
                .any(|u| u.starts_with("actions/attest-build-provenance@")),
            "job {job} attests"
        );
    }
    let release_steps = rel["jobs"]["release"]["steps"].to_string();
    assert!(release_steps.contains("SHA256SUMS"), "{release_steps}");
    // the README and docs/action.md show the example workflow as it is checked
    let example = std::fs::read_to_string(root.join("docs/action-example.yml")).unwrap();
    for (name, text) in [("README.md", &readme), ("docs/action.md", &page)] {
        assert!(
            text.contains(&format!("```yaml\n{example}```")),
            "{name}'s example workflow differs from docs/action-example.yml"
        );
    }
}

/// The configuration is the BASE revision's (issue 17, item 7): a pull request that replaces
/// `.github/cachebust.yml` by a link to a file outside the checkout neither switches the base's
/// settings off nor gets the file's contents printed (item 6); the summary says it edits the
/// configuration. A timings log that links out of the checkout is refused the same way.
#[test]
fn the_base_configuration_applies_and_pull_request_files_are_not_followed_out() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let secret = r.dir.parent().unwrap().join("shadow");
    std::fs::write(&secret, "root:SECRET-HASH:20228:0:99999:7:::\n").unwrap();
    // the base commit switches CB001 off (the pull request changes api's manifests, which
    // `COPY . .` copies before the install)
    git(&r.dir, &["checkout", "-q", &r.base]);
    std::fs::create_dir_all(r.dir.join(".github")).unwrap();
    std::fs::write(
        r.dir.join(".github/cachebust.yml"),
        "rules:\n  CB001: off\n",
    )
    .unwrap();
    let base = commit(&r.dir, "base with a configuration");
    git(&r.dir, &["checkout", "-q", &r.head, "--", "."]);
    std::fs::remove_file(r.dir.join(".github/cachebust.yml")).unwrap();
    std::os::unix::fs::symlink(&secret, r.dir.join(".github/cachebust.yml")).unwrap();
    let head = commit(&r.dir, "head: the configuration links out");
    {
        let mut s = f.state();
        s.files = pull_files(&r.dir, &base, &head);
    }
    let ev = event_file(&r.dir, 7, &base, &head);
    let temp = r.dir.parent().unwrap().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let run = run_action(
        &f.url,
        &r.dir,
        &ev,
        &[("--dry-run", ""), ("RUNNER_TEMP", temp.to_str().unwrap())],
    );
    let all = format!("{}{}", text(&run.out), run.summary);
    assert_eq!(run.out.status.code(), Some(0), "{all}");
    assert!(!all.contains("SECRET"), "{all}");
    assert!(
        !all.contains("CB001"),
        "the base switched CB001 off:\n{all}"
    );
    assert!(
        all.contains(
            "this change edits .github/cachebust.yml; the review follows the base revision"
        ),
        "{all}"
    );
    assert!(f.state().mutations().is_empty());
    // the JSON report lists the summary's note as a warning without a file, after the
    // report's own diagnostics
    let report_path = run
        .outputs
        .lines()
        .skip_while(|l| !l.starts_with("report<<"))
        .nth(1)
        .unwrap_or_else(|| panic!("{}", run.outputs))
        .to_string();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let diags = report["diagnostics"].as_array().unwrap();
    let last = diags.last().unwrap_or_else(|| panic!("{report}"));
    assert_eq!(last["file"], "", "{report}");
    assert_eq!(last["severity"], "warning", "{report}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("this change edits .github/cachebust.yml"),
        "{report}"
    );
    // without the base's file the same pull request is flagged
    let plain = pr_repo();
    setup(&f, &plain, &plain.head);
    let ev = event_file(&plain.dir, 8, &plain.base, &plain.head);
    let run = run_action(&f.url, &plain.dir, &ev, &[("--dry-run", "")]);
    assert!(text(&run.out).contains("CB001"), "{}", text(&run.out));
    // a timings log linking out of the checkout
    std::os::unix::fs::symlink(&secret, r.dir.join("build.log")).unwrap();
    let ev = event_file(&r.dir, 7, &base, &head);
    let run = run_action(
        &f.url,
        &r.dir,
        &ev,
        &[("--dry-run", ""), ("INPUT_TIMINGS", "build.log")],
    );
    let out = text(&run.out);
    assert_eq!(run.out.status.code(), Some(2), "{out}");
    assert!(
        out.contains("input timings: build.log: a symlink out of the repository"),
        "{out}"
    );
    assert!(!out.contains("SECRET"), "{out}");
}

/// Issue 30 item 1: a pull request that adds a directory named after its merge base (a copy of
/// its files and a configuration that excludes every path) does not become the base: the base is
/// the merge-base commit, read from the git objects, and its verdict stands.
#[test]
fn a_directory_named_after_the_merge_base_is_not_the_base() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let decoy = r.dir.join(&r.base);
    copy_tree(&root().join("examples/head"), &decoy);
    std::fs::create_dir_all(decoy.join(".github")).unwrap();
    std::fs::write(
        decoy.join(".github/cachebust.yml"),
        "paths:\n  exclude: [\"*\"]\nrules:\n  CB001: off\n  CB002: off\n  CB003: off\n  CB004: off\n",
    )
    .unwrap();
    let head = commit(&r.dir, "head: a directory named after the merge base");
    {
        let mut s = f.state();
        s.files = pull_files(&r.dir, &r.base, &head);
    }
    let ev = event_file(&r.dir, 7, &r.base, &head);
    let run = run_action(
        &f.url,
        &r.dir,
        &ev,
        &[("--dry-run", ""), ("INPUT_FAIL_ON", "rebuilt-steps>0")],
    );
    let all = format!("{}{}", text(&run.out), run.summary);
    assert_eq!(run.out.status.code(), Some(1), "{all}");
    assert!(!all.contains("No Dockerfile build is touched"), "{all}");
    assert!(all.contains("api/Dockerfile"), "{all}");
    assert!(
        all.contains("CB001"),
        "the base configuration is the base commit's: {all}"
    );
}

/// Issue 30 item 7: a timings log the pull request commits (near-zero durations for the step it
/// re-runs) is not read: the estimate is the one without it, and the summary says why. A log the
/// workflow wrote (untracked, as a downloaded artifact is) is read.
#[test]
fn a_timings_log_the_pull_request_commits_is_not_used() {
    let Some(f) = fake() else { return };
    let log = "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n\
               #2 [1/4] FROM docker.io/library/node:20-slim\n#2 DONE 0.0s\n\n\
               #3 [2/4] WORKDIR /srv/api\n#3 DONE 0.0s\n\n\
               #4 [3/4] COPY . .\n#4 DONE 0.0s\n\n\
               #5 [4/4] RUN npm ci --omit=dev\n#5 DONE 0.1s\n";
    let seconds = |outputs: &str| -> f64 {
        // name<<DELIMITER, the value, DELIMITER
        let mut lines = outputs.lines();
        lines
            .find(|l| l.starts_with("estimated_rebuild_seconds"))
            .unwrap_or_else(|| panic!("{outputs}"));
        lines.next().unwrap().parse().unwrap()
    };
    let run = |r: &PrRepo, head: &str, timings: Option<&str>| {
        let ev = event_file(&r.dir, 7, &r.base, head);
        let mut extra = vec![("--dry-run", "")];
        if let Some(t) = timings {
            extra.push(("INPUT_TIMINGS", t));
        }
        run_action(&f.url, &r.dir, &ev, &extra)
    };
    // the estimate without any log
    let plain = pr_repo();
    setup(&f, &plain, &plain.head);
    let model = seconds(&run(&plain, &plain.head, None).outputs);
    // a log the workflow wrote, untracked: read, and it lowers the estimate
    std::fs::write(plain.dir.join("api-build.log"), log).unwrap();
    let written = run(&plain, &plain.head, Some("api-build.log"));
    assert!(
        seconds(&written.outputs) < model,
        "{model} vs {}",
        written.outputs
    );
    assert!(!written.summary.contains("is a file of this pull request"));
    // the same log committed by the pull request: not read, said so
    let r = pr_repo();
    std::fs::write(r.dir.join("api-build.log"), log).unwrap();
    let head = commit(&r.dir, "head: our own build durations");
    setup(&f, &r, &head);
    let own = run(&r, &head, Some("./api-build.log"));
    assert_eq!(seconds(&own.outputs), model, "{}", own.summary);
    assert!(
        own.summary.contains(
            "input timings: ./api-build.log is a file of this pull request's head commit"
        ),
        "{}",
        own.summary
    );
}
