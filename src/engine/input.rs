//! The ground floor of the engine: what a caller hands in (`Inputs`: the builds, each with its
//! base and head sides, the change set, the listings, the logs, the configuration) and the small
//! types every room names (`EngineKind`, `FileText`). It imports only data types of the rooms
//! below it, never the pipeline, the prediction or the rules, so they can all import it.

use std::collections::BTreeMap;

use crate::engine::tree::{ChangeSet, Listing};
use crate::engine::{backend, config, report, verify, volatility};

/// Which builder the prediction follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EngineKind {
    /// Current BuildKit, as run by docker/setup-buildx-action (buildx + buildkitd).
    #[serde(rename = "buildkit")]
    Buildkit,
    /// The BuildKit built into Docker Engine 20.10 (v0.8, dockerfile frontend 1.2).
    #[serde(rename = "docker-20.10")]
    Docker2010,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Buildkit => "buildkit",
            EngineKind::Docker2010 => "docker-20.10",
        }
    }
}

/// A file's text as read, or why it could not be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FileText {
    Text(String),
    /// The file exists but is not text: it holds a NUL byte or is not UTF-8.
    Binary(NotText),
    /// The file could not be read; the message says why.
    Unreadable(String),
}

/// Why a file is not text, with the 1-based line of the first offending byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NotText {
    Nul { line: u32 },
    NotUtf8 { line: u32 },
}

impl NotText {
    pub fn line(self) -> u32 {
        match self {
            NotText::Nul { line } | NotText::NotUtf8 { line } => line,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            NotText::Nul { .. } => "it holds a NUL byte",
            NotText::NotUtf8 { .. } => "it is not UTF-8",
        }
    }
}

impl FileText {
    pub fn from_bytes(bytes: Vec<u8>) -> FileText {
        fn line_of(bytes: &[u8], at: usize) -> u32 {
            bytes[..at].iter().filter(|b| **b == b'\n').count() as u32 + 1
        }
        if let Some(at) = bytes.iter().position(|b| *b == 0) {
            return FileText::Binary(NotText::Nul {
                line: line_of(&bytes, at),
            });
        }
        match String::from_utf8(bytes) {
            Ok(s) => FileText::Text(s),
            Err(e) => FileText::Binary(NotText::NotUtf8 {
                line: line_of(e.as_bytes(), e.utf8_error().valid_up_to()),
            }),
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            FileText::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One side (base or head) of a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideInput {
    /// The Dockerfile; `None` when it does not exist on this side.
    pub dockerfile: Option<FileText>,
    /// `<Dockerfile>.dockerignore` next to the Dockerfile, if present.
    pub dockerfile_ignore: Option<FileText>,
    /// `<context>/.dockerignore`, if present.
    pub context_ignore: Option<FileText>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
}

/// A build's cache on a fresh runner (`backend::CiCache`), its peers builds of this kind.
pub type CiCache = backend::CiCache<BuildInput>;
/// Another build that exports where a build imports.
pub type Peer = backend::Peer<BuildInput>;

/// One Dockerfile build to predict.
#[derive(Debug, Clone)]
pub struct BuildInput {
    /// Root-relative path of the Dockerfile.
    pub dockerfile: String,
    /// Root-relative build context ("" = the root).
    pub context: String,
    pub origin: report::Origin,
    /// All declarations of this build (`origin` first); empty = just `origin`.
    pub origins: Vec<report::Origin>,
    pub base: SideInput,
    pub head: SideInput,
    /// Report this build even if the change does not touch it.
    pub always_report: bool,
    /// Extra changed inputs (the compose file that declares it, when its entry changed).
    pub extra_touched: Vec<String>,
    /// A workflow step runs the build on a fresh runner with these cache backends (`None`: a
    /// warm local builder).
    pub ci: Option<CiCache>,
    /// A guessed build (no declaration names it): carried into its report.
    pub guessed: Option<report::Guess>,
    /// The Dockerfile lies in a test-fixture or demo tree and nothing declares it: one that
    /// cannot be read or parsed is said as information, not as an error.
    pub fixture: bool,
    /// The `docker buildx bake` calls that build it (a bake-action step, a bake group): bake
    /// solves the targets of one call together, so a vertex they share runs once.
    pub calls: Vec<String>,
}

/// Everything `analyze` needs.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub engine: EngineKind,
    pub builds: Vec<BuildInput>,
    pub changes: ChangeSet,
    pub base_tree: Listing,
    pub head_tree: Listing,
    /// Diagnostics gathered before the engine ran (compose parsing, discovery).
    pub diagnostics: Vec<report::FileDiagnostic>,
    /// Build logs given for timings: (name, text).
    pub timings: Vec<(String, String)>,
    /// Real builds of the head (`verify`): each is compared with the build whose steps it
    /// matches, and gives that build its timings.
    pub records: Vec<verify::RealBuild>,
    /// Build records CI uploaded: `head`, the pull request's own build (compared with the
    /// prediction, never a source of costs: the pull request's workflow made them), and
    /// `base`, the latest builds of the base branch (a source of costs only, `CostSource::Records`).
    pub ci: CiRecords,
    pub config: config::Config,
    /// Histories of files a rule asked for (`Needs::request_history`), by root-relative path.
    pub histories: volatility::Histories,
    /// What the report is for: a history reads each fix's saving, never what a merged fix's
    /// own part alone would save (`Finding::own_savings`, which a review offers), so those
    /// re-predictions are left out.
    pub purpose: Purpose,
}

/// What a report is for (`Inputs::purpose`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Purpose {
    /// A change shown in full: `analyze`, the Action, the App.
    #[default]
    Review,
    /// One commit of `history`.
    History,
}

/// Build records fetched from CI (`Inputs::ci`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CiRecords {
    pub head: Vec<verify::RealBuild>,
    pub base: Vec<verify::RealBuild>,
}
