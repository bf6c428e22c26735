//! CB003 volatile ARG/ENV early.
//!
//! **What it does.** Finds an `ARG` or `ENV` whose value changes often, declared above RUN
//! steps that do not use it. How often is read from evidence, never from the name: the
//! Dockerfile's own history (the commits of the last 300 on the base revision's first-parent
//! line that changed the declared value, the change under review included) or the build's
//! declared arg (a workflow passing `${{ github.sha }}`, `$GITHUB_SHA`, `$(git rev-parse …)`
//! gives a new value on every commit). "Often" is at least 3 changes and at least one in every
//! 20 commits; without such evidence (a value that changed twice in five years, or no history
//! to read: a directory, a shallow checkout) there is no finding.
//!
//! **Why it costs cache.** Every valued ARG and every ENV is part of the environment of each
//! later RUN, and BuildKit keys that environment: a new value re-runs all of them, used or not.
//! Moving the declaration re-runs them once; it pays only when the value keeps changing.
//!
//! **Example.**
//! ```text
//! ARG GIT_SHA
//! RUN apt-get update && apt-get install -y libpq5
//! RUN pip install -r requirements.txt
//! LABEL org.opencontainers.image.revision=$GIT_SHA
//! ```
//! With `build-args: GIT_SHA=${{ github.sha }}` in the workflow, moving `ARG GIT_SHA` down to
//! just before the LABEL keeps both RUNs cached when the SHA changes.
//!
//! **Fix safety.** Safe for an ARG with one name: the steps it moves past do not mention it, and
//! an ARG only reaches them through the environment. Unsafe for ENV, which tools read from the
//! environment by convention. A step it moves past that runs a script (`./build.sh`,
//! `sh stamp.sh`, `make`) may read the variable without naming it, and would lose it: then the
//! ARG fix is unsafe and the ENV fix is shown only.

use super::{At, Findings, Meta, Reads, Rule, RuleContext, run_command};
use crate::engine::dockerfile::{Body, Instruction, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::volatility::{Volatility, history_changes, per_commit};

pub const RULE: &dyn Rule = &VolatileArg;

const META: Meta = Meta {
    code: "CB003",
    name: "volatile-arg-early",
    summary: "an ARG/ENV that changes often sits above RUN steps that do not use it",
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    reads: Reads::Dockerfile,
};

struct VolatileArg;

impl Rule for VolatileArg {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Arg, Kind::Env]
    }
    fn instruction(&self, ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, at, out);
    }
}

/// Whether a RUN text runs a script or a build tool that reads its environment without naming
/// variables: a program given by path (`./build.sh`, `/usr/local/bin/stamp`), `sh`/`bash` with
/// a file, `make`.
fn runs_script(cmd: &str) -> bool {
    crate::engine::cost::simple_commands(cmd)
        .unwrap_or_default()
        .iter()
        .any(|w| {
            let Some(prog) = w.iter().find(|x| !x.contains('=')) else {
                return false;
            };
            let args: Vec<&String> = w.iter().skip_while(|x| *x != prog).skip(1).collect();
            prog.contains('/')
                || prog.ends_with(".sh")
                || matches!(prog.as_str(), "make" | "gmake" | "." | "source")
                || (matches!(prog.as_str(), "sh" | "bash" | "ash" | "dash")
                    && args.first().is_some_and(|a| !a.starts_with('-')))
        })
}

fn references(text: &str, name: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find('$') {
        let s = i + p + 1;
        let s = if b.get(s) == Some(&b'{') { s + 1 } else { s };
        if text[s..].starts_with(name)
            && !text[s + name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            return true;
        }
        i = s;
    }
    false
}

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let inst = at.inst;
    let Some(pairs) = declared(inst) else {
        return;
    };
    let later = at.after();
    let Some(found) = volatile_name(ctx, &pairs, later) else {
        return;
    };
    let fix = move_fix(ctx, inst, &found, pairs.len(), later);
    let msg = message(inst, &found, later);
    out.report(inst, msg, fix);
}

/// The names and values an `ARG` (a name without a value: empty) or `ENV` declares.
fn declared(inst: &Instruction) -> Option<Vec<(String, String)>> {
    match (&inst.kind, &inst.body) {
        (Kind::Arg, Body::Arg(a)) => Some(
            a.iter()
                .map(|(n, v)| (n.clone(), v.clone().unwrap_or_default()))
                .collect(),
        ),
        (Kind::Env, Body::Pairs(p)) => Some(p.clone()),
        _ => None,
    }
}

