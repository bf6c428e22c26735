//! CB012 CI cache exported but never imported.
//!
//! **What it does.** Reads the prediction of a build that a workflow step runs on a runner
//! whose builder starts empty, where the step exports a cache (`cache-to`) and imports none
//! (no `cache-from`), and finds the steps that run again only because of that: nothing they
//! read changed, and a warm builder keeps them cached.
//!
//! **Why it costs cache.** The export is written on every run and never read: each run starts
//! from an empty builder and runs every step, the dependency downloads and compiles included,
//! while paying for the export too. Importing what the step exports makes the next run start
//! where the last one ended.
//!
//! **Example.** `cache-to: type=gha,mode=max` alone gets `cache-from: type=gha` above it;
//! `cache-to: type=registry,ref=ghcr.io/o/app:cache,mode=max` gets
//! `cache-from: type=registry,ref=ghcr.io/o/app:cache`; `type=local,dest=DIR` gets
//! `type=local,src=DIR`. An export with `mode=min` (the default) also becomes `mode=max`: with
//! `min` the cache holds results for the final image's layers only, so an import alone would
//! leave a changed builder stage's steps above the change running (CB011).
//!
//! **Fix safety.** Unsafe: the image is the same, but the build now reads a cache the workflow
//! writes (on a fork's pull request a registry cache may not be readable; `ignore-error` on the
//! export does not cover a failed import). The patch is offered only for exports to gha, a
//! registry or a local directory written as a `cache-to` input of `docker/build-push-action`,
//! and only when the edited workflow, read again, imports what it exports. An inline cache, a
//! bake file's settings or an s3/azblob cache get the advice without a patch. Its saving is the
//! change predicted again with the patched workflow on both runs.

use super::cb011_ci_cache_backend::{also, mode_edits, rebuilt, verified, with_entries};
use super::{BuildRuleContext, Finding, Meta, Reads, Rule};
use crate::engine::backend::{CacheEntry, CiSetup, Mode};
use crate::engine::dockerfile::Severity;
use crate::engine::fix::{Applicability, Edit};
use crate::engine::report::{Cause, Step};

pub const RULE: &dyn Rule = &CiCacheNotImported;

const META: Meta = Meta {
    code: "CB012",
    name: "ci-cache-not-imported",
    summary: "a CI step exports a cache it never imports: every run starts from an empty builder",
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Prediction,
};

struct CiCacheNotImported;

impl Rule for CiCacheNotImported {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn prediction(&self, ctx: &BuildRuleContext<'_>, out: &mut Vec<Finding>) {
        out.extend(check(ctx));
    }
}

fn check(ctx: &BuildRuleContext<'_>) -> Option<Finding> {
    let ci = ctx.build.ci.as_ref()?;
    if !ci.setup.imports.is_empty() || ci.setup.exports.is_empty() {
        return None;
    }
    // the steps the empty builder runs, and those that run only because one of them did
    let mut lines: Vec<u32> = Vec::new();
    let steps: Vec<&Step> = rebuilt(ctx)
        .filter(|s| match &s.cause {
            Some(Cause::NoCacheImport { line, .. }) => {
                lines.push(*line);
                true
            }
            Some(Cause::Follows { origin_line, .. }) => lines.contains(origin_line),
            _ => false,
        })
        .collect();
    let first = *steps.first()?;
    let exports: Vec<String> = ci.setup.exports.iter().map(CacheEntry::display).collect();
    let imports: Option<Vec<String>> = ci.setup.exports.iter().map(import_of).collect();
    let subject = match also(&steps) {
        None => "this step runs again though nothing it reads changed".to_string(),
        Some(more) => format!("this step and {more} run again though nothing they read changed"),
    };
    // with `mode=min` an import alone serves only the final image's layers: the steps above
    // would still run, so the patch also exports every step's result
    let min = ci
        .setup
        .exports
        .iter()
        .any(|e| e.export_mode() == Mode::Min);
    let with_max = if min {
        ", and export every step's result with `mode=max` (`mode=min`, the default, keeps the final image's layers only)"
    } else {
        ""
    };
    let remedy = match &imports {
        Some(i) => format!(
            "Import what it exports (`cache-from: {}`){with_max}.",
            i.join(" ")
        ),
        None => {
            format!(
                "Import what it exports with a `cache-from` that reads the same place{with_max}."
            )
        }
    };
    let message = format!(
        "On a fresh CI runner {subject}: the step {} (job {}, {}) exports its cache to `{}` but imports none (no `cache-from`), so every run starts from an empty builder and never reads the export. {remedy}",
        ci.setup.step,
        ci.setup.job,
        ci.setup.file,
        exports.join("`, `")
    );
    let fix = match (imports, ci.workflow_text.as_deref()) {
        (Some(imports), Some(text)) => edits(&ci.setup, text, &imports, min).and_then(|edits| {
            let description = if min {
                "import the CI cache the step exports, exported with mode=max"
            } else {
                "import the CI cache the step exports"
            };
            verified(ctx, ci, text, description, edits, |s| {
                imports_all(s) && s.exports.iter().all(|e| e.export_mode() == Mode::Max)
            })
        }),
        _ => None,
    };
    Some(META.at_step(first, "import", message, fix))
}

