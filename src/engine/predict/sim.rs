//! Simulates one side (base or head) of a build the way BuildKit's Dockerfile frontend
//! dispatches it: stage graph and target reachability, per-stage state (ordered env with
//! move-to-end, ARG values and their precedence, cwd, user, shell, ONBUILD triggers) and, for
//! every instruction that makes an LLB vertex, the fields of its cache key (`Op`) and its
//! content-hashed inputs (`Input`). Sources: buildkit-cache-semantics.md §3–§6, §10.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::engine::dockerfile::stages::{self, Base, StageInfo};
use crate::engine::dockerfile::{
    Body, CommandForm, CopySource, Dockerfile, Heredoc, Instruction, Kind,
};
use crate::engine::expand::{self, Frontend};
use crate::engine::glob::contains_wildcards;
use crate::engine::ignore::go_clean;
use crate::engine::report::{Diagnostic, Note, Severity};
use crate::engine::tree::join_clean;

pub type VId = usize;

/// Which frontend parses and which daemon keys the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Semantics {
    pub frontend: Frontend,
    /// BuildKit ≥ v0.13 solver rules (merge op for `--link`, cache-mount id not keyed).
    pub daemon_current: bool,
    /// The builder resolves tags against the registry on every build (buildx/buildkitd).
    pub resolves_tags: bool,
    /// The builder has BuildKit's merge op (`COPY --link`): a current daemon outside Docker
    /// Engine (config `builder.driver`).
    pub merge_op: bool,
}

/// Where an env value came from (for causes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSrc {
    Image,
    Env { line: u32 },
    Arg { line: u32 },
    BuildArg { line: u32 },
    GlobalArg { line: u32 },
    Platform { line: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub src: EnvSrc,
}

/// The key fields of a mount (selectors and contents left out).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MountKey {
    pub target: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Image {
        reference: String,
        platform: String,
    },
    Exec {
        argv: Vec<String>,
        /// `NAME=value` items, shared by the steps that saw the same environment.
        env: Arc<Vec<String>>,
        cwd: String,
        user: String,
        network: String,
        security: String,
        mounts: Vec<MountKey>,
    },
    Copy {
        names: Vec<String>,
        dest: String,
        chown: String,
        chmod: String,
        flags: Vec<String>,
        source: String,
    },
    Mkdir {
        path: String,
        user: String,
    },
}

impl Input {
    /// Whether the path it reads holds a variable with no value here.
    pub fn path_unknown(&self) -> bool {
        match self {
            Input::Context { path, .. } | Input::Stage { path, .. } | Input::Image { path, .. } => {
                path.contains(PLACEHOLDER_OPEN)
            }
            Input::Remote { url, .. } => url.contains(PLACEHOLDER_OPEN),
            Input::Inline { .. } => false,
        }
    }
}

impl Op {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Image { .. } => "image",
            Op::Exec { .. } => "exec",
            Op::Copy { .. } => "copy",
            Op::Mkdir { .. } => "mkdir",
        }
    }
}

/// A content-hashed input of a vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Files of the build context under `path` (root-relative; a pattern when `wildcard`).
    Context { path: String, wildcard: bool },
    /// Files of another stage's result under `path` (absolute in the stage).
    Stage {
        stage: usize,
        path: String,
        vid: Option<VId>,
    },
    /// Files of an image used with `--from=<image>`.
    Image { reference: String, path: String },
    /// A URL or git source: keyed by the remote (or by `--checksum`).
    Remote {
        url: String,
        checksum: Option<String>,
    },
    /// Heredoc content.
    Inline { content: String },
}

/// Context for explaining a miss: the state the step saw.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Shared with the stage's state and the other steps that saw it (copied only when a
    /// variable is set): a pull request's 32 KiB environment over 10,000 steps is one copy, not
    /// 10,000.
    pub env: Arc<Vec<EnvVar>>,
    pub cwd_line: Option<u32>,
    pub user_line: Option<u32>,
    pub shell_line: Option<u32>,
    pub shell: Vec<String>,
    /// RUN text or exec array joined (without the shell prefix).
    pub text: String,
    /// The raw argument text of the instruction (before expansion).
    pub raw: String,
    /// FROM: the reference as written.
    pub from_raw: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Vertex {
    /// Instruction index the vertex reports under.
    pub inst: usize,
    pub stage: usize,
    pub parent: Option<VId>,
    pub op: Op,
    pub inputs: Vec<Input>,
    /// Set for ONBUILD trigger vertices: the ONBUILD line.
    pub trigger_line: Option<u32>,
    pub notes: Vec<Note>,
    pub detail: Detail,
    /// `COPY --exclude` patterns (current frontend), matched against paths relative to each
    /// context source: excluded files are not copied, so their changes do not count.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SimStage {
    pub info: StageInfo,
    pub base: Base,
    /// The FROM image vertex.
    pub image_vertex: Option<VId>,
    /// The stage's final vertex (None for an empty scratch stage).
    pub last: Option<VId>,
    /// Vertices of this stage in order (image vertex first).
    pub vertices: Vec<VId>,
    pub reachable: bool,
    /// ONBUILD triggers declared in the stage (instruction indices).
    pub onbuild: Vec<usize>,
    /// Writers of paths, for early cutoff: (vertex, kind of writer).
    pub image_reference: Option<String>,
}

/// What an instruction became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepVertex {
    Vertex(VId),
    /// FROM <stage>: no vertex; the status follows the parent stage.
    FromStage(usize),
    /// FROM scratch or WORKDIR /: no vertex.
    NoVertex,
}

#[derive(Debug, Clone)]
pub struct Sim {
    pub stages: Vec<SimStage>,
    pub vertices: Vec<Vertex>,
    pub diagnostics: Vec<Diagnostic>,
    pub target: Option<usize>,
    pub step: HashMap<usize, StepVertex>,
    /// Stage index of every instruction.
    pub stage_of: HashMap<usize, usize>,
    /// Instructions that run as ONBUILD triggers in a child: (child FROM index → vertices).
    pub notes: HashMap<usize, Vec<Note>>,
    pub target_missing: bool,
    /// Bytes of environment copied so far (see `ENV_COPY_LIMIT`), and whether passing it was
    /// reported (once: every variable set after it is left unset, for the same reason).
    env_copied: usize,
    env_copy_reported: bool,
}

pub const PLACEHOLDER_OPEN: char = '\u{E000}';
pub const PLACEHOLDER_CLOSE: char = '\u{E001}';

/// The placeholder name of the base image's working directory.
const IMAGE_WORKDIR: &str = "image workdir";

pub fn placeholder(name: &str) -> String {
    format!("{PLACEHOLDER_OPEN}{name}{PLACEHOLDER_CLOSE}")
}

