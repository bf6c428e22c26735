//! `cachebust action`: the GitHub Action shell. It reads the Actions environment
//! (`GITHUB_EVENT_PATH`, `GITHUB_EVENT_NAME`, `GITHUB_REPOSITORY`, `GITHUB_API_URL`,
//! `GITHUB_WORKSPACE`, `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`) and the inputs (`INPUT_<NAME>`),
//! picks the two commits from the event, reads them from the checkout's git objects (or through
//! the API when the checkout is shallow), runs the analysis, writes the job summary and the
//! outputs, and delivers the review: `app::review` with the steps of an Action run; every line it
//! prints is made in `render::action`. The token is never printed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::adapters::git::GitRepo;
use crate::adapters::github::event;
use crate::adapters::github::tree::ApiTrees;
use crate::adapters::github::{GitHub, Recorded};
use crate::adapters::local::{LocalRepo, Spec};
use crate::app::analyze::AnalyzeOptions;
use crate::app::publish::{Mode, PublishOptions};
use crate::app::review::{
    Analysed, ConfigChoice, Next, Outcome, Refused, ReviewOptions, ReviewSteps, Reviewed,
    analyze_here, review,
};
use crate::engine::EngineKind;
use crate::engine::gate::{FailOn, parse_fail_on};
use crate::engine::report::Report;
use crate::ports::{
    CodeHost, GitHubEvent, PullFile, PullRef, PullRequestEvent, PushEvent, RepoSource,
};
use crate::render;
use crate::render::action::NotPosted;
use crate::render::review::{self, PlanOptions};
use crate::shell::Exit;

pub const ACTION_ABOUT: &str = "\
Run as a GitHub Action step (action.yml runs this). Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH,
GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_WORKSPACE, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT and the
inputs INPUT_GITHUB_TOKEN, INPUT_BOT_LOGIN (who the token posts as, default github-actions[bot]),
INPUT_DOCKERFILES, INPUT_CONTEXT, INPUT_BUILD_ARGS, INPUT_TARGET, INPUT_TIMINGS, INPUT_CONFIG,
INPUT_ENGINE, INPUT_MODE (review, comment, summary), INPUT_MAX_INLINE_COMMENTS (default 30),
INPUT_FAIL_ON, and for build records INPUT_BUILD_RECORDS (default true),
INPUT_BUILD_RECORDS_WORKFLOW, INPUT_BUILD_RECORDS_BASE_RUNS (default 3) and
INPUT_BUILD_RECORDS_MAX_MB (default 64), with GITHUB_RUN_ID, GITHUB_BASE_REF and
GITHUB_WORKFLOW_REF.

pull_request and pull_request_target: the merge base and the head of the pull request are
analysed; with mode review, one review carries the inline suggestions on lines of the diff, and one
summary comment (edited in place on later runs) the prediction. push: before..after; other events:
the commit and its parent; these only write the job summary. The job summary is written in every
case, before anything is posted. A token that may not post (fork pull requests) makes the findings
workflow-command annotations instead. An analysis that fails is said in the job summary and in the
summary comment (what was refused and why).

Build records (pull requests; `actions: read`): the `.dockerbuild` artifacts
docker/build-push-action and bake-action upload. Those of this run (or of the latest run of
INPUT_BUILD_RECORDS_WORKFLOW for the head commit) are compared with the prediction: \"predicted vs.
what CI did\" per build. Those of the last INPUT_BUILD_RECORDS_BASE_RUNS successful pushes to the
base branch (of that workflow, else of this one) price the steps: each step's median, with the
number of samples and their spread; the model prices the rest. A missing, expired or huge artifact
is one line in the summary.

Exit status: 0 done, 1 INPUT_FAIL_ON exceeded, 2 bad input, an analysis that failed, or a delivery
that failed.";

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// Print the requests that would change the pull request instead of sending them (reads
    /// still go to the API).
    #[arg(long)]
    pub dry_run: bool,
}

