//! Use-cases over the ports: `analyze` loads what the engine needs from a `RepoSource`
//! (Dockerfiles, ignore files, compose files, listings on demand) and returns the report.
//! No concrete I/O here: everything goes through the traits in `ports`.

pub mod analyze;
pub mod history;
