//! The server's durable queue with sqlx: an SQLite file by default (created on first use, WAL,
//! writers serialised with `BEGIN IMMEDIATE`), or PostgreSQL (feature `postgres`) so several
//! server instances share the work (`FOR UPDATE SKIP LOCKED` claims, a per-pull-request advisory
//! lock while enqueueing). A claim is a lease: a job whose worker died is claimed again when the
//! lease expires. Times are unix milliseconds. The schema is versioned by sqlx migrations
//! (`src/adapters/store/migrations/{sqlite,postgres}/`), applied when the store is opened.
//!
//! Deliveries are enqueued by group commit: `enqueue` hands its job to committer tasks and waits
//! for the commit of the group that carries it. A committer takes every job waiting (up to
//! `GROUP_MAX`) and records them in one transaction, in the order they came, each with the
//! outcome one delivery's own transaction had (duplicate, already queued, queued superseding
//! older heads); on PostgreSQL that transaction is one statement (`cachebust_enqueue`, a
//! server-side function: one round trip and one WAL flush per group, several groups in flight),
//! on SQLite one `BEGIN IMMEDIATE` transaction (one writer). `enqueue` returns only once its
//! group has committed, so an acknowledged delivery is a committed one. A group that fails is
//! tried again one job at a time, so that a job that cannot be recorded fails alone.

use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::ports::{Enqueued, InstallationChange, Job, JobStore, NewJob, QueueDepth, StoreError};

/// The queue: the database, and the way into its group commit.
pub struct SqlStore {
    db: Arc<Db>,
    /// Jobs waiting for the next group commit (read by the committer tasks).
    group: tokio::sync::mpsc::UnboundedSender<Pending>,
    /// How this instance shows it is alive (`instances`).
    live: instances::Liveness,
}

enum Db {
    /// The pool, and the lock that lets one write transaction of this process run at a time:
    /// SQLite has one writer, and waiting in its busy handler (sleeps of up to 100 ms) is what
    /// made acknowledgements slow under load; the lock makes writers queue without sleeping.
    Sqlite(SqlitePool, tokio::sync::Mutex<()>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// A job waiting for its group's commit, and who waits for the outcome.
struct Pending {
    job: NewJob,
    force: bool,
    done: tokio::sync::oneshot::Sender<Result<Enqueued, StoreError>>,
}

/// A committer's own way to the database. On PostgreSQL a connection it keeps (made and warmed
/// up before the server listens, so that no delivery waits for a connection to be made or the
/// function to be planned; after an error it goes back to the pool and another is taken). On
/// SQLite nothing: the pool and its writer lock.
#[derive(Default)]
struct Line {
    #[cfg(feature = "postgres")]
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

/// The most jobs one group commit records.
const GROUP_MAX: usize = 256;
/// Groups committing at once on PostgreSQL (each on a connection of its own; the server shares
/// the WAL flushes of concurrent commits): while one group waits for its flush the next forms
/// and is sent. SQLite has one writer, so one group at a time.
#[cfg(feature = "postgres")]
const PG_COMMITTERS: usize = 4;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn writer_gone() -> StoreError {
    StoreError::Writer("the queue's writer has stopped".into())
}

/// Run `$body` with `$pool` bound to the backend's pool and `$pg` telling which one it is.
macro_rules! on_pool {
    ($self:expr, $pool:ident, $pg:ident => $body:expr) => {
        match &*$self.db {
            Db::Sqlite($pool, _) => {
                let $pg = false;
                $body
            }
            #[cfg(feature = "postgres")]
            Db::Postgres($pool) => {
                let $pg = true;
                $body
            }
        }
    };
}

mod instances;
pub use instances::{clean_instance, instance_of};

/// The schema, versioned: one migration per change and backend (`_sqlx_migrations` records what
/// was applied). The first is the unversioned schema of before, so it applies to a database that
/// schema created, keeping its data.
static MIGRATIONS_SQLITE: sqlx::migrate::Migrator =
    sqlx::migrate!("src/adapters/store/migrations/sqlite");
#[cfg(feature = "postgres")]
static MIGRATIONS_PG: sqlx::migrate::Migrator =
    sqlx::migrate!("src/adapters/store/migrations/postgres");

const CLAIM_SQLITE: &str = "UPDATE jobs SET status = 'running', worker = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' AND run_after <= $3) OR (status = 'running' AND lease_until < $3) ORDER BY id LIMIT 1) \
     RETURNING id, delivery_id, kind, repo, pr_number, head_sha, base_sha, installation_id, attempts, created_at";
#[cfg(feature = "postgres")]
const CLAIM_PG: &str = "UPDATE jobs SET status = 'running', worker = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' AND run_after <= $3) OR (status = 'running' AND lease_until < $3) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, delivery_id, kind, repo, pr_number, head_sha, base_sha, installation_id, attempts, created_at";

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqlStore {
    /// Open (and create) the store: `sqlite://PATH`, a plain path, or `postgres://…`.
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                // the committers' connections beside the workers' and the pages'
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(8 + PG_COMMITTERS as u32)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(err)?;
                return SqlStore::start(Db::Postgres(pool), instances::Liveness::postgres()).await;
            }
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::NoPostgres);
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // a checkpoint copies the WAL into the database and syncs it: off the request path,
            // the server runs `checkpoint` in the background instead (the last connection to
            // close checkpoints too, so the WAL never outlives the process)
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(err)?;
        SqlStore::start(
            Db::Sqlite(pool, tokio::sync::Mutex::new(())),
            // the lock files go beside the database file (a `?mode=…` query is not part of it)
            instances::Liveness::files(std::path::Path::new(
                path.split_once('?').map_or(path, |(p, _)| p),
            )),
        )
        .await
    }

