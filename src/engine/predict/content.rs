//! Content-hashed inputs: do the bytes a COPY/ADD or bind mount reads differ between the base
//! and the head build? For build-context sources this is decided from the change set when the
//! source and the ignore rules are the same on both sides (fast, proportional to the change),
//! otherwise by comparing the selected files of both listings. For `COPY --from=<stage>` it is
//! BuildKit's early cutoff: the copy hits when the selected files are byte-identical, which is
//! known when they were produced by steps that did not re-run, and only likely otherwise.

use super::sim::{Input, Op, Vertex};
use super::{Ctx, IgnoreInfo, Res, SideSim};
use crate::engine::BuildInput;
use crate::engine::glob::{contains_wildcards, path_match};
use crate::engine::memo::SourceKey;
use crate::engine::report::{Cause, CauseKind, Confidence, Note, Paths};
use crate::engine::tree::{Entry, EntryKind, Listing, Lookup, Side};

pub enum Cmp {
    Same {
        confidence: Confidence,
        notes: Vec<Note>,
    },
    Differs {
        cause: Cause,
        confidence: Confidence,
        notes: Vec<Note>,
    },
}

fn differs(cause: Cause) -> Cmp {
    Cmp::Differs {
        cause,
        confidence: Confidence::Exact,
        notes: Vec::new(),
    }
}

/// One comparison of a head build with its base: what every content check reads (the trees and
/// changes in `ctx`, both simulations, the results so far, the base's canonical record ids).
pub struct Comparison<'a> {
    pub ctx: &'a Ctx<'a>,
    pub build: &'a BuildInput,
    pub head: &'a SideSim,
    pub base: &'a SideSim,
    pub res: &'a [Res],
    pub canon: &'a [usize],
}

fn same(confidence: Confidence) -> Cmp {
    Cmp::Same {
        confidence,
        notes: Vec::new(),
    }
}

fn text_changed(line: u32) -> Cause {
    Cause::InstructionChanged {
        line,
        base_line: None,
        before: None,
        after: None,
    }
}

impl Comparison<'_> {
    /// Compare all content inputs of a head vertex with those of a base record that has the
    /// same op.
    pub fn inputs(&self, hv: &Vertex, bv: &Vertex) -> Cmp {
        let line = super::step_line(self.head, hv);
        if hv.inputs.len() != bv.inputs.len() || hv.exclude != bv.exclude {
            return differs(text_changed(line));
        }
        let mut confidence = Confidence::Exact;
        let mut notes = Vec::new();
        for (hi, bi) in hv.inputs.iter().zip(&bv.inputs) {
            match self.one(hi, bi, &hv.exclude, line) {
                Cmp::Same {
                    confidence: c,
                    notes: n,
                } => {
                    if c == Confidence::Likely {
                        confidence = Confidence::Likely;
                    }
                    notes.extend(n);
                }
                d @ Cmp::Differs { .. } => return d,
            }
        }
        Cmp::Same { confidence, notes }
    }

    fn one(&self, hi: &Input, bi: &Input, exclude: &[String], line: u32) -> Cmp {
        match (hi, bi) {
            (
                Input::Context {
                    path: hp,
                    wildcard: hw,
                },
                Input::Context {
                    path: bp,
                    wildcard: bw,
                },
            ) => self.context((hp, *hw), (bp, *bw), exclude, line),
            (
                Input::Stage {
                    stage: hs,
                    path: hp,
                    vid: hvid,
                },
                Input::Stage {
                    path: bp,
                    vid: bvid,
                    ..
                },
            ) => {
                if hp != bp {
                    return differs(text_changed(line));
                }
                let source = StageSource {
                    stage: *hs,
                    path: hp,
                    head: *hvid,
                    base: bvid.map(|v| self.canon[v]),
                };
                self.stage(&source, line)
            }
            (
                Input::Image {
                    reference: hr,
                    path: hp,
                },
                Input::Image {
                    reference: br,
                    path: bp,
                },
            ) if hr == br && hp == bp => same(Confidence::Exact),
            (
                Input::Remote {
                    url: hu,
                    checksum: hc,
                },
                Input::Remote {
                    url: bu,
                    checksum: bc,
                },
            ) if hu == bu && hc == bc => same(if hc.is_some() {
                Confidence::Exact
            } else {
                Confidence::Likely
            }),
            (Input::Inline { content: h }, Input::Inline { content: b }) if h == b => {
                same(Confidence::Exact)
            }
            (Input::Inline { .. }, Input::Inline { .. }) => differs(Cause::HeredocChanged { line }),
            _ => differs(text_changed(line)),
        }
    }
}

