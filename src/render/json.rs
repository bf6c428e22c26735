//! JSON output, version 1. The shape is a contract (docs/json-v1.md; docs/json-v1.schema.json,
//! which the tests validate outputs against): fields may be added, never renamed or removed,
//! without bumping `version`. A new field goes into the schema too.

use serde::Serialize;

use super::{ASSUMPTION, RunMeta, reason};
use crate::engine::report::{
    Cause, CauseKind, Confidence, ContextGuess, CostSource, Diagnostic, FileDiagnostic, Note,
    Origin, Report, Status, Summary,
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
    estimated_rebuild_seconds: f64,
    /// Rebuilt steps of the counted builds that the model cannot price: not in the seconds.
    #[serde(skip_serializing_if = "is_zero")]
    unknown_rebuilt_steps: usize,
    /// The guessed builds left out of `rebuilt_steps` and `estimated_rebuild_seconds`.
    not_counted: NotCounted,
    dockerfiles: Vec<DfOut<'a>>,
    diagnostics: Vec<&'a FileDiagnostic>,
}

#[derive(Serialize)]
struct NotCounted {
    builds: usize,
    rebuilt_steps: usize,
    estimated_rebuild_seconds: f64,
}

#[derive(Serialize)]
pub(super) struct GuessOut {
    context: ContextGuess,
    counted: bool,
    reason: String,
}

impl GuessOut {
    /// A guessed build's JSON: how its context was chosen, whether it counts, the sentence.
    pub(super) fn of(d: &crate::engine::report::DockerfileReport) -> Option<GuessOut> {
        d.guessed.as_ref().map(|g| GuessOut {
            context: g.context,
            counted: g.counted,
            reason: super::backticked(&super::guess_sentence(d).unwrap_or_default()),
        })
    }
}

#[derive(Serialize)]
struct DfOut<'a> {
    path: &'a str,
    context: &'a str,
    target: Option<&'a str>,
    target_stage: Option<&'a str>,
    origin: &'a Origin,
    /// Every declaration of this build (compose services, bake targets, workflow steps).
    origins: &'a [Origin],
    /// A guessed build (no declaration names it): why its context, whether it counts.
    guessed: Option<GuessOut>,
    frontend: &'a str,
    /// What the prediction assumes about the builder: a sentence, and the facts.
    assumption: String,
    builder: &'a crate::engine::report::Assumption,
    summary: &'a Summary,
    estimated_rebuild_seconds: Option<f64>,
    estimated_rebuild_range: Option<[f64; 2]>,
    estimated_full_build_seconds: Option<f64>,
    cached_step_share: Option<f64>,
    cached_step_share_warm: Option<f64>,
    cached_seconds_share: Option<f64>,
    timing_logs: usize,
    steps_without_timing: &'a [u32],
    /// Built steps the model cannot price (`cost_label` "unknown: …"), and how many rebuild.
    #[serde(skip_serializing_if = "is_zero")]
    unknown_steps: usize,
    #[serde(skip_serializing_if = "is_zero")]
    unknown_rebuilt_steps: usize,
    touched_by: &'a [String],
    /// Rebuilt steps an earlier build of the same bake call runs: counted there in the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared: Option<&'a crate::engine::report::Shared>,
    steps: Vec<StepOut<'a>>,
    findings: Vec<FindingOut<'a>>,
    diagnostics: &'a [Diagnostic],
    /// `verify`: the prediction against each real build of the head.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    verifications: Vec<VerificationOut<'a>>,
}

#[derive(Serialize)]
struct VerificationOut<'a> {
    #[serde(flatten)]
    v: &'a crate::engine::report::Verification,
    summary: String,
    /// One sentence per differing step, by line.
    reasons: Vec<ReasonOut>,
}

#[derive(Serialize)]
struct ReasonOut {
    line: u32,
    reason: String,
}

#[derive(Serialize)]
pub(super) struct FixOut<'a> {
    applicability: crate::engine::fix::Applicability,
    description: &'a str,
    diff: String,
}

