//! The `cachebust analyze` binary: output on the bundled examples (snapshots), the JSON
//! contract, directories vs git revisions, exit codes, engines, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::trees::write_tree;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run the binary; one that has not ended after `CLI_DEADLINE` is killed and the test fails
/// (a regression that hangs, on a FIFO say, fails instead of stalling the suite).
pub fn cachebust(args: &[&str], cwd: &Path) -> Output {
    const CLI_DEADLINE: Duration = Duration::from_secs(600);
    let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
    c.args(args).current_dir(cwd);
    crate::support::output_within(c, &format!("cachebust {args:?}"), CLI_DEADLINE)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn examples(format: &str) -> Output {
    cachebust(
        &[
            "analyze",
            "--base-dir",
            "examples/base",
            "--head-dir",
            "examples/head",
            "--format",
            format,
        ],
        &root(),
    )
}

#[test]
fn examples_text() {
    let o = examples("text");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("examples_text", stdout(&o));
}

#[test]
fn examples_markdown() {
    let o = examples("markdown");
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("examples_markdown", stdout(&o));
}

#[test]
fn examples_json() {
    let o = examples("json");
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("examples_json", stdout(&o));
}

/// Version 1 of the JSON output: the fields and types the README promises.
#[test]
fn json_contract() {
    let v = json(&examples("json"));
    assert_eq!(v["version"], 1);
    assert!(v["assumption"].as_str().unwrap().contains("warm"));
    let dfs = v["dockerfiles"].as_array().unwrap();
    assert_eq!(dfs.len(), 4);
    for d in dfs {
        assert!(d["path"].is_string() && d["context"].is_string());
        assert!(d["target"].is_null() || d["target"].is_string());
        assert!(d["diagnostics"].is_array());
        let steps = d["steps"].as_array().unwrap();
        let mut last = 0;
        for s in steps {
            let line = s["line"].as_u64().unwrap();
            assert!(line > last, "steps in file order");
            last = line;
            assert!(s["end_line"].as_u64().unwrap() >= line);
            assert!(
                s["stage"].is_string() && s["instruction"].is_string() && s["reason"].is_string()
            );
            let kw = s["instruction"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            assert!(
                ["FROM", "RUN", "COPY", "ADD", "WORKDIR"].contains(&kw),
                "{kw}"
            );
            let status = s["status"].as_str().unwrap();
            assert!(["cached", "rebuilt", "unused"].contains(&status));
            if status == "rebuilt" {
                let c = &s["cause"];
                assert!(c["kind"].is_string(), "a rebuilt step has a cause: {s}");
            } else {
                assert!(s["cause"].is_null());
            }
        }
    }
    // the web build: a source edit rebuilds COPY . . and the build, not npm ci
    let web = dfs.iter().find(|d| d["path"] == "web/Dockerfile").unwrap();
    let status = |line: u64| {
        web["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["line"] == line)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(5), "cached");
    assert_eq!(status(6), "rebuilt");
    assert_eq!(status(7), "rebuilt");
    let cause = &web["steps"][4]["cause"];
    assert_eq!(cause["kind"], "files");
    assert_eq!(cause["paths"][0], "web/src/App.jsx");
    let follows = &web["steps"][5]["cause"];
    assert_eq!(follows["kind"], "follows");
    assert_eq!(follows["follows_line"], 6);
}

pub fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A git repository whose two commits are the example trees.
pub fn example_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    copy_tree(&root().join("examples/base"), dir);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    git(dir, &["rm", "-rq", "."]);
    copy_tree(&root().join("examples/head"), dir);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "head"]);
}

/// The prediction without the tree labels and without COPY cost figures: a directory knows
/// file sizes, a git tree listed lazily does not, so COPY estimates may differ.
fn without_labels(mut v: Value) -> Value {
    v["base"] = Value::Null;
    v["head"] = Value::Null;
    v["estimated_rebuild_seconds"] = Value::Null;
    for d in v["dockerfiles"].as_array_mut().unwrap() {
        for k in [
            "estimated_rebuild_seconds",
            "estimated_rebuild_range",
            "estimated_full_build_seconds",
            "cached_seconds_share",
        ] {
            d[k] = Value::Null;
        }
        // git trees do not list file sizes: copy costs (and so savings in seconds) differ
        for f in d["findings"].as_array_mut().unwrap() {
            f["savings_text"] = Value::Null;
            for k in ["seconds_before", "seconds_after"] {
                f["savings"][k] = Value::Null;
            }
        }
        for s in d["steps"].as_array_mut().unwrap() {
            if s["instruction"].as_str().unwrap().starts_with("COPY") {
                for k in ["estimated_seconds", "estimated_range", "cost_label"] {
                    s[k] = Value::Null;
                }
            }
        }
    }
    v
}

#[test]
fn git_revisions_predict_like_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    example_repo(&repo);
    let from_git = cachebust(
        &[
            "analyze",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--repo",
            repo.to_str().unwrap(),
            "--format",
            "json",
        ],
        tmp.path(),
    );
    assert_eq!(from_git.status.code(), Some(0), "{}", stderr(&from_git));
    let from_dirs = examples("json");
    assert_eq!(
        without_labels(json(&from_git)),
        without_labels(json(&from_dirs))
    );
    // a directory against a revision (the working tree against main~1)
    let mixed = cachebust(
        &[
            "analyze",
            "--base",
            "HEAD~1",
            "--head-dir",
            ".",
            "--format",
            "json",
        ],
        &repo,
    );
    assert_eq!(mixed.status.code(), Some(0), "{}", stderr(&mixed));
    let m = json(&mixed);
    assert_eq!(m["rebuilt_steps"], json(&from_dirs)["rebuilt_steps"]);
}

