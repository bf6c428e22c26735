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
//!
//! In parts: `config` (the flags and what is resolved from them), `http` (the routes, the
//! verified-delivery extractor, `Reply`, the accept loop), `supervisor` (workers, leases,
//! shutdown) and `logs`.

mod config;
mod http;
mod logs;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::adapters::github::forge::GitHubForge;
use crate::adapters::store::SqlStore;
use crate::app::webhook::WebhookConfig;
use crate::app::worker::Metrics;
pub use config::{LogFormat, SERVE_ABOUT, ServeArgs};
use supervisor::Supervisor;

/// Run the server until SIGTERM / Ctrl-C.
pub fn run(mut a: ServeArgs) -> Result<crate::shell::Exit> {
    config::secrets_from_env(&mut a);
    logs::init_logs(a.log_format);
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
    let secrets = config::webhook_secrets(&a)?;
    let auth = config::auth(&a)?;
    if a.analysis_memory_mb != 0 && !crate::adapters::process::CAN_CONFINE {
        return Err(anyhow!(
            "--analysis-memory-mb: analysis processes are confined on Linux only; give 0 to analyse inside the server (no memory budget)"
        ));
    }
    let database = config::database_url(&a)?;
    let store = Arc::new(
        SqlStore::open(&database)
            .await
            .map_err(|e| anyhow!("--database: {e}"))?,
    );
    let mut forge = GitHubForge::new(&a.api_url, auth);
    forge.slug = a.app_slug.clone().filter(|s| !s.is_empty());
    let forge = Arc::new(forge);
    let metrics = Arc::new(Metrics::default());
    let wake = Arc::new(tokio::sync::Notify::new());
    let state = Arc::new(http::AppState {
        store: store.clone(),
        cfg: WebhookConfig {
            drafts: a.drafts,
            app_id: a.app_id,
        },
        secrets,
        max_body: a.max_body_bytes,
        read_timeout: config::read_timeout(&a),
        unverified: Arc::new(tokio::sync::Semaphore::new(
            a.unverified_bytes
                .clamp(a.max_body_bytes.max(1), tokio::sync::Semaphore::MAX_PERMITS),
        )),
        metrics: metrics.clone(),
        wake: wake.clone(),
        api: forge.stats.clone(),
    });
    let app = http::router(state);
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("--listen {}", a.listen))?;
    let addr = listener.local_addr()?;
    // this instance holds its liveness lock while it runs
    let base = config::instance_name();
    let supervisor = Supervisor::start(&a, &base, store.clone(), forge, metrics, wake).await?;
    tracing::info!(listen = %addr, database = store.backend(), workers = supervisor.workers(), "cachebust serve: listening");
    let grace = Duration::from_secs(a.shutdown_grace_seconds);
    // the workers are told to stop when the signal comes (no new claims while open requests
    // finish), and everything shares one grace period from then
    let stopped_at = http::accept(
        listener,
        app,
        a.max_connections.max(1),
        config::read_timeout(&a),
        grace,
        || {
            tracing::info!("shutting down: finishing the jobs in hand");
            supervisor.stop();
        },
    )
    .await;
    supervisor.finish(stopped_at + grace).await;
    tracing::info!("stopped");
    Ok(())
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
    crate::adapters::process::confine(a.memory_bytes)?;
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
        Ok::<_, anyhow::Error>(crate::app::isolate::serve_analysis(input, output).await?)
    })?;
    Ok(crate::shell::Exit::Ok)
}
