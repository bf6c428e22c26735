//! `cachebust history --last 300` on real repositories kept as git bundles (tests/fixtures/history,
//! see its PROVENANCE.md: the last 301 first-parent commits of getsentry/self-hosted,
//! open-telemetry/opentelemetry-demo and grafana/loki, files no build reads reduced to stubs).
//! No network: each bundle is cloned into a temporary directory. The figures are checked against
//! what git itself says where an independent count exists (self-hosted: the commits that bump
//! `SENTRY_IMAGE` in `.env` or change a file of the `./sentry` context), and otherwise pinned to
//! the figures the full repositories give (tools/fixtures/verify-history.sh).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::cli::cachebust;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/history")
        .join(format!("{name}.bundle"))
}

/// A bare clone of the bundle in `tmp`.
pub fn clone(tmp: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(format!("{name}.git"));
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(fixture(name))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

/// What a git command prints about the bare repository `repo` (it must succeed).
fn git_out(repo: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn git_lines(repo: &Path, args: &[&str]) -> BTreeSet<String> {
    git_out(repo, args).lines().map(str::to_string).collect()
}

fn history(repo: &Path, last: usize) -> Value {
    serde_json::from_slice(&history_jobs(repo, last, None)).unwrap()
}

/// The JSON report, as printed, with `--jobs` when given.
fn history_jobs(repo: &Path, last: usize, jobs: Option<usize>) -> Vec<u8> {
    let last = last.to_string();
    let jobs = jobs.map(|j| j.to_string());
    let mut args = vec![
        "history",
        "--last",
        &last,
        "--format",
        "json",
        "--repo",
        repo.to_str().unwrap(),
    ];
    if let Some(j) = &jobs {
        args.extend(["--jobs", j]);
    }
    let o = cachebust(&args, repo);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn rebuilding(v: &Value) -> usize {
    v["per_commit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rebuilt_steps"].as_u64().unwrap() > 0)
        .count()
}

fn dockerfile_in<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
}

fn dockerfile<'a>(v: &'a Value, path: &str) -> &'a Value {
    v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in the history"))
}

/// What must hold for any history: no Dockerfile rebuilt by more commits than rebuild anything,
/// no step or trigger counted more often than its Dockerfile's commits, avoidable time never above
/// the rebuild time, the totals the sum of the commits.
fn consistent(v: &Value, commits: usize) {
    assert_eq!(v["commits"], commits);
    let busy = rebuilding(v);
    for d in v["dockerfiles"].as_array().unwrap() {
        let n = d["commits_rebuilding"].as_u64().unwrap() as usize;
        assert!(n <= busy, "{}: {n} > {busy}", d["path"]);
        for s in d["steps"].as_array().unwrap() {
            assert!(
                s["rebuilds"].as_u64().unwrap() as usize <= n,
                "{}: {s}",
                d["path"]
            );
        }
        for t in d["triggers"].as_array().unwrap() {
            assert!(
                t["count"].as_u64().unwrap() as usize <= n,
                "{}: {t}",
                d["path"]
            );
        }
        assert!(d["avoidable_seconds"].as_f64().unwrap() <= d["rebuild_seconds"].as_f64().unwrap());
    }
    let mut total = 0.0;
    for c in v["per_commit"].as_array().unwrap() {
        let (r, a) = (
            c["rebuild_seconds"].as_f64().unwrap(),
            c["avoidable_seconds"].as_f64().unwrap(),
        );
        assert!(a <= r + 1e-6, "{c}");
        total += r;
    }
    let t = v["total_rebuild_seconds"].as_f64().unwrap();
    assert!((total - t).abs() < 0.5, "{total} vs {t}");
}

