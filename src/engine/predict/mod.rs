//! The prediction: simulate base and head (`sim`), then decide for every head vertex whether
//! the warm cache of the base build holds a record with the same key — same op fields, a parent
//! that hit the same record, and content inputs with the same bytes (`content`). The first miss
//! of a chain gets a structured cause; later misses say which step they follow.
//!
//! Assumption (stated in docs/how-it-works.md and `--help`): the base revision was built with the
//! same target and build args on this builder, and its cache is warm.

pub mod content;
pub mod explain;
pub mod fresh;
pub mod rule_input;
pub mod sim;
pub mod writes;

mod facts;
mod matching;
mod model;
mod rulepass;
mod sides;
mod steps;

use crate::engine::hash::HashMap;

use super::dockerfile;
use super::input::BuildInput;
use super::report::{Diagnostic, DockerfileReport, Summary};
use super::tree::Side;
use facts::step_facts;
use matching::{match_vertices, step_keys};
use rulepass::{RulePass, rule_pass};
use sides::simulate_side;
use steps::{
    assemble_steps, check_sources, dedup_diags, display_context, summarize, touched_paths,
};

pub use matching::{canonical_ids, step_line, vertex_keys};
pub use model::{BaseProblem, Ctx, IgnoreInfo, Predicted, Res, SideSim, TextParts, VertexKey};
pub use rulepass::{changed_head_lines, own_fix_key};
pub use sides::frontend_name;

/// Predict one build: simulate both sides, match every head vertex against the base cache
/// (each first miss explained by `explain` or `content`), the steps and their sources, the
/// cost facts, then the rules. `None` when the change does not concern the build.
pub fn predict_build(ctx: &Ctx<'_>, build: &BuildInput) -> Option<Predicted> {
    if untouched(ctx, build) {
        return None;
    }
    let mut diags = Vec::new();
    let head = simulate_side(ctx, build, &build.head, Side::Head, &mut diags);
    let base = simulate_side(ctx, build, &build.base, Side::Base, &mut Vec::new());
    let Ok(head) = head else {
        return unreadable_head(ctx, build, diags);
    };
    let (base, base_problem) = comparable_base(&head, base);
    let mut results = match_vertices(ctx, build, &head, base.as_deref(), base_problem);
    if let Some(ci) = &build.ci {
        results = fresh::apply(ctx, build, &head, base.as_deref(), results, ci);
    }
    // a re-prediction that measures a fix reads steps and seconds, not the touched paths
    let touched = if ctx.rules.is_none() && build.always_report {
        Vec::new()
    } else {
        touched_paths(ctx, build, Some(&head), base.as_deref())
    };
    // every step's status comes from a vertex's result: with no miss nothing rebuilds, and a
    // build nothing touches is not reported (the test below, without assembling the steps)
    if !build.always_report
        && touched.is_empty()
        && !results.iter().any(|r| matches!(r, Res::Miss { .. }))
    {
        return None;
    }
    let mut steps = assemble_steps(&head, &results);
    check_sources(ctx, build, &head, &mut steps, &mut diags);
    let summary = summarize(&steps);
    if !build.always_report && touched.is_empty() && summary.rebuilt == 0 {
        return None;
    }
    let facts = step_facts(ctx, build, &head);
    let mut report = DockerfileReport {
        path: build.dockerfile.clone(),
        context: display_context(&build.context),
        target: build.head.target.clone(),
        target_stage: head
            .sim
            .target
            .map(|t| head.sim.stages[t].info.display_name()),
        origin: build.origin.clone(),
        origins: Vec::new(),
        frontend: frontend_name(ctx.engine, &head.df),
        steps,
        diagnostics: dedup_diags(diags),
        touched_by: touched,
        summary,
        cost: None,
        shared: None,
        findings: Vec::new(),
        sources: Default::default(),
        assumption: assumption_of(build),
        verifications: Vec::new(),
        guessed: None,
    };
    let rules = match ctx.rules {
        Some(check) => rule_pass(ctx, check, build, &head, base.as_deref(), &mut report),
        None => RulePass::default(),
    };
    Some(Predicted {
        report,
        facts,
        base_fixes: rules.base_fixes,
        changed_lines: rules.changed_lines,
        // only the builds of a bake call compare vertices with other builds (not re-predictions)
        keys: if build.calls.is_empty() || ctx.rules.is_none() {
            HashMap::default()
        } else {
            step_keys(&head)
        },
    })
}

/// What the build is predicted under.
fn assumption_of(build: &BuildInput) -> crate::engine::report::Assumption {
    match &build.ci {
        Some(ci) => crate::engine::report::Assumption::FreshRunner(fresh::assumption(ci)),
        None => crate::engine::report::Assumption::WarmLocal,
    }
}

/// Nothing the build reads differs between the sides: the same Dockerfile, ignore files, build
/// arguments and target, and no changed path at its Dockerfile, at `<Dockerfile>.dockerignore`
/// or at or under its context (every file a step reads, the context's `.dockerignore` included,
/// is there). Every step is then cached and nothing touches the build, which is what the full
/// prediction would conclude (`None`), without simulating either side or asking for listings.
fn untouched(ctx: &Ctx<'_>, build: &BuildInput) -> bool {
    !build.always_report
        && build.extra_touched.is_empty()
        && build.base == build.head
        && ctx.changes.get(&build.dockerfile).is_none()
        && ctx
            .changes
            .get(&format!("{}.dockerignore", build.dockerfile))
            .is_none()
        && !ctx.changes.any_at_or_under(&build.context)
}

/// A head Dockerfile that cannot be read or parsed: its diagnostics and no steps (`None` when
/// there is none, or the change does not concern the build).
fn unreadable_head(ctx: &Ctx<'_>, build: &BuildInput, diags: Vec<Diagnostic>) -> Option<Predicted> {
    let text = build.head.dockerfile.as_ref()?;
    let parsed = text.text().map(dockerfile::parse);
    let touched = touched_paths(ctx, build, None, None);
    if !build.always_report && touched.is_empty() {
        return None;
    }
    Some(Predicted {
        report: DockerfileReport {
            path: build.dockerfile.clone(),
            context: display_context(&build.context),
            target: build.head.target.clone(),
            target_stage: None,
            origin: build.origin.clone(),
            origins: Vec::new(),
            frontend: parsed
                .as_ref()
                .map(|d| frontend_name(ctx.engine, d))
                .unwrap_or_else(|| ctx.engine.name().to_string()),
            steps: Vec::new(),
            diagnostics: dedup_diags(diags),
            touched_by: touched,
            summary: Summary::default(),
            cost: None,
            shared: None,
            findings: Vec::new(),
            sources: Default::default(),
            assumption: assumption_of(build),
            verifications: Vec::new(),
            guessed: None,
        },
        facts: Vec::new(),
        base_fixes: HashMap::default(),
        changed_lines: Vec::new(),
        keys: HashMap::default(),
    })
}

/// The base simulation to compare with, or why there is none: a base with another `# syntax`
/// is another frontend, so nothing of it is reused.
fn comparable_base(
    head: &SideSim,
    base: Result<std::sync::Arc<SideSim>, BaseProblem>,
) -> (Option<std::sync::Arc<SideSim>>, Option<BaseProblem>) {
    match base {
        Ok(b) if b.df.syntax() != head.df.syntax() => (None, Some(BaseProblem::Syntax)),
        Ok(b) => (Some(b), None),
        Err(k) => (None, Some(k)),
    }
}
