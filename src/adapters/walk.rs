//! The budget of one tree walk, shared by the git and directory adapters: a pull request
//! controls its trees, so a walk counts the entries it lists, the bytes of their paths and the
//! directories it reads, and stops at a directory nested deeper than the limit
//! (`engine::budget::TREE`). Past a limit the walk fails with `SourceError::TooLarge`, naming
//! the tree, the limit and where it was crossed: the analysis is refused with that reason
//! instead of running out of memory or stack (seven trees sharing one subtree list 16⁷ paths
//! from 264 KB; a chain of directories 20,000 deep overflowed the stack).

use crate::engine::budget::{self, Budget, Exceeded};
use crate::ports::SourceError;

/// One walk of one tree.
pub struct TreeWalk {
    budget: Budget,
    /// How the tree is named in the refusal (`the tree of main (1a2b3c4d5e6f)`).
    tree: String,
}

/// A path shortened for a message (the first 80 characters).
fn short(path: &str) -> String {
    match path.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &path[..i]),
        None => path.to_string(),
    }
}

impl TreeWalk {
    pub fn new(tree: impl Into<String>) -> TreeWalk {
        TreeWalk {
            budget: Budget::new(&budget::TREE),
            tree: tree.into(),
        }
    }

    fn refuse(&self, e: Exceeded, path: &str) -> SourceError {
        let l = budget::TREE;
        SourceError::TooLarge(format!(
            "{} goes past the limits of one tree walk: {e} (at {}); not analysed (a walk lists at most {} entries, {} directories deep, {} of path names)",
            self.tree,
            short(path),
            budget::thousands(l.values),
            l.depth,
            budget::bytes_text(l.bytes)
        ))
    }

    /// An entry listed at `path`.
    pub fn entry(&mut self, path: &str) -> Result<(), SourceError> {
        let r = self
            .budget
            .values(1)
            .and_then(|_| self.budget.bytes(path.len()));
        r.map_err(|e| self.refuse(e, path))
    }

    /// A directory at `path` about to be read: one step, and its depth (its components).
    pub fn dir(&mut self, path: &str) -> Result<(), SourceError> {
        let depth = if path.is_empty() {
            0
        } else {
            path.split('/').count()
        };
        let r = self.budget.step().and_then(|_| self.budget.depth(depth));
        r.map_err(|e| self.refuse(e, path))
    }
}

/// The recursive requests of one listing call that no other recursive request of the call holds
/// (`""` holds everything, `a` holds `a/b`): each is walked once and the others are answered from
/// its walk, so a `COPY . .` beside a `COPY src/ …` does not list `src` twice against the budget.
pub fn outermost(requests: &[(String, bool)]) -> Vec<&str> {
    let mut dirs: Vec<&str> = requests
        .iter()
        .filter(|(_, r)| *r)
        .map(|(p, _)| p.as_str())
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let mut out: Vec<&str> = Vec::new();
    for d in dirs {
        // sorted, so a holder of `d` is the last one kept when there is one
        let held = out
            .last()
            .is_some_and(|q| q.is_empty() || (d.starts_with(q) && d[q.len()..].starts_with('/')));
        if !held {
            out.push(d);
        }
    }
    out
}

/// The entries strictly below `dir` in a sorted listing (`""`: all of them).
pub fn below<'a, V>(
    listing: &'a std::collections::BTreeMap<String, V>,
    dir: &str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    listing
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_requests_are_walked_once() {
        let r = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(p, b)| (p.to_string(), *b)).collect()
        };
        let req = r(&[("src", true), ("", true), ("x", false), ("src/a", true)]);
        assert_eq!(outermost(&req), [""]);
        let req = r(&[
            ("src/a", true),
            ("src", true),
            ("srcx", true),
            ("b/c", true),
        ]);
        assert_eq!(outermost(&req), ["b/c", "src", "srcx"]);
        let m: std::collections::BTreeMap<String, u8> = ["a", "a/b", "a/b/c", "ab", "a0"]
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        let keys: Vec<&String> = below(&m, "a").map(|(k, _)| k).collect();
        assert_eq!(keys, ["a/b", "a/b/c"]);
        assert_eq!(below(&m, "").count(), 5);
    }

    #[test]
    fn a_walk_is_refused_past_its_depth_and_entries_naming_tree_and_limit() {
        let mut w = TreeWalk::new("the tree of main (abc)");
        let deep = vec!["d"; 257].join("/");
        let e = w.dir(&deep).unwrap_err().to_string();
        assert!(
            e.starts_with("the tree of main (abc) goes past the limits of one tree walk: nested deeper than 256 directories (at d/d/d/"),
            "{e}"
        );
        assert!(e.contains("…); not analysed (a walk lists at most 500,000 entries, 256 directories deep, 64 MiB of path names)"), "{e}");
        let mut w = TreeWalk::new("x");
        for i in 0..500_000 {
            w.entry(&format!("f{i}")).unwrap();
        }
        let e = w.entry("last").unwrap_err();
        assert!(
            matches!(&e, SourceError::TooLarge(m) if m.contains("more than 500,000 entries (at last)")),
            "{e}"
        );
    }
}
