//! Which step of a stage may have written a path: the one question behind `COPY --from` early
//! cutoff (`content.rs`) and behind the files a RUN tests for (`mod.rs`). COPY/ADD write under
//! their destination, WORKDIR makes its directory, FROM brings anything. A RUN runs a program,
//! and a program can write anywhere: a RUN is known *not* to write a path only when every
//! command it runs is one whose writes its words show (`echo … > /ver`, `mkdir -p /a`, `rm`,
//! `cp`, `chmod`, …); otherwise it is a possible writer of every path. A heuristic (the command
//! names the path or its directory, runs in a directory that holds it, installs into system
//! prefixes) tells the RUNs that most likely wrote it from the ones that only might have.

use super::sim::{Op, PLACEHOLDER_OPEN, Vertex};

/// Whether a step may write a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// It writes the path (or, for a RUN, its command says it does).
    Yes,
    /// A RUN whose command runs programs that may write anywhere, and does not name the path.
    Maybe,
    /// It cannot write the path.
    No,
}

/// Whether the step `v` may write `path` (absolute, in the stage file system).
pub fn step_writes(v: &Vertex, path: &str) -> Writes {
    let yes = |b: bool| if b { Writes::Yes } else { Writes::No };
    match &v.op {
        Op::Image { .. } => Writes::Yes,
        Op::Copy { dest, .. } => {
            let d = dest.trim_end_matches('/');
            let d = if d.is_empty() { "/" } else { d };
            yes(overlaps(d, path))
        }
        Op::Mkdir { path: p, .. } => yes(overlaps(p, path) && !path.starts_with(&format!("{p}/"))),
        Op::Exec { cwd, argv, .. } => {
            if !posix_shell(argv) {
                return if run_may_write(&v.detail.text, cwd, path) {
                    Writes::Yes
                } else {
                    Writes::Maybe
                };
            }
            match run_writes(&v.detail.text, cwd) {
                RunWrites::Only(paths) => yes(paths.iter().any(|p| overlaps(p, path))),
                RunWrites::Anywhere if run_may_write(&v.detail.text, cwd, path) => Writes::Yes,
                RunWrites::Anywhere => Writes::Maybe,
            }
        }
    }
}

/// A shell-form RUN run by a POSIX shell (`/bin/sh -c`, bash, ash, dash): its text is shell.
fn posix_shell(argv: &[String]) -> bool {
    let Some(first) = argv.first() else {
        return false;
    };
    let prog = first.rsplit('/').next().unwrap_or(first);
    matches!(prog, "sh" | "bash" | "ash" | "dash" | "zsh") && argv.get(1).is_some_and(|a| a == "-c")
}

/// Whether two absolute paths overlap: one is the other or lies under it. A path with a
/// variable that has no value here stands for anything under the directory before it.
pub fn overlaps(a: &str, b: &str) -> bool {
    let known = |p: &str| -> String {
        match p.find(PLACEHOLDER_OPEN) {
            None => p.to_string(),
            Some(i) => match p[..i].rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(j) => p[..j].to_string(),
            },
        }
    };
    if a.contains(PLACEHOLDER_OPEN) || b.contains(PLACEHOLDER_OPEN) {
        return overlaps(&known(a), &known(b));
    }
    a == "/"
        || b == "/"
        || a == b
        || b.starts_with(&format!("{a}/"))
        || a.starts_with(&format!("{b}/"))
}

/// What a RUN's shell command may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunWrites {
    /// Only these absolute paths and what lies under them: every command is one whose writes
    /// its words show.
    Only(Vec<String>),
    /// Anywhere: it runs a program whose writes the command does not show.
    Anywhere,
}

