//! Matching head vertices against the base cache: the base records indexed by op and parent
//! record (once per side simulation), every head vertex a hit, a miss (explained by `explain`
//! or `content`) or unused; the canonical record ids and the vertex keys that identify a vertex
//! across builds.

use crate::engine::hash::HashMap;

use super::model::{BaseIndex, BaseProblem, Ctx, Res, SideSim, VertexKey};
use super::sim::{self, Op, Sim, StepVertex, VId, Vertex};
use super::{content, explain};
use crate::engine::input::BuildInput;
use crate::engine::report::{Cause, Confidence, Note};

pub fn step_line(side: &SideSim, v: &Vertex) -> u32 {
    v.trigger_line
        .unwrap_or_else(|| side.df.instructions[v.inst].line)
}

/// Decide hit or miss for every head vertex.
pub(super) fn match_vertices(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    base: Option<&SideSim>,
    base_problem: Option<BaseProblem>,
) -> Vec<Res> {
    let canon: &[VId] = base.map_or(&[], |b| &b.canon);
    let index = base.map(|b| b.index.get_or_init(|| base_index(b)));
    let mut res: Vec<Res> = Vec::with_capacity(head.sim.vertices.len());
    for v in head.sim.vertices.iter() {
        if !head.sim.stages[v.stage].reachable {
            res.push(Res::Unused);
            continue;
        }
        let line = step_line(head, v);
        let (bparent, parent_confidence) = match parent_record(head, &res, v) {
            Ok(p) => p,
            Err(follows) => {
                res.push(follows);
                continue;
            }
        };
        let Some(b) = base else {
            res.push(no_base(build, v, line, base_problem));
            continue;
        };
        let candidates = index
            .and_then(|i| i.get(&v.op))
            .and_then(|by_parent| by_parent.get(&bparent))
            .map_or(&[][..], Vec::as_slice);
        let cmp = content::Comparison {
            ctx,
            build,
            head,
            base: b,
            res: &res,
            canon,
        };
        let r = match decide(&cmp, v, candidates, parent_confidence) {
            Decision::Hit(hit) => hit,
            Decision::Miss(first_diff) => {
                let notes = v.notes.clone();
                let (cause, confidence, notes) = match first_diff {
                    Some((cause, conf, extra)) => (cause, conf, [notes, extra].concat()),
                    None => (
                        explain::op_diff(head, b, v, bparent),
                        Confidence::Exact,
                        notes,
                    ),
                };
                Res::Miss {
                    cause,
                    confidence,
                    notes,
                    origin_line: line,
                }
            }
        };
        res.push(r);
    }
    res
}

/// The base cache indexed by op and parent record → records. Records are content-addressed: two
/// base vertices with the same parent record, op and inputs are one record. It reads the side
/// alone, so it is made once per side (`SideSim::index`): a history compares every commit with
/// the simulation its parent's prediction already indexed, and a fix measured with the same.
fn base_index(b: &SideSim) -> BaseIndex {
    let canon = &b.canon;
    let mut index: BaseIndex = HashMap::default();
    let all = b.sim.target.is_none();
    for (i, v) in b.sim.vertices.iter().enumerate() {
        if all || b.sim.stages[v.stage].reachable {
            if !index.contains_key(&v.op) {
                index.insert(v.op.clone(), HashMap::default());
            }
            if let Some(by_parent) = index.get_mut(&v.op) {
                let slot = by_parent.entry(v.parent.map(|p| canon[p])).or_default();
                if !slot.contains(&canon[i]) {
                    slot.push(canon[i]);
                }
            }
        }
    }
    index
}

/// The base record the head vertex's parent hit, with that hit's confidence; or, when the
/// parent missed, the vertex's own result: a miss that follows it.
fn parent_record(
    head: &SideSim,
    res: &[Res],
    v: &Vertex,
) -> Result<(Option<VId>, Confidence), Res> {
    let Some(p) = v.parent else {
        return Ok((None, Confidence::Exact));
    };
    match &res[p] {
        Res::Hit {
            base, confidence, ..
        } => Ok((Some(*base), *confidence)),
        Res::Miss {
            origin_line,
            confidence,
            ..
        } => {
            let pv = &head.sim.vertices[p];
            let follows = if pv.stage != v.stage {
                head.df.instructions[head.sim.stages[v.stage].info.from].line
            } else {
                step_line(head, pv)
            };
            Err(Res::Miss {
                cause: Cause::Follows {
                    follows_line: follows,
                    origin_line: *origin_line,
                },
                confidence: *confidence,
                notes: Vec::new(),
                origin_line: *origin_line,
            })
        }
        Res::Unused | Res::Rerun { .. } => Ok((None, Confidence::Exact)),
    }
}

