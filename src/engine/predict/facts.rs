//! The cost facts of a predicted build: for every step of the head, what the cost model needs
//! (its kind, command, what it copies and how many bytes, the caches it refetches, the tested
//! files it would read).

use super::explain::referenced_vars;
use super::model::{Ctx, SideSim, Skeleton};
use super::sim::{self, EnvVar, Op, StepVertex, VId, Vertex};
use super::{content, writes};
use crate::engine::cost::StepFact;
use crate::engine::dockerfile::Kind;
use crate::engine::input::BuildInput;
use crate::engine::tree::Side;

/// What the cost model needs about each step of the head Dockerfile.
pub(super) fn step_facts(ctx: &Ctx<'_>, build: &BuildInput, head: &SideSim) -> Vec<StepFact> {
    let skeleton = head.skeleton.get_or_init(|| skeleton(ctx, head));
    skeleton
        .iter()
        .map(|k| {
            let (bytes, remote) = match k.copy {
                Some(v) => copy_bytes(ctx, &build.context, &head.sim.vertices[v], head),
                None => (None, false),
            };
            let absent_files = match k.exec {
                Some(v) => absent_tested_files(ctx, &build.context, head, v, 1),
                None => Vec::new(),
            };
            StepFact {
                line: k.line,
                kind: k.kind,
                stage: k.stage.clone(),
                position: k.position,
                pattern: k.pattern.clone(),
                texts: k.texts.clone(),
                command: k.command.clone(),
                // on a fresh CI runner a cache mount starts empty (no cache backend exports
                // one): the step is priced as if it had none
                cache_mounts: if build.ci.is_none() {
                    k.cache_mounts.clone()
                } else {
                    std::sync::Arc::default()
                },
                bytes,
                remote,
                refetch: k.refetch.clone(),
                absent_files,
            }
        })
        .collect()
}

fn skeleton(ctx: &Ctx<'_>, head: &SideSim) -> Vec<Skeleton> {
    let mut out = Vec::new();
    for st in &head.sim.stages {
        // one name per stage, shared by its steps
        let stage: std::sync::Arc<str> = st.info.display_name().into();
        let mut k = 0u32;
        if st.image_vertex.is_some() {
            k += 1;
        }
        for idx in st.info.from..st.info.end {
            let inst = &head.df.instructions[idx];
            if !inst.kind.is_step() {
                continue;
            }
            let position = if inst.kind == Kind::From {
                st.image_vertex.map(|_| 1)
            } else {
                k += 1;
                Some(k)
            };
            let vid = match head.sim.step.get(&idx) {
                Some(StepVertex::Vertex(v)) => Some(*v),
                _ => None,
            };
            let vertex = vid.map(|v| &head.sim.vertices[v]);
            let raw = inst.display(usize::MAX);
            let mut texts = vec![raw.clone()];
            if let Some(v) = vertex {
                let expanded = expand_for_display(&raw, &v.detail.env);
                if expanded != raw {
                    texts.push(expanded);
                }
            }
            let (command, cache_mounts) = match vertex.map(|v| &v.op) {
                Some(op @ Op::Exec { .. }) => (
                    vertex.map(|v| v.detail.text.clone()).unwrap_or_default(),
                    cache_targets(op).into_iter().map(str::to_string).collect(),
                ),
                Some(Op::Image { reference, .. }) => (reference.clone(), Vec::new()),
                _ => (String::new(), Vec::new()),
            };
            let copy = vid.filter(|v| matches!(head.sim.vertices[*v].op, Op::Copy { .. }));
            let exec = vid.filter(|v| matches!(head.sim.vertices[*v].op, Op::Exec { .. }));
            out.push(Skeleton {
                line: inst.line,
                kind: inst.kind,
                stage: stage.clone(),
                position,
                pattern: variable_pattern(&raw).map(Into::into),
                texts: texts.into(),
                command: command.into(),
                cache_mounts: cache_mounts.into(),
                refetch: exec
                    .map(|v| refetches(ctx, head, v))
                    .unwrap_or_default()
                    .into(),
                copy,
                exec,
            });
        }
    }
    out
}

pub(super) fn cache_targets(op: &Op) -> Vec<&str> {
    match op {
        Op::Exec { mounts, .. } => mounts
            .iter()
            .filter(|m| m.fields.iter().any(|(k, v)| k == "type" && v == "cache"))
            .map(|m| m.target.as_str())
            .collect(),
        _ => Vec::new(),
    }
}

