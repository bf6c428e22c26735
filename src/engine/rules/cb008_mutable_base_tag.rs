//! CB008 mutable base tag.
//!
//! **What it does.** Finds `FROM image` with no tag or with `latest`.
//!
//! **Why it costs cache.** The tag moves upstream: current BuildKit re-resolves it on every build
//! and rebuilds the whole stage when it moved; Docker 20.10 keeps a stale local copy until
//! someone pulls. Either way the cache follows an image you did not choose.
//!
//! **Example.** `FROM node` becomes `FROM node:22.11-alpine` (or a digest,
//! `FROM node@sha256:…`).
//!
//! **Fix safety.** Display only: which version to pin is yours to choose.

use super::{Findings, Meta, Reads, Rule, RuleContext, Stages};
use crate::engine::dockerfile::Severity;
use crate::engine::dockerfile::stages::Base;
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::predict::sim::SimStage;

pub const RULE: &dyn Rule = &MutableBaseTag;

const META: Meta = Meta {
    code: "CB008",
    name: "mutable-base-tag",
    summary: "FROM without a tag or with latest follows a moving image",
    severity: Severity::Info,
    fix: Some(Applicability::DisplayOnly),
    reads: Reads::Dockerfile,
};

struct MutableBaseTag;

impl Rule for MutableBaseTag {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn stages(&self) -> Stages {
        Stages::All
    }
    fn stage(&self, ctx: &RuleContext<'_>, st: &SimStage, out: &mut Findings<'_, '_>) {
        check(ctx, st, out);
    }
}

fn check(ctx: &RuleContext<'_>, st: &SimStage, out: &mut Findings<'_, '_>) {
    let Base::Image(reference) = &st.base else {
        return;
    };
    if reference.contains('@')
        || reference.contains(crate::engine::predict::sim::PLACEHOLDER_OPEN)
        || reference.trim().is_empty()
    {
        return;
    }
    let name = reference.rsplit('/').next().unwrap_or(reference);
    let tag = name.split_once(':').map(|(_, t)| t);
    if !matches!(tag, None | Some("latest")) {
        return;
    }
    let inst = &ctx.df.instructions[st.info.from];
    let r = ctx.inst_range(inst);
    let line = &ctx.text[r.clone()];
    let fix = line.find(reference.as_str()).map(|p| {
        let repo = reference.split(':').next().unwrap_or(reference);
        Fix {
            applicability: Applicability::DisplayOnly,
            description: "pin a version tag or a digest".into(),
            edits: vec![Edit::replace(
                ctx.path,
                r.start + p..r.start + p + reference.len(),
                format!("{repo}:<version>"),
            )],
        }
    });
    let msg = format!(
        "`FROM {reference}` follows a tag that moves upstream: the stage's cache follows whatever it points to; pin a version tag or a digest"
    );
    out.report(inst, msg, fix);
}