/// A head vertex with no base simulation to compare with: a miss of the base's problem.
fn no_base(build: &BuildInput, v: &Vertex, line: u32, problem: Option<BaseProblem>) -> Res {
    let cause = match problem {
        None | Some(BaseProblem::Missing) => Cause::NewDockerfile { line },
        Some(BaseProblem::NotBuildable) => Cause::BaseNotBuildable { line },
        Some(BaseProblem::Syntax) => Cause::Syntax {
            line,
            file: build.dockerfile.clone(),
        },
    };
    Res::Miss {
        cause,
        confidence: Confidence::Exact,
        notes: v.notes.clone(),
        origin_line: line,
    }
}

/// The first difference a candidate showed: its cause, confidence and notes.
type FirstDiff = Option<(Cause, Confidence, Vec<Note>)>;

/// What the candidate records decide for a head vertex.
enum Decision {
    Hit(Res),
    /// No candidate hits: the first difference found (`None`: no candidate, the op differs).
    Miss(FirstDiff),
}

/// A hit on the first candidate record whose content inputs are the same; else the first
/// difference found.
fn decide(
    cmp: &content::Comparison<'_>,
    v: &Vertex,
    candidates: &[VId],
    parent_confidence: Confidence,
) -> Decision {
    let mut first_diff: FirstDiff = None;
    for &c in candidates {
        match cmp.inputs(v, &cmp.base.sim.vertices[c]) {
            content::Cmp::Same {
                mut confidence,
                notes: extra,
            } => {
                let mut notes = v.notes.clone();
                notes.extend(extra);
                if parent_confidence == Confidence::Likely {
                    confidence = Confidence::Likely;
                }
                // Remote content fetched on every build makes the step (and what follows)
                // likely; a movable base tag is a caveat of the environment, said in the reason.
                if notes.iter().any(|n| matches!(n, Note::RemoteSource { .. })) {
                    confidence = Confidence::Likely;
                }
                // a source path with a variable that has no value here: which files it
                // selects, and so whether they changed, is not known
                if v.inputs.iter().any(sim::Input::path_unknown) {
                    confidence = Confidence::Likely;
                }
                return Decision::Hit(Res::Hit {
                    base: c,
                    confidence,
                    notes,
                });
            }
            content::Cmp::Differs {
                cause,
                confidence,
                notes,
            } => {
                if first_diff.is_none() {
                    first_diff = Some((cause, confidence, notes));
                }
            }
        }
    }
    Decision::Miss(first_diff)
}

/// Canonical record id of every vertex: the first vertex with the same parent record, op and
/// inputs (BuildKit stores one record for identical steps, whichever stage they are in).
pub fn canonical_ids(sim: &Sim) -> Vec<VId> {
    let mut canon: Vec<VId> = Vec::with_capacity(sim.vertices.len());
    let mut seen: HashMap<(Option<VId>, &Op, String), VId> = HashMap::default();
    for (i, v) in sim.vertices.iter().enumerate() {
        let inputs: Vec<String> = v
            .inputs
            .iter()
            .map(|inp| match inp {
                sim::Input::Stage { path, vid, .. } => {
                    format!("stage:{path}:{:?}", vid.map(|x| canon[x]))
                }
                other => format!("{other:?}"),
            })
            .collect();
        let key = (v.parent.map(|p| canon[p]), &v.op, inputs.join("\u{0}"));
        let c = *seen.entry(key).or_insert(i);
        canon.push(c);
    }
    canon
}

