//! The review plan: which findings become inline comments on a pull request (only lines on the
//! right side of the diff, inside one hunk, never across a deleted line: GitHub refuses the whole
//! review otherwise), their bodies with `suggestion` blocks, hidden fingerprint markers, the
//! sticky summary and the job summary (cost first, chains, what could not go inline), kept under
//! GitHub's size limits, and workflow-command annotations for when posting is not allowed.
//! Everything taken from the pull request is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

pub use super::markdown::escape_sentence;
use super::markdown::{escape, inline_code};
use crate::engine::fix::{Applicability, Fix};
use crate::engine::report::{DockerfileReport, Report};
use crate::engine::rules::Finding;
use crate::ports::PullFile;

/// GitHub's limit on comment and review bodies.
pub const BODY_LIMIT: usize = 65_536;
/// The limit of a step summary file.
pub const JOB_SUMMARY_LIMIT: usize = 1024 * 1024;
/// reviewdog's cap on inline comments per review.
pub const DEFAULT_MAX_INLINE: usize = 30;

/// The marker of the sticky summary comment.
pub const SUMMARY_MARKER: &str = "<!-- cachebust:summary -->";
/// The prefix of a finding's marker (`<!-- cachebust:fp=… -->`).
pub const FINDING_MARKER: &str = "<!-- cachebust:fp=";
/// The prefix of a review body's marker (`<!-- cachebust:review head=… -->`).
pub const REVIEW_MARKER: &str = "<!-- cachebust:review head=";

/// One line of a hunk: `+` added, ` ` context, `-` deleted; `new` is the right-side number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: char,
    pub new: Option<u32>,
}

/// Parse a file's `patch` (the hunks of a unified diff) into lines with right-side numbers.
pub fn parse_patch(patch: &str) -> Vec<Vec<DiffLine>> {
    let mut hunks: Vec<Vec<DiffLine>> = Vec::new();
    let mut next_new = 0u32;
    for l in patch.lines() {
        if let Some(rest) = l.strip_prefix("@@") {
            // @@ -a,b +c,d @@
            let plus = rest.split_whitespace().find(|w| w.starts_with('+'));
            next_new = plus
                .and_then(|w| w[1..].split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            hunks.push(Vec::new());
            continue;
        }
        let Some(h) = hunks.last_mut() else { continue };
        match l.chars().next() {
            Some('+') => {
                h.push(DiffLine {
                    kind: '+',
                    new: Some(next_new),
                });
                next_new += 1;
            }
            Some('-') => h.push(DiffLine {
                kind: '-',
                new: None,
            }),
            Some('\\') => {} // "\ No newline at end of file"
            _ => {
                h.push(DiffLine {
                    kind: ' ',
                    new: Some(next_new),
                });
                next_new += 1;
            }
        }
    }
    hunks
}

/// Whether right-side lines `start..=end` can carry one comment: all in one hunk, contiguous,
/// with no deleted line among them.
pub fn anchorable(hunks: &[Vec<DiffLine>], start: u32, end: u32) -> bool {
    hunks.iter().any(|h| {
        let Some(a) = h.iter().position(|d| d.new == Some(start)) else {
            return false;
        };
        let Some(b) = h.iter().position(|d| d.new == Some(end)) else {
            return false;
        };
        a <= b && h[a..=b].iter().all(|d| d.kind != '-')
    })
}

/// A fence longer than any backtick run in `content` (at least three).
pub fn fence_for(content: &str) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// A finding's marker: rule code and a hash of the path and the line-independent fingerprint
/// (no text from the pull request, which could close the HTML comment).
pub fn marker_id(path: &str, f: &Finding) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes().chain([0u8]).chain(f.fingerprint.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{h:016x}", f.code)
}

pub fn finding_marker(id: &str) -> String {
    format!("{FINDING_MARKER}{id} -->")
}

/// The marker id a posted body carries, if any.
pub fn marker_in(body: &str) -> Option<&str> {
    let at = body.find(FINDING_MARKER)? + FINDING_MARKER.len();
    let rest = &body[at..];
    Some(&rest[..rest.find(" -->")?])
}

/// A fix as a suggestion: the lines of `path` it replaces (1-based, inclusive) and their new
/// text, when every edit is in that file.
pub fn suggestion(fix: &Fix, path: &str, source: &str) -> Option<(u32, u32, String)> {
    if fix.edits.is_empty() || fix.edits.iter().any(|e| e.file != path) {
        return None;
    }
    let line_of = |off: usize| source[..off.min(source.len())].matches('\n').count() as u32 + 1;
    let total = source.lines().count().max(1) as u32;
    let mut first = u32::MAX;
    let mut last = 0;
    for e in &fix.edits {
        let a = line_of(e.range.start);
        let b = if e.range.is_empty() {
            a
        } else {
            // an edit ending right after a newline ends on the line before
            let end = if source[..e.range.end].ends_with('\n') {
                e.range.end - 1
            } else {
                e.range.end
            };
            line_of(end)
        };
        first = first.min(a.min(total));
        last = last.max(b.min(total));
    }
    let files = BTreeMap::from([(path.to_string(), source.to_string())]);
    let (out, applied) = crate::engine::fix::apply(&files, &[fix]);
    if applied.is_empty() {
        return None;
    }
    let new = out.get(path)?;
    let old_lines: Vec<&str> = source.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    // lines before `first` and after `last` are unchanged: the replacement is what lies between
    let tail = old_lines.len().saturating_sub(last as usize);
    let from = (first - 1) as usize;
    let to = new_lines.len().checked_sub(tail)?;
    if to < from {
        return None;
    }
    let replacement = new_lines[from..to].join("\n");
    let old = old_lines.get(from..last as usize)?.join("\n");
    (replacement != old).then_some((first, last, replacement))
}

/// A comment to post inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedComment {
    pub marker: String,
    pub path: String,
    pub start_line: Option<u32>,
    pub line: u32,
    pub body: String,
}