/// Replace placeholders by `${NAME}` for display.
pub fn display_value(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(PLACEHOLDER_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + PLACEHOLDER_OPEN.len_utf8()..];
        match after.find(PLACEHOLDER_CLOSE) {
            Some(j) => {
                let name = &after[..j];
                if name == IMAGE_WORKDIR {
                    out.push_str("(the base image's WORKDIR)");
                } else {
                    out.push_str(&format!("${{{name}}}"));
                }
                rest = &after[j + PLACEHOLDER_CLOSE.len_utf8()..];
            }
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The names of the placeholders in `s` (variables with no value here), in order, once each.
pub fn unknown_names(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(PLACEHOLDER_OPEN) {
        let after = &rest[i + PLACEHOLDER_OPEN.len_utf8()..];
        let Some(j) = after.find(PLACEHOLDER_CLOSE) else {
            break;
        };
        let name = &after[..j];
        // `image workdir`, `image env`: what the base image holds, not a variable
        if !name.is_empty() && !name.contains(' ') && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &after[j + PLACEHOLDER_CLOSE.len_utf8()..];
    }
    out
}

/// Whether the Dockerfile declares `ARG name` anywhere (before or in a stage).
fn declares_arg(df: &Dockerfile, name: &str) -> bool {
    df.instructions.iter().any(|i| match (&i.kind, &i.body) {
        (Kind::Arg, Body::Arg(a)) => a.iter().any(|(n, _)| n == name),
        _ => false,
    })
}

const AUTO_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// Normalise an image reference the way Docker does (`docker.io/library/…:latest`).
pub fn normalize_image(r: &str) -> String {
    let r = r.trim();
    if r.is_empty() {
        return String::new();
    }
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let last_slash = name.rfind('/');
    let (repo, tag) = match name.rfind(':') {
        Some(i) if last_slash.is_none_or(|s| i > s) => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    let first = repo.split('/').next().unwrap_or_default();
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    full = full.to_ascii_lowercase();
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{full}:{t}@{d}"),
        (None, Some(d)) => format!("{full}@{d}"),
        (Some(t), None) => format!("{full}:{t}"),
        (None, None) => format!("{full}:latest"),
    }
}

/// Whether a normalised reference can move (no digest).
pub fn is_mutable(reference: &str) -> bool {
    !reference.contains('@')
}

/// Inputs for simulating one side.
pub struct SideSpec<'a> {
    pub df: &'a Dockerfile,
    pub build_args: &'a BTreeMap<String, String>,
    pub target: Option<&'a str>,
    pub sem: Semantics,
    /// The build context, root-relative ("" = repository root).
    pub context: &'a str,
}

#[derive(Clone)]
struct State {
    env: Arc<Vec<EnvVar>>,
    /// `env` as `NAME=value` items, made once per environment (None after a change).
    env_items: Option<Arc<Vec<String>>>,
    /// ARG names declared in this stage without a value (still unset).
    cwd: String,
    cwd_config: String,
    cwd_line: Option<u32>,
    user: String,
    user_line: Option<u32>,
    shell: Vec<String>,
    shell_line: Option<u32>,
    /// Whether unknown variables may come from a base image.
    image_env: bool,
}

/// Largest environment of one stage (names and values), in bytes.
pub const ENV_LIMIT: usize = 32 << 10;
/// Most environment bytes one simulation copies. Steps share the environment they saw, and a
/// variable set after a step copies it (and its `NAME=value` items are made again): a pull
/// request alternating `ENV` and `RUN` 5,000 times over a 32 KiB environment would otherwise
/// hold 320 MB. A real Dockerfile copies a few hundred KiB at most.
pub const ENV_COPY_LIMIT: usize = 16 << 20;

impl State {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.env.iter().rev().find(|v| v.name == name) {
            return Some(v.value.clone());
        }
        if self.image_env {
            Some(placeholder(name))
        } else {
            None
        }
    }

    /// Set a variable unless the stage's environment would grow past `ENV_LIMIT` bytes, or the
    /// copy it takes (when a step holds the environment) would pass the simulation's
    /// `ENV_COPY_LIMIT`. `Err` says why it was left unset; past the copy limit only the first
    /// variable says so, the later ones are left unset with `Ok`.
    fn set(&mut self, var: EnvVar, sim: &mut Sim) -> Result<(), String> {
        let others: usize = self
            .env
            .iter()
            .filter(|v| v.name != var.name)
            .map(|v| v.name.len() + v.value.len())
            .sum();
        if others + var.name.len() + var.value.len() > ENV_LIMIT {
            return Err(format!(
                "{}: the stage's environment would grow past {} KiB (cachebust's limit); the variable is left unset",
                var.name,
                ENV_LIMIT >> 10
            ));
        }
        if Arc::strong_count(&self.env) > 1 {
            // a step holds this environment: it is copied, and its items made again
            let cost = 2 * (others + var.name.len() + var.value.len());
            if sim.env_copied + cost > ENV_COPY_LIMIT {
                if std::mem::replace(&mut sim.env_copy_reported, true) {
                    // said once, at the first variable left unset
                    return Ok(());
                }
                return Err(format!(
                    "{}: the steps' environments would pass {} MiB in all (cachebust's limit; each variable set between steps copies the environment); this and every variable set after it are left unset",
                    var.name,
                    ENV_COPY_LIMIT >> 20
                ));
            }
            sim.env_copied += cost;
        }
        let env = Arc::make_mut(&mut self.env);
        env.retain(|v| v.name != var.name);
        env.push(var);
        self.env_items = None;
        Ok(())
    }

    fn env_strings(&mut self) -> Arc<Vec<String>> {
        if let Some(items) = &self.env_items {
            return items.clone();
        }
        let items: Arc<Vec<String>> = Arc::new(
            self.env
                .iter()
                .map(|v| {
                    if v.src == EnvSrc::Image {
                        v.value.clone()
                    } else {
                        format!("{}={}", v.name, v.value)
                    }
                })
                .collect(),
        );
        self.env_items = Some(items.clone());
        items
    }
}

pub fn simulate(spec: &SideSpec<'_>) -> Sim {
    let mut diags = Vec::new();
    let (globals, stage_infos) = stages::split(spec.df);
    let meta = global_args(spec, &globals, &mut diags);
    let (bases, from_notes) = resolve_bases(spec, &stage_infos, &meta, &mut diags);
    let (target, target_missing, reachable) = targeting(spec.df, spec.target, &stage_infos, &bases);
    let mut sim = Sim {
        stages: Vec::new(),
        vertices: Vec::new(),
        diagnostics: diags,
        target,
        step: HashMap::new(),
        stage_of: HashMap::new(),
        notes: from_notes,
        target_missing,
        env_copied: 0,
        env_copy_reported: false,
    };
    let mut final_states: Vec<State> = Vec::new();
    for st in &stage_infos {
        let pass = StagePass {
            spec,
            stage_infos: &stage_infos,
            meta: &meta,
            st,
        };
        let (sstage, state) = pass.run(
            bases[st.index].clone(),
            reachable[st.index],
            &final_states,
            &mut sim,
        );
        sim.stages.push(sstage);
        final_states.push(state);
    }
    sim
}

/// Global ARGs and their values (build args first, then defaults): visible to FROM only.
type Meta = Vec<(String, Option<String>, EnvSrc)>;

/// Phase 1: the global ARGs before the first FROM.
fn global_args(spec: &SideSpec<'_>, globals: &[usize], diags: &mut Vec<Diagnostic>) -> Meta {
    let (df, fe) = (spec.df, spec.sem.frontend);
    let mut meta: Meta = Vec::new();
    for &gi in globals {
        let inst = &df.instructions[gi];
        let Body::Arg(args) = &inst.body else {
            continue;
        };
        for (name, default) in args {
            let lookup = |n: &str| meta_lookup(&meta, n);
            let value = if let Some(v) = spec.build_args.get(name) {
                Some((v.clone(), EnvSrc::BuildArg { line: inst.line }))
            } else if let Some(d) = default {
                match expand::expand_word(d, df.escape, fe, &lookup) {
                    Ok(v) => Some((v, EnvSrc::GlobalArg { line: inst.line })),
                    Err(e) => {
                        diags.push(diag(inst.line, Severity::Error, format!("ARG {name}: {e}")));
                        None
                    }
                }
            } else {
                None
            };
            meta.retain(|(n, _, _)| n != name);
            match value {
                Some((v, src)) => meta.push((name.clone(), Some(v), src)),
                None => meta.push((name.clone(), None, EnvSrc::GlobalArg { line: inst.line })),
            }
        }
    }
    meta
}

