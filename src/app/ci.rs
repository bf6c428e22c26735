//! The build records CI uploaded, for a review: the pull request's own build (the run the
//! Action runs in, or the latest run of a named workflow for the head commit, or with neither
//! the newest run for the head commit that uploaded one) to compare the prediction with, and the
//! latest builds of the base branch (pushes that succeeded, a few runs) to price the steps.
//! Nothing here fails the review: a run without a record, an expired, missing, huge or
//! unreadable artifact, or an API error becomes one note (made in `render::ci`) and the
//! prediction stands on the model. The records of the head come from the pull request's own
//! workflow, so they are compared with, never used for costs (a pull request could upload a
//! record of near-zero durations to get past `fail_on`).

use crate::engine::CiRecords;
use crate::engine::verify::RealBuild;
use crate::ports::{ArtifactError, ArtifactInfo, Artifacts, HostError, RunQuery};
use crate::render::ci::{self as words, Unusable};

/// Largest artifact read by default (compressed and unpacked).
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Base-branch runs read by default.
pub const DEFAULT_BASE_RUNS: usize = 3;
/// Most base-branch runs read, whatever is configured.
pub const MAX_BASE_RUNS: usize = 20;
/// Runs for the head commit looked through when no run or workflow is named.
const HEAD_RUNS: usize = 5;
/// Build record artifacts read from one run.
const RECORDS_PER_RUN: usize = 10;
/// Real builds kept for the head and for the base branch (an archive may hold many records).
const MAX_BUILDS: usize = 50;

/// Where to look for build records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiOptions {
    pub enabled: bool,
    /// The run that built the head (the Action's own `GITHUB_RUN_ID`).
    pub head_run: Option<u64>,
    /// The workflow (file name or id) whose runs build the images: its latest run for the
    /// head commit, and its runs on the base branch. Named, it wins over `head_run`.
    pub workflow: Option<String>,
    /// The workflow whose runs on the base branch price the steps, when it is not `workflow`
    /// (the Action: its own).
    pub base_workflow: Option<String>,
    /// Runs of the base branch read for costs (0: none).
    pub base_runs: usize,
    /// Largest artifact read, compressed and unpacked.
    pub max_bytes: u64,
}