/// Everything the Action reads from its environment.
#[derive(Debug, Clone)]
pub struct ActionEnv {
    pub event_name: String,
    pub event_path: Option<PathBuf>,
    pub repository: String,
    pub api_url: String,
    pub server_url: Option<String>,
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`: with the run id, this run's nonce in what it posts.
    pub run_attempt: Option<String>,
    pub sha: Option<String>,
    /// The repository and ref of the running Action (`GITHUB_ACTION_REPOSITORY`, `GITHUB_ACTION_REF`).
    pub action_repository: Option<String>,
    pub action_ref: Option<String>,
    pub workspace: PathBuf,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub runner_temp: Option<PathBuf>,
    pub token: Option<String>,
    /// The login the token posts as (`input bot_login`, default `github-actions[bot]`): only its
    /// comments are ours to edit or delete.
    pub bot_login: String,
    pub dockerfiles: Vec<String>,
    pub context: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub timings: Vec<String>,
    pub config: Option<String>,
    pub engine: EngineKind,
    pub mode: Mode,
    pub max_inline: usize,
    pub fail_on: Option<FailOn>,
    /// Build records: where to look (`app::ci`).
    pub ci: crate::app::ci::CiOptions,
    /// `GITHUB_BASE_REF`: the pull request's base branch.
    pub base_ref: Option<String>,
}

/// The workflow file of `GITHUB_WORKFLOW_REF` (`owner/repo/.github/workflows/ci.yml@refs/…`).
fn workflow_file(workflow_ref: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let file = path.rsplit('/').next()?;
    (path.contains("/.github/workflows/") && !file.is_empty()).then(|| file.to_string())
}

/// Who `GITHUB_TOKEN` posts as.
pub const GITHUB_ACTIONS_BOT: &str = "github-actions[bot]";

/// An input: `INPUT_<NAME>` with spaces as `_`, upper-cased; the `-` spelling is read too.
fn input(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    std::env::var(format!("INPUT_{upper}"))
        .ok()
        .or_else(|| std::env::var(format!("INPUT_{}", upper.replace('_', "-"))).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A list input: one item per line or comma.
fn list(v: Option<String>, commas: bool) -> Vec<String> {
    v.map(|s| {
        s.split(|c| c == '\n' || (commas && c == ','))
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

impl ActionEnv {
    /// Read the environment; a bad input is an error naming it.
    pub fn from_env() -> Result<ActionEnv> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let mode = match input("mode").as_deref() {
            None | Some("review") => Mode::Review,
            Some("comment") => Mode::Comment,
            Some("summary") => Mode::Summary,
            Some(other) => {
                return Err(anyhow!(
                    "input mode: {other:?} is not review, comment or summary"
                ));
            }
        };
        let max_inline = match input("max_inline_comments") {
            None => review::DEFAULT_MAX_INLINE,
            Some(v) => v
                .parse()
                .map_err(|_| anyhow!("input max_inline_comments: {v:?} is not a whole number"))?,
        };
        let fail_on = input("fail_on")
            .map(|v| parse_fail_on(&v).map_err(|e| anyhow!("input fail_on: {e}")))
            .transpose()?;
        let engine = crate::shell::engine_named(input("engine").as_deref(), "input engine")?;
        let whole = |name: &str, value: Option<String>, default: u64| -> Result<u64> {
            match value {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| anyhow!("input {name}: {v:?} is not a whole number")),
            }
        };
        let enabled = match input("build_records").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(anyhow!(
                    "input build_records: {other:?} is not true or false"
                ));
            }
        };
        let named = input("build_records_workflow");
        let ci = crate::app::ci::CiOptions {
            enabled,
            head_run: var("GITHUB_RUN_ID").and_then(|r| r.parse().ok()),
            // the base branch's runs: of the workflow named, else of this one
            base_workflow: named.clone().or_else(|| {
                var("GITHUB_WORKFLOW_REF")
                    .as_deref()
                    .and_then(workflow_file)
            }),
            workflow: named,
            base_runs: usize::try_from(whole(
                "build_records_base_runs",
                input("build_records_base_runs"),
                crate::app::ci::DEFAULT_BASE_RUNS as u64,
            )?)
            .unwrap_or(usize::MAX)
            .min(crate::app::ci::MAX_BASE_RUNS),
            max_bytes: whole("build_records_max_mb", input("build_records_max_mb"), 64)?
                .max(1)
                .saturating_mul(1024 * 1024),
        };
        Ok(ActionEnv {
            event_name: var("GITHUB_EVENT_NAME").unwrap_or_default(),
            event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from),
            repository: var("GITHUB_REPOSITORY").unwrap_or_default(),
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            server_url: var("GITHUB_SERVER_URL"),
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            sha: var("GITHUB_SHA"),
            action_repository: var("GITHUB_ACTION_REPOSITORY"),
            action_ref: var("GITHUB_ACTION_REF"),
            workspace: PathBuf::from(var("GITHUB_WORKSPACE").unwrap_or_else(|| ".".into())),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            runner_temp: var("RUNNER_TEMP").map(PathBuf::from),
            token: input("github_token").or_else(|| var("GITHUB_TOKEN")),
            bot_login: input("bot_login").unwrap_or_else(|| GITHUB_ACTIONS_BOT.into()),
            dockerfiles: list(input("dockerfiles"), true),
            context: input("context"),
            build_args: crate::shell::key_values(
                &list(input("build_args"), false),
                "input build_args",
            )?,
            target: input("target"),
            timings: list(input("timings"), true),
            config: input("config"),
            engine,
            mode,
            max_inline,
            fail_on,
            ci,
            base_ref: var("GITHUB_BASE_REF"),
        })
    }

    /// The rule pages of the running Action: its repository at its ref
    /// (`GITHUB_ACTION_REPOSITORY`, `GITHUB_ACTION_REF`), or, for `uses: ./` in a checkout of
    /// cachebust, this repository at this commit.
    pub fn rules_url(&self) -> Option<String> {
        let server = self.server_url.as_deref()?.trim_end_matches('/');
        match (&self.action_repository, &self.action_ref) {
            (Some(r), Some(at)) => Some(format!("{server}/{r}/blob/{at}/docs/rules")),
            (Some(r), None) => Some(format!("{server}/{r}/blob/HEAD/docs/rules")),
            _ if self.workspace.join("docs/rules/CB001.md").is_file() => Some(format!(
                "{server}/{}/blob/{}/docs/rules",
                self.repository,
                self.sha.as_deref().unwrap_or("HEAD")
            )),
            _ => None,
        }
    }

    /// This run's nonce, the last line of every body it creates: the run and its attempt, or
    /// (outside Actions) the process and the time.
    fn nonce(&self) -> String {
        match &self.run_id {
            Some(id) => format!("gha-{id}-{}", self.run_attempt.as_deref().unwrap_or("1")),
            None => format!(
                "local-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ),
        }
    }

    fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url.as_deref()?,
            self.repository,
            self.run_id.as_deref()?
        ))
    }
}

/// The commits of a run: base and head for the analysis, and the pull request, if any.
struct Plan {
    base: String,
    head: String,
    pr: Option<PullRef>,
    /// Something the summary must say about the choice of commits.
    note: Option<String>,
}

/// Run the Action. `dry_run`: print the requests instead of sending them.
pub fn run(dry_run: bool) -> Result<Exit> {
    let env = ActionEnv::from_env()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_with(env, dry_run, &mut std::io::stdout()))
}

/// The Action with its environment given (tests call this).
pub async fn run_with(env: ActionEnv, dry_run: bool, out: &mut dyn std::io::Write) -> Result<Exit> {
    let payload = match &env.event_path {
        Some(p) => {
            std::fs::read(p).with_context(|| format!("GITHUB_EVENT_PATH {}", p.display()))?
        }
        None => b"{}".to_vec(),
    };
    let trigger = event::parse(&env.event_name, &payload).map_err(|e| anyhow!(e))?;
    let (owner, repo) = env
        .repository
        .split_once('/')
        .map(|(o, r)| (o.to_string(), r.to_string()))
        .ok_or_else(|| anyhow!("GITHUB_REPOSITORY {:?} is not owner/name", env.repository))?;
    let mut gh = match &env.token {
        Some(t) => GitHub::with_token(&env.api_url, t),
        None => GitHub::anonymous(&env.api_url),
    }
    .map_err(|e| anyhow!("{e}"))?;
    let recorded: Arc<std::sync::Mutex<Vec<Recorded>>> = Arc::default();
    if dry_run {
        gh.dry_run = Some(recorded.clone());
    }
    let git = GitRepo::open(&env.workspace).ok();
    let plan = commits(
        &trigger,
        env.sha.as_deref(),
        git.as_deref(),
        &gh,
        &owner,
        &repo,
    )
    .await?;
    // timings logs the pull request's head commit holds are its own claims about durations
    let (timings, refused_timings) = timings_not_in_head(&env.timings, git.as_deref(), &plan.head);
    let mut opts = review_options(&env, &timings)?;
    // notes the summary carries: a merge base that could not be found, timings logs the
    // change commits (and, added by the review, an edited configuration)
    let mut notes: Vec<String> = plan.note.iter().cloned().collect();
    notes.extend(
        refused_timings
            .iter()
            .map(|f| render::action::timings_in_pull_request(f)),
    );
    let local = git
        .as_ref()
        .filter(|g| g.has_commit(&plan.base) && g.has_commit(&plan.head));
    let may_call = env.token.is_some() || dry_run;
    // what CI built: this pull request's build to compare with, the base branch's for costs
    if let (Some(pr), true) = (&plan.pr, may_call) {
        let ci = crate::app::ci::collect(
            &gh,
            &owner,
            &repo,
            &pr.head_sha,
            env.base_ref.as_deref(),
            &env.ci,
        )
        .await;
        opts.analyze.ci = ci.records;
        notes.extend(ci.notes);
    }
    let mut steps = ActionSteps {
        env: &env,
        out,
        gh: &gh,
        pr: plan.pr.clone(),
        base: plan.base.clone(),
        head: plan.head.clone(),
        local: local.is_some(),
        may_call,
        dry_run,
        source_notes: Vec::new(),
        code: Exit::Ok,
    };
    // the trees: local git objects when the checkout has both commits, else the API
    let pr = plan.pr.as_ref();
    let reviewed = match local {
        Some(g) => {
            // revisions, never a directory of the checkout (the pull request's own files)
            let trees = LocalRepo::open(
                &Spec::Rev(plan.base.clone()),
                &Spec::Rev(plan.head.clone()),
                &g.top,
            )
            .map_err(|(_, e)| anyhow!("{e}"))?;
            // with both commits in the checkout, GitHub's own patches (they anchor the
            // comments) are fetched once the job summary and the outputs are written
            let files = local_patches(g, &plan.base, &plan.head, &trees).await?;
            review(trees, &gh, pr, notes, files, None, &opts, &mut steps).await?
        }
        None => {
            let Some(pr) = pr else {
                return Err(anyhow!(
                    "the checkout at {} lacks commit {} or {}: check out with `fetch-depth: 0`",
                    env.workspace.display(),
                    plan.base,
                    plan.head
                ));
            };
            let (mut files, mut files_note) = (Vec::new(), None);
            if may_call {
                match list_files(&gh, pr).await {
                    Ok((f, n)) => (files, files_note) = (f, n),
                    Err(e) => {
                        let why = render::action::shallow_listing_failed(&e.to_string());
                        let _ = append(
                            env.step_summary.as_deref(),
                            &render::action::no_prediction_summary(&why),
                        );
                        return Err(anyhow!(why));
                    }
                }
            }
            let trees = ApiTrees::load(
                gh.clone(),
                &owner,
                &repo,
                &plan.base,
                &plan.head,
                &files,
                files_note.is_some(),
            )
            .await
            .map_err(|e| {
                anyhow!("reading the pull request through the API (the checkout is shallow): {e}")
            })?;
            steps.source_notes = trees.notes.clone();
            review(
                trees,
                &gh,
                Some(pr),
                notes,
                files,
                files_note,
                &opts,
                &mut steps,
            )
            .await?
        }
    };
    let code = steps.code;
    let Reviewed { analysed, delivery } = match reviewed {
        Outcome::Reviewed(r) => *r,
        Outcome::Refused(r) => return refused(out, &env, r),
    };
    let Some(delivery) = delivery else {
        return Ok(code);
    };
    if dry_run {
        let requests: Vec<(String, String, Option<String>)> = recorded
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let body = r
                    .body
                    .map(|b| serde_json::to_string_pretty(&b).unwrap_or_default());
                (r.method, r.route, body)
            })
            .collect();
        write!(out, "{}", render::action::dry_run_requests(&requests))?;
    }
    match delivery {
        Ok(d) => {
            let p = &d.published;
            if let Some(why) = &p.fallback {
                // a read-only token (fork pull requests): annotations and the job summary
                write!(out, "{}", review::annotations(&analysed.report))?;
                let (warning, note) = render::action::fallback(why);
                writeln!(out, "{warning}")?;
                append(env.step_summary.as_deref(), &note)?;
            } else if !dry_run {
                let counts = render::action::PostedCounts {
                    rebuilt: analysed.report.rebuilt_steps(),
                    inline_posted: p.inline_posted,
                    inline_existing: p.inline_existing,
                    not_inline: p.not_inline,
                    stale_deleted: p.stale_deleted,
                };
                writeln!(out, "{}", render::action::posted(&counts))?;
            }
            Ok(code)
        }
        Err(e) => degraded(
            out,
            env.step_summary.as_deref(),
            &render::action::delivering_failed(&e.to_string()),
            code,
        ),
    }
}

/// The `timings` logs to read, and those refused: a log the head commit holds is a file of the
/// pull request (a change could commit near-zero durations to defeat `fail_on:
/// rebuild-seconds>…`), so only logs the workflow wrote (a downloaded artifact, untracked) are
/// read. Without the head commit in the checkout, the checkout's own `HEAD` is asked.
fn timings_not_in_head(
    files: &[String],
    git: Option<&GitRepo>,
    head: &str,
) -> (Vec<String>, Vec<String>) {
    let Some(g) = git else {
        return (files.to_vec(), Vec::new());
    };
    let tree = g.commit_tree(head).or_else(|_| g.commit_tree("HEAD")).ok();
    files.iter().cloned().partition(|f| {
        let path = f.trim_start_matches("./");
        !tree
            .as_deref()
            .is_some_and(|t| matches!(g.lookup(t, path), Ok(Some(_))))
    })
}

/// The review's options from the inputs: the engine and what to analyse, the configuration of
/// the base revision (`input config` must exist when given; a file that does not parse is an
/// error naming its line), and how to publish.
fn review_options(env: &ActionEnv, timings: &[String]) -> Result<ReviewOptions> {
    let mut analyze = AnalyzeOptions::new(env.engine);
    analyze.dockerfiles = env.dockerfiles.clone();
    analyze.context = env.context.clone();
    analyze.target = env.target.clone();
    analyze.build_args = env.build_args.clone();
    analyze.timings = crate::shell::timings_in_tree(&env.workspace, timings, "input timings")?;
    Ok(ReviewOptions {
        analyze,
        config: ConfigChoice {
            path: env
                .config
                .clone()
                .unwrap_or_else(|| crate::app::config::DEFAULT_PATH.into()),
            named_by: env.config.as_ref().map(|_| "input config".into()),
            problems_fail: true,
        },
        publish: PublishOptions {
            mode: env.mode,
            max_inline: env.max_inline,
            run_url: env.run_url(),
            rules_url: env.rules_url(),
            server_url: env.server_url.clone(),
            bot_login: Some(env.bot_login.clone()),
            nonce: env.nonce(),
            ..PublishOptions::default()
        },
        check_run: None,
    })
}

/// The pull request's files as GitHub lists them, and the note when the list is cut off.
async fn list_files(
    gh: &GitHub,
    pr: &PullRef,
) -> Result<(Vec<PullFile>, Option<String>), crate::ports::HostError> {
    let f = gh.pull_files(pr).await?;
    let note = f
        .truncated
        .then(|| render::action::FILES_TRUNCATED.to_string());
    Ok((f.files, note))
}

/// The Action's part of the review: the analysis here (with the API trees' notes), then the
/// JSON report, the outputs and the job summary before anything is posted.
struct ActionSteps<'a> {
    env: &'a ActionEnv,
    out: &'a mut dyn std::io::Write,
    gh: &'a GitHub,
    pr: Option<PullRef>,
    base: String,
    head: String,
    /// The trees are the checkout's: GitHub's patches replace the local ones before posting.
    local: bool,
    may_call: bool,
    dry_run: bool,
    /// Notes of the trees (the API's), diagnostics of the report only.
    source_notes: Vec<String>,
    code: Exit,
}

