//! The analysis result: per Dockerfile build, one entry per FROM/RUN/COPY/ADD/WORKDIR of the head
//! Dockerfile with its predicted status, the structured cause of each miss and notes on what
//! could not be known. Pure data; `render` turns it into text, JSON (version 1), markdown.

use serde::{Deserialize, Serialize};

pub use super::dockerfile::ast::{Kind, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Cached,
    Rebuilt,
    Unused,
}

/// How sure the prediction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Follows from the trees and BuildKit's key rules.
    Exact,
    /// Depends on something the trees do not show (build output, upstream images, remote files);
    /// the status is the likely answer and a note says why.
    Likely,
}

/// What JSON v1 calls a cause's `kind`: the family a `Cause` variant belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    DockerfileText,
    Files,
    Dockerignore,
    BuildArg,
    Env,
    Arg,
    User,
    Shell,
    Workdir,
    BaseImage,
    ParentStage,
    CopyFrom,
    Onbuild,
    Syntax,
    NewDockerfile,
    BaseNotBuildable,
    Follows,
    /// The CI cache backend cannot serve the step (not exported, replaced, empty, not imported).
    CacheBackend,
    /// `no-cache` or `no-cache-filters`.
    NoCache,
}

/// Changed paths (root-relative), sorted, at most `MAX_PATHS` of them, and how many there were.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Paths {
    pub shown: Vec<String>,
    pub total: usize,
}

impl Paths {
    pub fn new(mut paths: Vec<String>) -> Paths {
        paths.sort();
        paths.dedup();
        let total = paths.len();
        paths.truncate(MAX_PATHS);
        Paths {
            shown: paths,
            total,
        }
    }
}

pub const MAX_PATHS: usize = 20;

