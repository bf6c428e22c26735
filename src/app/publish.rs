//! Delivering a report to a pull request over a `CodeHost`, shared by the Action and the server:
//! one review per run with the inline comments that are not already there, stale comments of
//! ours deleted (unless someone replied), one sticky summary comment edited in place, and a check
//! run with annotations (server). Retries have one owner each: the GitHub adapter retries its
//! idempotent calls (GET, and the PUT, PATCH and DELETE that replace rather than append); nothing
//! here retries, and a POST is never re-sent: after an error that may have landed, the pull
//! request is searched for our marker, and otherwise the error goes up (the worker queues the
//! job again with back-off; the next attempt finds by the markers what did land). A refusal of the token (403) ends
//! in a fallback the caller renders (annotations and the job summary), not in an error.

use crate::engine::report::Report;
use crate::ports::{
    Annotation, CheckRun, CodeHost, HostError, NewComment, NewReview, Posted, PullFile, PullRef,
};
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
    /// Our login (`github-actions[bot]`, `<app>[bot]`); `None`: any bot account carrying our marker.
    pub bot_login: Option<String>,
    pub run_url: Option<String>,
    /// Where the rule pages live (`…/blob/REF/docs/rules`): rule codes in comments link there.
    pub rules_url: Option<String>,
    /// The web address of the host (`https://github.com`): the summary links suggestions to
    /// their lines.
    pub server_url: Option<String>,
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
    /// The sticky comment's id, and whether it was edited (not created).
    pub summary_comment: Option<(u64, bool)>,
    /// Set when the token may not post: the caller falls back to annotations.
    pub fallback: Option<String>,
}

fn ours(p: &Posted, opts: &PublishOptions) -> bool {
    match &opts.bot_login {
        Some(login) => p.author.eq_ignore_ascii_case(login),
        None => p.author_type.eq_ignore_ascii_case("bot"),
    }
}

/// Plan and deliver, each call once (the adapter retries what is idempotent). `Err` when GitHub
/// failed; a 403 is `Ok` with `fallback` set.
pub async fn publish<H: CodeHost>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    files: &[PullFile],
    files_note: Option<&str>,
    opts: &PublishOptions,
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
    match deliver(
        host, pr, report, files, files_note, opts, &mut plan, &mut out,
    )
    .await
    {
        Ok(()) => Ok((plan, out)),
        Err(HostError::Forbidden { status, message }) => {
            out.fallback = Some(format!("GitHub refused to post ({status}): {message}"));
            Ok((plan, out))
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
async fn deliver<H: CodeHost>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    files: &[PullFile],
    files_note: Option<&str>,
    opts: &PublishOptions,
    plan: &mut ReviewPlan,
    out: &mut Published,
) -> Result<(), HostError> {
    if opts.mode == Mode::Review {
        let existing = host.review_comments(pr).await?;
        let mine: Vec<&Posted> = existing
            .iter()
            .filter(|p| ours(p, opts) && review::marker_in(&p.body).is_some())
            .collect();
        let posted_markers: Vec<&str> = mine
            .iter()
            .filter_map(|p| review::marker_in(&p.body))
            .collect();
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
        // comments of ours whose finding is gone
        for p in &mine {
            let m = review::marker_in(&p.body).unwrap_or("");
            if plan.live_markers.iter().any(|l| l == m) {
                continue;
            }
            if existing.iter().any(|x| x.in_reply_to == Some(p.id)) {
                out.stale_kept += 1;
                continue;
            }
            host.delete_review_comment(pr, p.id).await?;
            out.stale_deleted += 1;
        }
        if !new.is_empty() {
            let review = NewReview {
                commit_id: pr.head_sha.clone(),
                body: plan.review_body.clone(),
                comments: new,
            };
            match post_once(
                || host.create_review(pr, &review),
                || landed_review(host, pr, opts),
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
    // the sticky summary: edited in place, created once
    let comments = host.issue_comments(pr).await?;
    let sticky = comments
        .iter()
        .rev()
        .find(|p| ours(p, opts) && p.body.starts_with(review::SUMMARY_MARKER));
    match sticky {
        Some(p) => {
            host.update_issue_comment(pr, p.id, &plan.summary).await?;
            out.summary_comment = Some((p.id, true));
        }
        None => {
            let id = post_once(
                || host.create_issue_comment(pr, &plan.summary),
                || async {
                    let c = host.issue_comments(pr).await?;
                    Ok(c.iter()
                        .rev()
                        .find(|p| ours(p, opts) && p.body.starts_with(review::SUMMARY_MARKER))
                        .map(|p| p.id))
                },
            )
            .await?;
            out.summary_comment = Some((id, false));
        }
    }
    Ok(())
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

/// Our review for this head, if one landed.
async fn landed_review<H: CodeHost>(
    host: &H,
    pr: &PullRef,
    opts: &PublishOptions,
) -> Result<Option<u64>, HostError> {
    let marker = format!("{}{}", review::REVIEW_MARKER, pr.head_sha);
    let reviews = host.reviews(pr).await?;
    Ok(reviews
        .iter()
        .rev()
        .find(|r| ours(r, opts) && r.body.starts_with(&marker))
        .map(|r| r.id))
}

/// A POST, sent once (never re-sent here: the job is, or the Action run reports it). After an
/// error that may have landed (5xx, no answer) the pull request is searched for it (`landed`),
/// so that what did land is used rather than posted again by the next attempt.
async fn post_once<T, F, Fut, L, LFut>(call: F, landed: L) -> Result<T, HostError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, HostError>>,
    L: FnOnce() -> LFut,
    LFut: std::future::Future<Output = Result<Option<T>, HostError>>,
{
    match call().await {
        Err(e) if e.is_transient() && !matches!(e, HostError::RateLimited { .. }) => {
            match landed().await {
                Ok(Some(v)) => Ok(v),
                _ => Err(e),
            }
        }
        r => r,
    }
}

/// The check run of a report: findings and cache misses as annotations (50 per request, the rest
/// appended by updates). Conclusion `neutral` when something rebuilds or a finding concerns the
/// change, else `success`. `external_id` names what asked for it (the delivery): a run with the
/// same id on the head is the one an earlier attempt started, and is finished rather than
/// duplicated (its annotations already sent are not sent again, since GitHub appends them); a
/// new id (a re-run someone requested) gets a new run.
pub async fn publish_check_run<H: CodeHost>(
    host: &H,
    pr: &PullRef,
    report: &Report,
    summary: &str,
    external_id: &str,
) -> Result<u64, HostError> {
    let text = crate::render::checkrun::check_run(report);
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
    let (title, conclusion) = (text.title, text.conclusion);
    let summary = review::truncate(summary, 65_535);
    let mut run = CheckRun {
        name: "cachebust".into(),
        head_sha: pr.head_sha.clone(),
        external_id: external_id.into(),
        status: "completed".into(),
        conclusion: Some(conclusion.into()),
        title: title.clone(),
        summary: summary.clone(),
        annotations: Vec::new(),
    };
    let existing = host.find_check_run(pr, &run.name, external_id).await?;
    let mut batches = annotation_batches(&annotations, existing.map_or(0, |e| e.annotations));
    run.annotations = batches.remove(0);
    let id = match existing {
        Some(e) => {
            host.update_check_run(pr, e.id, &run).await?;
            e.id
        }
        None => host.create_check_run(pr, &run).await?,
    };
    for batch in batches {
        let more = CheckRun {
            annotations: batch,
            ..run.clone()
        };
        host.update_check_run(pr, id, &more).await?;
    }
    Ok(id)
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
