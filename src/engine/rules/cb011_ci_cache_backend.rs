//! CB011 CI cache backend that cannot serve steps a warm builder keeps cached.
//!
//! **What it does.** Reads the prediction of a build that a workflow step runs with a cache
//! backend (`docker/build-push-action` or `docker/bake-action` with `cache-from` / `cache-to`,
//! on a runner whose builder starts empty) and finds the steps that run again only because of
//! the backend:
//!
//! - a step whose key is in the imported cache but whose result is not, because the build
//!   exports its own cache with `mode=min` (the default: results of the final image's layers
//!   only), and a step after it that runs needs that result;
//! - a step whose records another build replaced, because both export to the same place (one
//!   gha scope, registry reference or directory) and the other exports after this one.
//!
//! **Why it costs cache.** On a warm builder these steps stay cached. On the runner, with
//! `mode=min`, every change that reruns a step of a builder stage also reruns the steps above it
//! (the dependency download above a changed `COPY` is the usual one); with a shared place, the
//! build finds the other build's records on every run.
//!
//! **Example.** `cache-to: type=gha` becomes `cache-to: type=gha,mode=max`. Two steps that both
//! read and write `type=gha` (scope `buildkit`) get a scope each: `type=gha,scope=app` in the
//! `cache-from` and `cache-to` of the step that builds target `app`.
//!
//! **Fix safety.** Unsafe: the image is the same, but `mode=max` exports every stage's layers
//! (more cache storage and a longer export; GitHub keeps 10 GB of gha cache per repository),
//! and a new scope is empty on its first run. The patch edits the workflow and is offered only
//! when the edited workflow, read again, declares what the patch says (a `cache-to` of
//! `docker/build-push-action` written in the workflow); a bake file's cache settings get the
//! advice without a patch. Its saving is the change predicted again with the patched
//! configuration on both runs.

use std::ops::Range;

use super::{BuildRuleContext, Finding, Meta, Reads, Rule};
use crate::engine::backend::{CiSetup, Mode, Writer, parse_entry};
use crate::engine::dockerfile::Severity;
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::input::CiCache;
use crate::engine::report::{Cause, Status, Step};

pub const RULE: &dyn Rule = &CiCacheBackend;

const META: Meta = Meta {
    code: "CB011",
    name: "ci-cache-backend",
    summary: "the CI cache backend cannot serve steps a warm builder keeps cached",
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Prediction,
};

struct CiCacheBackend;

impl Rule for CiCacheBackend {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn prediction(&self, ctx: &BuildRuleContext<'_>, out: &mut Vec<Finding>) {
        out.extend(check(ctx));
    }
}

fn check(ctx: &BuildRuleContext<'_>) -> Vec<Finding> {
    let Some(ci) = &ctx.build.ci else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(min_export(ctx, ci));
    out.extend(shared_place(ctx, ci));
    out
}

/// Steps run again because the build's own export is `mode=min`.
fn min_export(ctx: &BuildRuleContext<'_>, ci: &CiCache) -> Option<Finding> {
    let own = ci
        .sources
        .iter()
        .find(|s| matches!(s.writer, Writer::Own { mode: Mode::Min }))?;
    let cache = own.entry.display();
    let steps: Vec<&Step> = rebuilt(ctx)
        .filter(|s| {
            matches!(&s.cause, Some(Cause::NotExported { mode: Mode::Min, cache: c, .. }) if *c == cache)
        })
        .collect();
    let first = *steps.first()?;
    // the chain's last step is the one a step that runs needs
    let Some(Cause::NotExported { needed_by, .. }) = &steps.last()?.cause else {
        return None;
    };
    let where_ = step_name(&ci.setup);
    // the export that writes what the import reads (an inline one writes to the image's tags)
    let kind = ci
        .setup
        .effective_exports()
        .into_iter()
        .find(|e| e.location == own.entry.location && e.export_mode() == Mode::Min)
        .map_or(own.entry.kind.clone(), |e| e.kind);
    let kind = kind.as_str();
    let remedy = if kind == "inline" {
        "An inline cache is always `mode=min`: a `type=registry` or `type=gha` export with `mode=max` keeps every step's result."
    } else {
        "With `mode=max` the export keeps every step's result."
    };
    let (subject, theirs) = match also(&steps) {
        None => (
            "this step runs again though nothing it reads changed".to_string(),
            "its result",
        ),
        Some(more) => (
            format!("this step and {more} run again though nothing they read changed"),
            "their results",
        ),
    };
    let message = format!(
        "On a fresh CI runner {subject}: the cache `{cache}` that this build exports with `mode=min` ({where_}) keeps the results of the final image's layers only, and line {needed_by}, which runs, needs {theirs}. {remedy}"
    );
    let fix = ci.workflow_text.as_deref().and_then(|text| {
        if kind == "inline" {
            return None;
        }
        let edits = mode_edits(&ci.setup, text, kind)?;
        verified(
            ctx,
            ci,
            text,
            "export the CI cache with mode=max",
            edits,
            |s| {
                s.exports
                    .iter()
                    .any(|e| e.kind == kind && e.export_mode() == Mode::Max)
            },
        )
    });
    Some(META.at_step(first, "mode", message, fix))
}

