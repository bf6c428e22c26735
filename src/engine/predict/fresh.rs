//! The prediction on a fresh CI runner: the builder starts empty and imports the caches the
//! workflow step declares (`backend::CiCache`). The warm prediction says which steps have a
//! record with the same key; here a record counts only when an import holds it, and a step
//! whose record holds no result (`mode=min` exports only the final image's layers) is loaded
//! only if nothing needs its result: BuildKit builds the target from the top and runs a step
//! when its key misses or when a running step needs its result and the cache cannot give it
//! (ci-cache-and-build-records.md, "Behaviours measured"). `no-cache` re-runs every step,
//! `no-cache-filters` every step of the named stages but their WORKDIR, and what follows a
//! re-run with the cache ignored misses (its parent's result is new), except what copies files
//! out of it (content-keyed: a hit when the bytes come out the same).

use crate::engine::backend::{Mode, Writer};
use crate::engine::input::CiCache;
use crate::engine::report::{Cause, Confidence, FreshRunner, Note};
use crate::engine::tree::{ChangeSet, Side};
use std::collections::HashSet;

use super::sim::{Input, Op, VId, Vertex};
use super::{BuildInput, Ctx, Res, SideSim, match_vertices, simulate_side, step_line};

/// What one import serves: the head vertices it holds a record of (the key) and those whose
/// record has a result.
struct Served {
    key: Vec<bool>,
    result: Vec<bool>,
    /// Another build's export (named in notes).
    by: Option<String>,
}

/// The results on a fresh runner, from the warm ones. `base` is the build's own base side.
pub fn apply(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    warm: Vec<Res>,
    ci: &CiCache,
) -> Vec<Res> {
    let n = head.sim.vertices.len();
    let served: Vec<Served> = ci
        .sources
        .iter()
        .map(|s| served_by(ctx, build, head, base, &warm, ci, &s.writer))
        .collect();
    let key_hit: Vec<bool> = (0..n).map(|v| served.iter().any(|s| s.key[v])).collect();
    let has_result: Vec<bool> = (0..n).map(|v| served.iter().any(|s| s.result[v])).collect();
    let (forced, cascade) = forced_steps(head, &warm, ci);
    let (state, needed_by) = what_runs(head, &warm, &cascade, &key_hit, &has_result);
    let plan = Plan {
        head,
        ci,
        served,
        key_hit,
        forced,
        cascade,
        state,
        needed_by,
    };
    let mut out: Vec<Res> = Vec::with_capacity(n);
    for (v, w) in warm.iter().enumerate().take(n) {
        let r = plan.result(v, w, &out);
        out.push(r);
    }
    out
}

/// Whether a step runs on the fresh runner: not reached yet, loaded from an import, or run.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Unvisited,
    Loaded,
    Run,
}

/// What `apply` decides every head vertex from: the imports, the steps run with the cache
/// ignored and those inheriting their new result, and which steps run.
struct Plan<'a> {
    head: &'a SideSim,
    ci: &'a CiCache,
    served: Vec<Served>,
    key_hit: Vec<bool>,
    forced: Vec<bool>,
    cascade: Vec<bool>,
    state: Vec<State>,
    needed_by: Vec<Option<VId>>,
}

/// The steps run with the cache ignored (`no-cache`, `no-cache-filters`), and those plus what
/// inherits their new result.
fn forced_steps(head: &SideSim, warm: &[Res], ci: &CiCache) -> (Vec<bool>, Vec<bool>) {
    let n = head.sim.vertices.len();
    let filtered = |stage: usize| {
        let st = &head.sim.stages[stage];
        ci.setup.no_cache_filters.iter().any(|f| {
            let f = f.trim().to_ascii_lowercase();
            st.info.name.as_deref() == Some(f.as_str()) || st.info.display_name() == f
        })
    };
    let mut forced = vec![false; n];
    let mut cascade = vec![false; n];
    for (v, vx) in head.sim.vertices.iter().enumerate() {
        if matches!(warm[v], Res::Unused) || matches!(vx.op, Op::Image { .. }) {
            continue;
        }
        forced[v] = ci.setup.no_cache || (filtered(vx.stage) && !matches!(vx.op, Op::Mkdir { .. }));
        cascade[v] = forced[v] || vx.parent.is_some_and(|p| cascade[p]);
    }
    (forced, cascade)
}

