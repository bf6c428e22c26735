//! The server's check run of a report: its title, its conclusion, and one annotation per finding
//! that concerns the change and per step that starts a chain of cache misses.

use crate::engine::dockerfile::Severity;
use crate::engine::report::Report;

/// One annotation of the check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationText {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// `notice`, `warning` or `failure`.
    pub level: &'static str,
    pub title: String,
    pub message: String,
}

/// The check run's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunText {
    pub title: String,
    /// `neutral` when something rebuilds or a finding concerns the change, else `success`.
    pub conclusion: &'static str,
    pub annotations: Vec<AnnotationText>,
}

/// The check run of `report`.
pub fn check_run(report: &Report) -> CheckRunText {
    let mut annotations = Vec::new();
    for df in &report.dockerfiles {
        for f in df.findings.iter().filter(|f| f.relevant) {
            annotations.push(AnnotationText {
                path: df.path.clone(),
                start_line: f.line,
                end_line: f.end_line,
                level: match f.severity {
                    Severity::Error => "failure",
                    Severity::Warning => "warning",
                    Severity::Info => "notice",
                },
                title: format!("{} {}", f.code, f.name),
                // the saving as the review and the annotations state it, once per patch
                message: match super::claim_sentence(df, f) {
                    Some(s) => format!("{} — {s}", f.message),
                    None => f.message.clone(),
                },
            });
        }
        for (origin, follow) in super::chains(df) {
            let why = super::chain_why(origin, df);
            annotations.push(AnnotationText {
                path: df.path.clone(),
                start_line: origin.line,
                end_line: origin.end_line,
                level: "notice",
                title: "cache miss".into(),
                message: format!(
                    "rebuilds, and {} later step(s) with it: {why}",
                    follow.len()
                ),
            });
        }
    }
    let rebuilt = report.rebuilt_steps();
    let conclusion = if rebuilt > 0
        || report
            .dockerfiles
            .iter()
            .any(|d| d.findings.iter().any(|f| f.relevant))
    {
        "neutral"
    } else {
        "success"
    };
    CheckRunText {
        title: format!(
            "{rebuilt} step{} lose their cache (about {} more on this change's first build{})",
            if rebuilt == 1 { "" } else { "s" },
            super::duration(report.rebuild_seconds()),
            super::unknown_clause(report)
        ),
        conclusion,
        annotations,
    }
}

/// The check run of a pull request that was not analysed (its summary says why): `failure`, so
/// that a pull request cannot pass a required check by making its own analysis fail.
pub fn refused() -> CheckRunText {
    CheckRunText {
        title: "not analysed: the summary says why".into(),
        conclusion: "failure",
        annotations: Vec::new(),
    }
}
