//! CB004 cache mounts.
//!
//! **What it does.** Finds package-manager RUNs (npm, yarn, pnpm, pip, poetry, uv, pipenv,
//! bundler, composer, go, cargo, maven, dotnet, apk, apt) without a `--mount=type=cache` for that
//! manager's download cache. A mount already there counts whatever its target: the default
//! directory, or one named for the manager by its target or `id` (`id=pnpm-store`), or one the
//! step's environment or command points the manager at (`PIP_CACHE_DIR=/tmp/pip-cache`). It also
//! finds a step that reads what an earlier step downloaded into a cache mount (`go build` after
//! `RUN --mount=type=cache,target=/go/pkg/mod go mod download`) without mounting it: the
//! downloads are in the mount, not in the image, so that step fetches them all again. And a
//! step that empties its own cache mount (`npm cache clean --force`, `pip cache purge`,
//! `apt-get clean`, `go clean -modcache`, `rm -rf /root/.npm`, …): each run starts empty.
//!
//! **Why it costs cache.** When the step re-runs (a manifest changed), a cache mount keeps the
//! downloads of the last run, so only what changed is fetched. Without it every re-run downloads
//! everything again. (hadolint's rules ask to delete these caches; with BuildKit, mount them.)
//!
//! **Example.** `RUN pip install --no-cache-dir -r requirements.txt` becomes
//! `RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt`. For a
//! download-only step (`go mod download`, `dotnet restore`, `cargo fetch`, `mvn
//! dependency:go-offline`) the same mount goes on every later step that reads the downloads
//! (`go build`, `dotnet publish`, …), in one fix. `RUN npm ci && npm cache clean --force`
//! becomes `RUN --mount=type=cache,target=/root/.npm npm ci`: a clean left in place would empty
//! the mount on every run, so the fix drops it (and the saving it shows is the mount's). Where
//! the clean cannot be dropped on its own (inside `if`, a pipeline), the fix is shown only.
//!
//! **Fix safety.** Unsafe: the step's cache key changes once, and the image no longer holds the
//! manager's cache (usually what you want). Offered for root (the cache paths are root's); for
//! apt (which also needs Debian's `docker-clean` hook removed), apk (which caches only through
//! `/etc/apk/cache`) and other users, shown only. Shown only, too, when a step reading the
//! downloads may not fetch them (`dotnet publish --no-restore`, `cargo build --offline`, `mvn
//! -o`): when the mount is empty (pruned, or a CI cache that does not carry cache mounts) while
//! the download step stays cached, that step fails (measured on both engines). System package
//! installs (apt, apk) are checked only below a COPY from the context: above it they re-run only
//! when their own line changes.

use super::{At, Finding, Findings, Meta, Reads, Rule, RuleContext, run_command};
use crate::engine::cleans::{Clean, cleans};
use crate::engine::cost::{download_uses, downloads, mount_covers};
use crate::engine::dockerfile::{Body, Kind, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::predict::sim::{Op, StepVertex};
use crate::engine::tools::{TOOLS, ecosystems};

pub const RULE: &dyn Rule = &CacheMount;

const META: Meta = Meta {
    code: "CB004",
    name: "cache-mount",
    summary: "a package manager runs without a cache mount for its downloads",
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    reads: Reads::Dockerfile,
};

struct CacheMount;

impl Rule for CacheMount {
    fn meta(&self) -> &'static Meta {
        &META
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Run]
    }
    fn instruction(&self, ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
        check(ctx, at, out);
    }
}

/// System package managers: checked only below a COPY from the context.
const OS_MANAGERS: &[&str] = &["apt", "apk"];

/// Words a cache mount's target or id may use for a manager's cache (`id=pnpm-store`).
fn keys(tool: &str) -> &'static [&'static str] {
    crate::engine::tools::named(tool).map_or(&[], |t| t.mount_keys)
}

fn keyed(tool: &str, s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.split(['/', ',', ':', '=', '.', ' '])
        .filter(|t| !t.is_empty())
        .any(|t| {
            keys(tool).iter().any(|k| {
                t == *k
                    || t.starts_with(&format!("{k}-"))
                    || t.starts_with(&format!("{k}_"))
                    || t.ends_with(&format!("-{k}"))
                    || t.ends_with(&format!("_{k}"))
            })
        })
}

