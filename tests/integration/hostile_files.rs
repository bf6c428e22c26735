//! Files from a pull request that must not be trusted (issue 17, items 9 and 11), through the
//! real binary: a byte order mark, NUL bytes, FIFOs and links named like Dockerfiles, a bad
//! `.dockerignore`, terminal escapes and bidirectional controls in file names, backticks that
//! would close a fence. Each gets a clear outcome with file and line, and the rest of the
//! analysis goes through.

use std::path::Path;

use crate::cli::cachebust;
use crate::support::trees::write_tree;

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn analyze(b: &Path, h: &Path, extra: &[&str]) -> std::process::Output {
    let mut a = vec![
        "analyze",
        "--base-dir",
        b.to_str().unwrap(),
        "--head-dir",
        h.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    cachebust(&a, b.parent().unwrap())
}

/// The status of each step of one Dockerfile's report.
fn statuses(df: &serde_json::Value) -> Vec<&str> {
    df["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", out(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(o)))
}

#[test]
fn a_byte_order_mark_is_read_as_buildkit_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    write_tree(
        &b,
        &[("Dockerfile", "\u{feff}FROM alpine\nRUN echo a\n".into())],
    );
    write_tree(
        &h,
        &[("Dockerfile", "\u{feff}FROM alpine\nRUN echo b\n".into())],
    );
    let v = json(&analyze(&b, &h, &["--format", "json"]));
    let df = &v["dockerfiles"][0];
    assert_eq!(df["diagnostics"], serde_json::json!([]), "{v:#}");
    let statuses = statuses(df);
    assert_eq!(statuses, ["cached", "rebuilt"], "{v:#}");
}

#[test]
fn files_that_are_not_text_or_not_files_are_named_with_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let files = |run: &str| {
        vec![
            ("Dockerfile", format!("FROM alpine\nRUN {run}\n")),
            ("app/Dockerfile", format!("FROM alpine\nRUN {run}\n")),
        ]
    };
    write_tree(&b, &files("echo a"));
    write_tree(&h, &files("echo b"));
    // a NUL byte on line 2 of one Dockerfile; a FIFO and a link out of the tree named like
    // Dockerfiles; a directory named like one
    std::fs::write(h.join("Dockerfile"), b"FROM alpine\nRUN echo \0b\n").unwrap();
    let fifo = h.join("Dockerfile.dev");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    std::os::unix::fs::symlink("/etc/passwd", h.join("Dockerfile.prod")).unwrap();
    std::fs::create_dir_all(h.join("x.Dockerfile")).unwrap();

    let o = analyze(&b, &h, &[]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "Dockerfile:2: error: the Dockerfile is not a text file: it holds a NUL byte"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Dockerfile.dev: warning: cannot read: a FIFO (named pipe), not a regular file"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Dockerfile.prod: error: cannot read the Dockerfile: it is a symlink to /etc/passwd"
        ),
        "{text}"
    );
    assert!(
        !text.contains("root:"),
        "the link's target must not be read: {text}"
    );
    // the rest goes through: the other Dockerfile's change is predicted
    let v = json(&analyze(&b, &h, &["--format", "json"]));
    let app = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "app/Dockerfile")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(app["summary"]["rebuilt"], 1, "{app:#}");

    // named on the command line, a FIFO is not "deleted by this change", and nothing hangs
    let o = analyze(&b, &h, &["--dockerfile", "Dockerfile.dev"]);
    let text = out(&o);
    assert!(
        text.contains(
            "Dockerfile.dev: error: cannot read the Dockerfile: it is a FIFO (named pipe)"
        ),
        "{text}"
    );
    assert!(!text.contains("deleted"), "{text}");
    // a directory named like a Dockerfile is no Dockerfile: a usage error naming it
    let o = analyze(&b, &h, &["--dockerfile", "x.Dockerfile"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o)
            .contains("--dockerfile x.Dockerfile: a directory in the head tree, not a Dockerfile"),
        "{}",
        out(&o)
    );
}

