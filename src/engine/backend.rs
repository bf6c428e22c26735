//! CI cache backends as a workflow declares them: the `cache-from` / `cache-to` entries of a
//! `docker/build-push-action` or `docker/bake-action` step (or of a bake target such a step
//! builds), with `no-cache`, `no-cache-filters`, `pull`, `platforms` and the builder driver of
//! the job, and which declared export writes the cache each import reads (`resolve`).
//!
//! A GitHub-hosted runner starts with an empty builder: what it reuses is what the backend
//! holds, as the build that exported it last left it. `mode=min` (the default) exports results
//! only for the layers of the exported image (the target stage and the stages it is built
//! `FROM`) and keys for every step; `mode=max` exports results for every step. Two builds
//! exporting to one place (a gha `scope`, a registry ref, a local directory) replace each
//! other's cache. `type=inline` is `mode=min` inside the image. `type=gha` is the same exporter
//! as the others (ci-cache-and-build-records.md §2).

use serde::{Deserialize, Serialize};

use super::tree::Side;

/// What an export keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Results of the exported image's layers only (keys of every step).
    Min,
    /// Results of every step.
    Max,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Min => "min",
            Mode::Max => "max",
        }
    }
}

/// One `cache-from` or `cache-to` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheEntry {
    /// `gha`, `registry`, `local`, `inline`, `s3`, `azblob`, or what was written.
    pub kind: String,
    /// Where: the gha scope (default `buildkit`), the registry ref, the local directory
    /// (`src` of an import, `dest` of an export), the s3/azblob `name`; the image's tags for
    /// `inline` (filled in by the step).
    pub location: String,
    /// Exports: `mode` (`None`: not written, which is `min`).
    pub mode: Option<Mode>,
    /// Exports: `ignore-error=true`.
    pub ignore_error: bool,
    /// The entry as written.
    pub text: String,
}

impl CacheEntry {
    /// The export's mode (`inline` is always `min`).
    pub fn export_mode(&self) -> Mode {
        if self.kind == "inline" {
            Mode::Min
        } else {
            self.mode.unwrap_or(Mode::Min)
        }
    }

    /// Whether an export writes where this import reads.
    fn feeds(&self, import: &CacheEntry) -> bool {
        let same_kind = self.kind == import.kind
            || (self.kind == "inline" && import.kind == "registry")
            || (self.kind == "registry" && import.kind == "inline");
        same_kind && !import.location.is_empty() && self.location == import.location
    }

    /// `gha (scope buildkit)`, `registry ghcr.io/o/app:cache`, `local /tmp/.buildx-cache`.
    pub fn display(&self) -> String {
        match self.kind.as_str() {
            "builder" => format!("the job's builder after {}", self.location),
            "gha" => format!("gha (scope {})", self.location),
            "inline" => "inline (in the image)".to_string(),
            _ if self.location.is_empty() => self.kind.clone(),
            _ => format!("{} {}", self.kind, self.location),
        }
    }
}

/// Read one `cache-from` / `cache-to` entry: `type=gha,scope=x,mode=max` (CSV, values may be
/// quoted) or a bare image reference, which is `type=registry,ref=…`. `None` for an empty
/// entry or one that names no type buildx knows and no reference.
pub fn parse_entry(text: &str, export: bool) -> Option<CacheEntry> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let fields = csv_fields(t);
    let mut kind: Option<String> = None;
    let mut attrs: Vec<(String, String)> = Vec::new();
    for f in &fields {
        match f.split_once('=') {
            Some((k, v)) => {
                let k = k.trim().to_ascii_lowercase();
                if k == "type" {
                    kind = Some(v.trim().to_ascii_lowercase());
                } else {
                    attrs.push((k, v.trim().to_string()));
                }
            }
            None if fields.len() == 1 => {
                kind = Some("registry".into());
                attrs.push(("ref".into(), f.trim().to_string()));
            }
            None => {}
        }
    }
    let kind = kind.or_else(|| {
        attrs
            .iter()
            .any(|(k, _)| k == "ref")
            .then(|| "registry".into())
    })?;
    let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let location = match kind.as_str() {
        "gha" => get("scope").unwrap_or_else(|| "buildkit".into()),
        "registry" => get("ref").unwrap_or_default(),
        "local" => {
            if export {
                get("dest").unwrap_or_default()
            } else {
                get("src").unwrap_or_default()
            }
        }
        "s3" | "azblob" => {
            let name = get("name").unwrap_or_else(|| "buildkit".into());
            match get("bucket").or_else(|| get("account_url")) {
                Some(b) => format!("{b}/{name}"),
                None => name,
            }
        }
        _ => String::new(),
    };
    let mode = match get("mode").map(|m| m.to_ascii_lowercase()).as_deref() {
        Some("max") => Some(Mode::Max),
        Some("min") => Some(Mode::Min),
        _ => None,
    };
    Some(CacheEntry {
        kind,
        location,
        mode,
        ignore_error: get("ignore-error").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        text: t.to_string(),
    })
}