/// A declared name with RUN steps below it that do not use it, and the evidence that its value
/// changes often.
struct Found<'a> {
    name: &'a str,
    /// Where in the steps below the declaration the name is first used.
    first_use: Option<usize>,
    /// The RUN steps above that use.
    skipped: Vec<&'a Instruction>,
    evidence: Volatility,
}

/// The first declared name with RUN steps below it (`later`) that do not use it, and evidence
/// that its value changes often.
fn volatile_name<'a>(
    ctx: &RuleContext<'_>,
    pairs: &'a [(String, String)],
    later: &'a [Instruction],
) -> Option<Found<'a>> {
    for (name, _) in pairs {
        let first_use = later.iter().position(|x| {
            references(&x.args_text, name) || run_command(x).is_some_and(|c| references(&c, name))
        });
        let upto = first_use.unwrap_or(later.len());
        let skipped: Vec<&Instruction> = later[..upto]
            .iter()
            .filter(|x| x.kind == Kind::Run)
            .collect();
        if skipped.is_empty() {
            continue;
        }
        let value = pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str());
        if let Some(evidence) = volatility(ctx, name, value).filter(Volatility::often) {
            return Some(Found {
                name,
                first_use,
                skipped,
                evidence,
            });
        }
    }
    None
}

/// The fix that moves the declaration of `found` (one of `count` names) down to its first use,
/// removes an ARG no later step uses, or sets an unused ENV after the last build step; less
/// safe when a step it moves past runs a script, which may read the variable from its
/// environment.
fn move_fix(
    ctx: &RuleContext<'_>,
    inst: &Instruction,
    found: &Found<'_>,
    count: usize,
    later: &[Instruction],
) -> Option<Fix> {
    let scripted = found
        .skipped
        .iter()
        .any(|r| run_command(r).is_some_and(|c| runs_script(&c)));
    let degrade = |a: Applicability| match (a, scripted, &inst.kind) {
        (_, false, _) => a,
        (_, true, Kind::Env) => Applicability::DisplayOnly,
        (Applicability::Safe, true, _) => Applicability::Unsafe,
        (a, true, _) => a,
    };
    let (kind, name) = (inst.kind.keyword(), found.name);
    let decl = ctx.inst_text(inst).to_string();
    let decl = if decl.ends_with('\n') {
        decl
    } else {
        format!("{decl}\n")
    };
    let remove = Edit::delete(
        ctx.path,
        ctx.lines.range(ctx.text, inst.line, inst.end_line),
    );
    // the last cache-keyed step of the stage: an unused ENV moves below it
    let last_step = later
        .iter()
        .rev()
        .find(|x| matches!(x.kind, Kind::Run | Kind::Copy | Kind::Add | Kind::Workdir));
    let fix = match (found.first_use, count, &inst.kind, last_step) {
        (Some(u), 1, _, _) => {
            let target = &later[u];
            Some(Fix {
                applicability: if inst.kind == Kind::Arg {
                    Applicability::Safe
                } else {
                    Applicability::Unsafe
                },
                description: format!(
                    "move `{kind} {name}` down to line {}, where it is first used",
                    target.line
                ),
                edits: vec![
                    remove,
                    Edit::insert(
                        ctx.path,
                        ctx.lines.range(ctx.text, target.line, target.line).start,
                        decl,
                    ),
                ],
            })
        }
        // an ARG no later step mentions only reaches RUN environments: drop it
        (None, 1, Kind::Arg, _) => Some(Fix {
            applicability: Applicability::Unsafe,
            description: format!("remove `ARG {name}`, which no later step of the stage uses"),
            edits: vec![remove],
        }),
        // an ENV for the running container: set it after the last build step
        (None, _, Kind::Env, Some(last)) => Some(env_after(ctx, name, decl, remove, last)),
        _ => None,
    };
    fix.map(|mut x| {
        x.applicability = degrade(x.applicability);
        x
    })
}

/// The fix that moves `ENV name` (its text `decl`, taken out by `remove`) below `last`, the
/// last build step of the stage.
fn env_after(
    ctx: &RuleContext<'_>,
    name: &str,
    decl: String,
    remove: Edit,
    last: &Instruction,
) -> Fix {
    let at = ctx.lines.range(ctx.text, last.line, last.end_line).end;
    let decl = if ctx.text[..at].ends_with('\n') {
        decl
    } else {
        format!("\n{}", decl.trim_end_matches('\n'))
    };
    Fix {
        applicability: Applicability::Unsafe,
        description: format!(
            "move `ENV {name}` below line {}, the last build step of the stage",
            last.line
        ),
        edits: vec![remove, Edit::insert(ctx.path, at, decl)],
    }
}

