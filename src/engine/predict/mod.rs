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

use crate::engine::hash::HashMap;

use super::cost::StepFact;
use super::dockerfile::{self, Body, Dockerfile, Kind};
use super::expand::Frontend;
use super::ignore::{Flavor, Matcher};
use super::report::{
    Cause, Confidence, Diagnostic, DockerfileReport, Note, Severity, Status, Step, Summary,
};
use super::tree::{ChangeSet, Listing, Needs, Side};
use super::{BuildInput, EngineKind, FileText, SideInput};
use explain::referenced_vars;
use sim::{EnvVar, Op, Semantics, Sim, StepVertex, VId, Vertex};

pub struct Ctx<'a> {
    pub engine: EngineKind,
    pub changes: &'a ChangeSet,
    pub base_tree: &'a Listing,
    pub head_tree: &'a Listing,
    pub needs: &'a Needs,
    /// What context sources select, shared by the builds and re-predictions of one call.
    pub memo: &'a crate::engine::memo::Shared,
    pub config: &'a crate::engine::settings::Config,
    /// The rule catalog to run (`None` for the re-predictions that measure a fix's savings).
    pub rules: Option<rule_input::RuleCheck>,
    /// Histories of files the rules asked for.
    pub histories: &'a crate::engine::volatility::Histories,
    /// What the builds of the analysis read from their contexts (`None`: not known).
    pub shared_reads: Option<&'a rule_input::SharedReads<'a>>,
}

/// A predicted build with what later passes need.
pub struct Predicted {
    pub report: DockerfileReport,
    pub facts: Vec<StepFact>,
    /// Fixes of the same findings on the base Dockerfile, by fingerprint (their own fixes, where
    /// merged, under `own_fix_key`).
    pub base_fixes: HashMap<String, crate::engine::fix::Fix>,
    /// Head lines the change added or modified.
    pub changed_lines: Vec<u32>,
    /// The vertex of each step with one (by line), as `vertex_keys` names it: equal across the
    /// builds of one analysis exactly when BuildKit solves the same vertex.
    pub keys: HashMap<u32, VertexKey>,
}

/// A head vertex's identity across builds (`vertex_keys`).
pub type VertexKey = [u8; 32];

/// A key for every vertex of one side, equal across the builds of one analysis when BuildKit
/// would solve the same vertex for both: the parent's key, the op (its environment carries the
/// build args in scope), the inputs (a stage by its vertex's key, the build context by its
/// root-relative path and the effective `.dockerignore`), and the `COPY --exclude` patterns.
/// Both builds read the same head tree, so equal inputs are equal bytes.
pub fn vertex_keys(side: &SideSim) -> Vec<VertexKey> {
    use sha2::{Digest, Sha256};
    let mut keys: Vec<VertexKey> = Vec::with_capacity(side.sim.vertices.len());
    let ignore = format!("{:?}{:?}", side.ignore.file, side.ignore.patterns);
    // an environment is shared by the steps that saw it: hashed once, not once per step
    let mut envs: HashMap<*const Vec<String>, VertexKey> = HashMap::default();
    for (i, v) in side.sim.vertices.iter().enumerate() {
        let mut h = Sha256::new();
        let key_of = |x: Option<VId>| x.filter(|x| *x < i).map(|x| keys[x]);
        h.update(format!("{:?}\u{0}", key_of(v.parent)).as_bytes());
        match &v.op {
            Op::Exec {
                argv,
                env,
                cwd,
                user,
                network,
                security,
                mounts,
            } => {
                let e = *envs.entry(std::sync::Arc::as_ptr(env)).or_insert_with(|| {
                    let mut eh = Sha256::new();
                    for x in env.iter() {
                        eh.update(x.as_bytes());
                        eh.update([0]);
                    }
                    eh.finalize().into()
                });
                h.update(
                    format!("exec:{argv:?}:{cwd:?}:{user:?}:{network:?}:{security:?}:{mounts:?}")
                        .as_bytes(),
                );
                h.update(e);
            }
            other => h.update(format!("{other:?}").as_bytes()),
        }
        h.update([0]);
        for inp in &v.inputs {
            let part = match inp {
                sim::Input::Stage { path, vid, .. } => {
                    format!("stage:{path}:{:?}", vid.and_then(|x| key_of(Some(x))))
                }
                sim::Input::Context { .. } => format!("{inp:?}:{ignore}"),
                other => format!("{other:?}"),
            };
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(format!("{:?}", v.exclude).as_bytes());
        keys.push(h.finalize().into());
    }
    keys
}

/// The vertex key of every head step that has a vertex (a `FROM <stage>` step: the stage's
/// last vertex), by line.
fn step_keys(head: &SideSim) -> HashMap<u32, VertexKey> {
    let keys = vertex_keys(head);
    let mut out = HashMap::default();
    for (idx, sv) in &head.sim.step {
        let v = match sv {
            StepVertex::Vertex(v) => Some(*v),
            StepVertex::FromStage(p) => head.sim.stages.get(*p).and_then(|st| st.last),
            StepVertex::NoVertex => None,
        };
        if let (Some(v), Some(inst)) = (v, head.df.instructions.get(*idx)) {
            if let Some(k) = keys.get(v) {
                out.insert(inst.line, *k);
            }
        }
    }
    out
}

/// The effective `.dockerignore` of one side.
#[derive(Debug, Clone)]
pub struct IgnoreInfo {
    /// Root-relative path of the file in effect, if any.
    pub file: Option<String>,
    /// Shared by the memo keys that name them (`memo::SourceKey`).
    pub patterns: std::sync::Arc<Vec<String>>,
    pub matcher: Option<Matcher>,
}

/// One simulated side.
pub struct SideSim {
    pub df: Dockerfile,
    pub sim: Sim,
    /// The canonical record id of every vertex (`canonical_ids`), kept with the simulation.
    pub canon: Vec<VId>,
    pub ignore: IgnoreInfo,
    pub side: Side,
}

/// Why a side has no simulation to compare with (the head's problems are diagnostics; the
/// base's make every head step a miss of this cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseProblem {
    /// The Dockerfile does not exist on that side.
    Missing,
    /// It is not a text file, cannot be read, or does not parse into a build.
    NotBuildable,
    /// Its `# syntax` directive differs from the head's: another frontend.
    Syntax,
}

