//! CB001 manifest-first.
//!
//! **What it does.** Finds a broad `COPY` (`COPY . .`, or a directory that holds the
//! dependency manifest) above a dependency install (`npm ci`, `pip install -r`, `go mod
//! download`, `bundle install`, …) in the same stage.
//!
//! **Why it costs cache.** The install's cache key depends on everything the broad COPY copied,
//! so every source edit re-runs the install, usually the most expensive step of the build.
//!
//! **Example.**
//! ```text
//! COPY . .
//! RUN npm ci
//! ```
//! becomes (the pattern of Docker's build-cache guide)
//! ```text
//! COPY package.json package-lock.json ./
//! RUN npm ci
//! COPY . .
//! ```
//!
//! **Fix safety.** Unsafe: the install now runs with only the manifests present, which breaks
//! installs whose scripts read sources. Offered when the install RUN is one install command
//! right after the COPY (only metadata instructions between) and, for npm, yarn and pnpm, the
//! project's `package.json` declares no lifecycle script the install runs (`preinstall`,
//! `install`, `postinstall`, `prepublish`, `prepare`, …) unless the install passes
//! `--ignore-scripts`; otherwise shown, not applied, and the message says why. Only manifests
//! that exist in the context are copied.

use super::{
    At, Findings, Meta, Reads, Rule, RuleContext, Stages, context_copy, installs_in_script,
    is_broad_source, run_command,
};
use crate::engine::dockerfile::{Instruction, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};

pub const RULE: &dyn Rule = &ManifestFirst;

const META: Meta = Meta {
    code: "CB001",
    name: "manifest-first",
    summary: "a broad COPY above a dependency install re-runs the install on every source edit",
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Dockerfile,
};

struct ManifestFirst;

impl Rule for ManifestFirst {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn stages(&self) -> Stages {
        Stages::All
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Copy, Kind::Add]
    }
    fn instruction(&self, ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, at, out);
    }
}

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let inst = at.inst;
    let Some((srcs, dest)) = context_copy(inst) else {
        return;
    };
    let Some(broad) = srcs.iter().find(|s| is_broad_source(ctx, s)) else {
        return;
    };
    // the first dependency install below it in the stage
    let Some((j, run, eco)) = at.after().iter().enumerate().find_map(|(k, x)| {
        let cmd = run_command(x)?;
        installs_in_script(&*ctx.script_of(x)?, &cmd)
            .into_iter()
            .next()
            .map(|e| (k, x, e))
    }) else {
        return;
    };
    if installed_apart(ctx, at.before(), eco) {
        return;
    }
    let base = broad.trim_end_matches('/').trim_start_matches("./");
    let base = if base == "." { "" } else { base };
    let dest_abs = copy_dest(ctx, at.index);
    let present = manifests_present(
        ctx,
        base,
        eco,
        run_command(run).as_deref().unwrap_or(""),
        dest_abs.as_deref(),
    );
    if present.is_empty() {
        return;
    }
    let lines_between: Vec<&Instruction> = at.after()[..j].iter().collect();
    let movable = lines_between.iter().all(|x| {
        matches!(
            x.kind,
            Kind::Label | Kind::Expose | Kind::Maintainer | Kind::Healthcheck | Kind::Stopsignal
        )
    });
    let pure = run_command(run).is_some_and(|c| {
        ctx.script_of(run).is_some_and(|s| s.top_level_len() == 1)
            && !c.contains("&&")
            && !c.contains(';')
    });
    let copy_line = manifest_copies(inst, &present, base, dest);
    let (region, new) = reordered(ctx, inst, run, copy_line);
    // the project's own lifecycle scripts run in the install: with only the manifests
    // copied, a `prepare` that builds the sources finds none
    let scripts = if matches!(eco.name, "npm" | "yarn" | "pnpm")
        && present.iter().any(|m| m == "package.json")
        && !run_command(run).is_some_and(|c| c.contains("--ignore-scripts"))
    {
        lifecycle_scripts(ctx, &ctx.in_context(&format!("{base}/package.json")))
    } else {
        Vec::new()
    };
    let applicability = if movable && pure && scripts.is_empty() {
        Applicability::Unsafe
    } else {
        Applicability::DisplayOnly
    };
    let fix = Fix {
        applicability,
        description: format!(
            "copy {} first, install, then copy the rest",
            present.join(" and ")
        ),
        edits: vec![Edit::replace(ctx.path, region, new)],
    };
    let msg = manifest_message(inst, run, base, eco.name, &present, &scripts);
    out.report(inst, msg, Some(fix));
}

/// Whether the instructions `above` the broad COPY already keep the install apart from the
/// sources: the manifests copied on their own, or an install of the same ecosystem (e.g. `uv
/// sync --no-install-project` with bind-mounted manifests).
fn installed_apart(ctx: &RuleContext<'_>, above: &[Instruction], eco: &super::Tool) -> bool {
    // manifests already copied on their own above the broad COPY: nothing to do
    let copied_before = above.iter().filter_map(context_copy).any(|(s, _)| {
        s.iter().any(|p| {
            eco.manifests
                .iter()
                .any(|m| p.trim_end_matches('/').rsplit('/').next() == Some(*m))
        })
    });
    // an install of the same ecosystem above the COPY (e.g. `uv sync --no-install-project`
    // with bind-mounted manifests): dependencies are already cached apart from sources
    let installed_before = above
        .iter()
        .filter_map(|x| Some((ctx.script_of(x)?, run_command(x)?)))
        .any(|(s, c)| {
            installs_in_script(&s, &c)
                .iter()
                .any(|e| e.name == eco.name)
        });
    copied_before || installed_before
}

