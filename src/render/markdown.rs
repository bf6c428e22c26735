//! Markdown for PR comments, job summaries and `analyze --format markdown`: the verdict in time
//! first ("+3 min 14 s on this change's first build · 1 min 58 s avoidable"), a table of builds
//! sorted by time with a total row (only when there are several), then per build the causal
//! chains, the steps in a `<details>` table with a seconds column, the notes each once, and a
//! Mermaid stage graph for multi-stage builds. Text from the repository (paths, instructions) is
//! escaped so it cannot inject markup or HTML, and a word GitHub would turn into a mention, an
//! issue reference or a link is set as code; instruction text stays inside code spans, its
//! hidden characters written out.

use std::fmt::Write;

use super::{
    CODE_CLOSE, CODE_OPEN, avoidable_seconds, build_title, cause_sentence, chains, cost_top,
    duration, instruction_text, note_sentence, stage_label,
};
use crate::engine::fix::Applicability;
use crate::engine::report::{DockerfileReport, Note, Report, Severity, Status};

/// Whether GitHub would make a word of repository text into a link or a notification: an
/// @-mention (or an e-mail address), an issue reference (`#3`, `owner/repo#3`, `GH-3`), a URL
/// (`http://…`, `www.…`). GitHub links these in the text of a comment after markdown is rendered
/// (a backslash escape such as `\#3` is gone by then), but never inside code.
fn links_on_github(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let b = lower.as_bytes();
    let digit_after = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    word.contains('@')
        || lower.contains("://")
        || lower.contains("www.")
        || b.iter()
            .enumerate()
            .any(|(i, c)| *c == b'#' && digit_after(i + 1))
        || lower.match_indices("gh-").any(|(i, _)| digit_after(i + 3))
}

/// Escape text for a markdown table cell or paragraph: markup characters escaped, hidden
/// characters written out (`render::visible`), and each word GitHub would link or notify with
/// (see `links_on_github`) set as inline code, which GitHub leaves alone.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            o.push(' ');
        }
        if links_on_github(word) {
            // as code; a `|` stays outside it, escaped, so a table cell is not split inside
            // the code (GitHub ends a cell at a bare `|` even there)
            for (j, piece) in word.split('|').enumerate() {
                if j > 0 {
                    o.push_str("\\|");
                }
                if !piece.is_empty() {
                    o.push_str(&inline_code(piece));
                }
            }
            continue;
        }
        for c in word.chars() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' => {
                    o.push('\\');
                    o.push(c);
                }
                '&' => o.push_str("&amp;"),
                CODE_OPEN | CODE_CLOSE => {}
                c if super::is_hidden(c) => o.push_str(&super::visible(&c.to_string())),
                _ => o.push(c),
            }
        }
    }
    o
}