/// The finding's message: the evidence, the RUN steps that re-run for nothing, and where the
/// declaration belongs.
fn message(inst: &Instruction, found: &Found<'_>, later: &[Instruction]) -> String {
    let (kind, name) = (inst.kind.keyword(), found.name);
    let lines: Vec<String> = found.skipped.iter().map(|r| r.line.to_string()).collect();
    let n = found.skipped.len();
    format!(
        "`{kind} {name}` {}, and the RUN step{} at line{} {} below it do{} not use it: each new value re-runs {}; {}",
        evidence_words(&found.evidence),
        if n == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" },
        lines.join(", "),
        if n == 1 { "es" } else { "" },
        if n == 1 { "it" } else { "them" },
        match (found.first_use, &inst.kind) {
            (Some(u), _) => format!("declare it just before line {}, where it is first used", later[u].line),
            (None, Kind::Arg) => "no later step of this stage names it; remove it or declare it where it is needed, unless a tool in those steps reads it from the environment".into(),
            (None, _) => "no later step of this stage names it; set it after the build steps, unless a tool in those steps reads it from the environment".into(),
        }
    )
}

/// How often `name`'s value changes: the build's declared value first (a per-commit
/// expression, for `name` or for an ARG its value `value` names: `ENV HASH=$COMMIT`), then the
/// Dockerfile's history (asked for when not yet known).
fn volatility(ctx: &RuleContext<'_>, name: &str, value: &str) -> Option<Volatility> {
    if let Some(args) = ctx.build_args {
        let named = args
            .iter()
            .filter(|(k, _)| *k == name || references(value, k));
        for (_, v) in named {
            if let Some(e) = per_commit(v) {
                return Some(e);
            }
        }
    }
    let h = ctx.file_history(ctx.path)?;
    Some(history_changes(ctx.kept, h, Some(ctx.text), name))
}

/// The evidence in words: "changed its value in 14 of the last 300 commits (3 years)".
fn evidence_words(v: &Volatility) -> String {
    match v {
        Volatility::EveryCommit { value } => format!(
            "gets a new value on every commit (the build passes `{}`)",
            value.replace('`', "'")
        ),
        Volatility::History {
            changes,
            commits,
            seconds,
        } => {
            let span = match seconds / 86_400 {
                0 => String::new(),
                d if d < 60 => format!(", {d} days"),
                d if d < 730 => format!(", {} months", d / 30),
                d => format!(", {} years", d / 365),
            };
            format!("changed its value in {changes} of the last {commits} commits{span}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_in_words() {
        let v = Volatility::History {
            changes: 14,
            commits: 300,
            seconds: 3 * 365 * 86_400,
        };
        assert_eq!(
            evidence_words(&v),
            "changed its value in 14 of the last 300 commits, 3 years"
        );
    }

    /// A name that sounds volatile is no evidence: without history or a per-commit build arg
    /// there is no finding.
    #[test]
    fn volatile_names_are_no_evidence() {
        for n in ["GIT_SHA", "BUILD_DATE", "VERSION", "APP_VERSION", "VCS_REF"] {
            let t = format!("FROM a\nARG {n}=1\nRUN apt-get update\nRUN echo ${n}\n");
            let f = crate::engine::rules::audit_text(
                "Dockerfile",
                &t,
                None,
                crate::engine::input::EngineKind::Buildkit,
                &Default::default(),
            );
            assert!(f.iter().all(|x| x.code != "CB003"), "{n}: {f:?}");
        }
    }

    #[test]
    fn scripts() {
        assert!(runs_script("./build.sh"));
        assert!(runs_script("apk add git && sh /stamp.sh"));
        assert!(runs_script("make -j4"));
        assert!(!runs_script("sh -c 'echo hi'"));
        assert!(!runs_script("apt-get update && apt-get install -y curl"));
    }

    #[test]
    fn references_whole_names() {
        assert!(references("echo $GIT_SHA", "GIT_SHA"));
        assert!(references("echo ${GIT_SHA:-x}", "GIT_SHA"));
        assert!(!references("echo $GIT_SHAX", "GIT_SHA"));
        assert!(!references("echo GIT_SHA", "GIT_SHA"));
    }
}
