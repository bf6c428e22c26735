//! What a rule sees of one simulated Dockerfile (`RuleContext`), and the signature of the rule
//! catalog's check. The rules (`engine::rules`) read the simulation; the prediction calls the
//! catalog through `Ctx::rules` without importing it, so the arrow points one way only.

use crate::engine::dockerfile::Dockerfile;
use crate::engine::report::Finding;
use crate::engine::settings::Config;
use crate::engine::tree::{Listing, Needs, Side};

use super::IgnoreInfo;
use super::sim::Sim;

/// The rule catalog as the prediction calls it: the rules over one simulated Dockerfile
/// (`engine::rules::check`), and those that read a build's prediction (`engine::rules::check_build`:
/// what each step's cause says about the CI cache).
#[derive(Clone, Copy)]
pub struct Catalog {
    pub dockerfile: fn(&RuleContext<'_>, &Config) -> Vec<Finding>,
    pub build: fn(&BuildRuleContext<'_>, &Config) -> Vec<Finding>,
}

/// What a rule over a predicted build sees: the build as given, its head Dockerfile, and the
/// steps as predicted for this change (each rebuilt step with its cause).
pub struct BuildRuleContext<'a> {
    pub build: &'a crate::engine::input::BuildInput,
    /// The head Dockerfile's text and parse.
    pub text: &'a str,
    pub df: &'a Dockerfile,
    pub report: &'a crate::engine::report::DockerfileReport,
    /// What the caller remembers across calls (the workflow documents a fix re-reads).
    pub kept: &'a crate::engine::memo::Memo,
}

/// What a rule sees.
pub struct RuleContext<'a> {
    /// Root-relative path of the Dockerfile.
    pub path: &'a str,
    pub text: &'a str,
    pub df: &'a Dockerfile,
    pub sim: &'a Sim,
    /// Root-relative build context.
    pub context: &'a str,
    /// The head tree, when known (`None`: rules infer what they can from the Dockerfile).
    pub tree: Option<&'a Listing>,
    pub ignore: &'a IgnoreInfo,
    /// Text of the ignore file in effect, if any.
    pub ignore_text: Option<&'a str>,
    pub needs: &'a Needs,
    /// The `.dockerignore` matcher the engine uses.
    pub flavor: crate::engine::ignore::Flavor,
    /// PR mode: the paths the change touches.
    pub changes: Option<&'a crate::engine::tree::ChangeSet>,
    /// Which side `tree` is (listing requests name it).
    pub side: Side,
    /// PR mode: the answers shared by the builds of one analysis (`None` outside one).
    pub memo: Option<&'a crate::engine::memo::Shared>,
    /// What the caller remembers across calls (lexed commands, declarations, compiled ignores).
    pub kept: &'a crate::engine::memo::Memo,
    /// Histories of files asked for so far (`None`: no history can be asked for).
    pub histories: Option<&'a crate::engine::volatility::Histories>,
    /// The build args this side is built with (`None` when no build is known).
    pub build_args: Option<&'a std::collections::BTreeMap<String, String>>,
    /// What the other builds of the analysis read from their contexts, by the ignore file that
    /// governs them (`None`: this Dockerfile alone is known).
    pub shared_reads: Option<&'a SharedReads<'a>>,
    /// The RUN scripts of `df`, lexed once for all the rules (`Scripts::new(df.instructions.len())`)
    /// and kept with the side's simulation, so every commit that shares the text shares them.
    pub scripts: &'a crate::engine::shell::Scripts,
    /// Where the lines of `text` end (`inst_range`), kept with the side's simulation for the
    /// same reason.
    pub lines: &'a crate::engine::fix::Lines,
}

/// A path a build reads by name from its context (`rules::context_reads`): the fix of an ignore
/// file another build shares must not hide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Root-relative path of the Dockerfile that reads it.
    pub dockerfile: String,
    /// Context-relative path it reads (`.git` for a RUN that runs git).
    pub path: String,
}

/// What every build of one analysis reads from its context, grouped by the ignore file that
/// governs the build (`<Dockerfile>.dockerignore` when present, else `<context>/.dockerignore`,
/// whether or not it exists yet: the file a fix would create). Worked out on first use, per
/// side, from the builds' Dockerfile texts: a rule that edits an ignore file asks, most
/// analyses never do.
pub struct SharedReads<'a> {
    builds: &'a [crate::engine::input::BuildInput],
    reads: fn(&str) -> Vec<String>,
    /// Where what a text reads is remembered (`Kind::Reads`): every commit of a history asks
    /// again about the same Dockerfile texts.
    kept: &'a crate::engine::memo::Memo,
    sides: [std::cell::OnceCell<std::collections::BTreeMap<String, Vec<Read>>>; 2],
}

impl<'a> SharedReads<'a> {
    /// `reads`: what one Dockerfile text reads by name from its context.
    pub fn new(
        builds: &'a [crate::engine::input::BuildInput],
        reads: fn(&str) -> Vec<String>,
        kept: &'a crate::engine::memo::Memo,
    ) -> Self {
        SharedReads {
            builds,
            reads,
            kept,
            sides: Default::default(),
        }
    }

    /// The ignore file that governs `build` on a side.
    pub fn ignore_file(
        build: &crate::engine::input::BuildInput,
        side: &crate::engine::input::SideInput,
    ) -> String {
        if side.dockerfile_ignore.is_some() {
            format!("{}.dockerignore", build.dockerfile)
        } else if build.context.is_empty() {
            ".dockerignore".to_string()
        } else {
            format!("{}/.dockerignore", build.context)
        }
    }

    /// What the builds governed by `ignore_file` (root-relative) read on `side`.
    pub fn of(&self, side: Side, ignore_file: &str) -> &[Read] {
        let i = usize::from(side == Side::Head);
        let map = self.sides[i].get_or_init(|| {
            let mut map: std::collections::BTreeMap<String, Vec<Read>> = Default::default();
            // a Dockerfile built several times (targets, contexts) is read once per file
            let mut texts: std::collections::HashMap<&str, std::sync::Arc<Vec<String>>> =
                Default::default();
            for b in self.builds {
                let input = if side == Side::Head { &b.head } else { &b.base };
                let Some(text) = input.dockerfile.as_ref().and_then(|t| t.text()) else {
                    continue;
                };
                let reads = texts.entry(b.dockerfile.as_str()).or_insert_with(|| {
                    self.kept
                        .get_or(crate::engine::memo::Kind::Reads, text, || {
                            std::sync::Arc::new((self.reads)(text))
                        })
                });
                let e = map.entry(Self::ignore_file(b, input)).or_default();
                e.extend(reads.iter().map(|p| Read {
                    dockerfile: b.dockerfile.clone(),
                    path: p.clone(),
                }));
            }
            for v in map.values_mut() {
                v.sort_by(|a, b| (&a.dockerfile, &a.path).cmp(&(&b.dockerfile, &b.path)));
                v.dedup();
            }
            map
        });
        map.get(ignore_file).map_or(&[], Vec::as_slice)
    }
}

impl RuleContext<'_> {
    /// The history of the file at `path` (root-relative): asked for when not yet known;
    /// `None` until then, and when the source has none.
    pub fn file_history(&self, path: &str) -> Option<&crate::engine::volatility::FileHistory> {
        let h = self.histories?;
        match h.get(path) {
            Some(found) => {
                self.needs.history_read(path);
                found.as_ref()
            }
            None => {
                self.needs.request_history(path);
                None
            }
        }
    }
}
