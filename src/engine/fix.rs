//! Fixes as text edits, after ruff's model: a fix is a set of edits (byte ranges in one or more
//! files, replaced by new text) with an applicability. Fixes never overlap: applying a set
//! skips a fix whose edits overlap one already taken, and callers iterate until no fix is left
//! (`converge`), which makes applying idempotent.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Keeps what the image holds; applied by `cachebust fix --apply`.
    Safe,
    /// Changes what the image holds or may change what a step does; applied with `--unsafe`.
    Unsafe,
    /// Shown for a human to complete; never applied.
    DisplayOnly,
}

/// Replace `range` of `file` (root-relative) by `content`. A file that does not exist yet is
/// edited as empty text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub file: String,
    pub range: Range<usize>,
    pub content: String,
}

impl Edit {
    pub fn replace(file: &str, range: Range<usize>, content: impl Into<String>) -> Edit {
        Edit {
            file: file.to_string(),
            range,
            content: content.into(),
        }
    }
    pub fn insert(file: &str, at: usize, content: impl Into<String>) -> Edit {
        Edit {
            file: file.to_string(),
            range: at..at,
            content: content.into(),
        }
    }
    pub fn delete(file: &str, range: Range<usize>) -> Edit {
        Edit {
            file: file.to_string(),
            range,
            content: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub applicability: Applicability,
    /// What the fix does, in a few words.
    pub description: String,
    pub edits: Vec<Edit>,
}

/// Whether two edits touch the same text (or insert at the same place).
pub fn overlaps(a: &Edit, b: &Edit) -> bool {
    a.file == b.file
        && (a.range.start < b.range.end && b.range.start < a.range.end
            || (a.range == b.range)
            || (a.range.is_empty() && a.range.start == b.range.start)
            || (b.range.is_empty() && b.range.start == a.range.start))
}

/// One file's edits in the order [`apply`] makes them: last first, so earlier offsets hold.
pub fn in_apply_order(edits: &mut [&Edit]) {
    edits.sort_by(|a, b| {
        b.range
            .start
            .cmp(&a.range.start)
            .then(b.range.end.cmp(&a.range.end))
    });
}

/// Apply the fixes that do not overlap one another (in order) to `files`; returns the new
/// contents of the files that changed and the indices of the fixes applied.
pub fn apply(
    files: &BTreeMap<String, String>,
    fixes: &[&Fix],
) -> (BTreeMap<String, String>, Vec<usize>) {
    let mut taken: Vec<&Edit> = Vec::new();
    let mut applied = Vec::new();
    for (i, f) in fixes.iter().enumerate() {
        let fits = f.edits.iter().all(|e| {
            let len = files.get(&e.file).map_or(0, String::len);
            e.range.start <= e.range.end
                && e.range.end <= len
                && files.get(&e.file).is_none_or(|t| {
                    t.is_char_boundary(e.range.start) && t.is_char_boundary(e.range.end)
                })
        });
        if !fits || f.edits.iter().any(|e| taken.iter().any(|t| overlaps(e, t))) {
            continue;
        }
        taken.extend(f.edits.iter());
        applied.push(i);
    }
    let mut by_file: BTreeMap<&str, Vec<&Edit>> = BTreeMap::new();
    for e in taken {
        by_file.entry(e.file.as_str()).or_default().push(e);
    }
    let mut out = BTreeMap::new();
    for (file, mut edits) in by_file {
        in_apply_order(&mut edits);
        let mut text = files.get(file).cloned().unwrap_or_default();
        for e in edits {
            text.replace_range(e.range.clone(), &e.content);
        }
        out.insert(file.to_string(), text);
    }
    (out, applied)
}

/// Whether any edit of `a` overlaps one of `b`.
pub fn fixes_overlap(a: &Fix, b: &Fix) -> bool {
    a.edits
        .iter()
        .any(|x| b.edits.iter().any(|y| overlaps(x, y)))
}

/// One fix doing what `a` then `b` do, when their edits overlap in a way that composes: an
/// edit of `b` inside a replacement of `a` whose new text carries the edited lines verbatim
/// (a moved instruction), or two insertions at the same place (concatenated). `texts` holds
/// the files the edits apply to. `None` when they do not compose.
pub fn compose(a: &Fix, b: &Fix, texts: &BTreeMap<String, String>) -> Option<Fix> {
    let mut edits = a.edits.clone();
    for eb in &b.edits {
        if edits.contains(eb) {
            continue;
        }
        let hits: Vec<usize> = (0..edits.len())
            .filter(|&k| overlaps(&edits[k], eb))
            .collect();
        match hits.as_slice() {
            [] => edits.push(eb.clone()),
            [k] => {
                let ea = &mut edits[*k];
                if ea.range.is_empty() && eb.range.is_empty() && ea.range.start == eb.range.start {
                    ea.content.push_str(&eb.content);
                    continue;
                }
                if ea.range.is_empty()
                    || eb.range.start < ea.range.start
                    || eb.range.end > ea.range.end
                {
                    return None;
                }
                let text = texts.get(&eb.file)?;
                if eb.range.end > text.len()
                    || !text.is_char_boundary(eb.range.start)
                    || !text.is_char_boundary(eb.range.end)
                {
                    return None;
                }
                // the whole lines around b's edit, found once in a's new text
                let ls = text[..eb.range.start].rfind('\n').map_or(0, |p| p + 1);
                let le = text[eb.range.end..]
                    .find('\n')
                    .map_or(text.len(), |p| eb.range.end + p + 1);
                if ls < ea.range.start || le > ea.range.end {
                    return None;
                }
                let chunk = &text[ls..le];
                let mut found = ea.content.match_indices(chunk);
                let (pos, _) = found.next()?;
                if found.next().is_some() {
                    return None;
                }
                let mut new_chunk = chunk.to_string();
                new_chunk.replace_range(eb.range.start - ls..eb.range.end - ls, &eb.content);
                ea.content.replace_range(pos..pos + chunk.len(), &new_chunk);
            }
            _ => return None,
        }
    }
    Some(Fix {
        applicability: a.applicability.max(b.applicability),
        description: format!("{}; {}", a.description, b.description),
        edits,
    })
}

/// Byte range of whole lines `first..=last` (1-based), including the final newline.
pub fn line_range(text: &str, first: u32, last: u32) -> Range<usize> {
    let mut start = text.len();
    let mut end = text.len();
    let mut pos = 0;
    for (line, l) in (1u32..).zip(text.split_inclusive('\n')) {
        if line == first {
            start = pos;
        }
        pos += l.len();
        if line == last {
            end = pos;
            break;
        }
    }
    start.min(end)..end
}

/// Where each line of a text ends (after its line ending), worked out on first use: a rule pass
/// asks for the span of many instructions of one text, and [`line_range`] walks the text from
/// its start each time. Kept by the text (`predict::TextParts`), so the builds and
/// commits that share the text share it. Hand it the same text every time.
#[derive(Debug, Default)]
pub struct Lines(std::sync::OnceLock<Vec<usize>>);

impl Lines {
    /// [`line_range`] of `text`, from the line ends.
    pub fn range(&self, text: &str, first: u32, last: u32) -> Range<usize> {
        let ends = self.0.get_or_init(|| {
            text.split_inclusive('\n')
                .scan(0, |pos, l| {
                    *pos += l.len();
                    Some(*pos)
                })
                .collect()
        });
        let start_of = |line: u32| match line as usize {
            0 => None,
            1 => ends.first().map(|_| 0),
            n => ends.get(n - 1).map(|_| ends[n - 2]),
        };
        let end_of = |line: u32| match line as usize {
            0 => None,
            n => ends.get(n - 1).copied(),
        };
        let stop = end_of(last);
        let end = stop.unwrap_or(text.len());
        // the walk stops at a last line the text has: a first line past it is never reached
        let start = if stop.is_none() || first <= last {
            start_of(first).unwrap_or(text.len())
        } else {
            text.len()
        };
        start.min(end)..end
    }
}

/// Byte offset of the start of 1-based `line` (the end of the text past the last line).
pub fn line_start(text: &str, line: u32) -> usize {
    line_range(text, line, line).start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Lines::range` answers what `line_range` does, for every pair of lines around a text's
    /// ends (none, empty lines, CRLF, no final line ending, a line past the end).
    #[test]
    fn line_index_agrees_with_the_walk() {
        let texts = [
            "",
            "\n",
            "a",
            "a\n",
            "FROM a\nRUN b \\\n  c\n\nCOPY . .",
            "x\r\ny\r\n\r\nz\r\n",
            "\n\n\nlast",
        ];
        for t in texts {
            let lines = Lines::default();
            let n = t.split_inclusive('\n').count() as u32;
            for first in 0..=n + 2 {
                for last in 0..=n + 2 {
                    assert_eq!(
                        lines.range(t, first, last),
                        line_range(t, first, last),
                        "{t:?} {first}..{last}"
                    );
                }
            }
        }
    }

    #[test]
    fn non_overlapping_fixes_apply_from_the_end() {
        let files = BTreeMap::from([("a".to_string(), "one\ntwo\nthree\n".to_string())]);
        let f1 = Fix {
            applicability: Applicability::Safe,
            description: "x".into(),
            edits: vec![Edit::replace("a", 0..3, "ONE")],
        };
        let f2 = Fix {
            applicability: Applicability::Safe,
            description: "y".into(),
            edits: vec![Edit::replace("a", 1..2, "N")],
        };
        let f3 = Fix {
            applicability: Applicability::Safe,
            description: "z".into(),
            edits: vec![
                Edit::insert("a", 14, "four\n"),
                Edit::insert("b", 0, "new\n"),
            ],
        };
        let (out, applied) = apply(&files, &[&f1, &f2, &f3]);
        assert_eq!(applied, vec![0, 2]);
        assert_eq!(out["a"], "ONE\ntwo\nthree\nfour\n");
        assert_eq!(out["b"], "new\n");
    }

    #[test]
    fn lines() {
        let t = "a\nbb\nccc\n";
        assert_eq!(line_range(t, 2, 2), 2..5);
        assert_eq!(line_range(t, 2, 3), 2..9);
        assert_eq!(line_start(t, 4), 9);
    }
}
