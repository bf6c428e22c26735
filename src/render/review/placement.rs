//! Comment placement: the findings about the change as candidates, their suggestion pieces,
//! where each can be anchored on the diff, overlapping suggestions merged, and the inline
//! limit applied by bundles (the rest stays in the summary, with why).

use super::*;

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

/// Which end of a move a piece is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Whole,
    Removal,
    Insertion,
}

/// A suggestion range of one finding: the lines it replaces and the edits that make it.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub(super) finding: usize,
    pub(super) start: u32,
    pub(super) end: u32,
    pub(super) edits: Vec<crate::engine::fix::Edit>,
    pub(super) end_kind: End,
}

/// A move: one deletion and one insertion of the same text, on lines apart.
pub(super) fn move_ends(fix: &Fix) -> Option<(usize, usize)> {
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
pub(super) fn pieces_of(idx: usize, fix: &Fix, path: &str, source: &str) -> Option<Vec<Piece>> {
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
pub(super) fn distinct_edits(pieces: &[Piece]) -> Vec<crate::engine::fix::Edit> {
    let mut out: Vec<crate::engine::fix::Edit> = Vec::new();
    for e in pieces.iter().flat_map(|p| &p.edits) {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// One candidate finding of the plan.
pub(super) struct Cand<'r> {
    pub(super) df: &'r DockerfileReport,
    pub(super) f: &'r Finding,
    pub(super) marker: String,
    pub(super) diff: String,
    /// Inline with a `suggestion` block (not only its diff).
    pub(super) suggested: bool,
    /// Its suggestion is its own fix: the merged one it carries cannot be anchored.
    pub(super) own: bool,
}

impl Cand<'_> {
    /// The fix its comment offers: its own part when `own`, else the (maybe merged) fix.
    pub(super) fn offered(&self) -> Option<&Fix> {
        if self.own {
            self.f.own_fix.as_ref()
        } else {
            self.f.fix.as_ref()
        }
    }

    /// The finding as its comment shows it: with its own fix's savings when it offers that.
    pub(super) fn shown(&self) -> std::borrow::Cow<'_, Finding> {
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
    pub(super) fn claim(&self) -> Option<String> {
        crate::render::claim_short(self.df, self.f)
    }

    /// Whether its fix is merged with other findings' (one patch for several).
    pub(super) fn merged(&self) -> bool {
        self.f.own_fix.is_some() && self.f.fix.is_some()
    }
}

/// A comment being planned: the findings it carries and its range.
pub(super) struct Draft {
    pub(super) findings: Vec<usize>,
    pub(super) pieces: Vec<Piece>,
    pub(super) start: u32,
    pub(super) end: u32,
    pub(super) suggestion: Option<String>,
}

/// The findings about the change, most severe first, then what saves the most; one per
/// Dockerfile and finding (the same Dockerfile built twice gets one comment). Also the markers
/// of the comments that stay live.
pub(super) fn candidates(report: &Report) -> (Vec<Cand<'_>>, Vec<String>) {
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
            .then(crate::render::saved_seconds(b).total_cmp(&crate::render::saved_seconds(a)))
    });
    let mut live = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut cands: Vec<Cand> = Vec::new();
    // each Dockerfile's sources indexed once for all its fixes' diffs
    let diffs: BTreeMap<*const DockerfileReport, crate::render::diff::FixDiffs> = report
        .dockerfiles
        .iter()
        .map(|d| {
            (
                std::ptr::from_ref(d),
                crate::render::diff::FixDiffs::new(&d.sources),
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
                None => crate::render::diff::fix_diff(x, &df.sources),
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
pub(super) struct Placed<'r> {
    pub(super) by_file: BTreeMap<&'r str, Vec<Piece>>,
    pub(super) plain: Vec<usize>,
    pub(super) leftovers_at: Vec<Option<&'static str>>,
}

/// The suggestion pieces whose every line can carry a comment, per file; a finding whose merged
/// fix cannot be anchored but whose own part can is marked `own`.
pub(super) fn place<'r>(
    cands: &mut [Cand<'r>],
    hunks: &BTreeMap<&str, Vec<Vec<DiffLine>>>,
) -> Placed<'r> {
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
pub(super) fn merge_overlaps(
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
pub(super) fn add_plain_drafts(cands: &mut [Cand<'_>], drafts: &mut Vec<Draft>, plain: &[usize]) {
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
pub(super) fn choose_inline(
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

/// The line of one end of a move (`removal`: the line taken out, else where it goes back).
pub(super) fn other_end(cands: &[Cand], p: &Piece, removal: bool) -> Option<u32> {
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
