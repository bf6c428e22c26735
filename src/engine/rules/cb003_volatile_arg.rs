//! CB003 volatile ARG/ENV early.
//!
//! **What it does.** Finds an `ARG` or `ENV` whose value changes from build to build (a version,
//! a commit SHA, a build date or number) declared above RUN steps that do not use it.
//!
//! **Why it costs cache.** Every valued ARG and every ENV is part of the environment of each
//! later RUN, and BuildKit keys that environment: a new value re-runs all of them, used or not.
//!
//! **Example.**
//! ```text
//! ARG GIT_SHA
//! RUN apt-get update && apt-get install -y libpq5
//! RUN pip install -r requirements.txt
//! LABEL org.opencontainers.image.revision=$GIT_SHA
//! ```
//! Moving `ARG GIT_SHA` down to just before the LABEL keeps both RUNs cached when the SHA changes.
//!
//! **Fix safety.** Safe for an ARG with one name: the steps it moves past do not mention it, and
//! an ARG only reaches them through the environment. Unsafe for ENV, which tools read from the
//! environment by convention. A step it moves past that runs a script (`./build.sh`,
//! `sh stamp.sh`, `make`) may read the variable without naming it, and would lose it: then the
//! ARG fix is unsafe and the ENV fix is shown only.

use super::{Finding, Rule, RuleContext, finding, run_command};
use crate::engine::dockerfile::{Body, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix, line_range};

pub const RULE: Rule = Rule {
    code: "CB003",
    name: "volatile-arg-early",
    summary: "an ARG/ENV that changes often sits above RUN steps that do not use it",
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    check,
};

/// Names whose values change between builds: commit and revision ids, build dates and numbers,
/// the version of the thing being built (not of a tool it installs: `NODE_VERSION` is stable).
pub fn is_volatile(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let words: Vec<&str> = n.split(['_', '-']).collect();
    let has = |w: &str| words.contains(&w);
    let revision = has("SHA") || has("COMMIT") || has("REVISION") || has("REV") || has("VCS");
    let git =
        has("GIT") && (has("REF") || has("HASH") || has("TAG") || has("BRANCH") || has("DESCRIBE"));
    let build_id = has("BUILD")
        && ["DATE", "TIME", "NUMBER", "NUM", "ID", "TIMESTAMP"]
            .iter()
            .any(|w| has(w));
    let date = has("TIMESTAMP") || has("DATE");
    let own_version = n == "VERSION"
        || n == "RELEASE"
        || has("VERSION")
            && ["APP", "RELEASE", "IMAGE", "BUILD", "PROJECT", "SERVICE"]
                .iter()
                .any(|w| has(w));
    let bust = n == "CACHEBUST" || n == "CACHE_BUST";
    revision || git || build_id || date || own_version || bust
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

fn check(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for st in &ctx.sim.stages {
        if !st.reachable {
            continue;
        }
        let range = st.info.from + 1..st.info.end;
        for i in range.clone() {
            let inst = &ctx.df.instructions[i];
            let names: Vec<String> = match (&inst.kind, &inst.body) {
                (Kind::Arg, Body::Arg(a)) => a.iter().map(|(n, _)| n.clone()).collect(),
                (Kind::Env, Body::Pairs(p)) => p.iter().map(|(n, _)| n.clone()).collect(),
                _ => continue,
            };
            let Some(name) = names.iter().find(|n| is_volatile(n)) else {
                continue;
            };
            let later = &ctx.df.instructions[i + 1..range.end];
            let first_use = later.iter().position(|x| {
                references(&x.args_text, name)
                    || run_command(x).is_some_and(|c| references(&c, name))
            });
            let upto = first_use.unwrap_or(later.len());
            let skipped: Vec<&crate::engine::dockerfile::Instruction> = later[..upto]
                .iter()
                .filter(|x| x.kind == Kind::Run)
                .collect();
            if skipped.is_empty() {
                continue;
            }
            // a script among the skipped steps may read the variable from its environment
            let scripted = skipped
                .iter()
                .any(|r| run_command(r).is_some_and(|c| runs_script(&c)));
            let degrade = |a: Applicability| match (a, scripted, &inst.kind) {
                (_, false, _) => a,
                (_, true, Kind::Env) => Applicability::DisplayOnly,
                (Applicability::Safe, true, _) => Applicability::Unsafe,
                (a, true, _) => a,
            };
            let kind = inst.kind.keyword();
            let decl = ctx.inst_text(inst).to_string();
            let decl = if decl.ends_with('\n') {
                decl
            } else {
                format!("{decl}\n")
            };
            let remove = Edit::delete(ctx.path, line_range(ctx.text, inst.line, inst.end_line));
            // the last cache-keyed step of the stage: an unused ENV moves below it
            let last_step = later
                .iter()
                .rev()
                .find(|x| matches!(x.kind, Kind::Run | Kind::Copy | Kind::Add | Kind::Workdir));
            let fix = match (first_use, names.len(), &inst.kind, last_step) {
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
                                line_range(ctx.text, target.line, target.line).start,
                                decl,
                            ),
                        ],
                    })
                }
                // an ARG no later step mentions only reaches RUN environments: drop it
                (None, 1, Kind::Arg, _) => Some(Fix {
                    applicability: Applicability::Unsafe,
                    description: format!(
                        "remove `ARG {name}`, which no later step of the stage uses"
                    ),
                    edits: vec![remove],
                }),
                // an ENV for the running container: set it after the last build step
                (None, _, Kind::Env, Some(last)) => {
                    let at = line_range(ctx.text, last.line, last.end_line).end;
                    let decl = if ctx.text[..at].ends_with('\n') {
                        decl
                    } else {
                        format!("\n{}", decl.trim_end_matches('\n'))
                    };
                    Some(Fix {
                        applicability: Applicability::Unsafe,
                        description: format!(
                            "move `ENV {name}` below line {}, the last build step of the stage",
                            last.line
                        ),
                        edits: vec![remove, Edit::insert(ctx.path, at, decl)],
                    })
                }
                _ => None,
            };
            let fix = fix.map(|mut x| {
                x.applicability = degrade(x.applicability);
                x
            });
            let lines: Vec<String> = skipped.iter().map(|r| r.line.to_string()).collect();
            let n = skipped.len();
            let msg = format!(
                "`{kind} {name}` changes often (a revision, version or date), and the RUN step{} at line{} {} below it do{} not use it: each new value re-runs {}; {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" },
                lines.join(", "),
                if n == 1 { "es" } else { "" },
                if n == 1 { "it" } else { "them" },
                match (first_use, &inst.kind) {
                    (Some(u), _) => format!("declare it just before line {}, where it is first used", later[u].line),
                    (None, Kind::Arg) => "no later step of this stage names it; remove it or declare it where it is needed, unless a tool in those steps reads it from the environment".into(),
                    (None, _) => "no later step of this stage names it; set it after the build steps, unless a tool in those steps reads it from the environment".into(),
                }
            );
            out.push(finding(&RULE, ctx, inst, msg, fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_names() {
        for n in [
            "GIT_SHA",
            "COMMIT_SHA",
            "BUILD_DATE",
            "VERSION",
            "APP_VERSION",
            "BUILD_NUMBER",
            "VCS_REF",
            "GIT_COMMIT",
            "RELEASE",
        ] {
            assert!(is_volatile(n), "{n}");
        }
        for n in [
            "NODE_VERSION",
            "PYTHON_VERSION",
            "NODE_ENV",
            "TARGETARCH",
            "DEBIAN_FRONTEND",
            "PORT",
        ] {
            assert!(!is_volatile(n), "{n}");
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