/// Result for one head vertex.
#[derive(Debug, Clone)]
pub enum Res {
    Hit {
        base: VId,
        confidence: Confidence,
        notes: Vec<Note>,
    },
    Miss {
        cause: Cause,
        confidence: Confidence,
        notes: Vec<Note>,
        origin_line: u32,
    },
    /// Not built for the target.
    Unused,
    /// Its key hits, but the cache holds no result for it and a step that runs needs one: it
    /// runs again with the same key (what follows is not a miss because of it).
    Rerun { cause: Cause, notes: Vec<Note> },
}

fn semantics(engine: EngineKind, df: &Dockerfile, merge_op: bool) -> Semantics {
    match engine {
        EngineKind::Buildkit => Semantics {
            frontend: Frontend::Current,
            daemon_current: true,
            resolves_tags: true,
            merge_op,
        },
        EngineKind::Docker2010 => Semantics {
            frontend: if df.syntax().is_some() {
                Frontend::Current
            } else {
                Frontend::V0_8
            },
            daemon_current: false,
            resolves_tags: false,
            merge_op: false,
        },
    }
}

pub fn frontend_name(engine: EngineKind, df: &Dockerfile) -> String {
    match (engine, df.syntax()) {
        (EngineKind::Buildkit, Some(s)) => format!("buildkit (frontend {s})"),
        (EngineKind::Buildkit, None) => "buildkit (current frontend)".into(),
        (EngineKind::Docker2010, Some(s)) => format!("docker-20.10 (frontend {s})"),
        (EngineKind::Docker2010, None) => "docker-20.10 (built-in frontend 1.2)".into(),
    }
}

fn ignore_info(
    build: &BuildInput,
    side: &SideInput,
    flavor: Flavor,
    diags: &mut Vec<Diagnostic>,
    report_errors: bool,
) -> IgnoreInfo {
    let df_ignore = format!("{}.dockerignore", build.dockerfile);
    let ctx_ignore = if build.context.is_empty() {
        ".dockerignore".to_string()
    } else {
        format!("{}/.dockerignore", build.context)
    };
    let (file, text) = match (&side.dockerfile_ignore, &side.context_ignore) {
        (Some(t), _) => (Some(df_ignore), Some(t)),
        (None, Some(t)) => (Some(ctx_ignore), Some(t)),
        (None, None) => (None, None),
    };
    let patterns = match text {
        Some(FileText::Text(t)) => {
            if let (true, Some(line)) = (report_errors, super::ignore::line_past_limit(t)) {
                diags.push(Diagnostic {
                    line,
                    severity: Severity::Error,
                    message: format!(
                        "more than {} patterns; cachebust reads no further, so the prediction ignores the rest",
                        super::ignore::MAX_PATTERNS
                    ),
                    file: file.clone(),
                });
            }
            super::ignore::read_patterns(t)
        }
        Some(FileText::Binary(why)) => {
            if report_errors {
                diags.push(Diagnostic {
                    line: why.line(),
                    severity: Severity::Error,
                    message: format!("not a text file: {}", why.describe()),
                    file: file.clone(),
                });
            }
            Vec::new()
        }
        Some(FileText::Unreadable(m)) => {
            if report_errors {
                diags.push(Diagnostic {
                    line: 0,
                    severity: Severity::Error,
                    message: format!("cannot be read: {m}"),
                    file: file.clone(),
                });
            }
            Vec::new()
        }
        None => Vec::new(),
    };
    let matcher = match Matcher::new(&patterns, flavor) {
        Ok(m) => Some(m),
        Err(e) => {
            if report_errors {
                diags.push(Diagnostic {
                    line: text
                        .and_then(FileText::text)
                        .map_or(0, |t| super::ignore::error_line(t, &e)),
                    severity: Severity::Error,
                    message: format!("{e}; the build fails while sending the context"),
                    file: file.clone(),
                });
            }
            None
        }
    };
    IgnoreInfo {
        file,
        patterns: std::sync::Arc::new(patterns),
        matcher,
    }
}

/// A side's simulation with the diagnostics it reported, as [`simulate_side`] remembers it.
type KeptSide = std::sync::Arc<(
    Result<std::sync::Arc<SideSim>, BaseProblem>,
    Vec<Diagnostic>,
)>;

