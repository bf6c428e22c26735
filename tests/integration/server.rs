//! `cachebust serve`: the queue suite on a real SQLite file (and on PostgreSQL when
//! `CACHEBUST_TEST_POSTGRES_URL` names one; `.ci/run` starts one), and the real binary on
//! 127.0.0.1 fed signed payloads from shared/github/webhooks, its workers posting to the
//! Prism-validated fake GitHub: signatures (missing, wrong, rotated), size limit, malformed JSON,
//! unknown events, replays, superseding, GitHub errors retried, leases taken over, `kill -9` in
//! the middle of a burst (every acknowledged delivery processed once), SIGTERM, JSON logs without
//! secrets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cachebust::adapters::store::{SqlStore, now_ms};
use cachebust::app::webhook::{Decision, WebhookConfig, sign};
use cachebust::ports::{Enqueued, HostError, InstallationChange, JobStore, NewJob};
use serde_json::{Value, json};

use crate::action::{PrRepo, pr_repo, pull_files};
use crate::cli::root;
use crate::parser_corpus::shared;
use crate::support::github::{Fake, Fault, Req, fake, free_port, http_status};

pub(crate) const SECRET: &str = "s3cret-current";
const OLD_SECRET: &str = "s3cret-previous";

// ---- the queue suite -----------------------------------------------------------------------

pub(crate) fn job(delivery: &str, pr: u64, head: &str) -> NewJob {
    NewJob {
        delivery_id: delivery.into(),
        kind: "pull_request".into(),
        repo: "octo/shop".into(),
        pr_number: pr,
        head_sha: head.into(),
        base_sha: "b".into(),
        installation_id: 1,
    }
}

/// What every store must do: dedupe, supersede, claim in order, leases, retries, release.
async fn queue_suite(s: &SqlStore) {
    // claims happen "later" than the enqueues below
    let t0 = now_ms() + 1_000;
    // a delivery is recorded once
    let a = s.enqueue(&job("d1", 1, "h1"), false).await.unwrap();
    let Enqueued::Queued {
        id: a_id,
        superseded: 0,
    } = a
    else {
        panic!("{a:?}")
    };
    assert_eq!(
        s.enqueue(&job("d1", 1, "h1"), false).await.unwrap(),
        Enqueued::DuplicateDelivery
    );
    // the same head again under another delivery: not queued twice; forced (a re-run): queued
    assert_eq!(
        s.enqueue(&job("d2", 1, "h1"), false).await.unwrap(),
        Enqueued::AlreadyQueued { id: a_id }
    );
    // a newer head supersedes the queued job of the same pull request
    let Enqueued::Queued {
        id: b_id,
        superseded: 1,
    } = s.enqueue(&job("d3", 1, "h2"), false).await.unwrap()
    else {
        panic!()
    };
    let Enqueued::Queued {
        id: c_id,
        superseded: 0,
    } = s.enqueue(&job("d4", 2, "x1"), false).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(s.job_status(a_id).await.unwrap().unwrap().0, "superseded");
    // claims come oldest first, one worker each
    let j1 = s.claim("w1", 120_000, t0).await.unwrap().unwrap();
    let j2 = s.claim("w2", 60_000, t0).await.unwrap().unwrap();
    assert_eq!((j1.id, j2.id), (b_id, c_id));
    assert_eq!(j1.attempts, 1);
    assert!(s.claim("w3", 60_000, t0).await.unwrap().is_none());
    // a worker that dies: its lease expires and another worker takes the job over
    let j2b = s.claim("w3", 60_000, t0 + 61_000).await.unwrap().unwrap();
    assert_eq!((j2b.id, j2b.attempts), (c_id, 2));
    assert!(!s.still_current(c_id, "w2").await.unwrap());
    assert!(
        !s.extend_lease(c_id, "w2", t0 + 200_000).await.unwrap(),
        "a lost lease cannot be renewed"
    );
    // a renewed lease is not taken over
    assert!(s.extend_lease(b_id, "w1", t0 + 200_000).await.unwrap());
    // (at a time when its first lease had run out and the other job's has not)
    assert!(s.claim("w4", 60_000, t0 + 120_500).await.unwrap().is_none());
    assert!(
        !s.complete(c_id, "w2", t0).await.unwrap(),
        "the old worker no longer holds it"
    );
    assert!(s.complete(c_id, "w3", t0).await.unwrap());
    // a transient failure queues the job again for later; a final one fails it
    s.fail(b_id, "w1", "GitHub server error (502)", Some(t0 + 5_000))
        .await
        .unwrap();
    assert!(
        s.claim("w1", 60_000, t0 + 1_000).await.unwrap().is_none(),
        "not before its time"
    );
    let again = s.claim("w1", 60_000, t0 + 6_000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (b_id, 2));
    s.fail(b_id, "w1", "not found", None).await.unwrap();
    let (st, attempts, err) = s.job_status(b_id).await.unwrap().unwrap();
    assert_eq!(
        (st.as_str(), attempts, err.as_deref()),
        ("failed", 2, Some("not found"))
    );
    // a rate limit: queued again for later, the attempt not counted
    let limited = s.enqueue(&job("d-limited", 9, "h9"), false).await.unwrap();
    let Enqueued::Queued { id: lim_id, .. } = limited else {
        panic!("{limited:?}")
    };
    let far = t0 + 10_000_000;
    let l = s.claim("w7", 60_000, far).await.unwrap().unwrap();
    assert_eq!((l.id, l.attempts), (lim_id, 1));
    s.postpone(lim_id, "w7", "rate limit", far + 5_000)
        .await
        .unwrap();
    assert!(s.claim("w7", 60_000, far + 4_000).await.unwrap().is_none());
    let l = s.claim("w7", 60_000, far + 5_000).await.unwrap().unwrap();
    assert_eq!((l.id, l.attempts), (lim_id, 1));
    assert!(s.complete(lim_id, "w7", far).await.unwrap());
    // a re-run of a finished head is queued (force)
    assert!(matches!(
        s.enqueue(&job("d5", 2, "x1"), true).await.unwrap(),
        Enqueued::Queued { .. }
    ));
    // shutdown: claimed jobs are given back
    let held = s.claim("w9", 60_000, t0 + 10_000).await.unwrap().unwrap();
    assert_eq!(s.release("w9").await.unwrap(), 1);
    let back = s.claim("w8", 60_000, t0 + 10_000).await.unwrap().unwrap();
    assert_eq!((back.id, back.attempts), (held.id, 1));
    let d = s.depth().await.unwrap();
    assert_eq!((d.running, d.done, d.failed, d.superseded), (1, 2, 1, 1));
    // installations: each delivery applied once, with its change
    let change = |added: &[&str], removed: &[&str], deleted: bool| InstallationChange {
        id: 5,
        account: "octo".into(),
        added: added.iter().map(|r| r.to_string()).collect(),
        removed: removed.iter().map(|r| r.to_string()).collect(),
        deleted,
    };
    let c1 = change(&["octo/shop", "octo/api"], &[], false);
    assert!(
        s.apply_installation("i-1", "installation", &c1)
            .await
            .unwrap()
    );
    let c2 = change(&[], &["octo/api"], false);
    assert!(
        s.apply_installation("i-2", "installation_repositories", &c2)
            .await
            .unwrap()
    );
    // a replay of the first changes nothing (octo/api stays removed)
    assert!(
        !s.apply_installation("i-1", "installation", &c1)
            .await
            .unwrap()
    );
    assert_eq!(
        s.installations().await.unwrap(),
        vec![(5, "octo".to_string(), vec!["octo/shop".to_string()])]
    );
    let gone = change(&[], &[], true);
    assert!(
        s.apply_installation("i-3", "installation", &gone)
            .await
            .unwrap()
    );
    assert!(s.installations().await.unwrap().is_empty());
    s.ping().await.unwrap();
}

#[tokio::test]
async fn queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqlStore::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    queue_suite(&s).await;
    // the file survives a reopen with its jobs
    drop(s);
    let s = SqlStore::open(&format!("sqlite://{}", dir.path().join("q.db").display()))
        .await
        .unwrap();
    assert_eq!(s.jobs().await.unwrap().len(), 5);
}

/// Concurrent claims never hand one job to two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(
        SqlStore::open(dir.path().join("q.db").to_str().unwrap())
            .await
            .unwrap(),
    );
    concurrent_claims(s).await;
}

/// Deliveries recorded at once go through the group commit with the outcome each would have
/// had alone: 300 concurrent enqueues (100 pull requests, three heads each, every delivery sent
/// twice) leave each delivery recorded once, at most one live job per pull request, and every
/// job answered `Queued` present in the queue, every `superseded` counted on a job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_keep_each_deliverys_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(
        SqlStore::open(dir.path().join("q.db").to_str().unwrap())
            .await
            .unwrap(),
    );
    concurrent_enqueues(s).await;
}

