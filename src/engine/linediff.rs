//! Line diffs bounded by work, not by the clock. A pull request controls both sides, and Myers'
//! algorithm is quadratic on large unlike texts, so past a budget of differing lines the diff
//! settles for a coarser but still correct edit script: the common prefix and suffix stay equal
//! and the middle is one replacement. Below the budget the script is exactly `similar`'s Myers
//! script, and `unified` prints exactly what `similar`'s unified diff prints (tested).

use similar::{Algorithm, DiffOp, DiffTag};

/// Differing lines (both sides, after the common prefix and suffix) up to which the smallest
/// edit script is searched. Myers' work is at most about this number squared.
pub const MAX_EXACT_LINES: usize = 4_000;

/// A line diff of two texts.
pub struct LineDiff<'a> {
    old: Vec<&'a str>,
    new: Vec<&'a str>,
    ops: Vec<DiffOp>,
    exact: bool,
    /// Lines equal at the start and at the end of both texts.
    prefix: usize,
    suffix: usize,
    /// The line number (0-based) of `old[0]` and `new[0]` in the texts these are windows of.
    base: usize,
}

/// Where each line of `text` starts (byte offsets), lines split as `diff_lines` splits them.
pub fn line_starts(text: &str) -> Vec<usize> {
    let mut at = 0;
    lines(text)
        .iter()
        .map(|l| {
            let s = at;
            at += l.len();
            s
        })
        .collect()
}

