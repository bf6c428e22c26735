//! Which server instances sharing the queue are alive, so that the jobs of one that died are
//! taken back at once rather than when their leases run out: each instance holds a lock for as
//! long as its process lives (SQLite: an exclusive `flock` on a file of its own beside the
//! database; PostgreSQL: a session advisory lock on a connection of its own), which the system
//! releases when the process dies, however it dies. Workers are named `<instance>/<n>`; a running
//! job whose instance's lock can be taken belongs to a dead instance and is queued again (its
//! attempt still counts). A restarted instance takes back its predecessor's jobs this way when
//! it starts, and every instance looks every second; the lease stays as the last resort (an
//! instance that is alive but stuck, a lock that cannot be asked).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::Digest;
use sqlx::Row;

use super::{Db, SqlStore, err, now_ms};
use crate::ports::StoreError;

/// How this process shows it is alive, and asks about the others.
pub(super) enum Liveness {
    /// SQLite: `<database>.instances/<instance>.lock`, locked while the instance lives.
    Files {
        dir: PathBuf,
        held: Mutex<Option<(String, std::fs::File)>>,
    },
    /// PostgreSQL: an advisory lock keyed by the instance, on a connection kept out of the pool.
    #[cfg(feature = "postgres")]
    Postgres {
        held: tokio::sync::Mutex<Option<(String, sqlx::PgConnection)>>,
    },
}

impl Liveness {
    pub(super) fn files(database: &Path) -> Liveness {
        let mut dir = database.as_os_str().to_owned();
        dir.push(".instances");
        Liveness::Files {
            dir: dir.into(),
            held: Mutex::new(None),
        }
    }

    #[cfg(feature = "postgres")]
    pub(super) fn postgres() -> Liveness {
        Liveness::Postgres {
            held: tokio::sync::Mutex::new(None),
        }
    }
}

/// The instance a worker belongs to (`<instance>/<n>`); `None` for names of older versions.
pub fn instance_of(worker: &str) -> Option<&str> {
    worker
        .rsplit_once('/')
        .map(|(i, _)| i)
        .filter(|i| !i.is_empty())
}

