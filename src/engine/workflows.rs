//! GitHub Actions workflows as evidence of builds: `docker/build-push-action` steps (context,
//! file, build-args, target, build-contexts) and `docker/bake-action` steps (files, targets,
//! workdir). A checkout into a subdirectory (`actions/checkout` with `path:`) is followed, so
//! `context: release` after checking out into `release/` is the repository root.
//!
//! Values written as `${{ … }}` expressions are not known before the run: `${{ env.X }}` is
//! taken from a literal `env:` of the workflow, job or step; any other expression in a build arg
//! is kept as its text (so an unchanged expression reads as an unchanged value) and said so; an
//! expression in a context or file leaves the step unanalysed, with a diagnostic.
//!
//! The workflow's `on:` says when its builds run (`Triggers`): on a pull request or a push to a
//! branch (`pull_request`, `pull_request_target`, `push` unless it names tags only,
//! `merge_group`, and `workflow_call`/`workflow_run`, which run when their caller does), with
//! their `paths`/`paths-ignore` filters; a workflow that runs only on `release`, `schedule`,
//! `workflow_dispatch` or a tag push does not build for a change. Branch filters are taken to
//! match (the branch is not known here).
//!
//! The step's cache options (`cache-from`, `cache-to`, `no-cache`, `no-cache-filters`, `pull`,
//! `platforms`, `tags`, and for bake-action the `set` overrides) and the job's buildx driver
//! (`docker/setup-buildx-action` before the step) are kept as a `backend::CiSetup`.

use crate::engine::memo::Memo;
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::backend::{CiSetup, parse_entry};
use crate::engine::budget::{self, Budget, Exceeded};
use crate::engine::decl::{Problem, inside};
use crate::engine::tree::join_clean;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepBuild {
    pub file: String,
    pub job: String,
    /// The step's `name`, else its `id`, else its 1-based index.
    pub step: String,
    pub line: Option<u32>,
    pub context: String,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub contexts: BTreeMap<String, String>,
    /// The step's cache options and the job's builder.
    pub ci: CiSetup,
}

/// A `docker/bake-action` step: which bake files and targets it builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepBake {
    pub file: String,
    pub job: String,
    pub step: String,
    pub line: Option<u32>,
    /// Root-relative bake files (empty: bake's default files in `workdir`).
    pub files: Vec<String>,
    pub workdir: String,
    /// Targets or groups named (empty: the `default` group).
    pub targets: Vec<String>,
    /// The step's `no-cache`, `pull` and builder (cache entries come from the bake file and
    /// `set`).
    pub ci: CiSetup,
    /// `set` overrides: (target pattern, attribute, value), e.g. (`*`, `cache-to`, `type=gha`).
    pub set: Vec<(String, String, String)>,
    /// The literal `env:` of the workflow, job and step: bake reads its variables from it.
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Found {
    /// When the workflow runs (its `on:`).
    pub triggers: Triggers,
    pub builds: Vec<StepBuild>,
    pub bakes: Vec<StepBake>,
    /// `run:` blocks that mention a build: (line of their first command, text, the directory
    /// they run in, root-relative; `None` when only the run knows it).
    pub runs: Vec<(u32, String, Option<String>)>,
    pub problems: Vec<Problem>,
}

/// When a workflow runs, as far as a change (a pull request, a push to a branch) is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triggers {
    /// The events that run it for a change, each with its path filters; `None` when `on:` is
    /// missing or not understood (taken to run).
    pub on_change: Option<Vec<PathFilter>>,
    /// Every event `on:` names, in its order.
    pub events: Vec<String>,
}

/// One event's `paths` (run when a changed path matches) or `paths-ignore` (run unless every
/// changed path matches), GitHub's filter patterns (`*`, `**`, `?`, `+`, `[]`, `!` negation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFilter {
    pub event: String,
    pub paths: Vec<String>,
    pub ignore: Vec<String>,
    /// The patterns compiled, the first time a change is tried against them: a history asks
    /// the same filter once per commit.
    compiled: CompiledFilter,
}

/// A filter's compiled patterns (see `compile_filter`), made once per filter and, given a memo,
/// taken from it by the patterns (a history reads each commit's workflows again); equal whatever
/// it holds (it follows from the patterns).
#[derive(Debug, Clone, Default)]
struct CompiledFilter(std::sync::OnceLock<std::sync::Arc<Option<Patterns>>>);

/// Compiled path patterns, `(negated, regex)` in the filter's order.
type Patterns = Vec<(bool, regex::Regex)>;

impl PartialEq for CompiledFilter {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CompiledFilter {}

/// Why a workflow does not run for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// None of its events is a change's (release, schedule, workflow_dispatch, a tag push…):
    /// the events it runs on.
    Events(Vec<String>),
    /// Its events' path filters match none of the changed paths.
    Paths,
}

/// Events that run a workflow for a pull request or a push to a branch (a called or chained
/// workflow runs when its caller does).
const CHANGE_EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_target",
    "push",
    "merge_group",
    "workflow_call",
    "workflow_run",
];

/// At most this many path patterns of one workflow are compiled (a filter past it is taken to
/// match).
const MAX_PATTERNS: usize = 512;