/// Phase 2: what each stage builds FROM (an image, an earlier stage, scratch), with the notes
/// of unresolved ARGs by FROM instruction.
fn resolve_bases(
    spec: &SideSpec<'_>,
    stage_infos: &[StageInfo],
    meta: &Meta,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Base>, HashMap<usize, Vec<Note>>) {
    let (df, fe) = (spec.df, spec.sem.frontend);
    let mut bases = Vec::new();
    let mut from_notes: HashMap<usize, Vec<Note>> = HashMap::new();
    for st in stage_infos {
        let inst = &df.instructions[st.from];
        let Body::From { image, .. } = &inst.body else {
            bases.push(Base::Scratch);
            continue;
        };
        let unresolved = std::cell::RefCell::new(Vec::new());
        let lookup = |n: &str| {
            let v = meta_lookup(meta, n);
            if v.is_none() && !AUTO_ARGS.contains(&n) {
                unresolved.borrow_mut().push(n.to_string());
            }
            v
        };
        let expanded = match expand::expand_word(image, df.escape, fe, &lookup) {
            Ok(v) => v,
            Err(e) => {
                diags.push(diag(
                    inst.line,
                    Severity::Error,
                    format!("FROM {}: {e}", clip(image)),
                ));
                image.clone()
            }
        };
        let unresolved = unresolved.into_inner();
        let needs_arg = !unresolved.is_empty();
        if !unresolved.is_empty() {
            let notes = from_notes.entry(st.from).or_default();
            for n in unresolved {
                notes.push(Note::UnresolvedArg { name: n });
            }
        }
        let base = if expanded.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(i) = stage_infos[..st.index]
            .iter()
            .find(|s| s.name.as_deref() == Some(expanded.as_str()))
            .map(|s| s.index)
        {
            Base::Stage(i)
        } else {
            // blank because a build arg has no value here: the build needs that arg (the FROM
            // step's notes say which), which is no fault of the file
            if expanded.trim().is_empty() && !needs_arg {
                diags.push(diag(
                    inst.line,
                    Severity::Error,
                    "base name should not be blank: the FROM image expands to nothing".into(),
                ));
            }
            Base::Image(expanded)
        };
        bases.push(base);
    }
    (bases, from_notes)
}

/// The simulation of the same side with another `--target`, from `sim`: a target changes only
/// which stage is the target, whether it is missing and which stages are reachable (every stage
/// is simulated whatever the target), unless an instruction names `TARGETSTAGE`, whose automatic
/// value is the target's name (`None`: simulate again). The builds of one Dockerfile for other
/// targets (a bake file's) then share one simulation of its stages.
pub fn retarget(sim: &Sim, df: &Dockerfile, target: Option<&str>) -> Option<Sim> {
    if df
        .instructions
        .iter()
        .any(|i| i.shown.contains("TARGETSTAGE"))
    {
        return None;
    }
    let infos: Vec<StageInfo> = sim.stages.iter().map(|s| s.info.clone()).collect();
    let bases: Vec<Base> = sim.stages.iter().map(|s| s.base.clone()).collect();
    let (t, missing, reachable) = targeting(df, target, &infos, &bases);
    let mut out = sim.clone();
    out.target = t;
    out.target_missing = missing;
    for (st, r) in out.stages.iter_mut().zip(reachable) {
        st.reachable = r;
    }
    Some(out)
}

/// Phases 3a and 3b: the target stage, whether a named one is missing, and the stages it reaches.
fn targeting(
    df: &Dockerfile,
    target: Option<&str>,
    stage_infos: &[StageInfo],
    bases: &[Base],
) -> (Option<usize>, bool, Vec<bool>) {
    let (t, missing) = target_stage(target, stage_infos);
    let reachable = match t {
        Some(t) => stages::reachable(t, &stage_deps(df, stage_infos, bases)),
        None => vec![false; stage_infos.len()],
    };
    (t, missing, reachable)
}

/// Phase 3a: the target stage (`--target`, else the last), and whether a named target is
/// missing.
fn target_stage(target: Option<&str>, stage_infos: &[StageInfo]) -> (Option<usize>, bool) {
    match target {
        Some(t) => {
            let t = t.to_ascii_lowercase();
            match stage_infos
                .iter()
                .find(|s| s.name.as_deref() == Some(t.as_str()))
            {
                Some(s) => (Some(s.index), false),
                None => (None, true),
            }
        }
        None => (stage_infos.len().checked_sub(1), false),
    }
}

/// Phase 3b: the stages each stage needs (its base, `--from` references, and those of its
/// parent's ONBUILD triggers, which run in it).
fn stage_deps(df: &Dockerfile, stage_infos: &[StageInfo], bases: &[Base]) -> Vec<Vec<usize>> {
    let refs = |inst: &Instruction, at: usize| -> Vec<usize> {
        stages::referenced_from(inst)
            .iter()
            .filter_map(|r| stages::lookup_stage(stage_infos, r, at))
            .collect()
    };
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); stage_infos.len()];
    for st in stage_infos {
        let parent = match bases[st.index] {
            Base::Stage(p) => Some(p),
            _ => None,
        };
        let row = &mut deps[st.index];
        row.extend(parent);
        for inst in &df.instructions[st.from + 1..st.end] {
            row.extend(refs(inst, st.index));
        }
        if let Some(p) = parent {
            let ps = &stage_infos[p];
            for inst in &df.instructions[ps.from + 1..ps.end] {
                if inst.kind == Kind::Onbuild {
                    row.extend(refs(inst, st.index));
                }
            }
        }
    }
    deps
}

/// Phase 4: one stage dispatched, FROM first (with the parent's ONBUILD triggers), then its
/// instructions in order.
struct StagePass<'a, 'b> {
    spec: &'a SideSpec<'b>,
    stage_infos: &'a [StageInfo],
    meta: &'a Meta,
    st: &'a StageInfo,
}

