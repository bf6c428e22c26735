//! Content-hashed inputs: do the bytes a COPY/ADD or bind mount reads differ between the base
//! and the head build? For build-context sources this is decided from the change set when the
//! source and the ignore rules are the same on both sides (fast, proportional to the change),
//! otherwise by comparing the selected files of both listings. For `COPY --from=<stage>` it is
//! BuildKit's early cutoff: the copy hits when the selected files are byte-identical, which is
//! known when they were produced by steps that did not re-run, and only likely otherwise.

use super::sim::{Input, Op, Vertex};
use super::writes::{Writes, step_writes, touches_marker_only};
use super::{Ctx, IgnoreInfo, Res, SideSim};
use crate::engine::glob::{contains_wildcards, path_match};
use crate::engine::input::BuildInput;
use crate::engine::memo::{Selection, SourceKey};
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
pub fn excluded_by_copy(
    memo: &crate::engine::memo::Memo,
    exclude: &[String],
    source: &str,
    wildcard: bool,
    path: &str,
) -> bool {
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
    crate::engine::ignore::Matcher::new_in(memo, exclude, crate::engine::ignore::Flavor::Current)
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
    ctx.memo
        .relevant(ctx.changes, (ctx.base_tree, ctx.head_tree), key, || {
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
        // a submodule moved to another commit is the same empty directory to BuildKit
        .filter(|c| c.kind != crate::engine::tree::ChangeKind::SubmoduleMoved)
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
                cur = link_target(context, &cur, id)?;
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

/// Where the symlink at `link` (root-relative) with target `target` leads, resolved within the
/// context (root-relative); `Err(Outside)` when it climbs out of the context.
fn link_target(context: &str, link: &str, target: &str) -> Result<String, Unfollowed> {
    let rel_dir = match link.rfind('/') {
        Some(i) => link[..i].to_string(),
        None => String::new(),
    };
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
    Ok(if context.is_empty() {
        rel
    } else if rel.is_empty() {
        context.to_string()
    } else {
        format!("{context}/{rel}")
    })
}

/// What stands on the way to a path: a symlinked directory (with its target) or a git
/// submodule (a gitlink: a checkout without submodules leaves it an empty directory).
enum OnTheWay {
    Symlink(String, String),
    Submodule(String),
}

/// The first directory on the way to `path` (root-relative, below the context) that is a
/// symlink or a submodule: `COPY x/app/` where `x` is a link. `Ok(None)`: none; `Err(())`: a
/// listing was requested.
fn symlinked_dir(
    listing: &Listing,
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
) -> Result<Option<OnTheWay>, ()> {
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
            })) => return Ok(Some(OnTheWay::Symlink(prefix, id.clone()))),
            Lookup::Loaded(Some(Entry {
                kind: EntryKind::Submodule,
                ..
            })) => return Ok(Some(OnTheWay::Submodule(prefix))),
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
    // a path with a variable that has no value here: which file it names is not known (the
    // step says so in its notes), so nothing can be said about its existence
    if path.contains(super::sim::PLACEHOLDER_OPEN) {
        return None;
    }
    let shown = context_relative(context, path).unwrap_or(path);
    let shown = if shown.is_empty() { "." } else { shown };
    let said = Unfollowable {
        outside: format!("{shown} is a symlink that points"),
        looped: format!("{shown} is"),
    };
    let resolved = match follow_head(ctx, context, path, said) {
        Ok(r) => r,
        Err(problem) => return problem,
    };
    match ctx.head_tree.exists(&resolved) {
        Lookup::Missing => {
            ctx.needs.request(Side::Head, &resolved, false);
            None
        }
        Lookup::Loaded(false) => missing_source(ctx, context, &resolved, shown),
        Lookup::Loaded(true) => ignored_source(ctx, context, &resolved, shown, ignore),
    }
}

