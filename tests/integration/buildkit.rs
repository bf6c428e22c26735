//! Real-BuildKit conformance: each scenario is a base tree, a head tree and the status of every
//! step (FROM/RUN/COPY/ADD/WORKDIR in file order: C cached, R rebuilt, U unused). For each one
//! the base is built with `docker build`, then the head from a fresh directory; the statuses
//! BuildKit printed (`CACHED` vs `DONE`) must equal the expectation, and so must cachebust's
//! prediction (`--engine docker-20.10`). FROM lines are checked against the expectation only:
//! Docker 20.10 prints `DONE` or `CACHED` for a local image at random (semantics doc §0.1).
//!
//! `likely` lists lines where the prediction depends on build output cachebust cannot know;
//! there the prediction must say `likely` and may differ from the real build.

use std::collections::HashMap;

use cachebust::adapters::fs::DirTree;
use cachebust::adapters::local::{LocalRepo, Tree};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::buildlog::{self, VertexStatus};
use cachebust::engine::dockerfile::stages::{self, Base};
use cachebust::engine::dockerfile::{self as df, Body, Kind};
use cachebust::engine::report::{Confidence, Status};

use crate::support::docker::{self, BASE1, BASE2};
use crate::support::trees::{apply_edits, write_tree};

pub struct Scenario {
    pub name: &'static str,
    /// The row of buildkit-cache-semantics.md §0 it covers.
    pub row: &'static str,
    pub base: &'static [(&'static str, &'static str)],
    /// Head = base with these edits (`None` deletes).
    pub head: &'static [(&'static str, Option<&'static str>)],
    pub dockerfile: &'static str,
    pub target: Option<&'static str>,
    pub base_args: &'static [(&'static str, &'static str)],
    pub head_args: &'static [(&'static str, &'static str)],
    pub expect: &'static str,
    pub likely: &'static [u32],
    /// `--secret id=s` contents for the base and the head build.
    pub secret: Option<(&'static str, &'static str)>,
    /// Body served at `{HTTP}` for the base and the head build.
    pub http: Option<(&'static str, &'static str)>,
}

const fn sc(
    name: &'static str,
    row: &'static str,
    base: &'static [(&'static str, &'static str)],
    head: &'static [(&'static str, Option<&'static str>)],
    expect: &'static str,
) -> Scenario {
    Scenario {
        name,
        row,
        base,
        head,
        dockerfile: "Dockerfile",
        target: None,
        base_args: &[],
        head_args: &[],
        expect,
        likely: &[],
        secret: None,
        http: None,
    }
}

fn fill(s: &str) -> String {
    s.replace("{B1}", BASE1).replace("{B2}", BASE2).replace(
        "{HTTP}",
        &format!("http://127.0.0.1:{}/file.txt", http_port()),
    )
}

/// A tiny HTTP server on loopback for `ADD <url>` scenarios; serves the current body.
fn http_port() -> u16 {
    use std::sync::OnceLock;
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for stream in l.incoming() {
                let Ok(mut st) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = st.read(&mut buf).unwrap_or(0);
                let head_only = buf[..n].starts_with(b"HEAD");
                let body = HTTP_BODY.lock().unwrap().clone();
                let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                if !head_only {
                    resp.extend_from_slice(body.as_bytes());
                }
                let _ = st.write_all(&resp);
            }
        });
        port
    })
}

static HTTP_BODY: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