    /// Migrate the schema, then start the committers (they end when the store is dropped).
    async fn start(db: Db, live: instances::Liveness) -> Result<SqlStore, StoreError> {
        db.migrate().await?;
        let db = Arc::new(db);
        let (group, waiting) = tokio::sync::mpsc::unbounded_channel();
        let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
        let committers = match &*db {
            Db::Sqlite(..) => 1,
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => PG_COMMITTERS,
        };
        for _ in 0..committers {
            let mut line = db.line().await?;
            let (db, waiting) = (db.clone(), waiting.clone());
            tokio::spawn(async move {
                let mut jobs = Vec::with_capacity(GROUP_MAX);
                // whoever holds the receiver takes everything waiting; the others commit theirs
                while waiting.lock().await.recv_many(&mut jobs, GROUP_MAX).await > 0 {
                    db.commit_group(&mut line, std::mem::take(&mut jobs)).await;
                }
            });
        }
        Ok(SqlStore { db, group, live })
    }

    /// The PostgreSQL pool (tests and the bench empty its tables).
    #[cfg(feature = "postgres")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &*self.db {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(..) => None,
        }
    }

    /// Hold this while writing (SQLite only).
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.db.writer().await
    }

    /// Copy the SQLite write-ahead log back into the database file without blocking writers
    /// (`PRAGMA wal_checkpoint(PASSIVE)`); nothing to do on PostgreSQL. Automatic checkpoints are
    /// off, so whoever keeps a store open under load calls this periodically (the server: every
    /// second).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        on_pool!(self, pool, pg => {
            if !pg {
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(pool)
                    .await
                    .map_err(err)?;
            }
            Ok(())
        })
    }

    /// Run `sql` (binding `$1` = `value`, `$2` = the job, `$3` = the worker) on a job the worker
    /// still holds: `false` when it no longer does.
    async fn update_held(
        &self,
        sql: &'static str,
        value: i64,
        id: i64,
        worker: &str,
    ) -> Result<bool, StoreError> {
        let _w = self.writer().await;
        on_pool!(self, pool, _pg => {
            let n = sqlx::query(sql)
                .bind(value)
                .bind(id)
                .bind(worker)
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        on_pool!(self, _pool, pg => if pg { "postgres" } else { "sqlite" })
    }

    /// The status and attempts of a job (tests and diagnostics).
    pub async fn job_status(
        &self,
        id: i64,
    ) -> Result<Option<(String, u32, Option<String>)>, StoreError> {
        on_pool!(self, pool, _pg => {
            let row = sqlx::query("SELECT status, attempts, last_error FROM jobs WHERE id = $1").bind(id).fetch_optional(pool).await.map_err(err)?;
            Ok(row.map(|r| (r.get::<String, _>("status"), r.get::<i32, _>("attempts") as u32, r.get::<Option<String>, _>("last_error"))))
        })
    }

    /// Every job's delivery id and status (tests and the crash check).
    pub async fn jobs(&self) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        on_pool!(self, pool, _pg => {
            let rows = sqlx::query("SELECT id, delivery_id, head_sha, status FROM jobs ORDER BY id").fetch_all(pool).await.map_err(err)?;
            Ok(rows.iter().map(|r| (r.get::<i64, _>("id"), r.get::<String, _>("delivery_id"), r.get::<String, _>("head_sha"), r.get::<String, _>("status"))).collect())
        })
    }
}

