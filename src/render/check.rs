//! What `cachebust check` and `cachebust fix` print: findings of whole-file audits as text
//! (`path:line: severity CODE name: message`, as linters do), JSON (version 1) and markdown, and
//! the summary of a fix run beside its unified diff.

use std::fmt::Write;

use serde::Serialize;

use super::markdown::{escape, inline_code};
use super::visible;
use crate::engine::dockerfile::Severity;
use crate::engine::fix::Applicability;
use crate::engine::report::{Diagnostic, FileDiagnostic, Report};
use crate::engine::rules::Finding;

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// How a fix is applied, in words.
pub fn applicability_words(a: Applicability) -> &'static str {
    match a {
        Applicability::Safe => "safe fix",
        Applicability::Unsafe => "fix to review (--unsafe)",
        Applicability::DisplayOnly => "to complete by hand",
    }
}

/// Counts over a check report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub findings: usize,
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
    /// Dockerfiles that do not parse (each an error diagnostic with its line).
    pub unparsable: usize,
    /// Dockerfiles that parse but fail to build as written (a COPY source that does not
    /// exist, a blank base name, …): an error diagnostic, yet steps to predict.
    pub failing: usize,
    pub safe_fixes: usize,
    pub unsafe_fixes: usize,
}

pub fn counts(report: &Report) -> Counts {
    let mut c = Counts::default();
    for df in &report.dockerfiles {
        // a fix merged for several findings of this Dockerfile is one fix to apply
        let mut seen: Vec<&crate::engine::fix::Fix> = Vec::new();
        if df.diagnostics.iter().any(|d| d.severity == Severity::Error) {
            // a file that parses has steps; its errors are about building it
            if df.steps.is_empty() {
                c.unparsable += 1;
            } else {
                c.failing += 1;
            }
        }
        for f in &df.findings {
            c.findings += 1;
            match f.severity {
                Severity::Error => c.errors += 1,
                Severity::Warning => c.warnings += 1,
                Severity::Info => c.info += 1,
            }
            let Some(x) = f.fix.as_ref() else { continue };
            if seen.contains(&x) {
                continue;
            }
            seen.push(x);
            match x.applicability {
                Applicability::Safe => c.safe_fixes += 1,
                Applicability::Unsafe => c.unsafe_fixes += 1,
                Applicability::DisplayOnly => {}
            }
        }
    }
    c
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn diag_line(o: &mut String, path: &str, d: &Diagnostic) {
    let _ = writeln!(
        o,
        "{}: {}: {}",
        visible(&super::diagnostic_at(path, d)),
        sev(d.severity),
        visible(&d.message)
    );
}

fn file_diag_line(o: &mut String, d: &FileDiagnostic) {
    let _ = writeln!(
        o,
        "{}{}: {}: {}",
        visible(&d.file),
        d.line.map(|l| format!(":{l}")).unwrap_or_default(),
        sev(d.severity),
        visible(&d.message)
    );
}

fn finding_line(o: &mut String, path: &str, f: &Finding) {
    let _ = writeln!(
        o,
        "{}:{}: {} {} {}: {}",
        visible(path),
        f.line,
        sev(f.severity),
        f.code,
        f.name,
        visible(&f.message)
    );
    if let Some(x) = &f.fix {
        let _ = writeln!(
            o,
            "    {}: {}",
            applicability_words(x.applicability),
            visible(&x.description)
        );
    }
}

/// Text: one line per finding, then a summary.
pub fn text(report: &Report) -> String {
    let mut o = String::new();
    for d in &report.diagnostics {
        if d.severity != Severity::Info {
            file_diag_line(&mut o, d);
        }
    }
    for df in &report.dockerfiles {
        for d in &df.diagnostics {
            if d.severity != Severity::Info {
                diag_line(&mut o, &df.path, d);
            }
        }
        for f in &df.findings {
            finding_line(&mut o, &df.path, f);
        }
    }
    let c = counts(report);
    let n = report.dockerfiles.len();
    if c.findings == 0 {
        let _ = write!(
            o,
            "cachebust check: no findings in {n} Dockerfile{}",
            plural(n)
        );
    } else {
        let mut parts = Vec::new();
        for (k, w) in [
            (c.errors, "error"),
            (c.warnings, "warning"),
            (c.info, "info"),
        ] {
            if k > 0 {
                parts.push(format!(
                    "{k} {w}{}",
                    if w == "info" { "" } else { plural(k) }
                ));
            }
        }
        let _ = write!(
            o,
            "cachebust check: {} finding{} in {n} Dockerfile{} ({})",
            c.findings,
            plural(c.findings),
            plural(n),
            parts.join(", ")
        );
    }
    let guessed = report
        .dockerfiles
        .iter()
        .filter(|d| d.guessed.is_some())
        .count();
    if guessed > 0 {
        let _ = write!(
            o,
            "; {guessed} guessed build{} (no declaration builds {})",
            plural(guessed),
            if guessed == 1 { "it" } else { "them" }
        );
    }
    if c.unparsable > 0 {
        let _ = write!(
            o,
            "; {} Dockerfile{} do{} not parse",
            c.unparsable,
            plural(c.unparsable),
            if c.unparsable == 1 { "es" } else { "" }
        );
    }
    if c.failing > 0 {
        let _ = write!(
            o,
            "; {} Dockerfile{} fail{} to build as written",
            c.failing,
            plural(c.failing),
            if c.failing == 1 { "s" } else { "" }
        );
    }
    let _ = writeln!(o);
    if c.safe_fixes > 0 {
        let _ = writeln!(
            o,
            "{} safe fix{}: `cachebust fix` shows the diff, `cachebust fix --apply` writes it",
            c.safe_fixes,
            if c.safe_fixes == 1 { "" } else { "es" }
        );
    }
    if c.unsafe_fixes > 0 {
        let _ = writeln!(
            o,
            "{} fix{} to review: `cachebust fix --unsafe`",
            c.unsafe_fixes,
            if c.unsafe_fixes == 1 { "" } else { "es" }
        );
    }
    super::visible_lines(&o)
}

#[derive(Serialize)]
struct CheckOut<'a> {
    version: u32,
    kind: &'static str,
    engine: &'a str,
    summary: Counts,
    dockerfiles: Vec<CheckDf<'a>>,
    diagnostics: &'a [FileDiagnostic],
}