impl StagePass<'_, '_> {
    fn run(
        &self,
        base: Base,
        reachable: bool,
        final_states: &[State],
        sim: &mut Sim,
    ) -> (SimStage, State) {
        let (st, df) = (self.st, self.spec.df);
        for i in st.from..st.end {
            sim.stage_of.insert(i, st.index);
        }
        let mut sstage = SimStage {
            info: st.clone(),
            base: base.clone(),
            image_vertex: None,
            last: None,
            vertices: Vec::new(),
            reachable,
            onbuild: Vec::new(),
            image_reference: None,
        };
        let (mut state, mut parent) = match &base {
            Base::Image(r) => {
                let vid = self.image_vertex(r, sim);
                sstage.image_vertex = Some(vid);
                sstage.vertices.push(vid);
                if let Op::Image { reference, .. } = &sim.vertices[vid].op {
                    sstage.image_reference = Some(reference.clone());
                }
                sim.step.insert(st.from, StepVertex::Vertex(vid));
                (image_state(), Some(vid))
            }
            Base::Scratch => {
                sim.step.insert(st.from, StepVertex::NoVertex);
                (scratch_state(), None)
            }
            Base::Stage(p) => {
                sim.step.insert(st.from, StepVertex::FromStage(*p));
                let mut state = final_states
                    .get(*p)
                    .map_or_else(unknown_stage_state, |s| s.clone());
                let mut parent = sim.stages[*p].last;
                // ONBUILD triggers of the parent run first.
                for ti in sim.stages[*p].onbuild.clone() {
                    let Body::Onbuild(inner) = &df.instructions[ti].body else {
                        continue;
                    };
                    let mut ctx = self.dispatch_ctx(st.from, Some(df.instructions[ti].line));
                    if let Some(vid) = dispatch(&mut ctx, inner, &mut state, parent, sim) {
                        sstage.vertices.push(vid);
                        parent = Some(vid);
                    }
                }
                (state, parent)
            }
        };
        for idx in st.from + 1..st.end {
            let inst = &df.instructions[idx];
            if inst.kind == Kind::Onbuild {
                sstage.onbuild.push(idx);
                continue;
            }
            let mut ctx = self.dispatch_ctx(idx, None);
            let before = sim.vertices.len();
            if let Some(vid) = dispatch(&mut ctx, inst, &mut state, parent, sim) {
                sstage.vertices.push(vid);
                parent = Some(vid);
                sim.step.insert(idx, StepVertex::Vertex(vid));
            } else if inst.kind.is_step() {
                debug_assert_eq!(before, sim.vertices.len());
                sim.step.insert(idx, StepVertex::NoVertex);
            }
        }
        sstage.last = parent;
        (sstage, state)
    }

    fn dispatch_ctx(&self, inst_index: usize, trigger_line: Option<u32>) -> DispatchCtx<'_, '_> {
        DispatchCtx {
            spec: self.spec,
            stage_infos: self.stage_infos,
            meta: self.meta,
            stage: self.st.index,
            inst_index,
            trigger_line,
        }
    }

    /// The FROM vertex of an image base: its normalised reference and platform.
    fn image_vertex(&self, r: &str, sim: &mut Sim) -> VId {
        let (st, df, fe) = (self.st, self.spec.df, self.spec.sem.frontend);
        let from_inst = &df.instructions[st.from];
        let platform = from_inst
            .flag_value("platform")
            .map(|p| {
                expand::expand_word(p, df.escape, fe, &|n: &str| meta_lookup(self.meta, n))
                    .unwrap_or_else(|_| p.to_string())
            })
            .unwrap_or_default();
        let reference = normalize_image(r);
        let mut notes = Vec::new();
        // a reference with an unresolved build arg (or none at all) names no tag to speak of
        let unresolved = sim
            .notes
            .get(&st.from)
            .is_some_and(|n| n.iter().any(|x| matches!(x, Note::UnresolvedArg { .. })));
        if is_mutable(&reference) && !unresolved && !r.trim().is_empty() {
            notes.push(Note::MutableTag {
                image: r.to_string(),
                engine_checks_registry: self.spec.sem.resolves_tags,
            });
        }
        if let Some(n) = sim.notes.get(&st.from) {
            notes.extend(n.iter().cloned());
        }
        let vid = sim.vertices.len();
        sim.vertices.push(Vertex {
            inst: st.from,
            stage: st.index,
            parent: None,
            op: Op::Image {
                reference,
                platform,
            },
            inputs: Vec::new(),
            trigger_line: None,
            notes,
            exclude: Vec::new(),
            detail: Detail {
                from_raw: Some(image_text(from_inst)),
                raw: from_inst.args_text.clone(),
                ..Default::default()
            },
        });
        vid
    }
}

/// The state after FROM an image: its environment, working directory and user are unknown.
fn image_state() -> State {
    State {
        env: Arc::new(vec![EnvVar {
            name: String::new(),
            value: placeholder("image env"),
            src: EnvSrc::Image,
        }]),
        env_items: None,
        cwd: placeholder(IMAGE_WORKDIR),
        cwd_config: placeholder(IMAGE_WORKDIR),
        cwd_line: None,
        user: String::new(),
        user_line: None,
        shell: vec!["/bin/sh".into(), "-c".into()],
        shell_line: None,
        image_env: true,
    }
}

/// The state after FROM scratch: BuildKit's default PATH, `/`, root.
fn scratch_state() -> State {
    State {
        env: Arc::new(vec![EnvVar {
            name: "PATH".into(),
            value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            src: EnvSrc::Image,
        }]),
        env_items: None,
        cwd: "/".into(),
        cwd_config: "/".into(),
        cwd_line: None,
        user: String::new(),
        user_line: None,
        shell: vec!["/bin/sh".into(), "-c".into()],
        shell_line: None,
        image_env: false,
    }
}

/// The state after FROM a stage not simulated yet (a forward reference).
fn unknown_stage_state() -> State {
    State {
        env: Arc::new(Vec::new()),
        env_items: None,
        cwd: "/".into(),
        cwd_config: "/".into(),
        cwd_line: None,
        user: String::new(),
        user_line: None,
        shell: vec!["/bin/sh".into(), "-c".into()],
        shell_line: None,
        image_env: true,
    }
}

fn image_text(inst: &Instruction) -> String {
    match &inst.body {
        Body::From { image, .. } => image.clone(),
        _ => String::new(),
    }
}

fn meta_lookup(meta: &[(String, Option<String>, EnvSrc)], name: &str) -> Option<String> {
    if let Some((_, v, _)) = meta.iter().rev().find(|(n, _, _)| n == name) {
        return v.clone();
    }
    auto_arg(name)
}

/// Values of the automatic platform ARGs. The builder's platform is not in the trees; cachebust
/// assumes linux/amd64, the platform of GitHub's hosted runners (docs/how-it-works.md, "Further assumptions").
pub fn auto_arg(name: &str) -> Option<String> {
    Some(
        match name {
            "BUILDPLATFORM" | "TARGETPLATFORM" => "linux/amd64",
            "BUILDOS" | "TARGETOS" => "linux",
            "BUILDARCH" | "TARGETARCH" => "amd64",
            "BUILDVARIANT" | "TARGETVARIANT" => "",
            _ => return None,
        }
        .to_string(),
    )
}

/// A word quoted in a message: at most 60 characters of it.
fn clip(word: &str) -> String {
    match word.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_string(),
    }
}

fn diag(line: u32, severity: Severity, message: String) -> Diagnostic {
    Diagnostic {
        line,
        severity,
        message,
        file: None,
    }
}

struct DispatchCtx<'a, 'b> {
    spec: &'a SideSpec<'b>,
    stage_infos: &'a [StageInfo],
    meta: &'a [(String, Option<String>, EnvSrc)],
    stage: usize,
    inst_index: usize,
    trigger_line: Option<u32>,
}

impl DispatchCtx<'_, '_> {
    /// The line a step of `inst` is reported at: the ONBUILD trigger's, when it runs one.
    fn line_of(&self, inst: &Instruction) -> u32 {
        self.trigger_line.unwrap_or(inst.line)
    }