/// A key for every vertex of one side, equal across the builds of one analysis when BuildKit
/// would solve the same vertex for both: the parent's key, the op (its environment carries the
/// build args in scope), the inputs (a stage by its vertex's key, the build context by its
/// root-relative path and the effective `.dockerignore`), and the `COPY --exclude` patterns.
/// Both builds read the same head tree, so equal inputs are equal bytes.
pub fn vertex_keys(side: &SideSim) -> Vec<VertexKey> {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut keys: Vec<VertexKey> = Vec::with_capacity(side.sim.vertices.len());
    // the effective ignore file, hashed once: every context input of the side names it
    let ignore: VertexKey = {
        let mut h = Hashing(Sha256::new());
        let _ = write!(h, "{:?}{:?}", side.ignore.file, side.ignore.patterns);
        h.0.finalize().into()
    };
    // an environment is shared by the steps that saw it: hashed once, not once per step
    let mut envs: HashMap<*const Vec<String>, VertexKey> = HashMap::default();
    for (i, v) in side.sim.vertices.iter().enumerate() {
        // the parts are written into the digest as they are formatted, never into a string
        let mut h = Hashing(Sha256::new());
        let key_of = |x: Option<VId>| x.filter(|x| *x < i).map(|x| keys[x]);
        h.key(key_of(v.parent));
        match &v.op {
            Op::Exec {
                argv,
                env,
                cwd,
                user,
                network,
                security,
                mounts,
            } => {
                let e = *envs.entry(std::sync::Arc::as_ptr(env)).or_insert_with(|| {
                    let mut eh = Sha256::new();
                    for x in env.iter() {
                        eh.update(x.as_bytes());
                        eh.update([0]);
                    }
                    eh.finalize().into()
                });
                let _ = write!(
                    h,
                    "exec:{argv:?}:{cwd:?}:{user:?}:{network:?}:{security:?}:{mounts:?}"
                );
                h.0.update(e);
            }
            other => {
                let _ = write!(h, "{other:?}");
            }
        }
        h.0.update([0]);
        for inp in &v.inputs {
            match inp {
                sim::Input::Stage { path, vid, .. } => {
                    let _ = write!(h, "stage:{path}:");
                    h.key(vid.and_then(|x| key_of(Some(x))));
                }
                sim::Input::Context { .. } => {
                    let _ = write!(h, "{inp:?}:");
                    h.0.update(ignore);
                }
                other => {
                    let _ = write!(h, "{other:?}");
                }
            }
            h.0.update([0]);
        }
        let _ = write!(h, "{:?}", v.exclude);
        keys.push(h.0.finalize().into());
    }
    keys
}

/// A digest that formatted text is written into (`vertex_keys`).
struct Hashing(sha2::Sha256);

impl Hashing {
    /// Another vertex's key, or its absence, as bytes of fixed length (formatting the 32
    /// numbers was a third of the time of `vertex_keys`).
    fn key(&mut self, k: Option<VertexKey>) {
        match k {
            Some(k) => {
                sha2::Digest::update(&mut self.0, [1]);
                sha2::Digest::update(&mut self.0, k);
            }
            None => sha2::Digest::update(&mut self.0, [0]),
        }
    }
}

impl std::fmt::Write for Hashing {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        sha2::Digest::update(&mut self.0, s.as_bytes());
        Ok(())
    }
}

/// The vertex key of every head step that has a vertex (a `FROM <stage>` step: the stage's
/// last vertex), by line.
pub(super) fn step_keys(head: &SideSim) -> HashMap<u32, VertexKey> {
    head.step_keys.get_or_init(|| keys_by_line(head)).clone()
}

fn keys_by_line(head: &SideSim) -> HashMap<u32, VertexKey> {
    let keys = vertex_keys(head);
    let mut out = HashMap::default();
    for (idx, sv) in &head.sim.step {
        let v = match sv {
            StepVertex::Vertex(v) => Some(*v),
            StepVertex::FromStage(p) => head.sim.stages.get(*p).and_then(|st| st.last),
            StepVertex::NoVertex => None,
        };
        if let (Some(v), Some(inst)) = (v, head.df.instructions.get(*idx)) {
            if let Some(k) = keys.get(v) {
                out.insert(inst.line, *k);
            }
        }
    }
    out
}