/// Download classes a RUN repeats: it reads what an earlier step of its stage (or the stages
/// below it) downloaded into a cache mount it does not mount itself.
pub(super) fn refetches(ctx: &Ctx<'_>, head: &SideSim, v: VId) -> Vec<&'static str> {
    use crate::engine::cost::{download_uses, downloads, mount_covers};
    let vx = &head.sim.vertices[v];
    let mine = cache_targets(&vx.op);
    let uses = download_uses(ctx.kept, &vx.detail.text);
    let mut out = Vec::new();
    // the RUNs above, nearest first, each read once for every download
    let mut above: Option<Vec<(VId, std::sync::Arc<[crate::engine::cost::DownloadUse]>)>> = None;
    for (i, d) in downloads().enumerate() {
        let u = uses[i];
        if u.consumer.is_none() || u.downloads || mine.iter().any(|m| mount_covers(m, d.cache_dir))
        {
            continue;
        }
        let above = above.get_or_insert_with(|| {
            let mut runs = Vec::new();
            let mut cur = vx.parent;
            while let Some(p) = cur {
                let px = &head.sim.vertices[p];
                if matches!(px.op, Op::Exec { .. }) {
                    runs.push((p, download_uses(ctx.kept, &px.detail.text)));
                }
                cur = px.parent;
            }
            runs
        });
        // the nearest download above decides
        if let Some((p, _)) = above.iter().find(|(_, pu)| pu[i].downloads) {
            let mounted = cache_targets(&head.sim.vertices[*p].op)
                .iter()
                .any(|m| mount_covers(m, d.cache_dir));
            if mounted && !out.contains(&d.class) {
                out.push(d.class);
            }
        }
    }
    out
}

/// Files a RUN tests for existence (`[ -f requirements.txt ]`) that cannot be in the stage: a
/// COPY from the context covers where the file would be, the context has no such file, and no
/// other step of the stage (or the stages below it) may have written it. `depth`: how many
/// earlier steps' own tests are read to see that they run nothing (see `runs_nothing`).
pub(super) fn absent_tested_files(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    v: VId,
    depth: u8,
) -> Vec<String> {
    let vx = &head.sim.vertices[v];
    let Op::Exec { cwd, .. } = &vx.op else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let tested = ctx
        .kept
        .get_or(crate::engine::memo::Kind::Tested, &vx.detail.text, || {
            std::sync::Arc::new(crate::engine::cost::tested_files(&vx.detail.text))
        });
    for f in tested.iter().cloned() {
        if f.contains('$') || f.contains('*') || f.is_empty() {
            continue;
        }
        let abs = if f.starts_with('/') {
            crate::engine::ignore::go_clean(&f)
        } else if cwd.contains(sim::PLACEHOLDER_OPEN) {
            continue;
        } else {
            crate::engine::ignore::go_clean(&format!("/{}/{f}", cwd.trim_end_matches('/')))
        };
        if tested_file_absent(ctx, context, head, vx.parent, &abs, depth) {
            out.push(f);
        }
    }
    out
}

/// Whether the file at `abs` (absolute in the stage) cannot exist when the step after `parent`
/// runs: a COPY from the context would have put it there and the context has no such file (or
/// `.dockerignore` leaves it out), and no step in between made it (a RUN that runs programs may
/// have: see `writes`). `false` when unsure.
pub(super) fn tested_file_absent(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    parent: Option<VId>,
    abs: &str,
    depth: u8,
) -> bool {
    let name = abs.rsplit('/').next().unwrap_or(abs);
    let mut covered = false;
    let mut cur = parent;
    while let Some(p) = cur {
        let px = &head.sim.vertices[p];
        let present = match &px.op {
            // a RUN that names the file, or is known to write where it lies (names its
            // directory, runs there, installs into it) — unless all it runs is guarded by tests
            // of absent files: self-hosted's `if [ -s /usr/src/sentry/enhance-image.sh ]; then
            // /usr/src/sentry/enhance-image.sh; fi` runs nothing when the context has no such
            // script. A program that only might write anywhere (`pip install URL`) is not taken
            // to make the one file a later step tests for: that is a cost estimate, not a cache
            // verdict (`writes::Writes::Maybe` keeps a COPY --from rebuilt, not a guard taken)
            Op::Exec { .. } => {
                (px.detail.text.contains(name)
                    || writes::step_writes(px, abs) == writes::Writes::Yes)
                    && !runs_nothing(ctx, context, head, p, depth)
            }
            Op::Mkdir { path, .. } => path == abs,
            Op::Copy { dest, source, .. } => {
                let d = dest.trim_end_matches('/');
                let under = abs == d || abs.starts_with(&format!("{d}/"));
                if !under {
                    false
                } else if source != "context" {
                    true
                } else {
                    covered = true;
                    let rel = abs[d.len()..].trim_start_matches('/');
                    px.inputs
                        .iter()
                        .any(|i| copied_there(ctx, context, head, i, rel))
                }
            }
            _ => false,
        };
        if present {
            return false;
        }
        cur = px.parent;
    }
    covered
}

/// Whether the RUN `v` runs nothing but existence tests: every other command of it is guarded
/// by a test of a file absent from the stage. Reads `depth` levels of earlier steps (0: `false`),
/// so hostile input with a test on every step stays linear per level.
pub(super) fn runs_nothing(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    v: VId,
    depth: u8,
) -> bool {
    if depth == 0 {
        return false;
    }
    let absent = absent_tested_files(ctx, context, head, v, depth - 1);
    !absent.is_empty()
        && crate::engine::cost::runnable_commands(&head.sim.vertices[v].detail.text, &absent)
            .is_ok_and(|cmds| {
                cmds.iter()
                    .all(|c| crate::engine::shellwords::existence_test(c).is_some())
            })
}

/// Whether a COPY input from the context may put a file at `rel` below its destination
/// (`true` when unsure; asks for the listing it lacks).
pub(super) fn copied_there(
    ctx: &Ctx<'_>,
    context: &str,
    head: &SideSim,
    input: &sim::Input,
    rel: &str,
) -> bool {
    let path = match input {
        sim::Input::Context {
            path,
            wildcard: false,
        } => path,
        sim::Input::Inline { .. } => return false,
        _ => return true,
    };
    let base = path.rsplit('/').next().unwrap_or(path);
    // (candidate, whether only a file counts): the file under a copied directory, or a copied
    // file landing in the destination directory under its own name
    let mut cands = Vec::new();
    if rel.is_empty() {
        cands.push((path.clone(), false));
    } else {
        cands.push((tree_join(path, rel), false));
        if rel == base {
            cands.push((path.clone(), true));
        }
    }
    cands.into_iter().any(|(c, file_only)| {
        if content::is_excluded(&head.ignore, context, &c) {
            return false;
        }
        match ctx.head_tree.exists(&c) {
            crate::engine::tree::Lookup::Loaded(false) => false,
            crate::engine::tree::Lookup::Loaded(true) => {
                let dir = match ctx.head_tree.entry(&c) {
                    crate::engine::tree::Lookup::Loaded(None) => true,
                    crate::engine::tree::Lookup::Loaded(Some(e)) => {
                        e.kind == crate::engine::tree::EntryKind::Dir
                    }
                    crate::engine::tree::Lookup::Missing => false,
                };
                !(file_only && dir)
            }
            crate::engine::tree::Lookup::Missing => {
                ctx.needs.request(Side::Head, &c, false);
                true
            }
        }
    })
}

pub(super) fn tree_join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{}/{rel}", dir.trim_end_matches('/'))
    }
}