/// Comma-separated fields, double quotes grouping (`"a,b"` is one field, quotes removed).
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|f| !f.trim().is_empty()).collect()
}

/// How a workflow step runs one build: its cache backends and the options that decide what is
/// reused. Present only for builds a workflow step declares a cache backend (or `no-cache`)
/// for: the step runs on a fresh builder.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CiSetup {
    /// The workflow file, job and step (name, else id, else `step N`) that runs the build.
    pub file: String,
    pub job: String,
    pub step: String,
    /// Line of the step's `uses:`.
    pub line: Option<u32>,
    /// Position of the job among the file's jobs and of the step in the job: exports of one
    /// job happen in this order.
    pub job_index: usize,
    pub step_index: usize,
    pub imports: Vec<CacheEntry>,
    pub exports: Vec<CacheEntry>,
    pub no_cache: bool,
    pub no_cache_filters: Vec<String>,
    pub pull: bool,
    pub platforms: Vec<String>,
    /// The job's `docker/setup-buildx-action` driver (`docker-container` when it has none; `None`
    /// when the job sets up no buildx builder before the step: the `docker` driver).
    pub driver: Option<String>,
    /// The step's image tags (an `inline` export writes there).
    pub tags: Vec<String>,
}

impl CiSetup {
    /// Whether the step declares anything about the cache: only then is the build predicted
    /// for a fresh runner.
    pub fn declares_cache(&self) -> bool {
        !self.imports.is_empty()
            || !self.exports.is_empty()
            || self.no_cache
            || !self.no_cache_filters.is_empty()
    }

    /// The same configuration (where it is declared aside).
    pub fn same_config(&self, o: &CiSetup) -> bool {
        self.imports == o.imports
            && self.exports == o.exports
            && self.no_cache == o.no_cache
            && self.no_cache_filters == o.no_cache_filters
            && self.pull == o.pull
            && self.platforms == o.platforms
    }

    /// `inline` exports write to the step's tags: one entry per tag.
    pub fn effective_exports(&self) -> Vec<CacheEntry> {
        let mut out = Vec::new();
        for e in &self.exports {
            if e.kind == "inline" {
                for t in &self.tags {
                    out.push(CacheEntry {
                        location: t.clone(),
                        ..e.clone()
                    });
                }
            } else {
                out.push(e.clone());
            }
        }
        out
    }
}

