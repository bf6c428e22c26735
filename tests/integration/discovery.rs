//! Build discovery against the real tools: cachebust's resolution of every Compose project in
//! tests/fixtures/discovery/compose (trimmed from real repositories, see PROVENANCE.md) compared
//! with `docker compose config --format json` of Compose 2.40.3, and of the bake files in
//! tests/fixtures/discovery/bake with `docker buildx bake --print` of buildx 0.29.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cachebust::engine::{bake, compose};

pub use crate::support::realtools::docker28;
use crate::support::realtools::{Build, check_tree, compose_projects, theirs, walk};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/discovery")
}

fn ours(
    root: &Path,
    project: &compose::Project,
) -> (
    BTreeMap<String, Build>,
    Vec<cachebust::engine::decl::Problem>,
) {
    let mut given: BTreeMap<String, Option<String>> = BTreeMap::new();
    for _ in 0..30 {
        match compose::resolve(project, &given, &BTreeMap::new()) {
            Ok(r) => {
                let builds = r
                    .builds
                    .into_iter()
                    .map(|b| (b.service, (b.context, b.dockerfile, b.args, b.target)))
                    .collect();
                return (builds, r.problems);
            }
            Err(compose::Need(paths)) => {
                for p in paths {
                    let t = std::fs::read_to_string(root.join(&p)).ok();
                    given.insert(p, t);
                }
            }
        }
    }
    panic!("resolution of {project:?} did not converge");
}