impl ReviewSteps for ActionSteps<'_> {
    type Error = anyhow::Error;

    async fn analyze<S: RepoSource + Send + 'static>(
        &mut self,
        source: S,
        opts: AnalyzeOptions,
    ) -> Result<Report> {
        analyze_here(&source, &opts)
            .await
            .map_err(|e| anyhow!("{e}"))
    }

    fn refusal(&mut self, error: &anyhow::Error) -> Option<String> {
        // the job summary first, whatever becomes of the post
        let why = format!("{error:#}");
        let _ = append(
            self.env.step_summary.as_deref(),
            &render::action::no_prediction_summary(&why),
        );
        (self.pr.is_some() && self.may_call).then_some(why)
    }

    async fn before_publish(&mut self, a: &mut Analysed) -> Result<Next> {
        let env = self.env;
        // the JSON report and the outputs
        let report_path = env
            .runner_temp
            .clone()
            .unwrap_or_else(|| env.workspace.clone())
            .join("cachebust-report.json");
        // the JSON report: the trees' notes, then the summary's
        let meta = crate::render::RunMeta {
            base: self.base.clone(),
            head: self.head.clone(),
            notes: self.source_notes.iter().chain(&a.notes).cloned().collect(),
            ..Default::default()
        };
        std::fs::write(&report_path, crate::render::json::render(&a.report, &meta))
            .with_context(|| format!("writing {}", report_path.display()))?;
        let mut outputs = BTreeMap::new();
        outputs.insert("rebuilt_steps", a.report.rebuilt_steps().to_string());
        outputs.insert(
            "estimated_rebuild_seconds",
            format!("{:.1}", a.report.rebuild_seconds()),
        );
        outputs.insert("report", report_path.display().to_string());
        write_outputs(env.output.as_deref(), &outputs)?;

        // the job summary, written before anything is posted so that it exists whatever happens
        let run_url = env.run_url();
        let rules_url = env.rules_url();
        let head = self
            .pr
            .as_ref()
            .map_or(self.head.clone(), |p| p.head_sha.clone());
        let blob_url = env
            .server_url
            .as_deref()
            .map(|s| format!("{}/{}/blob/{head}", s.trim_end_matches('/'), env.repository));
        let summary_note = a.summary_note();
        let job = review::plan(
            &a.report,
            &a.files,
            &PlanOptions {
                head_sha: &head,
                max_inline: if env.mode == Mode::Review {
                    env.max_inline
                } else {
                    0
                },
                run_url: run_url.as_deref(),
                files_note: summary_note.as_deref(),
                rules_url: rules_url.as_deref(),
                blob_url: blob_url.as_deref(),
            },
        );
        append(env.step_summary.as_deref(), &job.job_summary)?;
        if env.fail_on.is_some_and(|f| f.exceeded(&a.report)) {
            self.code = Exit::FailOn;
        }
        let rebuilt = a.report.rebuilt_steps();
        let Some(pr) = &self.pr else {
            writeln!(
                self.out,
                "{}",
                render::action::nothing_posted(rebuilt, NotPosted::NoPullRequest)
            )?;
            return Ok(Next::Stop);
        };
        if env.mode == Mode::Summary {
            writeln!(
                self.out,
                "{}",
                render::action::nothing_posted(rebuilt, NotPosted::SummaryMode)
            )?;
            return Ok(Next::Stop);
        }
        // now GitHub: GitHub's own patches replace the local ones for the anchors
        if self.local && self.may_call {
            match list_files(self.gh, pr).await {
                Ok((files, note)) => {
                    a.files = files;
                    if note.is_some() {
                        a.files_note = note;
                    }
                }
                Err(e) if self.dry_run => writeln!(
                    self.out,
                    "{}",
                    render::action::dry_run_files_unlisted(&e.to_string())
                )?,
                Err(e) => {
                    degraded(
                        self.out,
                        env.step_summary.as_deref(),
                        &render::action::listing_failed(&e.to_string()),
                        self.code,
                    )?;
                    return Ok(Next::Stop);
                }
            }
        }
        Ok(Next::Publish)
    }
}