#[derive(Serialize)]
pub(super) struct FindingOut<'a> {
    code: &'a str,
    name: &'a str,
    severity: crate::engine::report::Severity,
    line: u32,
    end_line: u32,
    stage: &'a str,
    message: &'a str,
    fingerprint: &'a str,
    relevant: bool,
    fix: Option<FixOut<'a>>,
    savings: Option<&'a crate::engine::rules::Savings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    savings_text: Option<String>,
}

#[derive(Serialize)]
struct StepOut<'a> {
    line: u32,
    end_line: u32,
    stage: &'a str,
    instruction: &'a str,
    status: Status,
    confidence: Confidence,
    cause: Option<CauseOut<'a>>,
    reason: String,
    #[serde(skip_serializing_if = "<[Note]>::is_empty")]
    notes: &'a [Note],
    estimated_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_range: Option<[f64; 2]>,
    cost_source: Option<CostSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_label: Option<&'a str>,
}

/// A cause as JSON v1 has always written it: one flat object, `kind` and the fields the cause has.
#[derive(Serialize, Default)]
struct CauseOut<'a> {
    kind: Option<CauseKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    paths: &'a [String],
    #[serde(skip_serializing_if = "is_zero")]
    paths_total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    follows_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_line: Option<u32>,
    /// Cache-backend causes: the imported cache, its export mode, the step that needs this
    /// one's result, the build whose export replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<crate::engine::backend::Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needed_by: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl<'a> CauseOut<'a> {
    /// A cause's JSON. One arm per variant, so that a new cause does not compile without its
    /// fields; the large families of variants that carry the same fields share a helper below.
    fn of(c: &'a Cause) -> CauseOut<'a> {
        let mut o = CauseOut {
            kind: Some(c.kind()),
            name: c.name(),
            ..Default::default()
        };
        if let Some(p) = c.paths() {
            o.paths = &p.shown;
            o.paths_total = p.total;
        }
        match c {
            Cause::InstructionAdded { line, base_line } => {
                o.line = Some(*line);
                o.base_line = *base_line;
            }
            Cause::InstructionChanged { .. }
            | Cause::BuildArg { .. }
            | Cause::Arg { .. }
            | Cause::Env { .. }
            | Cause::ImageVariable { .. } => o.value_change(c),
            Cause::InstructionRemoved { .. }
            | Cause::ArgRemoved { .. }
            | Cause::EnvRemoved { .. } => o.removal(c),
            Cause::User { .. }
            | Cause::Shell { .. }
            | Cause::Workdir { .. }
            | Cause::BaseImage { .. }
            | Cause::FromPlatform { .. } => o.setting_change(c),
            Cause::HeredocChanged { line }
            | Cause::Files { line, .. }
            | Cause::EnvOrder { line }
            | Cause::ParentStage { line, .. }
            | Cause::NewDockerfile { line }
            | Cause::BaseNotBuildable { line } => o.line = Some(*line),
            Cause::Dockerignore { line, file, .. } => {
                o.line = Some(*line);
                o.file = file.as_deref();
            }
            Cause::Syntax { line, file } => {
                o.line = Some(*line);
                o.file = Some(file);
            }
            Cause::CopyFrom {
                line,
                producer_line,
                ..
            } => {
                o.line = Some(*line);
                o.origin_line = *producer_line;
            }
            // the trigger's facts, under the ONBUILD kind and the trigger's line
            Cause::Onbuild { line, trigger } => {
                o = CauseOut::of(trigger);
                o.kind = Some(CauseKind::Onbuild);
                o.line = Some(*line);
            }
            Cause::Follows {
                follows_line,
                origin_line,
            } => {
                o.follows_line = Some(*follows_line);
                o.origin_line = Some(*origin_line);
            }
            Cause::NotExported {
                line,
                needed_by,
                cache,
                mode,
            } => {
                o.line = Some(*line);
                o.needed_by = Some(*needed_by);
                o.cache = Some(cache);
                o.mode = Some(*mode);
            }
            Cause::CacheReplaced { line, cache, by } => {
                o.line = Some(*line);
                o.cache = Some(cache);
                o.by = Some(by);
            }
            Cause::CacheEmpty { line, cache } => {
                o.line = Some(*line);
                o.cache = Some(cache);
            }
            Cause::NoCacheImport { line, file } | Cause::NoCache { line, file } => {
                o.line = Some(*line);
                o.file = Some(file);
            }
            Cause::NoCacheFilter { line, .. } => o.line = Some(*line),
        }
        o
    }

    /// The fields of a change between values either side may lack: an instruction's text, a
    /// build arg, an ARG, an ENV, a base image's variable (other causes: nothing).
    fn value_change(&mut self, c: &'a Cause) {
        if let Cause::InstructionChanged {
            line,
            base_line,
            before,
            after,
        }
        | Cause::BuildArg {
            line,
            base_line,
            before,
            after,
            ..
        }
        | Cause::Arg {
            line,
            base_line,
            before,
            after,
            ..
        }
        | Cause::Env {
            line,
            base_line,
            before,
            after,
            ..
        }
        | Cause::ImageVariable {
            line,
            base_line,
            before,
            after,
            ..
        } = c
        {
            self.line = Some(*line);
            self.base_line = *base_line;
            self.before = before.as_deref();
            self.after = after.as_deref();
        }
    }

    /// The fields of something the base had and the head lost: an instruction, an ARG, an ENV
    /// (other causes: nothing).
    fn removal(&mut self, c: &'a Cause) {
        if let Cause::InstructionRemoved {
            line,
            base_line,
            before,
        }
        | Cause::ArgRemoved {
            line,
            base_line,
            before,
            ..
        }
        | Cause::EnvRemoved {
            line,
            base_line,
            before,
            ..
        } = c
        {
            self.line = Some(*line);
            self.base_line = Some(*base_line);
            self.before = Some(before);
        }
    }

    /// The fields of a setting both sides have: USER, SHELL, WORKDIR (whose base line may be
    /// unknown), the FROM image and platform (other causes: nothing).
    fn setting_change(&mut self, c: &'a Cause) {
        let (line, base_line, before, after) = match c {
            Cause::User {
                line,
                base_line,
                before,
                after,
            }
            | Cause::Shell {
                line,
                base_line,
                before,
                after,
            }
            | Cause::Workdir {
                line,
                base_line,
                before,
                after,
            } => (line, *base_line, before, after),
            Cause::BaseImage {
                line,
                base_line,
                before,
                after,
            }
            | Cause::FromPlatform {
                line,
                base_line,
                before,
                after,
            } => (line, Some(*base_line), before, after),
            _ => return,
        };
        self.line = Some(*line);
        self.base_line = base_line;
        self.before = Some(before);
        self.after = Some(after);
    }
}

