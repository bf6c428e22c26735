//! Delivering a report to a pull request over a `CodeHost`, shared by the Action and the server:
//! one review per run with the inline comments that are not already there, stale comments of
//! ours deleted (unless someone replied), one sticky summary comment edited in place, and a check
//! run with annotations (server); or, for a change that was not analysed, the summary and the
//! check run saying what was refused and why (`publish_refusal`).
//!
//! Only what our own login posted is ours (`PublishOptions::bot_login`), and only where cachebust
//! writes its markers (a body's first line): another bot's comment quoting a marker is never
//! edited or deleted, and a stale comment GitHub will not let us delete stays without dropping
//! the review. Before every call that changes the pull request the caller's `Guard` is asked
//! (the server: is the job still current, is its head still the pull request's).
//!
//! Retries have one owner each: the GitHub adapter retries its idempotent calls (GET, and the PUT,
//! PATCH and DELETE that replace rather than append); nothing here retries, and a POST is never
//! re-sent. Every body a run creates ends with the run's nonce (`render::review::run_marker`):
//! after a POST whose answer was lost (5xx, no answer) the pull request is searched for it,
//! again after each of `PublishOptions::reconcile`'s waits, since GitHub may store it after the
//! client gave up; what is found is used, and otherwise the error is `HostError::Unsettled` (the
//! worker waits before the job's next attempt, which finds by the markers what did land). A
//! summary that landed twice anyway is reconciled by the next run: the newest is edited, the
//! others deleted. A refusal of the token (403) ends in a fallback the caller renders
//! (annotations and the job summary), not in an error.

use std::time::Duration;

use crate::engine::report::Report;
use crate::ports::{
    Annotation, CheckRun, CodeHost, HostError, NewComment, NewReview, Posted, PullFile, PullRef,
};
use crate::render::checkrun::CheckRunText;
use crate::render::review::{self, PlanOptions, ReviewPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inline review comments, the sticky summary comment and the job summary.
    Review,
    /// The sticky summary comment and the job summary.
    Comment,
    /// The job summary only: nothing is posted.
    Summary,
}

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub mode: Mode,
    pub max_inline: usize,
    /// Our login (`github-actions[bot]`, `<app-slug>[bot]`): only comments by it are ours to
    /// find, edit or delete. `None`: nothing on the pull request is taken for ours.
    pub bot_login: Option<String>,
    pub run_url: Option<String>,
    /// Where the rule pages live (`…/blob/REF/docs/rules`): rule codes in comments link there.
    pub rules_url: Option<String>,
    /// The web address of the host (`https://github.com`): the summary links suggestions to
    /// their lines.
    pub server_url: Option<String>,
    /// This run's nonce, the last line of every body it creates.
    pub nonce: String,
    /// After a POST whose answer was lost, the waits before each further look for what it
    /// created (it is looked for at once too).
    pub reconcile: Vec<Duration>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            mode: Mode::Review,
            max_inline: review::DEFAULT_MAX_INLINE,
            bot_login: None,
            run_url: None,
            rules_url: None,
            server_url: Some("https://github.com".into()),
            nonce: "cachebust".into(),
            reconcile: [1, 3, 10].map(Duration::from_secs).to_vec(),
        }
    }
}

/// What was delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub review_id: Option<u64>,
    /// Inline comments posted in this run.
    pub inline_posted: usize,
    /// Inline comments already on the pull request from an earlier run.
    pub inline_existing: usize,
    /// Findings left in the summary (not anchorable, over the limit).
    pub not_inline: usize,
    pub stale_deleted: usize,
    /// Stale comments kept because someone replied.
    pub stale_kept: usize,
    /// Stale comments GitHub refused to delete (left as they are).
    pub stale_refused: usize,
    /// The sticky comment's id, and whether it was edited (not created).
    pub summary_comment: Option<(u64, bool)>,
    /// Older copies of the sticky comment deleted (a POST that landed after it was given up).
    pub duplicates_deleted: usize,
    /// Set when the token may not post: the caller falls back to annotations.
    pub fallback: Option<String>,
}

/// Asked before every call that changes the pull request: an error (usually
/// `HostError::Stale`) stops the delivery there.
#[allow(async_fn_in_trait)]
pub trait Guard {
    async fn before_post(&mut self) -> Result<(), HostError>;
}

/// No guard: everything may be posted.
pub struct Unguarded;

impl Guard for Unguarded {
    async fn before_post(&mut self) -> Result<(), HostError> {
        Ok(())
    }
}

fn ours(p: &Posted, opts: &PublishOptions) -> bool {
    opts.bot_login
        .as_deref()
        .is_some_and(|login| p.author.eq_ignore_ascii_case(login))
}