impl Default for CiOptions {
    /// Off (tests and callers that did not ask); `CiOptions::on()` is what the shells use.
    fn default() -> Self {
        CiOptions {
            enabled: false,
            head_run: None,
            workflow: None,
            base_workflow: None,
            base_runs: DEFAULT_BASE_RUNS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl CiOptions {
    pub fn on() -> CiOptions {
        CiOptions {
            enabled: true,
            ..CiOptions::default()
        }
    }
}

/// The records found and the notes about them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub records: CiRecords,
    pub notes: Vec<String>,
}

fn unusable(e: ArtifactError) -> Unusable {
    match e {
        ArtifactError::Expired => Unusable::Expired,
        ArtifactError::Missing => Unusable::Missing,
        ArtifactError::TooLarge { limit } => Unusable::TooLarge { limit },
        ArtifactError::Unreadable(m) => Unusable::Unreadable(m),
        ArtifactError::Host(e) => Unusable::Failed(e.to_string()),
    }
}

/// Whether a listing error means the runs are not ours to read (a token without `actions:
/// read`, Actions switched off): nothing to say on every pull request, the model prices.
fn not_readable(e: &HostError) -> bool {
    matches!(e, HostError::Forbidden { .. } | HostError::NotFound(_))
}

/// A run's build record artifacts (named `*.dockerbuild`, as the Docker actions name them).
async fn record_artifacts<A: Artifacts>(
    host: &A,
    owner: &str,
    repo: &str,
    run: u64,
) -> Result<Vec<ArtifactInfo>, crate::ports::HostError> {
    Ok(host
        .run_artifacts(owner, repo, run)
        .await?
        .into_iter()
        .filter(|a| crate::engine::buildrecord::is_record_name(&a.name))
        .take(RECORDS_PER_RUN)
        .collect())
}

/// The records of one run's artifacts as real builds, and the first artifact that could not be
/// used with why.
async fn run_records<A: Artifacts>(
    host: &A,
    owner: &str,
    repo: &str,
    run: u64,
    artifacts: &[ArtifactInfo],
    opts: &CiOptions,
    head: bool,
) -> (Vec<RealBuild>, Vec<(String, Unusable)>) {
    let mut builds = Vec::new();
    let mut bad = Vec::new();
    for a in artifacts {
        match host.artifact_records(owner, repo, a, opts.max_bytes).await {
            Ok(records) => {
                for r in records {
                    let mut b = RealBuild::from_record(&words::record_name(&a.name, run), r);
                    if head {
                        b.source = crate::engine::report::RealSource::CiRecord;
                    }
                    builds.push(b);
                }
            }
            Err(e) => bad.push((a.name.clone(), unusable(e))),
        }
    }
    (builds, bad)
}

/// Fetch the build records of the head (`head_sha`) and of the base branch (`base_branch`).
pub async fn collect<A: Artifacts>(
    host: &A,
    owner: &str,
    repo: &str,
    head_sha: &str,
    base_branch: Option<&str>,
    opts: &CiOptions,
) -> Fetched {
    let mut out = Fetched::default();
    if !opts.enabled {
        return out;
    }
    // the head: the named workflow's latest run for the commit, this run, or the newest run
    // for the commit that uploaded a record
    let runs: Result<Vec<u64>, HostError> = match (&opts.workflow, opts.head_run) {
        (Some(w), _) => host
            .runs(
                owner,
                repo,
                &RunQuery {
                    workflow: Some(w.clone()),
                    head_sha: Some(head_sha.to_string()),
                    limit: 1,
                    ..RunQuery::default()
                },
            )
            .await
            .map(|r| r.into_iter().map(|r| r.id).collect()),
        (None, Some(id)) => Ok(vec![id]),
        (None, None) => host
            .runs(
                owner,
                repo,
                &RunQuery {
                    head_sha: Some(head_sha.to_string()),
                    limit: HEAD_RUNS,
                    ..RunQuery::default()
                },
            )
            .await
            .map(|r| r.into_iter().map(|r| r.id).collect()),
    };
    let named = opts.workflow.is_some();
    match runs {
        Err(e) if not_readable(&e) => return out,
        Err(e) => out
            .notes
            .push(words::listing_failed("the head", &e.to_string())),
        Ok(runs) if runs.is_empty() && named => out.notes.push(words::no_head_run(
            opts.workflow.as_deref().unwrap_or_default(),
            head_sha,
        )),
        Ok(runs) => {
            for run in runs {
                let artifacts = match record_artifacts(host, owner, repo, run).await {
                    Ok(a) => a,
                    Err(e) if not_readable(&e) => return out,
                    Err(e) => {
                        out.notes
                            .push(words::listing_failed(&format!("run {run}"), &e.to_string()));
                        break;
                    }
                };
                if artifacts.is_empty() {
                    // a run named for the purpose that uploaded none is worth a line; this run
                    // or any run of the commit without one is a workflow that builds no image
                    if named {
                        out.notes.push(words::head_run_without_record(run));
                    }
                    continue;
                }
                let (builds, bad) =
                    run_records(host, owner, repo, run, &artifacts, opts, true).await;
                if let Some((name, u)) = bad.first() {
                    out.notes.push(words::head_record_unusable(name, run, u));
                }
                out.records.head = builds.into_iter().take(MAX_BUILDS).collect();
                break;
            }
        }
    }
    // the base branch: its latest successful pushes, for costs
    let Some(branch) = base_branch.filter(|_| opts.base_runs > 0) else {
        return out;
    };
    let runs = host
        .runs(
            owner,
            repo,
            &RunQuery {
                workflow: opts.base_workflow.clone().or_else(|| opts.workflow.clone()),
                branch: Some(branch.to_string()),
                push_only: true,
                success_only: true,
                limit: opts.base_runs.min(MAX_BASE_RUNS),
                ..RunQuery::default()
            },
        )
        .await;
    let runs = match runs {
        Ok(r) => r,
        Err(e) if not_readable(&e) => return out,
        Err(e) => {
            out.notes.push(words::listing_failed(
                &format!("`{branch}`"),
                &e.to_string(),
            ));
            return out;
        }
    };
    let mut used_runs = Vec::new();
    let mut unusable_first: Option<(String, u64, Unusable)> = None;
    let mut unusable_count = 0;
    for run in runs
        .iter()
        .filter(|r| r.head_branch.as_deref().is_none_or(|b| b == branch))
    {
        let artifacts = match record_artifacts(host, owner, repo, run.id).await {
            Ok(a) => a,
            Err(e) if not_readable(&e) => break,
            Err(e) => {
                out.notes.push(words::listing_failed(
                    &format!("`{branch}`"),
                    &e.to_string(),
                ));
                break;
            }
        };
        let (builds, bad) = run_records(host, owner, repo, run.id, &artifacts, opts, false).await;
        unusable_count += bad.len();
        if unusable_first.is_none() {
            unusable_first = bad.into_iter().next().map(|(n, u)| (n, run.id, u));
        }
        if !builds.is_empty() {
            used_runs.push(run.id);
        }
        let room = MAX_BUILDS.saturating_sub(out.records.base.len());
        out.records.base.extend(builds.into_iter().take(room));
    }
    if let Some((name, run, u)) = unusable_first {
        out.notes.push(words::base_records_unusable(
            branch,
            unusable_count,
            &name,
            run,
            &u,
        ));
    }
    if !out.records.base.is_empty() {
        out.notes.push(words::base_costs(
            branch,
            out.records.base.len(),
            &used_runs,
        ));
    }
    out
}