/// What runs: from the target down, and every step whose key misses; with, for each vertex,
/// the first running step found to need its result.
fn what_runs(
    head: &SideSim,
    warm: &[Res],
    cascade: &[bool],
    key_hit: &[bool],
    has_result: &[bool],
) -> (Vec<State>, Vec<Option<VId>>) {
    let n = head.sim.vertices.len();
    let mut state = vec![State::Unvisited; n];
    let mut needed_by: Vec<Option<VId>> = vec![None; n];
    let runs = |v: usize| cascade[v] || !key_hit[v] || !has_result[v];
    let mut stack: Vec<VId> = Vec::new();
    for v in (0..n).rev() {
        if !matches!(warm[v], Res::Unused) && (cascade[v] || !key_hit[v]) {
            stack.push(v);
        }
    }
    if let Some(last) = head.sim.target.and_then(|t| head.sim.stages[t].last) {
        stack.push(last);
    }
    while let Some(v) = stack.pop() {
        if state[v] != State::Unvisited {
            continue;
        }
        let vx = &head.sim.vertices[v];
        if matches!(vx.op, Op::Image { .. }) || !runs(v) {
            state[v] = State::Loaded;
            continue;
        }
        state[v] = State::Run;
        let deps = vx
            .parent
            .into_iter()
            .chain(vx.inputs.iter().filter_map(|i| match i {
                Input::Stage { vid, .. } => *vid,
                _ => None,
            }));
        for d in deps {
            if needed_by[d].is_none() {
                needed_by[d] = Some(v);
            }
            stack.push(d);
        }
    }
    (state, needed_by)
}

/// A miss of `vx` with `cause`, exact, carrying the vertex's notes.
fn miss(vx: &Vertex, cause: Cause, origin_line: u32) -> Res {
    Res::Miss {
        cause,
        confidence: Confidence::Exact,
        notes: vx.notes.clone(),
        origin_line,
    }
}

