//! Builds set up by scripts: `docker build`, `docker buildx build`, `docker image build` and
//! `podman build` commands in shell scripts (`*.sh`, `*.bash`), Makefiles (`Makefile`,
//! `GNUmakefile`, `Makefile.*`, `*.mk`) and the `run:` blocks of GitHub workflows, read as
//! declarations where their common literal forms say everything: `-f FILE`, `--build-arg K=V`,
//! `--target T`, `--build-context NAME=PATH` and the context, with a Makefile's own variables
//! (`NAME = value`, `:=`, `?=`, `+=`, `$(CURDIR)`) and a script's single literal assignments
//! (`NAME=value`) substituted. A recipe line runs in its Makefile's directory; a script runs
//! from the repository root when it lies there or `cd`s to its own directory
//! (`cd "$(dirname "$0")"`), else from where it is called, which is not known.
//!
//! A command that clearly builds but whose context or Dockerfile is known only when it runs
//! (a variable, a loop, an array of arguments, a directory it is called from) is not read as a
//! build: it is said, once per file, with its lines. A build arg whose value is known only when
//! it runs is kept as its text (an unchanged text reads as an unchanged value) and said.

use std::collections::BTreeMap;

use crate::engine::decl::{Problem, inside};
use crate::engine::tree::join_clean;

/// Size limit for one script read as build evidence, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;

/// One build a script runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptBuild {
    pub file: String,
    pub line: u32,
    pub context: String,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub contexts: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Found {
    pub builds: Vec<ScriptBuild>,
    pub problems: Vec<Problem>,
}

/// Shell scripts and Makefiles read for `docker build` commands.
pub fn is_script_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".sh")
        || name.ends_with(".bash")
        || name.ends_with(".mk")
        || is_makefile_name(name)
}

fn is_makefile_name(name: &str) -> bool {
    matches!(name, "Makefile" | "makefile" | "GNUmakefile") || name.starts_with("Makefile.")
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|x| x.0).unwrap_or("")
}

/// Lines joined at a trailing backslash: (first line number, text).
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut cur: Option<(u32, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let (n, mut acc) = cur.take().unwrap_or((i as u32 + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(rest) => {
                acc.push_str(rest);
                acc.push(' ');
                cur = Some((n, acc));
            }
            None => {
                acc.push_str(line);
                out.push((n, acc));
            }
        }
    }
    if let Some(c) = cur {
        out.push(c);
    }
    out
}

/// Where the commands of a file run, relative to the repository root (`None`: not known).
fn script_cwd(path: &str, text: &str) -> Option<String> {
    let dir = dir_of(path);
    let name = path.rsplit('/').next().unwrap_or(path);
    if is_makefile_name(name) || dir.is_empty() {
        return Some(dir.to_string());
    }
    let to_own_dir = text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("cd ")
            && t.contains("dirname")
            && (t.contains("$0") || t.contains("BASH_SOURCE"))
            && !t.contains("..")
    });
    to_own_dir.then(|| dir.to_string())
}

/// Makefile variables with literal definitions (`$(CURDIR)` is the Makefile's directory, here
/// the context-relative `.` of where make runs).
fn make_vars(text: &str) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (_, l) in logical_lines(text) {
        if l.starts_with('\t') || l.trim_start().starts_with('#') {
            continue;
        }
        let t = l
            .trim_start()
            .trim_start_matches("export ")
            .trim_start_matches("override ");
        let Some(eq) = t.find('=') else { continue };
        let (lhs, value) = (&t[..eq], t[eq + 1..].trim());
        let (name, op) = match lhs.trim_end().char_indices().last() {
            Some((i, c @ (':' | '?' | '+'))) => (lhs[..i].trim_end_matches(':').trim(), c),
            _ => (lhs.trim(), '='),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        match op {
            '?' => {
                vars.entry(name.to_string())
                    .or_insert_with(|| value.to_string());
            }
            '+' => {
                let v = vars.entry(name.to_string()).or_default();
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(value);
            }
            _ => {
                vars.insert(name.to_string(), value.to_string());
            }
        }
    }
    vars.entry("CURDIR".into()).or_insert_with(|| ".".into());
    vars
}