async fn concurrent_enqueues(s: std::sync::Arc<SqlStore>) {
    let mut tasks = Vec::new();
    for i in 0..600u64 {
        let s = s.clone();
        // delivery i/2 twice; pull request (i/2) % 100, head (i/2) / 100 (0, 1 or 2)
        let (d, pr, head) = (i / 2, (i / 2) % 100, (i / 2) / 100);
        tasks.push(tokio::spawn(async move {
            let j = job(&format!("cd-{d}"), 1_000 + pr, &format!("h{head}"));
            (d, s.enqueue(&j, false).await.unwrap())
        }));
    }
    let mut per_delivery = std::collections::BTreeMap::<u64, Vec<Enqueued>>::new();
    for t in tasks {
        let (d, o) = t.await.unwrap();
        per_delivery.entry(d).or_default().push(o);
    }
    let mut queued = std::collections::BTreeSet::new();
    let mut superseded_total = 0;
    for (d, outcomes) in &per_delivery {
        let dups = outcomes
            .iter()
            .filter(|o| **o == Enqueued::DuplicateDelivery)
            .count();
        assert_eq!(dups, 1, "delivery {d}: {outcomes:?}");
        for o in outcomes {
            match o {
                Enqueued::Queued { id, superseded } => {
                    queued.insert(*id);
                    superseded_total += superseded;
                }
                Enqueued::AlreadyQueued { .. } | Enqueued::DuplicateDelivery => {}
            }
        }
    }
    assert_eq!(per_delivery.len(), 300);
    let jobs: Vec<_> = s
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.1.starts_with("cd-"))
        .collect();
    let ids: std::collections::BTreeSet<i64> = jobs.iter().map(|j| j.0).collect();
    assert_eq!(
        ids, queued,
        "every job answered Queued is in the queue, no other"
    );
    let live = |pr: u64| {
        jobs.iter()
            .filter(|j| j.3 == "queued")
            .filter(|j| j.1.trim_start_matches("cd-").parse::<u64>().unwrap() % 100 == pr)
            .count()
    };
    assert!(
        (0..100).all(|pr| live(pr) == 1),
        "one live job per pull request"
    );
    let dead = jobs.iter().filter(|j| j.3 == "superseded").count() as u64;
    assert_eq!(dead, superseded_total, "each supersede counted once");
}

/// 8 workers claim 200 jobs at once: each job exactly once.
async fn concurrent_claims(s: std::sync::Arc<SqlStore>) {
    for i in 0..200 {
        s.enqueue(&job(&format!("d{i}"), i, "h"), false)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = s.claim(&format!("w{w}"), 60_000, now_ms()).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (200, 200));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_on_postgres() {
    let Ok(url) = std::env::var("CACHEBUST_TEST_POSTGRES_URL") else {
        if std::env::var_os("CACHEBUST_REQUIRE_POSTGRES").is_some() {
            panic!("CACHEBUST_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL");
        }
        eprintln!("SKIPPED: no PostgreSQL (set CACHEBUST_TEST_POSTGRES_URL)");
        return;
    };
    // a schema of its own per run
    let s = SqlStore::open(&url).await.unwrap();
    if let Some(p) = s.postgres_pool() {
        for t in ["deliveries", "jobs", "installations", "installation_repos"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {t}")))
                .execute(p)
                .await
                .unwrap();
        }
    }
    assert_eq!(s.backend(), "postgres");
    queue_suite(&s).await;
    // and concurrent claims (FOR UPDATE SKIP LOCKED) on a fresh queue
    if let Some(p) = s.postgres_pool() {
        sqlx::query("TRUNCATE deliveries, jobs")
            .execute(p)
            .await
            .unwrap();
    }
    let s = std::sync::Arc::new(s);
    concurrent_claims(s.clone()).await;
    concurrent_enqueues(s.clone()).await;
    // a delivery PostgreSQL cannot store (a NUL in its text) fails alone: its group is tried
    // again one by one and the others are recorded
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut j = job(&format!("nul-{i}"), 5_000 + i, "h");
            if i == 25 {
                j.repo = "octo/\u{0}shop".into();
            }
            (i, s.enqueue(&j, false).await)
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            (25, r) => assert!(r.is_err(), "{r:?}"),
            (i, r) => assert!(matches!(r, Ok(Enqueued::Queued { .. })), "{i}: {r:?}"),
        }
    }
}

/// A forge whose installations misbehave: 666 panics, 777 answers after 2.5 s, 429 is always
/// rate limited (reset in 1 s), the others answer at once; all with "not found" (a final error).
struct Unruly;

impl cachebust::app::worker::Forge for Unruly {
    type Host = cachebust::adapters::github::GitHub;
    type Trees = cachebust::adapters::github::tree::ApiTrees;
    async fn connect(&self, installation: u64) -> Result<Self::Host, HostError> {
        match installation {
            666 => panic!("boom in the analysis"),
            777 => tokio::time::sleep(Duration::from_millis(2_500)).await,
            429 => {
                return Err(HostError::RateLimited {
                    message: "API rate limit exceeded".into(),
                    retry_after: Some(1),
                });
            }
            _ => {}
        }
        Err(HostError::NotFound(format!(
            "installation {installation} is gone"
        )))
    }
    async fn identity(&self) -> Result<String, HostError> {
        Ok("cachebust-test[bot]".into())
    }
    fn reader(&self, host: &Self::Host, calls: u64) -> Self::Host {
        host.budgeted(calls)
    }
    async fn trees(
        &self,
        _: &Self::Host,
        _: &cachebust::ports::PullRef,
        _: &cachebust::ports::PullFiles,
    ) -> Result<(Self::Trees, Vec<String>), HostError> {
        Err(HostError::NotFound("no trees".into()))
    }
}

/// A panic fails its job, not the worker; a job that outlasts its lease keeps it (the worker
/// renews it), so no second worker takes it; a job whose workers kept dying is given up; a
/// rate-limited job waits for the reset without using up its attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_survive_panics_renew_leases_and_give_up_on_abandoned_jobs() {
    use cachebust::app::worker::{Metrics, WorkerConfig, run};
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        SqlStore::open(dir.path().join("q.db").to_str().unwrap())
            .await
            .unwrap(),
    );
    // a job whose three workers died with it (each claim's lease ran out at once)
    let abandoned = match store
        .enqueue(&job("u-dead", 200, "h"), false)
        .await
        .unwrap()
    {
        Enqueued::Queued { id, .. } => id,
        other => panic!("{other:?}"),
    };
    for n in 1..=3 {
        let j = store.claim("dying", -1, now_ms()).await.unwrap().unwrap();
        assert_eq!((j.id, j.attempts), (abandoned, n));
    }
    let mut ids = Vec::new();
    for (i, inst) in [666u64, 777, 1, 429].into_iter().enumerate() {
        let mut j = job(&format!("u{i}"), 100 + i as u64, "h");
        j.installation_id = inst;
        match store.enqueue(&j, false).await.unwrap() {
            Enqueued::Queued { id, .. } => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let metrics = std::sync::Arc::new(Metrics::default());
    let mut workers = Vec::new();
    for w in 0..2 {
        let cfg = WorkerConfig {
            name: format!("w{w}"),
            lease: Duration::from_millis(900),
            max_attempts: 3,
            backoff: Duration::from_millis(10),
            poll: Duration::from_millis(20),
            engine: cachebust::engine::EngineKind::Buildkit,
            check_runs: true,
            publish: Default::default(),
            analysis_budget: Duration::from_secs(60),
            analysis_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
            isolation: None,
            api_calls: 1000,
            settle: Duration::from_secs(1),
            ci: Default::default(),
        };
        let (store, stop, wake, metrics) = (
            store.clone(),
            stop_rx.clone(),
            wake.clone(),
            metrics.clone(),
        );
        workers.push(tokio::spawn(async move {
            run(&*store, &Unruly, &cfg, &metrics, stop, &wake).await
        }));
    }
    let start = Instant::now();
    while store.depth().await.unwrap().failed < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            store.jobs().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = |id| {
        let store = store.clone();
        async move { store.job_status(id).await.unwrap().unwrap() }
    };
    let (st, attempts, err) = status(ids[0]).await;
    assert_eq!((st.as_str(), attempts), ("failed", 1));
    assert!(err.unwrap().contains("panicked: boom in the analysis"));
    // 2.5 s of work on a 0.9 s lease, two workers: claimed once
    let (st, attempts, err) = status(ids[1]).await;
    assert_eq!((st.as_str(), attempts), ("failed", 1), "{err:?}");
    let (st, _, err) = status(ids[2]).await;
    assert_eq!(st, "failed");
    assert!(err.unwrap().contains("installation 1 is gone"));
    let (st, attempts, err) = status(abandoned).await;
    assert_eq!((st.as_str(), attempts), ("failed", 4));
    assert!(err.unwrap().contains("given up after 3 claims"));
    // rate limited on every claim for 2.5 s (max 3 attempts): waiting, not failing
    let (st, attempts, err) = status(ids[3]).await;
    assert!(st == "queued" || st == "running", "{st}");
    assert!(attempts <= 1, "{attempts}");
    assert!(err.unwrap().contains("rate limit"));
    // both workers are alive until told to stop
    assert!(workers.iter().all(|w| !w.is_finished()));
    stop_tx.send(true).unwrap();
    wake.notify_waiters();
    for w in workers {
        w.await.expect("a worker died");
    }
}

/// A clock the test moves by hand.
pub(crate) struct ManualClock(std::sync::atomic::AtomicI64);

impl cachebust::ports::Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A forge whose first call fails with a 502 (transient), every later one with "not found".
struct FlakyOnce(std::sync::atomic::AtomicU32);

impl cachebust::app::worker::Forge for FlakyOnce {
    type Host = cachebust::adapters::github::GitHub;
    type Trees = cachebust::adapters::github::tree::ApiTrees;
    async fn connect(&self, _: u64) -> Result<Self::Host, HostError> {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Err(HostError::Server {
                status: 502,
                message: "bad gateway".into(),
            });
        }
        Err(HostError::NotFound("the repository is gone".into()))
    }
    async fn identity(&self) -> Result<String, HostError> {
        Ok("cachebust-test[bot]".into())
    }
    fn reader(&self, host: &Self::Host, calls: u64) -> Self::Host {
        host.budgeted(calls)
    }
    async fn trees(
        &self,
        _: &Self::Host,
        _: &cachebust::ports::PullRef,
        _: &cachebust::ports::PullFiles,
    ) -> Result<(Self::Trees, Vec<String>), HostError> {
        Err(HostError::NotFound("no trees".into()))
    }
}