/// Why a step misses: one variant per cause, each with the facts its sentence needs. `line` is
/// the head line where the cause sits (the changed instruction, the ENV/ARG that set a value),
/// `base_line` the counterpart's line in the base Dockerfile, `before`/`after` the values as
/// displayed. JSON v1 flattens a cause into one object (`render::json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// The instruction is new, or replaces one of another kind (`base_line`: the one it replaces).
    InstructionAdded { line: u32, base_line: Option<u32> },
    /// The instruction's text or flags changed (`before`/`after`: both instructions, when known).
    InstructionChanged {
        line: u32,
        base_line: Option<u32>,
        before: Option<String>,
        after: Option<String>,
    },
    /// The instruction before this one (`before`, at `base_line`) was removed.
    InstructionRemoved {
        line: u32,
        base_line: u32,
        before: String,
    },
    /// A heredoc's content changed.
    HeredocChanged { line: u32 },
    /// Files under a COPY/ADD source (or a bind-mount source) changed.
    Files { line: u32, paths: Paths },
    /// `.dockerignore` (`file`) changed which files lie under a source, or is itself copied.
    Dockerignore {
        line: u32,
        file: Option<String>,
        paths: Paths,
    },
    /// A `--build-arg` / compose `args` value changed (`line`: where the ARG is declared).
    BuildArg {
        line: u32,
        name: String,
        base_line: Option<u32>,
        before: Option<String>,
        after: Option<String>,
    },
    /// An ARG declaration or default changed its value.
    Arg {
        line: u32,
        name: String,
        base_line: Option<u32>,
        before: Option<String>,
        after: Option<String>,
    },
    /// An ARG the base declared at `base_line` is gone.
    ArgRemoved {
        line: u32,
        name: String,
        base_line: u32,
        before: String,
    },
    /// An ENV value changed.
    Env {
        line: u32,
        name: String,
        base_line: Option<u32>,
        before: Option<String>,
        after: Option<String>,
    },
    /// An ENV the base set at `base_line` is gone.
    EnvRemoved {
        line: u32,
        name: String,
        base_line: u32,
        before: String,
    },
    /// The same ENV values in another order.
    EnvOrder { line: u32 },
    User {
        line: u32,
        base_line: Option<u32>,
        before: String,
        after: String,
    },
    Shell {
        line: u32,
        base_line: Option<u32>,
        before: String,
        after: String,
    },
    /// The working directory changed (by WORKDIR at `line`).
    Workdir {
        line: u32,
        base_line: Option<u32>,
        before: String,
        after: String,
    },
    /// The FROM image reference changed.
    BaseImage {
        line: u32,
        base_line: u32,
        before: String,
        after: String,
    },
    /// The FROM `--platform` changed.
    FromPlatform {
        line: u32,
        base_line: u32,
        before: String,
        after: String,
    },
    /// A variable the base image sets differs.
    ImageVariable {
        line: u32,
        name: String,
        base_line: Option<u32>,
        before: Option<String>,
        after: Option<String>,
    },
    /// `FROM <stage>` and that stage rebuilds from `line`.
    ParentStage { line: u32, stage: String },
    /// `COPY --from` / `--mount from=` and the source stage's files change (made at
    /// `producer_line`).
    CopyFrom {
        line: u32,
        stage: String,
        producer_line: Option<u32>,
        paths: Paths,
    },
    /// An ONBUILD trigger of the parent stage (at `line`) misses, for `trigger`'s reason.
    Onbuild { line: u32, trigger: Box<Cause> },
    /// The `# syntax` directive of `file` changed: the frontend itself is different.
    Syntax { line: u32, file: String },
    /// The Dockerfile is new in this change; nothing of it is cached.
    NewDockerfile { line: u32 },
    /// The base revision's Dockerfile could not be built, so it left no cache.
    BaseNotBuildable { line: u32 },
    /// A later miss: the step at `follows_line` rebuilt; `origin_line` is the chain's first miss.
    Follows { follows_line: u32, origin_line: u32 },
    /// Cached on a warm builder, but the imported cache (`cache`, exported with `mode`) holds no
    /// result for the step (`mode=min` exports only the final image's layers), and the re-run
    /// step at `needed_by` needs its result: it runs again, with the same key.
    NotExported {
        line: u32,
        needed_by: u32,
        cache: String,
        mode: super::backend::Mode,
    },
    /// The imported cache holds no record of the step: `by` exported to the same place after
    /// this build did and replaced its records.
    CacheReplaced {
        line: u32,
        cache: String,
        by: String,
    },
    /// The imported cache is empty on this run: the base revision's workflow exports nothing
    /// there (or the step is new).
    CacheEmpty { line: u32, cache: String },
    /// The workflow step imports no cache (`cache-from`), and the runner starts empty.
    NoCacheImport { line: u32, file: String },
    /// `no-cache: true` on the workflow step (`file`).
    NoCache { line: u32, file: String },
    /// `no-cache-filters` names the step's stage.
    NoCacheFilter { line: u32, stage: String },
}

impl Cause {
    pub fn kind(&self) -> CauseKind {
        match self {
            Cause::InstructionAdded { .. }
            | Cause::InstructionChanged { .. }
            | Cause::InstructionRemoved { .. }
            | Cause::HeredocChanged { .. } => CauseKind::DockerfileText,
            Cause::Files { .. } => CauseKind::Files,
            Cause::Dockerignore { .. } => CauseKind::Dockerignore,
            Cause::BuildArg { .. } => CauseKind::BuildArg,
            Cause::Arg { .. } | Cause::ArgRemoved { .. } => CauseKind::Arg,
            Cause::Env { .. } | Cause::EnvRemoved { .. } | Cause::EnvOrder { .. } => CauseKind::Env,
            Cause::User { .. } => CauseKind::User,
            Cause::Shell { .. } => CauseKind::Shell,
            Cause::Workdir { .. } => CauseKind::Workdir,
            Cause::BaseImage { .. } | Cause::FromPlatform { .. } | Cause::ImageVariable { .. } => {
                CauseKind::BaseImage
            }
            Cause::ParentStage { .. } => CauseKind::ParentStage,
            Cause::CopyFrom { .. } => CauseKind::CopyFrom,
            Cause::Onbuild { .. } => CauseKind::Onbuild,
            Cause::Syntax { .. } => CauseKind::Syntax,
            Cause::NewDockerfile { .. } => CauseKind::NewDockerfile,
            Cause::BaseNotBuildable { .. } => CauseKind::BaseNotBuildable,
            Cause::Follows { .. } => CauseKind::Follows,
            Cause::NotExported { .. }
            | Cause::CacheReplaced { .. }
            | Cause::CacheEmpty { .. }
            | Cause::NoCacheImport { .. } => CauseKind::CacheBackend,
            Cause::NoCache { .. } | Cause::NoCacheFilter { .. } => CauseKind::NoCache,
        }
    }