/// How a source problem names a symlink that cannot be followed: the words before
/// `outside the build context` and before `a symlink loop`.
struct Unfollowable {
    outside: String,
    looped: String,
}

/// Follow the head's symlink at `path`: where it leads, or `Err` with what the source problem
/// is: a failure (in the words `said` gives) when it cannot be followed, or `None` when a
/// listing was requested.
fn follow_head(
    ctx: &Ctx<'_>,
    context: &str,
    path: &str,
    said: Unfollowable,
) -> Result<String, Option<SourceProblem>> {
    match follow(ctx.head_tree, ctx, Side::Head, context, path) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(None),
        Err(Unfollowed::Outside) => Err(fails(format!(
            "{} outside the build context; it is never followed out of it",
            said.outside
        ))),
        Err(Unfollowed::Loop) => Err(fails(format!(
            "{} a symlink loop (its links lead back to themselves); BuildKit stops with too many links",
            said.looped
        ))),
    }
}

/// A failing source problem saying `message`.
fn fails(message: String) -> Option<SourceProblem> {
    Some(SourceProblem {
        fails: true,
        message,
    })
}

/// A head source (`shown` as written, `resolved` after its own links) that is not there: a
/// directory on the way may be a symlink or a submodule; say what it is, never follow it out.
fn missing_source(
    ctx: &Ctx<'_>,
    context: &str,
    resolved: &str,
    shown: &str,
) -> Option<SourceProblem> {
    let (link, target) = match symlinked_dir(ctx.head_tree, ctx, Side::Head, context, resolved) {
        Err(()) => return None,
        Ok(None) => {
            return fails(format!("{shown} does not exist in the build context"));
        }
        Ok(Some(OnTheWay::Submodule(m))) => {
            let m = context_relative(context, &m).unwrap_or(&m);
            return fails(format!(
                "{shown} does not exist in the build context: it is inside the git submodule {m}, which a checkout without submodules leaves an empty directory"
            ));
        }
        Ok(Some(OnTheWay::Symlink(l, t))) => (l, t),
    };
    through_link(ctx, context, resolved, shown, &link, &target)
}