#[test]
fn exit_codes() {
    let r = root();
    let base = [
        "analyze",
        "--base-dir",
        "examples/base",
        "--head-dir",
        "examples/head",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        cachebust(&a, &r)
    };
    assert_eq!(
        with(&["--fail-on", "rebuilt-steps>3"]).status.code(),
        Some(1)
    );
    assert_eq!(
        with(&["--fail-on", "rebuilt-steps>=12"]).status.code(),
        Some(1)
    );
    assert_eq!(
        with(&["--fail-on", "rebuilt-steps>12"]).status.code(),
        Some(0)
    );
    let bad = with(&["--fail-on", "minutes>3"]);
    assert_eq!(bad.status.code(), Some(2));
    let o = cachebust(
        &["analyze", "--base", "no-such-revision", "--head", "HEAD"],
        &r,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("no-such-revision is not a revision of the repository"),
        "{err}"
    );
    let o = cachebust(
        &[
            "analyze",
            "--base-dir",
            "examples/base",
            "--head-dir",
            "examples/head",
            "--dockerfile",
            "nope/Dockerfile",
        ],
        &r,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope/Dockerfile"), "{}", stderr(&o));
    let o = cachebust(&["analyze"], &r);
    assert_eq!(o.status.code(), Some(2));
    let tmp = tempfile::tempdir().unwrap();
    let o = cachebust(
        &[
            "analyze",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--repo",
            tmp.path().to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not inside a git repository"),
        "{}",
        stderr(&o)
    );
}

/// Issue 30 item 1: `--base`/`--head` are revisions, never a directory of that name. A
/// directory named after the base commit (a copy of the head with a configuration excluding
/// every path) changes nothing; a name that is both a branch and a directory is refused; a
/// directory given to `--base` says to use `--base-dir`.
#[test]
fn revisions_are_never_read_from_a_directory_of_that_name() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    example_repo(&repo);
    git(&repo, &["branch", "old", "HEAD~1"]);
    let o = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["rev-parse", "HEAD~1"])
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let run = |args: &[&str]| cachebust(args, &repo);
    let honest = run(&[
        "analyze", "--base", "old", "--head", "main", "--format", "json",
    ]);
    assert_eq!(honest.status.code(), Some(0), "{}", stderr(&honest));
    let rebuilt = json(&honest)["rebuilt_steps"].as_u64().unwrap();
    assert!(rebuilt > 0);
    // decoys: directories named like the revisions, each a copy of the head that skips all
    for name in [sha.as_str(), "main", "old"] {
        let d = repo.join(name);
        copy_tree(&root().join("examples/head"), &d);
        std::fs::create_dir_all(d.join(".github")).unwrap();
        std::fs::write(
            d.join(".github/cachebust.yml"),
            "paths:\n  exclude: [\"*\"]\n",
        )
        .unwrap();
    }
    // a full commit id is the commit: the same prediction and the same verdict
    let o = run(&[
        "analyze", "--base", &sha, "--head", "HEAD", "--format", "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["rebuilt_steps"].as_u64(), Some(rebuilt));
    let o = run(&[
        "analyze",
        "--base",
        &sha,
        "--head",
        "HEAD",
        "--fail-on",
        "rebuilt-steps>0",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    // a branch name that is also a directory: refused, on one line, saying what to write
    for (flag, args) in [
        ("--base", ["analyze", "--base", "old", "--head", "HEAD"]),
        ("--head", ["analyze", "--base", &sha, "--head", "main"]),
    ] {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("both a git revision of") && err.contains(&format!("{flag}-dir")),
            "{err}"
        );
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
    // the directories, named as directories, are read
    let o = run(&[
        "analyze",
        "--base-dir",
        "old",
        "--head-dir",
        "main",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["rebuilt_steps"].as_u64(), Some(0));
    // old usage: a directory that is no revision gets the flag to use
    let o = cachebust(
        &[
            "analyze",
            "--base",
            "examples/base",
            "--head",
            "examples/head",
        ],
        &root(),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--base examples/base: not a git revision of")
            && err.contains("give --base-dir examples/base"),
        "{err}"
    );
}

#[test]
fn help_states_the_assumption() {
    let o = cachebust(&["analyze", "--help"], &root());
    let h = stdout(&o);
    assert!(
        h.contains(
            "the base revision was built with the same target and build args on this builder"
        ),
        "{h}"
    );
    for flag in [
        "--base",
        "--head",
        "--repo",
        "--dockerfile",
        "--context",
        "--target",
        "--build-arg",
        "--engine",
        "--format",
        "--fail-on",
    ] {
        assert!(h.contains(flag), "{flag} missing from --help");
    }
}

/// Builds are listed costliest first in every format (text listed them by path: the costliest,
/// pyapp, third), and in the same order.
#[test]
fn builds_are_ordered_by_cost_in_every_format() {
    let headers = |out: &str, prefix: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|l| l.split_once("/Dockerfile ("))
            .map(|(dir, _)| dir.to_string())
            .collect()
    };
    let want = ["pyapp", "api", "gosvc", "web"];
    let text = stdout(&examples("text"));
    assert_eq!(headers(&text, ""), want, "{text}");
    let md = stdout(&examples("markdown"));
    assert_eq!(headers(&md, "#### "), want, "{md}");
    assert_eq!(headers(&md, "| "), want, "{md}");
}

/// A fix merged for several findings claims its saving once (CB001 and CB004 each claimed "about
/// 22 s" for the one fix), in markdown and in text, and where a step of it re-runs in this change
/// (not on a `go mod download` that stays cached).
#[test]
fn a_combined_fix_claims_its_saving_once() {
    let md = stdout(&examples("markdown"));
    let api = md.split("#### ").find(|s| s.starts_with("api/")).unwrap();
    assert_eq!(api.matches("saves about 22 s").count(), 1, "{api}");
    // gosvc's one CB004 fix mounts the cache for `go mod download` (line 5, cached in this
    // change) and `go build` (line 7, re-run): the saving is claimed where a step re-runs
    let gosvc = md.split("#### ").find(|s| s.starts_with("gosvc/")).unwrap();
    let at = |n: &str| {
        gosvc
            .lines()
            .find(|l| l.starts_with(&format!("- line {n} **CB004**")))
            .unwrap()
    };
    assert!(!at("5").contains("saves about"), "{}", at("5"));
    // and says what it saves: the later changes, its patch's saving counted at line 7
    assert!(
        at("5").contains("stays cached on this change, saves on later ones")
            && at("5").contains("CB004 line 7"),
        "{}",
        at("5")
    );
    assert!(
        at("7").contains("saves about 20 s on this change"),
        "{}",
        at("7")
    );
    let text = stdout(&examples("text"));
    let api = text.split("\n\n").find(|s| s.starts_with("api/")).unwrap();
    assert_eq!(api.matches("about 22 s").count(), 1, "{api}");
}

/// A savings sentence never says "more steps instead of fewer" beside "seconds saved": a fix
/// that splits a step (CB001 on api: 3 steps after, 2 before, about 22 s less) reads as the
/// saving it is, not as a regression.
#[test]
fn a_saving_never_reads_as_a_regression() {
    let v = json(&examples("json"));
    let mut seen = 0;
    for df in v["dockerfiles"].as_array().unwrap() {
        for f in df["findings"].as_array().unwrap() {
            let (Some(s), Some(t)) = (f.get("savings"), f["savings_text"].as_str()) else {
                continue;
            };
            let more_steps = s["rebuilt_steps_after"].as_u64() > s["rebuilt_steps_before"].as_u64();
            let faster =
                s["seconds_after"].as_f64().unwrap() + 0.05 < s["seconds_before"].as_f64().unwrap();
            // a finding sharing a merged patch names the one that states its saving
            if t.starts_with("one patch with ") {
                continue;
            }
            if more_steps && faster {
                seen += 1;
                assert!(!t.contains("instead of"), "{}: {t}", f["code"]);
                assert!(t.contains("faster"), "{}: {t}", f["code"]);
            }
        }
    }
    assert!(seen >= 1, "the examples have such a fix (api's CB001)");
}

/// `check --help` lists the rule catalog from the rule table: every rule `check` runs, with its
/// name, in order (a hand-written list missed CB010), and not those over a change's prediction.
#[test]
fn check_help_lists_every_rule_of_the_table() {
    use cachebust::engine::rules::Reads;
    let o = cachebust(&["check", "--help"], &root());
    let h = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    let mut at = 0;
    for r in cachebust::engine::rules::RULES.iter().map(|r| r.meta()) {
        let entry = format!("{} {}", r.code, r.name);
        if r.reads == Reads::Prediction {
            assert!(!h.contains(&entry), "check does not run {entry}:\n{h}");
            continue;
        }
        let Some(i) = h[at..].find(&entry) else {
            panic!("`{entry}` missing from check --help (or out of order):\n{h}");
        };
        at += i + entry.len();
    }
}

fn trees(base: &[(&str, &str)], head: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("base");
    let h = tmp.path().join("head");
    let conv = |v: &[(&str, &str)]| -> Vec<(&'static str, String)> {
        v.iter()
            .map(|(p, c)| (&*Box::leak(p.to_string().into_boxed_str()), c.to_string()))
            .collect()
    };
    write_tree(&b, &conv(base));
    write_tree(&h, &conv(head));
    (tmp, b, h)
}

fn analyze_dirs(b: &Path, h: &Path, extra: &[&str]) -> Value {
    let mut a = vec![
        "analyze",
        "--format",
        "json",
        "--base-dir",
        b.to_str().unwrap(),
        "--head-dir",
        h.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    let o = cachebust(&a, b.parent().unwrap());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    json(&o)
}

/// `--build-arg KEY` as in `docker build`: the value from the environment, left out when the
/// environment does not set it (then FROM says the ARG has no value); `KEY=VALUE` as given.
#[test]
fn a_bare_build_arg_takes_its_value_from_the_environment() {
    let df = |run: &str| format!("ARG V\nFROM busybox:${{V}}\nRUN {run}\n");
    let (_t, b, h) = trees(
        &[("Dockerfile", &df("echo a"))],
        &[("Dockerfile", &df("echo b"))],
    );
    let unresolved = |arg: &str, env: Option<&str>| -> bool {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
        c.args(["analyze", "--format", "json", "--base-dir"])
            .arg(&b)
            .arg("--head-dir")
            .arg(&h)
            .args(["--build-arg", arg])
            .env_remove("V");
        if let Some(v) = env {
            c.env("V", v);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v = json(&o);
        let from = &v["dockerfiles"][0]["steps"][0];
        assert_eq!(from["instruction"], "FROM busybox:${V}", "{v}");
        from["notes"].as_array().is_some_and(|n| {
            n.iter()
                .any(|n| n["note"] == "unresolved_arg" && n["name"] == "V")
        })
    };
    assert!(!unresolved("V", Some("1.36")));
    assert!(unresolved("V", None));
    assert!(!unresolved("V=1.36", None));
    let o = cachebust(
        &[
            "analyze",
            "--base-dir",
            ".",
            "--head-dir",
            ".",
            "--build-arg",
            "=1",
        ],
        &b,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--build-arg \"=1\": the name is empty"),
        "{}",
        stderr(&o)
    );
}

fn statuses(v: &Value, df: usize) -> Vec<String> {
    v["dockerfiles"][df]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap()[..1].to_uppercase())
        .collect()
}

#[test]
fn engines_differ_where_buildkit_changed() {
    // cache-mount id: keyed by Docker 20.10, ignored by BuildKit >= 0.13
    let df = "FROM alpine:3.20\nRUN --mount=type=cache,target=/root/.cache,id=one pip install x\n";
    let (_t, b, h) = trees(
        &[("Dockerfile", df)],
        &[("Dockerfile", &df.replace("id=one", "id=two"))],
    );
    assert_eq!(
        statuses(&analyze_dirs(&b, &h, &["--engine", "docker-20.10"]), 0),
        ["C", "R"]
    );
    assert_eq!(
        statuses(&analyze_dirs(&b, &h, &["--engine", "buildkit"]), 0),
        ["C", "C"]
    );
    // a wildcard exception: Docker 20.10 prunes docs/, current BuildKit walks it
    let base = [
        ("Dockerfile", "FROM alpine:3.20\nCOPY . /ctx\n"),
        (
            ".dockerignore",
            "Dockerfile\n.dockerignore\ndocs\n!**/README.md\n",
        ),
        ("docs/README.md", "a"),
    ];
    let (_t, b, h) = trees(
        &base,
        &[
            ("Dockerfile", base[0].1),
            (".dockerignore", base[1].1),
            ("docs/README.md", "b"),
        ],
    );
    let v = analyze_dirs(&b, &h, &["--engine", "docker-20.10"]);
    assert_eq!(
        v["dockerfiles"].as_array().unwrap().len(),
        0,
        "the change does not reach the build: not reported"
    );
    let v = analyze_dirs(
        &b,
        &h,
        &["--engine", "docker-20.10", "--dockerfile", "Dockerfile"],
    );
    assert_eq!(statuses(&v, 0), ["C", "C"]);
    assert_eq!(
        statuses(&analyze_dirs(&b, &h, &["--engine", "buildkit"]), 0),
        ["C", "R"]
    );
}

#[test]
fn bad_input_is_a_diagnostic_not_a_crash() {
    let good = "FROM alpine:3.20\nCOPY app /app\nRUN ls /app\n";
    let (_t, b, h) = trees(
        &[
            ("Dockerfile", good),
            ("app/a", "1"),
            ("broken/Dockerfile", good),
            ("missing/Dockerfile", "FROM alpine\nCOPY nothere /x\n"),
            ("missing/x", "1"),
        ],
        &[
            ("Dockerfile", good),
            ("app/a", "2"),
            ("broken/Dockerfile", "FROM alpine:3.20\nRUN ok\nFRM typo\n"),
            (
                "missing/Dockerfile",
                "FROM alpine\nCOPY nothere /x\nRUN true\n",
            ),
            ("missing/x", "2"),
            ("outside/Dockerfile", "FROM alpine\nCOPY link /l\n"),
            ("outside/link", "@link:../../etc/passwd"),
            ("outside/other", "x"),
        ],
    );
    // a binary "Dockerfile"
    std::fs::write(h.join("bin.Dockerfile"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let v = analyze_dirs(&b, &h, &[]);
    let find = |p: &str| {
        v["dockerfiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == p)
            .unwrap_or_else(|| panic!("{p} not reported: {v}"))
            .clone()
    };
    let broken = find("broken/Dockerfile");
    assert_eq!(broken["steps"].as_array().unwrap().len(), 0);
    assert_eq!(broken["diagnostics"][0]["line"], 3);
    assert_eq!(broken["diagnostics"][0]["severity"], "error");
    let missing = find("missing/Dockerfile");
    let d = missing["diagnostics"].as_array().unwrap();
    assert!(
        d.iter().any(|x| x["line"] == 2
            && x["message"]
                .as_str()
                .unwrap()
                .contains("nothere does not exist")),
        "{d:?}"
    );
    let outside = find("outside/Dockerfile");
    let d = outside["diagnostics"].as_array().unwrap();
    assert!(
        d.iter().any(|x| x["message"]
            .as_str()
            .unwrap()
            .contains("outside the build context")),
        "{d:?}"
    );
    // its NUL byte is named as such (issue 17: not "not UTF-8"), on its line
    let bin = find("bin.Dockerfile");
    assert!(
        bin["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a text file: it holds a NUL byte"),
        "{bin}"
    );
    assert_eq!(bin["diagnostics"][0]["line"], 1, "{bin}");
    // the good build is still predicted
    let root_df = find("Dockerfile");
    assert_eq!(statuses(&wrap(root_df), 0), ["C", "R", "R"]);
}

fn wrap(d: Value) -> Value {
    serde_json::json!({ "dockerfiles": [d] })
}

#[test]
fn discovery_reports_only_touched_builds() {
    let svc = "FROM alpine:3.20\nWORKDIR /app\nCOPY package.json ./\nRUN npm ci\nCOPY . .\n";
    let base = [
        ("a/Dockerfile", svc),
        ("a/package.json", "{}"),
        ("a/index.js", "1"),
        ("b/Dockerfile", svc),
        ("b/package.json", "{}"),
        ("b/index.js", "1"),
        (
            "compose.yaml",
            "x-b: &b\n  context: ./b\nservices:\n  b:\n    build:\n      <<: *b\n      args:\n        V: \"1\"\n",
        ),
    ];
    let mut head: Vec<(&str, &str)> = base.to_vec();
    head.retain(|(p, _)| *p != "a/index.js");
    head.push(("a/index.js", "2"));
    let (_t, b, h) = trees(&base, &head);
    let v = analyze_dirs(&b, &h, &[]);
    let paths: Vec<&str> = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a/Dockerfile"], "{v}");
    assert_eq!(v["dockerfiles"][0]["context"], "a");
    assert_eq!(statuses(&v, 0), ["C", "C", "C", "C", "R"]);
}

/// Issue 29 class 11: builds set up by scripts. The literal `docker build` / `buildx build`
/// commands of a root script, a Makefile and a workflow's `run:` block are builds with their
/// `-f`, context, `--target` and `--build-arg` (script and Makefile variables substituted); a
/// command whose context is known only when it runs is said, with its line. A base image
/// bumped inside the script rebuilds from FROM; an edit that only moves the command does not.
#[test]
fn discovery_reads_builds_from_scripts() {
    let script = |base: &str, above: &str| {
        format!(
            "#!/bin/sh\nset -e\n{above}BASE={base}\ndocker build --build-arg BASE=$BASE -t app .\n"
        )
    };
    let tree = |build_sh: String| -> Vec<(&'static str, String)> {
        vec![
            (
                "Dockerfile",
                "ARG BASE=busybox:1.36.0\nFROM ${BASE}\nCOPY app.txt /app.txt\nRUN echo hi\n".into(),
            ),
            ("app.txt", "a\n".into()),
            ("build.sh", build_sh),
            ("sub/Dockerfile.dev", "FROM busybox AS dev\nARG X\nRUN echo $X\n".into()),
            (
                "sub/Makefile",
                "X_VALUE := 1\n\nimage:\n\tdocker buildx build -f Dockerfile.dev \\\n\t  --target dev --build-arg X=$(X_VALUE) .\n".into(),
            ),
            ("scripts/release.sh", "docker build -t x \"$CTX\"\n".into()),
            ("web/Dockerfile", "FROM busybox\nARG V\nCOPY . /w\n".into()),
            (
                ".github/workflows/ci.yml",
                "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: |\n          docker build --build-arg V=2 .\n        working-directory: web\n".into(),
            ),
        ]
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str, build_sh: String| {
        let d = tmp.path().join(name);
        write_tree(&d, &tree(build_sh));
        d
    };
    let b = dir("base", script("busybox:1.36.1", ""));
    let bumped = dir("bumped", script("busybox:1.37.0", ""));
    let moved = dir("moved", script("busybox:1.36.1", "# the base image\n"));
    let bumped_moved = dir(
        "bumped-moved",
        script("busybox:1.37.0", "# the base image\n"),
    );

    let o = cachebust(&["builds", "--format", "json", "."], &b);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let builds: Vec<(String, String, Value, Value, String)> = v["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let o = &b["origins"][0];
            (
                b["dockerfile"].as_str().unwrap().to_string(),
                b["context"].as_str().unwrap().to_string(),
                b["target"].clone(),
                b["args"].clone(),
                format!(
                    "{} {}:{}",
                    o["kind"].as_str().unwrap(),
                    o["file"].as_str().unwrap(),
                    o["line"]
                ),
            )
        })
        .collect();
    let want = |df: &str, ctx: &str, target: Value, args: Value, origin: &str| {
        (
            df.to_string(),
            ctx.to_string(),
            target,
            args,
            origin.to_string(),
        )
    };
    assert_eq!(
        builds,
        vec![
            want(
                "web/Dockerfile",
                "web",
                Value::Null,
                serde_json::json!({"V": "2"}),
                "script .github/workflows/ci.yml:8"
            ),
            want(
                "Dockerfile",
                ".",
                Value::Null,
                serde_json::json!({"BASE": "busybox:1.36.1"}),
                "script build.sh:4"
            ),
            want(
                "sub/Dockerfile.dev",
                "sub",
                "dev".into(),
                serde_json::json!({"X": "1"}),
                "script sub/Makefile:4"
            ),
        ],
        "{v}"
    );
    let diags = v["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{v}");
    assert_eq!(diags[0]["file"], "scripts/release.sh");
    assert_eq!(diags[0]["line"], 1);
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("context $CTX known only when it runs"),
        "{v}"
    );

    // the base image bumped inside the script: the build it runs rebuilds from FROM, also when
    // a line added above moves the command (the same command of the same script on both sides)
    for head in [&bumped, &bumped_moved] {
        let v = analyze_dirs(&b, head, &[]);
        let paths: Vec<&str> = v["dockerfiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["Dockerfile"], "{v}");
        assert_eq!(statuses(&v, 0), ["R", "R", "R"], "{v}");
    }
    // only a line added above the command: nothing rebuilds
    let v = analyze_dirs(&b, &moved, &[]);
    let rebuilt: usize = (0..v["dockerfiles"].as_array().unwrap().len())
        .flat_map(|i| statuses(&v, i))
        .filter(|s| s != "C")
        .count();
    assert_eq!(rebuilt, 0, "{v}");
}

#[test]
fn check_audits_the_examples() {
    let o = cachebust(&["check", "--root", "examples/head"], &root());
    assert_eq!(
        o.status.code(),
        Some(1),
        "warnings fail by default: {}",
        stderr(&o)
    );
    insta::assert_snapshot!("check_examples_text", stdout(&o));
    let o = cachebust(
        &[
            "check",
            "--root",
            "examples/head",
            "--fail-on-severity",
            "error",
            "--format",
            "json",
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["version"], 1);
    assert_eq!(v["kind"], "check");
    let findings: Vec<&Value> = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["findings"].as_array().unwrap())
        .collect();
    assert_eq!(
        findings.len() as u64,
        v["summary"]["findings"].as_u64().unwrap()
    );
    // `ARG GIT_SHA=dev` above two RUNs: nothing shows its value changing often (no history in
    // a directory, a literal in compose.yaml), so no CB003 (issue 29)
    assert!(
        !findings.iter().any(|f| f["code"] == "CB003"),
        "{findings:?}"
    );
    // one Dockerfile named on the command line, relative to the current directory
    let o = cachebust(
        &["check", "--root", "..", "Dockerfile"],
        &root().join("examples/head/pyapp"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("pyapp/Dockerfile:8: info CB004"), "{out}");
    assert!(!out.contains("api/Dockerfile"), "{out}");
    // a path outside the root, a missing path
    let o = cachebust(&["check", "--root", "examples/head", "src"], &root());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not inside --root"), "{}", stderr(&o));
    let o = cachebust(
        &["check", "--root", "examples/head", "examples/head/nope"],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_reports_parse_errors_and_bad_config_with_lines() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        tmp.path(),
        &[
            ("Dockerfile", "FROM alpine:3.20\nRUN echo ok\nFROM\n".into()),
            (".github/cachebust.yml", "rules:\n  CB001: loud\n".into()),
        ],
    );
    let r = tmp.path().to_str().unwrap();
    let o = cachebust(&["check", "--root", r], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cachebust.yml:2"), "{}", stderr(&o));
    std::fs::write(
        tmp.path().join(".github/cachebust.yml"),
        "rules:\n  CB008: error\n",
    )
    .unwrap();
    let o = cachebust(&["check", "--root", r], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Dockerfile:3: error:"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("1 Dockerfile does not parse"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn fix_prints_then_applies_and_converges() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        tmp.path(),
        &[
            (
                "svc/Dockerfile",
                "FROM python:3.12-slim\nARG GIT_SHA\nRUN apt-get update && apt-get install -y libpq5\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nLABEL rev=$GIT_SHA\n".into(),
            ),
            ("svc/requirements.txt", "flask\n".into()),
            ("svc/app.py", "1\n".into()),
            ("svc/run.sh", "@755 #!/bin/sh\n".into()),
            // the evidence that GIT_SHA changes on every commit (CB003, issue 29)
            (".github/workflows/image.yml", WORKFLOW_GIT_SHA.replace("{context}", "svc")),
        ],
    );
    let r = tmp.path().to_str().unwrap();
    let df = tmp.path().join("svc/Dockerfile");
    let original = std::fs::read_to_string(&df).unwrap();
    // default: the diff, nothing written
    let o = cachebust(&["fix", "--root", r], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("fix_safe_diff", stdout(&o));
    assert!(stderr(&o).contains("would apply 1 fix"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("to review with --unsafe"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&df).unwrap(), original);
    // --unsafe --apply writes every file, .dockerignore included
    let o = cachebust(&["fix", "--root", r, "--unsafe", "--apply"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("fix_unsafe_diff", stdout(&o));
    let fixed = std::fs::read_to_string(&df).unwrap();
    assert!(
        fixed.starts_with("FROM python:3.12-slim\nRUN apt-get"),
        "{fixed}"
    );
    assert!(fixed.contains("COPY requirements.txt ./\nRUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt\nCOPY . .\n"), "{fixed}");
    assert!(
        std::fs::read_to_string(tmp.path().join("svc/.dockerignore"))
            .unwrap()
            .contains("Dockerfile")
    );
    assert!(cachebust::engine::dockerfile::parse(&fixed).ok);
    // idempotent: nothing left to apply
    let o = cachebust(&["fix", "--root", r, "--unsafe", "--apply"], tmp.path());
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("nothing to fix"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&df).unwrap(), fixed);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("svc"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("cachebust-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// The project's own Dockerfile passes its own audit, and action.yml declares the inputs and
/// outputs `cachebust action` reads and writes.
#[test]
fn own_dockerfile_and_action_metadata() {
    let o = cachebust(
        &[
            "check",
            "--root",
            ".",
            "Dockerfile",
            "--fail-on-severity",
            "info",
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("no findings in 1 Dockerfile"),
        "{}",
        stdout(&o)
    );
    let meta: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    for input in [
        "github_token",
        "dockerfiles",
        "build_args",
        "target",
        "timings",
        "config",
        "mode",
        "max_inline_comments",
        "fail_on",
    ] {
        assert!(
            meta["inputs"][input]["description"].is_string(),
            "input {input}"
        );
    }
    assert_eq!(meta["inputs"]["max_inline_comments"]["default"], "30");
    assert_eq!(meta["inputs"]["mode"]["default"], "review");
    for output in ["rebuilt_steps", "estimated_rebuild_seconds", "report"] {
        assert!(
            meta["outputs"][output]["description"].is_string(),
            "output {output}"
        );
    }
    // a composite action: the release binary of this version, then `cachebust action`
    // (issue 32; tests/integration/install.rs runs it)
    assert_eq!(meta["runs"]["using"], "composite");
    assert_eq!(
        meta["inputs"]["version"]["default"],
        env!("CARGO_PKG_VERSION")
    );
    let last = meta["runs"]["steps"].as_array().unwrap().last().unwrap();
    assert!(
        last["run"]
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("\"$CACHEBUST_BIN\" action"),
        "{last}"
    );
}

/// Files a pull request controls are read as COPY sources are (issue 17, item 6): a
/// `.github/cachebust.yml` that links out of the tree is refused without echoing what it points
/// at, and a `--timings` FIFO is refused at once instead of hanging.
#[test]
fn untrusted_config_and_timings_are_refused_without_their_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("shadow"),
        "root:SECRET-HASH:20228:0:99999:7:::\n",
    )
    .unwrap();
    let head = tmp.path().join("head");
    let base = tmp.path().join("base");
    for d in [&base, &head] {
        crate::support::trees::write_tree(
            d,
            &[("Dockerfile", "FROM alpine:3.20\nRUN echo ok\n".into())],
        );
    }
    std::fs::create_dir_all(head.join(".github")).unwrap();
    std::os::unix::fs::symlink(outside.join("shadow"), head.join(".github/cachebust.yml")).unwrap();
    let (b, h) = (base.to_str().unwrap(), head.to_str().unwrap());
    let o = cachebust(&["analyze", "--base-dir", b, "--head-dir", h], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a symlink out of the repository: not read"),
        "{}",
        stderr(&o)
    );
    assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains("SECRET"));
    // an in-tree link is followed, as for COPY sources
    std::fs::remove_file(head.join(".github/cachebust.yml")).unwrap();
    std::fs::write(head.join("cb.yml"), "rules:\n  CB008: off\n").unwrap();
    std::os::unix::fs::symlink("../cb.yml", head.join(".github/cachebust.yml")).unwrap();
    let o = cachebust(&["analyze", "--base-dir", b, "--head-dir", h], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // a FIFO given as --timings: refused, not waited on
    let fifo = tmp.path().join("timings.log");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let o = cachebust(
        &[
            "analyze",
            "--base-dir",
            b,
            "--head-dir",
            h,
            "--timings",
            fifo.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    // a device (endless) and files past the size bounds: refused by name, nothing read
    let big_log = tmp.path().join("big.log");
    std::fs::File::create(&big_log)
        .unwrap()
        .set_len(65 * 1024 * 1024)
        .unwrap();
    let big_cfg = tmp.path().join("big.yml");
    std::fs::write(&big_cfg, format!("# {}\n", "x".repeat(1024 * 1024))).unwrap();
    for (flag, file, want) in [
        ("--timings", "/dev/zero", "not a regular file"),
        ("--config", "/dev/zero", "not a regular file"),
        ("--timings", big_log.to_str().unwrap(), "larger than 64 MiB"),
        ("--config", big_cfg.to_str().unwrap(), "larger than 1 MiB"),
    ] {
        let o = cachebust(
            &["analyze", "--base-dir", b, "--head-dir", h, flag, file],
            tmp.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{flag} {file}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{flag} {file}: {}", stderr(&o));
    }
    // and the same run without them goes through
    let o = cachebust(&["analyze", "--base-dir", b, "--head-dir", h], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Advice never makes the change's build worse: a patch whose re-prediction for this change
/// rebuilds more seconds (CB007's split adds a `COPY --from` the source edit re-runs) is shown
/// but not offered to apply, and says so; one that saves (CB004's cache mount) is offered.
#[test]
fn a_fix_that_would_slow_this_change_is_shown_not_offered() {
    let tmp = tempfile::tempdir().unwrap();
    let dockerfile =
        "FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o /app .\nCMD [\"/app\"]\n";
    let files = |main: &str| {
        vec![
            ("Dockerfile", dockerfile.to_string()),
            ("go.mod", "module x\n".to_string()),
            ("main.go", main.to_string()),
        ]
    };
    let (b, h) = (tmp.path().join("base"), tmp.path().join("head"));
    write_tree(&b, &files("package main\n"));
    write_tree(&h, &files("package main\n// edited\n"));
    let o = cachebust(
        &[
            "analyze",
            "--base-dir",
            b.to_str().unwrap(),
            "--head-dir",
            h.to_str().unwrap(),
            "--format",
            "json",
        ],
        tmp.path(),
    );
    let v = json(&o);
    let findings = v["dockerfiles"][0]["findings"].as_array().unwrap().clone();
    let by = |code: &str| {
        findings
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {findings:#?}"))
            .clone()
    };
    let split = by("CB007");
    let s = &split["savings"];
    assert!(
        s["seconds_after"].as_f64().unwrap() > s["seconds_before"].as_f64().unwrap(),
        "{s}"
    );
    assert_eq!(split["fix"]["applicability"], "display-only", "{split:#}");
    let text = split["savings_text"].as_str().unwrap();
    assert!(
        text.contains("not offered as a patch for this change"),
        "{text}"
    );
    let mount = by("CB004");
    assert_eq!(mount["fix"]["applicability"], "unsafe", "{mount:#}");
    assert!(
        mount["savings"]["seconds_after"].as_f64().unwrap()
            < mount["savings"]["seconds_before"].as_f64().unwrap()
    );
}

/// Issue 29 (class 10): variables with no value here (ARGs without a default, variables the
/// base image may set) in every place a Dockerfile can use them never show as the internal
/// marker characters around a name, an empty name never reaches a sentence, and a build that
/// only needs a build arg is no parse error: over every output format of `analyze`, `check`,
/// `fix` and `history`.
#[test]
fn unresolved_variables_show_as_variables_in_every_output() {
    const BASE: &str = "ARG FROM\nFROM ${FROM} AS builder\nARG APP_PATH\nCOPY ${APP_PATH}/requirements.txt /\nWORKDIR $APP_HOME\nCOPY src/ ./src/\nADD $REMOTE_URL /remote.txt\nENV TOOLS=$TOOL_HOME/bin\nRUN --mount=type=bind,source=$MOUNT_SRC,target=/m ls /m\nRUN echo $VERSION > /version\nFROM alpine:${ALPINE}\nCOPY --from=builder ${OUT_DIR}/app /app\nWORKDIR rel\nUSER $APP_USER\nRUN pip install -r /requirements.txt\n";
    let head = BASE
        .replace("WORKDIR $APP_HOME", "WORKDIR $APP_HOME/x")
        .replace("$TOOL_HOME/bin", "$TOOL_HOME/sbin")
        .replace("WORKDIR rel", "WORKDIR rel2")
        .replace("USER $APP_USER", "USER ${APP_USER}2");
    let tmp = tempfile::tempdir().unwrap();
    let (b, h, repo) = (
        tmp.path().join("base"),
        tmp.path().join("head"),
        tmp.path().join("repo"),
    );
    let files = |df: &str, src: &str| {
        vec![
            ("Dockerfile", df.to_string()),
            ("src/a.txt", src.to_string()),
            ("requirements.txt", "flask\n".to_string()),
        ]
    };
    write_tree(&b, &files(BASE, "a\n"));
    write_tree(&h, &files(&head, "b\n"));
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    for (tree, msg) in [(&b, "base"), (&h, "head")] {
        copy_tree(tree, &repo);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", msg]);
    }
    let (bs, hs, rs) = (
        b.to_str().unwrap(),
        h.to_str().unwrap(),
        repo.to_str().unwrap(),
    );
    let mut outputs: Vec<(String, Output)> = Vec::new();
    for f in ["text", "json", "markdown", "sarif"] {
        let args = ["analyze", "--base-dir", bs, "--head-dir", hs, "--format", f];
        outputs.push((format!("analyze {f}"), cachebust(&args, tmp.path())));
    }
    for f in ["text", "json", "markdown"] {
        let args = ["check", "--root", hs, "--format", f];
        outputs.push((format!("check {f}"), cachebust(&args, tmp.path())));
    }
    let args = ["fix", "--root", hs, "--unsafe"];
    outputs.push(("fix".into(), cachebust(&args, tmp.path())));
    for f in ["text", "json", "html"] {
        let args = ["history", "--repo", rs, "--last", "5", "--format", f];
        outputs.push((format!("history {f}"), cachebust(&args, tmp.path())));
    }
    for (what, o) in &outputs {
        let (out, err) = (stdout(o), stderr(o));
        assert!(
            o.status.code().is_some_and(|c| c < 2),
            "{what}: exit {:?}\n{err}",
            o.status.code()
        );
        for text in [&out, &err] {
            assert!(
                !text.contains(['\u{E000}', '\u{E001}']),
                "{what}: internal markers:\n{text}"
            );
            for empty in ["  is a tag", "\"image\": \"\"", "does not parse"] {
                assert!(!text.contains(empty), "{what}: {empty:?} in\n{text}");
            }
            assert!(
                !empty_code_span(text),
                "{what}: an empty code span in\n{text}"
            );
            // the unresolved ARG is named as a variable where a path shows it
            assert!(!text.contains("APP_PATH/requirements"), "{what}:\n{text}");
        }
    }
    // the COPY whose source names an ARG without a value: uncertain, not "does not exist"
    let v = json(&outputs[1].1);
    let step = v["dockerfiles"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == 4)
        .unwrap()
        .clone();
    assert_eq!(step["confidence"], "likely", "{step}");
    assert!(
        step["reason"].as_str().unwrap().contains("`APP_PATH`"),
        "{step}"
    );
    let c = json(&outputs[5].1);
    assert_eq!(c["summary"]["unparsable"], 0, "{c}");
    assert_eq!(c["summary"]["failing"], 0, "{c}");
}

/// Whether `s` holds an empty inline code span: two backticks that are not part of a fence.
fn empty_code_span(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(1)).any(|i| {
        b[i] == b'`'
            && b[i + 1] == b'`'
            && (i == 0 || b[i - 1] != b'`')
            && b.get(i + 2) != Some(&b'`')
    })
}

/// A workflow building `{context}` with the commit's sha as `GIT_SHA`: the evidence CB003 needs
/// that the value changes on every commit.
pub const WORKFLOW_GIT_SHA: &str = "on: push\njobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          context: {context}\n          build-args: |\n            GIT_SHA=${{ github.sha }}\n";

/// A git submodule moved to another commit: a checkout without submodules (the default of
/// `actions/checkout` and `git clone`) leaves it an empty directory on both sides, so `COPY . .`
/// takes the same bytes and nothing rebuilds; a COPY of a path inside it fails, said so.
#[test]
fn a_moved_submodule_rebuilds_nothing_and_copying_from_it_is_said_to_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY app.txt /app.txt\nCOPY . /src\nRUN ls /src\n",
    )
    .unwrap();
    std::fs::write(dir.join("app.txt"), "app\n").unwrap();
    let gitlink = |sha: &str| {
        git(
            dir,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{sha},vendor/lib"),
            ],
        )
    };
    git(dir, &["add", "-A"]);
    gitlink("1111111111111111111111111111111111111111");
    git(dir, &["commit", "-q", "-m", "base"]);
    gitlink("2222222222222222222222222222222222222222");
    git(dir, &["commit", "-q", "-m", "move the submodule"]);
    let o = cachebust(
        &[
            "analyze", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
        dir,
    );
    let v = json(&o);
    assert_eq!(v["changed_paths"], 1, "{v}");
    assert_eq!(v["rebuilt_steps"], 0, "{v}");
    // a build added that copies from inside the submodule: its COPY names the submodule
    std::fs::write(
        dir.join("Dockerfile.lib"),
        "FROM busybox\nCOPY vendor/lib/x.txt /x.txt\n",
    )
    .unwrap();
    git(dir, &["add", "Dockerfile.lib"]);
    git(dir, &["commit", "-q", "-m", "copy from the submodule"]);
    let o = cachebust(
        &[
            "analyze", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
        dir,
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("vendor/lib/x.txt does not exist in the build context: it is inside the git submodule vendor/lib"),
        "{text}"
    );
}