/// The cache mounts of one RUN: (target, id) as the step sees them.
struct Mounts {
    list: Vec<(String, Option<String>)>,
    env: std::sync::Arc<Vec<String>>,
    cmd: String,
}

impl Mounts {
    /// Whether the manager `tool`, whose default cache is `dir`, already has a cache mount.
    fn cover(&self, tool: &str, dir: &str) -> bool {
        self.list.iter().any(|(t, id)| {
            mount_covers(t, dir)
                || keyed(tool, t)
                || id.as_deref().is_some_and(|i| keyed(tool, i))
                || (!t.is_empty()
                    && t != "/"
                    && (self.env.iter().any(|e| {
                        e.split_once('=').is_some_and(|(_, v)| {
                            v.trim_end_matches('/') == t.trim_end_matches('/')
                        })
                    }) || self.cmd.contains(t.trim_end_matches('/'))))
        })
    }
}

fn mounts_of(ctx: &RuleContext<'_>, i: usize) -> Option<(Mounts, String)> {
    let inst = &ctx.df.instructions[i];
    let Some(StepVertex::Vertex(v)) = ctx.sim.step.get(&i) else {
        return None;
    };
    let vx = &ctx.sim.vertices[*v];
    let Op::Exec {
        mounts, user, env, ..
    } = &vx.op
    else {
        return None;
    };
    let mut list: Vec<(String, Option<String>)> = mounts
        .iter()
        .filter(|m| m.fields.iter().any(|(k, v)| k == "type" && v == "cache"))
        .map(|m| {
            let id = m
                .fields
                .iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.clone());
            (m.target.clone(), id)
        })
        .collect();
    // ids as written (the current engine does not key them)
    for f in inst.flags_named("mount") {
        let parts = crate::engine::dockerfile::stages::split_csv(f.value.as_deref().unwrap_or(""));
        if !parts.iter().any(|p| p == "type=cache") {
            continue;
        }
        let get = |k: &str| {
            parts
                .iter()
                .find_map(|p| p.strip_prefix(&format!("{k}=")).map(str::to_string))
        };
        let target = get("target")
            .or_else(|| get("dst"))
            .or_else(|| get("destination"));
        let id = get("id");
        if let Some(t) = target {
            match list.iter_mut().find(|(lt, _)| *lt == t) {
                Some(e) if e.1.is_none() => e.1 = id,
                Some(_) => {}
                None => list.push((t, id)),
            }
        }
    }
    Some((
        Mounts {
            list,
            env: env.clone(),
            cmd: vx.detail.text.clone(),
        },
        user.clone(),
    ))
}

fn is_root(user: &str) -> bool {
    user.is_empty()
        || user == "root"
        || user == "0"
        || user.starts_with("root:")
        || user.starts_with("0:")
}

/// Where a mount flag goes in a RUN: after the keyword and its whitespace.
fn mount_insert_at(ctx: &RuleContext<'_>, inst: &crate::engine::dockerfile::Instruction) -> usize {
    let start = ctx.inst_range(inst).start;
    let kw_end = start
        + ctx.text[start..]
            .find(|c: char| c.is_whitespace())
            .unwrap_or(3);
    kw_end
        + ctx.text[kw_end..]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(0)
}

/// The vertex of instruction `i`, when it is a RUN.
fn exec_vertex(ctx: &RuleContext<'_>, i: usize) -> Option<usize> {
    match ctx.sim.step.get(&i) {
        Some(StepVertex::Vertex(v)) if matches!(ctx.sim.vertices[*v].op, Op::Exec { .. }) => {
            Some(*v)
        }
        _ => None,
    }
}

/// The nearest RUN above vertex `v` (its stage, then the stages below it) that runs the
/// download `d` (the `at`-th of [`downloads`]): (vertex, instruction index).
fn download_above(ctx: &RuleContext<'_>, v: usize, at: usize) -> Option<(usize, usize)> {
    let mut cur = ctx.sim.vertices[v].parent;
    let mut guard = 0;
    while let Some(p) = cur {
        guard += 1;
        if guard > 100_000 {
            return None;
        }
        let px = &ctx.sim.vertices[p];
        if matches!(px.op, Op::Exec { .. })
            && download_uses(ctx.kept, &px.detail.text)[at].downloads
        {
            return Some((p, px.inst));
        }
        cur = px.parent;
    }
    None
}