/// Side simulations, remembered by everything they depend on (the texts themselves, see
/// [`side_key`]). `history` predicts each commit against its parent, so a commit's head is the
/// next commit's base; the rounds of one call that ask for more of the tree, the builds sharing
/// a Dockerfile and the re-predictions of a fix ask for the same sides again. 384 sides hold
/// two commits of a 30-build monorepo with the fixes measured on each.
static SIDES: crate::engine::memo::Recent<KeptSide> = crate::engine::memo::Recent::new(384);

/// What a side's simulation depends on, as one text: the engine and builder, the Dockerfile's
/// path and context (they name the ignore file in effect), the side's Dockerfile and ignore
/// texts, its build args and target, and whether it is the head (only the head reports
/// diagnostics). Each part is written with its length first, so no two inputs share a key.
fn side_key(ctx: &Ctx<'_>, build: &BuildInput, side: &SideInput, which: Side) -> String {
    use std::fmt::Write;
    let mut k = String::new();
    let mut part = |s: &str| {
        let _ = write!(k, "{}:{s}", s.len());
    };
    part(ctx.engine.name());
    part(if ctx.config.builder.merge_op() {
        "merge"
    } else {
        ""
    });
    part(if which == Side::Head { "head" } else { "base" });
    part(&build.dockerfile);
    part(&build.context);
    for t in [
        &side.dockerfile,
        &side.dockerfile_ignore,
        &side.context_ignore,
    ] {
        match t {
            None => part("-"),
            Some(FileText::Text(t)) => {
                part("t");
                part(t)
            }
            Some(other) => part(&format!("{other:?}")),
        }
    }
    for (n, v) in &side.build_args {
        part(n);
        part(v);
    }
    part("|");
    part(side.target.as_deref().unwrap_or("\0"));
    k
}

/// [`simulate_one`], remembered (a simulation reads no listing, so its inputs are all in the key).
fn simulate_side(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    side: &SideInput,
    which: Side,
    diags: &mut Vec<Diagnostic>,
) -> Result<std::sync::Arc<SideSim>, BaseProblem> {
    let kept = SIDES.get_or(&side_key(ctx, build, side, which), || {
        let mut d = Vec::new();
        let r = simulate_one(ctx, build, side, which, &mut d).map(std::sync::Arc::new);
        std::sync::Arc::new((r, d))
    });
    diags.extend(kept.1.iter().cloned());
    kept.0.clone()
}

fn simulate_one(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    side: &SideInput,
    which: Side,
    diags: &mut Vec<Diagnostic>,
) -> Result<SideSim, BaseProblem> {
    let report = which == Side::Head;
    let text = match &side.dockerfile {
        None => return Err(BaseProblem::Missing),
        Some(FileText::Text(t)) => t,
        Some(FileText::Binary(why)) => {
            if report {
                diags.push(Diagnostic {
                    line: why.line(),
                    severity: Severity::Error,
                    message: format!("the Dockerfile is not a text file: {}", why.describe()),
                    file: None,
                });
            }
            return Err(BaseProblem::NotBuildable);
        }
        Some(FileText::Unreadable(m)) => {
            if report {
                diags.push(Diagnostic {
                    line: 0,
                    severity: Severity::Error,
                    message: format!("cannot read the Dockerfile: {m}"),
                    file: None,
                });
            }
            return Err(BaseProblem::NotBuildable);
        }
    };
    let df = dockerfile::parse(text);
    if report {
        for d in &df.diagnostics {
            diags.push(Diagnostic {
                line: d.line,
                severity: d.severity,
                message: d.message.clone(),
                file: None,
            });
        }
    }
    let sem = semantics(ctx.engine, &df, ctx.config.builder.merge_op());
    if report && sem.frontend == Frontend::V0_8 {
        for inst in &df.instructions {
            let has_heredoc = match &inst.body {
                Body::Run { heredocs, .. } => !heredocs.is_empty(),
                Body::Copy { sources, .. } => sources
                    .iter()
                    .any(|s| matches!(s, dockerfile::CopySource::Heredoc(_))),
                _ => false,
            };
            if has_heredoc {
                let (line, word) = legacy_heredoc_failure(text, inst);
                diags.push(Diagnostic {
                    line,
                    severity: Severity::Error,
                    message: format!(
                        "heredocs need dockerfile frontend 1.4+: Docker 20.10's built-in frontend reads the heredoc at line {} as instructions and fails here (unknown instruction: {word}; add `# syntax=docker/dockerfile:1`)",
                        inst.line
                    ),
                    file: None,
                });
            }
        }
    }
    let flavor = if ctx.engine == EngineKind::Docker2010 {
        Flavor::Docker2010
    } else {
        Flavor::Current
    };
    let ignore = ignore_info(build, side, flavor, diags, report);
    let sim = sim::simulate(&sim::SideSpec {
        df: &df,
        build_args: &side.build_args,
        target: side.target.as_deref(),
        sem,
        context: &build.context,
    });
    if report {
        diags.extend(sim.diagnostics.iter().cloned());
        if sim.target_missing {
            diags.push(Diagnostic {
                line: 0,
                severity: Severity::Error,
                message: format!(
                    "target stage {:?} could not be found",
                    side.target.clone().unwrap_or_default()
                ),
                file: None,
            });
        }
    }
    if !df.ok {
        return Err(BaseProblem::NotBuildable);
    }
    Ok(SideSim {
        canon: canonical_ids(&sim),
        df,
        sim,
        ignore,
        side: which,
    })
}