/// The first step whose records another build's export to the same place replaced.
fn shared_place(ctx: &BuildRuleContext<'_>, ci: &CiCache) -> Option<Finding> {
    let first = rebuilt(ctx).find(|s| matches!(s.cause, Some(Cause::CacheReplaced { .. })))?;
    let Some(Cause::CacheReplaced { cache, by, .. }) = &first.cause else {
        return None;
    };
    let gha = ci.setup.imports.iter().any(|e| e.kind == "gha");
    let scope = gha.then(|| own_scope(ctx, ci)).flatten();
    let remedy = match &scope {
        Some(s) => format!(
            "With a scope of its own (`scope={s}` in its `cache-from` and `cache-to`), this build reads what it exported itself."
        ),
        None => "With a cache location of its own (in its `cache-from` and `cache-to`), this build reads what it exported itself.".to_string(),
    };
    let message = format!(
        "On a fresh CI runner this step misses on every run: {by} exports to the same cache `{cache}` after this build ({}) and replaces its records. {remedy}",
        step_name(&ci.setup)
    );
    let fix = match (&scope, ci.workflow_text.as_deref()) {
        (Some(s), Some(text)) => scope_edits(&ci.setup, text, s).and_then(|edits| {
            verified(
                ctx,
                ci,
                text,
                "give the build a gha cache scope of its own",
                edits,
                |x| {
                    let gha = |e: &&crate::engine::backend::CacheEntry| e.kind == "gha";
                    x.imports.iter().filter(gha).all(|e| e.location == *s)
                        && x.exports.iter().filter(gha).all(|e| e.location == *s)
                        && x.imports.iter().any(|e| e.kind == "gha")
                },
            )
        }),
        _ => None,
    };
    Some(META.at_step(first, "scope", message, fix))
}

pub(super) fn rebuilt<'a>(ctx: &'a BuildRuleContext<'_>) -> impl Iterator<Item = &'a Step> {
    ctx.report
        .steps
        .iter()
        .filter(|s| s.status == Status::Rebuilt)
}

/// The steps after the first, when there are more: `line 3`, `lines 3 and 4`, `lines 3, 4, 5,
/// 6, 7 and 9 more` (at most five named: a builder stage can have many).
pub(super) fn also(steps: &[&Step]) -> Option<String> {
    const NAMED: usize = 5;
    let rest: Vec<String> = steps[1..].iter().map(|s| s.line.to_string()).collect();
    match rest.as_slice() {
        [] => None,
        [one] => Some(format!("line {one}")),
        r if r.len() > NAMED => Some(format!(
            "lines {} and {} more",
            r[..NAMED].join(", "),
            r.len() - NAMED
        )),
        [init @ .., last] => Some(format!("lines {} and {last}", init.join(", "))),
    }
}

/// `.github/workflows/ci.yml, job build, step Build`.
fn step_name(s: &CiSetup) -> String {
    format!("{}, job {}, step {}", s.file, s.job, s.step)
}