    /// The changed paths the cause names (files, `.dockerignore`, `COPY --from`; an ONBUILD
    /// trigger's).
    pub fn paths(&self) -> Option<&Paths> {
        match self {
            Cause::Files { paths, .. }
            | Cause::Dockerignore { paths, .. }
            | Cause::CopyFrom { paths, .. } => Some(paths),
            Cause::Onbuild { trigger, .. } => trigger.paths(),
            _ => None,
        }
    }

    /// JSON v1's `name`: the variable or stage the cause names, or for an instruction, which
    /// edit (`added`, `changed`, `removed`, `heredoc`), `order` for reordered ENV values and
    /// `platform` for a FROM platform. History counts triggers by it too.
    pub fn name(&self) -> Option<&str> {
        match self {
            Cause::InstructionAdded { .. } => Some("added"),
            Cause::InstructionChanged { .. } => Some("changed"),
            Cause::InstructionRemoved { .. } => Some("removed"),
            Cause::HeredocChanged { .. } => Some("heredoc"),
            Cause::EnvOrder { .. } => Some("order"),
            Cause::FromPlatform { .. } => Some("platform"),
            Cause::BuildArg { name, .. }
            | Cause::Arg { name, .. }
            | Cause::ArgRemoved { name, .. }
            | Cause::Env { name, .. }
            | Cause::EnvRemoved { name, .. }
            | Cause::ImageVariable { name, .. } => Some(name),
            Cause::ParentStage { stage, .. } | Cause::CopyFrom { stage, .. } => Some(stage),
            Cause::Onbuild { trigger, .. } => trigger.name(),
            Cause::NotExported { .. } => Some("not_exported"),
            Cause::CacheReplaced { .. } => Some("replaced"),
            Cause::CacheEmpty { .. } => Some("empty"),
            Cause::NoCacheImport { .. } => Some("no_import"),
            Cause::NoCache { .. } => Some("no-cache"),
            Cause::NoCacheFilter { stage, .. } => Some(stage),
            Cause::Files { .. }
            | Cause::Dockerignore { .. }
            | Cause::User { .. }
            | Cause::Shell { .. }
            | Cause::Workdir { .. }
            | Cause::BaseImage { .. }
            | Cause::Syntax { .. }
            | Cause::NewDockerfile { .. }
            | Cause::BaseNotBuildable { .. }
            | Cause::Follows { .. } => None,
        }
    }