    /// The value of the automatic `TARGETSTAGE` arg: `--target`, else the last stage's name,
    /// else `default`.
    fn target_stage_name(&self) -> String {
        if let Some(t) = self.spec.target {
            return t.to_string();
        }
        self.stage_infos
            .last()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| "default".into())
    }

    fn expand(&self, state: &State, word: &str, line: u32, sim: &mut Sim) -> String {
        let fe = self.spec.sem.frontend;
        match expand::expand_word(word, self.spec.df.escape, fe, &|n: &str| state.lookup(n)) {
            Ok(v) => v,
            Err(e) => {
                sim.diagnostics.push(diag(
                    line,
                    Severity::Error,
                    format!("cannot expand {:?}: {e}", clip(word)),
                ));
                word.to_string()
            }
        }
    }
}

fn push_vertex(
    sim: &mut Sim,
    ctx: &DispatchCtx<'_, '_>,
    parent: Option<VId>,
    op: Op,
    inputs: Vec<Input>,
    notes: Vec<Note>,
    detail: Detail,
) -> VId {
    let vid = sim.vertices.len();
    sim.vertices.push(Vertex {
        inst: ctx.inst_index,
        stage: ctx.stage,
        parent,
        op,
        inputs,
        trigger_line: ctx.trigger_line,
        notes,
        detail,
        exclude: Vec::new(),
    });
    vid
}

/// Context-relative source → root-relative path.
fn context_path(context: &str, src: &str) -> String {
    let rel = join_clean("", src);
    if context.is_empty() {
        rel
    } else if rel.is_empty() {
        context.to_string()
    } else {
        format!("{context}/{rel}")
    }
}

fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

fn is_git(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("git@")
        || l.starts_with("git://")
        || (is_url(&l) && (l.contains(".git#") || l.ends_with(".git")))
}

/// Dispatch one instruction; returns the vertex it made, if any.
fn dispatch(
    ctx: &mut DispatchCtx<'_, '_>,
    inst: &Instruction,
    state: &mut State,
    parent: Option<VId>,
    sim: &mut Sim,
) -> Option<VId> {
    let line = ctx.trigger_line.unwrap_or(inst.line);
    match &inst.body {
        Body::Pairs(pairs) if inst.kind == Kind::Env => {
            dispatch_env(ctx, pairs, state, sim, line);
            None
        }
        Body::Arg(args) => {
            dispatch_arg(ctx, args, state, sim, line);
            None
        }
        Body::Text(t) if inst.kind == Kind::User => {
            state.user = ctx.expand(state, t, line, sim);
            state.user_line = Some(line);
            None
        }
        Body::Shell(argv) => {
            state.shell = argv.clone();
            state.shell_line = Some(line);
            None
        }
        Body::Text(t) if inst.kind == Kind::Workdir => {
            dispatch_workdir(ctx, inst, t, state, parent, sim)
        }
        Body::Run { command, heredocs } => Some(dispatch_run(
            ctx, inst, command, heredocs, state, parent, sim,
        )),
        Body::Copy { sources, dest, .. } => {
            Some(dispatch_copy(ctx, inst, sources, dest, state, parent, sim))
        }
        _ => None,
    }
}

/// `ENV`: every value is expanded against the env before the instruction, then each variable
/// set (a diagnostic for one left unset).
fn dispatch_env(
    ctx: &DispatchCtx<'_, '_>,
    pairs: &[(String, String)],
    state: &mut State,
    sim: &mut Sim,
    line: u32,
) {
    let expanded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                ctx.expand(state, k, line, sim),
                ctx.expand(state, v, line, sim),
            )
        })
        .collect();
    for (k, v) in expanded {
        if let Err(e) = state.set(
            EnvVar {
                name: k,
                value: v,
                src: EnvSrc::Env { line },
            },
            sim,
        ) {
            sim.diagnostics
                .push(diag(line, Severity::Error, format!("ENV {e}")));
        }
    }
}

/// `ARG`: each name that gets a value (`arg_value`) is set (a diagnostic for one left unset).
fn dispatch_arg(
    ctx: &DispatchCtx<'_, '_>,
    args: &[(String, Option<String>)],
    state: &mut State,
    sim: &mut Sim,
    line: u32,
) {
    for (name, default) in args {
        let value = arg_value(ctx, name, default.as_deref(), state, sim, line);
        if let Some((v, src)) = value {
            if let Err(e) = state.set(
                EnvVar {
                    name: name.clone(),
                    value: v,
                    src,
                },
                sim,
            ) {
                sim.diagnostics
                    .push(diag(line, Severity::Error, format!("ARG {e}")));
            }
        } else if PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            // declared proxy arg without a value: nothing exported
        }
    }
}

/// The value of one declared `ARG` and where it came from: a build argument, the default, a
/// global arg's value, the automatic `TARGETSTAGE`, or an automatic platform arg.
fn arg_value(
    ctx: &DispatchCtx<'_, '_>,
    name: &str,
    default: Option<&str>,
    state: &State,
    sim: &mut Sim,
    line: u32,
) -> Option<(String, EnvSrc)> {
    if let Some(v) = ctx.spec.build_args.get(name) {
        Some((v.clone(), EnvSrc::BuildArg { line }))
    } else if let Some(d) = default {
        Some((ctx.expand(state, d, line, sim), EnvSrc::Arg { line }))
    } else if let Some((_, Some(v), src)) = ctx.meta.iter().rev().find(|(n, _, _)| n == name) {
        let src = match src {
            EnvSrc::BuildArg { .. } => EnvSrc::BuildArg { line },
            _ => EnvSrc::Arg { line },
        };
        Some((v.clone(), src))
    } else if name == "TARGETSTAGE" && ctx.spec.sem.frontend == Frontend::Current {
        // the current frontend sets it to the target stage's name ("default" when
        // that stage has none); measured on Docker 28.5.2
        Some((ctx.target_stage_name(), EnvSrc::Platform { line }))
    } else {
        auto_arg(name).map(|v| (v, EnvSrc::Platform { line }))
    }
}

/// `WORKDIR`: the new working directory, and the vertex making it (none for `/`).
fn dispatch_workdir(
    ctx: &DispatchCtx<'_, '_>,
    inst: &Instruction,
    t: &str,
    state: &mut State,
    parent: Option<VId>,
    sim: &mut Sim,
) -> Option<VId> {
    let line = ctx.line_of(inst);
    let p = ctx.expand(state, t, line, sim);
    let (cwd, config) = if p.starts_with('/') {
        (p.clone(), go_clean(&p))
    } else {
        let joined = go_clean(&format!("{}/{}", state.cwd_config, p));
        (go_clean(&format!("{}/{}", state.cwd, p)), joined)
    };
    state.cwd = cwd;
    state.cwd_config = config.clone();
    state.cwd_line = Some(line);
    if config == "/" {
        return None;
    }
    let detail = Detail {
        env: state.env.clone(),
        user_line: state.user_line,
        raw: inst.args_text.clone(),
        ..Default::default()
    };
    Some(push_vertex(
        sim,
        ctx,
        parent,
        Op::Mkdir {
            path: config,
            user: state.user.clone(),
        },
        Vec::new(),
        Vec::new(),
        detail,
    ))
}

