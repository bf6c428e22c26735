//! The server's supervisor: the worker tasks (`app::worker`) and the housekeeping task, this
//! instance's registration and liveness lock, taking back the jobs of instances that died, and
//! the shutdown that lets each worker finish the job in hand for up to the grace period, then
//! gives back what is still claimed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::config::{self, ServeArgs, Shared};
use crate::adapters::github::forge::GitHubForge;
use crate::adapters::process::AnalysisProcess;
use crate::adapters::store::SqlStore;
use crate::app::worker::{self, Metrics};
use crate::ports::JobStore;

/// The running workers and the housekeeping task, and how to stop them.
pub(super) struct Supervisor {
    store: Arc<SqlStore>,
    workers: Vec<(String, JoinHandle<()>)>,
    housekeeping: JoinHandle<()>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
}

impl Supervisor {
    /// Register instance `base`, take back the jobs of dead instances, start the workers
    /// (`<base>/<n>`) and the housekeeping.
    pub async fn start(
        a: &ServeArgs,
        base: &str,
        store: Arc<SqlStore>,
        forge: Arc<GitHubForge>,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Result<Supervisor> {
        store
            .register_instance(base)
            .await
            .map_err(|e| anyhow!("--database: {e}"))?;
        // a restarted instance takes back its predecessor's jobs (and any other dead instance's)
        recover_dead(&store, None).await;
        let shared = Shared {
            analysis_slots: Arc::new(tokio::sync::Semaphore::new(a.workers.max(1))),
            isolation: match a.analysis_memory_mb {
                0 => None,
                mb => Some(Arc::new(
                    AnalysisProcess::this_executable(mb.saturating_mul(1024 * 1024))
                        .map_err(|e| anyhow!(e))?,
                )),
            },
        };
        let (stop, stop_rx) = watch::channel(false);
        let workers = (0..a.workers.max(1))
            .map(|i| {
                let cfg = config::worker_config(a, format!("{base}/{i}"), &shared);
                let (store, forge, metrics, wake, stop) = (
                    store.clone(),
                    forge.clone(),
                    metrics.clone(),
                    wake.clone(),
                    stop_rx.clone(),
                );
                let name = cfg.name.clone();
                let task = tokio::spawn(async move {
                    worker::run(&*store, &*forge, &cfg, &metrics, stop, &wake).await
                });
                (name, task)
            })
            .collect();
        let housekeeping = tokio::spawn(housekeeping(store.clone(), stop_rx, wake.clone()));
        Ok(Supervisor {
            store,
            workers,
            housekeeping,
            stop,
            wake,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Tell the workers to stop: no new claims.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.wake.notify_waiters();
    }

    /// Wait for the workers until `deadline`, abort the rest, give back whatever each still
    /// holds, stop the housekeeping and leave the instance list.
    pub async fn finish(self, deadline: tokio::time::Instant) {
        for (name, mut handle) in self.workers {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                // let the aborted task go before its jobs are handed back
                let _ = handle.await;
            }
            // whatever the worker still holds goes back to the queue, however it ended
            // (aborted, or a claim that committed as it was cancelled); nothing to do for one
            // that finished
            match self.store.release(&name).await {
                Ok(n) if n > 0 => {
                    tracing::warn!(worker = %name, released = n, "gave unfinished jobs back to the queue")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(worker = %name, error = %e, "cannot give jobs back; their lease will expire")
                }
            }
        }
        let _ = self.housekeeping.await;
        self.store.unregister_instance().await;
        if let Err(e) = self.store.checkpoint().await {
            tracing::warn!(error = %e, "cannot checkpoint the queue's write-ahead log");
        }
    }
}

/// Take back the jobs of instances that died; wake the workers when there were some.
async fn recover_dead(store: &SqlStore, wake: Option<&Notify>) {
    match store.recover_dead().await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(jobs = n, "took back the jobs of instances that died");
            if let Some(w) = wake {
                w.notify_waiters();
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for the jobs of instances that died")
        }
    }
}

/// Every second until stopped: the WAL checkpoint, this instance's liveness lock, the jobs of
/// dead instances.
async fn housekeeping(store: Arc<SqlStore>, mut stop: watch::Receiver<bool>, wake: Arc<Notify>) {
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
        recover_dead(&store, Some(&wake)).await;
    }
}
