//! The small traits the use-cases need from the outside world. `RepoSource` gives the two trees
//! of a change (a directory, a git revision, or later the GitHub API): file names, file
//! contents, partial listings and the change set. Implementations live in `adapters`.

use crate::engine::FileText;
use crate::engine::tree::{ChangeSet, Entry, Listing, Side};

/// Errors a caller can branch on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A revision, directory or repository that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Reading failed (I/O, git, network).
    #[error("{0}")]
    Io(String),
    /// A tree past the limits of one walk (`engine::budget::TREE`: entries, depth, bytes of path
    /// names): the analysis is refused, and trying again would not help.
    #[error("{0}")]
    TooLarge(String),
    /// Reading was refused: the pull request used up what may be read for it (the calls to the
    /// code host); the analysis stops and the pull request is told why.
    #[error("{0}")]
    Refused(String),
}

/// A listing request answered: the requested path, whether recursive, and the entries found.
pub type Listed = (String, bool, Vec<(String, Entry)>);

#[allow(async_fn_in_trait)]
pub trait RepoSource {
    /// How the side is named in reports (`main`, `./head`, a commit id).
    fn label(&self, side: Side) -> String;

    /// Paths that differ between base and head.
    async fn changes(&self) -> Result<ChangeSet, SourceError>;

    /// Paths of one side whose names look like Dockerfiles or compose files
    /// (`engine::discover`), outside the directories discovery skips.
    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError>;

    /// Names of the immediate children of a directory (empty if it is not one).
    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError>;

    /// Contents of files (None where a path is not a file on that side).
    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError>;

    /// Entries at paths (`recursive`: the whole subtree; otherwise the path itself).
    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError>;

    /// Complete listings of both sides when the source already holds them (directories).
    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        None
    }

    /// The versions of a file over the `limit` first-parent commits ending at the base
    /// revision (`None`: the source has no history, as a directory or a shallow checkout).
    async fn file_history(
        &self,
        _path: &str,
        _limit: usize,
    ) -> Result<Option<crate::engine::volatility::FileHistory>, SourceError> {
        Ok(None)
    }
}

/// A commit of a first-parent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub commit: String,
    /// First parent (None for a root commit).
    pub parent: Option<String>,
    pub subject: String,
}

/// Which commits a history covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistorySpan {
    /// `A..B`.
    Range(String),
    /// The last N first-parent commits of HEAD.
    Last(usize),
}

/// A repository whose history can be replayed commit by commit.
#[allow(async_fn_in_trait)]
pub trait History {
    type Pair: RepoSource;

    /// First-parent commits, oldest first.
    async fn first_parent(&self, span: &HistorySpan) -> Result<Vec<CommitInfo>, SourceError>;

    /// The change from `parent` to `commit`.
    fn pair(&self, parent: &str, commit: &str) -> Result<Self::Pair, SourceError>;
}

/// A pull request on a code host: where it lives and which commits it compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
    pub head_sha: String,
    pub base_sha: String,
}

pub use crate::engine::pull::PullFile;

/// The changed files of a pull request; `truncated` when the host's limit (3,000) was reached.
#[derive(Debug, Clone, Default)]
pub struct PullFiles {
    pub files: Vec<PullFile>,
    pub truncated: bool,
}

/// A comment or review already on the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Posted {
    pub id: u64,
    pub body: String,
    pub author: String,
    /// `Bot`, `User`, `Organization`.
    pub author_type: String,
    /// Review comments: the file and the comment it answers.
    pub path: Option<String>,
    pub in_reply_to: Option<u64>,
}

/// A line comment of a new review (RIGHT side; `start_line` only when it precedes `line`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub path: String,
    pub line: u32,
    pub start_line: Option<u32>,
    pub body: String,
}

/// A review to create (`event: COMMENT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub commit_id: String,
    pub body: String,
    pub comments: Vec<NewComment>,
}

/// A check-run annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// `notice`, `warning` or `failure`.
    pub level: String,
    pub title: String,
    pub message: String,
}