#[test]
fn dockerignore_errors_point_at_the_dockerignore() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let df = "FROM alpine\nCOPY . /src\n";
    write_tree(&b, &[("Dockerfile", df.into()), ("a.txt", "1".into())]);
    write_tree(
        &h,
        &[
            ("Dockerfile", df.into()),
            ("a.txt", "2".into()),
            (".dockerignore", "# comment\n*.log\n!\n".into()),
        ],
    );
    let v = json(&analyze(&b, &h, &["--format", "json"]));
    let d = &v["dockerfiles"][0]["diagnostics"][0];
    assert_eq!(d["file"], ".dockerignore", "{v:#}");
    assert_eq!(d["line"], 3, "{v:#}");
    let text = out(&analyze(&b, &h, &[]));
    assert!(
        text.contains(".dockerignore:3: error: illegal exclusion pattern: \"!\""),
        "{text}"
    );
    assert!(!text.contains("Dockerfile:0"), "{text}");

    // a .dockerignore that is not text: its line, its name
    std::fs::write(h.join(".dockerignore"), b"*.log\n\xff\xfe\n").unwrap();
    let text = out(&analyze(&b, &h, &[]));
    assert!(
        text.contains(".dockerignore:2: error: not a text file: it is not UTF-8"),
        "{text}"
    );
    // past the pattern limit: a finding on the first line not read, and the build still
    // predicted (a.txt changed: the COPY rebuilds)
    let many: String = (0..20_000).map(|i| format!("junk{i}/\n")).collect();
    std::fs::write(h.join(".dockerignore"), many).unwrap();
    let v = json(&analyze(&b, &h, &["--format", "json"]));
    let df = &v["dockerfiles"][0];
    let d = df["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["file"] == ".dockerignore")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(d["line"], 1001, "{v:#}");
    let statuses = statuses(df);
    assert_eq!(statuses, ["cached", "rebuilt"], "{v:#}");
}

/// Item 5's other inputs through the CLI, each past its limit: a Dockerfile of 80,000 `\`
/// continuations and a timing log of 40,000 vertices. Each is a finding naming file and line; the
/// log's first 10,000 vertices are still matched.
#[test]
fn inputs_past_their_limits_are_findings_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let cont: String = std::iter::once("FROM alpine\nRUN echo \\\n".to_string())
        .chain((0..80_000).map(|i| format!("  {i} \\\n")))
        .chain(std::iter::once("  end\n".to_string()))
        .collect();
    let app = |v: &str| ("app/Dockerfile", format!("FROM alpine\nRUN echo {v}\n"));
    write_tree(&b, &[app("1")]);
    write_tree(&h, &[app("2"), ("long/Dockerfile", cont)]);
    let mut log = String::new();
    for n in 1..=40_000 {
        log.push_str(&format!("#{n} [2/2] RUN echo {n}\n#{n} DONE 0.1s\n"));
    }
    let log_path = tmp.path().join("vertices.log");
    std::fs::write(&log_path, log).unwrap();
    let o = analyze(
        &b,
        &h,
        &["--format", "json", "--timings", log_path.to_str().unwrap()],
    );
    let v = json(&o);
    let long = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "long/Dockerfile")
        .unwrap_or_else(|| panic!("{v:#}"));
    let d = &long["diagnostics"][0];
    assert!(d["line"].as_u64().is_some_and(|l| l > 1), "{v:#}");
    assert!(
        d["message"].as_str().unwrap_or_default().contains("lines"),
        "{v:#}"
    );
    let logd = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("vertices.log"))
        })
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(logd["line"], 20_001, "{v:#}");
    assert!(
        logd["message"]
            .as_str()
            .unwrap_or_default()
            .contains("10000")
            || logd["message"]
                .as_str()
                .unwrap_or_default()
                .contains("10,000"),
        "{v:#}"
    );
}