/// Text for raw HTML (a `<summary>`): entities for `<`, `>`, `&`, `"`, hidden characters written
/// out, words GitHub would link or notify with in `<code>`; the code spans of a sentence become
/// `<code>`.
pub fn html(s: &str) -> String {
    let entities = |t: &str| {
        super::visible(
            &t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;"),
        )
        .into_owned()
    };
    let code = |t: &str| format!("<code>{}</code>", entities(t));
    let esc = |t: &str| {
        t.split(' ')
            .map(|w| {
                if links_on_github(w) {
                    code(w)
                } else {
                    entities(w)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    super::spans(s, code, |t| {
        let mut out = String::new();
        let parts: Vec<&str> = t.split('`').collect();
        let closed = parts.len() % 2 == 1;
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1 && (closed || i + 1 < parts.len()) {
                out.push_str(&code(part));
            } else {
                if i % 2 == 1 {
                    out.push('`');
                }
                out.push_str(&esc(part));
            }
        }
        out
    })
}

/// Inline code that cannot be broken out of: the fence is longer than any backtick run; hidden
/// characters (line breaks, zero-width, bidi and tag characters) written out, so the span shows
/// what the name holds.
pub fn inline_code(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| *c != CODE_OPEN && *c != CODE_CLOSE)
        .collect();
    let s = super::visible(&s).into_owned();
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() || s.trim().is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// What to render besides the prediction.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The per-step tables (dropped first when a body must stay short).
    pub steps: bool,
    /// Each build's findings in full (the CLI); the review lists them itself.
    pub suggestions: bool,
    /// Words after the verdict ("3 fixes inline").
    pub verdict_extra: Option<String>,
    /// Markdown placed right after the verdict and the builds table.
    pub after_verdict: Option<String>,
    /// Where the rule pages live (`…/docs/rules`): rule codes link to `<url>/CB00N.md`.
    pub rules_url: Option<String>,
    /// "this PR" instead of "this change".
    pub pull_request: bool,
}

pub fn render(report: &Report) -> String {
    render_with(
        report,
        &Options {
            steps: true,
            suggestions: true,
            ..Options::default()
        },
    )
}

/// The report without the per-step tables (for bodies that must stay short).
pub fn render_compact(report: &Report) -> String {
    render_with(
        report,
        &Options {
            suggestions: true,
            ..Options::default()
        },
    )
}

/// A rule code, linked to its page when the pages' address is known.
pub fn rule_link(code: &str, rules_url: Option<&str>) -> String {
    match rules_url {
        Some(u) => format!(
            "[{code}]({}/{code}.md)",
            u.trim_end_matches('/')
                .replace(['(', ')', ' ', '<', '>'], "")
        ),
        None => code.to_string(),
    }
}

/// The words for a fix in PR text (no CLI flags): its applicability, and for a patch to the
/// CI workflow alone, that the image stays the same.
pub fn fix_words(x: &crate::engine::fix::Fix) -> &'static str {
    if x.applicability == Applicability::Unsafe
        && !x.edits.is_empty()
        && x.edits
            .iter()
            .all(|e| e.file.starts_with(".github/workflows/"))
    {
        return "needs a review: the image stays the same, only the workflow's cache settings change";
    }
    applicability_words(x.applicability)
}

/// The words for a fix's applicability in PR text (no CLI flags).
pub fn applicability_words(a: Applicability) -> &'static str {
    match a {
        Applicability::Safe => "safe: the image keeps the same files",
        Applicability::Unsafe => "needs a review: changes what the image holds",
        Applicability::DisplayOnly => "to complete by hand: it has a placeholder",
    }
}

/// The verdict: time first, then what can be avoided, then `extra`.
pub fn verdict(report: &Report, pull_request: bool, extra: Option<&str>) -> String {
    let whose = if pull_request {
        "this PR's"
    } else {
        "this change's"
    };
    let mut parts = Vec::new();
    if report.dockerfiles.is_empty() {
        parts.push("no Dockerfile build is touched".to_string());
    } else if report.rebuilt_steps() == 0 && report.uncounted().1 > 0 {
        parts.push("no step of a declared build loses its cache".to_string());
    } else if report.rebuilt_steps() == 0 {
        parts.push("no build step loses its cache".to_string());
    } else {
        parts.push(format!(
            "+{} on {whose} first build{}",
            duration(report.rebuild_seconds()),
            super::unknown_clause(report)
        ));
        let avoidable: f64 = report
            .dockerfiles
            .iter()
            .filter(|d| d.counted())
            .map(avoidable_seconds)
            .sum();
        if avoidable > 0.05 {
            parts.push(format!("{} avoidable", duration(avoidable)));
        }
    }
    if let Some(e) = extra {
        parts.push(e.to_string());
    }
    parts.join(" · ")
}