/// Commands that write nothing but the files their output is redirected to.
const READ_ONLY: &[&str] = &[
    ":",
    "[",
    "[[",
    "basename",
    "cat",
    "cd",
    "cmp",
    "command",
    "cut",
    "date",
    "df",
    "diff",
    "dirname",
    "du",
    "echo",
    "egrep",
    "exit",
    "export",
    "false",
    "fgrep",
    "file",
    "grep",
    "head",
    "id",
    "ls",
    "md5sum",
    "printenv",
    "printf",
    "pwd",
    "readlink",
    "realpath",
    "set",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "sleep",
    "stat",
    "tail",
    "test",
    "tr",
    "true",
    "type",
    "umask",
    "uname",
    "uniq",
    "wc",
    "which",
    "whoami",
];

/// Commands that write the paths they are given (and nothing else).
const WRITE_OPERANDS: &[&str] = &[
    "cp", "install", "ln", "mkdir", "mv", "rm", "rmdir", "tee", "touch", "truncate", "unlink",
];

/// What the shell command `text`, run in `cwd`, may write (see [`RunWrites`]).
pub fn run_writes(text: &str, cwd: &str) -> RunWrites {
    // `2>&1`, `>&2`: a duplicated descriptor writes no file
    let text = strip_fd_dups(text);
    if text.contains('`') {
        return RunWrites::Anywhere;
    }
    let Ok(cmds) = crate::engine::cost::simple_commands(&text) else {
        return RunWrites::Anywhere;
    };
    let mut cwd = (!cwd.contains(PLACEHOLDER_OPEN)).then(|| cwd.to_string());
    let mut out: Vec<String> = Vec::new();
    for c in &cmds {
        let words: Vec<&str> = c
            .iter()
            .map(String::as_str)
            .skip_while(|w| is_assignment(w))
            .collect();
        let rest = redirections(&words, cwd.as_deref(), &mut out);
        let Some(first) = rest.first() else { continue };
        let prog = first.rsplit('/').next().unwrap_or(first);
        if !command_writes(prog, &rest[1..], &mut cwd, &mut out) {
            return RunWrites::Anywhere;
        }
    }
    out.sort();
    out.dedup();
    RunWrites::Only(out)
}

/// The files a simple command's output redirections write (`> f`, `>> f`, `>f`, `2> f`),
/// pushed onto `out`; returns its other words, input redirections left out.
fn redirections<'a>(words: &[&'a str], cwd: Option<&str>, out: &mut Vec<String>) -> Vec<&'a str> {
    let mut rest: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let op = w.trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(target) = op.strip_prefix(">>").or_else(|| op.strip_prefix('>')) {
            let target = if target.is_empty() {
                i += 1;
                words.get(i).copied().unwrap_or("")
            } else {
                target
            };
            if !matches!(target, "/dev/null" | "/dev/stdout" | "/dev/stderr") {
                out.push(operand_path(target, cwd));
            }
        } else if op.starts_with('<') {
            // input redirection: `< f`, `<<EOF`
            if op == "<" || op == "<<" || op == "<<<" {
                i += 1;
            }
        } else {
            rest.push(w);
        }
        i += 1;
    }
    rest
}

