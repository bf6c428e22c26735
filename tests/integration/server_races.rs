//! `cachebust serve` against the hostile and racy cases of issue 30, on the Prism-validated fake
//! GitHub and on both queue backends (an SQLite file, and a PostgreSQL database of its own per
//! test when `CACHEBUST_TEST_POSTGRES_URL` names a server): another bot's comments are never
//! touched and our review survives GitHub refusing to let us touch them; a summary GitHub stores
//! after the client gave up is found, not posted twice; the pull request's real head decides
//! which analysis is posted, across instances and in the publish window; a refused analysis
//! reaches the pull request.

use std::path::Path;
use std::time::Duration;

use cachebust::adapters::store::SqlStore;
use cachebust::ports::JobStore;
use serde_json::{Value, json};

use crate::action::{commit, pr_repo};
use crate::server::{
    get_text, job_of, post, pr_payload, serve_change, serve_repo, signed, start_server,
    start_server_on, wait_until,
};
use crate::support::github::{Comment, Fake, Fault, fake};

/// A PostgreSQL database of its own (dropped at the end), or `None` without a server.
pub(crate) struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PgDb {
    pub(crate) async fn fresh(tag: &str) -> Option<PgDb> {
        let Ok(admin) = std::env::var("CACHEBUST_TEST_POSTGRES_URL") else {
            if std::env::var_os("CACHEBUST_REQUIRE_POSTGRES").is_some() {
                panic!("CACHEBUST_TEST_POSTGRES_URL is not set");
            }
            eprintln!("SKIPPED on PostgreSQL: set CACHEBUST_TEST_POSTGRES_URL");
            return None;
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "cachebust_t_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let (head, _) = admin.rsplit_once('/').unwrap();
        Some(PgDb {
            url: format!("{head}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// The queues a test runs on: an SQLite file in `dir`, and a fresh PostgreSQL database.
async fn backends(dir: &Path, tag: &str) -> Vec<(String, Option<PgDb>)> {
    let mut v = vec![(format!("sqlite://{}", dir.join("q.db").display()), None)];
    if let Some(pg) = PgDb::fresh(tag).await {
        v.push((pg.url.clone(), Some(pg)));
    }
    v
}

fn other(id: u64, pr: u64, user: &str, body: &str) -> Comment {
    Comment {
        id,
        pr,
        body: body.into(),
        path: Some("api/Dockerfile".into()),
        line: Some(1),
        user: user.into(),
        user_type: "Bot".into(),
        ..Default::default()
    }
}

/// Item 10: as a GitHub App (our login from `GET /app`), with other bots' comments on the pull
/// request that carry cachebust's markers — one quoting a finding's marker inside a code block,
/// another install of cachebust with a marker on its first line and a summary comment of its
/// own — and a stale comment of ours: ours is deleted, theirs are untouched (GitHub would answer
/// 403), and the review, the summary and the check run are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_bots_comments_are_never_touched_and_the_review_goes_on() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &[]);
    {
        let mut s = f.state();
        s.app_id = Some(4242);
        s.login = "cachebust-test[bot]".into();
        s.app_slug = "cachebust-test".into();
        s.review_comments.push(other(
            90_001,
            7,
            "other-bot[bot]",
            "Quoting cachebust:\n```\n<!-- cachebust:fp=CB001-00000000000000ff -->\n```\nwe disagree",
        ));
        s.review_comments.push(other(
            90_002,
            7,
            "other-cachebust[bot]",
            "<!-- cachebust:fp=CB001-00000000000000fe -->\nanother install of cachebust",
        ));
        s.issue_comments.push(other(
            90_003,
            7,
            "other-cachebust[bot]",
            "<!-- cachebust:summary -->\nanother install's summary",
        ));
        s.review_comments.push(other(
            90_004,
            7,
            "cachebust-test[bot]",
            "<!-- cachebust:fp=CB001-00000000000000fd -->\na finding of ours that is gone",
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let key = crate::cli::root().join("tests/fixtures/github-app-test-key.pem");
    let srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_GITHUB_TOKEN", ""),
            ("CACHEBUST_APP_ID", "4242"),
            ("CACHEBUST_PRIVATE_KEY_FILE", key.to_str().unwrap()),
        ],
    );
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    let (st, b) = post(srv.port, "pull_request", "bots-1", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let id = job_of(&b);
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    wait_until("the job to end", Duration::from_secs(90), async || {
        let s = store.job_status(id).await.unwrap().unwrap().0;
        s == "done" || s == "failed"
    })
    .await;
    let (status, _, error) = store.job_status(id).await.unwrap().unwrap();
    assert_eq!(status, "done", "{error:?}");
    let s = f.state();
    // theirs: all there, unchanged, never asked to change
    for (id, user) in [(90_001, "other-bot[bot]"), (90_002, "other-cachebust[bot]")] {
        assert!(
            s.review_comments
                .iter()
                .any(|c| c.id == id && c.user == user),
            "{id} was deleted"
        );
    }
    let theirs = s.issue_comments.iter().find(|c| c.id == 90_003).unwrap();
    assert_eq!(
        theirs.body,
        "<!-- cachebust:summary -->\nanother install's summary"
    );
    for q in s.mutations() {
        for id in ["90001", "90002", "90003"] {
            assert!(!q.path.ends_with(id), "{} {}", q.method, q.path);
        }
    }
    // ours: the stale one deleted, the review and a summary of our own posted
    assert!(s.review_comments.iter().all(|c| c.id != 90_004));
    assert_eq!(s.reviews.len(), 1);
    let ours: Vec<&Comment> = s
        .issue_comments
        .iter()
        .filter(|c| c.user == "cachebust-test[bot]")
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.starts_with("<!-- cachebust:summary -->"));
    assert_eq!(s.check_runs.len(), 1);
    // our login came from GitHub: GET /app with the App's JWT
    let app = s
        .requests
        .iter()
        .find(|q| q.path == "/app")
        .expect("GET /app");
    assert!(
        app.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ey")),
        "{:?}",
        app.authorization
    );
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    drop(s);
    drop(srv);
}

/// Item 8: GitHub stores the summary comment after the client gave up (504, the comment shows
/// up 2 s, then 7 s later). The first is found while the POST is reconciled; the second is not
/// found in time, so the job waits (`--settle-seconds`) and its next attempt finds and edits it:
/// one summary either way, one POST each. A copy that lands later still (two of ours) is
/// reconciled by the next run: the newest edited, the other deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_stored_after_the_timeout_is_not_posted_twice() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &["d".repeat(40)]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    // looked for after 1, 3 and 3 s; a job whose POST was lost waits 3 s at least
    let srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_SETTLE_SECONDS", "3"),
            ("CACHEBUST_CHECK_RUNS", "false"),
        ],
    );
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let posts = |pr: u64| {
        f.state()
            .requests
            .iter()
            .filter(|q| q.method == "POST" && q.path.ends_with(&format!("/issues/{pr}/comments")))
            .count()
    };
    let summaries = |pr: u64| {
        f.state()
            .issue_comments
            .iter()
            .filter(|c| c.pr == pr)
            .count()
    };
    for (pr, later, attempts) in [(11u64, 2u64, 1u32), (12, 9, 2)] {
        f.state().faults.push(Fault {
            method: "POST",
            path_suffix: format!("/issues/{pr}/comments"),
            status: 504,
            body: "{\"message\":\"Gateway Timeout\"}".into(),
            headers: vec![],
            land: true,
            land_after: Some(Duration::from_secs(later)),
        });
        let body = pr_payload(&f, "opened", pr, &r.head, &r.base);
        let (st, b) = post(
            srv.port,
            "pull_request",
            &format!("late-{pr}"),
            &body,
            signed(&body),
        )
        .unwrap();
        assert_eq!(st, 202, "{b}");
        let id = job_of(&b);
        wait_until("the job to end", Duration::from_secs(90), async || {
            let s = store.job_status(id).await.unwrap().unwrap().0;
            s == "done" || s == "failed"
        })
        .await;
        // whatever landed late has landed by now
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, n, error) = store.job_status(id).await.unwrap().unwrap();
        assert_eq!((status.as_str(), n), ("done", attempts), "{error:?}");
        assert_eq!(posts(pr), 1, "PR {pr}: the summary was POSTed again");
        assert_eq!(summaries(pr), 1, "PR {pr}: two summaries");
        if attempts == 2 {
            assert!(
                error
                    .as_deref()
                    .unwrap_or("")
                    .contains("GitHub may still store it"),
                "{error:?}"
            );
        }
    }
    // a copy of ours that landed later still: the next head's run keeps one
    {
        let mut s = f.state();
        let copy = s
            .issue_comments
            .iter()
            .find(|c| c.pr == 12)
            .cloned()
            .unwrap();
        s.issue_comments.push(Comment { id: 95_000, ..copy });
    }
    assert_eq!(summaries(12), 2);
    let body = pr_payload(&f, "synchronize", 12, &"d".repeat(40), &r.base);
    let (st, b) = post(srv.port, "pull_request", "late-12b", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let id = job_of(&b);
    wait_until("the re-run", Duration::from_secs(60), async || {
        store.job_status(id).await.unwrap().unwrap().0 == "done"
    })
    .await;
    assert_eq!(summaries(12), 1, "the copies were not reconciled");
    assert_eq!(posts(12), 1);
    let s = f.state();
    assert!(
        s.issue_comments.iter().any(|c| c.id == 95_000),
        "the newest is kept"
    );
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    drop(s);
    drop(srv);
}

/// What the fake holds for a pull request, by the head each post names: check runs by their
/// `head_sha`, the summary by the run marker of the job that wrote it.
fn summary_of(f: &Fake, pr: u64) -> Vec<String> {
    f.state()
        .issue_comments
        .iter()
        .filter(|c| c.pr == pr)
        .map(|c| c.body.clone())
        .collect()
}

fn runs_for(f: &Fake, head: &str) -> usize {
    f.state()
        .check_runs
        .iter()
        .filter(|r| r["head_sha"] == json!(head))
        .count()
}

/// Item 15 on both backends and across two instances sharing the queue: `synchronize` for h2 on
/// one instance, then 0.2 s later `opened` for h1 on the other (GitHub's head is h2). The h1 job
/// posts nothing and h2 is reviewed. Then h1 delivered again after h2 was reviewed (a
/// redelivery after an outage) changes nothing on the pull request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_requests_real_head_decides_across_instances() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let h1 = "1".repeat(40);
    serve_repo(&f, &r, std::slice::from_ref(&h1));
    let dir = tempfile::tempdir().unwrap();
    for (n, (database, _pg)) in backends(dir.path(), "heads").await.into_iter().enumerate() {
        let pr = 20 + n as u64;
        let runs_before = runs_for(&f, &r.head);
        let stem = dir.path().join(format!("heads-{n}"));
        let a = start_server_on(&database, &stem, &f.url, &[]);
        let b = start_server_on(&database, &stem.with_extension("b"), &f.url, &[]);
        let h2_body = pr_payload(&f, "synchronize", pr, &r.head, &r.base);
        let h1_body = pr_payload(&f, "opened", pr, &h1, &r.base);
        // GitHub's head is h2, whatever order the deliveries arrive in
        f.state().pulls.insert(pr, (r.head.clone(), r.base.clone()));
        let (st, x) = post(
            a.port,
            "pull_request",
            &format!("h2-{n}"),
            &h2_body,
            signed(&h2_body),
        )
        .unwrap();
        assert_eq!(st, 202, "{x}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, y) = post(
            b.port,
            "pull_request",
            &format!("h1-{n}"),
            &h1_body,
            signed(&h1_body),
        )
        .unwrap();
        assert_eq!(st, 202, "{y}");
        let store = SqlStore::open(&database).await.unwrap();
        let start = std::time::Instant::now();
        while !(store
            .jobs()
            .await
            .unwrap()
            .iter()
            .any(|j| j.2 == r.head && j.3 == "done")
            && runs_for(&f, &r.head) == runs_before + 1)
        {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "h2 not reviewed on {database}: {:?}\n{}\n{}",
                store.jobs().await.unwrap(),
                std::fs::read_to_string(&a.log).unwrap_or_default(),
                std::fs::read_to_string(&b.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // every job has ended (nothing of h1 still on its way)
        wait_until("the queue to drain", Duration::from_secs(60), async || {
            let d = store.depth().await.unwrap();
            d.queued == 0 && d.running == 0
        })
        .await;
        let jobs = store.jobs().await.unwrap();
        assert!(
            jobs.iter()
                .filter(|j| j.2 == h1)
                .all(|j| j.3 == "superseded"),
            "{jobs:?}"
        );
        assert_eq!(runs_for(&f, &h1), 0, "a check run for the old head");
        assert_eq!(
            f.state()
                .requests
                .iter()
                .filter(|q| q.method == "POST"
                    && q.path.ends_with("/reviews")
                    && q.body["commit_id"] == json!(h1))
                .count(),
            0,
            "a review of the old head"
        );
        let summary = summary_of(&f, pr);
        assert_eq!(summary.len(), 1, "{summary:?}");
        let before = summary[0].clone();
        let mutations = f.state().mutations().len();
        // h1 again, after h2 was reviewed: nothing changes
        let (st, z) = post(
            a.port,
            "pull_request",
            &format!("h1-again-{n}"),
            &h1_body,
            signed(&h1_body),
        )
        .unwrap();
        assert_eq!(st, 202, "{z}");
        let late = job_of(&z);
        wait_until(
            "the late h1 job to end",
            Duration::from_secs(60),
            async || {
                store.job_status(late).await.unwrap().unwrap().0 != "queued"
                    && store.job_status(late).await.unwrap().unwrap().0 != "running"
            },
        )
        .await;
        assert_eq!(
            store.job_status(late).await.unwrap().unwrap().0,
            "superseded"
        );
        assert_eq!(summary_of(&f, pr), [before], "the summary was overwritten");
        assert_eq!(
            f.state().mutations().len(),
            mutations,
            "something was posted for h1"
        );
        assert!(
            f.state().violations().is_empty(),
            "{:?}",
            f.state().violations()
        );
        drop((a, b));
    }
}

/// The race the test above can meet: the h2 job's check run has landed but GitHub has not
/// answered yet when a stale h1 delivery supersedes that job; the h1 job finds GitHub's head is
/// h2 and queues h2 again. That job finds the pull request's run on h2 and updates it: one
/// check run on the head, not one per job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_queued_again_after_its_run_landed_updates_that_run() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let h1 = "3".repeat(40);
    serve_repo(&f, &r, std::slice::from_ref(&h1));
    let dir = tempfile::tempdir().unwrap();
    for (n, (database, _pg)) in backends(dir.path(), "again").await.into_iter().enumerate() {
        let pr = 50 + n as u64;
        let runs_before = runs_for(&f, &r.head);
        let srv = start_server_on(&database, &dir.path().join(format!("g-{n}")), &f.url, &[]);
        let store = SqlStore::open(&database).await.unwrap();
        let h2_body = pr_payload(&f, "synchronize", pr, &r.head, &r.base);
        let h1_body = pr_payload(&f, "opened", pr, &h1, &r.base);
        // GitHub's head is h2 throughout
        f.state().pulls.insert(pr, (r.head.clone(), r.base.clone()));
        f.state()
            .answer_late
            .push(("POST", "/check-runs".into(), Duration::from_millis(1500)));
        let (st, x) = post(
            srv.port,
            "pull_request",
            &format!("g2-{n}"),
            &h2_body,
            signed(&h2_body),
        )
        .unwrap();
        assert_eq!(st, 202, "{x}");
        let first = job_of(&x);
        wait_until(
            "the h2 check run to land",
            Duration::from_secs(90),
            async || runs_for(&f, &r.head) == runs_before + 1,
        )
        .await;
        let (st, y) = post(
            srv.port,
            "pull_request",
            &format!("g1-{n}"),
            &h1_body,
            signed(&h1_body),
        )
        .unwrap();
        assert_eq!(st, 202, "{y}");
        assert_eq!(
            store.job_status(first).await.unwrap().unwrap().0,
            "superseded"
        );
        let start = std::time::Instant::now();
        loop {
            let jobs = store.jobs().await.unwrap();
            let d = store.depth().await.unwrap();
            if d.queued == 0
                && d.running == 0
                && jobs
                    .iter()
                    .any(|j| j.0 != first && j.2 == r.head && j.3 == "done")
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "h2 not queued again and done on {database}: {jobs:?}\n{}",
                std::fs::read_to_string(&srv.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        f.state().answer_late.clear();
        assert_eq!(runs_for(&f, &h1), 0, "a check run for the old head");
        let s = f.state();
        let runs: Vec<&Value> = s
            .check_runs
            .iter()
            .filter(|c| c["head_sha"] == json!(r.head))
            .collect();
        assert_eq!(runs.len(), runs_before + 1, "{runs:#?}");
        assert_eq!(
            runs[runs.len() - 1]["external_id"],
            json!(format!("pr-{pr}"))
        );
        assert_eq!(runs[runs.len() - 1]["status"], json!("completed"));
        assert!(s.violations().is_empty(), "{:?}", s.violations());
        drop(s);
        drop(srv);
    }
}

/// Item 15, the publish window: a newer head delivered while the older head's review is being
/// posted (GitHub answering slowly) stops the older job at its next post: at most the one
/// request already on its way lands after the newer delivery is acknowledged, and the newer head
/// is reviewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_job_stops_posting_in_the_publish_window() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let h2 = "2".repeat(40);
    serve_repo(&f, &r, std::slice::from_ref(&h2));
    let dir = tempfile::tempdir().unwrap();
    for (n, (database, _pg)) in backends(dir.path(), "window").await.into_iter().enumerate() {
        let pr = 30 + n as u64;
        let (h1_runs, h2_runs) = (runs_for(&f, &r.head), runs_for(&f, &h2));
        let srv = start_server_on(&database, &dir.path().join(format!("w-{n}")), &f.url, &[]);
        let store = SqlStore::open(&database).await.unwrap();
        f.state().delay = Duration::from_millis(400);
        let b1 = pr_payload(&f, "opened", pr, &r.head, &r.base);
        let (st, x) = post(
            srv.port,
            "pull_request",
            &format!("win1-{n}"),
            &b1,
            signed(&b1),
        )
        .unwrap();
        assert_eq!(st, 202, "{x}");
        let j1 = job_of(&x);
        let nonce = format!("<!-- cachebust:run job-{j1}-1 -->");
        // the older job has started posting: its review is on the pull request
        wait_until("the first post", Duration::from_secs(90), async || {
            f.state().reviews.iter().any(|c| c.pr == pr)
        })
        .await;
        let b2 = pr_payload(&f, "synchronize", pr, &h2, &r.base);
        let (st, y) = post(
            srv.port,
            "pull_request",
            &format!("win2-{n}"),
            &b2,
            signed(&b2),
        )
        .unwrap();
        assert_eq!(st, 202, "{y}");
        let acked = f.state().requests.len();
        wait_until(
            "the newer head's check run",
            Duration::from_secs(90),
            async || runs_for(&f, &h2) == h2_runs + 1,
        )
        .await;
        f.state().delay = Duration::ZERO;
        {
            let s = f.state();
            let late: Vec<String> = s.requests[acked..]
                .iter()
                .filter(|q| q.method != "GET")
                .filter(|q| {
                    q.body["head_sha"] == json!(r.head)
                        || q.body["commit_id"] == json!(r.head)
                        || q.body["body"].as_str().is_some_and(|b| b.contains(&nonce))
                })
                .map(|q| format!("{} {}", q.method, q.path))
                .collect();
            assert!(
                late.len() <= 1,
                "the superseded job went on posting: {late:?}"
            );
            assert_eq!(
                s.check_runs
                    .iter()
                    .filter(|r2| r2["head_sha"] == json!(r.head))
                    .count(),
                h1_runs,
                "a check run of the superseded head"
            );
        }
        assert_eq!(store.job_status(j1).await.unwrap().unwrap().0, "superseded");
        assert!(
            f.state().violations().is_empty(),
            "{:?}",
            f.state().violations()
        );
        drop(srv);
    }
}

/// A refused analysis reaches the pull request on both backends (item 2's consequence for the
/// App): an analysis past its time budget gets a summary comment saying what was refused and
/// why and a failed check run; the job fails once, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_analysis_reaches_the_pull_request() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    for n in 0..4 {
        let d = r.dir.join(format!("slow{n}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), crate::server::long_dockerfile(n)).unwrap();
    }
    let slow = commit(&r.dir, "slow");
    serve_change(&f, &r, &r.base, &slow, &[&r.base, &slow]);
    let dir = tempfile::tempdir().unwrap();
    for (n, (database, _pg)) in backends(dir.path(), "refused")
        .await
        .into_iter()
        .enumerate()
    {
        let pr = 40 + n as u64;
        let srv = start_server_on(
            &database,
            &dir.path().join(format!("r-{n}")),
            &f.url,
            &[("CACHEBUST_ANALYSIS_SECONDS", "1")],
        );
        let store = SqlStore::open(&database).await.unwrap();
        let body = pr_payload(&f, "opened", pr, &slow, &r.base);
        let (st, b) = post(
            srv.port,
            "pull_request",
            &format!("ref-{n}"),
            &body,
            signed(&body),
        )
        .unwrap();
        assert_eq!(st, 202, "{b}");
        let id = job_of(&b);
        wait_until("the refusal", Duration::from_secs(90), async || {
            store.job_status(id).await.unwrap().unwrap().0 == "failed"
        })
        .await;
        let (_, attempts, error) = store.job_status(id).await.unwrap().unwrap();
        assert_eq!(attempts, 1, "{error:?}");
        let summary = summary_of(&f, pr);
        assert_eq!(summary.len(), 1, "{summary:?}");
        assert!(
            summary[0].contains("this pull request was not analysed")
                && summary[0].contains("did not finish within 1 s"),
            "{}",
            summary[0]
        );
        let s = f.state();
        let run: Vec<&Value> = s
            .check_runs
            .iter()
            .filter(|c| c["head_sha"] == json!(slow))
            .collect();
        assert_eq!(run.len(), n + 1, "one failed check run per backend");
        assert_eq!(run[n]["conclusion"], "failure");
        assert!(s.violations().is_empty(), "{:?}", s.violations());
        drop(s);
        let m = get_text(srv.port, "/metrics");
        assert!(
            m.contains("cachebust_jobs_total{outcome=\"refused\"} 1"),
            "{m}"
        );
        drop(srv);
    }
}

/// Item 16 in the store, on both backends: a running job of an instance that is alive is left
/// alone; once that instance is gone (its store dropped: the process's lock released, as a
/// `kill -9` releases it) another instance takes the job back at once, its attempt counted, and
/// claims it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_jobs_are_taken_back_at_once() {
    use cachebust::ports::Enqueued;
    let dir = tempfile::tempdir().unwrap();
    for (database, _pg) in backends(dir.path(), "alive").await {
        let a = SqlStore::open(&database).await.unwrap();
        let b = SqlStore::open(&database).await.unwrap();
        a.register_instance("host-1-aaaa").await.unwrap();
        // a name a live instance holds is refused, and says so
        let taken = b.register_instance("host-1-aaaa").await.unwrap_err();
        assert!(
            matches!(taken, cachebust::ports::StoreError::InstanceInUse(_)),
            "{taken:?}"
        );
        assert!(
            taken.to_string().ends_with("is in use by a live instance"),
            "{taken}"
        );
        b.register_instance("host-2-bbbb").await.unwrap();
        let id = match a
            .enqueue(&crate::server::job("alive-1", 1, "h"), false)
            .await
            .unwrap()
        {
            Enqueued::Queued { id, .. } => id,
            other => panic!("{other:?}"),
        };
        let now = cachebust::adapters::store::now_ms();
        // a lease of an hour: only the liveness lock can give it back soon
        let j = a
            .claim("host-1-aaaa/0", 3_600_000, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(j.id, id);
        assert_eq!(b.recover_dead().await.unwrap(), 0, "{database}: A is alive");
        assert_eq!(a.recover_dead().await.unwrap(), 0, "{database}: its own");
        assert!(
            b.claim("host-2-bbbb/0", 60_000, now)
                .await
                .unwrap()
                .is_none()
        );
        drop(a);
        let start = std::time::Instant::now();
        let mut taken = 0;
        while taken == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{database}: A's job not taken back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            taken = b.recover_dead().await.unwrap();
        }
        assert_eq!(taken, 1, "{database}");
        let (status, attempts, _) = b.job_status(id).await.unwrap().unwrap();
        assert_eq!((status.as_str(), attempts), ("queued", 1), "{database}");
        let again = b
            .claim(
                "host-2-bbbb/0",
                60_000,
                cachebust::adapters::store::now_ms(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.id, again.attempts), (id, 2), "{database}");
        // a worker name of an older version (no instance) is left to its lease
        b.enqueue(&crate::server::job("alive-2", 2, "h"), false)
            .await
            .unwrap();
        let old = b
            .claim(
                "host-0-1234-0",
                60_000,
                cachebust::adapters::store::now_ms(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.recover_dead().await.unwrap(), 0);
        assert_eq!(b.job_status(old.id).await.unwrap().unwrap().0, "running");
        b.unregister_instance().await;
    }
}

/// Item 16 with the real binary: an instance is killed (`kill -9`) in the middle of a job (GitHub
/// answering slowly); the other instance on the same queue takes the job back within seconds
/// (the lease is 15 s), and the pull request is reviewed once. Then an instance is killed the
/// same way and restarted: the restarted instance takes back its predecessor's job when it
/// starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_job_resumes_within_seconds() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &[]);
    let dir = tempfile::tempdir().unwrap();
    for (n, (database, _pg)) in backends(dir.path(), "killed").await.into_iter().enumerate() {
        let stem = dir.path().join(format!("k-{n}"));
        let env = [
            ("CACHEBUST_WORKERS", "1"),
            ("CACHEBUST_CHECK_RUNS", "false"),
        ];
        let store = SqlStore::open(&database).await.unwrap();
        for (round, pr) in [(0, 50 + 2 * n as u64), (1, 51 + 2 * n as u64)] {
            let mut a = start_server_on(
                &database,
                &stem.with_extension(format!("a{round}")),
                &f.url,
                &env,
            );
            f.state().delay = Duration::from_millis(500);
            let body = pr_payload(&f, "opened", pr, &r.head, &r.base);
            let (st, b) = post(
                a.port,
                "pull_request",
                &format!("kill-{n}-{round}"),
                &body,
                signed(&body),
            )
            .unwrap();
            assert_eq!(st, 202, "{b}");
            let id = job_of(&b);
            let seen = f.state().requests.len();
            wait_until(
                "the job to talk to GitHub",
                Duration::from_secs(60),
                async || f.state().requests.len() > seen + 1,
            )
            .await;
            // the other instance: beside it (round 0), or its restart (round 1)
            let mut other = (round == 0).then(|| {
                start_server_on(
                    &database,
                    &stem.with_extension(format!("b{round}")),
                    &f.url,
                    &env,
                )
            });
            a.child.kill().unwrap();
            a.child.wait().unwrap();
            let killed = std::time::Instant::now();
            f.state().delay = Duration::ZERO;
            if other.is_none() {
                other = Some(start_server_on(
                    &database,
                    &stem.with_extension(format!("c{round}")),
                    &f.url,
                    &env,
                ));
            }
            wait_until(
                "the job to be taken back",
                Duration::from_secs(30),
                async || {
                    let (status, attempts, _) = store.job_status(id).await.unwrap().unwrap();
                    attempts == 2 && status != "queued"
                },
            )
            .await;
            let took = killed.elapsed();
            assert!(
                took < Duration::from_secs(8),
                "{database}, round {round}: taken back after {took:?}"
            );
            wait_until("the job to end", Duration::from_secs(120), async || {
                let s = store.job_status(id).await.unwrap().unwrap().0;
                s == "done" || s == "failed"
            })
            .await;
            let (status, _, error) = store.job_status(id).await.unwrap().unwrap();
            assert_eq!(status, "done", "{database}, round {round}: {error:?}");
            assert_eq!(summary_of(&f, pr).len(), 1, "{database}, round {round}");
            drop(other);
        }
    }
}
