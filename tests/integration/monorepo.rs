//! `check` and `fix` on a monorepo through the real binary (issue 13, target 5): many corpus
//! Dockerfiles in one tree with one root, `fix --apply` converging in one call (a second call
//! changes nothing, one header per `.dockerignore`), and paths given from anywhere (the root is
//! the path's git repository top level, else the directory itself).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{cachebust, root};

fn corpus() -> PathBuf {
    for c in [
        root().join("../shared/corpus/dockerfiles"),
        root().join("shared/corpus/dockerfiles"),
    ] {
        if c.is_dir() {
            return c;
        }
    }
    panic!("shared/corpus/dockerfiles not found beside the repository");
}

/// The first `n` corpus Dockerfiles (with their `.dockerignore`), each in its own directory.
fn monorepo(dir: &Path, n: usize) {
    let mut ids: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    for d in ids.into_iter().take(n) {
        let dst = dir.join(d.file_name().unwrap());
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// Every file of the tree with its bytes (outside `.git`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

const HEADER: &str = "# files that change often and never belong in the image (cachebust CB002)";

#[test]
fn fix_apply_converges_in_one_call_on_a_monorepo() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("mono");
    std::fs::create_dir_all(&repo).unwrap();
    monorepo(&repo, 120);
    let before = snapshot(&repo);
    // from outside the tree, the tree named by its path
    let o = cachebust(&["fix", "--apply", repo.to_str().unwrap()], tmp.path());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let first = snapshot(&repo);
    assert_ne!(first, before, "the first call fixes something");
    let root_ignore = String::from_utf8(first[Path::new(".dockerignore")].clone()).unwrap();
    // many builds of the root context share its .dockerignore: their entries go in together
    let entries = root_ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    // more than the 10 passes could add one at a time
    assert!(entries > 10, "{root_ignore}");
    for (p, bytes) in &first {
        if p.file_name().is_some_and(|n| n == ".dockerignore") {
            let t = String::from_utf8_lossy(bytes);
            assert!(
                t.lines().filter(|l| *l == HEADER).count() <= 1,
                "{}: the header more than once:\n{t}",
                p.display()
            );
            let lines: Vec<&str> = t.lines().filter(|l| !l.is_empty()).collect();
            let mut dedup = lines.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(
                dedup.len(),
                lines.len(),
                "{}: a line twice:\n{t}",
                p.display()
            );
        }
    }
    // a second call changes nothing
    let o = cachebust(&["fix", "--apply", repo.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to fix"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(snapshot(&repo), first, "the second call changed files");
}

#[test]
fn check_and_fix_take_paths_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let sub = repo.join("services/api");
    std::fs::create_dir_all(&sub).unwrap();
    // a builder stage copies the whole context: CB002's safe fix (a .dockerignore beside it)
    std::fs::write(
        sub.join("Dockerfile"),
        "FROM alpine:3.19 AS build\nCOPY . /src\nRUN cat /src/app.txt > /out\nFROM alpine:3.19\nCOPY --from=build /out /out\n",
    )
    .unwrap();
    std::fs::write(sub.join("app.txt"), "app\n").unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // not a repository: the directory itself is the root
    let o = cachebust(&["check", sub.to_str().unwrap()], &elsewhere);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("not inside"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Dockerfile:2: warning CB002"), "{out}");
    assert!(!out.contains("services/api/Dockerfile"), "{out}");

    // in a git repository: its top level is the root, whichever file or directory is named
    let st = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .status()
        .unwrap();
    assert!(st.success());
    for target in [sub.join("Dockerfile"), sub.clone()] {
        let o = cachebust(&["check", target.to_str().unwrap()], &elsewhere);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains("services/api/Dockerfile:2: warning CB002"),
            "{out}"
        );
    }
    // fix writes where the file is
    let o = cachebust(
        &["fix", "--apply", sub.join("Dockerfile").to_str().unwrap()],
        &elsewhere,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ignore = std::fs::read_to_string(sub.join(".dockerignore")).unwrap();
    assert!(ignore.contains("Dockerfile"), "{ignore}");
    assert!(!elsewhere.join("services").exists());

    // paths in two unrelated trees need --root
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("Dockerfile"), "FROM alpine:3.19\n").unwrap();
    let o = cachebust(
        &["check", sub.to_str().unwrap(), other.to_str().unwrap()],
        &elsewhere,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("give --root"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