/// A scope for this build that no other build of the analysis exports to: its target, else its
/// Dockerfile's directory, else `image`.
fn own_scope(ctx: &BuildRuleContext<'_>, ci: &CiCache) -> Option<String> {
    let b = ctx.build;
    let base = b
        .head
        .target
        .clone()
        .or_else(|| {
            let dir = b.dockerfile.rsplit_once('/').map(|(d, _)| d)?;
            Some(dir.rsplit('/').next()?.to_string())
        })
        .unwrap_or_else(|| "image".to_string());
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let taken = |s: &str| {
        ci.peers.iter().any(|p| {
            p.head
                .imports
                .iter()
                .chain(&p.head.exports)
                .any(|e| e.kind == "gha" && e.location == s)
        })
    };
    (0..10)
        .map(|i| {
            if i == 0 {
                clean.clone()
            } else {
                format!("{clean}-{}", i + 1)
            }
        })
        .find(|s| !s.is_empty() && !taken(s))
}

/// The fix, when the workflow with `edits` applied reads again into a step that `ok` accepts.
pub(super) fn verified(
    ctx: &BuildRuleContext<'_>,
    ci: &CiCache,
    text: &str,
    description: &str,
    edits: Vec<Edit>,
    ok: impl Fn(&CiSetup) -> bool,
) -> Option<Fix> {
    let fix = Fix {
        applicability: Applicability::Unsafe,
        description: description.to_string(),
        edits,
    };
    let (_, setup) = crate::engine::workflows::step_after_fix(ctx.kept, &ci.setup, text, &fix)?;
    ok(&setup).then_some(fix)
}

/// `mode=max` on each `cache-to` entry of kind `kind` that exports with `mode=min`.
pub(super) fn mode_edits(setup: &CiSetup, text: &str, kind: &str) -> Option<Vec<Edit>> {
    let mut edits = Vec::new();
    for r in with_entries(text, setup.line?, "cache-to") {
        let raw = &text[r.clone()];
        let Some(e) = parse_entry(raw, true) else {
            continue;
        };
        if e.kind != kind || e.export_mode() != Mode::Min || raw.contains('"') {
            continue;
        }
        if !raw.contains('=') {
            // a bare reference: written out, since `ref,mode=max` is not an entry
            edits.push(Edit::replace(
                &setup.file,
                r,
                format!("type=registry,ref={raw},mode=max"),
            ));
            continue;
        }
        match field_value(raw, "mode") {
            Some(v) => edits.push(Edit::replace(
                &setup.file,
                r.start + v.start..r.start + v.end,
                "max",
            )),
            None => edits.push(Edit::insert(&setup.file, r.end, ",mode=max")),
        }
    }
    (!edits.is_empty()).then_some(edits)
}

/// `scope=<scope>` on every gha entry of the step's `cache-from` and `cache-to`.
fn scope_edits(setup: &CiSetup, text: &str, scope: &str) -> Option<Vec<Edit>> {
    let line = setup.line?;
    let mut edits = Vec::new();
    for (key, export) in [("cache-from", false), ("cache-to", true)] {
        for r in with_entries(text, line, key) {
            let raw = &text[r.clone()];
            if parse_entry(raw, export).is_none_or(|e| e.kind != "gha") {
                continue;
            }
            if raw.contains('"') {
                return None;
            }
            match field_value(raw, "scope") {
                Some(v) if raw[v.clone()].contains("${{") => return None,
                Some(v) => edits.push(Edit::replace(
                    &setup.file,
                    r.start + v.start..r.start + v.end,
                    scope,
                )),
                None => edits.push(Edit::insert(&setup.file, r.end, format!(",scope={scope}"))),
            }
        }
    }
    (!edits.is_empty()).then_some(edits)
}

/// A workflow line: its byte offset and its text without the line ending.
type Line<'a> = (usize, &'a str);