/// A check run's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub name: String,
    pub head_sha: String,
    /// What made this run (the server's delivery id): a job run again after a crash finds and
    /// finishes its own run, while a re-run someone requested gets a new one, as GitHub expects.
    pub external_id: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// With `completed`: `success`, `neutral`, `failure`, …
    pub conclusion: Option<String>,
    pub title: String,
    pub summary: String,
    pub annotations: Vec<Annotation>,
}

/// A check run found on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingCheckRun {
    pub id: u64,
    /// Annotations it already holds (GitHub appends the annotations of every update).
    pub annotations: usize,
}

/// Why a call to the code host failed, in the terms callers branch on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// 401/403 without rate limiting: the token may not do this (a fork's read-only token).
    #[error("GitHub refused the request ({status}): {message}")]
    Forbidden { status: u16, message: String },
    /// Rate limited (primary or secondary); `retry_after` in seconds when the host said (the
    /// GitHub adapter keeps it within a second and an hour, whatever the header says).
    #[error("GitHub rate limit: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<u64>,
    },
    /// 422 (or another 4xx: 406, 409, 410, …): the request was understood and refused (a line
    /// outside the diff, a body too long, a media type GitHub does not serve).
    #[error("GitHub rejected the request ({status}): {message}{}", if errors.is_empty() { String::new() } else { format!(" ({})", errors.join("; ")) })]
    Invalid {
        status: u16,
        message: String,
        errors: Vec<String>,
    },
    #[error("not found on GitHub: {0}")]
    NotFound(String),
    /// 5xx or an answer that could not be read: the call may or may not have taken effect.
    #[error("GitHub server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// No answer (connection, timeout): the call may or may not have taken effect.
    #[error("cannot reach GitHub: {0}")]
    Transport(String),
    /// A POST whose answer was lost (5xx, no answer), and what it would have created is not on
    /// the pull request, though GitHub may still store it: the caller waits before posting again.
    #[error("{0}")]
    Unsettled(String),
    /// Nothing more may be posted: the job is no longer current (a newer head, another worker).
    #[error("not posted: {0}")]
    Stale(String),
    /// The calls allowed for reading one pull request are used up.
    #[error("{0}")]
    OverBudget(String),
}

impl HostError {
    /// Whether a retry of the same call may succeed (a POST must first check it did not land).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HostError::Server { .. }
                | HostError::Transport(_)
                | HostError::RateLimited { .. }
                | HostError::Unsettled(_)
        )
    }
}

/// A pull request as the host has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullState {
    pub head_sha: String,
    pub base_sha: String,
    /// The base branch (`base.ref`), when the host said.
    pub base_ref: Option<String>,
}

/// What the review delivery needs from a code host (GitHub: `adapters::github`).
#[allow(async_fn_in_trait)]
pub trait CodeHost {
    /// The pull request's current head and base (not those of the event that named it).
    async fn pull_request(&self, pr: &PullRef) -> Result<PullState, HostError>;
    async fn pull_files(&self, pr: &PullRef) -> Result<PullFiles, HostError>;
    async fn reviews(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError>;
    async fn review_comments(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError>;
    async fn issue_comments(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError>;
    /// Create a review; returns its id. Never retried by the adapter.
    async fn create_review(&self, pr: &PullRef, review: &NewReview) -> Result<u64, HostError>;
    async fn update_review(
        &self,
        pr: &PullRef,
        review_id: u64,
        body: &str,
    ) -> Result<(), HostError>;
    async fn delete_review_comment(&self, pr: &PullRef, comment_id: u64) -> Result<(), HostError>;
    /// Create an issue comment; returns its id. Never retried by the adapter.
    async fn create_issue_comment(&self, pr: &PullRef, body: &str) -> Result<u64, HostError>;
    async fn update_issue_comment(
        &self,
        pr: &PullRef,
        comment_id: u64,
        body: &str,
    ) -> Result<(), HostError>;
    async fn delete_issue_comment(&self, pr: &PullRef, comment_id: u64) -> Result<(), HostError>;
    /// Create a check run (at most 50 annotations; more go through `update_check_run`).
    async fn create_check_run(&self, pr: &PullRef, run: &CheckRun) -> Result<u64, HostError>;
    async fn update_check_run(
        &self,
        pr: &PullRef,
        id: u64,
        run: &CheckRun,
    ) -> Result<(), HostError>;
    /// Our check run of this name and external id on the head commit, if one exists.
    async fn find_check_run(
        &self,
        pr: &PullRef,
        name: &str,
        external_id: &str,
    ) -> Result<Option<ExistingCheckRun>, HostError>;
}

/// A unit of work for the server: analyse one head of one pull request and deliver the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub delivery_id: String,
    /// `pull_request` or `rerun` (a check run re-requested).
    pub kind: String,
    /// `owner/name`.
    pub repo: String,
    pub pr_number: u64,
    pub head_sha: String,
    pub base_sha: String,
    pub installation_id: u64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub job: NewJob,
    /// Attempts including this one.
    pub attempts: u32,
    /// When it was enqueued (unix milliseconds).
    pub created_at: i64,
}

/// What enqueueing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued {
        id: i64,
        superseded: u64,
    },
    /// The same `X-GitHub-Delivery` was seen before (a redelivery).
    DuplicateDelivery,
    /// A job for the same pull request and head is queued, running or done.
    AlreadyQueued {
        id: i64,
    },
}