/// A finding that stays in the summary, and why.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub path: String,
    pub finding: Finding,
    pub why: &'static str,
    /// The fix as a unified diff, if it has one.
    pub diff: String,
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
}

fn sev_rank(f: &Finding) -> u8 {
    match f.severity {
        crate::engine::dockerfile::Severity::Error => 0,
        crate::engine::dockerfile::Severity::Warning => 1,
        crate::engine::dockerfile::Severity::Info => 2,
    }
}

fn applicability_note(a: Applicability) -> &'static str {
    match a {
        Applicability::Safe => "Safe fix: the image keeps the same files.",
        Applicability::Unsafe => {
            "Review before committing: this fix changes what the image holds or may change what a step does."
        }
        Applicability::DisplayOnly => "Complete by hand: the fix has a placeholder.",
    }
}

/// The body of an inline comment.
fn comment_body(
    marker: &str,
    f: &Finding,
    suggestion_text: Option<&str>,
    other_diff: Option<&str>,
) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "{}", finding_marker(marker));
    let _ = writeln!(
        b,
        "**{} {}** ({}): {}",
        f.code,
        escape(f.name),
        sev_word(f),
        escape_sentence(&f.message)
    );
    if let Some(s) = super::savings_sentence(f) {
        let _ = writeln!(b, "\n{}", escape_sentence(&capitalize(&s)));
    }
    if let Some(x) = &f.fix {
        if let Some(t) = suggestion_text {
            let fence = fence_for(t);
            let _ = writeln!(b, "\n{fence}suggestion\n{t}\n{fence}");
        }
        if let Some(d) = other_diff.filter(|d| !d.is_empty()) {
            let fence = fence_for(d);
            let _ = writeln!(
                b,
                "\n{}:\n\n{fence}diff\n{}{fence}",
                escape_sentence(&x.description),
                d
            );
        }
        let _ = writeln!(
            b,
            "\n<sub>{} `cachebust fix{}` applies it locally.</sub>",
            applicability_note(x.applicability),
            if x.applicability == Applicability::Unsafe {
                " --unsafe"
            } else {
                ""
            }
        );
    }
    b
}

