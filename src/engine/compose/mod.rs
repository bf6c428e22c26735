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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::engine::decl::{Problem, load_yaml};
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
    let (vars, _) = interp::parse_dotenv(text, &BTreeMap::new());
    vars.get("COMPOSE_FILE").cloned()
}

/// The line of `service`'s key in `file` (whose text is `text`): the first indented line that
/// starts with `service:`, `"service":` or `'service':`. Every key of a file is indexed once per
/// resolution (looking each service up by scanning the file made a large compose file
/// quadratic in its services).
fn service_line(cx: &mut Ctx, file: &str, text: &str, service: &str) -> Option<u32> {
    cx.key_lines
        .entry(file.to_string())
        .or_insert_with(|| key_lines(text))
        .get(service)
        .copied()
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

fn var_line(text: &str, name: &str) -> Option<u32> {
    let a = format!("${{{name}");
    let b = format!("${name}");
    find_line(text, |l| l.contains(&a) || l.contains(&b))
}

/// State of one resolution.
struct Ctx<'a> {
    files: &'a BTreeMap<String, Option<String>>,
    need: BTreeSet<String>,
    problems: Vec<Problem>,
    inputs: BTreeSet<String>,
    /// Parsed files (None when unreadable; the problem is recorded once).
    parsed: BTreeMap<String, Option<Value>>,
    /// The line of each key of a file, by file (`service_line`).
    key_lines: HashMap<String, HashMap<String, u32>>,
}

