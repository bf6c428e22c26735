//! Bake files (`docker-bake.hcl`, `docker-bake.json` and their `.override` files) resolved the way
//! `docker buildx bake --print` resolves them, for the part cachebust needs: each target's build
//! (context, Dockerfile or inline Dockerfile, args, target stage, named contexts, and the cache
//! options `cache-from`, `cache-to`, `no-cache`, `no-cache-filter`, `pull`, `platforms`), with
//! `variable` defaults (overridden from the caller's environment), `inherits`, groups and the
//! common functions. HCL is read with `hcl-rs`; the JSON form with `serde_json`.
//!
//! Which targets are builds: every target named by a group or by the caller (a `docker/bake-action`
//! step's `targets`), every target no other target inherits from (targets used only as
//! `inherits` parents, like `_common`, are not built alone), and the targets those link to
//! (`contexts = { x = "target:NAME" }`: bake builds NAME in the same call). A target others
//! inherit from is still a build when something names it. `Resolved::select` answers which
//! targets one `docker buildx bake NAMES…` call builds, as buildx 0.29 does: no names is the
//! `default` group, a group (which wins over a target of the same name) is expanded
//! recursively, a name with `*?[` matches groups and targets, and linked targets come along.

mod bound;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};

use crate::engine::budget::{self, Budget, Exceeded, Size};
use crate::engine::decl::{Problem, inside};
use crate::engine::tree::join_clean;

/// Size limit for one bake file, in bytes.
pub const MAX_BAKE_BYTES: usize = 1024 * 1024;

/// One target build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakeBuild {
    pub target_name: String,
    /// The bake file that declares the target last (root-relative).
    pub file: String,
    pub line: Option<u32>,
    pub context: String,
    /// Root-relative Dockerfile (for `dockerfile-inline`: `file#target`).
    pub dockerfile: String,
    pub inline: Option<String>,
    pub args: BTreeMap<String, String>,
    /// The `target` attribute: the stage built.
    pub target: Option<String>,
    pub contexts: BTreeMap<String, String>,
    /// The target's cache options as written (entries unparsed).
    pub cache: BakeCache,
}

/// A bake target's cache options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BakeCache {
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub pull: bool,
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub builds: Vec<BakeBuild>,
    pub problems: Vec<Problem>,
    /// The groups as read: name → members (targets or groups).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Every target the files define.
    pub defined: BTreeSet<String>,
}

impl Resolved {
    /// The targets one `docker buildx bake NAMES…` call builds (no names: the `default` group),
    /// in name order, or the name bake refuses (`Err`: it names no group or target). Only
    /// targets among `builds` are returned: pass the names to `resolve` as `also`.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>, String> {
        let mut out = select_names(names, &self.groups, &self.defined)?;
        // linked targets (`target:NAME` contexts) are built by the same call
        let mut queue: Vec<String> = out.iter().cloned().collect();
        let mut i = 0;
        while i < queue.len() {
            if let Some(b) = self.builds.iter().find(|b| b.target_name == queue[i]) {
                for v in b.contexts.values() {
                    if let Some(t) = v.strip_prefix("target:") {
                        if self.defined.contains(t) && out.insert(t.to_string()) {
                            queue.push(t.to_string());
                        }
                    }
                }
            }
            i += 1;
        }
        Ok(out
            .into_iter()
            .filter(|n| self.builds.iter().any(|b| &b.target_name == n))
            .collect())
    }
}

/// The target names `names` stand for in a bake call, before links (see `Resolved::select`).
fn select_names(
    names: &[String],
    groups: &BTreeMap<String, Vec<String>>,
    defined: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    let default = ["default".to_string()];
    let names = if names.is_empty() {
        &default[..]
    } else {
        names
    };
    let mut out = BTreeSet::new();
    for n in names {
        let matched: Vec<String> = if crate::engine::glob::contains_wildcards(n) {
            groups
                .keys()
                .chain(defined.iter())
                .filter(|g| crate::engine::glob::path_match(n, g).unwrap_or(false))
                .cloned()
                .collect()
        } else {
            vec![n.clone()]
        };
        if matched.is_empty() {
            return Err(n.clone());
        }
        for m in matched {
            for t in members_from(vec![m.as_str()], groups) {
                if !defined.contains(&t) {
                    return Err(t);
                }
                out.insert(t);
            }
        }
    }
    Ok(out)
}

/// Bake's order of default files in a directory (later files override earlier ones).
pub const FILE_ORDER: &[&str] = &[
    "docker-bake.json",
    "docker-bake.override.json",
    "docker-bake.hcl",
    "docker-bake.override.hcl",
];

/// Group bake files by directory, each group in bake's order.
pub fn projects(names: &[String]) -> Vec<(String, Vec<String>)> {
    let mut by_dir: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in names {
        let (dir, name) = match n.rsplit_once('/') {
            Some((d, f)) => (d.to_string(), f),
            None => (String::new(), n.as_str()),
        };
        if FILE_ORDER.contains(&name) {
            by_dir.entry(dir).or_default().push(n.clone());
        }
    }
    by_dir
        .into_iter()
        .map(|(d, mut files)| {
            files.sort_by_key(|f| {
                let name = f.rsplit('/').next().unwrap_or(f);
                FILE_ORDER.iter().position(|x| *x == name)
            });
            (d, files)
        })
        .collect()
}

/// One target's attributes as read (before `inherits`).
#[derive(Debug, Clone, Default)]
struct Raw {
    file: String,
    line: Option<u32>,
    inherits: Vec<String>,
    attrs: BTreeMap<String, Attr>,
}

#[derive(Debug, Clone, PartialEq)]
enum Attr {
    Str(String),
    Map(BTreeMap<String, Option<String>>),
    List(Vec<String>),
    Null,
}

impl Attr {
    /// The size of the attribute's text (for the budget).
    fn size(&self) -> Size {
        match self {
            Attr::Str(s) => Size::text(s.len()),
            Attr::Map(m) => m.iter().fold(Size::ONE, |t, (k, v)| {
                t.plus(Size::text(k.len() + v.as_ref().map_or(0, String::len)))
            }),
            Attr::List(l) => l.iter().fold(Size::ONE, |t, x| t.plus(Size::text(x.len()))),
            Attr::Null => Size::ONE,
        }
    }
}

/// Where the labels and attributes of one file are written, indexed once (looking each target
/// up by scanning the file made a file of many targets quadratic).
#[derive(Default)]
struct Lines {
    /// First line holding `"label"` after a block keyword (`target`, `variable`), by keyword.
    block: HashMap<(String, String), u32>,
    /// First line holding `"label"` anywhere.
    any: HashMap<String, u32>,
    /// First line that starts with each attribute of `ATTRS`.
    attr: HashMap<&'static str, u32>,
}

impl Lines {
    fn of(text: &str) -> Lines {
        let mut out = Lines::default();
        for (i, l) in text.lines().enumerate() {
            let n = i as u32 + 1;
            let t = l.trim_start();
            let keyword = ["target", "variable"]
                .into_iter()
                .find(|k| t.starts_with(k));
            let mut rest = l;
            while let Some(open) = rest.find('"') {
                let Some(len) = rest[open + 1..].find('"') else {
                    break;
                };
                let label = &rest[open + 1..open + 1 + len];
                out.any.entry(label.to_string()).or_insert(n);
                if let Some(k) = keyword {
                    out.block
                        .entry((k.to_string(), label.to_string()))
                        .or_insert(n);
                }
                rest = &rest[open + len + 2..];
            }
            for a in ATTRS {
                if t.starts_with(a) {
                    out.attr.entry(a).or_insert(n);
                }
            }
        }
        out
    }

    /// The line of a block's label: after its keyword, else anywhere.
    fn label(&self, keyword: &str, name: &str) -> Option<u32> {
        self.block
            .get(&(keyword.to_string(), name.to_string()))
            .or_else(|| self.any.get(name))
            .copied()
    }
}