/// Where Docker 20.10's line reader, which knows no heredocs, fails on an instruction with
/// heredocs: the first line after the instruction's own lines that is neither blank nor a
/// comment and does not start with an instruction keyword (measured: `dockerfile parse error
/// line 4: unknown instruction: ECHO`). Returns the line and the word it names.
fn legacy_heredoc_failure(text: &str, inst: &dockerfile::Instruction) -> (u32, String) {
    let header_end = inst.line + inst.physical_lines.len().max(1) as u32 - 1;
    for (i, l) in text.lines().enumerate() {
        let n = i as u32 + 1;
        if n <= header_end || n > inst.end_line.max(header_end + 1) {
            continue;
        }
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let word = t.split_whitespace().next().unwrap_or_default();
        if Kind::from_keyword(&word.to_ascii_lowercase()).is_none() {
            return (n, word.to_ascii_uppercase());
        }
    }
    (inst.line, String::new())
}

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

/// What the rules leave for the later passes besides the findings.
#[derive(Default)]
struct RulePass {
    /// Fixes of the same findings on the base Dockerfile, by fingerprint.
    base_fixes: HashMap<String, crate::engine::fix::Fix>,
    /// Head lines the change added or modified (every line of a new Dockerfile).
    changed_lines: Vec<u32>,
}

/// Run the rules on the head (findings, with the texts their fixes edit) and on the base (its
/// fixes, to tell a finding the change introduced from one it kept).
fn rule_pass(
    ctx: &Ctx<'_>,
    check: rule_input::RuleCheck,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    report: &mut DockerfileReport,
) -> RulePass {
    report.findings = run_rules(ctx, check, build, head, &build.head, Side::Head);
    for e in report
        .findings
        .iter()
        .flat_map(|f| f.fix.iter().flat_map(|x| &x.edits))
    {
        if report.sources.contains_key(&e.file) {
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
    let head_text = build.head.dockerfile.as_ref().and_then(FileText::text);
    let Some(b) = base else {
        let n = head_text.map_or(0, |t| t.lines().count());
        return RulePass {
            base_fixes: HashMap::default(),
            changed_lines: (1..=n as u32).collect(),
        };
    };
    let mut base_fixes = HashMap::default();
    for f in run_rules(ctx, check, build, b, &build.base, Side::Base) {
        if let Some(fix) = f.own_fix {
            base_fixes.insert(own_fix_key(&f.fingerprint), fix);
        }
        if let Some(fix) = f.fix {
            base_fixes.insert(f.fingerprint, fix);
        }
    }
    let old = build
        .base
        .dockerfile
        .as_ref()
        .and_then(FileText::text)
        .unwrap_or("");
    RulePass {
        base_fixes,
        changed_lines: changed_head_lines(old, head_text.unwrap_or("")),
    }
}

/// The key of a finding's own (unmerged) fix in `Predicted::base_fixes`.
pub fn own_fix_key(fingerprint: &str) -> String {
    format!("{fingerprint}/own")
}

/// Run the rule catalog on one side of a build.
fn run_rules(
    ctx: &Ctx<'_>,
    check: rule_input::RuleCheck,
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
        histories: Some(ctx.histories),
        build_args: Some(&input.build_args),
        shared_reads: ctx.shared_reads,
        scripts: crate::engine::shell::Scripts::new(side.df.instructions.len()),
    };
    check(&rc, ctx.config)
}

/// 1-based head lines that a line diff marks inserted or replaced (a pull request controls
/// both sides: the diff is bounded by `linediff::MAX_EXACT_LINES`, not by the clock).
pub fn changed_head_lines(old: &str, new: &str) -> Vec<u32> {
    crate::engine::linediff::diff_lines(old, new).changed_new_lines()
}

/// What the cost model needs about each step of the head Dockerfile.
fn step_facts(ctx: &Ctx<'_>, build: &BuildInput, head: &SideSim) -> Vec<StepFact> {
    let mut out = Vec::new();
    for st in &head.sim.stages {
        let mut k = 0u32;
        if st.image_vertex.is_some() {
            k += 1;
        }
        for idx in st.info.from..st.info.end {
            let inst = &head.df.instructions[idx];
            if !inst.kind.is_step() {
                continue;
            }
            let position = if inst.kind == Kind::From {
                st.image_vertex.map(|_| 1)
            } else {
                k += 1;
                Some(k)
            };
            let vertex = match head.sim.step.get(&idx) {
                Some(StepVertex::Vertex(v)) => Some(&head.sim.vertices[*v]),
                _ => None,
            };
            let raw = inst.display(usize::MAX);
            let mut texts = vec![raw.clone()];
            if let Some(v) = vertex {
                let expanded = expand_for_display(&raw, &v.detail.env);
                if expanded != raw {
                    texts.push(expanded);
                }
            }
            let (command, cache_mounts) = match vertex.map(|v| &v.op) {
                Some(Op::Exec { mounts, .. }) => (
                    vertex.map(|v| v.detail.text.clone()).unwrap_or_default(),
                    mounts
                        .iter()
                        .filter(|m| m.fields.iter().any(|(k, v)| k == "type" && v == "cache"))
                        .map(|m| m.target.clone())
                        .collect(),
                ),
                Some(Op::Image { reference, .. }) => (reference.clone(), Vec::new()),
                _ => (String::new(), Vec::new()),
            };
            let (bytes, remote) = match vertex {
                Some(v) if matches!(v.op, Op::Copy { .. }) => {
                    copy_bytes(ctx, &build.context, v, head)
                }
                _ => (None, false),
            };
            let (refetch, absent_files) = match head.sim.step.get(&idx) {
                Some(StepVertex::Vertex(v))
                    if matches!(head.sim.vertices[*v].op, Op::Exec { .. }) =>
                {
                    (
                        refetches(head, *v),
                        absent_tested_files(ctx, &build.context, head, *v, 1),
                    )
                }
                _ => (Vec::new(), Vec::new()),
            };
            out.push(StepFact {
                line: inst.line,
                kind: inst.kind,
                stage: st.info.display_name(),
                position,
                pattern: variable_pattern(&raw),
                texts,
                command,
                cache_mounts,
                bytes,
                remote,
                refetch,
                absent_files,
            });
        }
    }
    out
}

fn cache_targets(op: &Op) -> Vec<&str> {
    match op {
        Op::Exec { mounts, .. } => mounts
            .iter()
            .filter(|m| m.fields.iter().any(|(k, v)| k == "type" && v == "cache"))
            .map(|m| m.target.as_str())
            .collect(),
        _ => Vec::new(),
    }
}

/// Download classes a RUN repeats: it reads what an earlier step of its stage (or the stages
/// below it) downloaded into a cache mount it does not mount itself.
fn refetches(head: &SideSim, v: VId) -> Vec<&'static str> {
    let vx = &head.sim.vertices[v];
    let mine = cache_targets(&vx.op);
    let mut out = Vec::new();
    for d in super::cost::downloads() {
        let u = super::cost::download_use(&vx.detail.text, d);
        if u.consumer.is_none()
            || u.downloads
            || mine
                .iter()
                .any(|m| super::cost::mount_covers(m, d.cache_dir))
        {
            continue;
        }
        // the nearest download above decides
        let mut cur = vx.parent;
        while let Some(p) = cur {
            let px = &head.sim.vertices[p];
            if matches!(px.op, Op::Exec { .. })
                && super::cost::download_use(&px.detail.text, d).downloads
            {
                let mounted = cache_targets(&px.op)
                    .iter()
                    .any(|m| super::cost::mount_covers(m, d.cache_dir));
                if mounted && !out.contains(&d.class) {
                    out.push(d.class);
                }
                break;
            }
            cur = px.parent;
        }
    }
    out
}

