//! Compose projects resolved the way Docker Compose resolves them (the Compose Specification, as
//! compose-go implements it), for the one part cachebust needs: each service's build (context,
//! Dockerfile or inline Dockerfile, args, target, named contexts). Owns project discovery in a
//! directory (default file + override, `COMPOSE_FILE` in `.env`), the project `.env`,
//! interpolation, `include:`, `extends:` (same file and other files) and override merging.
//!
//! Pure: files come in as texts; when a file the project names (an include, an `extends` file, the
//! `.env`) has not been given, `resolve` answers `Err(Need)` with the paths to load, and the caller
//! calls again. YAML is read with `serde-saphyr` under budgets that bound what alias expansion
//! produces (a pull request controls these files), not the ratio of aliases to anchors, so real
//! files with many anchors load.

pub mod interp;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use serde_json::Value;

use crate::engine::budget::{self, Budget, Exceeded, Size, json_size};
use crate::engine::decl::Problem;
use crate::engine::decl::{find_line, inside};
use crate::engine::tree::join_clean;

/// Deepest chain of `include:` / `extends:` followed.
pub const MAX_NESTING: usize = 16;

/// The default project files of a directory, in the order Compose tries them.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// One service build of a resolved project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeBuild {
    pub service: String,
    /// The compose file that declares the service (root-relative).
    pub file: String,
    /// 1-based line of the service's key in `file`, when found.
    pub line: Option<u32>,
    /// Root-relative context directory ("" = root).
    pub context: String,
    /// Root-relative Dockerfile path (for an inline Dockerfile: `file#service`).
    pub dockerfile: String,
    /// `build.dockerfile_inline`, when the Dockerfile is written in the compose file.
    pub inline: Option<String>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `build.additional_contexts`: name → root-relative directory or the raw source
    /// (`docker-image://…`, `service:…`, a URL).
    pub contexts: BTreeMap<String, String>,
}

/// A project: the files Compose would read, in order, and its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Root-relative project directory ("" = root).
    pub dir: String,
    /// Root-relative compose files, first one first (later files override earlier ones).
    pub files: Vec<String>,
}

impl Project {
    /// The name shown in reports: the files joined with `+`.
    pub fn label(&self) -> String {
        self.files.join(" + ")
    }
}

/// Files of the project not yet given: load them (absent files as `None`) and resolve again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need(pub Vec<String>);

/// The resolved builds of a project and what went wrong on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub builds: Vec<ComposeBuild>,
    pub problems: Vec<Problem>,
    /// Every file the project read (compose files, includes, extends files, `.env`).
    pub inputs: Vec<String>,
}

fn dir_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn in_dir(dir: &str, name: &str) -> String {
    join_clean(dir, name)
}

/// `compose*.y*ml` and `docker-compose*.y*ml` (the names `docker compose -f` is used with).
pub fn is_compose_name(name: &str) -> bool {
    let name = name_of(name);
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    yaml && (name.starts_with("compose") || name.starts_with("docker-compose"))
}

/// The projects of a tree, from the list of its compose-named files: one per directory with a
/// default file (with its override), and one for each other compose file on its own.
/// `dotenv_compose_file` gives, per directory, the `COMPOSE_FILE` of its `.env` when set.
pub fn projects(names: &[String], dotenv_compose_file: &BTreeMap<String, String>) -> Vec<Project> {
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let dirs: BTreeSet<&str> = names.iter().map(|n| dir_of(n)).collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for dir in dirs {
        if let Some(list) = dotenv_compose_file.get(dir) {
            let files: Vec<String> = list
                .split([':', ';'])
                .filter(|s| !s.trim().is_empty())
                .map(|s| in_dir(dir, s.trim()))
                .collect();
            if !files.is_empty() {
                used.extend(files.iter().cloned());
                out.push(Project {
                    dir: dir.to_string(),
                    files,
                });
                continue;
            }
        }
        let Some(default) = DEFAULT_FILES
            .iter()
            .map(|f| in_dir(dir, f))
            .find(|p| set.contains(p.as_str()))
        else {
            continue;
        };
        let stem = if name_of(&default).starts_with("docker-") {
            "docker-compose.override"
        } else {
            "compose.override"
        };
        let mut files = vec![default];
        if let Some(o) = OVERRIDE_FILES
            .iter()
            .filter(|f| f.starts_with(stem))
            .map(|f| in_dir(dir, f))
            .find(|p| set.contains(p.as_str()))
        {
            files.push(o);
        }
        used.extend(files.iter().cloned());
        out.push(Project {
            dir: dir.to_string(),
            files,
        });
    }
    // other compose files: layered on their directory's default file when it has one (how
    // `docker compose -f compose.yaml -f compose.full.yaml` uses them), else on their own
    for n in names {
        if is_compose_name(n) && !used.contains(n) {
            let dir = dir_of(n);
            let default = out
                .iter()
                .find(|p| p.dir == dir && p.files.len() <= 2)
                .map(|p| p.files[0].clone())
                .filter(|d| DEFAULT_FILES.contains(&name_of(d)));
            let files = match default {
                Some(d) => vec![d, n.clone()],
                None => vec![n.clone()],
            };
            out.push(Project {
                dir: dir.to_string(),
                files,
            });
        }
    }
    out
}