/// Lines as `similar` splits them: each keeps its terminator (`\n`, `\r\n` or a lone `\r`).
fn lines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                out.push(&text[start..i + 2]);
                i += 2;
                start = i;
            }
            b'\r' | b'\n' => {
                out.push(&text[start..=i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// Diff `old` and `new` line by line within the work budget.
pub fn diff_lines<'a>(old: &'a str, new: &'a str) -> LineDiff<'a> {
    let (old, new) = (lines(old), lines(new));
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (old.len() - prefix - suffix, new.len() - prefix - suffix);
    if old_mid + new_mid <= MAX_EXACT_LINES {
        let ops = similar::capture_diff_slices(Algorithm::Myers, &old, &new);
        return LineDiff {
            old,
            new,
            ops,
            exact: true,
            prefix,
            suffix,
            base: 0,
        };
    }
    let mut ops = Vec::new();
    if prefix > 0 {
        ops.push(DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: prefix,
        });
    }
    ops.push(match (old_mid, new_mid) {
        (0, n) => DiffOp::Insert {
            old_index: prefix,
            new_index: prefix,
            new_len: n,
        },
        (o, 0) => DiffOp::Delete {
            old_index: prefix,
            old_len: o,
            new_index: prefix,
        },
        (o, n) => DiffOp::Replace {
            old_index: prefix,
            old_len: o,
            new_index: prefix,
            new_len: n,
        },
    });
    if suffix > 0 {
        ops.push(DiffOp::Equal {
            old_index: old.len() - suffix,
            new_index: new.len() - suffix,
            len: suffix,
        });
    }
    LineDiff {
        old,
        new,
        ops,
        exact: false,
        prefix,
        suffix,
        base: 0,
    }
}

impl LineDiff<'_> {
    pub fn ops(&self) -> &[DiffOp] {
        &self.ops
    }

    /// The diff of two windows taken as the diff of the texts they are windows of, their first
    /// line being line `base` (0-based) of both: the ops' lines are shifted by `base`. This is
    /// the texts' own diff when the texts are equal outside the windows, the windows begin and end
    /// on lines of both, their common prefix ends inside both windows (`prefix_inside`), and
    /// each window holds the context lines a hunk shows.
    pub fn at_line(mut self, base: usize) -> Self {
        let shift = |i: &mut usize| *i += base;
        for op in &mut self.ops {
            match op {
                DiffOp::Equal {
                    old_index,
                    new_index,
                    ..
                }
                | DiffOp::Delete {
                    old_index,
                    new_index,
                    ..
                }
                | DiffOp::Insert {
                    old_index,
                    new_index,
                    ..
                }
                | DiffOp::Replace {
                    old_index,
                    new_index,
                    ..
                } => {
                    shift(old_index);
                    shift(new_index);
                }
            }
        }
        self.base += base;
        self
    }

    /// Lines equal at the start of both texts.
    pub fn common_prefix(&self) -> usize {
        self.prefix
    }

    /// Lines equal at the end of both texts (after the common prefix).
    pub fn common_suffix(&self) -> usize {
        self.suffix
    }

    /// Whether the common prefix stops before the end of both texts (so that, were these
    /// windows, it would not go on past them).
    pub fn prefix_inside(&self) -> bool {
        self.prefix < self.old.len().min(self.new.len())
    }

    /// The lines the script keeps equal before its first change and after its last (after
    /// `similar`'s compaction, which slides insertions along equal lines).
    pub fn equal_ends(&self) -> (usize, usize) {
        let equal = |op: Option<&DiffOp>| match op {
            Some(DiffOp::Equal { len, .. }) => *len,
            _ => 0,
        };
        (equal(self.ops.first()), equal(self.ops.last()))
    }

    /// Whether the script is the smallest one (the texts were within the budget).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// 1-based lines of the new text that are inserted or replaced.
    pub fn changed_new_lines(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for op in &self.ops {
            if let DiffOp::Insert {
                new_index, new_len, ..
            }
            | DiffOp::Replace {
                new_index, new_len, ..
            } = *op
            {
                out.extend((new_index + 1..=new_index + new_len).map(|l| l as u32));
            }
        }
        out
    }

    /// A unified diff with `radius` lines of context and the `---`/`+++` header `a`, `b` (empty
    /// when the texts are equal), byte for byte as `similar`'s `unified_diff` prints it.
    pub fn unified(&self, radius: usize, a: &str, b: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (n, group) in similar::group_diff_ops(self.ops.clone(), radius)
            .into_iter()
            .filter(|g| !g.is_empty())
            .enumerate()
        {
            if n == 0 {
                let _ = writeln!(out, "--- {a}\n+++ {b}");
            }
            let _ = writeln!(out, "{}", similar::udiff::UnifiedHunkHeader::new(&group));
            for op in &group {
                // a replacement prints its deletions, then its insertions
                let (o, n) = (op.old_range(), op.new_range());
                let old_range = o.start - self.base..o.end - self.base;
                let new_range = n.start - self.base..n.end - self.base;
                let parts: [(char, &[&str]); 2] = match op.tag() {
                    DiffTag::Equal => [(' ', &self.old[old_range]), (' ', &[])],
                    DiffTag::Delete => [('-', &self.old[old_range]), ('+', &[])],
                    DiffTag::Insert => [('-', &[]), ('+', &self.new[new_range])],
                    DiffTag::Replace => [('-', &self.old[old_range]), ('+', &self.new[new_range])],
                };
                for (sign, text) in parts {
                    for line in text {
                        out.push(sign);
                        out.push_str(line);
                        if !line.ends_with(['\r', '\n']) {
                            out.push_str("\n\\ No newline at end of file\n");
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn similar_unified(old: &str, new: &str) -> String {
        similar::TextDiff::configure()
            .diff_lines(old, new)
            .unified_diff()
            .context_radius(2)
            .header("a/x", "b/x")
            .to_string()
    }

    #[test]
    fn within_the_budget_it_is_similar_byte_for_byte() {
        let cases = [
            ("", ""),
            ("a\n", "a\n"),
            ("", "FROM x\nRUN y\n"),
            ("FROM x\nRUN y\n", ""),
            ("FROM x\nRUN y", "FROM x\nRUN z"),
            (
                "a\nb\nc\nd\ne\nf\ng\nh\ni\n",
                "a\nB\nc\nd\ne\nf\ng\nH\ni\nj\n",
            ),
            ("a\r\nb\rc\n", "a\r\nB\rc\n"),
            ("x\ny\n", "x\ny"),
            (
                "FROM a\nCOPY . .\nRUN npm ci\nRUN npm run build\n",
                "FROM a\nCOPY package.json .\nRUN npm ci\nCOPY . .\nRUN npm run build\n",
            ),
        ];
        for (old, new) in cases {
            let d = diff_lines(old, new);
            assert!(d.exact());
            assert_eq!(
                d.unified(2, "a/x", "b/x"),
                similar_unified(old, new),
                "{old:?} → {new:?}"
            );
            let reference = similar::TextDiff::configure().diff_lines(old, new);
            assert_eq!(d.ops(), reference.ops());
        }
    }

    #[test]
    fn past_the_budget_the_middle_is_one_replacement() {
        let old: String = (0..6_000).map(|i| format!("RUN a{i}\n")).collect();
        let new: String = (0..6_000)
            .map(|i| format!("RUN b{}\n", i * 7 % 6_000))
            .collect();
        let (old, new) = (
            format!("FROM x\n{old}CMD y\n"),
            format!("FROM x\n{new}CMD y\n"),
        );
        let d = diff_lines(&old, &new);
        assert!(!d.exact());
        assert_eq!(d.changed_new_lines(), (2..=6_001).collect::<Vec<u32>>());
        // still a correct diff: applying it gives the new text
        let u = d.unified(0, "a", "b");
        let added: String = u
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .map(|l| format!("{}\n", &l[1..]))
            .collect();
        assert_eq!(format!("FROM x\n{added}CMD y\n"), new);
    }
}
