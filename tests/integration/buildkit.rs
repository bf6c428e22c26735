//! Real-BuildKit conformance on two engines: each scenario is a base tree, a head tree and the
//! status of every step (FROM/RUN/COPY/ADD/WORKDIR in file order: C cached, R rebuilt, U unused)
//! on Docker 20.10.24 (BuildKit v0.8, checked with `--engine docker-20.10`) and on Docker 28.5.2
//! with buildx 0.29.1 (checked with `--engine buildkit`, the default); `current` holds the truth
//! of 28.5.2 where it differs. For each engine the base is built with `docker build`, then the
//! head from a fresh directory; the statuses BuildKit printed (`CACHED` vs `DONE`, from plain
//! progress, and on 28.5.2 from rawjson progress for every other scenario) must equal that
//! engine's expectation, and so must cachebust's prediction for that engine. FROM lines are
//! checked against the expectation only: Docker prints `DONE` or `CACHED` for a local image at
//! random (semantics doc §0.1).
//!
//! `fails_2010` marks syntax only current BuildKit knows: Docker 20.10 must fail the build, and
//! cachebust's docker-20.10 report must carry an error on that line.
//!
//! `likely` lists lines where the prediction depends on build output cachebust cannot know;
//! there the prediction must say `likely` and may differ from the real build.

use std::collections::HashMap;

use cachebust::adapters::fs::DirTree;
use cachebust::adapters::local::{LocalRepo, Tree};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::buildlog::{self, VertexStatus};
use cachebust::engine::dockerfile::stages;
use cachebust::engine::dockerfile::{self as df, Body, Kind};
use cachebust::engine::report::{Confidence, Status};

use crate::support::docker::{self, BASE1, BASE2, Daemon, Progress};
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
    /// The truth on Docker 20.10, and on Docker 28.5.2 unless `current` says otherwise.
    pub expect: &'static str,
    /// The truth on Docker 28.5.2 (`--engine buildkit`) where it differs from `expect`.
    pub current: Option<&'static str>,
    /// Docker 20.10 cannot build this Dockerfile: cachebust must report an error on this line of
    /// the head Dockerfile for `--engine docker-20.10` (and the real builds must fail there).
    pub fails_2010: Option<u32>,
    pub likely: &'static [u32],
    /// `--secret id=s` contents for the base and the head build.
    pub secret: Option<(&'static str, &'static str)>,
    /// Body served at `{HTTP}` for the base and the head build.
    pub http: Option<(&'static str, &'static str)>,
}

impl Scenario {
    /// The expected statuses on the engine `e`.
    pub fn expect_for(&self, e: EngineKind) -> Vec<char> {
        let text = match (e, self.current) {
            (EngineKind::Buildkit, Some(c)) => c,
            _ => self.expect,
        };
        text.split_whitespace()
            .map(|w| w.chars().next().unwrap())
            .collect()
    }

    /// Whether the engine `e` can build this scenario at all.
    pub fn builds_on(&self, e: EngineKind) -> bool {
        !(e == EngineKind::Docker2010 && self.fails_2010.is_some())
    }
}

impl Scenario {
    /// The truth on Docker 28.5.2 differs: these statuses.
    const fn on_current(mut self, expect: &'static str) -> Scenario {
        self.current = Some(expect);
        self
    }

    /// Only Docker 28.5.2 builds it (`expect` is its truth); Docker 20.10 fails on `line`.
    const fn on_current_fails_2010(mut self, line: u32) -> Scenario {
        self.fails_2010 = Some(line);
        self
    }
}

/// A scenario that Docker 20.10 cannot build: its built-in frontend fails on `line`.
const fn current_only(
    name: &'static str,
    row: &'static str,
    base: &'static [(&'static str, &'static str)],
    head: &'static [(&'static str, Option<&'static str>)],
    line: u32,
    expect: &'static str,
) -> Scenario {
    let mut s = sc(name, row, base, head, expect);
    s.fails_2010 = Some(line);
    s
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
        current: None,
        fails_2010: None,
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
    let mut all = both_engine_scenarios();
    all.extend(current_scenarios());
    all
}

/// The scenarios of the semantics table that both engines build.
fn both_engine_scenarios() -> Vec<Scenario> {
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
            "RUN --mount=type=cache id changed (Docker 20.10 keys it, 28.5.2 does not)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN --mount=type=cache,target=/c,id=one ls /c\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN --mount=type=cache,target=/c,id=two ls /c\nRUN echo after\n"),
            )],
            "C R R",
        )
        .on_current("C C C"),
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
                "uid/gid of files produced in another stage and copied with COPY --from (Docker 20.10: not keyed; 28.5.2: keyed)",
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
            .on_current("C C R C C R R")
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
            ".dockerignore: a wildcard exception cannot re-include a file in a pruned directory on Docker 20.10; it does on 28.5.2",
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
        )
        .on_current("C R R"),
        // --- COPY --from: which step wrote the copied path (issue 29, class 5)
        // predicted `rebuilt` (likely): no allowance, the status must be right
        sc(
            "copy-from-written-by-a-later-run",
            "COPY --from of a path below an early COPY's destination, written by a re-run RUN (a build script writing ../backend/static)",
            &[
                ("Dockerfile", FE_DOCKERFILE),
                ("package.json", "{}\n"),
                ("frontend/build.sh", FE_BUILD),
                ("frontend/src.txt", "one\n"),
            ],
            &[("frontend/src.txt", Some("two\n"))],
            "C C C C R R C R R",
        ),
        Scenario {
            likely: &[8, 9],
            ..sc(
                "copy-from-run-rewrites-same-bytes",
                "COPY --from of a path a re-run RUN rewrites with the same bytes (early cutoff: cached)",
                &[
                    ("Dockerfile", FE_DOCKERFILE),
                    ("package.json", "{}\n"),
                    (
                        "frontend/build.sh",
                        "mkdir -p ../backend/static && echo stable > ../backend/static/app.js\n",
                    ),
                    ("frontend/src.txt", "one\n"),
                ],
                &[("frontend/src.txt", Some("two\n"))],
                "C C C C R R C C C",
            )
        },
        sc(
            "copy-from-run-writes-elsewhere",
            "COPY --from of a path an earlier step made, while a re-run RUN whose command shows its writes writes elsewhere",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS fe\nWORKDIR /app\nCOPY backend /app/backend\nWORKDIR /app/frontend\nCOPY ./frontend /app/frontend\nRUN mkdir -p /app/dist && cp -r /app/frontend/. /app/dist/ && ls /app/backend > /app/dist/list\nFROM {B1}\nCOPY --from=fe /app/backend/static /srv/static\nRUN ls /srv/static\n",
                ),
                ("backend/static/app.js", "a\n"),
                ("frontend/src.txt", "one\n"),
            ],
            &[("frontend/src.txt", Some("two\n"))],
            "C C C C R R C C C",
        ),
        sc(
            "copy-from-two-copies-into-the-path",
            "COPY --from of a directory two COPYs fill: the earlier one's files changed, the later one re-ran with the same files",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS gen\nCOPY a /app/a\nCOPY b /app/b\nFROM {B1}\nCOPY --from=gen /app /app\nRUN ls -R /app\n",
                ),
                ("a/x", "one\n"),
                ("b/y", "b\n"),
            ],
            &[("a/x", Some("two\n"))],
            "C R R C R R",
        ),
    ]
}

