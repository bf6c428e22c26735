//! The review plan: which findings become inline comments on a pull request (only lines on the
//! right side of the diff, inside one hunk, never across a deleted line: GitHub refuses the whole
//! review otherwise), their bodies with `suggestion` blocks, hidden fingerprint markers, the
//! sticky summary and the job summary (cost first, chains, what could not go inline), kept under
//! GitHub's size limits, and workflow-command annotations for when posting is not allowed.
//! Everything taken from the pull request is escaped.
//!
//! By concern: `hunks` (diff parsing), `placement` (candidates, suggestion pieces, anchoring,
//! merging, the inline limit), `markers` (the marker protocol), `bodies` (comments, review body,
//! summaries, size limits), `annotations` (workflow commands); here the plan's types and `plan`.

use std::collections::BTreeMap;
use std::fmt::Write;

pub use super::markdown::escape_sentence;
use super::markdown::{escape, fix_words, html, inline_code, rule_link, sentence};
use crate::engine::fix::{Applicability, Fix};
use crate::engine::pull::PullFile;
use crate::engine::report::{DockerfileReport, Report};
use crate::engine::rules::Finding;

mod annotations;
mod bodies;
mod hunks;
mod markers;
mod placement;

pub use annotations::{annotations, data, prop};
use bodies::*;
pub use bodies::{fence_for, refused_summary, truncate};
pub use hunks::{DiffLine, anchorable, parse_patch};
pub use markers::{
    FINDING_MARKER, REVIEW_MARKER, RUN_MARKER, SUMMARY_MARKER, finding_marker, has_run_marker,
    marker_id, marker_in, run_marker, with_run_marker,
};
pub use placement::suggestion;
use placement::*;

/// GitHub's limit on comment and review bodies.
pub const BODY_LIMIT: usize = 65_536;
/// The limit of a step summary file.
pub const JOB_SUMMARY_LIMIT: usize = 1024 * 1024;
/// reviewdog's cap on inline comments per review.
pub const DEFAULT_MAX_INLINE: usize = 30;

/// A comment to post inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedComment {
    pub marker: String,
    pub path: String,
    pub start_line: Option<u32>,
    pub line: u32,
    pub body: String,
    /// The text of its `suggestion` block, if it has one: it replaces lines
    /// `start_line.unwrap_or(line)..=line` of the head file.
    pub suggestion: Option<String>,
    /// The findings (marker ids) whose own part of a merged fix the suggestion is, rather than
    /// the merged fix they carry.
    pub own_parts: Vec<String>,
}

/// A finding that stays in the summary, and why.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub path: String,
    pub finding: Finding,
    pub why: &'static str,
    /// The fix as a unified diff, if it has one.
    pub diff: String,
    /// What it says about its saving (`render::claim_short`).
    pub claim: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReviewPlan {
    pub inline: Vec<PlannedComment>,
    pub leftovers: Vec<Leftover>,
    /// The marker ids of every finding of this run (inline or not): posted comments whose
    /// marker is not here are stale.
    pub live_markers: Vec<String>,
    /// Body of the review that carries the inline comments.
    pub review_body: String,
    /// Body of the sticky summary comment (≤ 65,536 characters).
    pub summary: String,
    /// The job summary (≤ 1 MiB).
    pub job_summary: String,
}

pub struct PlanOptions<'a> {
    pub head_sha: &'a str,
    pub max_inline: usize,
    /// A link to the run, shown in the summary.
    pub run_url: Option<&'a str>,
    /// Why the changed files are incomplete (the host's 3,000-file limit), if they are.
    pub files_note: Option<&'a str>,
    /// Where the rule pages live (`https://github.com/OWNER/cachebust/blob/REF/docs/rules`):
    /// rule codes link to `<rules_url>/CB00N.md`.
    pub rules_url: Option<&'a str>,
    /// The head's files (`https://github.com/OWNER/REPO/blob/SHA`): the summary links each
    /// inline suggestion to its line.
    pub blob_url: Option<&'a str>,
}