/// A missing cache mount: the manager, its directory, flags that disable its cache, and for
/// a reader of an earlier step's mounted downloads that step's line.
struct Missing {
    name: &'static str,
    dir: &'static str,
    flags: &'static [&'static str],
    downloaded_at: Option<u32>,
}

/// Lines as a comma-separated list (`5, 7`).
fn line_list(lines: &[u32]) -> String {
    lines
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
    let (i, inst) = (at.index, at.inst);
    let Some(cmd) = run_command(inst) else {
        return;
    };
    let Some((mounts, user)) = mounts_of(ctx, i) else {
        return;
    };
    let Some(vid) = exec_vertex(ctx, i) else {
        return;
    };
    let Some(script) = ctx.script(i) else {
        return;
    };
    // a COPY from the context above it in its stage
    let copied_above = at.before().iter().any(|x| super::context_copy(x).is_some());
    let tools = cache_users(ctx, vid, &cmd, &script, copied_above);
    let missing: Vec<&Missing> = tools
        .iter()
        .filter(|t| !mounts.cover(t.name, t.dir))
        .collect();
    if missing.is_empty() {
        // a mount the step empties itself (`npm cache clean --force`) keeps nothing
        let own: Vec<&str> = mounts.list.iter().map(|(t, _)| t.as_str()).collect();
        if let Some(f) = self_emptied(ctx, inst, &cmd, &own) {
            out.push(f);
        }
        return;
    }
    let mut display_why: Vec<String> = Vec::new();
    let mut mount_flags = String::new();
    for t in &missing {
        if t.name == "apt" {
            mount_flags.push_str("--mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked ");
        } else {
            mount_flags.push_str(&format!("--mount=type=cache,target={} ", t.dir));
        }
    }
    let mut edits = vec![Edit::insert(
        ctx.path,
        mount_insert_at(ctx, inst),
        mount_flags.clone(),
    )];
    // what the step does to empty the caches it gets mounts for: dropped, or the mount
    // would be emptied on every run
    let targets: Vec<&str> = missing
        .iter()
        .flat_map(|t| {
            if t.name == "apt" {
                vec!["/var/cache/apt", "/var/lib/apt"]
            } else {
                vec![t.dir]
            }
        })
        .collect();
    let drops = clean_drops(ctx, inst, &cmd, &targets);
    edits.extend(drops.edits.iter().cloned());
    for stuck in &drops.stuck {
        display_why.push(format!(
            "`{}` empties the cache on every run and cannot be dropped on its own here: remove it by hand, or the mount saves nothing",
            stuck.replace('`', "'")
        ));
    }
    edits.extend(flag_edits(ctx, inst, &missing));
    // a download-only step: every later step reading the downloads gets the mount too
    let readers = reader_mounts(ctx, i, vid, &cmd, &missing, &mut edits, &mut display_why);
    let (fix, msg) = Mounting {
        missing: &missing,
        mount_flags: &mount_flags,
        dropped: &drops.dropped,
        readers: &readers,
        display_why: &display_why,
        root: is_root(&user),
    }
    .advice(inst, edits);
    out.report(inst, msg, Some(fix));
}

/// The package managers and build tools the step (vertex `vid`) runs that keep a cache, and the
/// readers of what an earlier step downloaded into a cache mount; OS package managers only where
/// context files above re-run the step (`copied_above`).
fn cache_users(
    ctx: &RuleContext<'_>,
    vid: usize,
    cmd: &str,
    script: &crate::engine::shell::Script,
    copied_above: bool,
) -> Vec<Missing> {
    let mut tools: Vec<Missing> = ecosystems()
        .filter(|e| script.programs().any(|p| e.installed_by(p)))
        .filter_map(|e| {
            e.cache_dir.map(|d| Missing {
                name: e.name,
                dir: d,
                flags: e.no_cache_flags,
                downloaded_at: None,
            })
        })
        .collect();
    // build tools that download into a cache but are not an ecosystem's install
    for t in TOOLS {
        let Some(dir) = t.cache_dir else { continue };
        if script.runs_any(t.mount_runs) && !tools.iter().any(|m| m.dir == dir) {
            tools.push(Missing {
                name: t.name,
                dir,
                flags: t.no_cache_flags,
                downloaded_at: None,
            });
        }
    }
    // a reader of what an earlier step downloaded into a cache mount
    let uses = download_uses(ctx.kept, cmd);
    for (at, ((owner, d), u)) in crate::engine::tools::downloads()
        .zip(uses.iter())
        .enumerate()
    {
        if u.consumer.is_none() || u.downloads {
            continue;
        }
        let Some((p, pi)) = download_above(ctx, vid, at) else {
            continue;
        };
        let mounted = mounts_of(ctx, pi)
            .is_some_and(|(m, _)| m.list.iter().any(|(t, _)| mount_covers(t, d.cache_dir)));
        let _ = p;
        if mounted && !tools.iter().any(|t| t.dir == d.cache_dir) {
            tools.push(Missing {
                name: owner.name,
                dir: d.cache_dir,
                flags: &[],
                downloaded_at: Some(ctx.df.instructions[pi].line),
            });
        }
    }
    // OS package installs usually sit above every COPY and re-run only when their own line
    // or the base image changes: a cache mount pays only when context files above re-run them
    tools.retain(|t| copied_above || !OS_MANAGERS.contains(&t.name));
    tools
}

