//! Integration tests: one binary (`cargo test --test integration`).

mod action;
mod buildkit;
mod buildlogs;
mod cli;
mod cost;
mod discovery;
mod dockerignore;
mod fix_proofs;
mod history;
mod monorepo;
mod parser_corpus;
mod review;
mod rules;
mod server;
mod support;