#[derive(Serialize)]
struct CheckDf<'a> {
    path: &'a str,
    context: &'a str,
    /// A guessed build (no declaration names it): why its context, whether it counts.
    guessed: Option<super::json::GuessOut>,
    findings: Vec<super::json::FindingOut<'a>>,
    diagnostics: &'a [Diagnostic],
}

/// JSON, version 1 (`"kind": "check"`): findings with their fixes as unified diffs.
pub fn json(report: &Report) -> String {
    let out = CheckOut {
        version: super::json::VERSION,
        kind: "check",
        engine: &report.engine,
        summary: counts(report),
        dockerfiles: report
            .dockerfiles
            .iter()
            .map(|df| CheckDf {
                path: &df.path,
                context: &df.context,
                guessed: super::json::GuessOut::of(df),
                findings: {
                    let diffs = super::diff::FixDiffs::new(&df.sources);
                    df.findings
                        .iter()
                        .map(|f| super::json::finding_out(df, f, &diffs))
                        .collect()
                },
                diagnostics: &df.diagnostics,
            })
            .collect(),
        diagnostics: &report.diagnostics,
    };
    let mut s = serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"version\":1,\"error\":\"{e}\"}}"));
    s.push('\n');
    super::json_printed(s)
}

/// Markdown: a table of findings per Dockerfile, fixes as diffs.
pub fn markdown(report: &Report) -> String {
    let mut o = String::new();
    let c = counts(report);
    let _ = writeln!(
        o,
        "## cachebust check\n\n{} finding{} in {} Dockerfile{}.\n",
        c.findings,
        plural(c.findings),
        report.dockerfiles.len(),
        plural(report.dockerfiles.len())
    );
    for df in &report.dockerfiles {
        if df.findings.is_empty() && df.diagnostics.iter().all(|d| d.severity == Severity::Info) {
            continue;
        }
        let _ = writeln!(
            o,
            "### {}{}\n",
            inline_code(&df.path),
            if df.guessed.is_some() {
                " (guessed build: no declaration builds it)"
            } else {
                ""
            }
        );
        for d in df
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Info)
        {
            let _ = writeln!(
                o,
                "- {}: **{}**: {}",
                inline_code(&super::diagnostic_at(&df.path, d)),
                sev(d.severity),
                escape(&d.message)
            );
        }
        if !df.findings.is_empty() {
            let _ = writeln!(
                o,
                "| Line | Rule | Severity | Finding | Fix |\n|---:|---|---|---|---|"
            );
            for f in &df.findings {
                let _ = writeln!(
                    o,
                    "| {} | {} {} | {} | {} | {} |",
                    f.line,
                    f.code,
                    escape(f.name),
                    sev(f.severity),
                    escape(&f.message),
                    f.fix
                        .as_ref()
                        .map(|x| applicability_words(x.applicability))
                        .unwrap_or("-")
                );
            }
            let _ = writeln!(o);
        }
        let diffs = super::diff::FixDiffs::new(&df.sources);
        for f in &df.findings {
            let Some(x) = &f.fix else { continue };
            let diff = diffs.diff(x);
            if diff.is_empty() {
                continue;
            }
            // the diff holds text from the pull request: its fence outgrows any backtick run in it
            let fence = super::review::fence_for(&diff);
            let _ = writeln!(
                o,
                "<details><summary>{} line {}: {}</summary>\n\n{fence}diff\n{}{fence}\n</details>\n",
                f.code,
                f.line,
                super::markdown::html(&x.description),
                diff
            );
        }
    }
    o
}

