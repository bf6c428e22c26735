//! The workflow source: the `docker/build-push-action` steps of the GitHub workflows, each a
//! declaration with its workflow's `on:` and, when it declares them, its cache backends. The
//! bake-action steps and the `run:` blocks that mention a build are handed on to the bake and
//! script sources.

use super::{Board, Context, Declaration, Files, Progress, Source, missing, named, quiet};
use crate::engine::report::Origin;
use crate::engine::{discover, scripts, workflows};

pub(super) struct Workflows;

impl Source for Workflows {
    fn resolve(&mut self, cx: &Context<'_>, files: &Files, board: &mut Board) -> Progress {
        let wfs = named(cx.names, discover::is_workflow_name);
        if let Some(want) = missing(files, &wfs) {
            return Progress::Need(want);
        }
        for w in &wfs {
            let Some(Some(t)) = files.get(w) else {
                continue;
            };
            let f = workflows::read_in(cx.memo, w, t);
            // an expression in a workflow is normal: say it once, quietly
            board.diagnostics.extend(f.problems.into_iter().map(quiet));
            for b in f.builds {
                let ci = b.ci.declares_cache().then(|| b.ci.clone());
                let origin = Origin::Workflow {
                    file: b.file.clone(),
                    job: b.job.clone(),
                    step: b.step.clone(),
                    target: None,
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
                d.ci = ci;
                d.triggers = Some(f.triggers.clone());
                board.declarations.push(d);
            }
            board
                .bake_steps
                .extend(f.bakes.into_iter().map(|b| (b, f.triggers.clone())));
            if !f.runs.is_empty() {
                board.script_finds.push((
                    scripts::read_run_blocks(w, &f.runs),
                    Some(f.triggers.clone()),
                ));
            }
        }
        Progress::Done
    }
}
