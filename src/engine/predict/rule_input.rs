//! What a rule sees of one simulated Dockerfile (`RuleContext`), and the signature of the rule
//! catalog's check. The rules (`engine::rules`) read the simulation; the prediction calls the
//! catalog through `Ctx::rules` without importing it, so the arrow points one way only.

use crate::engine::dockerfile::Dockerfile;
use crate::engine::report::Finding;
use crate::engine::settings::Config;
use crate::engine::tree::{Listing, Needs, Side};

use super::IgnoreInfo;
use super::sim::Sim;

/// The rule catalog's check (`engine::rules::check`), as the prediction calls it.
pub type RuleCheck = fn(&RuleContext<'_>, &Config) -> Vec<Finding>;

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
    /// Histories of files asked for so far (`None`: no history can be asked for).
    pub histories: Option<&'a crate::engine::volatility::Histories>,
    /// The build args this side is built with (`None` when no build is known).
    pub build_args: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl RuleContext<'_> {
    /// The history of the file at `path` (root-relative): asked for when not yet known;
    /// `None` until then, and when the source has none.
    pub fn file_history(&self, path: &str) -> Option<&crate::engine::volatility::FileHistory> {
        let h = self.histories?;
        match h.get(path) {
            Some(found) => found.as_ref(),
            None => {
                self.needs.request_history(path);
                None
            }
        }
    }
}
