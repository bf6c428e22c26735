//! The marker protocol: hidden HTML comments that identify cachebust's summary, review, run and
//! each finding's comment, written here and read back only where cachebust writes them.

use super::*;

/// The marker of the sticky summary comment.
pub const SUMMARY_MARKER: &str = "<!-- cachebust:summary -->";
/// The prefix of a finding's marker (`<!-- cachebust:fp=… -->`).
pub const FINDING_MARKER: &str = "<!-- cachebust:fp=";
/// The prefix of a review body's marker (`<!-- cachebust:review head=… -->`).
pub const REVIEW_MARKER: &str = "<!-- cachebust:review head=";
/// The prefix of a run's marker (`<!-- cachebust:run … -->`), the last line of every body a
/// run creates: a POST whose answer was lost is found by it.
pub const RUN_MARKER: &str = "<!-- cachebust:run ";

/// A finding's marker: rule code and a hash of the path and the line-independent fingerprint
/// (no text from the pull request, which could close the HTML comment).
pub fn marker_id(path: &str, f: &Finding) -> String {
    let h = crate::engine::hash::fnv1a(path.bytes().chain([0u8]).chain(f.fingerprint.bytes()));
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
