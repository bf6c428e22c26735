//! The script source: shell scripts and Makefiles (a bounded number of them) that run
//! `docker build`, read with where each runs (its own directory, the directory of the Makefile
//! that includes it or runs it with `make -f`), after the `run:` blocks the workflow source
//! handed on.

use std::collections::BTreeMap;

use super::{Board, Context, Declaration, Files, Progress, Source, diag, missing, quiet};
use crate::engine::report::Origin;
use crate::engine::{discover, scripts};

/// Scripts and Makefiles read for `docker build` commands, at most (a tree can hold any number).
pub const MAX_SCRIPTS: usize = 2000;

pub(super) struct Scripts;

impl Source for Scripts {
    fn resolve(&mut self, cx: &Context<'_>, files: &Files, board: &mut Board) -> Progress {
        let script_names: Vec<String> = cx
            .names
            .iter()
            .filter(|n| discover::is_script_name(n))
            .take(MAX_SCRIPTS)
            .cloned()
            .collect();
        if let Some(want) = missing(files, &script_names) {
            return Progress::Need(want);
        }
        if script_names.len() == MAX_SCRIPTS {
            board.diagnostics.push(diag(
                &script_names[MAX_SCRIPTS - 1],
                None,
                false,
                format!("more than {MAX_SCRIPTS} scripts and Makefiles: the first {MAX_SCRIPTS} are read for docker build commands"),
            ));
        }
        let mut finds = std::mem::take(&mut board.script_finds);
        finds.extend(read_scripts(&script_names, files));
        for (f, triggers) in finds {
            board.diagnostics.extend(f.problems.into_iter().map(quiet));
            for b in f.builds {
                let origin = Origin::Script {
                    file: b.file.clone(),
                    line: b.line,
                };
                let mut d = Declaration::new(
                    origin,
                    b.dockerfile,
                    b.context,
                    None,
                    b.args,
                    b.target,
                    b.contexts,
                    vec![b.file],
                );
                d.triggers = triggers.clone();
                board.declarations.push(d);
            }
        }
        Progress::Done
    }
}

/// The builds of each script or Makefile that mentions one, read where it runs.
fn read_scripts(
    script_names: &[String],
    files: &Files,
) -> Vec<(scripts::Found, Option<crate::engine::workflows::Triggers>)> {
    // the include lines of each Makefile, read once
    let includers: Vec<(&String, &str, Vec<String>)> = script_names
        .iter()
        .filter_map(|m| {
            let t = files.get(m)?.as_deref()?;
            let words = scripts::include_words(t);
            (!words.is_empty()).then_some((m, t, words))
        })
        .collect();
    let run_from = make_f_dirs(script_names, files);
    let mut out = Vec::new();
    for n in script_names {
        let Some(Some(t)) = files.get(n) else {
            continue;
        };
        if !(t.contains("build") || t.contains(" bud")) {
            continue;
        }
        // a makefile another Makefile includes runs where that one runs
        let includer = scripts::is_included_kind(n)
            .then(|| {
                includers
                    .iter()
                    .find(|(m, _, w)| *m != n && scripts::includes(m, w, n))
            })
            .flatten();
        let runner = match (includer, run_from.get(n)) {
            (Some((m, mt, _)), _) => scripts::Runner::IncludedBy(m, mt),
            (None, Some(dir)) => scripts::Runner::RunFrom(dir),
            (None, None) => scripts::Runner::Own,
        };
        out.push((scripts::read(n, t, runner), None));
    }
    out
}

/// The makefiles a Makefile runs with `make -f`, with that Makefile's directory (where they
/// run); the first Makefile naming one wins.
fn make_f_dirs(script_names: &[String], files: &Files) -> BTreeMap<String, String> {
    let mut run_from: BTreeMap<String, String> = BTreeMap::new();
    for m in script_names.iter().filter(|m| {
        m.rsplit('/')
            .next()
            .is_some_and(|n| n == "Makefile" || n == "GNUmakefile" || n == "makefile")
    }) {
        if let Some(Some(t)) = files.get(m) {
            for f in scripts::make_f_targets(m, t) {
                let dir = m
                    .rsplit_once('/')
                    .map(|x| x.0.to_string())
                    .unwrap_or_default();
                run_from.entry(f).or_insert(dir);
            }
        }
    }
    run_from
}