pub fn scenarios() -> Vec<Scenario> {
    let simple = "FROM {B1}\nRUN echo a > /a\nCOPY f /f\nRUN cat /f\n";
    let _ = simple;
    vec![
        sc(
            "comment-blank-keyword-case",
            "comment line, blank line, keyword case",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a > /a\nCOPY f /f\nRUN cat /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "# a comment\nfrom {B1}\n\nrun echo a > /a\n# another\ncopy f /f\nRUN cat /f\n",
                ),
            )],
            "C C C C",
        ),
        sc(
            "json-array-spacing",
            "JSON-array spacing",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN [\"sh\",\"-c\",\"echo a > /a\"]\nRUN cat /a\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN [ \"sh\", \"-c\", \"echo a > /a\" ]\nRUN cat /a\n"),
            )],
            "C C C",
        ),
        sc(
            "comment-moved-into-continuation",
            "moving a comment into a \\ continuation",
            &[(
                "Dockerfile",
                "FROM {B1}\n# step two\nRUN echo a \\\n  && echo b\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a \\\n  # step two\n  && echo b\n"),
            )],
            "C C",
        ),
        sc(
            "run-inner-space",
            "text of a shell-form RUN (inner spaces)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nRUN echo a\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nRUN echo  a\nRUN echo after\n"),
            )],
            "C C R R",
        ),
        sc(
            "run-continuation-indent",
            "text of a shell-form RUN (indentation of continuation lines)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo a \\\n  && echo b\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a \\\n    && echo b\nRUN echo after\n"),
            )],
            "C R R",
        ),
        sc(
            "run-trailing-comment",
            "text of a shell-form RUN (a trailing # comment)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo a # old\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a # new\nRUN echo after\n"),
            )],
            "C R R",
        ),
        sc(
            "run-shell-to-exec-same-argv",
            "RUN shell form <-> exec form with the same argv",
            &[("Dockerfile", "FROM {B1}\nRUN echo hi > /x\nRUN cat /x\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN [\"/bin/sh\", \"-c\", \"echo hi > /x\"]\nRUN cat /x\n"),
            )],
            "C C C",
        ),
        sc(
            "run-exec-argv-differs",
            "RUN shell form <-> exec form when the argv differs",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN [\"sh\", \"-c\", \"echo hi > /x\"]\nRUN cat /x\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN [\"/bin/sh\", \"-c\", \"echo hi > /x\"]\nRUN cat /x\n"),
            )],
            "C R R",
        ),
        sc(
            "metadata-instructions",
            "LABEL, EXPOSE, CMD, ENTRYPOINT, HEALTHCHECK, STOPSIGNAL, VOLUME, MAINTAINER",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a > /a\nCOPY f /f\nRUN cat /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nLABEL a=b\nMAINTAINER me\nEXPOSE 8080\nRUN echo a > /a\nVOLUME /data\nSTOPSIGNAL SIGTERM\nCOPY f /f\nHEALTHCHECK CMD true\nENTRYPOINT [\"sh\"]\nCMD [\"-c\", \"true\"]\nRUN cat /f\n",
                ),
            )],
            "C C C C",
        ),
        sc(
            "onbuild-without-child",
            "ONBUILD added/changed, no child stage",
            &[("Dockerfile", "FROM {B1}\nRUN echo a > /a\nRUN cat /a\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nONBUILD RUN echo trigger\nRUN echo a > /a\nRUN cat /a\n"),
            )],
            "C C C",
        ),
        sc(
            "onbuild-with-child",
            "ONBUILD changed, a later stage builds FROM this stage",
            &[(
                "Dockerfile",
                "FROM {B1} AS base\nONBUILD RUN echo one > /t\nRUN echo a > /a\nFROM base\nRUN cat /a\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS base\nONBUILD RUN echo two > /t\nRUN echo a > /a\nFROM base\nRUN cat /a\n",
                ),
            )],
            "C C R R",
        ),
        sc(
            "env-value-copy-between",
            "ENV value changed: COPY between keeps hitting, first RUN misses",
            &[
                ("Dockerfile", "FROM {B1}\nENV A=1\nCOPY f /f\nRUN echo x\n"),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV A=2\nCOPY f /f\nRUN echo x\n"),
            )],
            "C C R",
        ),
        sc(
            "env-reordered",
            "reordering ENV lines",
            &[("Dockerfile", "FROM {B1}\nENV A=1\nENV B=2\nRUN echo x\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV B=2\nENV A=1\nRUN echo x\n"),
            )],
            "C R",
        ),
        sc(
            "env-reset-same-value",
            "re-setting an ENV to the same value moves it to the end",
            &[("Dockerfile", "FROM {B1}\nENV A=1 B=2\nRUN echo x\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV A=1 B=2\nENV A=1\nRUN echo x\n"),
            )],
            "C R",
        ),
        sc(
            "env-expanded-by-copy",
            "COPY that expands a changed ENV",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nENV D=/x\nCOPY f $D/f\nRUN echo y\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV D=/y\nCOPY f $D/f\nRUN echo y\n"),
            )],
            "C R R",
        ),
        sc(
            "env-removed",
            "ENV removed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nENV A=1\nRUN echo x\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nRUN echo x\n"),
            )],
            "C C R",
        ),
        sc(
            "arg-default-unused",
            "ARG default changed, RUN never mentions it",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY f /f\nARG V=1\nRUN echo hi\n"),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY f /f\nARG V=2\nRUN echo hi\n"),
            )],
            "C C R",
        ),
        Scenario {
            base_args: &[("V", "1")],
            head_args: &[("V", "2")],
            ..sc(
                "build-arg-changed",
                "--build-arg value changed for a declared ARG",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nRUN echo first\nARG V\nRUN echo hi\n",
                )],
                &[],
                "C C R",
            )
        },
        sc(
            "arg-added-with-value",
            "ARG added with a value",
            &[("Dockerfile", "FROM {B1}\nRUN echo first\nRUN echo hi\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nARG NEW=1\nRUN echo hi\n"),
            )],
            "C C R",
        ),
        sc(
            "arg-added-without-value",
            "ARG added without a value (not exported)",
            &[("Dockerfile", "FROM {B1}\nRUN echo first\nRUN echo hi\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nARG NOVALUE\nRUN echo hi\n"),
            )],
            "C C C",
        ),
        sc(
            "arg-removed",
            "ARG removed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nARG OLD=1\nRUN echo hi\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nRUN echo hi\n"),
            )],
            "C C R",
        ),
        Scenario {
            base_args: &[("UNDECLARED", "1")],
            head_args: &[("UNDECLARED", "2")],
            ..sc(
                "build-arg-undeclared",
                "--build-arg X where X is not declared",
                &[("Dockerfile", "FROM {B1}\nRUN echo hi\n")],
                &[],
                "C C",
            )
        },
        Scenario {
            base_args: &[("HTTP_PROXY", "http://a:3128")],
            head_args: &[("HTTP_PROXY", "http://b:3128")],
            ..sc(
                "build-arg-proxy",
                "--build-arg HTTP_PROXY not declared with ARG",
                &[("Dockerfile", "FROM {B1}\nRUN echo hi\n")],
                &[],
                "C C",
            )
        },
        sc(
            "global-arg-in-from",
            "global ARG used in FROM",
            &[("Dockerfile", "ARG BASE={B1}\nFROM $BASE\nRUN echo hi\n")],
            &[(
                "Dockerfile",
                Some("ARG BASE={B2}\nFROM $BASE\nRUN echo hi\n"),
            )],
            "R R",
        ),
        sc(
            "global-arg-redeclared",
            "global ARG: only stages that use it in FROM or redeclare it",
            &[(
                "Dockerfile",
                "ARG G=1\nFROM {B1} AS a\nRUN echo a > /a\nFROM {B1}\nRUN echo b\nARG G\nRUN echo c\nCOPY --from=a /a /a\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "ARG G=2\nFROM {B1} AS a\nRUN echo a > /a\nFROM {B1}\nRUN echo b\nARG G\nRUN echo c\nCOPY --from=a /a /a\n",
                ),
            )],
            "C C C C R R",
        ),
        sc(
            "user-added",
            "USER: first RUN or WORKDIR after it; COPY not affected",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a\nCOPY f /f\nWORKDIR /w\nRUN id\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a\nUSER app\nCOPY f /f\nWORKDIR /w\nRUN id\n"),
            )],
            "C C C R R",
        ),
        sc(
            "user-root-on-root-image",
            "USER root added to an image whose default user is root",
            &[("Dockerfile", "FROM {B1}\nRUN echo a\nRUN id\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a\nUSER root\nRUN id\n"),
            )],
            "C C R",
        ),
        sc(
            "workdir-path",
            "WORKDIR path changed",
            &[("Dockerfile", "FROM {B1}\nRUN echo a\nWORKDIR /a\nRUN pwd\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a\nWORKDIR /b\nRUN pwd\n"),
            )],
            "C C R R",
        ),
        sc(
            "workdir-trailing-slash",
            "WORKDIR: only a trailing / added",
            &[("Dockerfile", "FROM {B1}\nWORKDIR /a\nRUN pwd\n")],
            &[("Dockerfile", Some("FROM {B1}\nWORKDIR /a/\nRUN pwd\n"))],
            "C C R",
        ),
        sc(
            "workdir-relative-chain",
            "relative WORKDIR after a changed WORKDIR",
            &[(
                "Dockerfile",
                "FROM {B1}\nWORKDIR /x\nWORKDIR sub\nRUN pwd\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nWORKDIR /y\nWORKDIR sub\nRUN pwd\n"),
            )],
            "C R R R",
        ),
        sc(
            "shell-changed",
            "SHELL: first shell-form RUN after it",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN [\"echo\", \"exec\"]\nRUN echo shell\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN [\"echo\", \"exec\"]\nRUN echo shell\n",
                ),
            )],
            "C C R",
        ),
        sc(
            "from-tag-changed",
            "FROM image tag changed",
            &[
                ("Dockerfile", "FROM {B1}\nRUN echo a\nCOPY f /f\n"),
                ("f", "x\n"),
            ],
            &[("Dockerfile", Some("FROM {B2}\nRUN echo a\nCOPY f /f\n"))],
            "R R R",
        ),
        sc(
            "copy-content",
            "content of a file under a COPY source",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a\nCOPY f /f\nRUN cat /f\n",
                ),
                ("f", "one\n"),
            ],
            &[("f", Some("two\n"))],
            "C C R R",
        ),
        sc(
            "change-outside-sources",
            "changes outside the selected paths",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY src/ /src/\nRUN ls /src\n"),
                ("src/a", "a\n"),
                ("docs/readme", "r\n"),
            ],
            &[("docs/readme", Some("changed\n"))],
            "C C C",
        ),
        sc(
            "touch-only",
            "same bytes, new mtime (fresh checkout)",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY src/ /src/\nRUN ls /src\n"),
                ("src/a", "a\n"),
            ],
            &[("src/a", Some("a\n"))],
            "C C C",
        ),
        sc(
            "chmod-x",
            "file mode changed (chmod +x)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nCOPY run.sh /run.sh\nRUN ls -l /run.sh\n",
                ),
                ("run.sh", "@644 #!/bin/sh\necho hi\n"),
            ],
            &[("run.sh", Some("@755 #!/bin/sh\necho hi\n"))],
            "C R R",
        ),
        sc(
            "symlink-target",
            "symlink target changed inside a copied directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY d/ /d/\nRUN ls -l /d\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
                ("d/link", "@link:a"),
            ],
            &[("d/link", Some("@link:b"))],
            "C R R",
        ),
        sc(
            "rename-in-dir",
            "file renamed inside a copied directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY d/ /d/\nRUN ls /d\n"),
                ("d/a", "a\n"),
            ],
            &[("d/a", None), ("d/renamed", Some("a\n"))],
            "C R R",
        ),
        sc(
            "new-file-in-dir",
            "new file inside a copied directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY d/ /d/\nRUN ls /d\n"),
                ("d/a", "a\n"),
            ],
            &[("d/new", Some("n\n"))],
            "C R R",
        ),
        sc(
            "deleted-file-in-dir",
            "deleted file inside a copied directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY d/ /d/\nRUN ls /d\n"),
                ("d/a", "a\n"),
                ("d/b", "b\n"),
            ],
            &[("d/b", None)],
            "C R R",
        ),
        sc(
            "copy-dot-dockerfile-edit",
            "COPY . . and a comment-only edit of the Dockerfile",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a\nCOPY . /ctx\nRUN ls /ctx\n",
                ),
                ("app.txt", "a\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a\n# copy the context\nCOPY . /ctx\nRUN ls /ctx\n"),
            )],
            "C C R R",
        ),
        sc(
            "copy-dot-dockerfile-ignored",
            "COPY . . when .dockerignore lists the Dockerfile",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls /ctx\n"),
                (".dockerignore", "Dockerfile\n.dockerignore\n"),
                ("app.txt", "a\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\n# edited\nCOPY . /ctx\nRUN ls /ctx\n"),
            )],
            "C C C",
        ),
        sc(
            "dockerignore-changes-selection",
            ".dockerignore change that changes which files lie under a COPY source",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls /ctx\n"),
                (".dockerignore", "Dockerfile\n.dockerignore\n*.log\n"),
                ("app.txt", "a\n"),
                ("x.tmp", "t\n"),
            ],
            &[(
                ".dockerignore",
                Some("Dockerfile\n.dockerignore\n*.log\n*.tmp\n"),
            )],
            "C R R",
        ),
        sc(
            "dockerignore-copied-itself",
            ".dockerignore edit when .dockerignore is itself copied",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls /ctx\n"),
                (".dockerignore", "Dockerfile\n*.log\n"),
                ("app.txt", "a\n"),
            ],
            &[(".dockerignore", Some("Dockerfile\n# logs\n*.log\n"))],
            "C R R",
        ),
        sc(
            "dockerignore-no-effect",
            ".dockerignore comment edit when it ignores itself",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls /ctx\n"),
                (".dockerignore", "Dockerfile\n.dockerignore\n*.log\n"),
                ("app.txt", "a\n"),
            ],
            &[(
                ".dockerignore",
                Some("# ignore these\nDockerfile\n.dockerignore\n*.log\n"),
            )],
            "C C C",
        ),
        sc(
            "dockerignore-exception",
            ".dockerignore exception re-includes a changed file",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY docs/ /docs/\nRUN ls /docs\n"),
                (".dockerignore", "docs/*.md\n!docs/KEEP.md\n"),
                ("docs/KEEP.md", "k\n"),
                ("docs/other.md", "o\n"),
                ("docs/x.txt", "x\n"),
            ],
            &[("docs/other.md", Some("ignored change\n"))],
            "C C C",
        ),
        sc(
            "dockerignore-exception-changed",
            "changed file kept by a .dockerignore exception",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY docs/ /docs/\nRUN ls /docs\n"),
                (".dockerignore", "docs/*.md\n!docs/KEEP.md\n"),
                ("docs/KEEP.md", "k\n"),
                ("docs/other.md", "o\n"),
            ],
            &[("docs/KEEP.md", Some("kept change\n"))],
            "C R R",
        ),
        Scenario {
            dockerfile: "app.Dockerfile",
            ..sc(
                "dockerfile-specific-ignore",
                "<Dockerfile>.dockerignore next to the Dockerfile takes precedence",
                &[
                    ("app.Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls /ctx\n"),
                    (
                        "app.Dockerfile.dockerignore",
                        "secret.txt\napp.Dockerfile*\n",
                    ),
                    (".dockerignore", "\n"),
                    ("secret.txt", "s1\n"),
                    ("app.txt", "a\n"),
                ],
                &[("secret.txt", Some("s2\n"))],
                "C C C",
            )
        },
        sc(
            "copy-chown-added",
            "--chown added to a COPY",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY f /f\nRUN ls -ln /f\n"),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY --chown=1000:1000 f /f\nRUN ls -ln /f\n"),
            )],
            "C R R",
        ),
        sc(
            "copy-chmod-changed",
            "--chmod of a COPY changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nCOPY --chmod=644 f /f\nRUN ls -l /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY --chmod=755 f /f\nRUN ls -l /f\n"),
            )],
            "C R R",
        ),
        sc(
            "copy-dest-changed",
            "COPY destination changed",
            &[
                ("Dockerfile", "FROM {B1}\nRUN echo a\nCOPY f /f\nRUN ls /\n"),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo a\nCOPY f /g\nRUN ls /\n"),
            )],
            "C C R R",
        ),
        sc(
            "copy-source-list-changed",
            "COPY source list changed",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY a /d/\nRUN ls /d\n"),
                ("a", "a\n"),
                ("b", "b\n"),
            ],
            &[("Dockerfile", Some("FROM {B1}\nCOPY a b /d/\nRUN ls /d\n"))],
            "C R R",
        ),
        sc(
            "copy-wildcard-new-match",
            "a new file matching a COPY wildcard",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY *.json /app/\nRUN ls /app\n"),
                ("a.json", "{}\n"),
                ("x.txt", "x\n"),
            ],
            &[("b.json", Some("{}\n"))],
            "C R R",
        ),
        sc(
            "copy-wildcard-unmatched-change",
            "a change that no COPY wildcard matches",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY *.json /app/\nRUN ls /app\n"),
                ("a.json", "{}\n"),
                ("x.txt", "x\n"),
            ],
            &[("x.txt", Some("y\n"))],
            "C C C",
        ),
        sc(
            "copy-from-early-cutoff-hit-producer",
            "COPY --from: copied files come from a step that hit while a later one re-ran",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS gen\nCOPY data /data\nARG V=1\nRUN echo $V > /ver\nFROM {B1}\nRUN echo final\nCOPY --from=gen /data /data\nRUN ls /data\n",
                ),
                ("data/a", "a\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS gen\nCOPY data /data\nARG V=2\nRUN echo $V > /ver\nFROM {B1}\nRUN echo final\nCOPY --from=gen /data /data\nRUN ls /data\n",
                ),
            )],
            "C C R C C C C",
        ),
        Scenario {
            likely: &[6, 7],
            ..sc(
                "copy-from-identical-output",
                "COPY --from a stage that re-ran but produced byte-identical files",
                &[(
                    "Dockerfile",
                    "FROM {B1} AS gen\nARG V=1\nRUN echo stable > /out\nFROM {B1}\nRUN echo final\nCOPY --from=gen /out /out\nRUN cat /out\n",
                )],
                &[(
                    "Dockerfile",
                    Some(
                        "FROM {B1} AS gen\nARG V=2\nRUN echo stable > /out\nFROM {B1}\nRUN echo final\nCOPY --from=gen /out /out\nRUN cat /out\n",
                    ),
                )],
                "C R C C C C",
            )
        },
        sc(
            "copy-from-changed-output",
            "COPY --from a stage whose copied files changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS gen\nCOPY data /data\nRUN echo x\nFROM {B1}\nRUN echo final\nCOPY --from=gen /data /data\nRUN ls /data\n",
                ),
                ("data/a", "a\n"),
            ],
            &[("data/a", Some("changed\n"))],
            "C R R C C R R",
        ),
        sc(
            "from-stage-identical-output",
            "FROM stage where the stage rebuilt with identical output",
            &[(
                "Dockerfile",
                "FROM {B1} AS gen\nARG V=1\nRUN echo stable > /out\nFROM gen\nRUN cat /out\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1} AS gen\nARG V=2\nRUN echo stable > /out\nFROM gen\nRUN cat /out\n"),
            )],
            "C R R R",
        ),
        sc(
            "bind-mount-source-changed",
            "RUN --mount=type=bind source content changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a\nRUN --mount=type=bind,source=src,target=/src cat /src/a\nRUN echo after\n",
                ),
                ("src/a", "a\n"),
                ("other", "o\n"),
            ],
            &[("src/a", Some("changed\n"))],
            "C C R R",
        ),
        sc(
            "bind-mount-outside-change",
            "RUN --mount=type=bind: change outside the mounted source",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=bind,source=src,target=/src cat /src/a\nRUN echo after\n",
                ),
                ("src/a", "a\n"),
                ("other", "o\n"),
            ],
            &[("other", Some("changed\n"))],
            "C C C",
        ),
        sc(
            "cache-mount-id-changed",
            "RUN --mount=type=cache id changed (Docker 20.10 keys it)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN --mount=type=cache,target=/c,id=one ls /c\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN --mount=type=cache,target=/c,id=two ls /c\nRUN echo after\n"),
            )],
            "C R R",
        ),
        sc(
            "stage-renamed",
            "stage renamed",
            &[(
                "Dockerfile",
                "FROM {B1} AS build\nRUN echo a > /a\nFROM {B1}\nCOPY --from=build /a /a\nRUN cat /a\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS builder\nRUN echo a > /a\nFROM {B1}\nCOPY --from=builder /a /a\nRUN cat /a\n",
                ),
            )],
            "C C C C C",
        ),
        sc(
            "stages-reordered",
            "stages reordered",
            &[(
                "Dockerfile",
                "FROM {B1} AS one\nRUN echo 1 > /1\nFROM {B1} AS two\nRUN echo 2 > /2\nFROM {B1}\nCOPY --from=one /1 /1\nCOPY --from=two /2 /2\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS two\nRUN echo 2 > /2\nFROM {B1} AS one\nRUN echo 1 > /1\nFROM {B1}\nCOPY --from=one /1 /1\nCOPY --from=two /2 /2\n",
                ),
            )],
            "C C C C C C C",
        ),
        sc(
            "unreachable-stage-edited",
            "instructions in a stage the target does not reach",
            &[(
                "Dockerfile",
                "FROM {B1} AS unused\nRUN echo old\nFROM {B1}\nRUN echo used\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1} AS unused\nRUN echo new\nFROM {B1}\nRUN echo used\n"),
            )],
            "U U C C",
        ),
        Scenario {
            target: Some("test"),
            ..sc(
                "target-stage",
                "--target: steps after the target are not built",
                &[
                    (
                        "Dockerfile",
                        "FROM {B1} AS test\nCOPY f /f\nRUN cat /f\nFROM {B1}\nCOPY f /f\n",
                    ),
                    ("f", "a\n"),
                ],
                &[("f", Some("b\n"))],
                "C R R U U",
            )
        },
        sc(
            "platform-arg-default-same",
            "ARG TARGETARCH given a default equal to the automatic value",
            &[(
                "Dockerfile",
                "FROM {B1}\nARG TARGETARCH\nRUN echo $TARGETARCH\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG TARGETARCH=amd64\nRUN echo $TARGETARCH\n"),
            )],
            "C C",
        ),
        sc(
            "add-local-file",
            "ADD of a local file: content changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo a\nADD f /f\nRUN cat /f\n",
                ),
                ("f", "one\n"),
            ],
            &[("f", Some("two\n"))],
            "C C R R",
        ),
        sc(
            "empty-dir-added",
            "new empty directory inside a copied directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY d/ /d/\nRUN ls /d\n"),
                ("d/a", "a\n"),
            ],
            &[("d/empty", Some("@dir"))],
            "C R R",
        ),
        Scenario {
            likely: &[6, 7],
            ..sc(
                "copy-from-uid-changed",
                "uid/gid of files produced in another stage and copied with COPY --from (Docker 20.10: not keyed)",
                &[
                    (
                        "Dockerfile",
                        "FROM {B1} AS a\nCOPY f /f\nRUN chown 1000 /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -ln /f\n",
                    ),
                    ("f", "x\n"),
                ],
                &[(
                    "Dockerfile",
                    Some(
                        "FROM {B1} AS a\nCOPY f /f\nRUN chown 1001 /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -ln /f\n",
                    ),
                )],
                "C C R C C C C",
            )
        },
        sc(
            "context-uid-changed",
            "file uid/gid in the build context (the docker CLI zeroes them)",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY f /f\nRUN ls -ln /f\n"),
                ("f", "x\n"),
            ],
            &[("f", Some("@own1000 x\n"))],
            "C C C",
        ),
        sc(
            "cache-mount-contents",
            "cache-mount contents changed by another step",
            &[(
                "Dockerfile",
                "FROM {B1} AS w\nARG V=1\nRUN --mount=type=cache,target=/c,id=shared echo $V > /c/v\nFROM {B1}\nRUN --mount=type=cache,target=/c,id=shared cat /c/v || true\nCOPY --from=w /etc/variant /v\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS w\nARG V=2\nRUN --mount=type=cache,target=/c,id=shared echo $V > /c/v\nFROM {B1}\nRUN --mount=type=cache,target=/c,id=shared cat /c/v || true\nCOPY --from=w /etc/variant /v\n",
                ),
            )],
            "C R C C C",
        ),
        Scenario {
            secret: Some(("one", "two")),
            ..sc(
                "secret-value-changed",
                "secret value (--secret) changed",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=secret,id=s wc -c /run/secrets/s\nRUN echo after\n",
                )],
                &[],
                "C C C",
            )
        },
        Scenario {
            http: Some(("remote one\n", "remote one\n")),
            likely: &[2, 3],
            ..sc(
                "add-url-unchanged",
                "ADD <url>: remote content unchanged",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nADD {HTTP} /remote.txt\nRUN cat /remote.txt\n",
                )],
                &[],
                "C C C",
            )
        },
        Scenario {
            http: Some(("remote one\n", "remote two\n")),
            likely: &[2, 3],
            ..sc(
                "add-url-changed",
                "ADD <url>: remote content changed (re-checked every build)",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nADD {HTTP} /remote.txt\nRUN cat /remote.txt\n",
                )],
                &[],
                "C R R",
            )
        },
        sc(
            "dockerignore-2010-wildcard-exception",
            ".dockerignore on Docker 20.10: a wildcard exception cannot re-include a file in a pruned directory",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY . /ctx\nRUN ls -R /ctx\n"),
                (
                    ".dockerignore",
                    "Dockerfile\n.dockerignore\ndocs\n!**/README.md\n",
                ),
                ("docs/README.md", "r\n"),
                ("app.txt", "a\n"),
            ],
            &[("docs/README.md", Some("changed\n"))],
            "C C C",
        ),
    ]
}

