//! `cachebust serve`: the GitHub App server. axum answers `POST /webhook` (size limit, signature
//! check over the raw bytes, then JSON, then a durable enqueue before the 2xx), `GET /healthz`,
//! `GET /readyz` (the database answers) and `GET /metrics`; a pool of workers processes the queue
//! (`app::worker`), each analysis in a process of its own (`analysis-process`, hidden) within a
//! time and a memory budget. Hostile clients are
//! bounded: connections (`--max-connections`), request headers and bodies must arrive within
//! `--read-timeout-seconds`, bodies whose signature is not yet checked share a memory budget
//! (`--unverified-bytes`), and a body is fed to the HMAC as it arrives. SIGTERM or Ctrl-C: stop accepting, let each worker finish the job in hand for
//! up to the grace period, give back what is still claimed. Logs are `tracing` (JSON by default)
//! with the delivery id, repository, pull request and job id; secrets are never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::adapters::github::ApiStats;
use crate::adapters::github::forge::{AppAuth, GitHubForge};
use crate::adapters::process::AnalysisProcess;
use crate::adapters::store::SqlStore;
use crate::app::publish::PublishOptions;
use crate::app::webhook::{self, Accepted, WebhookConfig};
use crate::app::worker::{self, Metrics, WorkerConfig};
use crate::ports::JobStore;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

pub const SERVE_ABOUT: &str = "\
Run cachebust as a GitHub App on your own server. POST /webhook takes GitHub's deliveries
(X-Hub-Signature-256 checked against every configured secret before the body is parsed; 401 on a
bad or missing signature, 413 over --max-body-bytes, 400 on malformed JSON, 202 for events it does
not handle, 200 for ping); pull_request opened/synchronize/reopened/ready_for_review and
check_run / check_suite re-runs queue a job in the database before the answer, deduplicated by
X-GitHub-Delivery, a newer head superseding queued older ones. Workers read the pull request through the API (no clone, no
code from the pull request runs), analyse each in a process of its own (--analysis-seconds,
--analysis-memory-mb), post the review, the summary comment and a check run, and retry
GitHub errors with back-off. GET /healthz, /readyz and /metrics (Prometheus). Every flag can be
given by its CACHEBUST_* variable. SIGTERM: stop accepting, finish or give back claimed jobs.

