//! Plain text for the terminal: per build, the count of rebuilt steps, the causal chains (the
//! first miss with its cause, then the steps that follow it), every step with its status, the
//! notes on what could not be known, and diagnostics.

use std::fmt::Write;

use super::{build_title, cause_sentence, chains, cost_sentence, duration, note_sentence};
use crate::engine::report::{Confidence, Report, Severity, Status};

const WIDTH: usize = 72;

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let t: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", t.trim_end())
}

pub fn render(report: &Report) -> String {
    let mut o = String::new();
    let rebuilt = report.rebuilt_steps();
    let _ = writeln!(
        o,
        "cachebust: {} build{} touched by {} changed path{}; {} step{} rebuild, about {} of build time (engine {})",
        report.dockerfiles.len(),
        plural(report.dockerfiles.len()),
        report.changed_paths,
        plural(report.changed_paths),
        rebuilt,
        plural(rebuilt),
        duration(report.rebuild_seconds()),
        report.engine
    );
    for d in &report.diagnostics {
        let _ = writeln!(
            o,
            "{}{}: {}: {}",
            d.file,
            d.line.map(|l| format!(":{l}")).unwrap_or_default(),
            sev(d.severity),
            d.message
        );
    }
    for df in &report.dockerfiles {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{}  (context {}, target {}, {})",
            build_title(df),
            df.context,
            df.target_stage.as_deref().unwrap_or("-"),
            df.frontend
        );
        let built = df.summary.rebuilt + df.summary.cached;
        if let Some(c) = cost_sentence(df) {
            let _ = writeln!(o, "  cost: {c}");
        }
        if df.steps.is_empty() {
            let _ = writeln!(
                o,
                "  no prediction: the Dockerfile cannot be built (see below)"
            );
        } else if df.summary.rebuilt == 0 {
            let _ = writeln!(o, "  all {built} steps stay cached");
        } else {
            let _ = writeln!(o, "  {} of {} steps rebuild", df.summary.rebuilt, built);
            let _ = writeln!(o, "  why:");
            for (origin, follow) in chains(df) {
                let why = origin
                    .cause
                    .as_ref()
                    .map(|c| cause_sentence(c, df))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "    line {} {}",
                    origin.line,
                    cut(&origin.instruction, WIDTH)
                );
                let _ = writeln!(o, "      because {why}");
                for f in follow {
                    let _ = writeln!(o, "      -> line {} {}", f.line, cut(&f.instruction, WIDTH));
                }
            }
        }
        if !df.steps.is_empty() {
            let _ = writeln!(o, "  steps:");
            let w = df
                .steps
                .iter()
                .map(|s| s.stage.len())
                .max()
                .unwrap_or(5)
                .max(5);
            for s in &df.steps {
                let st = match s.status {
                    Status::Cached => "cached ",
                    Status::Rebuilt => "REBUILT",
                    Status::Unused => "unused ",
                };
                let likely = if s.confidence == Confidence::Likely && s.status != Status::Unused {
                    "  (likely)"
                } else {
                    ""
                };
                let secs = match (s.status, s.estimated_seconds) {
                    (Status::Rebuilt, Some(x)) => format!("{:>10}", duration(x)),
                    _ => " ".repeat(10),
                };
                let _ = writeln!(
                    o,
                    "    {:>4}  {}  {secs}  {:<w$}  {}{likely}",
                    s.line,
                    st,
                    s.stage,
                    cut(&s.instruction, WIDTH)
                );
            }
        }
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
            let _ = writeln!(o, "  notes:");
            for (text, lines) in notes {
                let l: Vec<String> = lines.iter().map(u32::to_string).collect();
                let _ = writeln!(
                    o,
                    "    line{} {}: {text}",
                    if lines.len() > 1 { "s" } else { "" },
                    l.join(", ")
                );
            }
        }
        let relevant: Vec<&crate::engine::rules::Finding> =
            df.findings.iter().filter(|f| f.relevant).collect();
        if !relevant.is_empty() {
            let _ = writeln!(o, "  suggestions:");
            for f in &relevant {
                let _ = writeln!(
                    o,
                    "    line {} {} {}: {}",
                    f.line, f.code, f.name, f.message
                );
                if let Some(fix) = &f.fix {
                    let kind = match fix.applicability {
                        crate::engine::fix::Applicability::Safe => "safe fix",
                        crate::engine::fix::Applicability::Unsafe => "fix to review",
                        crate::engine::fix::Applicability::DisplayOnly => "to complete by hand",
                    };
                    let mut line = format!("      {kind}: {}", fix.description);
                    if let Some(s) = super::savings_sentence(f) {
                        line.push_str(&format!("; {s}"));
                    }
                    let _ = writeln!(o, "{line}");
                }
            }
        }
        let others = df.findings.len() - relevant.len();
        if others > 0 {
            let _ = writeln!(
                o,
                "  ({others} more finding{} not about this change: `cachebust check {}`)",
                plural(others),
                df.path
            );
        }
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
                let _ = writeln!(
                    o,
                    "  timings: {} log{} matched; {missing}",
                    c.logs,
                    plural(c.logs)
                );
            }
        }
        for d in &df.diagnostics {
            let at = if d.line > 0 {
                format!(":{}", d.line)
            } else {
                String::new()
            };
            let _ = writeln!(o, "  {}{at}: {}: {}", df.path, sev(d.severity), d.message);
        }
    }
    if report.dockerfiles.is_empty() {
        let _ = writeln!(o, "\nNo Dockerfile build is touched by this change.");
    }
    o
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