#[test]
fn compose_matches_docker_compose_config() {
    let Some(docker) = docker28() else { return };
    let base = fixtures().join("compose");
    let mut compared = 0;
    let mut services = 0;
    let mut refused = Vec::new();
    let mut mismatches = Vec::new();
    let mut repos: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    repos.sort();
    for root in repos {
        let mut names = Vec::new();
        walk(&root, "", &mut names);
        for project in compose_projects(&root, &names, compose::is_compose_name) {
            let label = format!(
                "{}: {}",
                root.file_name().unwrap().to_string_lossy(),
                project.label()
            );
            let (mine, problems) = ours(&root, &project);
            let inline_fixed: BTreeMap<String, Build> = mine
                .into_iter()
                .map(|(k, mut v)| {
                    if v.1.contains('#') {
                        v.1 = "(inline)".into();
                    }
                    (k, v)
                })
                .collect();
            match theirs(&docker, &root, &project) {
                Ok(real) => {
                    compared += 1;
                    services += real.len();
                    if real != inline_fixed {
                        mismatches.push(format!("{label}\n  compose:   {real:?}\n  cachebust: {inline_fixed:?}\n  problems: {problems:?}"));
                    }
                }
                Err(e) => {
                    // Compose refuses the project: cachebust must not invent builds Compose
                    // would not run without saying something is wrong
                    // (a reference to a service, network or volume no file of the project
                    // defines is about running, not building: the builds stand)
                    let not_about_builds = e.contains("undefined service")
                        || e.contains("undefined network")
                        || e.contains("undefined volume");
                    let said = not_about_builds
                        || problems.iter().any(|p| p.error)
                        || inline_fixed.is_empty();
                    refused.push(format!("{label}: {}", e.lines().last().unwrap_or("")));
                    if !said {
                        mismatches.push(format!("{label}: compose refuses it ({e}) but cachebust resolved {inline_fixed:?} without an error"));
                    }
                }
            }
        }
    }
    eprintln!(
        "compose: {compared} projects, {services} service builds equal to docker compose config 2.40.3; {} projects refused by Compose itself",
        refused.len()
    );
    for r in &refused {
        eprintln!("  refused by compose: {r}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 40, "only {compared} projects compared");
}

#[test]
fn bake_matches_buildx_bake_print() {
    let Some(docker) = docker28() else { return };
    let base = fixtures().join("bake");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut files_compared = 0;
    let mut targets = 0;
    let mut mismatches = Vec::new();
    for dir in dirs {
        let label = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut names = Vec::new();
        walk(&dir, "", &mut names);
        let group = bake::projects(&names);
        let Some((d, files)) = group.first() else {
            continue;
        };
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.clone(), std::fs::read_to_string(dir.join(f)).unwrap()))
            .collect();
        let r = bake::resolve(d, &texts, &BTreeMap::new(), &[]);
        // targets whose `matrix` cachebust does not expand are left out of the comparison
        let skipped: Vec<&str> = r
            .problems
            .iter()
            .filter(|p| p.message.contains("`matrix`"))
            .filter_map(|p| {
                p.message
                    .strip_prefix("target ")
                    .and_then(|m| m.split(':').next())
            })
            .collect();
        let ours: BTreeMap<String, Build> = r
            .builds
            .iter()
            .filter(|b| !skipped.contains(&b.target_name.as_str()))
            .map(|b| {
                (
                    b.target_name.clone(),
                    (
                        b.context.clone(),
                        b.dockerfile.clone(),
                        b.args.clone(),
                        b.target.clone(),
                    ),
                )
            })
            .collect();
        assert!(
            !ours.is_empty(),
            "{label}: no targets resolved: {:?}",
            r.problems
        );
        let out = Command::new(&docker.0)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DOCKER_CONFIG", &docker.1)
            .current_dir(&dir)
            .args(["buildx", "bake", "--print"])
            .args(ours.keys())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: buildx bake --print failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut real: BTreeMap<String, Build> = BTreeMap::new();
        for (name, t) in v["target"].as_object().into_iter().flatten() {
            let context =
                cachebust::engine::tree::join_clean("", t["context"].as_str().unwrap_or("."));
            let dockerfile = cachebust::engine::tree::join_clean(
                &context,
                t["dockerfile"].as_str().unwrap_or("Dockerfile"),
            );
            let args = t
                .get("args")
                .and_then(|a| a.as_object())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let target = t.get("target").and_then(|x| x.as_str()).map(str::to_string);
            real.insert(name.clone(), (context, dockerfile, args, target));
        }
        files_compared += 1;
        targets += real.len();
        if real != ours {
            mismatches.push(format!(
                "{label}\n  buildx:    {real:?}\n  cachebust: {ours:?}\n  problems: {:?}",
                r.problems
            ));
        }
    }
    eprintln!(
        "bake: {files_compared} bake files, {targets} targets equal to docker buildx bake --print 0.29.1"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(files_compared >= 5);
}

/// The failures of issue 12 reproduced on a small git repository and run through the real
/// binary, base and head as revisions (read from a bare clone, as `--repo` must accept):
/// a `.env` bump of a valueless build arg shared by three services through an anchor, a
/// workflow that builds `cmd/app/Dockerfile` from the root after checking out into `release/`,
/// a vendored Dockerfile, and a compose `context` that leaves the repository.
#[test]
fn issue_12_failures_on_a_real_git_history() {
    use crate::history::{commit, git};
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    let compose = "x-sentry: &sentry\n  build:\n    context: ./sentry\n    args:\n      - SENTRY_IMAGE\nservices:\n  web:\n    <<: *sentry\n  worker:\n    <<: *sentry\n  cron:\n    <<: *sentry\n  escape:\n    build: ../../../../etc\n";
    let wf = "on: push\njobs:\n  images:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          path: release\n      - name: Build app\n        uses: docker/build-push-action@v6\n        with:\n          context: release\n          file: release/cmd/app/Dockerfile\n";
    commit(
        &repo,
        &[
            ("docker-compose.yml", compose),
            (".env", "SENTRY_IMAGE=ghcr.io/getsentry/sentry:26.1.0\n"),
            (
                "sentry/Dockerfile",
                "ARG SENTRY_IMAGE\nFROM ${SENTRY_IMAGE}\nCOPY . /usr/src/sentry\nRUN echo setup\n",
            ),
            ("sentry/conf.py", "x = 1\n"),
            (".github/workflows/images.yml", wf),
            (
                "cmd/app/Dockerfile",
                "FROM busybox\nCOPY . /src/app\nRUN echo build\n",
            ),
            ("pkg/lib.go", "package lib\n"),
            (
                "vendor/github.com/x/y/Dockerfile",
                "FROM busybox\nCOPY . /y\n",
            ),
        ],
        "start",
    );
    commit(
        &repo,
        &[(".env", "SENTRY_IMAGE=ghcr.io/getsentry/sentry:26.2.0\n")],
        "bump sentry",
    );
    commit(
        &repo,
        &[("pkg/lib.go", "package lib\n// v2\n")],
        "edit a library under the root context",
    );
    commit(
        &repo,
        &[(
            "vendor/github.com/x/y/Dockerfile",
            "FROM busybox\nCOPY . /z\n",
        )],
        "vendored",
    );
    let bare = tmp.path().join("bare.git");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );

    let json = |base: &str, head: &str| -> serde_json::Value {
        let o = crate::cli::cachebust(
            &[
                "analyze",
                "--repo",
                bare.to_str().unwrap(),
                "--base",
                base,
                "--head",
                head,
                "--format",
                "json",
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };

    // 1 + 4: the .env bump rebuilds the sentry build, reported once with its three services
    // (cmd/app/Dockerfile copies the whole root, .env included: it is touched too)
    let r = json("HEAD~3", "HEAD~2");
    let all = r["dockerfiles"].as_array().unwrap();
    let dfs: Vec<&serde_json::Value> = all
        .iter()
        .filter(|d| d["path"] == "sentry/Dockerfile")
        .collect();
    assert_eq!(dfs.len(), 1, "{r:#}");
    assert_eq!(dfs[0]["summary"]["rebuilt"], 3);
    let services: Vec<&str> = dfs[0]["origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, vec!["cron", "web", "worker"]);
    assert!(
        dfs[0]["touched_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == ".env"),
        "{:#}",
        dfs[0]
    );
    // 8: the escaping context is refused with file and line, never read
    let diags = r["diagnostics"].as_array().unwrap();
    let esc = diags
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("../../../../etc"))
        .expect("escape diagnostic");
    assert_eq!(esc["file"], "docker-compose.yml");
    assert_eq!(esc["line"], 13);
    assert_eq!(esc["severity"], "error");

    // 5: the workflow's root context makes the library edit rebuild cmd/app/Dockerfile
    let r = json("HEAD~2", "HEAD~1");
    let dfs = r["dockerfiles"].as_array().unwrap();
    assert_eq!(dfs.len(), 1, "{r:#}");
    assert_eq!(dfs[0]["path"], "cmd/app/Dockerfile");
    assert_eq!(dfs[0]["context"], ".");
    assert_eq!(dfs[0]["origin"]["kind"], "workflow");
    assert_eq!(dfs[0]["origin"]["step"], "Build app");
    // no guessed-context line for a Dockerfile a workflow declares
    assert!(
        !r["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["message"].as_str().unwrap().contains("guessed")),
        "{r:#}"
    );

    // 7: a vendored Dockerfile is not a build of this repository (the root build that copies
    // vendor/ is touched, as it really is)
    let r = json("HEAD~1", "HEAD");
    let paths: Vec<&str> = r["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["cmd/app/Dockerfile"], "{r:#}");

    // history counts each build once per commit, never more commits than rebuild anything
    let o = crate::cli::cachebust(
        &[
            "history",
            "--repo",
            bare.to_str().unwrap(),
            "--last",
            "3",
            "--format",
            "json",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rebuilding = h["per_commit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rebuilt_steps"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(rebuilding, 3, "{h:#}");
    for d in h["dockerfiles"].as_array().unwrap() {
        assert!(
            d["commits_rebuilding"].as_u64().unwrap() as usize <= rebuilding,
            "{d:#}"
        );
    }
    let sentry = h["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "sentry/Dockerfile")
        .unwrap();
    assert_eq!(sentry["commits_rebuilding"], 1);
}

/// Invariant 3 on the whole-repository fixtures (tests/fixtures/discovery/repos).
#[test]
fn whole_discovery_matches_the_real_tools() {
    let Some(docker) = docker28() else { return };
    let base = fixtures().join("repos");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let bin = std::env::var_os("CACHEBUST_DISCOVERY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cachebust")));
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for dir in &dirs {
        let c = check_tree(&docker, &bin, dir);
        compared += c.compared;
        for m in c.mismatches {
            mismatches.push(format!(
                "{}: {m}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // every kind of declaration was compared: 2 compose services (one under a profile); 5 bake
    // targets of the root (app, worker, base linked by worker, bench in group all, bench-race
    // inherited by none) and 1 of deploy/; step targets: the default group with its link (3),
    // bench (1), all (4), bench* (2), release from the step's two files and env (1); the
    // steps bake refuses (deploy/ has no default group, `nope`) build nothing. bake-matrix: 9
    // targets from 4 matrix blocks, the step naming the `lint` label (2) and the step naming
    // one generated target (1)
    assert_eq!(
        compared,
        2 + 5 + 1 + (3 + 1 + 4 + 2 + 1) + (9 + 2 + 1),
        "{dirs:?}"
    );
}

/// Invariant 3 over real repositories, run by hand: `CACHEBUST_DISCOVERY_MIRRORS=/work/.mirror`
/// (a directory of `<owner>+<name>/repo` git directories) checks out HEAD of each into a
/// temporary directory and compares `cachebust builds` with the real tools there;
/// `CACHEBUST_DISCOVERY_BIN` checks another cachebust binary (an older one, for a before/after
/// figure). Prints the count per repository and every mismatch; fails when there is one.
#[test]
fn discovery_matches_the_real_tools_on_mirrors() {
    let Some(mirrors) = std::env::var_os("CACHEBUST_DISCOVERY_MIRRORS") else {
        eprintln!("SKIPPED: set CACHEBUST_DISCOVERY_MIRRORS to a directory of mirrors");
        return;
    };
    let Some(docker) = docker28() else { return };
    let bin = std::env::var_os("CACHEBUST_DISCOVERY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cachebust")));
    let mut repos: Vec<PathBuf> = std::fs::read_dir(&mirrors)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("repo"))
        .filter(|p| p.is_dir())
        .collect();
    repos.sort();
    let (mut compared, mut total) = (0, 0);
    let mut report = Vec::new();
    for git_dir in &repos {
        let name = git_dir
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let tmp = tempfile::tempdir().unwrap();
        let archive = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir)
            .args(["archive", "HEAD"])
            .output()
            .unwrap();
        if !archive.status.success() {
            continue;
        }
        let mut tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(tmp.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        tar.stdin
            .take()
            .unwrap()
            .write_all(&archive.stdout)
            .unwrap();
        assert!(tar.wait().unwrap().success(), "{name}: tar");
        let c = check_tree(&docker, &bin, tmp.path());
        compared += c.compared;
        total += c.mismatches.len();
        report.push(format!(
            "{name}: {} declarations, {} mismatches",
            c.compared,
            c.mismatches.len()
        ));
        for m in &c.mismatches {
            report.push(format!("  {m}"));
        }
    }
    eprintln!(
        "{}\n{} repositories, {compared} declarations compared, {total} mismatches ({})",
        report.join("\n"),
        repos.len(),
        bin.display()
    );
    assert_eq!(total, 0);
}
