//! Discovery sources: the readers that say which builds a repository declares, one per way a
//! repository declares them (Compose projects, GitHub workflow steps, scripts and Makefiles, bake
//! files, the configuration's `builds:`). Each is a `Source`: handed the texts read so far on one
//! side, it names the files it still needs (`Progress::Need`) or adds its `Declaration`s and
//! problems to the `Board` (`Progress::Done`). The caller does the reading (`app::discover`
//! drives the list in `sources()` order), so every source is pure and a new one is one file
//! here plus an entry in that list. `fold` makes the builds of a change from both sides'
//! declarations.

mod bake;
mod compose;
mod config;
mod fold;
mod scripts;
mod workflows;

pub use fold::{Folded, Found, fold};
pub use scripts::MAX_SCRIPTS;

use std::collections::BTreeMap;

use crate::engine::backend::CiSetup;
use crate::engine::config::Config;
use crate::engine::decl::Problem;
use crate::engine::memo::Memo;
use crate::engine::report::{FileDiagnostic, Origin, Severity};
use crate::engine::scripts as script_reader;
use crate::engine::workflows::{StepBake, Triggers};

/// A build as one declaration gives it, on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// What declares it: on one side, the k-th declaration of an origin is the k-th declaration
    /// of that origin on the other side.
    pub origin: Origin,
    /// More origins the same declaration stands for (the bake target a bake-action step builds
    /// from files of its own).
    pub also: Vec<Origin>,
    pub dockerfile: String,
    pub context: String,
    pub inline: Option<String>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub contexts: BTreeMap<String, String>,
    /// Files the declaration was resolved from (compose files, `.env`, bake files, workflow).
    pub inputs: Vec<String>,
    /// A workflow step that declares cache backends runs it on a fresh runner.
    pub ci: Option<CiSetup>,
    /// The `docker buildx bake` calls that build it: the bake-action step, the bake groups
    /// that name it (a group is built in one call).
    pub calls: Vec<String>,
    /// A workflow's declaration: when the workflow runs (its `on:`).
    pub triggers: Option<Triggers>,
}

impl Declaration {
    /// A declaration of `origin` with only what every source gives: the build's files, args
    /// and target, and the files it was resolved from.
    #[allow(clippy::too_many_arguments)]
    fn new(
        origin: Origin,
        dockerfile: String,
        context: String,
        inline: Option<String>,
        args: BTreeMap<String, String>,
        target: Option<String>,
        contexts: BTreeMap<String, String>,
        inputs: Vec<String>,
    ) -> Declaration {
        Declaration {
            origin,
            also: Vec::new(),
            dockerfile,
            context,
            inline,
            args,
            target,
            contexts,
            inputs,
            ci: None,
            calls: Vec::new(),
            triggers: None,
        }
    }

    /// The same build: Dockerfile, context, inline text, args, target and named contexts.
    pub fn same_build(&self, o: &Declaration) -> bool {
        self.dockerfile == o.dockerfile
            && self.context == o.context
            && self.inline == o.inline
            && self.args == o.args
            && self.target == o.target
            && self.contexts == o.contexts
    }

    /// The same build run the same way: a declaration without cache backends folds into one
    /// with them (the CI run is what a review is about); two different setups stay apart.
    pub fn same_run(&self, o: &Declaration) -> bool {
        self.same_build(o)
            && match (&self.ci, &o.ci) {
                (Some(a), Some(b)) => a.same_config(b),
                _ => true,
            }
    }

