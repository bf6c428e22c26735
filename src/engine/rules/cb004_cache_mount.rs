//! CB004 cache mounts.
//!
//! **What it does.** Finds package-manager RUNs (npm, yarn, pnpm, pip, poetry, uv, pipenv,
//! bundler, composer, go, cargo, maven, dotnet, apk, apt) without a `--mount=type=cache` for that
//! manager's download cache.
//!
//! **Why it costs cache.** When the step re-runs (a manifest changed), a cache mount keeps the
//! downloads of the last run, so only what changed is fetched. Without it every re-run downloads
//! everything again. (hadolint's rules ask to delete these caches; with BuildKit, mount them.)
//!
//! **Example.** `RUN pip install --no-cache-dir -r requirements.txt` becomes
//! `RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt`.
//!
//! **Fix safety.** Unsafe: the step's cache key changes once, and the image no longer holds the
//! manager's cache (usually what you want). Offered for root (the cache paths are root's); for
//! apt (which also needs Debian's `docker-clean` hook removed), apk (which caches only through
//! `/etc/apk/cache`) and other users, shown only. System package installs (apt, apk) are checked
//! only below a COPY from the context: above it they re-run only when their own line changes.

use super::{ECOSYSTEMS, Finding, Rule, RuleContext, commands, finding, run_command, runs};
use crate::engine::dockerfile::{Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::predict::sim::{Op, StepVertex};

pub const RULE: Rule = Rule {
    code: "CB004",
    name: "cache-mount",
    summary: "a package manager runs without a cache mount for its downloads",
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    check,
};

/// System package managers: checked only below a COPY from the context.
const OS_MANAGERS: &[&str] = &["apt", "apk"];

/// Build tools that download into a cache but are not installs of `ECOSYSTEMS`.
const EXTRA: &[(&str, &[&str], &str, &[&str])] = &[
    ("go build", &["go", "build"], "/root/.cache/go-build", &[]),
    (
        "cargo build",
        &["cargo", "build"],
        "/usr/local/cargo/registry",
        &[],
    ),
    ("apk", &["apk", "add"], "/var/cache/apk", &["--no-cache"]),
    ("apt", &["apt-get", "install"], "/var/cache/apt", &[]),
    ("maven", &["mvn"], "/root/.m2", &[]),
    ("gradle", &["gradle"], "/root/.gradle", &[]),
];

fn check(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    // for each instruction: whether a COPY/ADD from the context comes before it in its stage
    // (one pass over the file, not a scan back from every RUN)
    let mut copied_above = vec![false; ctx.df.instructions.len()];
    for st in &ctx.sim.stages {
        let mut seen = false;
        let end = st.info.end.min(ctx.df.instructions.len());
        let range = (st.info.from + 1).min(end)..end;
        for (above, inst) in copied_above[range.clone()]
            .iter_mut()
            .zip(&ctx.df.instructions[range])
        {
            *above = seen;
            seen |= super::context_copy(inst).is_some();
        }
    }
    for (i, inst) in ctx.df.instructions.iter().enumerate() {
        if inst.kind != Kind::Run || !ctx.stage_of(i).is_some_and(|s| s.reachable) {
            continue;
        }
        let Some(cmd) = run_command(inst) else {
            continue;
        };
        let (mounts, user) = match ctx.sim.step.get(&i) {
            Some(StepVertex::Vertex(v)) => match &ctx.sim.vertices[*v].op {
                Op::Exec { mounts, user, .. } => (
                    mounts
                        .iter()
                        .filter(|m| m.fields.iter().any(|(k, v)| k == "type" && v == "cache"))
                        .map(|m| m.target.clone())
                        .collect::<Vec<_>>(),
                    user.clone(),
                ),
                _ => continue,
            },
            _ => continue,
        };
        let cmds = commands(&cmd);
        let mut tools: Vec<(&str, &str, &[&str])> = ECOSYSTEMS
            .iter()
            .filter(|e| {
                cmds.iter().any(|c| {
                    e.installs.iter().any(|s| runs(c, s))
                        && !(e.name == "npm" && c.iter().any(|w| w == "run"))
                })
            })
            .filter_map(|e| e.cache_dir.map(|d| (e.name, d, e.no_cache_flags)))
            .collect();
        for (name, seq, dir, flags) in EXTRA {
            if cmds.iter().any(|c| runs(c, seq)) && !tools.iter().any(|(_, d, _)| d == dir) {
                tools.push((name, dir, flags));
            }
        }
        // OS package installs usually sit above every COPY and re-run only when their own line
        // or the base image changes: a cache mount pays only when context files above re-run them
        let after_context_copy = ctx
            .stage_of(i)
            .is_some_and(|st| i > st.info.from && copied_above.get(i).copied().unwrap_or(false));
        tools.retain(|(n, _, _)| after_context_copy || !OS_MANAGERS.contains(n));
        let missing: Vec<&(&str, &str, &[&str])> = tools
            .iter()
            .filter(|(_, dir, _)| {
                !mounts.iter().any(|m| {
                    m == dir
                        || m.starts_with(&format!("{dir}/"))
                        || dir.starts_with(&format!("{m}/"))
                })
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let root = user.is_empty()
            || user == "root"
            || user == "0"
            || user.starts_with("root:")
            || user.starts_with("0:");
        let only_apt = missing.iter().all(|(n, _, _)| *n == "apt");
        let only_apk = missing.iter().all(|(n, _, _)| *n == "apk");
        let applicability = if root && !missing.iter().any(|(n, _, _)| OS_MANAGERS.contains(n)) {
            Applicability::Unsafe
        } else {
            Applicability::DisplayOnly
        };
        let mut mount_flags = String::new();
        for (n, dir, _) in &missing {
            if *n == "apt" {
                mount_flags.push_str("--mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked ");
            } else {
                mount_flags.push_str(&format!("--mount=type=cache,target={dir} "));
            }
        }
        // insert after the keyword; drop flags that only disable the cache
        let start = ctx.inst_range(inst).start;
        let kw_end = start
            + ctx.text[start..]
                .find(|c: char| c.is_whitespace())
                .unwrap_or(3);
        let ws_end = kw_end
            + ctx.text[kw_end..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(0);
        let mut edits = vec![Edit::insert(ctx.path, ws_end, mount_flags.clone())];
        for (name, _, flags) in &missing {
            for flag in flags.iter() {
                let range = ctx.inst_range(inst);
                let seg = &ctx.text[range.clone()];
                if let Some(p) = find_word(seg, flag) {
                    let mut end = range.start + p + flag.len();
                    if ctx.text[end..].starts_with(' ') {
                        end += 1;
                    }
                    // apk without --no-cache reads the index from the cache: have it fetched
                    let with = if *name == "apk" { "--update " } else { "" };
                    edits.push(Edit::replace(ctx.path, range.start + p..end, with));
                }
            }
        }
        let names: Vec<&str> = missing.iter().map(|(n, _, _)| *n).collect();
        let fix = Fix {
            applicability,
            description: format!("add {}", mount_flags.trim()),
            edits,
        };
        let extra = if only_apt {
            "; for apt also remove `/etc/apt/apt.conf.d/docker-clean` in an earlier step so downloads are kept"
        } else if only_apk {
            "; `--no-cache` becomes `--update` (apk then keeps its index in the mount), and apk keeps packages too when `/etc/apk/cache` links to the mounted directory"
        } else if !root {
            "; the step runs as a non-root user: point the mount at that user's cache directory"
        } else {
            ""
        };
        let msg = format!(
            "`{}` runs {} without a cache mount: when it re-runs it {} again; mount the cache with `{}`{extra}",
            inst.display(60),
            names.join(", "),
            if names.iter().all(|n| n.ends_with(" build")) {
                "compiles everything"
            } else if names.iter().any(|n| n.ends_with(" build")) {
                "downloads and compiles everything"
            } else {
                "downloads everything"
            },
            mount_flags.trim()
        );
        out.push(finding(&RULE, ctx, inst, msg, Some(fix)));
    }
    out
}

/// Byte offset of `word` as a whole shell word in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = s[from..].find(word) {
        let at = from + p;
        let before = s[..at].chars().next_back();
        let after = s[at + word.len()..].chars().next();
        if before.is_none_or(char::is_whitespace)
            && after.is_none_or(|c| c.is_whitespace() || c == '\\')
        {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}