    /// The chain's first miss for a later step (`Follows`), the parent stage's first miss for a
    /// `FROM <stage>` (`ParentStage`): the step this one is grouped under.
    pub fn chain_origin(&self) -> Option<u32> {
        match self {
            Cause::Follows { origin_line, .. } => Some(*origin_line),
            Cause::ParentStage { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// What a build was predicted under: a warm local builder (the base revision was built with the
/// same target and build args on this builder), or a fresh CI runner that imports the caches a
/// workflow step declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "builder", rename_all = "snake_case")]
pub enum Assumption {
    #[default]
    WarmLocal,
    FreshRunner(FreshRunner),
}

/// A fresh runner and what it imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FreshRunner {
    /// The workflow step that runs the build.
    pub workflow: String,
    pub job: String,
    pub step: String,
    pub line: Option<u32>,
    pub imports: Vec<CacheImport>,
    /// The step's `cache-to` entries as shown (`gha (scope buildkit), mode=max`).
    pub exports: Vec<String>,
    pub no_cache: bool,
    pub no_cache_filters: Vec<String>,
    pub pull: bool,
    pub platforms: Vec<String>,
}

/// One imported cache and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheImport {
    /// `gha (scope buildkit)`, `registry ghcr.io/o/app:cache`.
    pub cache: String,
    /// The writer's export mode, when a declared export writes it.
    pub mode: Option<super::backend::Mode>,
    /// `this_build` (its own export on the previous run), `other` (another build's export:
    /// `by`), `unknown` (written outside the workflows read), `nothing` (nothing exports there).
    pub writer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Facts the reason text must mention: uncertainty and special cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// FROM or `--from` uses a tag that can move upstream.
    MutableTag {
        image: String,
        engine_checks_registry: bool,
    },
    /// ADD of a URL / git ref: checked against the remote on every build.
    RemoteSource { url: String },
    /// `COPY --from` / bind mount of a stage whose files come out of a re-run RUN.
    MayStayCached { stage: String, producer_line: u32 },
    /// `COPY --from` of files made by a step that did not re-run (early cutoff).
    EarlyCutoff {
        stage: String,
        producer_line: Option<u32>,
    },
    /// `COPY --from` / bind mount of a stage that re-runs the RUN at `run_line`, whose command
    /// runs programs that may write the copied `path` (a RUN can write anywhere).
    RunMayWrite {
        stage: String,
        run_line: u32,
        path: String,
    },
    /// A build ARG used in FROM has no value.
    UnresolvedArg { name: String },
    /// `WORKDIR /` creates no build step.
    NoBuildStep,
    /// `COPY --link`: the copied layer is reused, only the merge re-runs.
    LinkedCopyReused,
    /// The step cannot run: a COPY source does not exist, etc.
    WillFail { message: String },
    /// A variable the base image may set was used (its value is unknown here).
    ImageVariable { name: String },
    /// On the fresh runner the step is served by `by`'s export (another build), not its own.
    ServedByOther { by: String },
}

/// Where a step's seconds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// Median of the step's `DONE` times in the build logs given with `--timings`.
    Timings,
    /// The cost model for the step's class.
    Model,
    /// A `cost:` entry of the configuration file.
    Config,
    /// Median of the step's times in the build records CI uploaded for the base branch (the
    /// Action and the App fetch them); `cost_label` says how many samples.
    Records,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub line: u32,
    pub end_line: u32,
    pub stage: String,
    pub instruction: String,
    pub status: Status,
    pub confidence: Confidence,
    pub cause: Option<Cause>,
    pub notes: Vec<Note>,
    pub kind: Kind,
    /// Seconds the step takes when it runs (None for unused steps).
    pub estimated_seconds: Option<f64>,
    /// [low, high] for model and configured estimates, or the spread over several logs.
    pub estimated_range: Option<[f64; 2]>,
    pub cost_source: Option<CostSource>,
    /// What the model took the step for (`npm install`, `pull of ~50 MB`).
    pub cost_label: Option<String>,
    /// The tool classes a RUN was recognised as (`npm install`, `go build`), whatever the cost
    /// source.
    pub classes: Vec<String>,
}

/// The cost of a build for this change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Seconds every build of this Dockerfile gets slower: the rebuilt steps.
    pub estimated_rebuild_seconds: f64,
    pub estimated_rebuild_range: [f64; 2],
    /// Seconds of a build with no cache at all (every built step).
    pub estimated_full_build_seconds: f64,
    /// Share of built steps predicted to stay cached for the head …
    pub cached_step_share: f64,
    /// … and with a fully warm cache (no change): always 1.
    pub cached_step_share_warm: f64,
    /// Share of the full build's seconds that stays cached.
    pub cached_seconds_share: f64,
    /// Build logs that mapped to this Dockerfile.
    pub logs: usize,
    /// Lines of built steps no log gave a time for (when logs were given).
    pub steps_without_timing: Vec<u32>,
    /// Built steps the model cannot price (`cost_label` "unknown: …"): left out of the seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_steps: usize,
    /// … of them rebuilt by this change.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_rebuilt_steps: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// 1-based line in `file` (0: the whole file).
    pub line: u32,
    pub severity: Severity,
    pub message: String,
    /// The file the line is in, when it is not the Dockerfile (a `.dockerignore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Where a build came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Named with `--dockerfile`.
    Cli,
    /// Found by file name in the head tree.
    Discovered,
    /// A `build:` entry of a compose file.
    Compose {
        file: String,
        service: String,
        /// The compose project: its files joined with ` + `.
        project: String,
    },
    /// A target of a bake file.
    Bake { file: String, target: String },
    /// A `docker/build-push-action` or `docker/bake-action` step of a GitHub workflow.
    Workflow {
        file: String,
        job: String,
        step: String,
        /// For a `docker/bake-action` step: the bake target this build is (a step builds one
        /// build per target it names).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// An entry of `builds:` in the configuration file.
    Config { file: String, index: usize },
    /// A `docker build` command of a script, a Makefile or a workflow's `run:` block.
    Script { file: String, line: u32 },
}

/// A build no declaration names (no compose service, bake target, workflow step, `builds:`
/// entry or other declared source builds this Dockerfile): found by its file name, with a
/// guessed context. Nothing says anyone builds it, so it stays out of the totals unless the
/// repository declares no build at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guess {
    /// How the context was chosen.
    pub context: ContextGuess,
    /// Whether the build counts in the totals (the headline, `--fail-on`, `history`): only when
    /// the repository declares no build, so that the guesses are all the evidence there is.
    pub counted: bool,
}