fn dispatch_run(
    ctx: &mut DispatchCtx<'_, '_>,
    inst: &Instruction,
    command: &CommandForm,
    heredocs: &[Heredoc],
    state: &mut State,
    parent: Option<VId>,
    sim: &mut Sim,
) -> VId {
    let (sem, line) = (ctx.spec.sem, ctx.line_of(inst));
    let (argv, text) = match command {
        CommandForm::Exec(a) => (a.clone(), a.join(" ")),
        CommandForm::Shell(s) => match legacy_exec(sem, s) {
            Some(a) => (a.clone(), a.join(" ")),
            None => shell_argv(s, heredocs, state),
        },
    };
    let flags = run_flags(ctx, inst, state, sim, line);
    if sem.frontend == Frontend::V0_8 {
        v0_8_run_flags(inst, sim, line);
    }
    let RunFlags {
        network,
        security,
        mut mounts,
        inputs,
    } = flags;
    mounts.sort();
    let op = Op::Exec {
        argv,
        env: state.env_strings(),
        cwd: state.cwd.clone(),
        user: state.user.clone(),
        network,
        security,
        mounts,
    };
    let detail = Detail {
        env: state.env.clone(),
        cwd_line: state.cwd_line,
        user_line: state.user_line,
        shell_line: state.shell_line,
        shell: state.shell.clone(),
        text,
        raw: inst.args_text.clone(),
        from_raw: None,
    };
    push_vertex(sim, ctx, parent, op, inputs, Vec::new(), detail)
}

/// The JSON array a shell-form RUN starts with, read as the exec form: Docker 20.10's frontend
/// reads the first JSON array and ignores trailing text.
fn legacy_exec(sem: Semantics, s: &str) -> Option<Vec<String>> {
    if sem.frontend == Frontend::V0_8 && s.trim_start().starts_with('[') {
        serde_json::Deserializer::from_str(s.trim_start())
            .into_iter::<Vec<String>>()
            .next()
            .and_then(|r| r.ok())
    } else {
        None
    }
}

/// A shell-form RUN's argv and text: the command line followed by its heredoc bodies.
fn shell_argv(s: &str, heredocs: &[Heredoc], state: &State) -> (Vec<String>, String) {
    let mut full = s.to_string();
    for h in heredocs {
        full.push('\n');
        full.push_str(&h.body);
        full.push_str(&h.name);
    }
    // `RUN <<EOF` alone: the body is the command (a `#!` body runs as a file
    // named after the delimiter), so the delimiter's name, quotes and `<<-` do
    // not count (measured on Docker 28.5.2); otherwise one script of the
    // command line and the bodies
    let argv = match heredocs {
        [h] if is_single_heredoc_word(s) => {
            if h.body.starts_with("#!") {
                vec![format!("/dev/pipes/{}", h.name), h.body.clone()]
            } else {
                let mut argv = state.shell.clone();
                argv.push(h.body.clone());
                argv
            }
        }
        _ => {
            let mut argv = state.shell.clone();
            argv.push(full.clone());
            argv
        }
    };
    (argv, full)
}

/// What a RUN's flags key: network, security, mounts (unsorted), and the mounts' inputs.
struct RunFlags {
    network: String,
    security: String,
    mounts: Vec<MountKey>,
    inputs: Vec<Input>,
}

/// Read a RUN's `--network`, `--security` and `--mount` flags (mount values expanded on the
/// current frontend).
fn run_flags(
    ctx: &DispatchCtx<'_, '_>,
    inst: &Instruction,
    state: &State,
    sim: &mut Sim,
    line: u32,
) -> RunFlags {
    let mut out = RunFlags {
        network: "default".to_string(),
        security: "sandbox".to_string(),
        mounts: Vec::new(),
        inputs: Vec::new(),
    };
    for f in &inst.flags {
        let v = f.value.clone().unwrap_or_default();
        match f.name.as_str() {
            "network" => out.network = v,
            "security" => out.security = v,
            "mount" => {
                let v = if ctx.spec.sem.frontend == Frontend::Current {
                    ctx.expand(state, &v, line, sim)
                } else {
                    v
                };
                let (mk, input) = mount_key(ctx, &v, state, sim, line);
                out.mounts.push(mk);
                if let Some(i) = input {
                    out.inputs.push(i);
                }
            }
            _ => {}
        }
    }
    out
}

/// A diagnostic for each RUN flag Docker 20.10's built-in frontend does not have.
fn v0_8_run_flags(inst: &Instruction, sim: &mut Sim, line: u32) {
    for f in &inst.flags {
        if matches!(f.name.as_str(), "network" | "security" | "device") {
            sim.diagnostics.push(diag(
                line,
                Severity::Error,
                format!("RUN --{} is not available in Docker 20.10's built-in frontend (add `# syntax=docker/dockerfile:1`)", f.name),
            ));
        }
    }
}

/// Whether a RUN command is exactly one heredoc word (`<<EOF`, `<<-"EOF"`, `<<'EOF'`).
fn is_single_heredoc_word(command: &str) -> bool {
    let t = command.trim();
    let Some(rest) = t.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    !rest.is_empty() && !rest.contains(char::is_whitespace)
}

/// Mount options Docker 20.10's built-in frontend (v0.8) accepts; it fails the build on others
/// (`unexpected key 'size' in 'size=1m'`, measured).
const V0_8_MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "rw",
    "readwrite",
    "id",
    "sharing",
    "required",
    "mode",
    "uid",
    "gid",
];

/// Key fields of one `--mount` value and its content input.
fn mount_key(
    ctx: &DispatchCtx<'_, '_>,
    value: &str,
    state: &State,
    sim: &mut Sim,
    line: u32,
) -> (MountKey, Option<Input>) {
    let sem = ctx.spec.sem;
    let fields = mount_fields(sem, value, sim, line);
    let ty = fields.get("type").cloned().unwrap_or_else(|| "bind".into());
    let target_raw = fields.get("target").cloned().unwrap_or_default();
    let target = if target_raw.starts_with('/') {
        go_clean(&target_raw)
    } else {
        go_clean(&format!("{}/{}", state.cwd_config, target_raw))
    };
    let mut key: Vec<(String, String)> = vec![("type".into(), ty.clone())];
    let mut input = None;
    match ty.as_str() {
        "bind" => input = Some(bind_key(ctx, &fields, &mut key, sim)),
        "cache" => cache_key(sem, &fields, &target, &target_raw, &mut key),
        "tmpfs" => {
            if sem.daemon_current {
                if let Some(v) = fields.get("size") {
                    key.push(("size".into(), v.clone()));
                }
            }
        }
        "secret" | "ssh" => {
            for f in ["id", "uid", "gid", "mode", "required", "env"] {
                if let Some(v) = fields.get(f) {
                    key.push((f.into(), v.clone()));
                }
            }
        }
        other => {
            sim.diagnostics.push(diag(
                line,
                Severity::Error,
                format!("unsupported mount type {other:?}"),
            ));
        }
    }
    (
        MountKey {
            target,
            fields: key,
        },
        input,
    )
}