/// The `.env` path of a project directory.
pub fn dotenv_path(dir: &str) -> String {
    in_dir(dir, ".env")
}

/// `COMPOSE_FILE` from a `.env` text, if set.
pub fn compose_file_from_dotenv(text: &str) -> Option<String> {
    let (vars, _) =
        interp::parse_dotenv(text, &BTreeMap::new(), &mut Budget::new(&budget::RESOLVE));
    vars.get("COMPOSE_FILE").cloned()
}

/// The first line of each key written on an indented line, quoted or not.
fn key_lines(text: &str) -> HashMap<String, u32> {
    let mut keys = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.len() == l.len() {
            continue;
        }
        let quoted = |q: char| {
            let r = t.strip_prefix(q)?;
            let end = r.find(q)?;
            r[end + 1..].starts_with(':').then(|| &r[..end])
        };
        let key = match t.chars().next() {
            Some(q @ ('"' | '\'')) => quoted(q),
            _ => t.find(':').map(|e| &t[..e]),
        };
        if let Some(k) = key {
            keys.entry(k.to_string()).or_insert(i as u32 + 1);
        }
    }
    keys
}

/// The first line that names each variable (`$NAME` or `${NAME…`).
fn var_lines(text: &str) -> HashMap<String, u32> {
    let mut vars = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let mut rest = l;
        while let Some(k) = rest.find('$') {
            rest = &rest[k + 1..];
            let name = rest.strip_prefix('{').unwrap_or(rest);
            let end = name
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(name.len());
            if end > 0 {
                vars.entry(name[..end].to_string()).or_insert(i as u32 + 1);
            }
        }
    }
    vars
}

/// The first line that gives each build arg: `KEY`, `- KEY`, `KEY: …`, `KEY=…` (a key holding
/// `:` or `=` is searched for instead).
fn arg_lines(text: &str) -> HashMap<String, u32> {
    let mut args = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let s = l.trim_start().trim_start_matches("- ").trim();
        let mut put = |k: &str| {
            args.entry(k.to_string()).or_insert(i as u32 + 1);
        };
        put(s);
        for sep in [':', '='] {
            if let Some(e) = s.find(sep) {
                put(&s[..e]);
            }
        }
    }
    args
}

/// Lines of one file, each index built once per resolution when first asked (looking each
/// service, variable or arg up by scanning the file made a large compose file quadratic).
#[derive(Default)]
struct Lines {
    keys: Option<HashMap<String, u32>>,
    vars: Option<HashMap<String, u32>>,
    args: Option<HashMap<String, u32>>,
}

/// Where a resolution went past its budget, and what it was doing.
struct OverBudget {
    file: String,
    line: Option<u32>,
    what: String,
}

/// State of one resolution.
struct Ctx<'a> {
    /// What the caller remembers across calls (the YAML documents read).
    memo: &'a crate::engine::memo::Memo,
    files: &'a BTreeMap<String, Option<String>>,
    need: BTreeSet<String>,
    problems: Vec<Problem>,
    /// `problems` as a set (each is recorded once).
    recorded: HashSet<Problem>,
    inputs: BTreeSet<String>,
    /// Parsed files (None when unreadable; the problem is recorded once), shared, not copied,
    /// by every include of the same file.
    parsed: BTreeMap<String, Option<Rc<Value>>>,
    /// Line indexes by file.
    lines: HashMap<String, Lines>,
    /// What the resolution may produce: files loaded, includes and extends followed, services
    /// and environments copied, interpolations, text searched for a line.
    budget: Budget,
    /// Where the budget was first exceeded.
    over: Option<OverBudget>,
}

impl<'a> Ctx<'a> {
    fn problem(&mut self, file: &str, line: Option<u32>, error: bool, message: String) {
        let p = Problem {
            file: file.to_string(),
            line,
            error,
            message,
        };
        if self.recorded.insert(p.clone()) {
            self.problems.push(p);
        }
    }

    /// Whether the budget is spent: every caller stops.
    fn spent(&self) -> bool {
        self.budget.exceeded().is_some()
    }

    /// `r` from a charge on the budget: false (and where, the first time) when it is spent.
    fn charged(
        &mut self,
        r: Result<(), Exceeded>,
        file: &str,
        line: Option<u32>,
        what: &str,
    ) -> bool {
        if r.is_ok() {
            return true;
        }
        if self.over.is_none() {
            self.over = Some(OverBudget {
                file: file.to_string(),
                line,
                what: what.to_string(),
            });
        }
        false
    }

    /// The first line of `text` that `pred` accepts; searching counts one step per 4 KiB.
    fn line_where(&mut self, text: &str, pred: impl Fn(&str) -> bool) -> Option<u32> {
        if self.budget.steps(1 + text.len() / 4096).is_err() {
            return None;
        }
        find_line(text, pred)
    }

    fn index(
        &mut self,
        file: &str,
        text: &str,
        pick: fn(&mut Lines) -> &mut Option<HashMap<String, u32>>,
        build: fn(&str) -> HashMap<String, u32>,
        key: &str,
    ) -> Option<u32> {
        let built = self.lines.get_mut(file).is_some_and(|l| pick(l).is_some());
        if !built {
            if self.budget.steps(1 + text.len() / 4096).is_err() {
                return None;
            }
            *pick(self.lines.entry(file.to_string()).or_default()) = Some(build(text));
        }
        pick(self.lines.get_mut(file)?).as_ref()?.get(key).copied()
    }