/// Edits that drop the flags turning each missing cache off (`--no-cache`, `--no-cache-dir`).
fn flag_edits(
    ctx: &RuleContext<'_>,
    inst: &crate::engine::dockerfile::Instruction,
    missing: &[&Missing],
) -> Vec<Edit> {
    let mut edits = Vec::new();
    for t in missing {
        for flag in t.flags.iter() {
            let range = ctx.inst_range(inst);
            let seg = &ctx.text[range.clone()];
            if let Some(p) = find_word(seg, flag) {
                let mut end = range.start + p + flag.len();
                if ctx.text[end..].starts_with(' ') {
                    end += 1;
                }
                // apk without --no-cache reads the index from the cache: have it fetched
                let with = if t.name == "apk" { "--update " } else { "" };
                edits.push(Edit::replace(ctx.path, range.start + p..end, with));
            }
        }
    }
    edits
}

/// For a step that only downloads: the later steps reading its downloads, each given the mount
/// (an edit) unless it cannot take it (a reason in `display_why`); their lines.
fn reader_mounts(
    ctx: &RuleContext<'_>,
    i: usize,
    vid: usize,
    cmd: &str,
    missing: &[&Missing],
    edits: &mut Vec<Edit>,
    display_why: &mut Vec<String>,
) -> Vec<u32> {
    let mut readers: Vec<u32> = Vec::new();
    let uses = download_uses(ctx.kept, cmd);
    for t in missing.iter().filter(|t| t.downloaded_at.is_none()) {
        let Some(at) = downloads()
            .zip(uses.iter())
            .position(|(d, u)| d.cache_dir == t.dir && u.downloads)
        else {
            continue;
        };
        for (j, later) in ctx.df.instructions.iter().enumerate().skip(i + 1) {
            if later.kind != Kind::Run || !ctx.reachable(j) {
                continue;
            }
            let Some(lv) = exec_vertex(ctx, j) else {
                continue;
            };
            let u = download_uses(ctx.kept, &ctx.sim.vertices[lv].detail.text)[at];
            let Some(offline) = u.consumer else {
                continue;
            };
            if u.downloads || download_above(ctx, lv, at).map(|(p, _)| p) != Some(vid) {
                continue;
            }
            let Some((lm, luser)) = mounts_of(ctx, j) else {
                continue;
            };
            if lm.cover(t.name, t.dir) {
                continue;
            }
            if offline {
                display_why.push(format!(
                    "`{}` at line {} does not download: with a cache mount the downloads are only in the mount, and when it is empty (pruned, or a CI cache that does not carry cache mounts) while this step stays cached, that step fails; keep the downloads in the image, or let that step download",
                    later.display(50).replace('`', "'"),
                    later.line
                ));
                continue;
            }
            if !is_root(&luser) {
                display_why.push(format!(
                    "`{}` at line {} reads the downloads as a non-root user: mount the cache there too, at that user's cache directory",
                    later.display(50).replace('`', "'"),
                    later.line
                ));
            }
            edits.push(Edit::insert(
                ctx.path,
                mount_insert_at(ctx, later),
                format!("--mount=type=cache,target={} ", t.dir),
            ));
            readers.push(later.line);
        }
    }
    readers
}

