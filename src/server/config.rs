//! `serve`'s configuration: the flags (`ServeArgs`, each also a `CACHEBUST_*` variable), the
//! secrets that come from the environment or files only, and what is resolved from them before
//! the server starts (webhook secrets, GitHub credentials, the database URL, each worker's
//! settings). No error here echoes a secret.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};

use crate::adapters::github::forge::AppAuth;
use crate::app::publish::PublishOptions;
use crate::app::worker::WorkerConfig;

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
pub(super) fn secrets_from_env(a: &mut ServeArgs) {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    a.webhook_secret = var("CACHEBUST_WEBHOOK_SECRET")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    a.private_key = var("CACHEBUST_PRIVATE_KEY");
    a.github_token = var("CACHEBUST_GITHUB_TOKEN");
}

/// The webhook secrets: CACHEBUST_WEBHOOK_SECRET's and --webhook-secret-file's, at least one.
pub(super) fn webhook_secrets(a: &ServeArgs) -> Result<Vec<String>> {
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
    Ok(secrets)
}

/// How the server authenticates to GitHub: a token, or the App's id and checked private key.
pub(super) fn auth(a: &ServeArgs) -> Result<AppAuth> {
    match (&a.github_token, a.app_id) {
        (Some(t), _) => Ok(AppAuth::Token(t.clone())),
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
            Ok(AppAuth::App { id, pem })
        }
        (None, None) => Err(anyhow!(
            "GitHub credentials are required: --app-id with a private key, or CACHEBUST_GITHUB_TOKEN"
        )),
    }
}

/// --database, with the password of --database-password-file when one is given.
pub(super) fn database_url(a: &ServeArgs) -> Result<String> {
    match &a.database_password_file {
        None => Ok(a.database.clone()),
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("--database-password-file {}", f.display()))?;
            with_password(&a.database, &text)
                .map_err(|e| anyhow!("--database-password-file {}: {e}", f.display()))
        }
    }
}

/// The time a client has for a request's headers, and again for its body.
pub(super) fn read_timeout(a: &ServeArgs) -> Duration {
    Duration::from_secs_f64(a.read_timeout_seconds.clamp(0.1, 3600.0))
}

/// What the workers share besides the flags: their analysis slots and process isolation.
pub(super) struct Shared {
    pub analysis_slots: Arc<tokio::sync::Semaphore>,
    pub isolation: Option<Arc<dyn crate::ports::Isolation>>,
}

/// Worker `name`'s settings from the flags.
pub(super) fn worker_config(a: &ServeArgs, name: String, shared: &Shared) -> WorkerConfig {
    let settle = settle(a);
    WorkerConfig {
        name,
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
        analysis_slots: shared.analysis_slots.clone(),
        isolation: shared.isolation.clone(),
        api_calls: a.api_calls_per_pr.max(1),
        settle,
        ci: crate::app::ci::CiOptions {
            enabled: a.build_records,
            workflow: a.build_records_workflow.clone(),
            base_runs: a.build_records_base_runs.min(crate::app::ci::MAX_BASE_RUNS),
            max_bytes: a.build_records_max_mb.max(1).saturating_mul(1024 * 1024),
            ..crate::app::ci::CiOptions::default()
        },
    }
}

fn settle(a: &ServeArgs) -> Duration {
    Duration::from_secs_f64(a.settle_seconds.clamp(0.0, 86_400.0))
}

/// This process's name in the queue: unique even where hostname and pid repeat (containers
/// restarted as pid 1); its workers are `<instance>/<n>`.
pub(super) fn instance_name() -> String {
    crate::adapters::store::clean_instance(&format!(
        "{}-{}-{:x}",
        hostname(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            & 0xffff_ffff
    ))
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
