//! Plain text for the terminal: per build, the count of rebuilt steps, the causal chains (the
//! first miss with its cause, then the steps that follow it), every step with its status, the
//! notes on what could not be known, and diagnostics. Every line fits the width (100 columns:
//! sentences wrap with a hanging indent, instructions and paths are cut with `…`); colour
//! (statuses, code spans) only when the caller says the output is a terminal that wants it.

use std::fmt::Write;

use super::{
    CODE_CLOSE, CODE_OPEN, build_title, cause_sentence, chains, cost_sentence, duration,
    instruction_text, note_sentence, stage_label,
};
use crate::engine::report::{Confidence, DockerfileReport, Report, Severity, Status};

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// ANSI colour (a terminal, and `NO_COLOR` unset).
    pub color: bool,
    /// Columns per line.
    pub width: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            width: WIDTH,
        }
    }
}

/// The width of the terminal output.
pub const WIDTH: usize = 100;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const GREEN: &str = "\x1b[32m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Cut to `max` characters with `…`.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let t: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", t.trim_end())
}

/// Backtick quotes of rule messages as code spans (the terminal shows no backticks).
fn spans_from_backticks(s: &str) -> String {
    super::spans(
        s,
        |c| format!("{CODE_OPEN}{c}{CODE_CLOSE}"),
        |t| {
            let parts: Vec<&str> = t.split('`').collect();
            if parts.len() % 2 == 0 {
                return t.to_string(); // unbalanced: leave it
            }
            let mut o = String::new();
            for (i, p) in parts.iter().enumerate() {
                if i % 2 == 1 {
                    o.push(CODE_OPEN);
                    o.push_str(p);
                    o.push(CODE_CLOSE);
                } else {
                    o.push_str(p);
                }
            }
            o
        },
    )
}

fn visible_len(s: &str) -> usize {
    s.chars()
        .filter(|c| *c != CODE_OPEN && *c != CODE_CLOSE)
        .count()
}

struct Printer {
    o: String,
    opts: TextOptions,
}

