//! CB009 remote fetch in RUN.
//!
//! **What it does.** Finds RUN steps that download with `curl`, `wget` or `git clone` and do not
//! verify what they got (`sha256sum -c`, `gpg --verify`, a pinned commit).
//!
//! **Why it costs cache.** BuildKit keys a RUN by its text, not by what it downloads: the step
//! stays cached while the remote file changes, so two builds of the same commit can hold
//! different software depending on which cache they hit, and a fresh runner silently picks up
//! whatever is upstream today.
//!
//! **Example.** `RUN curl -fsSL https://example.com/install.sh | sh` — pin a versioned URL and
//! check its checksum (`echo "<sha256>  file" | sha256sum -c -`), or use `ADD --checksum`.
//!
//! **Fix safety.** Display only.

use super::{At, Findings, Meta, Reads, Rule, RuleContext, run_command};
use crate::engine::dockerfile::{Kind, Severity};

pub const RULE: &dyn Rule = &RemoteFetchInRun;

const META: Meta = Meta {
    code: "CB009",
    name: "remote-fetch-in-run",
    summary: "a RUN downloads without verifying: cached by its text while the remote changes",
    severity: Severity::Info,
    fix: None,
    reads: Reads::Dockerfile,
};

struct RemoteFetchInRun;

impl Rule for RemoteFetchInRun {
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

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let inst = at.inst;
    let Some(cmd) = run_command(inst) else {
        return;
    };
    if !(cmd.contains("http://") || cmd.contains("https://") || cmd.contains("git@")) {
        return;
    }
    let Some(cs) = ctx.script(at.index) else {
        return;
    };
    let fetch = cs.runs_any(&[&["curl"], &["wget"], &["git", "clone"]]);
    let verified = [
        "sha256sum",
        "sha512sum",
        "sha1sum",
        "md5sum",
        "gpg",
        "cosign",
        "--checksum",
        "shasum",
        "minisign",
    ]
    .iter()
    .any(|v| cmd.contains(v))
        || cs.runs_any(&[&["git", "checkout"], &["git", "reset"]]);
    if !fetch || verified {
        return;
    }
    let msg = format!(
        "`{}` downloads without checking what it got: the step stays cached by its text while the remote changes; pin a version and verify a checksum",
        inst.display(60)
    );
    out.report(inst, msg, None);
}
