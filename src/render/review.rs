//! The review plan: which findings become inline comments on a pull request (only lines on the
//! right side of the diff, inside one hunk, never across a deleted line: GitHub refuses the whole
//! review otherwise), their bodies with `suggestion` blocks, hidden fingerprint markers, the
//! sticky summary and the job summary (cost first, chains, what could not go inline), kept under
//! GitHub's size limits, and workflow-command annotations for when posting is not allowed.
//! Everything taken from the pull request is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

pub use super::markdown::escape_sentence;
use super::markdown::{applicability_words, escape, html, inline_code, rule_link, sentence};
use crate::engine::fix::{Applicability, Fix};
use crate::engine::pull::PullFile;
use crate::engine::report::{DockerfileReport, Report};
use crate::engine::rules::Finding;

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
/// The prefix of a run's marker (`<!-- cachebust:run … -->`), the last line of every body a
/// run creates: a POST whose answer was lost is found by it.
pub const RUN_MARKER: &str = "<!-- cachebust:run ";

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

/// The marker id a posted body carries, if any: only on its first line, where cachebust writes
/// it (a quote or a code block further down is someone else's text).
pub fn marker_in(body: &str) -> Option<&str> {
    let first = body.lines().next()?;
    let rest = first.strip_prefix(FINDING_MARKER)?;
    let id = rest.strip_suffix(" -->")?;
    (!id.is_empty() && !id.contains(' ')).then_some(id)
}

/// A run's marker: `nonce` with anything but `[A-Za-z0-9._-]` left out (at most 80 of them),
/// so that it cannot close the HTML comment.
pub fn run_marker(nonce: &str) -> String {
    let clean: String = nonce
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(80)
        .collect();
    format!("{RUN_MARKER}{clean} -->")
}

/// `body` with the run's marker as its last line, within GitHub's limit.
pub fn with_run_marker(body: &str, nonce: &str) -> String {
    let marker = run_marker(nonce);
    let mut b = truncate(body.trim_end_matches('\n'), BODY_LIMIT - marker.len() - 1);
    b.push('\n');
    b.push_str(&marker);
    b
}

/// Whether `body` ends with the run's marker (where `with_run_marker` puts it).
pub fn has_run_marker(body: &str, nonce: &str) -> bool {
    body.trim_end().ends_with(&run_marker(nonce))
}

/// The sticky summary of a pull request that was not analysed: what was refused and why. The
/// reason may name files of the pull request: it is escaped.
pub fn refused_summary(why: &str, head_sha: &str, run_url: Option<&str>) -> String {
    let mut o = format!(
        "{SUMMARY_MARKER}\n### cachebust: this pull request was not analysed\n\n{}.\n\nNothing is known about what it does to the build cache: review its Docker changes by hand, or push a change that stays within the limits.\n",
        escape(why.trim_end_matches('.'))
    );
    let _ = write!(o, "\n<sub>head {}", short_sha(head_sha));
    if let Some(u) = run_url {
        let _ = write!(
            o,
            " · [cachebust run]({})",
            u.replace(['(', ')', ' ', '<', '>'], "")
        );
    }
    o.push_str("</sub>\n");
    truncate(&o, BODY_LIMIT)
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

/// The closing line of a comment: how safe the fix is, in words (no CLI flags).
fn applicability_note(a: Applicability) -> String {
    let w = applicability_words(a);
    format!("<sub>{}.</sub>", capitalize(w))
}

/// The heading of a finding: linked rule code, name, and its claim (`render::claim_short`:
/// what the fix saves here, stated once per patch).
fn finding_heading(f: &Finding, claim: Option<&str>, rules_url: Option<&str>) -> String {
    let mut h = format!("**{} {}**", rule_link(f.code, rules_url), escape(f.name));
    if let Some(s) = claim {
        h.push_str(&format!(" · {}", escape(s)));
    }
    h
}

/// Which end of a move a piece is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Whole,
    Removal,
    Insertion,
}

/// A suggestion range of one finding: the lines it replaces and the edits that make it.
#[derive(Debug, Clone)]
struct Piece {
    finding: usize,
    start: u32,
    end: u32,
    edits: Vec<crate::engine::fix::Edit>,
    end_kind: End,
}

