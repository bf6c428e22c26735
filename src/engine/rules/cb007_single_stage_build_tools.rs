//! CB007 single-stage image with build tools.
//!
//! **What it does.** Finds a build with one stage that compiles or bundles (a compiler package,
//! `go build`, `cargo build`, `mvn package`, `npm run build`, `make`, …): the compilers, the
//! package-manager caches and the sources all ship in the final image.
//!
//! **Why it costs cache.** Every source edit rebuilds the one stage from the first changed step
//! to the end, and pushes and pulls a large image; a builder stage keeps the heavy work apart from
//! a slim runtime stage that only copies the artifacts (the multi-stage section of Docker's
//! build-cache guide: compilers and sources in the builder, only the product in the runtime).
//! The split does not make a source edit rebuild fewer steps (the runtime stage's copies re-run
//! too, unless the artifact comes out byte-identical); what it saves is the compilers and
//! sources in the image every deploy pushes and pulls.
//!
//! **Example.** See the fix: the stage becomes `AS builder`, and a runtime stage copies the
//! artifact (named when the build command names it, else the working directory).
//!
//! **Fix safety.** Unsafe, to be reviewed by a human: which files the runtime needs is a
//! judgement (shared libraries, assets, a slimmer base image). The runtime stage carries what
//! the program needs to start: the stage's `ARG`/`ENV` lines, `WORKDIR`, the artifact (or the
//! working directory), per ecosystem the installed packages (Python: the interpreter's
//! `site-packages` under `/usr/local/lib/pythonX.Y` and the console scripts in
//! `/usr/local/bin`, or the virtualenv / `--user` directory; Node: `node_modules` in the
//! working directory), then `USER`, `EXPOSE`, `CMD`, `ENTRYPOINT` and the other runtime
//! settings. Shown only, not applied, where that cannot be derived: system packages installed
//! beside the compilers (their runtime libraries are unknown), a user the stage creates, a
//! Python version the image tag does not name, Poetry or Pipenv virtualenvs, global npm
//! installs.

use super::{Findings, Meta, Reads, Rule, RuleContext, run_command};
use crate::engine::dockerfile::stages::Base;
use crate::engine::dockerfile::{Body, Instruction, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};

pub const RULE: &dyn Rule = &SingleStageBuildTools;

const META: Meta = Meta {
    code: "CB007",
    name: "single-stage-build-tools",
    summary: "a single-stage image compiles: build tools and sources ship in the final image",
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Dockerfile,
};

struct SingleStageBuildTools;

impl Rule for SingleStageBuildTools {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn file(&self, ctx: &RuleContext<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, out);
    }
}

const COMPILERS: &[&str] = &[
    "build-essential",
    "gcc",
    "g++",
    "build-base",
    "musl-dev",
    "clang",
    "make",
    "cmake",
];

fn check(ctx: &RuleContext<'_>, out: &mut Findings<'_, '_>) {
    if ctx.sim.stages.len() != 1 {
        return;
    }
    let st = &ctx.sim.stages[0];
    if !matches!(st.base, Base::Image(_)) {
        return;
    }
    let insts = &ctx.df.instructions[st.info.from + 1..st.info.end];
    let Some(build) = build_step(ctx, insts) else {
        return;
    };
    let from = &ctx.df.instructions[st.info.from];
    let Body::From { image, alias } = &from.body else {
        return;
    };
    let cmd = run_command(build).unwrap_or_default();
    let workdir = insts.iter().rev().find_map(|x| match (&x.kind, &x.body) {
        (Kind::Workdir, Body::Text(t)) => Some(t.clone()),
        _ => None,
    });
    let builder = alias.clone().unwrap_or_else(|| "builder".into());
    let carry = carried(ctx, insts, image, workdir.as_deref());
    let runtime = runtime_stage(
        ctx,
        insts,
        image,
        &cmd,
        &builder,
        workdir.as_deref(),
        &carry,
    );
    let fix = split_fix(ctx, from, alias.is_none(), runtime, &carry);
    let msg = message(build, &carry);
    out.report(from, msg, Some(fix));
}

/// The first step of the stage that compiles or bundles, or installs a compiler package.
fn build_step<'a>(ctx: &RuleContext<'_>, insts: &'a [Instruction]) -> Option<&'a Instruction> {
    insts.iter().find(|x| {
        ctx.script_of(x).is_some_and(|s| {
            s.programs().any(|p| {
                crate::engine::tools::compiles(p)
                    || (p.runs_any(&[&["apt-get", "install"], &["apk", "add"]])
                        && p.args.iter().any(|a| COMPILERS.contains(&a.as_str())))
            })
        })
    })
}