impl Printer {
    fn paint(&self, text: &str, style: &str) -> String {
        if self.opts.color && !style.is_empty() {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// A sentence (code spans marked) wrapped at the width: `first` before the first line,
    /// `rest` before the others.
    fn para(&mut self, first: &str, rest: &str, text: &str) {
        let (first, rest) = (&*one_line(first), &*one_line(rest));
        let text = spans_from_backticks(&one_line(text));
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        let mut len = visible_len(first);
        let width = self.opts.width;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let indent = if lines.is_empty() {
                visible_len(first)
            } else {
                visible_len(rest)
            };
            let w = visible_len(word);
            let word = if indent + w > width {
                // a path or URL longer than a line: cut it, keeping its span marks
                let keep = width.saturating_sub(indent + 1);
                let mut t: String = word.chars().take(keep + 2).collect();
                while visible_len(&t) > keep {
                    t.pop();
                }
                let open = t.matches(CODE_OPEN).count() > t.matches(CODE_CLOSE).count();
                format!(
                    "{t}…{}",
                    if open {
                        CODE_CLOSE.to_string()
                    } else {
                        String::new()
                    }
                )
            } else {
                word.to_string()
            };
            let w = visible_len(&word);
            if !line.is_empty() && len + 1 + w > width {
                lines.push(std::mem::take(&mut line));
                len = visible_len(rest);
            }
            if !line.is_empty() {
                line.push(' ');
                len += 1;
            }
            line.push_str(&word);
            len += w;
        }
        lines.push(line);
        let mut in_code = false;
        for (i, l) in lines.iter().enumerate() {
            let mut out = String::from(if i == 0 { first } else { rest });
            if in_code && self.opts.color {
                out.push_str(CYAN);
            }
            for c in l.chars() {
                match c {
                    CODE_OPEN => {
                        in_code = true;
                        if self.opts.color {
                            out.push_str(CYAN);
                        }
                    }
                    CODE_CLOSE => {
                        in_code = false;
                        if self.opts.color {
                            out.push_str(RESET);
                        }
                    }
                    c => out.push(c),
                }
            }
            if in_code && self.opts.color {
                out.push_str(RESET);
            }
            let _ = writeln!(self.o, "{}", out.trim_end());
        }
    }

    fn line(&mut self, s: &str) {
        let _ = writeln!(self.o, "{}", one_line(s));
    }
}

/// The output with every hidden character from the report written out and no line a CI runner
/// takes for a workflow command (`render::visible_lines`); with colour on, the escape sequences
/// this renderer writes itself are kept.
fn visible_output(o: &str, color: bool) -> String {
    const OURS: [&str; 6] = [BOLD, RED, GREEN, DIM, CYAN, RESET];
    super::visible_lines_keeping(o, if color { &OURS } else { &[] })
}

/// A line break inside a value (a file name, an instruction) written out: each `line` and
/// `para` is one line of output, whatever the value holds.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    let breaks = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    if !s.contains(breaks) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if breaks(c) {
            o.push_str(&super::visible(&c.to_string()));
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

pub fn render(report: &Report) -> String {
    render_with(report, &TextOptions::default())
}

pub fn render_with(report: &Report, opts: &TextOptions) -> String {
    let mut p = Printer {
        o: String::new(),
        opts: *opts,
    };
    let width = opts.width;
    let rebuilt = report.rebuilt_steps();
    let head = format!(
        "cachebust: {} build{} touched by {} changed path{}; {} step{} rebuild, about {} more on this change's first build{} (engine {})",
        report.dockerfiles.len(),
        plural(report.dockerfiles.len()),
        report.changed_paths,
        plural(report.changed_paths),
        rebuilt,
        plural(rebuilt),
        duration(report.rebuild_seconds()),
        super::unknown_clause(report),
        report.engine
    );
    p.para("", "  ", &head);
    if let Some(u) = super::uncounted_sentence(report) {
        p.para("  ", "    ", &u);
    }
    for d in &report.diagnostics {
        let first = format!(
            "{}{}: {}: ",
            d.file,
            d.line.map(|l| format!(":{l}")).unwrap_or_default(),
            sev(d.severity)
        );
        p.para(&cut(&first, width / 2), "  ", &d.message);
    }
    for df in super::by_cost(report) {
        build_section(&mut p, df, width);
    }
    if report.dockerfiles.is_empty() {
        p.line("");
        p.line("No Dockerfile build is touched by this change.");
    }
    visible_output(&p.o, opts.color)
}

/// One build: its title and sentences, what rebuilds and why, its steps, notes, suggestions,
/// timings, verifications and diagnostics.
fn build_section(p: &mut Printer, df: &DockerfileReport, width: usize) {
    p.line("");
    let target = df
        .target_stage
        .as_deref()
        .map(|t| stage_label(df, t))
        .unwrap_or_else(|| "final stage".into());
    let title = p.paint(&cut(&build_title(df), width), BOLD);
    p.line(&title);
    p.para(
        "  ",
        "    ",
        &format!("context {}, target {}, {}", df.context, target, df.frontend),
    );
    p.para(
        "  predicted for: ",
        "    ",
        &super::assumption_sentence(&df.assumption),
    );
    if let Some(g) = super::guess_sentence(df) {
        p.para("  ", "    ", &g);
    }
    let built = df.summary.rebuilt + df.summary.cached;
    if let Some(c) = cost_sentence(df) {
        p.para("  cost: ", "        ", &c);
    }
    if let Some(s) = super::shared_sentence(df) {
        p.para("  shared: ", "          ", &s);
    }
    rebuild_lines(p, df, built, width);
    step_table(p, df, width);
    note_lines(p, df, width);
    suggestion_lines(p, df);
    timing_line(p, df);
    verification_lines(p, df, width);
    for d in &df.diagnostics {
        let first = format!(
            "  {}: {}: ",
            super::diagnostic_at(&df.path, d),
            sev(d.severity)
        );
        p.para(&cut(&first, width / 2), "    ", &d.message);
    }
}

/// How many steps rebuild, and each chain: the first miss with its cause, then what follows.
fn rebuild_lines(p: &mut Printer, df: &DockerfileReport, built: usize, width: usize) {
    if df.steps.is_empty() {
        p.line("  no prediction: the Dockerfile cannot be built (see below)");
    } else if df.summary.rebuilt == 0 {
        p.line(&format!("  all {built} steps stay cached"));
    } else {
        p.line(&format!(
            "  {} of {} steps rebuild",
            df.summary.rebuilt, built
        ));
        p.line("  why:");
        for (origin, follow) in chains(df) {
            let why = origin
                .cause
                .as_ref()
                .map(|c| cause_sentence(c, df))
                .unwrap_or_default();
            let head = format!("    line {} ", origin.line);
            let inst = cut(&instruction_text(df, origin), width - head.len());
            let inst = p.paint(&inst, CYAN);
            p.line(&format!("{head}{inst}"));
            p.para("      because ", "        ", &why);
            for f in follow {
                let head = format!("      -> line {} ", f.line);
                let inst = cut(&instruction_text(df, f), width - head.len());
                p.line(&format!("{head}{inst}"));
            }
        }
    }
}

/// Every step with its status, estimate, stage and instruction.
fn step_table(p: &mut Printer, df: &DockerfileReport, width: usize) {
    if !df.steps.is_empty() {
        p.line("  steps:");
        let labels: Vec<String> = df.steps.iter().map(|s| stage_label(df, &s.stage)).collect();
        let w = labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 16);
        for (s, label) in df.steps.iter().zip(&labels) {
            let (st, style) = match s.status {
                Status::Cached => ("cached ", GREEN),
                Status::Rebuilt => ("REBUILT", RED),
                Status::Unused => ("unused ", DIM),
            };
            let likely = if s.confidence == Confidence::Likely && s.status != Status::Unused {
                "  (likely)"
            } else {
                ""
            };
            let secs = match (s.status, s.estimated_seconds) {
                (Status::Rebuilt, Some(x)) => format!("{:>10}", duration(x)),
                (Status::Rebuilt, None) if super::unpriced(s) => format!("{:>10}", "unknown"),
                _ => " ".repeat(10),
            };
            let used = 4 + 4 + 2 + 7 + 2 + 10 + 2 + w + 2 + likely.len();
            let inst = cut(&instruction_text(df, s), width.saturating_sub(used));
            let label = cut(label, w);
            p.line(&format!(
                "    {:>4}  {}  {secs}  {label:<w$}  {inst}{likely}",
                s.line,
                p.paint(st, style),
            ));
        }
    }
}