/// Files a RUN tests for existence (`[ -f requirements.txt ]`) that cannot be in the stage: a
/// COPY from the context covers where the file would be, the context has no such file, and no
/// other step of the stage (or the stages below it) may have written it. `depth`: how many
/// earlier steps' own tests are read to see that they run nothing (see `runs_nothing`).
fn absent_tested_files(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    v: VId,
    depth: u8,
) -> Vec<String> {
    let vx = &head.sim.vertices[v];
    let Op::Exec { cwd, .. } = &vx.op else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in super::cost::tested_files(&vx.detail.text) {
        if f.contains('$') || f.contains('*') || f.is_empty() {
            continue;
        }
        let abs = if f.starts_with('/') {
            super::ignore::go_clean(&f)
        } else if cwd.contains(sim::PLACEHOLDER_OPEN) {
            continue;
        } else {
            super::ignore::go_clean(&format!("/{}/{f}", cwd.trim_end_matches('/')))
        };
        if tested_file_absent(ctx, context, head, vx.parent, &abs, depth) {
            out.push(f);
        }
    }
    out
}

/// Whether the file at `abs` (absolute in the stage) cannot exist when the step after `parent`
/// runs: a COPY from the context would have put it there and the context has no such file (or
/// `.dockerignore` leaves it out), and no step in between made it (a RUN that runs programs may
/// have: see `writes`). `false` when unsure.
fn tested_file_absent(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    parent: Option<VId>,
    abs: &str,
    depth: u8,
) -> bool {
    let name = abs.rsplit('/').next().unwrap_or(abs);
    let mut covered = false;
    let mut cur = parent;
    while let Some(p) = cur {
        let px = &head.sim.vertices[p];
        let present = match &px.op {
            // a RUN that names the file, or is known to write where it lies (names its
            // directory, runs there, installs into it) — unless all it runs is guarded by tests
            // of absent files: self-hosted's `if [ -s /usr/src/sentry/enhance-image.sh ]; then
            // /usr/src/sentry/enhance-image.sh; fi` runs nothing when the context has no such
            // script. A program that only might write anywhere (`pip install URL`) is not taken
            // to make the one file a later step tests for: that is a cost estimate, not a cache
            // verdict (`writes::Writes::Maybe` keeps a COPY --from rebuilt, not a guard taken)
            Op::Exec { .. } => {
                (px.detail.text.contains(name)
                    || writes::step_writes(px, abs) == writes::Writes::Yes)
                    && !runs_nothing(ctx, context, head, p, depth)
            }
            Op::Mkdir { path, .. } => path == abs,
            Op::Copy { dest, source, .. } => {
                let d = dest.trim_end_matches('/');
                let under = abs == d || abs.starts_with(&format!("{d}/"));
                if !under {
                    false
                } else if source != "context" {
                    true
                } else {
                    covered = true;
                    let rel = abs[d.len()..].trim_start_matches('/');
                    px.inputs
                        .iter()
                        .any(|i| copied_there(ctx, context, head, i, rel))
                }
            }
            _ => false,
        };
        if present {
            return false;
        }
        cur = px.parent;
    }
    covered
}