/// The options of one `--mount` value, keys lowercased and aliases (`dst`, `src`, `ro`)
/// canonical; an option Docker 20.10's built-in frontend does not know gets a diagnostic.
fn mount_fields(sem: Semantics, value: &str, sim: &mut Sim, line: u32) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for part in stages::split_csv(value) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (part.to_ascii_lowercase(), "true".to_string()),
        };
        let k = match k.as_str() {
            "dst" | "destination" => "target".to_string(),
            "src" => "source".to_string(),
            "ro" | "readonly" => "readonly".to_string(),
            _ => k,
        };
        if sem.frontend == Frontend::V0_8 && !V0_8_MOUNT_KEYS.contains(&k.as_str()) {
            sim.diagnostics.push(diag(
                line,
                Severity::Error,
                format!(
                    "the build fails here: Docker 20.10's built-in frontend does not know the --mount option `{k}` (unexpected key '{k}' in '{part}'; add `# syntax=docker/dockerfile:1`)"
                ),
            ));
        }
        fields.insert(k, v);
    }
    fields
}

/// A bind mount's key fields (pushed onto `key`) and what it reads: a stage, an image, or
/// the build context.
fn bind_key(
    ctx: &DispatchCtx<'_, '_>,
    fields: &BTreeMap<String, String>,
    key: &mut Vec<(String, String)>,
    sim: &Sim,
) -> Input {
    let rw = fields
        .get("rw")
        .or(fields.get("readwrite"))
        .is_some_and(|v| v != "false");
    key.push(("readonly".into(), (!rw).to_string()));
    let source = fields.get("source").cloned().unwrap_or_default();
    key.push(("source".into(), source.clone()));
    let Some(from) = fields.get("from") else {
        return Input::Context {
            path: context_path(ctx.spec.context, &source),
            wildcard: false,
        };
    };
    key.push(("from".into(), from.clone()));
    match stages::lookup_stage(ctx.stage_infos, from, ctx.stage) {
        Some(s) => Input::Stage {
            stage: s,
            path: go_clean(&format!("/{source}")),
            vid: sim.stages.get(s).and_then(|st| st.last),
        },
        None => Input::Image {
            reference: normalize_image(from),
            path: go_clean(&format!("/{source}")),
        },
    }
}

/// A cache mount's key fields (pushed onto `key`): its id and sharing, or `<custom>` where
/// BuildKit blanks them, and the owner and source options the daemon keys.
fn cache_key(
    sem: Semantics,
    fields: &BTreeMap<String, String>,
    target: &str,
    target_raw: &str,
    key: &mut Vec<(String, String)>,
) {
    let id = fields.get("id").cloned().unwrap_or_default();
    let sharing = fields
        .get("sharing")
        .cloned()
        .unwrap_or_else(|| "shared".into());
    let default_id = id.is_empty() || go_clean(&id) == target || id == target_raw;
    if sem.daemon_current && !(default_id && sharing == "shared") {
        // id and sharing are blanked in the key (BuildKit ≥ v0.13)
        key.push(("id".into(), "<custom>".into()));
    } else {
        key.push((
            "id".into(),
            if id.is_empty() {
                target.to_string()
            } else {
                id
            },
        ));
        key.push(("sharing".into(), sharing));
    }
    // Docker 20.10 leaves the cache directory's uid/gid/mode out of the key (measured:
    // a uid change still hits there, and misses on Docker 28.5.2)
    let owner: &[&str] = if sem.daemon_current {
        &["uid", "gid", "mode"]
    } else {
        &[]
    };
    for f in owner.iter().chain(&["from", "source", "readonly"]) {
        if let Some(v) = fields.get(*f) {
            key.push((f.to_string(), v.clone()));
        }
    }
}

/// What a COPY/ADD reads: per source a name (for the cache key), an input, and notes.
#[derive(Default)]
struct CopyReads {
    names: Vec<String>,
    inputs: Vec<Input>,
    notes: Vec<Note>,
}

/// Where a COPY reads from: `--from` as written, and the stage it names (None: an image).
struct CopyOrigin {
    from: Option<String>,
    stage: Option<usize>,
}

impl CopyReads {
    fn heredoc(&mut self, ctx: &DispatchCtx<'_, '_>, h: &Heredoc, state: &State) {
        let content = if h.expand {
            expand::expand_raw(
                &h.body,
                ctx.spec.df.escape,
                ctx.spec.sem.frontend,
                &|n: &str| state.lookup(n),
            )
            .unwrap_or_else(|_| h.body.clone())
        } else {
            h.body.clone()
        };
        self.names.push(h.name.clone());
        self.inputs.push(Input::Inline { content });
    }