/// Where a resolution went past its budget, and what it was evaluating.
struct OverBudget {
    file: String,
    line: Option<u32>,
    what: String,
}

/// The evaluation of one bake directory: the HCL context, the measured size of every variable
/// declared in it, and the budget every evaluation is counted against. An expression is
/// evaluated only when the bound of what it produces (`bound`) fits what is left.
struct Eval<'c> {
    ctx: Context<'c>,
    sizes: BTreeMap<String, Size>,
    budget: Budget,
    over: Option<OverBudget>,
}

impl Eval<'_> {
    /// `e` evaluated, or `None` once the budget is spent (where and what are recorded).
    fn eval(
        &mut self,
        e: &hcl::Expression,
        file: &str,
        line: Option<u32>,
        what: &str,
    ) -> Option<Result<hcl::Value, hcl::eval::Error>> {
        let b = bound::bound(e, &mut bound::Scope::new(&self.sizes));
        let r = self.budget.step().and_then(|_| self.budget.size(b.work));
        if !self.charged(r, file, line, what) {
            return None;
        }
        Some(e.evaluate(&self.ctx))
    }

    fn declare(&mut self, name: &str, v: hcl::Value) {
        self.sizes.insert(name.to_string(), bound::value_size(&v));
        self.ctx.declare_var(name, v);
    }

    /// `r` from a charge: false (and where, the first time) once the budget is spent.
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

    fn spent(&self) -> bool {
        self.budget.exceeded().is_some()
    }
}

/// Attributes that are lists of strings (an entry written as an object, as bake allows for
/// `cache-from`/`cache-to`, becomes `key=value,…`).
const LISTS: &[&str] = &["cache-from", "cache-to", "no-cache-filter", "platforms"];

/// [`resolve`], remembered in `memo` by everything it reads.
pub fn resolve_in(
    memo: &crate::engine::memo::Memo,
    dir: &str,
    files: &[(String, String)],
    env: &BTreeMap<String, String>,
    also: &[String],
) -> std::sync::Arc<Resolved> {
    // each part with its length and each list with its count: no text can pass for another
    let mut key = String::new();
    let mut part = |s: &str| key.push_str(&format!("{}:{s}", s.len()));
    part(dir);
    part(&env.len().to_string());
    for (k, v) in env {
        part(k);
        part(v);
    }
    part(&also.len().to_string());
    for a in also {
        part(a);
    }
    for (p, t) in files {
        part(p);
        part(t);
    }
    memo.get_or(crate::engine::memo::Kind::Bake, &key, || {
        std::sync::Arc::new(resolve(dir, files, env, also))
    })
}

/// Resolve the bake files of one directory: `files` are (path, text) in bake's order; `env`
/// overrides variable defaults as the environment does for `docker buildx bake`; `also` are
/// names (targets, groups, patterns) a caller builds, whatever inherits from them. Everything is
/// evaluated under one budget (`budget::RESOLVE`): past it none of the directory's targets is
/// analysed, and one error names the file, the line and the limit.
pub fn resolve(
    dir: &str,
    files: &[(String, String)],
    env: &BTreeMap<String, String>,
    also: &[String],
) -> Resolved {
    let mut problems = Vec::new();
    let mut targets: BTreeMap<String, Raw> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // variables first (all files), then everything else with them declared
    let Parsed {
        var_exprs,
        bodies,
        lines,
    } = parse_files(files, &mut problems);

    // variables: environment first, then defaults evaluated in order (a default may use an
    // earlier variable)
    let mut ev = Eval {
        ctx: Context::new(),
        sizes: BTreeMap::new(),
        budget: Budget::new(&budget::RESOLVE),
        over: None,
    };
    declare_functions(&mut ev.ctx);
    let mut values: BTreeMap<String, hcl::Value> = BTreeMap::new();
    // defaults may use other variables in any order: evaluate until nothing changes (bounded),
    // reporting only what still fails in the last round
    for _ in 0..var_exprs.len().clamp(1, 8) {
        let before = values.clone();
        let copied = values
            .values()
            .map(bound::value_size)
            .fold(Size::default(), Size::plus);
        let r = ev.budget.size(copied);
        if !ev.charged(r, &files[0].0, None, "the variables") {
            break;
        }
        eval_vars(&var_exprs, env, &mut ev, &mut values);
        if values == before || ev.spent() {
            break;
        }
    }

    for (path, body) in &bodies {
        if ev.spent() {
            break;
        }
        let at = &lines[path];
        match body {
            Ok(body) => read_hcl(
                path,
                at,
                body,
                &mut ev,
                &mut targets,
                &mut groups,
                &mut problems,
            ),
            Err(json) => {
                let _spent = read_json(path, at, json, &values, &mut ev, &mut targets, &mut groups);
            }
        }
    }
    let mut resolved = if ev.spent() {
        Resolved {
            builds: Vec::new(),
            problems,
            groups: BTreeMap::new(),
            defined: BTreeSet::new(),
        }
    } else {
        finish_targets(dir, files, targets, groups, also, problems, &mut ev)
    };
    if let Some(e) = ev.budget.exceeded() {
        let at = ev.over.take().unwrap_or_else(|| OverBudget {
            file: files[0].0.clone(),
            line: None,
            what: "the bake files".into(),
        });
        resolved.builds.clear();
        resolved.problems.push(over_budget(dir, at, e));
    }
    resolved
}

/// The one error of a directory whose bake files go past the budget, at where it was spent.
fn over_budget(dir: &str, at: OverBudget, e: Exceeded) -> Problem {
    Problem {
        file: at.file,
        line: at.line,
        error: true,
        message: format!(
            "{}: the bake files {} go past the evaluation budget of one bake project ({e}); none of their targets is analysed",
            at.what,
            if dir.is_empty() {
                "at the repository root".to_string()
            } else {
                format!("in {dir}/")
            }
        ),
    }
}

/// The bake files of one directory as parsed: the variables they declare (files in order), each
/// readable file's body (HCL, or the JSON value), and where each file's labels are written.
#[derive(Default)]
struct Parsed {
    var_exprs: Vec<VarExpr>,
    bodies: Vec<(String, Result<hcl::Body, serde_json::Value>)>,
    lines: BTreeMap<String, Lines>,
}

/// `files` parsed in order; a file too large or unreadable is a problem, and has no body.
fn parse_files(files: &[(String, String)], problems: &mut Vec<Problem>) -> Parsed {
    let mut p = Parsed::default();
    for (path, text) in files {
        if text.len() > MAX_BAKE_BYTES {
            problems.push(Problem {
                file: path.clone(),
                line: None,
                error: true,
                message: format!("bake file is larger than {MAX_BAKE_BYTES} bytes; not read"),
            });
            continue;
        }
        let at = Lines::of(text);
        if path.ends_with(".json") {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => {
                    p.var_exprs.extend(json_vars(path, &at, &v));
                    p.bodies.push((path.clone(), Err(v)));
                }
                Err(e) => problems.push(Problem {
                    file: path.clone(),
                    line: Some(e.line() as u32),
                    error: true,
                    message: format!("cannot read bake file: {e}"),
                }),
            }
        } else {
            match hcl::parse(text) {
                Ok(body) => {
                    p.var_exprs.extend(hcl_vars(path, &at, &body));
                    p.bodies.push((path.clone(), Ok(body)));
                }
                Err(e) => problems.push(hcl_parse_problem(path, &e.to_string())),
            }
        }
        p.lines.insert(path.clone(), at);
    }
    p
}

/// The `variable` entries of a JSON bake file, in order.
fn json_vars(path: &str, at: &Lines, v: &serde_json::Value) -> Vec<VarExpr> {
    let Some(vars) = v.get("variable").and_then(|x| x.as_object()) else {
        return Vec::new();
    };
    vars.iter()
        .map(|(k, def)| VarExpr {
            file: path.to_string(),
            line: at.label("variable", k),
            name: k.clone(),
            hcl: None,
            json: def.get("default").cloned(),
        })
        .collect()
}

