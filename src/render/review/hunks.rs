//! Diff parsing: the hunks of a pull request file's patch, and whether a range of lines can
//! carry an inline comment (right side, one hunk, never across a deleted line).

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
