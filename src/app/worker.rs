//! The server's workers: claim a job from the `JobStore` (a lease), read the pull request through
//! a `Forge` (the code host and its trees), review it with `app::review` (the analysis on the
//! blocking pool within a budget; the review and the check run delivered unless the job was
//! superseded meanwhile), and record the outcome. A GitHub error that may pass (5xx, timeouts, rate
//! limits) queues the job again with exponential back-off and jitter, up to a number of attempts;
//! anything else fails it with the error kept. A job superseded by a newer head is dropped before
//! anything is posted. While a job runs its lease is renewed; a panic fails the job, not the
//! worker; a job claimed more often than the attempts allow (its workers kept dying) is failed.
//! Counters and latencies go to `Metrics`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use super::analyze::{AnalyzeError, AnalyzeOptions, analyze};
use super::isolate::{IsolateError, panic_text};
pub use super::metrics::{BUCKETS_MS, Histogram, Metrics};
use super::publish::{Guard, Mode, PublishOptions, RefusalPosted, publish_refusal};
use super::review::{
    Analysed, ConfigChoice, Next, Outcome as ReviewOutcome, ReviewError, ReviewOptions,
    ReviewSteps, Reviewed, review,
};
use crate::engine::EngineKind;
pub use crate::ports::Forge;
use crate::ports::{
    Clock, CodeHost, HostError, Isolation, Job, JobStore, NewJob, PullRef, PullState, RepoSource,
    SystemClock,
};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub lease: Duration,
    pub max_attempts: u32,
    /// First back-off (doubled per attempt, with up to 50% jitter).
    pub backoff: Duration,
    pub poll: Duration,
    pub engine: EngineKind,
    pub check_runs: bool,
    /// How to publish (nothing is retried there: a failed job is queued again with `backoff`);
    /// our login comes from the forge (`Forge::identity`), the nonce from the job.
    pub publish: PublishOptions,
    /// Longest an analysis may take; past it the pull request is told it was not analysed.
    pub analysis_budget: Duration,
    /// Calls to the code host allowed for reading one pull request (its files, trees and
    /// contents); past them the pull request is told it was not analysed.
    pub api_calls: u64,
    /// The least wait before trying again a job whose POST's answer was lost (GitHub may store
    /// it late: the next attempt finds it instead of posting it again).
    pub settle: Duration,
    /// Analyses that may run at once (shared by all workers). Each runs in a process of its
    /// own (`isolation`; killed, and its permit returned, when its budget runs out) or on a
    /// thread of the blocking pool, never on the async runtime, so deliveries and `/healthz`
    /// stay answered; on the blocking pool a permit is held until the analysis has really
    /// ended, even after its budget ran out.
    pub analysis_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Run each analysis in a process of its own (memory budget, crash isolation, killed at
    /// the time budget); `None`: on the blocking pool of this process.
    pub isolation: Option<std::sync::Arc<dyn Isolation>>,
    /// The build records CI uploaded (`app::ci`): fetched with the installation's client,
    /// outside the pull request's budget of reads.
    pub ci: super::ci::CiOptions,
}