    /// The line of `service`'s key in `file`: the first indented line that starts with
    /// `service:`, `"service":` or `'service':`.
    fn service_line(&mut self, file: &str, text: &str, service: &str) -> Option<u32> {
        self.index(file, text, |l| &mut l.keys, key_lines, service)
    }

    /// The first line of `file` that uses variable `name`.
    fn var_line(&mut self, file: &str, text: &str, name: &str) -> Option<u32> {
        self.index(file, text, |l| &mut l.vars, var_lines, name)
    }

    /// The text of a file, or `None` (recording a need when it was not given at all).
    fn text(&mut self, path: &str) -> Option<&'a str> {
        let files: &'a BTreeMap<String, Option<String>> = self.files;
        match files.get(path) {
            Some(Some(t)) => {
                self.inputs.insert(path.to_string());
                Some(t.as_str())
            }
            Some(None) => None,
            None => {
                self.need.insert(path.to_string());
                None
            }
        }
    }

    /// The text of a file given (empty when absent), without recording anything.
    fn given(&self, path: &str) -> &'a str {
        let files: &'a BTreeMap<String, Option<String>> = self.files;
        files.get(path).and_then(Option::as_deref).unwrap_or("")
    }

    fn parse(&mut self, path: &str) -> Option<Rc<Value>> {
        if let Some(v) = self.parsed.get(path) {
            return v.clone();
        }
        let v = match self.text(path) {
            None => {
                if self.files.contains_key(path) {
                    self.problem(path, None, true, "no such file".into());
                }
                None
            }
            Some(t) => match crate::engine::decl::load_yaml_in(self.memo, t) {
                Ok(v) => Some(Rc::new(v)),
                Err((line, m)) => {
                    self.problem(path, line, true, format!("cannot read compose file: {m}"));
                    None
                }
            },
        };
        if self.files.contains_key(path) {
            self.parsed.insert(path.to_string(), v.clone());
        }
        v
    }

    /// A copy of `env` for a project of its own, counted against the budget (`None` once it is
    /// spent).
    fn copy_env(
        &mut self,
        env: &BTreeMap<String, String>,
        file: &str,
    ) -> Option<BTreeMap<String, String>> {
        let bytes: usize = env.iter().map(|(k, v)| k.len() + v.len()).sum();
        let r = self.budget.size(Size {
            bytes,
            values: env.len(),
        });
        self.charged(r, file, None, "copying the environment")
            .then(|| env.clone())
    }

    /// The variables of the env file at `path` (when there is one) added under `env`; values
    /// interpolate with `outer`.
    fn add_dotenv(
        &mut self,
        path: &str,
        outer: &BTreeMap<String, String>,
        env: &mut BTreeMap<String, String>,
    ) {
        let Some(t) = self.text(path) else { return };
        let (vars, problems) = interp::parse_dotenv(t, outer, &mut self.budget);
        if let Some(e) = self.budget.exceeded() {
            self.charged(Err(e), path, None, "the variables of this file");
        }
        for pr in problems {
            self.problem(path, Some(pr.line), false, pr.message);
        }
        for (k, v) in vars {
            env.entry(k).or_insert(v);
        }
    }

    fn env_of(&mut self, dir: &str, outer: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let path = dotenv_path(dir);
        let mut env = self.copy_env(outer, &path).unwrap_or_default();
        self.add_dotenv(&path, outer, &mut env);
        env
    }
}

/// Resolve a project's builds. `files` maps root-relative paths to their texts (`None`: absent);
/// `outer` is the environment given by the caller (variables set on the command line), which
/// takes precedence over the `.env` as in Compose. The resolution works under one budget
/// (`budget::RESOLVE`): past it the project's builds are refused with one error naming the
/// file, the line and the limit.
pub fn resolve(
    project: &Project,
    files: &BTreeMap<String, Option<String>>,
    outer: &BTreeMap<String, String>,
) -> Result<Resolved, Need> {
    resolve_in(&crate::engine::memo::Memo::default(), project, files, outer)
}

/// [`resolve`], the YAML documents read remembered in `memo`.
pub fn resolve_in(
    memo: &crate::engine::memo::Memo,
    project: &Project,
    files: &BTreeMap<String, Option<String>>,
    outer: &BTreeMap<String, String>,
) -> Result<Resolved, Need> {
    let mut cx = Ctx {
        memo,
        files,
        need: BTreeSet::new(),
        problems: Vec::new(),
        recorded: HashSet::new(),
        inputs: BTreeSet::new(),
        parsed: BTreeMap::new(),
        lines: HashMap::new(),
        budget: Budget::new(&budget::RESOLVE),
        over: None,
    };
    let env = cx.env_of(&project.dir, outer);
    let mut services: BTreeMap<String, Svc> = BTreeMap::new();
    load_project(
        &mut cx,
        &project.dir,
        &project.files,
        &env,
        &mut services,
        0,
    );
    if cx.spent() {
        return Ok(refused(cx, project));
    }
    if !cx.need.is_empty() {
        return Err(Need(cx.need.into_iter().collect()));
    }
    let mut builds = Vec::new();
    for (name, svc) in &services {
        if let Some(b) = finish(&mut cx, name, svc, &env) {
            builds.push(b);
        }
    }
    if cx.spent() {
        return Ok(refused(cx, project));
    }
    if !cx.need.is_empty() {
        return Err(Need(cx.need.into_iter().collect()));
    }
    Ok(Resolved {
        builds,
        problems: cx.problems,
        inputs: cx.inputs.into_iter().collect(),
    })
}

