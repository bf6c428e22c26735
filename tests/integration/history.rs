//! `cachebust history` on a small real repository: per-step rebuild counts, triggers, totals
//! and the avoidable share, with costs fixed by a configuration file so the figures are exact.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::cachebust;

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub(crate) fn commit(dir: &Path, files: &[(&str, &str)], msg: &str) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
}

const DF: &str = "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\nRUN npm run build\n";

#[test]
fn history_counts_rebuilds_triggers_and_avoidable_time() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    commit(
        &repo,
        &[
            ("Dockerfile", DF),
            ("package.json", "{}"),
            ("package-lock.json", "{}"),
            ("src/a.js", "1"),
            ("README.md", "r"),
            (".dockerignore", "other\n"),
        ],
        "start",
    );
    commit(
        &repo,
        &[("src/a.js", "2")],
        "source edit: npm ci re-runs although no manifest changed",
    );
    commit(&repo, &[("README.md", "r2")], "readme: context noise");
    commit(
        &repo,
        &[("package-lock.json", "{\"v\":2}")],
        "dependency bump: not avoidable",
    );
    commit(
        &repo,
        &[("Dockerfile", &format!("# build the app\n{DF}"))],
        "comment in the Dockerfile: copied by COPY . .",
    );
    commit(
        &repo,
        &[("other/notes.txt", "n")],
        "ignored by .dockerignore: nothing",
    );
    let cfg = tmp.path().join("cost.yml");
    // `RUN*npm ci`: the same 60 s with a cache mount added, so a fix that only adds the mount
    // saves nothing here (the model would halve the install)
    std::fs::write(&cfg, "cost:\n  - match: \"RUN*npm ci\"\n    seconds: 60\n  - match: \"RUN npm run build\"\n    seconds: 30\n  - match: \"COPY*\"\n    seconds: 1\n").unwrap();
    let o = cachebust(
        &[
            "history",
            "--last",
            "10",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["commits"], 5,
        "the root commit has no parent to compare with"
    );
    // four commits rebuild COPY . . + npm ci + build = 91 s each
    assert_eq!(v["total_rebuild_seconds"], 364.0);
    // avoidable, re-predicted with each fix in place (the best one per commit): npm ci after the
    // source edit (CB001 manifest-first: 60), the whole chain after README and after the
    // Dockerfile comment (CB002 context-noise: 91 each); the lockfile bump re-runs npm ci with
    // any fix, so nothing of it is avoidable
    assert_eq!(v["avoidable_seconds"], 242.0);
    let avoid: Vec<f64> = v["per_commit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["avoidable_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(avoid, [60.0, 91.0, 0.0, 91.0, 0.0]);
    let d = &v["dockerfiles"][0];
    assert_eq!(d["path"], "Dockerfile");
    assert_eq!(d["commits_rebuilding"], 4);
    // the source edit's 60 s: CB001's manifest-first fix, merged with CB004's overlapping cache
    // mount into one fix both findings carry, so either name may file it
    let merged = d["avoidable"]["manifest_first"]
        .as_f64()
        .or(d["avoidable"]["cache_mount"].as_f64());
    assert_eq!(merged, Some(60.0), "{}", d["avoidable"]);
    assert_eq!(d["avoidable"]["context_noise"], 182.0);
    assert_eq!(
        d["avoidable"].as_object().unwrap().len(),
        2,
        "{}",
        d["avoidable"]
    );
    let npm = d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["instruction"] == "RUN npm ci")
        .unwrap();
    assert_eq!(npm["rebuilds"], 4);
    let trig = &d["triggers"][0];
    assert_eq!(trig["kind"], "files");
    assert_eq!(trig["count"], 4);
    let tops: Vec<&str> = trig["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    for p in ["Dockerfile", "README.md", "package-lock.json", "src/a.js"] {
        assert!(tops.contains(&p), "{p} in {tops:?}");
    }
    let per: Vec<f64> = v["per_commit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rebuild_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(per, [91.0, 91.0, 91.0, 91.0, 0.0]);
    // the text rendering leads with the totals
    let t = cachebust(
        &[
            "history",
            "--last",
            "10",
            "--config",
            cfg.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(text.starts_with("cachebust history last 10 commits: 5 commits, 4 rebuild something; about 6 min 4 s of rebuild time in all, 66% of it avoidable (4 min 2 s)"), "{text}");
    // a bad range is a one-line error
    let bad = cachebust(
        &[
            "history",
            "--range",
            "nope..main",
            "--repo",
            repo.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
}

/// "What starts the rebuilds" ranks causes, not their consequences: a `COPY --from` of a stage
/// that rebuilt follows every commit that rebuilds the stage, so counted alone it outnumbered
/// each real cause and came first. Here two files of the build stage change in turn (two
/// commits each): the COPY --from rebuilds in all four, each file's COPY in two.
#[test]
fn a_downstream_copy_from_is_not_ranked_first() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    let df = "FROM busybox AS build\nCOPY a.txt /a.txt\nRUN cat /a.txt > /out\nCOPY b.txt /b.txt\nRUN cat /b.txt >> /out\n\nFROM busybox\nCOPY --from=build /out /out\nRUN wc -c /out\n";
    commit(
        &repo,
        &[("Dockerfile", df), ("a.txt", "0"), ("b.txt", "0")],
        "start",
    );
    for (i, f) in ["a.txt", "b.txt", "a.txt", "b.txt"].iter().enumerate() {
        commit(&repo, &[(f, &format!("{}", i + 1))], &format!("edit {f}"));
    }
    let o = cachebust(&["history", "--last", "4", "--format", "json"], &repo);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let trig = v["dockerfiles"][0]["triggers"].as_array().unwrap();
    assert!(trig.len() >= 2, "{trig:?}");
    assert_eq!(trig[0]["kind"], "files", "{trig:?}");
    let from = trig.iter().position(|t| t["kind"] == "copy_from");
    let files = trig.iter().filter(|t| t["kind"] == "files").count();
    if let Some(p) = from {
        assert!(p >= files, "COPY --from before a cause: {trig:?}");
    }
}