#[test]
fn escapes_and_bidi_controls_in_file_names_are_shown_not_obeyed() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let evil = "svc\u{1b}[2J\u{202e}cod";
    let df = format!("{evil}/Dockerfile");
    let files = |v: &str| {
        vec![
            (
                df.as_str(),
                "FROM alpine\nCOPY . /src\nRUN make\n".to_string(),
            ),
            ("svc/x", v.to_string()),
        ]
    };
    let conv = |v: Vec<(&str, String)>| -> Vec<(&'static str, String)> {
        v.into_iter()
            .map(|(p, c)| (&*Box::leak(p.to_string().into_boxed_str()), c))
            .collect()
    };
    write_tree(&b, &conv(files("1")));
    let mut head = files("2");
    head.push((
        df.as_str(),
        "FROM alpine\nCOPY . /src\nRUN make all\n".into(),
    ));
    write_tree(&h, &conv(head));
    for format in ["text", "markdown"] {
        let o = analyze(&b, &h, &["--format", format]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        assert!(!text.contains('\u{1b}'), "{format}: raw ESC in {text:?}");
        assert!(
            !text.contains('\u{202e}'),
            "{format}: raw U+202E in {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[2J\\u{202e}cod"),
            "{format}: the name is shown as it is: {text}"
        );
    }
    let o = cachebust(&["check", "--root", h.to_str().unwrap()], tmp.path());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    // and the findings are there, under the name as it is (an empty output passes the above)
    assert!(text.contains("\\u{1b}[2J\\u{202e}cod/Dockerfile"), "{text}");
    assert!(text.contains("CB00"), "{text}");
    // SARIF: the name percent-encoded in the URI (RFC 3986), so a viewer shows no control
    let o = cachebust(
        &["check", "--root", h.to_str().unwrap(), "--format", "sarif"],
        tmp.path(),
    );
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    let uris: Vec<&str> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(!uris.is_empty(), "{v:#}");
    for u in uris {
        assert_eq!(u, "svc%1B%5B2J%E2%80%AEcod/Dockerfile", "{v:#}");
    }
}

/// Items 1 and 2 through the CLI: an expansion nested 100,000 deep (it overflowed the stack at
/// 120 KB) and 44 doubling ARGs (3.3 GB) are findings with file and line, and the other build of
/// the same change is still predicted.
#[test]
fn expansion_bombs_are_findings_and_the_other_builds_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let app = |v: &str| ("app/Dockerfile", format!("FROM alpine\nRUN echo {v}\n"));
    write_tree(&b, &[app("1")]);
    write_tree(
        &h,
        &[
            app("2"),
            ("bomb/Dockerfile", crate::server::nesting_bomb(100_000)),
            ("double/Dockerfile", crate::server::doubling_bomb(44)),
        ],
    );
    let o = analyze(&b, &h, &["--format", "json"]);
    let v = json(&o);
    let by_path = |p: &str| {
        v["dockerfiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == p)
            .unwrap_or_else(|| panic!("no {p} in {v:#}"))
            .clone()
    };
    let said = |d: &serde_json::Value, what: &str| -> Vec<u64> {
        d["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["message"].as_str().unwrap_or_default().contains(what))
            .map(|x| x["line"].as_u64().unwrap_or(0))
            .collect()
    };
    assert_eq!(
        said(&by_path("bomb/Dockerfile"), "nests deeper than 64 levels"),
        [2],
        "{v:#}"
    );
    let lines = said(&by_path("double/Dockerfile"), "grow past 32 KiB");
    assert!(!lines.is_empty() && lines.iter().all(|l| *l > 2), "{v:#}");
    let app = by_path("app/Dockerfile");
    let statuses = statuses(&app);
    assert_eq!(statuses, ["cached", "rebuilt"], "{v:#}");
}

#[test]
fn check_markdown_fences_outgrow_the_backticks_of_the_dockerfile() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("r");
    // a heredoc line of three backticks: as a context line of the diff (" ```") it closes a
    // fixed three-backtick fence
    let df = "FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt && cat <<'EOF' > /notes\n```\n</details><img src=x onerror=alert(1)> @org/team\nEOF\nCOPY . .\n";
    write_tree(
        &root,
        &[
            ("Dockerfile", df.into()),
            ("requirements.txt", "flask\n".into()),
        ],
    );
    let o = cachebust(
        &[
            "check",
            "--root",
            root.to_str().unwrap(),
            "--format",
            "markdown",
        ],
        tmp.path(),
    );
    let md = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(md.contains("<details>"), "a fix diff is shown: {md}");
    let html = comrak::markdown_to_html(&md, &crate::review::gfm());
    assert!(
        !html.contains("<img"),
        "the heredoc closed the fence: {html}"
    );
    assert_eq!(
        html.matches("<details>").count(),
        html.matches("</details>").count(),
        "{html}"
    );
    // the Dockerfile's text is inside a code block, byte for byte
    assert!(
        html.contains(" ```\n &lt;/details&gt;&lt;img src=x onerror=alert(1)&gt; @org/team\n"),
        "{html}"
    );
}