/// The files a `COPY --from` / `--mount from=` reads: `path` in `stage`, made by the head
/// vertex `head` and, in the base, by the record `base`.
struct StageSource<'p> {
    stage: usize,
    path: &'p str,
    head: Option<usize>,
    base: Option<usize>,
}

/// Context-relative form of a root-relative path inside `context`.
pub fn context_relative<'a>(context: &str, path: &'a str) -> Option<&'a str> {
    if context.is_empty() {
        return Some(path);
    }
    if path == context {
        return Some("");
    }
    path.strip_prefix(context).and_then(|r| r.strip_prefix('/'))
}

/// Whether a root-relative file path is left out of the context by the ignore file.
pub fn is_excluded(ignore: &IgnoreInfo, context: &str, path: &str) -> bool {
    excluded(ignore, context, path)
}

fn excluded(ignore: &IgnoreInfo, context: &str, path: &str) -> bool {
    let Some(m) = &ignore.matcher else {
        return false;
    };
    match context_relative(context, path) {
        Some("") => false,
        Some(q) => m.walk_excluded(q).unwrap_or(false),
        None => true,
    }
}

/// The non-wildcard directory prefix of a pattern (`src/*.json` → `src`).
fn wildcard_base(pattern: &str) -> &str {
    let mut end = 0;
    for (i, seg) in pattern.split('/').enumerate() {
        if contains_wildcards(seg) {
            break;
        }
        end = if i == 0 {
            seg.len()
        } else {
            end + 1 + seg.len()
        };
    }
    &pattern[..end.min(pattern.len())]
}

/// Whether `path` or one of its ancestors matches the wildcard pattern.
fn wildcard_selects(pattern: &str, path: &str) -> bool {
    let mut p = path;
    loop {
        if path_match(pattern, p).unwrap_or(false) {
            return true;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return false,
        }
    }
}

/// Whether `COPY --exclude` patterns drop the root-relative `path` copied from the source
/// `source` (patterns are matched relative to the source, with patternmatcher's rules: a path
/// is dropped when it or a parent directory matches).
pub fn excluded_by_copy(exclude: &[String], source: &str, wildcard: bool, path: &str) -> bool {
    if exclude.is_empty() {
        return false;
    }
    let base = if wildcard {
        wildcard_base(source)
    } else {
        source
    };
    let rel = if base.is_empty() {
        path
    } else {
        match path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
            Some(r) => r,
            None => return false,
        }
    };
    if rel.is_empty() {
        return false;
    }
    crate::engine::ignore::Matcher::new(exclude, crate::engine::ignore::Flavor::Current)
        .ok()
        .and_then(|m| m.walk_excluded(rel).ok())
        .unwrap_or(false)
}

/// Changed paths under a context source that reach the build (not ignored).
pub fn relevant_changes(
    ctx: &Ctx<'_>,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
    other: Option<&IgnoreInfo>,
) -> Vec<String> {
    match other {
        None => shared_changes(ctx, context, path, wildcard, ignore).to_vec(),
        Some(_) => changes_reaching(ctx, context, path, wildcard, ignore, other),
    }
}

/// `relevant_changes` without a second ignore file, shared: every build of the same context
/// and ignore file asks the same, and it is answered once per analysis.
pub fn shared_changes(
    ctx: &Ctx<'_>,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
) -> std::rc::Rc<Vec<String>> {
    let key = source_key(context, path, wildcard, ignore);
    ctx.memo.relevant(key, || {
        changes_reaching(ctx, context, path, wildcard, ignore, None)
    })
}

/// What a context source of a build reads as the memo keys it.
pub fn source_key(context: &str, path: &str, wildcard: bool, ignore: &IgnoreInfo) -> SourceKey {
    SourceKey {
        context: context.to_string(),
        path: path.to_string(),
        wildcard,
        ignore: ignore.matcher.as_ref().map(|_| ignore.patterns.clone()),
    }
}

fn changes_reaching(
    ctx: &Ctx<'_>,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
    other: Option<&IgnoreInfo>,
) -> Vec<String> {
    let cands = if wildcard {
        ctx.changes.at_or_under(wildcard_base(path))
    } else {
        ctx.changes.at_or_under(path)
    };
    cands
        .into_iter()
        .filter(|c| !wildcard || wildcard_selects(path, &c.path))
        .filter(|c| context_relative(context, &c.path).is_some())
        .filter(|c| {
            !excluded(ignore, context, &c.path)
                || other.is_some_and(|o| !excluded(o, context, &c.path))
        })
        .map(|c| c.path.clone())
        .collect()
}