/// The labelled `variable` blocks of an HCL bake file, in order.
fn hcl_vars(path: &str, at: &Lines, body: &hcl::Body) -> Vec<VarExpr> {
    body.blocks()
        .filter(|b| b.identifier.as_str() == "variable")
        .filter_map(|b| {
            let name = b.labels.first()?;
            let def = b
                .body
                .attributes()
                .find(|a| a.key.as_str() == "default")
                .map(|a| a.expr.clone());
            Some(VarExpr {
                file: path.to_string(),
                line: at.label("variable", name.as_str()),
                name: name.as_str().to_string(),
                hcl: def,
                json: None,
            })
        })
        .collect()
}

/// The problem of an HCL file that does not parse (`msg` is the parser's error).
fn hcl_parse_problem(path: &str, msg: &str) -> Problem {
    Problem {
        file: path.to_string(),
        line: hcl_error_line(msg),
        error: true,
        message: format!(
            "cannot read bake file: {}",
            msg.lines().last().unwrap_or("invalid HCL").trim()
        ),
    }
}

/// A variable as declared: its file and line, its name, its default (HCL or JSON).
struct VarExpr {
    file: String,
    line: Option<u32>,
    name: String,
    hcl: Option<hcl::Expression>,
    json: Option<serde_json::Value>,
}

fn eval_vars(
    var_exprs: &[VarExpr],
    env: &BTreeMap<String, String>,
    ev: &mut Eval<'_>,
    values: &mut BTreeMap<String, hcl::Value>,
) {
    for var in var_exprs {
        let name = &var.name;
        if let Some(v) = env.get(name) {
            let v = hcl::Value::String(v.clone());
            ev.declare(name, v.clone());
            values.insert(name.clone(), v);
            continue;
        }
        let v = match (&var.hcl, &var.json) {
            (Some(e), _) => match ev.eval(e, &var.file, var.line, &format!("variable {name}")) {
                None => return,
                Some(Ok(v)) => v,
                // left undeclared: a build attribute that uses it then says so itself
                Some(Err(_)) => {
                    values.remove(name);
                    continue;
                }
            },
            (None, Some(j)) => json_to_hcl(j),
            (None, None) => hcl::Value::Null,
        };
        ev.declare(name, v.clone());
        values.insert(name.clone(), v);
    }
}

