//! I/O behind the ports, one module per external system: directories on disk, git revisions
//! through the git CLI, and the pair of them as a `RepoSource` for the CLI.

pub mod fs;
pub mod git;
pub mod local;