impl<'a> PlanOptions<'a> {
    pub fn new(head_sha: &'a str) -> PlanOptions<'a> {
        PlanOptions {
            head_sha,
            max_inline: DEFAULT_MAX_INLINE,
            run_url: None,
            files_note: None,
            rules_url: None,
            blob_url: None,
        }
    }
}

fn sev_rank(f: &Finding) -> u8 {
    match f.severity {
        crate::engine::dockerfile::Severity::Error => 0,
        crate::engine::dockerfile::Severity::Warning => 1,
        crate::engine::dockerfile::Severity::Info => 2,
    }
}

fn applicability_rank(a: Applicability) -> u8 {
    match a {
        Applicability::Safe => 0,
        Applicability::Unsafe => 1,
        Applicability::DisplayOnly => 2,
    }
}

/// Plan the review of a report over the pull request's changed files: the findings about the
/// change, where each can go inline (a suggestion, its diff, or the summary), overlapping
/// suggestions merged, the inline limit applied by bundles, then the comments and bodies.
pub fn plan(report: &Report, files: &[PullFile], opts: &PlanOptions<'_>) -> ReviewPlan {
    let hunks: BTreeMap<&str, Vec<Vec<DiffLine>>> = files
        .iter()
        .filter_map(|f| {
            f.patch
                .as_deref()
                .map(|p| (f.path.as_str(), parse_patch(p)))
        })
        .collect();
    let (mut cands, mut live) = candidates(report);
    let mut placed = place(&mut cands, &hunks);
    let mut drafts = merge_overlaps(&cands, placed.by_file, &mut placed.plain);
    add_plain_drafts(&mut cands, &mut drafts, &placed.plain);
    let inline_drafts = choose_inline(
        &mut cands,
        &drafts,
        &mut placed.leftovers_at,
        opts.max_inline,
    );
    let inline = comments(&cands, &drafts, inline_drafts, &mut live, opts.rules_url);
    let leftovers: Vec<Leftover> = cands
        .iter()
        .zip(&placed.leftovers_at)
        .filter_map(|(c, why)| {
            why.map(|why| Leftover {
                path: c.df.path.clone(),
                finding: c.f.clone(),
                why,
                diff: c.diff.clone(),
                claim: c.claim(),
            })
        })
        .collect();
    let inline_findings: Vec<&Cand> = cands
        .iter()
        .zip(&placed.leftovers_at)
        .filter(|(_, w)| w.is_none())
        .map(|(c, _)| c)
        .collect();
    let review_body = review_body(report, &inline, opts.head_sha);
    let n = inline.len();
    let summary = summary_body(report, (&inline_findings, n), &leftovers, opts, BODY_LIMIT);
    let job_summary = summary_body(
        report,
        (&inline_findings, n),
        &leftovers,
        opts,
        JOB_SUMMARY_LIMIT,
    );
    ReviewPlan {
        inline,
        leftovers,
        live_markers: live,
        review_body,
        summary,
        job_summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "@@ -1,4 +1,5 @@\n FROM a\n-ARG X\n+ARG Y\n+RUN y\n RUN a\n RUN b\n@@ -10,2 +11,3 @@\n RUN c\n+RUN d\n RUN e";

    #[test]
    fn hunks_and_anchors() {
        let h = parse_patch(PATCH);
        assert_eq!(h.len(), 2);
        assert!(anchorable(&h, 2, 3)); // two added lines
        assert!(!anchorable(&h, 1, 2)); // spans the deleted line
        assert!(anchorable(&h, 3, 5));
        assert!(anchorable(&h, 12, 12));
        assert!(!anchorable(&h, 5, 11)); // two hunks
        assert!(!anchorable(&h, 7, 7)); // outside
    }

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(fence_for("RUN echo hi"), "```");
        assert_eq!(fence_for("RUN echo ````x"), "`````");
    }

    #[test]
    fn escapes_for_workflow_commands() {
        assert_eq!(prop("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
        assert_eq!(data("50%\r\nx"), "50%25%0D%0Ax");
        assert_eq!(data("a\u{1b}[2J\u{202e}b"), "a\\u{1b}[2J\\u{202e}b");
    }

    #[test]
    fn markers_are_read_only_where_cachebust_writes_them() {
        let m = finding_marker("CB001-00ff");
        assert_eq!(marker_in(&format!("{m}\nours")), Some("CB001-00ff"));
        // quoted, in a code block, after text: someone else's text
        for body in [
            format!("> {m}\nquoted"),
            format!("```\n{m}\n```"),
            format!("see\n{m}"),
            format!(" {m}"),
        ] {
            assert_eq!(marker_in(&body), None, "{body}");
        }
        // a run's marker is the last line, and cannot close its comment
        let b = with_run_marker("<!-- cachebust:summary -->\nbody\n", "job-7-1");
        assert!(b.ends_with("\n<!-- cachebust:run job-7-1 -->"), "{b}");
        assert!(has_run_marker(&b, "job-7-1"));
        assert!(!has_run_marker(&b, "job-7-2"));
        assert_eq!(run_marker("a --> b\n<x>"), "<!-- cachebust:run a--bx -->");
        let long = "x".repeat(BODY_LIMIT + 10);
        assert!(with_run_marker(&long, "n").len() <= BODY_LIMIT);
    }

    #[test]
    fn a_refusal_says_what_and_why_escaped() {
        let s = refused_summary(
            "the analysis ran out of its memory budget (32 MiB per pull request) in <b>@x</b>.",
            "0123456789abcdef",
            Some("https://github.com/o/r/actions/runs/1"),
        );
        assert!(s.starts_with(SUMMARY_MARKER), "{s}");
        assert!(s.contains("this pull request was not analysed"), "{s}");
        assert!(s.contains("32 MiB per pull request"), "{s}");
        // markup and mentions only inside a code span, where GFM shows them as text
        assert!(s.contains("`<b>@x</b>`"), "{s}");
        assert_eq!(s.matches("<b>").count(), 1, "{s}");
        assert_eq!(s.matches("@x").count(), 1, "{s}");
        assert!(s.contains("0123456"), "{s}");
    }

    #[test]
    fn markers_round_trip() {
        let body = format!("{}\ntext", finding_marker("CB001-00ff"));
        assert_eq!(marker_in(&body), Some("CB001-00ff"));
        assert_eq!(marker_in("no marker"), None);
    }

    #[test]
    fn suggestion_lines_of_a_move() {
        let src = "FROM a\nARG SHA\nRUN x\nRUN y\nLABEL s=$SHA\n";
        let fix = Fix {
            applicability: Applicability::Safe,
            description: "move".into(),
            edits: vec![
                crate::engine::fix::Edit::delete("D", 7..15),
                crate::engine::fix::Edit::insert("D", 27, "ARG SHA\n"),
            ],
        };
        let (a, b, t) = suggestion(&fix, "D", src).unwrap();
        assert_eq!((a, b), (2, 5));
        assert_eq!(t, "RUN x\nRUN y\nARG SHA\nLABEL s=$SHA");
    }
}
