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
//! naming `.git/…` keeps `.git`), and so is one that would drop what another build governed by
//! the same ignore file reads (a demo guessed to use the root context shares the root
//! `.dockerignore` with the main build, whose `git describe` needs `.git`). Safe when the broad COPY is in a stage whose files do not
//! reach the final image (only artifacts are copied out); unsafe otherwise, because the image
//! then no longer holds those files.

use super::{
    Finding, Findings, Meta, Reads, Rule, RuleContext, context_copy, is_broad_source, run_command,
};
use crate::engine::dockerfile::stages::Base;
use crate::engine::dockerfile::{Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::ignore::{Matcher, read_patterns};

pub const RULE: &dyn Rule = &ContextNoise;

const META: Meta = Meta {
    code: "CB002",
    name: "context-noise",
    summary: "a broad COPY takes files that change often and never belong in the image",
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    reads: Reads::Dockerfile,
};

struct ContextNoise;

impl Rule for ContextNoise {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn file(&self, ctx: &RuleContext<'_>, out: &mut Findings<'_, '_>) {
        check(ctx).into_iter().for_each(|f| out.push(f));
    }
}

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
    let Some((idx, inst, base)) = broad_copy(ctx) else {
        return out;
    };
    // the ignore file the fix writes to (created when there is none)
    let file = ctx.ignore.file.clone().unwrap_or_else(|| {
        if ctx.context.is_empty() {
            ".dockerignore".into()
        } else {
            format!("{}/.dockerignore", ctx.context)
        }
    });
    let creates = ctx.ignore.file.is_none();
    let (mut noise, created_entry) = present_noise(ctx, &base, &file, creates);
    if let Some(changes) = ctx.changes {
        add_changed_noise(ctx, changes, &base, &mut noise);
    }
    // files the COPY drops itself with --exclude are not copied: nothing to ignore for them
    let exclude: Vec<String> = inst
        .flags_named("exclude")
        .filter_map(|f| f.value.clone())
        .collect();
    let exclude_drops = |rel: &str| {
        crate::engine::predict::content::excluded_by_copy(ctx.kept, &exclude, &base, false, rel)
    };
    noise.retain(|(rel, _)| !exclude_drops(rel));
    if noise.is_empty() {
        return out;
    }
    // many changed files of one name (every service's Dockerfile of a monorepo whose builds
    // share the root context): one `**/<name>` entry that says how many files it stands for
    let queue = fold(noise, &base);
    // keep only entries that drop nothing a later step needs
    let mut needed = needed_paths(ctx, idx);
    add_shared_reads(ctx, &file, &mut needed);
    let mut kept = keep_harmless(ctx, queue, &needed);
    if kept.is_empty() {
        return out;
    }
    // every file the entries stand for, and how the message names them
    let names: Vec<String> = kept
        .iter()
        .flat_map(|e| {
            if e.members.is_empty() {
                std::slice::from_ref(&e.path)
            } else {
                e.members.as_slice()
            }
        })
        .cloned()
        .collect();
    let shown: Vec<String> = kept.iter().map(Entry::describe).collect();
    if let Some(rel) = &created_entry {
        if !exclude_drops(rel) {
            kept.push(Entry {
                path: rel.clone(),
                pat: rel.clone(),
                members: Vec::new(),
            });
        }
    }
    out.extend(noise_finding(
        ctx,
        (idx, inst),
        &base,
        &file,
        &kept,
        &names,
        &shown,
    ));
    out
}

