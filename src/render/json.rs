//! JSON output, version 1. The shape is a contract (README "JSON output"): fields may be added,
//! never renamed or removed, without bumping `version`.

use serde::Serialize;

use super::{ASSUMPTION, RunMeta, reason};
use crate::engine::report::{
    Cause, Confidence, Diagnostic, FileDiagnostic, Note, Origin, Report, Status, Summary,
};

pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Out<'a> {
    version: u32,
    engine: &'a str,
    base: &'a str,
    head: &'a str,
    assumption: &'a str,
    changed_paths: usize,
    rebuilt_steps: usize,
    dockerfiles: Vec<DfOut<'a>>,
    diagnostics: &'a [FileDiagnostic],
}

#[derive(Serialize)]
struct DfOut<'a> {
    path: &'a str,
    context: &'a str,
    target: Option<&'a str>,
    target_stage: Option<&'a str>,
    origin: &'a Origin,
    frontend: &'a str,
    summary: &'a Summary,
    touched_by: &'a [String],
    steps: Vec<StepOut<'a>>,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct StepOut<'a> {
    line: u32,
    end_line: u32,
    stage: &'a str,
    instruction: &'a str,
    status: Status,
    confidence: Confidence,
    cause: Option<&'a Cause>,
    reason: String,
    #[serde(skip_serializing_if = "<[Note]>::is_empty")]
    notes: &'a [Note],
}

pub fn render(report: &Report, meta: &RunMeta) -> String {
    let out = Out {
        version: VERSION,
        engine: &report.engine,
        base: &meta.base,
        head: &meta.head,
        assumption: ASSUMPTION,
        changed_paths: report.changed_paths,
        rebuilt_steps: report.rebuilt_steps(),
        dockerfiles: report
            .dockerfiles
            .iter()
            .map(|d| DfOut {
                path: &d.path,
                context: &d.context,
                target: d.target.as_deref(),
                target_stage: d.target_stage.as_deref(),
                origin: &d.origin,
                frontend: &d.frontend,
                summary: &d.summary,
                touched_by: &d.touched_by,
                steps: d
                    .steps
                    .iter()
                    .map(|s| StepOut {
                        line: s.line,
                        end_line: s.end_line,
                        stage: &s.stage,
                        instruction: &s.instruction,
                        status: s.status,
                        confidence: s.confidence,
                        cause: s.cause.as_ref(),
                        reason: reason(s, d),
                        notes: &s.notes,
                    })
                    .collect(),
                diagnostics: &d.diagnostics,
            })
            .collect(),
        diagnostics: &report.diagnostics,
    };
    let mut s = serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"version\":1,\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}
