//! cachebust predicts, from the base and head of a change, which BuildKit cache entries of which
//! Dockerfile builds will miss, and why.
//!
//! Layers (arrows point inward only):
//! `cli`/`action`/`server` → `app` → `ports` ← `adapters`; `app` → `render` → `engine`.
//! `engine` and `render` are pure: no file system, environment, network or printing.

pub mod action;
pub mod adapters;
pub mod app;
pub mod cli;
pub mod engine;
pub mod ports;
pub mod render;
pub mod server;
