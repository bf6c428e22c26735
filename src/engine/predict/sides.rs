//! Simulating one side of a build: parse its Dockerfile, the frontend semantics of the engine,
//! the effective `.dockerignore`, then `sim::simulate`. A side's simulation reads no listing, so
//! it is remembered in the caller's memo (`SideMemo`) by everything it depends on.

use super::matching::canonical_ids;
use super::model::{BaseProblem, Ctx, IgnoreInfo, SideSim, TextParts};
use super::sim::{self, Semantics};
use crate::engine::dockerfile::{self, Body, Dockerfile, Kind};
use crate::engine::expand::Frontend;
use crate::engine::ignore::{Flavor, Matcher};
use crate::engine::input::{BuildInput, EngineKind, FileText, SideInput};
use crate::engine::memo::{Kind as Memoized, Memo};
use crate::engine::report::{Diagnostic, Severity};
use crate::engine::tree::Side;

pub(super) fn semantics(engine: EngineKind, df: &Dockerfile, merge_op: bool) -> Semantics {
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

pub(super) fn ignore_info(
    memo: &Memo,
    build: &BuildInput,
    side: &SideInput,
    flavor: Flavor,
    diags: &mut Vec<Diagnostic>,
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
            if let Some(line) = crate::engine::ignore::line_past_limit(t) {
                diags.push(Diagnostic {
                    line,
                    severity: Severity::Error,
                    message: format!(
                        "more than {} patterns; cachebust reads no further, so the prediction ignores the rest",
                        crate::engine::ignore::MAX_PATTERNS
                    ),
                    file: file.clone(),
                });
            }
            crate::engine::ignore::read_patterns(t)
        }
        Some(FileText::Binary(why)) => {
            diags.push(Diagnostic {
                line: why.line(),
                severity: Severity::Error,
                message: format!("not a text file: {}", why.describe()),
                file: file.clone(),
            });
            Vec::new()
        }
        Some(FileText::Unreadable(m)) => {
            diags.push(Diagnostic {
                line: 0,
                severity: Severity::Error,
                message: format!("cannot be read: {m}"),
                file: file.clone(),
            });
            Vec::new()
        }
        None => Vec::new(),
    };
    let matcher = match Matcher::new_in(memo, &patterns, flavor) {
        Ok(m) => Some(m),
        Err(e) => {
            diags.push(Diagnostic {
                line: text
                    .and_then(FileText::text)
                    .map_or(0, |t| crate::engine::ignore::error_line(t, &e)),
                severity: Severity::Error,
                message: format!("{e}; the build fails while sending the context"),
                file: file.clone(),
            });
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
pub(super) type KeptSide = std::sync::Arc<(
    Result<std::sync::Arc<SideSim>, BaseProblem>,
    Vec<Diagnostic>,
)>;

/// What a side's simulation depends on, as one text: the engine and builder, the Dockerfile's
/// path and context (they name the ignore file in effect), the side's Dockerfile and ignore
/// texts, its build args and target. Not which side it is: the simulation is the same, and
/// a commit's head is the next commit's base. Each part is written with its length first, so no
/// two inputs share a key.
/// Also the length of the key's first part, everything but the target: the key of the side's
/// simulations for every target (`Kind::Targets`).
pub(super) fn side_key(ctx: &Ctx<'_>, build: &BuildInput, side: &SideInput) -> (String, usize) {
    use std::fmt::Write;
    // sized once: the texts are most of the key, and growing it would copy them again
    let text_len = |t: &Option<FileText>| match t {
        Some(FileText::Text(t)) => t.len(),
        _ => 0,
    };
    let args: usize = side.build_args.iter().map(|(n, v)| n.len() + v.len()).sum();
    let mut k = String::with_capacity(
        128 + build.dockerfile.len()
            + build.context.len()
            + text_len(&side.dockerfile)
            + text_len(&side.dockerfile_ignore)
            + text_len(&side.context_ignore)
            + args
            + 24 * side.build_args.len(),
    );
    let mut part = |s: &str| {
        let _ = write!(k, "{}:", s.len());
        k.push_str(s);
    };
    part(ctx.engine.name());
    part(if ctx.config.builder.merge_op() {
        "merge"
    } else {
        ""
    });
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
    let untargeted = k.len();
    let target = side.target.as_deref().unwrap_or("\0");
    let _ = write!(k, "{}:", target.len());
    k.push_str(target);
    (k, untargeted)
}

/// [`simulate_one`], remembered (a simulation reads no listing, so its inputs are all in the key).
pub(super) fn simulate_side(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    side: &SideInput,
    which: Side,
    diags: &mut Vec<Diagnostic>,
) -> Result<std::sync::Arc<SideSim>, BaseProblem> {
    // remembered in the caller's memo by everything it depends on (the texts themselves, see
    // `side_key`): `history` predicts each commit against its parent, so a commit's head is the
    // next commit's base; the rounds of one call that ask for more of the tree, the builds
    // sharing a Dockerfile and the re-predictions of a fix ask for the same sides again
    let (key, untargeted) = side_key(ctx, build, side);
    let kept: KeptSide = ctx.kept.get_or(Memoized::Side, &key, || {
        for_target(ctx, build, side, &key[..untargeted])
    });
    // only the head reports what is wrong with its texts
    if which == Side::Head {
        diags.extend(kept.1.iter().cloned());
    }
    kept.0.clone()
}

/// The first side simulated of some inputs, with the target it was simulated for.
type Targets = std::sync::Arc<(Option<String>, KeptSide)>;

/// A side's simulation: derived from the one of the same inputs for another target when one is
/// kept (`Kind::Targets` by `untargeted`, the side's key without its target; see
/// `sim::retarget`), else made by [`simulate_one`]. A bake file's targets of one Dockerfile
/// simulate its stages once, and share the cost facts' reading and the step keys too.
fn for_target(ctx: &Ctx<'_>, build: &BuildInput, side: &SideInput, untargeted: &str) -> KeptSide {
    let simulate = || {
        let mut d = Vec::new();
        let r = simulate_one(ctx, build, side, &mut d).map(std::sync::Arc::new);
        std::sync::Arc::new((r, d))
    };
    let first: Targets = ctx.kept.get_or(Memoized::Targets, untargeted, || {
        std::sync::Arc::new((side.target.clone(), simulate()))
    });
    if first.0 == side.target {
        return first.1.clone();
    }
    let Ok(sib) = &first.1.0 else {
        return simulate();
    };
    let Some(sim) = sim::retarget(&sib.sim, &sib.df, side.target.as_deref()) else {
        return simulate();
    };
    // the diagnostics are the same but for the target's: `simulate_one` reports a missing
    // target last
    let mut d = first.1.1.clone();
    if sib.sim.target_missing {
        d.pop();
    }
    if sim.target_missing {
        d.push(missing_target(side));
    }
    let derived = SideSim {
        df: sib.df.clone(),
        sim,
        canon: sib.canon.clone(),
        ignore: sib.ignore.clone(),
        skeleton: sib.skeleton.clone(),
        text: sib.text.clone(),
        step_keys: sib.step_keys.clone(),
        // the base cache reads the reachable stages only
        index: Default::default(),
    };
    std::sync::Arc::new((Ok(std::sync::Arc::new(derived)), d))
}

/// The target stage the side names is not in its Dockerfile.
fn missing_target(side: &SideInput) -> Diagnostic {
    Diagnostic {
        line: 0,
        severity: Severity::Error,
        message: format!(
            "target stage {:?} could not be found",
            side.target.clone().unwrap_or_default()
        ),
        file: None,
    }
}

/// One side simulated, with the diagnostics its texts give (what the head reports).
pub(super) fn simulate_one(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    side: &SideInput,
    diags: &mut Vec<Diagnostic>,
) -> Result<SideSim, BaseProblem> {
    // every side's diagnostics are collected: the memo keeps them, and `simulate_side` drops
    // them for a base
    let text = dockerfile_text(side, diags)?;
    let df = dockerfile::parse_in(ctx.kept, text);
    let parts: std::sync::Arc<TextParts> = ctx.kept.get_or(Memoized::Lexed, text, || {
        std::sync::Arc::new(TextParts {
            scripts: crate::engine::shell::Scripts::new(df.instructions.len()),
            lines: Default::default(),
        })
    });
    for d in &df.diagnostics {
        diags.push(Diagnostic {
            line: d.line,
            severity: d.severity,
            message: d.message.clone(),
            file: None,
        });
    }
    let sem = semantics(ctx.engine, &df, ctx.config.builder.merge_op());
    if sem.frontend == Frontend::V0_8 {
        legacy_heredocs(text, &df, diags);
    }
    let flavor = if ctx.engine == EngineKind::Docker2010 {
        Flavor::Docker2010
    } else {
        Flavor::Current
    };
    let ignore = ignore_info(ctx.kept, build, side, flavor, diags);
    let sim = sim::simulate(&sim::SideSpec {
        df: &df,
        build_args: &side.build_args,
        target: side.target.as_deref(),
        sem,
        context: &build.context,
    });
    diags.extend(sim.diagnostics.iter().cloned());
    // last: `for_target` replaces it for another target
    if sim.target_missing {
        diags.push(missing_target(side));
    }
    if !df.ok {
        return Err(BaseProblem::NotBuildable);
    }
    Ok(SideSim {
        text: parts,
        canon: canonical_ids(&sim).into(),
        df,
        sim,
        ignore,
        skeleton: Default::default(),
        step_keys: Default::default(),
        index: Default::default(),
    })
}

/// The side's Dockerfile text, or why it has none (on the head, a diagnostic says why).
fn dockerfile_text<'s>(
    side: &'s SideInput,
    diags: &mut Vec<Diagnostic>,
) -> Result<&'s str, BaseProblem> {
    let (line, message) = match &side.dockerfile {
        None => return Err(BaseProblem::Missing),
        Some(FileText::Text(t)) => return Ok(t),
        Some(FileText::Binary(why)) => (
            why.line(),
            format!("the Dockerfile is not a text file: {}", why.describe()),
        ),
        Some(FileText::Unreadable(m)) => (0, format!("cannot read the Dockerfile: {m}")),
    };
    diags.push(Diagnostic {
        line,
        severity: Severity::Error,
        message,
        file: None,
    });
    Err(BaseProblem::NotBuildable)
}

/// Docker 20.10's built-in frontend reads a heredoc as instructions: an error where it fails.
fn legacy_heredocs(text: &str, df: &Dockerfile, diags: &mut Vec<Diagnostic>) {
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

/// Where Docker 20.10's line reader, which knows no heredocs, fails on an instruction with
/// heredocs: the first line after the instruction's own lines that is neither blank nor a
/// comment and does not start with an instruction keyword (measured: `dockerfile parse error
/// line 4: unknown instruction: ECHO`). Returns the line and the word it names.
pub(super) fn legacy_heredoc_failure(text: &str, inst: &dockerfile::Instruction) -> (u32, String) {
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