/// Why a symlink cannot be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unfollowed {
    /// Its target leaves the build context.
    Outside,
    /// It leads back to itself (or through more links than any real layout needs).
    Loop,
}

/// Follow a top-level symlink at `path` inside the context (`Ok(None)`: a listing was
/// requested); an error says why it cannot be followed.
fn follow(
    listing: &Listing,
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
) -> Result<Option<String>, Unfollowed> {
    let mut cur = path.to_string();
    let mut seen = vec![cur.clone()];
    for _ in 0..16 {
        match listing.entry(&cur) {
            Lookup::Missing => {
                ctx.needs.request(side, &cur, false);
                return Ok(None);
            }
            Lookup::Loaded(Some(Entry {
                kind: EntryKind::Symlink,
                id,
                ..
            })) => {
                let rel_dir = match cur.rfind('/') {
                    Some(i) => cur[..i].to_string(),
                    None => String::new(),
                };
                let target = id.clone();
                let ctx_rel_dir = context_relative(context, &rel_dir)
                    .unwrap_or("")
                    .to_string();
                let joined = if target.starts_with('/') {
                    target.trim_start_matches('/').to_string()
                } else {
                    format!("{ctx_rel_dir}/{target}")
                };
                // resolve within the context
                let mut parts: Vec<&str> = Vec::new();
                for seg in joined.split('/') {
                    match seg {
                        "" | "." => {}
                        ".." => {
                            if parts.pop().is_none() {
                                return Err(Unfollowed::Outside);
                            }
                        }
                        s => parts.push(s),
                    }
                }
                let rel = parts.join("/");
                cur = if context.is_empty() {
                    rel
                } else if rel.is_empty() {
                    context.to_string()
                } else {
                    format!("{context}/{rel}")
                };
                if seen.contains(&cur) {
                    return Err(Unfollowed::Loop);
                }
                seen.push(cur.clone());
            }
            Lookup::Loaded(_) => return Ok(Some(cur)),
        }
    }
    Err(Unfollowed::Loop)
}

/// The first directory on the way to `path` (root-relative, below the context) that is a
/// symlink, with its target: `COPY x/app/` where `x` is a link. `Ok(None)`: none; `Err(())`:
/// a listing was requested.
fn symlinked_dir(
    listing: &Listing,
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
) -> Result<Option<(String, String)>, ()> {
    let rel = context_relative(context, path).unwrap_or("");
    let mut prefix = context.to_string();
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(c);
        match listing.entry(&prefix) {
            Lookup::Missing => {
                ctx.needs.request(side, &prefix, false);
                return Err(());
            }
            Lookup::Loaded(Some(Entry {
                kind: EntryKind::Symlink,
                id,
                ..
            })) => return Ok(Some((prefix, id.clone()))),
            Lookup::Loaded(_) => {}
        }
    }
    Ok(None)
}

/// Why a COPY source goes wrong: the build fails there (BuildKit says "not found"), or the
/// prediction cannot see through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    pub fails: bool,
    pub message: String,
}