impl Plan<'_> {
    /// The fresh-runner result of vertex `v`, whose warm result is `w`; `out` holds the results
    /// of the vertices before it.
    fn result(&self, v: VId, w: &Res, out: &[Res]) -> Res {
        let head = self.head;
        let vx = &head.sim.vertices[v];
        let line = step_line(head, vx);
        // an unused stage stays unused; a base image is pulled, not cached or rebuilt
        if matches!(w, Res::Unused) || matches!(vx.op, Op::Image { .. }) {
            return w.clone();
        }
        if self.state[v] != State::Run {
            return self.loaded(v, w);
        }
        if self.forced[v] {
            return miss(vx, self.forced_cause(vx, line), line);
        }
        if let Res::Miss { .. } = w {
            return w.clone();
        }
        if let Some(r) = self.follows(v, out) {
            return r;
        }
        if !self.key_hit[v] {
            return miss(vx, not_imported(self.ci, line), line);
        }
        self.not_exported(v, line)
    }

    /// A step loaded from an import, or never needed: cached, and only likely when it copies
    /// files out of a stage re-run with the cache ignored.
    fn loaded(&self, v: VId, w: &Res) -> Res {
        let mut r = match w {
            Res::Hit { .. } => w.clone(),
            _ => Res::Hit {
                base: v,
                confidence: Confidence::Likely,
                notes: self
                    .served
                    .iter()
                    .find(|s| s.key[v])
                    .and_then(|s| s.by.clone())
                    .map(|by| vec![Note::ServedByOther { by }])
                    .unwrap_or_default(),
            },
        };
        // files copied out of a stage re-run with the cache ignored
        if let Res::Hit {
            confidence, notes, ..
        } = &mut r
        {
            self.note_recopied(v, confidence, notes);
        }
        r
    }

    /// For each stage `v` copies from whose producer was re-run with the cache ignored: the
    /// hit is likely, and a note says the copy may stay cached.
    fn note_recopied(&self, v: VId, confidence: &mut Confidence, notes: &mut Vec<Note>) {
        let head = self.head;
        for i in &head.sim.vertices[v].inputs {
            let Input::Stage {
                stage,
                vid: Some(u),
                ..
            } = i
            else {
                continue;
            };
            if self.cascade[*u] {
                *confidence = Confidence::Likely;
                let note = Note::MayStayCached {
                    stage: head.sim.stages[*stage].info.display_name(),
                    producer_line: step_line(head, &head.sim.vertices[*u]),
                };
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }

    /// Why a step run with the cache ignored misses: `no-cache`, or a `no-cache-filters` stage.
    fn forced_cause(&self, vx: &Vertex, line: u32) -> Cause {
        let ci = self.ci;
        if ci.setup.no_cache {
            Cause::NoCache {
                line,
                file: ci.setup.file.clone(),
            }
        } else {
            Cause::NoCacheFilter {
                line,
                stage: self.head.sim.stages[vx.stage].info.display_name(),
            }
        }
    }

    /// A miss following its parent's miss, when the parent's result is new (re-run with the
    /// cache ignored, or both keys missing).
    fn follows(&self, v: VId, out: &[Res]) -> Option<Res> {
        let head = self.head;
        let vx = &head.sim.vertices[v];
        let p = vx
            .parent
            .filter(|p| self.cascade[*p] || (!self.key_hit[*p] && !self.key_hit[v]))?;
        let Res::Miss { origin_line, .. } = &out[p] else {
            return None;
        };
        let pv = &head.sim.vertices[p];
        let follows = if pv.stage != vx.stage {
            head.df.instructions[head.sim.stages[vx.stage].info.from].line
        } else {
            step_line(head, pv)
        };
        let o = *origin_line;
        Some(miss(
            vx,
            Cause::Follows {
                follows_line: follows,
                origin_line: o,
            },
            o,
        ))
    }

    /// The key is there, the result is not, and a running step needs it: a re-run.
    fn not_exported(&self, v: VId, line: u32) -> Res {
        let head = self.head;
        let by = self.needed_by[v].map_or(line, |u| step_line(head, &head.sim.vertices[u]));
        let (cache, mode) = self
            .ci
            .sources
            .iter()
            .zip(&self.served)
            .find(|(_, s)| s.key[v])
            .map(|(src, _)| {
                let mode = match src.writer {
                    Writer::Own { mode } | Writer::Other { mode, .. } => mode,
                    Writer::Unknown | Writer::Nothing => Mode::Max,
                };
                (src.entry.display(), mode)
            })
            .unwrap_or_else(|| (String::new(), Mode::Min));
        Res::Rerun {
            cause: Cause::NotExported {
                line,
                needed_by: by,
                cache,
                mode,
            },
            notes: Vec::new(),
        }
    }
}

/// Why an import holds no record of a step whose warm key hits.
fn not_imported(ci: &CiCache, line: u32) -> Cause {
    if ci.sources.is_empty() {
        return Cause::NoCacheImport {
            line,
            file: ci.setup.file.clone(),
        };
    }
    for s in &ci.sources {
        if let Writer::Other { peer, .. } = s.writer {
            if let Some(p) = ci.peers.get(peer) {
                return Cause::CacheReplaced {
                    line,
                    cache: s.entry.display(),
                    by: p.label.clone(),
                };
            }
        }
    }
    Cause::CacheEmpty {
        line,
        cache: ci
            .sources
            .first()
            .map(|s| s.entry.display())
            .unwrap_or_default(),
    }
}

/// The records one import holds for the head's vertices.
fn served_by(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    warm: &[Res],
    ci: &CiCache,
    writer: &Writer,
) -> Served {
    let n = head.sim.vertices.len();
    let none = || Served {
        key: vec![false; n],
        result: vec![false; n],
        by: None,
    };
    let of = |res: &[Res], w: &SideSim, mode: Mode, by: Option<String>| {
        let exported = exported(w, mode);
        Served {
            key: res.iter().map(|r| matches!(r, Res::Hit { .. })).collect(),
            result: res
                .iter()
                .map(|r| matches!(r, Res::Hit { base, .. } if exported.contains(base)))
                .collect(),
            by,
        }
    };
    match writer {
        Writer::Nothing => none(),
        Writer::Own { mode } => match base {
            Some(b) => of(warm, b, *mode, None),
            None => none(),
        },
        Writer::Unknown => match base {
            Some(b) => of(warm, b, Mode::Max, None),
            None => none(),
        },
        Writer::Other { mode, side, peer } => {
            let Some(p) = ci.peers.get(*peer) else {
                return none();
            };
            let input = match side {
                Side::Base => &p.build.base,
                Side::Head => &p.build.head,
            };
            let Ok(w) = simulate_side(ctx, &p.build, input, Side::Base, &mut Vec::new()) else {
                return none();
            };
            // the writer built this run's head tree: nothing differs between it and the head
            let same = ChangeSet::default();
            let this_run = Ctx {
                changes: &same,
                base_tree: ctx.head_tree,
                rules: None,
                ..*ctx
            };
            let c = if *side == Side::Head { &this_run } else { ctx };
            let res = match_vertices(c, build, head, Some(&w), None);
            of(&res, &w, *mode, Some(p.label.clone()))
        }
    }
}

/// The canonical records of a side whose results an export with `mode` keeps: every step of
/// the built stages (`max`), or the chain of the target's layers, through the stages it is
/// built `FROM` (`min`).
fn exported(w: &SideSim, mode: Mode) -> HashSet<VId> {
    let mut out = HashSet::default();
    match mode {
        Mode::Max => {
            let all = w.sim.target.is_none();
            for (i, v) in w.sim.vertices.iter().enumerate() {
                if all || w.sim.stages[v.stage].reachable {
                    out.insert(w.canon[i]);
                }
            }
        }
        Mode::Min => {
            let last = w
                .sim
                .target
                .or(w.sim.stages.len().checked_sub(1))
                .and_then(|t| w.sim.stages[t].last);
            let mut cur = last;
            while let Some(v) = cur {
                out.insert(w.canon[v]);
                cur = w.sim.vertices[v].parent;
            }
        }
    }
    out
}

/// What the report says the build was predicted under.
pub fn assumption(ci: &CiCache) -> FreshRunner {
    let s = &ci.setup;
    FreshRunner {
        workflow: s.file.clone(),
        job: s.job.clone(),
        step: s.step.clone(),
        line: s.line,
        imports: ci
            .sources
            .iter()
            .map(|src| {
                let (writer, mode, by) = match &src.writer {
                    Writer::Own { mode } => ("this_build", Some(*mode), None),
                    Writer::Other { mode, peer, .. } => (
                        "other",
                        Some(*mode),
                        ci.peers.get(*peer).map(|p| p.label.clone()),
                    ),
                    Writer::Unknown => ("unknown", None, None),
                    Writer::Nothing => ("nothing", None, None),
                };
                crate::engine::report::CacheImport {
                    cache: src.entry.display(),
                    mode,
                    writer: writer.into(),
                    by,
                }
            })
            .collect(),
        exports: s
            .exports
            .iter()
            .map(|e| format!("{}, mode={}", e.display(), e.export_mode().name()))
            .collect(),
        no_cache: s.no_cache,
        no_cache_filters: s.no_cache_filters.clone(),
        pull: s.pull,
        platforms: s.platforms.clone(),
    }
}
