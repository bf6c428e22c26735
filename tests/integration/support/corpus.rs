//! Invariants that any correct answer meets on any repository, checked on real histories with no
//! recorded truth: the real-repository corpus (tests/fixtures/corpus, see its PROVENANCE.md) run
//! through the `cachebust` binary as a user runs it. Shared by the integration test (a slice, in
//! `.ci/run`) and `cargo bench --bench corpus` (every repository, every commit).
//!
//! 1. Base equal to head: no rebuilt step, no changed path, no finding "about this change".
//! 2. A build is rebuilt only by a commit that touches one of its inputs: `history` names, for
//!    each rebuilt build, the changed paths that are its inputs; each must be a path git says the
//!    commit changed, and lie in the build's context, be its Dockerfile, or be a file builds are
//!    declared in (Compose, bake, workflows, `.env`, ignore files, the configuration, scripts).
//! 4. Every fix, applied on both sides of the change, still parses, rebuilds no more seconds and
//!    no more `RUN` steps than without it, and hides no path a build reads (no new missing-source
//!    diagnostic; no `.git` ignored where a Dockerfile runs git); what it claims to save is what
//!    the re-prediction gives.
//! 5. No output (text, JSON, markdown, SARIF, history text and HTML) carries private-use marker
//!    characters, an empty name or an empty code span, and the JSON agrees with itself and with
//!    git (changed paths cited exist in the commit, counts add up).
//!
//! 3. The builds found equal what `docker compose config` and `docker buildx bake --print`
//!    resolve (`support::realtools::check_tree`, with the real tools of `Options::real_tools`):
//!    at the head, and at the newest commits that change a Compose or bake file.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::realtools;

/// How much of a repository to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Commits replayed by `history --last` (each against its first parent).
    pub last: usize,
    /// Invariant 1 on every n-th commit (and the newest).
    pub same_every: usize,
    /// Invariant 4 on at most this many commits with fixes.
    pub fix_commits: usize,
    /// Invariant 5's text, markdown and SARIF outputs on every n-th rebuilding commit.
    pub formats_every: usize,
    /// Invariant 3: the Docker client with Compose and buildx (`realtools::docker28`); `None`
    /// leaves it out.
    pub real_tools: Option<(PathBuf, PathBuf)>,
    /// Invariant 3 at the head and at most this many more commits that change a Compose or
    /// bake file.
    pub discovery_commits: usize,
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: u8,
    pub commit: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct RepoRun {
    pub name: String,
    pub commits: usize,
    /// Commits whose changed paths include an input of a build found at that commit.
    pub touching: usize,
    /// Commits `history` says rebuild something.
    pub rebuilding: usize,
    pub builds_seen: usize,
    pub history_time: Duration,
    pub gitlog_time: Duration,
    pub same_checked: usize,
    pub fixes_checked: usize,
    pub outputs_checked: usize,
    /// Invariant 3: trees checked against the real tools, declarations compared.
    pub trees_checked: usize,
    pub declarations_compared: usize,
    pub violations: Vec<Violation>,
}

impl RepoRun {
    pub fn by_invariant(&self) -> BTreeMap<u8, usize> {
        let mut m = BTreeMap::new();
        for v in &self.violations {
            *m.entry(v.invariant).or_default() += 1;
        }
        m
    }
}

/// The bundles of the corpus, by name.
pub fn bundles(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bundle"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

struct Ctx<'a> {
    bin: &'a Path,
    repo: PathBuf,
    tmp: PathBuf,
    run: RepoRun,
    /// Commit subjects that hold `:  ` themselves ("fix:  move …"): an output quoting one is
    /// the input, not an empty name.
    subjects: Vec<String>,
}

fn git(repo: &Path, args: &[&str]) -> Output {
    let o = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn git_text(repo: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&git(repo, args).stdout).into_owned()
}