/// Why a guessed build has its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextGuess {
    /// `--context` named it.
    Given,
    /// The Dockerfile is at the root: the root, as `docker build .` there takes it.
    RootDockerfile,
    /// Its own directory: the files it copies are there, and not at the root.
    CopiesFromItsDirectory,
    /// The root: the files it copies are at the root (or not in its directory).
    CopiesFromRoot,
    /// Its own directory: it copies `.` (or nothing by name) and the directory holds more than
    /// Dockerfiles.
    ItsDirectory,
    /// The root: it copies `.` (or nothing by name) and its directory holds only Dockerfiles.
    Root,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub rebuilt: usize,
    pub cached: usize,
    pub unused: usize,
    /// Line of the first rebuilt step (in file order), if any.
    pub first_rebuilt_line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DockerfileReport {
    pub path: String,
    pub context: String,
    pub target: Option<String>,
    /// The stage the build ends at (the target, or the last stage).
    pub target_stage: Option<String>,
    pub origin: Origin,
    /// Every place that declares this same build (same Dockerfile, context, target, args and
    /// named contexts): compose services, bake targets, workflow steps. `origin` is the first.
    pub origins: Vec<Origin>,
    /// `buildkit` or `docker-20.10`, and which frontend parsed the file.
    pub frontend: String,
    pub steps: Vec<Step>,
    pub diagnostics: Vec<Diagnostic>,
    /// Changed paths that are inputs of this build.
    pub touched_by: Vec<String>,
    pub summary: Summary,
    pub cost: Option<CostSummary>,
    /// Rebuilt steps an earlier build of the same `docker buildx bake` call rebuilds too: the
    /// totals count them once, there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Shared>,
    /// Findings of the rules (PR mode: `relevant` marks those that concern the change).
    pub findings: Vec<Finding>,
    /// Head texts of the files fixes edit (for rendering diffs); "" for a file a fix creates.
    pub sources: std::collections::BTreeMap<String, String>,
    /// What the prediction assumes about the builder.
    #[serde(default)]
    pub assumption: Assumption,
    /// `verify`: the prediction against each real build of the head given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<Verification>,
    /// A guessed build (no declaration names it): how, and whether it counts in the totals.
    #[serde(default)]
    pub guessed: Option<Guess>,
}