impl Triggers {
    /// Whether the workflow runs for a change of `changed` paths, or why not. `memo` keeps the
    /// compiled path patterns by their text (a history reads each commit's workflows again).
    pub fn runs_for(&self, changed: &[&str], memo: Option<&Memo>) -> Result<(), Skip> {
        let Some(filters) = &self.on_change else {
            return Ok(());
        };
        if filters.is_empty() {
            return Err(Skip::Events(self.events.clone()));
        }
        if filters.iter().any(|f| f.passes(changed, memo)) {
            Ok(())
        } else {
            Err(Skip::Paths)
        }
    }
}

impl PathFilter {
    fn passes(&self, changed: &[&str], memo: Option<&Memo>) -> bool {
        let (patterns, ignore) = if !self.paths.is_empty() {
            (&self.paths, false)
        } else if !self.ignore.is_empty() {
            (&self.ignore, true)
        } else {
            return true;
        };
        let compiled = self.compiled.0.get_or_init(|| {
            let compile = || std::sync::Arc::new(compile_filter(patterns));
            let Some(m) = memo else { return compile() };
            // each pattern with its length: the key names the list exactly
            let key: String = patterns
                .iter()
                .map(|p| format!("{}:{p}", p.len()))
                .collect();
            m.get_or(crate::engine::memo::Kind::Filter, &key, compile)
        });
        let Some(compiled) = compiled.as_ref() else {
            return true;
        };
        changed.iter().any(|p| {
            // the last pattern that matches decides (a `!` pattern excludes again)
            let hit = compiled
                .iter()
                .rev()
                .find(|(_, re)| re.is_match(p))
                .is_some_and(|(neg, _)| !neg);
            hit != ignore
        })
    }
}

/// GitHub's filter patterns as anchored regexes, `(negated, regex)`; `None` when one cannot be
/// compiled (the filter is then taken to match).
fn compile_filter(patterns: &[String]) -> Option<Patterns> {
    if patterns.len() > MAX_PATTERNS {
        return None;
    }
    let mut out = Vec::new();
    for p in patterns {
        let (neg, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        let mut re = String::from("^");
        let b: Vec<char> = p.chars().collect();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                '*' if b.get(i + 1) == Some(&'*') => {
                    // `**/` also matches no directory at all
                    if b.get(i + 2) == Some(&'/') {
                        re.push_str("(?:.*/)?");
                        i += 3;
                    } else {
                        re.push_str(".*");
                        i += 2;
                    }
                    continue;
                }
                '*' => re.push_str("[^/]*"),
                '?' | '+' if i > 0 => re.push(b[i]),
                '[' => match b[i..].iter().position(|c| *c == ']') {
                    Some(end) if end > 1 => {
                        let class: String = b[i + 1..i + end].iter().collect();
                        re.push('[');
                        re.push_str(&class.replace('\\', "\\\\").replace('[', "\\["));
                        re.push(']');
                        i += end + 1;
                        continue;
                    }
                    _ => re.push_str("\\["),
                },
                c => re.push_str(&regex::escape(&c.to_string())),
            }
            i += 1;
        }
        re.push('$');
        let r = regex::RegexBuilder::new(&re)
            .size_limit(1 << 16)
            .build()
            .ok()?;
        out.push((neg, r));
    }
    Some(out)
}

/// A filter's list (a sequence, or one string).
fn patterns(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(s).collect(),
        Some(other) => s(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A workflow's `on:` (YAML 1.1 readers take the key for `true`).
fn triggers(doc: &Value) -> Triggers {
    let Some(on) = doc.get("on").or_else(|| doc.get("true")) else {
        return Triggers::default();
    };
    let events: Vec<(String, Option<&Value>)> = match on {
        Value::String(e) => vec![(e.clone(), None)],
        Value::Array(a) => a.iter().filter_map(s).map(|e| (e, None)).collect(),
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), Some(v))).collect(),
        _ => return Triggers::default(),
    };
    let mut on_change = Vec::new();
    for (e, cfg) in &events {
        if !CHANGE_EVENTS.contains(&e.as_str()) {
            continue;
        }
        let get = |k: &str| cfg.and_then(|c| c.get(k));
        if e == "push"
            && (get("tags").is_some() || get("tags-ignore").is_some())
            && get("branches").is_none()
            && get("branches-ignore").is_none()
        {
            // a push filtered on tags only runs for tag pushes
            continue;
        }
        let filtered = matches!(e.as_str(), "push" | "pull_request" | "pull_request_target");
        on_change.push(PathFilter {
            event: e.clone(),
            paths: if filtered {
                patterns(get("paths"))
            } else {
                Vec::new()
            },
            compiled: CompiledFilter::default(),
            ignore: if filtered {
                patterns(get("paths-ignore"))
            } else {
                Vec::new()
            },
        });
    }
    Triggers {
        on_change: Some(on_change),
        events: events.into_iter().map(|(e, _)| e).collect(),
    }
}

