//! Plain text for the terminal: per build, the cost in steps, the causal chains (first miss and
//! what follows it), then every step with its status, then diagnostics.

use std::fmt::Write;

use super::{build_title, cause_sentence, chains, reason};
use crate::engine::report::{Report, Severity, Status};

pub fn render(report: &Report) -> String {
    let mut o = String::new();
    let rebuilt = report.rebuilt_steps();
    let _ = writeln!(
        o,
        "cachebust: {} build{} touched by {} changed path{}, {} step{} rebuild ({})",
        report.dockerfiles.len(),
        plural(report.dockerfiles.len()),
        report.changed_paths,
        plural(report.changed_paths),
        rebuilt,
        plural(rebuilt),
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
        let built = df.summary.rebuilt + df.summary.cached;
        let _ = writeln!(
            o,
            "{}  (context {}, target {}, {})",
            build_title(df),
            df.context,
            df.target_stage.as_deref().unwrap_or("-"),
            df.frontend
        );
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
                    "    line {} {}: {}",
                    origin.line, origin.instruction, why
                );
                for f in follow {
                    let _ = writeln!(o, "      -> line {} {}", f.line, f.instruction);
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
                let _ = writeln!(
                    o,
                    "    {:>4}  {}  {:<w$}  {}",
                    s.line, st, s.stage, s.instruction
                );
                if s.status != Status::Unused
                    && (s.status == Status::Rebuilt || !s.notes.is_empty())
                {
                    let _ = writeln!(o, "                  {}", reason(s, df));
                }
            }
        }
        for d in &df.diagnostics {
            let _ = writeln!(
                o,
                "  {}:{}: {}: {}",
                df.path,
                d.line,
                sev(d.severity),
                d.message
            );
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
