//! `cachebust builds`: the builds discovery finds in one tree, as text (one paragraph per
//! build: Dockerfile, context, target, what declares it, its build args) and as JSON (version 1,
//! the fields `docker compose config` and `docker buildx bake --print` resolve, to compare with
//! them).

use serde::Serialize;

use crate::engine::report::{BuildList, FileDiagnostic, ListedBuild, Origin};

#[derive(Serialize)]
struct Out<'a> {
    version: u32,
    tree: &'a str,
    builds: Vec<BuildOut<'a>>,
    diagnostics: &'a [FileDiagnostic],
}

#[derive(Serialize)]
struct BuildOut<'a> {
    dockerfile: &'a str,
    /// `.` for the root, like the analysis reports.
    context: String,
    target: Option<&'a str>,
    args: &'a std::collections::BTreeMap<String, String>,
    inline: bool,
    /// No declaration names it: its context is guessed.
    guessed: bool,
    origins: &'a [Origin],
}

fn guessed(b: &ListedBuild) -> bool {
    b.origins.iter().all(|o| matches!(o, Origin::Discovered))
}

fn context(b: &ListedBuild) -> String {
    if b.context.is_empty() {
        ".".into()
    } else {
        b.context.clone()
    }
}

pub fn json(list: &BuildList, tree: &str) -> String {
    let out = Out {
        version: 1,
        tree,
        builds: list
            .builds
            .iter()
            .map(|b| BuildOut {
                dockerfile: &b.dockerfile,
                context: context(b),
                target: b.target.as_deref(),
                args: &b.args,
                inline: b.inline,
                guessed: guessed(b),
                origins: &b.origins,
            })
            .collect(),
        diagnostics: &list.diagnostics,
    };
    let mut s = serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"version\":1,\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

pub fn text(list: &BuildList, tree: &str) -> String {
    let n = list.builds.len();
    let guesses = list.builds.iter().filter(|b| guessed(b)).count();
    let mut o = format!(
        "cachebust: {n} build{} in {tree}, {} declared, {guesses} with a guessed context\n",
        if n == 1 { "" } else { "s" },
        n - guesses
    );
    for b in &list.builds {
        o.push('\n');
        let what = if b.inline {
            format!("{} (inline Dockerfile)", b.dockerfile)
        } else {
            b.dockerfile.clone()
        };
        o.push_str(&format!(
            "{what}\n  context {}, target {}\n",
            context(b),
            b.target.as_deref().unwrap_or("the last stage")
        ));
        let parts = super::origin_parts(&b.origins);
        if parts.is_empty() {
            o.push_str("  declared by nothing: the context is guessed from what it copies\n");
        } else {
            o.push_str(&format!("  declared by {}\n", parts.join("; ")));
        }
        if !b.args.is_empty() {
            let args: Vec<String> = b.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            o.push_str(&format!("  build args {}\n", args.join(" ")));
        }
    }
    for d in &list.diagnostics {
        o.push_str(&format!(
            "\n{}{}: {}",
            d.file,
            d.line.map(|l| format!(":{l}")).unwrap_or_default(),
            d.message
        ));
    }
    if !list.diagnostics.is_empty() {
        o.push('\n');
    }
    o
}