/// The notes of the steps used, each once, with the lines they apply to.
fn note_lines(p: &mut Printer, df: &DockerfileReport, width: usize) {
    // Notes, each once, with the lines they apply to.
    let mut notes: Vec<(String, Vec<u32>)> = Vec::new();
    for s in df.steps.iter().filter(|s| s.status != Status::Unused) {
        for n in &s.notes {
            let text = note_sentence(n);
            match notes.iter_mut().find(|(t, _)| *t == text) {
                Some((_, lines)) => lines.push(s.line),
                None => notes.push((text, vec![s.line])),
            }
        }
    }
    if !notes.is_empty() {
        p.line("  notes:");
        for (text, lines) in notes {
            let l: Vec<String> = lines.iter().map(u32::to_string).collect();
            let first = format!(
                "    line{} {}: ",
                if lines.len() > 1 { "s" } else { "" },
                l.join(", ")
            );
            p.para(&cut(&first, width / 2), "      ", &text);
        }
    }
}

/// The findings about this change with their fixes, and how many others there are.
fn suggestion_lines(p: &mut Printer, df: &DockerfileReport) {
    let relevant: Vec<&crate::engine::rules::Finding> =
        df.findings.iter().filter(|f| f.relevant).collect();
    if !relevant.is_empty() {
        p.line("  suggestions:");
        for (i, f) in relevant.iter().enumerate() {
            p.para(
                &format!("    line {} {} {}: ", f.line, f.code, f.name),
                "      ",
                &f.message,
            );
            if let Some(fix) = &f.fix {
                let kind = match fix.applicability {
                    crate::engine::fix::Applicability::Safe => "safe fix",
                    crate::engine::fix::Applicability::Unsafe => "fix to review (--unsafe)",
                    crate::engine::fix::Applicability::DisplayOnly => "to complete by hand",
                };
                let mut line = match super::same_fix_as(&relevant[..i], f) {
                    Some(e) => format!("the same fix as line {} ({}) above", e.line, e.code),
                    None => fix.description.clone(),
                };
                // a fix merged for several findings claims its saving once
                let same = super::same_fix_as(&relevant[..i], f);
                if let Some(s) =
                    super::claim_sentence(df, f).filter(|_| !super::claimed_by(df, f, same))
                {
                    line.push_str(&format!("; {s}"));
                }
                p.para(&format!("      {kind}: "), "        ", &line);
            }
        }
    }
    let others = df.findings.len() - relevant.len();
    if others > 0 {
        p.para(
            "  ",
            "    ",
            &format!(
                "({others} more finding{} not about this change: cachebust check {})",
                plural(others),
                df.path
            ),
        );
    }
}