/// The line of the first command of a `run:` block (its first non-empty line, found in the
/// file after `from`).
fn run_line(text: &str, run: &str, from: usize) -> Option<u32> {
    let first = run.lines().map(str::trim).find(|l| !l.is_empty())?;
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.contains(first))
        .map(|(i, _)| i as u32 + 1)
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One `env:` mapping, borrowed from the document (values holding an expression are left out).
fn env_map(v: Option<&Value>) -> BTreeMap<&str, Cow<'_, str>> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => Cow::Borrowed(s.as_str()),
                        other => Cow::Owned(s(other)?),
                    };
                    (!v.contains("${{")).then_some((k.as_str(), v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `env:` a step sees: its own, its job's, the workflow's (the nearest wins), looked up
/// through the layers instead of copied into every step.
struct Env<'a> {
    layers: [&'a BTreeMap<&'a str, Cow<'a, str>>; 3],
}

impl Env<'_> {
    /// Every variable the step sees (the nearest layer wins), as bake reads its environment;
    /// what is copied counts against the file's budget.
    fn flattened(&self, budget: &mut Budget) -> Result<BTreeMap<String, String>, Exceeded> {
        let mut out = BTreeMap::new();
        for l in self.layers.iter().rev() {
            for (k, v) in l.iter() {
                budget.bytes(k.len() + v.len())?;
                out.insert(k.to_string(), v.to_string());
            }
        }
        Ok(out)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.layers
            .iter()
            .find_map(|l| l.get(k).map(|v| v.as_ref()))
    }
}

/// Replace `${{ env.X }}` (and `${{ github.workspace }}`) where known; the flag says an unknown
/// expression remains. What the replacement produces is counted against the file's budget (a
/// 600 KB value referenced 110,000 times would be 66 GB).
fn resolve_expr(
    v: &str,
    env: &Env<'_>,
    workspace: &str,
    budget: &mut Budget,
) -> Result<(String, bool), Exceeded> {
    let mut out = String::new();
    let mut rest = v;
    let mut unknown = false;
    let mut push = |out: &mut String, s: &str| -> Result<(), Exceeded> {
        budget.bytes(s.len())?;
        out.push_str(s);
        Ok(())
    };
    while let Some(i) = rest.find("${{") {
        push(&mut out, &rest[..i])?;
        let Some(j) = rest[i..].find("}}") else {
            push(&mut out, &rest[i..])?;
            return Ok((out, true));
        };
        let inner = rest[i + 3..i + j].trim();
        match inner.strip_prefix("env.").and_then(|k| env.get(k)) {
            Some(val) => push(&mut out, val)?,
            None if inner == "github.workspace" => push(&mut out, workspace)?,
            None => {
                unknown = true;
                push(&mut out, &rest[i..i + j + 2])?;
            }
        }
        rest = &rest[i + j + 2..];
    }
    push(&mut out, rest)?;
    Ok((out, unknown))
}

/// A list input of the docker actions: one item a line (or comma-separated on one line).
fn list(v: Option<&Value>) -> Vec<String> {
    let Some(v) = v else { return Vec::new() };
    match v {
        Value::Array(a) => a.iter().filter_map(s).collect(),
        other => match s(other) {
            Some(t) if t.contains('\n') => t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
            Some(t) => t
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        },
    }
}

/// A newline-delimited list input (`cache-from`, `cache-to`: commas belong to the entry).
fn lines_list(v: Option<&Value>) -> Vec<String> {
    let Some(v) = v else { return Vec::new() };
    match v {
        Value::Array(a) => a.iter().filter_map(s).collect(),
        other => s(other)
            .map(|t| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(t)) => t.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Lines of the `uses:` of each docker action step, in file order.
fn uses_lines(text: &str, action: &str) -> Vec<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l
                .trim_start()
                .trim_start_matches("- ")
                .trim_start_matches('"');
            (t.starts_with("uses:") || t.starts_with("uses\":")) && l.contains(action)
        })
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

/// Where a workflow went past its evaluation budget: the step's line and what was expanded.
struct OverBudget {
    line: Option<u32>,
    what: String,
    exceeded: Exceeded,
}

/// The builds a workflow file names. Its expressions are expanded under one budget
/// (`budget::RESOLVE`); past it the file's builds are not analysed, with one error naming the
/// step, its line and the limit.
pub fn read(path: &str, text: &str) -> Found {
    read_in(&crate::engine::memo::Memo::default(), path, text)
}

/// The cache options of the `docker/build-push-action` step `setup` describes (the same job, the
/// same position in it), read again from another text of its workflow: what an edit of the
/// workflow makes of the step. `None` when the text no longer reads or holds no such step.
pub fn step_setup(
    memo: &crate::engine::memo::Memo,
    setup: &CiSetup,
    text: &str,
) -> Option<CiSetup> {
    read_in(memo, &setup.file, text)
        .builds
        .into_iter()
        .map(|b| b.ci)
        .find(|c| c.job == setup.job && c.step_index == setup.step_index)
}

/// `fix` applied to `text`, the workflow of the step `setup` describes: the edited text and
/// the step as it reads there ([`step_setup`]). `None` when the fix does not apply or the
/// edited workflow holds no such step.
pub fn step_after_fix(
    memo: &crate::engine::memo::Memo,
    setup: &CiSetup,
    text: &str,
    fix: &crate::engine::fix::Fix,
) -> Option<(String, CiSetup)> {
    let files = BTreeMap::from([(setup.file.clone(), text.to_string())]);
    let (mut out, applied) = crate::engine::fix::apply(&files, &[fix]);
    if applied.is_empty() {
        return None;
    }
    let edited = out.remove(&setup.file)?;
    let step = step_setup(memo, setup, &edited)?;
    Some((edited, step))
}

/// [`read`], the YAML document remembered in `memo`.
pub fn read_in(memo: &crate::engine::memo::Memo, path: &str, text: &str) -> Found {
    let mut found = Found::default();
    let doc = match crate::engine::decl::load_yaml_in(memo, text) {
        Ok(v) => v,
        Err((line, m)) => {
            found.problems.push(Problem {
                file: path.to_string(),
                line,
                error: true,
                message: format!("cannot read workflow: {m}"),
            });
            return found;
        }
    };
    found.triggers = triggers(&doc);
    let mut budget = Budget::new(&budget::RESOLVE);
    if let Err(o) = read_jobs(path, text, &doc, &mut found, &mut budget) {
        found.builds.clear();
        found.bakes.clear();
        found.problems.push(Problem {
            file: path.to_string(),
            line: o.line,
            error: true,
            message: format!(
                "{}: the expansion goes past the evaluation budget of one workflow file ({}); its builds are not analysed",
                o.what, o.exceeded
            ),
        });
    }
    found
}

/// Every job's steps: `run:` blocks that build, the checkout and builder a job sets up, and
/// the build-push and bake steps (`read_build_push`, `read_bake`), in order.
fn read_jobs(
    path: &str,
    text: &str,
    doc: &Value,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<(), OverBudget> {
    let wenv = env_map(doc.get("env"));
    let Some(jobs) = doc.get("jobs").and_then(Value::as_object) else {
        return Ok(());
    };
    let wdefault = default_dir(doc);
    let mut bp_lines = uses_lines(text, "docker/build-push-action").into_iter();
    let mut bake_lines = uses_lines(text, "docker/bake-action").into_iter();
    for (job_index, (job, jv)) in jobs.iter().enumerate() {
        // the job's buildx builder: none set up yet is the `docker` driver
        let mut driver: Option<String> = None;
        let jenv = env_map(jv.get("env"));
        let Some(steps) = jv.get("steps").and_then(Value::as_array) else {
            continue;
        };
        // where this job's checkout of the repository lives ("" = the workspace itself)
        let mut checkout: Option<String> = None;
        for (i, st) in steps.iter().enumerate() {
            let uses = st.get("uses").and_then(Value::as_str).unwrap_or("");
            let with = st.get("with");
            let get = |k: &str| with.and_then(|w| w.get(k));
            let step_name = st
                .get("name")
                .and_then(s)
                .or_else(|| st.get("id").and_then(s))
                .unwrap_or_else(|| format!("step {}", i + 1));
            let senv = env_map(st.get("env"));
            let env = Env {
                layers: [&senv, &jenv, &wenv],
            };
            let root = checkout.clone().unwrap_or_default();
            let at = StepAt {
                job,
                name: &step_name,
                root: &root,
                env: &env,
            };
            if let Some(run) = st.get("run").and_then(Value::as_str) {
                if run.contains("build") {
                    let wd = st
                        .get("working-directory")
                        .and_then(s)
                        .or_else(|| default_dir(jv))
                        .or_else(|| wdefault.clone());
                    read_run(text, run, wd, &at, found, budget)?;
                }
                continue;
            }
            if uses.starts_with("actions/checkout@") {
                let other_repo = get("repository")
                    .and_then(s)
                    .is_some_and(|r| !r.contains("${{ github.repository }}") && !r.is_empty());
                if !other_repo && checkout.is_none() {
                    checkout = Some(
                        get("path")
                            .and_then(s)
                            .map(|p| join_clean("", &p))
                            .unwrap_or_default(),
                    );
                }
                continue;
            }
            if uses.starts_with("docker/setup-buildx-action@") {
                driver = Some(
                    get("driver")
                        .and_then(s)
                        .unwrap_or_else(|| "docker-container".into()),
                );
                continue;
            }
            let step = |line: Option<u32>| UsesStep {
                path,
                at: &at,
                job_index,
                index: i,
                with,
                driver: driver.clone(),
                line,
            };
            if uses.starts_with("docker/build-push-action@") {
                read_build_push(&step(bp_lines.next()), found, budget)?;
            } else if uses.starts_with("docker/bake-action@") {
                read_bake(&step(bake_lines.next()), found, budget)?;
            }
        }
    }
    Ok(())
}

/// A job's or the workflow's `defaults.run.working-directory`.
fn default_dir(v: &Value) -> Option<String> {
    v.get("defaults")
        .and_then(|d| d.get("run"))
        .and_then(|r| r.get("working-directory"))
        .and_then(s)
}

/// A `run:` block that may build: its line, its text and the repository directory it runs in
/// (`None`: one known only when the workflow runs, or outside the checkout).
fn read_run(
    text: &str,
    run: &str,
    wd: Option<String>,
    at: &StepAt<'_>,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<(), OverBudget> {
    let from = found.runs.last().map_or(0, |r| r.0 as usize);
    let line = run_line(text, run, from).unwrap_or(1);
    let over = |exceeded| OverBudget {
        line: Some(line),
        what: format!("job {}, {}: run", at.job, at.name),
        exceeded,
    };
    let dir = match wd {
        None => Some(at.root.to_string()),
        Some(w) => {
            let (w, unknown) = resolve_expr(&w, at.env, at.root, budget).map_err(over)?;
            let p = join_clean(at.root, &w);
            (!unknown && !p.starts_with("..")).then_some(p)
        }
    };
    budget.bytes(run.len()).map_err(over)?;
    found.runs.push((line, run.to_string(), dir));
    Ok(())
}

/// A build-push or bake-action step being read: where it is, its `with:` and the job's builder
/// so far.
struct UsesStep<'a> {
    path: &'a str,
    at: &'a StepAt<'a>,
    job_index: usize,
    index: usize,
    with: Option<&'a Value>,
    driver: Option<String>,
    line: Option<u32>,
}

impl<'a> UsesStep<'a> {
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.with.and_then(|w| w.get(k))
    }

    fn expand(
        &self,
        budget: &mut Budget,
        what: &str,
        v: &str,
    ) -> Result<(String, bool), OverBudget> {
        self.at.expand(budget, self.line, what, v)
    }

    /// A workspace path → a repository path; an absolute path (the runner's `/etc`) or one
    /// that climbs out of the workspace is none, never clamped onto the repository.
    fn to_repo(&self, p: &str) -> Option<String> {
        let p = inside("", p)?;
        let root = self.at.root;
        if root.is_empty() {
            Some(p)
        } else if p == root {
            Some(String::new())
        } else {
            p.strip_prefix(&format!("{root}/")).map(str::to_string)
        }
    }

    /// A problem at the step's line, said of the step: "job J, STEP: `what`".
    fn problem(&self, found: &mut Found, error: bool, what: String) {
        found.problems.push(Problem {
            file: self.path.to_string(),
            line: self.line,
            error,
            message: format!("job {}, {}: {what}", self.at.job, self.at.name),
        })
    }

    /// The step's cache options (`driver` is the job's builder so far).
    fn ci(&self, budget: &mut Budget) -> Result<CiSetup, OverBudget> {
        let mut entries = |k: &str, export: bool| -> Result<Vec<_>, OverBudget> {
            let mut out = Vec::new();
            for e in lines_list(self.get(k)) {
                let (e, _) = self.expand(budget, k, &e)?;
                out.extend(parse_entry(&e, export));
            }
            Ok(out)
        };
        let imports = entries("cache-from", false)?;
        let exports = entries("cache-to", true)?;
        let mut tags = Vec::new();
        for t in list(self.get("tags")) {
            tags.push(self.expand(budget, "tags", &t)?.0);
        }
        Ok(CiSetup {
            file: self.path.to_string(),
            job: self.at.job.to_string(),
            step: self.at.name.to_string(),
            line: self.line,
            job_index: self.job_index,
            step_index: self.index,
            imports,
            exports,
            no_cache: truthy(self.get("no-cache")),
            no_cache_filters: list(self.get("no-cache-filters")),
            pull: truthy(self.get("pull")),
            platforms: list(self.get("platforms")),
            driver: self.driver.clone(),
            tags,
        })
    }
}

