//! cachebust predicts, from the base and head of a change, which BuildKit cache entries of which
//! Dockerfile builds will miss, and why.
//!
//! Layers (arrows point inward only; ARCHITECTURE.md): `cli`/`action`/`server` (over the shared
//! `shell`) → `app` → `ports` ← `adapters`; `app` → `render` → `engine`. `engine` and `render`
//! are pure: no file system, environment, clock, network or printing (`.clippy.toml`, denied in
//! their `mod.rs`); `tests/integration/architecture.rs` fails on an arrow the layers forbid and
//! on an import cycle between modules.

pub mod action;
pub mod adapters;
pub mod app;
pub mod cli;
pub mod engine;
pub mod ports;
pub mod render;
pub mod server;
pub mod shell;
