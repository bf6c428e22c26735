//! The rule pass of a prediction: the head's findings (the rule catalog over the head's
//! simulation), the same rules on the base for the fixes measured on both sides, and the head
//! lines the change touched (a finding on one of them is about this change).

use crate::engine::hash::HashMap;

use super::model::{Ctx, SideSim};
use super::rule_input;
use crate::engine::ignore::Flavor;
use crate::engine::input::{BuildInput, EngineKind, FileText, SideInput};
use crate::engine::memo::Kind as Memoized;
use crate::engine::report::DockerfileReport;
use crate::engine::tree::Side;

/// What the rules leave for the later passes besides the findings.
#[derive(Default)]
pub(super) struct RulePass {
    /// Fixes of the same findings on the base Dockerfile, by fingerprint.
    pub(super) base_fixes: HashMap<String, crate::engine::fix::Fix>,
    /// Head lines the change added or modified (every line of a new Dockerfile).
    pub(super) changed_lines: Vec<u32>,
}

/// Run the rules on the head (findings, with the texts their fixes edit) and on the base (its
/// fixes, to tell a finding the change introduced from one it kept).
pub(super) fn rule_pass(
    ctx: &Ctx<'_>,
    check: rule_input::Catalog,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    report: &mut DockerfileReport,
) -> RulePass {
    report.findings = run_rules(ctx, check, build, head, &build.head, Side::Head);
    run_build_rules(ctx, check, build, head, report);
    add_fix_sources(build, report);
    let head_text = build.head.dockerfile.as_ref().and_then(FileText::text);
    let Some(b) = base else {
        let n = head_text.map_or(0, |t| t.lines().count());
        return RulePass {
            base_fixes: HashMap::default(),
            changed_lines: (1..=n as u32).collect(),
        };
    };
    // the base's fixes are read only to measure a head finding's fix (`pipeline::savings`):
    // with none to measure, the base's rules are not run
    let applicable = |x: &Option<crate::engine::fix::Fix>| {
        x.as_ref()
            .is_some_and(|x| x.applicability != crate::engine::fix::Applicability::DisplayOnly)
    };
    let base_fixes = if report
        .findings
        .iter()
        .any(|f| applicable(&f.fix) || applicable(&f.own_fix))
    {
        base_fixes(ctx, check, build, b)
    } else {
        HashMap::default()
    };
    let old = build
        .base
        .dockerfile
        .as_ref()
        .and_then(FileText::text)
        .unwrap_or("");
    let new = head_text.unwrap_or("");
    RulePass {
        base_fixes,
        changed_lines: if old == new {
            Vec::new()
        } else {
            // the same two texts for every build of the Dockerfile (a bake file's targets)
            let key = format!("{}:{old}{new}", old.len());
            ctx.kept
                .get_or(Memoized::ChangedLines, &key, || {
                    std::sync::Arc::<[u32]>::from(changed_head_lines(old, new))
                })
                .to_vec()
        },
    }
}

/// The rules that read the prediction itself (the steps' causes): their findings join the
/// head's, sorted by line and code.
fn run_build_rules(
    ctx: &Ctx<'_>,
    check: rule_input::Catalog,
    build: &BuildInput,
    head: &SideSim,
    report: &mut DockerfileReport,
) {
    let Some(text) = build.head.dockerfile.as_ref().and_then(FileText::text) else {
        return;
    };
    let found = (check.build)(
        &rule_input::BuildRuleContext {
            build,
            text,
            df: &head.df,
            report,
            kept: ctx.kept,
        },
        ctx.config,
    );
    if !found.is_empty() {
        report.findings.extend(found);
        report
            .findings
            .sort_by(|a, b| a.line.cmp(&b.line).then(a.code.cmp(b.code)));
    }
}