    /// An expanded source path `p`: a remote URL or git ref (ADD), or a path in a stage, an
    /// image or the build context.
    fn path(
        &mut self,
        ctx: &DispatchCtx<'_, '_>,
        inst: &Instruction,
        origin: &CopyOrigin,
        p: String,
        sim: &Sim,
    ) {
        let sem = ctx.spec.sem;
        if origin.from.is_none() && inst.kind == Kind::Add && (is_url(&p) || is_git(&p)) {
            let checksum = match sem.frontend {
                Frontend::Current => inst.flag_value("checksum").map(str::to_string),
                _ => None,
            };
            if checksum.is_none() {
                self.notes.push(Note::RemoteSource {
                    url: display_value(&p),
                });
            }
            self.names
                .push(p.rsplit('/').next().unwrap_or_default().to_string());
            self.inputs.push(Input::Remote { url: p, checksum });
            return;
        }
        let clean = go_clean(&format!("/{p}"));
        self.names
            .push(clean.rsplit('/').next().unwrap_or_default().to_string());
        // a variable with no value here (an ARG without a default, or one the base image may
        // set): which files the source selects is not known
        for name in unknown_names(&p) {
            let note = if declares_arg(ctx.spec.df, &name) {
                Note::UnresolvedArg { name }
            } else {
                Note::ImageVariable { name }
            };
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        let input = match (&origin.from, origin.stage) {
            (Some(_), Some(si)) => Input::Stage {
                stage: si,
                path: clean,
                vid: sim.stages.get(si).and_then(|st| st.last),
            },
            (Some(img), None) => {
                let reference = normalize_image(img);
                if is_mutable(&reference) {
                    self.notes.push(Note::MutableTag {
                        image: img.clone(),
                        engine_checks_registry: sem.resolves_tags,
                    });
                }
                Input::Image {
                    reference,
                    path: clean,
                }
            }
            (None, _) => Input::Context {
                path: context_path(ctx.spec.context, &p),
                wildcard: contains_wildcards(&p),
            },
        };
        self.inputs.push(input);
    }
}

/// The destination of a COPY (`d` expanded) as an absolute path; a trailing `/` (a directory)
/// kept.
fn copy_dest(d: &str, cwd: &str) -> String {
    let mut dest_path = if d.starts_with('/') {
        d.to_string()
    } else {
        let joined = go_clean(&format!("/{cwd}/{d}"));
        if d.ends_with('/') || d == "." || d.ends_with("/.") {
            format!("{}/", joined.trim_end_matches('/'))
        } else {
            joined
        }
    };
    if d.starts_with('/') && d.ends_with('/') && !dest_path.ends_with('/') {
        dest_path.push('/');
    }
    dest_path
}

/// The keyed flags of a COPY/ADD (`add`, `keep-git-dir`, `unpack`, `link`, `parents`,
/// `exclude`) and its exclude patterns; flags the frontend lacks are diagnostics.
fn copy_flags(
    ctx: &DispatchCtx<'_, '_>,
    inst: &Instruction,
    chmod: &str,
    notes: &mut Vec<Note>,
    sim: &mut Sim,
) -> (Vec<String>, Vec<String>) {
    let (sem, line) = (ctx.spec.sem, ctx.line_of(inst));
    let mut flags = Vec::new();
    if inst.kind == Kind::Add {
        flags.push("add".to_string());
        if let Some(v) = inst.flag_value("keep-git-dir") {
            flags.push(format!("keep-git-dir={v}"));
        }
        if let Some(v) = inst.flag_value("unpack") {
            flags.push(format!("unpack={v}"));
        }
    }
    if inst.flag("link").is_some() && inst.flag_value("link") != Some("false") {
        if sem.frontend == Frontend::V0_8 {
            sim.diagnostics.push(diag(line, Severity::Error, "COPY --link is not available in Docker 20.10's built-in frontend (add `# syntax=docker/dockerfile:1`)".into()));
        } else if sem.daemon_current && sem.merge_op && chmod.is_empty() {
            flags.push("link".into());
            notes.push(Note::LinkedCopyReused);
        }
    }
    let mut exclude = Vec::new();
    for f in ["parents", "exclude"] {
        for fl in inst.flags_named(f) {
            if sem.frontend == Frontend::V0_8 {
                sim.diagnostics.push(diag(
                    line,
                    Severity::Error,
                    format!("--{f} is not available in Docker 20.10's built-in frontend"),
                ));
                continue;
            }
            let v = fl.value.clone().unwrap_or_default();
            if f == "exclude" {
                exclude.push(v.clone());
            }
            flags.push(format!("{f}={v}"));
        }
    }
    (flags, exclude)
}

fn dispatch_copy(
    ctx: &mut DispatchCtx<'_, '_>,
    inst: &Instruction,
    sources: &[CopySource],
    dest: &str,
    state: &mut State,
    parent: Option<VId>,
    sim: &mut Sim,
) -> VId {
    let (sem, line) = (ctx.spec.sem, ctx.line_of(inst));
    let from = inst.flag_value("from").map(str::to_string);
    let origin = CopyOrigin {
        stage: from
            .as_deref()
            .and_then(|f| stages::lookup_stage(ctx.stage_infos, f, ctx.stage)),
        from,
    };
    let mut reads = CopyReads::default();
    for s in sources {
        match s {
            CopySource::Heredoc(h) => reads.heredoc(ctx, h, state),
            CopySource::Path(raw) => {
                let p = ctx.expand(state, raw, line, sim);
                reads.path(ctx, inst, &origin, p, sim);
            }
        }
    }
    let dest_path = copy_dest(&ctx.expand(state, dest, line, sim), &state.cwd_config);
    let chown = inst
        .flag_value("chown")
        .map(|c| ctx.expand(state, c, line, sim))
        .unwrap_or_default();
    let chmod = match inst.flag_value("chmod") {
        Some(c) if sem.frontend == Frontend::Current => ctx.expand(state, c, line, sim),
        Some(c) if u32::from_str_radix(c, 8).is_ok() => c.to_string(),
        Some(_) | None => String::new(),
    };
    let (flags, exclude) = copy_flags(ctx, inst, &chmod, &mut reads.notes, sim);
    if ctx.trigger_line.is_some() && origin.stage.is_some() && sem.frontend == Frontend::V0_8 {
        // measured: Docker 20.10 does not resolve a stage named in an ONBUILD trigger and the
        // copy fails (`lstat …: no such file or directory`)
        sim.diagnostics.push(diag(
            line,
            Severity::Error,
            format!(
                "the build fails here: Docker 20.10's built-in frontend does not resolve stage `{}` in an ONBUILD trigger (add `# syntax=docker/dockerfile:1`)",
                origin.from.clone().unwrap_or_default()
            ),
        ));
    }
    let source = match (&origin.from, origin.stage) {
        (None, _) => "context".to_string(),
        (Some(_), Some(_)) => "stage".to_string(),
        (Some(img), None) => format!("image:{}", normalize_image(img)),
    };
    let op = Op::Copy {
        names: reads.names,
        dest: dest_path,
        chown,
        chmod,
        flags,
        source,
    };
    let detail = Detail {
        env: state.env.clone(),
        cwd_line: state.cwd_line,
        raw: inst.args_text.clone(),
        ..Default::default()
    };
    let vid = push_vertex(sim, ctx, parent, op, reads.inputs, reads.notes, detail);
    sim.vertices[vid].exclude = exclude;
    vid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` simulated as the current frontend on a current daemon, from the repository root.
    fn simulate_current(text: &str) -> Sim {
        let df = crate::engine::dockerfile::parse(text);
        simulate(&SideSpec {
            df: &df,
            build_args: &BTreeMap::new(),
            target: None,
            sem: Semantics {
                frontend: Frontend::Current,
                daemon_current: true,
                resolves_tags: true,
                merge_op: true,
            },
            context: "",
        })
    }

    #[test]
    fn image_references_normalise() {
        assert_eq!(normalize_image("node:20"), "docker.io/library/node:20");
        assert_eq!(normalize_image("node"), "docker.io/library/node:latest");
        assert_eq!(
            normalize_image("bitnami/redis"),
            "docker.io/bitnami/redis:latest"
        );
        assert_eq!(normalize_image("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(
            normalize_image("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            normalize_image("alpine@sha256:abc"),
            "docker.io/library/alpine@sha256:abc"
        );
        assert!(!is_mutable(&normalize_image("alpine@sha256:abc")));
    }

    /// Variables set between many steps each copy the environment: past `ENV_COPY_LIMIT` in
    /// all, one error (at the first variable left unset), not one per variable.
    #[test]
    fn environment_copies_are_bounded_and_reported_once() {
        let mut text = String::from("FROM alpine\nARG A0=xxxxxxxxxxxxxxxx\n");
        for i in 1..=10 {
            text.push_str(&format!("ARG A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
        }
        text.push_str("ENV E=$A10\n");
        for i in 0..1_000 {
            text.push_str(&format!("ENV B={i}\nRUN echo {i}\n"));
        }
        let sim = simulate_current(&text);
        let said: Vec<&Diagnostic> = sim
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("MiB in all"))
            .collect();
        assert_eq!(said.len(), 1, "{:?}", sim.diagnostics);
        // 16 KiB environment, copied and its items made again: 32 KiB a time, 512 times
        assert!((1_000..1_100).contains(&said[0].line), "{:?}", said[0]);
        assert!(sim.env_copied <= ENV_COPY_LIMIT);
    }

    /// Steps that saw the same environment share one copy of it; setting a variable makes a
    /// new one. (A 32 KiB environment over 10,000 steps took 377 MB when each step had its own.)
    #[test]
    fn steps_share_the_environment_they_saw() {
        let sim = simulate_current("FROM alpine\nENV A=1\nRUN one\nRUN two\nENV B=2\nRUN three\n");
        let run = |i: usize| match sim.step.get(&i) {
            Some(StepVertex::Vertex(v)) => &sim.vertices[*v],
            _ => panic!("no vertex for instruction {i}"),
        };
        let items = |i: usize| match &run(i).op {
            Op::Exec { env, .. } => env.clone(),
            _ => panic!("not a RUN"),
        };
        assert!(Arc::ptr_eq(&run(2).detail.env, &run(3).detail.env));
        assert!(Arc::ptr_eq(&items(2), &items(3)));
        assert!(!Arc::ptr_eq(&run(3).detail.env, &run(5).detail.env));
        assert_eq!(items(5)[1..], ["A=1", "B=2"].map(String::from));
    }
}