/// A project past its budget: no builds, the problems met before, and one error saying where
/// and which limit.
fn refused(mut cx: Ctx, project: &Project) -> Resolved {
    let e = cx.budget.exceeded();
    let at = cx.over.take().unwrap_or_else(|| OverBudget {
        file: project.files[0].clone(),
        line: None,
        what: "the project".into(),
    });
    if let Some(e) = e {
        cx.problem(
            &at.file,
            at.line,
            true,
            format!(
                "{}: the project {} goes past the evaluation budget of one Compose project ({e}); none of its builds is analysed",
                at.what,
                project.label()
            ),
        );
    }
    Resolved {
        builds: Vec::new(),
        problems: cx.problems,
        inputs: cx.inputs.into_iter().collect(),
    }
}

/// A service as merged so far: the parts of its mapping that decide its build (`build`,
/// `extends`), interpolated, and where relative paths of its build resolve from.
#[derive(Debug, Clone)]
struct Svc {
    value: serde_json::Map<String, Value>,
    /// Directory the build's relative paths are relative to.
    base_dir: String,
    /// File and text where the service is declared (the last file that mentions it).
    file: String,
    line: Option<u32>,
}

/// The keys of a service that decide its build; the rest is never copied.
const BUILD_KEYS: &[&str] = &["build", "extends"];

/// A copy of a service's build keys, counted against the budget (`None` once it is spent).
fn build_part(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    name: &str,
    m: &serde_json::Map<String, Value>,
) -> Option<serde_json::Map<String, Value>> {
    let part: serde_json::Map<String, Value> = BUILD_KEYS
        .iter()
        .filter_map(|k| m.get(*k).map(|v| (k.to_string(), v)))
        .map(|(k, v)| (k, v.clone()))
        .collect();
    let size = part.values().map(json_size).fold(Size::ONE, Size::plus);
    let r = cx.budget.step().and_then(|_| cx.budget.size(size));
    if r.is_ok() {
        return Some(part);
    }
    let line = cx.service_line(file, text, name);
    cx.charged(r, file, line, &format!("service {name}"));
    None
}

/// Load `files` into `services`, in order: each file's `include:` first, then its services,
/// merged over those of the files before.
fn load_project(
    cx: &mut Ctx,
    dir: &str,
    files: &[String],
    env: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, Svc>,
    depth: usize,
) {
    for file in files {
        if cx.spent() {
            return;
        }
        // a project file is a step (an included one was counted where it is included)
        if depth == 0 {
            let r = cx.budget.step();
            if !cx.charged(r, file, None, "loading this file") {
                return;
            }
        }
        let Some(doc) = cx.parse(file) else { continue };
        let text = cx.given(file);
        // include: other projects merged into this one
        if let Some(inc) = doc.get("include") {
            if depth >= MAX_NESTING {
                let at = cx.line_where(text, |l| l.starts_with("include"));
                cx.problem(
                    file,
                    at,
                    true,
                    format!(
                        "include: nests deeper than {MAX_NESTING} files (a cycle?); not followed"
                    ),
                );
            } else {
                load_includes(cx, file, text, inc, env, services, depth);
            }
        }
        let Some(svcs) = doc.get("services").and_then(Value::as_object) else {
            continue;
        };
        for (name, raw) in svcs {
            if cx.spent() {
                return;
            }
            let Some(m) = raw.as_object() else {
                if !raw.is_null() {
                    let at = cx.service_line(file, text, name);
                    cx.problem(file, at, true, format!("service {name} must be a mapping"));
                }
                continue;
            };
            let Some(declared) = declared_service(cx, dir, file, text, name, m, env) else {
                return;
            };
            merge_declared(services, name, declared);
        }
    }
}

/// Service `name` as `file` declares it: its build keys interpolated and its `extends` followed
/// (`None` once the budget is spent).
fn declared_service(
    cx: &mut Ctx,
    dir: &str,
    file: &str,
    text: &str,
    name: &str,
    m: &serde_json::Map<String, Value>,
    env: &BTreeMap<String, String>,
) -> Option<Svc> {
    let mut m = build_part(cx, file, text, name, m)?;
    interpolate_service(cx, file, text, name, &mut m, env);
    let line = cx.service_line(file, text, name);
    let own = |value| Svc {
        value,
        base_dir: dir.to_string(),
        file: file.to_string(),
        line,
    };
    // extends, resolved against the files as written (same file or another)
    let Some(ext) = m.get("extends").cloned() else {
        return Some(own(m));
    };
    let mut seen = vec![(file.to_string(), name.to_string())];
    let base = extended(cx, file, text, name, &ext, env, &mut seen);
    m.remove("extends");
    Some(match base {
        Some(b) => laid_over(b, m, dir, file, line),
        None => own(m),
    })
}