/// The worker reads time only through its `Clock`: a transient failure is queued again an hour
/// later by that clock, not claimed before, and claimed as soon as the clock is moved past it,
/// with no real waiting.
#[tokio::test]
async fn workers_retry_by_their_clock() {
    use cachebust::app::worker::{Metrics, WorkerConfig, run_with_clock};
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    let id = match store.enqueue(&job("u-clock", 1, "h"), false).await.unwrap() {
        Enqueued::Queued { id, .. } => id,
        other => panic!("{other:?}"),
    };
    let clock = ManualClock(std::sync::atomic::AtomicI64::new(now_ms()));
    let cfg = WorkerConfig {
        name: "w".into(),
        lease: Duration::from_secs(60),
        max_attempts: 3,
        backoff: Duration::from_secs(3600),
        poll: Duration::from_millis(10),
        engine: cachebust::engine::EngineKind::Buildkit,
        check_runs: false,
        publish: Default::default(),
        analysis_budget: Duration::from_secs(60),
        analysis_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        isolation: None,
        api_calls: 1000,
        settle: Duration::from_secs(1),
        ci: Default::default(),
    };
    let forge = FlakyOnce(Default::default());
    let metrics = Metrics::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake = tokio::sync::Notify::new();
    let worker = run_with_clock(&store, &forge, &cfg, &metrics, stop_rx, &wake, &clock);
    let test = async {
        let status = || async { store.job_status(id).await.unwrap().unwrap() };
        while status().await.1 < 1 || status().await.0 != "queued" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // many polls later, the clock has not moved: not claimed again
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, attempts, err) = status().await;
        assert_eq!((st.as_str(), attempts), ("queued", 1));
        assert!(err.unwrap().contains("bad gateway"));
        // two hours later by the clock (the back-off is one hour plus up to 50%)
        clock
            .0
            .fetch_add(2 * 3600 * 1000, std::sync::atomic::Ordering::SeqCst);
        wake.notify_waiters();
        while status().await.0 != "failed" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (_, attempts, err) = status().await;
        assert_eq!(attempts, 2);
        assert!(err.unwrap().contains("the repository is gone"));
        stop_tx.send(true).unwrap();
        wake.notify_waiters();
    };
    let real = Instant::now();
    tokio::join!(worker, test);
    assert!(real.elapsed() < Duration::from_secs(30));
}

// ---- the server binary ---------------------------------------------------------------------

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_server(db: &Path, api: &str, extra: &[(&str, &str)]) -> Server {
    start_server_on(&format!("sqlite://{}", db.display()), db, api, extra)
}