/// A `docker/build-push-action` step: its build, or problems saying why it is not analysed.
fn read_build_push(
    u: &UsesStep<'_>,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<(), OverBudget> {
    let Some(context) = build_push_context(u, found, budget)? else {
        return Ok(());
    };
    let Some(dockerfile) = build_push_file(u, &context, found, budget)? else {
        return Ok(());
    };
    let mut args = BTreeMap::new();
    for item in list(u.get("build-args")) {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.to_string()),
            None => (item.trim().to_string(), String::new()),
        };
        let (v, unknown) = u.expand(budget, &format!("build arg {k}"), &v)?;
        if unknown {
            u.problem(
                found,
                false,
                format!(
                    "build arg {k} is {v}, known only when the workflow runs; taken as unchanged while its text is"
                ),
            );
        }
        args.insert(k, v);
    }
    let Some(contexts) = build_push_contexts(u, found, budget)? else {
        return Ok(());
    };
    let target = match u.get("target").and_then(s) {
        Some(t) => Some(u.expand(budget, "target", &t)?.0),
        None => None,
    };
    let ci = u.ci(budget)?;
    found.builds.push(StepBuild {
        file: u.path.to_string(),
        job: u.at.job.to_string(),
        step: u.at.name.to_string(),
        line: u.line,
        context,
        dockerfile,
        args,
        target,
        contexts,
        ci,
    });
    Ok(())
}

