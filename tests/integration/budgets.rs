//! Issue 30, items 2 and 3, through the real binary, each run under a 1 GiB address-space limit
//! (`prlimit --as`) and a deadline: evaluation bombs in a bake file, a workflow and Compose
//! includes are findings naming the file, the line and the limit while the change's other build
//! is still predicted; trees past the limits of one walk (seven levels sharing one subtree,
//! directory chains thousands deep) are refused with that reason, never a crash.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::trees::write_tree;

/// Address space of each run: the unbounded cases asked for 4 GB to 66 GB.
const MEMORY: &str = "--as=1073741824";

/// `cachebust args` in `cwd` under `MEMORY`, killed past `deadline`.
fn bounded(args: &[&str], cwd: &Path, deadline: Duration) -> Output {
    let mut c = Command::new("prlimit");
    c.arg(MEMORY)
        .arg(env!("CARGO_BIN_EXE_cachebust"))
        .args(args)
        .current_dir(cwd);
    crate::support::output_within(c, &format!("cachebust {args:?}"), deadline)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A Compose project whose files each include the next one 20 times, six levels deep.
fn include_fan_out() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for level in 0..6 {
        let list = format!("  - f{}.yaml\n", level + 1).repeat(20);
        files.push((
            format!("compose/f{level}.yaml"),
            format!("include:\n{list}services:\n  s{level}:\n    build: ./s{level}\n"),
        ));
    }
    files.push((
        "compose/f6.yaml".into(),
        "services:\n  leaf:\n    build: ./leaf\n".into(),
    ));
    files.push((
        "compose/compose.yaml".into(),
        "include:\n  - f0.yaml\nservices:\n  web:\n    build: ../app\n".into(),
    ));
    files
}

/// Item 2: a 1,831-byte bake file doubling a variable 40 times (4 GB, aborted in 7 s), a
/// workflow referencing a 600 KB `env:` value 110,000 times (66 GB) and Compose includes fanning
/// out 20⁶ times, all in one change: each is an error naming its file, its line and the limit,
/// and the change's other build is predicted as without them.
#[test]
fn evaluation_bombs_are_findings_with_file_line_and_limit_and_the_other_build_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    write_tree(
        &b,
        &[("app/Dockerfile", "FROM alpine\nRUN echo 1\n".into())],
    );
    let mut bake = String::from("variable \"A0\" { default = \"xx\" }\n");
    for i in 1..=40 {
        bake.push_str(&format!(
            "variable \"A{i}\" {{ default = \"${{A{p}}}${{A{p}}}\" }}\n",
            p = i - 1
        ));
    }
    bake.push_str("target \"app\" {\n  args = { X = A40 }\n}\n");
    let workflow = format!(
        "env:\n  B: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: bomb\n        uses: docker/build-push-action@v6\n        with:\n          context: app\n          build-args: X={}\n",
        "x".repeat(600_000),
        "${{env.B}}".repeat(110_000)
    );
    let mut head: Vec<(String, String)> = vec![
        ("app/Dockerfile".into(), "FROM alpine\nRUN echo 2\n".into()),
        ("bake/docker-bake.hcl".into(), bake),
        (".github/workflows/bomb.yml".into(), workflow),
    ];
    head.extend(include_fan_out());
    let head: Vec<(&str, String)> = head.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    write_tree(&h, &head);

    let o = bounded(
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
        Duration::from_secs(300),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let over: Vec<(String, u64, String)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .is_some_and(|m| m.contains("evaluation budget"))
        })
        .map(|d| {
            assert_eq!(d["severity"], "error", "{d}");
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap_or(0),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(over.len(), 3, "{over:#?}");
    let find = |file: &str| {
        over.iter()
            .find(|(f, ..)| f == file)
            .unwrap_or_else(|| panic!("no budget finding for {file}: {over:#?}"))
    };
    let (_, line, msg) = find("bake/docker-bake.hcl");
    assert!(*line > 1, "{msg}");
    assert!(
        msg.starts_with(&format!("variable A{}:", line - 1))
            && msg.ends_with("the bake files in bake/ go past the evaluation budget of one bake project (more than 16 MiB of text produced); none of their targets is analysed"),
        "{msg}"
    );
    let (_, line, msg) = find(".github/workflows/bomb.yml");
    assert_eq!(*line, 8, "{msg}");
    assert_eq!(
        msg,
        "job a, bomb: build arg X: the expansion goes past the evaluation budget of one workflow file (more than 16 MiB of text produced); its builds are not analysed"
    );
    let (file, line, msg) = over
        .iter()
        .find(|(f, ..)| f.starts_with("compose/"))
        .unwrap();
    assert!(
        file.starts_with("compose/f") && *line == 2,
        "{file}:{line} {msg}"
    );
    assert!(
        msg.contains("the project compose/compose.yaml goes past the evaluation budget of one Compose project (more than 100,000 evaluation steps"),
        "{msg}"
    );
    // the other build of the change is predicted
    let app = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "app/Dockerfile")
        .unwrap_or_else(|| panic!("{v:#}"));
    let statuses: Vec<&str> = app["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cached", "rebuilt"], "{v:#}");
}

