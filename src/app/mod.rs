//! Use-cases over the ports: `analyze` loads what the engine needs from a `RepoSource`
//! (Dockerfiles, ignore files, compose files, listings on demand) and returns the report;
//! `check` audits whole files and `fix` applies the rules' fixes over an overlay of the tree;
//! `publish` delivers a report to a pull request over a `CodeHost`; `review` is the one
//! "review a change" use-case of the Action and the worker (configuration, analysis, publish); `webhook` and `worker` are
//! the server's intake and processing over a `JobStore`; `metrics` what the server counts.
//! `config` is the configuration a change is reviewed with (the base revision's); `isolate` runs
//! the server's analysis in a process of its own; `ci` fetches the build records CI uploaded (the
//! pull request's own build to compare with, the base branch's for costs).
//! No concrete I/O here: everything goes through the traits in `ports`.

pub mod analyze;
pub mod check;
pub mod ci;
pub mod config;
pub mod discover;
pub mod history;
pub mod isolate;
pub mod metrics;
pub mod publish;
pub mod review;
pub mod webhook;
pub mod worker;