/// How many timing logs matched the build, and which steps had none.
fn timing_line(p: &mut Printer, df: &DockerfileReport) {
    if let Some(c) = &df.cost {
        if c.logs > 0 {
            let l: Vec<String> = c.steps_without_timing.iter().map(u32::to_string).collect();
            let missing = if l.is_empty() {
                "every built step has a timing".to_string()
            } else {
                format!(
                    "no timing for line{} {} (model estimate used)",
                    if l.len() > 1 { "s" } else { "" },
                    l.join(", ")
                )
            };
            p.para(
                "  ",
                "    ",
                &format!(
                    "timings: {} log{} matched; {missing}",
                    c.logs,
                    plural(c.logs)
                ),
            );
        }
    }
}

/// Each verification against a real build, with the steps it disagrees on.
fn verification_lines(p: &mut Printer, df: &DockerfileReport, width: usize) {
    for v in &df.verifications {
        p.para(
            "  verified against ",
            "    ",
            &format!(
                "{}: {}",
                super::code(&v.name),
                super::verification_summary(v)
            ),
        );
        for c in v.steps.iter().filter(|c| c.agrees == Some(false)) {
            let head = format!("    line {} ", c.line);
            let inst = cut(&c.instruction, width.saturating_sub(head.len()));
            p.line(&format!("{head}{inst}"));
            let real = match c.seconds {
                Some(x) if c.real == crate::engine::report::RealOutcome::Ran => {
                    format!("{} ({})", super::outcome_word(c.real), duration(x))
                }
                _ => super::outcome_word(c.real).to_string(),
            };
            let why = c
                .difference
                .as_ref()
                .map(super::difference_sentence)
                .unwrap_or_default();
            p.para(
                &format!(
                    "      predicted {}, {real}: ",
                    match c.predicted {
                        Status::Cached => "cached",
                        Status::Rebuilt => "rebuilt",
                        Status::Unused => "unused",
                    }
                ),
                "        ",
                &why,
            );
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_wrap_at_the_width_and_cut_long_words() {
        let mut p = Printer {
            o: String::new(),
            opts: TextOptions {
                color: false,
                width: 30,
            },
        };
        let long = format!("{}x", "a/".repeat(40));
        p.para(
            "  because ",
            "    ",
            &format!(
                "files it copies changed: {} and `b`",
                super::super::code(&long)
            ),
        );
        for l in p.o.lines() {
            assert!(l.chars().count() <= 30, "{l:?}");
        }
        assert!(p.o.contains('…') && p.o.contains(" b"), "{}", p.o);
        assert!(!p.o.contains('`') && !p.o.contains(CODE_OPEN));
    }

    #[test]
    fn colour_marks_code_spans_and_closes_them_on_each_line() {
        let mut p = Printer {
            o: String::new(),
            opts: TextOptions {
                color: true,
                width: 20,
            },
        };
        p.para("", "  ", "see `one two three four five` here");
        for l in p.o.lines() {
            assert_eq!(l.matches(CYAN).count(), l.matches(RESET).count(), "{l:?}");
        }
    }
}