/// The head texts of the files the findings' fixes edit (the workflow, the Dockerfile, its
/// ignore file), into `report.sources`; a file a fix creates is left absent.
fn add_fix_sources(build: &BuildInput, report: &mut DockerfileReport) {
    let workflow = build
        .ci
        .as_ref()
        .and_then(|c| Some((c.setup.file.as_str(), c.workflow_text.as_deref()?)));
    for e in report
        .findings
        .iter()
        .flat_map(|f| f.fix.iter().flat_map(|x| &x.edits))
    {
        if report.sources.contains_key(&e.file) {
            continue;
        }
        if let Some((file, text)) = workflow
            && e.file == file
        {
            report.sources.insert(e.file.clone(), text.to_string());
            continue;
        }
        let text = if e.file == build.dockerfile {
            build.head.dockerfile.as_ref()
        } else if e.file == format!("{}.dockerignore", build.dockerfile) {
            build.head.dockerfile_ignore.as_ref()
        } else {
            build.head.context_ignore.as_ref()
        };
        // a file the fix creates is absent: diffs show it as new
        if let Some(t) = text.and_then(FileText::text) {
            report.sources.insert(e.file.clone(), t.to_string());
        }
    }
}

/// The fixes of the rules' findings on the base `b`, by fingerprint (own fixes under
/// `own_fix_key`).
fn base_fixes(
    ctx: &Ctx<'_>,
    check: rule_input::Catalog,
    build: &BuildInput,
    b: &SideSim,
) -> HashMap<String, crate::engine::fix::Fix> {
    // the base's fixes stand in for the head's where the files they edit differ between the
    // sides (`pipeline::Measure::with_fix`): where none does, they are never read
    let same_files = build.base.dockerfile == build.head.dockerfile
        && build.base.dockerfile_ignore == build.head.dockerfile_ignore
        && build.base.context_ignore == build.head.context_ignore;
    let mut base_fixes = HashMap::default();
    let base_findings = if same_files {
        Vec::new()
    } else {
        run_rules(ctx, check, build, b, &build.base, Side::Base)
    };
    for f in base_findings {
        if let Some(fix) = f.own_fix {
            base_fixes.insert(own_fix_key(&f.fingerprint), fix);
        }
        if let Some(fix) = f.fix {
            base_fixes.insert(f.fingerprint, fix);
        }
    }
    base_fixes
}

/// The key of a finding's own (unmerged) fix in `Predicted::base_fixes`.
pub fn own_fix_key(fingerprint: &str) -> String {
    format!("{fingerprint}/own")
}

/// Run the rule catalog on one side of a build.
pub(super) fn run_rules(
    ctx: &Ctx<'_>,
    check: rule_input::Catalog,
    build: &BuildInput,
    side: &SideSim,
    input: &SideInput,
    which: Side,
) -> Vec<crate::engine::report::Finding> {
    let Some(text) = input.dockerfile.as_ref().and_then(FileText::text) else {
        return Vec::new();
    };
    let ignore_text =
        if side.ignore.file.as_deref() == Some(&format!("{}.dockerignore", build.dockerfile)) {
            input.dockerfile_ignore.as_ref().and_then(FileText::text)
        } else {
            input.context_ignore.as_ref().and_then(FileText::text)
        };
    let rc = rule_input::RuleContext {
        path: &build.dockerfile,
        text,
        df: &side.df,
        sim: &side.sim,
        context: &build.context,
        tree: Some(if which == Side::Head {
            ctx.head_tree
        } else {
            ctx.base_tree
        }),
        ignore: &side.ignore,
        ignore_text,
        needs: ctx.needs,
        flavor: if ctx.engine == EngineKind::Docker2010 {
            Flavor::Docker2010
        } else {
            Flavor::Current
        },
        changes: Some(ctx.changes),
        side: which,
        memo: Some(ctx.memo),
        kept: ctx.kept,
        histories: Some(ctx.histories),
        build_args: Some(&input.build_args),
        shared_reads: ctx.shared_reads,
        scripts: &side.text.scripts,
        lines: &side.text.lines,
    };
    (check.dockerfile)(&rc, ctx.config)
}

/// 1-based head lines that a line diff marks inserted or replaced (a pull request controls
/// both sides: the diff is bounded by `linediff::MAX_EXACT_LINES`, not by the clock).
pub fn changed_head_lines(old: &str, new: &str) -> Vec<u32> {
    crate::engine::linediff::diff_lines(old, new).changed_new_lines()
}
