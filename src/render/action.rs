//! What the Action says: the lines it prints to the step log (outcome, dry run, the workflow
//! command warnings), and the notes it appends to the job summary when it could not post. The
//! shell (`src/action/`) only writes these out.

use super::review::data;

/// Why nothing was posted although the analysis ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPosted {
    /// The event has no pull request (a push, `workflow_dispatch`, …).
    NoPullRequest,
    /// The `mode` input is `summary`.
    SummaryMode,
}

/// The step's outcome line when nothing is posted.
pub fn nothing_posted(rebuilt: usize, why: NotPosted) -> String {
    let why = match why {
        NotPosted::NoPullRequest => "no pull request",
        NotPosted::SummaryMode => "mode summary",
    };
    format!(
        "cachebust: {rebuilt} step(s) lose their cache; the job summary has the report ({why}: nothing posted)"
    )
}

/// What was delivered to the pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostedCounts {
    pub rebuilt: usize,
    pub inline_posted: usize,
    pub inline_existing: usize,
    pub not_inline: usize,
    pub stale_deleted: usize,
}

/// The step's outcome line after the review was delivered.
pub fn posted(c: &PostedCounts) -> String {
    format!(
        "cachebust: {} step(s) lose their cache; {} inline comment(s) posted, {} already there, {} in the summary; {} stale comment(s) deleted",
        c.rebuilt, c.inline_posted, c.inline_existing, c.not_inline, c.stale_deleted
    )
}

/// The files note when GitHub's list of the pull request's files stopped at its limit.
pub const FILES_TRUNCATED: &str = "this pull request changes more than 3,000 files, the most GitHub lists: inline comments cover the first 3,000";

/// A `timings` log that the pull request's head commit holds: not read.
pub fn timings_in_pull_request(file: &str) -> String {
    format!(
        "input timings: {} is a file of this pull request's head commit, so its durations are the change's own claim: not used (step times come from the model; download build logs from a base-branch run instead)",
        super::visible(file)
    )
}

/// Listing the files failed on a shallow checkout: nothing can be predicted.
pub fn shallow_listing_failed(error: &str) -> String {
    format!(
        "listing the pull request's files failed: {} (the checkout is shallow, so nothing can be predicted: check out with `fetch-depth: 0`)",
        super::visible(error)
    )
}

/// The job summary when there is no prediction at all.
pub fn no_prediction_summary(why: &str) -> String {
    format!("### cachebust: no prediction\n\n{}\n", data(why))
}

/// The step's line when the analysis failed and the pull request's summary says so.
pub fn refusal_posted(why: &str) -> String {
    format!(
        "cachebust: not analysed ({}); the summary comment on the pull request says so",
        super::visible(why)
    )
}

/// Listing the files failed after the analysis (the review cannot be anchored).
pub fn listing_failed(error: &str) -> String {
    format!(
        "listing the pull request's files failed: {}",
        super::visible(error)
    )
}

/// Delivering the review failed.
pub fn delivering_failed(error: &str) -> String {
    format!("delivering the review failed: {}", super::visible(error))
}

/// GitHub failed after the job summary and the outputs were written: the stderr line, the
/// warning workflow command, and the job summary's note, in that order.
pub fn degraded(what: &str) -> (String, String, String) {
    (
        super::visible_lines(&format!(
            "cachebust: {}; the job summary and the outputs have the report",
            super::visible(what)
        )),
        format!(
            "::warning title=cachebust::{}",
            data(&format!(
                "{what}; the job summary and the outputs have the report"
            ))
        ),
        format!(
            "\n> cachebust could not post to the pull request: {}.\n",
            data(what)
        ),
    )
}

/// The token may not post (a fork's read-only token): the warning workflow command and the job
/// summary's note.
pub fn fallback(why: &str) -> (String, String) {
    (
        format!(
            "::warning title=cachebust::{}",
            data(&format!(
                "{why}; the findings are annotations and the job summary has the report"
            ))
        ),
        format!(
            "\n> cachebust could not post to the pull request ({}); the findings are annotations of this run.\n",
            data(why)
        ),
    )
}

/// A dry run could not list the files: it goes on with the local diff.
pub fn dry_run_files_unlisted(error: &str) -> String {
    super::visible_lines(&format!(
        "dry run: cannot list the pull request's files ({}); using the local diff",
        super::visible(error)
    ))
}

/// A dry run's account of the requests it did not send: a count, then each request (method,
/// route, and its body as pretty JSON text).
pub fn dry_run_requests(requests: &[(String, String, Option<String>)]) -> String {
    let mut o = format!("dry run: {} request(s) would be sent\n", requests.len());
    for (method, route, body) in requests {
        o.push_str(&format!("{method} {route}\n"));
        if let Some(b) = body {
            o.push_str(&super::json_printed(b.clone()));
            o.push('\n');
        }
    }
    o
}