#[test]
fn self_hosted_history_counts_the_shared_sentry_build_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone(tmp.path(), "self-hosted");
    let v = history(&repo, 300);
    consistent(&v, 300);
    let paths: BTreeSet<&str> = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            "clickhouse/Dockerfile",
            "cron/Dockerfile",
            "sentry/Dockerfile"
        ])
    );
    // the independent count: the sentry build (context ./sentry, no .dockerignore, `COPY .`,
    // `FROM ${SENTRY_IMAGE}` filled from .env) rebuilds exactly in the commits that bump
    // SENTRY_IMAGE in .env or change a file under sentry/
    let range = "HEAD~300..HEAD";
    let bumps = git_lines(
        &repo,
        &[
            "log",
            "--first-parent",
            "--format=%H",
            "-G^SENTRY_IMAGE=",
            range,
            "--",
            ".env",
        ],
    );
    let context = git_lines(
        &repo,
        &[
            "log",
            "--first-parent",
            "--format=%H",
            range,
            "--",
            "sentry/",
        ],
    );
    assert_eq!((bumps.len(), context.len()), (51, 33));
    let sentry = dockerfile(&v, "sentry/Dockerfile");
    assert_eq!(
        sentry["commits_rebuilding"].as_u64().unwrap() as usize,
        bumps.union(&context).count()
    );
    let image = sentry["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "build_arg")
        .unwrap();
    assert_eq!(image["count"].as_u64().unwrap() as usize, bumps.len());
    assert_eq!(image["top"][0][0], "SENTRY_IMAGE");
    // commits rebuilding anything: the sentry ones plus cron and clickhouse changes (the figure
    // of the full repository)
    assert_eq!(rebuilding(&v), 89);
    // one build, counted once: a SENTRY_IMAGE bump rebuilds its 5 steps once, with all its
    // services as origins
    let bump = bumps.iter().next().unwrap();
    let o = cachebust(
        &[
            "analyze",
            "--repo",
            repo.to_str().unwrap(),
            "--base",
            &format!("{bump}^"),
            "--head",
            bump,
            "--format",
            "json",
        ],
        &repo,
    );
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    let builds: Vec<&Value> = a["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == "sentry/Dockerfile")
        .collect();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0]["summary"]["rebuilt"], 5);
    assert!(builds[0]["origins"].as_array().unwrap().len() >= 19);
    let c = v["per_commit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["commit"] == bump.as_str())
        .unwrap();
    assert_eq!(c["rebuilt_steps"], a["rebuilt_steps"]);
}

#[test]
fn opentelemetry_demo_history_over_its_compose_projects() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone(tmp.path(), "opentelemetry-demo");
    let v = history(&repo, 300);
    consistent(&v, 300);
    // the figures of the full repository (tools/fixtures/verify-history.sh); the 8 Dockerfiles
    // no compose file declares (the genproto images, the Android build, test/telemetry: built
    // by scripts, if at all) are guessed builds, reported apart and out of the totals (they
    // made it 239 commits and 35 Dockerfiles)
    assert_eq!(rebuilding(&v), 220);
    assert_eq!(v["dockerfiles"].as_array().unwrap().len(), 27);
    let guessed: BTreeSet<&str> = v["not_counted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["guessed"], true, "{d}");
            d["path"].as_str().unwrap()
        })
        .collect();
    assert_eq!(guessed.len(), 8, "{guessed:?}");
    assert!(guessed.contains("src/react-native-app/android.Dockerfile"));
    assert!(guessed.iter().all(|p| dockerfile_in(&v, p).is_none()));
    // builds from the root context (compose `context: ./`) see only what their COPYs take:
    // the shipping service rebuilds in 21 commits, not in every commit
    assert_eq!(
        dockerfile(&v, "src/shipping/Dockerfile")["commits_rebuilding"],
        21
    );
}

#[test]
fn loki_history_builds_cmd_dockerfiles_from_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone(tmp.path(), "loki");
    // 50 of the 300 commits: the test binary is unoptimised; the bench runs all 300
    let v = history(&repo, 50);
    consistent(&v, 50);
    // `COPY . /src/loki` from the repository root (the workflows say so): every commit rebuilds
    let loki = dockerfile(&v, "cmd/loki/Dockerfile");
    assert_eq!(loki["commits_rebuilding"], 50);
    assert_eq!(rebuilding(&v), 50);
    for d in v["dockerfiles"].as_array().unwrap() {
        let p = d["path"].as_str().unwrap();
        assert!(!p.starts_with("vendor/") && !p.contains("/vendor/"), "{p}");
    }
}