/// A finding of `df` as JSON, with its fix as a unified diff against the sources of `diffs`,
/// and its saving as every other surface states it (`render::claim_sentence`).
pub(super) fn finding_out<'a>(
    df: &crate::engine::report::DockerfileReport,
    f: &'a crate::engine::rules::Finding,
    diffs: &super::diff::FixDiffs<'_>,
) -> FindingOut<'a> {
    FindingOut {
        code: f.code,
        name: f.name,
        severity: f.severity,
        line: f.line,
        end_line: f.end_line,
        stage: &f.stage,
        message: &f.message,
        fingerprint: &f.fingerprint,
        relevant: f.relevant,
        fix: f.fix.as_ref().map(|x| FixOut {
            applicability: x.applicability,
            description: &x.description,
            diff: diffs.diff(x),
        }),
        savings: f.savings.as_ref(),
        savings_text: super::claim_sentence(df, f),
    }
}

impl<'a> DfOut<'a> {
    /// A build's JSON: its declaration, the builder assumed, the costs, the steps, the
    /// findings and the verifications.
    fn of(d: &'a crate::engine::report::DockerfileReport) -> DfOut<'a> {
        DfOut {
            path: &d.path,
            context: &d.context,
            target: d.target.as_deref(),
            target_stage: d.target_stage.as_deref(),
            origin: &d.origin,
            origins: &d.origins,
            guessed: GuessOut::of(d),
            frontend: &d.frontend,
            assumption: match &d.assumption {
                crate::engine::report::Assumption::WarmLocal => ASSUMPTION.to_string(),
                a => super::backticked(&super::assumption_sentence(a)),
            },
            builder: &d.assumption,
            summary: &d.summary,
            estimated_rebuild_seconds: d.cost.as_ref().map(|c| c.estimated_rebuild_seconds),
            estimated_rebuild_range: d.cost.as_ref().map(|c| c.estimated_rebuild_range),
            estimated_full_build_seconds: d.cost.as_ref().map(|c| c.estimated_full_build_seconds),
            cached_step_share: d.cost.as_ref().map(|c| c.cached_step_share),
            cached_step_share_warm: d.cost.as_ref().map(|c| c.cached_step_share_warm),
            cached_seconds_share: d.cost.as_ref().map(|c| c.cached_seconds_share),
            timing_logs: d.cost.as_ref().map_or(0, |c| c.logs),
            steps_without_timing: d
                .cost
                .as_ref()
                .map_or(&[][..], |c| c.steps_without_timing.as_slice()),
            unknown_steps: d.cost.as_ref().map_or(0, |c| c.unknown_steps),
            unknown_rebuilt_steps: d.cost.as_ref().map_or(0, |c| c.unknown_rebuilt_steps),
            touched_by: &d.touched_by,
            shared: d.shared.as_ref(),
            steps: d.steps.iter().map(|s| StepOut::of(s, d)).collect(),
            findings: {
                let diffs = super::diff::FixDiffs::new(&d.sources);
                d.findings
                    .iter()
                    .map(|f| finding_out(d, f, &diffs))
                    .collect()
            },
            diagnostics: &d.diagnostics,
            verifications: d.verifications.iter().map(VerificationOut::of).collect(),
        }
    }
}

impl<'a> StepOut<'a> {
    /// A step of `d` as JSON, with its reason sentence.
    fn of(
        s: &'a crate::engine::report::Step,
        d: &crate::engine::report::DockerfileReport,
    ) -> StepOut<'a> {
        StepOut {
            line: s.line,
            end_line: s.end_line,
            stage: &s.stage,
            instruction: &s.instruction,
            status: s.status,
            confidence: s.confidence,
            cause: s.cause.as_ref().map(CauseOut::of),
            reason: super::backticked(&reason(s, d)),
            notes: &s.notes,
            estimated_seconds: s.estimated_seconds,
            estimated_range: s.estimated_range,
            cost_source: s.cost_source,
            cost_label: s.cost_label.as_deref(),
        }
    }
}

