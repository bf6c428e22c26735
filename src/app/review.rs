//! Reviewing a change, the one use-case the Action and the server's worker share: the base
//! revision's configuration (`app::config`), the analysis, the notes the summary carries (the
//! JSON report lists them as diagnostics), the Dockerfiles in path order, then — unless the caller stops
//! there — the review, the sticky summary and, for the server, the check run (`app::publish`).
//! The two shells differ only in the steps around it (`ReviewSteps`): where the analysis runs
//! (the worker: off the async runtime within a budget) and what happens between the analysis and
//! the first post (the Action: the JSON report, the outputs and the job summary), what may be
//! posted at all (the worker: before every post, is the job still current and its head the pull
//! request's?), and which failed analyses the pull request is told about: those get a summary
//! and a check run saying what was refused and why (`ReviewSteps::refusal`), so that a pull
//! request cannot silence its own review by making its analysis fail.

use super::analyze::{AnalyzeError, AnalyzeOptions, analyze};
use super::publish::{
    Guard, PublishOptions, Published, RefusalPosted, publish, publish_check_run, publish_refusal,
};
use crate::engine::report::Report;
use crate::ports::{CodeHost, HostError, PullFile, PullRef, RepoSource};
use crate::render::review::ReviewPlan;

/// Where the configuration comes from and what its problems mean.
#[derive(Debug, Clone)]
pub struct ConfigChoice {
    /// Path in the repository (default `app::config::DEFAULT_PATH`).
    pub path: String,
    /// The setting that named the path (`input config`): then it must exist.
    pub named_by: Option<String>,
    /// A file that does not parse is an error (the Action) rather than a note (the server,
    /// which has nobody to tell but the pull request).
    pub problems_fail: bool,
}

impl Default for ConfigChoice {
    fn default() -> Self {
        ConfigChoice {
            path: super::config::DEFAULT_PATH.into(),
            named_by: None,
            problems_fail: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReviewOptions {
    pub analyze: AnalyzeOptions,
    pub config: ConfigChoice,
    pub publish: PublishOptions,
    /// Also a check run, with this external id (the server's delivery id).
    pub check_run: Option<String>,
}

/// The change analysed, before anything is posted.
#[derive(Debug, Clone)]
pub struct Analysed {
    pub report: Report,
    /// What the summary must say (merge base, trees, the configuration edited by the change);
    /// the JSON report lists each as a warning diagnostic (`render::RunMeta::notes`).
    pub notes: Vec<String>,
    /// The pull request's files (their patches anchor the inline comments).
    pub files: Vec<PullFile>,
    /// Said about the files (GitHub's list was cut off).
    pub files_note: Option<String>,
}

impl Analysed {
    /// The note the summaries carry: the files note, then the others.
    pub fn summary_note(&self) -> Option<String> {
        crate::render::join_notes(self.files_note.as_deref(), &self.notes)
    }
}

/// What the steps between the analysis and the delivery decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Publish,
    /// Post nothing (no pull request, `mode: summary`, superseded, …).
    Stop,
}

/// What was delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub plan: ReviewPlan,
    pub published: Published,
    pub check_run: Option<u64>,
}

/// What a review came to.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub analysed: Analysed,
    /// `None`: the steps stopped before anything was posted, or there is no pull request.
    /// Otherwise the delivery, or GitHub's error (the caller decides what that means: the
    /// worker retries the job, the Action warns).
    pub delivery: Option<Result<Delivery, HostError>>,
}

/// A change whose analysis failed, and what the pull request was told.
#[derive(Debug)]
pub struct Refused<E> {
    /// The analysis' error.
    pub error: E,
    /// The sentence the pull request was given (`ReviewSteps::refusal`).
    pub why: String,
    /// The summary and check run saying so, or GitHub's error.
    pub delivery: Result<RefusalPosted, HostError>,
}

/// How a review ended: analysed (and perhaps delivered), or refused with the pull request told.
#[derive(Debug)]
pub enum Outcome<E> {
    Reviewed(Box<Reviewed>),
    Refused(Refused<E>),
}

/// A review that could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The configuration does not parse (with `problems_fail`), or a named file is absent.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
}