/// The absolute destination of the COPY at instruction `index`, as the simulation resolved it.
fn copy_dest(ctx: &RuleContext<'_>, index: usize) -> Option<String> {
    match ctx.sim.step.get(&index) {
        Some(crate::engine::predict::sim::StepVertex::Vertex(v)) => {
            match &ctx.sim.vertices[*v].op {
                crate::engine::predict::sim::Op::Copy { dest, .. } => Some(dest.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The COPY lines that bring the manifests `present` (relative to `base`) to the broad COPY's
/// destination `dest` with its flags: one per directory (a COPY of several files puts them all
/// in its destination).
fn manifest_copies(inst: &Instruction, present: &[String], base: &str, dest: &str) -> String {
    let dest_dir = if dest == "." || dest == "./" {
        "./".to_string()
    } else if dest.ends_with('/') {
        dest.to_string()
    } else {
        format!("{dest}/")
    };
    let flags: Vec<String> = inst
        .flags
        .iter()
        .map(|f| match &f.value {
            Some(v) => format!("--{}={v}", f.name),
            None => format!("--{}", f.name),
        })
        .collect();
    let sources: Vec<String> = present
        .iter()
        .map(|m| {
            if base.is_empty() {
                m.clone()
            } else {
                format!("{base}/{m}")
            }
        })
        .collect();
    // one COPY per directory: a COPY of several files puts them all in its destination
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (m, src) in present.iter().zip(&sources) {
        let dir = m
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        match groups.iter_mut().find(|(d, _)| *d == dir) {
            Some(g) => g.1.push(src.clone()),
            None => groups.push((dir, vec![src.clone()])),
        }
    }
    let mut copy_line = String::new();
    for (dir, srcs) in &groups {
        copy_line.push_str("COPY ");
        for f in &flags {
            copy_line.push_str(f);
            copy_line.push(' ');
        }
        copy_line.push_str(&srcs.join(" "));
        copy_line.push(' ');
        copy_line.push_str(&dest_dir);
        if !dir.is_empty() {
            copy_line.push_str(dir);
            copy_line.push('/');
        }
        copy_line.push('\n');
    }
    copy_line
}

/// The region from the broad COPY `inst` to the install `run`, and what replaces it: the
/// manifest COPY lines, the install, the broad COPY, then what lay between them.
fn reordered(
    ctx: &RuleContext<'_>,
    inst: &Instruction,
    run: &Instruction,
    copy_line: String,
) -> (std::ops::Range<usize>, String) {
    let region = ctx.lines.range(ctx.text, inst.line, run.end_line);
    let with_nl = |t: &str| {
        if t.ends_with('\n') {
            t.to_string()
        } else {
            format!("{t}\n")
        }
    };
    let between = &ctx.text[ctx.lines.range(ctx.text, inst.line, inst.end_line).end
        ..ctx.lines.range(ctx.text, run.line, run.line).start];
    let mut new = copy_line;
    new.push_str(&with_nl(ctx.inst_text(run)));
    new.push_str(&with_nl(ctx.inst_text(inst)));
    new.push_str(between);
    if !ctx.text[region.clone()].ends_with('\n') {
        new.pop();
    }
    (region, new)
}

/// The finding's message; the lifecycle `scripts` the install runs say why the fix is only
/// shown.
fn manifest_message(
    inst: &Instruction,
    run: &Instruction,
    base: &str,
    eco: &str,
    present: &[String],
    scripts: &[&str],
) -> String {
    let msg = format!(
        "`{}` at line {} copies the whole {} before `{}` at line {}: every source edit re-runs the {} install; copy {} first",
        inst.display(60),
        inst.line,
        if base.is_empty() {
            "context".to_string()
        } else {
            format!("`{}` directory", base.replace('`', "'"))
        },
        run.display(60),
        run.line,
        eco,
        present.join(", ")
    );
    if scripts.is_empty() {
        msg
    } else {
        format!(
            "{msg}; not applied: the install runs package.json's {} script{}, which may need the sources copied after it",
            scripts
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if scripts.len() == 1 { "" } else { "s" }
        )
    }
}

/// Scripts npm, yarn and pnpm run for the project itself during an install.
const LIFECYCLE: &[&str] = &[
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
];

/// The lifecycle scripts the `package.json` at `path` (root-relative) declares. Its contents
/// are asked for when not yet read; without a tree (a Dockerfile checked alone) nothing is
/// known and none are assumed; a file that is not JSON declares none that we can see.
fn lifecycle_scripts(ctx: &RuleContext<'_>, path: &str) -> Vec<&'static str> {
    let Some(t) = ctx.tree else {
        return Vec::new();
    };
    match t.text(path) {
        crate::engine::tree::Lookup::Missing => {
            ctx.needs.request_text(ctx.side, path);
            Vec::new()
        }
        crate::engine::tree::Lookup::Loaded(None) => Vec::new(),
        crate::engine::tree::Lookup::Loaded(Some(text)) => {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
                return Vec::new();
            };
            let Some(scripts) = v.get("scripts").and_then(|s| s.as_object()) else {
                return Vec::new();
            };
            LIFECYCLE
                .iter()
                .copied()
                .filter(|k| {
                    scripts
                        .get(*k)
                        .is_some_and(|c| c.as_str().is_some_and(|c| !c.trim().is_empty()))
                })
                .collect()
        }
    }
}

/// The files matching the wildcard manifest `m` (`*.csproj`) in the context directory `base`,
/// added to `names`: .NET project files may sit one directory down (`src/App/App.csproj`).
fn wildcard_manifests(
    ctx: &RuleContext<'_>,
    base: &str,
    eco: &super::Tool,
    m: &str,
    names: &mut Vec<String>,
) {
    if let Some(t) = ctx.tree {
        let dir = ctx.in_context(base);
        // .NET project files may sit one directory down (`src/App/App.csproj`)
        let depth = if eco.name == "dotnet" && m != "*.sln" {
            2
        } else {
            1
        };
        match t.shallow(&dir, depth) {
            crate::engine::tree::Lookup::Loaded(entries) => {
                let suffix = m.trim_start_matches('*');
                let prefix = format!("{dir}/");
                for (p, _) in entries {
                    let rel = p.strip_prefix(&prefix).unwrap_or(p);
                    if rel.ends_with(suffix)
                        && !rel.split('/').any(|s| matches!(s, "bin" | "obj"))
                        && !names.iter().any(|n| n == rel)
                    {
                        names.push(rel.to_string());
                    }
                }
            }
            crate::engine::tree::Lookup::Missing => ctx.needs.request(ctx.side, &dir, true),
        }
    }
}

/// The requirement files a pip command names (`-r`, `--requirement`), relative to where the
/// COPY puts them (`dest_abs`).
fn pip_requirements(cmd: &str, dest_abs: Option<&str>) -> Vec<String> {
    cmd.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "-r" || w[0] == "--requirement")
        .map(|w| w[1].to_string())
        .chain(cmd.split_whitespace().filter_map(|w| {
            w.strip_prefix("--requirement=")
                .or_else(|| w.strip_prefix("-r"))
                .filter(|x| !x.is_empty())
                .map(|x| x.to_string())
        }))
        .map(|p| {
            p.trim_end_matches([';', ')'])
                .trim_matches(['"', '\''])
                .to_string()
        })
        .filter_map(|p| {
            if p.contains('$') {
                None
            } else if let Some(abs) = p.strip_prefix('/') {
                dest_abs.and_then(|d| {
                    abs.strip_prefix(d.trim_start_matches('/').trim_end_matches('/'))
                        .map(|r| r.trim_start_matches('/').to_string())
                })
            } else {
                Some(p.trim_start_matches("./").to_string())
            }
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// Manifests of `eco` that exist in the context directory `base` (context-relative). Without a
/// listing, the ones the install command itself requires.
fn manifests_present(
    ctx: &RuleContext<'_>,
    base: &str,
    eco: &super::Tool,
    cmd: &str,
    dest_abs: Option<&str>,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in eco.manifests {
        if m.contains('*') {
            // e.g. *.csproj: needs a listing of the directory
            wildcard_manifests(ctx, base, eco, m, &mut names);
            continue;
        }
        names.push(m.to_string());
    }
    // pip: the requirement files the command names, relative to where the COPY puts them
    if eco.name == "pip" {
        names = pip_requirements(cmd, dest_abs);
    }
    let rel = |n: &str| {
        if base.is_empty() {
            n.to_string()
        } else {
            format!("{base}/{n}")
        }
    };
    let mut present = Vec::new();
    for n in names {
        if n.contains('/') && eco.name != "pip" && eco.name != "dotnet" {
            continue;
        }
        match ctx.exists(&ctx.in_context(&rel(&n))) {
            Some(true) if !ctx.ignored(&rel(&n)) => present.push(n),
            Some(_) => {}
            None if ctx.tree.is_none() => {
                // no listing: what the command needs (the first manifest, the lockfile of `ci`)
                let needed = n == eco.manifests[0]
                    || eco.name == "pip"
                    || (eco.name == "npm" && n == "package-lock.json" && cmd.contains(" ci"))
                    || eco.name == "go";
                if needed {
                    present.push(n);
                }
            }
            None => {}
        }
    }
    if present.first().map(String::as_str) != Some(eco.manifests[0])
        && eco.name != "pip"
        && eco.name != "dotnet"
    {
        return Vec::new();
    }
    // restore needs a project or solution
    if eco.name == "dotnet"
        && !present.iter().any(|p| {
            [".sln", ".csproj", ".fsproj", ".vbproj"]
                .iter()
                .any(|s| p.ends_with(s))
        })
    {
        return Vec::new();
    }
    present
}