/// The setup of a bake target built by a `docker/bake-action` step: the target's cache options
/// from the bake files, then the step's `set` overrides (`*.cache-to=…`, `app.no-cache=true`),
/// with the step's own `no-cache` and `pull` and where the step is.
pub fn bake_setup(
    step: &CiSetup,
    target: &str,
    cache: &super::bake::BakeCache,
    set: &[(String, String, String)],
) -> CiSetup {
    let mut from = cache.cache_from.clone();
    let mut to = cache.cache_to.clone();
    let mut no_cache = cache.no_cache || step.no_cache;
    let mut filters = cache.no_cache_filter.clone();
    let mut pull = cache.pull || step.pull;
    let mut platforms = cache.platforms.clone();
    for (pattern, attr, value) in set {
        if !super::settings::wildcard(pattern, target) {
            continue;
        }
        let values = || -> Vec<String> { value.split(',').map(|v| v.trim().to_string()).collect() };
        match attr.as_str() {
            "cache-from" => from = vec![value.clone()],
            "cache-to" => to = vec![value.clone()],
            "no-cache" => no_cache = value.trim().eq_ignore_ascii_case("true"),
            "no-cache-filter" => filters = values(),
            "pull" => pull = value.trim().eq_ignore_ascii_case("true"),
            "platform" | "platforms" => platforms = values(),
            _ => {}
        }
    }
    CiSetup {
        imports: from.iter().filter_map(|e| parse_entry(e, false)).collect(),
        exports: to.iter().filter_map(|e| parse_entry(e, true)).collect(),
        no_cache,
        no_cache_filters: filters,
        pull,
        platforms,
        ..step.clone()
    }
}

/// Who wrote the cache an import reads, as `resolve` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "writer", rename_all = "snake_case")]
pub enum WriterRef {
    /// The same build's own export, on the previous run (the base revision).
    Own { mode: Mode },
    /// Another declared build (`index` into the list given to `resolve`) wrote it last: on the
    /// previous run (`Side::Base`), or earlier in this run's job (`Side::Head`).
    Other {
        index: usize,
        side: Side,
        mode: Mode,
    },
    /// Nothing the workflows declare exports there (it is written elsewhere): taken as a
    /// complete cache of the base revision.
    Unknown,
    /// The base revision's workflow exports nothing there: the cache is empty on this run.
    Nothing,
}

/// One build as `resolve` sees it: its step on the head side and on the base side.
pub struct Declared<'a> {
    pub head: &'a CiSetup,
    /// The same step on the base side (`None`: the step is new in this change).
    pub base: Option<&'a CiSetup>,
}