/// Why a context source of the head build cannot be copied, if it cannot (BuildKit fails the
/// build with "not found" in these cases), or cannot be predicted (a symlinked directory on its
/// way to a directory of the context: BuildKit follows it, the prediction does not).
pub fn source_problem(
    ctx: &Ctx<'_>,
    context: &str,
    path: &str,
    ignore: &IgnoreInfo,
) -> Option<SourceProblem> {
    let fails = |message: String| {
        Some(SourceProblem {
            fails: true,
            message,
        })
    };
    let shown = context_relative(context, path).unwrap_or(path);
    let shown = if shown.is_empty() { "." } else { shown };
    let resolved = match follow(ctx.head_tree, ctx, Side::Head, context, path) {
        Err(Unfollowed::Outside) => {
            return fails(format!(
                "{shown} is a symlink that points outside the build context; it is never followed out of it"
            ));
        }
        Err(Unfollowed::Loop) => {
            return fails(format!(
                "{shown} is a symlink loop (its links lead back to themselves); BuildKit stops with too many links"
            ));
        }
        Ok(None) => return None,
        Ok(Some(r)) => r,
    };
    match ctx.head_tree.exists(&resolved) {
        Lookup::Missing => {
            ctx.needs.request(Side::Head, &resolved, false);
            None
        }
        Lookup::Loaded(false) => {
            // a directory on the way may be a symlink: say what it is, never follow it out
            let (link, target) =
                match symlinked_dir(ctx.head_tree, ctx, Side::Head, context, &resolved) {
                    Err(()) => return None,
                    Ok(None) => {
                        return fails(format!("{shown} does not exist in the build context"));
                    }
                    Ok(Some(l)) => l,
                };
            let link_shown = context_relative(context, &link)
                .unwrap_or(&link)
                .to_string();
            let rest = &resolved[link.len()..];
            let into = match follow(ctx.head_tree, ctx, Side::Head, context, &link) {
                Err(Unfollowed::Outside) => {
                    return fails(format!(
                        "{shown} goes through {link_shown}, a symlink to {target} outside the build context; it is never followed out of it"
                    ));
                }
                Err(Unfollowed::Loop) => {
                    return fails(format!(
                        "{shown} goes through {link_shown}, a symlink loop (its links lead back to themselves); BuildKit stops with too many links"
                    ));
                }
                Ok(None) => return None,
                Ok(Some(t)) => format!("{t}{rest}"),
            };
            let inside = context_relative(context, &into)
                .unwrap_or(&into)
                .to_string();
            match ctx.head_tree.exists(&into) {
                Lookup::Missing => {
                    ctx.needs.request(Side::Head, &into, false);
                    None
                }
                Lookup::Loaded(false) => fails(format!(
                    "{shown} goes through {link_shown}, a symlink to {target}, which BuildKit resolves inside the build context, to {inside}: nothing is there"
                )),
                Lookup::Loaded(true) => Some(SourceProblem {
                    fails: false,
                    message: format!(
                        "{shown} goes through {link_shown}, a symlink to {target}: BuildKit copies {inside} through it, but cachebust does not follow a symlinked directory, so changes there are not seen in this step"
                    ),
                }),
            }
        }
        Lookup::Loaded(true) => {
            let rel = context_relative(context, &resolved)?;
            if rel.is_empty() {
                return None;
            }
            let m = ignore.matcher.as_ref()?;
            let is_dir = matches!(
                ctx.head_tree.entry(&resolved),
                Lookup::Loaded(Some(Entry {
                    kind: EntryKind::Dir,
                    ..
                })) | Lookup::Loaded(None)
            );
            let gone = if is_dir {
                m.dir_pruned(rel).unwrap_or(false)
            } else {
                m.walk_excluded(rel).unwrap_or(false)
            };
            gone.then(|| {
                format!(
                    "{shown} is excluded by {}",
                    ignore.file.as_deref().unwrap_or(".dockerignore")
                )
            })
            .and_then(fails)
        }
    }
}

type Selection = Vec<(String, EntryKind, u32, String)>;

/// The files a context source selects on one side: (name relative to the source, kind, mode, id).
fn select(
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
    exclude: &[String],
) -> Option<Selection> {
    let listing = match side {
        Side::Head => ctx.head_tree,
        Side::Base => ctx.base_tree,
    };
    let mut out = select_all(listing, ctx, side, context, path, wildcard, ignore)?;
    if !exclude.is_empty() {
        let prefix = if wildcard { wildcard_base(path) } else { path };
        out.retain(|(name, ..)| {
            let full = if wildcard || prefix.is_empty() {
                name.clone()
            } else if name.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            !excluded_by_copy(exclude, path, wildcard, &full)
        });
    }
    Some(out)
}

fn select_all(
    listing: &Listing,
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
) -> Option<Selection> {
    let mut out = Vec::new();
    if wildcard {
        let base = wildcard_base(path);
        let Lookup::Loaded(entries) = listing.under(base) else {
            ctx.needs.request(side, base, true);
            return None;
        };
        for (p, e) in entries {
            if e.kind == EntryKind::Dir
                || !wildcard_selects(path, p)
                || excluded(ignore, context, p)
            {
                continue;
            }
            out.push((p.to_string(), e.kind, e.mode, e.id.clone()));
        }
        return Some(out);
    }
    let resolved = match follow(listing, ctx, side, context, path) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(_) => return Some(out),
    };
    match listing.entry(&resolved) {
        Lookup::Missing => {
            ctx.needs.request(side, &resolved, false);
            return None;
        }
        Lookup::Loaded(Some(e)) if e.kind != EntryKind::Dir => {
            if !excluded(ignore, context, &resolved) {
                out.push((String::new(), e.kind, e.mode, e.id.clone()));
            }
            return Some(out);
        }
        _ => {}
    }
    let Lookup::Loaded(entries) = listing.under(&resolved) else {
        ctx.needs.request(side, &resolved, true);
        return None;
    };
    let skip = resolved.len() + usize::from(!resolved.is_empty());
    for (p, e) in entries {
        if excluded(ignore, context, p) {
            continue;
        }
        out.push((p[skip..].to_string(), e.kind, e.mode, e.id.clone()));
    }
    Some(out)
}