/// Whether the RUN `v` runs nothing but existence tests: every other command of it is guarded
/// by a test of a file absent from the stage. Reads `depth` levels of earlier steps (0: `false`),
/// so hostile input with a test on every step stays linear per level.
fn runs_nothing(ctx: &Ctx<'_>, context: &str, head: &SideSim, v: VId, depth: u8) -> bool {
    if depth == 0 {
        return false;
    }
    let absent = absent_tested_files(ctx, context, head, v, depth - 1);
    !absent.is_empty()
        && super::cost::runnable_commands(&head.sim.vertices[v].detail.text, &absent).is_ok_and(
            |cmds| {
                cmds.iter()
                    .all(|c| super::shellwords::existence_test(c).is_some())
            },
        )
}

/// Whether a COPY input from the context may put a file at `rel` below its destination
/// (`true` when unsure; asks for the listing it lacks).
fn copied_there(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    input: &sim::Input,
    rel: &str,
) -> bool {
    let path = match input {
        sim::Input::Context {
            path,
            wildcard: false,
        } => path,
        sim::Input::Inline { .. } => return false,
        _ => return true,
    };
    let base = path.rsplit('/').next().unwrap_or(path);
    // (candidate, whether only a file counts): the file under a copied directory, or a copied
    // file landing in the destination directory under its own name
    let mut cands = Vec::new();
    if rel.is_empty() {
        cands.push((path.clone(), false));
    } else {
        cands.push((tree_join(path, rel), false));
        if rel == base {
            cands.push((path.clone(), true));
        }
    }
    cands.into_iter().any(|(c, file_only)| {
        if content::is_excluded(&head.ignore, context, &c) {
            return false;
        }
        match ctx.head_tree.exists(&c) {
            super::tree::Lookup::Loaded(false) => false,
            super::tree::Lookup::Loaded(true) => {
                let dir = match ctx.head_tree.entry(&c) {
                    super::tree::Lookup::Loaded(None) => true,
                    super::tree::Lookup::Loaded(Some(e)) => e.kind == super::tree::EntryKind::Dir,
                    super::tree::Lookup::Missing => false,
                };
                !(file_only && dir)
            }
            super::tree::Lookup::Missing => {
                ctx.needs.request(Side::Head, &c, false);
                true
            }
        }
    })
}

fn tree_join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{}/{rel}", dir.trim_end_matches('/'))
    }
}