/// Service mapping `m` (its `extends` taken out), declared in `file` (in `dir`) at `line`,
/// merged over the service it extends: the build's paths stay relative to the file that set
/// them.
fn laid_over(
    base: Svc,
    m: serde_json::Map<String, Value>,
    dir: &str,
    file: &str,
    line: Option<u32>,
) -> Svc {
    let own_context = m_has_context(&m);
    Svc {
        value: merge_service(base.value, m),
        base_dir: if own_context {
            dir.to_string()
        } else {
            base.base_dir
        },
        file: file.to_string(),
        line,
    }
}

/// Add a service a file declares to `services`: merged over the declaration of an earlier file,
/// whose base directory it keeps, when there is one.
fn merge_declared(services: &mut BTreeMap<String, Svc>, name: &str, declared: Svc) {
    match services.remove(name) {
        Some(prev) => {
            services.insert(
                name.to_string(),
                Svc {
                    value: merge_service(prev.value, declared.value),
                    base_dir: prev.base_dir,
                    file: declared.file,
                    line: declared.line,
                },
            );
        }
        None => {
            services.insert(name.to_string(), declared);
        }
    }
}

/// Follow the entries of a file's `include:`, the services of each included project added to
/// `services`.
fn load_includes(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    inc: &Value,
    env: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, Svc>,
    depth: usize,
) {
    let items: Vec<&Value> = match inc {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    for it in items {
        if cx.spent() {
            return;
        }
        let entry = IncludeEntry::of(it);
        if !load_include(cx, file, text, &entry, env, services, depth) {
            return;
        }
    }
}

/// One entry of an `include:`, as written.
struct IncludeEntry {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_file: Option<Vec<String>>,
}

impl IncludeEntry {
    /// The entry `it`: a path, or a mapping with `path`, `project_directory` and `env_file`.
    fn of(it: &Value) -> IncludeEntry {
        match it {
            Value::String(s) => IncludeEntry {
                paths: vec![s.clone()],
                project_directory: None,
                env_file: None,
            },
            Value::Object(m) => IncludeEntry {
                paths: string_list(m.get("path")).unwrap_or_default(),
                project_directory: m
                    .get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                env_file: string_list(m.get("env_file")),
            },
            _ => IncludeEntry {
                paths: Vec::new(),
                project_directory: None,
                env_file: None,
            },
        }
    }
}

/// The strings of a string-or-list value (a list's other items skipped); `None` for anything
/// else.
fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Follow one `include:` entry of `file`, its project's services added to `services`; false
/// once the budget is spent (nothing more is followed).
fn load_include(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    entry: &IncludeEntry,
    env: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, Svc>,
    depth: usize,
) -> bool {
    let dir = dir_of(file);
    if entry.paths.is_empty() {
        let at = cx.line_where(text, |l| l.starts_with("include"));
        cx.problem(file, at, true, "an include: entry names no path".into());
        return true;
    }
    let Some(resolved) = include_paths(cx, file, text, &entry.paths, env) else {
        return false;
    };
    if resolved.is_empty() {
        return true;
    }
    let Some(pdir) = include_dir(cx, file, entry.project_directory.as_deref(), &resolved) else {
        return true;
    };
    // the included project's environment: the caller's, then its own env file(s)
    let Some(mut ienv) = cx.copy_env(env, file) else {
        return false;
    };
    let env_files: Vec<String> = match &entry.env_file {
        Some(list) => list.iter().filter_map(|e| inside(dir, e)).collect(),
        None => vec![dotenv_path(&pdir)],
    };
    for ef in env_files {
        cx.add_dotenv(&ef, env, &mut ienv);
    }
    // each include followed is a step (files that include the next one 20 times, six
    // deep, are 64 million loads)
    if cx.budget.steps(resolved.len()).is_err() {
        // once per resolution: the search is not counted
        let at = find_line(text, |l| l.contains(entry.paths[0].as_str()));
        let e = cx.budget.exceeded().map_or(Ok(()), Err);
        cx.charged(e, file, at, &format!("include {}", entry.paths.join(", ")));
        return false;
    }
    let mut inner: BTreeMap<String, Svc> = BTreeMap::new();
    load_project(cx, &pdir, &resolved, &ienv, &mut inner, depth + 1);
    if cx.spent() {
        return false;
    }
    add_included(cx, file, text, inner, services);
    true
}

/// The paths of an include entry of `file`, interpolated and resolved in its directory (each
/// problem recorded): empty when one of them cannot be followed, `None` once the budget is
/// spent.
fn include_paths(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    paths: &[String],
    env: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let mut resolved = Vec::new();
    let mut bad = false;
    for p in paths {
        match include_path(cx, file, text, p, env)? {
            Some(r) => resolved.push(r),
            None => bad = true,
        }
    }
    Some(if bad { Vec::new() } else { resolved })
}

/// One include path of `file`, interpolated and resolved in its directory: `Some(None)` when it
/// cannot be followed (the problem recorded), `None` once the budget is spent.
fn include_path(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    p: &str,
    env: &BTreeMap<String, String>,
) -> Option<Option<String>> {
    let (p, found) = match interp::interpolate(p, env, &mut cx.budget) {
        Ok(x) => x,
        Err(interp::InterpError::Budget(e)) => {
            let at = find_line(text, |l| l.contains(p));
            cx.charged(Err(e), file, at, &format!("include {p}"));
            return None;
        }
        Err(e) => {
            let at = cx.line_where(text, |l| l.contains(p));
            cx.problem(file, at, true, e.to_string());
            return Some(None);
        }
    };
    for u in found.unset {
        let at = cx.var_line(file, text, &u);
        cx.problem(
            file,
            at,
            false,
            format!("variable {u} is not set (not in the environment nor .env); it is taken as an empty string, as Compose does"),
        );
    }
    // a remote include (`oci://…`, a git URL): Compose fetches it, cachebust reads only
    // the repository
    if p.contains("://") || p.starts_with("git@") {
        cx.problem(
            file,
            find_line(text, |l| l.contains(p.as_str())),
            false,
            format!(
                "include {p} is a remote resource, not a file of the repository; not fetched, so the services it defines are not analysed"
            ),
        );
        return Some(None);
    }
    let r = inside(dir_of(file), &p);
    if r.is_none() {
        let at = cx.line_where(text, |l| l.contains(p.as_str()));
        cx.problem(
            file,
            at,
            true,
            format!("include {p} is outside the repository; not read"),
        );
    }
    Some(r)
}

/// The project directory of an include of `file`: its `project_directory` (in `file`'s
/// directory), else the directory of its first file; `None` (the problem recorded) when
/// outside the repository.
fn include_dir(
    cx: &mut Ctx,
    file: &str,
    project_directory: Option<&str>,
    resolved: &[String],
) -> Option<String> {
    let Some(d) = project_directory else {
        return Some(dir_of(&resolved[0]).to_string());
    };
    let x = inside(dir_of(file), d);
    if x.is_none() {
        cx.problem(
            file,
            None,
            true,
            format!("include project_directory {d} is outside the repository; not read"),
        );
    }
    x
}

/// The services of a project `file` includes added to `services`; one already defined is a
/// problem, the first definition kept.
fn add_included(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    inner: BTreeMap<String, Svc>,
    services: &mut BTreeMap<String, Svc>,
) {
    for (k, v) in inner {
        if services.contains_key(&k) {
            let at = cx.service_line(file, text, &k);
            cx.problem(
                file,
                at,
                true,
                format!(
                    "service {k} is defined both here and in the included {}",
                    v.file
                ),
            );
            continue;
        }
        services.insert(k, v);
    }
}

/// The service `ext` names, fully resolved (its own `extends` followed), with the directory its
/// build paths are relative to.
fn extended(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    name: &str,
    ext: &Value,
    env: &BTreeMap<String, String>,
    seen: &mut Vec<(String, String)>,
) -> Option<Svc> {
    let (target_file, service) = extends_target(cx, file, text, name, ext)?;
    if extends_cycle(cx, file, text, name, &target_file, &service, seen) {
        return None;
    }
    seen.push((target_file.clone(), service.clone()));
    let doc = cx.parse(&target_file)?;
    let ttext = cx.given(&target_file);
    let Some(m) = doc
        .get("services")
        .and_then(|s| s.get(&service))
        .and_then(Value::as_object)
    else {
        let at = cx.service_line(file, text, name);
        cx.problem(
            file,
            at,
            true,
            format!("service {name}: extends {service}, which {target_file} does not define"),
        );
        return None;
    };
    let mut m = build_part(cx, &target_file, ttext, &service, m)?;
    interpolate_service(cx, &target_file, ttext, &service, &mut m, env);
    let line = cx.service_line(&target_file, ttext, &service);
    let base_dir = dir_of(&target_file).to_string();
    match m.remove("extends") {
        Some(next) => {
            let deeper = extended(cx, &target_file, ttext, &service, &next, env, seen)?;
            Some(laid_over(deeper, m, &base_dir, &target_file, line))
        }
        None => Some(Svc {
            value: m,
            base_dir,
            file: target_file,
            line,
        }),
    }
}

/// The file and service an `extends` of service `name` (in `file`) names; `None` (the problem
/// recorded) when it names none or a file outside the repository.
fn extends_target(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    name: &str,
    ext: &Value,
) -> Option<(String, String)> {
    match ext {
        Value::String(s) => Some((file.to_string(), s.clone())),
        Value::Object(m) => {
            let service = m.get("service").and_then(Value::as_str)?.to_string();
            let Some(f) = m.get("file").and_then(Value::as_str) else {
                return Some((file.to_string(), service));
            };
            let p = inside(dir_of(file), f);
            if p.is_none() {
                let at = cx.line_where(text, |l| l.contains(f));
                cx.problem(
                    file,
                    at,
                    true,
                    format!("service {name}: extends file {f} is outside the repository; not read"),
                );
            }
            Some((p?, service))
        }
        _ => {
            let at = cx.service_line(file, text, name);
            cx.problem(
                file,
                at,
                true,
                format!("service {name}: `extends` must be a service name or a mapping"),
            );
            None
        }
    }
}

/// Whether following `service` of `target_file` closes a cycle of `extends` (or nests past
/// `MAX_NESTING`); the problem is recorded on service `name` of `file`.
fn extends_cycle(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    name: &str,
    target_file: &str,
    service: &str,
    seen: &[(String, String)],
) -> bool {
    if !(seen.iter().any(|(f, s)| f == target_file && s == service) || seen.len() > MAX_NESTING) {
        return false;
    }
    let at = cx.service_line(file, text, name);
    cx.problem(
        file,
        at,
        true,
        format!(
            "service {name}: extends forms a cycle ({}); not followed",
            seen.iter()
                .map(|(f, s)| format!("{s} in {f}"))
                .chain(std::iter::once(format!("{service} in {target_file}")))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
    );
    true
}

fn m_has_context(m: &serde_json::Map<String, Value>) -> bool {
    match m.get("build") {
        Some(Value::String(_)) => true,
        Some(Value::Object(b)) => b.contains_key("context"),
        _ => false,
    }
}

/// Interpolate the parts of a service that decide its build (`build`, `extends`), recording
/// unset variables and errors with their line.
fn interpolate_service(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    name: &str,
    m: &mut serde_json::Map<String, Value>,
    env: &BTreeMap<String, String>,
) {
    for key in BUILD_KEYS {
        let Some(v) = m.get_mut(*key) else { continue };
        let mut errors = Vec::new();
        let mut unset = Vec::new();
        if let Err(e) = interpolate_value(v, env, &mut cx.budget, &mut errors, &mut unset) {
            let at = cx.service_line(file, text, name);
            cx.charged(Err(e), file, at, &format!("service {name}"));
            return;
        }
        for u in unset {
            let at = cx.var_line(file, text, &u);
            cx.problem(
                file,
                at,
                false,
                format!("service {name}: variable {u} is not set (not in the environment nor .env); it is taken as an empty string, as Compose does"),
            );
        }
        for (raw, e) in errors {
            let at = cx.line_where(text, |l| l.contains(raw.as_str()));
            cx.problem(file, at, true, format!("service {name}: {e}"));
            // Compose refuses the whole file; this service's build is not analysed
            m.insert("x-cachebust-invalid".into(), Value::Bool(true));
        }
    }
}

/// Interpolate every string of `v` (walked without recursion); `Err` once the budget is spent.
fn interpolate_value(
    v: &mut Value,
    env: &BTreeMap<String, String>,
    budget: &mut Budget,
    errors: &mut Vec<(String, interp::InterpError)>,
    unset: &mut Vec<String>,
) -> Result<(), Exceeded> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => match interp::interpolate(s, env, budget) {
                Ok((out, found)) => {
                    *s = out;
                    // each variable once, in the order first met
                    unset.extend(found.unset.into_iter().filter(|u| seen.insert(u.clone())));
                }
                Err(interp::InterpError::Budget(e)) => return Err(e),
                Err(e) => errors.push((s.clone(), e)),
            },
            Value::Array(a) => stack.extend(a.iter_mut().rev()),
            Value::Object(m) => stack.extend(m.values_mut().rev()),
            _ => {}
        }
    }
    Ok(())
}