impl Comparison<'_> {
    /// A build-context source: from the change set when source and ignore rules are the same on
    /// both sides, else by comparing what each side selects.
    fn context(
        &self,
        (hp, hw): (&String, bool),
        (bp, bw): (&String, bool),
        exclude: &[String],
        line: u32,
    ) -> Cmp {
        let (ctx, build, head, base) = (self.ctx, self.build, self.head, self.base);
        let context = build.context.as_str();
        let same_ignore = head.ignore.patterns == base.ignore.patterns
            && head.ignore.matcher.is_some() == base.ignore.matcher.is_some();
        if hp == bp && hw == bw && same_ignore {
            let mut plain = true;
            if !hw {
                let h = follow(ctx.head_tree, ctx, Side::Head, context, hp);
                let b = follow(ctx.base_tree, ctx, Side::Base, context, bp);
                match (h, b) {
                    (Ok(Some(h)), Ok(Some(b))) => plain = h == *hp && b == *bp,
                    (Ok(None), _) | (_, Ok(None)) => {
                        // listing requested; answer again once loaded
                        return Cmp::Same {
                            confidence: Confidence::Exact,
                            notes: Vec::new(),
                        };
                    }
                    _ => plain = false,
                }
            }
            if plain {
                let mut changed = relevant_changes(ctx, context, hp, hw, &head.ignore, None);
                changed.retain(|p| !excluded_by_copy(exclude, hp, hw, p));
                if changed.is_empty() {
                    return Cmp::Same {
                        confidence: Confidence::Exact,
                        notes: Vec::new(),
                    };
                }
                return differs(Cause::Files {
                    line,
                    paths: Paths::new(changed),
                });
            }
        }
        // Slow path: compare what each side selects.
        let h = select(ctx, Side::Head, context, hp, hw, &head.ignore, exclude);
        let b = select(ctx, Side::Base, context, bp, bw, &base.ignore, exclude);
        let (Some(mut h), Some(mut b)) = (h, b) else {
            return Cmp::Same {
                confidence: Confidence::Exact,
                notes: Vec::new(),
            };
        };
        h.sort();
        b.sort();
        if h == b {
            return Cmp::Same {
                confidence: Confidence::Exact,
                notes: Vec::new(),
            };
        }
        if hp != bp || hw != bw {
            return differs(text_changed(line));
        }
        let prefix = |rel: &str| -> String {
            if hw || rel.is_empty() {
                if rel.is_empty() {
                    hp.clone()
                } else {
                    rel.to_string()
                }
            } else if hp.is_empty() {
                rel.to_string()
            } else {
                format!("{hp}/{rel}")
            }
        };
        // Paths whose membership changed because of the ignore file, and paths whose content changed.
        let hn: std::collections::BTreeMap<&str, _> = h.iter().map(|x| (x.0.as_str(), x)).collect();
        let bn: std::collections::BTreeMap<&str, _> = b.iter().map(|x| (x.0.as_str(), x)).collect();
        let mut membership = Vec::new();
        let mut content = Vec::new();
        for (k, v) in &hn {
            match bn.get(k) {
                None => membership.push(prefix(k)),
                Some(bv) if bv != v => content.push(prefix(k)),
                _ => {}
            }
        }
        for k in bn.keys() {
            if !hn.contains_key(k) {
                membership.push(prefix(k));
            }
        }
        let ignore_changed = !same_ignore;
        let ignore_file_copied = head
            .ignore
            .file
            .as_ref()
            .is_some_and(|f| content.contains(f) || membership.contains(f));
        if ignore_changed && (!membership.is_empty() || ignore_file_copied) {
            let mut paths = membership;
            paths.extend(content);
            return differs(Cause::Dockerignore {
                line,
                file: head.ignore.file.clone().or(base.ignore.file.clone()),
                paths: Paths::new(paths),
            });
        }
        let mut paths = content;
        paths.extend(membership);
        differs(Cause::Files {
            line,
            paths: Paths::new(paths),
        })
    }
}

/// Whether a step may write `path` (absolute, in the stage file system).
fn writes(v: &Vertex, path: &str) -> bool {
    match &v.op {
        Op::Image { .. } => true,
        Op::Copy { dest, .. } => {
            let d = dest.trim_end_matches('/');
            let d = if d.is_empty() { "/" } else { d };
            overlaps(d, path)
        }
        Op::Mkdir { path: p, .. } => p == path,
        Op::Exec { cwd, .. } => run_may_write(&v.detail.text, cwd, path),
    }
}