/// The `cache-from` entry that reads what `e` writes (`None` for an inline cache, whose import
/// names the pushed image, and for kinds whose fields this does not write).
fn import_of(e: &CacheEntry) -> Option<String> {
    if e.location.is_empty() || e.location.contains([',', '"', '\n']) {
        return None;
    }
    match e.kind.as_str() {
        "gha" if e.location == "buildkit" => Some("type=gha".into()),
        "gha" => Some(format!("type=gha,scope={}", e.location)),
        "registry" => Some(format!("type=registry,ref={}", e.location)),
        "local" => Some(format!("type=local,src={}", e.location)),
        _ => None,
    }
}

/// Whether the step reads back every place it exports to.
fn imports_all(s: &CiSetup) -> bool {
    !s.exports.is_empty()
        && s.exports.iter().all(|e| {
            s.imports
                .iter()
                .any(|i| i.kind == e.kind && i.location == e.location)
        })
}

/// The patch: the import, and `mode=max` on the exports written with `mode=min` (`min`).
fn edits(setup: &CiSetup, text: &str, imports: &[String], min: bool) -> Option<Vec<Edit>> {
    let mut edits = vec![import_edit(setup, text, imports)?];
    if min {
        let mut kinds: Vec<&str> = setup
            .exports
            .iter()
            .filter(|e| e.export_mode() == Mode::Min)
            .map(|e| e.kind.as_str())
            .collect();
        kinds.dedup();
        for k in kinds {
            edits.extend(mode_edits(setup, text, k)?);
        }
    }
    Some(edits)
}

/// A `cache-from:` input written above the step's `cache-to:` key, at its indentation: one
/// line for one entry, a `|` block for several.
fn import_edit(setup: &CiSetup, text: &str, imports: &[String]) -> Option<Edit> {
    let first = with_entries(text, setup.line?, "cache-to")
        .into_iter()
        .next()?;
    // the key's line: the value's own line, or the line above a `|` block
    let line_at = |start: usize| text[start..].split('\n').next().unwrap_or("");
    let mut start = text[..first.start].rfind('\n').map_or(0, |p| p + 1);
    while !line_at(start).trim_start().starts_with("cache-to:") {
        start = text[..start.checked_sub(1)?]
            .rfind('\n')
            .map_or(0, |p| p + 1);
    }
    let line = line_at(start);
    let indent = &line[..line.len() - line.trim_start().len()];
    if indent.contains('\t') {
        return None;
    }
    // the file's own line ending
    let nl = if line.ends_with('\r') { "\r\n" } else { "\n" };
    let value = match imports {
        [one] => format!(" {one}{nl}"),
        many => {
            let mut v = format!(" |{nl}");
            for i in many {
                v.push_str(&format!("{indent}  {i}{nl}"));
            }
            v
        }
    };
    Some(Edit::insert(
        &setup.file,
        start,
        format!("{indent}cache-from:{value}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::parse_entry;
    use crate::engine::fix::{self, Fix};
    use std::collections::BTreeMap;

    const WF: &str = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - name: One\n        uses: docker/build-push-action@v6\n        with:\n          context: .\n          cache-to: type=gha,scope=app,mode=max # written each run\n      - name: Two\n        uses: docker/build-push-action@v6\n        with:\n          cache-to: |\n            type=local,dest=/tmp/c,mode=max\n            ghcr.io/o/app:cache\n";

    #[test]
    fn imports_of_exports() {
        let of = |t: &str| import_of(&parse_entry(t, true).unwrap());
        assert_eq!(of("type=gha").as_deref(), Some("type=gha"));
        assert_eq!(
            of("type=gha,scope=app,mode=max").as_deref(),
            Some("type=gha,scope=app")
        );
        assert_eq!(
            of("ghcr.io/o/app:cache").as_deref(),
            Some("type=registry,ref=ghcr.io/o/app:cache")
        );
        assert_eq!(
            of("type=local,dest=/tmp/c,mode=max").as_deref(),
            Some("type=local,src=/tmp/c")
        );
        assert_eq!(of("type=inline"), None);
        assert_eq!(of("type=s3,region=x,bucket=b"), None);
    }

    #[test]
    fn the_import_reads_back_as_what_is_exported() {
        let memo = crate::engine::memo::Memo::default();
        let crlf = WF.replace('\n', "\r\n");
        for (text, line, step_index) in [(WF, 7, 0), (WF, 12, 1), (crlf.as_str(), 12, 1)] {
            let setup = CiSetup {
                file: "w.yml".into(),
                job: "build".into(),
                line: Some(line),
                step_index,
                ..Default::default()
            };
            let before = crate::engine::workflows::step_setup(&memo, &setup, text).unwrap();
            assert!(before.imports.is_empty() && !before.exports.is_empty());
            let imports: Vec<String> = before.exports.iter().filter_map(import_of).collect();
            let edit = import_edit(&setup, text, &imports).unwrap();
            let f = Fix {
                applicability: Applicability::Unsafe,
                description: String::new(),
                edits: vec![edit],
            };
            let files = BTreeMap::from([("w.yml".to_string(), text.to_string())]);
            let t = fix::apply(&files, &[&f]).0.remove("w.yml").unwrap();
            // one line ending throughout
            let crlf_lines = t.matches("\r\n").count();
            let expected = if text.contains('\r') {
                t.matches('\n').count()
            } else {
                0
            };
            assert_eq!(crlf_lines, expected, "{t:?}");
            let after = crate::engine::workflows::step_setup(&memo, &setup, &t).unwrap();
            assert!(imports_all(&after), "{t}\n{after:#?}");
            assert_eq!(after.exports, before.exports, "{t}");
        }
    }
}