/// The analysis failed, and the pull request's summary says so (the job summary too, written by
/// `ActionSteps::refusal`): the step fails with the error.
fn refused(
    out: &mut dyn std::io::Write,
    env: &ActionEnv,
    r: Refused<anyhow::Error>,
) -> Result<Exit> {
    match r.delivery {
        Ok(posted) => match posted.fallback {
            Some(why) => {
                let (warning, note) = render::action::fallback(&why);
                writeln!(out, "{warning}")?;
                append(env.step_summary.as_deref(), &note)?;
            }
            None if posted.summary_comment.is_some() => {
                writeln!(out, "{}", render::action::refusal_posted(&r.why))?
            }
            None => {}
        },
        Err(e) => {
            degraded(
                out,
                env.step_summary.as_deref(),
                &render::action::delivering_failed(&e.to_string()),
                Exit::Ok,
            )?;
        }
    }
    Err(r.error)
}

/// GitHub failed after the job summary and the outputs were written: one line on stderr naming
/// the call and the error kind, a warning annotation, a note in the job summary; the step keeps
/// the exit status of the prediction (`fail_on`), since the report was delivered where it could
/// be.
fn degraded(
    out: &mut dyn std::io::Write,
    step_summary: Option<&Path>,
    what: &str,
    code: Exit,
) -> Result<Exit> {
    let (line, warning, note) = render::action::degraded(what);
    eprintln!("{line}");
    writeln!(out, "{warning}")?;
    append(step_summary, &note)?;
    Ok(code)
}

