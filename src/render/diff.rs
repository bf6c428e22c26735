//! Unified diffs of fixes (`engine::linediff`, bounded by work), as `cachebust fix` prints them and as the review shows them.
//! A fix's diff is made from a window around its edits, not from its whole file: the file's
//! line starts are found once (`FixDiffs`), and each fix costs its hunk, however many findings
//! the file has. The window is widened until the diff is the whole file's diff, byte for byte.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::engine::fix::{Edit, Fix};
use crate::engine::linediff::{diff_lines, line_starts};

/// Lines of context around each change.
const RADIUS: usize = 2;

/// The unified diff a fix makes to `sources` (file → current text), one file after another.
/// For many fixes of the same files, make one `FixDiffs` and ask it.
pub fn fix_diff(fix: &Fix, sources: &BTreeMap<String, String>) -> String {
    FixDiffs::new(sources).diff(fix)
}

/// The files fixes apply to, with where their lines start (found on first use, once per file).
pub struct FixDiffs<'a> {
    sources: &'a BTreeMap<String, String>,
    starts: BTreeMap<&'a str, OnceCell<Vec<usize>>>,
}

impl<'a> FixDiffs<'a> {
    pub fn new(sources: &'a BTreeMap<String, String>) -> FixDiffs<'a> {
        FixDiffs {
            sources,
            starts: sources
                .keys()
                .map(|k| (k.as_str(), OnceCell::new()))
                .collect(),
        }
    }

    /// The unified diff `fix` makes, as `files_diff` of the files before and after it (empty
    /// when it does not apply).
    pub fn diff(&self, fix: &Fix) -> String {
        let mut by_file: BTreeMap<&str, Vec<&Edit>> = BTreeMap::new();
        for e in &fix.edits {
            let text = self.sources.get(&e.file);
            // what `apply` takes
            let fits = e.range.start <= e.range.end
                && e.range.end <= text.map_or(0, String::len)
                && text.is_none_or(|t| {
                    t.is_char_boundary(e.range.start) && t.is_char_boundary(e.range.end)
                });
            if !fits {
                return String::new();
            }
            by_file.entry(e.file.as_str()).or_default().push(e);
        }
        let mut out = String::new();
        for (file, mut edits) in by_file {
            crate::engine::fix::in_apply_order(&mut edits);
            let text = match self.sources.get(file) {
                Some(t) => t.as_str(),
                None => "",
            };
            // each edit before the one made just before it: every edit is made on the text as
            // it was, so a window of the text takes them alike
            let apart = edits.windows(2).all(|w| w[1].range.end <= w[0].range.start);
            let starts = self
                .starts
                .get(file)
                .map(|c| c.get_or_init(|| line_starts(text)));
            let (a, b) = if !self.sources.contains_key(file) && text.is_empty() {
                ("/dev/null".to_string(), format!("b/{file}"))
            } else {
                (format!("a/{file}"), format!("b/{file}"))
            };
            let t = match starts {
                Some(starts) if apart && !starts.is_empty() => {
                    window_diff(text, starts, &edits, &a, &b)
                }
                _ => {
                    let new = edited(text, 0, &edits);
                    (new != text).then(|| diff_lines(text, &new).unified(RADIUS, &a, &b))
                }
            };
            let Some(t) = t else { continue };
            out.push_str(&t);
            if !t.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// `text` with `edits` (in `apply`'s order, offsets from `from`) made.
fn edited(text: &str, from: usize, edits: &[&Edit]) -> String {
    let mut t = text.to_string();
    for e in edits {
        t.replace_range(e.range.start - from..e.range.end - from, &e.content);
    }
    t
}

/// The diff of a window of `text` (line starts `starts`) around `edits`, widened until it is
/// the whole file's diff: the window starts and ends on a line of both texts (outside it they
/// are equal), its common prefix ends inside it, and the script keeps at least `RADIUS` equal
/// lines at each end of the window that is not the file's (so Myers' script of the middle is
/// the same, no insertion slid to the window's edge, and each hunk has its context).
fn window_diff(text: &str, starts: &[usize], edits: &[&Edit], a: &str, b: &str) -> Option<String> {
    let first = edits.iter().map(|e| e.range.start).min()?;
    let last = edits.iter().map(|e| e.range.end).max()?;
    let lines = starts.len();
    // the last line starting before the first edit (a line of both texts: what precedes it is
    // unchanged, and so is the character before the edit), and the first starting after the
    // last edit
    let lo = starts.partition_point(|&s| s < first).saturating_sub(1);
    let hi = starts.partition_point(|&s| s <= last);
    let (mut before, mut after) = (RADIUS, RADIUS);
    loop {
        let from_line = lo.saturating_sub(before);
        let to_line = hi.saturating_add(after).min(lines);
        let from = starts[from_line];
        let to = starts.get(to_line).copied().unwrap_or(text.len());
        let old = &text[from..to];
        let new = edited(old, from, edits);
        if old == new {
            return None;
        }
        let d = diff_lines(old, &new);
        let (head, tail) = d.equal_ends();
        let head_ok = from == 0 || head >= RADIUS;
        let tail_ok = to == text.len() || (tail >= RADIUS && d.prefix_inside());
        if head_ok && tail_ok {
            return Some(d.at_line(from_line).unified(RADIUS, a, b));
        }
        // lines like the changed ones go on past the window: wider
        if !head_ok {
            before = before.saturating_mul(2).max(64);
        }
        if !tail_ok {
            after = after.saturating_mul(2).max(64);
        }
    }
}

/// The unified diff between the old and new contents of files.
pub fn files_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (file, new) in after {
        let old = before.get(file).map(String::as_str).unwrap_or("");
        if old == new {
            continue;
        }
        let d = diff_lines(old, new);
        let (a, b) = if old.is_empty() && !before.contains_key(file) {
            ("/dev/null".to_string(), format!("b/{file}"))
        } else {
            (format!("a/{file}"), format!("b/{file}"))
        };
        let text = d.unified(RADIUS, &a, &b);
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fix::{Applicability, apply};

    /// The diff of the whole files before and after `fix`: what `fix_diff` always printed.
    fn whole(fix: &Fix, sources: &BTreeMap<String, String>) -> String {
        let (after, applied) = apply(sources, &[fix]);
        if applied.is_empty() {
            return String::new();
        }
        files_diff(sources, &after)
    }

    fn fix(edits: Vec<(&str, std::ops::Range<usize>, &str)>) -> Fix {
        Fix {
            applicability: Applicability::Safe,
            description: "x".into(),
            edits: edits
                .into_iter()
                .map(|(f, r, c)| Edit::replace(f, r, c))
                .collect(),
        }
    }

    fn same(sources: &BTreeMap<String, String>, f: &Fix) {
        assert_eq!(
            FixDiffs::new(sources).diff(f),
            whole(f, sources),
            "{:?} on {sources:?}",
            f.edits
        );
    }

    #[test]
    fn a_window_diff_is_the_whole_files_diff() {
        let texts = [
            "FROM a\nRUN x\nRUN y\nRUN z\n",
            "FROM a\r\nRUN x\r\nRUN y\rRUN z",
            "a\na\na\na\na\na\na\na\nb\n",
            "a\n\n\n\n\n\n",
            "x",
            "\r\n\r\n\r\r\n\n",
        ];
        let inserts = ["", "a\n", "RUN w\n", "\n", "\r", "q", "a\na\n", "\nRUN v"];
        for t in texts {
            let sources = BTreeMap::from([("Dockerfile".to_string(), t.to_string())]);
            let ends: Vec<usize> = (0..=t.len()).collect();
            for &s in &ends {
                for &e in ends.iter().filter(|&&e| e >= s && e <= s + 9) {
                    for ins in inserts {
                        same(
                            &sources,
                            &fix(vec![("Dockerfile", s, e, ins)]
                                .into_iter()
                                .map(|(f, s, e, c)| (f, s..e, c))
                                .collect()),
                        );
                    }
                }
            }
            // two edits apart, two at one place, overlapping ones, a second file, one that does
            // not fit
            let n = t.len();
            for (x, y) in [(0, n), (1.min(n), n), (n / 2, n / 2), (0, 0)] {
                same(
                    &sources,
                    &fix(vec![
                        ("Dockerfile", x..x, "RUN 1\n"),
                        ("Dockerfile", y..y, "RUN 2\n"),
                    ]),
                );
                same(
                    &sources,
                    &fix(vec![
                        ("Dockerfile", y..y, "a\n"),
                        ("Dockerfile", x..x, "b\n"),
                        ("other", 0..0, "c\n"),
                    ]),
                );
            }
            same(
                &sources,
                &fix(vec![
                    ("Dockerfile", 0..n, "z\n"),
                    ("Dockerfile", 0..n.min(1), ""),
                ]),
            );
            same(&sources, &fix(vec![("Dockerfile", 0..n + 1, "z")]));
        }
    }

    #[test]
    fn random_fixes_of_random_files_diff_as_whole_files() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n.max(1)
        };
        let pieces = ["a\n", "b\n", "\n", "a\r\n", "\r", "a", "RUN x\n"];
        for _ in 0..20_000 {
            let text: String = (0..next(40)).map(|_| pieces[next(pieces.len())]).collect();
            let sources = BTreeMap::from([("Dockerfile".to_string(), text.clone())]);
            let mut edits = Vec::new();
            for _ in 0..1 + next(3) {
                let s = next(text.len() + 1);
                let e = s + next(8).min(text.len() - s);
                let content: String = (0..next(4)).map(|_| pieces[next(pieces.len())]).collect();
                edits.push(Edit::replace("Dockerfile", s..e, content));
            }
            let f = Fix {
                applicability: Applicability::Safe,
                description: "x".into(),
                edits,
            };
            // edits that overlap may not apply at all (the whole-file diff panics too)
            let Ok(reference) = std::panic::catch_unwind(|| whole(&f, &sources)) else {
                continue;
            };
            assert_eq!(
                FixDiffs::new(&sources).diff(&f),
                reference,
                "{:?} on {text:?}",
                f.edits
            );
        }
    }

    #[test]
    fn far_from_its_edit_a_long_file_is_not_diffed() {
        let long: String = (0..5_000)
            .map(|i| format!("RUN echo {}\n", i % 7))
            .collect();
        let text = format!("FROM a\n{long}CMD x\n");
        let sources = BTreeMap::from([("Dockerfile".to_string(), text.clone())]);
        let at = text.find("RUN echo 3").unwrap();
        for f in [
            fix(vec![("Dockerfile", at..at, "--mount=type=cache ")]),
            // a line like its neighbours inserted: the diff slides it down, as Myers does
            fix(vec![("Dockerfile", at..at, "RUN echo 3\n")]),
            fix(vec![("Dockerfile", 0..0, &long)]),
            fix(vec![
                ("Dockerfile", at..at, "RUN a\n"),
                ("Dockerfile", text.len()..text.len(), "RUN b\n"),
            ]),
        ] {
            same(&sources, &f);
        }
    }
}