Secrets come from files or the environment only, never from a flag's value (the command line is
visible to every user of the machine, and an error would print it): the webhook secrets from
--webhook-secret-file or CACHEBUST_WEBHOOK_SECRET (comma-separated), the App's private key from
--private-key-file or CACHEBUST_PRIVATE_KEY, a token from CACHEBUST_GITHUB_TOKEN.";

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CACHEBUST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The queue: an SQLite file (`sqlite://PATH` or a path; created when missing) or
    /// `postgres://…` (several instances may share it).
    #[arg(
        long,
        env = "CACHEBUST_DATABASE",
        default_value = "sqlite://cachebust.db",
        hide_env_values = true
    )]
    pub database: String,
    /// A file holding the password of the `postgres://` URL in --database (which then has
    /// none): the file the `postgres` image reads as POSTGRES_PASSWORD_FILE, trailing newlines
    /// dropped as it drops them. The password is never printed.
    #[arg(long, env = "CACHEBUST_DATABASE_PASSWORD_FILE", value_name = "FILE")]
    pub database_password_file: Option<PathBuf>,
    /// Webhook secrets from `CACHEBUST_WEBHOOK_SECRET` (comma-separated, all accepted: rotation).
    /// Read from the environment only: a secret is never a flag's value.
    #[arg(skip)]
    pub webhook_secret: Vec<String>,
    /// A file with one webhook secret per line (instead of or beside CACHEBUST_WEBHOOK_SECRET).
    #[arg(long, env = "CACHEBUST_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// The GitHub App's id.
    #[arg(long, env = "CACHEBUST_APP_ID")]
    pub app_id: Option<u64>,
    /// The App's private key (PEM file); else the PEM text in CACHEBUST_PRIVATE_KEY.
    #[arg(long, env = "CACHEBUST_PRIVATE_KEY_FILE", value_name = "FILE")]
    pub private_key_file: Option<PathBuf>,
    /// The App's private key (PEM text) from `CACHEBUST_PRIVATE_KEY`, when no file is given.
    /// Environment only.
    #[arg(skip)]
    pub private_key: Option<String>,
    /// A token used for every installation instead of App authentication, from
    /// `CACHEBUST_GITHUB_TOKEN`. Environment only.
    #[arg(skip)]
    pub github_token: Option<String>,
    /// With CACHEBUST_GITHUB_TOKEN: the slug of the App whose token it is (its comments are by
    /// `<slug>[bot]`); without it the token's user (`GET /user`). With --app-id the App's slug
    /// is asked of GitHub (`GET /app`).
    #[arg(long, env = "CACHEBUST_APP_SLUG")]
    pub app_slug: Option<String>,
    /// GitHub's REST API (GHES: `https://HOST/api/v3`).
    #[arg(
        long,
        env = "CACHEBUST_API_URL",
        default_value = "https://api.github.com"
    )]
    pub api_url: String,
    /// Worker tasks.
    #[arg(long, env = "CACHEBUST_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Largest delivery accepted, in bytes (GitHub sends at most 25 MB).
    #[arg(long, env = "CACHEBUST_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Analyse draft pull requests too (default: when they are ready for review).
    #[arg(long, env = "CACHEBUST_DRAFTS")]
    pub drafts: bool,
    /// How long a claimed job stays claimed without a renewal before another worker may take it
    /// over (a worker renews it every third of this, at most every 5 s, while it works). The
    /// jobs of an instance that died are taken back sooner: at once when it is seen dead.
    #[arg(long, env = "CACHEBUST_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
    /// Attempts per job before it is marked failed.
    #[arg(long, env = "CACHEBUST_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// First wait before a failed job is tried again (doubled per attempt, with jitter).
    #[arg(long, env = "CACHEBUST_RETRY_SECONDS", default_value_t = 10.0)]
    pub retry_seconds: f64,
    /// How often an idle worker looks for jobs (it is also woken by new deliveries).
    #[arg(long, env = "CACHEBUST_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// Longest wait for jobs in hand at shutdown before they are given back to the queue.
    #[arg(long, env = "CACHEBUST_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
    /// Publish a check run with annotations beside the review.
    #[arg(long, env = "CACHEBUST_CHECK_RUNS", default_value_t = true, action = clap::ArgAction::Set)]
    pub check_runs: bool,
    /// The builder whose cache rules to follow.
    #[arg(long, env = "CACHEBUST_ENGINE", value_enum, default_value = "buildkit")]
    pub engine: crate::shell::EngineArg,
    /// Log format.
    #[arg(long, env = "CACHEBUST_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Where rule codes in reviews link to (`<URL>/CB001.md`). Default: this release's rule
    /// pages in cachebust's repository.
    #[arg(long, env = "CACHEBUST_RULES_URL", value_name = "URL")]
    pub rules_url: Option<String>,
    /// Longest analysis of one pull request, in seconds; past it the job fails (and its
    /// analysis process is killed).
    #[arg(long, env = "CACHEBUST_ANALYSIS_SECONDS", default_value_t = 120.0)]
    pub analysis_seconds: f64,
    /// Heap each analysis may use, in MiB. Each pull request is analysed in a process of its
    /// own with this limit: one that crashes or runs out fails its job alone. 0: analyse inside
    /// the server, with no memory budget and no crash isolation.
    #[arg(long, env = "CACHEBUST_ANALYSIS_MEMORY_MB", default_value_t = 1024)]
    pub analysis_memory_mb: u64,
    /// GitHub API calls allowed for reading one pull request (its files, trees and contents);
    /// past them the pull request's summary and check run say it was not analysed.
    #[arg(long, env = "CACHEBUST_API_CALLS_PER_PR", default_value_t = 3000)]
    pub api_calls_per_pr: u64,
    /// After a POST whose answer was lost and whose comment is not found: the least wait, in
    /// seconds, before the job is tried again (GitHub may store it late; the next attempt finds
    /// it instead of posting it twice). The comment is also looked for after 1, 3 and 10 s,
    /// each at most this long.
    #[arg(long, env = "CACHEBUST_SETTLE_SECONDS", default_value_t = 120.0)]
    pub settle_seconds: f64,
    /// Time a client has to send a request's headers, and again its body, in seconds.
    #[arg(long, env = "CACHEBUST_READ_TIMEOUT_SECONDS", default_value_t = 10.0)]
    pub read_timeout_seconds: f64,
    /// Open connections; more are closed at once.
    #[arg(long, env = "CACHEBUST_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// Bytes of bodies held at once before their signature is checked (all connections
    /// together); a body that cannot get its share within the read timeout gets 408.
    #[arg(long, env = "CACHEBUST_UNVERIFIED_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub unverified_bytes: usize,
    /// Fetch the build records (`.dockerbuild` artifacts) docker/build-push-action and
    /// bake-action upload: the pull request's own build is compared with the prediction
    /// ("predicted vs. what CI did"), the base branch's latest builds price the steps. A
    /// missing, expired or huge artifact is one line in the summary, never a failed review.
    #[arg(long, env = "CACHEBUST_BUILD_RECORDS", default_value_t = true, action = clap::ArgAction::Set)]
    pub build_records: bool,
    /// The workflow (file name, e.g. `docker.yml`, or id) whose runs build the images: its
    /// latest run for the head commit and its runs on the base branch. Default: any workflow
    /// (the newest run of the head commit that uploaded a record; any push to the base branch).
    #[arg(
        long,
        env = "CACHEBUST_BUILD_RECORDS_WORKFLOW",
        value_name = "WORKFLOW"
    )]
    pub build_records_workflow: Option<String>,
    /// Successful pushes to the base branch whose build records price the steps (0: none).
    #[arg(long, env = "CACHEBUST_BUILD_RECORDS_BASE_RUNS", default_value_t = crate::app::ci::DEFAULT_BASE_RUNS)]
    pub build_records_base_runs: usize,
    /// Largest build record artifact read, in MiB, compressed and unpacked.
    #[arg(long, env = "CACHEBUST_BUILD_RECORDS_MAX_MB", default_value_t = 64)]
    pub build_records_max_mb: u64,
}

