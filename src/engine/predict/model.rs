//! The prediction's data: the context a prediction runs in (`Ctx`: engine, change set, listings,
//! the memos handed in, the rule catalog), a side's simulation (`SideSim` with its effective
//! `.dockerignore`), a vertex's result (`Res`) and what a predicted build carries to the later
//! passes (`Predicted`).

use crate::engine::hash::HashMap;

use super::rule_input;
use super::sim::{Sim, VId};
use crate::engine::cost::StepFact;
use crate::engine::dockerfile::{Dockerfile, Kind};
use crate::engine::ignore::Matcher;
use crate::engine::input::EngineKind;
use crate::engine::report::{Cause, Confidence, DockerfileReport, Note};
use crate::engine::tree::{ChangeSet, Listing, Needs};
use std::sync::Arc;

pub struct Ctx<'a> {
    pub engine: EngineKind,
    pub changes: &'a ChangeSet,
    pub base_tree: &'a Listing,
    pub head_tree: &'a Listing,
    pub needs: &'a Needs,
    /// What context sources select, shared by the builds and re-predictions of one call.
    pub memo: &'a crate::engine::memo::Shared,
    /// What the caller remembers across calls (side simulations, lexed commands, compiled
    /// ignore files, declarations): one per run, handed in.
    pub kept: &'a crate::engine::memo::Memo,
    pub config: &'a crate::engine::settings::Config,
    /// The rule catalog to run (`None` for the re-predictions that measure a fix's savings).
    pub rules: Option<rule_input::Catalog>,
    /// Histories of files the rules asked for.
    pub histories: &'a crate::engine::volatility::Histories,
    /// What the builds of the analysis read from their contexts (`None`: not known).
    pub shared_reads: Option<&'a rule_input::SharedReads<'a>>,
}

/// A predicted build with what later passes need.
pub struct Predicted {
    pub report: DockerfileReport,
    pub facts: Vec<StepFact>,
    /// Fixes of the same findings on the base Dockerfile, by fingerprint (their own fixes, where
    /// merged, under `own_fix_key`).
    pub base_fixes: HashMap<String, crate::engine::fix::Fix>,
    /// Head lines the change added or modified.
    pub changed_lines: Vec<u32>,
    /// The vertex of each step with one (by line), as `vertex_keys` names it: equal across the
    /// builds of one analysis exactly when BuildKit solves the same vertex.
    pub keys: HashMap<u32, VertexKey>,
}

/// A head vertex's identity across builds (`vertex_keys`).
pub type VertexKey = [u8; 32];

/// The effective `.dockerignore` of one side.
#[derive(Debug, Clone)]
pub struct IgnoreInfo {
    /// Root-relative path of the file in effect, if any.
    pub file: Option<String>,
    /// Shared by the memo keys that name them (`memo::SourceKey`).
    pub patterns: std::sync::Arc<Vec<String>>,
    pub matcher: Option<Matcher>,
}

/// What the rules read of a Dockerfile text by instruction and by line, each made on first use:
/// one per text (`Kind::Lexed`), shared by the sides of every build of the text (a bake file's
/// targets, other build args) and by the commits that keep it.
#[derive(Debug, Default)]
pub struct TextParts {
    /// The RUN scripts the rules lex (`RuleContext::script`).
    pub scripts: crate::engine::shell::Scripts,
    /// Where the lines of the text end (`RuleContext::lines`).
    pub lines: crate::engine::fix::Lines,
}

/// One simulated side.
pub struct SideSim {
    /// The parsed text, shared with the other uses of the same text (`dockerfile::parse_in`).
    pub df: Arc<Dockerfile>,
    pub sim: Sim,
    /// The canonical record id of every vertex (`canonical_ids`), kept with the simulation
    /// (and shared with the sides of other targets derived from it: `sim::retarget`).
    pub canon: Arc<[VId]>,
    pub ignore: IgnoreInfo,
    /// What the cost facts read of the side's own texts (`Skeleton`), made the first
    /// time a prediction asks: the simulation is remembered by its texts (`Kind::Side`), so the
    /// commits and fix measurements that share it share this too.
    /// It does not depend on the target, so a side derived for another target shares it.
    pub skeleton: Arc<std::sync::OnceLock<Vec<Skeleton>>>,
    /// What the rules read of its text, kept by the text: the sides of every build of the text
    /// share it.
    pub text: Arc<TextParts>,
    /// `matching::step_keys`, kept for the same reason (a bake call's builds compare them),
    /// and shared the same way.
    pub step_keys: Arc<std::sync::OnceLock<crate::engine::hash::HashMap<u32, VertexKey>>>,
    /// The side as a base cache (`matching::base_index`), kept for the same reason.
    pub index: std::sync::OnceLock<BaseIndex>,
}

/// A base side's records by op, then by parent record (`matching::base_index`).
pub type BaseIndex = HashMap<super::sim::Op, HashMap<Option<VId>, Vec<VId>>>;

/// Why a side has no simulation to compare with (the head's problems are diagnostics; the
/// base's make every head step a miss of this cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseProblem {
    /// The Dockerfile does not exist on that side.
    Missing,
    /// It is not a text file, cannot be read, or does not parse into a build.
    NotBuildable,
    /// Its `# syntax` directive differs from the head's: another frontend.
    Syntax,
}

/// Result for one head vertex.
#[derive(Debug, Clone)]
pub enum Res {
    Hit {
        base: VId,
        confidence: Confidence,
        notes: Vec<Note>,
    },
    Miss {
        cause: Cause,
        confidence: Confidence,
        notes: Vec<Note>,
        origin_line: u32,
    },
    /// Not built for the target.
    Unused,
    /// Its key hits, but the cache holds no result for it and a step that runs needs one: it
    /// runs again with the same key (what follows is not a miss because of it).
    Rerun { cause: Cause, notes: Vec<Note> },
}

/// A step's cost facts that come from the side's texts alone (no listing, no context): what
/// `facts::step_facts` completes with the bytes a COPY copies and the tested files that are absent.
pub struct Skeleton {
    pub(super) line: u32,
    pub(super) kind: Kind,
    pub(super) stage: Arc<str>,
    pub(super) position: Option<u32>,
    pub(super) pattern: Option<Arc<str>>,
    pub(super) texts: Arc<[String]>,
    pub(super) command: Arc<str>,
    /// Targets of its cache mounts.
    pub(super) cache_mounts: Arc<[String]>,
    pub(super) refetch: Arc<[&'static str]>,
    /// The COPY/ADD vertex whose sources' bytes are counted.
    pub(super) copy: Option<VId>,
    /// The RUN vertex whose tested files are looked up.
    pub(super) exec: Option<VId>,
}