    /// Both without cache backends, or both with the same ones.
    pub fn same_ci(&self, o: &Declaration) -> bool {
        match (&self.ci, &o.ci) {
            (Some(a), Some(b)) => a.same_config(b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The texts read so far on one side, by root-relative path (`None`: absent or not text).
pub type Files = BTreeMap<String, Option<String>>;

/// What a source says after a look at the texts read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Read these paths (none of them read yet) and ask again.
    Need(Vec<String>),
    /// Its declarations and problems are on the board.
    Done,
}

/// What every source of one side is given: the build files found, the environment the build
/// tools run in, the configuration and the memo of parsed documents.
pub struct Context<'a> {
    /// The build files discovered in the tree (`engine::discover::is_build_file`).
    pub names: &'a [String],
    /// The environment variables `docker compose` and `docker buildx bake` see.
    pub env: &'a BTreeMap<String, String>,
    pub config: &'a Config,
    /// The configuration file's path (the origin of a `builds:` entry).
    pub config_file: &'a str,
    pub memo: &'a Memo,
}

/// What the sources of one side produce, in order, and what one hands to a later one.
#[derive(Debug, Default)]
pub struct Board {
    pub declarations: Vec<Declaration>,
    pub diagnostics: Vec<FileDiagnostic>,
    /// The workflows' bake-action steps, for the bake source (with their workflow's `on:`).
    bake_steps: Vec<(StepBake, Triggers)>,
    /// The workflows' `run:` blocks read as scripts, for the script source (with their `on:`).
    script_finds: Vec<(script_reader::Found, Option<Triggers>)>,
}

/// One way a repository declares builds. `resolve` is called until it says `Done`; each `Need`
/// must name paths not read yet (the caller reads them into the files and asks again).
pub trait Source {
    fn resolve(&mut self, cx: &Context<'_>, files: &Files, board: &mut Board) -> Progress;
}

/// The sources, in the order their declarations are listed: Compose, workflows (before bake
/// and scripts: a bake-action step may name bake files of its own, a `run:` block is read as a
/// script), scripts and Makefiles, bake, the configuration's `builds:`.
pub fn sources() -> Vec<Box<dyn Source>> {
    vec![
        Box::new(compose::Compose::default()),
        Box::new(workflows::Workflows),
        Box::new(scripts::Scripts),
        Box::new(bake::Bake),
        Box::new(config::Builds),
    ]
}

/// The paths of `paths` not read yet: `Some` when there are any.
fn missing(files: &Files, paths: &[String]) -> Option<Vec<String>> {
    let want: Vec<String> = paths
        .iter()
        .filter(|p| !files.contains_key(*p))
        .cloned()
        .collect();
    (!want.is_empty()).then_some(want)
}

/// A problem said as an error or a warning.
fn diag(file: &str, line: Option<u32>, error: bool, message: String) -> FileDiagnostic {
    FileDiagnostic {
        file: file.to_string(),
        line,
        severity: if error {
            Severity::Error
        } else {
            Severity::Warning
        },
        message,
    }
}

/// A workflow's or script's problem: an error, or else information (a step or command known
/// only when it runs is normal, not a warning).
fn quiet(pr: Problem) -> FileDiagnostic {
    FileDiagnostic {
        file: pr.file,
        line: pr.line,
        severity: if pr.error {
            Severity::Error
        } else {
            Severity::Info
        },
        message: pr.message,
    }
}

/// The files of `names` a predicate selects, in order.
fn named(names: &[String], is: fn(&str) -> bool) -> Vec<String> {
    names.iter().filter(|n| is(n)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Config;

    /// Drives every source over `tree` as `app::discover` does; checks that each `Need` names
    /// only paths not read yet, and returns the board and the rounds asked.
    fn drive(tree: &[(&str, &str)], config: &Config) -> (Board, usize) {
        let names: Vec<String> = tree
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| crate::engine::discover::is_build_file(p))
            .collect();
        let env = BTreeMap::new();
        let memo = Memo::default();
        let cx = Context {
            names: &names,
            env: &env,
            config,
            config_file: ".cachebust.yml",
            memo: &memo,
        };
        let mut files = Files::new();
        let mut board = Board::default();
        let mut rounds = 0;
        for mut source in sources() {
            while let Progress::Need(paths) = source.resolve(&cx, &files, &mut board) {
                rounds += 1;
                assert!(!paths.is_empty() && paths.iter().all(|p| !files.contains_key(p)));
                for p in paths {
                    let text = tree
                        .iter()
                        .find(|(q, _)| *q == p)
                        .map(|(_, t)| t.to_string());
                    files.insert(p, text);
                }
            }
        }
        (board, rounds)
    }

    #[test]
    fn a_compose_include_is_read_in_a_round_of_its_own() {
        let (board, rounds) = drive(
            &[
                (
                    "compose.yaml",
                    "include:\n  - more.yaml\nservices:\n  web:\n    build: .\n",
                ),
                ("more.yaml", "services:\n  api:\n    build: ./api\n"),
            ],
            &Config::default(),
        );
        let services: Vec<String> = board
            .declarations
            .iter()
            .map(|d| match &d.origin {
                Origin::Compose { service, .. } => service.clone(),
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(services, ["api", "web"]);
        // the `.env`, the compose file, then the include
        assert_eq!(rounds, 3);
        assert!(board.diagnostics.is_empty(), "{:?}", board.diagnostics);
    }

    #[test]
    fn sources_hand_on_bake_steps_and_run_blocks() {
        let workflow = "on: pull_request\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/bake-action@v6\n        with:\n          files: ci.hcl\n          targets: app\n      - run: docker build -t x -f Dockerfile.ci .\n";
        let (board, _) = drive(
            &[
                (".github/workflows/ci.yml", workflow),
                (
                    "ci.hcl",
                    "target \"app\" {\n  dockerfile = \"Dockerfile\"\n}\n",
                ),
            ],
            &Config::default(),
        );
        let origins: Vec<&Origin> = board.declarations.iter().map(|d| &d.origin).collect();
        assert!(
            matches!(origins[0], Origin::Script { file, .. } if file == ".github/workflows/ci.yml"),
            "{origins:?}"
        );
        assert!(
            matches!(origins[1], Origin::Workflow { target: Some(t), .. } if t == "app"),
            "{origins:?}"
        );
        assert_eq!(origins.len(), 2, "{origins:?}");
        assert!(board.bake_steps.is_empty() && board.script_finds.is_empty());
    }

    #[test]
    fn a_builds_entry_outside_the_repository_is_refused() {
        let mut config = Config::default();
        config.builds = vec![crate::engine::config::BuildDecl {
            dockerfile: "../x/Dockerfile".into(),
            context: None,
            target: None,
            args: BTreeMap::new(),
        }];
        let (board, rounds) = drive(&[], &config);
        assert_eq!(rounds, 0);
        assert!(board.declarations.is_empty());
        assert_eq!(board.diagnostics[0].severity, Severity::Error);
        assert!(
            board.diagnostics[0]
                .message
                .contains("outside the repository")
        );
    }
}