/// Counted steps per stage in BuildKit's numbering: (stage display name, k) → instruction line.
fn step_numbering(text: &str) -> (HashMap<(String, u32), u32>, usize) {
    let d = df::parse(text);
    let (_, st) = stages::split(&d);
    let mut map = HashMap::new();
    for s in &st {
        let mut k = 0;
        let from = &d.instructions[s.from];
        let image = match &from.body {
            Body::From { image, .. } => {
                !image.eq_ignore_ascii_case("scratch")
                    && !st[..s.index]
                        .iter()
                        .any(|o| o.name.as_deref() == Some(image.as_str()))
            }
            _ => false,
        };
        if image {
            k += 1;
            map.insert((s.display_name(), k), from.line);
        }
        for inst in &d.instructions[s.from + 1..s.end] {
            if matches!(
                inst.kind,
                Kind::Run | Kind::Copy | Kind::Add | Kind::Workdir
            ) {
                k += 1;
                map.insert((s.display_name(), k), inst.line);
            }
        }
    }
    let _ = Base::Scratch;
    (map, st.len())
}

/// Line → real status from a build log (only steps with a vertex).
pub fn real_statuses(log: &str, text: &str) -> HashMap<u32, char> {
    let (numbering, nstages) = step_numbering(text);
    let mut out = HashMap::new();
    let builds = buildlog::parse_plain(log);
    let Some(b) = builds.last() else { return out };
    for v in &b.vertices {
        let Some((k, _)) = v.step else { continue };
        let stage = match &v.stage {
            Some(s) => s.clone(),
            None if nstages == 1 => "stage-0".to_string(),
            None => continue,
        };
        if let Some(&line) = numbering.get(&(stage, k)) {
            let c = match v.status {
                VertexStatus::Cached => 'C',
                VertexStatus::Done => 'R',
                _ => '?',
            };
            out.insert(line, c);
        }
    }
    out
}