fn overlaps(a: &str, b: &str) -> bool {
    a == "/"
        || b == "/"
        || a == b
        || b.starts_with(&format!("{a}/"))
        || a.starts_with(&format!("{b}/"))
}

/// Heuristic: a RUN writes `path` if it names the path or its parent directory, or runs in a
/// known working directory that contains the path. Documented in the README.
pub fn run_may_write(text: &str, cwd: &str, path: &str) -> bool {
    if path == "/" {
        return true;
    }
    if text.contains(path) {
        return true;
    }
    if let Some(i) = path.rfind('/') {
        let parent = &path[..i];
        if !parent.is_empty()
            && parent.matches('/').count() >= 1
            && text.contains(parent)
            && parent != "/usr"
            && parent != "/usr/local"
        {
            return true;
        }
    }
    let known_cwd = !cwd.contains(super::sim::PLACEHOLDER_OPEN);
    if known_cwd {
        let c = cwd.trim_end_matches('/');
        if !c.is_empty() && (path == c || path.starts_with(&format!("{c}/"))) {
            return true;
        }
    }
    installs_into(text, path)
}

/// Whether a RUN installs into system directories that contain or lie in `path`: `make
/// install` and its kin, `pip install`, global npm installs, `go install`, `cargo install`
/// write under `/usr/local` (and `/go`, `/root`); system package managers under `/usr`, `/etc`,
/// `/var`, `/opt`.
fn installs_into(text: &str, path: &str) -> bool {
    let Ok(cmds) = crate::engine::cost::simple_commands(text) else {
        return false;
    };
    let mut prefixes: Vec<&str> = Vec::new();
    for c in &cmds {
        let words: Vec<&str> = c
            .iter()
            .map(String::as_str)
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect();
        let Some(first) = words.first() else { continue };
        let prog = first.rsplit('/').next().unwrap_or(first);
        let has = |x: &str| words.contains(&x);
        let local = match prog {
            "make" | "ninja" | "gmake" => has("install"),
            "cmake" => has("--install") || has("install"),
            "meson" => has("install"),
            "install" => true,
            "pip" | "pip3" => has("install") && !has("--target") && !has("-t"),
            "python" | "python3" => has("pip") && has("install"),
            "npm" | "yarn" | "pnpm" => has("-g") || has("--global") || has("global"),
            "go" => has("install"),
            "cargo" => has("install"),
            "gem" => has("install"),
            _ => false,
        };
        if local {
            prefixes.extend(["/usr/local", "/go/bin", "/root/go/bin", "/root/.local"]);
        }
        let system = match prog {
            "apt-get" | "apt" | "dnf" | "yum" | "microdnf" => has("install"),
            "apk" => has("add"),
            "dpkg" => has("-i"),
            _ => false,
        };
        if system {
            prefixes.extend(["/usr", "/etc", "/var", "/opt", "/lib", "/bin", "/sbin"]);
        }
    }
    prefixes.iter().any(|p| overlaps(p, path))
}

/// Whether the RUN's only effect on the file `path` is an empty marker: every simple command
/// naming the file is `touch` (or `: >` is not used), and one of them names it exactly (by its
/// absolute path, or by its name from the working directory). An empty file with the same mode
/// and owner has the same content checksum each time, so a `COPY --from` of it stays cached
/// however often the RUN re-runs (measured on both engines).
pub fn touches_marker_only(text: &str, cwd: &str, path: &str) -> bool {
    let Ok(cmds) = crate::engine::cost::simple_commands(text) else {
        return false;
    };
    let Some((parent, name)) = path.rsplit_once('/') else {
        return false;
    };
    if name.is_empty() || path.ends_with('/') {
        return false;
    }
    let parent = if parent.is_empty() { "/" } else { parent };
    let in_parent = cwd.trim_end_matches('/') == parent.trim_end_matches('/')
        && !cwd.contains(super::sim::PLACEHOLDER_OPEN);
    let mut named = false;
    for c in &cmds {
        let mentions = c.iter().any(|w| w.contains(name) || w.contains(path));
        if !mentions {
            // a change of directory makes relative names unreliable
            if c.first().is_some_and(|w| w == "cd" || w == "pushd") {
                return false;
            }
            continue;
        }
        if c.first().map(String::as_str) != Some("touch") {
            return false;
        }
        for w in &c[1..] {
            if w.starts_with('-') {
                return false;
            }
            if w == path || (w == name && in_parent) {
                named = true;
            }
        }
    }
    named
}