/// Secrets are not shown.
impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("webhook_secrets", &self.webhook_secret.len())
            .field("app_id", &self.app_id)
            .field("api_url", &self.api_url)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

struct AppState {
    store: Arc<SqlStore>,
    cfg: WebhookConfig,
    secrets: Vec<String>,
    max_body: usize,
    read_timeout: Duration,
    unverified: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
    wake: Arc<tokio::sync::Notify>,
    api: Arc<ApiStats>,
}

fn reply(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn webhook(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let event = header("x-github-event").unwrap_or_default();
    let delivery = header("x-github-delivery").unwrap_or_default();
    let (status, outcome, body) = handle(&st, &headers, &event, &delivery, body).await;
    st.metrics
        .delivery(if event.is_empty() { "-" } else { &event }, outcome);
    if let Ok(mut h) = st.metrics.ack_latency.lock() {
        h.observe(started.elapsed().as_secs_f64() * 1000.0);
    }
    tracing::info!(delivery = %delivery, event = %event, status = status.as_u16(), outcome, "delivery");
    reply(status, body)
}

async fn handle(
    st: &AppState,
    headers: &HeaderMap,
    event: &str,
    delivery: &str,
    body: Body,
) -> (StatusCode, &'static str, Value) {
    let declared: Option<usize> = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > st.max_body) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            json!({"error": format!("the body is larger than {} bytes", st.max_body)}),
        );
    }
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let mut check = match webhook::SignatureCheck::new(&st.secrets, sig) {
        Some(c) => c,
        None => {
            return (
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                json!({"error": "missing or wrong X-Hub-Signature-256"}),
            );
        }
    };
    // bodies not yet known to be good share a memory budget: each piece is paid for before it
    // is kept, and the payment is returned once the signature is checked
    let mut paid = Vec::new();
    let read = async {
        use futures_util::StreamExt;
        let mut bytes = Vec::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| "the body could not be read")?;
            if bytes.len() + chunk.len() > st.max_body {
                return Err("too large");
            }
            let n = u32::try_from(chunk.len()).map_err(|_| "too large")?;
            paid.push(
                st.unverified
                    .clone()
                    .acquire_many_owned(n)
                    .await
                    .map_err(|_| "busy")?,
            );
            check.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let bytes = match tokio::time::timeout(st.read_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err("too large")) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                json!({"error": format!("the body is larger than {} bytes", st.max_body)}),
            );
        }
        Ok(Err(e)) => return (StatusCode::BAD_REQUEST, "malformed", json!({"error": e})),
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                json!({"error": format!("the body did not arrive within {} s", st.read_timeout.as_secs_f64())}),
            );
        }
    };
    drop(paid);
    if !check.verify() {
        return (
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            json!({"error": "missing or wrong X-Hub-Signature-256"}),
        );
    }
    if event.is_empty() || delivery.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "malformed",
            json!({"error": "X-GitHub-Event and X-GitHub-Delivery are required"}),
        );
    }
    // read once into the typed event: a body that is not JSON, or lacks what its event carries
    let typed = match crate::adapters::github::event::parse(event, &bytes) {
        Ok(t) => t,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                "malformed",
                json!({"error": e.to_string()}),
            );
        }
    };
    match webhook::accept(&*st.store, delivery, &typed, &st.cfg).await {
        Err(e) => {
            tracing::error!(delivery = %delivery, error = %e, "cannot record the delivery");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_error",
                json!({"error": "the queue is not available; redeliver later"}),
            )
        }
        Ok(Err(missing)) => (
            StatusCode::BAD_REQUEST,
            "malformed",
            json!({"error": missing}),
        ),
        Ok(Ok(a)) => {
            let outcome = a.outcome();
            let (status, body) = match &a {
                Accepted::Queued { id, superseded } => {
                    st.wake.notify_one();
                    (
                        StatusCode::ACCEPTED,
                        json!({"status": "queued", "job": id, "superseded": superseded}),
                    )
                }
                Accepted::Duplicate => (StatusCode::OK, json!({"status": "duplicate delivery"})),
                Accepted::AlreadyQueued { id } => (
                    StatusCode::OK,
                    json!({"status": "already queued", "job": id}),
                ),
                Accepted::Installations => {
                    (StatusCode::OK, json!({"status": "installations updated"}))
                }
                Accepted::Pong => (StatusCode::OK, json!({"status": "pong"})),
                Accepted::Ignored(why) => (
                    StatusCode::ACCEPTED,
                    json!({"status": "ignored", "reason": why}),
                ),
            };
            (status, outcome, body)
        }
    }
}

