//! Integration tests: one binary (`cargo test --test integration`).

mod buildkit;
mod cli;
mod dockerignore;
mod parser_corpus;
mod support;