impl<'a> VerificationOut<'a> {
    /// A verification as JSON: its summary, and a sentence for each differing step.
    fn of(v: &'a crate::engine::report::Verification) -> VerificationOut<'a> {
        VerificationOut {
            v,
            summary: super::backticked(&super::verification_summary(v)),
            reasons: v
                .steps
                .iter()
                .filter_map(|c| {
                    c.difference.as_ref().map(|x| ReasonOut {
                        line: c.line,
                        reason: super::backticked(&super::difference_sentence(x)),
                    })
                })
                .collect(),
        }
    }
}

/// The report as JSON version 1, printed as a terminal or a CI runner reads it.
pub fn render(report: &Report, meta: &RunMeta) -> String {
    // what the run says beside the report: warnings without a file, after the report's own
    let notes: Vec<FileDiagnostic> = meta
        .notes
        .iter()
        .map(|n| FileDiagnostic {
            file: String::new(),
            line: None,
            severity: crate::engine::dockerfile::Severity::Warning,
            message: n.clone(),
        })
        .collect();
    let out = Out {
        version: VERSION,
        engine: &report.engine,
        base: &meta.base,
        head: &meta.head,
        assumption: ASSUMPTION,
        changed_paths: report.changed_paths,
        rebuilt_steps: report.rebuilt_steps(),
        estimated_rebuild_seconds: (report.rebuild_seconds() * 100.0).round() / 100.0,
        unknown_rebuilt_steps: super::unknown_rebuilt(report),
        not_counted: {
            let (builds, rebuilt_steps, secs) = report.uncounted();
            NotCounted {
                builds,
                rebuilt_steps,
                estimated_rebuild_seconds: (secs * 100.0).round() / 100.0,
            }
        },
        dockerfiles: report.dockerfiles.iter().map(DfOut::of).collect(),
        diagnostics: report.diagnostics.iter().chain(&notes).collect(),
    };
    let mut s = serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"version\":1,\"error\":\"{e}\"}}"));
    s.push('\n');
    super::json_printed(s)
}