/// Shell variables assigned exactly once, to a literal without expansions (`NAME=value`).
fn shell_vars(text: &str) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (_, l) in logical_lines(text) {
        let t = l
            .trim_start()
            .trim_start_matches("export ")
            .trim_start_matches("readonly ");
        let Some(eq) = t.find('=') else { continue };
        let name = &t[..eq];
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        let value = t[eq + 1..].trim();
        let e = seen.entry(name.to_string()).or_insert((0, String::new()));
        e.0 += 1;
        e.1 = unquote(value);
    }
    seen.into_iter()
        .filter(|(_, (n, v))| *n == 1 && (is_literal(v) || is_flag_list(v)))
        .map(|(k, (_, v))| (k, v))
        .collect()
}

fn is_literal(v: &str) -> bool {
    !v.contains(['$', '`', '(', ')', ' ', '*', '?', '[', '{', ';', '&', '|'])
}

/// A variable that holds flags other than the Dockerfile (`TAGS="-t $A -t $B"`), substituted
/// unquoted as the shell splits it: its words are flags, not the context.
fn is_flag_list(v: &str) -> bool {
    v.starts_with('-')
        && !v.contains(['`', '(', ';', '&', '|', '<', '>'])
        && !v.split_whitespace().any(|w| {
            w == "-f" || w.starts_with("--file") || (w.starts_with("-f") && !w.starts_with("--"))
        })
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `$(NAME)` / `${NAME}` of the Makefile replaced (bounded), `$$` → `$`.
fn expand_make(s: &str, vars: &BTreeMap<String, String>, depth: usize) -> String {
    if depth > 8 || !s.contains('$') {
        return s.replace("$$", "$");
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if b[i] == b'$' && i + 1 < s.len() {
            let c = b[i + 1];
            if c == b'$' {
                // a shell `$` in a recipe: kept for the shell
                out.push_str("$$");
                i += 2;
                continue;
            }
            if c == b'(' || c == b'{' {
                let close = if c == b'(' { ')' } else { '}' };
                if let Some(j) = s[i + 2..].find(close) {
                    let name = &s[i + 2..i + 2 + j];
                    if let Some(v) = vars.get(name) {
                        out.push_str(&expand_make(v, vars, depth + 1));
                        i += 3 + j;
                        continue;
                    }
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    if depth == 0 {
        out.replace("$$", "$")
    } else {
        out
    }
}

/// `$NAME` / `${NAME}` of a script's literal variables replaced.
fn expand_shell(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, used) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(j) => (&inner[..j], j + 2),
                None => ("", 0),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        match vars.get(name) {
            Some(v) if !name.is_empty() => {
                out.push_str(v);
                rest = &after[used..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Shell words of one command line (quotes removed; an unquoted `$…` kept as text), split at
/// `&&`, `||`, `;` and `|` outside quotes.
fn commands(line: &str) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<Vec<String>>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            if let Some(last) = out.last_mut() {
                last.push(std::mem::take(word));
            }
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            // `$(…)` and `${…}` stay one piece of the word, parentheses and all
            '$' if matches!(chars.peek(), Some('(' | '{')) => {
                in_word = true;
                word.push(c);
                push_substitution(&mut chars, &mut word);
            }
            '`' => {
                in_word = true;
                word.push(c);
                for d in chars.by_ref() {
                    word.push(d);
                    if d == '`' {
                        break;
                    }
                }
            }
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                push_double_quoted(&mut chars, &mut word);
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    word.push(e);
                    in_word = true;
                }
            }
            '#' if !in_word => break,
            ' ' | '\t' => flush(&mut out, &mut word, &mut in_word),
            ';' | '&' | '|' | '(' | ')' => {
                flush(&mut out, &mut word, &mut in_word);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                out.push(Vec::new());
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut out, &mut word, &mut in_word);
    out.retain(|c| !c.is_empty());
    out
}

/// The rest of a `$(…)` or `${…}` after its `$`, brackets and all, pushed onto `word` up to the
/// bracket that closes the first one (or the end of the line).
fn push_substitution(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String) {
    let mut depth = 0usize;
    for d in chars.by_ref() {
        word.push(d);
        match d {
            '(' | '{' => depth += 1,
            ')' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
}

/// The rest of a double-quoted string after its opening quote, pushed onto `word` without the
/// closing quote, a backslash keeping the character after it.
fn push_double_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String) {
    while let Some(d) = chars.next() {
        match d {
            '"' => break,
            '\\' => {
                if let Some(e) = chars.next() {
                    word.push(e);
                }
            }
            _ => word.push(d),
        }
    }
}

/// Flags of `docker build` that take a value (the ones that decide the build are read).
const VALUE_FLAGS: &[&str] = &[
    "-t",
    "--tag",
    "--platform",
    "--network",
    "-o",
    "--output",
    "--cache-from",
    "--cache-to",
    "--label",
    "--secret",
    "--ssh",
    "--progress",
    "--builder",
    "--iidfile",
    "--metadata-file",
    "--provenance",
    "--sbom",
    "--annotation",
    "--attest",
    "--add-host",
    "--shm-size",
    "--ulimit",
    "--cgroup-parent",
    "-m",
    "--memory",
    "--memory-swap",
    "--cpu-shares",
    "--cpuset-cpus",
    "--cpuset-mems",
    "--cpu-period",
    "--cpu-quota",
    "--isolation",
    "--security-opt",
    "--allow",
    "--call",
    "--policy",
    "--pull",
    "--format",
    "--jobs",
    "--no-cache-filter",
];

/// Where the build command starts in a command's words: after `docker [buildx|image] build`
/// (global flags such as `--builder X` skipped), `podman build` or `buildah bud`.
fn build_args_start(words: &[String]) -> Option<usize> {
    let mut i = 0;
    // leading assignments and wrappers
    while i < words.len()
        && (words[i].contains('=') && !words[i].starts_with('-')
            || matches!(
                words[i].as_str(),
                "sudo" | "time" | "exec" | "command" | "then" | "do" | "!" | "$DRY" | "${DRY}"
            ))
    {
        i += 1;
    }
    // a recipe line's `@`, `-` and `+` prefixes
    let tool = words
        .get(i)?
        .trim_start_matches(['@', '-', '+'])
        .to_ascii_lowercase();
    let is_docker = tool == "docker"
        || tool.ends_with("/docker")
        || tool == "podman"
        || tool == "buildah"
        || (tool.starts_with('$') && tool.contains("docker") && !tool.contains("build"));
    if !is_docker {
        return None;
    }
    i += 1;
    while i < words.len() {
        match words[i].as_str() {
            "buildx" | "image" => i += 1,
            "build" | "b" | "bud" => return Some(i + 1),
            "--builder" | "--context" | "-c" | "-H" | "--host" | "--config" | "--log-level" => {
                i += 2
            }
            w if w.starts_with('-') => i += 1,
            _ => return None,
        }
    }
    None
}

/// A build command's words as read: `Ok` with the raw (unexpanded-remains-as-text) values, or
/// `Err(what)` naming the part known only when it runs.
struct Parsed {
    file: Option<String>,
    context: Option<String>,
    target: Option<String>,
    args: Vec<(String, String)>,
    contexts: Vec<(String, String)>,
}

fn parse_build(words: &[String]) -> Parsed {
    let mut p = Parsed {
        file: None,
        context: None,
        target: None,
        args: Vec::new(),
        contexts: Vec::new(),
    };
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if w.starts_with("--") => (f, Some(v.to_string())),
            _ => (w.as_str(), None),
        };
        let mut value = || -> Option<String> {
            if let Some(v) = &inline {
                return Some(v.clone());
            }
            i += 1;
            words.get(i).cloned()
        };
        match flag {
            "-f" | "--file" => p.file = value(),
            "--target" => p.target = value(),
            "--build-arg" => {
                if let Some(v) = value() {
                    let (k, v) = match v.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (v.clone(), String::new()),
                    };
                    p.args.push((k, v));
                }
            }
            "--build-context" => {
                if let Some((k, v)) = value().as_deref().and_then(|v| v.split_once('=')) {
                    p.contexts.push((k.to_string(), v.to_string()));
                }
            }
            // the context from stdin
            "-" => {
                if p.context.is_none() {
                    p.context = Some(w.clone());
                }
            }
            f if VALUE_FLAGS.contains(&f) => {
                if inline.is_none() && (f != "--pull" || next_is_value(words, i)) {
                    i += 1;
                }
            }
            f if f.starts_with('-') => {
                // `-fDockerfile`, `-tname`: a short flag with its value attached
                if let Some(v) = f
                    .strip_prefix("-f")
                    .filter(|v| !v.is_empty() && !f.starts_with("--"))
                {
                    p.file = Some(v.to_string());
                }
            }
            // a redirection and its file
            r if r.starts_with(['<', '>']) || r.starts_with("2>") || r.starts_with("&>") => {
                if matches!(r, "<" | ">" | ">>" | "2>" | "2>>" | "&>") {
                    i += 1;
                }
            }
            // the context: docker takes one; a second word is not a context
            _ => {
                if p.context.is_none() {
                    p.context = Some(w.clone());
                }
            }
        }
        i += 1;
    }
    p
}

/// `--pull` takes a value only in `--pull=…` form for docker; podman's `--pull always` does.
fn next_is_value(words: &[String], i: usize) -> bool {
    words.get(i + 1).is_some_and(|w| {
        matches!(
            w.as_str(),
            "always" | "missing" | "never" | "newer" | "true" | "false"
        )
    })
}

fn unknown(s: &str) -> bool {
    s.contains('$') || s.contains('`') || s.is_empty()
}

/// The files a Makefile's `include`, `-include` and `sinclude` lines name, as written.
pub fn include_words(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|t| {
            t.starts_with("include ") || t.starts_with("-include ") || t.starts_with("sinclude ")
        })
        .flat_map(|t| t.split_whitespace().skip(1).map(str::to_string))
        .collect()
}

/// Whether a Makefile whose include lines name `words` includes the makefile at `path`
/// (relative to the Makefile's directory, or through a variable ending in that path).
pub fn includes(makefile: &str, words: &[String], path: &str) -> bool {
    let dir = dir_of(makefile);
    let rel = if dir.is_empty() {
        Some(path)
    } else {
        path.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
    };
    let Some(rel) = rel else { return false };
    words
        .iter()
        .any(|w| w == rel || w.trim_start_matches("./") == rel || w.ends_with(&format!("/{rel}")))
}

/// Whether other Makefiles may include this one (`*.mk`, `Makefile.*`).
pub fn is_included_kind(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".mk") || name.starts_with("Makefile.")
}

/// How a makefile is run, when another Makefile says so.
#[derive(Debug, Clone, Copy)]
pub enum Runner<'a> {
    /// Nothing says: a Makefile runs in its own directory, a `.mk` where it is included.
    Own,
    /// Included by the Makefile at this path with this text: its directory and variables.
    IncludedBy(&'a str, &'a str),
    /// Run with `make -f` by a Makefile in this (root-relative) directory.
    RunFrom(&'a str),
}

/// The makefiles a Makefile runs with `make -f FILE` (`$(MAKE) -f`, no `-C`), root-relative.
pub fn make_f_targets(makefile: &str, text: &str) -> Vec<String> {
    let vars = make_vars(text);
    let dir = dir_of(makefile);
    let mut out = Vec::new();
    for (_, l) in logical_lines(text) {
        if !l.starts_with('\t') || !l.contains("-f") {
            continue;
        }
        for words in commands(&expand_make(&l, &vars, 0)) {
            let tool = words
                .first()
                .map(|w| w.trim_start_matches(['@', '-', '+']))
                .unwrap_or_default();
            if !matches!(tool, "make" | "gmake" | "$(MAKE)" | "${MAKE}")
                || words.iter().any(|w| w == "-C")
            {
                continue;
            }
            if let Some(i) = words.iter().position(|w| w == "-f") {
                if let Some(f) = words.get(i + 1).filter(|f| !unknown(f)) {
                    if let Some(p) = inside(dir, f) {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// Read the build commands of one file (`runner`: how another Makefile runs it, if one does).
pub fn read(path: &str, text: &str, runner: Runner<'_>) -> Found {
    let mut found = Found::default();
    if text.len() > MAX_SCRIPT_BYTES {
        return found;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let make = is_makefile_name(name) || name.ends_with(".mk");
    let (vars, cwd) = match runner {
        Runner::IncludedBy(ipath, itext) if make => {
            let mut v = make_vars(itext);
            for (k, x) in make_vars(text) {
                // `?=` in the included file keeps the includer's value
                let keeps = k == "CURDIR"
                    || text.lines().any(|l| {
                        let t = l.trim_start();
                        t.strip_prefix(k.as_str())
                            .is_some_and(|r| r.trim_start().starts_with("?="))
                    });
                if !(keeps && v.contains_key(&k)) {
                    v.insert(k, x);
                }
            }
            (v, Some(dir_of(ipath).to_string()))
        }
        Runner::RunFrom(dir) if make => (make_vars(text), Some(dir.to_string())),
        // a `.mk` nothing includes runs from wherever it is included or called
        _ if name.ends_with(".mk") => (make_vars(text), None),
        _ => (
            if make {
                make_vars(text)
            } else {
                shell_vars(text)
            },
            script_cwd(path, text),
        ),
    };
    let lines: Vec<(u32, String)> = logical_lines(text)
        .into_iter()
        .filter(|(_, l)| !make || l.starts_with('\t'))
        .collect();
    read_commands(path, &lines, cwd.as_deref(), &vars, make, &mut found);
    found
}

/// The build commands of a workflow's `run:` blocks: (line of the block's first command, its
/// text, the root-relative directory it runs in when known).
pub fn read_run_blocks(path: &str, blocks: &[(u32, String, Option<String>)]) -> Found {
    let mut found = Found::default();
    for (line, text, dir) in blocks {
        let vars = shell_vars(text);
        // the block's first non-empty line is at `line`
        let skip = text.lines().take_while(|l| l.trim().is_empty()).count() as u32;
        let lines: Vec<(u32, String)> = logical_lines(text)
            .into_iter()
            .map(|(n, l)| ((line + n).saturating_sub(1 + skip), l))
            .collect();
        read_commands(path, &lines, dir.as_deref(), &vars, false, &mut found);
    }
    found
}

/// Read the build commands of `lines` (logical lines with their numbers) into `found`: each
/// build of this tree, what is said about builds known only when they run, and build args whose
/// values are.
fn read_commands(
    path: &str,
    lines: &[(u32, String)],
    cwd: Option<&str>,
    vars: &BTreeMap<String, String>,
    make: bool,
    found: &mut Found,
) {
    let mut unread: Vec<(u32, String)> = Vec::new();
    let mut unknown_args: Vec<(u32, String)> = Vec::new();
    for (n, raw) in lines {
        let expanded = if make {
            expand_make(raw, vars, 0)
        } else {
            expand_shell(raw, vars)
        };
        if !(expanded.contains("build") || expanded.contains(" bud")) {
            continue;
        }
        // `cd DIR &&` before the build, on the same line
        let mut here: Option<String> = cwd.map(str::to_string);
        for words in commands(&expanded) {
            if words.first().map(String::as_str) == Some("cd") {
                here = match (here, words.get(1)) {
                    (Some(h), Some(d)) if !unknown(d) => Some(join_clean(&h, d)),
                    _ => None,
                };
                continue;
            }
            let Some(start) = build_args_start(&words) else {
                continue;
            };
            let p = parse_build(&words[start..]);
            let ctx_raw = p.context.clone().unwrap_or_default();
            if ctx_raw == "-" || ctx_raw.contains("://") || ctx_raw.starts_with("git@") {
                // stdin or a remote context: nothing of this tree is the context
                continue;
            }
            if let Some(w) = known_only_when_run(&p, &ctx_raw, here.is_none()) {
                unread.push((*n, w));
                continue;
            }
            let dir = here.clone().unwrap_or_default();
            match script_build(path, *n, &dir, &ctx_raw, &p, &mut unknown_args) {
                Ok(build) => found.builds.push(build),
                Err(problem) => found.problems.push(problem),
            }
        }
    }
    if !unread.is_empty() {
        found.problems.push(unread_problem(path, &unread));
    }
    for (n, a) in unknown_args {
        found.problems.push(warning(
            path,
            n,
            format!(
                "build arg {a} is known only when the script runs; taken as unchanged while its text is"
            ),
        ));
    }
}

/// A warning about `path` at line `line`.
fn warning(path: &str, line: u32, message: String) -> Problem {
    Problem {
        file: path.to_string(),
        line: Some(line),
        error: false,
        message,
    }
}

/// What of a local build is known only when it runs (its context, its Dockerfile or the
/// directory it runs in), if anything.
fn known_only_when_run(p: &Parsed, ctx_raw: &str, cwd_unknown: bool) -> Option<String> {
    if unknown(ctx_raw) {
        Some(if ctx_raw.is_empty() {
            "no context it names".to_string()
        } else {
            format!("context {ctx_raw}")
        })
    } else if p.file.as_deref().is_some_and(unknown) {
        Some(format!("Dockerfile {}", p.file.clone().unwrap_or_default()))
    } else if cwd_unknown {
        Some("the directory it is run from".to_string())
    } else {
        None
    }
}

/// The build a command at line `n` run in `dir` declares, or the warning that its context or
/// Dockerfile lies outside the repository. Build args known only when it runs are added to
/// `unknown_args`.
fn script_build(
    path: &str,
    n: u32,
    dir: &str,
    ctx_raw: &str,
    p: &Parsed,
    unknown_args: &mut Vec<(u32, String)>,
) -> Result<ScriptBuild, Problem> {
    let (Some(context), dockerfile) = (
        inside(dir, ctx_raw),
        match &p.file {
            Some(f) => inside(dir, f),
            None => inside(dir, &join_clean(ctx_raw, "Dockerfile")),
        },
    ) else {
        // another checkout, a temporary directory: not a build of this tree
        return Err(warning(
            path,
            n,
            format!("the build's context {ctx_raw} is outside the repository; not read as a build"),
        ));
    };
    let Some(dockerfile) = dockerfile else {
        return Err(warning(
            path,
            n,
            "the build's Dockerfile is outside the repository; not read as a build".into(),
        ));
    };
    let mut args = BTreeMap::new();
    for (k, v) in &p.args {
        if unknown(v) && !v.is_empty() {
            unknown_args.push((n, format!("{k}={v}")));
        }
        args.insert(k.clone(), v.clone());
    }
    Ok(ScriptBuild {
        file: path.to_string(),
        line: n,
        context,
        dockerfile,
        args,
        target: p.target.clone().filter(|t| !unknown(t)),
        contexts: build_contexts(dir, &p.contexts),
    })
}

/// `--build-context` values: local paths resolved against `dir` (kept as written when outside
/// the repository); URLs, `docker-image:` and values known only when run kept as written.
fn build_contexts(dir: &str, contexts: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in contexts {
        let local = !(v.contains("://") || v.starts_with("docker-image:") || unknown(v));
        let v = if local {
            inside(dir, v).unwrap_or_else(|| v.clone())
        } else {
            v.clone()
        };
        out.insert(k.clone(), v);
    }
    out
}

/// The one warning about a file's builds known only when they run, with their lines; `unread`
/// is not empty.
fn unread_problem(path: &str, unread: &[(u32, String)]) -> Problem {
    let mut lines: Vec<String> = unread.iter().map(|(n, _)| n.to_string()).collect();
    lines.dedup();
    let at = if lines.len() == 1 { "line" } else { "lines" };
    warning(
        path,
        unread[0].0,
        format!(
            "{} docker build command{} ({at} {}) build{} with {} known only when {} run{}; not read as {}",
            unread.len(),
            if unread.len() == 1 { "" } else { "s" },
            lines.join(", "),
            if unread.len() == 1 { "s" } else { "" },
            unread[0].1,
            if unread.len() == 1 { "it" } else { "they" },
            if unread.len() == 1 { "s" } else { "" },
            if unread.len() == 1 {
                "a build"
            } else {
                "builds"
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(path: &str, text: &str) -> Found {
        read(path, text, Runner::Own)
    }

    #[test]
    fn literal_forms_are_builds() {
        let f = one(
            "build.sh",
            "#!/bin/sh\nset -e\nBASE=alpine:3.20\ndocker build -f docker/app.Dockerfile \\\n  --build-arg BASE=$BASE --build-arg VERSION=\"$(git describe)\" \\\n  --target runtime -t app:dev .\ndocker buildx build --build-context shared=./libs web\nDOCKER_BUILDKIT=1 docker image build -t x ./svc -f ./svc/Dockerfile.prod\necho docker build is great\n",
        );
        assert_eq!(f.builds.len(), 3, "{:?}", f);
        let a = &f.builds[0];
        assert_eq!(a.line, 4);
        assert_eq!(
            (a.context.as_str(), a.dockerfile.as_str()),
            ("", "docker/app.Dockerfile")
        );
        assert_eq!(a.args["BASE"], "alpine:3.20");
        assert_eq!(a.args["VERSION"], "$(git describe)");
        assert_eq!(a.target.as_deref(), Some("runtime"));
        let b = &f.builds[1];
        assert_eq!(
            (b.context.as_str(), b.dockerfile.as_str()),
            ("web", "web/Dockerfile")
        );
        assert_eq!(b.contexts["shared"], "libs");
        let c = &f.builds[2];
        assert_eq!(
            (c.context.as_str(), c.dockerfile.as_str()),
            ("svc", "svc/Dockerfile.prod")
        );
        let msgs: Vec<&str> = f.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("VERSION=$(git describe)"), "{msgs:?}");
    }

    #[test]
    fn makefile_variables_and_cd() {
        let f = one(
            "tools/Makefile",
            "IMAGE ?= app\nDOCKERFILE := build/Dockerfile\nGO_VERSION = 1.23\nDOCKER_BUILD = docker build\n\nimage:\n\t$(DOCKER_BUILD) -f $(DOCKERFILE) --build-arg GO=$(GO_VERSION) -t $(IMAGE) .\n\tcd ../web && docker buildx build --target release .\n\tfor d in a b; do docker build -t $$d $$d; done\n",
        );
        assert_eq!(f.builds.len(), 2, "{f:?}");
        let a = &f.builds[0];
        assert_eq!(
            (a.context.as_str(), a.dockerfile.as_str()),
            ("tools", "tools/build/Dockerfile")
        );
        assert_eq!(a.args["GO"], "1.23");
        let b = &f.builds[1];
        assert_eq!(
            (b.context.as_str(), b.dockerfile.as_str()),
            ("web", "web/Dockerfile")
        );
        assert_eq!(b.target.as_deref(), Some("release"));
        // the loop is said, with its line
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        assert_eq!(f.problems[0].line, Some(9));
        assert!(
            f.problems[0].message.contains("context $d"),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn what_cannot_be_read_is_said() {
        // a script in a subdirectory runs from wherever it is called
        let f = one("scripts/build.sh", "docker build -t x .\n");
        assert!(f.builds.is_empty());
        assert!(
            f.problems[0]
                .message
                .contains("the directory it is run from")
        );
        // … unless it goes to its own directory first
        let f = one(
            "scripts/build.sh",
            "cd \"$(dirname \"$0\")\"\ndocker build -t x ../app\n",
        );
        assert_eq!(f.builds[0].context, "app");
        // arrays of arguments, a variable context, the context from stdin or a URL
        let f = one(
            "build.sh",
            "docker buildx --builder b build \"${ARGS[@]}\" $CTX\ndocker build - < Dockerfile\ndocker build https://github.com/x/y.git\ndocker build -f $DF .\n",
        );
        assert!(f.builds.is_empty(), "{f:?}");
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        assert!(
            f.problems[0]
                .message
                .starts_with("2 docker build commands (lines 1, 4)"),
            "{:?}",
            f.problems
        );
        // a context outside the repository (another checkout, a temporary directory) is no
        // build of this tree, and no error of it
        let f = one(
            "build.sh",
            "docker build ../../etc\ndocker build -t x /tmp/before\n",
        );
        assert!(f.builds.is_empty(), "{f:?}");
        assert_eq!(f.problems.len(), 2, "{:?}", f.problems);
        assert!(f.problems.iter().all(|p| !p.error), "{:?}", f.problems);
        assert!(
            f.problems[1]
                .message
                .contains("/tmp/before is outside the repository")
        );
        // a variable of flags (qdrant's `$TAGS`) is flags, not the context; one that may hold
        // the Dockerfile is not read
        let f = one(
            "build.sh",
            "V=$(cat VERSION)\nTAGS=\"-t q:${V} -t q:latest\"\nOPTS=\"-f x.Dockerfile\"\ndocker buildx build $TAGS --push .\ndocker build $OPTS .\n",
        );
        assert_eq!(f.builds.len(), 1, "{f:?}");
        assert_eq!((f.builds[0].line, f.builds[0].context.as_str()), (4, ""));
        assert!(
            f.problems[0].message.contains("(line 5)"),
            "{:?}",
            f.problems
        );
        assert!(is_script_name("make/photon/Makefile"));
        assert!(is_script_name("scripts/makefiles/Docker.mk"));
        assert!(!is_script_name("Dockerfile"));
    }
}
