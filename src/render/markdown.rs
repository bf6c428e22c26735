//! Markdown for PR comments and job summaries: cost first, a table of builds, the causal
//! chains, then the steps. Text from the repository (paths, instructions) is escaped so it
//! cannot inject markup, HTML or mentions.

use std::fmt::Write;

use super::{build_title, cause_sentence, chains, cost_sentence, duration, reason};
use crate::engine::report::{Report, Status};

/// Escape text for a markdown table cell or paragraph.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' => {
                o.push('\\');
                o.push(c);
            }
            '@' => o.push_str("@\u{200b}"),
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// Inline code that cannot be broken out of: the fence is longer than any backtick run.
pub fn inline_code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

pub fn render(report: &Report) -> String {
    render_with(report, true)
}

/// The report without the per-step tables (for bodies that must stay short).
pub fn render_compact(report: &Report) -> String {
    render_with(report, false)
}

fn render_with(report: &Report, steps: bool) -> String {
    let mut o = String::new();
    let rebuilt = report.rebuilt_steps();
    let _ = writeln!(
        o,
        "### cachebust: {rebuilt} build step{} lose their cache\n",
        if rebuilt == 1 { "" } else { "s" }
    );
    if report.dockerfiles.is_empty() {
        let _ = writeln!(o, "No Dockerfile build is touched by this change.");
        return o;
    }
    let _ = writeln!(
        o,
        "| Dockerfile | context | target | rebuilt | cached | slower by |"
    );
    let _ = writeln!(o, "| --- | --- | --- | ---: | ---: | ---: |");
    for df in &report.dockerfiles {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            escape(&build_title(df)),
            escape(&df.context),
            escape(df.target_stage.as_deref().unwrap_or("-")),
            df.summary.rebuilt,
            df.summary.cached,
            df.cost
                .as_ref()
                .map(|c| duration(c.estimated_rebuild_seconds))
                .unwrap_or_else(|| "-".into())
        );
    }
    for df in &report.dockerfiles {
        let _ = writeln!(o, "\n#### {}\n", escape(&build_title(df)));
        if let Some(c) = cost_sentence(df) {
            let _ = writeln!(o, "**Cost:** {}\n", escape_sentence(&c));
        }
        if df.summary.rebuilt == 0 && !df.steps.is_empty() {
            let _ = writeln!(o, "All steps stay cached.");
        }
        for (origin, follow) in chains(df) {
            let why = origin
                .cause
                .as_ref()
                .map(|c| cause_sentence(c, df))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "- line {} {} rebuilds: {}",
                origin.line,
                inline_code(&origin.instruction),
                escape_sentence(&why)
            );
            for f in follow {
                let _ = writeln!(
                    o,
                    "  - then line {} {}",
                    f.line,
                    inline_code(&f.instruction)
                );
            }
        }
        let relevant: Vec<_> = df.findings.iter().filter(|f| f.relevant).collect();
        if !relevant.is_empty() {
            let _ = writeln!(o, "\n**Suggestions for this change:**\n");
            for f in relevant {
                let mut line = format!(
                    "- line {} **{}** {}: {}",
                    f.line,
                    f.code,
                    escape(f.name),
                    escape_sentence(&f.message)
                );
                if let Some(x) = &f.fix {
                    line.push_str(&format!(
                        " — {}: {}",
                        super::check::applicability_words(x.applicability),
                        escape_sentence(&x.description)
                    ));
                }
                if let Some(sv) = super::savings_sentence(f) {
                    line.push_str(&format!("; {}", escape_sentence(&sv)));
                }
                let _ = writeln!(o, "{line}");
            }
        }
        if steps && !df.steps.is_empty() {
            let _ = writeln!(
                o,
                "\n<details><summary>All {} steps</summary>\n",
                df.steps.len()
            );
            let _ = writeln!(o, "| line | status | stage | step | why |");
            let _ = writeln!(o, "| ---: | --- | --- | --- | --- |");
            for s in &df.steps {
                let st = match s.status {
                    Status::Cached => "cached",
                    Status::Rebuilt => "**rebuilt**",
                    Status::Unused => "unused",
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    s.line,
                    st,
                    escape(&s.stage),
                    inline_code(&s.instruction).replace('|', "\\|"),
                    escape_sentence(&reason(s, df)).replace('|', "\\|")
                );
            }
            let _ = writeln!(o, "\n</details>");
        }
        for d in &df.diagnostics {
            let _ = writeln!(
                o,
                "- line {}: {:?}: {}",
                d.line,
                d.severity,
                escape(&d.message)
            );
        }
    }
    o
}

/// Sentences made by `render` carry `code` spans around repository text; keep those spans
/// and escape the rest.
pub fn escape_sentence(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&inline_code(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}
