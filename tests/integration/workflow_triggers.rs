//! Issue 29, workflow triggers: a build that only workflows which do not run for the change
//! declare (`on: release`, a schedule, a tag push, `paths` filters the change does not meet) is
//! not this change's build: `analyze` leaves it out (and does not guess it either) and says so
//! once per workflow; `cachebust builds` still lists every declaration.

use std::path::Path;

use serde_json::Value;

use crate::cli::{cachebust, git};
use crate::support::trees::write_tree;

fn step(context: &str) -> String {
    format!(
        "jobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - name: Build\n        uses: docker/build-push-action@v6\n        with:\n          context: {context}\n"
    )
}

fn dockerfile(name: &str) -> String {
    format!("FROM alpine:3.20\nCOPY . /src\nRUN cat /src/{name}\n")
}

fn files() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (dir, on) in [
        (
            "app",
            "on:\n  pull_request:\n    paths: ['app/**', '!app/docs/**']\n  push:\n    branches: [main]\n    paths: ['app/**', '!app/docs/**']\n",
        ),
        ("rel", "on:\n  release:\n    types: [published]\n"),
        ("tag", "on:\n  push:\n    tags: ['v*']\n"),
        (
            "nightly",
            "on:\n  schedule:\n    - cron: '0 0 * * *'\n  workflow_dispatch:\n",
        ),
        (
            "code",
            "on:\n  pull_request:\n    paths-ignore: ['**.md']\n",
        ),
    ] {
        v.push((format!("{dir}/Dockerfile"), dockerfile("a")));
        v.push((format!("{dir}/a"), "1".to_string()));
        v.push((
            format!(".github/workflows/{dir}.yml"),
            format!("name: {dir}\n{on}{}", step(dir)),
        ));
    }
    v
}

fn commit(dir: &Path, files: &[(String, String)], msg: &str) {
    let v: Vec<(&str, String)> = files.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    write_tree(dir, &v);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
}

fn analyze(dir: &Path) -> Value {
    let o = cachebust(
        &[
            "analyze", "--repo", ".", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn reported(v: &Value) -> Vec<String> {
    let mut p: Vec<String> = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p
}

fn said(v: &Value) -> Vec<(String, String)> {
    v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .starts_with("this workflow runs")
        })
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Each change against the builds it runs: a change under every build's context rebuilds only
/// the ones whose workflows run on a pull request and whose path filters it meets; a change to
/// docs only runs none. The others are said, with the events they run on, and are no guessed
/// builds either. Before: every workflow's build was this change's (appwrite's `on: release`
/// image rebuilt by every commit).
#[test]
fn builds_of_workflows_that_do_not_run_for_the_change_are_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    let mut f = files();
    commit(dir, &f, "one");

    // every context changes
    for (p, c) in f.iter_mut() {
        if p.ends_with("/a") {
            *c = "2".into();
        }
    }
    commit(dir, &f, "two");
    let v = analyze(dir);
    assert_eq!(
        reported(&v),
        vec!["app/Dockerfile", "code/Dockerfile"],
        "{v:#}"
    );
    let s = said(&v);
    let files: Vec<&str> = s.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files,
        vec![
            ".github/workflows/nightly.yml",
            ".github/workflows/rel.yml",
            ".github/workflows/tag.yml"
        ],
        "{s:?}"
    );
    assert!(
        s[0].1
            .contains("runs on `schedule`, `workflow_dispatch` only"),
        "{s:?}"
    );
    assert!(s[1].1.contains("runs on `release` only"), "{s:?}");
    assert!(
        s[1].1
            .contains("the 1 build only it declares is not this change's"),
        "{s:?}"
    );
    assert_eq!(v["rebuilt_steps"], 4, "{v:#}");

    // docs only: the path filters of app.yml and code.yml select nothing
    f.push(("app/docs/guide.md".into(), "x".into()));
    commit(dir, &f, "docs");
    let v = analyze(dir);
    assert!(reported(&v).is_empty(), "{v:#}");
    let s = said(&v);
    let app = s
        .iter()
        .find(|(f, _)| f == ".github/workflows/app.yml")
        .unwrap();
    assert!(app.1.contains("`paths`/`paths-ignore` filters"), "{s:?}");

    // `cachebust builds` lists every declaration, whatever runs it
    let o = cachebust(&["builds", "--format", "json", "."], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut listed: Vec<&str> = b["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["dockerfile"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "app/Dockerfile",
            "code/Dockerfile",
            "nightly/Dockerfile",
            "rel/Dockerfile",
            "tag/Dockerfile"
        ]
    );
}
