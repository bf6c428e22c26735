//! Hostile input against the command-line shells (issue 30): secrets never printed, whatever
//! the command line holds; names and messages from a pull request never split a line of output
//! into a workflow command, move the terminal or link on GitHub, in every format.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cli::root;

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run the binary with a clean environment (plus `env`), stopped after 30 s.
fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CACHEBUST_DATABASE", "sqlite::memory:")
        .env("CACHEBUST_LISTEN", "127.0.0.1:0")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("cachebust {args:?} did not end within 30 s");
        }
    }
}

/// The lines of a PEM key's body (what must never be printed).
fn body_lines(pem: &str) -> Vec<&str> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect()
}

fn assert_no_secret(out: &str, secrets: &[&str], case: &str) {
    for s in secrets {
        assert!(
            !out.contains(s),
            "{case}: the secret {s:?} was printed:\n{out}"
        );
    }
}

/// Issue 30 item 4: the App's private key (and any other secret) is read from a file or the
/// environment only; a key pasted onto the command line, as a flag's value, a value after
/// `=`, a stray argument or a file name, is refused without a line of it printed; a malformed
/// key says so; a server that starts with a key from the environment logs none of it.
#[test]
fn secrets_are_never_printed() {
    let pem =
        std::fs::read_to_string(root().join("tests/fixtures/github-app-test-key.pem")).unwrap();
    let pem = pem.trim_end();
    let token = "ghs_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78";
    let mut secrets = body_lines(pem);
    secrets.push(token);
    secrets.push("whsec-Zq9Xw8Vu7Ts6");
    let tmp = tempfile::tempdir().unwrap();
    let base_env = [
        ("CACHEBUST_WEBHOOK_SECRET", "s"),
        ("CACHEBUST_APP_ID", "12"),
    ];
    let flag_eq = |f: &str| format!("{f}={pem}");
    type Case<'a> = (Vec<String>, &'a [(&'a str, &'a str)], &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["serve".into(), "--private-key".into(), pem.into()],
            &base_env,
            "unexpected argument '--private-key' found",
        ),
        (
            vec!["serve".into(), flag_eq("--private-key")],
            &base_env,
            "unexpected argument '--private-key' found",
        ),
        (
            vec!["serve".into(), "--private-key-file".into(), pem.into()],
            &base_env,
            "unexpected argument '<not shown>' found",
        ),
        (
            vec!["serve".into(), flag_eq("--private-key-file")],
            &base_env,
            "--private-key-file <not shown: this is no file name",
        ),
        (
            vec!["serve".into(), pem.into()],
            &base_env,
            "unexpected argument '<not shown>' found",
        ),
        (
            vec!["serve".into(), "--app-id".into(), pem.into()],
            &[],
            "unexpected argument '<not shown>' found",
        ),
        (
            vec!["serve".into(), flag_eq("--app-id")],
            &[],
            "invalid value '<not shown>' for '--app-id",
        ),
        (
            vec!["analyze".into(), "--base".into(), pem.into()],
            &[],
            "'<not shown>'",
        ),
        (
            vec!["serve".into(), "--github-token".into(), token.into()],
            &[],
            "unexpected argument '--github-token' found",
        ),
        (
            vec!["serve".into(), token.into()],
            &[],
            "unexpected argument '<not shown>' found",
        ),
        (
            vec![
                "serve".into(),
                "--webhook-secret".into(),
                "whsec-Zq9Xw8Vu7Ts6".into(),
            ],
            &[],
            "unexpected argument '--webhook-secret' found",
        ),
    ];
    for (args, env, want) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&a, env, tmp.path());
        let out = all(&o);
        let case = format!("{:?}", &a[..a.len().min(2)]);
        assert_eq!(o.status.code(), Some(2), "{case}: {out}");
        assert!(out.contains(want), "{case}: wanted {want:?} in:\n{out}");
        assert_no_secret(&out, &secrets, &case);
    }
    // a malformed key (one line of the body changed) from the environment: said to be
    // malformed, not "GitHub refused the request (401)", and not printed
    let broken = pem.replacen(body_lines(pem)[3], "%%%% not base64 %%%%", 1);
    let o = run(
        &["serve"],
        &[
            ("CACHEBUST_WEBHOOK_SECRET", "s"),
            ("CACHEBUST_APP_ID", "12"),
            ("CACHEBUST_PRIVATE_KEY", &broken),
        ],
        tmp.path(),
    );
    let out = all(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("CACHEBUST_PRIVATE_KEY: the App's private key is malformed"),
        "{out}"
    );
    assert!(!out.contains("GitHub refused"), "{out}");
    assert_no_secret(&out, &body_lines(&broken), "malformed key");
    // a server started with the key and a token from the environment, in both log formats:
    // nothing of them in its logs
    for format in ["json", "text"] {
        let log = tmp.path().join(format!("serve-{format}.log"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_cachebust"));
        c.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CACHEBUST_LISTEN", "127.0.0.1:0")
            .env("CACHEBUST_DATABASE", "sqlite::memory:")
            .env("CACHEBUST_WEBHOOK_SECRET", "whsec-Zq9Xw8Vu7Ts6")
            .env("CACHEBUST_APP_ID", "12")
            .env("CACHEBUST_PRIVATE_KEY", pem)
            .env("CACHEBUST_LOG_FORMAT", format)
            .env("CACHEBUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = c.spawn().unwrap();
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening")
        {
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "serve ended ({st}): {}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let o = child.wait_with_output().unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(out.contains("stopped"), "{out}");
        assert_no_secret(&out, &secrets, format);
    }
}

/// Names a pull request may give files and directories (all legal on Linux and in git), each
/// one a way to act on a CI log, a terminal or GitHub's markdown.
const HOSTILE: &[&str] = &[
    "nl\n::error file=x::pwned",
    "cr\r::add-mask::secret",
    "osc\u{1b}]0;title\u{7}clear\u{1b}[2J",
    "rlo\u{202e}gnp.exe",
    "zw\u{200b}x\u{2060}y\u{feff}",
    "tag\u{e0041}\u{e0042}",
    "ls\u{2028}::stop-commands::tok",
    "nel\u{85}::error::c1",
    "##[add-mask]legacy",
    "::warning::lead",
    "www.evil.example",
    "mail@evil.example",
    "#3",
    "owner/repo#4",
    "@admin",
    "GH-12",
];

/// Whether a character may stand raw in text output: anything but a control (tab and the
/// renderer's own newline aside) or an invisible or reordering character.
fn raw_hidden(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && c != '\t' && cachebust::render::is_hidden(c))
        .collect()
}

/// Lines a GitHub Actions runner would take for a workflow command.
fn workflow_commands(text: &str) -> Vec<String> {
    // the runner splits on CR and LF alike, trims the start (`TryParseV2`), and reads `##[`
    // anywhere (`TryParse`, the legacy form)
    text.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("::") || l.contains("##["))
        .map(str::to_string)
        .collect()
}

/// Words GitHub would link or notify with, in the text of a rendered markdown body (outside
/// code and links), and the links comrak (GitHub's flavour, autolinks on) makes.
fn github_links(md: &str) -> (Vec<String>, Vec<String>) {
    use comrak::nodes::NodeValue;
    let arena = comrak::Arena::new();
    let root = comrak::parse_document(&arena, md, &crate::review::gfm());
    static RE: std::sync::OnceLock<(regex::Regex, regex::Regex)> = std::sync::OnceLock::new();
    let (refs, tags) = RE.get_or_init(|| {
        (
            regex::Regex::new(r"(?i)(^|[^\w/`])(#\d|gh-\d|[\w.-]+/[\w.-]+#\d)|@[a-z0-9]|://|www\.")
                .unwrap(),
            regex::Regex::new(r"(?s)<code>.*?</code>|<[^>]*>").unwrap(),
        )
    });
    let (mut words, mut links) = (Vec::new(), Vec::new());
    for n in root.descendants() {
        match &n.data().value {
            NodeValue::Link(l) => links.push(l.url.clone()),
            NodeValue::Text(t) => {
                let inside_link = n
                    .ancestors()
                    .any(|a| matches!(a.data().value, NodeValue::Link(_)));
                if !inside_link && refs.is_match(t) {
                    words.push(t.to_string());
                }
            }
            NodeValue::HtmlInline(h)
            | NodeValue::HtmlBlock(comrak::nodes::NodeHtmlBlock { literal: h, .. }) => {
                // raw HTML (a <summary>): its text outside <code> elements
                let outside: String = tags.replace_all(h, " ").into_owned();
                if refs.is_match(&outside) {
                    words.push(outside);
                }
            }
            _ => {}
        }
    }
    (words, links)
}

fn git(dir: &Path, args: &[&str]) {
    crate::cli::git(dir, args)
}

/// A repository whose head commit adds a file and a Dockerfile under every hostile name, and a
/// fixable Dockerfile in a hostile directory, with a hostile commit message.
fn hostile_repo(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM alpine:3.20\nCOPY . /src\nRUN make\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let mut names = Vec::new();
    for (i, n) in HOSTILE.iter().enumerate() {
        // a changed file under the name (COPY . picks it up), and a Dockerfile in a directory
        // of that name whose RUN line quotes it (a fixable one: apt-get update alone)
        if let Some(parent) = dir.join(n).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(dir.join(n), format!("{i}\n")).unwrap();
        let d = dir.join(format!("d{i}{n}"));
        std::fs::create_dir_all(&d).unwrap();
        let quoted: String = n
            .chars()
            .filter(|c| *c != '\n' && *c != '\r' && *c != '\u{85}' && *c != '\u{2028}')
            .collect();
        std::fs::write(
            d.join("Dockerfile"),
            format!("FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\nRUN echo '{quoted}'\nCOPY . /app\n"),
        )
        .unwrap();
        names.push(n.to_string());
    }
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "commit",
            "-q",
            "-m",
            "subject ##[add-mask]msg \u{1b}[2J\u{202e} #5 @admin http://evil.example\n\n::error::body\n",
        ],
    );
    names
}

