//! Invariant 3 of issue 29 against the real tools: the builds `cachebust builds` finds in a
//! whole tree compared with what `docker compose config` (Compose 2.40.3) and `docker buildx
//! bake --print` (buildx 0.29.1) resolve there. Shared by `tests/integration/discovery.rs` (the
//! fixtures, the mirrors) and `cargo bench --bench corpus` (each repository's head: the I3
//! column).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cachebust::engine::{bake, compose};

/// The current Docker client with its plugins (tools/docker-current.sh), or `None` (skip; CI
/// fails instead).
pub fn docker28() -> Option<(PathBuf, PathBuf)> {
    let bin = std::env::var("CACHEBUST_DOCKER28_BIN")
        .unwrap_or_else(|_| "/tmp/cb-docker28/root/usr/bin/docker".into());
    let config = std::env::var("CACHEBUST_DOCKER28_CONFIG")
        .unwrap_or_else(|_| "/tmp/cb-docker28/config".into());
    let ok = Path::new(&bin).exists()
        && Path::new(&config)
            .join("cli-plugins/docker-compose")
            .exists();
    if !ok {
        if std::env::var_os("CI").is_some()
            || std::env::var_os("CACHEBUST_REQUIRE_DOCKER28").is_some()
        {
            panic!(
                "no Docker 28 client with compose/buildx at CACHEBUST_DOCKER28_BIN; .ci/run installs it (tools/docker-current.sh)"
            );
        }
        eprintln!(
            "SKIPPED: no Docker 28 client with compose/buildx; run tools/docker-current.sh install"
        );
        return None;
    }
    Some((PathBuf::from(bin), PathBuf::from(config)))
}

pub fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut items: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    items.sort_by_key(|e| e.file_name());
    for e in items {
        let name = e.file_name().into_string().unwrap();
        let p = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p);
        }
    }
}

/// (context, dockerfile, args, target) of one service, all paths root-relative.
pub type Build = (String, String, BTreeMap<String, String>, Option<String>);

pub fn rel(root: &Path, abs: &str) -> String {
    let r = Path::new(abs)
        .strip_prefix(root)
        .unwrap_or_else(|_| panic!("{abs} outside {}", root.display()));
    r.to_string_lossy().to_string()
}

pub fn theirs(
    docker: &(PathBuf, PathBuf),
    root: &Path,
    project: &compose::Project,
) -> Result<BTreeMap<String, Build>, String> {
    let mut c = Command::new(&docker.0);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_CONFIG", &docker.1)
        .current_dir(root.join(&project.dir));
    c.arg("compose");
    for f in &project.files {
        c.arg("-f").arg(root.join(f));
    }
    c.args(["--project-directory"]).arg(root.join(&project.dir));
    c.args(["--profile", "*", "config", "--format", "json"]);
    let out = c.output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut builds = BTreeMap::new();
    let root = root.canonicalize().unwrap();
    for (name, s) in v["services"].as_object().into_iter().flatten() {
        let Some(b) = s.get("build") else { continue };
        let context = rel(&root, b["context"].as_str().unwrap());
        let dockerfile = match b.get("dockerfile_inline") {
            Some(_) => "(inline)".to_string(),
            None => {
                let d = b["dockerfile"].as_str().unwrap_or("Dockerfile");
                if d.starts_with('/') {
                    rel(&root, d)
                } else {
                    cachebust::engine::tree::join_clean(&context, d)
                }
            }
        };
        // `config` writes a literal `$` as `$$` (so that its output reads back the same)
        let args = b
            .get("args")
            .and_then(|a| a.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.replace("$$", "$"))))
                    .collect()
            })
            .unwrap_or_default();
        let target = b.get("target").and_then(|t| t.as_str()).map(str::to_string);
        builds.insert(name.clone(), (context, dockerfile, args, target));
    }
    Ok(builds)
}

// ---------------------------------------------------------------------------------------------
// Invariant 3 of issue 29: the builds `cachebust builds` finds in a whole tree equal what the
// real tools resolve — every compose project (`docker compose config`), every directory's bake
// files (`docker buildx bake --print` of every group and of every target cachebust lists), and
// every `docker/bake-action` step (its files, targets and env: `docker buildx bake -f … --print
// TARGETS`).