impl Db {
    async fn migrate(&self) -> Result<(), StoreError> {
        let failed = |e: sqlx::migrate::MigrateError| {
            let hint = if matches!(e, sqlx::migrate::MigrateError::VersionMissing(_)) {
                " (a newer cachebust migrated this database: run that version, or a new database)"
            } else {
                ""
            };
            StoreError::Migration(format!("{e}{hint}"))
        };
        match self {
            // SQLite has no lock between migrators: a process that lost the race to record a
            // version finds it recorded when it looks again
            Db::Sqlite(pool, _) => match MIGRATIONS_SQLITE.run(pool).await {
                Ok(()) => Ok(()),
                Err(_) => MIGRATIONS_SQLITE.run(pool).await.map_err(failed),
            },
            // PostgreSQL serialises migrators with a session advisory lock, which a failed run
            // leaves held: on its own connection, closed on failure, so that it is released
            // (a second try on another connection of the pool would wait for it for ever)
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await.map_err(err)?;
                match MIGRATIONS_PG.run(&mut *conn).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let _ = conn.close().await;
                        Err(failed(e))
                    }
                }
            }
        }
    }

    /// Hold this while writing (SQLite only).
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self {
            Db::Sqlite(_, w) => Some(w.lock().await),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => None,
        }
    }

    /// A committer's line, ready: on PostgreSQL a connection on which the enqueue statement has
    /// run once (in a transaction rolled back: nothing is kept but the plans).
    async fn line(&self) -> Result<Line, StoreError> {
        match self {
            Db::Sqlite(..) => Ok(Line::default()),
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => {
                use sqlx::Connection;
                let mut conn = pool.acquire().await.map_err(err)?;
                let mut tx = conn.begin().await.map_err(err)?;
                let warm = NewJob {
                    delivery_id: "cachebust-warm-up".into(),
                    kind: String::new(),
                    repo: String::new(),
                    pr_number: 0,
                    head_sha: String::new(),
                    base_sha: String::new(),
                    installation_id: 0,
                };
                enqueue_query(&[(&warm, false)], now_ms())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(err)?;
                tx.rollback().await.map_err(err)?;
                Ok(Line { conn: Some(conn) })
            }
        }
    }

    /// Record a group and tell each waiter its job's outcome; when the group fails as a whole,
    /// each job is tried again alone, so that one that cannot be recorded fails by itself.
    async fn commit_group(&self, line: &mut Line, group: Vec<Pending>) {
        let jobs: Vec<(&NewJob, bool)> = group.iter().map(|p| (&p.job, p.force)).collect();
        match self.enqueue_guarded(line, &jobs).await {
            Ok(outcomes) => {
                for (p, o) in group.into_iter().zip(outcomes) {
                    let _ = p.done.send(Ok(o));
                }
            }
            Err(e) if group.len() == 1 => {
                for p in group {
                    let _ = p.done.send(Err(e.clone()));
                }
            }
            Err(_) => {
                for p in group {
                    let one = self
                        .enqueue_guarded(line, &[(&p.job, p.force)])
                        .await
                        .map(|mut o| o.remove(0));
                    let _ = p.done.send(one);
                }
            }
        }
    }

    /// `enqueue_all`, with exactly one outcome per job, a panic failing the group only.
    async fn enqueue_guarded(
        &self,
        line: &mut Line,
        jobs: &[(&NewJob, bool)],
    ) -> Result<Vec<Enqueued>, StoreError> {
        let outcomes = AssertUnwindSafe(self.enqueue_all(line, jobs))
            .catch_unwind()
            .await
            .map_err(|_| StoreError::Writer("recording the deliveries panicked".into()))??;
        if outcomes.len() != jobs.len() {
            return Err(StoreError::Writer(format!(
                "{} outcomes for {} deliveries",
                outcomes.len(),
                jobs.len()
            )));
        }
        Ok(outcomes)
    }

    /// Enqueue `jobs` in order in one transaction (see the module's header); returns once it
    /// has committed.
    async fn enqueue_all(
        &self,
        line: &mut Line,
        jobs: &[(&NewJob, bool)],
    ) -> Result<Vec<Enqueued>, StoreError> {
        let now = now_ms();
        match self {
            Db::Sqlite(pool, w) => {
                let _ = line;
                let _w = w.lock().await;
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
                let mut out = Vec::with_capacity(jobs.len());
                for (job, force) in jobs {
                    out.push(enqueue_sqlite(&mut tx, job, *force, now).await?);
                }
                tx.commit().await.map_err(err)?;
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => {
                let mut conn = match line.conn.take() {
                    Some(c) => c,
                    None => pool.acquire().await.map_err(err)?,
                };
                // one statement outside a transaction block: PostgreSQL commits it when the
                // request ends (the protocol's Sync), before it says it is ready, and `fetch_all`
                // returns only then, so every outcome read here is committed
                let rows = enqueue_query(jobs, now)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(err)?;
                // kept only while it works (after an error the pool checks it before reuse)
                line.conn = Some(conn);
                rows.iter()
                    .map(|r| {
                        let id = r.try_get::<Option<i64>, _>("job_id").map_err(err)?;
                        let outcome: String = r.try_get("outcome").map_err(err)?;
                        match (outcome.as_str(), id) {
                            ("duplicate", _) => Ok(Enqueued::DuplicateDelivery),
                            ("already_queued", Some(id)) => Ok(Enqueued::AlreadyQueued { id }),
                            ("queued", Some(id)) => Ok(Enqueued::Queued {
                                id,
                                superseded: r.try_get::<i64, _>("superseded").map_err(err)? as u64,
                            }),
                            (o, _) => Err(StoreError::Database(format!(
                                "cachebust_enqueue answered {o:?}"
                            ))),
                        }
                    })
                    .collect()
            }
        }
    }
}

