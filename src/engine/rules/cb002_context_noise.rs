//! CB002 context noise.
//!
//! **What it does.** Finds files under a broad `COPY` that change often and never belong in an
//! image: `.git`, the Dockerfile itself and `.dockerignore`, `node_modules`, Rust's `target`,
//! `__pycache__`, editor folders, logs.
//!
//! **Why it costs cache.** BuildKit hashes every file a COPY selects. An edit to any of them,
//! a comment in the Dockerfile included, misses the COPY and every step after it.
//!
//! **Example.** `COPY . .` with no `.dockerignore`: a commit that only touches the Dockerfile's
//! comments rebuilds the whole stage. The fix adds the entries to the `.dockerignore` in
//! effect (or creates `<context>/.dockerignore`).
//!
//! **Fix safety.** Each entry is checked with the `.dockerignore` matcher against the tree: an
//! entry that would drop a file another COPY or a RUN needs is left out (a RUN running `git` or
//! naming `.git/…` keeps `.git`). Safe when the broad COPY is in a stage whose files do not
//! reach the final image (only artifacts are copied out); unsafe otherwise, because the image
//! then no longer holds those files.

use super::{Finding, Rule, RuleContext, context_copy, finding, is_broad_source, run_command};
use crate::engine::dockerfile::stages::Base;
use crate::engine::dockerfile::{Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::ignore::{Matcher, read_patterns};

pub const RULE: Rule = Rule {
    code: "CB002",
    name: "context-noise",
    summary: "a broad COPY takes files that change often and never belong in the image",
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    check,
};

/// Noise candidates: (name at the top of the copied directory, ignore pattern, what it is).
const CANDIDATES: &[(&str, &str)] = &[
    (".git", ".git"),
    ("node_modules", "node_modules"),
    ("__pycache__", "**/__pycache__"),
    (".idea", ".idea"),
    (".vscode", ".vscode"),
    (".DS_Store", "**/.DS_Store"),
    ("npm-debug.log", "*.log"),
    ("yarn-error.log", "*.log"),
    (".pytest_cache", ".pytest_cache"),
    (".mypy_cache", ".mypy_cache"),
];

fn check(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    // the first broad context COPY of a built stage
    let Some((idx, inst, base)) = ctx
        .df
        .instructions
        .iter()
        .enumerate()
        .find_map(|(i, inst)| {
            let stage = ctx.stage_of(i)?;
            if !stage.reachable {
                return None;
            }
            let (srcs, _) = context_copy(inst)?;
            let broad = srcs.iter().find(|s| is_broad_source(ctx, s))?;
            let b = broad.trim_end_matches('/').trim_start_matches("./");
            Some((
                i,
                inst,
                if b == "." {
                    String::new()
                } else {
                    b.to_string()
                },
            ))
        })
    else {
        return out;
    };
    let under = |rel: &str| {
        if base.is_empty() {
            rel.to_string()
        } else {
            format!("{base}/{rel}")
        }
    };
    let mut noise: Vec<(String, String)> = Vec::new(); // (context-relative path, pattern)
    // the ignore file the fix writes to (created when there is none)
    let file = ctx.ignore.file.clone().unwrap_or_else(|| {
        if ctx.context.is_empty() {
            ".dockerignore".into()
        } else {
            format!("{}/.dockerignore", ctx.context)
        }
    });
    let creates = ctx.ignore.file.is_none();
    // the Dockerfile and the ignore file, when they lie in the copied directory; an ignore
    // file the fix creates is listed in itself (else the COPY would take it), but it is not
    // something the COPY copies now
    let mut created_entry: Option<String> = None;
    for own in [ctx.path.to_string(), file.clone()] {
        if let Some(rel) = crate::engine::predict::content::context_relative(ctx.context, &own) {
            let inside = base.is_empty() || rel.starts_with(&format!("{base}/"));
            if !inside || rel.is_empty() || ctx.ignored(rel) {
                continue;
            }
            if creates && own == file {
                created_entry = Some(rel.to_string());
            } else if ctx.exists(&own) != Some(false) {
                noise.push((rel.to_string(), rel.to_string()));
            }
        }
    }
    if ctx.tree.is_some() {
        for (name, pattern) in CANDIDATES {
            let rel = under(name);
            if ctx.exists(&ctx.in_context(&rel)) == Some(true) && !ctx.ignored(&rel) {
                let pat =
                    if base.is_empty() || pattern.starts_with("**") || pattern.starts_with('*') {
                        pattern.to_string()
                    } else {
                        format!("{base}/{pattern}")
                    };
                if !noise.iter().any(|(_, p)| *p == pat) {
                    noise.push((rel, pat));
                }
            }
        }
        // Rust's target/ when the context is a cargo project
        if ctx.exists(&ctx.in_context(&under("Cargo.toml"))) == Some(true)
            && ctx.exists(&ctx.in_context(&under("target"))) == Some(true)
            && !ctx.ignored(&under("target"))
        {
            noise.push((under("target"), under("target")));
        }
    }
    // PR mode: changed files under the source that never belong in an image (docs, CI files)
    if let Some(changes) = ctx.changes {
        let src_root = ctx.in_context(&base);
        // what is already listed, looked up in sets: a change touching many files stays linear
        let mut paths: std::collections::HashSet<String> =
            noise.iter().map(|(p, _)| p.clone()).collect();
        let mut pats: std::collections::HashSet<String> =
            noise.iter().map(|(_, p)| p.clone()).collect();
        for c in changes.at_or_under(&src_root) {
            let Some(rel) = crate::engine::predict::content::context_relative(ctx.context, &c.path)
            else {
                continue;
            };
            if rel.is_empty() || paths.contains(rel) || ctx.ignored(rel) {
                continue;
            }
            if crate::engine::history::is_noise(&c.path, ctx.path)
                && !crate::engine::history::is_manifest(&c.path)
            {
                let pat = if rel.split('/').any(|x| x == "docs") {
                    rel.split("docs")
                        .next()
                        .map(|p| format!("{p}docs"))
                        .unwrap_or(rel.to_string())
                } else {
                    rel.to_string()
                };
                if pats.insert(pat.clone()) {
                    paths.insert(rel.to_string());
                    noise.push((rel.to_string(), pat));
                }
            }
        }
    }
    // files the COPY drops itself with --exclude are not copied: nothing to ignore for them
    let exclude: Vec<String> = inst
        .flags_named("exclude")
        .filter_map(|f| f.value.clone())
        .collect();
    let exclude_drops =
        |rel: &str| crate::engine::predict::content::excluded_by_copy(&exclude, &base, false, rel);
    noise.retain(|(rel, _)| !exclude_drops(rel));
    if noise.is_empty() {
        return out;
    }
    // keep only entries that drop nothing a later step needs
    let needed = needed_paths(ctx, idx);
    let runs: Vec<String> = ctx.df.instructions.iter().filter_map(run_command).collect();
    let old = ctx.ignore.patterns.clone();
    let flavor = ctx.flavor;
    let mut kept: Vec<(String, String)> = Vec::new();
    // Each entry is tried after the file's patterns and the entries kept so far. An entry kept
    // drops no needed path, so, as long as every entry is a plain pattern (no `!`), what a trial
    // drops is what the file's own patterns drop plus what the new entry matches: checked
    // against the file's matcher and the entry alone, linear in the entries instead of
    // compiling every prefix of them (`drops_with`). Otherwise the whole trial is compiled.
    let old_matcher = Matcher::new(&old, flavor).ok();
    let mut incremental = old_matcher.is_some();
    // what the file's own patterns already drop, checked once
    let old_drops = old_matcher.as_ref().is_some_and(|om| {
        needed
            .iter()
            .any(|n| om.walk_excluded(n).unwrap_or(false) || om.dir_pruned(n).unwrap_or(false))
    });
    // every needed path and its directories: a literal entry drops a needed path when it is one
    let keys: Option<std::collections::HashSet<&str>> = needed
        .iter()
        .map(|n| crate::engine::ignore::literal_keys(n))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.into_iter().flatten().collect());
    for (path, pat) in &noise {
        let drops_needed = if incremental {
            let (Some(om), Ok(e)) = (
                &old_matcher,
                Matcher::new(std::slice::from_ref(pat), flavor),
            ) else {
                continue;
            };
            let quick: Option<Vec<bool>> = match (e.as_literal(), &keys) {
                (Some(lit), Some(keys)) if om.appends_plainly(&e) => Some(vec![keys.contains(lit)]),
                _ => needed.iter().map(|n| om.newly_drops(&e, n)).collect(),
            };
            match quick {
                Some(v) => old_drops || v.into_iter().any(|d| d),
                None => {
                    incremental = false;
                    match trial_drops(&old, &kept, pat, flavor, &needed) {
                        Some(d) => d,
                        None => continue,
                    }
                }
            }
        } else {
            match trial_drops(&old, &kept, pat, flavor, &needed) {
                Some(d) => d,
                None => continue,
            }
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        let used_by_run = runs.iter().any(|r| {
            if name == ".git" {
                // `git …` (not `git clone`), or `.git` named as a path (`cat .git/HEAD`)
                r.split(['&', ';', '|', '\n']).any(|c| {
                    let w: Vec<&str> = c.split_whitespace().collect();
                    w.first() == Some(&"git") && w.get(1) != Some(&"clone")
                }) || r.match_indices(".git").any(|(i, _)| {
                    !r[i + 4..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                })
            } else {
                r.contains(name)
            }
        });
        if !drops_needed && !used_by_run {
            kept.push((path.clone(), pat.clone()));
        }
    }
    if kept.is_empty() {
        return out;
    }
    let names: Vec<String> = kept.iter().map(|(p, _)| p.clone()).collect();
    if let Some(rel) = &created_entry {
        if !exclude_drops(rel) {
            kept.push((rel.clone(), rel.clone()));
        }
    }
    let existing = ctx.ignore_text.unwrap_or("");
    let mut add = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        add.push('\n');
    }
    // one header per file: entries added by a later run go below the file's end without it
    const HEADER: &str =
        "# files that change often and never belong in the image (cachebust CB002)";
    if !existing.lines().any(|l| l.trim_end() == HEADER) {
        add.push_str(HEADER);
        add.push('\n');
    }
    let mut pats: Vec<&str> = kept.iter().map(|(_, p)| p.as_str()).collect();
    pats.dedup();
    for p in &pats {
        add.push_str(p);
        add.push('\n');
    }
    // entries already there as patterns are not added twice
    let known: std::collections::HashSet<String> = read_patterns(existing).into_iter().collect();
    if pats.iter().all(|p| known.contains(*p)) {
        return out;
    }
    let applicability = if reaches_final_image(ctx, idx, &base, &names) {
        Applicability::Unsafe
    } else {
        Applicability::Safe
    };
    let fix = Fix {
        applicability,
        description: format!("add {} to {file}", pats.join(", ")),
        edits: vec![Edit::insert(&file, existing.len(), add)],
    };
    let msg = format!(
        "`{}` copies {} from the build context: each edit there rebuilds this step and the ones after it; list {} in {file}",
        inst.display(60),
        names
            .iter()
            .map(|n| format!("`{}`", n.replace('`', "'")))
            .collect::<Vec<_>>()
            .join(", "),
        if pats.len() == 1 { "it" } else { "them" }
    );
    out.push(finding(&RULE, ctx, inst, msg, Some(fix)));
    out
}

/// Whether the file's patterns, the entries kept so far and `pat` together leave out a needed
/// path (`None`: they do not compile).
fn trial_drops(
    old: &[String],
    kept: &[(String, String)],
    pat: &str,
    flavor: crate::engine::ignore::Flavor,
    needed: &[String],
) -> Option<bool> {
    let mut trial = old.to_vec();
    trial.extend(kept.iter().map(|(_, p)| p.clone()));
    trial.push(pat.to_string());
    let m = Matcher::new(&trial, flavor).ok()?;
    Some(
        needed
            .iter()
            .any(|n| m.walk_excluded(n).unwrap_or(false) || m.dir_pruned(n).unwrap_or(false)),
    )
}

/// Context-relative sources of the other COPY/ADD and bind mounts (they must stay in the context).
fn needed_paths(ctx: &RuleContext<'_>, broad: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (i, inst) in ctx.df.instructions.iter().enumerate() {
        if i == broad {
            continue;
        }
        if let Some((srcs, _)) = context_copy(inst) {
            for s in srcs {
                if !is_broad_source(ctx, s) {
                    out.push(crate::engine::tree::join_clean("", s));
                }
            }
        }
        if inst.kind == Kind::Run {
            for f in inst.flags_named("mount") {
                let v = f.value.clone().unwrap_or_default();
                if v.contains("from=") {
                    continue;
                }
                for part in crate::engine::dockerfile::stages::split_csv(&v) {
                    if let Some(src) = part
                        .strip_prefix("source=")
                        .or_else(|| part.strip_prefix("src="))
                    {
                        out.push(crate::engine::tree::join_clean("", src));
                    }
                }
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Whether any of the noise files (context-relative `noise`, copied from the broad source
/// `base`) ends up in the target's image: the COPY's stage is the target or an ancestor of it
/// (FROM), or a reachable `COPY --from` of that stage takes a path that contains one.
fn reaches_final_image(ctx: &RuleContext<'_>, idx: usize, base: &str, noise: &[String]) -> bool {
    let Some(&stage) = ctx.sim.stage_of.get(&idx) else {
        return true;
    };
    let Some(target) = ctx.sim.target else {
        return true;
    };
    let mut s = target;
    loop {
        if s == stage {
            return true;
        }
        match ctx.sim.stages[s].base {
            Base::Stage(p) => s = p,
            _ => break,
        }
    }
    let dest = match ctx.sim.step.get(&idx) {
        Some(crate::engine::predict::sim::StepVertex::Vertex(v)) => {
            match &ctx.sim.vertices[*v].op {
                crate::engine::predict::sim::Op::Copy { dest, .. } => {
                    dest.trim_end_matches('/').to_string()
                }
                _ => return true,
            }
        }
        _ => return true,
    };
    if dest.contains(crate::engine::predict::sim::PLACEHOLDER_OPEN) {
        return true;
    }
    let dests: Vec<String> = noise
        .iter()
        .map(|n| {
            let rel = if base.is_empty() {
                n.as_str()
            } else {
                n.strip_prefix(&format!("{base}/")).unwrap_or(n)
            };
            format!("{dest}/{rel}")
        })
        .collect();
    let name = ctx.sim.stages[stage].info.name.clone();
    ctx.df.instructions.iter().enumerate().any(|(i, inst)| {
        let from_here = inst
            .flag_value("from")
            .is_some_and(|f| Some(f.to_ascii_lowercase()) == name || f == stage.to_string());
        if !from_here || !ctx.stage_of(i).is_some_and(|st| st.reachable) {
            return false;
        }
        match &inst.body {
            crate::engine::dockerfile::Body::Copy { sources, .. } => {
                sources.iter().any(|s| match s {
                    crate::engine::dockerfile::CopySource::Path(p) => {
                        let q = format!("/{}", p.trim_start_matches('/'))
                            .trim_end_matches('/')
                            .to_string();
                        q.is_empty()
                            || q.contains('*')
                            || dests
                                .iter()
                                .any(|d| *d == q || d.starts_with(&format!("{q}/")))
                    }
                    _ => false,
                })
            }
            _ => false,
        }
    })
}
