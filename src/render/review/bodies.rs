//! Bodies: the inline comments, the review's own body, the sticky summary and the job summary
//! (verdict, inline list, combined patches, leftovers), kept under GitHub's size limits.

use super::*;

/// A fence longer than any backtick run in `content` (at least three).
pub fn fence_for(content: &str) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
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

/// The closing line of a comment: how safe the fix is, in words (no CLI flags).
pub(super) fn applicability_note(x: &crate::engine::fix::Fix) -> String {
    let w = fix_words(x);
    format!("<sub>{}.</sub>", capitalize(w))
}

/// The heading of a finding: linked rule code, name, and its claim (`render::claim_short`:
/// what the fix saves here, stated once per patch).
pub(super) fn finding_heading(f: &Finding, claim: Option<&str>, rules_url: Option<&str>) -> String {
    let mut h = format!("**{} {}**", rule_link(f.code, rules_url), escape(f.name));
    if let Some(s) = claim {
        h.push_str(&format!(" · {}", escape(s)));
    }
    h
}

/// The inline comments of the chosen drafts (a marker per comment, kept in `live`).
pub(super) fn comments(
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
pub(super) fn review_body(report: &Report, inline: &[PlannedComment], head_sha: &str) -> String {
    let mut review_body = format!("{REVIEW_MARKER}{} -->\n", short_sha(head_sha));
    let n = inline.len();
    let clicks = inline.iter().filter(|c| c.suggestion.is_some()).count();
    let by_hand = n - clicks;
    let _ = write!(
        review_body,
        "**cachebust**: {}. {}; the summary comment has the details.",
        escape(&crate::render::markdown::verdict(report, true, None)),
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
                if c == 1 {
                    "one click to commit"
                } else {
                    "one click each"
                },
                plural(h)
            ),
        }
    );
    review_body
}

/// The body of an inline comment: each finding it carries (linked rule, saving, message), the
/// one suggestion, the move's other end, and how safe the fix is.
pub(super) fn comment_body(
    marker: &str,
    d: &Draft,
    cands: &[Cand],
    rules_url: Option<&str>,
) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "{}", finding_marker(marker));
    for &i in &d.findings {
        let shown = cands[i].shown();
        let f = shown.as_ref();
        let claim = cands[i].claim();
        let _ = writeln!(b, "{}\n", finding_heading(f, claim.as_deref(), rules_url));
        let _ = writeln!(b, "{}\n", escape_sentence(&sentence(&f.message)));
    }
    move_notes(&mut b, d, cands);
    if d.findings.len() > 1 && d.suggestion.is_some() {
        let _ = writeln!(
            b,
            "One suggestion for these {} fixes: they change the same lines.\n",
            d.findings.len()
        );
    }
    // a merged fix split for the diff: say where the rest is
    for &i in &d.findings {
        if cands[i].merged() {
            merged_note(&mut b, d, cands, i);
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
        .filter_map(|&i| cands[i].offered())
        .max_by_key(|x| applicability_rank(x.applicability));
    if let Some(x) = worst {
        let _ = writeln!(b, "{}", applicability_note(x));
    }
    b
}

/// For each end of a move whose other end is in another comment: which part it is, and where
/// the other one is.
fn move_notes(b: &mut String, d: &Draft, cands: &[Cand]) {
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
}

/// For the finding `cands[i]`, whose fix is merged with others': where the rest of the merged
/// patch is (the summary comment, or the other parts' suggestions).
fn merged_note(b: &mut String, d: &Draft, cands: &[Cand], i: usize) {
    let c = &cands[i];
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
                format!(" (it spans lines {a}\u{2013}{z}, which a suggestion on this diff cannot)")
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

pub(super) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn short_sha(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(40)
        .collect()
}

/// A path in a URL.
pub(super) fn url_path(p: &str) -> String {
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
pub(super) fn inline_list(inline: &[&Cand], comments: usize, opts: &PlanOptions<'_>) -> String {
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
        let (note, claim) = match (c.suggested, c.own, crate::render::claim(c.df, c.f)) {
            (true, true, crate::render::Claim::Shares { by, .. }) => (
                format!(
                    " · its own part; the combined patch is below, its saving counted at {} line {}",
                    by.code, by.line
                ),
                None,
            ),
            (true, true, _) => (
                " · its own part; the combined patch is below".into(),
                c.claim(),
            ),
            (true, false, _) => (String::new(), c.claim()),
            (false, _, _) => (" · the patch is in the comment".into(), c.claim()),
        };
        let _ = writeln!(
            o,
            "- {} {} · {place}{note}{}",
            rule_link(c.f.code, opts.rules_url),
            escape(c.f.name),
            claim
                .map(|s| format!(" · {}", escape(&s)))
                .unwrap_or_default()
        );
    }
    o.push('\n');
    o
}

/// The merged fixes whose inline suggestion is one finding's own part (the whole patch spans
/// lines a suggestion on the diff cannot): each once, as a diff.
pub(super) fn combined_patches(inline: &[&Cand], rules_url: Option<&str>) -> String {
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
            escape(fix_words(x)),
            html(&x.description),
            c.diff
        );
    }
    o
}

/// A suggestion that could not go inline, in full: heading, message, the patch in a
/// `<details>` block (never inside a list item, whose end would close the block early).
pub(super) fn leftover_block(
    l: &Leftover,
    earlier: &[Leftover],
    rules_url: Option<&str>,
) -> String {
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
            html(fix_words(x)),
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
pub(super) fn summary_body(
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
    let mopts = |steps: bool| crate::render::markdown::Options {
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
        let report_md = crate::render::markdown::render_with(report, &mopts(steps));
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
pub(super) fn balanced(text: &str) -> bool {
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
pub(super) fn cut_blocks(body: &str, limit: usize) -> String {
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