/// The frontend stage: WORKDIR /app, package.json into /app/, the frontend's sources
/// into /app/frontend, and a build that writes ../backend/static (as `npm run build` with
/// vite's `outDir: '../backend/static'`).
const FE_DOCKERFILE: &str = "FROM {B1} AS fe\nWORKDIR /app\nCOPY package.json /app/\nWORKDIR /app/frontend\nCOPY ./frontend /app/frontend\nRUN sh build.sh\nFROM {B1}\nCOPY --from=fe /app/backend/static /srv/static\nRUN ls /srv/static\n";

/// The frontend's build script: its output depends on its sources.
const FE_BUILD: &str = "mkdir -p ../backend/static && cat src.txt > ../backend/static/app.js\n";

/// Scenarios for what only current BuildKit builds or keys differently (Docker 28.5.2's
/// built-in frontend, no `# syntax` line). `fails_2010` is the line Docker 20.10 rejects.
fn current_scenarios() -> Vec<Scenario> {
    vec![
        // --- heredocs in RUN
        current_only(
            "run-heredoc-body-changed",
            "RUN <<EOF: body changed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nRUN <<EOF\necho two > /h\nEOF\nRUN cat /h\n"),
            )],
            4,
            "C C R R",
        ),
        current_only(
            "run-heredoc-comment-line-in-body",
            "RUN <<EOF: a comment line added inside the body (kept: the body is hashed verbatim)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN echo first\nRUN <<EOF\n# write the file\necho one > /h\nEOF\nRUN cat /h\n",
                ),
            )],
            5,
            "C C R R",
        ),
        current_only(
            "run-heredoc-comment-outside",
            "RUN <<EOF: a comment line added before the RUN",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\n# heredoc\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n"),
            )],
            4,
            "C C C",
        ),
        current_only(
            "run-heredoc-delimiter-quoted",
            "RUN <<EOF → <<\"EOF\" with the same body (RUN bodies are never expanded by the frontend)",
            &[(
                "Dockerfile",
                "FROM {B1}\nENV V=1\nRUN <<EOF\necho $V > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV V=1\nRUN <<\"EOF\"\necho $V > /h\nEOF\nRUN cat /h\n"),
            )],
            4,
            "C C C",
        ),
        current_only(
            "run-heredoc-delimiter-renamed",
            "RUN <<EOF → <<END with the same body",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN <<END\necho one > /h\nEND\nRUN cat /h\n"),
            )],
            3,
            "C C C",
        ),
        current_only(
            "run-heredoc-chomp-tabs",
            "RUN <<-EOF with tab-indented body → <<EOF unindented (same body after stripping tabs)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN <<-EOF\n\techo one > /h\n\tEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN <<EOF\necho one > /h\nEOF\nRUN cat /h\n"),
            )],
            3,
            "C C C",
        ),
        current_only(
            "run-heredoc-shebang-body",
            "RUN <<EOF with a #! body (run as a script file): body changed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN <<EOF\n#!/bin/sh\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN <<EOF\n#!/bin/sh\necho two > /h\nEOF\nRUN cat /h\n"),
            )],
            4,
            "C R R",
        ),
        current_only(
            "run-heredoc-several-on-a-line",
            "RUN with two heredocs on one line: the second body changed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nRUN cat <<A > /a && cat <<B > /b\none\nA\ntwo\nB\nRUN cat /a /b\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN echo first\nRUN cat <<A > /a && cat <<B > /b\none\nA\nthree\nB\nRUN cat /a /b\n",
                ),
            )],
            4,
            "C C R R",
        ),
        current_only(
            "run-heredoc-command-line-changed",
            "RUN sh <<EOF → RUN sh -e <<EOF with the same body",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN sh <<EOF\necho one > /h\nEOF\nRUN cat /h\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN sh -e <<EOF\necho one > /h\nEOF\nRUN cat /h\n"),
            )],
            3,
            "C R R",
        ),
        // --- heredocs in COPY
        current_only(
            "copy-heredoc-unquoted-expands",
            "COPY <<EOF: unquoted delimiter, an ARG the body expands changed",
            &[(
                "Dockerfile",
                "FROM {B1}\nARG V=1\nCOPY <<EOF /f\nv=$V\nEOF\nRUN cat /f\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=2\nCOPY <<EOF /f\nv=$V\nEOF\nRUN cat /f\n"),
            )],
            4,
            "C R R",
        ),
        current_only(
            "copy-heredoc-quoted-literal",
            "COPY <<'EOF': quoted delimiter, the same ARG change leaves the file as it was",
            &[(
                "Dockerfile",
                "FROM {B1}\nARG V=1\nCOPY <<'EOF' /f\nv=$V\nEOF\nRUN cat /f\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=2\nCOPY <<'EOF' /f\nv=$V\nEOF\nRUN cat /f\n"),
            )],
            4,
            "C C R",
        ),
        current_only(
            "copy-heredoc-expanded-value-same",
            "COPY <<EOF: the body changes from $V to the value V already had",
            &[(
                "Dockerfile",
                "FROM {B1}\nENV V=1\nRUN echo first\nCOPY <<EOF /f\nv=$V\nEOF\nRUN cat /f\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV V=1\nRUN echo first\nCOPY <<EOF /f\nv=1\nEOF\nRUN cat /f\n"),
            )],
            5,
            "C C C C",
        ),
        current_only(
            "copy-heredoc-chomp",
            "COPY <<-EOF with tab-indented body → unindented <<EOF (same file)",
            &[(
                "Dockerfile",
                "FROM {B1}\nCOPY <<-EOF /f\n\tline\n\tEOF\nRUN cat /f\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY <<EOF /f\nline\nEOF\nRUN cat /f\n"),
            )],
            3,
            "C C C",
        ),
        current_only(
            "copy-heredoc-two-files",
            "COPY <<A <<B /d/: the second file's body changed",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nCOPY <<A <<B /d/\none\nA\ntwo\nB\nRUN ls /d\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN echo first\nCOPY <<A <<B /d/\none\nA\nthree\nB\nRUN ls /d\n",
                ),
            )],
            4,
            "C C R R",
        ),
        current_only(
            "copy-heredoc-comment-line",
            "COPY <<EOF: a # line added to the body is file content",
            &[(
                "Dockerfile",
                "FROM {B1}\nCOPY <<EOF /f\nx=1\nEOF\nRUN cat /f\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY <<EOF /f\n# settings\nx=1\nEOF\nRUN cat /f\n"),
            )],
            4,
            "C R R",
        ),
        // --- parameter expansions only the current frontend knows
        current_only(
            "expand-longest-suffix-same-result",
            "WORKDIR /w/${V%%.*}: the ARG changes, the expanded path does not",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN echo first\nARG V=1.2.3\nWORKDIR /w/${V%%.*}\nRUN pwd\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nARG V=1.9.9\nWORKDIR /w/${V%%.*}\nRUN pwd\n"),
            )],
            4,
            "C C C R",
        ),
        current_only(
            "expand-shortest-suffix",
            "COPY f /${F%.*}: the expanded destination stays the same",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG F=app.tar.gz\nCOPY f /${F%.*}\nRUN ls /\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG F=app.tar.xz\nCOPY f /${F%.*}\nRUN ls /\n"),
            )],
            3,
            "C C R",
        ),
        current_only(
            "expand-shortest-prefix-same-result",
            "COPY f /opt/${P#*/}/f: another owner, the same expanded destination",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG P=org/app\nCOPY f /opt/${P#*/}/f\nRUN ls /opt\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG P=other/app\nCOPY f /opt/${P#*/}/f\nRUN ls /opt\n"),
            )],
            3,
            "C C R",
        ),
        current_only(
            "expand-longest-prefix-changed",
            "COPY f /opt/${P##*/}: the expanded destination changes",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG P=a/b/c\nCOPY f /opt/${P##*/}\nRUN ls /opt\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG P=a/b/d\nCOPY f /opt/${P##*/}\nRUN ls /opt\n"),
            )],
            3,
            "C R R",
        ),
        current_only(
            "expand-replace-first-same-result",
            "COPY f /d/${V/./-}: 1.2 and 1-2 both expand to 1-2",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG V=1.2\nCOPY f /d/${V/./-}\nRUN ls /d\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=1-2\nCOPY f /d/${V/./-}\nRUN ls /d\n"),
            )],
            3,
            "C C R",
        ),
        current_only(
            "expand-replace-all",
            "COPY f /d/${V//./_}: the replaced value changes",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG V=1.2.3\nCOPY f /d/${V//./_}\nRUN ls /d\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=1.2.4\nCOPY f /d/${V//./_}\nRUN ls /d\n"),
            )],
            3,
            "C R R",
        ),
        current_only(
            "expand-default-if-unset",
            "COPY f /d/${V-def}/f: ARG V (unset) → ARG V= (set, empty) changes the path",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG V\nCOPY f /d/${V-def}/f\nRUN ls -R /d\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=\nCOPY f /d/${V-def}/f\nRUN ls -R /d\n"),
            )],
            3,
            "C R R",
        ),
        current_only(
            "expand-alternative-if-set",
            "COPY f /d/${V+set}/f: V stays set (empty → 1), the path stays /d/set/f",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG V=\nCOPY f /d/${V+set}/f\nRUN ls -R /d\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=1\nCOPY f /d/${V+set}/f\nRUN ls -R /d\n"),
            )],
            3,
            "C C R",
        ),
        // --- mount options
        sc(
            "cache-mount-target-variable",
            "--mount=type=cache,target=$D → target=/c (the current frontend expands mount options; Docker 20.10 keys the text)",
            &[(
                "Dockerfile",
                "FROM {B1}\nENV D=/c\nRUN --mount=type=cache,target=$D ls\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV D=/c\nRUN --mount=type=cache,target=/c ls\nRUN echo after\n"),
            )],
            "C R R",
        )
        .on_current("C C C"),
        sc(
            "cache-mount-sharing-changed",
            "--mount=type=cache sharing=shared → locked (Docker 20.10 keys sharing)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN --mount=type=cache,target=/c,id=deps,sharing=shared ls /c\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN --mount=type=cache,target=/c,id=deps,sharing=locked ls /c\nRUN echo after\n",
                ),
            )],
            "C R R",
        )
        .on_current("C C C"),
        sc(
            "cache-mount-uid-changed",
            "--mount=type=cache uid changed (Docker 20.10 leaves it out of the key)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN --mount=type=cache,target=/c,uid=1000 ls -ln /c\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN --mount=type=cache,target=/c,uid=1001 ls -ln /c\nRUN echo after\n",
                ),
            )],
            "C C C",
        )
        .on_current("C R R"),
        current_only(
            "tmpfs-size-changed",
            "--mount=type=tmpfs size changed (Docker 20.10 rejects size)",
            &[(
                "Dockerfile",
                "FROM {B1}\nRUN --mount=type=tmpfs,target=/t,size=1m ls /t\nRUN echo after\n",
            )],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN --mount=type=tmpfs,target=/t,size=2m ls /t\nRUN echo after\n"),
            )],
            2,
            "C R R",
        ),
        Scenario {
            secret: Some(("one", "two")),
            ..current_only(
                "secret-env-value-changed",
                "--mount=type=secret,env=S: the secret's value changed (not keyed)",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=secret,id=s,env=S test -n \"$S\"\nRUN echo after\n",
                )],
                &[],
                2,
                "C C C",
            )
        },
        Scenario {
            secret: Some(("one", "one")),
            ..current_only(
                "secret-env-name-changed",
                "--mount=type=secret,env=S → env=T",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=secret,id=s,env=S true\nRUN echo after\n",
                )],
                &[(
                    "Dockerfile",
                    Some("FROM {B1}\nRUN --mount=type=secret,id=s,env=T true\nRUN echo after\n"),
                )],
                2,
                "C R R",
            )
        },
        Scenario {
            secret: Some(("one", "one")),
            ..sc(
                "secret-mode-changed",
                "--mount=type=secret mode changed",
                &[(
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=secret,id=s,mode=0400 true\nRUN echo after\n",
                )],
                &[(
                    "Dockerfile",
                    Some("FROM {B1}\nRUN --mount=type=secret,id=s,mode=0440 true\nRUN echo after\n"),
                )],
                "C R R",
            )
        },
        current_only(
            "bind-mount-source-variable",
            "--mount=type=bind,source=$S: the current frontend expands it and hashes that directory (Docker 20.10 looks for a file named $S)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nENV S=src\nRUN --mount=type=bind,source=$S,target=/m ls /m\nRUN echo after\n",
                ),
                ("src/a", "a\n"),
                ("other", "o\n"),
            ],
            &[("src/a", Some("changed\n"))],
            3,
            "C R R",
        ),
        sc(
            "bind-mount-target-changed",
            "--mount=type=bind target changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN --mount=type=bind,source=src,target=/m ls /m\nRUN echo after\n",
                ),
                ("src/a", "a\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN --mount=type=bind,source=src,target=/n ls /n\nRUN echo after\n",
                ),
            )],
            "C R R",
        ),
        // --- owners through COPY --from
        sc(
            "copy-from-owner-set-by-copy-chown",
            "COPY --chown in the source stage changed; COPY --from copies the same bytes (28.5.2 keys the owner)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS a\nCOPY --chown=1000:1000 f /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -ln /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS a\nCOPY --chown=1001:1001 f /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -ln /f\n",
                ),
            )],
            "C R C C C C",
        )
        .on_current("C R C C R R"),
        sc(
            "copy-from-chmod-in-source-stage",
            "COPY --chmod in the source stage changed; COPY --from copies another mode",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS a\nCOPY --chmod=644 f /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -l /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1} AS a\nCOPY --chmod=600 f /f\nFROM {B1}\nRUN echo final\nCOPY --from=a /f /f\nRUN ls -l /f\n",
                ),
            )],
            "C R C C R R",
        ),
        // --- COPY --exclude
        current_only(
            "copy-exclude-excluded-file-changed",
            "COPY --exclude=*.md: only an excluded file changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo first\nCOPY --exclude=*.md . /c\nRUN ls /c\n",
                ),
                ("app.txt", "a\n"),
                ("README.md", "r\n"),
            ],
            &[("README.md", Some("changed\n"))],
            3,
            "C C C C",
        ),
        current_only(
            "copy-exclude-kept-file-changed",
            "COPY --exclude=*.md: a copied file changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo first\nCOPY --exclude=*.md . /c\nRUN ls /c\n",
                ),
                ("app.txt", "a\n"),
                ("README.md", "r\n"),
            ],
            &[("app.txt", Some("changed\n"))],
            3,
            "C C R R",
        ),
        current_only(
            "copy-exclude-in-directory",
            "COPY --exclude=**/test d/ /d/: only a file under an excluded directory changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nCOPY --exclude=**/test d/ /d/\nRUN ls -R /d\n",
                ),
                ("d/a", "a\n"),
                ("d/x/test/t", "t\n"),
            ],
            &[("d/x/test/t", Some("changed\n")), ("d/x/test/new", Some("n\n"))],
            2,
            "C C C",
        ),
        current_only(
            "copy-exclude-pattern-changed",
            "COPY --exclude pattern changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nCOPY --exclude=*.md . /c\nRUN ls /c\n",
                ),
                ("app.txt", "a\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY --exclude=*.txt . /c\nRUN ls /c\n"),
            )],
            2,
            "C R R",
        ),
        // --- --chmod and --chown forms
        sc(
            "chmod-symbolic-changed",
            "COPY --chmod=u+x → u+rx (Docker 20.10's frontend ignores symbolic modes)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nCOPY --chmod=u+x f /f\nRUN ls -l /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY --chmod=u+rx f /f\nRUN ls -l /f\n"),
            )],
            "C C C",
        )
        .on_current("C R R"),
        sc(
            "chmod-expanded-from-arg",
            "COPY --chmod=$M with the ARG changed (Docker 20.10 neither expands nor keys it)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG M=755\nCOPY --chmod=$M f /f\nRUN ls -l /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG M=700\nCOPY --chmod=$M f /f\nRUN ls -l /f\n"),
            )],
            "C C R",
        )
        .on_current("C R R"),
        sc(
            "chown-variable-same-value",
            "COPY --chown=$U: another ARG spelling gives the same owner",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nRUN echo first\nCOPY --chown=1000:1000 f /f\nRUN ls -ln /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some(
                    "FROM {B1}\nRUN echo first\nARG U=1000\nCOPY --chown=${U}:$U f /f\nRUN ls -ln /f\n",
                ),
            )],
            "C C C R",
        ),
        sc(
            "chown-variable-changed",
            "COPY --chown=$U with the ARG changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG U=1000\nCOPY --chown=$U f /f\nRUN ls -ln /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG U=1001\nCOPY --chown=$U f /f\nRUN ls -ln /f\n"),
            )],
            "C R R",
        ),
        // --- directives and instruction forms
        sc(
            "check-directive-added",
            "# check=skip=all directive added (lint configuration only)",
            &[("Dockerfile", "FROM {B1}\nRUN echo a\n")],
            &[(
                "Dockerfile",
                Some("# check=skip=all\nFROM {B1}\nRUN echo a\n"),
            )],
            "C C",
        ),
        sc(
            "escape-directive-backtick",
            "# escape=` with a backtick continuation giving the same RUN text",
            &[("Dockerfile", "FROM {B1}\nRUN echo a \\\n  b\n")],
            &[(
                "Dockerfile",
                Some("# escape=`\nFROM {B1}\nRUN echo a `\n  b\n"),
            )],
            "C C",
        ),
        sc(
            "env-legacy-form",
            "ENV A 1 → ENV A=1",
            &[("Dockerfile", "FROM {B1}\nENV A 1\nRUN echo $A\n")],
            &[("Dockerfile", Some("FROM {B1}\nENV A=1\nRUN echo $A\n"))],
            "C C",
        ),
        sc(
            "env-quoting-forms",
            "ENV A=\"x y\" → ENV A='x y' → one ENV line split in two",
            &[("Dockerfile", "FROM {B1}\nENV A=\"x y\" B=2\nRUN echo $A\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nENV A='x y'\nENV B=2\nRUN echo $A\n"),
            )],
            "C C",
        ),
        sc(
            "arg-several-on-a-line",
            "ARG A=1 B=2 → two ARG lines",
            &[("Dockerfile", "FROM {B1}\nARG A=1 B=2\nRUN echo $A$B\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG A=1\nARG B=2\nRUN echo $A$B\n"),
            )],
            "C C",
        ),
        sc(
            "platform-arg-declared",
            "ARG TARGETPLATFORM declared: the automatic value becomes part of the env",
            &[("Dockerfile", "FROM {B1}\nRUN echo first\nRUN echo x\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nRUN echo first\nARG TARGETPLATFORM\nRUN echo x\n"),
            )],
            "C C R",
        ),
        sc(
            "targetstage-arg-declared",
            "ARG TARGETSTAGE declared (an automatic arg only the current frontend sets)",
            &[("Dockerfile", "FROM {B1} AS app\nRUN echo first\nRUN echo x\n")],
            &[(
                "Dockerfile",
                Some("FROM {B1} AS app\nRUN echo first\nARG TARGETSTAGE\nRUN echo x\n"),
            )],
            "C C C",
        )
        .on_current("C C R"),
        current_only(
            "copy-link-after-changed-run",
            "COPY --link after a RUN that re-runs (Docker Engine's BuildKit has no merge op: a plain copy)",
            &[
                (
                    "Dockerfile",
                    "FROM {B1}\nARG V=1\nRUN echo $V > /v\nCOPY --link f /f\nRUN cat /f\n",
                ),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nARG V=2\nRUN echo $V > /v\nCOPY --link f /f\nRUN cat /f\n"),
            )],
            4,
            "C R R R",
        ),
        current_only(
            "copy-link-added",
            "--link added to a COPY (the docker driver keys it like the plain COPY)",
            &[
                ("Dockerfile", "FROM {B1}\nCOPY f /f\nRUN cat /f\n"),
                ("f", "x\n"),
            ],
            &[(
                "Dockerfile",
                Some("FROM {B1}\nCOPY --link f /f\nRUN cat /f\n"),
            )],
            2,
            "C C C",
        ),
        sc(
            "onbuild-copy-from-local-stage",
            "ONBUILD COPY --from=<stage> in a local parent stage: the copied file changed",
            &[
                (
                    "Dockerfile",
                    "FROM {B1} AS s\nCOPY f /x\nFROM {B1} AS base\nONBUILD COPY --from=s /x /x\nRUN echo base\nFROM base\nRUN cat /x\n",
                ),
                ("f", "one\n"),
            ],
            &[("f", Some("two\n"))],
            "C R C C R R",
        )
        .on_current_fails_2010(4),
    ]
}