async fn healthz() -> Response {
    reply(StatusCode::OK, json!({"status": "ok"}))
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    match st.store.ping().await {
        Ok(()) => reply(
            StatusCode::OK,
            json!({"status": "ready", "database": st.store.backend()}),
        ),
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "database unavailable", "error": e.to_string()}),
        ),
    }
}

async fn metrics_page(State(st): State<Arc<AppState>>) -> Response {
    let depth = st.store.depth().await.ok().map(|d| {
        vec![
            ("queued".to_string(), d.queued),
            ("running".into(), d.running),
            ("done".into(), d.done),
            ("failed".into(), d.failed),
            ("superseded".into(), d.superseded),
        ]
    });
    let snap = crate::render::metrics::Snapshot {
        deliveries: st
            .metrics
            .deliveries
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
        jobs: st
            .metrics
            .jobs
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
        depth,
        in_flight: st.metrics.in_flight.load(Ordering::Relaxed),
        job_latency: st
            .metrics
            .job_latency
            .lock()
            .map(|h| h.snapshot())
            .unwrap_or_else(|_| crate::app::metrics::Histogram::default().snapshot()),
        ack_latency: st
            .metrics
            .ack_latency
            .lock()
            .map(|h| h.snapshot())
            .unwrap_or_else(|_| crate::app::metrics::Histogram::default().snapshot()),
        api_calls: st.api.calls.load(Ordering::Relaxed),
        api_errors: st.api.errors.load(Ordering::Relaxed),
        rate_limit_waits: st.api.rate_limit_waits.load(Ordering::Relaxed),
    };
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        crate::render::metrics::prometheus(&snap),
    )
        .into_response()
}

