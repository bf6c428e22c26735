//! CB005 apt-get update alone.
//!
//! **What it does.** Finds `RUN apt-get update` in a step of its own, with the `apt-get install`
//! in a later RUN.
//!
//! **Why it costs cache.** The update step stays cached for as long as its text does, so a later
//! change to the install line installs from package lists of whatever age the cache holds (or
//! fails on versions that left the mirror). Updating in the same RUN as the install refreshes the
//! lists exactly when the install re-runs.
//!
//! **Example.** `RUN apt-get update` + `RUN apt-get install -y curl` becomes
//! `RUN apt-get update && apt-get install -y curl`.
//!
//! **Fix safety.** Unsafe: the update now runs later, after the steps in between. Shown only,
//! not applied, when a step in between reads the package lists (`apt-cache`, `apt-get
//! download`, …: it would find none) or the update step has flags the install step lacks (a
//! mount for the lists, a network setting: they would be lost).

use super::{At, Findings, Meta, Reads, Rule, RuleContext, Script};
use crate::engine::dockerfile::{Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};

pub const RULE: &dyn Rule = &AptUpdateAlone;

const META: Meta = Meta {
    code: "CB005",
    name: "apt-update-alone",
    summary: "apt-get update in its own RUN, the install in a later one",
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Dockerfile,
};

struct AptUpdateAlone;

impl Rule for AptUpdateAlone {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Run]
    }
    fn instruction(&self, ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, at, out);
    }
}

const UPDATES: &[&[&str]] = &[&["apt-get", "update"], &["apt", "update"]];
const INSTALLS: &[&[&str]] = &[&["apt-get", "install"], &["apt", "install"]];

fn only_update(s: &Script) -> bool {
    s.commands().next().is_some()
        && s.commands()
            .all(|c| c.program.as_ref().is_some_and(|p| p.runs_any(UPDATES)))
}

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let inst = at.inst;
    if !ctx.script_of(inst).is_some_and(|s| only_update(&s)) {
        return;
    }
    let later = at.after();
    let Some(pos) = later.iter().position(|x| {
        ctx.script_of(x)
            .is_some_and(|s| s.runs_any(INSTALLS) && !s.runs_any(UPDATES))
    }) else {
        return;
    };
    let install = &later[pos];
    // a step in between that reads the lists would run before any update
    let reads_lists = later[..pos].iter().any(|x| {
        ctx.script_of(x).is_some_and(|s| {
            s.runs_any(&[
                &["apt-get"],
                &["apt"],
                &["apt-cache"],
                &["aptitude"],
                &["apt-file"],
            ])
        })
    });
    // flags of the update step (mounts, network) that the install step does not have
    let flag = |f: &crate::engine::dockerfile::Flag| (f.name.clone(), f.value.clone());
    let lost_flags = inst
        .flags
        .iter()
        .any(|f| !install.flags.iter().any(|g| flag(g) == flag(f)));
    // prefix the install's command with the update
    let r = ctx.inst_range(install);
    let seg = &ctx.text[r.clone()];
    let flags_end = seg
        .find("apt-get")
        .or_else(|| seg.find("apt "))
        .unwrap_or(0);
    let fix = Fix {
        applicability: if reads_lists || lost_flags {
            Applicability::DisplayOnly
        } else {
            Applicability::Unsafe
        },
        description: format!(
            "run apt-get update in the install step at line {}",
            install.line
        ),
        edits: vec![
            Edit::delete(
                ctx.path,
                ctx.lines.range(ctx.text, inst.line, inst.end_line),
            ),
            Edit::insert(ctx.path, r.start + flags_end, "apt-get update && "),
        ],
    };
    let msg = format!(
        "`{}` is a step of its own: it stays cached while the install at line {} changes, which then installs from stale package lists; update in the same RUN as the install",
        inst.display(40),
        install.line
    );
    out.report(inst, msg, Some(fix));
}