/// For each build's imports (in order), who wrote what it reads. An export of the same step
/// that is not imported under the same location but is the step's only local export stands
/// for the `actions/cache` pattern (`dest` moved to `src` after the build).
pub fn resolve(builds: &[Declared<'_>]) -> Vec<Vec<WriterRef>> {
    let exports: Vec<(Vec<CacheEntry>, Option<Vec<CacheEntry>>)> = builds
        .iter()
        .map(|b| {
            (
                b.head.effective_exports(),
                b.base.map(CiSetup::effective_exports),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (i, b) in builds.iter().enumerate() {
        let mut refs = Vec::new();
        for imp in &b.head.imports {
            refs.push(writer_of(builds, &exports, i, imp));
        }
        out.push(refs);
    }
    out
}

fn writer_of(
    builds: &[Declared<'_>],
    exports: &[(Vec<CacheEntry>, Option<Vec<CacheEntry>>)],
    me: usize,
    imp: &CacheEntry,
) -> WriterRef {
    let h = builds[me].head;
    let own_head = exports[me].0.iter().find(|e| e.feeds(imp));
    // the actions/cache pattern: import a local `src`, export the step's only local `dest`
    let own_head = own_head.or_else(|| {
        let locals: Vec<&CacheEntry> = exports[me].0.iter().filter(|e| e.kind == "local").collect();
        (imp.kind == "local" && locals.len() == 1 && !others_write(builds, exports, me, imp))
            .then(|| locals[0])
    });
    // other builds exporting there (by head declaration), in run order
    let others: Vec<(usize, &CacheEntry)> = (0..builds.len())
        .filter(|&j| j != me)
        .filter_map(|j| exports[j].0.iter().find(|e| e.feeds(imp)).map(|e| (j, e)))
        .collect();
    if others.is_empty() {
        return match own_head {
            Some(e) => {
                // the previous run exported with the base's declaration of the step
                let base_export = exports[me].1.as_ref().and_then(|bx| {
                    bx.iter()
                        .find(|x| x.feeds(imp) || (x.kind == e.kind && x.location == e.location))
                });
                match (builds[me].base, base_export) {
                    (_, Some(x)) => WriterRef::Own {
                        mode: x.export_mode(),
                    },
                    (Some(_), None) => WriterRef::Nothing,
                    // a new step: its cache was written by nothing yet
                    (None, None) => WriterRef::Nothing,
                }
            }
            None => WriterRef::Unknown,
        };
    }
    // several writers: the one that ran last before this build. Steps of the same job run in
    // order, so an earlier step of the job wrote it during this run (its head); otherwise the
    // last writer of the previous run (its base) did.
    let same_job = |j: usize| builds[j].head.file == h.file && builds[j].head.job == h.job;
    let before_me: Option<(usize, &CacheEntry)> = others
        .iter()
        .filter(|(j, _)| same_job(*j) && builds[*j].head.step_index < h.step_index)
        .max_by_key(|(j, _)| builds[*j].head.step_index)
        .copied();
    if let Some((j, e)) = before_me {
        return WriterRef::Other {
            index: j,
            side: Side::Head,
            mode: e.export_mode(),
        };
    }
    if own_head.is_some() {
        // this build writes too: on the previous run, whoever ran after it replaced its export
        let after_me = others
            .iter()
            .filter(|(j, _)| !same_job(*j) || builds[*j].head.step_index > h.step_index)
            .max_by_key(|(j, _)| (same_job(*j), builds[*j].head.step_index))
            .copied();
        if let Some((j, e)) = after_me {
            return WriterRef::Other {
                index: j,
                side: Side::Base,
                mode: e.export_mode(),
            };
        }
    }
    let (j, e) = others[others.len() - 1];
    WriterRef::Other {
        index: j,
        side: Side::Base,
        mode: e.export_mode(),
    }
}

/// Builds that run before build `me` in the same job: the job's builder still holds every
/// result they made (in order of the steps).
pub fn earlier_in_job(builds: &[Declared<'_>], me: usize) -> Vec<usize> {
    let h = builds[me].head;
    let mut out: Vec<usize> = (0..builds.len())
        .filter(|&j| {
            j != me
                && builds[j].head.file == h.file
                && builds[j].head.job == h.job
                && builds[j].head.step_index < h.step_index
        })
        .collect();
    out.sort_by_key(|&j| builds[j].head.step_index);
    out
}

fn others_write(
    builds: &[Declared<'_>],
    exports: &[(Vec<CacheEntry>, Option<Vec<CacheEntry>>)],
    me: usize,
    imp: &CacheEntry,
) -> bool {
    (0..builds.len())
        .filter(|&j| j != me)
        .any(|j| exports[j].0.iter().any(|e| e.feeds(imp)))
}

/// A build's cache on a fresh runner, as the engine predicts with it: the step's setup and,
/// per import, who wrote it. `B` is the build a peer is (`input::BuildInput`, which holds its
/// `CiCache`: the input names this type, never the other way round).
#[derive(Debug, Clone)]
pub struct CiCache<B> {
    /// The step on the head side (what this run does).
    pub setup: CiSetup,
    /// The step on the base side (what the previous run exported with), if it existed.
    pub base_setup: Option<CiSetup>,
    /// One per import of `setup`, in order.
    pub sources: Vec<Source>,
    /// Builds that export to a place this build imports (what `resolve` chose among).
    pub peers: Vec<Peer<B>>,
    /// The workflow file's head text (fixes edit it; a fix is measured by reading it again).
    pub workflow_text: Option<String>,
}

/// One import and its writer.
#[derive(Debug, Clone)]
pub struct Source {
    pub entry: CacheEntry,
    pub writer: Writer,
}

/// Who wrote an import (see `WriterRef`), with what the engine needs to simulate it.
#[derive(Debug, Clone)]
pub enum Writer {
    Own { mode: Mode },
    Other { mode: Mode, side: Side, peer: usize },
    Unknown,
    Nothing,
}

/// Another build that exports where this one imports.
#[derive(Debug, Clone)]
pub struct Peer<B> {
    pub head: CiSetup,
    pub base: Option<CiSetup>,
    /// Its build (without a `ci` of its own).
    pub build: Box<B>,
    /// How reports name it (`Dockerfile (target app)`, its workflow step).
    pub label: String,
}

impl<B: Clone> CiCache<B> {
    /// Build the cache of `me` among `peers` (each with its index in the list given to
    /// `resolve`): the writers as `resolve` found them.
    /// `earlier`: builds of the same job that run before this one (their results stay in the
    /// job's builder, as if exported with `mode=max` during this run).
    pub fn new(
        setup: CiSetup,
        base_setup: Option<CiSetup>,
        refs: &[WriterRef],
        earlier: &[usize],
        peers_by_index: &dyn Fn(usize) -> Option<Peer<B>>,
        workflow_text: Option<String>,
    ) -> CiCache<B> {
        let mut peers: Vec<Peer<B>> = Vec::new();
        let mut index_of: Vec<(usize, usize)> = Vec::new();
        let mut sources = Vec::new();
        let builder = CacheEntry {
            kind: "builder".into(),
            location: format!("job {}", setup.job),
            mode: Some(Mode::Max),
            ignore_error: false,
            text: String::new(),
        };
        let imports: Vec<(CacheEntry, WriterRef)> = setup
            .imports
            .iter()
            .cloned()
            .zip(refs.iter().cloned())
            .chain(earlier.iter().map(|&j| {
                (
                    builder.clone(),
                    WriterRef::Other {
                        index: j,
                        side: Side::Head,
                        mode: Mode::Max,
                    },
                )
            }))
            .collect();
        for (entry, r) in &imports {
            let writer = match r {
                WriterRef::Own { mode } => Writer::Own { mode: *mode },
                WriterRef::Unknown => Writer::Unknown,
                WriterRef::Nothing => Writer::Nothing,
                WriterRef::Other { index, side, mode } => {
                    let at = match index_of.iter().find(|(i, _)| i == index) {
                        Some((_, at)) => Some(*at),
                        None => peers_by_index(*index).map(|p| {
                            peers.push(p);
                            index_of.push((*index, peers.len() - 1));
                            peers.len() - 1
                        }),
                    };
                    match at {
                        Some(peer) => Writer::Other {
                            mode: *mode,
                            side: *side,
                            peer,
                        },
                        None => Writer::Unknown,
                    }
                }
            };
            sources.push(Source {
                entry: match (&writer, entry.kind.as_str()) {
                    (Writer::Other { peer, .. }, "builder") => CacheEntry {
                        location: peers[*peer].label.clone(),
                        ..entry.clone()
                    },
                    _ => entry.clone(),
                },
                writer,
            });
        }
        CiCache {
            setup,
            base_setup,
            sources,
            peers,
            workflow_text,
        }
    }

    /// The cache with the step declared as `fixed` on both sides (a fix measured in the steady
    /// state: the previous run exported with it too), writers resolved again among the peers.
    pub fn with_setup(&self, fixed: CiSetup) -> CiCache<B> {
        let mut decls = vec![Declared {
            head: &fixed,
            base: Some(&fixed),
        }];
        for p in &self.peers {
            decls.push(Declared {
                head: &p.head,
                base: p.base.as_ref(),
            });
        }
        let refs = resolve(&decls);
        let earlier = earlier_in_job(&decls, 0);
        let peers = self.peers.clone();
        CiCache::new(
            fixed.clone(),
            Some(fixed),
            &refs[0],
            &earlier,
            &|i| peers.get(i.checked_sub(1)?).cloned(),
            self.workflow_text.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(job: &str, step: usize, from: &[&str], to: &[&str]) -> CiSetup {
        CiSetup {
            file: "w.yml".into(),
            job: job.into(),
            step: format!("step {step}"),
            step_index: step,
            imports: from.iter().filter_map(|e| parse_entry(e, false)).collect(),
            exports: to.iter().filter_map(|e| parse_entry(e, true)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn entries() {
        let e = parse_entry("type=gha,mode=max", true).unwrap();
        assert_eq!(
            (e.kind.as_str(), e.location.as_str(), e.export_mode()),
            ("gha", "buildkit", Mode::Max)
        );
        let e = parse_entry("type=gha", true).unwrap();
        assert_eq!(e.export_mode(), Mode::Min);
        let e = parse_entry("ghcr.io/o/app:cache", false).unwrap();
        assert_eq!(
            (e.kind.as_str(), e.location.as_str()),
            ("registry", "ghcr.io/o/app:cache")
        );
        let e = parse_entry("type=local,dest=/tmp/c,mode=max,ignore-error=true", true).unwrap();
        assert_eq!(e.location, "/tmp/c");
        assert!(e.ignore_error);
        let e = parse_entry("type=local,src=/tmp/c", false).unwrap();
        assert_eq!(e.location, "/tmp/c");
        let e = parse_entry("\"type=registry,ref=r/x:c\",mode=max", true);
        assert!(e.is_some());
        assert_eq!(parse_entry("  ", false), None);
        assert_eq!(parse_entry("mode=max", true), None);
        assert_eq!(
            parse_entry("type=inline", true).unwrap().export_mode(),
            Mode::Min
        );
    }

    #[test]
    fn writers() {
        let own = setup("a", 1, &["type=gha"], &["type=gha,mode=max"]);
        let base_min = setup("a", 1, &["type=gha"], &["type=gha"]);
        // own export, mode from the base's declaration
        let r = resolve(&[Declared {
            head: &own,
            base: Some(&base_min),
        }]);
        assert_eq!(r, vec![vec![WriterRef::Own { mode: Mode::Min }]]);
        // a step new in the change: nothing exported yet
        let r = resolve(&[Declared {
            head: &own,
            base: None,
        }]);
        assert_eq!(r, vec![vec![WriterRef::Nothing]]);
        // written elsewhere
        let reader = setup("a", 1, &["type=registry,ref=r/app:cache"], &[]);
        let r = resolve(&[Declared {
            head: &reader,
            base: Some(&reader),
        }]);
        assert_eq!(r, vec![vec![WriterRef::Unknown]]);
        // actions/cache: src and dest differ
        let moved = setup(
            "a",
            1,
            &["type=local,src=/tmp/.buildx-cache"],
            &["type=local,dest=/tmp/.buildx-cache-new,mode=max"],
        );
        let r = resolve(&[Declared {
            head: &moved,
            base: Some(&moved),
        }]);
        assert_eq!(r, vec![vec![WriterRef::Own { mode: Mode::Max }]]);
    }

    #[test]
    fn a_shared_scope_is_written_by_the_other_build() {
        let a = setup("j", 1, &["type=gha"], &["type=gha,mode=max"]);
        let b = setup("j", 2, &["type=gha"], &["type=gha,mode=max"]);
        let r = resolve(&[
            Declared {
                head: &a,
                base: Some(&a),
            },
            Declared {
                head: &b,
                base: Some(&b),
            },
        ]);
        // a reads what b exported on the previous run; b reads what a exported just before it
        assert_eq!(
            r[0],
            vec![WriterRef::Other {
                index: 1,
                side: Side::Base,
                mode: Mode::Max
            }]
        );
        assert_eq!(
            r[1],
            vec![WriterRef::Other {
                index: 0,
                side: Side::Head,
                mode: Mode::Max
            }]
        );
        // a scope per target: each its own
        let a2 = setup(
            "j",
            1,
            &["type=gha,scope=a"],
            &["type=gha,scope=a,mode=max"],
        );
        let b2 = setup(
            "j",
            2,
            &["type=gha,scope=b"],
            &["type=gha,scope=b,mode=max"],
        );
        let r = resolve(&[
            Declared {
                head: &a2,
                base: Some(&a2),
            },
            Declared {
                head: &b2,
                base: Some(&b2),
            },
        ]);
        assert_eq!(r[0], vec![WriterRef::Own { mode: Mode::Max }]);
        assert_eq!(r[1], vec![WriterRef::Own { mode: Mode::Max }]);
    }
}