/// A build-push step's `context` as a repository path (`None`: not analysed, with why).
fn build_push_context(
    u: &UsesStep<'_>,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<Option<String>, OverBudget> {
    let Some(c) = u.get("context").and_then(s) else {
        return Ok(Some(String::new()));
    };
    let (c, unknown) = u.expand(budget, "context", &c)?;
    if unknown {
        u.problem(
            found,
            false,
            format!(
                "context {c} is an expression known only when the workflow runs; the step is not analysed"
            ),
        );
        return Ok(None);
    }
    if c.contains("://") {
        return Ok(None);
    }
    let r = u.to_repo(&c).and_then(|r| inside("", &r));
    if r.is_none() {
        u.problem(
            found,
            true,
            format!("context {c} is outside the repository; refused"),
        );
    }
    Ok(r)
}

/// A build-push step's `file` as a repository path, `Dockerfile` of the context by default
/// (`None`: not analysed, with why).
fn build_push_file(
    u: &UsesStep<'_>,
    context: &str,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<Option<String>, OverBudget> {
    let Some(f) = u.get("file").and_then(s) else {
        return Ok(Some(join_clean(context, "Dockerfile")));
    };
    let (f, unknown) = u.expand(budget, "file", &f)?;
    if unknown {
        u.problem(
            found,
            false,
            format!(
                "file {f} is an expression known only when the workflow runs; the step is not analysed"
            ),
        );
        return Ok(None);
    }
    // `file` is a workspace path, like `docker build -f`
    let p = u.to_repo(&f);
    if p.is_none() {
        u.problem(
            found,
            true,
            format!("file {f} is outside the repository; refused"),
        );
    }
    Ok(p)
}

/// A build-push step's `build-contexts`, local ones as repository paths (`None`: one lies
/// outside the repository; refused).
fn build_push_contexts(
    u: &UsesStep<'_>,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<Option<BTreeMap<String, String>>, OverBudget> {
    let mut contexts = BTreeMap::new();
    let mut outside = None;
    for item in list(u.get("build-contexts")) {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        let (v, _) = u.expand(budget, &format!("build context {}", k.trim()), v)?;
        let local = !(v.contains("://") || v.contains(':'));
        let v = if local {
            match u.to_repo(&v) {
                Some(r) => r,
                None => {
                    outside = Some(format!("{}={v}", k.trim()));
                    continue;
                }
            }
        } else {
            v
        };
        contexts.insert(k.trim().to_string(), v);
    }
    if let Some(c) = outside {
        u.problem(
            found,
            true,
            format!("build context {c} is outside the repository; refused"),
        );
        return Ok(None);
    }
    Ok(Some(contexts))
}

/// A `docker/bake-action` step: its bake call, or problems saying why it is not analysed.
fn read_bake(u: &UsesStep<'_>, found: &mut Found, budget: &mut Budget) -> Result<(), OverBudget> {
    // `source`: the repository's Git context (the default) or `.` build this tree; another
    // repository's does not
    if let Some(src) = u.get("source").and_then(s) {
        let (src, unknown) = u.expand(budget, "source", &src)?;
        let this_tree = !unknown
            && (src.contains("{{defaultContext}}")
                || !(src.contains("://") || src.starts_with("git@")));
        if !this_tree {
            u.problem(
                found,
                false,
                format!(
                    "bake source {src} is not this repository's tree; the step is not analysed"
                ),
            );
            return Ok(());
        }
    }
    let mut targets: Vec<String> = Vec::new();
    for t in list(u.get("targets")) {
        let (t, unknown) = u.expand(budget, "bake target", &t)?;
        if unknown {
            u.problem(
                found,
                false,
                format!(
                    "bake targets {t} are known only when the workflow runs; the step is not analysed"
                ),
            );
            return Ok(());
        }
        targets.push(t);
    }
    let workdir = match u.get("workdir").and_then(s) {
        None => String::new(),
        Some(w) => {
            let w = u.expand(budget, "workdir", &w)?.0;
            let Some(r) = u.to_repo(&w) else {
                u.problem(
                    found,
                    true,
                    format!("workdir {w} is outside the repository; refused"),
                );
                return Ok(());
            };
            r
        }
    };
    let files = bake_files(u, &workdir, found, budget)?;
    let mut set = Vec::new();
    for item in lines_list(u.get("set")) {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let Some((target, attr)) = key.trim().rsplit_once('.') else {
            continue;
        };
        set.push((
            target.to_string(),
            attr.to_string(),
            u.expand(budget, &format!("set {}", key.trim()), value)?.0,
        ));
    }
    let ci = u.ci(budget)?;
    found.bakes.push(StepBake {
        file: u.path.to_string(),
        job: u.at.job.to_string(),
        step: u.at.name.to_string(),
        line: u.line,
        files,
        workdir,
        targets,
        ci,
        set,
        env: u.at.env.flattened(budget).map_err(|exceeded| OverBudget {
            line: u.line,
            what: format!("job {}, {}: env", u.at.job, u.at.name),
            exceeded,
        })?,
    });
    Ok(())
}

/// A bake step's `files` below its `workdir`; remote ones are skipped, the others not read are
/// problems.
fn bake_files(
    u: &UsesStep<'_>,
    workdir: &str,
    found: &mut Found,
    budget: &mut Budget,
) -> Result<Vec<String>, OverBudget> {
    let mut files = Vec::new();
    for f in list(u.get("files")) {
        let (f, unknown) = u.expand(budget, "bake file", &f)?;
        if unknown {
            u.problem(
                found,
                false,
                format!(
                    "bake file {f} is an expression known only when the workflow runs; not read"
                ),
            );
            continue;
        }
        if f.starts_with("cwd://") || f.contains("://") {
            continue;
        }
        match inside(workdir, &f) {
            Some(p) => files.push(p),
            None => u.problem(
                found,
                true,
                format!("bake file {f} is outside the repository; refused"),
            ),
        }
    }
    Ok(files)
}

/// One step of a job, for expanding its inputs.
struct StepAt<'a> {
    job: &'a str,
    name: &'a str,
    root: &'a str,
    env: &'a Env<'a>,
}

