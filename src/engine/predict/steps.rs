//! From vertex results to report steps: one step per FROM/RUN/COPY/ADD/WORKDIR instruction with
//! its status and cause, the sources a step reads that fail the build, the summary and the paths
//! of the change that touch the build.

use super::content;
use super::model::{Ctx, Res, SideSim};
use super::sim::{self, StepVertex};
use crate::engine::dockerfile::Kind;
use crate::engine::input::BuildInput;
use crate::engine::report::{Cause, Confidence, Diagnostic, Note, Severity, Status, Step, Summary};

/// Head COPY/ADD/bind sources that do not exist, are excluded, or leave the context: the build
/// fails there. Reported as error diagnostics and as a note on the step.
pub(super) fn check_sources(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    steps: &mut [Step],
    diags: &mut Vec<Diagnostic>,
) {
    for v in &head.sim.vertices {
        if !head.sim.stages[v.stage].reachable || v.trigger_line.is_some() {
            continue;
        }
        let line = head.df.instructions[v.inst].line;
        let paths = v.inputs.iter().filter_map(|i| match i {
            sim::Input::Context {
                path,
                wildcard: false,
            } => Some(path),
            _ => None,
        });
        for path in paths {
            if let Some(p) = content::source_problem(ctx, &build.context, path, &head.ignore) {
                source_problem(steps, diags, line, p);
            }
        }
    }
}

/// A source problem at `line`: one that fails the build is an error and a note on the step,
/// another a warning.
fn source_problem(
    steps: &mut [Step],
    diags: &mut Vec<Diagnostic>,
    line: u32,
    p: content::SourceProblem,
) {
    let content::SourceProblem { fails, message } = p;
    if !fails {
        diags.push(Diagnostic {
            line,
            severity: Severity::Warning,
            message,
            file: None,
        });
        return;
    }
    diags.push(Diagnostic {
        line,
        severity: Severity::Error,
        message: format!("the build fails here: {message}"),
        file: None,
    });
    if let Some(st) = steps.iter_mut().find(|s| s.line == line) {
        st.notes.push(Note::WillFail { message });
    }
}

pub(super) fn display_context(c: &str) -> String {
    if c.is_empty() {
        ".".into()
    } else {
        c.to_string()
    }
}

pub(super) fn dedup_diags(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = std::collections::HashSet::new();
    d.retain(|x| seen.insert((x.line, x.message.clone())));
    d.sort_by_key(|x| x.line);
    d
}

pub(super) fn summarize(steps: &[Step]) -> Summary {
    let mut s = Summary::default();
    for st in steps {
        match st.status {
            Status::Cached => s.cached += 1,
            Status::Rebuilt => {
                s.rebuilt += 1;
                if s.first_rebuilt_line.is_none() {
                    s.first_rebuilt_line = Some(st.line);
                }
            }
            Status::Unused => s.unused += 1,
        }
    }
    s
}

/// Changed paths that are inputs of this build (either side).
pub(super) fn touched_paths(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: Option<&SideSim>,
    base: Option<&SideSim>,
) -> Vec<String> {
    let mut out: Vec<&str> = Vec::new();
    if ctx.changes.get(&build.dockerfile).is_some() {
        out.push(&build.dockerfile);
    }
    // the shared answers of the sources (both sides of a `COPY . .` read the same one)
    let mut lists: Vec<std::rc::Rc<Vec<String>>> = Vec::new();
    for s in [head, base].into_iter().flatten() {
        if let Some(f) = &s.ignore.file {
            if ctx.changes.get(f).is_some() {
                out.push(f);
            }
        }
        for v in &s.sim.vertices {
            if !s.sim.stages[v.stage].reachable {
                continue;
            }
            for i in &v.inputs {
                if let sim::Input::Context { path, wildcard } = i {
                    let l =
                        content::shared_changes(ctx, &build.context, path, *wildcard, &s.ignore);
                    if !lists.iter().any(|k| std::rc::Rc::ptr_eq(k, &l)) {
                        lists.push(l);
                    }
                }
            }
        }
    }
    out.extend(lists.iter().flat_map(|l| l.iter().map(String::as_str)));
    out.extend(build.extra_touched.iter().map(String::as_str));
    out.sort_unstable();
    out.dedup();
    out.into_iter().map(str::to_string).collect()
}