#[test]
fn history_prints_the_same_report_for_any_number_of_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone(tmp.path(), "self-hosted");
    // 70 commits: several blocks of 16, the last one short, replayed out of order by 3 threads
    let one = history_jobs(&repo, 70, Some(1));
    let three = history_jobs(&repo, 70, Some(3));
    assert!(!one.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&one),
        String::from_utf8_lossy(&three),
        "--jobs 1 and --jobs 3 differ"
    );
    consistent(&serde_json::from_slice(&one).unwrap(), 70);
    let o = cachebust(
        &[
            "history",
            "--last",
            "5",
            "--jobs",
            "0",
            "--repo",
            repo.to_str().unwrap(),
        ],
        &repo,
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--jobs"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What `git log` itself says of a file's history at `rev` (the two commands `file_history`
/// ran before it kept first-parent rows): the window of `limit` first-parent commits, and the
/// commits of it that changed the file, each against its first parent.
fn file_history_by_git_log(
    repo: &Path,
    rev: &str,
    path: &str,
    limit: usize,
) -> cachebust::engine::volatility::FileHistory {
    use cachebust::engine::volatility::{FileHistory, MAX_VERSION_BYTES, MAX_VERSIONS};
    let run = |args: &[&str]| git_out(repo, args);
    let window = run(&[
        "log",
        "--first-parent",
        &format!("-n{limit}"),
        "--format=%H %P %ct",
        rev,
        "--",
    ]);
    let rows: Vec<Vec<&str>> = window
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let time = |r: &Vec<&str>| r.last().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    let (Some(newest), Some(oldest)) = (rows.first(), rows.last()) else {
        return FileHistory::default();
    };
    let range = if oldest.len() > 2 {
        format!("{}..{rev}", oldest[1])
    } else {
        rev.to_string()
    };
    let changed = run(&[
        "log",
        "--first-parent",
        "-m",
        "--reverse",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--format=%x1e",
        &range,
        "--",
        path,
    ]);
    let zero = |id: &str| id.bytes().all(|b| b == b'0');
    let mut ids: Vec<Option<String>> = Vec::new();
    for entry in changed.split('\u{1e}') {
        for l in entry.lines().filter(|l| l.starts_with(':')) {
            let (meta, p) = l.split_once('\t').unwrap();
            if p != path {
                continue;
            }
            let f: Vec<&str> = meta.split(' ').collect();
            if ids.is_empty() {
                ids.push((!zero(f[2])).then(|| f[2].to_string()));
            }
            ids.push((!zero(f[3])).then(|| f[3].to_string()));
        }
    }
    if ids.len() > MAX_VERSIONS {
        ids.drain(..ids.len() - MAX_VERSIONS);
    }
    let versions = ids
        .iter()
        .map(|id| {
            let id = id.as_ref()?;
            let body = Command::new("git")
                .arg("--git-dir")
                .arg(repo)
                .args(["cat-file", "-p", id])
                .output()
                .unwrap();
            let kind = run(&["cat-file", "-t", id]);
            (kind.trim() == "blob" && body.stdout.len() <= MAX_VERSION_BYTES)
                .then(|| String::from_utf8(body.stdout).ok())
                .flatten()
        })
        .collect();
    FileHistory {
        commits: rows.len(),
        seconds: time(newest).saturating_sub(time(oldest)),
        versions,
        ids,
    }
}

/// A repository with what a first-parent file history must get right: merges whose first
/// parent differs from the merged branch, a file deleted and created again, a mode change
/// alone, a file that becomes a directory, and a root commit that creates the file.
fn tricky_history(dir: &Path) -> PathBuf {
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let mut clock = 1_700_000_000u64;
    let mut commit = |msg: &str| {
        clock += 3_600;
        let date = format!("{clock} +0000");
        let o = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["commit", "-q", "--allow-empty", "-m", msg])
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let write = |p: &str, t: &str| {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    };
    git(&["init", "-q", "-b", "main"]);
    write("Dockerfile", "FROM a\nARG V=1\n");
    git(&["add", "-A"]);
    commit("root creates the Dockerfile");
    for i in 0..6 {
        write("notes.txt", &format!("{i}\n"));
        git(&["add", "-A"]);
        commit("unrelated");
    }
    // a branch changes the Dockerfile; main changes it too; the merge keeps the branch's
    git(&["checkout", "-q", "-b", "side"]);
    write("Dockerfile", "FROM a\nARG V=2\n");
    git(&["add", "-A"]);
    commit("side bumps V");
    git(&["checkout", "-q", "main"]);
    write("Dockerfile", "FROM a\nARG V=3\n");
    git(&["add", "-A"]);
    commit("main bumps V");
    git(&[
        "merge",
        "-q",
        "--no-ff",
        "-X",
        "theirs",
        "-m",
        "merge side",
        "side",
    ]);
    // a merge that brings nothing new for the Dockerfile
    git(&["checkout", "-q", "-b", "side2"]);
    write("other.txt", "x\n");
    git(&["add", "-A"]);
    commit("side2");
    git(&["checkout", "-q", "main"]);
    git(&["merge", "-q", "--no-ff", "-m", "merge side2", "side2"]);
    // deleted, then back; a mode change alone; then a directory of that name
    git(&["rm", "-q", "Dockerfile"]);
    commit("delete");
    write("Dockerfile", "FROM a\nARG V=4\n");
    git(&["add", "-A"]);
    commit("back");
    git(&["update-index", "--chmod=+x", "Dockerfile"]);
    commit("mode only");
    for i in 0..4 {
        write("notes.txt", &format!("more {i}\n"));
        git(&["add", "-A"]);
        commit("unrelated");
    }
    git(&["rm", "-q", "Dockerfile"]);
    write("Dockerfile/inner", "x\n");
    git(&["add", "-A"]);
    commit("a directory now");
    dir.join(".git")
}

#[test]
fn file_history_reads_what_git_log_says() {
    use cachebust::adapters::git::GitRepo;
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("tricky");
    std::fs::create_dir_all(&work).unwrap();
    let tricky = tricky_history(&work);
    let moby = {
        let dir = tmp.path().join("moby.git");
        let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/corpus/moby-buildkit.bundle");
        let o = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(bundle)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success());
        dir
    };
    // first-parent commits, newest first
    let revs = |repo: &Path| -> Vec<String> {
        git_out(repo, &["rev-list", "--first-parent", "HEAD"])
            .lines()
            .map(str::to_string)
            .collect()
    };
    let cases: [(&Path, &Path, &[&str]); 2] = [
        (
            &work,
            &tricky,
            &["Dockerfile", "notes.txt", "other.txt", "missing"],
        ),
        (
            &moby,
            &moby,
            &[
                "Dockerfile",
                "frontend/dockerfile/cmd/dockerfile-frontend/Dockerfile",
                "go.mod",
                "frontend",
                "no/such/file",
            ],
        ),
    ];
    let mut compared = 0;
    let mut expected = std::collections::HashMap::new();
    for (open, repo, paths) in cases {
        let commits = revs(repo);
        // every commit of the tricky history; a spread of the real one, newest first and then
        // oldest first through one reader (what it keeps from one call must not change another)
        let picked: Vec<&String> = if commits.len() < 40 {
            commits.iter().collect()
        } else {
            commits.iter().step_by(23).collect()
        };
        for order in [false, true] {
            let reader = GitRepo::open(open).unwrap();
            let mut seq = picked.clone();
            if order {
                seq.reverse();
            }
            for rev in seq {
                for path in paths.iter() {
                    for limit in [300, 5] {
                        let ours = reader.file_history(rev, path, limit).unwrap();
                        let theirs = expected
                            .entry((rev.clone(), path.to_string(), limit))
                            .or_insert_with(|| file_history_by_git_log(repo, rev, path, limit));
                        assert_eq!(
                            &ours,
                            theirs,
                            "{} at {rev}, {path}, limit {limit}",
                            repo.display()
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 300, "{compared}");
}
