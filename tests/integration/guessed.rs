//! Issue 29 through the binary. Class 2, builds nobody builds: Dockerfiles in test-fixture,
//! demo and example trees are not searched by default (`discovery.skip`), one that is analysed
//! anyway and does not parse is information, Windows Dockerfiles are left out, and a Dockerfile
//! no declaration builds is a guessed build, labelled so in every format and kept out of the
//! totals (headline, `--fail-on`, `history`) unless the repository declares no build at all.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::cli::{cachebust, git};
use crate::support::docker::BASE1;
use crate::support::trees::write_tree;

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tree(dir: &Path, files: &[(&str, &str)]) {
    let v: Vec<(&str, String)> = files
        .iter()
        .map(|(p, c)| (*p, c.replace("{B1}", BASE1)))
        .collect();
    write_tree(dir, &v);
}

/// A git repository in `dir` whose first commit is `files`.
fn repo(dir: &Path, files: &[(&str, &str)]) {
    tree(dir, files);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "one"]);
}

fn commit(dir: &Path, files: &[(&str, &str)], msg: &str) {
    tree(dir, files);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
}

fn paths(v: &Value) -> Vec<String> {
    v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect()
}

const COMPOSE: &str = "services:\n  app:\n    build: .\n";

/// Test fixtures, demos and Windows Dockerfiles are not builds: `check` of the repository
/// passes, says what it left out, and a fixture analysed anyway that does not parse is
/// information (before: `check` exited 1 on the parser fixture and took them all as builds).
#[test]
fn fixture_demo_and_windows_dockerfiles_are_not_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tree(
        dir,
        &[
            ("compose.yaml", COMPOSE),
            ("Dockerfile", "FROM alpine:3.20\nCOPY src /src\n"),
            ("src/a", "a"),
            // a parser's negative test file, as moby/buildkit keeps them
            (
                "frontend/parser/testfiles-negative/env_no_value/Dockerfile",
                "FROM busybox\nENV PATH\n",
            ),
            (
                "frontend/parser/testfiles/x/Dockerfile",
                "FROM busybox\nRUN true\n",
            ),
            (
                "examples/demo/Dockerfile",
                "FROM alpine:3.20\nCOPY . /app\n",
            ),
            (
                ".examples/full/Dockerfile",
                "FROM alpine:3.20\nCOPY . /app\n",
            ),
            (
                "pkg/e2e/fixtures/build/Dockerfile",
                "FROM alpine:3.20\nRUN true\n",
            ),
            (
                "pkg/dockerfile/testdata/invalid.Dockerfile",
                "FRM nothing\n",
            ),
            (
                "Dockerfile.windows",
                "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN echo hi\n",
            ),
            (
                "win/Dockerfile",
                "# escape=`\nFROM mcr.microsoft.com/dotnet/sdk:8.0-nanoserver-ltsc2022\nRUN dir\n",
            ),
        ],
    );
    let o = cachebust(
        &["check", "--format", "json", "--fail-on-severity", "error"],
        dir,
    );
    let v = json(&o);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(paths(&v), ["Dockerfile"]);
    let infos: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(
        infos
            .iter()
            .any(|m| m.starts_with("2 Windows Dockerfiles not analysed")
                && m.contains("Dockerfile.windows")
                && m.contains("win/Dockerfile")),
        "{infos:?}"
    );

    // searching everything: the fixtures are guessed builds, one that does not parse is
    // information; Windows Dockerfiles stay out
    tree(
        dir,
        &[(".github/cachebust.yml", "discovery:\n  skip: []\n")],
    );
    let o = cachebust(
        &["check", "--format", "json", "--fail-on-severity", "error"],
        dir,
    );
    let v = json(&o);
    assert_eq!(o.status.code(), Some(0), "{v}");
    let found = paths(&v);
    assert_eq!(found.len(), 7, "{found:?}");
    assert!(!found.iter().any(|p| p.contains("win")), "{found:?}");
    for d in v["dockerfiles"].as_array().unwrap() {
        let declared = d["path"] == "Dockerfile";
        assert_eq!(d["guessed"].is_null(), declared, "{d}");
        for x in d["diagnostics"].as_array().unwrap() {
            assert_ne!(x["severity"], "error", "{d}");
        }
    }
    let neg = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "frontend/parser/testfiles-negative/env_no_value/Dockerfile")
        .unwrap();
    let m = neg["diagnostics"][0]["message"].as_str().unwrap();
    assert!(
        m.starts_with("ENV must have two arguments") && m.contains("taken as a fixture"),
        "{m}"
    );
    assert_eq!(neg["diagnostics"][0]["severity"], "info");
    assert_eq!(v["summary"]["unparsable"], 0);

    // a fixture directory named on the command line is searched, and still not an error
    std::fs::remove_file(dir.join(".github/cachebust.yml")).unwrap();
    let o = cachebust(
        &[
            "check",
            "--format",
            "json",
            "--fail-on-severity",
            "error",
            "frontend/parser/",
        ],
        dir,
    );
    let v = json(&o);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(paths(&v).len(), 2, "{v}");
    // the repository's own directory, named: its fixture trees below are still skipped
    let o = cachebust(&["check", "--format", "json", "."], dir);
    assert_eq!(paths(&json(&o)), ["Dockerfile"]);
}