/// What the command `prog` with `args` writes, pushed onto `out` (a `cd` moves `cwd`); `false`
/// when it may write anywhere.
fn command_writes(
    prog: &str,
    args: &[&str],
    cwd: &mut Option<String>,
    out: &mut Vec<String>,
) -> bool {
    let operands = || args.iter().filter(|a| !a.starts_with('-'));
    match prog {
        "cd" => {
            *cwd = match (args.first(), cwd.as_deref()) {
                (None, _) => None,
                (Some(d), _) if d.starts_with('/') && literal(d) => Some(clean(d)),
                (Some(d), Some(c)) if literal(d) && !d.starts_with('-') => {
                    Some(clean(&format!("{c}/{d}")))
                }
                _ => None,
            };
        }
        "command" if args.first() != Some(&"-v") => return false,
        "sed" => {
            if args
                .iter()
                .any(|a| a.starts_with("-i") || *a == "--in-place")
            {
                // `sed -i EXPR FILE…`: the script is the first operand
                let ops: Vec<&&str> = operands().collect();
                let files = if args.iter().any(|a| *a == "-e" || *a == "-f") {
                    &ops[..]
                } else {
                    ops.get(1..).unwrap_or(&[])
                };
                out.extend(files.iter().map(|f| operand_path(f, cwd.as_deref())));
            }
        }
        "find" => {
            if args.iter().any(|a| {
                matches!(
                    *a,
                    "-delete"
                        | "-exec"
                        | "-execdir"
                        | "-ok"
                        | "-okdir"
                        | "-fprint"
                        | "-fprintf"
                        | "-fls"
                )
            }) {
                return false;
            }
        }
        "sort" if args.iter().any(|a| a.starts_with("-o")) => return false,
        "adduser" | "useradd" | "addgroup" | "groupadd" | "usermod" | "deluser" | "userdel" => {
            out.extend(["/etc".to_string(), "/home".to_string()]);
        }
        p if READ_ONLY.contains(&p) => {}
        // the first operand of chmod/chown/chgrp is a mode or an owner
        "chmod" | "chown" | "chgrp" => {
            out.extend(operands().skip(1).map(|a| operand_path(a, cwd.as_deref())));
        }
        p if WRITE_OPERANDS.contains(&p) => {
            out.extend(operands().map(|a| operand_path(a, cwd.as_deref())));
        }
        _ => return false,
    }
    true
}

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn literal(w: &str) -> bool {
    !w.contains(['$', '*', '?', '[', '~', '{'])
}

/// The absolute path an operand names; for one with variables or wildcards, the directory
/// before the first of them (`/` when that is unknown).
fn operand_path(w: &str, cwd: Option<&str>) -> String {
    let lit = match w.find(['$', '*', '?', '[', '~', '{']) {
        None => w,
        Some(i) => match w[..i].rfind('/') {
            Some(j) => &w[..j],
            None if w.starts_with('/') => "/",
            None => "",
        },
    };
    if lit.starts_with('/') {
        return clean(lit);
    }
    if w.starts_with('~') || w.starts_with('$') {
        return "/".into();
    }
    match cwd {
        Some(c) => clean(&format!("{c}/{lit}")),
        None => "/".into(),
    }
}

fn clean(p: &str) -> String {
    crate::engine::ignore::go_clean(&format!("/{}", p.trim_start_matches('/')))
}

