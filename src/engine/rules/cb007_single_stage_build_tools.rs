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
//!
//! **Example.** See the fix: the stage becomes `AS builder`, and a runtime stage copies the
//! artifact (named when the build command names it, else the working directory).
//!
//! **Fix safety.** Unsafe, to be reviewed by a human: which files the runtime needs is a
//! judgement (shared libraries, assets, a slimmer base image).

use super::{Finding, Rule, RuleContext, commands, finding, run_command, runs};
use crate::engine::dockerfile::stages::Base;
use crate::engine::dockerfile::{Body, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};

pub const RULE: Rule = Rule {
    code: "CB007",
    name: "single-stage-build-tools",
    summary: "a single-stage image compiles: build tools and sources ship in the final image",
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    check,
};

const BUILDS: &[&[&str]] = &[
    &["go", "build"],
    &["cargo", "build"],
    &["mvn", "package"],
    &["mvn", "install"],
    &["gradle", "build"],
    &["./gradlew", "build"],
    &["dotnet", "publish"],
    &["dotnet", "build"],
    &["npm", "run", "build"],
    &["yarn", "build"],
    &["pnpm", "build"],
    &["make"],
    &["cmake"],
    &["gcc"],
    &["tsc"],
];
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

fn check(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if ctx.sim.stages.len() != 1 {
        return out;
    }
    let st = &ctx.sim.stages[0];
    if !matches!(st.base, Base::Image(_)) {
        return out;
    }
    let insts = &ctx.df.instructions[st.info.from + 1..st.info.end];
    let build = insts.iter().find(|x| {
        run_command(x).is_some_and(|c| {
            let cs = commands(&c);
            cs.iter().any(|w| BUILDS.iter().any(|s| runs(w, s)))
                || cs.iter().any(|w| {
                    (runs(w, &["apt-get", "install"]) || runs(w, &["apk", "add"]))
                        && w.iter().any(|p| COMPILERS.contains(&p.as_str()))
                })
        })
    });
    let Some(build) = build else { return out };
    let from = &ctx.df.instructions[st.info.from];
    let Body::From { image, alias } = &from.body else {
        return out;
    };
    // the artifact: `-o PATH` of the build command, else the working directory
    let cmd = run_command(build).unwrap_or_default();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let artifact = words
        .windows(2)
        .find(|w| w[0] == "-o" || w[0] == "--output")
        .map(|w| w[1].to_string());
    let workdir = insts.iter().rev().find_map(|x| match (&x.kind, &x.body) {
        (Kind::Workdir, Body::Text(t)) => Some(t.clone()),
        _ => None,
    });
    let artifact = artifact
        .or(workdir.clone())
        .unwrap_or_else(|| "/app".into());
    let abs = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!(
                "{}/{p}",
                workdir.clone().unwrap_or_default().trim_end_matches('/')
            )
        }
    };
    let runtime_meta: Vec<&str> = insts
        .iter()
        .filter(|x| {
            matches!(
                x.kind,
                Kind::Cmd
                    | Kind::Entrypoint
                    | Kind::Expose
                    | Kind::User
                    | Kind::Healthcheck
                    | Kind::Stopsignal
                    | Kind::Label
                    | Kind::Volume
            )
        })
        .map(|x| ctx.inst_text(x).trim_end())
        .collect();
    let builder = alias.clone().unwrap_or_else(|| "builder".into());
    let runtime_image = runtime_base(image, &cmd);
    let mut runtime = format!("\nFROM {runtime_image} AS runtime\n");
    if let Some(w) = &workdir {
        runtime.push_str(&format!("WORKDIR {w}\n"));
    }
    runtime.push_str(&format!(
        "# TODO: copy only what the application needs at run time, and check the runtime base image\nCOPY --from={builder} {} {}\n",
        abs(&artifact),
        abs(&artifact)
    ));
    for m in runtime_meta {
        runtime.push_str(m);
        runtime.push('\n');
    }
    let mut edits = Vec::new();
    if alias.is_none() {
        let r = ctx.inst_range(from);
        let line = ctx.text[r.clone()].trim_end_matches(['\n', '\r']);
        edits.push(Edit::insert(ctx.path, r.start + line.len(), " AS builder"));
    }
    let end = ctx.text.len();
    let sep = if ctx.text.ends_with('\n') { "" } else { "\n" };
    edits.push(Edit::insert(ctx.path, end, format!("{sep}{runtime}")));
    let fix = Fix {
        applicability: Applicability::Unsafe,
        description: "split into a builder stage and a runtime stage".into(),
        edits,
    };
    let msg = format!(
        "this single-stage image builds (`{}` at line {}): compilers, caches and sources ship in the final image, and each source edit rebuilds it to the end; build in a builder stage and copy only the artifacts into a slim runtime stage",
        build.display(50),
        build.line
    );
    out.push(finding(&RULE, ctx, from, msg, Some(fix)));
    out
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