impl Ctx<'_> {
    fn cachebust(&self, args: &[&str]) -> Output {
        Command::new(self.bin)
            .args(args)
            .current_dir(&self.tmp)
            .stdin(Stdio::null())
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1")
            .output()
            .expect("running cachebust")
    }

    fn violation(&mut self, invariant: u8, commit: &str, detail: String) {
        self.run.violations.push(Violation {
            invariant,
            commit: commit.chars().take(12).collect(),
            detail,
        });
    }

    /// `analyze` of base..head in `format`; `None` (and a violation) when it failed.
    fn analyze(&mut self, base: &str, head: &str, format: &str, inv: u8) -> Option<String> {
        let repo = self.repo.to_string_lossy().into_owned();
        let o = self.cachebust(&[
            "analyze", "--repo", &repo, "--base", base, "--head", head, "--format", format,
        ]);
        if o.status.code() != Some(0) {
            let msg = String::from_utf8_lossy(&o.stderr).into_owned();
            self.violation(
                inv,
                head,
                format!(
                    "analyze {format} exited {:?}: {}",
                    o.status.code(),
                    msg.trim()
                ),
            );
            return None;
        }
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn analyze_json(&mut self, base: &str, head: &str, inv: u8) -> Option<Value> {
        let out = self.analyze(base, head, "json", inv)?;
        self.scan_output(head, "json", &out);
        match serde_json::from_str(&out) {
            Ok(v) => Some(v),
            Err(e) => {
                self.violation(inv, head, format!("analyze json is not JSON: {e}"));
                None
            }
        }
    }

    /// Invariant 5 over one output text.
    fn scan_output(&mut self, commit: &str, what: &str, out: &str) {
        self.run.outputs_checked += 1;
        if let Some(c) = out.chars().find(|c| ('\u{e000}'..='\u{f8ff}').contains(c)) {
            let at = out.find(c).unwrap_or(0);
            let around: String = out[at.saturating_sub(60)..].chars().take(120).collect();
            self.violation(
                5,
                commit,
                format!(
                    "{what}: private-use character U+{:04X} in {around:?}",
                    c as u32
                ),
            );
        }
        let empties: &[&str] = match what {
            "json" => &[
                "\"path\": \"\"",
                "\"image\": \"\"",
                "\"name\": \"\"",
                "\"instruction\": \"\"",
                "\"context\": \"\"",
                "\"message\": \"\"",
            ],
            _ => &[":  "],
        };
        for e in empties {
            // the first occurrence that is not a fence, indentation or a quoted commit subject
            let found = out.match_indices(e).find_map(|(at, _)| {
                let line_start = out[..at].rfind('\n').map_or(0, |i| i + 1);
                let line: String = out[line_start..].lines().next().unwrap_or("").into();
                let quoted = |l: &str| {
                    self.subjects.iter().any(|s| {
                        let k = s.find(":  ").unwrap_or(0);
                        l.contains(&s[..(k + 3).min(s.len())]) || l.contains(s.as_str())
                    })
                };
                let benign = *e == ":  "
                    && (line.trim_start().is_empty() || line.contains("```") || quoted(&line));
                (!benign).then_some(line)
            });
            if let Some(line) = found {
                self.violation(5, commit, format!("{what}: empty name {e:?} in {line:?}"));
            }
        }
        if what != "json" {
            for line in out.lines() {
                if empty_code_span(line) {
                    self.violation(5, commit, format!("{what}: empty code span in {line:?}"));
                    break;
                }
            }
        }
    }

    fn changed(&self, parent: &str, commit: &str) -> BTreeSet<String> {
        let o = git(
            &self.repo,
            &[
                "diff-tree",
                "-r",
                "-z",
                "--no-renames",
                "--name-only",
                "--no-commit-id",
                parent,
                commit,
            ],
        );
        o.stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}

/// Whether a line holds an empty code span (`` `` `` where a name was empty): a run of exactly
/// two backticks that is not the opening or closing delimiter of a double-backtick span (`` ``
/// x `` ``, as used around text holding a backtick) nor part of a fence.
pub fn empty_code_span(line: &str) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    let mut open = false;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] == b'`' {
            i += 1;
        }
        if i - start != 2 {
            continue;
        }
        if open {
            open = false;
            continue;
        }
        // an opener has text before its closer on the same line
        let rest = &line[i..];
        match rest.find("``") {
            Some(k) if !rest[..k].trim().is_empty() => open = true,
            _ => return true,
        }
    }
    false
}

