//! CB010 system packages after a broad COPY.
//!
//! **What it does.** Finds an operating-system package install (`apt-get install`, `apk add`,
//! `yum`/`dnf`/`microdnf install`) below a broad `COPY` from the build context in the same
//! stage, when the install names only packages (it reads none of the copied files).
//!
//! **Why it costs cache.** The install's cache key follows everything the COPY took: each source
//! edit re-runs the package install, often the slowest step of the stage, although the package
//! list did not change. The Docker build-cache guide orders steps from the least to the most
//! often changed: system packages first, sources last.
//!
//! **Example.**
//! ```text
//! COPY . /app
//! RUN apt-get update && apt-get install -y --no-install-recommends libpq5
//! ```
//! becomes
//! ```text
//! RUN apt-get update && apt-get install -y --no-install-recommends libpq5
//! COPY . /app
//! ```
//!
//! **Fix safety.** Unsafe: the install moves above the COPY steps between them. Offered only
//! when every step in between is a COPY/ADD from the context or LABEL/EXPOSE (no ENV, ARG,
//! USER, WORKDIR or RUN the install could depend on), none of those copies into the system
//! (`/`, `/etc`, `/usr`, `/var`, `/lib`, `/root`: a package source list or a key the install
//! reads), and the install does not mention a copied path, a local package file or a command
//! substitution.