/// Errors that say GitHub refused to touch something (it is not ours after all, it is gone):
/// the delivery goes on without it.
fn refused_to_touch(e: &HostError) -> bool {
    matches!(
        e,
        HostError::Forbidden { .. } | HostError::Invalid { .. } | HostError::NotFound(_)
    )
}

/// Plan and deliver, each call once (the adapter retries what is idempotent). `Err` when GitHub
/// failed or the guard stopped it; a 403 is `Ok` with `fallback` set.
pub async fn publish<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    files: &[PullFile],
    files_note: Option<&str>,
    opts: &PublishOptions,
    guard: &mut G,
) -> Result<(ReviewPlan, Published), HostError> {
    let blob = blob_url(pr, opts);
    let popts = PlanOptions {
        head_sha: &pr.head_sha,
        max_inline: if opts.mode == Mode::Review {
            opts.max_inline
        } else {
            0
        },
        run_url: opts.run_url.as_deref(),
        files_note,
        rules_url: opts.rules_url.as_deref(),
        blob_url: blob.as_deref(),
    };
    let mut plan = review::plan(report, files, &popts);
    let mut out = Published {
        not_inline: plan.leftovers.len(),
        ..Default::default()
    };
    if opts.mode == Mode::Summary {
        return Ok((plan, out));
    }
    let delivered = deliver(
        host, pr, report, files, files_note, opts, guard, &mut plan, &mut out,
    )
    .await;
    fallback_on_forbidden(delivered, &mut out)?;
    Ok((plan, out))
}