/// A move: one deletion and one insertion of the same text, on lines apart.
fn move_ends(fix: &Fix) -> Option<(usize, usize)> {
    if fix.edits.len() != 2 {
        return None;
    }
    let del = fix
        .edits
        .iter()
        .position(|e| e.content.is_empty() && !e.range.is_empty())?;
    let ins = 1 - del;
    let (d, i) = (&fix.edits[del], &fix.edits[ins]);
    (i.range.is_empty() && !i.content.is_empty() && d.file == i.file).then_some((del, ins))
}

/// The suggestion pieces of a fix in `path`: one, or two for a move whose ends are apart.
fn pieces_of(idx: usize, fix: &Fix, path: &str, source: &str) -> Option<Vec<Piece>> {
    if fix.applicability == Applicability::DisplayOnly {
        return None;
    }
    if let Some((del, ins)) = move_ends(fix) {
        let one = |e: usize| {
            let f = Fix {
                applicability: fix.applicability,
                description: String::new(),
                edits: vec![fix.edits[e].clone()],
            };
            suggestion(&f, path, source).map(|(a, b, _)| (a, b))
        };
        if let (Some((a1, b1)), Some((a2, b2))) = (one(del), one(ins)) {
            if b1 + 1 < a2 || b2 + 1 < a1 {
                return Some(vec![
                    Piece {
                        finding: idx,
                        start: a1,
                        end: b1,
                        edits: vec![fix.edits[del].clone()],
                        end_kind: End::Removal,
                    },
                    Piece {
                        finding: idx,
                        start: a2,
                        end: b2,
                        edits: vec![fix.edits[ins].clone()],
                        end_kind: End::Insertion,
                    },
                ]);
            }
        }
    }
    let (a, b, _) = suggestion(fix, path, source)?;
    Some(vec![Piece {
        finding: idx,
        start: a,
        end: b,
        edits: fix.edits.clone(),
        end_kind: End::Whole,
    }])
}

/// The edits of some pieces, each once: findings whose fixes the engine merged carry the same
/// edits, which make one suggestion.
fn distinct_edits(pieces: &[Piece]) -> Vec<crate::engine::fix::Edit> {
    let mut out: Vec<crate::engine::fix::Edit> = Vec::new();
    for e in pieces.iter().flat_map(|p| &p.edits) {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// One candidate finding of the plan.
struct Cand<'r> {
    df: &'r DockerfileReport,
    f: &'r Finding,
    marker: String,
    diff: String,
    /// Inline with a `suggestion` block (not only its diff).
    suggested: bool,
    /// Its suggestion is its own fix: the merged one it carries cannot be anchored.
    own: bool,
}

impl Cand<'_> {
    /// The fix its comment offers: its own part when `own`, else the (maybe merged) fix.
    fn offered(&self) -> Option<&Fix> {
        if self.own {
            self.f.own_fix.as_ref()
        } else {
            self.f.fix.as_ref()
        }
    }

    /// The finding as its comment shows it: with its own fix's savings when it offers that.
    fn shown(&self) -> std::borrow::Cow<'_, Finding> {
        if self.own {
            let mut f = self.f.clone();
            f.savings = f.own_savings.clone();
            f.fix = f.own_fix.clone();
            std::borrow::Cow::Owned(f)
        } else {
            std::borrow::Cow::Borrowed(self.f)
        }
    }

    /// What it says about its saving, as every surface says it (`render::claim_short`); the
    /// comment offering its own part of a merged patch names the finding that counts the
    /// patch's saving too.
    fn claim(&self) -> Option<String> {
        super::claim_short(self.df, self.f)
    }

    /// Whether its fix is merged with other findings' (one patch for several).
    fn merged(&self) -> bool {
        self.f.own_fix.is_some() && self.f.fix.is_some()
    }
}