/// The PostgreSQL statement that enqueues a group (`cachebust_enqueue`, migration 0002): one row
/// per job, in order.
#[cfg(feature = "postgres")]
fn enqueue_query<'q>(
    jobs: &[(&NewJob, bool)],
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let col = |f: fn(&NewJob) -> String| jobs.iter().map(|(j, _)| f(j)).collect::<Vec<_>>();
    sqlx::query(
        "SELECT ord, outcome, job_id, superseded FROM cachebust_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9) ORDER BY ord",
    )
    .bind(col(|j| j.delivery_id.clone()))
    .bind(col(|j| j.kind.clone()))
    .bind(col(|j| j.repo.clone()))
    .bind(jobs.iter().map(|(j, _)| j.pr_number as i64).collect::<Vec<_>>())
    .bind(col(|j| j.head_sha.clone()))
    .bind(col(|j| j.base_sha.clone()))
    .bind(jobs.iter().map(|(j, _)| j.installation_id as i64).collect::<Vec<_>>())
    .bind(jobs.iter().map(|(_, f)| *f).collect::<Vec<_>>())
    .bind(now)
}

/// One job of an SQLite group, inside its transaction: what one delivery's own transaction did.
async fn enqueue_sqlite(
    tx: &mut sqlx::SqliteConnection,
    job: &NewJob,
    force: bool,
    now: i64,
) -> Result<Enqueued, StoreError> {
    let inserted = sqlx::query("INSERT INTO deliveries (delivery_id, event, received_at) VALUES ($1, $2, $3) ON CONFLICT (delivery_id) DO NOTHING")
        .bind(&job.delivery_id)
        .bind(&job.kind)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
    if inserted == 0 {
        // nothing written for it
        return Ok(Enqueued::DuplicateDelivery);
    }
    if !force {
        let existing = sqlx::query("SELECT id FROM jobs WHERE repo = $1 AND pr_number = $2 AND head_sha = $3 AND status IN ('queued', 'running', 'done') ORDER BY id DESC LIMIT 1")
            .bind(&job.repo)
            .bind(job.pr_number as i64)
            .bind(&job.head_sha)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        if let Some(r) = existing {
            return Ok(Enqueued::AlreadyQueued {
                id: r.try_get("id").map_err(err)?,
            });
        }
    }
    // an older head of the same pull request is not worth finishing
    let superseded = sqlx::query("UPDATE jobs SET status = 'superseded', finished_at = $1 WHERE repo = $2 AND pr_number = $3 AND status IN ('queued', 'running') AND (head_sha <> $4 OR $5)")
        .bind(now)
        .bind(&job.repo)
        .bind(job.pr_number as i64)
        .bind(&job.head_sha)
        .bind(force)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
    let row = sqlx::query("INSERT INTO jobs (delivery_id, kind, repo, pr_number, head_sha, base_sha, installation_id, status, attempts, run_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8) RETURNING id")
        .bind(&job.delivery_id)
        .bind(&job.kind)
        .bind(&job.repo)
        .bind(job.pr_number as i64)
        .bind(&job.head_sha)
        .bind(&job.base_sha)
        .bind(job.installation_id as i64)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
    Ok(Enqueued::Queued {
        id: row.try_get("id").map_err(err)?,
        superseded,
    })
}