/// Whether `path` lies in the context directory `context` ("." is the root).
fn under(path: &str, context: &str) -> bool {
    let c = context.trim_end_matches('/');
    c.is_empty() || c == "." || path == c || path.starts_with(&format!("{c}/"))
}

/// Files builds are declared in or configured by, whatever build they belong to.
fn declaration_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let low = name.to_ascii_lowercase();
    let yaml = low.ends_with(".yml") || low.ends_with(".yaml");
    (yaml && (low.starts_with("compose") || low.starts_with("docker-compose")))
        || low.ends_with(".hcl")
        || low.starts_with("docker-bake")
        || name == ".env"
        || name.starts_with(".env.")
        || name.ends_with(".dockerignore")
        || name == ".containerignore"
        || path.starts_with(".github/workflows/")
        || path == ".github/cachebust.yml"
        || path == ".github/cachebust.yaml"
        || low == "makefile"
        || low.ends_with(".mk")
        || low.ends_with(".sh")
}

/// Rebuilt `RUN` steps and seconds over all builds of an analyze report.
fn totals(v: &Value) -> (usize, f64) {
    let mut runs = 0;
    let mut secs = 0.0;
    for df in v["dockerfiles"].as_array().into_iter().flatten() {
        secs += df["estimated_rebuild_seconds"].as_f64().unwrap_or(0.0);
        for s in df["steps"].as_array().into_iter().flatten() {
            let ins = s["instruction"].as_str().unwrap_or("");
            if s["status"] == "rebuilt" && ins.trim_start().to_ascii_uppercase().starts_with("RUN")
            {
                runs += 1;
            }
        }
    }
    (runs, secs)
}