/// `p` as an absolute path: as it is when absolute, else under the working directory (none:
/// the root).
fn absolute(p: &str, workdir: Option<&str>) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", workdir.unwrap_or("").trim_end_matches('/'))
    }
}

/// The raw text of the stage's instructions of the kinds `keep` accepts, each without its line
/// ending.
fn lines_of<'a>(
    ctx: &'a RuleContext<'_>,
    insts: &[Instruction],
    keep: fn(&Kind) -> bool,
) -> Vec<&'a str> {
    insts
        .iter()
        .filter(|x| keep(&x.kind))
        .map(|x| ctx.inst_text(x).trim_end())
        .collect()
}

/// The runtime stage the fix appends: the environment the program starts with (ARG lines too:
/// ENV values may name them), `WORKDIR`, the artifact (`-o PATH` of the build command, else the
/// working directory), what `carry` takes from the builder, then the runtime settings.
fn runtime_stage(
    ctx: &RuleContext<'_>,
    insts: &[Instruction],
    image: &str,
    cmd: &str,
    builder: &str,
    workdir: Option<&str>,
    carry: &Carry,
) -> String {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let artifact = words
        .windows(2)
        .find(|w| w[0] == "-o" || w[0] == "--output")
        .map(|w| w[1].to_string());
    let artifact = artifact
        .or(workdir.map(str::to_string))
        .unwrap_or_else(|| "/app".into());
    let artifact = absolute(&artifact, workdir);
    let mut runtime = format!("\nFROM {} AS runtime\n", runtime_base(image, cmd));
    for l in lines_of(ctx, insts, |k| matches!(k, Kind::Env | Kind::Arg)) {
        runtime.push_str(l);
        runtime.push('\n');
    }
    if let Some(w) = workdir {
        runtime.push_str(&format!("WORKDIR {w}\n"));
    }
    runtime.push_str(&format!(
        "# TODO: copy only what the application needs at run time, and check the runtime base image\nCOPY --from={builder} {artifact} {artifact}\n",
    ));
    for p in &carry.paths {
        if *p != artifact {
            runtime.push_str(&format!("COPY --from={builder} {p} {p}\n"));
        }
    }
    for m in lines_of(ctx, insts, is_runtime_setting) {
        runtime.push_str(m);
        runtime.push('\n');
    }
    runtime
}

/// Whether an instruction of this kind sets how the container runs (the runtime stage keeps it).
fn is_runtime_setting(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Cmd
            | Kind::Entrypoint
            | Kind::Expose
            | Kind::User
            | Kind::Healthcheck
            | Kind::Stopsignal
            | Kind::Label
            | Kind::Volume
    )
}

/// The fix: ` AS builder` on a FROM without a name (`unnamed`), and the runtime stage appended;
/// shown only when `carry` has something that cannot be derived.
fn split_fix(
    ctx: &RuleContext<'_>,
    from: &Instruction,
    unnamed: bool,
    runtime: String,
    carry: &Carry,
) -> Fix {
    let mut edits = Vec::new();
    if unnamed {
        let r = ctx.inst_range(from);
        let line = ctx.text[r.clone()].trim_end_matches(['\n', '\r']);
        edits.push(Edit::insert(ctx.path, r.start + line.len(), " AS builder"));
    }
    let end = ctx.text.len();
    let sep = if ctx.text.ends_with('\n') { "" } else { "\n" };
    edits.push(Edit::insert(ctx.path, end, format!("{sep}{runtime}")));
    Fix {
        applicability: if carry.unknown.is_empty() {
            Applicability::Unsafe
        } else {
            Applicability::DisplayOnly
        },
        description: "split into a builder stage and a runtime stage".into(),
        edits,
    }
}

/// The finding's message: the build step, and what to complete by hand.
fn message(build: &Instruction, carry: &Carry) -> String {
    let mut msg = format!(
        "this single-stage image builds (`{}` at line {}): compilers, caches and sources ship in the final image, and each source edit rebuilds it to the end; build in a builder stage and copy only the artifacts into a slim runtime stage",
        build.display(50),
        build.line
    );
    if !carry.unknown.is_empty() {
        msg.push_str(&format!(
            "; complete the runtime stage by hand: {}",
            carry.unknown.join("; ")
        ));
    }
    msg
}