/// The first broad context COPY of a built stage: its index, the instruction, and the copied
/// directory relative to the context (`""`: all of it).
fn broad_copy<'a>(
    ctx: &RuleContext<'a>,
) -> Option<(usize, &'a crate::engine::dockerfile::Instruction, String)> {
    ctx.df
        .instructions
        .iter()
        .enumerate()
        .find_map(|(i, inst)| {
            if !ctx.reachable(i) {
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
}

/// `rel` below the copied directory `base`.
fn under(base: &str, rel: &str) -> String {
    if base.is_empty() {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// What the COPY takes that never belongs in an image, as (context-relative path, pattern):
/// the Dockerfile and the ignore file when they lie in the copied directory, the usual
/// suspects present (`CANDIDATES`), cargo's `target/`. Also the entry an ignore file the fix
/// creates needs for itself.
fn present_noise(
    ctx: &RuleContext<'_>,
    base: &str,
    file: &str,
    creates: bool,
) -> (Vec<(String, String)>, Option<String>) {
    let under = |rel: &str| under(base, rel);
    let mut noise: Vec<(String, String)> = Vec::new(); // (context-relative path, pattern)
    // the Dockerfile and the ignore file, when they lie in the copied directory; an ignore
    // file the fix creates is listed in itself (else the COPY would take it), but it is not
    // something the COPY copies now
    let mut created_entry: Option<String> = None;
    for own in [ctx.path.to_string(), file.to_string()] {
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
    (noise, created_entry)
}

/// PR mode: the changed files under the copied directory that never belong in an image (docs,
/// CI files), added to `noise` unless listed already.
fn add_changed_noise(
    ctx: &RuleContext<'_>,
    changes: &crate::engine::tree::ChangeSet,
    base: &str,
    noise: &mut Vec<(String, String)>,
) {
    let src_root = ctx.in_context(base);
    // what every build of this context would list: asked once per analysis (a monorepo's
    // builds of the root context all read the same changes)
    let scan = || noise_changes(ctx, changes, &src_root);
    let shared = match ctx.memo {
        Some(m) => m.labelled(
            crate::engine::predict::content::source_key(ctx.context, &src_root, false, ctx.ignore),
            scan,
        ),
        None => std::rc::Rc::new(scan()),
    };
    // this Dockerfile, changed, is noise for its own build even where no rule calls it so
    let own = changes
        .get(ctx.path)
        .filter(|_| {
            !crate::engine::history::is_noise(ctx.path, "")
                && !crate::engine::history::is_manifest(ctx.path)
        })
        .and_then(|c| crate::engine::predict::content::context_relative(ctx.context, &c.path))
        .filter(|rel| {
            !rel.is_empty()
                && (src_root.is_empty() || ctx.path.starts_with(&format!("{src_root}/")))
                && !ctx.ignored(rel)
        })
        .map(|rel| (rel.to_string(), rel.to_string()));
    let own_at = own
        .as_ref()
        .map(|(rel, _)| shared.partition_point(|(r, _)| r < rel));
    let entries = shared
        .iter()
        .enumerate()
        .flat_map(|(i, e)| own.iter().filter(move |_| own_at == Some(i)).chain([e]))
        .chain(own.iter().filter(|_| own_at == Some(shared.len())));
    // What is already listed: the changed paths are distinct and a plain entry's pattern is
    // its path, so a change can only repeat one of the few entries above, or a `docs`
    // pattern (which ends in `docs`, as must a path equal to one): looked up in a set, the
    // rest by a scan of the few. A change touching many files stays linear.
    let listed: Vec<String> = noise.iter().map(|(p, _)| p.clone()).collect();
    let pats: Vec<String> = noise.iter().map(|(_, p)| p.clone()).collect();
    let mut docsish: std::collections::HashSet<&str> = Default::default();
    for (rel, pat) in entries {
        if listed.iter().any(|p| p == rel) {
            continue;
        }
        let fresh = if pat.ends_with("docs") {
            !pats.contains(pat) && docsish.insert(pat)
        } else {
            !pats.contains(pat)
        };
        if fresh {
            noise.push((rel.clone(), pat.clone()));
        }
    }
}

/// What the other builds the same ignore file governs read (a demo whose guessed context is
/// the root shares the root `.dockerignore` with the main build) stays in too, `.git` included
/// when one runs git; what the file already hides from them is not this fix's doing.
fn add_shared_reads(ctx: &RuleContext<'_>, file: &str, needed: &mut Vec<String>) {
    if let Some(shared) = ctx.shared_reads {
        let hidden = |p: &str| {
            ctx.ignore.matcher.as_ref().is_some_and(|m| {
                m.walk_excluded(p).unwrap_or(false) || m.dir_pruned(p).unwrap_or(false)
            })
        };
        let mut seen: std::collections::HashSet<String> = needed.iter().cloned().collect();
        for r in shared.of(ctx.side, file) {
            if r.dockerfile != ctx.path && !seen.contains(&r.path) && !hidden(&r.path) {
                seen.insert(r.path.clone());
                needed.push(r.path.clone());
            }
        }
    }
}

/// The entries of `queue` that drop no path in `needed` and that no RUN names (a summary entry
/// that would is tried file by file).
fn keep_harmless(ctx: &RuleContext<'_>, mut queue: Vec<Entry>, needed: &[String]) -> Vec<Entry> {
    let runs: Vec<String> = ctx.df.instructions.iter().filter_map(run_command).collect();
    let old: &[String] = &ctx.ignore.patterns;
    let flavor = ctx.flavor;
    let mut kept: Vec<Entry> = Vec::new();
    // Each entry is tried after the file's patterns and the entries kept so far. An entry kept
    // drops no needed path, so, as long as every entry is a plain pattern (no `!`), what a trial
    // drops is what the file's own patterns drop plus what the new entry matches: checked
    // against the file's matcher and the entry alone, linear in the entries instead of
    // compiling every prefix of them (`drops_with`). Otherwise the whole trial is compiled.
    let old_matcher = Matcher::new_in(ctx.kept, old, flavor).ok();
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
    let mut at = 0;
    while at < queue.len() {
        let entry = queue[at].clone();
        at += 1;
        let (path, pat) = (&entry.path, &entry.pat);
        let drops_needed = if incremental {
            let (Some(om), Ok(e)) = (
                &old_matcher,
                Matcher::new_with_regexes(ctx.kept, std::slice::from_ref(pat), flavor),
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
                    match trial_drops(ctx.kept, old, &kept, pat, flavor, needed) {
                        Some(d) => d,
                        None => continue,
                    }
                }
            }
        } else {
            match trial_drops(ctx.kept, old, &kept, pat, flavor, needed) {
                Some(d) => d,
                None => continue,
            }
        };
        if drops_needed && !entry.members.is_empty() {
            // the summary would drop a needed file of that name: each file on its own
            let single = entry.members.iter().map(|m| Entry {
                path: m.clone(),
                pat: m.clone(),
                members: Vec::new(),
            });
            queue.splice(at..at, single);
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        let used_by_run = runs.iter().any(|r| {
            if name == ".git" {
                super::runs_git(r)
            } else {
                r.contains(name)
            }
        });
        if !drops_needed && !used_by_run {
            kept.push(entry);
        }
    }
    kept
}

/// The finding for the COPY at `idx`: add the entries `kept` to the ignore file `file` (created
/// when there is none); `None` when they are all there already.
fn noise_finding(
    ctx: &RuleContext<'_>,
    (idx, inst): (usize, &crate::engine::dockerfile::Instruction),
    base: &str,
    file: &str,
    kept: &[Entry],
    names: &[String],
    shown: &[String],
) -> Option<Finding> {
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
    let mut pats: Vec<&str> = kept.iter().map(|e| e.pat.as_str()).collect();
    pats.dedup();
    for p in &pats {
        add.push_str(p);
        add.push('\n');
    }
    // entries already there as patterns are not added twice
    let known: std::collections::HashSet<String> = read_patterns(existing).into_iter().collect();
    if pats.iter().all(|p| known.contains(*p)) {
        return None;
    }
    let applicability = if reaches_final_image(ctx, idx, base, names) {
        Applicability::Unsafe
    } else {
        Applicability::Safe
    };
    let fix = Fix {
        applicability,
        description: format!("add {} to {file}", pats.join(", ")),
        edits: vec![Edit::insert(file, existing.len(), add)],
    };
    let msg = format!(
        "`{}` copies {} from the build context: each edit there rebuilds this step and the ones after it; list {} in {file}",
        inst.display(60),
        shown.join(", "),
        if pats.len() == 1 { "it" } else { "them" }
    );
    Some(META.finding(ctx, inst, msg, Some(fix)))
}

/// The changes under the copied directory `src_root` that never belong in an image and that
/// the ignore file in effect lets through, in order, each with the pattern that lists it (a
/// `docs` directory for what lies in one). What `history::is_noise` says of any Dockerfile but
/// the build's own, so every build of the same context and ignore file reads the same list.
fn noise_changes(
    ctx: &RuleContext<'_>,
    changes: &crate::engine::tree::ChangeSet,
    src_root: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in changes.at_or_under(src_root) {
        let Some(rel) = crate::engine::predict::content::context_relative(ctx.context, &c.path)
        else {
            continue;
        };
        if rel.is_empty() || ctx.ignored(rel) {
            continue;
        }
        if crate::engine::history::is_noise(&c.path, "")
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
            out.push((rel.to_string(), pat));
        }
    }
    out
}

/// Changed files of one name in at least this many places are listed as one entry.
const FOLD_AT: usize = 5;

/// One entry the fix adds: a context-relative path and its pattern, or, folded, the pattern
/// `**/<name>` standing for the files of that name in `members`.
#[derive(Clone)]
struct Entry {
    path: String,
    pat: String,
    /// The files a folded entry stands for (empty: the entry is `path` alone).
    members: Vec<String>,
}

impl Entry {
    /// How the finding's message names the entry: the path, or the count of files it stands
    /// for with the first few of them.
    fn describe(&self) -> String {
        let quote = |p: &str| format!("`{}`", p.replace('`', "'"));
        if self.members.is_empty() {
            return quote(&self.path);
        }
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        let first: Vec<String> = self.members.iter().take(3).map(|m| quote(m)).collect();
        format!(
            "{} files named {} ({} and {} more)",
            self.members.len(),
            quote(name),
            first.join(", "),
            self.members.len() - first.len()
        )
    }
}

/// The noise entries with the plain files of a name that occurs `FOLD_AT` times or more folded
/// into one `**/<name>` entry (under the copied directory `base`), at the place of the first.
/// A name with pattern syntax in it is never folded.
fn fold(noise: Vec<(String, String)>, base: &str) -> Vec<Entry> {
    // the name of an entry that may fold: a plain file entry whose name is no pattern syntax
    fn foldable(path: &str, pat: &str) -> Option<usize> {
        let at = path.rfind('/').map_or(0, |i| i + 1);
        (path == pat && !path[at..].contains(['*', '?', '[', ']', '\\', '!', '#', ' ']))
            .then_some(at)
    }
    let starts: Vec<Option<usize>> = noise.iter().map(|(p, q)| foldable(p, q)).collect();
    let mut count: std::collections::HashMap<&str, usize> = Default::default();
    for ((path, _), at) in noise.iter().zip(&starts) {
        if let Some(at) = at {
            *count.entry(&path[*at..]).or_default() += 1;
        }
    }
    let folded: std::collections::HashSet<String> = count
        .into_iter()
        .filter(|(_, n)| *n >= FOLD_AT)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut out: Vec<Entry> = Vec::new();
    let mut group: std::collections::HashMap<String, usize> = Default::default();
    for ((path, pat), at) in noise.into_iter().zip(starts) {
        let name = match at {
            Some(at) if !folded.is_empty() && folded.contains(&path[at..]) => &path[at..],
            _ => {
                out.push(Entry {
                    path,
                    pat,
                    members: Vec::new(),
                });
                continue;
            }
        };
        match group.get(name) {
            Some(&i) => out[i].members.push(path),
            None => {
                let pat = if base.is_empty() {
                    format!("**/{name}")
                } else {
                    format!("{base}/**/{name}")
                };
                group.insert(name.to_string(), out.len());
                out.push(Entry {
                    path: path.clone(),
                    pat,
                    members: vec![path],
                });
            }
        }
    }
    out
}

/// Whether the file's patterns, the entries kept so far and `pat` together leave out a needed
/// path (`None`: they do not compile).
fn trial_drops(
    kept_memo: &crate::engine::memo::Memo,
    old: &[String],
    kept: &[Entry],
    pat: &str,
    flavor: crate::engine::ignore::Flavor,
    needed: &[String],
) -> Option<bool> {
    let mut trial = old.to_vec();
    trial.extend(kept.iter().map(|e| e.pat.clone()));
    trial.push(pat.to_string());
    let m = Matcher::new_with_regexes(kept_memo, &trial, flavor).ok()?;
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
    // made only when a `COPY --from` of the stage asks (most stages have none)
    let dests = std::cell::OnceCell::new();
    let dests = || -> &Vec<String> {
        dests.get_or_init(|| {
            noise
                .iter()
                .map(|n| {
                    let rel = if base.is_empty() {
                        n.as_str()
                    } else {
                        n.strip_prefix(&format!("{base}/")).unwrap_or(n)
                    };
                    format!("{dest}/{rel}")
                })
                .collect()
        })
    };
    let name = ctx.sim.stages[stage].info.name.clone();
    ctx.df.instructions.iter().enumerate().any(|(i, inst)| {
        let from_here = inst
            .flag_value("from")
            .is_some_and(|f| Some(f.to_ascii_lowercase()) == name || f == stage.to_string());
        if !from_here || !ctx.reachable(i) {
            return false;
        }
        match &inst.body {
            crate::engine::dockerfile::Body::Copy { sources, .. } => {
                sources.iter().any(|s| match s {
                    crate::engine::dockerfile::CopySource::Path(p) => {
                        let q = format!("/{}", p.trim_start_matches('/'))
                            .trim_end_matches('/')
                            .to_string();
                        let under = format!("{q}/");
                        q.is_empty()
                            || q.contains('*')
                            || dests().iter().any(|d| *d == q || d.starts_with(&under))
                    }
                    _ => false,
                })
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(p: &str) -> (String, String) {
        (p.to_string(), p.to_string())
    }

    #[test]
    fn many_files_of_one_name_fold_into_one_counted_entry() {
        let mut noise: Vec<(String, String)> =
            (0..6).map(|i| plain(&format!("s{i}/Dockerfile"))).collect();
        noise.insert(1, plain("README.md"));
        noise.push(("docs/a.md".into(), "docs".into()));
        let e = fold(noise, "");
        let pats: Vec<&str> = e.iter().map(|x| x.pat.as_str()).collect();
        // the group where its first file was; the others as they were
        assert_eq!(pats, ["**/Dockerfile", "README.md", "docs"]);
        assert_eq!(e[0].members.len(), 6);
        assert_eq!(
            e[0].describe(),
            "6 files named `Dockerfile` (`s0/Dockerfile`, `s1/Dockerfile`, `s2/Dockerfile` and 3 more)"
        );
        assert_eq!(e[1].describe(), "`README.md`");
        // fewer than FOLD_AT stay one entry each, under the copied directory too
        let few: Vec<(String, String)> = (0..FOLD_AT - 1)
            .map(|i| plain(&format!("app/s{i}/Dockerfile")))
            .collect();
        assert!(fold(few, "app").iter().all(|x| x.members.is_empty()));
        let many: Vec<(String, String)> = (0..FOLD_AT)
            .map(|i| plain(&format!("app/s{i}/Dockerfile")))
            .collect();
        assert_eq!(fold(many, "app")[0].pat, "app/**/Dockerfile");
        // a name with pattern syntax is never folded
        let odd: Vec<(String, String)> = (0..FOLD_AT)
            .map(|i| plain(&format!("s{i}/a[1].md")))
            .collect();
        assert_eq!(fold(odd, "").len(), FOLD_AT);
    }

    #[test]
    fn the_folded_pattern_matches_every_file_it_stands_for() {
        for flavor in [
            crate::engine::ignore::Flavor::Current,
            crate::engine::ignore::Flavor::Docker2010,
        ] {
            let m = Matcher::new(&["**/Dockerfile".to_string()], flavor).unwrap();
            for p in ["Dockerfile", "a/Dockerfile", "a/b/Dockerfile"] {
                assert!(m.walk_excluded(p).unwrap(), "{p} {flavor:?}");
            }
            assert!(!m.walk_excluded("a/Dockerfile.dev").unwrap());
        }
    }
}