pub fn render_with(report: &Report, opts: &Options) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "### cachebust: {}\n",
        escape(&verdict(
            report,
            opts.pull_request,
            opts.verdict_extra.as_deref()
        ))
    );
    if report.dockerfiles.is_empty() {
        if let Some(a) = &opts.after_verdict {
            o.push_str(a);
        }
        return o;
    }
    let rebuilt = report.rebuilt_steps();
    let total_steps: usize = report
        .dockerfiles
        .iter()
        .filter(|d| d.counted())
        .map(|d| d.summary.rebuilt + d.summary.cached)
        .sum();
    let warm = report
        .dockerfiles
        .iter()
        .all(|d| d.assumption == crate::engine::report::Assumption::WarmLocal);
    let _ = writeln!(
        o,
        "{rebuilt} of {total_steps} build step{} lose their cache. The time is for the first build of this head {}; later builds of the same head are cached again.\n",
        if total_steps == 1 { "" } else { "s" },
        if warm {
            "against a warm cache of the base"
        } else {
            "with the cache each build is predicted with (below)"
        }
    );
    if let Some(u) = super::uncounted_sentence(report) {
        let _ = writeln!(o, "{}\n", escape_sentence(&sentence(&capitalize(&u))));
    }
    let several = report.dockerfiles.len() > 1;
    let order = super::by_cost(report);
    if several {
        let _ = writeln!(o, "| build | steps rebuilt | time | avoidable |");
        let _ = writeln!(o, "| --- | ---: | ---: | ---: |");
        for df in &order {
            let _ = writeln!(
                o,
                "| {} | {} of {} | {} | {} |",
                escape(&build_title(df)),
                df.summary.rebuilt,
                df.summary.rebuilt + df.summary.cached,
                df.cost
                    .as_ref()
                    .map(|c| duration(c.estimated_rebuild_seconds))
                    .unwrap_or_else(|| "-".into()),
                match avoidable_seconds(df) {
                    a if a > 0.05 => duration(a),
                    _ => "-".into(),
                }
            );
        }
        let avoidable: f64 = report
            .dockerfiles
            .iter()
            .filter(|d| d.counted())
            .map(avoidable_seconds)
            .sum();
        let _ = writeln!(
            o,
            "| **total** | **{rebuilt} of {total_steps}** | **{}** | **{}** |",
            duration(report.rebuild_seconds()),
            if avoidable > 0.05 {
                duration(avoidable)
            } else {
                "-".into()
            }
        );
        o.push('\n');
        if let Some(n) = super::shared_total_note(report) {
            let _ = writeln!(o, "{n}\n");
        }
    }
    if let Some(a) = &opts.after_verdict {
        o.push_str(a);
        if !a.ends_with("\n\n") {
            o.push('\n');
        }
    }
    for df in order {
        build_section(&mut o, df, several, opts);
    }
    o
}

fn build_section(o: &mut String, df: &DockerfileReport, several: bool, opts: &Options) {
    let time = match &df.cost {
        Some(c) if several && df.summary.rebuilt > 0 => {
            format!(" · +{}", duration(c.estimated_rebuild_seconds))
        }
        _ => String::new(),
    };
    let _ = writeln!(o, "#### {}{time}\n", escape(&build_title(df)));
    let target = df
        .target_stage
        .as_deref()
        .map(|t| stage_label(df, t))
        .unwrap_or_else(|| "final stage".into());
    let _ = writeln!(
        o,
        "<sub>context {}, target {}; predicted for {}</sub>\n",
        inline_code(&df.context),
        escape(&target),
        escape_sentence(&super::assumption_sentence(&df.assumption))
    );
    if let Some(g) = super::guess_sentence(df) {
        let _ = writeln!(
            o,
            "<sub>{}</sub>\n",
            escape_sentence(&sentence(&capitalize(&g)))
        );
    }
    if df.steps.is_empty() {
        let _ = writeln!(
            o,
            "No prediction: the Dockerfile cannot be built (see below)."
        );
    } else if df.summary.rebuilt == 0 {
        let _ = writeln!(o, "All steps stay cached.");
    } else if let Some(t) = cost_top(df) {
        let _ = writeln!(o, "{}\n", escape_sentence(&capitalize(&t)));
    }
    if let Some(s) = super::shared_sentence(df) {
        let _ = writeln!(o, "{}.\n", escape_sentence(&capitalize(&s)));
    }
    chain_lines(o, df, opts);
    suggestion_lines(o, df, opts);
    verification_lines(o, df);
    if opts.steps && !df.steps.is_empty() {
        steps_table(o, df);
    }
    if !df.steps.is_empty() {
        stage_graph(o, df);
    }
    for d in &df.diagnostics {
        let _ = writeln!(
            o,
            "\n- {}: {}: {}",
            inline_code(&super::diagnostic_at(&df.path, d)),
            match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            },
            escape(&d.message)
        );
    }
    o.push('\n');
}

/// Each chain: the first step that misses with its cause, then the steps it takes along (cut
/// in a short body).
fn chain_lines(o: &mut String, df: &DockerfileReport, opts: &Options) {
    // in a short body, long chains are cut (the job summary has them whole)
    let (max_chains, max_follow) = if opts.steps {
        (usize::MAX, usize::MAX)
    } else {
        (20, 8)
    };
    let all = chains(df);
    for (origin, follow) in all.iter().take(max_chains) {
        let why = origin
            .cause
            .as_ref()
            .map(|c| cause_sentence(c, df))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "- line {} {} rebuilds: {}",
            origin.line,
            inline_code(&instruction_text(df, origin)),
            escape_sentence(&why)
        );
        for f in follow.iter().take(max_follow) {
            let _ = writeln!(
                o,
                "  - then line {} {}",
                f.line,
                inline_code(&instruction_text(df, f))
            );
        }
        if follow.len() > max_follow {
            let _ = writeln!(o, "  - … and {} more steps", follow.len() - max_follow);
        }
    }
    if all.len() > max_chains {
        let _ = writeln!(o, "- … and {} more causes", all.len() - max_chains);
    }
}

