//! The audit use-cases: `check` runs the rule catalog over whole Dockerfiles of one tree (no
//! change: every finding is reported), and `fix` applies the fixes of a chosen applicability
//! until none is left (ruff's loop), over an in-memory overlay of the tree, so nothing is
//! written until the caller decides. A Dockerfile a fix would leave unparsable keeps its text.

use std::collections::{BTreeMap, BTreeSet};

use super::analyze::{AnalyzeError, AnalyzeOptions, analyze};
use crate::engine::FileText;
use crate::engine::fix::{self, Applicability};
use crate::engine::report::Report;
use crate::engine::tree::{ChangeSet, Listing, Side};
use crate::ports::{Listed, RepoSource, SourceError};

/// Audit every Dockerfile of the tree (or those named in `opts`): base and head are the same tree.
pub async fn check<R: RepoSource>(repo: &R, opts: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    let mut o = opts.clone();
    o.report_all = true;
    analyze(repo, &o).await
}

/// The root-relative Dockerfiles `paths` name: each a Dockerfile (any name), or a directory
/// whose Dockerfiles are taken as discovery takes them: not those in a directory below it that
/// discovery skips (`skip`: vendored trees, test fixtures and demos) and no Windows Dockerfile,
/// unless the directory named holds no other Dockerfile. Empty `paths`: empty (discover the
/// whole tree).
pub async fn resolve<R: RepoSource>(
    repo: &R,
    paths: &[String],
    skip: &[String],
) -> Result<Vec<String>, AnalyzeError> {
    use crate::engine::discover::{is_dockerfile_name, is_windows_dockerfile, under_skipped};
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let found = repo.discover(Side::Head).await?;
    let mut out: Vec<String> = Vec::new();
    for raw in paths {
        let p = super::analyze::clean_rel(raw);
        let is_file = repo
            .read_files(Side::Head, std::slice::from_ref(&p))
            .await?
            .pop()
            .flatten()
            .is_some();
        if is_file {
            out.push(p);
            continue;
        }
        let all: Vec<&String> = found
            .iter()
            .filter(|f| is_dockerfile_name(f))
            .filter(|f| p.is_empty() || f.starts_with(&format!("{p}/")))
            .collect();
        let kept: Vec<&String> = all
            .iter()
            .copied()
            .filter(|f| !under_skipped(f, skip))
            .collect();
        // a directory in a skipped tree, or one whose Dockerfiles all are: the user asked for them
        let mut under = if kept.is_empty() { all } else { kept };
        let texts = repo
            .read_files(
                Side::Head,
                &under.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            )
            .await?;
        let windows: Vec<bool> = under
            .iter()
            .zip(&texts)
            .map(|(f, t)| is_windows_dockerfile(f, t.as_ref().and_then(FileText::text)))
            .collect();
        if windows.iter().any(|w| !w) {
            let mut flags = windows.into_iter();
            under.retain(|_| !flags.next().unwrap_or(false));
        }
        if under.is_empty() {
            return Err(AnalyzeError::Usage(format!(
                "{raw}: no Dockerfile there or under it"
            )));
        }
        out.extend(under.into_iter().cloned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub use crate::engine::fix_outcome::{Applied, FixOutcome, SkipReason, Skipped};

/// The most passes `fix` runs; each applies every applicable fix that does not overlap another.
pub const MAX_PASSES: usize = 10;

/// Apply fixes up to `level` (`Safe`, or `Unsafe` for safe and unsafe) until none applies.
pub async fn fix<R: RepoSource>(
    repo: &R,
    opts: &AnalyzeOptions,
    level: Applicability,
) -> Result<FixOutcome, AnalyzeError> {
    let overlay = Overlay {
        inner: repo,
        files: std::sync::Mutex::new(BTreeMap::new()),
    };
    let mut out = FixOutcome::default();
    let mut originals: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_report = None;
    for pass in 0..MAX_PASSES {
        out.passes = pass + 1;
        let report = check(&overlay, opts).await?;
        // every applicable fix of this pass, in file order
        let mut candidates = Vec::new();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        for df in &report.dockerfiles {
            for (k, v) in &df.sources {
                sources.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for f in &df.findings {
                let Some(x) = &f.fix else { continue };
                let key = format!("{}#{}", df.path, f.fingerprint);
                if x.applicability > level || refused.contains(&key) {
                    continue;
                }
                if times.get(&key).copied().unwrap_or(0) >= 2 {
                    refused.insert(key.clone());
                    out.skipped.push(Skipped {
                        dockerfile: df.path.clone(),
                        line: f.line,
                        code: f.code,
                        reason: SkipReason::NoConvergence,
                    });
                    continue;
                }
                candidates.push((df.path.clone(), f.line, f.code, key, x.clone()));
            }
        }
        let candidates = merge_ignore_appends(candidates, &sources);
        // offsets are those of this pass's texts: apply the chosen fixes together, each only
        // when it overlaps none taken before and leaves every Dockerfile parsable
        let mut taken: Vec<crate::engine::fix::Fix> = Vec::new();
        let mut current = sources.clone();
        for (members, x) in candidates {
            if taken.contains(&x) {
                // a merged fix several findings carry: applied once, for each of them
                record_applied(&mut out, &mut times, members);
                continue;
            }
            let (df, line, code, key, _) = members[0].clone();
            let mut trial: Vec<&crate::engine::fix::Fix> = taken.iter().collect();
            trial.push(&x);
            let (new, applied) = fix::apply(&sources, &trial);
            if applied.len() < trial.len() {
                continue; // overlaps a fix taken this pass: the next pass sees it again
            }
            let mut next = sources.clone();
            next.extend(new);
            if broken(&sources, &next) {
                refused.insert(key);
                out.skipped.push(Skipped {
                    dockerfile: df,
                    line,
                    code,
                    reason: SkipReason::BreaksParse,
                });
                continue;
            }
            current = next;
            record_applied(&mut out, &mut times, members);
            taken.push(x);
        }
        last_report = Some(report);
        if taken.is_empty() {
            break;
        }
        let changed: Vec<(String, String)> = current
            .into_iter()
            .filter(|(path, text)| sources.get(path) != Some(text))
            .collect();
        for (path, _) in &changed {
            if !originals.contains_key(path) {
                let orig = repo
                    .read_files(Side::Head, std::slice::from_ref(path))
                    .await?
                    .pop()
                    .flatten()
                    .and_then(|t| t.text().map(str::to_string));
                originals.insert(path.clone(), orig);
            }
        }
        overlay
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(changed);
    }
    // what is left to do by hand or with --unsafe
    if let Some(report) = &last_report {
        for df in &report.dockerfiles {
            for f in &df.findings {
                let Some(x) = &f.fix else { continue };
                let reason = match x.applicability {
                    a if a <= level => continue,
                    Applicability::Unsafe => SkipReason::Unsafe,
                    _ => SkipReason::DisplayOnly,
                };
                out.skipped.push(Skipped {
                    dockerfile: df.path.clone(),
                    line: f.line,
                    code: f.code,
                    reason,
                });
            }
        }
    }
    let files = overlay
        .files
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    for (path, text) in files {
        let orig = originals.remove(&path).flatten();
        if orig.as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(o) = orig {
            out.before.insert(path.clone(), o);
        }
        out.after.insert(path, text);
    }
    Ok(out)
}

/// A finding a fix comes from: (Dockerfile, line, rule, key of the finding, its fix's
/// description).
type Member = (String, u32, &'static str, String, String);

/// The candidates of a pass with the fixes that only append lines to the end of the same
/// `.dockerignore` merged into one: in a monorepo many builds share the root `.dockerignore`,
/// and their appends, all at the same offset, would otherwise overlap and go in one per pass
/// (never converging within the passes, each repeating its header). The merged text keeps
/// each line once, in the order the findings came. Other fixes stay as they are.
fn merge_ignore_appends(
    candidates: Vec<(String, u32, &'static str, String, fix::Fix)>,
    sources: &BTreeMap<String, String>,
) -> Vec<(Vec<Member>, fix::Fix)> {
    let mut out: Vec<(Vec<Member>, fix::Fix)> = Vec::new();
    // file → index in `out` of its merged append, and the lines it holds
    let mut merged: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (df, line, code, key, x) in candidates {
        let append = match x.edits.as_slice() {
            [e] if e.file.ends_with(".dockerignore")
                && e.range.is_empty()
                && e.range.start == sources.get(&e.file).map_or(0, String::len) =>
            {
                Some(e.file.clone())
            }
            _ => None,
        };
        let member = (df, line, code, key, x.description.clone());
        let Some(file) = append else {
            out.push((vec![member], x));
            continue;
        };
        match merged.get_mut(&file) {
            None => {
                let lines = x.edits[0]
                    .content
                    .split_inclusive('\n')
                    .map(str::to_string)
                    .collect();
                merged.insert(file, (out.len(), lines));
                out.push((vec![member], x));
            }
            Some((i, seen)) => {
                let (members, m) = &mut out[*i];
                members.push(member);
                for l in x.edits[0].content.split_inclusive('\n') {
                    if seen.insert(l.to_string()) {
                        m.edits[0].content.push_str(l);
                    }
                }
            }
        }
    }
    out
}

/// Record a fix as applied for each finding that carries it (and count the times each was).
fn record_applied(out: &mut FixOutcome, times: &mut BTreeMap<String, usize>, members: Vec<Member>) {
    for (df, line, code, key, description) in members {
        *times.entry(key).or_default() += 1;
        out.applied.push(Applied {
            dockerfile: df,
            line,
            code,
            description,
        });
    }
}

/// Whether an edited Dockerfile that parsed before no longer does.
fn broken(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> bool {
    after.iter().any(|(path, text)| {
        if path.ends_with(".dockerignore") || before.get(path) == Some(text) {
            return false;
        }
        let was_ok = before
            .get(path)
            .is_none_or(|t| crate::engine::dockerfile::parse(t).ok);
        was_ok && !crate::engine::dockerfile::parse(text).ok
    })
}

/// A `RepoSource` with some head files replaced (base and head are the same tree in `check`).
struct Overlay<'a, R> {
    inner: &'a R,
    files: std::sync::Mutex<BTreeMap<String, String>>,
}

impl<R: RepoSource> RepoSource for Overlay<'_, R> {
    fn label(&self, side: Side) -> String {
        self.inner.label(side)
    }
    async fn changes(&self) -> Result<ChangeSet, SourceError> {
        self.inner.changes().await
    }
    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError> {
        self.inner.discover(side).await
    }
    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError> {
        self.inner.children(side, dir).await
    }
    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError> {
        let mut out = self.inner.read_files(side, paths).await?;
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for (p, o) in paths.iter().zip(out.iter_mut()) {
            if let Some(t) = files.get(p) {
                *o = Some(FileText::Text(t.clone()));
            }
        }
        Ok(out)
    }
    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError> {
        self.inner.list(side, requests).await
    }
    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        self.inner.complete_listings()
    }
}
