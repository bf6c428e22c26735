//! The bake source: what `docker buildx bake` reads in each directory (its default files), and
//! what each bake-action step reads (exactly the files it names, in its order, else its
//! directory's default files) with the step's `env:` for the variables. One resolution per
//! distinct (directory, files, environment); a directory's own targets are declarations of its
//! bake files (with the groups that build them in one call), a step's are the targets it selects
//! there, one declaration per target.

use std::collections::BTreeMap;

use super::{Board, Context, Declaration, Files, Progress, Source, diag, missing, named};
use crate::engine::bake::{self, BakeBuild, Resolved};
use crate::engine::report::Origin;
use crate::engine::workflows::{StepBake, Triggers};
use crate::engine::{backend, discover};

pub(super) struct Bake;

/// One `docker buildx bake` resolution: a directory's default files, or the files a
/// bake-action step names, with the variables of the environment it runs in.
struct BakeRun {
    dir: String,
    files: Vec<String>,
    env: BTreeMap<String, String>,
    /// Names the steps of this run build (`default` for a step naming none).
    also: Vec<String>,
    /// The directory's default files as a developer's `docker buildx bake` reads them: its
    /// targets are declarations of the bake files themselves.
    own: bool,
    /// Indices of the bake-action steps that run it.
    steps: Vec<usize>,
}

impl Source for Bake {
    fn resolve(&mut self, cx: &Context<'_>, files: &Files, board: &mut Board) -> Progress {
        let default_names = named(cx.names, discover::is_bake_name);
        let mut bake_names = default_names.clone();
        for (s, _) in &board.bake_steps {
            for f in &s.files {
                if !bake_names.contains(f) {
                    bake_names.push(f.clone());
                }
            }
        }
        if let Some(want) = missing(files, &bake_names) {
            return Progress::Need(want);
        }
        let steps = std::mem::take(&mut board.bake_steps);
        for run in &runs(cx.env, &default_names, &steps) {
            let texts: Vec<(String, String)> = run
                .files
                .iter()
                .filter_map(|f| files.get(f).cloned().flatten().map(|t| (f.clone(), t)))
                .collect();
            if texts.is_empty() {
                continue;
            }
            let r = bake::resolve_in(cx.memo, &run.dir, &texts, &run.env, &run.also);
            for pr in &r.problems {
                let d = diag(&pr.file, pr.line, pr.error, pr.message.clone());
                if !board.diagnostics.contains(&d) {
                    board.diagnostics.push(d);
                }
            }
            let inputs: Vec<String> = texts.iter().map(|x| x.0.clone()).collect();
            if run.own {
                declare_own(&r, &inputs, board);
            }
            for (s, triggers) in run.steps.iter().map(|i| &steps[*i]) {
                declare_step(&r, run.own, s, triggers, &inputs, board);
            }
        }
        Progress::Done
    }
}

/// The resolutions to make: each directory's default files, then each step's files (a step
/// joins a resolution of the same directory, files and environment).
fn runs(
    outer_env: &BTreeMap<String, String>,
    default_names: &[String],
    steps: &[(StepBake, Triggers)],
) -> Vec<BakeRun> {
    let defaults = bake::projects(default_names);
    let mut runs: Vec<BakeRun> = defaults
        .iter()
        .map(|(dir, f)| BakeRun {
            dir: dir.clone(),
            files: f.clone(),
            env: outer_env.clone(),
            also: Vec::new(),
            own: true,
            steps: Vec::new(),
        })
        .collect();
    for (i, (s, _)) in steps.iter().enumerate() {
        let mut env = outer_env.clone();
        env.extend(s.env.clone());
        let (dir, f) = if s.files.is_empty() {
            match defaults.iter().find(|(d, _)| d == &s.workdir) {
                Some((d, f)) => (d.clone(), f.clone()),
                // no bake file there (bake would read the compose files): nothing to add
                None => continue,
            }
        } else {
            (s.workdir.clone(), s.files.clone())
        };
        let at = match runs
            .iter()
            .position(|r| r.dir == dir && r.files == f && r.env == env)
        {
            Some(at) => at,
            None => {
                runs.push(BakeRun {
                    dir,
                    files: f,
                    env,
                    also: Vec::new(),
                    own: false,
                    steps: Vec::new(),
                });
                runs.len() - 1
            }
        };
        let run = &mut runs[at];
        if s.targets.is_empty() {
            run.also.push("default".into());
        }
        run.also.extend(s.targets.iter().cloned());
        run.steps.push(i);
    }
    runs
}

/// A declaration of bake target `b`.
fn decl(b: &BakeBuild, origin: Origin, inputs: Vec<String>, calls: Vec<String>) -> Declaration {
    let mut d = Declaration::new(
        origin,
        b.dockerfile.clone(),
        b.context.clone(),
        b.inline.clone(),
        b.args.clone(),
        b.target.clone(),
        b.contexts.clone(),
        inputs,
    );
    d.calls = calls;
    d
}

/// A bake target as its bake file declares it.
fn bake_origin(b: &BakeBuild) -> Origin {
    Origin::Bake {
        file: b.file.clone(),
        target: b.target_name.clone(),
    }
}

/// A directory's own targets, each with the groups that build it (a group is one call,
/// `docker buildx bake GROUP`).
fn declare_own(r: &Resolved, inputs: &[String], board: &mut Board) {
    let groups: Vec<(String, Vec<String>)> = r
        .groups
        .keys()
        .filter_map(|g| {
            let members = r.select(std::slice::from_ref(g)).ok()?;
            Some((format!("group {g} of {}", inputs.join(", ")), members))
        })
        .collect();
    for b in &r.builds {
        let calls = groups
            .iter()
            .filter(|(_, m)| m.contains(&b.target_name))
            .map(|(c, _)| c.clone())
            .collect();
        board
            .declarations
            .push(decl(b, bake_origin(b), inputs.to_vec(), calls));
    }
}

/// The targets a bake-action step selects, each a declaration of the step with its cache
/// backends; a target the files do not have makes bake fail there: a warning, no declaration.
fn declare_step(
    r: &Resolved,
    own: bool,
    s: &StepBake,
    triggers: &Triggers,
    inputs: &[String],
    board: &mut Board,
) {
    let chosen = match r.select(&s.targets) {
        Ok(c) => c,
        Err(name) => {
            board.diagnostics.push(diag(
                &s.file,
                s.line,
                false,
                format!(
                    "job {}, {}: bake target {name} is in none of {}; bake fails there, the step is not analysed",
                    s.job,
                    s.step,
                    inputs.join(", ")
                ),
            ));
            return;
        }
    };
    for t in chosen {
        let Some(b) = r.builds.iter().find(|b| b.target_name == t) else {
            continue;
        };
        let origin = Origin::Workflow {
            file: s.file.clone(),
            job: s.job.clone(),
            step: s.step.clone(),
            target: Some(t.clone()),
        };
        let mut inputs = inputs.to_vec();
        inputs.push(s.file.clone());
        let call = format!("step {} of job {} in {}", s.step, s.job, s.file);
        let mut d = decl(b, origin, inputs, vec![call]);
        // the directory's own resolution declares the target already
        if !own {
            d.also = vec![bake_origin(b)];
        }
        // the step's cache backends for this target (bake file, then the step's `set`)
        let ci = backend::bake_setup(&s.ci, &b.target_name, &b.cache, &s.set);
        d.ci = ci.declares_cache().then_some(ci);
        d.triggers = Some(triggers.clone());
        board.declarations.push(d);
    }
}
