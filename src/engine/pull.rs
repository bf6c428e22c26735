//! A pull request's changed files as the code host lists them: path, status and GitHub's own
//! unified patch, the lines inline review comments anchor to. Plain data, shared by the ports
//! (which fetch it) and `render::review` (which plans comments on it).

/// One changed file of a pull request, as the host's files list gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullFile {
    pub path: String,
    /// `added`, `removed`, `modified`, `renamed`, `copied`, `changed`, `unchanged`.
    pub status: String,
    pub previous_path: Option<String>,
    /// The unified-diff hunks; `None` for binary files and very large diffs (nothing in the
    /// file can carry an inline comment then).
    pub patch: Option<String>,
}
