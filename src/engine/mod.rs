//! The pure core of cachebust: Dockerfile parsing, the stage graph, `.dockerignore` matching,
//! the change set and BuildKit's cache-key model. It takes texts and file listings and returns
//! a `Report`; it never touches the file system, the environment, the network or the terminal.
//! When a listing lacks paths it needs, `analyze` says which (`Outcome::need`) and the caller
//! loads them and calls again. This file only declares the rooms: the ground-floor types are in
//! `input`, the phases in `pipeline`; the re-exports below serve callers outside the engine
//! (rooms inside it import `input` and `pipeline` by name, which the architecture test checks).
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod backend;
pub mod bake;
pub mod budget;
pub mod buildlog;
pub mod buildrecord;
pub mod cleans;
pub mod compose;
pub mod config;
pub mod cost;
pub mod decl;
pub mod discover;
pub mod dockerfile;
pub mod expand;
pub mod fix;
pub mod fix_outcome;
pub mod gate;
pub mod glob;
pub mod hash;
pub mod history;
pub mod ignore;
pub mod input;
pub mod linediff;
pub mod memo;
pub mod pipeline;
pub mod predict;
pub mod pull;
pub mod report;
pub mod rules;
pub mod scripts;
pub mod settings;
pub mod shell;
pub mod shellwords;
pub mod sources;
pub mod tools;
pub mod tree;
pub mod verify;
pub mod volatility;
pub mod workflows;

pub use input::{BuildInput, CiRecords, EngineKind, FileText, Inputs, NotText, SideInput};
pub use memo::Memo;
pub use pipeline::{Outcome, analyze};
pub use report::Report;
