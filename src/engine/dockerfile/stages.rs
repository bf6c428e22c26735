//! Stages of a parsed Dockerfile: the global ARGs before the first FROM, each stage's FROM and
//! body, the stage graph edges (`FROM stage`, `COPY --from`, `RUN --mount from=`) and which
//! stages a target reaches (`convert.go: allReachableStages`). Names are resolved after global
//! ARG expansion by the caller, which passes the expanded FROM references in.

use super::ast::{Body, Dockerfile, Instruction, Kind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInfo {
    /// 0-based stage index.
    pub index: usize,
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// Index of the FROM instruction in `Dockerfile::instructions`.
    pub from: usize,
    /// Index one past the last instruction of the stage.
    pub end: usize,
}

impl StageInfo {
    /// The name used in progress output and reports: the alias or `stage-N`.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// Split into global ARG instructions and stages.
pub fn split(df: &Dockerfile) -> (Vec<usize>, Vec<StageInfo>) {
    let mut globals = Vec::new();
    let mut stages: Vec<StageInfo> = Vec::new();
    for (i, inst) in df.instructions.iter().enumerate() {
        if inst.kind == Kind::From {
            if let Some(last) = stages.last_mut() {
                last.end = i;
            }
            let name = match &inst.body {
                Body::From { alias, .. } => alias.clone(),
                _ => None,
            };
            stages.push(StageInfo {
                index: stages.len(),
                name,
                from: i,
                end: df.instructions.len(),
            });
        } else if stages.is_empty() && inst.kind == Kind::Arg {
            globals.push(i);
        }
    }
    (globals, stages)
}

/// What a stage builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// Another stage of this file (index).
    Stage(usize),
    /// An image reference after global-ARG expansion.
    Image(String),
}

/// Look up a `--from=` / `from=` value: a stage name (case-insensitive) or index, defined before
/// the stage at `before`. `None` means the value names an image.
pub fn lookup_stage(stages: &[StageInfo], value: &str, before: usize) -> Option<usize> {
    if let Ok(i) = value.parse::<usize>() {
        return (i < before).then_some(i);
    }
    let lower = value.to_ascii_lowercase();
    stages[..before.min(stages.len())]
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
        .map(|s| s.index)
}

/// Stage indices referenced by one instruction through `--from` (COPY/ADD) or `--mount from=`.
pub fn referenced_from(inst: &Instruction) -> Vec<String> {
    let mut out = Vec::new();
    match inst.kind {
        Kind::Copy | Kind::Add => {
            if let Some(v) = inst.flag_value("from") {
                out.push(v.to_string());
            }
        }
        Kind::Run => {
            for f in inst.flags_named("mount") {
                if let Some(v) = &f.value {
                    out.extend(mount_from(v));
                }
            }
        }
        Kind::Onbuild => {
            if let Body::Onbuild(inner) = &inst.body {
                out.extend(referenced_from(inner));
            }
        }
        _ => {}
    }
    out
}

/// The `from=` values of one `--mount` value, in order (key matched case-insensitively).
fn mount_from(v: &str) -> Vec<String> {
    split_csv(v)
        .iter()
        .filter_map(|part| {
            let (k, val) = part.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("from")
                .then(|| val.trim().to_string())
        })
        .collect()
}

/// Split a `--mount` value on commas, honouring double quotes (Go's csv reader).
pub fn split_csv(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_q && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => in_q = !in_q,
            ',' if !in_q => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Stages reachable from `target` given each stage's base and references (by index).
pub fn reachable(target: usize, deps: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; deps.len()];
    let mut stack = vec![target];
    while let Some(s) = stack.pop() {
        if s >= seen.len() || seen[s] {
            continue;
        }
        seen[s] = true;
        stack.extend(deps[s].iter().copied());
    }
    seen
}