fn job_of(r: &impl RowLike) -> Job {
    Job {
        id: r.i64("id"),
        job: NewJob {
            delivery_id: r.string("delivery_id"),
            kind: r.string("kind"),
            repo: r.string("repo"),
            pr_number: r.i64("pr_number") as u64,
            head_sha: r.string("head_sha"),
            base_sha: r.string("base_sha"),
            installation_id: r.i64("installation_id") as u64,
        },
        attempts: r.i64("attempts") as u32,
        created_at: r.i64("created_at"),
    }
}

/// Column access shared by both backends' rows.
trait RowLike {
    fn i64(&self, c: &str) -> i64;
    fn string(&self, c: &str) -> String;
}

impl RowLike for sqlx::sqlite::SqliteRow {
    fn i64(&self, c: &str) -> i64 {
        self.try_get::<i64, _>(c).unwrap_or_default()
    }
    fn string(&self, c: &str) -> String {
        self.try_get::<String, _>(c).unwrap_or_default()
    }
}

#[cfg(feature = "postgres")]
impl RowLike for sqlx::postgres::PgRow {
    fn i64(&self, c: &str) -> i64 {
        self.try_get::<i64, _>(c)
            .or_else(|_| self.try_get::<i32, _>(c).map(i64::from))
            .unwrap_or_default()
    }
    fn string(&self, c: &str) -> String {
        self.try_get::<String, _>(c).unwrap_or_default()
    }
}

impl JobStore for SqlStore {
    async fn enqueue(&self, job: &NewJob, force: bool) -> Result<Enqueued, StoreError> {
        // the next group commit records it; the answer comes once that group is committed
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.group
            .send(Pending {
                job: job.clone(),
                force,
                done,
            })
            .map_err(|_| writer_gone())?;
        outcome.await.map_err(|_| writer_gone())?
    }

    async fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<Job>, StoreError> {
        let _w = self.writer().await;
        on_pool!(self, pool, pg => {
            #[cfg(feature = "postgres")]
            let sql = if pg { CLAIM_PG } else { CLAIM_SQLITE };
            #[cfg(not(feature = "postgres"))]
            let sql = { let _ = pg; CLAIM_SQLITE };
            let row = sqlx::query(sql).bind(worker).bind(now + lease_ms).bind(now).fetch_optional(pool).await.map_err(err)?;
            Ok(row.as_ref().map(job_of))
        })
    }

    async fn extend_lease(&self, id: i64, worker: &str, until_ms: i64) -> Result<bool, StoreError> {
        self.update_held(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND worker = $3 AND status = 'running'",
            until_ms,
            id,
            worker,
        )
        .await
    }