/// An instance name as it may be used in a file name and a `LIKE` pattern.
pub fn clean_instance(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The advisory lock key of an instance (64 bits of its SHA-256: the same in every version).
#[cfg(feature = "postgres")]
fn key(instance: &str) -> i64 {
    let d = sha2::Sha256::digest(format!("cachebust-instance:{instance}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().unwrap_or_default())
}

impl SqlStore {
    /// Show that `instance` is alive for as long as this store is open: its lock is taken (an
    /// error when it cannot be). Its workers are `<instance>/<n>`.
    pub async fn register_instance(&self, instance: &str) -> Result<(), StoreError> {
        let instance = clean_instance(instance);
        match (&self.live, &*self.db) {
            (Liveness::Files { dir, held }, _) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Liveness(format!("{}: {e}", dir.display())))?;
                let path = dir.join(format!("{instance}.lock"));
                let f = std::fs::File::create(&path)
                    .map_err(|e| StoreError::Liveness(format!("{}: {e}", path.display())))?;
                match try_lock(&f) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(StoreError::InstanceInUse(format!(
                            "{}: the instance name is in use by a live instance",
                            path.display()
                        )));
                    }
                    Err(e) => {
                        return Err(StoreError::Liveness(format!(
                            "locking {}: {e}",
                            path.display()
                        )));
                    }
                }
                *held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((instance, f));
                Ok(())
            }
            #[cfg(feature = "postgres")]
            (Liveness::Postgres { held }, Db::Postgres(pool)) => {
                let conn = lock_connection(pool, &instance).await?;
                *held.lock().await = Some((instance, conn));
                Ok(())
            }
            #[cfg(feature = "postgres")]
            _ => Err(StoreError::Liveness(
                "the liveness does not match the database".into(),
            )),
        }
    }

    /// Keep the lock: on PostgreSQL a connection that broke (a restart of the server) is
    /// replaced and the lock taken again.
    pub async fn keep_registered(&self) -> Result<(), StoreError> {
        #[cfg(feature = "postgres")]
        if let (Liveness::Postgres { held }, Db::Postgres(pool)) = (&self.live, &*self.db) {
            let mut held = held.lock().await;
            if let Some((instance, conn)) = held.as_mut() {
                if sqlx::query("SELECT 1").execute(&mut *conn).await.is_err() {
                    let fresh = lock_connection(pool, instance).await?;
                    *conn = fresh;
                }
            }
        }
        Ok(())
    }

    /// Give the lock up (a clean stop).
    pub async fn unregister_instance(&self) {
        match &self.live {
            Liveness::Files { dir, held } => {
                let taken = held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some((instance, f)) = taken {
                    let _ = std::fs::remove_file(dir.join(format!("{instance}.lock")));
                    drop(f);
                }
            }
            #[cfg(feature = "postgres")]
            Liveness::Postgres { held } => {
                if let Some((_, conn)) = held.lock().await.take() {
                    use sqlx::Connection;
                    let _ = conn.close().await;
                }
            }
        }
    }

    /// Queue again the running jobs of every other instance that is dead (its lock is free);
    /// their attempts still count. How many were taken back.
    pub async fn recover_dead(&self) -> Result<u64, StoreError> {
        let Some(own) = self.registered().await else {
            return Ok(0);
        };
        let workers: Vec<String> = on_pool!(self, pool, _pg => {
            sqlx::query("SELECT DISTINCT worker FROM jobs WHERE status = 'running' AND worker IS NOT NULL")
                .fetch_all(pool)
                .await
                .map_err(err)?
                .iter()
                .filter_map(|r| r.try_get::<String, _>("worker").ok())
                .collect()
        });
        let mut others: Vec<&str> = workers
            .iter()
            .filter_map(|w| instance_of(w))
            .filter(|i| *i != own)
            .collect();
        others.sort_unstable();
        others.dedup();
        let mut taken = 0;
        for instance in others {
            if self.is_dead(instance).await? {
                taken += self.release_instance(instance).await?;
                self.forget(instance);
            }
        }
        Ok(taken)
    }

    async fn registered(&self) -> Option<String> {
        match &self.live {
            Liveness::Files { held, .. } => held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .map(|(i, _)| i.clone()),
            #[cfg(feature = "postgres")]
            Liveness::Postgres { held } => held.lock().await.as_ref().map(|(i, _)| i.clone()),
        }
    }

    /// Whether `instance` is known to be dead: its lock could be taken. An instance without a
    /// lock file (another host's, or gone) is not known to be dead: its lease decides.
    async fn is_dead(&self, instance: &str) -> Result<bool, StoreError> {
        match (&self.live, &*self.db) {
            (Liveness::Files { dir, .. }, _) => {
                let path = dir.join(format!("{instance}.lock"));
                let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) else {
                    return Ok(false);
                };
                Ok(try_lock(&f).unwrap_or(false))
            }
            #[cfg(feature = "postgres")]
            (Liveness::Postgres { .. }, Db::Postgres(pool)) => {
                let mut conn = pool.acquire().await.map_err(err)?;
                let k = key(instance);
                let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(k)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(err)?;
                if free {
                    sqlx::query("SELECT pg_advisory_unlock($1)")
                        .bind(k)
                        .execute(&mut *conn)
                        .await
                        .map_err(err)?;
                }
                Ok(free)
            }
            #[cfg(feature = "postgres")]
            _ => Ok(false),
        }
    }

    /// Queue the running jobs of a dead instance again, at once.
    async fn release_instance(&self, instance: &str) -> Result<u64, StoreError> {
        let _w = self.writer().await;
        let now = now_ms();
        on_pool!(self, pool, _pg => {
            Ok(sqlx::query("UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, run_after = $1 WHERE status = 'running' AND worker LIKE $2")
                .bind(now)
                .bind(format!("{instance}/%"))
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected())
        })
    }

    /// A dead instance's lock file is not needed any more.
    fn forget(&self, instance: &str) {
        if let Liveness::Files { dir, .. } = &self.live {
            let _ = std::fs::remove_file(dir.join(format!("{instance}.lock")));
        }
    }
}

/// Take the exclusive `flock` of `f` without waiting: `false` when another open file (another
/// process) holds it. Released when the file is closed, or its process dies.
#[cfg(unix)]
fn try_lock(f: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn try_lock(_: &std::fs::File) -> std::io::Result<bool> {
    Err(std::io::Error::other("instance locks need a Unix system"))
}

/// A connection of its own (out of the pool) holding the instance's advisory lock.
#[cfg(feature = "postgres")]
async fn lock_connection(
    pool: &sqlx::PgPool,
    instance: &str,
) -> Result<sqlx::PgConnection, StoreError> {
    let mut conn = pool.acquire().await.map_err(err)?.detach();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key(instance))
        .fetch_one(&mut conn)
        .await
        .map_err(err)?;
    if !got {
        return Err(StoreError::InstanceInUse(format!(
            "the instance name {instance} is in use by a live instance"
        )));
    }
    Ok(conn)
}