/// `start_server` on any database (`postgres://…`); the log beside `log_stem`.
pub(crate) fn start_server_on(
    database: &str,
    log_stem: &Path,
    api: &str,
    extra: &[(&str, &str)],
) -> Server {
    let port = free_port();
    let log = log_stem.with_extension(format!("{port}.log"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
    c.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CACHEBUST_LISTEN", format!("127.0.0.1:{port}"))
        .env("CACHEBUST_DATABASE", database)
        .env("CACHEBUST_WEBHOOK_SECRET", format!("{SECRET},{OLD_SECRET}"))
        .env("CACHEBUST_GITHUB_TOKEN", "ghs_server_token_never_logged")
        .env("CACHEBUST_API_URL", api)
        .env("CACHEBUST_WORKERS", "2")
        .env("CACHEBUST_RETRY_SECONDS", "0.2")
        // a lost POST is looked for after 0.5 s three times, and its job waits 0.5 s at least
        .env("CACHEBUST_SETTLE_SECONDS", "0.5")
        .env("CACHEBUST_POLL_MS", "50")
        .env("CACHEBUST_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in extra {
        // an empty value takes a default variable away
        if v.is_empty() {
            c.env_remove(k);
        } else {
            c.env(k, v);
        }
    }
    let child = c.spawn().unwrap();
    let s = Server { child, port, log };
    let start = Instant::now();
    while http_status(port, "/healthz") != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not start:\n{}",
            std::fs::read_to_string(&s.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// POST a delivery; `(status, body)`, or `None` when the connection failed (server gone).
pub(crate) fn post(
    port: u16,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req = format!(
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nUser-Agent: GitHub-Hookshot/test\r\nContent-Length: {}\r\nX-GitHub-Event: {event}\r\nX-GitHub-Delivery: {delivery}\r\n",
        body.len()
    );
    if let Some(sig) = signature {
        req.push_str(&format!("X-Hub-Signature-256: {sig}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

pub(crate) fn get_text(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut t = String::new();
    s.read_to_string(&mut t).unwrap();
    t
}

pub(crate) fn signed(body: &[u8]) -> Option<String> {
    Some(sign(SECRET, body))
}

pub(crate) fn payload(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(shared().join("github/webhooks").join(name)).unwrap(),
    )
    .unwrap()
}

/// A pull_request delivery for PR `number` of octo/shop at `head` (aliased to the repo's head);
/// the fake GitHub then has `head` as the pull request's head.
pub(crate) fn pr_payload(f: &Fake, action: &str, number: u64, head: &str, base: &str) -> Vec<u8> {
    f.state()
        .pulls
        .insert(number, (head.to_string(), base.to_string()));
    let mut v = payload("pull_request.opened.1.json");
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["draft"] = json!(false);
    v["pull_request"]["head"]["sha"] = json!(head);
    v["pull_request"]["base"]["sha"] = json!(base);
    v["repository"]["full_name"] = json!("octo/shop");
    v["installation"] = json!({"id": 1, "node_id": "x"});
    serde_json::to_vec(&v).unwrap()
}

/// Serve the repository's trees and contents from the fake, also under `aliases` of the head.
pub(crate) fn serve_repo(f: &Fake, r: &PrRepo, aliases: &[String]) {
    serve_change(f, r, &r.base, &r.head, &[&r.base, &r.head]);
    let mut st = f.state();
    for a in aliases {
        st.aliases.insert(a.clone(), r.head.clone());
    }
}

/// Serve a change from `base` to `head` (the pull request's files) from the fake, with the
/// trees of every commit in `commits`.
pub(crate) fn serve_change(f: &Fake, r: &PrRepo, base: &str, head: &str, commits: &[&str]) {
    let mut st = f.state();
    st.files = pull_files(&r.dir, base, head);
    for sha in commits {
        st.serve_commit(&r.dir, sha);
    }
    st.merge_base = Some(base.to_string());
}

pub(crate) async fn wait_until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn log_lines(s: &Server) -> Vec<Value> {
    std::fs::read_to_string(&s.log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_verified_queued_and_reviewed() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let srv = start_server(&db, &f.url, &[("CACHEBUST_MAX_BODY_BYTES", "100000")]);
    let p = srv.port;
    // ping
    let ping = serde_json::to_vec(&payload("ping.1.json")).unwrap();
    assert_eq!(post(p, "ping", "p-1", &ping, signed(&ping)).unwrap().0, 200);
    // signatures: missing, wrong secret, tampered body; the previous secret still works
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    assert_eq!(post(p, "pull_request", "d-1", &body, None).unwrap().0, 401);
    assert_eq!(
        post(p, "pull_request", "d-1", &body, Some(sign("wrong", &body)))
            .unwrap()
            .0,
        401
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        post(p, "pull_request", "d-1", &tampered, signed(&body))
            .unwrap()
            .0,
        401
    );
    // too large, malformed, unknown, not handled
    let big = vec![b' '; 150_000];
    assert_eq!(
        post(p, "pull_request", "d-big", &big, signed(&big))
            .unwrap()
            .0,
        413
    );
    let bad = b"{\"action\": ".to_vec();
    assert_eq!(
        post(p, "pull_request", "d-bad", &bad, signed(&bad))
            .unwrap()
            .0,
        400
    );
    let star = b"{\"action\":\"created\"}".to_vec();
    let (st, b) = post(p, "star", "d-star", &star, signed(&star)).unwrap();
    assert_eq!(st, 202, "{b}");
    assert!(b.contains("ignored"));
    let closed = serde_json::to_vec(&payload("pull_request.closed.1.json")).unwrap();
    assert_eq!(
        post(p, "pull_request", "d-closed", &closed, signed(&closed))
            .unwrap()
            .0,
        202
    );
    // the pull request: queued (signed with the previous secret), then a replay is a duplicate
    let (st, b) = post(
        p,
        "pull_request",
        "d-1",
        &body,
        Some(sign(OLD_SECRET, &body)),
    )
    .unwrap();
    assert_eq!(st, 202, "{b}");
    assert!(b.contains("\"queued\""), "{b}");
    let (st, b) = post(p, "pull_request", "d-1", &body, signed(&body)).unwrap();
    assert_eq!((st, b.contains("duplicate")), (200, true), "{b}");
    // installations are kept
    let inst = serde_json::to_vec(&payload("installation.created.1.json")).unwrap();
    assert_eq!(
        post(p, "installation", "d-inst", &inst, signed(&inst))
            .unwrap()
            .0,
        200
    );
    // the worker delivers the review, the summary and the check run
    wait_until("the review", Duration::from_secs(60), async || {
        !f.state().issue_comments.is_empty() && !f.state().check_runs.is_empty()
    })
    .await;
    {
        let s = f.state();
        assert_eq!(s.reviews.len(), 1);
        assert!(s.review_comments.iter().all(|c| c.pr == 7));
        // rule codes link to this release's rule pages (the App has no Action repository)
        let rules = format!(
            "https://github.com/cachebust/cachebust/blob/v{}/docs/rules/CB",
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            s.review_comments
                .iter()
                .chain(&s.issue_comments)
                .any(|c| c.body.contains(&rules)),
            "no link to {rules}: {:?}",
            s.review_comments
                .iter()
                .map(|c| &c.body)
                .collect::<Vec<_>>()
        );
        assert_eq!(s.check_runs.len(), 1);
        assert_eq!(s.check_runs[0]["head_sha"], json!(r.head));
        assert!(
            s.check_runs[0]["output"]["annotations"]
                .as_array()
                .unwrap()
                .len()
                > 3
        );
        assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    wait_until("the job to be done", Duration::from_secs(10), async || {
        store.depth().await.unwrap().done == 1
    })
    .await;
    assert_eq!(store.installations().await.unwrap().len(), 1);
    // "Re-run" on the check run, then "Re-run all checks" on the suite: each is a job of its own
    // (same head, so already-queued is no reason to skip it) and gets a new check run, as GitHub
    // expects of a re-run; the review is not posted again and the summary is edited in place
    for (n, (event, file, obj)) in [
        ("check_run", "check_run.rerequested.1.json", "check_run"),
        (
            "check_suite",
            "check_suite.rerequested.1.json",
            "check_suite",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut v = payload(file);
        v["repository"]["full_name"] = json!("octo/shop");
        v["installation"] = json!({"id": 1});
        v[obj]["head_sha"] = json!(r.head);
        v[obj]["name"] = json!("cachebust");
        v[obj]["pull_requests"] =
            json!([{"number": 7, "base": {"sha": r.base}, "head": {"sha": r.head}}]);
        let body = serde_json::to_vec(&v).unwrap();
        let (st, b) = post(p, event, &format!("d-rerun-{n}"), &body, signed(&body)).unwrap();
        assert_eq!(st, 202, "{b}");
        assert!(b.contains("\"queued\""), "{b}");
        wait_until("the re-run", Duration::from_secs(60), async || {
            store.depth().await.unwrap().done == 2 + n as u64
        })
        .await;
        let s = f.state();
        assert_eq!(s.check_runs.len(), 2 + n, "a new check run per re-run");
        assert_eq!(
            s.check_runs[1 + n]["external_id"],
            json!(format!("d-rerun-{n}"))
        );
        assert_eq!(s.reviews.len(), 1, "the review is not posted again");
        assert_eq!(
            s.issue_comments.len(),
            1,
            "the summary comment is edited, not duplicated"
        );
        assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
    assert_eq!(http_status(p, "/readyz"), Some(200));
    let m = get_text(p, "/metrics");
    for want in [
        "cachebust_deliveries_total{event=\"pull_request\",outcome=\"queued\"} 1",
        "cachebust_deliveries_total{event=\"pull_request\",outcome=\"bad_signature\"} 3",
        "cachebust_deliveries_total{event=\"pull_request\",outcome=\"duplicate\"} 1",
        "cachebust_deliveries_total{event=\"pull_request\",outcome=\"too_large\"} 1",
        "cachebust_deliveries_total{event=\"star\",outcome=\"ignored\"} 1",
        "cachebust_deliveries_total{event=\"ping\",outcome=\"ping\"} 1",
        "cachebust_deliveries_total{event=\"check_run\",outcome=\"queued\"} 1",
        "cachebust_deliveries_total{event=\"check_suite\",outcome=\"queued\"} 1",
        "cachebust_jobs_total{outcome=\"done\"} 3",
        "cachebust_queue_jobs{status=\"done\"} 3",
        "cachebust_job_latency_seconds_count 3",
    ] {
        assert!(m.contains(want), "{want} missing from\n{m}");
    }
    assert!(m.contains("cachebust_github_api_calls_total "));
    // structured logs: JSON, with the delivery id; no secret anywhere
    let raw = std::fs::read_to_string(&srv.log).unwrap();
    for secret in [SECRET, OLD_SECRET, "ghs_server_token_never_logged"] {
        assert!(!raw.contains(secret), "a secret is in the log");
    }
    let lines = log_lines(&srv);
    assert!(
        lines
            .iter()
            .any(|l| l["delivery"] == "d-1" && l["outcome"] == "queued"),
        "{raw}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "review delivered"
                || l["fields"]["message"] == "review delivered"),
        "{raw}"
    );
}

/// As a GitHub App: the App's JWT (RS256, signed with its private key) is exchanged for an
/// installation token, once per installation, and every call is made with that token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_authentication_uses_installation_tokens() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &["c".repeat(40)]);
    f.state().app_id = Some(4242);
    let dir = tempfile::tempdir().unwrap();
    let key = root().join("tests/fixtures/github-app-test-key.pem");
    let srv = start_server(
        &dir.path().join("q.db"),
        &f.url,
        &[
            ("CACHEBUST_GITHUB_TOKEN", ""),
            ("CACHEBUST_APP_ID", "4242"),
            ("CACHEBUST_PRIVATE_KEY_FILE", key.to_str().unwrap()),
            ("CACHEBUST_APP_SLUG", "cachebust-test"),
        ],
    );
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    let (st, b) = post(srv.port, "pull_request", "app-1", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    wait_until("the review", Duration::from_secs(60), async || {
        !f.state().check_runs.is_empty()
    })
    .await;
    // a second head of the same installation: the token is reused
    let body = pr_payload(&f, "synchronize", 7, &"c".repeat(40), &r.base);
    let (st, b) = post(srv.port, "pull_request", "app-2", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    wait_until(
        "the second check run",
        Duration::from_secs(60),
        async || f.state().check_runs.len() == 2,
    )
    .await;
    let s = f.state();
    assert_eq!(s.issued.len(), 1, "one token exchange: {:?}", s.issued);
    assert_eq!(s.issued[0].0, 1, "for the delivery's installation");
    let token = &s.issued[0].1;
    let exchanges: Vec<&Req> = s
        .requests
        .iter()
        .filter(|q| q.path == "/app/installations/1/access_tokens")
        .collect();
    assert_eq!(exchanges.len(), 1);
    assert!(
        exchanges[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ey")),
        "{:?}",
        exchanges[0].authorization
    );
    let calls: Vec<&Req> = s
        .requests
        .iter()
        .filter(|q| q.path.starts_with("/repos/"))
        .collect();
    assert!(calls.len() > 5);
    for q in calls {
        let a = q.authorization.as_deref().unwrap_or("");
        assert!(a.ends_with(token.as_str()), "{} {}: {a}", q.method, q.path);
    }
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    drop(s);
    let raw = std::fs::read_to_string(&srv.log).unwrap();
    assert!(
        !raw.contains("ghs_fake_installation"),
        "a token is in the log"
    );
    assert!(!raw.contains("PRIVATE KEY"), "the key is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_errors_leave_the_job_queued_for_retry_and_newer_heads_supersede() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &["1111111111111111111111111111111111111111".into()]);
    // the check run POST fails once with a 502: a POST is not re-sent by the client, the job is
    f.state().faults.push(Fault {
        method: "POST",
        path_suffix: "/check-runs".into(),
        status: 502,
        body: "{\"message\":\"Bad Gateway\"}".into(),
        headers: vec![],
        land: false,
        land_after: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let srv = start_server(&db, &f.url, &[]);
    let body = pr_payload(&f, "opened", 9, &r.head, &r.base);
    assert_eq!(
        post(srv.port, "pull_request", "e-1", &body, signed(&body))
            .unwrap()
            .0,
        202
    );
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    wait_until("the retried job", Duration::from_secs(60), async || {
        store.depth().await.unwrap().done == 1
    })
    .await;
    let jobs = store.jobs().await.unwrap();
    let (status, attempts, err) = store.job_status(jobs[0].0).await.unwrap().unwrap();
    assert_eq!((status.as_str(), attempts), ("done", 2), "{err:?}");
    assert!(err.unwrap_or_default().contains("502"));
    assert_eq!(f.state().check_runs.len(), 1);
    assert_eq!(
        f.state().issue_comments.len(),
        1,
        "the summary was not posted twice"
    );
    drop(srv);
    // newer heads: with no worker running, the queued older head is superseded by the newer one
    // a slow GitHub: the older head is still being read when the newer one arrives
    f.state().delay = Duration::from_millis(300);
    let srv = start_server(&db, &f.url, &[("CACHEBUST_WORKERS", "1")]);
    let b1 = pr_payload(
        &f,
        "synchronize",
        10,
        "1111111111111111111111111111111111111111",
        &r.base,
    );
    let b2 = pr_payload(&f, "synchronize", 10, &r.head, &r.base);
    let (_, a) = post(srv.port, "pull_request", "s-1", &b1, signed(&b1)).unwrap();
    let (_, b) = post(srv.port, "pull_request", "s-2", &b2, signed(&b2)).unwrap();
    assert!(a.contains("queued"), "{a}");
    assert!(b.contains("queued"), "{b}");
    wait_until(
        "the newer head's review",
        Duration::from_secs(60),
        async || {
            let jobs = store.jobs().await.unwrap();
            jobs.iter().any(|j| j.1 == "s-2" && j.3 == "done")
        },
    )
    .await;
    let jobs = store.jobs().await.unwrap();
    let first = jobs.iter().find(|j| j.1 == "s-1").unwrap();
    assert!(first.3 == "superseded", "{jobs:?}");
    assert_eq!(
        f.state()
            .issue_comments
            .iter()
            .filter(|c| c.pr == 10)
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_acknowledged_delivery() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    let n = 60u64;
    let heads: Vec<String> = (0..n).map(|i| format!("{:040x}", 0xabc000 + i)).collect();
    serve_repo(&f, &r, &heads);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    // a short lease so that the jobs of the killed process are taken over quickly
    let extra = [("CACHEBUST_LEASE_SECONDS", "2"), ("CACHEBUST_WORKERS", "2")];
    let mut srv = start_server(&db, &f.url, &extra);
    let port = srv.port;
    let mut acked = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        if i == (n / 2) as usize {
            // kill -9 in the middle of the burst, with jobs queued and in hand
            srv.child.kill().unwrap();
            srv.child.wait().unwrap();
        }
        let body = pr_payload(&f, "opened", 100 + i as u64, head, &r.base);
        if let Some((st, _)) = post(
            port,
            "pull_request",
            &format!("k-{i}"),
            &body,
            signed(&body),
        ) {
            if st == 202 {
                acked.push(format!("k-{i}"));
            }
        }
    }
    assert_eq!(
        acked.len() as u64,
        n / 2,
        "the deliveries before the kill were acknowledged, none after"
    );
    let srv2 = start_server(&db, &f.url, &extra);
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    wait_until(
        "every acknowledged delivery",
        Duration::from_secs(120),
        async || {
            let d = store.depth().await.unwrap();
            d.queued == 0 && d.running == 0
        },
    )
    .await;
    let jobs = store.jobs().await.unwrap();
    for d in &acked {
        let js: Vec<_> = jobs.iter().filter(|j| &j.1 == d).collect();
        assert_eq!(js.len(), 1, "{d}: {js:?}");
        assert_eq!(js[0].3, "done", "{d}");
    }
    // exactly once as GitHub sees it: one summary comment and one check run per pull request
    let s = f.state();
    for i in 0..acked.len() as u64 {
        assert_eq!(
            s.issue_comments.iter().filter(|c| c.pr == 100 + i).count(),
            1,
            "PR {}",
            100 + i
        );
        assert_eq!(
            s.check_runs
                .iter()
                .filter(|c| c["head_sha"] == json!(heads[i as usize]))
                .count(),
            1,
            "PR {}",
            100 + i
        );
    }
    drop(srv2);
}

#[test]
fn sigterm_stops_accepting_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = start_server(&db, "http://127.0.0.1:9", &[]);
    let pid = srv.child.id();
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
    let lines = log_lines(&srv);
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{lines:?}");
    assert_eq!(http_status(srv.port, "/healthz"), None);
}

const EC_KEY_LABELLED_RSA: &str = include_str!("../fixtures/github-app-ec-key-labelled-rsa.pem");

#[test]
fn serve_refuses_to_start_without_a_secret_or_credentials() {
    for (env, want) in [
        (
            vec![("CACHEBUST_GITHUB_TOKEN", "t")],
            "webhook secret is required",
        ),
        (
            vec![("CACHEBUST_WEBHOOK_SECRET", "s")],
            "credentials are required",
        ),
        (
            vec![
                ("CACHEBUST_WEBHOOK_SECRET", "s"),
                ("CACHEBUST_APP_ID", "12"),
            ],
            "private key",
        ),
        (
            vec![
                ("CACHEBUST_WEBHOOK_SECRET", "s"),
                ("CACHEBUST_APP_ID", "12"),
                (
                    "CACHEBUST_PRIVATE_KEY",
                    "-----BEGIN RSA PRIVATE KEY-----\\nbm90IGEga2V5\\n-----END RSA PRIVATE KEY-----",
                ),
            ],
            "the App's private key",
        ),
        // well-formed PEM and DER that no RS256 JWT can be signed with: a P-256 key under an
        // RSA label (a throwaway key, tests/fixtures/github-app-ec-key-labelled-rsa.pem)
        (
            vec![
                ("CACHEBUST_WEBHOOK_SECRET", "s"),
                ("CACHEBUST_APP_ID", "12"),
                ("CACHEBUST_PRIVATE_KEY", EC_KEY_LABELLED_RSA),
            ],
            "the App's private key",
        ),
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
        c.arg("serve")
            .env_clear()
            .env("CACHEBUST_LISTEN", "127.0.0.1:0")
            .env("CACHEBUST_DATABASE", "sqlite::memory:");
        for (k, v) in env {
            c.env(k, v);
        }
        // a server that starts when it should have refused is stopped, not waited for
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let o = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(o) => o.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("serve started instead of refusing ({want})");
            }
        };
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

// ---- hostile pull requests and clients (issue 17) ------------------------------------------

/// `${V:-…}` nested `n` deep: recursed without a limit it overflows any stack.
pub fn nesting_bomb(n: usize) -> String {
    format!(
        "FROM alpine\nENV X=\"{}x{}\"\nRUN echo \"$X\"\n",
        "${V:-".repeat(n),
        "}".repeat(n)
    )
}

/// `levels` ARGs each twice the one before (2^44 bytes unbounded).
pub fn doubling_bomb(levels: usize) -> String {
    let mut s = String::from("FROM alpine\nARG A0=xxxxxxxxxxxxxxxx\n");
    for i in 1..=levels {
        s.push_str(&format!("ARG A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
    }
    s.push_str(&format!("ENV E=$A{levels}\nRUN echo \"$E\"\n"));
    s
}

/// As large as the Dockerfile limits allow: slow to analyse, but bounded.
pub(crate) fn long_dockerfile(seed: usize) -> String {
    let mut s = String::from("FROM alpine\nCOPY . /src\n");
    for i in 0..9_900 {
        s.push_str(&format!("RUN echo {seed}-{i} > /tmp/f{i}\n"));
    }
    s
}

pub(crate) fn job_of(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["job"]
        .as_i64()
        .unwrap_or_else(|| panic!("no job in {body}"))
}

/// Bombs are findings, an analysis past its budget fails alone (and is not run again), and
/// meanwhile `/healthz` answers and a normal delivery is accepted and then reviewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_pull_requests_fail_alone_and_normal_work_goes_on() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    // two hostile heads on top of the normal one: bombs, then files that take long to analyse
    std::fs::create_dir_all(r.dir.join("bomb")).unwrap();
    std::fs::create_dir_all(r.dir.join("double")).unwrap();
    std::fs::write(r.dir.join("bomb/Dockerfile"), nesting_bomb(100_000)).unwrap();
    std::fs::write(r.dir.join("double/Dockerfile"), doubling_bomb(44)).unwrap();
    let bombs = crate::action::commit(&r.dir, "bombs");
    for n in 0..6 {
        let d = r.dir.join(format!("slow{n}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), long_dockerfile(n)).unwrap();
    }
    let slow = crate::action::commit(&r.dir, "slow");
    serve_change(&f, &r, &r.base, &slow, &[&r.base, &r.head, &bombs, &slow]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_ANALYSIS_SECONDS", "6"),
            ("CACHEBUST_CHECK_RUNS", "false"),
            // one runtime thread: were the analysis on the runtime, nothing would answer
            ("TOKIO_WORKER_THREADS", "1"),
        ],
    );
    let p = srv.port;
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let body = pr_payload(&f, "opened", 9, &slow, &r.base);
    let (st, b) = post(p, "pull_request", "h-slow", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let slow_job = job_of(&b);
    wait_until("the slow job to run", Duration::from_secs(20), async || {
        store.job_status(slow_job).await.unwrap().unwrap().0 == "running"
    })
    .await;
    // the analysis runs off the async runtime: the server answers at once meanwhile
    let t = Instant::now();
    assert_eq!(http_status(p, "/healthz"), Some(200));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    let t = Instant::now();
    let (st, b) = post(p, "pull_request", "h-normal", &body, signed(&body)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(st, 202, "{b}");
    let normal_job = job_of(&b);
    let body = pr_payload(&f, "opened", 8, &bombs, &r.base);
    let (st, b) = post(p, "pull_request", "h-bombs", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let bomb_job = job_of(&b);
    wait_until(
        "all three jobs to end",
        Duration::from_secs(120),
        async || {
            let mut ended = 0;
            for id in [slow_job, normal_job, bomb_job] {
                let s = store.job_status(id).await.unwrap().unwrap().0;
                ended += usize::from(s == "done" || s == "failed");
            }
            ended == 3
        },
    )
    .await;
    let (status, attempts, error) = store.job_status(slow_job).await.unwrap().unwrap();
    assert_eq!((status.as_str(), attempts), ("failed", 1), "{error:?}");
    assert!(
        error
            .as_deref()
            .unwrap_or_default()
            .contains("did not finish within 6 s"),
        "{error:?}"
    );
    for id in [normal_job, bomb_job] {
        let s = store.job_status(id).await.unwrap().unwrap();
        assert_eq!(s.0, "done", "job {id}: {s:?}");
    }
    assert!(srv.child.try_wait().unwrap().is_none(), "the server died");
    // the analysis past its budget was killed, not left running: no analysis process is left
    wait_until(
        "the server's analysis processes to be gone",
        Duration::from_secs(5),
        async || analysis_processes(srv.child.id()).is_empty(),
    )
    .await;
    // the bombs' review says what was refused, with file and line
    let (all, normal_summary) = {
        let s = f.state();
        let all: String = s
            .issue_comments
            .iter()
            .chain(&s.reviews)
            .filter(|c| c.pr == 8)
            .map(|c| c.body.clone())
            .collect();
        (all, s.issue_comments.iter().any(|c| c.pr == 7))
    };
    assert!(all.contains("nests deeper than 64 levels"), "{all}");
    assert!(all.contains("environment would grow past 32 KiB"), "{all}");
    assert!(normal_summary, "no summary for the normal PR");
    // the analysis past its budget: the pull request's summary says so (issue 30)
    let slow_summary: Vec<String> = f
        .state()
        .issue_comments
        .iter()
        .filter(|c| c.pr == 9)
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(slow_summary.len(), 1, "{slow_summary:?}");
    assert!(
        slow_summary[0].contains("this pull request was not analysed")
            && slow_summary[0].contains("did not finish within 6 s"),
        "{}",
        slow_summary[0]
    );
    // the failed job is not claimed again
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.job_status(slow_job).await.unwrap().unwrap().1, 1);
}

/// Item 7 on the server: the review follows the BASE revision's `.github/cachebust.yml`. The
/// base switches CB001 off and the pull request both changes api's manifests (which `COPY . .`
/// copies before the install: CB001's case) and deletes that line of the configuration: no
/// CB001 in the review, and the summary says the change edits the configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reviews_with_the_base_configuration() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    crate::cli::git(&r.dir, &["checkout", "-q", &r.base]);
    std::fs::create_dir_all(r.dir.join(".github")).unwrap();
    std::fs::write(
        r.dir.join(".github/cachebust.yml"),
        "rules:\n  CB001: off\n",
    )
    .unwrap();
    let base = crate::action::commit(&r.dir, "base with a configuration");
    crate::cli::git(&r.dir, &["checkout", "-q", &r.head, "--", "."]);
    std::fs::write(r.dir.join(".github/cachebust.yml"), "rules: {}\n").unwrap();
    let head = crate::action::commit(&r.dir, "head: CB001 back on");
    serve_change(&f, &r, &base, &head, &[&base, &head]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    // analysed inside the server (no process): that path reviews the same way
    let srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_CHECK_RUNS", "false"),
            ("CACHEBUST_ANALYSIS_MEMORY_MB", "0"),
        ],
    );
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let body = pr_payload(&f, "opened", 7, &head, &base);
    let (st, b) = post(srv.port, "pull_request", "cfg-1", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let job = job_of(&b);
    wait_until("the job to end", Duration::from_secs(60), async || {
        let s = store.job_status(job).await.unwrap().unwrap().0;
        s == "done" || s == "failed"
    })
    .await;
    let s = store.job_status(job).await.unwrap().unwrap();
    assert_eq!(s.0, "done", "{s:?}");
    let all: String = {
        let st = f.state();
        st.issue_comments
            .iter()
            .chain(&st.reviews)
            .filter(|c| c.pr == 7)
            .map(|c| c.body.clone())
            .collect()
    };
    assert!(all.contains("api/Dockerfile"), "no review: {all}");
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
    drop(srv);
}

/// SIGTERM while an analysis runs: the server stops within its grace period (the analysis is
/// abandoned, not waited for) and gives the job back to the queue, its attempt not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_analysis_stops_within_the_grace_period() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    for n in 0..6 {
        let d = r.dir.join(format!("slow{n}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), long_dockerfile(n)).unwrap();
    }
    let slow = crate::action::commit(&r.dir, "slow");
    serve_change(&f, &r, &r.base, &slow, &[&r.base, &slow]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_ANALYSIS_SECONDS", "300"),
            ("CACHEBUST_SHUTDOWN_GRACE_SECONDS", "2"),
            ("CACHEBUST_CHECK_RUNS", "false"),
        ],
    );
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let body = pr_payload(&f, "opened", 9, &slow, &r.base);
    let (st, b) = post(srv.port, "pull_request", "t-slow", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let job = job_of(&b);
    wait_until("the slow job to run", Duration::from_secs(20), async || {
        store.job_status(job).await.unwrap().unwrap().0 == "running"
    })
    .await;
    // the analysis well under way in its process (the pull request is read first)
    wait_until(
        "the analysis process",
        Duration::from_secs(20),
        async || analysis_processes(srv.child.id()).len() == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let analysis = analysis_processes(srv.child.id());
    assert_eq!(analysis.len(), 1, "{analysis:?}");
    // as a service manager stops a service: SIGTERM to every process of it at once; the
    // analysis process leaves the stop to the server, which gives the job back
    let sent = Instant::now();
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(srv.child.id().to_string())
        .arg(analysis[0].to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let code = loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(6),
            "still running {:?} after SIGTERM with a 2 s grace",
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
    let (status, attempts, error) = store.job_status(job).await.unwrap().unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 0), "{error:?}");
    assert!(f.state().issue_comments.iter().all(|c| c.pr != 9));
    // and the analysis process went with the server
    let gone = Instant::now();
    while std::path::Path::new(&format!("/proc/{}/cmdline", analysis[0])).exists()
        && std::fs::read_to_string(format!("/proc/{}/stat", analysis[0]))
            .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "the analysis outlived the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Slow clients: headers and bodies that never finish are cut after the read timeout, bodies
/// being read at once are bounded, and a real delivery goes through meanwhile and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_and_deliveries_still_go_through() {
    let Some(f) = fake() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_READ_TIMEOUT_SECONDS", "1"),
            // room for the ten slow bodies and a ping: the budget's waits are
            // `unverified_bodies_share_a_memory_budget`'s (the budget is served first come, first
            // served, so a ping that came after bodies waiting for their share would wait too)
            ("CACHEBUST_UNVERIFIED_BYTES", "440000"),
            ("CACHEBUST_MAX_BODY_BYTES", "40000"),
        ],
    );
    let p = srv.port;
    let open = |req: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // half-sent headers, and bodies announced at 40 KB of which 39,990 bytes arrive
    let mut idle: Vec<TcpStream> = (0..100)
        .map(|_| open("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Git"))
        .collect();
    let mut bodies: Vec<TcpStream> = (0..10)
        .map(|i| open(&format!("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40000\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: slow-{i}\r\nX-Hub-Signature-256: sha256={}\r\n\r\n{}", "0".repeat(64), " ".repeat(39_990))))
        .collect();
    let started = Instant::now();
    let ping = serde_json::to_vec(&payload("ping.1.json")).unwrap();
    assert_eq!(http_status(p, "/healthz"), Some(200));
    let (st, b) = post(p, "ping", "p-during", &ping, signed(&ping)).unwrap();
    assert_eq!(st, 200, "{b}");
    // every slow connection is closed by the server within a few read timeouts
    let mut answers = Vec::new();
    for s in idle.iter_mut().chain(bodies.iter_mut()) {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        answers.push(String::from_utf8_lossy(&buf).into_owned());
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let body_statuses: Vec<&str> = answers[100..]
        .iter()
        .map(|a| a.split_whitespace().nth(1).unwrap_or("closed"))
        .collect();
    assert!(
        body_statuses.iter().all(|s| *s == "408"),
        "{body_statuses:?}"
    );
    let (st, b) = post(p, "ping", "p-after", &ping, signed(&ping)).unwrap();
    assert_eq!(st, 200, "{b}");
    let m = get_text(p, "/metrics");
    assert!(
        m.contains("cachebust_deliveries_total{event=\"ping\",outcome=\"timeout\"}"),
        "{m}"
    );
}

/// Item 4's remaining bounds: past `--max-connections` a connection is closed at once; the ones
/// held open are cut by the read timeout (still held by the client), after which deliveries go
/// through; and a chunked body with no Content-Length is refused with 413 once it passes
/// `--max-body-bytes`.
#[test]
fn connections_and_chunked_bodies_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    // a read timeout long enough that the held connections are still open when the extra one
    // comes, even on a loaded machine
    let srv = start_server(
        &db,
        "http://127.0.0.1:9",
        &[
            ("CACHEBUST_READ_TIMEOUT_SECONDS", "4"),
            ("CACHEBUST_MAX_CONNECTIONS", "3"),
            ("CACHEBUST_MAX_BODY_BYTES", "100000"),
        ],
    );
    let p = srv.port;
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
            s.write_all(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Git")
                .unwrap();
            s
        })
        .collect();
    let opened = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // the fourth: closed without an answer
    let mut extra = TcpStream::connect(("127.0.0.1", p)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = Vec::new();
    let n = extra.read_to_end(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || opened.elapsed() >= Duration::from_secs(4),
        "answered past the limit: {}",
        String::from_utf8_lossy(&buf)
    );
    // the held ones are still open on our side: only the server's read timeout frees them
    let ping = serde_json::to_vec(&payload("ping.1.json")).unwrap();
    let through = loop {
        if let Some((200, _)) = post(p, "ping", "p-after-limit", &ping, signed(&ping)) {
            break opened.elapsed();
        }
        assert!(
            opened.elapsed() < Duration::from_secs(30),
            "no delivery went through while the held connections stayed open"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(through >= Duration::from_secs(3), "{through:?}");
    drop(held);
    // chunked, 3 x 50,000 bytes, no Content-Length
    let body = vec![b' '; 150_000];
    let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: d-chunked\r\nX-Hub-Signature-256: {}\r\nConnection: close\r\n\r\n",
        signed(&body).unwrap()
    );
    s.write_all(head.as_bytes()).unwrap();
    for c in body.chunks(50_000) {
        let _ = s.write_all(format!("{:x}\r\n", c.len()).as_bytes());
        let _ = s.write_all(c);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(answer.split_whitespace().nth(1), Some("413"), "{answer}");
    let (st, b) = post(p, "ping", "p-after-chunked", &ping, signed(&ping)).unwrap();
    assert_eq!(st, 200, "{b}");
    drop(srv);
}

/// Live `analysis-process` children of a process.
pub(crate) fn analysis_processes(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(stat), Ok(cmd)) = (
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        // pid (comm) state ppid …
        let after = stat.rsplit_once(") ").map_or("", |(_, a)| a);
        let mut f = after.split_whitespace();
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if ppid == Some(parent)
            && state != Some("Z")
            && String::from_utf8_lossy(&cmd).contains("analysis-process")
        {
            out.push(pid);
        }
    }
    out
}

/// The per-job memory budget: each analysis runs in a process of its own whose heap is limited
/// (`--analysis-memory-mb`, 32 here). A pull request whose analysis needs more (9,900 RUN steps,
/// about 50 MB) fails alone with the budget named, is not tried again, and the server — with a
/// normal pull request queued behind it — goes on and reviews that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_over_its_memory_budget_fails_alone() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    std::fs::create_dir_all(r.dir.join("heavy")).unwrap();
    std::fs::write(r.dir.join("heavy/Dockerfile"), long_dockerfile(0)).unwrap();
    let heavy = crate::action::commit(&r.dir, "heavy");
    serve_change(&f, &r, &r.base, &heavy, &[&r.base, &r.head, &heavy]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_ANALYSIS_MEMORY_MB", "32"),
            ("CACHEBUST_WORKERS", "1"),
        ],
    );
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let body = pr_payload(&f, "opened", 9, &heavy, &r.base);
    let (st, b) = post(srv.port, "pull_request", "m-heavy", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let heavy_job = job_of(&b);
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    let (st, b) = post(srv.port, "pull_request", "m-normal", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let normal_job = job_of(&b);
    wait_until("both jobs to end", Duration::from_secs(120), async || {
        let mut ended = 0;
        for id in [heavy_job, normal_job] {
            let s = store.job_status(id).await.unwrap().unwrap().0;
            ended += usize::from(s == "done" || s == "failed");
        }
        ended == 2
    })
    .await;
    let (status, attempts, error) = store.job_status(heavy_job).await.unwrap().unwrap();
    assert_eq!((status.as_str(), attempts), ("failed", 1), "{error:?}");
    assert!(
        error.as_deref().unwrap_or_default().contains(
            "the analysis ran out of its memory budget (32 MiB per pull request) and was stopped"
        ),
        "{error:?}"
    );
    let s = store.job_status(normal_job).await.unwrap().unwrap();
    assert_eq!(s.0, "done", "{s:?}");
    assert!(srv.child.try_wait().unwrap().is_none(), "the server died");
    assert!(
        f.state().issue_comments.iter().any(|c| c.pr == 7),
        "no summary for the normal PR"
    );
    // the pull request is told what was refused and why (issue 30): its summary comment and a
    // failed check run, so that running out of memory cannot silence its review
    {
        let s = f.state();
        let told: Vec<&str> = s
            .issue_comments
            .iter()
            .filter(|c| c.pr == 9)
            .map(|c| c.body.as_str())
            .collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].contains("this pull request was not analysed")
                && told[0].contains("ran out of its memory budget (32 MiB per pull request)"),
            "{}",
            told[0]
        );
        let runs: Vec<&Value> = s
            .check_runs
            .iter()
            .filter(|r| r["head_sha"] == json!(heavy))
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["conclusion"], "failure");
        assert!(
            runs[0]["output"]["summary"]
                .as_str()
                .unwrap()
                .contains("ran out of its memory budget"),
            "{}",
            runs[0]["output"]
        );
        assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.job_status(heavy_job).await.unwrap().unwrap().1, 1);
    let m = get_text(srv.port, "/metrics");
    assert!(
        m.contains("cachebust_jobs_total{outcome=\"refused\"} 1"),
        "{m}"
    );
}

/// The analysis process reports exactly what the analysis inside the server reports: the
/// bundled examples (directories: complete listings sent along), every rule fixture audited
/// whole (findings, fixes, savings), and 25 consecutive commits of getsentry/self-hosted's
/// history (git revisions: every listing and file read is a question over the pipe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analysis_process_reports_what_the_server_would() {
    use cachebust::adapters::local::{LocalRepo, Spec};
    use cachebust::adapters::process::AnalysisProcess;
    use cachebust::app::analyze::{AnalyzeOptions, analyze};
    use cachebust::app::isolate::analyze_isolated;
    use cachebust::engine::EngineKind;
    let iso = AnalysisProcess {
        exe: env!("CARGO_BIN_EXE_cachebust").into(),
        memory_bytes: 1 << 30,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pairs: Vec<(Spec, Spec, PathBuf, bool)> = vec![(
        Spec::Dir(root.join("examples/base")),
        Spec::Dir(root.join("examples/head")),
        root.to_path_buf(),
        false,
    )];
    for e in std::fs::read_dir(root.join("tests/fixtures/rules")).unwrap() {
        let d = e.unwrap().path();
        pairs.push((Spec::Dir(d.clone()), Spec::Dir(d), root.to_path_buf(), true));
    }
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::history_repos::clone(tmp.path(), "self-hosted");
    for i in 0..25 {
        pairs.push((
            Spec::Rev(format!("HEAD~{}", i + 1)),
            Spec::Rev(format!("HEAD~{i}")),
            bare.clone(),
            false,
        ));
    }
    let (mut findings, mut steps) = (0, 0);
    for (base, head, repo, all) in &pairs {
        let source = LocalRepo::open(base, head, repo).unwrap_or_else(|e| panic!("{e:?}"));
        let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
        opts.report_all = *all;
        let here = analyze(&source, &opts).await.unwrap();
        let there = analyze_isolated(&iso, &source, &opts)
            .await
            .unwrap_or_else(|e| panic!("{base:?} → {head:?}: {e}"));
        assert_eq!(there, here, "{base:?} → {head:?}");
        for d in &here.dockerfiles {
            findings += d.findings.len();
            steps += d.steps.len();
        }
    }
    // the comparison covered real reports, not empty ones
    assert!(
        findings >= 40 && steps >= 120,
        "{findings} findings, {steps} steps"
    );
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Item 4's memory: 100 connections each send 1 MiB of a 4 MiB body and stall (their signatures
/// cannot be checked before the end). Bodies not yet verified share `--unverified-bytes`
/// (8 MiB here), so the server's memory grows by about that, not by the 100 MiB sent (before the
/// budget, 200 such bodies took it from 57 MB to 1.06 GB); once the read timeout cuts them, a
/// pull request is accepted and reviewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_bodies_share_a_memory_budget() {
    let Some(f) = fake() else { return };
    let r = pr_repo();
    serve_repo(&f, &r, &[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let srv = start_server(
        &db,
        &f.url,
        &[
            ("CACHEBUST_READ_TIMEOUT_SECONDS", "4"),
            ("CACHEBUST_UNVERIFIED_BYTES", "8388608"),
            ("CACHEBUST_MAX_BODY_BYTES", "4194304"),
            ("CACHEBUST_CHECK_RUNS", "false"),
        ],
    );
    let (p, pid) = (srv.port, srv.child.id());
    let before = rss_kib(pid);
    let senders: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
                let head = format!("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4194304\r\nX-GitHub-Event: pull_request\r\nX-GitHub-Delivery: big-{i}\r\nX-Hub-Signature-256: sha256={}\r\n\r\n", "0".repeat(64));
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&vec![b' '; 1 << 20]);
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("closed")
                    .to_string()
            })
        })
        .collect();
    // the most memory it takes while the bodies are held (sampled until they are cut)
    let mut peak = before;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    let statuses: Vec<String> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    let grown_mib = (peak.saturating_sub(before)) / 1024;
    assert!(
        grown_mib < 40,
        "the server grew by {grown_mib} MiB holding unverified bodies (budget 8 MiB)"
    );
    assert!(
        statuses.iter().all(|s| s == "408" || s == "closed"),
        "{statuses:?}"
    );
    // and a real delivery goes through, and is reviewed
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let body = pr_payload(&f, "opened", 7, &r.head, &r.base);
    let (st, b) = post(p, "pull_request", "after-big", &body, signed(&body)).unwrap();
    assert_eq!(st, 202, "{b}");
    let job = job_of(&b);
    wait_until("the job to be done", Duration::from_secs(60), async || {
        store.job_status(job).await.unwrap().unwrap().0 == "done"
    })
    .await;
    assert!(f.state().issue_comments.iter().any(|c| c.pr == 7));
    drop(srv);
}

/// `app::webhook::decide` on a payload read as a delivery is (a malformed one is `Err` too).
fn decide(
    delivery: &str,
    event: &str,
    payload: &Value,
    cfg: &WebhookConfig,
) -> Result<Decision, String> {
    let bytes = serde_json::to_vec(payload).unwrap();
    let typed =
        cachebust::adapters::github::event::parse(event, &bytes).map_err(|e| e.to_string())?;
    cachebust::app::webhook::decide(delivery, &typed, cfg)
}

// moved from `app::webhook` (the decision now reads the typed event), expectations unchanged
#[test]
fn decisions() {
    let cfg = WebhookConfig {
        drafts: false,
        app_id: Some(1),
    };
    let pr = serde_json::json!({"action": "synchronize", "repository": {"full_name": "o/r"}, "installation": {"id": 9},
        "pull_request": {"number": 3, "draft": false, "head": {"sha": "h"}, "base": {"sha": "b"}}});
    assert!(matches!(
        decide("d", "pull_request", &pr, &cfg),
        Ok(Decision::Enqueue { force: false, .. })
    ));
    let mut draft = pr.clone();
    draft["pull_request"]["draft"] = true.into();
    assert!(matches!(
        decide("d", "pull_request", &draft, &cfg),
        Ok(Decision::Ignore(_))
    ));
    let mut closed = pr.clone();
    closed["action"] = "closed".into();
    assert!(matches!(
        decide("d", "pull_request", &closed, &cfg),
        Ok(Decision::Ignore(_))
    ));
    let mut broken = pr.clone();
    broken["pull_request"]["head"] = Value::Null;
    assert!(decide("d", "pull_request", &broken, &cfg).is_err());
    assert_eq!(decide("d", "ping", &Value::Null, &cfg), Ok(Decision::Ping));
    let suite = serde_json::json!({"action": "rerequested", "repository": {"full_name": "o/r"}, "installation": {"id": 9},
        "check_suite": {"head_sha": "h2", "app": {"id": 1}, "pull_requests": [{"number": 3, "base": {"sha": "b"}}]}});
    match decide("d", "check_suite", &suite, &cfg) {
        Ok(Decision::Enqueue { job, force: true }) => {
            assert_eq!(
                (
                    job.kind.as_str(),
                    job.pr_number,
                    job.head_sha.as_str(),
                    job.base_sha.as_str()
                ),
                ("rerun", 3, "h2", "b")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut foreign = suite.clone();
    foreign["check_suite"]["app"]["id"] = 2.into();
    assert!(matches!(
        decide("d", "check_suite", &foreign, &cfg),
        Ok(Decision::Ignore(_))
    ));
    let mut no_pr = suite.clone();
    no_pr["check_suite"]["pull_requests"] = serde_json::json!([]);
    assert!(matches!(
        decide("d", "check_suite", &no_pr, &cfg),
        Ok(Decision::Ignore(_))
    ));
    assert!(matches!(
        decide("d", "star", &Value::Null, &cfg),
        Ok(Decision::Ignore(_))
    ));
}

/// The schema as `SqlStore` created it before migrations were versioned (captured from the
/// code of that time): a database made by it must open with the versioned store.
const UNVERSIONED_SQLITE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, received_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL, kind TEXT NOT NULL, repo TEXT NOT NULL, pr_number BIGINT NOT NULL, head_sha TEXT NOT NULL, base_sha TEXT NOT NULL, installation_id BIGINT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, run_after BIGINT NOT NULL, lease_until BIGINT, worker TEXT, last_error TEXT, created_at BIGINT NOT NULL, finished_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, run_after, id)",
    "CREATE INDEX IF NOT EXISTS jobs_pr ON jobs (repo, pr_number, status)",
    "CREATE TABLE IF NOT EXISTS installations (id BIGINT PRIMARY KEY, account TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS installation_repos (installation_id BIGINT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (installation_id, repo))",
];
const UNVERSIONED_PG_JOBS: &str = "CREATE TABLE IF NOT EXISTS jobs (id BIGSERIAL PRIMARY KEY, delivery_id TEXT NOT NULL, kind TEXT NOT NULL, repo TEXT NOT NULL, pr_number BIGINT NOT NULL, head_sha TEXT NOT NULL, base_sha TEXT NOT NULL, installation_id BIGINT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, run_after BIGINT NOT NULL, lease_until BIGINT, worker TEXT, last_error TEXT, created_at BIGINT NOT NULL, finished_at BIGINT)";
/// Data as the old store wrote it: a delivery with its queued job, an installation.
const OLD_DATA: &[&str] = &[
    "INSERT INTO deliveries VALUES ('old-1', 'pull_request', 1)",
    "INSERT INTO jobs (delivery_id, kind, repo, pr_number, head_sha, base_sha, installation_id, status, attempts, run_after, created_at) VALUES ('old-1', 'pull_request', 'o/r', 3, 'h', 'b', 9, 'queued', 0, 1, 1)",
    "INSERT INTO installations VALUES (9, 'octo', 1)",
    "INSERT INTO installation_repos VALUES (9, 'o/r')",
];

async fn assert_migrated(store: &SqlStore, versions: Vec<(i64, bool)>, expected: &[(i64, bool)]) {
    assert_eq!(versions, expected, "the schema's versions are recorded");
    assert_eq!(
        store.depth().await.unwrap().queued,
        1,
        "the old job is kept"
    );
    assert_eq!(
        store.installations().await.unwrap(),
        [(9, "octo".to_string(), vec!["o/r".to_string()])]
    );
    // and it is claimed like a new one; a redelivery of the old delivery is a duplicate
    let job = store.claim("w", 1000, now_ms()).await.unwrap().unwrap();
    assert_eq!((job.job.repo.as_str(), job.job.pr_number), ("o/r", 3));
    let mut again = job.job.clone();
    again.delivery_id = "old-1".into();
    assert_eq!(
        store.enqueue(&again, true).await.unwrap(),
        Enqueued::DuplicateDelivery
    );
}

async fn sqlite_versions(c: &mut sqlx::SqliteConnection) -> Vec<(i64, bool)> {
    sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(c)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_apply_to_a_database_of_the_unversioned_schema() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for s in UNVERSIONED_SQLITE.iter().chain(OLD_DATA) {
            sqlx::query(*s).execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    }
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    assert_migrated(&store, sqlite_versions(&mut c).await, &[(1, true)]).await;
    // opening again applies nothing new
    drop(store);
    let store = SqlStore::open(db.to_str().unwrap()).await.unwrap();
    assert_eq!(sqlite_versions(&mut c).await, [(1, true)]);
    assert_eq!(store.depth().await.unwrap().running, 1);

    // PostgreSQL: in a schema of this test's own
    let Ok(pg) = std::env::var("CACHEBUST_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CACHEBUST_REQUIRE_POSTGRES").is_none(),
            "CACHEBUST_REQUIRE_POSTGRES is set but CACHEBUST_TEST_POSTGRES_URL is not"
        );
        return;
    };
    let schema = format!("cb_migrate_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&pg).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let sep = if pg.contains('?') { '&' } else { '?' };
    let in_schema = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
    {
        let mut c = sqlx::PgConnection::connect(&in_schema).await.unwrap();
        for s in UNVERSIONED_SQLITE.iter().chain(OLD_DATA) {
            let s: &'static str = if s.starts_with("CREATE TABLE IF NOT EXISTS jobs") {
                UNVERSIONED_PG_JOBS
            } else {
                s
            };
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    }
    let store = SqlStore::open(&in_schema).await.unwrap();
    let versions: Vec<(i64, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, success FROM {schema}._sqlx_migrations ORDER BY version"
    )))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    // PostgreSQL's second and third: the group enqueue function, then with fewer statements
    assert_migrated(&store, versions, &[(1, true), (2, true), (3, true)]).await;
    drop(store);
    // a database a newer cachebust migrated (a version this one does not know): refused with
    // the reason, twice — the first refusal released the migrators' lock (it used to be left
    // held, and the retry waited on it for ever: the server never started and said nothing)
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}._sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'from the future', TRUE, '\\x00', 0)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    for _ in 0..2 {
        let opened = tokio::time::timeout(Duration::from_secs(20), SqlStore::open(&in_schema))
            .await
            .expect("opening a database of a newer version hangs");
        let e = opened.err().expect("a newer database is refused");
        assert!(
            matches!(e, cachebust::ports::StoreError::Migration(_)),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.starts_with("job store: migrating the schema: ")
                && e.contains("a newer cachebust migrated this database"),
            "{e}"
        );
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// A forge that is always rate limited with GitHub's largest `Retry-After` (item 14 of issue
/// 30), counting the attempts.
struct RetryForever(std::sync::atomic::AtomicU32);

impl cachebust::app::worker::Forge for RetryForever {
    type Host = cachebust::adapters::github::GitHub;
    type Trees = cachebust::adapters::github::tree::ApiTrees;
    async fn connect(&self, _: u64) -> Result<Self::Host, HostError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(HostError::RateLimited {
            message: "API rate limit exceeded".into(),
            retry_after: Some(u64::MAX),
        })
    }
    async fn identity(&self) -> Result<String, HostError> {
        Ok("cachebust-test[bot]".into())
    }
    fn reader(&self, host: &Self::Host, calls: u64) -> Self::Host {
        host.budgeted(calls)
    }
    async fn trees(
        &self,
        _: &Self::Host,
        _: &cachebust::ports::PullRef,
        _: &cachebust::ports::PullFiles,
    ) -> Result<(Self::Trees, Vec<String>), HostError> {
        Err(HostError::NotFound("no trees".into()))
    }
}

/// `Retry-After: 18446744073709551615` waits an hour (GitHub's longest reset), not "now": the
/// job is tried once, not again 59 minutes later by the clock, and again after the hour.
#[tokio::test]
async fn a_huge_retry_after_is_an_hour_not_a_hot_loop() {
    use cachebust::app::worker::{Metrics, WorkerConfig, run_with_clock};
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("q.db").to_str().unwrap())
        .await
        .unwrap();
    let id = match store.enqueue(&job("u-huge", 1, "h"), false).await.unwrap() {
        Enqueued::Queued { id, .. } => id,
        other => panic!("{other:?}"),
    };
    let clock = ManualClock(std::sync::atomic::AtomicI64::new(now_ms()));
    let cfg = WorkerConfig {
        name: "w".into(),
        lease: Duration::from_secs(60),
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        poll: Duration::from_millis(5),
        engine: cachebust::engine::EngineKind::Buildkit,
        check_runs: false,
        publish: Default::default(),
        analysis_budget: Duration::from_secs(60),
        analysis_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        isolation: None,
        api_calls: 1000,
        settle: Duration::from_secs(1),
        ci: Default::default(),
    };
    let forge = RetryForever(Default::default());
    let metrics = Metrics::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake = tokio::sync::Notify::new();
    let worker = run_with_clock(&store, &forge, &cfg, &metrics, stop_rx, &wake, &clock);
    let tries = || forge.0.load(std::sync::atomic::Ordering::SeqCst);
    let test = async {
        while tries() < 1 || store.job_status(id).await.unwrap().unwrap().0 != "queued" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // 300 ms of polls every 5 ms: no second try while the clock stands still
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(tries(), 1, "retried at once: a hot loop");
        clock
            .0
            .fetch_add(59 * 60 * 1000, std::sync::atomic::Ordering::SeqCst);
        wake.notify_waiters();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(tries(), 1, "retried before the hour");
        clock
            .0
            .fetch_add(2 * 60 * 1000, std::sync::atomic::Ordering::SeqCst);
        wake.notify_waiters();
        let start = Instant::now();
        while tries() < 2 {
            assert!(start.elapsed() < Duration::from_secs(10), "never retried");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (st, attempts, err) = store.job_status(id).await.unwrap().unwrap();
        assert!(st == "queued" || st == "running", "{st}");
        assert!(
            attempts <= 1,
            "a rate limit does not use up attempts: {attempts}"
        );
        assert!(err.unwrap().contains("rate limit"));
        stop_tx.send(true).unwrap();
        wake.notify_waiters();
    };
    tokio::join!(worker, test);
}
