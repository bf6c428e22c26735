//! CB006 ADD of a URL without `--checksum`.
//!
//! **What it does.** Finds `ADD https://…` without `--checksum=sha256:…`.
//!
//! **Why it costs cache.** BuildKit asks the server on every build whether the file changed;
//! the step's cache depends on a remote you do not control, and a changed file silently changes
//! the image. With `--checksum` the key comes from the checksum: no request, no surprise.
//!
//! **Example.** `ADD https://example.com/tool.tar.gz /opt/` becomes
//! `ADD --checksum=sha256:<sha256 of the file> https://example.com/tool.tar.gz /opt/`
//! (dockerfile frontend 1.6+, so add `# syntax=docker/dockerfile:1`).
//!
//! **Fix safety.** Display only: cachebust cannot know the checksum.

use super::{At, Findings, Meta, Reads, Rule, RuleContext};
use crate::engine::dockerfile::{Body, CopySource, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};

pub const RULE: &dyn Rule = &AddUrlChecksum;

const META: Meta = Meta {
    code: "CB006",
    name: "add-url-checksum",
    summary: "ADD of a URL without --checksum is re-checked on every build",
    severity: Severity::Warning,
    fix: Some(Applicability::DisplayOnly),
    reads: Reads::Dockerfile,
};

struct AddUrlChecksum;

impl Rule for AddUrlChecksum {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Add]
    }
    fn instruction(&self, ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, at, out);
    }
}

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let inst = at.inst;
    if inst.flag("checksum").is_some() {
        return;
    }
    let Body::Copy { sources, .. } = &inst.body else {
        return;
    };
    let url = sources.iter().find_map(|s| match s {
        CopySource::Path(p) if p.starts_with("http://") || p.starts_with("https://") => {
            Some(p.clone())
        }
        _ => None,
    });
    let Some(url) = url else { return };
    // git sources are pinned by `?ref=`/`#ref`, not by a file checksum
    if url.ends_with(".git") || url.contains(".git#") || url.contains(".git?") {
        return;
    }
    let r = ctx.inst_range(inst);
    let kw_end = r.start + 3;
    let fix = Fix {
        applicability: Applicability::DisplayOnly,
        description: "pin the download with --checksum".into(),
        edits: vec![Edit::insert(
            ctx.path,
            kw_end,
            " --checksum=sha256:<sha256-of-the-file>",
        )],
    };
    let msg = format!(
        "`ADD {url}` is fetched again on every build and changes the image when the file changes upstream; pin it with `--checksum=sha256:…`"
    );
    out.report(inst, msg, Some(fix));
}