/// The shell's part of a review.
#[allow(async_fn_in_trait)]
pub trait ReviewSteps {
    type Error: From<ReviewError>;
    /// Run the analysis (`analyze_here` unless the shell runs it elsewhere).
    async fn analyze<S: RepoSource + Send + 'static>(
        &mut self,
        source: S,
        opts: AnalyzeOptions,
    ) -> Result<Report, Self::Error>;
    /// Between the analysis and the first post; may replace the files (GitHub's own patches).
    async fn before_publish(&mut self, analysed: &mut Analysed) -> Result<Next, Self::Error>;
    /// The analysis failed with `error`: the sentence to tell the pull request (its summary and
    /// check run say that it was not analysed, and why), or `None` to end with the error alone
    /// (a failure that may pass, tried again later).
    fn refusal(&mut self, error: &Self::Error) -> Option<String>;
    /// Before every call that changes the pull request; an error stops the delivery there
    /// (`HostError::Stale`: the change is no longer the one to review).
    async fn before_post(&mut self) -> Result<(), HostError> {
        Ok(())
    }
}

/// The steps as the delivery's guard.
struct StepsGuard<'a, St>(&'a mut St);

impl<St: ReviewSteps> Guard for StepsGuard<'_, St> {
    async fn before_post(&mut self) -> Result<(), HostError> {
        self.0.before_post().await
    }
}

/// The analysis on this task.
pub async fn analyze_here<S: RepoSource>(
    source: &S,
    opts: &AnalyzeOptions,
) -> Result<Report, ReviewError> {
    Ok(analyze(source, opts).await?)
}

/// Review the change `source` holds: configuration, analysis, notes, order, then the steps and,
/// with a pull request, the delivery. `notes` are those the caller already has (the merge base,
/// the trees); `files` and `files_note` are the pull request's files as known so far.
#[allow(clippy::too_many_arguments)]
pub async fn review<S, H, St>(
    source: S,
    host: &H,
    pr: Option<&PullRef>,
    mut notes: Vec<String>,
    files: Vec<PullFile>,
    files_note: Option<String>,
    opts: &ReviewOptions,
    steps: &mut St,
) -> Result<Outcome<St::Error>, St::Error>
where
    S: RepoSource + Send + 'static,
    H: CodeHost,
    St: ReviewSteps,
{
    let choice = &opts.config;
    let c = super::config::for_change(&source, &choice.path).await;
    if let Some(p) = c.problem {
        if choice.problems_fail {
            return Err(ReviewError::Config(p).into());
        }
        notes.push(p);
    }
    if let (Some(by), true) = (&choice.named_by, c.absent) {
        return Err(
            ReviewError::Config(format!("{by}: {}: not in the repository", choice.path)).into(),
        );
    }
    if c.changed {
        notes.push(crate::render::config_changed_note(&choice.path));
    }
    let mut aopts = opts.analyze.clone();
    aopts.config = c.config;
    let mut report = match (steps.analyze(source, aopts).await, pr) {
        (Ok(r), _) => r,
        (Err(error), Some(pr)) => {
            let Some(why) = steps.refusal(&error) else {
                return Err(error);
            };
            let delivery = publish_refusal(
                host,
                pr,
                &why,
                &opts.publish,
                opts.check_run.as_deref(),
                &mut StepsGuard(steps),
            )
            .await;
            return Ok(Outcome::Refused(Refused {
                error,
                why,
                delivery,
            }));
        }
        (Err(error), None) => return Err(error),
    };
    report.dockerfiles.sort_by(|a, b| a.path.cmp(&b.path));
    let mut analysed = Analysed {
        report,
        notes,
        files,
        files_note,
    };
    let pr = match (steps.before_publish(&mut analysed).await?, pr) {
        (Next::Publish, Some(pr)) => pr,
        _ => {
            return Ok(Outcome::Reviewed(Box::new(Reviewed {
                analysed,
                delivery: None,
            })));
        }
    };
    let delivery = Some(deliver(host, pr, &analysed, opts, &mut StepsGuard(steps)).await);
    Ok(Outcome::Reviewed(Box::new(Reviewed { analysed, delivery })))
}

async fn deliver<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    a: &Analysed,
    opts: &ReviewOptions,
    guard: &mut G,
) -> Result<Delivery, HostError> {
    let note = a.summary_note();
    let (plan, published) = publish(
        host,
        pr,
        &a.report,
        &a.files,
        note.as_deref(),
        &opts.publish,
        guard,
    )
    .await?;
    let check_run = match &opts.check_run {
        Some(external_id) => Some(
            publish_check_run(
                host,
                pr,
                &a.report,
                &plan.summary,
                external_id,
                &opts.publish,
                guard,
            )
            .await?,
        ),
        None => None,
    };
    Ok(Delivery {
        plan,
        published,
        check_run,
    })
}