/// Issue 30 items 6, 12 and 13, through the binary: every hostile name and commit message, in
/// every output of `analyze`, `check`, `fix` and `history` (text, markdown, JSON, SARIF, HTML,
/// the diff, the errors): no raw control, bidi, zero-width or tag character, no line a CI runner
/// takes for a workflow command, no mention, issue reference or link GitHub would make, and JSON
/// that still says exactly what the tree holds.
#[test]
fn hostile_names_and_messages_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let names = hostile_repo(&repo);
    let r = repo.to_str().unwrap();
    let missing = format!("{r}/nl\n::error::ctx\u{1b}[2J");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "analyze text",
            vec!["analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD"],
        ),
        (
            "analyze markdown",
            vec![
                "analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD", "--format",
                "markdown",
            ],
        ),
        (
            "analyze json",
            vec![
                "analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
            ],
        ),
        (
            "analyze sarif",
            vec![
                "analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD", "--format", "sarif",
            ],
        ),
        (
            "analyze dirs",
            vec!["analyze", "--base", "HEAD~1", "--head-dir", r, "--repo", r],
        ),
        ("check text", vec!["check", "--root", r]),
        (
            "check markdown",
            vec!["check", "--root", r, "--format", "markdown"],
        ),
        ("check json", vec!["check", "--root", r, "--format", "json"]),
        (
            "check sarif",
            vec!["check", "--root", r, "--format", "sarif"],
        ),
        ("fix", vec!["fix", "--root", r, "--unsafe"]),
        (
            "history text",
            vec!["history", "--repo", r, "--range", "HEAD~1..HEAD"],
        ),
        (
            "history json",
            vec![
                "history",
                "--repo",
                r,
                "--range",
                "HEAD~1..HEAD",
                "--format",
                "json",
            ],
        ),
        (
            "history html",
            vec![
                "history",
                "--repo",
                r,
                "--range",
                "HEAD~1..HEAD",
                "--format",
                "html",
            ],
        ),
        // an error naming a hostile path
        ("error", vec!["check", &missing]),
    ];
    for (what, args) in &runs {
        let o = run(args, &[], tmp.path());
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            matches!(o.status.code(), Some(0 | 1)) || *what == "error",
            "{what}: {stderr}"
        );
        // something was said about the hostile names (an empty output would pass the rest)
        assert!(
            stdout.len() + stderr.len() > 200 || *what == "error",
            "{what}: {stdout}{stderr}"
        );
        let json = what.ends_with("json") || what.ends_with("sarif");
        for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            // JSON too: its escapes (`\u202e`) say the same to a JSON reader
            assert_eq!(
                raw_hidden(text),
                Vec::<char>::new(),
                "{what} {stream}:\n{text}"
            );
            assert_eq!(
                workflow_commands(text),
                Vec::<String>::new(),
                "{what} {stream}"
            );
        }
        if json {
            let v: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stdout}"));
            let all = v.to_string();
            assert!(!all.is_empty());
            if *what == "analyze json" || *what == "check json" {
                // JSON says exactly what the tree holds
                for (i, n) in names.iter().enumerate() {
                    let d = format!("d{i}{n}/Dockerfile");
                    assert!(json_has(&v, &d), "{what}: {d:?} missing");
                }
            }
        }
        if what.ends_with("markdown") {
            let (words, links) = github_links(&stdout);
            assert_eq!(
                words,
                Vec::<String>::new(),
                "{what}: GitHub would link these:\n{stdout}"
            );
            assert!(
                links.iter().all(|l| !l.contains("evil")),
                "{what}: links {links:?}"
            );
        }
        if *what == "error" {
            assert_eq!(o.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("nl\\u{a}::error::ctx\\u{1b}[2J: No such file"),
                "{stderr}"
            );
        }
    }
}