/// A Dockerfile no declaration builds, guessed to use the root as its context, is "rebuilt" by
/// a commit that edits the README: labelled guessed in every format, left out of the headline,
/// `--fail-on` and the history totals while the repository declares its builds; counted (still
/// labelled) when the repository declares none.
#[test]
fn guessed_builds_are_labelled_and_kept_out_of_the_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "Dockerfile",
            "FROM alpine:3.20\nCOPY src /src\nRUN ls /src\n",
        ),
        (
            "tools/Dockerfile",
            "FROM alpine:3.20\nCOPY go.mod /x/\nCOPY . /src\nRUN ls /src\n",
        ),
        ("go.mod", "module x\n"),
        ("src/a", "a"),
        ("README.md", "one\n"),
    ];
    for declared in [true, false] {
        let dir = tmp.path().join(if declared { "declared" } else { "none" });
        let mut all = files.to_vec();
        if declared {
            all.push(("compose.yaml", COMPOSE));
        }
        repo(&dir, &all);
        commit(&dir, &[("README.md", "two\n")], "docs");
        let run = |format: &str, extra: &[&str]| {
            let mut a = vec![
                "analyze", "--repo", ".", "--base", "HEAD~1", "--head", "HEAD", "--format", format,
            ];
            a.extend(extra);
            cachebust(&a, &dir)
        };
        let v = json(&run("json", &[]));
        assert_eq!(paths(&v), ["tools/Dockerfile"], "{v}");
        let df = &v["dockerfiles"][0];
        assert_eq!(df["summary"]["rebuilt"], 2, "{df}");
        assert_eq!(df["guessed"]["context"], "copies_from_root");
        assert_eq!(df["guessed"]["counted"], !declared);
        assert!(
            df["guessed"]["reason"]
                .as_str()
                .unwrap()
                .contains("the files it copies are at the root"),
            "{df}"
        );
        let (steps, not_counted) = if declared { (0, 2) } else { (2, 0) };
        assert_eq!(v["rebuilt_steps"], steps, "{v}");
        assert_eq!(v["not_counted"]["rebuilt_steps"], not_counted, "{v}");
        assert_eq!(
            v["not_counted"]["builds"],
            if declared { 1 } else { 0 },
            "{v}"
        );
        // --fail-on holds to the counted builds
        let o = run("json", &["--fail-on", "rebuilt-steps>0"]);
        assert_eq!(o.status.code(), Some(if declared { 0 } else { 1 }));
        // every format says "guessed"
        let t = text(&run("text", &[]));
        let label = if declared {
            "tools/Dockerfile (guessed build, not counted)"
        } else {
            "tools/Dockerfile (guessed build)"
        };
        assert!(t.contains(label), "{t}");
        assert!(t.contains("guessed: no compose file"), "{t}");
        assert_eq!(
            t.contains(
                "not counted: 1 guessed build (no declaration builds it) with 2 rebuilt steps"
            ),
            declared,
            "{t}"
        );
        let md = text(&run("markdown", &[]));
        assert!(md.contains("guessed build"), "{md}");
        assert_eq!(
            md.contains("Not counted: 1 guessed build"),
            declared,
            "{md}"
        );
        let sarif = json(&run("sarif", &[]));
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert!(!results.is_empty());
        for r in results {
            assert_eq!(r["properties"]["guessed"], true, "{r}");
            assert_eq!(r["properties"]["counted"], !declared, "{r}");
        }
        // history: the totals and the ranking hold the counted builds only
        let o = cachebust(
            &["history", "--repo", ".", "--last", "1", "--format", "json"],
            &dir,
        );
        let h = json(&o);
        assert_eq!(
            h["per_commit"][0]["rebuilt_steps"],
            if declared { 0 } else { 2 },
            "{h}"
        );
        let ranked = h["dockerfiles"].as_array().unwrap();
        let apart = h["not_counted"].as_array().unwrap();
        let (listed, other) = if declared {
            (apart, ranked)
        } else {
            (ranked, apart)
        };
        assert_eq!(listed.len(), 1, "{h}");
        assert_eq!(listed[0]["path"], "tools/Dockerfile");
        assert_eq!(listed[0]["guessed"], true);
        assert!(other.is_empty(), "{h}");
        assert_eq!(
            h["total_rebuild_seconds"].as_f64().unwrap() > 0.0,
            !declared
        );
        let ht = text(&cachebust(&["history", "--repo", ".", "--last", "1"], &dir));
        assert_eq!(ht.contains("guessed builds, not counted"), declared, "{ht}");
    }
}

