//! What a fix run did (`app::check::fix`): the texts of the files it changes, before and after,
//! the fixes applied and those skipped with the reason. Plain data, so that `render::check`
//! can word it without knowing the use-case.

use std::collections::BTreeMap;

/// A fix that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub dockerfile: String,
    pub line: u32,
    pub code: &'static str,
    pub description: String,
}

/// A fix that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub dockerfile: String,
    pub line: u32,
    pub code: &'static str,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Needs `--unsafe`.
    Unsafe,
    /// Shown for a human to complete.
    DisplayOnly,
    /// Applying it would leave the Dockerfile unparsable.
    BreaksParse,
    /// It kept coming back after being applied (fixes that undo each other).
    NoConvergence,
}

#[derive(Debug, Clone, Default)]
pub struct FixOutcome {
    /// Original texts of the files that change (absent: the fix creates the file).
    pub before: BTreeMap<String, String>,
    /// New texts of the files that change.
    pub after: BTreeMap<String, String>,
    pub applied: Vec<Applied>,
    pub skipped: Vec<Skipped>,
    /// Passes run until no applicable fix was left.
    pub passes: usize,
}