/// Where a real build's outcome was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealSource {
    /// A build record (`.dockerbuild`): the status stream, read right.
    Record,
    /// A build record CI uploaded for the pull request's head (the Action and the App fetch
    /// it from the workflow run's artifacts).
    CiRecord,
    /// `--progress=rawjson`: the same stream.
    Rawjson,
    /// `--progress=plain`: a hit whose layer is downloaded from a remote cache may print `DONE`.
    Plain,
}

/// What a step really did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealOutcome {
    Cached,
    Ran,
    /// Ran on some platforms, cached on others.
    Mixed,
    Failed,
    /// The build shows no vertex for it (a FROM, an unused stage, a step after a failure).
    NotSeen,
}

/// Why a step's real outcome differs from the prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The build ran with `no-cache` (for every stage, or for this one).
    NoCache,
    /// The build imported no cache, and the builder held none of the base's.
    NoCacheImported,
    /// The imported cache has the step's key but no result (exported with `mode=min`), and the
    /// step at `needed_by`, which ran, needs its result.
    NotExported { cache: String, needed_by: u32 },
    /// Every step of the stage ran from its first: its base image, a tag, resolved to another
    /// digest than the base build's (it moved upstream) or was not the one cached.
    BaseMoved { image: String },
    /// The cache should have held the step: its record was evicted, or the base was never
    /// built where this build looked.
    Evicted,
    /// The prediction said the copied files may come out the same: they did.
    SameBytes,
    /// Predicted to re-run for the cache backend; the cache held its result after all (it was
    /// exported with `mode=max`, or the builder kept it).
    CacheHeld,
    /// The model predicted a miss BuildKit did not have: cachebust got this step wrong.
    ModelWrong,
    /// A plain log with an imported cache: a hit whose layer is downloaded prints `DONE`, so the
    /// log cannot tell (a build record or rawjson can).
    PlainLogAmbiguous,
    /// The build failed at this step.
    Failed { message: Option<String> },
}

/// One step: predicted, real, and why they differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCheck {
    pub line: u32,
    pub instruction: String,
    pub predicted: Status,
    pub real: RealOutcome,
    /// `None`: not compared (FROM, or not in the build).
    pub agrees: Option<bool>,
    pub difference: Option<Difference>,
    /// Seconds it ran for real.
    pub seconds: Option<f64>,
}

/// The prediction of one build against one real build of the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The record or log it was read from.
    pub name: String,
    pub source: RealSource,
    /// Caches the real build imported.
    pub cache_imports: Vec<String>,
    pub steps: Vec<StepCheck>,
    pub agreed: usize,
    pub differed: usize,
    pub not_compared: usize,
}

impl DockerfileReport {
    /// Whether the build counts in the totals: declared, or guessed where nothing is declared.
    pub fn counted(&self) -> bool {
        self.guessed.as_ref().is_none_or(|g| g.counted)
    }
}

/// Rebuilt steps of a build whose vertices an earlier build of the same `docker buildx bake`
/// call rebuilds: bake solves the targets of one call together and runs a shared vertex once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    /// Lines of this build's rebuilt steps that run for the earlier build.
    pub lines: Vec<u32>,
    /// Their estimated seconds (in this build's cost, not in the totals).
    pub seconds: f64,
    /// The earlier build: its Dockerfile and target.
    pub path: String,
    pub target: Option<String>,
}

impl DockerfileReport {
    /// Rebuilt steps the totals count for this build: those no earlier build of a bake call
    /// it shares runs already.
    pub fn counted_rebuilt(&self) -> usize {
        self.summary
            .rebuilt
            .saturating_sub(self.shared.as_ref().map_or(0, |s| s.lines.len()))
    }