/// Run the CPU-bound analysis in a process of its own (`cfg.isolation`) or on the blocking pool,
/// within `cfg.analysis_budget`.
async fn analyze_off_runtime<T: RepoSource + Send + 'static>(
    cfg: &WorkerConfig,
    trees: T,
    opts: AnalyzeOptions,
) -> Result<crate::engine::Report, JobError> {
    let budget = cfg.analysis_budget;
    let over = || {
        JobError::fatal(format!(
            "the analysis did not finish within {} s (cachebust's budget per pull request)",
            budget.as_secs_f64()
        ))
    };
    let deadline = tokio::time::Instant::now() + budget;
    let permit = tokio::time::timeout_at(deadline, cfg.analysis_slots.clone().acquire_owned())
        .await
        .map_err(|_| over())?
        .map_err(|_| JobError::again("the server is shutting down"))?;
    if let Some(iso) = cfg.isolation.clone() {
        // past the deadline the future is dropped, which kills the process
        return match tokio::time::timeout_at(deadline, async move {
            let _permit = permit;
            super::isolate::analyze_isolated(&*iso, &trees, &opts).await
        })
        .await
        {
            Err(_) => Err(over()),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(IsolateError::Analyze(e))) => Err(ReviewError::from(e).into()),
            Ok(Err(IsolateError::Start(message))) => Err(JobError::again(message)),
            Ok(Err(IsolateError::Process(message))) => Err(JobError::fatal(message)),
        };
    }
    let rt = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // the trees' requests still run on the runtime's I/O driver; only this thread waits
        rt.block_on(analyze(&trees, &opts))
    });
    match tokio::time::timeout_at(deadline, task).await {
        Err(_) => Err(over()),
        Ok(Err(join)) => Err(JobError::fatal(if join.is_panic() {
            format!("the analysis panicked: {}", panic_text(&*join.into_panic()))
        } else {
            "the analysis was cancelled".into()
        })),
        Ok(Ok(r)) => r.map_err(|e| ReviewError::from(e).into()),
    }
}

/// Why a job attempt ended without a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub transient: bool,
    pub message: String,
    /// Rate limited: GitHub's limit resets after this long. The job waits that long and the
    /// attempt does not count.
    pub retry_after: Option<Duration>,
    /// A POST's answer was lost and what it sent is not on the pull request yet: the next
    /// attempt waits at least `WorkerConfig::settle`, so that it finds what GitHub stored late
    /// rather than posting it again.
    pub settle: bool,
}

impl JobError {
    /// A failure that will not pass by trying again.
    pub fn fatal(message: impl Into<String>) -> JobError {
        JobError {
            transient: false,
            message: message.into(),
            retry_after: None,
            settle: false,
        }
    }
    /// A failure worth another attempt (with back-off).
    pub fn again(message: impl Into<String>) -> JobError {
        JobError {
            transient: true,
            ..JobError::fatal(message)
        }
    }
}

impl From<HostError> for JobError {
    fn from(e: HostError) -> JobError {
        JobError {
            transient: e.is_transient(),
            settle: matches!(e, HostError::Unsettled(_)),
            retry_after: match &e {
                HostError::RateLimited { retry_after, .. } => {
                    // no reset given: GitHub's advice for secondary limits is a minute; never
                    // longer than GitHub's hour, never a retry without a pause
                    Some(Duration::from_secs(
                        retry_after.unwrap_or(60).clamp(1, 3600),
                    ))
                }
                _ => None,
            },
            message: e.to_string(),
        }
    }
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done {
        rebuilt: usize,
        inline: usize,
    },
    Superseded,
    /// Not analysed; the pull request was told why (its summary and check run).
    Refused(String),
}

/// Back-off for attempt `n` (1-based): `base * 2^(n-1)`, plus up to 50% jitter.
pub fn backoff(base: Duration, n: u32, seed: u64) -> Duration {
    let exp = base.saturating_mul(1 << n.saturating_sub(1).min(10));
    // xorshift of the seed: enough to spread retries of jobs failing together
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let jitter = exp.mul_f64((x % 1000) as f64 / 2000.0);
    exp + jitter
}