/// A head source whose way goes through the symlinked directory `link` (to `target`): where
/// BuildKit takes it, and whether anything is there.
fn through_link(
    ctx: &Ctx<'_>,
    context: &str,
    resolved: &str,
    shown: &str,
    link: &str,
    target: &str,
) -> Option<SourceProblem> {
    let link_shown = context_relative(context, link).unwrap_or(link).to_string();
    let rest = &resolved[link.len()..];
    let said = Unfollowable {
        outside: format!("{shown} goes through {link_shown}, a symlink to {target}"),
        looped: format!("{shown} goes through {link_shown},"),
    };
    let into = match follow_head(ctx, context, link, said) {
        Ok(t) => format!("{t}{rest}"),
        Err(problem) => return problem,
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

/// A head source that is there (`resolved`, below the context) but excluded by the ignore file.
fn ignored_source(
    ctx: &Ctx<'_>,
    context: &str,
    resolved: &str,
    shown: &str,
    ignore: &IgnoreInfo,
) -> Option<SourceProblem> {
    let rel = context_relative(context, resolved)?;
    if rel.is_empty() {
        return None;
    }
    let m = ignore.matcher.as_ref()?;
    let is_dir = matches!(
        ctx.head_tree.entry(resolved),
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

/// The files a context source selects on one side: (name relative to the source, kind, mode,
/// id), sorted, answered once per listing and source in an analysis (`memo::Shared::selected`).
fn select(
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
    exclude: &[String],
) -> Option<std::rc::Rc<Selection>> {
    let listing = match side {
        Side::Head => ctx.head_tree,
        Side::Base => ctx.base_tree,
    };
    let key = source_key(context, path, wildcard, ignore);
    ctx.memo.selected(listing, key, exclude, || {
        select_uncached(listing, ctx, side, context, path, wildcard, ignore, exclude)
    })
}

#[allow(clippy::too_many_arguments)]
fn select_uncached(
    listing: &Listing,
    ctx: &Ctx<'_>,
    side: Side,
    context: &str,
    path: &str,
    wildcard: bool,
    ignore: &IgnoreInfo,
    exclude: &[String],
) -> Option<Selection> {
    let mut out = select_all(listing, ctx, side, context, path, wildcard, ignore)?;
    // a git submodule is an empty directory (a checkout without submodules): its commit is not
    // what BuildKit copies
    for x in out.iter_mut().filter(|x| x.1 == EntryKind::Submodule) {
        x.3.clear();
    }
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
            !excluded_by_copy(ctx.kept, exclude, path, wildcard, &full)
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
                changed.retain(|p| !excluded_by_copy(ctx.kept, exclude, hp, hw, p));
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
        self.compare_selections((hp, hw), (bp, bw), exclude, line, same_ignore)
    }

    /// The slow path of `context`: compare what each side selects (a source or ignore file that
    /// differs between the sides).
    fn compare_selections(
        &self,
        (hp, hw): (&String, bool),
        (bp, bw): (&String, bool),
        exclude: &[String],
        line: u32,
        same_ignore: bool,
    ) -> Cmp {
        let (ctx, build, head, base) = (self.ctx, self.build, self.head, self.base);
        let context = build.context.as_str();
        // Slow path: compare what each side selects.
        let h = select(ctx, Side::Head, context, hp, hw, &head.ignore, exclude);
        let b = select(ctx, Side::Base, context, bp, bw, &base.ignore, exclude);
        let (Some(h), Some(b)) = (h, b) else {
            return Cmp::Same {
                confidence: Confidence::Exact,
                notes: Vec::new(),
            };
        };
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

impl Comparison<'_> {
    /// A `COPY --from` / `--mount from=` source: BuildKit's early cutoff. The copy hits when
    /// the copied path has the same bytes: every step of the source stage (or its ancestors)
    /// that may write the path either did not re-run or re-ran to the same bytes. `line` is
    /// the head step's. Steps hit as a prefix of the stage (once one misses, every later one
    /// does), so the walk goes back from the stage's last step over the ones that re-run.
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
        // a copied path with a variable that has no value here: which steps wrote it is not
        // known, so a stage that re-ran may have changed it (the step's notes name the variable)
        if src.path.contains(super::sim::PLACEHOLDER_OPEN) {
            return match &self.res[hvid] {
                Res::Miss { .. } => Cmp::Differs {
                    cause: stage_cause(head, src.stage, None, line, Paths::default()),
                    confidence: Confidence::Likely,
                    notes: Vec::new(),
                },
                _ => same(Confidence::Likely),
            };
        }
        let stage = head.sim.stages[src.stage].info.display_name();
        // re-run RUNs that may write the path without saying so (earliest first)
        let mut maybe_runs: Vec<u32> = Vec::new();
        let mut marker_line: Option<u32> = None;
        // the last step that wrote the path and keeps its bytes
        let mut kept_by: Option<u32> = None;
        let mut cur = Some(hvid);
        while let Some(v) = cur {
            let vx = &head.sim.vertices[v];
            cur = vx.parent;
            let producer = vx
                .trigger_line
                .unwrap_or_else(|| head.df.instructions[vx.inst].line);
            let reran = matches!(self.res[v], Res::Miss { .. });
            // an empty marker a RUN touches: the same bytes whatever the RUN did; what counts
            // is an earlier writer of the file, if any
            if matches!(&vx.op, Op::Exec { cwd, .. }
                if touches_marker_only(&vx.detail.text, cwd, src.path))
            {
                marker_line.get_or_insert(producer);
                continue;
            }
            match (step_writes(vx, src.path), &self.res[v]) {
                (Writes::No, _) => {}
                (Writes::Maybe, _) if reran => maybe_runs.insert(0, producer),
                (Writes::Maybe, _) => {}
                // a step that did not re-run, nor any before it: the rest of the path is as the
                // base left it
                (Writes::Yes, Res::Hit { .. } | Res::Unused | Res::Rerun { .. }) => {
                    kept_by.get_or_insert(producer);
                    break;
                }
                (Writes::Yes, Res::Miss { cause, .. }) => {
                    match self.producer_missed(src, vx, cause, producer, line) {
                        // the bytes it wrote changed: a later RUN is unlikely to give the old ones back
                        Some(changed) => return changed,
                        None => {
                            kept_by.get_or_insert(producer);
                        }
                    }
                }
            }
        }
        if let Some(&run_line) = maybe_runs.first() {
            return Cmp::Differs {
                cause: stage_cause(head, src.stage, None, line, Paths::default()),
                confidence: Confidence::Likely,
                notes: vec![Note::RunMayWrite {
                    stage,
                    run_line,
                    path: src.path.to_string(),
                }],
            };
        }
        // nothing that re-ran changed the path (or nothing writes it at all, or only an empty
        // marker a RUN touches)
        Cmp::Same {
            confidence: Confidence::Exact,
            notes: vec![Note::EarlyCutoff {
                stage,
                producer_line: kept_by.or(marker_line),
            }],
        }
    }

    /// The step `vx` (at `producer`) that writes the copied path re-runs, for `miss`: `None`
    /// when it writes the same bytes again (BuildKit's early cutoff looks further back),
    /// otherwise how the copy differs.
    fn producer_missed(
        &self,
        src: &StageSource<'_>,
        vx: &Vertex,
        miss: &Cause,
        producer: u32,
        line: u32,
    ) -> Option<Cmp> {
        let (ctx, head) = (self.ctx, self.head);
        let stage = head.sim.stages[src.stage].info.display_name();
        let cause = |paths| stage_cause(head, src.stage, Some(producer), line, paths);
        let may_stay_cached = |cause| Cmp::Differs {
            cause,
            confidence: Confidence::Likely,
            notes: vec![Note::MayStayCached {
                stage: stage.clone(),
                producer_line: producer,
            }],
        };
        match &vx.op {
            Op::Mkdir { .. } => None,
            // Docker 20.10 does not hash owners: the same files with another --chown give the
            // same content checksum
            Op::Copy { .. }
                if ctx.engine == crate::engine::input::EngineKind::Docker2010
                    && owner_only_change(ctx, self.build, head, self.base, vx) =>
            {
                None
            }
            Op::Copy { .. }
                if !matches!(
                    miss.kind(),
                    CauseKind::Follows | CauseKind::Files | CauseKind::Dockerignore
                ) =>
            {
                Some(differs(cause(miss.paths().cloned().unwrap_or_default())))
            }
            Op::Copy { .. } => match own_input_changes(ctx, self.build, head, vx) {
                None => Some(may_stay_cached(cause(Paths::default()))),
                Some(paths) if paths.is_empty() => None,
                Some(paths) => Some(differs(cause(Paths::new(paths)))),
            },
            Op::Image { .. } => Some(differs(cause(Paths::default()))),
            Op::Exec { .. } => Some(may_stay_cached(cause(Paths::default()))),
        }
    }
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
                    .filter(|p| !excluded_by_copy(ctx.kept, &v.exclude, path, *wildcard, p)),
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
    fn wildcard_prefix() {
        assert_eq!(wildcard_base("src/*.json"), "src");
        assert_eq!(wildcard_base("*.json"), "");
        assert_eq!(wildcard_base("a/b/c*"), "a/b");
        assert!(wildcard_selects("src/*.json", "src/a.json"));
        assert!(wildcard_selects("pkg*", "pkg1/sub/file"));
        assert!(!wildcard_selects("src/*.json", "src/sub/a.json"));
    }
}
