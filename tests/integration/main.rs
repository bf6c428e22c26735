//! Integration tests: one binary (`cargo test --test integration`).

mod action;
mod architecture;
mod budgets;
mod buildkit;
mod buildlogs;
mod cli;
mod corpus;
mod cost;
mod deploy;
mod discovery;
mod dockerignore;
mod fix_proofs;
mod fix_proofs_rules;
mod fix_proofs_unsafe;
mod history;
mod history_repos;
mod hostile_cli;
mod hostile_files;
mod install;
mod monorepo;
mod parser_corpus;
mod review;
mod rules;
mod server;
mod server_races;
mod support;
