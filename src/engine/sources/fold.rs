//! Folding one side's declarations into the builds of a change: each head declaration is
//! paired with the same declaration on the base side (same origin, same occurrence), the same
//! build declared twice is one build with all its origins, and a build only workflows that do
//! not run for the change declare (by their `on:`) is left out, counted per workflow.

use std::collections::BTreeMap;

use super::Declaration;
use crate::engine::discover;
use crate::engine::report::Origin;
use crate::engine::tree::ChangeSet;
use crate::engine::workflows::Skip;

/// One build to predict, with every declaration of it.
#[derive(Debug, Clone)]
pub struct Found {
    pub head: Declaration,
    /// The same declarations on the base side (by origin), when they existed.
    pub base: Option<Declaration>,
    pub origins: Vec<Origin>,
    /// Files whose change alters the build's declaration (e.g. a `.env` bumping a build arg).
    pub touched: Vec<String>,
    /// The bake calls of all its declarations (`Declaration::calls`).
    pub calls: Vec<String>,
    /// Declared only by workflows that do not run for this change (`on:` is a release, a
    /// schedule, a tag push, or its path filters match nothing the change touches): a build of
    /// the repository, not of this change.
    pub off: bool,
}

/// The builds of a change and the workflows whose builds were left out.
#[derive(Debug, Default)]
pub struct Folded {
    pub found: Vec<Found>,
    /// Per workflow that does not run for the change (path order): why, and how many builds
    /// only it declares.
    pub left_out: Vec<(String, Skip, usize)>,
}

/// The declared builds of a change, folded by identity, with their base side. With
/// `for_change`, a build only workflows that do not run for this change declare is `off`.
pub fn fold(
    head: &[Declaration],
    base: &[Declaration],
    changes: &ChangeSet,
    for_change: bool,
    memo: Option<&crate::engine::Memo>,
) -> Folded {
    let changed: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    let off_workflows = if for_change {
        workflows_off(head, &changed, memo)
    } else {
        BTreeMap::new()
    };
    let is_off =
        |d: &Declaration| workflow_file(&d.origin).is_some_and(|f| off_workflows.contains_key(f));
    let mut found: Vec<Found> = Vec::new();
    let mut offs: Vec<&Declaration> = Vec::new();
    for (k, h) in head.iter().enumerate() {
        if is_off(h) {
            offs.push(h);
            continue;
        }
        let b = base_of(head, k, base);
        let touched = touched(h, b.as_ref(), changes);
        add(&mut found, h.clone(), b, touched);
    }
    let left_out = leave_out(&mut found, offs)
        .into_iter()
        .filter_map(|(file, n)| {
            let why = off_workflows.get(&file)?.clone();
            Some((file, why, n))
        })
        .collect();
    Folded { found, left_out }
}

/// The same declaration as `head[k]` on the base side: the same origin, the same occurrence of
/// it (a script's k-th build command, wherever its lines moved).
fn base_of(head: &[Declaration], k: usize, base: &[Declaration]) -> Option<Declaration> {
    let id = identity(&head[k].origin);
    let nth = head[..k]
        .iter()
        .filter(|o| identity(&o.origin) == id)
        .count();
    base.iter()
        .filter(|b| identity(&b.origin) == id)
        .nth(nth)
        .cloned()
}

/// The changed files that alter a declaration: its inputs on either side when the build or its
/// CI setup differs, the files that declare it when it is new.
fn touched(h: &Declaration, b: Option<&Declaration>, changes: &ChangeSet) -> Vec<String> {
    match b {
        Some(b) if !b.same_build(h) || !b.same_ci(h) => {
            let mut touched: Vec<String> = h
                .inputs
                .iter()
                .chain(b.inputs.iter())
                .filter(|i| changes.get(i).is_some())
                .cloned()
                .collect();
            touched.sort();
            touched.dedup();
            touched
        }
        None if changes
            .iter()
            .map(|c| c.path.as_str())
            .any(|c| h.inputs.iter().any(|i| i == c)) =>
        {
            // a new declaration: the file that declares it changed
            h.inputs
                .iter()
                .filter(|i| changes.get(i).is_some())
                .cloned()
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Adds a declaration: into the build that runs the same way (its origins, touched files, base
/// and calls joined; a CI setup taken over from a declaration without one), else a new build.
fn add(found: &mut Vec<Found>, h: Declaration, b: Option<Declaration>, touched: Vec<String>) {
    let Some(f) = found.iter_mut().find(|f| f.head.same_run(&h)) else {
        found.push(Found {
            origins: std::iter::once(&h.origin).chain(&h.also).cloned().collect(),
            calls: h.calls.clone(),
            head: h,
            base: b,
            touched,
            off: false,
        });
        return;
    };
    if f.head.ci.is_none() && h.ci.is_some() {
        f.head.ci = h.ci.clone();
        f.base = b.clone().or(f.base.take());
    }
    for o in std::iter::once(&h.origin).chain(&h.also) {
        push_new(&mut f.origins, o);
    }
    for t in &touched {
        push_new(&mut f.touched, t);
    }
    if f.base.is_none() {
        f.base = b;
    }
    for c in &h.calls {
        push_new(&mut f.calls, c);
    }
}

/// Appends `x` unless the list has it.
fn push_new<T: PartialEq + Clone>(list: &mut Vec<T>, x: &T) {
    if !list.contains(x) {
        list.push(x.clone());
    }
}

/// Builds only workflows that do not run for the change declare: left out (`off`), unless a
/// running declaration has the same build; the count per workflow file.
fn leave_out(found: &mut Vec<Found>, offs: Vec<&Declaration>) -> BTreeMap<String, usize> {
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    for h in offs {
        if found.iter().any(|f| !f.off && f.head.same_build(h)) {
            continue;
        }
        if let Some(file) = workflow_file(&h.origin) {
            *left_out.entry(file.to_string()).or_default() += 1;
        }
        match found.iter_mut().find(|f| f.off && f.head.same_build(h)) {
            Some(f) => push_new(&mut f.origins, &h.origin),
            None => found.push(Found {
                origins: vec![h.origin.clone()],
                calls: Vec::new(),
                head: h.clone(),
                base: None,
                touched: Vec::new(),
                off: true,
            }),
        }
    }
    left_out
}

/// What names a declaration on both sides of a change: its origin, a script's command without
/// its line (an edit above it moves it).
fn identity(o: &Origin) -> Origin {
    match o {
        Origin::Script { file, .. } => Origin::Script {
            file: file.clone(),
            line: 0,
        },
        other => other.clone(),
    }
}

/// The workflows whose `on:` does not run them for a change of `changed` paths, with why; the
/// sentence said for each that declares a build.
fn workflows_off(
    head: &[Declaration],
    changed: &[&str],
    memo: Option<&crate::engine::Memo>,
) -> BTreeMap<String, Skip> {
    let mut off = BTreeMap::new();
    for d in head {
        let (Some(t), Some(file)) = (&d.triggers, workflow_file(&d.origin)) else {
            continue;
        };
        if off.contains_key(file) {
            continue;
        }
        if let Err(why) = t.runs_for(changed, memo) {
            off.insert(file.to_string(), why);
        }
    }
    off
}

/// The workflow file an origin is in (a step, or a `run:` block of one).
fn workflow_file(o: &Origin) -> Option<&str> {
    match o {
        Origin::Workflow { file, .. } => Some(file),
        Origin::Script { file, .. } if discover::is_workflow_name(file) => Some(file),
        _ => None,
    }
}
