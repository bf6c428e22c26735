//! The layer rules of ARCHITECTURE.md, checked on the source: every `crate::`/`super::` path and
//! every path through an external crate in `src/` is read (comments and string literals are
//! blanked first), and an arrow the rules forbid fails with its file and line. Also: the module
//! graph (a layer's direct children, e.g. `engine::predict`, `render::check`) has no cycles, and
//! in the engine `engine/mod.rs` is a room of its own (a child importing `crate::engine::X`
//! re-exported there goes through it, so a loop through `mod.rs` is a loop); and the pure layers
//! hold no hidden state (no `static` with a lock, a cell or a collection: memos are handed in).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[&str] = &[
    "engine", "render", "app", "adapters", "shell", "cli", "action", "server",
];
const SHELLS: &[&str] = &["cli", "action", "server"];
/// Crates the pure layers may not use: async runtimes, databases, HTTP, GitHub.
const IMPURE_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "octocrab",
    "axum",
    "hyper",
    "hyper_util",
    "http",
    "reqwest",
    "futures_util",
    "tracing",
    "tracing_subscriber",
];

/// Replace comments, string and char literals by spaces, keeping line breaks.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            wipe(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if !ident_before
            && (b[i] == b'r' || (b[i] == b'b' && b.get(i + 1) == Some(&b'r')))
            && {
                let s = if b[i] == b'b' { i + 2 } else { i + 1 };
                let h = b[s..].iter().take_while(|c| **c == b'#').count();
                b.get(s + h) == Some(&b'"')
            }
        {
            let s = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|c| **c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = s + hashes + 1;
            let end = text[body..]
                .find(&close)
                .map_or(b.len(), |n| body + n + close.len());
            wipe(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            wipe(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // a char literal ('x', '\n', '\u{..}'), not a lifetime
            let rest = &text[i + 1..];
            let len = if rest.starts_with('\\') {
                rest.find('\'').map(|n| n + 2)
            } else {
                rest.chars()
                    .next()
                    .filter(|c| rest[c.len_utf8()..].starts_with('\''))
                    .map(|c| c.len_utf8() + 2)
            };
            match len {
                Some(n) if n <= 12 => {
                    wipe(&mut out, i, i + n);
                    i += n;
                }
                _ => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 (only ASCII bytes are replaced)")
}

/// A file's module path: `src/engine/predict/sim.rs` → `engine::predict::sim`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The node of the module graph a path lands in: `engine::predict`, `ports`, `lib`.
fn node(path: &[String]) -> Option<String> {
    let first = path.first()?;
    if LAYERS.contains(&first.as_str()) {
        Some(match path.get(1) {
            Some(child)
                if child
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
            {
                format!("{first}::{child}")
            }
            _ => first.clone(),
        })
    } else if first == "ports" {
        Some("ports".into())
    } else {
        None
    }
}

struct Reference {
    line: usize,
    /// Absolute module path inside the crate, or `["<crate>", name]` for an external crate.
    target: Vec<String>,
}

fn words_after(text: &str, at: usize) -> Vec<String> {
    // a path `a::b::{c, d::e}` → a, b (only the leading segments matter here)
    let mut out = Vec::new();
    let mut rest = &text[at..];
    loop {
        let n = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        out.push(rest[..n].to_string());
        rest = &rest[n..];
        let t = rest.trim_start();
        if let Some(r) = t.strip_prefix("::") {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    out
}

/// The items of a group that follows the path at `at` (`a::b::{c, d::e}` → [c], [d, e]).
fn group_after(text: &str, at: usize) -> Option<Vec<Vec<String>>> {
    let b = text.as_bytes();
    let mut i = at;
    loop {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let rest = text[i..].trim_start();
        let r = rest.strip_prefix("::")?.trim_start();
        i = text.len() - r.len();
        if r.starts_with('{') {
            break;
        }
        if !r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
    }
    // the matching brace; items split at top-level commas
    let (mut depth, mut from, mut items) = (0usize, i + 1, Vec::new());
    for (j, c) in text[i..].char_indices() {
        let j = i + j;
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                let w = words_after(text[from..j].trim_start(), 0);
                if !w.is_empty() {
                    items.push(w);
                }
                from = j + 1;
                if c == '}' {
                    return Some(items);
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Every module a file names, with the line. `children`: the modules declared below the file
/// (a `mod.rs` names them without `crate::` or `super::`).
fn references(me: &[String], text: &str, children: &BTreeSet<String>) -> Vec<Reference> {
    let b = text.as_bytes();
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_word =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':');
        if !starts_word || !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            i += 1;
            continue;
        }
        let words = words_after(text, i);
        let len = words.first().map_or(1, String::len);
        let resolve = |words: &[String]| -> Option<Vec<String>> {
            if words.len() < 2 {
                None
            } else if words[0] == "crate" {
                Some(words[1..].to_vec())
            } else if words[0] == "super" {
                let ups = words.iter().take_while(|w| *w == "super").count();
                let base = &me[..me.len().saturating_sub(ups)];
                Some(
                    base.iter()
                        .cloned()
                        .chain(words[ups..].iter().cloned())
                        .collect(),
                )
            } else if IMPURE_CRATES.contains(&words[0].as_str()) {
                Some(vec!["<crate>".to_string(), words[0].clone()])
            } else if words[0] == "self" {
                Some(
                    me.iter()
                        .cloned()
                        .chain(words[1..].iter().cloned())
                        .collect(),
                )
            } else if children.contains(&words[0]) {
                // `pub use input::X;` in a `mod.rs`: a path through a child module
                Some(me.iter().cloned().chain(words.iter().cloned()).collect())
            } else {
                None
            }
        };
        // a group: `use crate::{app::x, ports::Y}`, `use crate::engine::{backend, report}`:
        // each item is a path of its own
        let items = group_after(text, i)
            .map(|items| {
                items
                    .into_iter()
                    .filter(|w| w.first().is_some_and(|f| f != "self"))
                    .map(|w| words.iter().cloned().chain(w).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let whole = if items.is_empty() {
            vec![words.clone()]
        } else {
            items
        };
        for path in whole {
            if let Some(target) = resolve(&path) {
                out.push(Reference {
                    line: line_of(i),
                    target,
                });
            }
        }
        i += len;
    }
    out
}

/// The child modules of `me` among the files: `engine` → {`input`, `predict`, …}.
fn children_of(me: &[String], files: &[(PathBuf, String)]) -> BTreeSet<String> {
    files
        .iter()
        .map(|(rel, _)| module_path(rel))
        .filter(|m| m.len() == me.len() + 1 && m.starts_with(me))
        .filter_map(|m| m.last().cloned())
        .collect()
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p.strip_prefix(&root).unwrap().to_path_buf(), blank(&text)));
            }
        }
    }
    out.sort();
    out
}

/// Why `from` (a file's module path) may not name `to`, if it may not.
fn forbidden(from: &[String], to: &[String]) -> Option<&'static str> {
    let layer = from.first().map(String::as_str).unwrap_or("");
    let target = to.first().map(String::as_str).unwrap_or("");
    let external = target == "<crate>";
    match layer {
        "engine" | "render" if external => {
            Some("the pure layers use no async, database or HTTP crate")
        }
        "engine"
            if [
                "render", "app", "ports", "adapters", "shell", "cli", "action", "server",
            ]
            .contains(&target) =>
        {
            Some("the engine imports nothing of the crate outside engine/")
        }
        "render"
            if [
                "app", "ports", "adapters", "shell", "cli", "action", "server",
            ]
            .contains(&target) =>
        {
            Some("render imports only the engine")
        }
        "ports" if target != "engine" && target != "ports" && !external => {
            Some("ports name engine data types only")
        }
        "adapters" if ["app", "render", "shell", "cli", "action", "server"].contains(&target) => {
            Some(
                "adapters never import app, render or a shell (they get rendered bodies through the ports)",
            )
        }
        "adapters"
            if target == "adapters"
                && from.get(1) != to.get(1)
                && matches!(to.get(1).map(String::as_str), Some("github" | "store")) =>
        {
            Some("the GitHub and store adapters know no other adapter")
        }
        "app" if ["adapters", "shell", "cli", "action", "server"].contains(&target) => {
            Some("use-cases work over the ports, never over adapters or shells")
        }
        "shell" if SHELLS.contains(&target) => {
            Some("the shared shell layer serves the shells, it does not call them")
        }
        l if SHELLS.contains(&l) && SHELLS.contains(&target) && target != l => {
            Some("shells never import each other (shared wiring goes in `shell` or `app`)")
        }
        _ => None,
    }
}

#[test]
fn layers_import_only_inward() {
    let mut bad = Vec::new();
    let files = sources();
    for (rel, text) in &files {
        let me = module_path(rel);
        for r in references(&me, text, &children_of(&me, &files)) {
            if let Some(why) = forbidden(&me, &r.target) {
                bad.push(format!(
                    "src/{}:{}: {} → {}: {why}",
                    rel.display(),
                    r.line,
                    me.join("::"),
                    r.target.join("::").replace("<crate>::", "crate ")
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} forbidden import(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Strongly connected groups of more than one module.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flatten()).collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in &nodes {
        if seen.contains(*n) {
            continue;
        }
        let mut stack = vec![((*n).clone(), false)];
        while let Some((v, done)) = stack.pop() {
            if done {
                order.push(v);
                continue;
            }
            if !seen.insert(v.clone()) {
                continue;
            }
            stack.push((v.clone(), true));
            for w in edges.get(&v).into_iter().flatten() {
                if !seen.contains(w) {
                    stack.push((w.clone(), false));
                }
            }
        }
    }
    let mut reverse: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (a, bs) in edges {
        for b in bs {
            reverse.entry(b).or_default().push(a);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.iter().rev() {
        if assigned.contains(v) {
            continue;
        }
        let mut group = Vec::new();
        let mut stack = vec![v];
        assigned.insert(v.clone());
        while let Some(x) = stack.pop() {
            group.push(x.clone());
            for w in reverse.get(x).into_iter().flatten() {
                if assigned.insert((*w).clone()) {
                    stack.push(w);
                }
            }
        }
        if group.len() > 1 {
            group.sort();
            out.push(group);
        }
    }
    out
}

fn module_graph(files: &[(PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in files {
        let me = module_path(rel);
        let Some(from) = node(&me) else { continue };
        for r in references(&me, text, &children_of(&me, files)) {
            let Some(to) = node(&r.target) else { continue };
            // a layer's own `mod.rs` and its children are one family, not a cycle; but not in
            // the engine, whose `mod.rs` only declares its rooms: there it is a room of its own
            let layer = |n: &str| n.split("::").count() == 1 && n != "engine";
            let family = from == to
                || layer(&to) && from.starts_with(&format!("{to}::"))
                || layer(&from) && to.starts_with(&format!("{from}::"));
            if !family {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

#[test]
fn modules_import_no_cycles() {
    let groups = cycles(&module_graph(&sources()));
    assert!(
        groups.is_empty(),
        "{} import cycle(s) between modules:\n{}",
        groups.len(),
        groups
            .iter()
            .map(|g| g.join(" ↔ "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    // the reader itself: a forbidden import in a comment or a string is not one; a real one is
    let text = blank(
        "// use crate::app::x;\nlet s = \"crate::app::y\";\nuse crate::{engine::a, app::check::FixOutcome};\nfn f() { tokio::spawn(x); }\n",
    );
    let me = vec!["render".to_string(), "check".to_string()];
    let refs: Vec<(usize, String)> = references(&me, &text, &BTreeSet::new())
        .into_iter()
        .filter(|r| forbidden(&me, &r.target).is_some())
        .map(|r| (r.line, r.target.join("::")))
        .collect();
    assert_eq!(
        refs,
        vec![
            (3, "app::check::FixOutcome".to_string()),
            (4, "<crate>::tokio".to_string())
        ]
    );
    // and a cycle is found
    let mut g = BTreeMap::new();
    g.insert(
        "engine::a".to_string(),
        BTreeSet::from(["engine::b".to_string()]),
    );
    g.insert(
        "engine::b".to_string(),
        BTreeSet::from(["engine::a".to_string()]),
    );
    g.insert(
        "engine::c".to_string(),
        BTreeSet::from(["engine::a".to_string()]),
    );
    assert_eq!(
        cycles(&g),
        vec![vec!["engine::a".to_string(), "engine::b".to_string()]]
    );
}

#[test]
fn a_loop_through_the_engines_mod_rs_is_a_loop() {
    // the old layout: `engine/mod.rs` held the input types and `analyze`, which calls the
    // prediction; the prediction imported the input types through `mod.rs`
    let file = |p: &str, t: &str| (PathBuf::from(p), blank(t));
    let old = vec![
        file(
            "engine/mod.rs",
            "pub mod predict;\npub mod input;\npub struct BuildInput;\npub fn analyze() { predict::predict_build(); }\n",
        ),
        file(
            "engine/predict/mod.rs",
            "use super::BuildInput;\npub fn predict_build() {}\n",
        ),
        file("engine/input.rs", "pub struct X;\n"),
    ];
    assert_eq!(
        cycles(&module_graph(&old)),
        vec![vec!["engine".to_string(), "engine::predict".to_string()]]
    );
    // a re-export in `mod.rs` is a path through it: a room importing `crate::engine::X` that
    // `mod.rs` takes from `pipeline`, which imports the room, is a loop too
    let reexport = vec![
        file(
            "engine/mod.rs",
            "pub mod pipeline;\npub mod predict;\npub use pipeline::analyze;\npub use input::BuildInput;\n",
        ),
        file("engine/pipeline.rs", "use crate::engine::predict::x;\n"),
        file("engine/predict/mod.rs", "use crate::engine::BuildInput;\n"),
        file("engine/input.rs", "pub struct BuildInput;\n"),
    ];
    assert_eq!(
        cycles(&module_graph(&reexport)),
        vec![vec![
            "engine".to_string(),
            "engine::pipeline".to_string(),
            "engine::predict".to_string()
        ]]
    );
    // the new layout: the rooms import `engine::input` by name
    let new = vec![
        file(
            "engine/mod.rs",
            "pub mod input;\npub mod pipeline;\npub mod predict;\n",
        ),
        file(
            "engine/pipeline.rs",
            "use crate::engine::predict::x;\nuse crate::engine::input::BuildInput;\n",
        ),
        file(
            "engine/predict/mod.rs",
            "use crate::engine::input::BuildInput;\n",
        ),
        file("engine/input.rs", "pub struct BuildInput;\n"),
    ];
    assert!(cycles(&module_graph(&new)).is_empty());
}

/// A `static` item that can hold data from input: a lock, a cell, a lazily built value, an
/// atomic or a collection (a compiled constant with no data from input would be allowed, e.g.
/// `static RE: LazyLock<Regex>`, but there is none today).
fn hidden_state(text: &str) -> Vec<(usize, String)> {
    const STATEFUL: &[&str] = &[
        "Mutex", "RwLock", "RefCell", "Cell<", "OnceLock", "OnceCell", "LazyLock", "Atomic",
        "HashMap", "HashSet", "BTreeMap", "BTreeSet", "Vec<", "Recent", "Memo", "Lru",
    ];
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub ")
            .or_else(|| {
                t.strip_prefix("pub(")
                    .and_then(|r| r.split_once(") ").map(|(_, r)| r))
            })
            .unwrap_or(t);
        let Some(rest) = t.strip_prefix("static ") else {
            if t.starts_with("thread_local!") {
                out.push((i + 1, t.to_string()));
            }
            continue;
        };
        // the declaration up to `=` (it may run over lines)
        let decl: String = text.lines().skip(i).collect::<Vec<_>>().join(" ");
        let decl = decl.split('=').next().unwrap_or(rest);
        if rest.starts_with("mut ") || STATEFUL.iter().any(|w| decl.contains(w)) {
            out.push((i + 1, t.trim().to_string()));
        }
    }
    out
}

#[test]
fn the_pure_layers_hold_no_hidden_state() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        if !(rel.starts_with("engine") || rel.starts_with("render")) {
            continue;
        }
        for (line, what) in hidden_state(&text) {
            bad.push(format!("src/{}:{line}: {what}", rel.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "{} static(s) with state in engine/ or render/ (take a memo from the caller: engine::Memo):\n{}",
        bad.len(),
        bad.join("\n")
    );
    // the reader itself: the old memos are found, a `&'static str` and a constant are not
    let old = blank(
        "static SIDES: crate::engine::memo::Recent<KeptSide> =\n    crate::engine::memo::Recent::new(384);\npub(crate) static CACHE: Mutex<Vec<u8>> = Mutex::new(Vec::new());\nfn f() -> &'static str { \"x\" }\nconst N: usize = 3;\nstatic NAMES: [&str; 2] = [\"a\", \"b\"];\n",
    );
    let found: Vec<usize> = hidden_state(&old).into_iter().map(|(l, _)| l).collect();
    assert_eq!(found, vec![1, 3]);
}