fn finish_targets(
    dir: &str,
    files: &[(String, String)],
    targets: BTreeMap<String, Raw>,
    groups: BTreeMap<String, Vec<String>>,
    also: &[String],
    mut problems: Vec<Problem>,
    ev: &mut Eval<'_>,
) -> Resolved {
    // which targets are builds: named by a group or the caller, or inherited by none
    let inherited: BTreeSet<&str> = targets
        .values()
        .flat_map(|t| t.inherits.iter().map(String::as_str))
        .collect();
    let defined: BTreeSet<String> = targets.keys().cloned().collect();
    let mut wanted = group_members(&groups);
    for name in targets.keys() {
        if !inherited.contains(name.as_str()) {
            wanted.insert(name.clone());
        }
    }
    for n in also {
        // a name bake refuses builds nothing here; the caller says so (`Resolved::select`)
        if let Ok(named) = select_names(std::slice::from_ref(n), &groups, &defined) {
            wanted.extend(named);
        }
    }
    let mut flat = Flatten {
        targets: &targets,
        done: BTreeMap::new(),
        ev,
    };
    let mut builds: Vec<BakeBuild> = Vec::new();
    let mut queue: Vec<String> = wanted.iter().cloned().collect();
    let mut i = 0;
    while i < queue.len() {
        let name = queue[i].clone();
        i += 1;
        if !targets.contains_key(&name) {
            if !groups.contains_key(&name) {
                let file = files.last().map(|f| f.0.clone()).unwrap_or_default();
                problems.push(Problem {
                    file,
                    line: None,
                    error: false,
                    message: format!("a group names target {name}, which no bake file defines"),
                });
            }
            continue;
        }
        let mut chain = Vec::new();
        let Some(attrs) = flat.attrs(&name, &mut chain, &mut problems) else {
            if flat.ev.spent() {
                break;
            }
            continue;
        };
        let raw = &targets[&name];
        if let Some(b) = build_of(dir, &name, raw, &attrs, &mut problems) {
            // a target it links to is built with it
            for v in b.contexts.values() {
                if let Some(t) = v.strip_prefix("target:") {
                    if targets.contains_key(t) && wanted.insert(t.to_string()) {
                        queue.push(t.to_string());
                    }
                }
            }
            builds.push(b);
        }
    }
    builds.sort_by(|a, b| a.target_name.cmp(&b.target_name));
    Resolved {
        builds,
        problems,
        groups,
        defined,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

fn hcl_error_line(msg: &str) -> Option<u32> {
    // hcl-rs: " --> 3:7" or "in line 3, col 7"
    let re_like = |s: &str| -> Option<u32> {
        let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    if let Some(i) = msg.find("-->") {
        return re_like(msg[i + 3..].trim_start());
    }
    if let Some(i) = msg.find("line ") {
        return re_like(&msg[i + 5..]);
    }
    None
}

/// Deepest group of groups followed.
const MAX_GROUP_DEPTH: usize = 16;

/// The targets the groups name, groups of groups followed up to `MAX_GROUP_DEPTH` levels. Level
/// by level, each group once: a group naming the next one 20 times, sixteen deep, costs what its
/// text does, not 20¹⁶ visits.
fn group_members(groups: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    members_from(
        groups
            .values()
            .flat_map(|m| m.iter().map(String::as_str))
            .collect(),
        groups,
    )
}

/// The targets the names `level` stand for (a group is expanded, the same way as
/// `group_members`; any other name is a target).
fn members_from<'a>(
    mut level: Vec<&'a str>,
    groups: &'a BTreeMap<String, Vec<String>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for depth in 0..=MAX_GROUP_DEPTH + 1 {
        let mut next = Vec::new();
        for name in level {
            if !seen.insert(name) {
                continue;
            }
            match groups.get(name) {
                Some(members) if depth <= MAX_GROUP_DEPTH => {
                    next.extend(members.iter().map(String::as_str))
                }
                Some(_) => {}
                None => {
                    out.insert(name.to_string());
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    out
}

fn json_to_hcl(v: &serde_json::Value) -> hcl::Value {
    match v {
        serde_json::Value::Null => hcl::Value::Null,
        serde_json::Value::Bool(b) => hcl::Value::Bool(*b),
        serde_json::Value::Number(n) => hcl::Value::String(n.to_string()),
        serde_json::Value::String(s) => hcl::Value::String(s.clone()),
        other => hcl::Value::String(other.to_string()),
    }
}

fn hcl_scalar(v: &hcl::Value) -> Option<String> {
    match v {
        hcl::Value::Null => None,
        hcl::Value::Bool(b) => Some(b.to_string()),
        hcl::Value::Number(n) => Some(n.to_string()),
        hcl::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

const ATTRS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile-inline",
    "target",
    "args",
    "contexts",
    "cache-from",
    "cache-to",
    "no-cache",
    "no-cache-filter",
    "pull",
    "platforms",
];

/// An HCL list attribute's items as strings.
fn hcl_list(v: &hcl::Value) -> Vec<String> {
    let item = |x: &hcl::Value| match x {
        hcl::Value::Object(m) => Some(
            m.iter()
                .filter_map(|(k, v)| hcl_scalar(v).map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => hcl_scalar(other),
    };
    match v {
        hcl::Value::Array(a) => a.iter().filter_map(item).collect(),
        other => item(other).into_iter().collect(),
    }
}

fn read_hcl(
    path: &str,
    at: &Lines,
    body: &hcl::Body,
    ev: &mut Eval<'_>,
    targets: &mut BTreeMap<String, Raw>,
    groups: &mut BTreeMap<String, Vec<String>>,
    problems: &mut Vec<Problem>,
) {
    for b in body.blocks() {
        let Some(label) = b.labels.first().map(|l| l.as_str().to_string()) else {
            continue;
        };
        let go_on = match b.identifier.as_str() {
            "group" => read_group(path, at, label, &b.body, ev, groups),
            "target" => match read_target_block(path, at, &label, &b.body, ev, targets, problems) {
                None => false,
                Some(names) => {
                    if !names.is_empty() && names != [label.clone()] {
                        groups.entry(label).or_default().extend(names);
                    }
                    true
                }
            },
            _ => true,
        };
        if !go_on {
            return;
        }
    }
}

/// A `group` block's `targets` added to `groups`; false once the budget is spent.
fn read_group(
    path: &str,
    at: &Lines,
    label: String,
    body: &hcl::Body,
    ev: &mut Eval<'_>,
    groups: &mut BTreeMap<String, Vec<String>>,
) -> bool {
    let Some(a) = body.attributes().find(|a| a.key.as_str() == "targets") else {
        groups.entry(label).or_default();
        return true;
    };
    let line = at.label("group", &label);
    let Some(v) = ev.eval(&a.expr, path, line, &format!("group {label}")) else {
        return false;
    };
    let members = v
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect::<Vec<_>>();
    groups.entry(label).or_default().extend(members);
    true
}

/// A `target` block read into `targets` (with a `matrix`, one target per combination); the
/// names of a matrix's targets, which the label groups, and `None` once the budget is spent.
fn read_target_block(
    path: &str,
    at: &Lines,
    label: &str,
    body: &hcl::Body,
    ev: &mut Eval<'_>,
    targets: &mut BTreeMap<String, Raw>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<String>> {
    let line = at.label("target", label);
    let Some(m) = body.attributes().find(|a| a.key.as_str() == "matrix") else {
        let t = targets.entry(label.to_string()).or_default();
        return read_target(path, at, label, line, body, ev, t, problems).then(Vec::new);
    };
    // a matrix: one target per combination, named by `name`; the label becomes a
    // group of them (buildx 0.29 `Target.GetEvalContexts`, `GetName`, `Renamed`)
    let v = ev.eval(&m.expr, path, line, &format!("target {label}: matrix"))?;
    let combos = match v
        .map_err(|e| format!("cannot be evaluated ({})", first_line(&e.to_string())))
        .and_then(|v| matrix_combos(&v))
    {
        Ok(c) => c,
        Err(why) => {
            problems.push(Problem {
                file: path.to_string(),
                line,
                error: true,
                message: format!("target {label}: `matrix` {why}; the target is not built"),
            });
            return Some(Vec::new());
        }
    };
    let name_attr = body.attributes().find(|a| a.key.as_str() == "name");
    let mut names: Vec<String> = Vec::new();
    for combo in combos {
        // the combination's variables hold in this block only
        let (saved_ctx, saved_sizes) = (ev.ctx.clone(), ev.sizes.clone());
        for (k, v) in combo {
            ev.declare(&k, v);
        }
        let name = matrix_name(ev, name_attr, path, line, label)?;
        let name = match name {
            Ok(n) if !valid_target_name(&n) => Err(format!("{n:?} is not a valid target name")),
            Ok(n) if names.contains(&n) => Err(format!("gives the name {n:?} twice")),
            other => other,
        };
        let ok = match name {
            Ok(name) => {
                let t = targets.entry(name.clone()).or_default();
                names.push(name.clone());
                read_target(path, at, &name, line, body, ev, t, problems)
            }
            Err(why) => {
                problems.push(Problem {
                    file: path.to_string(),
                    line,
                    error: true,
                    message: format!(
                        "target {label}: the matrix target's name {why}; bake refuses the file"
                    ),
                });
                // none of the block's targets is built
                for n in names.drain(..) {
                    targets.remove(&n);
                }
                ev.ctx = saved_ctx;
                ev.sizes = saved_sizes;
                break;
            }
        };
        ev.ctx = saved_ctx;
        ev.sizes = saved_sizes;
        if !ok {
            return None;
        }
    }
    Some(names)
}

/// The name of one matrix combination's target (the label without a `name` attribute), or why
/// it has none; `None` once the budget is spent.
fn matrix_name(
    ev: &mut Eval<'_>,
    name_attr: Option<&hcl::Attribute>,
    path: &str,
    line: Option<u32>,
    label: &str,
) -> Option<Result<String, String>> {
    let Some(a) = name_attr else {
        return Some(Ok(label.to_string()));
    };
    let name = match ev.eval(&a.expr, path, line, &format!("target {label}: name"))? {
        Ok(v) => hcl_scalar(&v)
            .filter(|_| !matches!(v, hcl::Value::Array(_) | hcl::Value::Object(_)))
            .ok_or_else(|| "is not a string".to_string()),
        Err(e) => Err(format!(
            "cannot be evaluated ({})",
            first_line(&e.to_string())
        )),
    };
    Some(name)
}

/// At most this many targets from one `matrix`.
pub const MAX_MATRIX: usize = 256;

/// One combination of a matrix: a value for each of its variables.
type Combo = Vec<(String, hcl::Value)>;

/// Every combination of a `matrix = { k = [v, …], … }`, or why there is none. Bake iterates the
/// keys in Go map order, so the order of the combinations is not bake's; the names are.
fn matrix_combos(v: &hcl::Value) -> Result<Vec<Combo>, String> {
    let hcl::Value::Object(m) = v else {
        return Err("must be a map".into());
    };
    let mut combos: Vec<Combo> = vec![Vec::new()];
    for (k, values) in m {
        let hcl::Value::Array(values) = values else {
            return Err(format!("values must be a list ({k} is not)"));
        };
        let mut next = Vec::new();
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.push((k.clone(), v.clone()));
                next.push(c);
            }
        }
        if next.len() > MAX_MATRIX {
            return Err(format!("has more than {MAX_MATRIX} combinations"));
        }
        combos = next;
    }
    Ok(combos)
}

/// A target name as bake accepts it (`^[a-zA-Z0-9_-]+$`).
fn valid_target_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One target block's `inherits` and build attributes, evaluated as `name` into `t`; false
/// once the budget is spent.
#[allow(clippy::too_many_arguments)]
fn read_target(
    path: &str,
    at: &Lines,
    label: &str,
    line: Option<u32>,
    body: &hcl::Body,
    ev: &mut Eval<'_>,
    t: &mut Raw,
    problems: &mut Vec<Problem>,
) -> bool {
    t.file = path.to_string();
    t.line = line;
    for a in body.attributes() {
        let key = a.key.as_str();
        if key == "inherits" {
            let what = format!("target {label}: inherits");
            match ev.eval(&a.expr, path, line, &what) {
                None => return false,
                Some(Ok(v)) => {
                    t.inherits = v
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                }
                Some(Err(e)) => problems.push(Problem {
                    file: path.to_string(),
                    line,
                    error: true,
                    message: format!(
                        "target {label}: inherits cannot be evaluated: {}",
                        first_line(&e.to_string())
                    ),
                }),
            }
            continue;
        }
        let Some(key) = ATTRS.iter().find(|k| **k == key) else {
            continue;
        };
        let key_line = at.attr.get(key).copied().or(line);
        let what = format!("target {label}: {key}");
        match ev.eval(&a.expr, path, key_line, &what) {
            None => return false,
            Some(Ok(v)) => {
                let attr = match (*key, &v) {
                    ("args" | "contexts", hcl::Value::Object(m)) => {
                        Attr::Map(m.iter().map(|(k, x)| (k.clone(), hcl_scalar(x))).collect())
                    }
                    (k, v) if LISTS.contains(&k) && !v.is_null() => Attr::List(hcl_list(v)),
                    (_, hcl::Value::Null) => Attr::Null,
                    (_, other) => match hcl_scalar(other) {
                        Some(s) => Attr::Str(s),
                        None => Attr::Null,
                    },
                };
                // the value's text (collections are written out) is produced too
                let r = ev.budget.size(attr.size());
                if !ev.charged(r, path, key_line, &what) {
                    return false;
                }
                merge_attr(&mut t.attrs, key, attr);
            }
            Some(Err(e)) => problems.push(Problem {
                file: path.to_string(),
                line: key_line,
                error: false,
                message: format!(
                    "target {label}: {key} cannot be evaluated ({}); left unset",
                    first_line(&e.to_string())
                ),
            }),
        }
    }
    true
}

/// An attribute set again by a later file or block: maps merge key by key, others replace.
fn merge_attr(attrs: &mut BTreeMap<String, Attr>, key: &str, attr: Attr) {
    match (attrs.get_mut(key), attr) {
        (Some(Attr::Map(old)), Attr::Map(new)) => old.extend(new),
        (_, a) => {
            attrs.insert(key.to_string(), a);
        }
    }
}

/// `${NAME}` in JSON bake values, from the variables (`None` once the budget is spent).
fn subst(s: &str, env: &BTreeMap<String, String>, budget: &mut Budget) -> Option<String> {
    match crate::engine::compose::interp::interpolate(s, env, budget) {
        Ok((v, _)) => Some(v),
        Err(crate::engine::compose::interp::InterpError::Budget(_)) => None,
        Err(_) => Some(s.to_string()),
    }
}

fn read_json(
    path: &str,
    at: &Lines,
    v: &serde_json::Value,
    vars: &BTreeMap<String, hcl::Value>,
    ev: &mut Eval<'_>,
    targets: &mut BTreeMap<String, Raw>,
    groups: &mut BTreeMap<String, Vec<String>>,
) -> Option<()> {
    if let Some(g) = v.get("group").and_then(|x| x.as_object()) {
        for (name, body) in g {
            let members = body
                .get("targets")
                .and_then(|t| t.as_array())
                .cloned()
                .unwrap_or_default();
            groups.entry(name.clone()).or_default().extend(
                members
                    .iter()
                    .filter_map(|m| m.as_str().map(str::to_string)),
            );
        }
    }
    let Some(ts) = v.get("target").and_then(|x| x.as_object()) else {
        return Some(());
    };
    // the variables as strings, once for the whole file
    let env: BTreeMap<String, String> = vars
        .iter()
        .filter_map(|(k, v)| hcl_scalar(v).map(|s| (k.clone(), s)))
        .collect();
    for (name, body) in ts {
        let line = at.label("target", name);
        let t = targets.entry(name.clone()).or_default();
        t.file = path.to_string();
        t.line = line;
        if let Some(inh) = body.get("inherits").and_then(|x| x.as_array()) {
            t.inherits = inh
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
        }
        for key in ATTRS {
            let Some(val) = body.get(*key) else { continue };
            let mut subst = |s: &str| {
                let r = subst(s, &env, &mut ev.budget);
                if r.is_none() {
                    let e = ev.budget.exceeded().map_or(Ok(()), Err);
                    ev.charged(e, path, line, &format!("target {name}: {key}"));
                }
                r
            };
            let attr = json_attr(key, val, &mut subst)?;
            merge_attr(&mut t.attrs, key, attr);
        }
    }
    Some(())
}

/// A JSON target attribute as an [`Attr`], its strings passed through `subst`; `None` as soon
/// as `subst` gives `None` (the budget is spent).
fn json_attr(
    key: &str,
    val: &serde_json::Value,
    subst: &mut impl FnMut(&str) -> Option<String>,
) -> Option<Attr> {
    let attr = match val {
        serde_json::Value::Array(a) if LISTS.contains(&key) => {
            let mut out = Vec::new();
            for x in a {
                if let Some(item) = json_list_item(x, subst)? {
                    out.push(item);
                }
            }
            Attr::List(out)
        }
        serde_json::Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, x) in m {
                let s = match x {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(subst(s)?),
                    other => Some(other.to_string()),
                };
                out.insert(k.clone(), s);
            }
            Attr::Map(out)
        }
        serde_json::Value::Null => Attr::Null,
        serde_json::Value::String(s) => Attr::Str(subst(s)?),
        other => Attr::Str(other.to_string()),
    };
    Some(attr)
}

/// One entry of a JSON list attribute: a string, or an object as `key=value,…`; `Some(None)`
/// for anything else (skipped), `None` once `subst` gives `None`.
fn json_list_item(
    x: &serde_json::Value,
    subst: &mut impl FnMut(&str) -> Option<String>,
) -> Option<Option<String>> {
    match x {
        serde_json::Value::String(s) => Some(Some(subst(s)?)),
        serde_json::Value::Object(m) => {
            let mut kv = Vec::new();
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) => kv.push(format!("{k}={}", subst(s)?)),
                    other => kv.push(format!("{k}={other}")),
                }
            }
            Some(Some(kv.join(",")))
        }
        _ => Some(None),
    }
}

/// Targets' attributes with their `inherits` applied, each target flattened once (a target
/// inheriting the next one 20 times, sixteen deep, is not 20¹⁶ merges).
struct Flatten<'t, 'e, 'c> {
    targets: &'t BTreeMap<String, Raw>,
    done: BTreeMap<String, Option<BTreeMap<String, Attr>>>,
    ev: &'e mut Eval<'c>,
}

impl Flatten<'_, '_, '_> {
    /// A target's attributes with its `inherits` applied (parents first, in order); `None` for a
    /// cycle, and once the budget is spent.
    fn attrs(
        &mut self,
        name: &str,
        chain: &mut Vec<String>,
        problems: &mut Vec<Problem>,
    ) -> Option<BTreeMap<String, Attr>> {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        let raw = self.targets.get(name)?;
        if chain.iter().any(|c| c == name) || chain.len() > 16 {
            problems.push(Problem {
                file: raw.file.clone(),
                line: raw.line,
                error: true,
                message: format!(
                    "target {name}: inherits forms a cycle ({} → {name}); not built",
                    chain.join(" → ")
                ),
            });
            return None;
        }
        chain.push(name.to_string());
        let mut out: BTreeMap<String, Attr> = BTreeMap::new();
        for parent in &raw.inherits {
            if !self.targets.contains_key(parent) {
                problems.push(Problem {
                    file: raw.file.clone(),
                    line: raw.line,
                    error: false,
                    message: format!(
                        "target {name}: inherits {parent}, which no bake file defines"
                    ),
                });
                continue;
            }
            let p = self.attrs(parent, chain, problems);
            let Some(p) = p else {
                chain.pop();
                self.done.insert(name.to_string(), None);
                return None;
            };
            // the parent's attributes are copied into this target
            let copied = p.values().map(Attr::size).fold(Size::ONE, Size::plus);
            let r = self
                .ev
                .budget
                .step()
                .and_then(|_| self.ev.budget.size(copied));
            let what = format!("target {name}: inherits {parent}");
            if !self.ev.charged(r, &raw.file, raw.line, &what) {
                chain.pop();
                return None;
            }
            for (k, v) in p {
                merge_attr(&mut out, &k, v);
            }
        }
        chain.pop();
        for (k, v) in &raw.attrs {
            merge_attr(&mut out, k, v.clone());
        }
        self.done.insert(name.to_string(), Some(out.clone()));
        Some(out)
    }
}