fn git(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A repository with `base` (a Dockerfile that copies its context) and three heads that each
/// add a tree bomb: `fanout`, seven levels of 16 entries sharing one subtree (16⁷ paths from a
/// few KB of objects); `chain`, one directory inside the next 20,000 deep; `long`, 4,000 deep
/// with 200-character names.
fn bomb_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "base"], b"");
    let chain = ["d"; 20_000].join("/");
    let long = vec!["d".repeat(200); 4_000].join("/");
    let script = format!(
        "commit refs/heads/base\ncommitter t <t@example.invalid> 0 +0000\ndata 4\nbase\nM 100644 inline Dockerfile\ndata 34\nFROM alpine\nCOPY . /app\nRUN echo 1\n\n\
         commit refs/heads/chain\ncommitter t <t@example.invalid> 0 +0000\ndata 5\nchain\nfrom refs/heads/base\nM 100644 inline {chain}/leaf\ndata 3\nhi\n\n\
         commit refs/heads/long\ncommitter t <t@example.invalid> 0 +0000\ndata 4\nlong\nfrom refs/heads/base\nM 100644 inline {long}/leaf\ndata 3\nhi\n\n"
    );
    git(dir, &["fast-import", "--quiet"], script.as_bytes());
    let leaf = git(dir, &["hash-object", "-w", "--stdin"], b"x\n");
    let mut tree = git(
        dir,
        &["mktree"],
        (0..16)
            .map(|i| format!("100644 blob {leaf}\tf{i:02}\n"))
            .collect::<String>()
            .as_bytes(),
    );
    for _ in 1..7 {
        let entries: String = (0..16)
            .map(|i| format!("040000 tree {tree}\td{i:02}\n"))
            .collect();
        tree = git(dir, &["mktree"], entries.as_bytes());
    }
    let mut top = git(dir, &["ls-tree", "base"], b"");
    top.push_str(&format!("\n040000 tree {tree}\tbomb\n"));
    let head = git(dir, &["mktree"], top.as_bytes());
    let commit = git(
        dir,
        &["commit-tree", &head, "-p", "base", "-m", "fanout"],
        b"",
    );
    git(dir, &["update-ref", "refs/heads/fanout", &commit], b"");
}

/// Item 3 with git revisions: 16⁷ paths aborted at 4 GB, 20,000 directories deep overflowed the
/// stack, 4,000 deep with 200-character names ran out of memory. Each is now refused, quickly,
/// naming the tree and the limit it went past.
#[test]
fn tree_bombs_in_git_are_refused_naming_the_tree_and_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    bomb_repo(&repo);
    for (head, limit) in [
        ("fanout", "more than 500,000 entries"),
        ("chain", "nested deeper than 256 directories"),
        ("long", "nested deeper than 256 directories"),
    ] {
        let o = bounded(
            &["analyze", "--base", "base", "--head", head],
            &repo,
            Duration::from_secs(120),
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{head}: {out}");
        assert!(
            out.contains("goes past the limits of one tree walk")
                && out.contains(limit)
                && out.contains(&format!("the tree of {head} ("))
                && out.contains("not analysed (a walk lists at most 500,000 entries, 256 directories deep, 64 MiB of path names)"),
            "{head}: {out}"
        );
        assert!(out.lines().count() <= 3, "one clear line: {out}");
    }
}

/// Item 3 with directories: a chain 300 deep is refused by `analyze` (two directories) and by
/// `check` (one directory) alike, naming the directory and the limit.
#[test]
fn deep_directories_are_refused_naming_the_directory_and_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let df = "FROM alpine\nCOPY . /app\n";
    write_tree(&b, &[("Dockerfile", df.into())]);
    let deep = format!("{}/leaf", ["d"; 300].join("/"));
    write_tree(
        &h,
        &[("Dockerfile", df.into()), (deep.as_str(), "x\n".into())],
    );
    for args in [
        vec![
            "analyze",
            "--base-dir",
            b.to_str().unwrap(),
            "--head-dir",
            h.to_str().unwrap(),
        ],
        vec!["check", h.to_str().unwrap()],
    ] {
        let o = bounded(&args, tmp.path(), Duration::from_secs(120));
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        assert!(
            out.contains(&format!("the directory {}", h.display()))
                && out.contains(
                    "goes past the limits of one tree walk: nested deeper than 256 directories"
                ),
            "{args:?}: {out}"
        );
    }
}
