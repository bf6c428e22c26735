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
//! export does not cover a failed import). The import is written from the export as it is
//! written (`${{ … }}` expressions kept). The patch is offered only for exports to gha, a
//! registry or a local directory that an `actions/cache` step of the workflow restores (else
//! the directory is empty on a fresh runner), written as a `cache-to` input of
//! `docker/build-push-action`, and only when the edited workflow, read again, imports what it
//! exports. An inline cache, a bake file's settings, an s3/azblob cache or a quoted entry get
//! the advice without a patch. A step with a `cache-from` that reads as no entry (an expression
//! that imports on some events only, an empty string) or run on a `remote` builder (which keeps
//! its cache) is not reported. Its saving is the change predicted again with the patched
//! workflow on both runs.

use super::cb011_ci_cache_backend::{also, has_input, mode_edits, rebuilt, verified, with_entries};
use super::{BuildRuleContext, Finding, Meta, Reads, Rule};
use crate::engine::backend::{CacheEntry, CiSetup, Mode, parse_entry};
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
    let text = ci.workflow_text.as_deref();
    // a `cache-from` written in a way that reads as no entry (an expression that picks one on
    // some events, an empty string) is still an import: the step is not said to have none
    if let (Some(t), Some(line)) = (text, ci.setup.line) {
        if has_input(t, line, "cache-from") {
            return None;
        }
    }
    // a remote builder keeps its cache between runs: nothing starts empty
    if ci.setup.driver.as_deref() == Some("remote") {
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
    // the exports as the workflow writes them (the step's own entries hold expressions
    // expanded, `${{ github.workspace }}` as the checkout): what an import must say again
    let written = written_exports(ci);
    // a local directory is read back only where the job restores it
    let imports: Option<Vec<String>> = match (text, written.is_empty()) {
        (Some(t), false) => written
            .iter()
            .map(|e| import_of(e).filter(|_| e.kind != "local" || restored(t, e)))
            .collect(),
        _ => None,
    };
    let subject = match also(&steps) {
        None => "this step runs again though nothing it reads changed".to_string(),
        Some(more) => format!("this step and {more} run again though nothing they read changed"),
    };
    // with `mode=min` an import alone serves only the final image's layers: the steps above
    // would still run, so the patch also exports every step's result (an inline cache has no
    // other mode)
    let min = ci
        .setup
        .exports
        .iter()
        .any(|e| e.kind != "inline" && e.export_mode() == Mode::Min);
    let with_max = if min {
        ", and export every step's result with `mode=max` (`mode=min`, the default, keeps the final image's layers only)"
    } else {
        ""
    };
    let remedy = match imports.as_deref() {
        Some([one]) => format!("Import what it exports (`cache-from: {one}`){with_max}."),
        Some(many) => format!(
            "Import what it exports (a `cache-from: |` block with `{}`){with_max}.",
            many.join("`, `")
        ),
        None => format!(
            "Import what it exports with a `cache-from` that reads the same place{}{with_max}.",
            hint(&ci.setup, &written, text)
        ),
    };
    let message = format!(
        "On a fresh CI runner {subject}: the step {} (job {}, {}) exports its cache to `{}` but imports none (no `cache-from`), so every run starts from an empty builder and never reads the export. {remedy}",
        ci.setup.step,
        ci.setup.job,
        ci.setup.file,
        exports.join("`, `")
    );
    let fix = match (imports, text) {
        (Some(imports), Some(text)) => edits(&ci.setup, text, &imports, min).and_then(|edits| {
            let description = if min {
                "import the CI cache the step exports, exported with mode=max"
            } else {
                "import the CI cache the step exports"
            };
            verified(ctx, ci, text, description, edits, |s| {
                imports_all(s)
                    && s.exports
                        .iter()
                        .all(|e| e.kind == "inline" || e.export_mode() == Mode::Max)
            })
        }),
        _ => None,
    };
    Some(META.at_step(first, "import", message, fix))
}

/// Why no import is written, when an export is why: an inline cache is read from a pushed tag;
/// a local directory is there on a fresh runner only when the job restores it.
fn hint(setup: &CiSetup, written: &[CacheEntry], text: Option<&str>) -> &'static str {
    let unrestored = |e: &CacheEntry| e.kind == "local" && !text.is_some_and(|t| restored(t, e));
    if setup.exports.iter().any(|e| e.kind == "inline") {
        " (an inline cache is read from the pushed image: `type=registry,ref=` one of its tags)"
    } else if written.iter().any(unrestored) {
        " (a local directory is there on a fresh runner only when the job restores it, with `actions/cache` and that `path`)"
    } else {
        ""
    }
}

/// The step's `cache-to` entries as written in its workflow (none when the workflow or the
/// step's line is not known, or the exports come from elsewhere: a bake file).
fn written_exports(ci: &crate::engine::input::CiCache) -> Vec<CacheEntry> {
    let (Some(text), Some(line)) = (ci.workflow_text.as_deref(), ci.setup.line) else {
        return Vec::new();
    };
    with_entries(text, line, "cache-to")
        .into_iter()
        .filter_map(|r| parse_entry(&text[r], true))
        .collect()
}