fn build_of(
    dir: &str,
    name: &str,
    raw: &Raw,
    attrs: &BTreeMap<String, Attr>,
    problems: &mut Vec<Problem>,
) -> Option<BakeBuild> {
    let s = |k: &str| match attrs.get(k) {
        Some(Attr::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let map = |k: &str| match attrs.get(k) {
        Some(Attr::Map(m)) => m.clone(),
        _ => BTreeMap::new(),
    };
    let items = |k: &str| match attrs.get(k) {
        Some(Attr::List(l)) => l.clone(),
        Some(Attr::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let flag =
        |k: &str| matches!(attrs.get(k), Some(Attr::Str(s)) if s.eq_ignore_ascii_case("true"));
    let problem = |problems: &mut Vec<Problem>, m: String| {
        problems.push(Problem {
            file: raw.file.clone(),
            line: raw.line,
            error: true,
            message: m,
        })
    };
    let context_raw = s("context").unwrap_or_else(|| ".".into());
    if context_raw.contains("://") || context_raw.starts_with("git@") {
        problems.push(Problem {
            file: raw.file.clone(),
            line: raw.line,
            error: false,
            message: format!("target {name}: remote build context {context_raw} is not analysed"),
        });
        return None;
    }
    let Some(context) = inside(dir, &context_raw) else {
        problem(
            problems,
            format!(
                "target {name}: build context {context_raw} is outside the repository; refused, nothing outside it is read"
            ),
        );
        return None;
    };
    let inline = s("dockerfile-inline");
    let dockerfile = match (&inline, s("dockerfile")) {
        (Some(_), _) => format!("{}#{name}", raw.file),
        (None, Some(d)) => match inside(&context, &d) {
            Some(p) => p,
            None => {
                problem(
                    problems,
                    format!(
                        "target {name}: dockerfile {d} is outside the repository; refused, nothing outside it is read"
                    ),
                );
                return None;
            }
        },
        (None, None) => join_clean(&context, "Dockerfile"),
    };
    let args = map("args")
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let contexts = named_contexts(dir, name, raw, map("contexts"), problems);
    Some(BakeBuild {
        target_name: name.to_string(),
        file: raw.file.clone(),
        line: raw.line,
        context,
        dockerfile,
        inline,
        args,
        target: s("target"),
        contexts,
        cache: BakeCache {
            cache_from: items("cache-from"),
            cache_to: items("cache-to"),
            no_cache: flag("no-cache"),
            no_cache_filter: items("no-cache-filter"),
            pull: flag("pull"),
            platforms: items("platforms"),
        },
    })
}

/// A target's `contexts` as written, a local one as a root-relative path (one outside the
/// repository is refused: a problem, and left out) and any other (URL, `target:`) as it is.
fn named_contexts(
    dir: &str,
    name: &str,
    raw: &Raw,
    written: BTreeMap<String, Option<String>>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let mut contexts = BTreeMap::new();
    for (k, v) in written {
        let Some(v) = v else { continue };
        let local = !(v.contains("://") || v.starts_with("target:"));
        if !local {
            contexts.insert(k, v);
            continue;
        }
        match inside(dir, &v) {
            Some(p) => {
                contexts.insert(k, p);
            }
            None => problems.push(Problem {
                file: raw.file.clone(),
                line: raw.line,
                error: true,
                message: format!(
                    "target {name}: context {k}={v} is outside the repository; refused"
                ),
            }),
        }
    }
    contexts
}

fn str_arg(args: &FuncArgs, i: usize) -> String {
    args.get(i)
        .map(|v| hcl_scalar(v).unwrap_or_default())
        .unwrap_or_default()
}

/// The subset of bake's standard library that decides build inputs in real files.
pub(crate) fn declare_functions(ctx: &mut Context) {
    declare_logic(ctx);
    declare_text(ctx);
    declare_values(ctx);
}

/// `equal`, `notequal`, `and`, `or` and `not`.
fn declare_logic(ctx: &mut Context) {
    let any2 = || {
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
    };
    ctx.declare_func(
        "equal",
        any2().build(|a: FuncArgs| Ok(hcl::Value::Bool(a[0] == a[1]))),
    );
    ctx.declare_func(
        "notequal",
        any2().build(|a: FuncArgs| Ok(hcl::Value::Bool(a[0] != a[1]))),
    );
    ctx.declare_func(
        "and",
        FuncDef::builder()
            .param(ParamType::Bool)
            .param(ParamType::Bool)
            .build(|a: FuncArgs| {
                Ok(hcl::Value::Bool(
                    a[0] == hcl::Value::Bool(true) && a[1] == hcl::Value::Bool(true),
                ))
            }),
    );
    ctx.declare_func(
        "or",
        FuncDef::builder()
            .param(ParamType::Bool)
            .param(ParamType::Bool)
            .build(|a: FuncArgs| {
                Ok(hcl::Value::Bool(
                    a[0] == hcl::Value::Bool(true) || a[1] == hcl::Value::Bool(true),
                ))
            }),
    );
    ctx.declare_func(
        "not",
        FuncDef::builder()
            .param(ParamType::Bool)
            .build(|a: FuncArgs| Ok(hcl::Value::Bool(a[0] != hcl::Value::Bool(true)))),
    );
}

/// `lower`, `upper`, `trimspace`, `trimprefix`, `trimsuffix` and `replace`.
fn declare_text(ctx: &mut Context) {
    let one = || FuncDef::builder().param(ParamType::Any);
    ctx.declare_func(
        "lower",
        one().build(|a: FuncArgs| Ok(hcl::Value::String(str_arg(&a, 0).to_lowercase()))),
    );
    ctx.declare_func(
        "upper",
        one().build(|a: FuncArgs| Ok(hcl::Value::String(str_arg(&a, 0).to_uppercase()))),
    );
    ctx.declare_func(
        "trimspace",
        one().build(|a: FuncArgs| Ok(hcl::Value::String(str_arg(&a, 0).trim().to_string()))),
    );
    ctx.declare_func(
        "trimprefix",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                let s = str_arg(&a, 0);
                let p = str_arg(&a, 1);
                Ok(hcl::Value::String(
                    s.strip_prefix(p.as_str()).unwrap_or(&s).to_string(),
                ))
            }),
    );
    ctx.declare_func(
        "trimsuffix",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                let s = str_arg(&a, 0);
                let p = str_arg(&a, 1);
                Ok(hcl::Value::String(
                    s.strip_suffix(p.as_str()).unwrap_or(&s).to_string(),
                ))
            }),
    );
    ctx.declare_func(
        "replace",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                Ok(hcl::Value::String(
                    str_arg(&a, 0).replace(&str_arg(&a, 1), &str_arg(&a, 2)),
                ))
            }),
    );
}