impl Ctx<'_> {
    fn problem(&mut self, file: &str, line: Option<u32>, error: bool, message: String) {
        let p = Problem {
            file: file.to_string(),
            line,
            error,
            message,
        };
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    /// The text of a file, or `None` (recording a need when it was not given at all).
    fn text(&mut self, path: &str) -> Option<&str> {
        match self.files.get(path) {
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

    fn parse(&mut self, path: &str) -> Option<Value> {
        if let Some(v) = self.parsed.get(path) {
            return v.clone();
        }
        let v = match self.text(path).map(str::to_string) {
            None => {
                if self.files.contains_key(path) {
                    self.problem(path, None, true, "no such file".into());
                }
                None
            }
            Some(t) => match load_yaml(&t) {
                Ok(v) => Some(v),
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

    fn env_of(&mut self, dir: &str, outer: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let p = dotenv_path(dir);
        let text = self.text(&p).map(str::to_string);
        let mut env = outer.clone();
        if let Some(t) = text {
            let (vars, problems) = interp::parse_dotenv(&t, outer);
            for pr in problems {
                self.problem(&p, Some(pr.line), false, pr.message);
            }
            for (k, v) in vars {
                env.entry(k).or_insert(v);
            }
        }
        env
    }
}

/// Resolve a project's builds. `files` maps root-relative paths to their texts (`None`: absent);
/// `outer` is the environment given by the caller (variables set on the command line), which
/// takes precedence over the `.env` as in Compose.
pub fn resolve(
    project: &Project,
    files: &BTreeMap<String, Option<String>>,
    outer: &BTreeMap<String, String>,
) -> Result<Resolved, Need> {
    let mut cx = Ctx {
        files,
        need: BTreeSet::new(),
        problems: Vec::new(),
        inputs: BTreeSet::new(),
        parsed: BTreeMap::new(),
        key_lines: HashMap::new(),
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
    if !cx.need.is_empty() {
        return Err(Need(cx.need.into_iter().collect()));
    }
    let mut builds = Vec::new();
    for (name, svc) in &services {
        if let Some(b) = finish(&mut cx, name, svc, &env) {
            builds.push(b);
        }
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

/// A service as merged so far: its raw (interpolated) mapping and where relative paths of its
/// build resolve from.
#[derive(Debug, Clone)]
struct Svc {
    value: serde_json::Map<String, Value>,
    /// Directory the build's relative paths are relative to.
    base_dir: String,
    /// File and text where the service is declared (the last file that mentions it).
    file: String,
    line: Option<u32>,
}

fn load_project(
    cx: &mut Ctx,
    dir: &str,
    files: &[String],
    env: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, Svc>,
    depth: usize,
) {
    for file in files {
        let Some(doc) = cx.parse(file) else { continue };
        let text = cx.files.get(file).cloned().flatten().unwrap_or_default();
        // include: other projects merged into this one
        if let Some(inc) = doc.get("include") {
            if depth >= MAX_NESTING {
                cx.problem(
                    file,
                    find_line(&text, |l| l.starts_with("include")),
                    true,
                    format!(
                        "include: nests deeper than {MAX_NESTING} files (a cycle?); not followed"
                    ),
                );
            } else {
                load_includes(cx, file, &text, inc, env, services, depth);
            }
        }
        let Some(svcs) = doc.get("services").and_then(Value::as_object) else {
            continue;
        };
        for (name, raw) in svcs {
            let Some(m) = raw.as_object() else {
                if !raw.is_null() {
                    let at = service_line(cx, file, &text, name);
                    cx.problem(file, at, true, format!("service {name} must be a mapping"));
                }
                continue;
            };
            let mut m = m.clone();
            interpolate_service(cx, file, &text, name, &mut m, env);
            let line = service_line(cx, file, &text, name);
            // extends, resolved against the files as written (same file or another)
            let merged = match m.get("extends").cloned() {
                Some(ext) => {
                    let own_context = m_has_context(&m);
                    let mut seen = vec![(file.clone(), name.clone())];
                    let base = extended(cx, file, &text, name, &ext, env, &mut seen);
                    m.remove("extends");
                    match base {
                        Some(mut b) => {
                            let bm = std::mem::take(&mut b.value);
                            let value = merge_service(bm, m);
                            // the build's paths stay relative to the file that set them
                            let base_dir = if own_context {
                                dir.to_string()
                            } else {
                                b.base_dir
                            };
                            Svc {
                                value,
                                base_dir,
                                file: file.clone(),
                                line,
                            }
                        }
                        None => Svc {
                            value: m,
                            base_dir: dir.to_string(),
                            file: file.clone(),
                            line,
                        },
                    }
                }
                None => Svc {
                    value: m,
                    base_dir: dir.to_string(),
                    file: file.clone(),
                    line,
                },
            };
            match services.remove(name) {
                Some(prev) => {
                    let base_dir = prev.base_dir.clone();
                    services.insert(
                        name.clone(),
                        Svc {
                            value: merge_service(prev.value, merged.value),
                            base_dir,
                            file: merged.file,
                            line: merged.line,
                        },
                    );
                }
                None => {
                    services.insert(name.clone(), merged);
                }
            }
        }
    }
}

fn load_includes(
    cx: &mut Ctx,
    file: &str,
    text: &str,
    inc: &Value,
    env: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, Svc>,
    depth: usize,
) {
    let dir = dir_of(file).to_string();
    let items: Vec<Value> = match inc {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    for it in items {
        let (paths, pdir, env_file) = match &it {
            Value::String(s) => (vec![s.clone()], None, None),
            Value::Object(m) => {
                let paths = match m.get("path") {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                let pd = m
                    .get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let ef = match m.get("env_file") {
                    Some(Value::String(s)) => Some(vec![s.clone()]),
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                };
                (paths, pd, ef)
            }
            _ => (Vec::new(), None, None),
        };
        if paths.is_empty() {
            cx.problem(
                file,
                find_line(text, |l| l.starts_with("include")),
                true,
                "an include: entry names no path".into(),
            );
            continue;
        }
        let mut resolved = Vec::new();
        let mut bad = false;
        for p in &paths {
            let (p, found) = match interp::interpolate(p, env) {
                Ok(x) => x,
                Err(e) => {
                    cx.problem(file, var_line(text, p), true, e.to_string());
                    bad = true;
                    continue;
                }
            };
            for u in found.unset {
                cx.problem(
                    file,
                    var_line(text, &u),
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
                bad = true;
                continue;
            }
            match inside(&dir, &p) {
                Some(r) => resolved.push(r),
                None => {
                    cx.problem(
                        file,
                        find_line(text, |l| l.contains(p.as_str())),
                        true,
                        format!("include {p} is outside the repository; not read"),
                    );
                    bad = true;
                }
            }
        }
        if bad || resolved.is_empty() {
            continue;
        }
        let pdir = match pdir {
            Some(d) => match inside(&dir, &d) {
                Some(x) => x,
                None => {
                    cx.problem(
                        file,
                        None,
                        true,
                        format!(
                            "include project_directory {d} is outside the repository; not read"
                        ),
                    );
                    continue;
                }
            },
            None => dir_of(&resolved[0]).to_string(),
        };
        // the included project's environment: the caller's, then its own env file(s)
        let mut ienv = env.clone();
        let env_files: Vec<String> = match env_file {
            Some(list) => list.iter().filter_map(|e| inside(&dir, e)).collect(),
            None => vec![dotenv_path(&pdir)],
        };
        for ef in env_files {
            if let Some(t) = cx.text(&ef).map(str::to_string) {
                let (vars, problems) = interp::parse_dotenv(&t, env);
                for pr in problems {
                    cx.problem(&ef, Some(pr.line), false, pr.message);
                }
                for (k, v) in vars {
                    ienv.entry(k).or_insert(v);
                }
            }
        }
        let mut inner: BTreeMap<String, Svc> = BTreeMap::new();
        load_project(cx, &pdir, &resolved, &ienv, &mut inner, depth + 1);
        for (k, v) in inner {
            if services.contains_key(&k) {
                let at = service_line(cx, file, text, &k);
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
    let (target_file, service) = match ext {
        Value::String(s) => (file.to_string(), s.clone()),
        Value::Object(m) => {
            let service = m.get("service").and_then(Value::as_str)?.to_string();
            let f = match m.get("file").and_then(Value::as_str) {
                Some(f) => match inside(dir_of(file), f) {
                    Some(p) => p,
                    None => {
                        cx.problem(
                            file,
                            find_line(text, |l| l.contains(f)),
                            true,
                            format!("service {name}: extends file {f} is outside the repository; not read"),
                        );
                        return None;
                    }
                },
                None => file.to_string(),
            };
            (f, service)
        }
        _ => {
            let at = service_line(cx, file, text, name);
            cx.problem(
                file,
                at,
                true,
                format!("service {name}: `extends` must be a service name or a mapping"),
            );
            return None;
        }
    };
    if seen.iter().any(|(f, s)| f == &target_file && s == &service) || seen.len() > MAX_NESTING {
        let at = service_line(cx, file, text, name);
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
        return None;
    }
    seen.push((target_file.clone(), service.clone()));
    let doc = cx.parse(&target_file)?;
    let ttext = cx
        .files
        .get(&target_file)
        .cloned()
        .flatten()
        .unwrap_or_default();
    let Some(m) = doc
        .get("services")
        .and_then(|s| s.get(&service))
        .and_then(Value::as_object)
    else {
        let at = service_line(cx, file, text, name);
        cx.problem(
            file,
            at,
            true,
            format!("service {name}: extends {service}, which {target_file} does not define"),
        );
        return None;
    };
    let mut m = m.clone();
    interpolate_service(cx, &target_file, &ttext, &service, &mut m, env);
    let base_dir = dir_of(&target_file).to_string();
    let own = Svc {
        value: m.clone(),
        base_dir: base_dir.clone(),
        file: target_file.clone(),
        line: service_line(cx, &target_file, &ttext, &service),
    };
    match m.get("extends").cloned() {
        Some(next) => {
            m.remove("extends");
            let deeper = extended(cx, &target_file, &ttext, &service, &next, env, seen)?;
            Some(Svc {
                value: merge_service(deeper.value, m),
                base_dir: if m_has_context(&own.value) {
                    base_dir
                } else {
                    deeper.base_dir
                },
                ..own
            })
        }
        None => Some(own),
    }
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
    for key in ["build", "extends"] {
        if let Some(v) = m.get_mut(key) {
            let mut errors = Vec::new();
            let mut unset = Vec::new();
            interpolate_value(v, env, &mut errors, &mut unset);
            for u in unset {
                cx.problem(
                    file,
                    var_line(text, &u),
                    false,
                    format!("service {name}: variable {u} is not set (not in the environment nor .env); it is taken as an empty string, as Compose does"),
                );
            }
            for (raw, e) in errors {
                cx.problem(
                    file,
                    find_line(text, |l| l.contains(raw.as_str())),
                    true,
                    format!("service {name}: {e}"),
                );
                // Compose refuses the whole file; this service's build is not analysed
                m.insert("x-cachebust-invalid".into(), Value::Bool(true));
            }
        }
    }
}

fn interpolate_value(
    v: &mut Value,
    env: &BTreeMap<String, String>,
    errors: &mut Vec<(String, interp::InterpError)>,
    unset: &mut Vec<String>,
) {
    match v {
        Value::String(s) => match interp::interpolate(s, env) {
            Ok((out, found)) => {
                *s = out;
                for u in found.unset {
                    if !unset.contains(&u) {
                        unset.push(u);
                    }
                }
            }
            Err(e) => errors.push((s.clone(), e)),
        },
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| interpolate_value(x, env, errors, unset)),
        Value::Object(m) => m
            .values_mut()
            .for_each(|x| interpolate_value(x, env, errors, unset)),
        _ => {}
    }
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
    let file = svc.file.clone();
    let line = svc.line;
    if svc.value.contains_key("x-cachebust-invalid") {
        return None;
    }
    let m = match build {
        Value::String(_) | Value::Object(_) => build_map(build),
        _ => {
            cx.problem(
                &file,
                line,
                true,
                format!("service {name}: `build` must be a string or a mapping"),
            );
            return None;
        }
    };
    let context_raw = m
        .get("context")
        .and_then(scalar)
        .unwrap_or_else(|| ".".into());
    if context_raw.contains("://") || context_raw.starts_with("git@") {
        cx.problem(
            &file,
            line,
            false,
            format!("service {name}: remote build context {context_raw} is not analysed"),
        );
        return None;
    }
    let Some(context) = inside(&svc.base_dir, &context_raw) else {
        cx.problem(
            &file,
            line,
            true,
            format!("service {name}: build context {context_raw} is outside the repository; refused, nothing outside it is read"),
        );
        return None;
    };
    let inline = m.get("dockerfile_inline").and_then(scalar);
    let dockerfile = match (&inline, m.get("dockerfile").and_then(scalar)) {
        (Some(_), _) => format!("{file}#{name}"),
        (None, Some(d)) => match inside(&context, &d) {
            Some(p) => p,
            None => {
                cx.problem(
                    &file,
                    line,
                    true,
                    format!("service {name}: dockerfile {d} is outside the repository; refused, nothing outside it is read"),
                );
                return None;
            }
        },
        (None, None) => join_clean(&context, "Dockerfile"),
    };
    let mut args = BTreeMap::new();
    if let Some(a) = m.get("args") {
        for (k, v) in as_map(a) {
            match v {
                Value::Null => match env.get(&k) {
                    Some(val) => {
                        args.insert(k, val.clone());
                    }
                    None => {
                        let (f, l) = locate_arg(cx, &file, &k);
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
    }
    let mut contexts = BTreeMap::new();
    if let Some(c) = m.get("additional_contexts") {
        for (k, v) in as_map(c) {
            let Some(s) = scalar(&v) else { continue };
            let local =
                !(s.contains("://") || s.starts_with("service:") || s.starts_with("target:"));
            if local {
                match inside(&svc.base_dir, &s) {
                    Some(p) => {
                        contexts.insert(k, p);
                    }
                    None => cx.problem(
                        &file,
                        line,
                        true,
                        format!("service {name}: additional context {k}={s} is outside the repository; refused"),
                    ),
                }
            } else {
                contexts.insert(k, s);
            }
        }
    }
    Some(ComposeBuild {
        service: name.to_string(),
        file,
        line,
        context,
        dockerfile,
        inline,
        args,
        target: m.get("target").and_then(scalar),
        contexts,
    })
}

/// The file and line that give a valueless arg: the service's file first, then every other
/// file the project read.
fn locate_arg(cx: &Ctx, file: &str, key: &str) -> (String, Option<u32>) {
    let here = var_line_or_arg(cx.files.get(file).cloned().flatten().as_deref(), key);
    if here.is_some() {
        return (file.to_string(), here);
    }
    for f in &cx.inputs {
        if let Some(l) = var_line_or_arg(cx.files.get(f).cloned().flatten().as_deref(), key) {
            return (f.clone(), Some(l));
        }
    }
    (file.to_string(), None)
}

fn var_line_or_arg(text: Option<&str>, key: &str) -> Option<u32> {
    let t = text?;
    find_line(t, |l| {
        let s = l.trim_start().trim_start_matches("- ").trim();
        s == key || s.starts_with(&format!("{key}:")) || s.starts_with(&format!("{key}="))
    })
}

#[cfg(test)]
mod tests;