fn step_lines(text: &str) -> Vec<(u32, Kind)> {
    df::parse(text)
        .instructions
        .iter()
        .filter(|i| i.kind.is_step())
        .map(|i| (i.line, i.kind))
        .collect()
}

async fn predict(
    base: &std::path::Path,
    head: &std::path::Path,
    s: &Scenario,
) -> cachebust::engine::report::DockerfileReport {
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(base).unwrap()),
        Tree::Dir(DirTree::open(head).unwrap()),
    );
    let mut opts = AnalyzeOptions::new(EngineKind::Docker2010);
    opts.dockerfiles = vec![s.dockerfile.to_string()];
    opts.target = s.target.map(str::to_string);
    opts.build_args = s
        .head_args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    opts.base_build_args = Some(
        s.base_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );

    let report = analyze(&repo, &opts).await.unwrap();
    report
        .dockerfiles
        .into_iter()
        .next()
        .expect("one Dockerfile report")
}

#[test]
fn scenario_table_is_large_enough() {
    let all = scenarios();
    assert!(all.len() >= 40, "{} scenarios", all.len());
    let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "scenario names are unique");
}

/// cachebust's prediction for every scenario equals the expected statuses (no Docker needed).
#[tokio::test]
async fn predictions_match_expected_statuses() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let tmp = tempfile::tempdir().unwrap();
        let (base, head) = materialise(&s, tmp.path());
        let rep = predict(&base, &head, &s).await;
        let got: Vec<(u32, Status, Confidence)> = rep
            .steps
            .iter()
            .map(|st| (st.line, st.status, st.confidence))
            .collect();
        let want: Vec<char> = s
            .expect
            .split_whitespace()
            .map(|w| w.chars().next().unwrap())
            .collect();
        if got.len() != want.len() {
            failures.push(format!(
                "{}: {} steps predicted, {} expected: {:?}",
                s.name,
                got.len(),
                want.len(),
                got
            ));
            continue;
        }
        for ((line, status, conf), w) in got.iter().zip(&want) {
            let g = match status {
                Status::Cached => 'C',
                Status::Rebuilt => 'R',
                Status::Unused => 'U',
            };
            if g != *w {
                if s.likely.contains(line) && *conf == Confidence::Likely {
                    continue;
                }
                let reason = rep
                    .steps
                    .iter()
                    .find(|x| x.line == *line)
                    .map(|x| cachebust::render::reason(x, &rep))
                    .unwrap_or_default();
                failures.push(format!(
                    "{} [{}]: line {line}: predicted {g}, expected {w} ({reason})",
                    s.name, s.row
                ));
            }
        }
        for l in s.likely {
            let st = rep.steps.iter().find(|x| x.line == *l).unwrap();
            if st.confidence != Confidence::Likely {
                failures.push(format!("{}: line {l} should be marked likely", s.name));
            }
        }
        if !rep.diagnostics.is_empty() {
            failures.push(format!(
                "{}: unexpected diagnostics {:?}",
                s.name, rep.diagnostics
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn materialise(s: &Scenario, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let base_files: Vec<(&str, String)> = s.base.iter().map(|(p, c)| (*p, fill(c))).collect();
    let edits: Vec<(&str, Option<String>)> =
        s.head.iter().map(|(p, c)| (*p, c.map(fill))).collect();
    let head_files = apply_edits(&base_files, &edits);
    let head_ref: Vec<(&str, String)> = head_files
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let base = dir.join("base-tree");
    let head = dir.join("head-tree");
    write_tree(&base, &base_files);
    write_tree(&head, &head_ref);
    (base, head)
}

/// Every scenario against real `docker build` (Docker 20.10's BuildKit).
#[tokio::test]
async fn real_buildkit_agrees_with_expected_statuses() {
    let Some((d, _guard)) = docker::exclusive().await else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for s in scenarios() {
        d.prune();
        let tmp = tempfile::tempdir().unwrap();
        let (base, head) = materialise(&s, tmp.path());
        let tag = format!("cbtest-{}", s.name);
        let secret_file = tmp.path().join("secret");
        if let Some((v, _)) = s.secret {
            std::fs::write(&secret_file, v).unwrap();
        }
        if let Some((v, _)) = s.http {
            *HTTP_BODY.lock().unwrap() = v.to_string();
        }
        let secret = s.secret.map(|_| secret_file.as_path());
        let b = d.build(&base, s.dockerfile, s.target, s.base_args, secret, &tag);
        if !b.ok {
            failures.push(format!("{}: base build failed:\n{}", s.name, b.log));
            continue;
        }
        if let Some((_, v)) = s.secret {
            std::fs::write(&secret_file, v).unwrap();
        }
        if let Some((_, v)) = s.http {
            *HTTP_BODY.lock().unwrap() = v.to_string();
        }
        let h = d.build(&head, s.dockerfile, s.target, s.head_args, secret, &tag);
        if !h.ok {
            failures.push(format!("{}: head build failed:\n{}", s.name, h.log));
            continue;
        }
        let head_text = std::fs::read_to_string(head.join(s.dockerfile)).unwrap();
        let real = real_statuses(&h.log, &head_text);
        let want: Vec<char> = s
            .expect
            .split_whitespace()
            .map(|w| w.chars().next().unwrap())
            .collect();
        let steps = step_lines(&head_text);
        for ((line, kind), w) in steps.iter().zip(&want) {
            if *kind == Kind::From {
                continue;
            }
            match (real.get(line), w) {
                (None, 'U') => {}
                (None, _) if *kind == Kind::Workdir => {}
                (Some(r), w) if r == w => checked += 1,
                (r, w) => failures.push(format!(
                    "{} [{}]: line {line}: BuildKit printed {:?}, expected {w}",
                    s.name, s.row, r
                )),
            }
        }
        let rep = predict(&base, &head, &s).await;
        for st in &rep.steps {
            if st.kind == Kind::From {
                continue;
            }
            if let Some(r) = real.get(&st.line) {
                let g = if st.status == Status::Rebuilt {
                    'R'
                } else {
                    'C'
                };
                if g != *r && !(s.likely.contains(&st.line) && st.confidence == Confidence::Likely)
                {
                    failures.push(format!(
                        "{}: line {}: cachebust predicted {g}, BuildKit printed {r}",
                        s.name, st.line
                    ));
                }
            }
        }
    }
    eprintln!(
        "real BuildKit: {checked} step statuses checked over {} scenarios",
        scenarios().len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