/// Job counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub superseded: u64,
}

/// Why the queue failed an operation. Every variant reads `job store: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused a statement, or cannot be reached.
    #[error("job store: {0}")]
    Database(String),
    /// The schema could not be brought to this version (e.g. a newer cachebust's database).
    #[error("job store: migrating the schema: {0}")]
    Migration(String),
    /// This build cannot open such a database.
    #[error("job store: this build has no PostgreSQL support (build with the `postgres` feature)")]
    NoPostgres,
    /// The instance name is held by a live instance (the sentence names it).
    #[error("job store: {0}")]
    InstanceInUse(String),
    /// This instance's liveness lock could not be taken or kept.
    #[error("job store: {0}")]
    Liveness(String),
    /// The group commit failed inside this process (its writer stopped, a panic, a miscount).
    #[error("job store: {0}")]
    Writer(String),
}

/// The server's durable queue (SQLite or PostgreSQL: `adapters::store`).
#[allow(async_fn_in_trait)]
pub trait JobStore {
    /// Record the delivery and queue its job in one transaction: a repeated delivery id is a
    /// duplicate; queued or running jobs of the same pull request for another head are
    /// superseded; a job for the same head is not queued twice unless `force` (a re-run).
    async fn enqueue(&self, job: &NewJob, force: bool) -> Result<Enqueued, StoreError>;
    /// Record an installation delivery and apply its change in one transaction: `false` (and
    /// nothing changed) when the delivery was seen before.
    async fn apply_installation(
        &self,
        delivery_id: &str,
        event: &str,
        change: &InstallationChange,
    ) -> Result<bool, StoreError>;
    /// Claim the oldest ready job (queued and due, or running with an expired lease).
    async fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Job>, StoreError>;
    /// Whether the job is still ours and not superseded.
    async fn still_current(&self, id: i64, worker: &str) -> Result<bool, StoreError>;
    /// Keep a job claimed until `until_ms` (the worker's heartbeat while it works on it);
    /// `false` when the job is no longer ours.
    async fn extend_lease(&self, id: i64, worker: &str, until_ms: i64) -> Result<bool, StoreError>;
    async fn complete(&self, id: i64, worker: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// The job is not worth finishing (its head is no longer the pull request's): superseded,
    /// with `why` kept. Nothing happens to a job the worker no longer holds.
    async fn supersede(
        &self,
        id: i64,
        worker: &str,
        why: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// A failed attempt: queued again at `retry_at_ms`, or failed for good when `None`.
    async fn fail(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Queue a job again at `retry_at_ms` without counting the attempt (a rate limit: waiting
    /// for GitHub's reset is not a failure).
    async fn postpone(
        &self,
        id: i64,
        worker: &str,
        why: &str,
        retry_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// Give back the jobs a worker holds (shutdown).
    async fn release(&self, worker: &str) -> Result<u64, StoreError>;
    async fn depth(&self) -> Result<QueueDepth, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn installations(&self) -> Result<Vec<(u64, String, Vec<String>)>, StoreError>;
}

/// What an `installation` / `installation_repositories` delivery changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationChange {
    pub id: u64,
    pub account: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The App was uninstalled: forget the installation and its repositories.
    pub deleted: bool,
}

/// A workflow run (GitHub Actions), as far as finding its build records goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: u64,
    pub head_sha: String,
    pub head_branch: Option<String>,
    /// `success`, `failure`, … (`None` while it runs).
    pub conclusion: Option<String>,
}

/// An artifact of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactInfo {
    pub id: u64,
    pub name: String,
    /// Bytes of the archive, as the host lists it.
    pub size: u64,
    /// Past its retention: its files are gone.
    pub expired: bool,
}

/// Which runs to list: of one workflow (its file name or id) or of every workflow, on a
/// branch, for a commit, only pushes, only successful ones; at most `limit`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub workflow: Option<String>,
    pub branch: Option<String>,
    pub head_sha: Option<String>,
    pub push_only: bool,
    pub success_only: bool,
    pub limit: usize,
}

/// Why an artifact's build records could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Past its retention (`expired: true`, or 410 Gone on download).
    #[error("expired")]
    Expired,
    /// Listed, but its download is not there (404).
    #[error("not found")]
    Missing,
    /// Larger than the limit (listed size, announced length, or bytes read/unpacked).
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// Not a zip holding a build record archive, or a record that cannot be read.
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Host(#[from] HostError),
}

/// The build records CI uploaded as workflow artifacts (GitHub: `adapters::github::artifacts`).
#[allow(async_fn_in_trait)]
pub trait Artifacts {
    /// Runs matching `q`, newest first.
    async fn runs(&self, owner: &str, repo: &str, q: &RunQuery) -> Result<Vec<RunInfo>, HostError>;
    /// The artifacts of one run (at most 100).
    async fn run_artifacts(
        &self,
        owner: &str,
        repo: &str,
        run: u64,
    ) -> Result<Vec<ArtifactInfo>, HostError>;
    /// Download one artifact (at most `max_bytes`, compressed and unpacked) and read the build
    /// records it holds.
    async fn artifact_records(
        &self,
        owner: &str,
        repo: &str,
        artifact: &ArtifactInfo,
        max_bytes: u64,
    ) -> Result<Vec<crate::engine::buildrecord::Record>, ArtifactError>;
}

/// Where the server's jobs read pull requests and post reviews: a client per installation
/// and the pull request's two trees.
#[allow(async_fn_in_trait)]
pub trait Forge {
    type Host: CodeHost + Artifacts;
    /// Moved to the analysis thread (off the async runtime).
    type Trees: RepoSource + Send + 'static;
    /// A client for one installation.
    async fn connect(&self, installation: u64) -> Result<Self::Host, HostError>;
    /// The login our comments are posted by (`<app-slug>[bot]`): only comments by it are ours
    /// to find, edit or delete.
    async fn identity(&self) -> Result<String, HostError>;
    /// A client for reading one pull request that makes at most `calls` calls; past them a call
    /// fails with `HostError::OverBudget` (publishing uses the client `connect` gave).
    fn reader(&self, host: &Self::Host, calls: u64) -> Self::Host;
    /// The pull request's two trees (base = the merge base) and notes about them.
    async fn trees(
        &self,
        host: &Self::Host,
        pr: &PullRef,
        files: &PullFiles,
    ) -> Result<(Self::Trees, Vec<String>), HostError>;
}

/// A process of its own for one analysis (the server's: a pull request that crashes or exhausts
/// it takes only that process down). The use-case speaks `app::isolate`'s protocol over the
/// process's input and output.
pub trait Isolation: Send + Sync + std::fmt::Debug {
    /// Start a fresh process.
    fn start(&self) -> Result<Isolated, IsolationError>;
    /// The heap the process may use, in bytes (named when it ran out).
    fn memory_limit(&self) -> u64;
}

/// Why an analysis process did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    /// The executable to run could not be found.
    #[error("finding this executable: {0}")]
    Executable(String),
    /// The process could not be spawned (the sentence names the executable and the cause).
    #[error("{0}")]
    Spawn(String),
    /// It started without the pipes it is spoken to over.
    #[error("the process's pipes are missing")]
    Pipes,
}

