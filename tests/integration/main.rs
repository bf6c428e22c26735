//! Integration tests: one binary (`cargo test --test integration`).

mod buildkit;
mod buildlogs;
mod cli;
mod cost;
mod dockerignore;
mod fix_proofs;
mod history;
mod parser_corpus;
mod rules;
mod support;