/// What the real tools and cachebust said about one tree.
#[derive(Debug, Default)]
pub struct TreeCheck {
    /// Declarations compared (compose services, bake targets, step targets).
    pub compared: usize,
    pub mismatches: Vec<String>,
}

/// Root-relative (context, dockerfile, args, target) of one declaration, keyed by what declares
/// it: `compose FILES / SERVICE`, `bake FILE / TARGET`, `step WORKFLOW / JOB / STEP / TARGET`.
pub type Declarations = BTreeMap<String, Vec<Build>>;

pub fn ours_in_tree(bin: &Path, root: &Path) -> (Declarations, serde_json::Value) {
    let out = Command::new(bin)
        .args(["builds", "--format", "json"])
        .arg(root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cachebust builds {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut decls: Declarations = BTreeMap::new();
    for b in v["builds"].as_array().unwrap() {
        let ctx = match b["context"].as_str().unwrap() {
            "." => String::new(),
            c => c.to_string(),
        };
        let dockerfile = if b["inline"].as_bool().unwrap_or(false) {
            "(inline)".to_string()
        } else {
            b["dockerfile"].as_str().unwrap().to_string()
        };
        let args: BTreeMap<String, String> = b["args"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let target = b["target"].as_str().map(str::to_string);
        let origins = b["origins"].as_array().unwrap();
        // a workflow origin without a bake target (cachebust before issue 29 said none): the
        // bake targets of the same build
        let bake_targets: Vec<String> = origins
            .iter()
            .filter(|o| o["kind"] == "bake")
            .filter_map(|o| o["target"].as_str().map(str::to_string))
            .collect();
        for o in origins {
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            let keys = match o["kind"].as_str().unwrap() {
                "compose" => vec![format!("compose {} / {}", s("project"), s("service"))],
                "bake" => vec![format!("bake {} / {}", s("file"), s("target"))],
                "workflow" => {
                    let step = format!("step {} / {} / {} / ", s("file"), s("job"), s("step"));
                    match o["target"].as_str() {
                        Some(t) => vec![format!("{step}{t}")],
                        None => bake_targets.iter().map(|t| format!("{step}{t}")).collect(),
                    }
                }
                _ => continue,
            };
            for key in keys {
                decls.entry(key).or_default().push((
                    ctx.clone(),
                    dockerfile.clone(),
                    args.clone(),
                    target.clone(),
                ));
            }
        }
    }
    (decls, v)
}

/// `docker buildx bake` in `cwd` (root-relative `workdir`) with exactly `files`, the variables
/// `env` and `args`; `Err(stderr)` when bake refuses.
pub fn bake_cmd(
    docker: &(PathBuf, PathBuf),
    root: &Path,
    workdir: &str,
    files: &[String],
    env: &BTreeMap<String, String>,
    args: &[&str],
) -> Result<serde_json::Value, String> {
    let mut c = Command::new(&docker.0);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_CONFIG", &docker.1)
        .envs(env)
        .current_dir(root.join(workdir))
        .args(["buildx", "bake"]);
    for f in files {
        c.arg("-f").arg(root.join(f));
    }
    c.args(args);
    let out = c.output().unwrap();
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr);
        return Err(e
            .lines()
            .rfind(|l| l.contains("ERROR"))
            .unwrap_or("bake failed")
            .to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// The targets of a `bake --print` output, root-relative (bake resolves paths from its cwd).
pub fn printed_targets(v: &serde_json::Value, workdir: &str) -> BTreeMap<String, Build> {
    let mut real = BTreeMap::new();
    for (name, t) in v["target"].as_object().into_iter().flatten() {
        let context =
            cachebust::engine::tree::join_clean(workdir, t["context"].as_str().unwrap_or("."));
        let dockerfile = if t.get("dockerfile-inline").is_some() {
            "(inline)".to_string()
        } else {
            cachebust::engine::tree::join_clean(
                &context,
                t["dockerfile"].as_str().unwrap_or("Dockerfile"),
            )
        };
        let args = t
            .get("args")
            .and_then(|a| a.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let target = t.get("target").and_then(|x| x.as_str()).map(str::to_string);
        real.insert(name.clone(), (context, dockerfile, args, target));
    }
    real
}

/// Compose refuses a project for something about running it, not building it: a reference to a
/// service, network, volume, secret or config no file defines, an `env_file` not in the
/// repository (`.env` is usually made from an example), another service with nothing to run,
/// a required variable of a service's `environment`. The builds stand.
pub fn not_about_builds(e: &str) -> bool {
    [
        "undefined service",
        "undefined network",
        "undefined volume",
        "undefined secret",
        "undefined config",
        "env file ",
        "has neither an image nor a build context",
        ".environment",
    ]
    .iter()
    .any(|m| e.contains(m))
}

/// Compare one declaration of cachebust with the real tool's.
pub fn same_decl(check: &mut TreeCheck, ours: &Declarations, key: &str, real: &Build) {
    check.compared += 1;
    match ours.get(key) {
        None => check.mismatches.push(format!(
            "{key}: the real tool builds it, cachebust has no such build"
        )),
        Some(list) if !list.contains(real) => check.mismatches.push(format!(
            "{key}:\n    real:      {real:?}\n    cachebust: {list:?}"
        )),
        Some(_) => {}
    }
}

/// Invariant 3 over one tree (a checkout): every declaration the real tools resolve is a build
/// cachebust lists with the same context, Dockerfile, args and target, and every bake or compose
/// declaration cachebust lists is one the tools resolve.
/// The Compose projects of a tree, as `compose::projects` groups its Compose files (a
/// directory's `.env` may name them with `COMPOSE_FILE`); `is_compose` picks the Compose files.
pub fn compose_projects(
    root: &Path,
    names: &[String],
    is_compose: fn(&str) -> bool,
) -> Vec<compose::Project> {
    let composes: Vec<String> = names.iter().filter(|n| is_compose(n)).cloned().collect();
    let mut cf = BTreeMap::new();
    for n in names.iter().filter(|n| n.ends_with(".env")) {
        if let Some(c) = std::fs::read_to_string(root.join(n))
            .ok()
            .as_deref()
            .and_then(compose::compose_file_from_dotenv)
        {
            let dir = n
                .rsplit_once('/')
                .map(|x| x.0.to_string())
                .unwrap_or_default();
            cf.insert(dir, c);
        }
    }
    compose::projects(&composes, &cf)
}

pub fn check_tree(docker: &(PathBuf, PathBuf), bin: &Path, root: &Path) -> TreeCheck {
    let mut check = TreeCheck::default();
    let (ours, listed) = ours_in_tree(bin, root);
    let mut names = Vec::new();
    walk(root, "", &mut names);
    // what cachebust skips by default (vendored trees, test fixtures, demos: issue 29 class 2)
    // is no build of the repository, whatever the tools resolve there
    let skip = cachebust::engine::discover::default_skip();
    names.retain(|n| !cachebust::engine::discover::under_skipped(n, &skip));
    let mut accounted: std::collections::BTreeSet<String> = Default::default();

    // --- compose projects
    for project in compose_projects(root, &names, cachebust::engine::discover::is_compose_name) {
        let label = project.label();
        let prefix = format!("compose {label} / ");
        let mine: Vec<&String> = ours.keys().filter(|k| k.starts_with(&prefix)).collect();
        match theirs(docker, root, &project) {
            Ok(real) => {
                for (service, b) in &real {
                    let key = format!("{prefix}{service}");
                    accounted.insert(key.clone());
                    same_decl(&mut check, &ours, &key, b);
                }
                for k in mine {
                    if !accounted.contains(k) {
                        check
                            .mismatches
                            .push(format!("{k}: compose config has no such build"));
                    }
                }
            }
            Err(e) => {
                // a project Compose refuses: cachebust may list its builds only with an error
                let said = listed["diagnostics"].as_array().unwrap().iter().any(|d| {
                    d["severity"] == "error"
                        && project.files.iter().any(|f| d["file"].as_str() == Some(f))
                });
                let not_about_builds = not_about_builds(&e);
                for k in mine {
                    accounted.insert(k.clone());
                    if !said && !not_about_builds {
                        check.mismatches.push(format!(
                            "{k}: compose refuses the project ({}) and cachebust says nothing",
                            e.lines().last().unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }

    // --- each directory's bake files, as `docker buildx bake` reads them there
    let bake_names: Vec<String> = names
        .iter()
        .filter(|n| cachebust::engine::discover::is_bake_name(n))
        .cloned()
        .collect();
    let defaults = bake::projects(&bake_names);
    for (dir, files) in &defaults {
        let mine: Vec<String> = ours
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix("bake ")?;
                let (file, target) = rest.split_once(" / ")?;
                files
                    .contains(&file.to_string())
                    .then(|| target.to_string())
            })
            .collect();
        let env = BTreeMap::new();
        let listed_targets = bake_cmd(
            docker,
            root,
            dir,
            files,
            &env,
            &["--list", "type=targets,format=json"],
        );
        let groups: Vec<String> = match &listed_targets {
            Ok(v) => v
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["group"].as_bool().unwrap_or(false))
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut want: Vec<&str> = vec!["--print"];
        want.extend(groups.iter().map(String::as_str));
        want.extend(mine.iter().map(String::as_str));
        match bake_cmd(docker, root, dir, files, &env, &want) {
            Ok(v) => {
                for (name, b) in printed_targets(&v, dir) {
                    // the target is declared by the file that defines it last
                    let key = ours
                        .keys()
                        .find(|k| {
                            k.strip_prefix("bake ")
                                .and_then(|r| r.split_once(" / "))
                                .is_some_and(|(f, t)| t == name && files.contains(&f.to_string()))
                        })
                        .cloned()
                        .unwrap_or_else(|| format!("bake {} / {name}", files.join(" + ")));
                    accounted.insert(key.clone());
                    same_decl(&mut check, &ours, &key, &b);
                }
            }
            Err(e) => check.mismatches.push(format!(
                "bake files {}: docker buildx bake refuses them ({e}); cachebust lists {mine:?}",
                files.join(", ")
            )),
        }
    }

    // --- each bake-action step: its files (else its directory's), targets and env
    let workflows: Vec<String> = names
        .iter()
        .filter(|n| cachebust::engine::discover::is_workflow_name(n))
        .cloned()
        .collect();
    for w in workflows {
        let Ok(text) = std::fs::read_to_string(root.join(&w)) else {
            continue;
        };
        for s in cachebust::engine::workflows::read(&w, &text).bakes {
            let files = if s.files.is_empty() {
                match defaults.iter().find(|(d, _)| d == &s.workdir) {
                    Some((_, f)) => f.clone(),
                    None => continue,
                }
            } else {
                s.files.clone()
            };
            let prefix = format!("step {} / {} / {} / ", s.file, s.job, s.step);
            let mine: Vec<&String> = ours.keys().filter(|k| k.starts_with(&prefix)).collect();
            let mut args: Vec<&str> = vec!["--print"];
            args.extend(s.targets.iter().map(String::as_str));
            match bake_cmd(docker, root, &s.workdir, &files, &s.env, &args) {
                Ok(v) => {
                    let real = printed_targets(&v, &s.workdir);
                    for (name, b) in &real {
                        let key = format!("{prefix}{name}");
                        accounted.insert(key.clone());
                        same_decl(&mut check, &ours, &key, b);
                        // the bake target the step's own files declare
                        for f in &files {
                            accounted.insert(format!("bake {f} / {name}"));
                        }
                    }
                    for k in mine {
                        if !accounted.contains(k) {
                            check
                                .mismatches
                                .push(format!("{k}: bake does not build it"));
                        }
                    }
                }
                Err(e) => {
                    for k in mine {
                        check.mismatches.push(format!(
                            "{k}: bake refuses the step ({e}), cachebust builds it"
                        ));
                    }
                }
            }
        }
    }
    // bake declarations cachebust lists that no bake run resolved
    for k in ours.keys().filter(|k| k.starts_with("bake ")) {
        if !accounted.contains(k) {
            check
                .mismatches
                .push(format!("{k}: no docker buildx bake --print resolves it"));
        }
    }
    check
}