/// Standard error for the logs, one event at a time: each event is gathered, then written with
/// its hidden characters escaped (`render::log_event`), so a name or message from a pull request
/// cannot split a log line or act on the terminal reading it.
#[derive(Clone, Copy)]
struct VisibleLogs {
    json: bool,
}

struct EventWriter {
    json: bool,
    buf: Vec<u8>,
}

impl std::io::Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        use std::io::Write as _;
        if self.buf.is_empty() {
            return;
        }
        let text = crate::render::log_event(&String::from_utf8_lossy(&self.buf), self.json);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for VisibleLogs {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            json: self.json,
            buf: Vec::new(),
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACHEBUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(VisibleLogs {
            json: matches!(format, LogFormat::Json),
        });
    let _ = match format {
        LogFormat::Json => b
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        // no colour: every ESC in an event is written out
        LogFormat::Text => b.with_ansi(false).try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The hidden command the server starts once per analysis (`adapters::process`).
#[derive(Debug, Args)]
pub struct AnalysisProcessArgs {
    /// Heap limit of this process, in bytes.
    #[arg(long)]
    pub memory_bytes: u64,
}

/// One analysis for the server that started this process: confined, then the protocol of
/// `app::isolate` over standard input and output.
pub fn run_analysis_process(a: AnalysisProcessArgs) -> Result<crate::shell::Exit> {
    crate::adapters::process::confine(a.memory_bytes).map_err(|e| anyhow!(e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the runtime")?;
    let (input, output) = (std::io::stdin().lock(), std::io::stdout().lock());
    rt.block_on(async {
        // SIGTERM and SIGINT are the server's to handle (a service manager may send them to
        // every process of the server at once): the server gives the job back or kills this
        // process; it also ends when the server's pipe closes, or with the server
        #[cfg(unix)]
        let _held = {
            use tokio::signal::unix::{SignalKind, signal};
            (
                signal(SignalKind::terminate()).context("holding SIGTERM")?,
                signal(SignalKind::interrupt()).context("holding SIGINT")?,
            )
        };
        crate::app::isolate::serve_analysis(input, output)
            .await
            .map_err(|e| anyhow!(e))
    })?;
    Ok(crate::shell::Exit::Ok)
}

/// The name of a secret's file for an error, unless it is no file name but the secret itself
/// (a key pasted where its file was asked for: several lines, or PEM's `-----`).
fn secret_file_name(f: &std::path::Path) -> String {
    let s = f.to_string_lossy();
    if s.contains(['\n', '\r']) || s.starts_with('-') || s.len() > 4096 {
        "<not shown: this is no file name, it looks like the secret itself>".into()
    } else {
        crate::render::visible(&s).into_owned()
    }
}

/// The secrets of `serve` that come from the environment only (an empty variable is unset).
fn secrets_from_env(a: &mut ServeArgs) {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    a.webhook_secret = var("CACHEBUST_WEBHOOK_SECRET")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    a.private_key = var("CACHEBUST_PRIVATE_KEY");
    a.github_token = var("CACHEBUST_GITHUB_TOKEN");
}

/// Run the server until SIGTERM / Ctrl-C.
pub fn run(mut a: ServeArgs) -> Result<crate::shell::Exit> {
    secrets_from_env(&mut a);
    init_logs(a.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = rt.block_on(serve(a));
    // an analysis still running on the blocking pool (its job was given back to the queue) must
    // not hold the exit: dropping the runtime would wait for it without end
    rt.shutdown_timeout(Duration::from_secs(1));
    served?;
    Ok(crate::shell::Exit::Ok)
}

async fn serve(a: ServeArgs) -> Result<()> {
    let mut secrets: Vec<String> = a
        .webhook_secret
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(f) = &a.webhook_secret_file {
        let t = crate::shell::read_regular(f, crate::shell::MAX_CONFIG_BYTES)
            .map_err(|e| anyhow!("--webhook-secret-file {}: {e}", secret_file_name(f)))?;
        let t = String::from_utf8(t).map_err(|_| {
            anyhow!(
                "--webhook-secret-file {}: not UTF-8 text",
                secret_file_name(f)
            )
        })?;
        secrets.extend(
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    if secrets.is_empty() {
        return Err(anyhow!(
            "a webhook secret is required (--webhook-secret-file or CACHEBUST_WEBHOOK_SECRET): unsigned deliveries are refused"
        ));
    }
    let auth = match (&a.github_token, a.app_id) {
        (Some(t), _) => AppAuth::Token(t.clone()),
        (None, Some(id)) => {
            let pem = match (&a.private_key_file, &a.private_key) {
                (Some(f), _) => crate::shell::read_regular(f, crate::shell::MAX_CONFIG_BYTES)
                    .map_err(|e| anyhow!("--private-key-file {}: {e}", secret_file_name(f)))?,
                (None, Some(k)) => k.replace("\\n", "\n").into_bytes(),
                (None, None) => {
                    return Err(anyhow!(
                        "--app-id needs the App's private key (--private-key-file or CACHEBUST_PRIVATE_KEY)"
                    ));
                }
            };
            let from = if a.private_key_file.is_some() {
                "--private-key-file"
            } else {
                "CACHEBUST_PRIVATE_KEY"
            };
            crate::adapters::github::GitHub::check_app_key(id, &pem)
                .map_err(|e| anyhow!("{from}: {e}"))?;
            AppAuth::App { id, pem }
        }
        (None, None) => {
            return Err(anyhow!(
                "GitHub credentials are required: --app-id with a private key, or CACHEBUST_GITHUB_TOKEN"
            ));
        }
    };
    if a.analysis_memory_mb != 0 && !crate::adapters::process::CAN_CONFINE {
        return Err(anyhow!(
            "--analysis-memory-mb: analysis processes are confined on Linux only; give 0 to analyse inside the server (no memory budget)"
        ));
    }
    let database = match &a.database_password_file {
        None => a.database.clone(),
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("--database-password-file {}", f.display()))?;
            with_password(&a.database, &text)
                .map_err(|e| anyhow!("--database-password-file {}: {e}", f.display()))?
        }
    };
    let store = Arc::new(
        SqlStore::open(&database)
            .await
            .map_err(|e| anyhow!("--database: {e}"))?,
    );
    let mut forge = GitHubForge::new(&a.api_url, auth);
    forge.slug = a.app_slug.clone().filter(|s| !s.is_empty());
    let forge = Arc::new(forge);
    let settle = Duration::from_secs_f64(a.settle_seconds.clamp(0.0, 86_400.0));
    let metrics = Arc::new(Metrics::default());
    let wake = Arc::new(tokio::sync::Notify::new());
    let state = Arc::new(AppState {
        store: store.clone(),
        cfg: WebhookConfig {
            drafts: a.drafts,
            app_id: a.app_id,
        },
        secrets,
        max_body: a.max_body_bytes,
        read_timeout: Duration::from_secs_f64(a.read_timeout_seconds.clamp(0.1, 3600.0)),
        unverified: Arc::new(tokio::sync::Semaphore::new(
            a.unverified_bytes
                .clamp(a.max_body_bytes.max(1), tokio::sync::Semaphore::MAX_PERMITS),
        )),
        metrics: metrics.clone(),
        wake: wake.clone(),
        api: forge.stats.clone(),
    });
    let app = Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("--listen {}", a.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // unique per process even where hostname and pid repeat (containers restarted as pid 1);
    // its workers are `<instance>/<n>`, and it holds its liveness lock while it runs
    let base = crate::adapters::store::clean_instance(&format!(
        "{}-{}-{:x}",
        hostname(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            & 0xffff_ffff
    ));
    store
        .register_instance(&base)
        .await
        .map_err(|e| anyhow!("--database: {e}"))?;
    // a restarted instance takes back its predecessor's jobs (and any other dead instance's)
    match store.recover_dead().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "took back the jobs of instances that died"),
        Err(e) => tracing::warn!(error = %e, "cannot look for the jobs of instances that died"),
    }
    let mut workers = Vec::new();
    let analysis_slots = Arc::new(tokio::sync::Semaphore::new(a.workers.max(1)));
    let isolation: Option<Arc<dyn crate::ports::Isolation>> = match a.analysis_memory_mb {
        0 => None,
        mb => Some(Arc::new(
            AnalysisProcess::this_executable(mb.saturating_mul(1024 * 1024))
                .map_err(|e| anyhow!(e))?,
        )),
    };
    for i in 0..a.workers.max(1) {
        let cfg = WorkerConfig {
            name: format!("{base}/{i}"),
            lease: Duration::from_secs(a.lease_seconds.max(1)),
            max_attempts: a.max_attempts.max(1),
            backoff: Duration::from_secs_f64(a.retry_seconds.max(0.0)),
            poll: Duration::from_millis(a.poll_ms.max(10)),
            engine: a.engine.into(),
            check_runs: a.check_runs,
            publish: PublishOptions {
                reconcile: [1.0, 3.0, 10.0]
                    .map(|w: f64| Duration::from_secs_f64(w.min(settle.as_secs_f64())))
                    .to_vec(),
                rules_url: Some(a.rules_url.clone().unwrap_or_else(|| {
                    format!(
                        "{}/blob/v{}/docs/rules",
                        env!("CARGO_PKG_REPOSITORY"),
                        env!("CARGO_PKG_VERSION")
                    )
                })),
                ..PublishOptions::default()
            },
            analysis_budget: Duration::from_secs_f64(a.analysis_seconds.clamp(0.001, 86_400.0)),
            analysis_slots: analysis_slots.clone(),
            isolation: isolation.clone(),
            api_calls: a.api_calls_per_pr.max(1),
            settle,
            ci: crate::app::ci::CiOptions {
                enabled: a.build_records,
                workflow: a.build_records_workflow.clone(),
                base_runs: a.build_records_base_runs.min(crate::app::ci::MAX_BASE_RUNS),
                max_bytes: a.build_records_max_mb.max(1).saturating_mul(1024 * 1024),
                ..crate::app::ci::CiOptions::default()
            },
        };
        let (store, forge, metrics, wake, stop) = (
            store.clone(),
            forge.clone(),
            metrics.clone(),
            wake.clone(),
            stop_rx.clone(),
        );
        let name = cfg.name.clone();
        workers.push((
            name,
            tokio::spawn(async move {
                worker::run(&*store, &*forge, &cfg, &metrics, stop, &wake).await
            }),
        ));
    }
    // every second: the WAL checkpoint, this instance's liveness lock, the jobs of dead ones
    let checkpointer = {
        let (store, mut stop, wake) = (store.clone(), stop_rx.clone(), wake.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                if let Err(e) = store.checkpoint().await {
                    tracing::warn!(error = %e, "cannot checkpoint the queue's write-ahead log");
                }
                if let Err(e) = store.keep_registered().await {
                    tracing::warn!(error = %e, "cannot hold this instance's liveness lock");
                }
                match store.recover_dead().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(jobs = n, "took back the jobs of instances that died");
                        wake.notify_waiters();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look for the jobs of instances that died")
                    }
                }
            }
        })
    };
    tracing::info!(listen = %addr, database = store.backend(), workers = workers.len(), "cachebust serve: listening");
    let grace = Duration::from_secs(a.shutdown_grace_seconds);
    // the workers are told to stop when the signal comes (no new claims while open requests
    // finish), and everything shares one grace period from then
    let stopped_at = accept(
        listener,
        app,
        a.max_connections.max(1),
        Duration::from_secs_f64(a.read_timeout_seconds.clamp(0.1, 3600.0)),
        grace,
        || {
            tracing::info!("shutting down: finishing the jobs in hand");
            let _ = stop_tx.send(true);
            wake.notify_waiters();
        },
    )
    .await;
    let deadline = stopped_at + grace;
    for (name, mut handle) in workers {
        if tokio::time::timeout_at(deadline, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            // let the aborted task go before its jobs are handed back
            let _ = handle.await;
        }
        // whatever the worker still holds goes back to the queue, however it ended (aborted, or
        // a claim that committed as it was cancelled); nothing to do for one that finished
        match store.release(&name).await {
            Ok(n) if n > 0 => {
                tracing::warn!(worker = %name, released = n, "gave unfinished jobs back to the queue")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(worker = %name, error = %e, "cannot give jobs back; their lease will expire")
            }
        }
    }
    let _ = checkpointer.await;
    store.unregister_instance().await;
    if let Err(e) = store.checkpoint().await {
        tracing::warn!(error = %e, "cannot checkpoint the queue's write-ahead log");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serve connections until SIGTERM / Ctrl-C, then call `on_stop`, stop accepting and let open
/// requests finish (up to `grace`); returns when the signal came. At most `max_conns`
/// connections are open; each has `read_timeout` for the headers of each request (hyper closes
/// it otherwise).
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    max_conns: usize,
    read_timeout: Duration,
    grace: Duration,
    on_stop: impl FnOnce(),
) -> tokio::time::Instant {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let conns = Arc::new(tokio::sync::Semaphore::new(max_conns));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .keep_alive(true);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors, most likely: let open connections finish or time out
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        // answers are small: send them at once rather than waiting on Nagle's algorithm
        let _ = tcp.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    let stopped_at = tokio::time::Instant::now();
    on_stop();
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open at the end of the grace period were cut");
    }
    stopped_at
}

/// `url` (`postgres://USER@HOST…`, no password) with the password read from a file: the text
/// less its trailing newlines (as the `postgres` image reads POSTGRES_PASSWORD_FILE, so one file
/// serves both), percent-encoded into the URL's user information. The errors never hold the
/// password.
fn with_password(url: &str, file_text: &str) -> Result<String, &'static str> {
    let password = file_text.trim_end_matches('\n');
    if password.is_empty() {
        return Err("the file is empty");
    }
    let Some((scheme, rest)) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|p| url.strip_prefix(p).map(|r| (*p, r)))
    else {
        return Err("a password file is for a postgres:// database");
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user, host)) = authority.rsplit_once('@') else {
        return Err("--database names no user (postgres://USER@HOST/DATABASE)");
    };
    if user.contains(':') {
        return Err("--database has a password already: give it in one place");
    }
    if user.is_empty() {
        return Err("--database names no user (postgres://USER@HOST/DATABASE)");
    }
    let mut encoded = String::with_capacity(password.len() * 3);
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("{scheme}{user}:{encoded}@{host}{tail}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cachebust".into())
}