/// A counted step: stage display name, instruction keyword, first line of its arguments.
struct Counted {
    line: u32,
    stage: String,
    keyword: &'static str,
    args: String,
}

/// Counted steps per stage in BuildKit's numbering: (stage display name, k) → step, and the
/// number of stages.
fn step_numbering(text: &str) -> (HashMap<(String, u32), Counted>, usize) {
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
        let counted = |inst: &df::Instruction| Counted {
            line: inst.line,
            stage: s.display_name(),
            keyword: inst.kind.keyword(),
            args: first_line_words(&inst.args_text),
        };
        if image {
            k += 1;
            map.insert((s.display_name(), k), counted(from));
        }
        for inst in &d.instructions[s.from + 1..s.end] {
            if matches!(
                inst.kind,
                Kind::Run | Kind::Copy | Kind::Add | Kind::Workdir
            ) {
                k += 1;
                map.insert((s.display_name(), k), counted(inst));
            }
        }
    }
    (map, st.len())
}

/// The words of the first line of a text, joined by single spaces (no trailing `\`).
fn first_line_words(t: &str) -> String {
    let first = t.lines().next().unwrap_or_default();
    let first = first.trim_end().trim_end_matches('\\');
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Line → real status from a build log, plain or rawjson (only steps with a vertex). A vertex
/// is mapped by its `[stage k/n]` number when the keyword there agrees, else by its text within
/// the stage: BuildKit numbers a stage reached only through an ONBUILD trigger off by one
/// (`[s 3/2] COPY f /x`, measured on 28.5.2) and counts ONBUILD trigger vertices in the child
/// (those are skipped: they are not lines of the child stage).
pub fn real_statuses(log: &str, text: &str) -> HashMap<u32, char> {
    real_statuses_all(log, text)
        .into_iter()
        .filter_map(|(l, v)| v.last().map(|c| (l, *c)))
        .collect()
}

/// [`real_statuses`] with every vertex of a line (one per platform of a multi-platform build),
/// in log order.
pub fn real_statuses_all(log: &str, text: &str) -> HashMap<u32, Vec<char>> {
    let (numbering, nstages) = step_numbering(text);
    let single_stage = numbering
        .values()
        .next()
        .map(|c| c.stage.clone())
        .unwrap_or_else(|| "stage-0".into());
    let mut out: HashMap<u32, Vec<char>> = HashMap::new();
    let builds = buildlog::parse_any(log);
    let Some(b) = builds.last() else { return out };
    for v in &b.vertices {
        let Some((k, _)) = v.step else { continue };
        let stage = match &v.stage {
            Some(s) => s.clone(),
            None if nstages == 1 => single_stage.clone(),
            None => continue,
        };
        let instr = v.instruction.clone().unwrap_or_default();
        let (kw, rest) = instr.split_once(' ').unwrap_or((instr.as_str(), ""));
        if kw.eq_ignore_ascii_case("ONBUILD") {
            continue;
        }
        let rest = first_line_words(rest);
        let line = match numbering.get(&(stage.clone(), k)) {
            Some(c) if c.keyword.eq_ignore_ascii_case(kw) => Some(c.line),
            _ => numbering
                .values()
                .find(|c| c.stage == stage && c.keyword.eq_ignore_ascii_case(kw) && c.args == rest)
                .map(|c| c.line),
        };
        if let Some(line) = line {
            let c = match v.status {
                VertexStatus::Cached => 'C',
                VertexStatus::Done => 'R',
                _ => '?',
            };
            out.entry(line).or_default().push(c);
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
    engine: EngineKind,
) -> cachebust::engine::report::DockerfileReport {
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(base).unwrap()),
        Tree::Dir(DirTree::open(head).unwrap()),
    );
    let mut opts = AnalyzeOptions::new(engine);
    if engine == EngineKind::Buildkit {
        // Docker 28.5.2 builds with Docker Engine's own BuildKit (buildx `docker` driver)
        opts.config = docker_driver();
    }
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

/// The configuration that says the builder is Docker Engine's own BuildKit.
fn docker_driver() -> cachebust::engine::config::Config {
    cachebust::engine::config::parse(
        "cachebust.yml",
        "builder:\n  driver: docker\n",
        &cachebust::engine::rules::codes(),
    )
    .unwrap()
}

/// `COPY --link` follows the builder: with merge op (the default `docker-container` driver,
/// BuildKit ≥ v0.10, modelled from source) adding `--link` changes the copy's key; with the
/// `docker` driver (measured on Docker 28.5.2 in `copy-link-added`) it keys like a plain COPY.
#[tokio::test]
async fn copy_link_follows_the_builder_driver() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "copy-link-added")
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = materialise(&s, tmp.path());
    let repo = LocalRepo::new(
        Tree::Dir(DirTree::open(&base).unwrap()),
        Tree::Dir(DirTree::open(&head).unwrap()),
    );
    let mut statuses = Vec::new();
    for config in [
        cachebust::engine::config::Config::default(),
        docker_driver(),
    ] {
        let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
        opts.dockerfiles = vec!["Dockerfile".into()];
        opts.config = config;
        let rep = analyze(&repo, &opts).await.unwrap().dockerfiles.remove(0);
        let copy = rep.steps.iter().find(|st| st.line == 2).unwrap().clone();
        statuses.push((copy.status, copy.notes.len()));
    }
    assert_eq!(statuses[0].0, Status::Rebuilt, "merge op: --link is keyed");
    assert!(statuses[0].1 > 0, "merge op: the linked-copy note");
    assert_eq!(
        statuses[1],
        (Status::Cached, 0),
        "docker driver: a plain copy"
    );
}