/// `coalesce`, `split`, `format`, `concat`, `contains`, `join` and `md5`.
fn declare_values(ctx: &mut Context) {
    let one = || FuncDef::builder().param(ParamType::Any);
    ctx.declare_func(
        "coalesce",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(|a: FuncArgs| {
                Ok(a.iter()
                    .find(|v| !v.is_null() && v.as_str() != Some(""))
                    .cloned()
                    .unwrap_or(hcl::Value::Null))
            }),
    );
    ctx.declare_func(
        "split",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                let sep = str_arg(&a, 0);
                let s = str_arg(&a, 1);
                Ok(hcl::Value::Array(
                    s.split(sep.as_str())
                        .map(|x| hcl::Value::String(x.to_string()))
                        .collect(),
                ))
            }),
    );
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(ParamType::Any)
            .variadic_param(ParamType::Any)
            .build(format_func),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(|a: FuncArgs| {
                Ok(hcl::Value::Array(
                    a.iter()
                        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                        .collect(),
                ))
            }),
    );
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                Ok(hcl::Value::Bool(
                    a[0].as_array().is_some_and(|v| v.contains(&a[1])),
                ))
            }),
    );
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(|a: FuncArgs| {
                let sep = str_arg(&a, 0);
                let items: Vec<String> = a[1]
                    .as_array()
                    .map(|v| v.iter().filter_map(hcl_scalar).collect())
                    .unwrap_or_default();
                Ok(hcl::Value::String(items.join(&sep)))
            }),
    );
    // buildx's stdlib md5 (moby/buildkit names matrix targets with it)
    ctx.declare_func(
        "md5",
        one().build(|a: FuncArgs| {
            use md5::Digest;
            let d = md5::Md5::digest(str_arg(&a, 0).as_bytes());
            Ok(hcl::Value::String(
                d.iter().map(|b| format!("{b:02x}")).collect(),
            ))
        }),
    );
}