/// Base and head of the analysis. For a pull request the base is the merge base (the left
/// side of the pull request's diff), from local objects or the compare API.
async fn commits(
    trigger: &GitHubEvent,
    sha: Option<&str>,
    git: Option<&GitRepo>,
    gh: &GitHub,
    owner: &str,
    repo: &str,
) -> Result<Plan> {
    Ok(match trigger {
        GitHubEvent::PullRequest(PullRequestEvent {
            number,
            base_sha,
            head_sha,
            ..
        }) => {
            let mut note = None;
            let base = match git.and_then(|g| g.merge_base(base_sha, head_sha)) {
                Some(mb) => mb,
                None => match gh.merge_base(owner, repo, base_sha, head_sha).await {
                    Ok(mb) => mb,
                    Err(e) => {
                        note = Some(crate::render::merge_base_note(base_sha, &e.to_string()));
                        base_sha.clone()
                    }
                },
            };
            Plan {
                note,
                base,
                head: head_sha.clone(),
                pr: Some(PullRef {
                    owner: owner.into(),
                    repo: repo.into(),
                    number: *number,
                    head_sha: head_sha.clone(),
                    base_sha: base_sha.clone(),
                }),
            }
        }
        GitHubEvent::Push(PushEvent { before, after }) => {
            let new_branch = before.chars().all(|c| c == '0');
            let base = if new_branch {
                format!("{after}~1")
            } else {
                before.clone()
            };
            Plan {
                base,
                head: after.clone(),
                pr: None,
                note: None,
            }
        }
        // any other event (`workflow_dispatch`, …): the commit the run is for (`GITHUB_SHA`)
        _ => {
            let head = sha.map_or_else(|| "HEAD".to_string(), str::to_string);
            Plan {
                base: format!("{head}~1"),
                head,
                pr: None,
                note: None,
            }
        }
    })
}