/// Whether a JSON value holds `s` as one of its strings.
fn json_has(v: &serde_json::Value, s: &str) -> bool {
    match v {
        serde_json::Value::String(x) => x == s,
        serde_json::Value::Array(a) => a.iter().any(|x| json_has(x, s)),
        serde_json::Value::Object(o) => o.values().any(|x| json_has(x, s)),
        _ => false,
    }
}

/// A small deterministic generator (xorshift) of strings made of hostile fragments.
fn hostile_strings(n: usize) -> Vec<String> {
    const PARTS: &[&str] = &[
        "a",
        " ",
        "::",
        "error",
        "##[",
        "]",
        "\n",
        "\r",
        "\r\n",
        "\t",
        "\u{1b}[2J",
        "\u{1b}]0;",
        "\u{7}",
        "\u{85}",
        "\u{9b}",
        "\u{202e}",
        "\u{2066}",
        "\u{200b}",
        "\u{200d}",
        "\u{2060}",
        "\u{feff}",
        "\u{e0041}",
        "\u{2028}",
        "\u{2029}",
        "@",
        "admin",
        "#",
        "3",
        "owner/repo#4",
        "GH-7",
        "http://",
        "https://evil.example/x",
        "www.",
        "evil.example",
        "mail@evil.example",
        "`",
        "``",
        "*",
        "_",
        "[",
        "](",
        ")",
        "<",
        ">",
        "&",
        "|",
        "\\",
        "!",
        "~",
        "<summary>",
        "</details>",
        ":",
        "%0A",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let len = 1 + (next() % 12) as usize;
            (0..len)
                .map(|_| PARTS[(next() % PARTS.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// Properties of the one `visible()` and of the markdown escapes, over 1,000 generated hostile
/// strings: written out, a value holds no hidden character and stays on its line; a document of
/// such lines has none a CI runner takes for a command; in markdown (rendered as GitHub's
/// flavour, autolinks on) a value makes no mention, issue reference or link, and its code spans
/// hold no raw hidden character.
#[test]
fn visible_and_markdown_properties_over_hostile_strings() {
    use cachebust::render::{markdown, visible, visible_lines};
    for s in hostile_strings(1000) {
        let v = visible(&s);
        assert_eq!(raw_hidden(&v), Vec::<char>::new(), "visible({s:?}) = {v:?}");
        assert!(!v.contains('\n'), "visible({s:?}) = {v:?}");
        let doc = visible_lines(&format!("{v}\n  {v}\nline: {v}\n"));
        assert_eq!(doc.lines().count(), 3, "{s:?}: {doc:?}");
        assert_eq!(
            workflow_commands(&doc),
            Vec::<String>::new(),
            "{s:?}: {doc:?}"
        );
        assert_eq!(raw_hidden(&doc), Vec::<char>::new(), "{s:?}: {doc:?}");
        for (what, md) in [
            ("escape", format!("text {} text\n", markdown::escape(&s))),
            (
                "cell",
                format!("| a | b |\n|---|---|\n| {} | x |\n", markdown::escape(&s)),
            ),
            ("code", format!("see {} here\n", markdown::inline_code(&s))),
            (
                "sentence",
                format!(
                    "{}\n",
                    markdown::escape_sentence(&format!("files `{s}` and {s}"))
                ),
            ),
            (
                "summary",
                format!(
                    "<details><summary>{}</summary>\n\nbody\n\n</details>\n",
                    markdown::html(&s)
                ),
            ),
        ] {
            assert_eq!(raw_hidden(&md).len(), 0, "{what} {s:?}: {md:?}");
            let (words, links) = github_links(&md);
            assert_eq!(words, Vec::<String>::new(), "{what} {s:?}: {md:?}");
            assert_eq!(links, Vec::<String>::new(), "{what} {s:?}: {md:?}");
            // one paragraph or table stays one: no line break of the value starts a block
            let html = comrak::markdown_to_html(&md, &crate::review::gfm());
            assert!(
                !html.contains("<h1") && !html.contains("<li"),
                "{what} {s:?}: {html}"
            );
        }
    }
}

/// One symlink layout for `COPY x/app/ /app/`: (name, the links to make, a directory of the tree
/// to make, whether BuildKit's build fails, what the line-2 diagnostic says).
type LinkCase = (
    &'static str,
    Vec<(&'static str, String)>,
    Option<&'static str>,
    bool,
    &'static str,
);

/// Issue 30 items 5 and 14: a COPY source that goes through a symlinked directory is never
/// followed out of the tree by `check`, `fix` or `analyze` (the directory under the link holds a
/// `.git` and a `node_modules`, which the context-noise rule would name if it were read), and the
/// finding on its line says what the link is: a link out of the tree (the build fails: BuildKit
/// resolves it inside the context, where nothing is), `/proc/self` (bounded, nothing read), a
/// loop, or a link to a directory of the tree (BuildKit copies through it; a warning that the
/// prediction does not). The verdicts are checked against real builds on both engines.
#[tokio::test]
async fn copy_sources_through_symlinked_directories() {
    use crate::support::docker::{self, BASE1, Daemon};
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    for f in [
        "app/.git/HEAD",
        "app/node_modules/leak-marker/x.js",
        "app/a.txt",
    ] {
        let p = outside.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "outside-secret\n").unwrap();
    }
    let cases: Vec<LinkCase> = vec![
        (
            "out",
            vec![("x", outside.display().to_string())],
            None,
            true,
            "x/app goes through x, a symlink to ",
        ),
        (
            "proc",
            vec![("x", "/proc/self".into())],
            None,
            true,
            "x/app goes through x, a symlink to /proc/self, which BuildKit resolves inside the build context, to proc/self/app: nothing is there",
        ),
        (
            "loop",
            vec![("x", "y".into()), ("y", "x".into())],
            None,
            true,
            "x/app goes through x, a symlink loop",
        ),
        (
            "inside",
            vec![("x", "real".into())],
            Some("real/app"),
            false,
            "x/app goes through x, a symlink to real: BuildKit copies real/app through it",
        ),
    ];
    for (name, links, dir, fails, said) in &cases {
        let root = tmp.path().join(name);
        let (b, h) = (root.join("b"), root.join("h"));
        for (side, run) in [(&b, "echo b"), (&h, "echo h")] {
            std::fs::create_dir_all(side).unwrap();
            std::fs::write(
                side.join("Dockerfile"),
                format!("FROM {BASE1}\nCOPY x/app/ /app/\nRUN {run}\n"),
            )
            .unwrap();
            for (l, t) in links {
                std::os::unix::fs::symlink(t, side.join(l)).unwrap();
            }
            if let Some(d) = dir {
                std::fs::create_dir_all(side.join(d)).unwrap();
                std::fs::write(side.join(d).join("a.txt"), "in\n").unwrap();
            }
        }
        let (bs, hs) = (b.to_str().unwrap(), h.to_str().unwrap());
        let start = Instant::now();
        for args in [
            vec!["check", "--root", hs],
            vec!["check", "--root", hs, "--format", "json"],
            vec!["fix", "--root", hs, "--unsafe"],
            vec!["analyze", "--base-dir", bs, "--head-dir", hs],
            vec![
                "analyze",
                "--base-dir",
                bs,
                "--head-dir",
                hs,
                "--format",
                "json",
            ],
        ] {
            let o = run(&args, &[], tmp.path());
            let out = all(&o);
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{name} {args:?}: {out}"
            );
            for leak in ["outside-secret", "leak-marker", "node_modules", ".git"] {
                assert!(
                    !out.contains(leak),
                    "{name} {args:?}: read outside the tree ({leak}):\n{out}"
                );
            }
            if args[0] == "fix" {
                continue;
            }
            if args.contains(&"json") {
                // the whole sentence, with its line and severity
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                let d = &v["dockerfiles"][0]["diagnostics"];
                let want = format!(
                    "{}{said}",
                    if *fails { "the build fails here: " } else { "" }
                );
                let found = d.as_array().unwrap().iter().any(|x| {
                    x["line"] == 2
                        && x["severity"] == if *fails { "error" } else { "warning" }
                        && x["message"].as_str().unwrap().starts_with(&want)
                });
                assert!(found, "{name} {args:?}: wanted {want:?} in {d:#}");
                continue;
            }
            let want = if *fails {
                "Dockerfile:2: error: the build fails here: x/app goes through x,"
            } else {
                "Dockerfile:2: warning: x/app goes through x,"
            };
            assert!(
                out.contains(want),
                "{name} {args:?}: wanted {want:?} in\n{out}"
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: {:?}",
            start.elapsed()
        );
        // what BuildKit does with the same tree, on both engines
        for daemon in [Daemon::D2010, Daemon::D28] {
            let Some((d, _lock)) = docker::exclusive(daemon).await else {
                continue;
            };
            let tag = format!("cbtest/h1-link-{name}:{}", std::process::id());
            let built = d.build(&h, "Dockerfile", None, &[], None, &tag);
            assert_eq!(
                !built.ok,
                *fails,
                "{name} on {}: the prediction says the build {} it:\n{}",
                d.label(),
                if *fails { "fails" } else { "passes" },
                built.log
            );
            let _ = d.cmd().args(["image", "rm", "-f", &tag]).output();
        }
    }
}

/// Issue 30 item 14: a crafted tree entry named `..` (git refuses to check one out, `git mktree`
/// writes it) is no path of the repository: no build `../Dockerfile`, no changed path `../…`,
/// in `analyze` and `history` alike; the real Dockerfile beside it is still read.
#[test]
fn crafted_dot_dot_tree_entries_are_no_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.invalid"]);
    git(&repo, &["config", "user.name", "t"]);
    std::fs::write(repo.join("Dockerfile"), "FROM alpine:3.20\nRUN echo a\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let out = |args: &[&str], input: Option<&str>| -> String {
        use std::io::Write as _;
        let mut c = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(input.unwrap_or("").as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "git {args:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let changed = out(
        &["hash-object", "-w", "--stdin"],
        Some("FROM alpine:3.20\nRUN echo b\n"),
    );
    let inner = out(
        &["mktree"],
        Some(&format!("100644 blob {changed}\tDockerfile\n")),
    );
    let top = out(
        &["mktree"],
        Some(&format!(
            "100644 blob {changed}\tDockerfile\n040000 tree {inner}\t..\n040000 tree {inner}\t.\n"
        )),
    );
    let head = out(&["commit-tree", &top, "-p", "HEAD", "-m", "crafted"], None);
    git(&repo, &["update-ref", "refs/heads/main", &head]);
    let r = repo.to_str().unwrap();
    for args in [
        vec![
            "analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
        vec!["analyze", "--repo", r, "--base", "HEAD~1", "--head", "HEAD"],
        vec![
            "history",
            "--repo",
            r,
            "--range",
            "HEAD~1..HEAD",
            "--format",
            "json",
        ],
    ] {
        let o = run(&args, &[], tmp.path());
        let text = all(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {text}");
        assert!(!text.contains("../"), "{args:?}: {text}");
        assert!(!text.contains("./Dockerfile"), "{args:?}: {text}");
        if args[0] == "analyze" && args.contains(&"json") {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let paths: Vec<&str> = v["dockerfiles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["path"].as_str().unwrap())
                .collect();
            assert_eq!(paths, ["Dockerfile"], "{v:#}");
            assert_eq!(v["changed_paths"], 1, "{v:#}");
        }
    }
}