/// `text` without descriptor duplications (`2>&1`, `>&2`, `1>&-`).
fn strip_fd_dups(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'>' && b.get(i + 1) == Some(&b'&') {
            let d = b.get(i + 2).copied();
            if d.is_some_and(|d| d.is_ascii_digit() || d == b'-') {
                // drop the descriptor before `>` too
                while out.ends_with(|c: char| c.is_ascii_digit()) {
                    out.pop();
                }
                i += 3;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Heuristic: a RUN writes `path` if it names the path or its parent directory, or runs in a
/// known working directory that contains the path. Documented in docs/how-it-works.md.
pub fn run_may_write(text: &str, cwd: &str, path: &str) -> bool {
    if path == "/" {
        return true;
    }
    if text.contains(path) {
        return true;
    }
    if let Some(i) = path.rfind('/') {
        let parent = &path[..i];
        if !parent.is_empty()
            && parent.matches('/').count() >= 1
            && text.contains(parent)
            && parent != "/usr"
            && parent != "/usr/local"
        {
            return true;
        }
    }
    let known_cwd = !cwd.contains(PLACEHOLDER_OPEN);
    if known_cwd {
        let c = cwd.trim_end_matches('/');
        if !c.is_empty() && (path == c || path.starts_with(&format!("{c}/"))) {
            return true;
        }
    }
    installs_into(text, path)
}

/// Whether a RUN installs into system directories that contain or lie in `path`: `make
/// install` and its kin, `pip install`, global npm installs, `go install`, `cargo install`
/// write under `/usr/local` (and `/go`, `/root`); system package managers under `/usr`, `/etc`,
/// `/var`, `/opt`.
fn installs_into(text: &str, path: &str) -> bool {
    let Ok(cmds) = crate::engine::cost::simple_commands(text) else {
        return false;
    };
    let mut prefixes: Vec<&str> = Vec::new();
    for c in &cmds {
        let words: Vec<&str> = c
            .iter()
            .map(String::as_str)
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect();
        let Some(first) = words.first() else { continue };
        let prog = first.rsplit('/').next().unwrap_or(first);
        let has = |x: &str| words.contains(&x);
        let local = match prog {
            "make" | "ninja" | "gmake" => has("install"),
            "cmake" => has("--install") || has("install"),
            "meson" => has("install"),
            "install" => true,
            "pip" | "pip3" => has("install") && !has("--target") && !has("-t"),
            "python" | "python3" => has("pip") && has("install"),
            "npm" | "yarn" | "pnpm" => has("-g") || has("--global") || has("global"),
            "go" => has("install"),
            "cargo" => has("install"),
            "gem" => has("install"),
            _ => false,
        };
        if local {
            prefixes.extend(["/usr/local", "/go/bin", "/root/go/bin", "/root/.local"]);
        }
        let system = match prog {
            "apt-get" | "apt" | "dnf" | "yum" | "microdnf" => has("install"),
            "apk" => has("add"),
            "dpkg" => has("-i"),
            _ => false,
        };
        if system {
            prefixes.extend(["/usr", "/etc", "/var", "/opt", "/lib", "/bin", "/sbin"]);
        }
    }
    prefixes.iter().any(|p| overlaps(p, path))
}

/// Whether the RUN's only effect on the file `path` is an empty marker: every simple command
/// naming the file is `touch` (or `: >` is not used), and one of them names it exactly (by its
/// absolute path, or by its name from the working directory). An empty file with the same mode
/// and owner has the same content checksum each time, so a `COPY --from` of it stays cached
/// however often the RUN re-runs (measured on both engines).
pub fn touches_marker_only(text: &str, cwd: &str, path: &str) -> bool {
    let Ok(cmds) = crate::engine::cost::simple_commands(text) else {
        return false;
    };
    let Some((parent, name)) = path.rsplit_once('/') else {
        return false;
    };
    if name.is_empty() || path.ends_with('/') {
        return false;
    }
    let parent = if parent.is_empty() { "/" } else { parent };
    let in_parent = cwd.trim_end_matches('/') == parent.trim_end_matches('/')
        && !cwd.contains(PLACEHOLDER_OPEN);
    let mut named = false;
    for c in &cmds {
        let mentions = c.iter().any(|w| w.contains(name) || w.contains(path));
        if !mentions {
            // a change of directory makes relative names unreliable
            if c.first().is_some_and(|w| w == "cd" || w == "pushd") {
                return false;
            }
            continue;
        }
        if c.first().map(String::as_str) != Some("touch") {
            return false;
        }
        for w in &c[1..] {
            if w.starts_with('-') {
                return false;
            }
            if w == path || (w == name && in_parent) {
                named = true;
            }
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_write_heuristic() {
        assert!(run_may_write(
            "go build -o /out/app ./cmd",
            "/src",
            "/out/app"
        ));
        assert!(run_may_write("npm run build", "/app", "/app/dist"));
        assert!(!run_may_write("echo hi > /other", "/", "/static"));
        assert!(!run_may_write(
            "apk add curl",
            "\u{E000}image workdir\u{E001}",
            "/static"
        ));
        // installs write into the system prefixes (issue 14: `make install` into /usr/local)
        assert!(run_may_write("make && make install", "/src", "/usr/local"));
        assert!(run_may_write(
            "pip install -r r.txt",
            "/app",
            "/usr/local/lib"
        ));
        assert!(!run_may_write("make", "/src", "/usr/local"));
        assert!(run_may_write("apt-get install -y curl", "/", "/usr/bin"));
    }

    fn only(v: &[&str]) -> RunWrites {
        RunWrites::Only(v.iter().map(|s| s.to_string()).collect())
    }

    /// What a RUN may write: commands whose writes their words show, and everything else.
    #[test]
    fn run_writes_table() {
        let rows: &[(&str, &str, RunWrites)] = &[
            ("echo $V > /ver", "/", only(&["/ver"])),
            ("echo a >> out.txt 2>&1", "/app", only(&["/app/out.txt"])),
            ("echo a >/x 2>/dev/null", "/", only(&["/x"])),
            (
                "mkdir -p /a/b && touch /a/b/c",
                "/",
                only(&["/a/b", "/a/b/c"]),
            ),
            ("cd /src && rm -rf build", "/", only(&["/src/build"])),
            ("cd sub && touch f", "/app", only(&["/app/sub/f"])),
            ("chown 1000 /f", "/", only(&["/f"])),
            (
                "chmod -R 755 /app/bin && chown app:app /data",
                "/",
                only(&["/app/bin", "/data"]),
            ),
            ("rm -rf /tmp/*", "/", only(&["/tmp"])),
            ("rm -rf $HOME/.cache", "/", only(&["/"])),
            ("sed -i 's/a/b/' /etc/conf", "/", only(&["/etc/conf"])),
            (
                "sed 's/a/b/' /etc/conf > /tmp/conf",
                "/",
                only(&["/tmp/conf"]),
            ),
            ("adduser -D app", "/", only(&["/etc", "/home"])),
            ("ls /data && cat /a | grep x | wc -l", "/", only(&[])),
            ("touch f", "\u{E000}image workdir\u{E001}", only(&["/"])),
            ("echo x > $OUT/f", "/", only(&["/"])),
            // programs that run code: anywhere
            ("npm run build", "/app/frontend", RunWrites::Anywhere),
            ("sh build.sh", "/", RunWrites::Anywhere),
            ("./build.sh", "/", RunWrites::Anywhere),
            ("make", "/src", RunWrites::Anywhere),
            ("go test ./... && touch /ok", "/src", RunWrites::Anywhere),
            ("echo `make` > /x", "/", RunWrites::Anywhere),
            ("find / -name x -delete", "/", RunWrites::Anywhere),
            ("ls | xargs rm", "/", RunWrites::Anywhere),
            ("echo 'unbalanced", "/", RunWrites::Anywhere),
        ];
        for (text, cwd, want) in rows {
            assert_eq!(&run_writes(text, cwd), want, "{text} in {cwd}");
        }
    }

    #[test]
    fn overlaps_with_unknown_parts() {
        let v = |n: &str| format!("/{}{n}{}/app", '\u{E000}', '\u{E001}');
        assert!(overlaps(&v("OUT"), "/version"));
        assert!(overlaps("/srv/\u{E000}X\u{E001}", "/srv/a"));
        assert!(!overlaps("/srv/\u{E000}X\u{E001}", "/opt/a"));
        assert!(!overlaps("/app/backend/static", "/app/frontend"));
        assert!(overlaps("/app", "/app/frontend"));
    }

    #[test]
    fn empty_markers() {
        assert!(touches_marker_only(
            "go test ./... && touch /tmp/tests-passed",
            "/src",
            "/tmp/tests-passed"
        ));
        assert!(touches_marker_only(
            "make check && touch ok",
            "/tmp",
            "/tmp/ok"
        ));
        assert!(!touches_marker_only(
            "make check && touch ok",
            "/src",
            "/tmp/ok"
        ));
        assert!(!touches_marker_only(
            "echo done > /tmp/tests-passed",
            "/",
            "/tmp/tests-passed"
        ));
        assert!(!touches_marker_only(
            "touch /tmp/tests-passed && date >> /tmp/tests-passed",
            "/",
            "/tmp/tests-passed"
        ));
        assert!(!touches_marker_only("touch /tmp/x", "/", "/tmp/"));
    }
}