/// The workflow's lines (each with its byte offset, line ending left out), and the range of
/// lines of the step whose `uses:` is on line `uses_line` (1-based) after its `- ` line; `None`
/// when that line is no step's.
fn step_lines(text: &str, uses_line: u32) -> Option<(Vec<Line<'_>>, Range<usize>)> {
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        lines.push((at, l.trim_end_matches(['\n', '\r'])));
        at += l.len();
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let item = |l: &str| {
        let t = l.trim_start();
        t == "-" || t.starts_with("- ")
    };
    let i = (uses_line as usize)
        .checked_sub(1)
        .filter(|i| *i < lines.len())?;
    // the step's list item: the `- ` line at or above `uses:`
    let j = (0..=i)
        .rev()
        .find(|&j| item(lines[j].1) && indent(lines[j].1) <= indent(lines[i].1))?;
    let d = indent(lines[j].1);
    let end = (j + 1..lines.len())
        .find(|&k| {
            let t = lines[k].1.trim_start();
            !t.is_empty() && !t.starts_with('#') && indent(lines[k].1) <= d
        })
        .unwrap_or(lines.len());
    Some((lines, j + 1..end))
}

/// Whether the step whose `uses:` is on line `uses_line` has a `key:` input at all, whatever its
/// value (an expression that picks an entry on some events, an empty string: `with_entries`
/// gives no entry for those).
pub(super) fn has_input(text: &str, uses_line: u32, key: &str) -> bool {
    step_lines(text, uses_line).is_some_and(|(lines, span)| {
        lines[span].iter().any(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        })
    })
}

/// The byte range of each entry of the `key:` input of the step whose `uses:` is on line
/// `uses_line` (1-based): a plain or quoted one-line value, or the lines of a `|` block. Empty
/// when the step or the input is not found, or is written in a way this does not edit (a folded
/// `>` block, a value on the following lines, an escape in a double-quoted value).
pub(super) fn with_entries(text: &str, uses_line: u32, key: &str) -> Vec<Range<usize>> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some((lines, span)) = step_lines(text, uses_line) else {
        return Vec::new();
    };
    let (j, end) = (span.start - 1, span.end);
    for m in j + 1..end {
        let (start, l) = lines[m];
        let Some(rest) = l
            .trim_start()
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
        else {
            continue;
        };
        let v = rest.trim_start();
        let v_at = start + l.len() - v.len();
        if v.starts_with('|') {
            let key_indent = indent(l);
            let mut out = Vec::new();
            for &(s, lk) in &lines[m + 1..end] {
                let t = lk.trim();
                if t.is_empty() {
                    continue;
                }
                if indent(lk) <= key_indent {
                    break;
                }
                if t.starts_with('#') {
                    continue;
                }
                out.push(s + indent(lk)..s + indent(lk) + t.len());
            }
            return out;
        }
        if v.is_empty() || v.starts_with('>') {
            return Vec::new();
        }
        if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let inner = &v[1..];
            return match inner.find(q) {
                Some(e) if !(q == '"' && inner[..e].contains('\\')) => {
                    std::iter::once(v_at + 1..v_at + 1 + e).collect()
                }
                _ => Vec::new(),
            };
        }
        let plain = v.find(" #").map_or(v, |p| &v[..p]).trim_end();
        return std::iter::once(v_at..v_at + plain.len()).collect();
    }
    Vec::new()
}