/// The text with every variable reference (`$NAME`, `${…}`) replaced by `*`; `None` when it
/// has none.
pub(super) fn variable_pattern(raw: &str) -> Option<String> {
    if !raw.contains('$') {
        return None;
    }
    let mut out = String::new();
    let c: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '$' && i + 1 < c.len() && c[i + 1] == '{' {
            if let Some(end) = c[i..].iter().position(|&x| x == '}') {
                out.push('*');
                i += end + 1;
                continue;
            }
        } else if c[i] == '$' && i + 1 < c.len() && (c[i + 1].is_alphabetic() || c[i + 1] == '_') {
            out.push('*');
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    Some(out)
}

/// Replace `$NAME` and `${NAME}` by values of the step's environment (for matching log names).
pub(super) fn expand_for_display(raw: &str, env: &[EnvVar]) -> String {
    let mut out = raw.to_string();
    for n in referenced_vars(raw) {
        if let Some(v) = env.iter().rev().find(|v| v.name == n) {
            let val = sim::display_value(&v.value);
            out = out
                .replace(&format!("${{{n}}}"), &val)
                .replace(&format!("${n}"), &val);
        }
    }
    out
}

/// Bytes a COPY reads from the build context, when the listing holds them.
pub(super) fn copy_bytes(
    ctx: &Ctx<'_>,
    context: &str,
    v: &Vertex,
    head: &SideSim,
) -> (Option<u64>, bool) {
    let mut total = 0u64;
    let mut known = true;
    let mut remote = false;
    for i in &v.inputs {
        match i {
            sim::Input::Context {
                path,
                wildcard: false,
            } => match ctx.head_tree.entry(path) {
                crate::engine::tree::Lookup::Loaded(Some(e))
                    if e.kind != crate::engine::tree::EntryKind::Dir =>
                {
                    match e.size {
                        Some(s) => total += s,
                        None => known = false,
                    }
                }
                _ => {
                    let key = content::source_key(context, path, false, &head.ignore);
                    let (bytes, all) = ctx.memo.bytes(key, || dir_bytes(ctx, context, path, head));
                    total += bytes;
                    known &= all;
                }
            },
            sim::Input::Remote { .. } => remote = true,
            sim::Input::Inline { content } => total += content.len() as u64,
            _ => known = false,
        }
    }
    (known.then_some(total), remote)
}

/// Bytes of the files under a directory source that reach the build, and whether the listing
/// knew every size. The total is only read when every size is known, so the walk stops at the
/// first file that reaches the build without one (a git listing knows no size: before, a
/// repository-wide `COPY . .` matched every file against the ignore file for nothing).
pub(super) fn dir_bytes(ctx: &Ctx<'_>, context: &str, path: &str, head: &SideSim) -> (u64, bool) {
    let mut total = 0;
    match ctx.head_tree.under(path) {
        crate::engine::tree::Lookup::Loaded(entries) => {
            for (p, e) in entries {
                if e.kind == crate::engine::tree::EntryKind::File
                    && !content::is_excluded(&head.ignore, context, p)
                {
                    match e.size {
                        Some(s) => total += s,
                        None => return (0, false),
                    }
                }
            }
        }
        crate::engine::tree::Lookup::Missing => return (0, false),
    }
    (total, true)
}