/// A comment being planned: the findings it carries and its range.
struct Draft {
    findings: Vec<usize>,
    pieces: Vec<Piece>,
    start: u32,
    end: u32,
    suggestion: Option<String>,
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

/// The findings about the change, most severe first, then what saves the most; one per
/// Dockerfile and finding (the same Dockerfile built twice gets one comment). Also the markers
/// of the comments that stay live.
fn candidates(report: &Report) -> (Vec<Cand<'_>>, Vec<String>) {
    let mut all: Vec<(&DockerfileReport, &Finding)> = report
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
    all.sort_by(|(_, a), (_, b)| {
        sev_rank(a)
            .cmp(&sev_rank(b))
            .then(super::saved_seconds(b).total_cmp(&super::saved_seconds(a)))
    });
    let mut live = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut cands: Vec<Cand> = Vec::new();
    // each Dockerfile's sources indexed once for all its fixes' diffs
    let diffs: BTreeMap<*const DockerfileReport, super::diff::FixDiffs> = report
        .dockerfiles
        .iter()
        .map(|d| {
            (
                std::ptr::from_ref(d),
                super::diff::FixDiffs::new(&d.sources),
            )
        })
        .collect();
    for (df, f) in all {
        let marker = marker_id(&df.path, f);
        if !seen.insert(marker.clone()) {
            continue; // the same Dockerfile built twice (compose and plain): one comment
        }
        live.push(marker.clone());
        let diff = f
            .fix
            .as_ref()
            .map(|x| match diffs.get(&std::ptr::from_ref(df)) {
                Some(diffs) => diffs.diff(x),
                None => super::diff::fix_diff(x, &df.sources),
            })
            .unwrap_or_default();
        cands.push(Cand {
            df,
            f,
            marker,
            diff,
            suggested: false,
            own: false,
        });
    }

    (cands, live)
}

/// Where each candidate can go before the limits: its suggestion pieces per file, inline with
/// only its diff (`plain`), or the summary with the reason (`leftovers_at`).
struct Placed<'r> {
    by_file: BTreeMap<&'r str, Vec<Piece>>,
    plain: Vec<usize>,
    leftovers_at: Vec<Option<&'static str>>,
}

/// The suggestion pieces whose every line can carry a comment, per file; a finding whose merged
/// fix cannot be anchored but whose own part can is marked `own`.
fn place<'r>(cands: &mut [Cand<'r>], hunks: &BTreeMap<&str, Vec<Vec<DiffLine>>>) -> Placed<'r> {
    let mut leftovers_at: Vec<Option<&'static str>> = vec![None; cands.len()];
    let mut by_file: BTreeMap<&str, Vec<Piece>> = BTreeMap::new();
    let mut plain: Vec<usize> = Vec::new(); // inline without a suggestion (the diff instead)
    let mut own_at: Vec<usize> = Vec::new(); // suggested with their own part of a merged fix
    for (i, c) in cands.iter().enumerate() {
        let path = c.df.path.as_str();
        let source = c.df.sources.get(path).map(String::as_str).unwrap_or("");
        let Some(h) = hunks.get(path) else {
            leftovers_at[i] = Some("its Dockerfile has no diff GitHub can comment on");
            continue;
        };
        let fits = |x: &Fix| {
            pieces_of(i, x, path, source)
                .filter(|p| p.iter().all(|p| anchorable(h, p.start, p.end)))
        };
        if let Some(p) = c.f.fix.as_ref().and_then(fits) {
            by_file.entry(path).or_default().extend(p);
        } else if let Some(p) = c.f.own_fix.as_ref().and_then(fits) {
            // the merged fix cannot be anchored, the finding's own part can: one click for
            // that part, the combined patch in the summary
            by_file.entry(path).or_default().extend(p);
            own_at.push(i);
        } else if anchorable(h, c.f.line, c.f.end_line) {
            plain.push(i);
        } else {
            leftovers_at[i] = Some("its lines are not part of the diff");
        }
    }
    for &i in &own_at {
        cands[i].own = true;
    }

    Placed {
        by_file,
        plain,
        leftovers_at,
    }
}