/// A started analysis process.
pub struct Isolated {
    pub input: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    pub output: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    /// Resolves once the process has ended. Dropping it kills the process.
    pub ended: std::pin::Pin<Box<dyn std::future::Future<Output = Ended> + Send>>,
}

/// How an analysis process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `exit status 0`, `signal 6 (SIGABRT)`, …
    pub status: String,
    /// The last few KiB it wrote to its standard error.
    pub stderr: String,
}

/// The wall clock of the queue (leases, retry times, latencies), in milliseconds since the Unix
/// epoch. The worker reads time only through it, so tests move time instead of waiting.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A GitHub event cachebust handles, typed: a webhook delivery of the server or the event an
/// Action run was started by. `adapters::github::event::parse` reads it once from the event name
/// and the payload bytes; the use-cases match on it and never read JSON themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubEvent {
    Ping,
    /// `pull_request`, or `pull_request_target` (an Actions trigger only).
    PullRequest(PullRequestEvent),
    /// `check_run` or `check_suite`.
    Check(CheckEvent),
    /// `installation` or `installation_repositories`.
    Installation(InstallationEvent),
    Push(PushEvent),
    /// Any other event, by name (its payload is JSON, otherwise unread).
    Other(String),
}

impl GitHubEvent {
    /// The event's name (`X-GitHub-Event`, `GITHUB_EVENT_NAME`).
    pub fn name(&self) -> &str {
        match self {
            GitHubEvent::Ping => "ping",
            GitHubEvent::PullRequest(p) if p.target => "pull_request_target",
            GitHubEvent::PullRequest(_) => "pull_request",
            GitHubEvent::Check(c) if c.suite => "check_suite",
            GitHubEvent::Check(_) => "check_run",
            GitHubEvent::Installation(i) if i.repositories => "installation_repositories",
            GitHubEvent::Installation(_) => "installation",
            GitHubEvent::Push(_) => "push",
            GitHubEvent::Other(name) => name,
        }
    }
}