/// The text with every variable reference (`$NAME`, `${…}`) replaced by `*`; `None` when it
/// has none.
fn variable_pattern(raw: &str) -> Option<String> {
    if !raw.contains('$') {
        return None;
    }
    let mut out = String::new();
    let c: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '$' && i + 1 < c.len() && c[i + 1] == '{' {
            if let Some(end) = c[i..].iter().position(|&x| x == '}') {
                out.push('*');
                i += end + 1;
                continue;
            }
        } else if c[i] == '$' && i + 1 < c.len() && (c[i + 1].is_alphabetic() || c[i + 1] == '_') {
            out.push('*');
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    Some(out)
}

/// Replace `$NAME` and `${NAME}` by values of the step's environment (for matching log names).
fn expand_for_display(raw: &str, env: &[EnvVar]) -> String {
    let mut out = raw.to_string();
    for n in referenced_vars(raw) {
        if let Some(v) = env.iter().rev().find(|v| v.name == n) {
            let val = sim::display_value(&v.value);
            out = out
                .replace(&format!("${{{n}}}"), &val)
                .replace(&format!("${n}"), &val);
        }
    }
    out
}

/// Bytes a COPY reads from the build context, when the listing holds them.
fn copy_bytes(ctx: &Ctx<'_>, context: &str, v: &Vertex, head: &SideSim) -> (Option<u64>, bool) {
    let mut total = 0u64;
    let mut known = true;
    let mut remote = false;
    for i in &v.inputs {
        match i {
            sim::Input::Context {
                path,
                wildcard: false,
            } => match ctx.head_tree.entry(path) {
                super::tree::Lookup::Loaded(Some(e)) if e.kind != super::tree::EntryKind::Dir => {
                    match e.size {
                        Some(s) => total += s,
                        None => known = false,
                    }
                }
                _ => {
                    let key = content::source_key(context, path, false, &head.ignore);
                    let (bytes, all) = ctx.memo.bytes(key, || dir_bytes(ctx, context, path, head));
                    total += bytes;
                    known &= all;
                }
            },
            sim::Input::Remote { .. } => remote = true,
            sim::Input::Inline { content } => total += content.len() as u64,
            _ => known = false,
        }
    }
    (known.then_some(total), remote)
}

/// Bytes of the files under a directory source that reach the build, and whether the listing
/// knew every size.
fn dir_bytes(ctx: &Ctx<'_>, context: &str, path: &str, head: &SideSim) -> (u64, bool) {
    let (mut total, mut known) = (0, true);
    match ctx.head_tree.under(path) {
        super::tree::Lookup::Loaded(entries) => {
            for (p, e) in entries {
                if e.kind == super::tree::EntryKind::File
                    && !content::is_excluded(&head.ignore, context, p)
                {
                    match e.size {
                        Some(s) => total += s,
                        None => known = false,
                    }
                }
            }
        }
        super::tree::Lookup::Missing => known = false,
    }
    (total, known)
}

/// Head COPY/ADD/bind sources that do not exist, are excluded, or leave the context: the build
/// fails there. Reported as error diagnostics and as a note on the step.
fn check_sources(
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
        for i in &v.inputs {
            let sim::Input::Context {
                path,
                wildcard: false,
            } = i
            else {
                continue;
            };
            match content::source_problem(ctx, &build.context, path, &head.ignore) {
                None => {}
                Some(content::SourceProblem {
                    fails: true,
                    message,
                }) => {
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
                Some(content::SourceProblem {
                    fails: false,
                    message,
                }) => diags.push(Diagnostic {
                    line,
                    severity: Severity::Warning,
                    message,
                    file: None,
                }),
            }
        }
    }
}

fn display_context(c: &str) -> String {
    if c.is_empty() {
        ".".into()
    } else {
        c.to_string()
    }
}

fn dedup_diags(mut d: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = std::collections::HashSet::new();
    d.retain(|x| seen.insert((x.line, x.message.clone())));
    d.sort_by_key(|x| x.line);
    d
}

fn summarize(steps: &[Step]) -> Summary {
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
fn touched_paths(
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

fn step_line(side: &SideSim, v: &Vertex) -> u32 {
    v.trigger_line
        .unwrap_or_else(|| side.df.instructions[v.inst].line)
}

/// Decide hit or miss for every head vertex.
fn match_vertices(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    base_problem: Option<BaseProblem>,
) -> Vec<Res> {
    // Index the base cache: (parent record, op) → records. Records are content-addressed: two
    // base vertices with the same parent record, op and inputs are one record.
    let mut index: HashMap<(Option<VId>, &Op), Vec<VId>> = HashMap::default();
    let canon: Vec<VId> = base.map(|b| b.canon.clone()).unwrap_or_default();
    if let Some(b) = base {
        let all = b.sim.target.is_none();
        for (i, v) in b.sim.vertices.iter().enumerate() {
            if all || b.sim.stages[v.stage].reachable {
                let slot = index
                    .entry((v.parent.map(|p| canon[p]), &v.op))
                    .or_default();
                if !slot.contains(&canon[i]) {
                    slot.push(canon[i]);
                }
            }
        }
    }
    let mut res: Vec<Res> = Vec::with_capacity(head.sim.vertices.len());
    for v in head.sim.vertices.iter() {
        if !head.sim.stages[v.stage].reachable {
            res.push(Res::Unused);
            continue;
        }
        let line = step_line(head, v);
        let mut parent_confidence = Confidence::Exact;
        let bparent = match v.parent {
            None => None,
            Some(p) => match &res[p] {
                Res::Hit {
                    base, confidence, ..
                } => {
                    parent_confidence = *confidence;
                    Some(*base)
                }
                Res::Miss {
                    origin_line,
                    confidence,
                    ..
                } => {
                    let pv = &head.sim.vertices[p];
                    let follows = if pv.stage != v.stage {
                        head.df.instructions[head.sim.stages[v.stage].info.from].line
                    } else {
                        step_line(head, pv)
                    };
                    res.push(Res::Miss {
                        cause: Cause::Follows {
                            follows_line: follows,
                            origin_line: *origin_line,
                        },
                        confidence: *confidence,
                        notes: Vec::new(),
                        origin_line: *origin_line,
                    });
                    continue;
                }
                Res::Unused | Res::Rerun { .. } => None,
            },
        };
        let Some(b) = base else {
            let cause = match base_problem {
                None | Some(BaseProblem::Missing) => Cause::NewDockerfile { line },
                Some(BaseProblem::NotBuildable) => Cause::BaseNotBuildable { line },
                Some(BaseProblem::Syntax) => Cause::Syntax {
                    line,
                    file: build.dockerfile.clone(),
                },
            };
            res.push(Res::Miss {
                cause,
                confidence: Confidence::Exact,
                notes: v.notes.clone(),
                origin_line: line,
            });
            continue;
        };
        let candidates = index.get(&(bparent, &v.op)).cloned().unwrap_or_default();
        let mut first_diff: Option<(Cause, Confidence, Vec<Note>)> = None;
        let mut hit = None;
        let cmp = content::Comparison {
            ctx,
            build,
            head,
            base: b,
            res: &res,
            canon: &canon,
        };
        for c in candidates {
            let bv = &b.sim.vertices[c];
            match cmp.inputs(v, bv) {
                content::Cmp::Same { confidence, notes } => {
                    hit = Some((c, confidence, notes));
                    break;
                }
                content::Cmp::Differs {
                    cause,
                    confidence,
                    notes,
                } => {
                    if first_diff.is_none() {
                        first_diff = Some((cause, confidence, notes));
                    }
                }
            }
        }
        let mut notes = v.notes.clone();
        match hit {
            Some((c, mut confidence, extra)) => {
                notes.extend(extra);
                if parent_confidence == Confidence::Likely {
                    confidence = Confidence::Likely;
                }
                // Remote content fetched on every build makes the step (and what follows)
                // likely; a movable base tag is a caveat of the environment, said in the reason.
                if notes.iter().any(|n| matches!(n, Note::RemoteSource { .. })) {
                    confidence = Confidence::Likely;
                }
                // a source path with a variable that has no value here: which files it
                // selects, and so whether they changed, is not known
                if v.inputs.iter().any(sim::Input::path_unknown) {
                    confidence = Confidence::Likely;
                }
                res.push(Res::Hit {
                    base: c,
                    confidence,
                    notes,
                });
            }
            None => {
                let (cause, confidence) = match first_diff {
                    Some((cause, conf, extra)) => {
                        notes.extend(extra);
                        (cause, conf)
                    }
                    None => (explain::op_diff(head, b, v, bparent), Confidence::Exact),
                };
                res.push(Res::Miss {
                    cause,
                    confidence,
                    notes,
                    origin_line: line,
                });
            }
        }
    }
    res
}

/// Canonical record id of every vertex: the first vertex with the same parent record, op and
/// inputs (BuildKit stores one record for identical steps, whichever stage they are in).
pub fn canonical_ids(sim: &Sim) -> Vec<VId> {
    let mut canon: Vec<VId> = Vec::with_capacity(sim.vertices.len());
    let mut seen: HashMap<(Option<VId>, &Op, String), VId> = HashMap::default();
    for (i, v) in sim.vertices.iter().enumerate() {
        let inputs: Vec<String> = v
            .inputs
            .iter()
            .map(|inp| match inp {
                sim::Input::Stage { path, vid, .. } => {
                    format!("stage:{path}:{:?}", vid.map(|x| canon[x]))
                }
                other => format!("{other:?}"),
            })
            .collect();
        let key = (v.parent.map(|p| canon[p]), &v.op, inputs.join("\u{0}"));
        let c = *seen.entry(key).or_insert(i);
        canon.push(c);
    }
    canon
}

/// Turn vertex results into one step per FROM/RUN/COPY/ADD/WORKDIR instruction.
fn assemble_steps(head: &SideSim, res: &[Res]) -> Vec<Step> {
    let mut steps = Vec::new();
    // Last vertex seen per stage so far (for steps without a vertex).
    for (idx, inst) in head.df.instructions.iter().enumerate() {
        if !inst.kind.is_step() {
            continue;
        }
        let Some(&stage) = head.sim.stage_of.get(&idx) else {
            continue;
        };
        let st = &head.sim.stages[stage];
        let mut step = Step {
            line: inst.line,
            end_line: inst.end_line,
            stage: st.info.display_name(),
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
        };
        if !st.reachable {
            step.status = Status::Unused;
            steps.push(step);
            continue;
        }
        match head.sim.step.get(&idx) {
            Some(StepVertex::Vertex(v)) => apply_res(&mut step, &res[*v]),
            Some(StepVertex::FromStage(p)) => {
                let pst = &head.sim.stages[*p];
                if let Some(last) = pst.last {
                    if let Res::Miss {
                        origin_line,
                        confidence,
                        ..
                    } = &res[last]
                    {
                        step.status = Status::Rebuilt;
                        step.confidence = *confidence;
                        step.cause = Some(Cause::ParentStage {
                            line: *origin_line,
                            stage: pst.info.display_name(),
                        });
                    }
                }
                // ONBUILD triggers of the parent run as part of this FROM.
                if step.status == Status::Cached {
                    for &v in &st.vertices {
                        let vx = &head.sim.vertices[v];
                        if vx.trigger_line.is_some() && vx.inst == idx {
                            if let Res::Miss {
                                cause, confidence, ..
                            } = &res[v]
                            {
                                step.status = Status::Rebuilt;
                                step.confidence = *confidence;
                                step.cause = Some(match (cause, vx.trigger_line) {
                                    (Cause::Follows { .. }, _) | (_, None) => cause.clone(),
                                    (_, Some(line)) => Cause::Onbuild {
                                        line,
                                        trigger: Box::new(cause.clone()),
                                    },
                                });
                                break;
                            }
                        }
                    }
                }
            }
            Some(StepVertex::NoVertex) | None => {
                // WORKDIR / or FROM scratch: no vertex; report the chain state at this point.
                if inst.kind == Kind::Workdir {
                    step.notes.push(Note::NoBuildStep);
                    let prev = st
                        .vertices
                        .iter()
                        .rev()
                        .find(|&&v| {
                            head.sim.vertices[v].inst < idx
                                && head.sim.vertices[v].trigger_line.is_none()
                        })
                        .copied();
                    if let Some(p) = prev {
                        if let Res::Miss {
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
                }
            }
        }
        if let Some(n) = head.sim.notes.get(&idx) {
            for x in n {
                if !step.notes.contains(x) {
                    step.notes.push(x.clone());
                }
            }
        }
        steps.push(step);
    }
    steps
}

fn apply_res(step: &mut Step, r: &Res) {
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