/// Scenarios whose truth differs between the engines or that only current BuildKit builds.
const NEW_CURRENT_SCENARIOS: usize = 30;

#[test]
fn scenario_table_is_large_enough() {
    let all = scenarios();
    assert!(all.len() >= 40, "{} scenarios", all.len());
    let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "scenario names are unique");
    let current = all
        .iter()
        .filter(|s| s.current.is_some() || s.fails_2010.is_some())
        .count();
    assert!(
        current >= NEW_CURRENT_SCENARIOS,
        "{current} scenarios for current-only syntax or keying"
    );
    for s in &all {
        if let Some(c) = s.current {
            assert_ne!(c, s.expect, "{}: `current` equal to `expect`", s.name);
            assert_eq!(
                c.split_whitespace().count(),
                s.expect.split_whitespace().count(),
                "{}: one status per step on both engines",
                s.name
            );
        }
    }
}

/// Compare one engine's prediction with that engine's expected statuses.
fn check_prediction(
    s: &Scenario,
    engine: EngineKind,
    rep: &cachebust::engine::report::DockerfileReport,
    failures: &mut Vec<String>,
) {
    let tag = engine.name();
    if let Some(line) = s.fails_2010.filter(|_| engine == EngineKind::Docker2010) {
        let errs: Vec<_> = rep
            .diagnostics
            .iter()
            .filter(|d| d.severity == cachebust::engine::report::Severity::Error)
            .collect();
        if !errs.iter().any(|d| d.line == line) {
            failures.push(format!(
                "{} [{tag}]: Docker 20.10 fails on line {line}; cachebust reported {:?}",
                s.name, rep.diagnostics
            ));
        }
        return;
    }
    let got: Vec<(u32, Status, Confidence)> = rep
        .steps
        .iter()
        .map(|st| (st.line, st.status, st.confidence))
        .collect();
    let want = s.expect_for(engine);
    if got.len() != want.len() {
        failures.push(format!(
            "{} [{tag}]: {} steps predicted, {} expected: {:?}",
            s.name,
            got.len(),
            want.len(),
            got
        ));
        return;
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
                .map(|x| cachebust::render::reason(x, rep))
                .unwrap_or_default();
            failures.push(format!(
                "{} [{tag}] [{}]: line {line}: predicted {g}, expected {w} ({reason})",
                s.name, s.row
            ));
        }
    }
    for l in s.likely {
        let st = rep.steps.iter().find(|x| x.line == *l).unwrap();
        if st.confidence != Confidence::Likely {
            failures.push(format!(
                "{} [{tag}]: line {l} should be marked likely",
                s.name
            ));
        }
    }
    if !rep.diagnostics.is_empty() {
        failures.push(format!(
            "{} [{tag}]: unexpected diagnostics {:?}",
            s.name, rep.diagnostics
        ));
    }
}

