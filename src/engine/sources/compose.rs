//! The Compose source: the projects the compose files make (with the `COMPOSE_FILE` of each
//! directory's `.env`), each resolved as `docker compose config` does, reading the includes,
//! `extends` and `env_file`s it names, a bounded number of rounds per project. A file other
//! projects only include or extend is a fragment, not a project of its own.

use std::collections::{BTreeMap, BTreeSet};

use super::{Board, Context, Declaration, Files, Progress, Source, diag, missing, named};
use crate::engine::compose::{self, Project, Resolved};
use crate::engine::discover;
use crate::engine::report::Origin;

/// Where the Compose source is: the `.env` files first, then one project after another.
#[derive(Default)]
pub(super) struct Compose {
    /// The projects, once the `.env` files are read.
    projects: Option<Vec<Project>>,
    /// The project being resolved.
    at: usize,
    /// Its resolutions so far (each one either resolved or named files to read).
    tries: usize,
    /// The texts it asked for, by path.
    given: BTreeMap<String, Option<String>>,
    /// The paths it asked for last (read by now).
    waiting: Vec<String>,
    resolved: Vec<(Project, Resolved)>,
}

impl Source for Compose {
    fn resolve(&mut self, cx: &Context<'_>, files: &Files, board: &mut Board) -> Progress {
        if self.projects.is_none() {
            let composes = named(cx.names, discover::is_compose_name);
            let dirs: BTreeSet<String> = composes
                .iter()
                .map(|c| {
                    c.rsplit_once('/')
                        .map(|x| x.0.to_string())
                        .unwrap_or_default()
                })
                .collect();
            let envs: Vec<String> = dirs.iter().map(|d| compose::dotenv_path(d)).collect();
            if let Some(want) = missing(files, &envs) {
                return Progress::Need(want);
            }
            let mut compose_file = BTreeMap::new();
            for d in &dirs {
                if let Some(Some(t)) = files.get(&compose::dotenv_path(d)) {
                    if let Some(cf) = compose::compose_file_from_dotenv(t) {
                        compose_file.insert(d.clone(), cf);
                    }
                }
            }
            self.projects = Some(compose::projects(&composes, &compose_file));
        }
        if let Some(want) = self.resolve_projects(cx, files, board) {
            return Progress::Need(want);
        }
        self.declare(board);
        Progress::Done
    }
}

impl Compose {
    /// Rounds for one project: its nesting bound and a few more.
    const ROUNDS: usize = compose::MAX_NESTING + 4;

    /// Resolves the projects from `at` on; the paths to read when one names files not read yet.
    fn resolve_projects(
        &mut self,
        cx: &Context<'_>,
        files: &Files,
        board: &mut Board,
    ) -> Option<Vec<String>> {
        let projects = self.projects.clone().unwrap_or_default();
        while let Some(p) = projects.get(self.at) {
            for q in std::mem::take(&mut self.waiting) {
                self.given
                    .insert(q.clone(), files.get(&q).cloned().flatten());
            }
            if self.tries == Self::ROUNDS {
                board.diagnostics.push(diag(
                    &p.files[0],
                    None,
                    true,
                    "the compose project keeps naming more files to read; not analysed".into(),
                ));
                self.next();
                continue;
            }
            self.tries += 1;
            match compose::resolve_in(cx.memo, p, &self.given, cx.env) {
                Ok(r) => {
                    self.resolved.push((p.clone(), r));
                    self.next();
                }
                Err(compose::Need(paths)) => {
                    let want = missing(files, &paths);
                    self.waiting = paths;
                    if want.is_some() {
                        return want;
                    }
                }
            }
        }
        None
    }

    /// On to the next project.
    fn next(&mut self) {
        self.at += 1;
        self.tries = 0;
        self.given.clear();
        self.waiting.clear();
    }

    /// The builds of every project that is not a fragment of another.
    fn declare(&mut self, board: &mut Board) {
        let resolved = std::mem::take(&mut self.resolved);
        // files named only as includes / extends of another project are fragments, not projects
        let mut fragments: BTreeSet<String> = BTreeSet::new();
        for (p, r) in &resolved {
            for i in &r.inputs {
                if !p.files.contains(i) {
                    fragments.insert(i.clone());
                }
            }
        }
        for (p, r) in resolved {
            if p.files.len() == 1 && fragments.contains(&p.files[0]) {
                continue;
            }
            for pr in r.problems {
                board
                    .diagnostics
                    .push(diag(&pr.file, pr.line, pr.error, pr.message));
            }
            for b in r.builds {
                let origin = Origin::Compose {
                    file: b.file.clone(),
                    service: b.service.clone(),
                    project: p.label(),
                };
                board.declarations.push(Declaration::new(
                    origin,
                    b.dockerfile,
                    b.context,
                    b.inline,
                    b.args,
                    b.target,
                    b.contexts,
                    r.inputs.clone(),
                ));
            }
        }
    }
}