/// What the runtime stage must take from the builder besides the artifact, and what cannot be
/// derived (then the fix is shown only).
struct Carry {
    paths: Vec<String>,
    unknown: Vec<String>,
}

impl Carry {
    /// Adds a path to take from the builder, once.
    fn take(&mut self, d: String) {
        if !self.paths.contains(&d) {
            self.paths.push(d);
        }
    }
}

fn carried(
    ctx: &RuleContext<'_>,
    insts: &[Instruction],
    image: &str,
    workdir: Option<&str>,
) -> Carry {
    let mut c = Carry {
        paths: Vec::new(),
        unknown: Vec::new(),
    };
    // once per RUN text (the caller's memo: every build and commit asks again)
    let runs: Vec<std::sync::Arc<Vec<Vec<String>>>> = insts
        .iter()
        .filter_map(run_command)
        .map(|t| {
            ctx.kept.get_or(crate::engine::memo::Kind::Words, &t, || {
                std::sync::Arc::new(crate::engine::cost::simple_commands(&t).unwrap_or_default())
            })
        })
        .collect();
    let all: Vec<&Vec<String>> = runs.iter().flat_map(|r| r.iter()).collect();
    for w in &all {
        system_unknowns(&mut c, w);
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    let (repo, tag) = name.split_once(':').unwrap_or((name, "latest"));
    let python = repo == "python"
        || all.iter().any(|w| {
            matches!(
                prog(w).as_str(),
                "pip" | "pip3" | "poetry" | "pipenv" | "uv"
            )
        });
    if python {
        for w in &all {
            python_command(&mut c, insts, w, workdir);
        }
        python_packages(&mut c, &all, image, repo, tag);
    }
    // Node: global installs live outside the working directory
    if all.iter().any(|w| {
        matches!(prog(w).as_str(), "npm" | "yarn" | "pnpm")
            && (has(w, "-g") || has(w, "--global") || has(w, "global"))
    }) {
        c.unknown
            .push("the globally installed npm packages (under /usr/local)".into());
    }
    let _ = ctx;
    c
}

/// The program a simple command runs: its first word that is not an assignment, without the
/// directory.
fn prog(w: &[String]) -> String {
    w.iter()
        .find(|x| !x.contains('='))
        .map(|x| x.rsplit('/').next().unwrap_or(x).to_string())
        .unwrap_or_default()
}

/// Whether a simple command has the word `x`.
fn has(w: &[String], x: &str) -> bool {
    w.iter().any(|a| a == x)
}

/// What one command leaves unknown: system packages beside the compilers (the runtime libraries
/// they bring are unknown), a user the stage creates.
fn system_unknowns(c: &mut Carry, w: &[String]) {
    let p = prog(w);
    let installs = (p == "apt-get" || p == "apt") && has(w, "install")
        || p == "apk" && has(w, "add")
        || (p == "dnf" || p == "yum") && has(w, "install");
    if installs {
        let pkgs: Vec<&String> = w
            .iter()
            .skip_while(|a| *a != "install" && *a != "add")
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let others: Vec<&String> = pkgs
            .iter()
            .copied()
            .filter(|a| {
                !COMPILERS.contains(&a.as_str())
                    && !matches!(
                        a.as_str(),
                        "git" | "curl" | "wget" | "ca-certificates" | "pkg-config" | "pkgconf"
                    )
            })
            .collect();
        if !others.is_empty() {
            c.unknown.push(format!(
                "which runtime libraries the packages {} need",
                others
                    .iter()
                    .map(|o| format!("`{}`", o.replace('`', "'")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if matches!(p.as_str(), "useradd" | "adduser" | "groupadd" | "addgroup") {
        c.unknown
            .push("the user the stage creates (create it in the runtime stage too)".into());
    }
}

/// What one command of a Python build carries: a virtualenv it creates, the `--user`
/// directory, or (unknown) the virtualenv of Poetry or Pipenv.
fn python_command(c: &mut Carry, insts: &[Instruction], w: &[String], workdir: Option<&str>) {
    let p = prog(w);
    let i = w
        .iter()
        .position(|a| a.rsplit('/').next() == Some(p.as_str()))
        .unwrap_or(0);
    let args = &w[i + 1..];
    let venv = (p.starts_with("python")
        && args.first().map(String::as_str) == Some("-m")
        && args.get(1).map(String::as_str) == Some("venv"))
        || p == "virtualenv";
    if venv {
        if let Some(dir) = args
            .iter()
            .rev()
            .find(|a| !a.starts_with('-') && *a != "venv" && *a != "-m")
        {
            c.take(absolute(dir, workdir));
        }
    }
    if (p == "pip" || p == "pip3" || (p.starts_with("python") && has(w, "pip")))
        && has(w, "install")
        && has(w, "--user")
    {
        c.take("/root/.local".to_string());
    }
    if matches!(p.as_str(), "poetry" | "pipenv") {
        let text: String = insts
            .iter()
            .map(|x| x.args_text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let system = text.contains("virtualenvs.create false")
            || text.contains("POETRY_VIRTUALENVS_CREATE=false")
            || text.contains("POETRY_VIRTUALENVS_CREATE false")
            || has(w, "--system")
            || text.contains("PIPENV_VENV_IN_PROJECT");
        if !system {
            c.unknown.push(format!(
                "where {p} puts its virtualenv (copy it into the runtime stage)"
            ));
        }
    }
}

/// Packages installed into the interpreter (no virtualenv, no `/opt/` directory): its
/// site-packages and console scripts, when the image reference names the Python version.
fn python_packages(c: &mut Carry, all: &[&Vec<String>], image: &str, repo: &str, tag: &str) {
    let system_pip = all.iter().any(|w| {
        let p = prog(w);
        (p == "pip"
            || p == "pip3"
            || p.starts_with("python")
            || p == "uv"
            || p == "poetry"
            || p == "pipenv")
            && (has(w, "install") || has(w, "sync"))
            && !has(w, "--user")
    });
    if !system_pip
        || c.paths
            .iter()
            .any(|p| p.contains("venv") || p.contains("/opt/"))
    {
        return;
    }
    let version: String = tag.split('-').next().unwrap_or("").to_string();
    let parts: Vec<&str> = version.split('.').collect();
    if repo == "python"
        && parts.len() >= 2
        && parts
            .iter()
            .take(2)
            .all(|x| !x.is_empty() && x.chars().all(|ch| ch.is_ascii_digit()))
    {
        c.paths.push(format!(
            "/usr/local/lib/python{}.{}/site-packages",
            parts[0], parts[1]
        ));
        c.paths.push("/usr/local/bin".into());
    } else {
        c.unknown.push(format!(
            "the installed packages' directory (the Python version is not in the image reference `{}`)",
            image.replace('`', "'")
        ));
    }
}

/// A slimmer image for the runtime stage, in the spirit of the Docker guide: a static Go binary
/// needs no OS, other compiled programs a slim Debian, interpreters their `-slim` variant.
/// Anything else keeps the build image (the TODO line asks a human to choose).
pub fn runtime_base(image: &str, build_cmd: &str) -> String {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (image, None),
    };
    let short = name.rsplit('/').next().unwrap_or(name);
    match short {
        "golang" if build_cmd.contains("CGO_ENABLED=0") => {
            "gcr.io/distroless/static-debian12".into()
        }
        "golang" | "rust" | "gcc" => "debian:bookworm-slim".into(),
        "node" | "python" | "ruby" => match tag {
            Some(t) if t.contains("slim") || t.contains("alpine") => image.to_string(),
            Some(t) if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && !t.contains('-') => {
                format!("{name}:{t}-slim")
            }
            _ => image.to_string(),
        },
        _ => image.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::runtime_base;

    #[test]
    fn runtime_bases() {
        assert_eq!(
            runtime_base("golang:1.23", "CGO_ENABLED=0 go build -o /app ."),
            "gcr.io/distroless/static-debian12"
        );
        assert_eq!(
            runtime_base("golang:1.23", "go build -o /app ."),
            "debian:bookworm-slim"
        );
        assert_eq!(runtime_base("node:20", "npm run build"), "node:20-slim");
        assert_eq!(
            runtime_base("node:20-alpine", "npm run build"),
            "node:20-alpine"
        );
        assert_eq!(
            runtime_base("python:3.12-bookworm", "make"),
            "python:3.12-bookworm"
        );
        assert_eq!(
            runtime_base("registry:5000/team/base:1", "make"),
            "registry:5000/team/base:1"
        );
        assert_eq!(
            runtime_base("maven:3-eclipse-temurin-21", "mvn package"),
            "maven:3-eclipse-temurin-21"
        );
    }
}