impl Comparison<'_> {
    /// A `COPY --from` / `--mount from=` source: BuildKit's early cutoff. The copy hits when
    /// the last step of the source stage that may write the path did not re-run (or re-ran
    /// to the same bytes); `line` is the head step's.
    fn stage(&self, src: &StageSource<'_>, line: u32) -> Cmp {
        let head = self.head;
        let Some(hvid) = src.head else {
            return if src.base.is_none() {
                same(Confidence::Exact)
            } else {
                differs(stage_cause(head, src.stage, None, line, Paths::default()))
            };
        };
        if let Res::Hit { base, .. } = &self.res[hvid] {
            if Some(*base) == src.base {
                return same(Confidence::Exact);
            }
        }
        // Find the last step of the source stage (or its ancestors) that may have written the
        // path.
        let mut cur = Some(hvid);
        let mut later_missed_runs: Vec<u32> = Vec::new();
        let mut marker_line: Option<u32> = None;
        while let Some(v) = cur {
            let vx = &head.sim.vertices[v];
            let producer = vx
                .trigger_line
                .unwrap_or_else(|| head.df.instructions[vx.inst].line);
            // an empty marker a RUN touches: the same bytes whatever the RUN did; what counts
            // is an earlier writer of the file, if any
            let marker = matches!(&vx.op, Op::Exec { cwd, .. }
                if touches_marker_only(&vx.detail.text, cwd, src.path));
            if marker {
                marker_line.get_or_insert(producer);
            } else if writes(vx, src.path) {
                return match &self.res[v] {
                    Res::Hit { .. } | Res::Unused => kept(
                        head.sim.stages[src.stage].info.display_name(),
                        producer,
                        later_missed_runs.first().copied(),
                        src.path,
                    ),
                    Res::Miss { cause, .. } => self.producer_missed(src, vx, cause, producer, line),
                };
            } else if matches!(vx.op, Op::Exec { .. }) && matches!(self.res[v], Res::Miss { .. }) {
                later_missed_runs.insert(0, producer);
            }
            cur = vx.parent;
        }
        // Nothing in the stage writes the path: it is empty on both sides (or the empty marker
        // a RUN touches).
        Cmp::Same {
            confidence: Confidence::Exact,
            notes: vec![Note::EarlyCutoff {
                stage: head.sim.stages[src.stage].info.display_name(),
                producer_line: marker_line,
            }],
        }
    }

    /// The step `vx` (at `producer`) that writes the copied path re-runs, for `miss`: do the
    /// copied bytes change?
    fn producer_missed(
        &self,
        src: &StageSource<'_>,
        vx: &Vertex,
        miss: &Cause,
        producer: u32,
        line: u32,
    ) -> Cmp {
        let (ctx, head) = (self.ctx, self.head);
        let stage = head.sim.stages[src.stage].info.display_name();
        let cause = |paths| stage_cause(head, src.stage, Some(producer), line, paths);
        let early_cutoff = || Cmp::Same {
            confidence: Confidence::Exact,
            notes: vec![Note::EarlyCutoff {
                stage: stage.clone(),
                producer_line: Some(producer),
            }],
        };
        let may_stay_cached = |cause| Cmp::Differs {
            cause,
            confidence: Confidence::Likely,
            notes: vec![Note::MayStayCached {
                stage: stage.clone(),
                producer_line: producer,
            }],
        };
        match &vx.op {
            Op::Mkdir { .. } => early_cutoff(),
            // Docker 20.10 does not hash owners: the same files with another --chown give the
            // same content checksum
            Op::Copy { .. }
                if ctx.engine == crate::engine::EngineKind::Docker2010
                    && owner_only_change(ctx, self.build, head, self.base, vx) =>
            {
                early_cutoff()
            }
            Op::Copy { .. }
                if !matches!(
                    miss.kind(),
                    CauseKind::Follows | CauseKind::Files | CauseKind::Dockerignore
                ) =>
            {
                differs(cause(miss.paths().cloned().unwrap_or_default()))
            }
            Op::Copy { .. } => match own_input_changes(ctx, self.build, head, vx) {
                None => may_stay_cached(cause(Paths::default())),
                Some(paths) if paths.is_empty() => early_cutoff(),
                Some(paths) => differs(cause(Paths::new(paths))),
            },
            Op::Image { .. } => differs(cause(Paths::default())),
            Op::Exec { .. } => may_stay_cached(cause(Paths::default())),
        }
    }
}