/// What a step's missing cache mounts come to: the mounts, the cleaning commands dropped, the
/// later steps given the mount too, and why the fix is only shown (reasons it cannot be applied
/// as it is).
struct Mounting<'a> {
    missing: &'a [&'a Missing],
    mount_flags: &'a str,
    dropped: &'a [String],
    readers: &'a [u32],
    display_why: &'a [String],
    /// The step runs as root.
    root: bool,
}

impl Mounting<'_> {
    /// The fix (with `edits`) and the finding's message.
    fn advice(
        &self,
        inst: &crate::engine::dockerfile::Instruction,
        edits: Vec<Edit>,
    ) -> (Fix, String) {
        let Mounting {
            missing,
            mount_flags,
            dropped,
            readers,
            display_why,
            root,
        } = *self;
        let applicability = if root
            && !missing.iter().any(|t| OS_MANAGERS.contains(&t.name))
            && display_why.is_empty()
        {
            Applicability::Unsafe
        } else {
            Applicability::DisplayOnly
        };
        let names: Vec<&str> = missing.iter().map(|t| t.name).collect();
        let mut description = format!("add {}", mount_flags.trim());
        if !dropped.is_empty() {
            description.push_str(&format!(
                " and drop {}, which would empty it on every run",
                quoted_list(dropped)
            ));
        }
        if !readers.is_empty() {
            description.push_str(&format!(
                ", and the same mount on the step{} reading the downloads (line{} {})",
                if readers.len() == 1 { "" } else { "s" },
                if readers.len() == 1 { "" } else { "s" },
                line_list(readers)
            ));
        }
        let fix = Fix {
            applicability,
            description,
            edits,
        };
        let extra = self.extra();
        let refetched: Vec<&&Missing> = missing
            .iter()
            .filter(|t| t.downloaded_at.is_some())
            .collect();
        let msg = if let Some(t) = refetched.first() {
            format!(
                "`{}` reads what line {} downloads into the cache mount `{}` without mounting it: the files are in the mount, not in the image, so each run here downloads them all again; mount the cache with `{}`{extra}",
                inst.display(60),
                t.downloaded_at.unwrap_or_default(),
                t.dir,
                mount_flags.trim()
            )
        } else {
            format!(
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
            )
        };
        (fix, msg)
    }

    /// What the message adds after the fix: apt's and apk's own setup, a non-root user, the
    /// commands dropped, the readers given the mount, and why the fix is only shown.
    fn extra(&self) -> String {
        let Mounting {
            missing,
            dropped,
            readers,
            display_why,
            root,
            ..
        } = *self;
        let only_apt = missing.iter().all(|t| t.name == "apt");
        let only_apk = missing.iter().all(|t| t.name == "apk");
        let mut extra = if only_apt {
            "; for apt also remove `/etc/apt/apt.conf.d/docker-clean` in an earlier step so downloads are kept".to_string()
        } else if only_apk {
            "; `--no-cache` becomes `--update` (apk then keeps its index in the mount), and apk keeps packages too when `/etc/apk/cache` links to the mounted directory".to_string()
        } else if !root {
            "; the step runs as a non-root user: point the mount at that user's cache directory"
                .to_string()
        } else {
            String::new()
        };
        if !dropped.is_empty() {
            extra.push_str(&format!(
                "; {} would empty the mount on every run, so the fix drops {} (the cache then lives in the mount, not in the image)",
                quoted_list(dropped),
                if dropped.len() == 1 { "it" } else { "them" }
            ));
        }
        if !readers.is_empty() {
            extra.push_str(&format!(
                "; the step{} at line{} {} read{} the downloads and get{} the mount too (the files are then in the mount, not in the image)",
                if readers.len() == 1 { "" } else { "s" },
                if readers.len() == 1 { "" } else { "s" },
                line_list(readers),
                if readers.len() == 1 { "s" } else { "" },
                if readers.len() == 1 { "s" } else { "" },
            ));
        }
        for w in display_why {
            extra.push_str("; not applied: ");
            extra.push_str(w);
        }
        extra
    }
}

/// The cleaning commands of a step that empty cache-mount targets, as edits that drop them.
#[derive(Default)]
struct Drops {
    edits: Vec<Edit>,
    /// The commands dropped, as written.
    dropped: Vec<String>,
    /// The ones that cannot be dropped on their own (inside `if`, the only command, exec form).
    stuck: Vec<String>,
}