/// The findings about this change, each with its saving and its fix.
fn suggestion_lines(o: &mut String, df: &DockerfileReport, opts: &Options) {
    let relevant: Vec<_> = df.findings.iter().filter(|f| f.relevant).collect();
    if opts.suggestions && !relevant.is_empty() {
        let _ = writeln!(o, "\n**Suggestions for this change:**\n");
        for (i, f) in relevant.iter().enumerate() {
            let mut line = format!(
                "- line {} **{}** {}",
                f.line,
                rule_link(f.code, opts.rules_url.as_deref()),
                escape(f.name),
            );
            let same = super::same_fix_as(&relevant[..i], f);
            // a fix merged for several findings claims its saving once ("the same as line 4
            // above" names the one that does)
            if let Some(sv) = super::claim_short(df, f).filter(|_| !super::claimed_by(df, f, same))
            {
                line.push_str(&format!(" · {}", escape(&sv)));
            }
            line.push_str(&format!(": {}", escape_sentence(&sentence(&f.message))));
            match (&f.fix, same) {
                (Some(_), Some(e)) => {
                    line.push_str(&format!(
                        " Fix: the same as line {} ({}) above.",
                        e.line, e.code
                    ));
                }
                (Some(x), None) => line.push_str(&format!(
                    " Fix ({}): {}.",
                    fix_words(x),
                    escape_sentence(&x.description)
                )),
                (None, _) => {}
            }
            let _ = writeln!(o, "{line}");
        }
    }
}