/// Every diagnostic message of a report (build and file diagnostics), without line numbers.
fn diagnostics(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in v["diagnostics"].as_array().into_iter().flatten() {
        out.insert(format!(
            "{}: {}",
            d["file"].as_str().unwrap_or(""),
            d["message"].as_str().unwrap_or("")
        ));
    }
    for df in v["dockerfiles"].as_array().into_iter().flatten() {
        for d in df["diagnostics"].as_array().into_iter().flatten() {
            out.insert(format!(
                "{}: {}",
                df["path"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// Invariant 5's consistency checks of one analyze JSON against itself and git.
fn self_consistent(v: &Value, changed: &BTreeSet<String>) -> Vec<String> {
    let mut bad = Vec::new();
    let total: usize = v["rebuilt_steps"].as_u64().unwrap_or(0) as usize;
    let mut sum = 0;
    for df in v["dockerfiles"].as_array().into_iter().flatten() {
        let path = df["path"].as_str().unwrap_or("");
        let steps = df["steps"].as_array().cloned().unwrap_or_default();
        let rebuilt = steps.iter().filter(|s| s["status"] == "rebuilt").count();
        let said = df["summary"]["rebuilt"].as_u64().unwrap_or(0) as usize;
        if rebuilt != said {
            bad.push(format!(
                "{path}: summary says {said} rebuilt, steps say {rebuilt}"
            ));
        }
        // a step an earlier build of the same bake call runs is counted there (`shared`): it
        // must be one of this build's rebuilt steps
        let shared: Vec<u64> = df["shared"]["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        for l in &shared {
            if !steps
                .iter()
                .any(|s| s["line"].as_u64() == Some(*l) && s["status"] == "rebuilt")
            {
                bad.push(format!("{path}: shared line {l} is no rebuilt step"));
            }
        }
        sum += said.saturating_sub(shared.len());
        for p in df["touched_by"].as_array().into_iter().flatten() {
            let p = p.as_str().unwrap_or("");
            if !changed.contains(p) {
                bad.push(format!(
                    "{path}: touched_by {p:?}, which the change does not touch"
                ));
            }
        }
        for s in &steps {
            let c = &s["cause"];
            if c["kind"] == "files" {
                for p in c["paths"].as_array().into_iter().flatten() {
                    let p = p.as_str().unwrap_or("");
                    if !changed.contains(p) {
                        bad.push(format!(
                            "{path}:{}: cause cites {p:?}, which the change does not touch",
                            s["line"]
                        ));
                    }
                }
            }
            let secs = s["estimated_seconds"].as_f64().unwrap_or(0.0);
            if !secs.is_finite() || secs < 0.0 {
                bad.push(format!("{path}:{}: estimated_seconds {secs}", s["line"]));
            }
        }
    }
    // the headline counts the counted builds; the guessed builds left out are summed apart
    let apart = v["not_counted"]["rebuilt_steps"].as_u64().unwrap_or(0) as usize;
    let guessed_apart: usize = v["dockerfiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["guessed"]["counted"] == false)
        .map(|d| {
            let shared = d["shared"]["lines"].as_array().map_or(0, Vec::len);
            (d["summary"]["rebuilt"].as_u64().unwrap_or(0) as usize).saturating_sub(shared)
        })
        .sum();
    if apart != guessed_apart {
        bad.push(format!(
            "not_counted.rebuilt_steps {apart}, the guessed builds left out add up to {guessed_apart}"
        ));
    }
    if sum != total + apart {
        bad.push(format!(
            "rebuilt_steps {total} (+{apart} not counted), the builds add up to {sum}"
        ));
    }
    if v["changed_paths"].as_u64() == Some(0) && sum > 0 {
        bad.push(format!("0 changed paths, {sum} steps rebuild"));
    }
    bad
}

/// A file rewritten on both sides of a change: its path, and its text → the new text.
pub type Rewrite<'a> = (&'a str, &'a dyn Fn(&str) -> String);

/// Invariants 4 and 5 for the fixes `analyze` proposes on each of `commits` (against its first
/// parent) of `bundle`: what each fix claims against the re-prediction of the tree with it.
/// `edit` rewrites a file on both sides first: (path, its text → the new text).
pub fn check_commit_fixes(
    name: &str,
    bundle: &Path,
    bin: &Path,
    commits: &[&str],
    edit: Option<Rewrite<'_>>,
) -> RepoRun {
    let tmp = std::env::temp_dir().join(format!(
        "cb-fixes-{}-{}-{}",
        name,
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let repo = tmp.join("repo.git");
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(bundle)
        .arg(&repo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut cx = Ctx {
        bin,
        repo,
        subjects: Vec::new(),
        tmp: tmp.clone(),
        run: RepoRun {
            name: name.to_string(),
            ..RepoRun::default()
        },
    };
    for c in commits {
        let c = git_text(&cx.repo, &["rev-parse", c]).trim().to_string();
        let p = git_text(&cx.repo, &["rev-parse", &format!("{c}^1")])
            .trim()
            .to_string();
        cx.run.commits += 1;
        let (p, c) = match edit {
            Some((path, f)) => (with_file(&cx, &p, path, f), with_file(&cx, &c, path, f)),
            None => (p, c),
        };
        if let Some(v) = cx.analyze_json(&p, &c, 5) {
            check_fixes(&mut cx, &p, &c, &v);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    cx.run
}

/// `commit` with the file at `path` rewritten by `f`, as a new commit on top of it.
fn with_file(cx: &Ctx<'_>, commit: &str, path: &str, f: &dyn Fn(&str) -> String) -> String {
    let old = git_text(&cx.repo, &["show", &format!("{commit}:{path}")]);
    let new = f(&old);
    let idx = cx.tmp.join("edit.idx");
    let _ = std::fs::remove_file(&idx);
    let run = |args: &[&str], input: Option<&str>| -> String {
        let mut c = Command::new("git");
        c.arg("--git-dir")
            .arg(&cx.repo)
            .env("GIT_INDEX_FILE", &idx)
            .env("GIT_AUTHOR_NAME", "corpus")
            .env("GIT_AUTHOR_EMAIL", "corpus@example.invalid")
            .env("GIT_COMMITTER_NAME", "corpus")
            .env("GIT_COMMITTER_EMAIL", "corpus@example.invalid")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = c.spawn().expect("running git");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            if let Some(i) = input {
                stdin.write_all(i.as_bytes()).unwrap();
            }
        }
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "git {args:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    run(&["read-tree", commit], None);
    let blob = run(&["hash-object", "-w", "--stdin"], Some(&new));
    run(
        &[
            "update-index",
            "--cacheinfo",
            &format!("100644,{blob},{path}"),
        ],
        None,
    );
    let tree = run(&["write-tree"], None);
    run(&["commit-tree", &tree, "-p", commit, "-m", "edit"], None)
}

/// Runs every invariant over the newest `opts.last` commits of `bundle`.
pub fn check_repo(name: &str, bundle: &Path, bin: &Path, opts: &Options) -> RepoRun {
    let tmp = std::env::temp_dir().join(format!(
        "cb-corpus-{}-{}-{}",
        name,
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let repo = tmp.join("repo.git");
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(bundle)
        .arg(&repo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let subjects = String::from_utf8_lossy(&git(&repo, &["log", "--format=%s"]).stdout)
        .lines()
        .filter(|l| l.contains(":  "))
        .map(str::to_string)
        .collect();
    let mut cx = Ctx {
        bin,
        repo,
        subjects,
        tmp: tmp.clone(),
        run: RepoRun {
            name: name.to_string(),
            ..RepoRun::default()
        },
    };
    run_all(&mut cx, opts);
    let _ = std::fs::remove_dir_all(&tmp);
    cx.run
}

fn run_all(cx: &mut Ctx<'_>, opts: &Options) {
    let repo = cx.repo.to_string_lossy().into_owned();
    let n = (opts.last + 1).to_string();
    let list = git_text(&cx.repo, &["rev-list", "--first-parent", "-n", &n, "HEAD"]);
    let commits: Vec<String> = list.lines().map(str::to_string).collect();
    let last = opts.last.min(commits.len().saturating_sub(1));
    cx.run.commits = last;
    let parent: BTreeMap<String, String> = commits
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect();

    // the floor: git listing the same commits' changes
    let t = Instant::now();
    let _ = git(
        &cx.repo,
        &[
            "log",
            "--first-parent",
            "--name-status",
            "-n",
            &last.to_string(),
            "HEAD",
        ],
    );
    cx.run.gitlog_time = t.elapsed();

    // history, timed
    let last_s = last.to_string();
    let t = Instant::now();
    let o = cx.cachebust(&[
        "history", "--repo", &repo, "--last", &last_s, "--format", "json",
    ]);
    cx.run.history_time = t.elapsed();
    if o.status.code() != Some(0) {
        let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
        cx.violation(
            2,
            "HEAD",
            format!("history exited {:?}: {err}", o.status.code()),
        );
        return;
    }
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    cx.scan_output("HEAD", "json", &text);
    let h: Value = serde_json::from_str(&text).expect("history JSON");

    // invariant 2 over every commit history replayed
    let mut rebuilding_commits: Vec<String> = Vec::new();
    let mut builds = BTreeSet::new();
    for c in h["per_commit"].as_array().into_iter().flatten() {
        let commit = c["commit"].as_str().unwrap_or("").to_string();
        let Some(p) = parent.get(&commit) else {
            cx.violation(
                2,
                &commit,
                "history replayed a commit outside the range".into(),
            );
            continue;
        };
        let changed = cx.changed(p, &commit);
        let list = c["builds"].as_array().cloned().unwrap_or_default();
        if c["rebuilt_steps"].as_u64().unwrap_or(0) > 0 {
            rebuilding_commits.push(commit.clone());
        }
        let mut touches = false;
        for b in &list {
            let path = b["path"].as_str().unwrap_or("").to_string();
            let context = b["context"].as_str().unwrap_or(".").to_string();
            builds.insert((path.clone(), context.clone(), b["target"].to_string()));
            let declared: Vec<String> = b["declared_in"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            let touched: Vec<String> = b["touched_by"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            let input = |p: &str| {
                p == path
                    || under(p, &context)
                    || declared.iter().any(|d| d == p)
                    || declaration_file(p)
            };
            if touched.is_empty() {
                cx.violation(
                    2,
                    &commit,
                    format!(
                        "{path} (context {context}) rebuilds {} steps, naming no changed input; the commit changed {} paths, e.g. {:?}",
                        b["rebuilt_steps"],
                        changed.len(),
                        changed.iter().take(3).collect::<Vec<_>>()
                    ),
                );
            }
            for t in &touched {
                if !changed.contains(t) {
                    cx.violation(
                        2,
                        &commit,
                        format!("{path}: names {t:?} as changed; git says it is not"),
                    );
                } else if !input(t) {
                    cx.violation(
                        2,
                        &commit,
                        format!("{path} (context {context}): {t:?} is not an input of it"),
                    );
                } else if b["counted"] != false {
                    // a commit counts as touching a build when the build counts in its totals
                    touches = true;
                }
            }
        }
        if touches {
            cx.run.touching += 1;
        }
    }
    cx.run.rebuilding = rebuilding_commits.len();
    cx.run.builds_seen = builds.len();
    if cx.run.rebuilding > cx.run.touching {
        let (r, t) = (cx.run.rebuilding, cx.run.touching);
        cx.violation(
            2,
            "HEAD",
            format!("{r} commits rebuild, only {t} touch an input of a build"),
        );
    }

    // history's text and HTML, invariant 5
    for format in ["text", "html"] {
        let o = cx.cachebust(&[
            "history", "--repo", &repo, "--last", &last_s, "--format", format,
        ]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        cx.scan_output("HEAD", format, &out);
    }

    // invariant 1: base equal to head
    for (i, c) in commits.iter().take(last).enumerate() {
        if i % opts.same_every.max(1) != 0 {
            continue;
        }
        cx.run.same_checked += 1;
        let Some(v) = cx.analyze_json(c, c, 1) else {
            continue;
        };
        // guessed builds left out of the headline rebuild nothing either
        let steps = v["rebuilt_steps"].as_u64().unwrap_or(0)
            + v["not_counted"]["rebuilt_steps"].as_u64().unwrap_or(0);
        let paths = v["changed_paths"].as_u64().unwrap_or(0);
        if steps > 0 || paths > 0 {
            let which: Vec<String> = v["dockerfiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["summary"]["rebuilt"].as_u64().unwrap_or(0) > 0)
                .map(|d| format!("{} ({} steps)", d["path"], d["summary"]["rebuilt"]))
                .collect();
            cx.violation(
                1,
                c,
                format!("base = head: {paths} changed paths, {steps} steps rebuild: {which:?}"),
            );
        }
        for df in v["dockerfiles"].as_array().into_iter().flatten() {
            for f in df["findings"].as_array().into_iter().flatten() {
                if f["relevant"] == true {
                    cx.violation(
                        1,
                        c,
                        format!(
                            "base = head: finding about this change: {} {}:{}",
                            f["code"], df["path"], f["line"]
                        ),
                    );
                }
            }
        }
    }

    discovery(
        cx,
        opts,
        &commits[..last.max(1).min(commits.len())],
        &parent,
    );

    // invariants 4 and 5 on the rebuilding commits
    let mut fix_commits = 0;
    for (i, c) in rebuilding_commits.iter().enumerate() {
        let p = parent[c].clone();
        let changed = cx.changed(&p, c);
        let want_formats = i % opts.formats_every.max(1) == 0;
        let want_fixes = fix_commits < opts.fix_commits;
        if !want_formats && !want_fixes {
            continue;
        }
        let Some(v) = cx.analyze_json(&p, c, 5) else {
            continue;
        };
        for bad in self_consistent(&v, &changed) {
            cx.violation(5, c, bad);
        }
        if want_formats {
            for format in ["text", "markdown", "sarif"] {
                if let Some(out) = cx.analyze(&p, c, format, 5) {
                    cx.scan_output(c, format, &out);
                }
            }
        }
        if want_fixes && check_fixes(cx, &p, c, &v) {
            fix_commits += 1;
        }
    }
}

/// Invariant 3 at the head and at the newest commits (at most `opts.discovery_commits`) that
/// change a Compose or bake file: the commit's tree checked out, `cachebust builds` there
/// against `docker compose config` and `docker buildx bake --print`.
fn discovery(
    cx: &mut Ctx<'_>,
    opts: &Options,
    commits: &[String],
    parent: &BTreeMap<String, String>,
) {
    let Some(docker) = opts.real_tools.clone() else {
        return;
    };
    let mut at: Vec<String> = commits.iter().take(1).cloned().collect();
    for c in commits.iter().skip(1) {
        if at.len() > opts.discovery_commits {
            break;
        }
        let Some(p) = parent.get(c) else { continue };
        let declares = cx.changed(p, c).iter().any(|f| {
            cachebust::engine::discover::is_compose_name(f)
                || cachebust::engine::discover::is_bake_name(f)
        });
        if declares {
            at.push(c.clone());
        }
    }
    for c in at {
        let dir = cx.tmp.join(format!("tree-{}", &c[..12.min(c.len())]));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let archive = git(&cx.repo, &["archive", &c]);
        let mut tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("running tar");
        {
            use std::io::Write;
            let _ = tar.stdin.take().unwrap().write_all(&archive.stdout);
        }
        if !tar.wait().is_ok_and(|s| s.success()) {
            cx.violation(3, &c, "the tree does not unpack".into());
            continue;
        }
        let check = realtools::check_tree(&docker, cx.bin, &dir);
        cx.run.trees_checked += 1;
        cx.run.declarations_compared += check.compared;
        for m in check.mismatches {
            cx.violation(3, &c, m);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A tree-ish with `diff` applied to `commit`'s tree, as a commit; `None` when it does not apply.
fn patched(cx: &Ctx<'_>, commit: &str, diff: &str) -> Option<String> {
    let idx = cx.tmp.join("patch.idx");
    let _ = std::fs::remove_file(&idx);
    let patch = cx.tmp.join("fix.diff");
    std::fs::write(&patch, diff).ok()?;
    let env = |c: &mut Command| {
        c.arg("--git-dir").arg(&cx.repo).env("GIT_INDEX_FILE", &idx);
    };
    let mut c = Command::new("git");
    env(&mut c);
    if !c.args(["read-tree", commit]).status().ok()?.success() {
        return None;
    }
    let mut c = Command::new("git");
    env(&mut c);
    let o = c
        .args(["apply", "--cached", "--unidiff-zero"])
        .arg(&patch)
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let mut c = Command::new("git");
    env(&mut c);
    let tree = String::from_utf8(c.arg("write-tree").output().ok()?.stdout).ok()?;
    let o = Command::new("git")
        .arg("--git-dir")
        .arg(&cx.repo)
        .args(["commit-tree", tree.trim(), "-p", commit, "-m", "fix"])
        .env("GIT_AUTHOR_NAME", "corpus")
        .env("GIT_AUTHOR_EMAIL", "corpus@example.invalid")
        .env("GIT_COMMITTER_NAME", "corpus")
        .env("GIT_COMMITTER_EMAIL", "corpus@example.invalid")
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// A RUN that reads the repository's `.git` (through a bind mount or a copy of the context).
fn reads_git(dockerfile: &str) -> bool {
    dockerfile.lines().any(|l| {
        let l = l.trim();
        [
            "git describe",
            "git rev-parse",
            "git log",
            "git rev-list",
            "git show",
            "git status",
        ]
        .iter()
        .any(|g| l.contains(g))
    })
}

/// Invariant 4 for the fixes `analyze` proposes on parent..commit. Whether any fix was checked.
fn check_fixes(cx: &mut Ctx<'_>, parent: &str, commit: &str, v: &Value) -> bool {
    let mut checked = false;
    let mut seen = BTreeSet::new();
    let dfs = v["dockerfiles"].as_array().cloned().unwrap_or_default();
    for df in &dfs {
        for f in df["findings"].as_array().into_iter().flatten() {
            let fix = &f["fix"];
            let Some(diff) = fix["diff"].as_str() else {
                continue;
            };
            if fix["applicability"] == "display-only" || !seen.insert(diff.to_string()) {
                continue;
            }
            let what = format!("{} {}:{}", f["code"], df["path"], f["line"]);
            // the fix on both sides of the change, as the engine measures it
            let (Some(p2), Some(c2)) = (patched(cx, parent, diff), patched(cx, commit, diff))
            else {
                continue;
            };
            let Some(after) = cx.analyze_json(&p2, &c2, 4) else {
                continue;
            };
            checked = true;
            cx.run.fixes_checked += 1;
            let before_diag = diagnostics(v);
            for d in diagnostics(&after).difference(&before_diag) {
                cx.violation(4, commit, format!("{what}: the fix adds a diagnostic: {d}"));
            }
            let (runs0, secs0) = totals(v);
            let (runs1, secs1) = totals(&after);
            if secs1 > secs0 + 0.05 {
                cx.violation(
                    4,
                    commit,
                    format!("{what}: with the fix {secs1:.1} s rebuild instead of {secs0:.1} s"),
                );
            }
            if runs1 > runs0 {
                cx.violation(
                    4,
                    commit,
                    format!("{what}: with the fix {runs1} RUN steps rebuild instead of {runs0}"),
                );
            }
            // what the finding claims against the re-prediction of its own build
            if let Some(s) = f.get("savings").filter(|s| !s.is_null()) {
                let path = &df["path"];
                let mine = after["dockerfiles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    // the same build: a bake file or compose project declares one Dockerfile
                    // and target several times with other args or contexts
                    .find(|d| {
                        d["path"] == *path
                            && d["target"] == df["target"]
                            && d["context"] == df["context"]
                            && d["origin"] == df["origin"]
                    });
                if let Some(m) = mine {
                    let claimed = s["seconds_after"].as_f64().unwrap_or(0.0);
                    let got = m["estimated_rebuild_seconds"].as_f64().unwrap_or(0.0);
                    if (claimed - got).abs() > 0.5 {
                        cx.violation(
                            5,
                            commit,
                            format!("{what}: claims {claimed:.1} s with the fix, re-predicted {got:.1} s"),
                        );
                    }
                }
            }
            // a .dockerignore fix must not hide .git from a build that runs git
            if diff.contains(".dockerignore") && diff.lines().any(|l| l == "+.git" || l == "+.git/")
            {
                let files = git_text(&cx.repo, &["ls-tree", "-r", "--name-only", commit]);
                for path in files.lines().filter(|p| {
                    let n = p.rsplit('/').next().unwrap_or(p);
                    n == "Dockerfile" || n.starts_with("Dockerfile.") || n.ends_with(".Dockerfile")
                }) {
                    let text = git_text(&cx.repo, &["show", &format!("{commit}:{path}")]);
                    if reads_git(&text) {
                        cx.violation(
                            4,
                            commit,
                            format!("{what}: ignores .git, which {path} reads (git in a RUN)"),
                        );
                    }
                }
            }
        }
    }
    checked
}
