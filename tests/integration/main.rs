//! Integration tests: one binary (`cargo test --test integration`).

mod buildkit;
mod support;