/// Pieces on overlapping lines become one suggestion, so that committing one never leaves
/// another stale; a finding whose edits cannot go together moves to `plain`.
fn merge_overlaps(
    cands: &[Cand<'_>],
    by_file: BTreeMap<&str, Vec<Piece>>,
    plain: &mut Vec<usize>,
) -> Vec<Draft> {
    let mut drafts: Vec<Draft> = Vec::new();
    for (path, mut pieces) in by_file {
        let source = cands[pieces[0].finding]
            .df
            .sources
            .get(path)
            .map(String::as_str)
            .unwrap_or("");
        pieces.sort_by_key(|p| (p.start, p.end));
        let mut clusters: Vec<Vec<Piece>> = Vec::new();
        for p in pieces {
            match clusters.last_mut() {
                Some(c) if c.iter().any(|q| p.start <= q.end && q.start <= p.end) => c.push(p),
                _ => clusters.push(vec![p]),
            }
        }
        for cl in clusters {
            let mut kept: Vec<Piece> = Vec::new();
            for p in cl {
                let mut trial = kept.clone();
                trial.push(p.clone());
                let fix = Fix {
                    applicability: Applicability::Safe,
                    description: String::new(),
                    edits: distinct_edits(&trial),
                };
                let files = BTreeMap::from([(path.to_string(), source.to_string())]);
                let edits = fix.edits.len();
                let single: Vec<Fix> = fix
                    .edits
                    .iter()
                    .map(|e| Fix {
                        edits: vec![e.clone()],
                        ..fix.clone()
                    })
                    .collect();
                let refs: Vec<&Fix> = single.iter().collect();
                let (_, applied) = crate::engine::fix::apply(&files, &refs);
                if applied.len() == edits && suggestion(&fix, path, source).is_some() {
                    kept.push(p);
                } else {
                    // edits that cannot go together: this finding is shown with its diff
                    drafts.retain(|d| !d.findings.contains(&p.finding));
                    kept.retain(|q| q.finding != p.finding);
                    if !plain.contains(&p.finding) {
                        plain.push(p.finding);
                    }
                }
            }
            if kept.is_empty() {
                continue;
            }
            let fix = Fix {
                applicability: Applicability::Safe,
                description: String::new(),
                edits: distinct_edits(&kept),
            };
            let Some((a, b, text)) = suggestion(&fix, path, source) else {
                continue;
            };
            let mut findings: Vec<usize> = kept.iter().map(|p| p.finding).collect();
            findings.sort();
            findings.dedup();
            drafts.push(Draft {
                findings,
                pieces: kept,
                start: a,
                end: b,
                suggestion: Some(text),
            });
        }
    }
    // a finding moved to the plain list loses its other pieces too (and shows the whole patch)
    drafts.retain(|d| d.findings.iter().all(|f| !plain.contains(f)));
    drafts
}

/// A draft for each finding inline with only its diff; findings that carry one merged fix
/// share one comment.
fn add_plain_drafts(cands: &mut [Cand<'_>], drafts: &mut Vec<Draft>, plain: &[usize]) {
    for &i in plain {
        cands[i].own = false;
    }
    let plain_from = drafts.len();
    for &i in plain {
        let c = &cands[i];
        // findings that carry one merged fix share one comment with its diff
        let same = drafts[plain_from..].iter_mut().find(|d| {
            let o = &cands[d.findings[0]];
            o.df.path == c.df.path && c.f.fix.is_some() && o.f.fix == c.f.fix
        });
        if let Some(d) = same {
            d.findings.push(i);
            continue;
        }
        drafts.push(Draft {
            findings: vec![i],
            pieces: Vec::new(),
            start: c.f.line,
            end: c.f.end_line,
            suggestion: None,
        });
    }
}

/// The drafts that go inline: findings tied together by shared comments go inline together or
/// not at all, up to `max_inline` comments; sorted by file and line. Marks the suggested ones.
fn choose_inline(
    cands: &mut [Cand<'_>],
    drafts: &[Draft],
    leftovers_at: &mut [Option<&'static str>],
    max_inline: usize,
) -> Vec<usize> {
    let mut bundle_of: Vec<usize> = (0..cands.len()).collect();
    fn root(b: &mut [usize], mut i: usize) -> usize {
        while b[i] != i {
            b[i] = b[b[i]];
            i = b[i];
        }
        i
    }
    for d in drafts {
        for w in d.findings.windows(2) {
            let (x, y) = (root(&mut bundle_of, w[0]), root(&mut bundle_of, w[1]));
            bundle_of[x.max(y)] = x.min(y);
        }
    }
    let mut inline_drafts: Vec<usize> = Vec::new();
    let mut decided = vec![false; cands.len()];
    for i in 0..cands.len() {
        if decided[i] || leftovers_at[i].is_some() {
            continue;
        }
        let r = root(&mut bundle_of, i);
        let members: Vec<usize> = (0..cands.len())
            .filter(|&j| root(&mut bundle_of, j) == r)
            .collect();
        let ds: Vec<usize> = (0..drafts.len())
            .filter(|&d| drafts[d].findings.iter().any(|f| members.contains(f)))
            .collect();
        for &m in &members {
            decided[m] = true;
        }
        if inline_drafts.len() + ds.len() > max_inline {
            for &m in &members {
                leftovers_at[m] = Some("over the limit of inline comments");
            }
        } else {
            inline_drafts.extend(ds);
        }
    }
    inline_drafts.sort_by_key(|&d| {
        let c = &cands[drafts[d].findings[0]];
        (c.df.path.clone(), drafts[d].start)
    });

    for &d in &inline_drafts {
        if drafts[d].suggestion.is_some() {
            for &f in &drafts[d].findings {
                cands[f].suggested = true;
            }
        }
    }
    inline_drafts
}

/// The inline comments of the chosen drafts (a marker per comment, kept in `live`).
fn comments(
    cands: &[Cand<'_>],
    drafts: &[Draft],
    inline_drafts: Vec<usize>,
    live: &mut Vec<String>,
    rules_url: Option<&str>,
) -> Vec<PlannedComment> {
    let mut inline = Vec::new();
    for d in inline_drafts {
        let d = &drafts[d];
        let first = &cands[d.findings[0]];
        let end_kind = d
            .pieces
            .iter()
            .map(|p| p.end_kind)
            .find(|k| *k != End::Whole)
            .unwrap_or(End::Whole);
        let marker = if d.findings.len() == 1 && end_kind == End::Whole {
            first.marker.clone()
        } else {
            let mut ids: Vec<String> = d
                .findings
                .iter()
                .map(|&i| cands[i].marker.clone())
                .collect();
            match end_kind {
                End::Removal => ids[0].push_str(":from"),
                End::Insertion => ids[0].push_str(":to"),
                End::Whole => {}
            }
            ids.join("+")
        };
        if marker != first.marker {
            live.push(marker.clone());
        }
        let body = comment_body(&marker, d, cands, rules_url);
        inline.push(PlannedComment {
            body: truncate(&body, BODY_LIMIT),
            marker,
            path: first.df.path.clone(),
            start_line: (d.start < d.end).then_some(d.start),
            line: d.end,
            suggestion: d.suggestion.clone(),
            own_parts: d
                .findings
                .iter()
                .filter(|&&i| cands[i].own && d.suggestion.is_some())
                .map(|&i| cands[i].marker.clone())
                .collect(),
        });
    }
    inline
}

/// The review's own body: the verdict and what the comments below offer.
fn review_body(report: &Report, inline: &[PlannedComment], head_sha: &str) -> String {
    let mut review_body = format!("{REVIEW_MARKER}{} -->\n", short_sha(head_sha));
    let n = inline.len();
    let clicks = inline.iter().filter(|c| c.suggestion.is_some()).count();
    let by_hand = n - clicks;
    let _ = write!(
        review_body,
        "**cachebust**: {}. {}; the summary comment has the details.",
        escape(&super::markdown::verdict(report, true, None)),
        match (clicks, by_hand) {
            (0, 0) => "No comments on the diff".to_string(),
            (1, 0) => "1 suggestion below, one click to commit".to_string(),
            (c, 0) => format!("{c} suggestions below, one click each"),
            (0, h) => format!(
                "{h} comment{} below, each patch to apply by hand",
                plural(h)
            ),
            (c, h) => format!(
                "{c} suggestion{} below, {}, and {h} comment{} whose patch is applied by hand",
                plural(c),
                if c == 1 { "one click to commit" } else { "one click each" },
                plural(h)
            ),
        }
    );
    review_body
}

/// The body of an inline comment: each finding it carries (linked rule, saving, message), the
/// one suggestion, the move's other end, and how safe the fix is.
fn comment_body(marker: &str, d: &Draft, cands: &[Cand], rules_url: Option<&str>) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "{}", finding_marker(marker));
    for &i in &d.findings {
        let shown = cands[i].shown();
        let f = shown.as_ref();
        let claim = cands[i].claim();
        let _ = writeln!(b, "{}\n", finding_heading(f, claim.as_deref(), rules_url));
        let _ = writeln!(b, "{}\n", escape_sentence(&sentence(&f.message)));
    }
    for p in &d.pieces {
        let f = cands[p.finding].f;
        let other = d
            .pieces
            .iter()
            .find(|q| q.finding == p.finding && q.end_kind != p.end_kind);
        let _ = match (p.end_kind, other) {
            (End::Removal, None) => writeln!(
                b,
                "Move, part 1 of 2 ({}): this takes the line out; the suggestion at line {} puts it back nearer its first use. Commit both together (add both to a batch).\n",
                f.code,
                other_end(cands, p, false).unwrap_or(0)
            ),
            (End::Insertion, None) => writeln!(
                b,
                "Move, part 2 of 2 ({}): this puts the line back, nearer its first use; the suggestion at line {} takes it out above. Commit both together (add both to a batch).\n",
                f.code,
                other_end(cands, p, true).unwrap_or(0)
            ),
            _ => Ok(()),
        };
    }
    if d.findings.len() > 1 && d.suggestion.is_some() {
        let _ = writeln!(
            b,
            "One suggestion for these {} fixes: they change the same lines.\n",
            d.findings.len()
        );
    }
    // a merged fix split for the diff: say where the rest is
    for &i in &d.findings {
        let c = &cands[i];
        if !c.merged() {
            continue;
        }
        let partners: Vec<&Cand> = cands
            .iter()
            .enumerate()
            .filter(|(j, o)| *j != i && o.df.path == c.df.path && o.f.fix == c.f.fix)
            .map(|(_, o)| o)
            .collect();
        let names = partners
            .iter()
            .map(|o| format!("{} line {}", o.f.code, o.f.line))
            .collect::<Vec<_>>()
            .join(", ");
        if c.own && d.suggestion.is_some() {
            let span = c
                .f
                .fix
                .as_ref()
                .and_then(|x| suggestion(x, &c.df.path, c.df.sources.get(&c.df.path)?))
                .map(|(a, z, _)| {
                    format!(
                        " (it spans lines {a}\u{2013}{z}, which a suggestion on this diff cannot)"
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "This suggestion is the {} part alone. One patch does it together with {names}: it is in the summary comment as a diff{span}.\n",
                c.f.code
            );
        } else if d.suggestion.is_none() {
            for o in partners.iter().filter(|o| o.own && o.suggested) {
                let _ = writeln!(
                    b,
                    "The {} part alone is a suggestion in the comment at line {}; the patch below does both.\n",
                    o.f.code, o.f.line
                );
            }
        }
    }
    if let Some(t) = &d.suggestion {
        let fence = fence_for(t);
        let _ = writeln!(b, "{fence}suggestion\n{t}\n{fence}\n");
    } else if let Some(c) = d.findings.first().map(|&i| &cands[i]) {
        if let (Some(x), false) = (&c.f.fix, c.diff.is_empty()) {
            let fence = fence_for(&c.diff);
            let _ = writeln!(
                b,
                "<details><summary>The patch: {}</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
                html(&x.description),
                c.diff
            );
        }
    }
    let worst = d
        .findings
        .iter()
        .filter_map(|&i| cands[i].offered().map(|x| x.applicability))
        .max_by_key(|a| applicability_rank(*a));
    if let Some(a) = worst {
        let _ = writeln!(b, "{}", applicability_note(a));
    }
    b
}

/// The line of one end of a move (`removal`: the line taken out, else where it goes back).
fn other_end(cands: &[Cand], p: &Piece, removal: bool) -> Option<u32> {
    let c = &cands[p.finding];
    let x = c.offered()?;
    let source = c.df.sources.get(&c.df.path)?;
    let (del, ins) = move_ends(x)?;
    let f = Fix {
        applicability: x.applicability,
        description: String::new(),
        edits: vec![x.edits[if removal { del } else { ins }].clone()],
    };
    suggestion(&f, &c.df.path, source).map(|(a, _, _)| a)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn short_sha(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(40)
        .collect()
}

/// A path in a URL.
fn url_path(p: &str) -> String {
    let mut o = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// One line per inline suggestion: linked rule, file and line, saving.
fn inline_list(inline: &[&Cand], comments: usize, opts: &PlanOptions<'_>) -> String {
    if inline.is_empty() {
        return String::new();
    }
    let mut o = format!(
        "**On the diff:** {} comment{}, each suggestion with a Commit button:\n\n",
        comments,
        if comments == 1 { "" } else { "s" }
    );
    for c in inline {
        let place = format!("{} line {}", inline_code(&c.df.path), c.f.line);
        let place = match opts.blob_url {
            Some(u) => format!(
                "[{place}]({}/{}#L{})",
                u.trim_end_matches('/')
                    .replace(['(', ')', ' ', '<', '>'], ""),
                url_path(&c.df.path),
                c.f.line
            ),
            None => place,
        };
        // the suggestion of its own part of a combined patch: the patch below, and which
        // finding counts its saving, said once
        let (note, claim) = match (c.suggested, c.own, super::claim(c.df, c.f)) {
            (true, true, super::Claim::Shares { by, .. }) => (
                format!(
                    " · its own part; the combined patch is below, its saving counted at {} line {}",
                    by.code, by.line
                ),
                None,
            ),
            (true, true, _) => (" · its own part; the combined patch is below".into(), c.claim()),
            (true, false, _) => (String::new(), c.claim()),
            (false, _, _) => (" · the patch is in the comment".into(), c.claim()),
        };
        let _ = writeln!(
            o,
            "- {} {} · {place}{note}{}",
            rule_link(c.f.code, opts.rules_url),
            escape(c.f.name),
            claim.map(|s| format!(" · {}", escape(&s))).unwrap_or_default()
        );
    }
    o.push('\n');
    o
}

/// The merged fixes whose inline suggestion is one finding's own part (the whole patch spans
/// lines a suggestion on the diff cannot): each once, as a diff.
fn combined_patches(inline: &[&Cand], rules_url: Option<&str>) -> String {
    let mut o = String::new();
    let mut done: Vec<(&str, &Fix)> = Vec::new();
    for c in inline.iter().filter(|c| c.own && c.suggested) {
        let (Some(x), false) = (&c.f.fix, c.diff.is_empty()) else {
            continue;
        };
        if done.iter().any(|(p, f)| *p == c.df.path && *f == x) {
            continue;
        }
        done.push((&c.df.path, x));
        let mut members: Vec<&&Cand> = inline
            .iter()
            .filter(|o| o.df.path == c.df.path && o.f.fix.as_ref() == Some(x))
            .collect();
        members.sort_by_key(|o| o.f.line);
        let names = members
            .iter()
            .map(|o| format!("{} line {}", rule_link(o.f.code, rules_url), o.f.line))
            .collect::<Vec<_>>()
            .join(" and ");
        let parts = members
            .iter()
            .filter(|o| o.own)
            .map(|o| {
                format!(
                    "{}'s part alone is the suggestion at line {}",
                    o.f.code, o.f.line
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let fence = fence_for(&c.diff);
        let _ = writeln!(
            o,
            "**Combined patch** · {} · {names} ({}): {parts}; this patch does both, on lines a suggestion on this diff cannot span.\n\n<details><summary>The patch: {}</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            inline_code(&c.df.path),
            escape(applicability_words(x.applicability)),
            html(&x.description),
            c.diff
        );
    }
    o
}

/// A suggestion that could not go inline, in full: heading, message, the patch in a
/// `<details>` block (never inside a list item, whose end would close the block early).
fn leftover_block(l: &Leftover, earlier: &[Leftover], rules_url: Option<&str>) -> String {
    let f = &l.finding;
    // a merged fix another leftover already showed: point to it
    let shown = earlier
        .iter()
        .find(|e| e.path == l.path && e.finding.fix.is_some() && e.finding.fix == f.fix);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} · {} line {}\n",
        finding_heading(f, l.claim.as_deref(), rules_url),
        inline_code(&l.path),
        f.line
    );
    let _ = writeln!(o, "{}\n", escape_sentence(&sentence(&f.message)));
    if let Some(e) = shown {
        let _ = writeln!(
            o,
            "Its fix is the one patch shown with {} line {} above.\n",
            e.finding.code, e.finding.line
        );
    } else if let (Some(x), false) = (&f.fix, l.diff.is_empty()) {
        let fence = fence_for(&l.diff);
        let _ = writeln!(
            o,
            "<details><summary>The patch ({}): {}</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            html(applicability_words(x.applicability)),
            html(&x.description),
            l.diff
        );
    }
    let _ = writeln!(o, "<sub>Not inline: {}.</sub>\n", l.why);
    o
}

/// The summary: the verdict, the inline suggestions one line each, the report, the suggestions
/// that are not inline in full, and notes. When the body is too long the per-step tables go
/// first, then the suggestions that do not fit (counted), then whole blocks from the end.
fn summary_body(
    report: &Report,
    (inline, comments): (&[&Cand], usize),
    leftovers: &[Leftover],
    opts: &PlanOptions<'_>,
    limit: usize,
) -> String {
    let head = format!("{SUMMARY_MARKER}\n");
    let mut notes = String::new();
    if let Some(n) = opts.files_note {
        let _ = writeln!(notes, "> **Note:** {}\n", escape(n));
    }
    let mut tail = String::new();
    if let Some(u) = opts.run_url {
        let _ = writeln!(
            tail,
            "\n<sub>[cachebust run]({}) · head {}</sub>",
            u.replace(['(', ')', ' ', '<', '>'], ""),
            short_sha(opts.head_sha)
        );
    }
    let n = inline.len();
    let mopts = |steps: bool| super::markdown::Options {
        steps,
        suggestions: false,
        verdict_extra: (n > 0).then(|| format!("{n} fix{} inline", if n == 1 { "" } else { "es" })),
        after_verdict: Some(format!(
            "{notes}{}{}",
            inline_list(inline, comments, opts),
            combined_patches(inline, opts.rules_url)
        )),
        rules_url: opts.rules_url.map(str::to_string),
        pull_request: true,
    };
    let blocks: Vec<String> = leftovers
        .iter()
        .enumerate()
        .map(|(i, l)| leftover_block(l, &leftovers[..i], opts.rules_url))
        .collect();
    let title = |k: usize| format!("\n### Suggestions not shown inline ({k})\n\n");
    for steps in [true, false] {
        let report_md = super::markdown::render_with(report, &mopts(steps));
        let mut body = format!("{head}{report_md}");
        if !blocks.is_empty() {
            body.push_str(&title(blocks.len()));
        }
        let fixed = body.len() + tail.len() + 200;
        let total: usize = blocks.iter().map(String::len).sum();
        if fixed + total <= limit {
            body.extend(blocks.iter().cloned());
            body.push_str(&tail);
            return body;
        }
        if steps {
            continue;
        }
        // as many suggestions as fit, then how many did not
        let mut used = fixed;
        let mut shown = 0;
        for b in &blocks {
            if used + b.len() > limit {
                break;
            }
            used += b.len();
            body.push_str(b);
            shown += 1;
        }
        if shown < blocks.len() {
            let _ = writeln!(
                body,
                "… and {} more suggestion{} (the job summary and the JSON report have them all).\n",
                blocks.len() - shown,
                if blocks.len() - shown == 1 { "" } else { "s" }
            );
        }
        if body.len() + tail.len() <= limit {
            body.push_str(&tail);
            return body;
        }
        let note = "\n… (truncated: the full report is in the job summary and the JSON report)\n";
        let mut t = cut_blocks(&body, limit.saturating_sub(note.len() + tail.len()));
        t.push_str(note);
        t.push_str(&tail);
        return t;
    }
    unreachable!("the compact pass returns")
}

/// Whether every fence and every `<details>` opened in `text` is closed.
fn balanced(text: &str) -> bool {
    let mut fence: Option<usize> = None;
    let mut details = 0i64;
    for line in text.lines() {
        let t = line.trim_start();
        let ticks = t.chars().take_while(|c| *c == '`').count();
        match fence {
            Some(n) => {
                if ticks >= n && t[ticks..].trim().is_empty() {
                    fence = None;
                }
            }
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                details += t.matches("<details>").count() as i64;
                details -= t.matches("</details>").count() as i64;
            }
        }
    }
    fence.is_none() && details == 0
}

/// The longest prefix of whole blocks (split at blank lines) within `limit` bytes that leaves
/// no fence or `<details>` open.
fn cut_blocks(body: &str, limit: usize) -> String {
    let mut ends: Vec<usize> = body.match_indices("\n\n").map(|(i, _)| i + 1).collect();
    ends.push(body.len());
    for &e in ends.iter().rev() {
        if e <= limit && balanced(&body[..e]) {
            return body[..e].to_string();
        }
    }
    String::new()
}

/// Cut a body to `limit` bytes at a block boundary, leaving no fence or `<details>` open.
pub fn truncate(body: &str, limit: usize) -> String {
    if body.len() <= limit {
        return body.to_string();
    }
    let note = "\n… (truncated)\n";
    let mut t = cut_blocks(body, limit.saturating_sub(note.len()));
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
            if let Some(s) = super::claim_sentence(df, f) {
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
            let why = super::chain_why(origin, df);
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

/// Escape a workflow-command message: `%`, CR and LF as `@actions/core` escapes them (the runner
/// reads them back), every other hidden character written out (`render::visible`: an
/// annotation shows what a name holds, and ESC never reaches the log).
pub fn data(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => o.push_str("%25"),
            '\r' => o.push_str("%0D"),
            '\n' => o.push_str("%0A"),
            c if super::is_hidden(c) => o.push_str(&super::visible(&c.to_string())),
            c => o.push(c),
        }
    }
    o
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