/// The commands of the RUN `inst` (shell text `cmd`) that empty one of `targets`, and the edits
/// that drop them from the Dockerfile text.
fn clean_drops(
    ctx: &RuleContext<'_>,
    inst: &crate::engine::dockerfile::Instruction,
    cmd: &str,
    targets: &[&str],
) -> Drops {
    let mut out = Drops::default();
    let wanted: Vec<Clean> = cleans_of(ctx, cmd)
        .iter()
        .filter(|c| targets.iter().any(|t| c.empties(t)))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return out;
    }
    let heredoc = matches!(&inst.body, Body::Run { heredocs, .. } if !heredocs.is_empty());
    let start = command_start(ctx, inst);
    let end = ctx.inst_range(inst).end;
    let raw = if heredoc || ctx.text[start..end].starts_with('[') {
        std::sync::Arc::default()
    } else {
        cleans_of(ctx, &ctx.text[start..end])
    };
    let mut used = vec![false; raw.len()];
    for w in wanted {
        let found = raw
            .iter()
            .enumerate()
            .find(|(i, r)| !used[*i] && r.text == w.text && r.drop.is_some());
        match found {
            Some((i, r)) => {
                used[i] = true;
                let d = r.drop.clone().unwrap_or_default();
                out.edits
                    .push(Edit::delete(ctx.path, start + d.start..start + d.end));
                out.dropped.push(w.text);
            }
            None => out.stuck.push(w.text),
        }
    }
    out
}

/// [`cleans`] of a text, once per text (the caller's memo: every build and commit asks again).
fn cleans_of(ctx: &RuleContext<'_>, text: &str) -> std::sync::Arc<Vec<Clean>> {
    ctx.kept
        .get_or(crate::engine::memo::Kind::Cleans, text, || {
            std::sync::Arc::new(cleans(text))
        })
}

/// Where a RUN's shell text starts: after the keyword and its `--flags`.
fn command_start(ctx: &RuleContext<'_>, inst: &crate::engine::dockerfile::Instruction) -> usize {
    let end = ctx.inst_range(inst).end;
    let mut at = mount_insert_at(ctx, inst);
    loop {
        let rest = &ctx.text[at..end];
        if !rest.starts_with("--") {
            return at;
        }
        let word = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        at += word;
        // whitespace and line continuations after the flag
        loop {
            let r = &ctx.text[at..end];
            let t = r.trim_start_matches([' ', '\t']);
            let skipped = r.len() - t.len();
            if let Some(after) = t.strip_prefix("\\\n").or_else(|| t.strip_prefix("\\\r\n")) {
                at += skipped + (t.len() - after.len());
            } else {
                at += skipped;
                break;
            }
        }
    }
}

/// `a`, `a` and `b`, `a`, `b` and `c` (each in backticks).
fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items
        .iter()
        .map(|x| format!("`{}`", x.replace('`', "'")))
        .collect();
    match q.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A RUN whose cache mount it empties itself: each run starts from an empty cache, so the
/// mount saves nothing. The fix drops the cleaning.
fn self_emptied(
    ctx: &RuleContext<'_>,
    inst: &crate::engine::dockerfile::Instruction,
    cmd: &str,
    targets: &[&str],
) -> Option<Finding> {
    let cleans = cleans_of(ctx, cmd);
    let emptied: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| cleans.iter().any(|c| c.empties(t)))
        .collect();
    if emptied.is_empty() {
        return None;
    }
    let drops = clean_drops(ctx, inst, cmd, &emptied);
    let all: Vec<String> = drops.dropped.iter().chain(&drops.stuck).cloned().collect();
    let fix = (!drops.edits.is_empty()).then(|| Fix {
        applicability: if drops.stuck.is_empty() {
            Applicability::Unsafe
        } else {
            Applicability::DisplayOnly
        },
        description: format!("drop {}", quoted_list(&drops.dropped)),
        edits: drops.edits.clone(),
    });
    let msg = format!(
        "`{}` empties its own cache mount `{}` with {}: each run starts from an empty cache, so the mount saves nothing; drop the cleaning (the cache lives in the mount, not in the image)",
        inst.display(60),
        emptied.join("`, `"),
        quoted_list(&all),
    );
    Some(META.finding(ctx, inst, msg, fix))
}

/// The ecosystem name of a download (for the mount's words).
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