/// Analyse and deliver one job. The pull request's current head decides: a job for another
/// head posts nothing (the head GitHub names is queued instead, unless it already is or was
/// reviewed).
pub async fn process<S: JobStore, F: Forge>(
    store: &S,
    forge: &F,
    cfg: &WorkerConfig,
    job: &Job,
) -> Result<Outcome, JobError> {
    let (owner, repo) = job
        .job
        .repo
        .split_once('/')
        .ok_or_else(|| JobError::fatal(format!("{:?} is not owner/name", job.job.repo)))?;
    let host = forge.connect(job.job.installation_id).await?;
    let pr = PullRef {
        owner: owner.into(),
        repo: repo.into(),
        number: job.job.pr_number,
        head_sha: job.job.head_sha.clone(),
        base_sha: job.job.base_sha.clone(),
    };
    let state = host.pull_request(&pr).await?;
    if state.head_sha != pr.head_sha {
        requeue_head(store, job, &state).await?;
        return Ok(Outcome::Superseded);
    }
    let login = forge.identity().await?;
    // what CI built: the head's records to compare with, the base branch's for costs
    let ci = super::ci::collect(
        &host,
        owner,
        repo,
        &pr.head_sha,
        state.base_ref.as_deref(),
        &cfg.ci,
    )
    .await;
    let mut analyze = AnalyzeOptions::new(cfg.engine);
    analyze.ci = ci.records;
    let opts = ReviewOptions {
        analyze,
        // the base revision's configuration; a problem with it is shown, not dropped
        config: ConfigChoice::default(),
        publish: PublishOptions {
            mode: Mode::Review,
            bot_login: Some(login),
            nonce: format!("job-{}-{}", job.id, job.attempts),
            ..cfg.publish.clone()
        },
        check_run: cfg.check_runs.then(|| check_run_key(&job.job)),
    };
    let mut steps = WorkerSteps {
        store,
        cfg,
        job,
        host: &host,
        pr: &pr,
        head_checked: true,
    };
    // reading the pull request within its budget of calls; past it, the pull request is told
    let reads = forge.reader(&host, cfg.api_calls);
    let listed = match reads.pull_files(&pr).await {
        Ok(files) => forge.trees(&reads, &pr, &files).await.map(|t| (files, t)),
        Err(e) => Err(e),
    };
    let (files, (trees, mut notes)) = match listed {
        Ok(x) => x,
        Err(HostError::OverBudget(why)) => {
            let told = publish_refusal(
                &host,
                &pr,
                &why,
                &opts.publish,
                opts.check_run.as_deref(),
                &mut steps,
            )
            .await;
            return refused(why, told);
        }
        Err(e) => return Err(e.into()),
    };
    notes.extend(ci.notes);
    // from here on the pull request may have moved on: its head is read again before the first post
    steps.head_checked = false;
    let outcome = review(
        trees,
        &host,
        Some(&pr),
        notes,
        files.files,
        None,
        &opts,
        &mut steps,
    )
    .await?;
    let Reviewed { analysed, delivery } = match outcome {
        ReviewOutcome::Reviewed(r) => *r,
        ReviewOutcome::Refused(r) => return refused(r.why, r.delivery),
    };
    let delivery = match delivery {
        Some(Ok(d)) => d,
        // a newer head arrived meanwhile: nothing (more) was posted for this one
        None | Some(Err(HostError::Stale(_))) => return Ok(Outcome::Superseded),
        Some(Err(e)) => return Err(e.into()),
    };
    if let Some(why) = delivery.published.fallback {
        return Err(JobError::fatal(why));
    }
    Ok(Outcome::Done {
        rebuilt: analysed.report.rebuilt_steps(),
        inline: delivery.published.inline_posted,
    })
}

/// A refused analysis, after the pull request was told (or telling it failed).
fn refused(why: String, told: Result<RefusalPosted, HostError>) -> Result<Outcome, JobError> {
    match told {
        Ok(RefusalPosted {
            fallback: Some(f), ..
        }) => Err(JobError::fatal(format!(
            "{why} (and the pull request could not be told: {f})"
        ))),
        Ok(_) => Ok(Outcome::Refused(why)),
        Err(HostError::Stale(_)) => Ok(Outcome::Superseded),
        Err(e) => {
            let mut je = JobError::from(e);
            je.message = format!(
                "{why} (and telling the pull request failed: {})",
                je.message
            );
            Err(je)
        }
    }
}

