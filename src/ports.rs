//! The small traits the use-cases need from the outside world. `RepoSource` gives the two trees
//! of a change (a directory, a git revision, or later the GitHub API): file names, file
//! contents, partial listings and the change set. Implementations live in `adapters`.

use crate::engine::FileText;
use crate::engine::tree::{ChangeSet, Entry, Listing, Side};

/// Errors a caller can branch on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A revision, directory or repository that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Reading failed (I/O, git, network).
    #[error("{0}")]
    Io(String),
}

/// A listing request answered: the requested path, whether recursive, and the entries found.
pub type Listed = (String, bool, Vec<(String, Entry)>);

#[allow(async_fn_in_trait)]
pub trait RepoSource {
    /// How the side is named in reports (`main`, `./head`, a commit id).
    fn label(&self, side: Side) -> String;

    /// Paths that differ between base and head.
    async fn changes(&self) -> Result<ChangeSet, SourceError>;

    /// Paths of one side whose names look like Dockerfiles or compose files
    /// (`engine::discover`), outside the directories discovery skips.
    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError>;

    /// Names of the immediate children of a directory (empty if it is not one).
    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError>;

    /// Contents of files (None where a path is not a file on that side).
    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError>;

    /// Entries at paths (`recursive`: the whole subtree; otherwise the path itself).
    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError>;

    /// Complete listings of both sides when the source already holds them (directories).
    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        None
    }
}

/// A commit of a first-parent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub commit: String,
    /// First parent (None for a root commit).
    pub parent: Option<String>,
    pub subject: String,
}

/// Which commits a history covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistorySpan {
    /// `A..B`.
    Range(String),
    /// The last N first-parent commits of HEAD.
    Last(usize),
}

/// A repository whose history can be replayed commit by commit.
#[allow(async_fn_in_trait)]
pub trait History {
    type Pair: RepoSource;

    /// First-parent commits, oldest first.
    async fn first_parent(&self, span: &HistorySpan) -> Result<Vec<CommitInfo>, SourceError>;

    /// The change from `parent` to `commit`.
    fn pair(&self, parent: &str, commit: &str) -> Result<Self::Pair, SourceError>;
}