/// Turn vertex results into one step per FROM/RUN/COPY/ADD/WORKDIR instruction.
pub(super) fn assemble_steps(head: &SideSim, res: &[Res]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(head.df.instructions.len());
    for (idx, inst) in head.df.instructions.iter().enumerate() {
        if !inst.kind.is_step() {
            continue;
        }
        let Some(&stage) = head.sim.stage_of.get(&idx) else {
            continue;
        };
        let st = &head.sim.stages[stage];
        let mut step = new_step(inst, st.info.display_name());
        if !st.reachable {
            step.status = Status::Unused;
            steps.push(step);
            continue;
        }
        match head.sim.step.get(&idx) {
            Some(StepVertex::Vertex(v)) => apply_res(&mut step, &res[*v]),
            Some(StepVertex::FromStage(p)) => from_stage(head, res, idx, *p, stage, &mut step),
            // WORKDIR / or FROM scratch: no vertex; report the chain state at this point
            Some(StepVertex::NoVertex) | None if inst.kind == Kind::Workdir => {
                no_vertex_workdir(head, res, idx, stage, &mut step)
            }
            Some(StepVertex::NoVertex) | None => {}
        }
        for x in head.sim.notes.get(&idx).into_iter().flatten() {
            if !step.notes.contains(x) {
                step.notes.push(x.clone());
            }
        }
        steps.push(step);
    }
    steps
}

/// A step as cached, before its vertex's result is applied.
fn new_step(inst: &crate::engine::dockerfile::Instruction, stage: String) -> Step {
    Step {
        line: inst.line,
        end_line: inst.end_line,
        stage,
        instruction: inst.display(120),
        status: Status::Cached,
        confidence: Confidence::Exact,
        cause: None,
        notes: Vec::new(),
        kind: inst.kind,
        estimated_seconds: None,
        estimated_range: None,
        cost_source: None,
        cost_label: None,
        classes: Vec::new(),
    }
}

/// `FROM <stage>` (instruction `idx` of stage `stage`, on the stage `parent`): rebuilt when the
/// parent stage's last vertex missed, else when one of the parent's ONBUILD triggers that run
/// as part of this FROM missed.
fn from_stage(
    head: &SideSim,
    res: &[Res],
    idx: usize,
    parent: usize,
    stage: usize,
    step: &mut Step,
) {
    let pst = &head.sim.stages[parent];
    if let Some(Res::Miss {
        origin_line,
        confidence,
        ..
    }) = pst.last.map(|last| &res[last])
    {
        step.status = Status::Rebuilt;
        step.confidence = *confidence;
        step.cause = Some(Cause::ParentStage {
            line: *origin_line,
            stage: pst.info.display_name(),
        });
    }
    if step.status != Status::Cached {
        return;
    }
    // ONBUILD triggers of the parent run as part of this FROM
    let first_miss = head.sim.stages[stage].vertices.iter().find_map(|&v| {
        let vx = &head.sim.vertices[v];
        if vx.trigger_line.is_none() || vx.inst != idx {
            return None;
        }
        match &res[v] {
            Res::Miss {
                cause, confidence, ..
            } => Some((vx.trigger_line, cause, confidence)),
            _ => None,
        }
    });
    if let Some((trigger_line, cause, confidence)) = first_miss {
        step.status = Status::Rebuilt;
        step.confidence = *confidence;
        step.cause = Some(match (cause, trigger_line) {
            (Cause::Follows { .. }, _) | (_, None) => cause.clone(),
            (_, Some(line)) => Cause::Onbuild {
                line,
                trigger: Box::new(cause.clone()),
            },
        });
    }
}

/// A WORKDIR with no vertex (`WORKDIR /`): no build step of its own, rebuilt when the vertex
/// before it in its stage missed.
fn no_vertex_workdir(head: &SideSim, res: &[Res], idx: usize, stage: usize, step: &mut Step) {
    step.notes.push(Note::NoBuildStep);
    let prev = head.sim.stages[stage]
        .vertices
        .iter()
        .rev()
        .find(|&&v| head.sim.vertices[v].inst < idx && head.sim.vertices[v].trigger_line.is_none())
        .copied();
    if let Some(p) = prev
        && let Res::Miss {
            origin_line,
            confidence,
            ..
        } = &res[p]
    {
        step.status = Status::Rebuilt;
        step.confidence = *confidence;
        step.cause = Some(Cause::Follows {
            follows_line: head.df.instructions[head.sim.vertices[p].inst].line,
            origin_line: *origin_line,
        });
    }
}

pub(super) fn apply_res(step: &mut Step, r: &Res) {
    match r {
        Res::Hit {
            confidence, notes, ..
        } => {
            step.status = Status::Cached;
            step.confidence = *confidence;
            step.notes = notes.clone();
        }
        Res::Miss {
            cause,
            confidence,
            notes,
            ..
        } => {
            step.status = Status::Rebuilt;
            step.confidence = *confidence;
            step.cause = Some(cause.clone());
            step.notes = notes.clone();
        }
        Res::Unused => step.status = Status::Unused,
        Res::Rerun { cause, notes } => {
            step.status = Status::Rebuilt;
            step.confidence = Confidence::Exact;
            step.cause = Some(cause.clone());
            step.notes = notes.clone();
        }
    }
}