/// The summary `cachebust fix` prints (to stderr) after the diff.
pub fn fix_summary(out: &crate::engine::fix_outcome::FixOutcome, applied_to_disk: bool) -> String {
    use crate::engine::fix_outcome::SkipReason;
    let mut o = String::new();
    let n = out.applied.len();
    let files = out.after.len();
    if n == 0 {
        let _ = writeln!(o, "cachebust fix: nothing to fix");
    } else {
        let _ = writeln!(
            o,
            "cachebust fix: {} {n} fix{} to {files} file{} ({} pass{})",
            if applied_to_disk {
                "applied"
            } else {
                "would apply"
            },
            if n == 1 { "" } else { "es" },
            plural(files),
            out.passes,
            if out.passes == 1 { "" } else { "es" }
        );
        for a in &out.applied {
            let _ = writeln!(
                o,
                "  {}:{}: {} {}",
                visible(&a.dockerfile),
                a.line,
                a.code,
                visible(&a.description)
            );
        }
        if !applied_to_disk {
            let _ = writeln!(o, "run with --apply to write the files");
        }
    }
    let count = |r: SkipReason| out.skipped.iter().filter(|s| s.reason == r).count();
    let (u, d) = (count(SkipReason::Unsafe), count(SkipReason::DisplayOnly));
    if u > 0 {
        let _ = writeln!(
            o,
            "{u} more fix{} to review with --unsafe",
            if u == 1 { "" } else { "es" }
        );
    }
    if d > 0 {
        let _ = writeln!(
            o,
            "{d} fix{} to complete by hand (see `cachebust check`)",
            if d == 1 { "" } else { "es" }
        );
    }
    for s in out.skipped.iter().filter(|s| {
        matches!(
            s.reason,
            SkipReason::BreaksParse | SkipReason::NoConvergence
        )
    }) {
        let why = if s.reason == SkipReason::BreaksParse {
            "not applied: the Dockerfile would no longer parse"
        } else {
            "not applied: it kept coming back after being applied"
        };
        let _ = writeln!(
            o,
            "  {}:{}: {} {why}",
            visible(&s.dockerfile),
            s.line,
            s.code
        );
    }
    super::visible_lines(&o)
}