/// The copied path's producer at `producer` did not re-run: BuildKit finds the same bytes
/// (likely only, when a later RUN that re-runs might rewrite it).
fn kept(stage: String, producer: u32, later_run: Option<u32>, path: &str) -> Cmp {
    let mut notes = vec![Note::EarlyCutoff {
        stage,
        producer_line: Some(producer),
    }];
    let mut confidence = Confidence::Exact;
    if let Some(r) = later_run {
        notes.push(Note::AssumesRunKeepsPath {
            run_line: r,
            path: path.to_string(),
        });
        confidence = Confidence::Likely;
    }
    Cmp::Same { confidence, notes }
}

fn stage_cause(
    head: &SideSim,
    stage: usize,
    producer_line: Option<u32>,
    line: u32,
    paths: Paths,
) -> Cause {
    Cause::CopyFrom {
        line,
        stage: head.sim.stages[stage].info.display_name(),
        producer_line,
        paths,
    }
}

/// Whether the base build has a copy equal to `v` but for `--chown`, reading the same context
/// sources, none of whose files changed: its output differs from the base's in owners only.
fn owner_only_change(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    base: &SideSim,
    v: &Vertex,
) -> bool {
    let Op::Copy {
        names,
        dest,
        chmod,
        flags,
        source,
        ..
    } = &v.op
    else {
        return false;
    };
    if own_input_changes(ctx, build, head, v).is_none_or(|c| !c.is_empty())
        || head.ignore.patterns != base.ignore.patterns
    {
        return false;
    }
    base.sim.vertices.iter().any(|b| {
        matches!(&b.op, Op::Copy {
            names: bn,
            dest: bd,
            chmod: bc,
            flags: bf,
            source: bs,
            ..
        } if bn == names && bd == dest && bc == chmod && bf == flags && bs == source)
            && b.inputs == v.inputs
            && b.exclude == v.exclude
    })
}

/// Changed files among a COPY's own context inputs (`Some(vec![])`: none changed; `None`: the
/// copy reads from another stage, whose output is not known).
fn own_input_changes(
    ctx: &Ctx<'_>,
    build: &BuildInput,
    head: &SideSim,
    v: &Vertex,
) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for i in &v.inputs {
        match i {
            Input::Context { path, wildcard } => out.extend(
                relevant_changes(ctx, &build.context, path, *wildcard, &head.ignore, None)
                    .into_iter()
                    .filter(|p| !excluded_by_copy(&v.exclude, path, *wildcard, p)),
            ),
            Input::Inline { .. } | Input::Image { .. } | Input::Remote { .. } => {}
            Input::Stage { .. } => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_write_heuristic() {
        assert!(run_may_write(
            "go build -o /out/app ./cmd",
            "/src",
            "/out/app"
        ));
        assert!(run_may_write("npm run build", "/app", "/app/dist"));
        assert!(!run_may_write("echo hi > /other", "/", "/static"));
        assert!(!run_may_write(
            "apk add curl",
            "\u{E000}image workdir\u{E001}",
            "/static"
        ));
        // installs write into the system prefixes (issue 14: `make install` into /usr/local)
        assert!(run_may_write("make && make install", "/src", "/usr/local"));
        assert!(run_may_write(
            "pip install -r r.txt",
            "/app",
            "/usr/local/lib"
        ));
        assert!(!run_may_write("make", "/src", "/usr/local"));
        assert!(run_may_write("apt-get install -y curl", "/", "/usr/bin"));
    }

    #[test]
    fn empty_markers() {
        assert!(touches_marker_only(
            "go test ./... && touch /tmp/tests-passed",
            "/src",
            "/tmp/tests-passed"
        ));
        assert!(touches_marker_only(
            "make check && touch ok",
            "/tmp",
            "/tmp/ok"
        ));
        assert!(!touches_marker_only(
            "make check && touch ok",
            "/src",
            "/tmp/ok"
        ));
        assert!(!touches_marker_only(
            "echo done > /tmp/tests-passed",
            "/",
            "/tmp/tests-passed"
        ));
        assert!(!touches_marker_only(
            "touch /tmp/tests-passed && date >> /tmp/tests-passed",
            "/",
            "/tmp/tests-passed"
        ));
        assert!(!touches_marker_only("touch /tmp/x", "/", "/tmp/"));
    }

    #[test]
    fn wildcard_prefix() {
        assert_eq!(wildcard_base("src/*.json"), "src");
        assert_eq!(wildcard_base("*.json"), "");
        assert_eq!(wildcard_base("a/b/c*"), "a/b");
        assert!(wildcard_selects("src/*.json", "src/a.json"));
        assert!(wildcard_selects("pkg*", "pkg1/sub/file"));
        assert!(!wildcard_selects("src/*.json", "src/sub/a.json"));
    }
}