/// `args`/`additional_contexts` in list form (`K=V`, `K`) as a mapping (`K: null` for `K`).
fn as_map(v: &Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(scalar)
            .map(|s| match s.split_once('=') {
                Some((k, val)) => (k.to_string(), Value::String(val.to_string())),
                None => (s, Value::Null),
            })
            .collect(),
        _ => serde_json::Map::new(),
    }
}

fn build_map(v: &Value) -> serde_json::Map<String, Value> {
    match v {
        Value::String(s) => {
            let mut m = serde_json::Map::new();
            m.insert("context".into(), Value::String(s.clone()));
            m
        }
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    }
}

/// Compose's merge of a service by a later one (override files, `extends`), for the keys that
/// matter here: `build` merges key by key, `args` and `additional_contexts` as mappings; any
/// other key is replaced.
fn merge_service(
    mut base: serde_json::Map<String, Value>,
    over: serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    for (k, v) in over {
        if k == "build" {
            let mut b = base.get("build").map(build_map).unwrap_or_default();
            for (bk, bv) in build_map(&v) {
                if bk == "args" || bk == "additional_contexts" || bk == "labels" {
                    let mut merged = b.get(&bk).map(as_map).unwrap_or_default();
                    for (ak, av) in as_map(&bv) {
                        merged.insert(ak, av);
                    }
                    b.insert(bk, Value::Object(merged));
                } else {
                    if bk == "dockerfile" {
                        b.remove("dockerfile_inline");
                    }
                    if bk == "dockerfile_inline" {
                        b.remove("dockerfile");
                    }
                    b.insert(bk, bv);
                }
            }
            base.insert(k, Value::Object(b));
        } else {
            base.insert(k, v);
        }
    }
    base
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The build of a merged service, with paths resolved and valueless args filled.
fn finish(
    cx: &mut Ctx,
    name: &str,
    svc: &Svc,
    env: &BTreeMap<String, String>,
) -> Option<ComposeBuild> {
    let build = svc.value.get("build")?;
    if svc.value.contains_key("x-cachebust-invalid") {
        return None;
    }
    let m = match build {
        Value::String(_) | Value::Object(_) => build_map(build),
        _ => {
            cx.problem(
                &svc.file,
                svc.line,
                true,
                format!("service {name}: `build` must be a string or a mapping"),
            );
            return None;
        }
    };
    let context = build_context(cx, name, svc, &m)?;
    let inline = m.get("dockerfile_inline").and_then(scalar);
    let dockerfile = build_dockerfile(cx, name, svc, &m, &context, inline.is_some())?;
    let args = build_args(cx, name, svc, &m, env);
    let contexts = build_contexts(cx, name, svc, &m);
    Some(ComposeBuild {
        service: name.to_string(),
        file: svc.file.clone(),
        line: svc.line,
        context,
        dockerfile,
        inline,
        args,
        target: m.get("target").and_then(scalar),
        contexts,
    })
}

/// The root-relative context directory of build `m` of service `name`; `None` (the problem
/// recorded) for a remote context or one outside the repository.
fn build_context(
    cx: &mut Ctx,
    name: &str,
    svc: &Svc,
    m: &serde_json::Map<String, Value>,
) -> Option<String> {
    let context_raw = m
        .get("context")
        .and_then(scalar)
        .unwrap_or_else(|| ".".into());
    if context_raw.contains("://") || context_raw.starts_with("git@") {
        cx.problem(
            &svc.file,
            svc.line,
            false,
            format!("service {name}: remote build context {context_raw} is not analysed"),
        );
        return None;
    }
    let context = inside(&svc.base_dir, &context_raw);
    if context.is_none() {
        cx.problem(
            &svc.file,
            svc.line,
            true,
            format!("service {name}: build context {context_raw} is outside the repository; refused, nothing outside it is read"),
        );
    }
    context
}

/// The root-relative Dockerfile of build `m` of service `name` (`file#service` when it is
/// inline); `None` (the problem recorded) when outside the repository.
fn build_dockerfile(
    cx: &mut Ctx,
    name: &str,
    svc: &Svc,
    m: &serde_json::Map<String, Value>,
    context: &str,
    inline: bool,
) -> Option<String> {
    if inline {
        return Some(format!("{}#{name}", svc.file));
    }
    // an empty `dockerfile` (an unset variable) is the default, as Compose reads it
    let Some(d) = m
        .get("dockerfile")
        .and_then(scalar)
        .filter(|d| !d.is_empty())
    else {
        return Some(join_clean(context, "Dockerfile"));
    };
    let p = inside(context, &d);
    if p.is_none() {
        cx.problem(
            &svc.file,
            svc.line,
            true,
            format!("service {name}: dockerfile {d} is outside the repository; refused, nothing outside it is read"),
        );
    }
    p
}

/// The args of build `m` of service `name`, a valueless one taken from `env` (left out, with a
/// warning, when not set there).
fn build_args(
    cx: &mut Ctx,
    name: &str,
    svc: &Svc,
    m: &serde_json::Map<String, Value>,
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    let Some(a) = m.get("args") else { return args };
    for (k, v) in as_map(a) {
        match v {
            Value::Null => match env.get(&k) {
                Some(val) => {
                    args.insert(k, val.clone());
                }
                None => {
                    let (f, l) = locate_arg(cx, &svc.file, &k);
                    cx.problem(
                        &f,
                        l,
                        false,
                        format!("service {name}: build arg {k} has no value and is not set in .env; Compose leaves it out"),
                    )
                }
            },
            other => {
                if let Some(s) = scalar(&other) {
                    args.insert(k, s);
                }
            }
        }
    }
    args
}

/// The named contexts of build `m` of service `name`: a local one resolved to a root-relative
/// directory (refused, with an error, outside the repository), any other source as written.
fn build_contexts(
    cx: &mut Ctx,
    name: &str,
    svc: &Svc,
    m: &serde_json::Map<String, Value>,
) -> BTreeMap<String, String> {
    let mut contexts = BTreeMap::new();
    let Some(c) = m.get("additional_contexts") else {
        return contexts;
    };
    for (k, v) in as_map(c) {
        let Some(s) = scalar(&v) else { continue };
        let local = !(s.contains("://") || s.starts_with("service:") || s.starts_with("target:"));
        if !local {
            contexts.insert(k, s);
            continue;
        }
        match inside(&svc.base_dir, &s) {
            Some(p) => {
                contexts.insert(k, p);
            }
            None => cx.problem(
                &svc.file,
                svc.line,
                true,
                format!(
                    "service {name}: additional context {k}={s} is outside the repository; refused"
                ),
            ),
        }
    }
    contexts
}

/// The file and line that give a valueless arg: the service's file first, then every other
/// file the project read.
fn locate_arg(cx: &mut Ctx, file: &str, key: &str) -> (String, Option<u32>) {
    let others: Vec<String> = cx.inputs.iter().filter(|f| *f != file).cloned().collect();
    for f in std::iter::once(file.to_string()).chain(others) {
        if cx.budget.step().is_err() {
            break;
        }
        let text = cx.given(&f);
        let at = if key.contains([':', '=']) {
            cx.line_where(text, |l| {
                let s = l.trim_start().trim_start_matches("- ").trim();
                s == key || s.starts_with(&format!("{key}:")) || s.starts_with(&format!("{key}="))
            })
        } else {
            cx.index(&f, text, |l| &mut l.args, arg_lines, key)
        };
        if at.is_some() {
            return (f, at);
        }
    }
    (file.to_string(), None)
}

#[cfg(test)]
mod tests;