/// Whether a step of the workflow restores the directory a local export writes: an
/// `actions/cache` (or `actions/cache/restore`) step whose lines name it as written.
fn restored(text: &str, e: &CacheEntry) -> bool {
    let Some(dest) = fields(&e.text).and_then(|f| {
        f.iter()
            .find_map(|f| f.strip_prefix("dest=").map(|d| d.trim().to_string()))
    }) else {
        return false;
    };
    if dest.is_empty() {
        return false;
    }
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        let Some(u) = t.strip_prefix("uses:") else {
            return false;
        };
        let u = u.trim().trim_matches(['"', '\'']);
        if !(u.starts_with("actions/cache@") || u.starts_with("actions/cache/restore@")) {
            return false;
        }
        // the step's lines after `uses:`, up to the next step
        lines[i + 1..]
            .iter()
            .take_while(|x| !x.trim_start().starts_with("- "))
            .any(|x| x.contains(dest.as_str()))
    })
}

/// The fields of a cache entry as written, split at commas outside `${{ … }}` expressions
/// (`None` for a quoted value or an unclosed expression, which this does not rewrite).
fn fields(raw: &str) -> Option<Vec<&str>> {
    if raw.contains(['"', '\'', '\n']) {
        return None;
    }
    let (mut out, mut start, mut depth, mut i) = (Vec::new(), 0, 0usize, 0);
    while i < raw.len() {
        let rest = &raw[i..];
        if rest.starts_with("${{") {
            depth += 1;
            i += 3;
        } else if depth > 0 && rest.starts_with("}}") {
            depth -= 1;
            i += 2;
        } else {
            if depth == 0 && rest.starts_with(',') {
                out.push(raw[start..i].trim());
                start = i + 1;
            }
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push(raw[start..].trim());
    (depth == 0).then_some(out)
}

/// The `cache-from` entry that reads what `e` writes, from the entry as written (expressions
/// kept as they are): its type and the fields that say where (`dest` of a local export becomes
/// `src`). `None` for an inline cache, whose import names the pushed image, and for kinds or
/// spellings this does not write.
fn import_of(e: &CacheEntry) -> Option<String> {
    let f = fields(&e.text)?;
    if let [bare] = f.as_slice() {
        if !bare.contains('=') {
            return (e.kind == "registry").then(|| format!("type=registry,ref={bare}"));
        }
    }
    let keep: &[(&str, &str)] = match e.kind.as_str() {
        "gha" => &[
            ("scope", "scope"),
            ("url", "url"),
            ("url_v2", "url_v2"),
            ("token", "token"),
            ("version", "version"),
        ],
        "registry" => &[("ref", "ref")],
        "local" => &[("dest", "src")],
        _ => return None,
    };
    let mut out = vec![format!("type={}", e.kind)];
    for x in &f {
        let Some((k, v)) = x.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        if let Some((_, to)) = keep.iter().find(|(from, _)| *from == k) {
            out.push(format!("{to}={}", v.trim()));
        }
    }
    // a registry or local entry without its place is not one this can write
    if e.kind != "gha" && out.len() < 2 {
        return None;
    }
    Some(out.join(","))
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
            .filter(|e| e.kind != "inline" && e.export_mode() == Mode::Min)
            .map(|e| e.kind.as_str())
            .collect();
        kinds.sort_unstable();
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
        // expressions are kept as written, commas inside them included
        assert_eq!(
            of("type=local,dest=${{ runner.temp }}/.cache,mode=max").as_deref(),
            Some("type=local,src=${{ runner.temp }}/.cache")
        );
        assert_eq!(
            of("type=gha,scope=${{ join(matrix.x, ',') }},mode=max"),
            None,
            "a quoted value is not rewritten"
        );
        assert_eq!(
            of("type=gha,scope=${{ github.ref_name }}-${{ matrix.arch }},mode=max,ignore-error=true")
                .as_deref(),
            Some("type=gha,scope=${{ github.ref_name }}-${{ matrix.arch }}")
        );
        assert_eq!(
            of("type=gha,url=https://c.example,token=${{ secrets.T }},mode=max").as_deref(),
            Some("type=gha,url=https://c.example,token=${{ secrets.T }}")
        );
        assert_eq!(
            fields("a=${{ f(x, y) }},b=c"),
            Some(vec!["a=${{ f(x, y) }}", "b=c"])
        );
        assert_eq!(fields("a=${{ x"), None);
    }

    #[test]
    fn an_input_is_declared_whatever_its_value() {
        let wf = "jobs:\n  b:\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          cache-from: ${{ github.event_name == 'push' && 'type=gha' || '' }}\n          cache-to: type=gha,mode=max\n      - uses: docker/build-push-action@v6\n        with:\n          cache-to: type=gha,mode=max\n";
        assert!(has_input(wf, 4, "cache-from"));
        assert!(has_input(wf, 4, "cache-to"));
        assert!(!has_input(wf, 8, "cache-from"));
        assert!(has_input(wf, 8, "cache-to"));
    }

    #[test]
    fn a_local_directory_is_read_back_only_where_the_job_restores_it() {
        let e = parse_entry("type=local,dest=/tmp/.buildx-cache,mode=max", true).unwrap();
        let with = "jobs:\n  b:\n    steps:\n      - uses: actions/cache@v4\n        with:\n          path: /tmp/.buildx-cache\n          key: k\n      - uses: docker/build-push-action@v6\n";
        assert!(restored(with, &e));
        assert!(!restored(&with.replace(".buildx-cache", "other"), &e));
        assert!(!restored(
            &with.replace("actions/cache@v4", "actions/checkout@v4"),
            &e
        ));
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