/// Item 10 through the binary: a committed timing log with durations no build takes (negative,
/// NaN, past a week) and a configuration claiming 1e307 s. The log's values are dropped with a
/// warning naming file and line, the total stays a number, and `--fail-on rebuild-seconds>10`
/// still trips on the model's estimate; the configuration is refused with its line.
#[test]
fn timing_values_no_build_takes_neither_break_the_figures_nor_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    write_tree(
        &b,
        &[(
            "Dockerfile",
            "FROM alpine\nRUN echo a\nRUN make all\n".into(),
        )],
    );
    write_tree(
        &h,
        &[(
            "Dockerfile",
            "FROM alpine\nRUN echo b\nRUN make all\n".into(),
        )],
    );
    let log = tmp.path().join("build.log");
    std::fs::write(
        &log,
        "#1 [1/3] FROM docker.io/library/alpine\n#1 DONE 0.1s\n#2 [2/3] RUN echo a\n#2 DONE -1e308s\n#3 [3/3] RUN make all\n#3 DONE NaNs\n#4 [3/3] RUN make all\n#4 DONE 1e308s\n",
    )
    .unwrap();
    let log_arg = log.to_str().unwrap();
    let o = analyze(&b, &h, &["--timings", log_arg, "--format", "json"]);
    let v = json(&o);
    let total = v["estimated_rebuild_seconds"].as_f64();
    assert!(
        total.is_some_and(|t| t.is_finite() && t > 10.0),
        "{}",
        out(&o)
    );
    let lines: Vec<u64> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["file"] == "build.log" || d["file"].as_str().is_some_and(|f| f.ends_with("build.log"))
        })
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 6, 8], "{v:#}");
    let gated = analyze(
        &b,
        &h,
        &["--timings", log_arg, "--fail-on", "rebuild-seconds>10"],
    );
    assert_eq!(gated.status.code(), Some(1), "{}", out(&gated));

    let cfg = tmp.path().join("cachebust.yml");
    std::fs::write(
        &cfg,
        "cost:\n  - match: \"RUN make*\"\n    seconds: 1e307\n",
    )
    .unwrap();
    let o = analyze(
        &b,
        &h,
        &["--config", cfg.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let text = out(&o);
    assert!(text.contains("cachebust.yml:2"), "{text}");
    assert!(text.contains("from 0 to 604800 (a week)"), "{text}");
}

/// Item 8 through the CLI, in Compose's long form: a `context:` that climbs out of the repository
/// is refused with a diagnostic at the service's line, not clamped into the tree (no build of
/// service evil with context `etc`), and the other service's build is still predicted.
#[test]
fn a_compose_context_outside_the_repository_is_refused_not_clamped() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, h) = (tmp.path().join("b"), tmp.path().join("h"));
    let compose = "services:\n  app:\n    build: ./app\n  evil:\n    build:\n      context: ../../../../etc\n      dockerfile: Dockerfile\n";
    let files = |v: &str| {
        vec![
            ("compose.yaml", compose.to_string()),
            ("app/Dockerfile", format!("FROM alpine\nRUN echo {v}\n")),
            ("etc/Dockerfile", format!("FROM alpine\nRUN echo {v}\n")),
        ]
    };
    write_tree(&b, &files("1"));
    write_tree(&h, &files("2"));
    let v = json(&analyze(&b, &h, &["--format", "json"]));
    let builds: Vec<(&str, &str, &str)> = v["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap(),
                d["context"].as_str().unwrap(),
                d["origin"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    // app's build as Compose declares it; etc/Dockerfile (changed too) only as a Dockerfile
    // found in the tree, with its own guessed context: never as service evil's build
    assert_eq!(
        builds,
        [
            ("app/Dockerfile", "app", "compose"),
            ("etc/Dockerfile", ".", "discovered")
        ],
        "{v:#}"
    );
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["file"] == "compose.yaml")
        .unwrap_or_else(|| panic!("no compose diagnostic: {v:#}"));
    assert_eq!(d["severity"], "error", "{v:#}");
    // the service's line
    assert_eq!(d["line"], 4, "{v:#}");
    assert!(
        d["message"].as_str().unwrap_or_default().contains(
            "service evil: build context ../../../../etc is outside the repository; refused"
        ),
        "{v:#}"
    );
}
