//! What the readers of build declarations (Compose, bake, workflows) share: the problem they
//! report, the budgeted YAML loader (a pull request controls these files, so what alias
//! expansion produces is bounded by nodes, bytes and depth, not by the alias/anchor ratio), the
//! check that a path stays inside the repository, and finding a line by its text.

use serde_json::Value;

use crate::engine::tree::join_clean;

/// A problem in a file that declares builds, with its line when known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    pub file: String,
    pub line: Option<u32>,
    /// An error (the declaration is refused) rather than a warning.
    pub error: bool,
    pub message: String,
}

/// Size limit for one YAML file, in bytes.
pub const MAX_YAML_BYTES: usize = 2 * 1024 * 1024;

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // what expansion produces is bounded (events, nodes, bytes, depth); many aliases over few
    // anchors is normal in real compose files (x-defaults merged into every service)
    budget.enforce_alias_anchor_ratio = false;
    budget.max_events = 1_000_000;
    budget.max_aliases = 20_000;
    budget.max_anchors = 20_000;
    budget.max_depth = 64;
    budget.max_documents = 1;
    budget.max_nodes = 250_000;
    budget.max_total_scalar_bytes = 8 * 1024 * 1024;
    budget.max_merge_keys = 20_000;
    budget.max_recorded_anchor_events = 500_000;
    budget.max_recorded_anchor_bytes = 8 * 1024 * 1024;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o
}

type Loaded = Result<Value, (Option<u32>, String)>;

/// [`load_yaml`], remembered in the caller's memo: a history replays hundreds of commits whose
/// compose and workflow files rarely change while a `.env` beside them does, and a monorepo reads
/// tens of them per commit (loki: 38 workflows and 17 compose files).
pub fn load_yaml_in(memo: &crate::engine::memo::Memo, text: &str) -> Loaded {
    memo.get_or(crate::engine::memo::Kind::Yaml, text, || load_yaml(text))
}

/// Read one YAML document under the budgets (shared with the workflow reader).
pub fn load_yaml(text: &str) -> Loaded {
    if text.len() > MAX_YAML_BYTES {
        return Err((
            None,
            format!("larger than {MAX_YAML_BYTES} bytes; not read"),
        ));
    }
    match serde_saphyr::from_str_with_options::<Value>(text, options()) {
        Ok(v) => {
            // a last bound on what aliases expanded to, counted on the value itself
            let mut budget = 2_000_000usize;
            if count_nodes(&v, &mut budget) {
                Ok(v)
            } else {
                Err((
                    None,
                    "expands to more than 2,000,000 nodes (an alias bomb?); not read".into(),
                ))
            }
        }
        Err(e) => {
            let line = e.location().map(|l| l.line() as u32);
            Err((line, yaml_message(&e)))
        }
    }
}

/// A YAML reader's error in one sentence: a budget breach says what went past the limit ("more
/// than 20000 nodes…", not "budget breached: Nodes { nodes: 20001 }"), any other error its first
/// line.
pub fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    // the breach under the wrappers that add a snippet or an alias's location
    let mut inner = e.without_snippet();
    while let serde_saphyr::Error::AliasError { error, .. } = inner {
        inner = error.without_snippet();
    }
    let serde_saphyr::Error::Budget { breach, .. } = inner else {
        return e
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_string();
    };
    // the count at the breach is one past the limit
    let past = |n: usize, what: &str| {
        format!(
            "more than {} {what}: past the limit cachebust reads a YAML file under; not read",
            n.saturating_sub(1)
        )
    };
    match breach {
        B::Events { events } => past(*events, "parser events"),
        B::Aliases { aliases } => past(*aliases, "aliases (*name)"),
        B::Anchors { anchors } => past(*anchors, "anchors (&name)"),
        B::Depth { depth } => past(*depth, "levels of nesting"),
        B::Documents { documents } => past(*documents, "documents"),
        B::Nodes { nodes } => past(*nodes, "nodes (mappings, lists and values)"),
        B::ScalarBytes { total_scalar_bytes } => past(*total_scalar_bytes, "bytes of values"),
        B::MergeKeys { merge_keys } => past(*merge_keys, "merge keys (<<)"),
        B::RecordedAnchorEvents {
            recorded_anchor_events,
        } => past(*recorded_anchor_events, "events copied by aliases"),
        B::RecordedAnchorBytes {
            recorded_anchor_bytes,
        } => past(*recorded_anchor_bytes, "bytes copied by aliases"),
        B::AliasAnchorRatio { aliases, anchors } => format!(
            "{aliases} aliases for {anchors} anchors (an alias bomb?): past the limit cachebust reads a YAML file under; not read"
        ),
        _ => "larger or deeper than the limits cachebust reads a YAML file under; not read".into(),
    }
}

fn count_nodes(v: &Value, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match v {
        Value::Array(a) => a.iter().all(|x| count_nodes(x, budget)),
        Value::Object(m) => m.values().all(|x| count_nodes(x, budget)),
        _ => true,
    }
}

/// 1-based line of the first line of `text` matching `pred`.
pub fn find_line(text: &str, pred: impl Fn(&str) -> bool) -> Option<u32> {
    text.lines().position(pred).map(|i| i as u32 + 1)
}

/// `rel` resolved against `dir`, or `None` when it leaves the repository (or is absolute).
pub fn inside(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut depth: i64 = dir
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .count() as i64;
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            _ => depth += 1,
        }
    }
    Some(join_clean(dir, rel))
}