#[cfg(test)]
mod tests {
    use super::with_password;

    #[test]
    fn the_password_file_completes_a_postgres_url() {
        for (url, file, want) in [
            (
                "postgres://cachebust@db:5432/cachebust",
                "s3cret\n",
                "postgres://cachebust:s3cret@db:5432/cachebust",
            ),
            // what would end the user information or the authority is encoded; only trailing
            // newlines go, as `$(< file)` drops them in the postgres image
            (
                "postgresql://u@h/d?sslmode=require",
                "a@b:c/d?e#f%g h\u{e9}\r\n\n",
                "postgresql://u:a%40b%3Ac%2Fd%3Fe%23f%25g%20h%C3%A9%0D@h/d?sslmode=require",
            ),
            ("postgres://u@h", " x ", "postgres://u:%20x%20@h"),
        ] {
            assert_eq!(
                with_password(url, file).as_deref(),
                Ok(want),
                "{url} {file:?}"
            );
        }
    }

    #[test]
    fn a_password_file_that_does_not_fit_is_refused_without_echoing_it() {
        for (url, file, said) in [
            ("postgres://u@h/d", "\n\n", "the file is empty"),
            (
                "sqlite://q.db",
                "hunter2",
                "a password file is for a postgres:// database",
            ),
            ("postgres://h/d", "hunter2", "--database names no user"),
            ("postgres://@h/d", "hunter2", "--database names no user"),
            (
                "postgres://u:old@h/d",
                "hunter2",
                "--database has a password already",
            ),
        ] {
            let e = with_password(url, file).unwrap_err();
            assert!(e.starts_with(said), "{url}: {e}");
            assert!(!e.contains("hunter2"));
        }
    }
}
