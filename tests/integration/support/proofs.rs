//! Helpers of the real-build fix proofs (fix_proofs_rules, fix_proofs_unsafe): a tree as a list
//! of (path, text), edits to it, the finding and fix cachebust reports over it (`check`), and
//! the tree with a fix applied whatever its applicability (to build what it would do).

use std::path::Path;

use cachebust::app::analyze::AnalyzeOptions;
use cachebust::engine::fix::{self, Fix};
use cachebust::engine::rules::Finding;

use super::docker::{BASE1, Docker};
use super::trees::write_tree;

pub type Files = Vec<(String, String)>;

/// Owned files, `{B1}` replaced by the busybox base image.
pub fn owned(files: &[(&str, &str)]) -> Files {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.replace("{B1}", BASE1)))
        .collect()
}

pub fn write(dir: &Path, files: &[(String, String)]) {
    let refs: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    write_tree(dir, &refs);
}

/// `files` with each (path, text) written over or added.
pub fn with_edits(files: &[(String, String)], edits: &[(&str, &str)]) -> Files {
    let mut out = files.to_vec();
    for (path, text) in edits {
        match out.iter_mut().find(|(p, _)| p == path) {
            Some(f) => f.1 = text.to_string(),
            None => out.push((path.to_string(), text.to_string())),
        }
    }
    out
}

pub fn dockerfile(files: &[(String, String)]) -> &str {
    &files.iter().find(|(p, _)| p == "Dockerfile").unwrap().1
}

/// The finding of `code` cachebust reports over the tree (the first, or the one at `line`).
pub async fn finding_of(
    files: &[(String, String)],
    code: &str,
    line: Option<u32>,
    d: &Docker,
) -> Option<Finding> {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), files);
    let repo = cachebust::adapters::fs::SameDir::open(tmp.path()).unwrap();
    let mut opts = AnalyzeOptions::new(d.daemon.engine());
    opts.dockerfiles = vec!["Dockerfile".into()];
    let report = cachebust::app::check::check(&repo, &opts).await.unwrap();
    report
        .dockerfiles
        .iter()
        .flat_map(|df| &df.findings)
        .find(|f| f.code == code && line.is_none_or(|l| f.line == l))
        .cloned()
}

/// `files` with a fix applied, whatever its applicability (to build what it would do).
pub fn patched(files: &[(String, String)], x: &Fix) -> Files {
    let map: std::collections::BTreeMap<String, String> = files.iter().cloned().collect();
    let (out, applied) = fix::apply(&map, &[x]);
    assert_eq!(applied, vec![0], "the fix applies");
    let mut fixed = files.to_vec();
    for (p, t) in out {
        match fixed.iter_mut().find(|(q, _)| *q == p) {
            Some(f) => f.1 = t,
            None => fixed.push((p, t)),
        }
    }
    fixed
}
