//! Test helpers: temporary trees, the real Docker daemon, running the analysis in-process.

pub mod corpus;
pub mod docker;
pub mod github;
pub mod proofs;
pub mod trees;
