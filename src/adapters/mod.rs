//! I/O behind the ports, one module per external system: directories on disk, git revisions
//! through the git CLI, the pair of them as a `RepoSource` for the CLI, and GitHub's REST API
//! (reviews and comments as a `CodeHost`, pull-request trees as a `RepoSource`), and the
//! server's job queue (SQLite or PostgreSQL), and the process each server analysis runs in;
//! `walk` is the budget every walk of a tree counts against.

pub mod buildrecord;
pub mod fs;
pub mod git;
pub mod github;
pub mod local;
pub mod process;
pub mod store;
pub mod walk;
pub mod zip;