    async fn still_current(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool, _pg => {
            let row = sqlx::query("SELECT 1 AS ok FROM jobs WHERE id = $1 AND worker = $2 AND status = 'running'").bind(id).bind(worker).fetch_optional(pool).await.map_err(err)?;
            Ok(row.is_some())
        })
    }

    async fn complete(&self, id: i64, worker: &str, now: i64) -> Result<bool, StoreError> {
        self.update_held(
            "UPDATE jobs SET status = 'done', finished_at = $1, lease_until = NULL WHERE id = $2 AND worker = $3 AND status = 'running'",
            now,
            id,
            worker,
        )
        .await
    }

    async fn supersede(
        &self,
        id: i64,
        worker: &str,
        why: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let _w = self.writer().await;
        on_pool!(self, pool, _pg => {
            sqlx::query("UPDATE jobs SET status = 'superseded', finished_at = $1, last_error = $2, lease_until = NULL WHERE id = $3 AND worker = $4 AND status = 'running'")
                .bind(now)
                .bind(why)
                .bind(id)
                .bind(worker)
                .execute(pool)
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    async fn fail(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let _w = self.writer().await;
        let now = now_ms();
        on_pool!(self, pool, _pg => {
            let q = match retry_at {
                Some(at) => sqlx::query("UPDATE jobs SET status = 'queued', run_after = $1, last_error = $2, lease_until = NULL, worker = NULL WHERE id = $3 AND worker = $4 AND status = 'running'").bind(at),
                None => sqlx::query("UPDATE jobs SET status = 'failed', finished_at = $1, last_error = $2, lease_until = NULL WHERE id = $3 AND worker = $4 AND status = 'running'").bind(now),
            };
            q.bind(error).bind(id).bind(worker).execute(pool).await.map_err(err)?;
            Ok(())
        })
    }

    async fn postpone(
        &self,
        id: i64,
        worker: &str,
        why: &str,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        let _w = self.writer().await;
        on_pool!(self, pool, _pg => {
            sqlx::query("UPDATE jobs SET status = 'queued', run_after = $1, last_error = $2, lease_until = NULL, worker = NULL, attempts = attempts - 1 WHERE id = $3 AND worker = $4 AND status = 'running'")
                .bind(retry_at_ms)
                .bind(why)
                .bind(id)
                .bind(worker)
                .execute(pool)
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    async fn release(&self, worker: &str) -> Result<u64, StoreError> {
        let _w = self.writer().await;
        on_pool!(self, pool, _pg => {
            let n = sqlx::query("UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, attempts = attempts - 1 WHERE worker = $1 AND status = 'running'")
                .bind(worker)
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected();
            Ok(n)
        })
    }

    async fn depth(&self) -> Result<QueueDepth, StoreError> {
        on_pool!(self, pool, _pg => {
            let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetch_all(pool).await.map_err(err)?;
            let mut d = QueueDepth::default();
            for r in &rows {
                let n: i64 = r.try_get("n").map_err(err)?;
                match r.try_get::<String, _>("status").map_err(err)?.as_str() {
                    "queued" => d.queued = n as u64,
                    "running" => d.running = n as u64,
                    "done" => d.done = n as u64,
                    "failed" => d.failed = n as u64,
                    "superseded" => d.superseded = n as u64,
                    _ => {}
                }
            }
            Ok(d)
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool, _pg => {
            sqlx::query("SELECT 1").execute(pool).await.map_err(err)?;
            Ok(())
        })
    }

    async fn apply_installation(
        &self,
        delivery_id: &str,
        event: &str,
        c: &InstallationChange,
    ) -> Result<bool, StoreError> {
        let _w = self.writer().await;
        let now = now_ms();
        on_pool!(self, pool, pg => {
            let mut tx = if pg { pool.begin().await } else { pool.begin_with("BEGIN IMMEDIATE").await }.map_err(err)?;
            let fresh = sqlx::query("INSERT INTO deliveries (delivery_id, event, received_at) VALUES ($1, $2, $3) ON CONFLICT (delivery_id) DO NOTHING")
                .bind(delivery_id)
                .bind(event)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected()
                == 1;
            if !fresh {
                tx.rollback().await.map_err(err)?;
                return Ok(false);
            }
            let id = c.id as i64;
            if c.deleted {
                sqlx::query("DELETE FROM installation_repos WHERE installation_id = $1").bind(id).execute(&mut *tx).await.map_err(err)?;
                sqlx::query("DELETE FROM installations WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(err)?;
            } else {
                sqlx::query("INSERT INTO installations (id, account, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET account = excluded.account, updated_at = excluded.updated_at")
                    .bind(id)
                    .bind(&c.account)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                for r in &c.added {
                    sqlx::query("INSERT INTO installation_repos (installation_id, repo) VALUES ($1, $2) ON CONFLICT DO NOTHING").bind(id).bind(r).execute(&mut *tx).await.map_err(err)?;
                }
                for r in &c.removed {
                    sqlx::query("DELETE FROM installation_repos WHERE installation_id = $1 AND repo = $2").bind(id).bind(r).execute(&mut *tx).await.map_err(err)?;
                }
            }
            tx.commit().await.map_err(err)?;
            Ok(true)
        })
    }

    async fn installations(&self) -> Result<Vec<(u64, String, Vec<String>)>, StoreError> {
        on_pool!(self, pool, _pg => {
            let rows = sqlx::query("SELECT id, account FROM installations ORDER BY id").fetch_all(pool).await.map_err(err)?;
            let mut out = Vec::new();
            for r in &rows {
                let id: i64 = r.try_get("id").map_err(err)?;
                let repos = sqlx::query("SELECT repo FROM installation_repos WHERE installation_id = $1 ORDER BY repo").bind(id).fetch_all(pool).await.map_err(err)?;
                out.push((id as u64, r.try_get::<String, _>("account").map_err(err)?, repos.iter().filter_map(|x| x.try_get::<String, _>("repo").ok()).collect()));
            }
            Ok(out)
        })
    }
}