/// Each verification against a real build, with a table of the steps it disagrees on.
fn verification_lines(o: &mut String, df: &DockerfileReport) {
    for v in &df.verifications {
        let _ = writeln!(
            o,
            "\n**Predicted vs. what {} did** ({}): {}.\n",
            if v.source == crate::engine::report::RealSource::CiRecord {
                "CI"
            } else {
                "the build"
            },
            inline_code(&v.name),
            escape_sentence(&super::verification_summary(v))
        );
        let differing: Vec<_> = v.steps.iter().filter(|c| c.agrees == Some(false)).collect();
        if !differing.is_empty() {
            let _ = writeln!(o, "| line | step | predicted | real | why |");
            let _ = writeln!(o, "| ---: | --- | --- | --- | --- |");
            for c in differing {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    c.line,
                    inline_code(&c.instruction).replace('|', "\\|"),
                    match c.predicted {
                        crate::engine::report::Status::Cached => "cached",
                        crate::engine::report::Status::Rebuilt => "rebuilt",
                        crate::engine::report::Status::Unused => "unused",
                    },
                    super::outcome_word(c.real),
                    c.difference
                        .as_ref()
                        .map(|d| escape_sentence(&super::difference_sentence(d))
                            .replace("\\|", "|")
                            .replace('|', "\\|"))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// A sentence that ends with a full stop.
/// A message as a sentence: a full stop unless it ends in one (or in `?`, `!`); a closing
/// parenthesis ends the sentence only when the stop is inside it (`(… in the image.)`).
pub fn sentence(s: &str) -> String {
    let t = s.trim_end();
    let inner = t.trim_end_matches([')', '"', '\'', '`', '*', '_']);
    if t.is_empty() || inner.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The notes of a build, each once with the lines it applies to; the mutable-tag notes of the
/// FROM lines fold into one sentence.
pub fn folded_notes(df: &DockerfileReport) -> Vec<String> {
    let mut tags: Vec<(String, u32, bool)> = Vec::new();
    let mut notes: Vec<(String, Vec<u32>)> = Vec::new();
    for s in df.steps.iter().filter(|s| s.status != Status::Unused) {
        for n in &s.notes {
            if let Note::MutableTag {
                image,
                engine_checks_registry,
            } = n
            {
                if !tags.iter().any(|(i, _, _)| i == image) {
                    tags.push((image.clone(), s.line, *engine_checks_registry));
                }
                continue;
            }
            if s.status == Status::Rebuilt && matches!(n, Note::EarlyCutoff { .. }) {
                continue;
            }
            let text = note_sentence(n);
            match notes.iter_mut().find(|(t, _)| *t == text) {
                Some((_, lines)) => lines.push(s.line),
                None => notes.push((text, vec![s.line])),
            }
        }
    }
    let mut out = Vec::new();
    if !tags.is_empty() {
        let list: Vec<String> = tags
            .iter()
            .map(|(i, l, _)| format!("{} (line {l})", super::code(i)))
            .collect();
        let one = tags.len() == 1;
        out.push(if tags.iter().all(|t| t.2) {
            format!(
                "{} {} BuildKit re-resolves on every build: if {} moved upstream since the base build, {} stage rebuilds",
                list.join(", "),
                if one { "is a tag" } else { "are tags" },
                if one { "it" } else { "one" },
                if one { "the" } else { "its" }
            )
        } else {
            format!(
                "Docker 20.10 uses the local {} until someone pulls; a pull of a moved tag rebuilds {} stage",
                list.join(", "),
                if one { "the" } else { "its" }
            )
        });
    }
    for (text, lines) in notes {
        let l: Vec<String> = lines.iter().map(u32::to_string).collect();
        out.push(format!(
            "line{} {}: {text}",
            if lines.len() > 1 { "s" } else { "" },
            l.join(", ")
        ));
    }
    out
}

fn steps_table(o: &mut String, df: &DockerfileReport) {
    let _ = writeln!(
        o,
        "\n<details><summary>All {} steps</summary>\n",
        df.steps.len()
    );
    // one stage: no stage column
    let staged = df.steps.iter().any(|s| s.stage != df.steps[0].stage);
    if staged {
        let _ = writeln!(o, "| line | status | stage | step | time | why |");
        let _ = writeln!(o, "| ---: | --- | --- | --- | ---: | --- |");
    } else {
        let _ = writeln!(o, "| line | status | step | time | why |");
        let _ = writeln!(o, "| ---: | --- | --- | ---: | --- |");
    }
    for s in &df.steps {
        let st = match s.status {
            Status::Cached => "cached",
            Status::Rebuilt => "**rebuilt**",
            Status::Unused => "unused",
        };
        let secs = match (s.status, s.estimated_seconds) {
            (Status::Rebuilt, Some(x)) => duration(x),
            (Status::Rebuilt, None) if super::unpriced(s) => "unknown".to_string(),
            _ => String::new(),
        };
        let why = match (s.status, &s.cause) {
            (Status::Rebuilt, Some(c)) => escape_sentence(&cause_sentence(c, df)),
            (Status::Unused, _) => "the target does not need this stage".into(),
            _ => String::new(),
        };
        let stage = if staged {
            format!(" {} |", escape(&stage_label(df, &s.stage)))
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "| {} | {} |{stage} {} | {secs} | {} |",
            s.line,
            st,
            inline_code(&instruction_text(df, s)).replace('|', "\\|"),
            why.replace("\\|", "|").replace('|', "\\|")
        );
    }
    let notes = folded_notes(df);
    if !notes.is_empty() {
        o.push('\n');
        for n in notes {
            let _ = writeln!(o, "- {}", escape_sentence(&capitalize(&n)));
        }
    }
    let _ = writeln!(o, "\n</details>");
}

/// Stage names and their edges (`FROM <stage>`, `COPY --from`, `--mount from=`) as read from
/// the steps of a build.
fn stage_edges(df: &DockerfileReport) -> (Vec<String>, Vec<(usize, usize, &'static str)>) {
    let mut stages: Vec<String> = Vec::new();
    for s in &df.steps {
        if stages.last() != Some(&s.stage) && !stages.contains(&s.stage) {
            stages.push(s.stage.clone());
        }
    }
    let find = |name: &str| -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        stages
            .iter()
            .position(|s| s.to_ascii_lowercase() == lower)
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
    };
    let mut edges: Vec<(usize, usize, &'static str)> = Vec::new();
    for s in &df.steps {
        let Some(to) = stages.iter().position(|x| *x == s.stage) else {
            continue;
        };
        let words: Vec<&str> = s.instruction.split_whitespace().collect();
        let kw = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let mut add = |from: Option<usize>, label: &'static str| {
            if let Some(f) = from.filter(|f| *f != to) {
                if !edges.contains(&(f, to, label)) {
                    edges.push((f, to, label));
                }
            }
        };
        if kw == "FROM" {
            if let Some(img) = words.iter().skip(1).find(|w| !w.starts_with("--")) {
                add(find(img), "FROM");
            }
        }
        for w in &words {
            if let Some(v) = w.strip_prefix("--from=") {
                add(find(v.trim_matches('"')), "COPY --from");
            }
            if w.starts_with("--mount=") {
                for part in w.trim_start_matches("--mount=").split(',') {
                    if let Some(v) = part.strip_prefix("from=") {
                        add(find(v), "mount");
                    }
                }
            }
        }
    }
    (stages, edges)
}

/// Text for a Mermaid label in double quotes.
fn mermaid_label(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '"' => "#quot;".to_string(),
            '<' => "#lt;".to_string(),
            '>' => "#gt;".to_string(),
            '`' => "#96;".to_string(),
            '@' => "#64;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A Mermaid graph of a multi-stage build: a node per stage (rebuilt steps counted, rebuilt
/// stages red, cached green, unused grey), an edge per `FROM <stage>` and `COPY --from`.
pub fn stage_graph_source(df: &DockerfileReport) -> Option<String> {
    let (stages, edges) = stage_edges(df);
    if stages.len() < 2 {
        return None;
    }
    let mut g = String::from("graph LR\n");
    for (i, st) in stages.iter().enumerate() {
        let steps: Vec<_> = df.steps.iter().filter(|s| &s.stage == st).collect();
        let rebuilt = steps.iter().filter(|s| s.status == Status::Rebuilt).count();
        let unused = steps.iter().all(|s| s.status == Status::Unused);
        let state = if unused {
            "not built".to_string()
        } else if rebuilt == 0 {
            "cached".to_string()
        } else {
            let secs: f64 = steps
                .iter()
                .filter(|s| s.status == Status::Rebuilt)
                .filter_map(|s| s.estimated_seconds)
                .sum();
            format!("{rebuilt} of {} rebuilt, {}", steps.len(), duration(secs))
        };
        let class = if unused {
            "unused"
        } else if rebuilt > 0 {
            "rebuilt"
        } else {
            "cached"
        };
        let _ = writeln!(
            g,
            "  s{i}[\"{}<br/>{}\"]:::{class}",
            mermaid_label(&stage_label(df, st)),
            mermaid_label(&state)
        );
    }
    for (f, t, label) in &edges {
        let _ = writeln!(g, "  s{f} -->|\"{label}\"| s{t}");
    }
    g.push_str("  classDef rebuilt fill:#ffebe9,stroke:#cf222e,color:#1f2328\n");
    g.push_str("  classDef cached fill:#dafbe1,stroke:#1a7f37,color:#1f2328\n");
    g.push_str("  classDef unused fill:#f6f8fa,stroke:#8c959f,color:#57606a,stroke-dasharray:4\n");
    Some(g)
}

fn stage_graph(o: &mut String, df: &DockerfileReport) {
    let Some(g) = stage_graph_source(df) else {
        return;
    };
    let _ = writeln!(
        o,
        "\n<details><summary>Stage graph</summary>\n\n```mermaid\n{g}```\n\n</details>"
    );
}

/// Sentences made by `render` carry code spans around repository text (`super::code`), and rule
/// messages quote with backticks: both become inline code (exact for the first), the rest is
/// escaped.
pub fn escape_sentence(s: &str) -> String {
    super::spans(s, inline_code, |t| {
        let mut out = String::new();
        for (i, part) in t.split('`').enumerate() {
            if i % 2 == 1 {
                out.push_str(&inline_code(part));
            } else {
                out.push_str(&escape(part));
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn sentences_end_in_one_full_stop() {
        assert_eq!(
            sentence("the files are in the mount"),
            "the files are in the mount."
        );
        assert_eq!(
            sentence("the files are then in the mount, not in the image)"),
            "the files are then in the mount, not in the image)."
        );
        assert_eq!(sentence("(see the guide.)"), "(see the guide.)");
        assert_eq!(
            sentence("mount it with `--mount=x`"),
            "mount it with `--mount=x`."
        );
        assert_eq!(sentence("done. "), "done.");
        assert_eq!(sentence("why?"), "why?");
        assert_eq!(sentence("a list (…)"), "a list (…).");
    }
}