/// Class 6: CB002's fix for a Dockerfile nobody builds, guessed to use the root as its context,
/// writes the root `.dockerignore` the repository's main build reads too. It must not hide
/// what the main build reads: `.git` when it runs `git describe` over a bind mount of the
/// context, a file it copies (before: the fix listed `.git` and `README.md`, and the main
/// build lost them). Without the main build's reads, the same entries are offered (the test
/// tells the two apart).
#[test]
fn a_guessed_builds_ignore_fix_hides_nothing_the_main_build_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = |dir: &Path, args: &[&str]| -> Vec<String> {
        let v = json(&cachebust(args, dir));
        let df = v["dockerfiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == "tools/demo.Dockerfile")
            .unwrap_or_else(|| panic!("{v}"))
            .clone();
        assert_eq!(df["guessed"]["context"], "root", "{df}");
        let f = df["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "CB002")
            .unwrap_or_else(|| panic!("{df}"));
        let diff = f["fix"]["diff"].as_str().unwrap();
        diff.lines()
            .filter_map(|l| l.strip_prefix('+'))
            .filter(|l| !l.starts_with("++") && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    for reads in [true, false] {
        let dir = tmp.path().join(if reads { "reads" } else { "plain" });
        let main = if reads {
            "FROM alpine:3.20\nWORKDIR /src\nCOPY go.mod README.md ./\nRUN --mount=type=bind,target=. git describe --tags --always > /version\n"
        } else {
            "FROM alpine:3.20\nWORKDIR /src\nCOPY go.mod ./\nRUN go build ./...\n"
        };
        repo(
            &dir,
            &[
                ("compose.yaml", COMPOSE),
                ("Dockerfile", main),
                ("go.mod", "module x\n"),
                ("README.md", "one\n"),
                (
                    "tools/demo.Dockerfile",
                    "FROM alpine:3.20\nCOPY . /app\nRUN ls /app\n",
                ),
            ],
        );
        // check, on the working tree (`.git` is in the context)
        let got = entries(&dir, &["check", "--format", "json"]);
        assert!(
            got.contains(&"tools/demo.Dockerfile".to_string()),
            "{got:?}"
        );
        assert_eq!(got.contains(&".git".to_string()), !reads, "{got:?}");
        // the fix applied keeps `.git` for the main build
        let o = cachebust(&["fix", "--unsafe", "--apply"], &dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ignore = std::fs::read_to_string(dir.join(".dockerignore")).unwrap();
        assert_eq!(ignore.lines().any(|l| l == ".git"), !reads, "{ignore}");
        git(&dir, &["checkout", "-q", "--", "."]);
        std::fs::remove_file(dir.join(".dockerignore")).unwrap();
        // a pull request editing the README: the noise entry leaves the main build's copy alone
        commit(&dir, &[("README.md", "two\n")], "docs");
        let got = entries(
            &dir,
            &[
                "analyze", "--repo", ".", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
            ],
        );
        assert_eq!(got.contains(&"README.md".to_string()), !reads, "{got:?}");
    }
}