use super::{
    Findings, Meta, Reads, Rule, RuleContext, Script, context_copy, is_broad_source, run_command,
};
use crate::engine::dockerfile::{Instruction, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::predict::sim::SimStage;
use crate::engine::predict::sim::{Op, StepVertex};

pub const RULE: &dyn Rule = &CopyBeforeSystemPackages;

const META: Meta = Meta {
    code: "CB010",
    name: "system-packages-after-copy",
    summary: "an OS package install below a broad COPY re-runs on every source edit",
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Dockerfile,
};

struct CopyBeforeSystemPackages;

impl Rule for CopyBeforeSystemPackages {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn stage(&self, ctx: &RuleContext<'_>, st: &SimStage, out: &mut Findings<'_, '_>) {
        check(ctx, st, out);
    }
}

/// Whether a RUN text installs OS packages named literally (no local files, no substitutions).
#[cfg(test)]
fn literal_system_install(cmd: &str) -> bool {
    literal_system_install_in(&Script::parse(cmd), cmd)
}

/// [`literal_system_install`] over the lexed script of `cmd`.
fn literal_system_install_in(script: &Script, cmd: &str) -> bool {
    script
        .programs()
        .any(crate::engine::tools::installs_system_packages)
        && !cmd.contains("$(")
        && !cmd.contains('`')
        && !cmd.contains("./")
        && !cmd.contains(".deb")
        && !cmd.contains(".rpm")
        && !cmd.contains(".apk ")
}

fn check(ctx: &RuleContext<'_>, st: &SimStage, out: &mut Findings<'_, '_>) {
    let insts = &ctx.df.instructions[st.info.from + 1..st.info.end];
    let Some(first) = insts.iter().position(|x| {
        context_copy(x).is_some_and(|(srcs, _)| srcs.iter().any(|s| is_broad_source(ctx, s)))
    }) else {
        return;
    };
    let copy = &insts[first];
    // what the steps from the broad COPY down to the current one copy, and whether they are
    // all copies or metadata, kept as the loop goes down (not rescanned for every install)
    let mut dests: Vec<&str> = Vec::new();
    let mut movable = true;
    for (k, run) in insts.iter().enumerate().skip(first) {
        if k > first {
            let prev = &insts[k - 1];
            if let Some((_, d)) = context_copy(prev) {
                // a copy into the system cannot move below the install (`prev` is
                // instruction `from + k`)
                if system(d) || resolved_dest(ctx, st.info.from + k).is_some_and(|a| system(&a)) {
                    movable = false;
                }
                let d = d.trim_end_matches('/');
                if !d.is_empty() && d != "." && d.starts_with('/') {
                    dests.push(d);
                }
            } else if !matches!(prev.kind, Kind::Label | Kind::Expose) {
                movable = false;
            }
        }
        if k == first {
            continue;
        }
        let Some(cmd) = run_command(run) else {
            continue;
        };
        if !ctx
            .script_of(run)
            .is_some_and(|s| literal_system_install_in(&s, &cmd))
        {
            continue;
        }
        // what the steps in between copy must not be named by the install
        if dests.iter().any(|d| cmd.contains(d)) {
            continue;
        }
        let fix = movable.then(|| move_above(ctx, run, copy));
        out.report(run, message(run, copy, movable), fix);
        break; // one per stage: after moving it, the next one shows
    }
}

/// Whether a destination is in the system (`/`, `/etc`, `/usr`, `/var`, `/lib`, `/root`), where
/// a package source list or a key the install reads may land.
fn system(d: &str) -> bool {
    let d = d.trim_end_matches('/');
    d.is_empty()
        || ["/etc", "/usr", "/var", "/lib", "/root"]
            .iter()
            .any(|s| d == *s || d.starts_with(&format!("{s}/")))
}

/// The destination of the COPY at instruction `idx` as BuildKit resolves it (a relative one
/// under WORKDIR `/` is `/`).
fn resolved_dest(ctx: &RuleContext<'_>, idx: usize) -> Option<String> {
    match ctx.sim.step.get(&idx) {
        Some(StepVertex::Vertex(v)) => match &ctx.sim.vertices[*v].op {
            Op::Copy { dest, .. } => Some(dest.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The fix: the install `run` moves above the broad `copy`.
fn move_above(ctx: &RuleContext<'_>, run: &Instruction, copy: &Instruction) -> Fix {
    let text = ctx.inst_text(run);
    let text = if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    };
    Fix {
        applicability: Applicability::Unsafe,
        description: format!("install the packages before the COPY at line {}", copy.line),
        edits: vec![
            Edit::delete(ctx.path, ctx.lines.range(ctx.text, run.line, run.end_line)),
            Edit::insert(
                ctx.path,
                ctx.lines.range(ctx.text, copy.line, copy.line).start,
                text,
            ),
        ],
    }
}

/// The finding's message; when the steps in between keep the install from moving
/// (`movable` false), it says to move it by hand.
fn message(run: &Instruction, copy: &Instruction, movable: bool) -> String {
    format!(
        "`{}` at line {} installs system packages below `{}` at line {}: every source edit re-runs the install; install them before copying the sources{}",
        run.display(60),
        run.line,
        copy.display(40),
        copy.line,
        if movable {
            ""
        } else {
            " (steps in between may matter to it: move it by hand)"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::literal_system_install;

    #[test]
    fn copies_into_the_system_keep_the_install_in_place() {
        let fix_of = |t: &str| {
            crate::engine::rules::audit_text(
                "Dockerfile",
                t,
                None,
                crate::engine::input::EngineKind::Buildkit,
                &crate::engine::settings::Config::default(),
            )
            .into_iter()
            .find(|f| f.code == "CB010")
            .map(|f| f.fix.is_some())
        };
        let install = "RUN apt-get update && apt-get install -y curl\n";
        assert_eq!(
            fix_of(&format!("FROM debian\nWORKDIR /app\nCOPY . .\n{install}")),
            Some(true)
        );
        // the context lands in / (WORKDIR /), or a source list is copied in between
        assert_eq!(
            fix_of(&format!("FROM debian\nWORKDIR /\nCOPY . .\n{install}")),
            Some(false)
        );
        assert_eq!(
            fix_of(&format!(
                "FROM debian\nWORKDIR /app\nCOPY . .\nCOPY extra.list /etc/apt/sources.list.d/\n{install}"
            )),
            Some(false)
        );
    }

    #[test]
    fn literal_installs() {
        assert!(literal_system_install(
            "apt-get update && apt-get install -y curl"
        ));
        assert!(literal_system_install("apk add --no-cache git"));
        assert!(!literal_system_install("apt-get install -y ./pkg.deb"));
        assert!(!literal_system_install("apk add $(cat /packages.txt)"));
        assert!(!literal_system_install("pip install -r requirements.txt"));
    }
}