/// The external id of a job's check run, by which a job finds the run it (or an earlier job)
/// created: a re-run gets a run of its own (its delivery), as GitHub expects of a re-run; any
/// other job shares the pull request's run on its head, so a head queued again in place of a
/// superseded job (whose review may have reached GitHub before it stopped) updates that run
/// instead of adding a second one.
fn check_run_key(job: &NewJob) -> String {
    if job.kind == "rerun" {
        job.delivery_id.clone()
    } else {
        format!("pr-{}", job.pr_number)
    }
}

/// Queue the pull request's current head (`state`) in place of `job`'s: nothing happens when a
/// job for it is queued, running or done already.
async fn requeue_head<S: JobStore>(
    store: &S,
    job: &Job,
    state: &PullState,
) -> Result<(), JobError> {
    let short: String = state.head_sha.chars().take(12).collect();
    let next = NewJob {
        delivery_id: format!("{}~head-{short}", job.job.delivery_id),
        head_sha: state.head_sha.clone(),
        base_sha: state.base_sha.clone(),
        ..job.job.clone()
    };
    let r = store
        .enqueue(&next, false)
        .await
        .map_err(|e| JobError::again(e.to_string()))?;
    tracing::info!(head = %state.head_sha, outcome = ?r, "the pull request's head is another: that head is reviewed instead");
    Ok(())
}

/// The worker's part of a review: the analysis off the runtime, and no post for a job that is
/// no longer current or whose head is no longer the pull request's.
struct WorkerSteps<'a, S, H> {
    store: &'a S,
    cfg: &'a WorkerConfig,
    job: &'a Job,
    host: &'a H,
    pr: &'a PullRef,
    /// The pull request's head was read since the last chance it moved.
    head_checked: bool,
}

impl<S: JobStore, H: CodeHost> Guard for WorkerSteps<'_, S, H> {
    async fn before_post(&mut self) -> Result<(), HostError> {
        // the queue: superseded by a newer delivery, or taken over, since the last post
        match self.store.still_current(self.job.id, &self.cfg.name).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(HostError::Stale(
                    "a newer head was delivered, or another worker took the job over".into(),
                ));
            }
            Err(e) => {
                return Err(HostError::Transport(format!(
                    "asking the queue whether the job is current: {e}"
                )));
            }
        }
        // GitHub: the pull request's head, once before the first post (deliveries of several
        // instances arrive in any order; GitHub's head is the one to review)
        if !self.head_checked {
            let state = self.host.pull_request(self.pr).await?;
            if state.head_sha != self.pr.head_sha {
                requeue_head(self.store, self.job, &state)
                    .await
                    .map_err(|e| HostError::Transport(e.message))?;
                return Err(HostError::Stale(format!(
                    "the pull request's head is now {}",
                    state.head_sha
                )));
            }
            self.head_checked = true;
        }
        Ok(())
    }
}

impl<S: JobStore, H: CodeHost> ReviewSteps for WorkerSteps<'_, S, H> {
    type Error = JobError;

    async fn analyze<T: RepoSource + Send + 'static>(
        &mut self,
        source: T,
        opts: AnalyzeOptions,
    ) -> Result<crate::engine::Report, JobError> {
        analyze_off_runtime(self.cfg, source, opts).await
    }

    async fn before_publish(&mut self, _: &mut Analysed) -> Result<Next, JobError> {
        Ok(Next::Publish)
    }

    fn refusal(&mut self, e: &JobError) -> Option<String> {
        (!e.transient && e.retry_after.is_none()).then(|| e.message.clone())
    }

    async fn before_post(&mut self) -> Result<(), HostError> {
        Guard::before_post(self).await
    }
}

impl From<ReviewError> for JobError {
    fn from(e: ReviewError) -> JobError {
        let transient = matches!(
            e,
            ReviewError::Analyze(AnalyzeError::Source(crate::ports::SourceError::Io(_)))
        );
        JobError {
            transient,
            ..JobError::fatal(e.to_string())
        }
    }
}

/// Run one worker until `stop` turns true: claim, process, record; sleep `poll` (or until woken)
/// when the queue is empty. A job in hand when `stop` turns true is finished first.
pub async fn run<S: JobStore, F: Forge>(
    store: &S,
    forge: &F,
    cfg: &WorkerConfig,
    metrics: &Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
    wake: &tokio::sync::Notify,
) {
    run_with_clock(store, forge, cfg, metrics, stop, wake, &SystemClock).await
}