fn sev_word(f: &Finding) -> &'static str {
    match sev_rank(f) {
        0 => "error",
        1 => "warning",
        _ => "info",
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Plan the review of a report over the pull request's changed files.
pub fn plan(report: &Report, files: &[PullFile], opts: &PlanOptions<'_>) -> ReviewPlan {
    let hunks: BTreeMap<&str, Vec<Vec<DiffLine>>> = files
        .iter()
        .filter_map(|f| {
            f.patch
                .as_deref()
                .map(|p| (f.path.as_str(), parse_patch(p)))
        })
        .collect();
    let mut candidates: Vec<(&DockerfileReport, &Finding)> = report
        .dockerfiles
        .iter()
        .flat_map(|d| {
            d.findings
                .iter()
                .filter(|f| f.relevant)
                .map(move |f| (d, f))
        })
        .collect();
    // most severe first, then what saves the most
    candidates.sort_by(|(_, a), (_, b)| {
        let saved = |f: &Finding| {
            f.savings
                .as_ref()
                .map_or(0.0, |s| s.seconds_before - s.seconds_after)
        };
        sev_rank(a)
            .cmp(&sev_rank(b))
            .then(saved(b).total_cmp(&saved(a)))
    });
    let mut inline = Vec::new();
    let mut leftovers = Vec::new();
    let mut live = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (df, f) in candidates {
        let marker = marker_id(&df.path, f);
        if !seen.insert(marker.clone()) {
            continue; // the same Dockerfile built twice (compose and plain): one comment
        }
        live.push(marker.clone());
        let source = df.sources.get(&df.path).map(String::as_str).unwrap_or("");
        let diff = f
            .fix
            .as_ref()
            .map(|x| super::diff::fix_diff(x, &df.sources))
            .unwrap_or_default();
        let file_hunks = hunks.get(df.path.as_str());
        // the range: the fix's lines when it is a suggestion here, else the finding's lines
        let sug = f
            .fix
            .as_ref()
            .filter(|x| x.applicability != Applicability::DisplayOnly)
            .and_then(|x| suggestion(x, &df.path, source));
        let (start, end, sug_text) = match &sug {
            Some((a, b, t)) if file_hunks.is_some_and(|h| anchorable(h, *a, *b)) => {
                (*a, *b, Some(t.as_str()))
            }
            _ => (f.line, f.end_line, None),
        };
        let why = match file_hunks {
            None => Some("its Dockerfile has no diff GitHub can comment on"),
            Some(h) if !anchorable(h, start, end) => Some("its lines are not part of the diff"),
            _ if inline.len() >= opts.max_inline => Some("over the limit of inline comments"),
            _ => None,
        };
        if let Some(why) = why {
            leftovers.push(Leftover {
                path: df.path.clone(),
                finding: f.clone(),
                why,
                diff,
            });
            continue;
        }
        let other = if sug_text.is_some() {
            None
        } else {
            Some(diff.as_str())
        };
        inline.push(PlannedComment {
            body: truncate(&comment_body(&marker, f, sug_text, other), BODY_LIMIT),
            marker,
            path: df.path.clone(),
            start_line: (start < end).then_some(start),
            line: end,
        });
    }
    let rebuilt = report.rebuilt_steps();
    let mut review_body = format!("{REVIEW_MARKER}{} -->\n", short_sha(opts.head_sha));
    let _ = write!(
        review_body,
        "**cachebust**: {} suggestion{} on lines of this change; the summary comment has the prediction ({} step{} lose their cache, about {} per build).",
        inline.len(),
        if inline.len() == 1 { "" } else { "s" },
        rebuilt,
        if rebuilt == 1 { "" } else { "s" },
        super::duration(report.rebuild_seconds())
    );
    let summary = summary_body(report, &leftovers, opts, BODY_LIMIT);
    let job_summary = summary_body(report, &leftovers, opts, JOB_SUMMARY_LIMIT);
    ReviewPlan {
        inline,
        leftovers,
        live_markers: live,
        review_body,
        summary,
        job_summary,
    }
}

fn short_sha(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(40)
        .collect()
}

/// The summary: the markdown report, the suggestions that are not inline, and notes; the least
/// important parts go first when the body is too long.
fn summary_body(
    report: &Report,
    leftovers: &[Leftover],
    opts: &PlanOptions<'_>,
    limit: usize,
) -> String {
    let head = format!("{SUMMARY_MARKER}\n");
    let mut extra = String::new();
    if let Some(n) = opts.files_note {
        let _ = writeln!(extra, "\n> **Note:** {}\n", escape(n));
    }
    if !leftovers.is_empty() {
        let _ = writeln!(extra, "\n### Suggestions not shown inline\n");
        for l in leftovers {
            let f = &l.finding;
            let _ = writeln!(
                extra,
                "- {} line {}: **{} {}** ({}) — {}",
                inline_code(&l.path),
                f.line,
                f.code,
                escape(f.name),
                l.why,
                escape_sentence(&f.message)
            );
            if let Some(s) = super::savings_sentence(f) {
                let _ = writeln!(extra, "  {}", escape_sentence(&capitalize(&s)));
            }
            if !l.diff.is_empty() {
                let fence = fence_for(&l.diff);
                let _ = writeln!(
                    extra,
                    "\n  <details><summary>{}</summary>\n\n{fence}diff\n{}{fence}\n  </details>\n",
                    f.fix
                        .as_ref()
                        .map(|x| escape_sentence(&x.description))
                        .unwrap_or_default(),
                    l.diff
                );
            }
        }
    }
    let mut tail = String::new();
    if let Some(u) = opts.run_url {
        let _ = writeln!(
            tail,
            "\n<sub>[cachebust run]({}) · head {}</sub>",
            u.replace(['(', ')', ' '], ""),
            short_sha(opts.head_sha)
        );
    }
    let full = super::markdown::render(report);
    let body = format!("{head}{full}{extra}{tail}");
    if body.len() <= limit {
        return body;
    }
    // first drop the per-step tables, then cut with a note
    let compact = super::markdown::render_compact(report);
    let body = format!("{head}{compact}{extra}{tail}");
    if body.len() <= limit {
        return body;
    }
    let note = "\n\n… (truncated: the full report is in the job summary and the JSON report)\n";
    let mut cut = limit.saturating_sub(note.len() + tail.len());
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut t = body[..cut].to_string();
    // do not leave a code fence or a details block open
    if t.matches("```").count() % 2 == 1 {
        t.push_str("\n```");
    }
    t.push_str(note);
    t.push_str(&tail);
    t
}

/// Cut a body to `limit` characters with a note, closing an open fence.
pub fn truncate(body: &str, limit: usize) -> String {
    if body.len() <= limit {
        return body.to_string();
    }
    let note = "\n\n… (truncated)\n";
    let mut cut = limit - note.len() - 8;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut t = body[..cut].to_string();
    if t.matches("```").count() % 2 == 1 {
        t.push_str("\n```");
    }
    t.push_str(note);
    t
}

/// Workflow-command annotations for every relevant finding and every rebuilt chain's origin
/// (when no review can be posted), escaped as `@actions/core` does.
pub fn annotations(report: &Report) -> String {
    let mut o = String::new();
    for df in &report.dockerfiles {
        for f in df.findings.iter().filter(|f| f.relevant) {
            let level = if sev_rank(f) == 0 {
                "error"
            } else if sev_rank(f) == 1 {
                "warning"
            } else {
                "notice"
            };
            let mut msg = f.message.clone();
            if let Some(s) = super::savings_sentence(f) {
                msg.push_str(&format!(" — {s}"));
            }
            let _ = writeln!(
                o,
                "::{level} file={},line={},endLine={},title={}::{}",
                prop(&df.path),
                f.line,
                f.end_line,
                prop(&format!("{} {}", f.code, f.name)),
                data(&msg)
            );
        }
        for (origin, follow) in super::chains(df) {
            let why = origin
                .cause
                .as_ref()
                .map(|c| super::cause_sentence(c, df))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "::notice file={},line={},endLine={},title={}::{}",
                prop(&df.path),
                origin.line,
                origin.end_line,
                prop("cachebust: cache miss"),
                data(&format!(
                    "rebuilds ({} step{} follow): {why}",
                    follow.len(),
                    if follow.len() == 1 { "" } else { "s" }
                ))
            );
        }
    }
    o
}

/// Escape a workflow-command message.
pub fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow-command property value.
pub fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
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