/// A 403 is the fallback, not an error.
fn fallback_on_forbidden(r: Result<(), HostError>, out: &mut Published) -> Result<(), HostError> {
    match r {
        Ok(()) => Ok(()),
        Err(HostError::Forbidden { status, message }) => {
            out.fallback = Some(format!("GitHub refused to post ({status}): {message}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
async fn deliver<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    files: &[PullFile],
    files_note: Option<&str>,
    opts: &PublishOptions,
    guard: &mut G,
    plan: &mut ReviewPlan,
    out: &mut Published,
) -> Result<(), HostError> {
    if opts.mode == Mode::Review {
        let existing = host.review_comments(pr).await?;
        // ours, in the order GitHub lists them; a marker seen twice (a review that landed after
        // its POST was given up) keeps its first comment
        let mut posted_markers: Vec<&str> = Vec::new();
        let mut stale: Vec<&Posted> = Vec::new();
        for p in &existing {
            let Some(m) = review::marker_in(&p.body).filter(|_| ours(p, opts)) else {
                continue;
            };
            if posted_markers.contains(&m) || !plan.live_markers.iter().any(|l| l == m) {
                stale.push(p);
            }
            if !posted_markers.contains(&m) {
                posted_markers.push(m);
            }
        }
        let new: Vec<NewComment> = plan
            .inline
            .iter()
            .filter(|c| !posted_markers.contains(&c.marker.as_str()))
            .map(|c| NewComment {
                path: c.path.clone(),
                line: c.line,
                start_line: c.start_line,
                body: c.body.clone(),
            })
            .collect();
        out.inline_existing = plan.inline.len() - new.len();
        for p in stale {
            if existing.iter().any(|x| x.in_reply_to == Some(p.id)) {
                out.stale_kept += 1;
                continue;
            }
            guard.before_post().await?;
            match host.delete_review_comment(pr, p.id).await {
                Ok(()) => out.stale_deleted += 1,
                Err(e) if refused_to_touch(&e) => out.stale_refused += 1,
                Err(e) => return Err(e),
            }
        }
        if !new.is_empty() {
            let review = NewReview {
                commit_id: pr.head_sha.clone(),
                body: review::with_run_marker(&plan.review_body, &opts.nonce),
                comments: new,
            };
            guard.before_post().await?;
            match post_once(
                || host.create_review(pr, &review),
                || landed_review(host, pr, opts),
                &opts.reconcile,
            )
            .await
            {
                Ok(id) => {
                    out.review_id = Some(id);
                    out.inline_posted = review.comments.len();
                }
                Err(HostError::Invalid { .. }) => {
                    // GitHub refused an anchor after all: nothing was created; every finding
                    // goes to the summary instead, none is lost
                    let blob = blob_url(pr, opts);
                    let popts = PlanOptions {
                        head_sha: &pr.head_sha,
                        max_inline: 0,
                        run_url: opts.run_url.as_deref(),
                        files_note,
                        rules_url: opts.rules_url.as_deref(),
                        blob_url: blob.as_deref(),
                    };
                    *plan = review::plan(report, files, &popts);
                    out.not_inline = plan.leftovers.len();
                    out.inline_existing = 0;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let (id, edited, dupes) = upsert_summary(host, pr, &plan.summary, opts, guard).await?;
    out.summary_comment = Some((id, edited));
    out.duplicates_deleted = dupes;
    Ok(())
}

/// The sticky summary: the newest of ours edited in place (older copies deleted), or created
/// once. Its id, whether it was edited, and the copies deleted.
async fn upsert_summary<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    body: &str,
    opts: &PublishOptions,
    guard: &mut G,
) -> Result<(u64, bool, usize), HostError> {
    let body = review::with_run_marker(body, &opts.nonce);
    let comments = host.issue_comments(pr).await?;
    let stickies: Vec<&Posted> = comments
        .iter()
        .filter(|p| ours(p, opts) && p.body.starts_with(review::SUMMARY_MARKER))
        .collect();
    if let Some((newest, older)) = stickies.split_last() {
        guard.before_post().await?;
        host.update_issue_comment(pr, newest.id, &body).await?;
        let mut deleted = 0;
        for p in older {
            guard.before_post().await?;
            match host.delete_issue_comment(pr, p.id).await {
                Ok(()) => deleted += 1,
                Err(e) if refused_to_touch(&e) => {}
                Err(e) => return Err(e),
            }
        }
        return Ok((newest.id, true, deleted));
    }
    guard.before_post().await?;
    let id = post_once(
        || host.create_issue_comment(pr, &body),
        || async {
            let c = host.issue_comments(pr).await?;
            Ok(c.iter()
                .rev()
                .find(|p| {
                    ours(p, opts)
                        && p.body.starts_with(review::SUMMARY_MARKER)
                        && review::has_run_marker(&p.body, &opts.nonce)
                })
                .map(|p| p.id))
        },
        &opts.reconcile,
    )
    .await?;
    Ok((id, false, 0))
}

/// The head's files on the host's web pages.
fn blob_url(pr: &PullRef, opts: &PublishOptions) -> Option<String> {
    Some(format!(
        "{}/{}/{}/blob/{}",
        opts.server_url.as_deref()?.trim_end_matches('/'),
        pr.owner,
        pr.repo,
        pr.head_sha
    ))
}

/// This run's review, if it landed.
async fn landed_review<H: CodeHost>(
    host: &H,
    pr: &PullRef,
    opts: &PublishOptions,
) -> Result<Option<u64>, HostError> {
    let reviews = host.reviews(pr).await?;
    Ok(reviews
        .iter()
        .rev()
        .find(|r| {
            ours(r, opts)
                && r.body.starts_with(review::REVIEW_MARKER)
                && review::has_run_marker(&r.body, &opts.nonce)
        })
        .map(|r| r.id))
}

/// A POST, sent once (never re-sent here). After an error that may have landed (5xx, no answer)
/// the pull request is searched for it (`landed`) at once and after each of `waits`: what
/// landed is used; otherwise `HostError::Unsettled`, so that nothing is posted again before
/// GitHub has had time to store it.
async fn post_once<T, F, Fut, L, LFut>(
    call: F,
    mut landed: L,
    waits: &[Duration],
) -> Result<T, HostError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, HostError>>,
    L: FnMut() -> LFut,
    LFut: std::future::Future<Output = Result<Option<T>, HostError>>,
{
    let e = match call().await {
        Err(e @ (HostError::Server { .. } | HostError::Transport(_))) => e,
        r => return r,
    };
    for wait in std::iter::once(&Duration::ZERO).chain(waits) {
        tokio::time::sleep(*wait).await;
        if let Ok(Some(v)) = landed().await {
            return Ok(v);
        }
    }
    let looked: Duration = waits.iter().sum();
    Err(HostError::Unsettled(format!(
        "{e}; what it posted is not on the pull request {} s later, and GitHub may still store it: nothing is posted again before the next attempt",
        looked.as_secs_f64()
    )))
}

/// The check run of a report: findings and cache misses as annotations (50 per request, the rest
/// appended by updates). Conclusion `neutral` when something rebuilds or a finding concerns the
/// change, else `success`.
pub async fn publish_check_run<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    summary: &str,
    external_id: &str,
    opts: &PublishOptions,
    guard: &mut G,
) -> Result<u64, HostError> {
    let text = crate::render::checkrun::check_run(report);
    check_run(host, pr, text, summary, external_id, opts, guard).await
}

/// A check run. `external_id` names whose run it is (the pull request's, or a re-run's): a run
/// with the same id on the head is the one an earlier attempt or job started, and is finished
/// rather than duplicated (its annotations already sent are not sent again, since GitHub appends
/// them); a new id (a re-run someone requested) gets a new run.
async fn check_run<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    text: CheckRunText,
    summary: &str,
    external_id: &str,
    opts: &PublishOptions,
    guard: &mut G,
) -> Result<u64, HostError> {
    let annotations: Vec<Annotation> = text
        .annotations
        .into_iter()
        .map(|a| Annotation {
            path: a.path,
            start_line: a.start_line,
            end_line: a.end_line,
            level: a.level.into(),
            title: a.title,
            message: a.message,
        })
        .collect();
    let summary = review::truncate(summary, 65_535);
    let mut run = CheckRun {
        name: "cachebust".into(),
        head_sha: pr.head_sha.clone(),
        external_id: external_id.into(),
        status: "completed".into(),
        conclusion: Some(text.conclusion.into()),
        title: text.title,
        summary,
        annotations: Vec::new(),
    };
    let existing = host.find_check_run(pr, &run.name, external_id).await?;
    let mut batches = annotation_batches(&annotations, existing.map_or(0, |e| e.annotations));
    run.annotations = batches.remove(0);
    guard.before_post().await?;
    let id = match existing {
        Some(e) => {
            host.update_check_run(pr, e.id, &run).await?;
            e.id
        }
        None => {
            post_once(
                || host.create_check_run(pr, &run),
                || async {
                    Ok(host
                        .find_check_run(pr, &run.name, external_id)
                        .await?
                        .map(|e| e.id))
                },
                &opts.reconcile,
            )
            .await?
        }
    };
    for batch in batches {
        let more = CheckRun {
            annotations: batch,
            ..run.clone()
        };
        guard.before_post().await?;
        host.update_check_run(pr, id, &more).await?;
    }
    Ok(id)
}

/// What a refusal delivered: the sticky summary, whether it was edited, and the check run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalPosted {
    pub summary_comment: Option<(u64, bool)>,
    pub check_run: Option<u64>,
    /// Set when the token may not post.
    pub fallback: Option<String>,
}

/// A change that was not analysed: the sticky summary says what was refused and why, and the
/// check run (with `check_run`, its external id) concludes `failure`. Inline comments of earlier
/// runs are left as they are. Nothing in `Mode::Summary`.
pub async fn publish_refusal<H: CodeHost, G: Guard>(
    host: &H,
    pr: &PullRef,
    why: &str,
    opts: &PublishOptions,
    check_run_id: Option<&str>,
    guard: &mut G,
) -> Result<RefusalPosted, HostError> {
    let mut out = RefusalPosted::default();
    if opts.mode == Mode::Summary {
        return Ok(out);
    }
    let body = review::refused_summary(why, &pr.head_sha, opts.run_url.as_deref());
    let r = async {
        let (id, edited, _) = upsert_summary(host, pr, &body, opts, guard).await?;
        out.summary_comment = Some((id, edited));
        if let Some(ext) = check_run_id {
            let text = crate::render::checkrun::refused();
            out.check_run = Some(check_run(host, pr, text, &body, ext, opts, guard).await?);
        }
        Ok(())
    }
    .await;
    match r {
        Ok(()) => Ok(out),
        Err(HostError::Forbidden { status, message }) => {
            out.fallback = Some(format!("GitHub refused to post ({status}): {message}"));
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// The annotations still to send, `sent` of them already on the run, as the requests carrying
/// them (GitHub takes at most 50 per request and appends each request's to the run's): always at
/// least one request, which carries the title, summary and conclusion.
fn annotation_batches(all: &[Annotation], sent: usize) -> Vec<Vec<Annotation>> {
    let rest = all.get(sent..).unwrap_or_default();
    let mut out: Vec<Vec<Annotation>> = rest.chunks(50).map(<[Annotation]>::to_vec).collect();
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_sent_in_fifties_and_never_twice() {
        let all: Vec<Annotation> = (0..120)
            .map(|i| Annotation {
                path: "Dockerfile".into(),
                start_line: i,
                end_line: i,
                level: "notice".into(),
                title: format!("a{i}"),
                message: String::new(),
            })
            .collect();
        let sizes = |sent| -> Vec<usize> {
            annotation_batches(&all, sent)
                .iter()
                .map(Vec::len)
                .collect()
        };
        assert_eq!(sizes(0), [50, 50, 20]);
        // an attempt that died after two requests resumes with the third
        assert_eq!(sizes(100), [20]);
        assert_eq!(annotation_batches(&all, 100)[0][0].title, "a100");
        assert_eq!(sizes(60), [50, 10]);
        // everything already there (or more): one request, for the text and the conclusion
        assert_eq!(sizes(120), [0]);
        assert_eq!(sizes(500), [0]);
        assert_eq!(annotation_batches(&[], 0).len(), 1);
    }
}