/// cachebust's prediction for every scenario equals the expected statuses of each engine
/// (no Docker needed).
#[tokio::test]
async fn predictions_match_expected_statuses() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let tmp = tempfile::tempdir().unwrap();
        let (base, head) = materialise(&s, tmp.path());
        for engine in [EngineKind::Docker2010, EngineKind::Buildkit] {
            let rep = predict(&base, &head, &s, engine).await;
            check_prediction(&s, engine, &rep, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The Dockerfile of issue 29 (class 5), as written: `RUN npm run build` writes
/// `/app/backend/static` (vite's `outDir`), below what line 3 created. A change under
/// `frontend/` rebuilds the `COPY --from` (likely: `npm` may write anywhere), credited to line 6,
/// never "from line 3"; a change nothing in stage `fe` reads keeps it cached. The same shape is
/// built for real in the scenario `copy-from-written-by-a-later-run`.
#[tokio::test]
async fn copy_from_credits_a_rerun_run_as_a_possible_writer() {
    use cachebust::engine::report::Note;
    let dockerfile = "FROM {B1} AS fe\nWORKDIR /app\nCOPY package.json /app/\nWORKDIR /app/frontend\nCOPY ./frontend /app/frontend\nRUN npm run build\nFROM {B1}\nCOPY --from=fe /app/backend/static /srv/static\n";
    for (change, want) in [
        ("frontend/src/App.jsx", Status::Rebuilt),
        ("docs/README.md", Status::Cached),
    ] {
        let s = Scenario {
            base: &[],
            ..sc("issue-29-fe", "", &[], &[], "")
        };
        let tmp = tempfile::tempdir().unwrap();
        let files = |v: &str| {
            vec![
                ("Dockerfile", fill(dockerfile)),
                ("package.json", "{}\n".to_string()),
                ("frontend/src/App.jsx", format!("{v}\n")),
                ("docs/README.md", format!("{v}\n")),
            ]
        };
        let (base, head) = (tmp.path().join("b"), tmp.path().join("h"));
        write_tree(&base, &files("one"));
        let mut h = files("one");
        h.iter_mut().find(|(p, _)| *p == change).unwrap().1 = "two\n".into();
        write_tree(&head, &h);
        for engine in [EngineKind::Docker2010, EngineKind::Buildkit] {
            let rep = predict(&base, &head, &s, engine).await;
            let st = rep.steps.iter().find(|x| x.line == 8).unwrap();
            let reason = cachebust::render::reason(st, &rep);
            assert_eq!(st.status, want, "{change} [{}]: {reason}", engine.name());
            if want == Status::Rebuilt {
                assert_eq!(st.confidence, Confidence::Likely, "{reason}");
                assert!(
                    st.notes
                        .iter()
                        .any(|n| matches!(n, Note::RunMayWrite { run_line: 6, .. })),
                    "{reason}"
                );
                assert!(
                    reason.contains("line 6") && !reason.contains("line 3"),
                    "{reason}"
                );
            }
        }
    }
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

/// The Dockerfile lines a failed build's error names (`dockerfile parse error line 4: …`,
/// `Dockerfile:4`); empty when it names none (e.g. `failed to process "/${V%.*}"`).
fn log_lines(log: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for l in log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("error"))
    {
        for pat in ["error line ", "Dockerfile:"] {
            let mut rest = l;
            while let Some(i) = rest.find(pat) {
                rest = &rest[i + pat.len()..];
                let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = n.parse() {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// Every scenario against one real engine: the statuses it printed equal the table's truth for
/// it, and cachebust's prediction for that engine equals what it printed.
async fn conformance(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let engine = daemon.engine();
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut failing_builds = 0;
    let mut rawjson = 0;
    let mut build_seconds = 0.0;
    // CACHEBUST_SCENARIOS=a,b runs only the scenarios whose names contain one of these (while
    // developing; CI runs all)
    let only: Vec<String> = std::env::var("CACHEBUST_SCENARIOS")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let all: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    for (i, s) in all.iter().enumerate() {
        d.prune();
        let tmp = tempfile::tempdir().unwrap();
        let (base, head) = materialise(s, tmp.path());
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
        build_seconds += b.seconds;
        if !s.builds_on(engine) {
            let line = s.fails_2010.unwrap();
            let h = d.build(&head, s.dockerfile, s.target, s.head_args, secret, &tag);
            let _ = b;
            if h.ok {
                failures.push(format!(
                    "{} [{}]: the head build succeeded; the table says it fails on line {line}",
                    s.name,
                    d.label()
                ));
            } else if log_lines(&h.log).iter().any(|l| *l != line) {
                failures.push(format!(
                    "{} [{}]: the head build failed, but not on line {line}:\n{}",
                    s.name,
                    d.label(),
                    h.log
                ));
            } else {
                failing_builds += 1;
            }
            let rep = predict(&base, &head, s, engine).await;
            check_prediction(s, engine, &rep, &mut failures);
            continue;
        }
        if !b.ok {
            failures.push(format!(
                "{} [{}]: base build failed:\n{}",
                s.name,
                d.label(),
                b.log
            ));
            continue;
        }
        if let Some((_, v)) = s.secret {
            std::fs::write(&secret_file, v).unwrap();
        }
        if let Some((_, v)) = s.http {
            *HTTP_BODY.lock().unwrap() = v.to_string();
        }
        // Docker 28.5.2: every other head build is read from rawjson progress
        let progress = if daemon == Daemon::D28 && i % 2 == 1 {
            rawjson += 1;
            Progress::RawJson
        } else {
            Progress::Plain
        };
        let h = d.build_with(
            &head,
            s.dockerfile,
            s.target,
            s.head_args,
            secret,
            &tag,
            progress,
        );
        build_seconds += h.seconds;
        if !h.ok {
            failures.push(format!(
                "{} [{}]: head build failed:\n{}",
                s.name,
                d.label(),
                h.log
            ));
            continue;
        }
        let head_text = std::fs::read_to_string(head.join(s.dockerfile)).unwrap();
        let real = real_statuses(&h.log, &head_text);
        let want = s.expect_for(engine);
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
                    "{} [{}] [{}]: line {line}: BuildKit printed {:?}, expected {w}",
                    s.name,
                    d.label(),
                    s.row,
                    r
                )),
            }
        }
        let rep = predict(&base, &head, s, engine).await;
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
                        "{} [{}]: line {}: cachebust --engine {} predicted {g}, BuildKit printed {r}",
                        s.name,
                        d.label(),
                        st.line,
                        engine.name()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{}: {checked} step statuses checked over {} scenarios ({rawjson} head builds read from rawjson), {failing_builds} builds failed as predicted; {:.0} s, {build_seconds:.0} s of it in docker build",
        d.label(),
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches on {}:\n{}",
        failures.len(),
        d.label(),
        failures.join("\n")
    );
}

/// Every scenario against Docker 20.10's BuildKit, predicted with `--engine docker-20.10`.
#[tokio::test]
async fn real_buildkit_docker_20_10_agrees_with_expected_statuses() {
    conformance(Daemon::D2010).await;
}

/// Every scenario against Docker 28.5.2's BuildKit (buildx 0.29.1), predicted with
/// `--engine buildkit`.
#[tokio::test]
async fn real_buildkit_docker_28_agrees_with_expected_statuses() {
    conformance(Daemon::D28).await;
}

/// Bad input: a Dockerfile only current BuildKit builds (a heredoc) beside one both engines
/// build. With `--engine docker-20.10` the first is predicted to fail, on the line Docker 20.10
/// fails on (measured in `run-heredoc-body-changed`); apart from that error its report is the
/// one `--engine buildkit` gives, and the other Dockerfile's report is the same as when it is
/// analysed alone.
#[tokio::test]
async fn a_build_only_one_engine_can_run_fails_for_the_other_and_nothing_else_changes() {
    let tmp = tempfile::tempdir().unwrap();
    // both are built with the repository root as the context
    let heredoc =
        "FROM {B1}\nRUN echo first\nRUN <<EOF\necho one > /h\nEOF\nCOPY web/f /f\nRUN cat /h /f\n";
    let plain = "FROM {B1}\nRUN echo first\nCOPY api/f /f\nRUN cat /f\n";
    let base: Vec<(&str, String)> = vec![
        ("web/Dockerfile", fill(heredoc)),
        ("web/f", "one\n".into()),
        ("api/Dockerfile", fill(plain)),
        ("api/f", "one\n".into()),
    ];
    let head = apply_edits(
        &base,
        &[
            ("web/f", Some("two\n".into())),
            ("api/f", Some("two\n".into())),
        ],
    );
    let head: Vec<(&str, String)> = head.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    write_tree(&tmp.path().join("b"), &base);
    write_tree(&tmp.path().join("h"), &head);
    let run = |engine: EngineKind, dockerfiles: &[&str]| {
        let repo = LocalRepo::new(
            Tree::Dir(DirTree::open(&tmp.path().join("b")).unwrap()),
            Tree::Dir(DirTree::open(&tmp.path().join("h")).unwrap()),
        );
        let mut opts = AnalyzeOptions::new(engine);
        opts.dockerfiles = dockerfiles.iter().map(|s| s.to_string()).collect();
        async move { analyze(&repo, &opts).await.unwrap() }
    };
    let both = ["web/Dockerfile", "api/Dockerfile"];
    let old = run(EngineKind::Docker2010, &both).await;
    let new = run(EngineKind::Buildkit, &both).await;
    let alone = run(EngineKind::Docker2010, &["api/Dockerfile"]).await;
    let web_old = &old.dockerfiles[0];
    let web_new = &new.dockerfiles[0];
    assert_eq!(web_old.path, "web/Dockerfile");
    assert!(web_new.diagnostics.is_empty(), "{:?}", web_new.diagnostics);
    assert_eq!(web_old.diagnostics.len(), 1, "{:?}", web_old.diagnostics);
    let d = &web_old.diagnostics[0];
    assert_eq!(
        (d.line, d.severity),
        (4, cachebust::engine::report::Severity::Error)
    );
    assert!(
        d.message.contains("unknown instruction: ECHO"),
        "{}",
        d.message
    );
    let statuses = |r: &cachebust::engine::report::DockerfileReport| {
        r.steps
            .iter()
            .map(|s| (s.line, s.status, s.confidence))
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(web_old), statuses(web_new));
    assert_eq!(web_old.touched_by, web_new.touched_by);
    assert_eq!(web_old.summary, web_new.summary);
    assert_eq!(old.dockerfiles[1], alone.dockerfiles[0], "api/Dockerfile");
    assert!(old.diagnostics.is_empty() && new.diagnostics.is_empty());
}

/// `COPY --exclude` drops files from the copy: an edit to an excluded file keeps the COPY cached
/// (measured in `copy-exclude-excluded-file-changed`), and CB002 does not ask to put into
/// `.dockerignore` what the COPY already excludes; without `--exclude` it does.
#[tokio::test]
async fn cb002_leaves_out_what_copy_exclude_drops() {
    let mut fired = Vec::new();
    for copy in ["COPY --exclude=.git --exclude=*.log . /app", "COPY . /app"] {
        let tmp = tempfile::tempdir().unwrap();
        let files: Vec<(&str, String)> = vec![
            (
                "Dockerfile",
                format!(
                    "FROM {BASE1} AS build\n{copy}\nRUN ls /app > /out\nFROM {BASE1}\nCOPY --from=build /out /out\n"
                ),
            ),
            (".dockerignore", "Dockerfile\n.dockerignore\n".into()),
            ("app.txt", "a\n".into()),
            (".git/HEAD", "ref: refs/heads/main\n".into()),
            ("npm-debug.log", "x\n".into()),
        ];
        let head = apply_edits(
            &files,
            &[(".git/HEAD", Some("ref: refs/heads/other\n".into()))],
        );
        let head: Vec<(&str, String)> = head.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
        write_tree(&tmp.path().join("b"), &files);
        write_tree(&tmp.path().join("h"), &head);
        let repo = LocalRepo::new(
            Tree::Dir(DirTree::open(&tmp.path().join("b")).unwrap()),
            Tree::Dir(DirTree::open(&tmp.path().join("h")).unwrap()),
        );
        let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
        opts.dockerfiles = vec!["Dockerfile".into()];
        let rep = analyze(&repo, &opts).await.unwrap().dockerfiles.remove(0);
        let copy_step = rep.steps.iter().find(|s| s.line == 2).unwrap();
        fired.push((
            rep.findings.iter().any(|f| f.code == "CB002"),
            copy_step.status,
        ));
    }
    assert_eq!(
        fired,
        vec![(false, Status::Cached), (true, Status::Rebuilt)],
        "with --exclude: no CB002 and the .git edit is not copied; without: both"
    );
}
