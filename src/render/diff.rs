//! Unified diffs of fixes (`engine::linediff`, bounded by work), as `cachebust fix` prints them and as the review shows them.

use std::collections::BTreeMap;

use crate::engine::fix::{Fix, apply};

/// The unified diff a fix makes to `sources` (file → current text), one file after another.
pub fn fix_diff(fix: &Fix, sources: &BTreeMap<String, String>) -> String {
    let (after, applied) = apply(sources, &[fix]);
    if applied.is_empty() {
        return String::new();
    }
    files_diff(sources, &after)
}

/// The unified diff between the old and new contents of files.
pub fn files_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (file, new) in after {
        let old = before.get(file).map(String::as_str).unwrap_or("");
        if old == new {
            continue;
        }
        let d = crate::engine::linediff::diff_lines(old, new);
        let (a, b) = if old.is_empty() && !before.contains_key(file) {
            ("/dev/null".to_string(), format!("b/{file}"))
        } else {
            (format!("a/{file}"), format!("b/{file}"))
        };
        let text = d.unified(2, &a, &b);
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