impl StepAt<'_> {
    fn expand(
        &self,
        budget: &mut Budget,
        line: Option<u32>,
        what: &str,
        v: &str,
    ) -> Result<(String, bool), OverBudget> {
        resolve_expr(v, self.env, self.root, budget).map_err(|exceeded| OverBudget {
            line,
            what: format!("job {}, {}: {what}", self.job, self.name),
            exceeded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `on:` as GitHub reads it for a change of some paths: which workflows run (Ok) and why the
    /// others do not.
    #[test]
    fn triggers_decide_whether_a_change_runs_the_workflow() {
        let paths_skip = Err(Skip::Paths);
        let events = |e: &[&str]| Err(Skip::Events(e.iter().map(|x| x.to_string()).collect()));
        let cases: Vec<(&str, &[&str], Result<(), Skip>)> = vec![
            ("on: push", &["a"], Ok(())),
            ("on: [pull_request, release]", &["a"], Ok(())),
            (
                "on:\n  release:\n    types: [published]\n",
                &["a"],
                events(&["release"]),
            ),
            (
                "on:\n  schedule:\n    - cron: '0 0 * * *'\n  workflow_dispatch:\n",
                &["a"],
                events(&["schedule", "workflow_dispatch"]),
            ),
            // a push filtered on tags only runs for tag pushes
            (
                "on:\n  push:\n    tags: ['v*']\n",
                &["a"],
                events(&["push"]),
            ),
            (
                "on:\n  push:\n    tags: ['v*']\n    branches: [main]\n",
                &["a"],
                Ok(()),
            ),
            // reusable and chained workflows run when their caller does
            ("on: workflow_call", &["a"], Ok(())),
            (
                "on:\n  pull_request:\n    paths: ['app/**']\n",
                &["app/x/y.go"],
                Ok(()),
            ),
            (
                "on:\n  pull_request:\n    paths: ['app/**']\n",
                &["docs/a.md"],
                paths_skip.clone(),
            ),
            // `*` stays in one directory, `**/` may match none
            (
                "on:\n  pull_request:\n    paths: ['*.go']\n",
                &["cmd/a.go"],
                paths_skip.clone(),
            ),
            (
                "on:\n  pull_request:\n    paths: ['**/Dockerfile']\n",
                &["Dockerfile"],
                Ok(()),
            ),
            // the last matching pattern decides
            (
                "on:\n  pull_request:\n    paths: ['app/**', '!app/docs/**']\n",
                &["app/docs/a.md"],
                paths_skip.clone(),
            ),
            (
                "on:\n  pull_request:\n    paths-ignore: ['**.md', 'docs/**']\n",
                &["README.md", "docs/x.txt"],
                paths_skip.clone(),
            ),
            (
                "on:\n  pull_request:\n    paths-ignore: ['**.md']\n",
                &["README.md", "src/a.rs"],
                Ok(()),
            ),
            // one event without a filter is enough
            (
                "on:\n  push:\n    branches: [main]\n  pull_request:\n    paths: ['app/**']\n",
                &["docs/a.md"],
                Ok(()),
            ),
            // no `on:` (not a workflow GitHub runs, or unreadable): taken to run
            ("jobs: {}\n", &["a"], Ok(())),
        ];
        for (on, changed, want) in cases {
            let doc = crate::engine::decl::load_yaml(on).unwrap();
            assert_eq!(
                triggers(&doc).runs_for(changed, None),
                want,
                "{on:?} for {changed:?}"
            );
        }
    }

    /// A pattern that cannot be compiled (a class `[z-a]` with its range backwards) leaves the filter
    /// taken to match, and a hostile number of patterns is not compiled.
    #[test]
    fn filters_that_cannot_be_read_are_taken_to_match() {
        let f = PathFilter {
            event: "pull_request".into(),
            paths: vec!["[z-a]".into()],
            ignore: Vec::new(),
            compiled: CompiledFilter::default(),
        };
        assert!(f.passes(&["zzz"], None));
        let many = PathFilter {
            event: "pull_request".into(),
            paths: (0..10_000).map(|i| format!("p{i}/**")).collect(),
            ignore: Vec::new(),
            compiled: CompiledFilter::default(),
        };
        assert!(many.passes(&["zzz"], None));
    }

    #[test]
    fn build_push_and_bake_steps() {
        let y = r#"
name: images
env:
  GO_VERSION: "1.22"
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          path: release
      - name: Build and push
        uses: docker/build-push-action@v6
        with:
          context: release
          file: release/cmd/loki/Dockerfile
          target: final
          build-args: |
            GO_VERSION=${{ env.GO_VERSION }}
            IMAGE_TAG=${{ steps.v.outputs.tag }}
  other:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
      - uses: docker/build-push-action@v6
        with:
          context: ${{ matrix.dir }}
      - uses: docker/bake-action@v5
        with:
          files: ./deploy/docker-bake.hcl
          targets: app,worker
"#;
        let f = read(".github/workflows/images.yml", y);
        assert_eq!(f.builds.len(), 2, "{:?}", f.builds);
        let a = &f.builds[0];
        assert_eq!(a.context, "");
        assert_eq!(a.dockerfile, "cmd/loki/Dockerfile");
        assert_eq!(a.target.as_deref(), Some("final"));
        assert_eq!(a.args["GO_VERSION"], "1.22");
        assert_eq!(a.args["IMAGE_TAG"], "${{ steps.v.outputs.tag }}");
        assert_eq!(a.step, "Build and push");
        assert_eq!(a.line, Some(13));
        let b = &f.builds[1];
        assert_eq!(
            (b.context.as_str(), b.dockerfile.as_str()),
            ("", "Dockerfile")
        );
        assert_eq!(b.step, "step 2");
        assert_eq!(f.bakes.len(), 1);
        assert_eq!(f.bakes[0].files, vec!["deploy/docker-bake.hcl"]);
        assert_eq!(f.bakes[0].targets, vec!["app", "worker"]);
        let msgs: Vec<&str> = f.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("IMAGE_TAG"));
        assert!(msgs[1].contains("matrix.dir"));
        assert_eq!(f.problems[1].line, Some(26));
    }

    /// Issue 30 item 14: a context, file, workdir or named context outside the workspace (an
    /// absolute path of the runner, or `..` above it) is refused with its line, never clamped
    /// onto the repository's own `etc/`.
    #[test]
    fn paths_outside_the_workspace_are_refused_not_clamped() {
        let steps = [
            ("context: /etc", "context /etc"),
            ("context: ../../../../etc", "context ../../../../etc"),
            ("context: etc/../../etc", "context etc/../../etc"),
            ("file: /etc/Dockerfile", "file /etc/Dockerfile"),
            ("file: ../etc/Dockerfile", "file ../etc/Dockerfile"),
            (
                "build-contexts: |\n            x=../../etc",
                "build context x=../../etc",
            ),
        ];
        for (with, said) in steps {
            let y = format!(
                "jobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - uses: docker/build-push-action@v6\n        with:\n          {with}\n"
            );
            let f = read(".github/workflows/x.yml", &y);
            assert!(f.builds.is_empty(), "{with}: {:?}", f.builds);
            assert_eq!(f.problems.len(), 1, "{with}: {:?}", f.problems);
            let p = &f.problems[0];
            assert!(p.error && p.line == Some(6), "{with}: {p:?}");
            assert!(
                p.message
                    .contains(&format!("{said} is outside the repository; refused")),
                "{with}: {}",
                p.message
            );
        }
        let y = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: docker/bake-action@v5\n        with:\n          workdir: /etc\n";
        let f = read(".github/workflows/x.yml", y);
        assert!(f.bakes.is_empty(), "{:?}", f.bakes);
        assert!(
            f.problems[0]
                .message
                .contains("workdir /etc is outside the repository; refused"),
            "{:?}",
            f.problems
        );
        // inside the workspace stays as it was
        let y = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          context: ./etc/../app\n";
        let f = read(".github/workflows/x.yml", y);
        assert_eq!(f.builds[0].context, "app");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn expansions_past_the_budget_refuse_the_file_naming_step_line_and_limit() {
        // a 600 KB value referenced 110,000 times: 66 GB unbounded
        let big = "x".repeat(600_000);
        let refs = "${{env.B}}".repeat(110_000);
        let y = format!(
            "env:\n  B: {big}\njobs:\n  a:\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          context: app\n      - name: bomb\n        uses: docker/build-push-action@v6\n        with:\n          build-args: X={refs}\n"
        );
        let f = read(".github/workflows/x.yml", &y);
        assert!(f.builds.is_empty(), "{:?}", f.builds.len());
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        let p = &f.problems[0];
        assert!(p.error);
        assert_eq!(p.line, Some(10));
        assert_eq!(
            p.message,
            "job a, bomb: build arg X: the expansion goes past the evaluation budget of one workflow file (more than 16 MiB of text produced); its builds are not analysed"
        );
        // the same value used a few times is fine, and layers resolve nearest first
        let y = format!(
            "env:\n  B: {big}\n  C: w\njobs:\n  a:\n    env:\n      C: j\n    steps:\n      - uses: docker/build-push-action@v6\n        env:\n          D: s\n        with:\n          build-args: |\n            X=${{{{ env.B }}}}${{{{ env.B }}}}\n            Y=${{{{ env.C }}}}${{{{ env.D }}}}\n"
        );
        let f = read(".github/workflows/x.yml", &y);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.builds[0].args["X"].len(), 1_200_000);
        assert_eq!(f.builds[0].args["Y"], "js");
    }

    #[test]
    fn bake_steps_env_source_and_run_time_targets() {
        let y = r#"
env:
  TAG: "1"
jobs:
  bake:
    runs-on: ubuntu-latest
    env:
      GO_VERSION: "1.23"
    steps:
      - uses: docker/bake-action@v6
        env:
          TAG: "2"
          NOT_KNOWN: ${{ secrets.X }}
      - uses: docker/bake-action@v6
        with:
          source: .
          targets: |
            bench
            ${{ env.EXTRA }}
        env:
          EXTRA: lint
      - name: matrix
        uses: docker/bake-action@v6
        with:
          targets: ${{ matrix.target }}
      - name: remote
        uses: docker/bake-action@v6
        with:
          source: "https://github.com/tonistiigi/xx.git#main"
      - uses: docker/bake-action/subaction/matrix@v6
"#;
        let f = read(".github/workflows/bake.yml", y);
        assert_eq!(f.bakes.len(), 2, "{:?}", f.bakes);
        assert!(f.bakes[0].targets.is_empty());
        assert_eq!(
            f.bakes[0].env,
            BTreeMap::from([
                ("GO_VERSION".to_string(), "1.23".to_string()),
                ("TAG".to_string(), "2".to_string())
            ])
        );
        assert_eq!(f.bakes[1].targets, vec!["bench", "lint"]);
        let msgs: Vec<&str> = f.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("matrix.target"), "{msgs:?}");
        assert_eq!(f.problems[0].line, Some(23));
        assert!(msgs[1].contains("not this repository"), "{msgs:?}");
    }

    #[test]
    fn bad_yaml_is_a_problem_with_a_line() {
        let f = read(".github/workflows/x.yml", "jobs:\n  a: [unclosed\n");
        assert_eq!(f.problems.len(), 1);
        assert!(f.problems[0].line.is_some());
    }
}