    /// Rebuild seconds the totals count for this build (see `counted_rebuilt`).
    pub fn counted_seconds(&self) -> f64 {
        let own = self
            .cost
            .as_ref()
            .map_or(0.0, |c| c.estimated_rebuild_seconds);
        (own - self.shared.as_ref().map_or(0.0, |s| s.seconds)).max(0.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub engine: String,
    pub dockerfiles: Vec<DockerfileReport>,
    /// Problems not tied to one Dockerfile (compose files, discovery).
    pub diagnostics: Vec<FileDiagnostic>,
    /// Number of changed paths between base and head.
    pub changed_paths: usize,
}

/// A diagnostic about some file (compose file, ignore file) rather than a Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiagnostic {
    pub file: String,
    pub line: Option<u32>,
    pub severity: Severity,
    pub message: String,
}

impl Report {
    /// Rebuilt steps of the builds that count (`DockerfileReport::counted`): the headline,
    /// `--fail-on`, the check run and the Action's outputs; a vertex several builds of one bake
    /// call share, once.
    pub fn rebuilt_steps(&self) -> usize {
        self.dockerfiles
            .iter()
            .filter(|d| d.counted())
            .map(DockerfileReport::counted_rebuilt)
            .sum()
    }

    /// Seconds the builds that count get slower (a shared vertex of a bake call once).
    pub fn rebuild_seconds(&self) -> f64 {
        self.dockerfiles
            .iter()
            .filter(|d| d.counted())
            .map(DockerfileReport::counted_seconds)
            .sum::<f64>()
            + 0.0
    }

    /// The guessed builds left out of the totals: (how many, rebuilt steps, seconds).
    pub fn uncounted(&self) -> (usize, usize, f64) {
        self.dockerfiles
            .iter()
            .filter(|d| !d.counted())
            .fold((0, 0, 0.0), |(n, steps, secs), d| {
                (
                    n + 1,
                    steps + d.counted_rebuilt(),
                    secs + d.counted_seconds(),
                )
            })
    }
}

/// Steps grouped by the first miss of their chain: (origin step, later steps that follow it).
pub fn chains(df: &DockerfileReport) -> Vec<(&Step, Vec<&Step>)> {
    let mut out: Vec<(&Step, Vec<&Step>)> = Vec::new();
    for s in df.steps.iter().filter(|s| s.status == Status::Rebuilt) {
        let origin = s.cause.as_ref().and_then(Cause::chain_origin);
        match origin.and_then(|o| out.iter().position(|(st, _)| st.line == o)) {
            Some(i) => out[i].1.push(s),
            None => out.push((s, Vec::new())),
        }
    }
    out
}

/// What the change would save with a fix applied (PR mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Savings {
    pub rebuilt_steps_before: usize,
    pub rebuilt_steps_after: usize,
    pub seconds_before: f64,
    pub seconds_after: f64,
}

/// One finding of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub line: u32,
    pub end_line: u32,
    pub stage: String,
    pub message: String,
    pub fix: Option<super::fix::Fix>,
    /// The finding's own fix when `fix` is one merged with an overlapping finding's: a review
    /// can still offer this part where the merged patch cannot be anchored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_fix: Option<super::fix::Fix>,
    /// Identifies the finding across revisions: rule, stage and instruction text, not lines.
    pub fingerprint: String,
    /// PR mode: the finding concerns this change (its lines changed, or its fix saves rebuilds).
    pub relevant: bool,
    pub savings: Option<Savings>,
    /// PR mode: what `own_fix` alone would save.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_savings: Option<Savings>,
}

/// A build as discovery finds it in one tree (`cachebust builds`): what `docker compose config`
/// and `docker buildx bake --print` resolve for the declared ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedBuild {
    pub dockerfile: String,
    /// Root-relative build context ("" = the root).
    pub context: String,
    pub target: Option<String>,
    pub args: std::collections::BTreeMap<String, String>,
    /// The Dockerfile is inline text of a declaration (`dockerfile` names the declaration).
    pub inline: bool,
    /// Every declaration of it; `Discovered` alone: no declaration, the context was guessed.
    pub origins: Vec<Origin>,
}

/// The builds of one tree and what discovery said on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildList {
    pub builds: Vec<ListedBuild>,
    pub diagnostics: Vec<FileDiagnostic>,
}