/// Bake's `format`: `%s`, `%d` and `%v` take the next argument as a string, `%%` is `%`, any
/// other verb is an error.
fn format_func(a: FuncArgs) -> Result<hcl::Value, String> {
    let f = str_arg(&a, 0);
    let mut rest = a.iter().skip(1);
    let mut out = String::new();
    let mut it = f.chars().peekable();
    while let Some(c) = it.next() {
        if c == '%' {
            match it.next() {
                Some('%') => out.push('%'),
                Some('s' | 'd' | 'v') => {
                    out.push_str(&rest.next().and_then(hcl_scalar).unwrap_or_default())
                }
                _ => return Err("unsupported format verb".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(hcl::Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(files: &[(&str, &str)]) -> Resolved {
        let f: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        let dir = files[0].0.rsplit_once('/').map(|x| x.0).unwrap_or("");
        resolve(dir, &f, &BTreeMap::new(), &[])
    }

    #[test]
    fn targets_groups_inherits_variables() {
        let r = res(&[(
            "docker-bake.hcl",
            r#"
variable "GO_VERSION" { default = null }
variable "TAG" { default = "1.2" }
variable "FULL" { default = "v${TAG}" }
target "_common" {
  args = {
    GO_VERSION = GO_VERSION
    KEEP = 1
  }
}
group "default" { targets = ["bin"] }
target "bin" {
  inherits = ["_common"]
  context = "./src"
  dockerfile = "build/Dockerfile"
  target = "binaries"
  args = { VERSION = FULL, EQ = notequal(TAG, "") ? "yes" : "no" }
}
target "lint" {
  inherits = ["_common"]
  dockerfile = "./hack/lint.Dockerfile"
}
"#,
        )]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let names: Vec<&str> = r.builds.iter().map(|b| b.target_name.as_str()).collect();
        assert_eq!(names, vec!["bin", "lint"]);
        let bin = &r.builds[0];
        assert_eq!(bin.context, "src");
        assert_eq!(bin.dockerfile, "src/build/Dockerfile");
        assert_eq!(bin.target.as_deref(), Some("binaries"));
        assert_eq!(
            bin.args,
            BTreeMap::from([
                ("EQ".into(), "yes".into()),
                ("KEEP".into(), "1".into()),
                ("VERSION".into(), "v1.2".into())
            ])
        );
        assert_eq!(r.builds[1].dockerfile, "hack/lint.Dockerfile");
    }

    #[test]
    fn env_overrides_and_override_file_and_json() {
        let f: Vec<(String, String)> = vec![
            (
                "b/docker-bake.json".into(),
                r#"{"variable":{"V":{"default":"j"}},"target":{"app":{"context":".","args":{"A":"${V}"}}}}"#.into(),
            ),
            (
                "b/docker-bake.hcl".into(),
                "target \"app\" {\n  args = { B = \"2\" }\n}\n".into(),
            ),
        ];
        let env = BTreeMap::from([("V".to_string(), "from-env".to_string())]);
        let r = resolve("b", &f, &env, &[]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        // a variable the environment sets is usable in expressions (a workflow's env: did
        // leave every expression that read it unevaluated)
        let h = vec![(
            "docker-bake.hcl".to_string(),
            "variable \"GO\" { default = null }\ntarget \"t\" {\n  args = { GO = GO, V = \"v${GO}\" }\n}\n"
                .to_string(),
        )];
        let go = resolve(
            "",
            &h,
            &BTreeMap::from([("GO".to_string(), "1.23".to_string())]),
            &[],
        );
        assert!(go.problems.is_empty(), "{:?}", go.problems);
        assert_eq!(go.builds[0].args["V"], "v1.23");
        assert_eq!(r.builds.len(), 1);
        assert_eq!(r.builds[0].context, "b");
        assert_eq!(r.builds[0].args["A"], "from-env");
        assert_eq!(r.builds[0].args["B"], "2");
    }

    const BENCH: &str = r#"
group "default" { targets = ["bench-race"] }
group "all" { targets = ["default", "lint"] }
target "_common" { args = { GO = "1.22" } }
target "bench" {
  inherits = ["_common"]
  target = "bench"
}
target "bench-race" {
  inherits = ["bench"]
  args = { RACE = "1" }
}
target "lint" {
  inherits = ["_common"]
  contexts = { tools = "target:tools" }
}
target "tools" {
  inherits = ["_common"]
  target = "tools"
}
target "tools-cross" { inherits = ["tools"] }
"#;

    fn names(r: &Resolved) -> Vec<&str> {
        r.builds.iter().map(|b| b.target_name.as_str()).collect()
    }

    /// A `matrix` target is one target per combination, named by `name` (`md5()` and objects as
    /// moby/buildkit writes them, `${item}`, `inherits`), its label a group of them; names, args
    /// and targets as `docker buildx bake --print` 0.29.1 gives them for the same file
    /// (tests/fixtures/discovery/repos/bake-matrix, compared with the real bake there).
    #[test]
    fn matrix_targets_expand() {
        let text = include_str!("../../tests/fixtures/discovery/repos/bake-matrix/docker-bake.hcl");
        let r = res(&[("docker-bake.hcl", text)]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(
            names(&r),
            vec![
                "app-debug",
                "app-release",
                "check-3254677a7917c6c01f55212f86c57fbf-amd64",
                "check-3254677a7917c6c01f55212f86c57fbf-arm64",
                "check-b940a3f032d6c74141fdc5a91f0c75da-amd64",
                "check-b940a3f032d6c74141fdc5a91f0c75da-arm64",
                "lint-default",
                "lint-yaml",
                "single",
            ]
        );
        let b = |n: &str| r.builds.iter().find(|b| b.target_name == n).unwrap();
        assert_eq!(b("lint-yaml").target.as_deref(), Some("yamllint"));
        assert_eq!(b("lint-yaml").args["TAGS"], "y");
        assert_eq!(b("lint-yaml").args["GO_VERSION"], "1.22");
        assert_eq!(b("app-debug").target.as_deref(), Some("debug"));
        assert_eq!(
            b("check-b940a3f032d6c74141fdc5a91f0c75da-arm64").dockerfile,
            "a.Dockerfile"
        );
        assert_eq!(
            b("check-b940a3f032d6c74141fdc5a91f0c75da-arm64").args["ARCH"],
            "arm64"
        );
        assert_eq!(b("single").args["V"], "only");
        assert_eq!(
            r.select(&["lint".into()]),
            Ok(vec!["lint-default".to_string(), "lint-yaml".to_string()])
        );
        // the default group names the labels: every generated target
        assert_eq!(r.select(&[]).map(|v| v.len()), Ok(8));
    }

    /// What bake refuses in a matrix is said, and builds nothing: names that collide (no `name`
    /// with two combinations), a name bake does not accept, a matrix that is not a map of lists;
    /// a matrix's variables hold in its own block only.
    #[test]
    fn matrix_problems() {
        let r = res(&[(
            "docker-bake.hcl",
            r#"
target "twice" {
  matrix = { v = ["a", "b"] }
}
target "bad" {
  name = "x/${v}"
  matrix = { v = ["a"] }
}
target "notlist" {
  name = "n-${v}"
  matrix = { v = "a" }
}
target "after" {
  args = { V = v }
}
"#,
        )]);
        let msgs: Vec<&str> = r.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("target twice") && m.contains("twice")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("target bad") && m.contains("not a valid target name")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("target notlist") && m.contains("must be a list")),
            "{msgs:?}"
        );
        // `v` is not declared outside the matrix blocks
        assert!(
            msgs.iter().any(|m| m.contains("target after: args")),
            "{msgs:?}"
        );
        assert!(!names(&r).contains(&"bad"));
        assert!(!names(&r).iter().any(|n| n.starts_with("n-")));
    }

    #[test]
    fn a_named_target_is_a_build_whatever_inherits_from_it() {
        let f = vec![("docker-bake.hcl".to_string(), BENCH.to_string())];
        let none = BTreeMap::new();
        // inherited by bench-race and named by nobody: not built alone; `tools` is inherited
        // too but `lint` links to it, so bake builds it with lint
        let r = resolve("", &f, &none, &[]);
        assert_eq!(
            names(&r),
            vec!["bench-race", "lint", "tools", "tools-cross"]
        );
        // a bake-action step with `targets: bench`
        let r = resolve("", &f, &none, &["bench".into()]);
        assert_eq!(
            names(&r),
            vec!["bench", "bench-race", "lint", "tools", "tools-cross"]
        );
        let bench = &r.builds[0];
        assert_eq!(bench.target.as_deref(), Some("bench"));
        assert_eq!(bench.args, BTreeMap::from([("GO".into(), "1.22".into())]));
        assert_eq!(r.select(&["bench".into()]), Ok(vec!["bench".to_string()]));
        // a name that is only a pattern or a group selects what it stands for
        let r = resolve("", &f, &none, &["_*".into(), "all".into()]);
        assert!(names(&r).contains(&"_common"), "{:?}", names(&r));
    }

    #[test]
    fn select_is_what_one_bake_call_builds() {
        let f = vec![("docker-bake.hcl".to_string(), BENCH.to_string())];
        let r = resolve("", &f, &BTreeMap::new(), &[]);
        let sel = |n: &[&str]| r.select(&n.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        // no names: the default group
        assert_eq!(sel(&[]), Ok(vec!["bench-race".to_string()]));
        // groups expand recursively; a linked target comes along
        assert_eq!(
            sel(&["all"]),
            Ok(vec![
                "bench-race".to_string(),
                "lint".to_string(),
                "tools".to_string()
            ])
        );
        assert_eq!(
            sel(&["tools*"]),
            Ok(vec!["tools".to_string(), "tools-cross".to_string()])
        );
        // bake refuses a name nothing defines
        assert_eq!(sel(&["nope"]), Err("nope".to_string()));
        assert_eq!(sel(&["x*"]), Err("x*".to_string()));
        // no default group and no target named default: bake fails
        let g = vec![(
            "docker-bake.hcl".to_string(),
            "target \"app\" {}\n".to_string(),
        )];
        let r = resolve("", &g, &BTreeMap::new(), &[]);
        assert_eq!(r.select(&[]), Err("default".to_string()));
    }

    #[test]
    fn bad_input() {
        let r = res(&[("docker-bake.hcl", "target \"x\" {\n  context = \n")]);
        assert!(r.builds.is_empty());
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].message.starts_with("cannot read bake file"),
            "{:?}",
            r.problems
        );
        let r = res(&[(
            "docker-bake.hcl",
            "target \"a\" {\n  inherits = [\"b\"]\n}\ntarget \"b\" {\n  inherits = [\"a\"]\n}\ntarget \"out\" {\n  context = \"../..\"\n}\ntarget \"fn\" {\n  args = { T = timestamp() }\n}\n",
        )]);
        let msgs: Vec<&str> = r.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("outside the repository")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("args cannot be evaluated")),
            "{msgs:?}"
        );
        // the cycle: both a and b are inherited, so neither is built alone; nothing loops
        assert!(r.builds.iter().any(|b| b.target_name == "fn"));
    }

    /// Issue 30, item 2: a variable doubled 40 times (a terabyte) is refused before it is
    /// evaluated, naming the file, the variable's line and the limit; none of the directory's
    /// targets is built, and a directory that fits resolves as before.
    #[test]
    fn doubling_variables_are_refused_before_they_are_evaluated() {
        let mut hcl = String::from("variable \"A0\" { default = \"xx\" }\n");
        for i in 1..=40 {
            hcl.push_str(&format!(
                "variable \"A{i}\" {{ default = \"${{A{}}}${{A{}}}\" }}\n",
                i - 1,
                i - 1
            ));
        }
        hcl.push_str("target \"app\" {\n  args = { X = A40 }\n}\n");
        let r = res(&[("docker-bake.hcl", &hcl)]);
        assert!(r.builds.is_empty());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        let p = &r.problems[0];
        assert!(p.error);
        let var: u32 = p
            .message
            .strip_prefix("variable A")
            .and_then(|m| m.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{p:?}"));
        assert_eq!(p.line, Some(var + 1), "{p:?}");
        assert!(
            p.message.ends_with(": the bake files at the repository root go past the evaluation budget of one bake project (more than 16 MiB of text produced); none of their targets is analysed"),
            "{p:?}"
        );
        // `replace` growing every character, and a loop over a split, are bounded the same way
        for bomb in [
            "variable \"B\" { default = \"0123456789abcdef\" }\nvariable \"C\" { default = replace(replace(replace(replace(B, \"\", B), \"\", B), \"\", B), \"\", B) }\ntarget \"t\" {}\n",
            "variable \"B\" { default = \"0123456789abcdef0123456789abcdef\" }\nvariable \"C\" { default = [for a in split(\"\", B) : [for b in split(\"\", B) : [for c in split(\"\", B) : [for d in split(\"\", B) : [for e in split(\"\", B) : B]]]]] }\ntarget \"t\" {}\n",
        ] {
            let r = res(&[("docker-bake.hcl", bomb)]);
            assert!(r.builds.is_empty(), "{bomb}");
            assert!(
                r.problems.len() == 1
                    && r.problems[0].message.starts_with("variable C:")
                    && r.problems[0].line == Some(2),
                "{:?}",
                r.problems
            );
        }
    }

    /// Groups of groups and inherits that fan out (each naming the next one 20 times, fifteen
    /// deep: 20¹⁵ visits) are walked once per group and flattened once per target.
    #[test]
    fn fan_out_of_groups_and_inherits_is_linear() {
        let mut hcl = String::new();
        for i in 0..15 {
            let next = vec![format!("\"g{}\"", i + 1); 20].join(", ");
            hcl.push_str(&format!("group \"g{i}\" {{\n  targets = [{next}]\n}}\n"));
            let parents = vec![format!("\"t{}\"", i + 1); 20].join(", ");
            hcl.push_str(&format!(
                "target \"t{i}\" {{\n  inherits = [{parents}]\n  args = {{ L{i} = \"{i}\" }}\n}}\n"
            ));
        }
        hcl.push_str(
            "group \"g15\" {\n  targets = [\"t0\"]\n}\ntarget \"t15\" {\n  context = \"app\"\n}\n",
        );
        let r = res(&[("docker-bake.hcl", &hcl)]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let names: Vec<&str> = r.builds.iter().map(|b| b.target_name.as_str()).collect();
        assert_eq!(names, ["t0"]);
        assert_eq!(r.builds[0].context, "app");
        assert_eq!(r.builds[0].args.len(), 15);
        assert_eq!(r.builds[0].line, Some(4));
    }

    /// A JSON bake file's `${VAR}` substitutions share the budget too.
    #[test]
    fn json_substitutions_share_the_budget() {
        let big = "v".repeat(900_000);
        let args: Vec<String> = (0..40).map(|i| format!("\"A{i}\": \"${{BIG}}\"")).collect();
        let json = format!(
            "{{\"variable\": {{\"BIG\": {{\"default\": \"{big}\"}}}},\n\"target\": {{\n\"app\": {{\"args\": {{{}}}}}}}}}",
            args.join(", ")
        );
        let r = res(&[("docker-bake.json", &json)]);
        assert!(r.builds.is_empty());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(
            r.problems[0].message.starts_with("target app: args:"),
            "{:?}",
            r.problems
        );
        assert_eq!(r.problems[0].line, Some(3));
    }
}