/// `run` with the queue's times (claims, leases, retries, latencies) read from `clock`.
pub async fn run_with_clock<S: JobStore, F: Forge>(
    store: &S,
    forge: &F,
    cfg: &WorkerConfig,
    metrics: &Metrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
    wake: &tokio::sync::Notify,
    clock: &dyn Clock,
) {
    let now_ms = || clock.now_ms();
    loop {
        if *stop.borrow() {
            return;
        }
        let job = match store
            .claim(&cfg.name, cfg.lease.as_millis() as i64, now_ms())
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(worker = %cfg.name, error = %e, "cannot claim a job");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll) => {}
                _ = wake.notified() => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let span = tracing::info_span!("job", worker = %cfg.name, job_id = job.id, delivery = %job.job.delivery_id, repo = %job.job.repo, pr = job.job.pr_number, head = %job.job.head_sha, attempt = job.attempts);
        // every claim counts as an attempt: a job whose workers keep dying (its lease expiring
        // each time) is given up instead of taking the whole pool down with it again and again
        if job.attempts > cfg.max_attempts {
            let why = format!(
                "given up after {} claims whose workers never finished (crashed or killed?)",
                job.attempts - 1
            );
            if let Err(se) = store.fail(job.id, &cfg.name, &why, None).await {
                span.in_scope(|| tracing::error!(error = %se, "cannot mark the job failed; it runs again when its lease expires"));
            }
            metrics.job("failed");
            span.in_scope(|| tracing::error!(error = %why, "job failed"));
            continue;
        }
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = run_job(store, forge, cfg, &job, &span, clock).await;
        settle(store, cfg, metrics, &job, &span, clock, result).await;
        metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one claimed job: a panic fails it, not the worker; the lease is renewed while it runs,
/// and a renewal refused (superseded by a newer head, taken over after a stall) stops it there.
async fn run_job<S: JobStore, F: Forge>(
    store: &S,
    forge: &F,
    cfg: &WorkerConfig,
    job: &Job,
    span: &tracing::Span,
    clock: &dyn Clock,
) -> Result<Outcome, JobError> {
    let now_ms = || clock.now_ms();
    // a panic fails this job, not the worker; the lease is renewed while it runs
    let work =
        AssertUnwindSafe(process(store, forge, cfg, job).instrument(span.clone())).catch_unwind();
    tokio::pin!(work);
    // renewals also notice soon when the job stopped being ours (superseded, taken over)
    let period = (cfg.lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut beat = tokio::time::interval(period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    loop {
        tokio::select! {
            r = &mut work => break r.unwrap_or_else(|panic| Err(JobError::fatal(
                format!("the analysis panicked: {}", panic_text(&*panic)),
            ))),
            _ = beat.tick() => {
                let until = now_ms() + cfg.lease.as_millis() as i64;
                match store.extend_lease(job.id, &cfg.name, until).await {
                    Ok(true) => {}
                    // superseded by a newer head, or taken over after a stall: stop here
                    // (whatever was posted is found by its markers by the job that goes on)
                    Ok(false) => break Ok(Outcome::Superseded),
                    Err(e) => span.in_scope(|| tracing::warn!(error = %e, "cannot renew the job's lease")),
                }
            }
        }
    }
}

/// Records how a job ended: done, superseded, refused, postponed for a rate limit, queued again
/// after a transient failure (with backoff) or failed; its metric and its log line.
async fn settle<S: JobStore>(
    store: &S,
    cfg: &WorkerConfig,
    metrics: &Metrics,
    job: &Job,
    span: &tracing::Span,
    clock: &dyn Clock,
    result: Result<Outcome, JobError>,
) {
    let now_ms = || clock.now_ms();
    match result {
        Ok(Outcome::Done { rebuilt, inline }) => {
            match store.complete(job.id, &cfg.name, now_ms()).await {
                Ok(true) => {}
                Ok(false) => span.in_scope(|| tracing::warn!("delivered, but the job was no longer ours (superseded or taken over)")),
                Err(e) => span.in_scope(|| tracing::error!(error = %e, "delivered, but cannot mark the job done; it will run again when its lease expires and find what it posted")),
            }
            metrics.job("done");
            if let Ok(mut h) = metrics.job_latency.lock() {
                h.observe((now_ms() - job.created_at) as f64);
            }
            span.in_scope(|| {
                tracing::info!(
                    rebuilt_steps = rebuilt,
                    inline_comments = inline,
                    "review delivered"
                )
            });
        }
        Ok(Outcome::Superseded) => {
            // already marked when a newer delivery superseded it; not when GitHub named
            // another head (nothing happens to a job no longer ours)
            if let Err(se) = store
                .supersede(job.id, &cfg.name, "not the pull request's head", now_ms())
                .await
            {
                span.in_scope(|| tracing::error!(error = %se, "cannot mark the job superseded; it runs again when its lease expires"));
            }
            metrics.job("superseded");
            span.in_scope(|| tracing::info!("superseded by a newer head (or taken over): stopped"));
        }
        Ok(Outcome::Refused(why)) => {
            if let Err(se) = store.fail(job.id, &cfg.name, &why, None).await {
                span.in_scope(|| tracing::error!(error = %se, "cannot mark the job failed; it runs again when its lease expires"));
            }
            metrics.job("refused");
            span.in_scope(
                || tracing::warn!(error = %why, "not analysed; the pull request was told why"),
            );
        }
        Err(JobError {
            retry_after: Some(wait),
            message,
            ..
        }) => {
            let wait = wait.clamp(Duration::from_secs(1), Duration::from_secs(3600));
            if let Err(se) = store
                .postpone(
                    job.id,
                    &cfg.name,
                    &message,
                    now_ms() + wait.as_millis() as i64,
                )
                .await
            {
                span.in_scope(|| tracing::error!(error = %se, "cannot queue the job again; it runs again when its lease expires"));
            }
            metrics.job("rate_limited");
            span.in_scope(|| tracing::warn!(error = %message, retry_in_ms = wait.as_millis() as u64, "rate limited; queued again for after the reset"));
        }
        Err(e) if e.transient && job.attempts < cfg.max_attempts => {
            let mut wait = backoff(cfg.backoff, job.attempts, job.id as u64 ^ now_ms() as u64);
            if e.settle {
                wait = wait.max(cfg.settle);
            }
            if let Err(se) = store
                .fail(
                    job.id,
                    &cfg.name,
                    &e.message,
                    Some(now_ms() + wait.as_millis() as i64),
                )
                .await
            {
                span.in_scope(|| tracing::error!(error = %se, "cannot queue the job again; it runs again when its lease expires"));
            }
            metrics.job("retried");
            span.in_scope(|| tracing::warn!(error = %e.message, retry_in_ms = wait.as_millis() as u64, "attempt failed; queued again"));
        }
        Err(e) => {
            if let Err(se) = store.fail(job.id, &cfg.name, &e.message, None).await {
                span.in_scope(|| tracing::error!(error = %se, "cannot mark the job failed; it runs again when its lease expires"));
            }
            metrics.job("failed");
            span.in_scope(|| tracing::error!(error = %e.message, "job failed"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let b = Duration::from_secs(2);
        for n in 1..6u32 {
            let d = backoff(b, n, 12345 + u64::from(n));
            let base = b * 2u32.pow(n - 1);
            assert!(d >= base && d <= base + base / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(3.0);
        h.observe(700.0);
        assert_eq!(h.counts[0], 0);
        assert_eq!(h.counts[2], 1); // le 5
        assert_eq!(h.counts[BUCKETS_MS.len() - 1], 2);
        assert_eq!(h.count, 2);
    }
}