/// Patches of the Dockerfiles and ignore files from local objects (dry runs without a token).
async fn local_patches(
    g: &GitRepo,
    base: &str,
    head: &str,
    repo: &LocalRepo,
) -> Result<Vec<PullFile>> {
    let changes = repo.changes().await.map_err(|e| anyhow!("{e}"))?;
    let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    let patches = g.patches(base, head, &paths).map_err(|e| anyhow!("{e}"))?;
    Ok(patches
        .into_iter()
        .map(|(path, patch)| PullFile {
            path,
            status: "modified".into(),
            previous_path: None,
            patch: Some(patch),
        })
        .collect())
}

/// Append to a file command (`GITHUB_STEP_SUMMARY`); nothing when it is not set.
fn append(path: Option<&Path>, text: &str) -> Result<()> {
    let Some(p) = path else { return Ok(()) };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .with_context(|| format!("opening {}", p.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", p.display()))
}

/// Outputs as `name<<DELIM` blocks with a delimiter that occurs in no value.
fn write_outputs(path: Option<&Path>, outputs: &BTreeMap<&str, String>) -> Result<()> {
    let mut text = String::new();
    for (k, v) in outputs {
        let mut n = 0u32;
        let delim = loop {
            let d = format!("ghadelimiter_cachebust_{n}");
            if !v.lines().any(|l| l == d) {
                break d;
            }
            n += 1;
        };
        text.push_str(&format!("{k}<<{delim}\n{v}\n{delim}\n"));
    }
    append(path, &text)
}