/// The range of `key`'s value in a CSV cache entry (`type=gha,mode=min`: `mode` → `min`).
fn field_value(raw: &str, key: &str) -> Option<Range<usize>> {
    let mut start = 0;
    for f in raw.split(',') {
        if let Some(v) = f
            .trim_start()
            .strip_prefix(key)
            .and_then(|r| r.trim_start().strip_prefix('='))
        {
            let vs = start + f.len() - v.len();
            return Some(vs..vs + v.trim_end().len());
        }
        start += f.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fix;
    use std::collections::BTreeMap;

    const WF: &str = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - name: Build\n        uses: docker/build-push-action@v6\n        with:\n          context: .\n          cache-from: type=gha\n          cache-to: type=gha # the default mode\n      - name: Other\n        uses: docker/build-push-action@v6\n        with:\n          cache-to: |\n            type=local,dest=/tmp/c,mode=min\n            type=gha,scope=x\n          cache-from: \"type=gha,scope=x\"\n";

    fn at(text: &str, r: &[Range<usize>]) -> Vec<String> {
        r.iter().map(|r| text[r.clone()].to_string()).collect()
    }

    #[test]
    fn entries_of_a_step() {
        assert_eq!(at(WF, &with_entries(WF, 8, "cache-to")), ["type=gha"]);
        assert_eq!(at(WF, &with_entries(WF, 8, "cache-from")), ["type=gha"]);
        assert_eq!(
            at(WF, &with_entries(WF, 14, "cache-to")),
            ["type=local,dest=/tmp/c,mode=min", "type=gha,scope=x"]
        );
        assert_eq!(
            at(WF, &with_entries(WF, 14, "cache-from")),
            ["type=gha,scope=x"]
        );
        assert!(with_entries(WF, 14, "no-cache").is_empty());
        assert!(with_entries(WF, 99, "cache-to").is_empty());
    }

    #[test]
    fn the_steps_named_are_bounded() {
        let step = |line: u32| Step {
            line,
            end_line: line,
            stage: String::new(),
            instruction: String::new(),
            status: Status::Rebuilt,
            confidence: crate::engine::report::Confidence::Exact,
            cause: None,
            notes: Vec::new(),
            kind: crate::engine::report::Kind::Run,
            estimated_seconds: None,
            estimated_range: None,
            cost_source: None,
            cost_label: None,
            classes: Vec::new(),
        };
        let steps: Vec<Step> = (1..=40).map(step).collect();
        let refs: Vec<&Step> = steps.iter().collect();
        assert_eq!(also(&refs[..1]), None);
        assert_eq!(also(&refs[..2]).as_deref(), Some("line 2"));
        assert_eq!(also(&refs[..3]).as_deref(), Some("lines 2 and 3"));
        assert_eq!(
            also(&refs).as_deref(),
            Some("lines 2, 3, 4, 5, 6 and 34 more")
        );
    }

    #[test]
    fn fields() {
        let raw = "type=local,dest=/tmp/c, mode=min";
        assert_eq!(&raw[field_value(raw, "mode").unwrap()], "min");
        assert_eq!(&raw[field_value(raw, "dest").unwrap()], "/tmp/c");
        assert_eq!(field_value(raw, "scope"), None);
    }

    #[test]
    fn edits_read_back_as_they_say() {
        let setup = |line: u32, step_index: usize| CiSetup {
            file: "w.yml".into(),
            job: "build".into(),
            line: Some(line),
            step_index,
            ..Default::default()
        };
        let apply = |edits: Vec<Edit>| {
            let f = Fix {
                applicability: Applicability::Unsafe,
                description: String::new(),
                edits,
            };
            let files = BTreeMap::from([("w.yml".to_string(), WF.to_string())]);
            fix::apply(&files, &[&f]).0.remove("w.yml").unwrap()
        };
        let memo = crate::engine::memo::Memo::default();
        let t = apply(mode_edits(&setup(8, 1), WF, "gha").unwrap());
        assert!(
            t.contains("cache-to: type=gha,mode=max # the default mode"),
            "{t}"
        );
        let s = crate::engine::workflows::step_setup(&memo, &setup(8, 1), &t).unwrap();
        assert_eq!(s.exports[0].export_mode(), Mode::Max);
        let t = apply(mode_edits(&setup(14, 2), WF, "local").unwrap());
        assert!(t.contains("type=local,dest=/tmp/c,mode=max\n"), "{t}");
        let t = apply(scope_edits(&setup(14, 2), WF, "api").unwrap());
        assert!(t.contains("cache-from: \"type=gha,scope=api\""), "{t}");
        assert!(t.contains("            type=gha,scope=api\n"), "{t}");
        let s = crate::engine::workflows::step_setup(&memo, &setup(14, 2), &t).unwrap();
        assert_eq!(s.imports[0].location, "api");
        let t = apply(scope_edits(&setup(8, 1), WF, "api").unwrap());
        let s = crate::engine::workflows::step_setup(&memo, &setup(8, 1), &t).unwrap();
        assert_eq!(s.imports[0].location, "api");
        assert_eq!(s.exports[0].location, "api");
    }
}