/// A pull request event (any action: the consumer decides which it acts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// `pull_request_target`.
    pub target: bool,
    /// `opened`, `synchronize`, … (empty when the payload has none).
    pub action: String,
    pub number: u64,
    pub draft: bool,
    pub head_sha: String,
    pub base_sha: String,
    /// `owner/name` of the head repository (`None` when the fork was deleted).
    pub head_repo: Option<String>,
    pub base_repo: Option<String>,
    /// The repository the event is for (`repository.full_name`).
    pub repository: Option<String>,
    /// The App installation that received it (webhook deliveries only).
    pub installation: Option<u64>,
}

/// A check run or check suite event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEvent {
    /// `check_suite` (else `check_run`).
    pub suite: bool,
    pub action: String,
    /// The check run's name (`None` for a suite).
    pub name: Option<String>,
    /// The App the run or suite belongs to.
    pub app_id: Option<u64>,
    pub head_sha: String,
    pub pull_requests: Vec<CheckPull>,
    pub repository: Option<String>,
    pub installation: Option<u64>,
}

/// A pull request a check run or suite belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPull {
    pub number: u64,
    /// Empty when the payload has none.
    pub base_sha: String,
}

/// An installation event: the App installed, removed, or its repositories changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationEvent {
    /// `installation_repositories` (else `installation`).
    pub repositories: bool,
    pub action: String,
    pub id: u64,
    /// The account's login (empty when the payload has none).
    pub account: String,
    /// `installation`: its repositories; `installation_repositories`: those added.
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A push: `before..after` (`before` is all zeros for a new branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    pub before: String,
    pub after: String,
}
