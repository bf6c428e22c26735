//! The engine's top floor: `analyze` runs the phases over every build of the inputs (each
//! build's prediction, the timings logs and real builds assigned to the builds, each build's
//! cost, then what each fix saves: the build predicted again with the fix in place, `savings`
//! over `patch_side`) and returns the `Report` with what it still needs (and the file histories
//! it read, which a history loads ahead for its next commit). The caller hands in the
//! `Memo` that remembers work across calls (one per history run, one per server job).

use crate::engine::input::{BuildInput, FileText, Inputs, SideInput};
use crate::engine::memo::Memo;
use crate::engine::report::{self, Report};
use crate::engine::tree::{Needs, Request};
use crate::engine::{buildlog, config, cost, fix, hash, memo, predict, rules, verify};

/// The result of one `analyze` call.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// Listing requests that could not be answered; load them and call again.
    pub need: Vec<Request>,
    /// The files whose history in `Inputs::histories` the rules read, sorted.
    pub histories_read: Vec<String>,
    /// The Dockerfile of every build predicted, in order: each build once, then once more per
    /// fix whose savings were measured, and only that build (what a fix is measured on).
    pub predictions: Vec<String>,
}

/// Predict every build in `inputs`: each build's prediction (`predict::predict_build`:
/// simulate, match, explain, steps, cost facts, rules), then the timings logs assigned to the
/// builds, then per build its cost (`cost::apply`) and what each fix saves (`savings`).
pub fn analyze(inputs: &Inputs, kept: &Memo) -> Outcome {
    let needs = Needs::default();
    let memo = memo::Shared::default();
    let shared_reads =
        predict::rule_input::SharedReads::new(&inputs.builds, rules::context_reads, kept);
    let ctx = predict::Ctx {
        engine: inputs.engine,
        changes: &inputs.changes,
        base_tree: &inputs.base_tree,
        head_tree: &inputs.head_tree,
        needs: &needs,
        memo: &memo,
        kept,
        config: &inputs.config,
        rules: Some(rules::CATALOG),
        histories: &inputs.histories,
        shared_reads: Some(&shared_reads),
    };
    let (predicted, mut predictions) = predict_builds(&ctx, inputs);
    // a listing is missing: the caller loads it and calls again, and this call's report is
    // dropped, so the costs and the fixes' savings are measured only when nothing is missing
    if !needs.is_empty() {
        return Outcome {
            report: Report::default(),
            need: needs.take(),
            histories_read: needs.take_histories_read(),
            predictions,
        };
    }
    let mut diagnostics = inputs.diagnostics.clone();
    let mut logs = read_logs(&inputs.timings, &mut diagnostics);
    for r in &inputs.records {
        logs.push((r.name.clone(), vec![r.build.clone()]));
    }
    let assigned = assign_logs(&logs, &predicted, &mut diagnostics);
    let reals = assign_records(&inputs.records, &predicted, &mut diagnostics);
    // CI's records: a build of the head that matches no build analysed is a build the change
    // does not touch (not a problem worth a warning); those of the base only time steps
    let ci_reals = assign_records(&inputs.ci.head, &predicted, &mut Vec::new());
    let ci_logs: Vec<(String, Vec<buildlog::LogBuild>)> = inputs
        .ci
        .base
        .iter()
        .map(|r| (r.name.clone(), vec![r.build.clone()]))
        .collect();
    let ci_assigned = assign_logs(&ci_logs, &predicted, &mut Vec::new());
    let mut dockerfiles = Vec::new();
    let mut vertices = Vec::new();
    for ((((bi, mut p), logs), reals), (ci_reals, ci_logs)) in predicted
        .into_iter()
        .zip(assigned)
        .zip(reals)
        .zip(ci_reals.into_iter().zip(ci_assigned))
    {
        describe_build(&inputs.builds[bi], &mut p, &reals, &ci_reals);
        let timed = cost::Timed {
            logs: &logs,
            ci: &ci_logs,
        };
        cost::apply(&mut p.report, &p.facts, timed, &inputs.config, kept);
        savings(
            &ctx,
            &inputs.builds[bi],
            &mut p,
            timed,
            (&inputs.config, inputs.purpose),
            &mut predictions,
        );
        vertices.push((&inputs.builds[bi].calls, std::mem::take(&mut p.keys)));
        dockerfiles.push(p.report);
    }
    mark_shared(&mut dockerfiles, &vertices);
    let report = Report {
        engine: inputs.engine.name().to_string(),
        dockerfiles,
        diagnostics,
        changed_paths: inputs.changes.len(),
    };
    Outcome {
        report,
        need: needs.take(),
        histories_read: needs.take_histories_read(),
        predictions,
    }
}

/// Predict each build the path filter wants: the predictions (with the build's index) and the
/// Dockerfile of every build predicted, in order.
fn predict_builds(
    ctx: &predict::Ctx<'_>,
    inputs: &Inputs,
) -> (Vec<(usize, predict::Predicted)>, Vec<String>) {
    let mut predicted = Vec::new();
    let mut predictions = Vec::new();
    for (i, b) in inputs.builds.iter().enumerate() {
        if !inputs.config.paths.wants(&b.dockerfile) {
            continue;
        }
        predictions.push(b.dockerfile.clone());
        if let Some(p) = predict::predict_build(ctx, b) {
            predicted.push((i, p));
        }
    }
    (predicted, predictions)
}

/// What a prediction's report says of its build besides the prediction: the real builds
/// compared with it, where the build was declared, whether it was guessed, and a fixture's
/// errors turned into information.
fn describe_build(
    build: &BuildInput,
    p: &mut predict::Predicted,
    reals: &[&verify::RealBuild],
    ci_reals: &[&verify::RealBuild],
) {
    p.report.verifications = reals
        .iter()
        .chain(ci_reals)
        .map(|r| verify::compare(&p.report, &p.facts, r))
        .collect();
    p.report.origins = if build.origins.is_empty() {
        vec![build.origin.clone()]
    } else {
        build.origins.clone()
    };
    p.report.guessed = build.guessed.clone();
    if build.fixture {
        fixture_diagnostics(&mut p.report);
    }
}

/// A test fixture's problems are what the fixture is for (a parser's test files that do not
/// parse): each error becomes information that says so.
fn fixture_diagnostics(report: &mut report::DockerfileReport) {
    for d in report.diagnostics.iter_mut() {
        if d.severity == report::Severity::Error {
            d.severity = report::Severity::Info;
            d.message = format!(
                "{} (the file lies in a test-fixture or demo directory and no build declares it: taken as a fixture, not a build)",
                d.message
            );
        }
    }
}

/// The rebuilt steps each build shares with an earlier build of one of its bake calls (the same
/// vertex: `predict::vertex_keys`): bake solves the targets of one call together, so the shared
/// vertex runs once and the totals count it for the earlier build only.
fn mark_shared(
    dockerfiles: &mut [report::DockerfileReport],
    vertices: &[(&Vec<String>, hash::HashMap<u32, predict::VertexKey>)],
) {
    // (call, vertex) → the first build of the call that rebuilds it
    let mut first: hash::HashMap<(&str, predict::VertexKey), usize> = hash::HashMap::default();
    for (i, (calls, keys)) in vertices.iter().enumerate() {
        if calls.is_empty() || keys.is_empty() {
            continue;
        }
        let mut shared: Option<report::Shared> = None;
        for step in dockerfiles[i]
            .steps
            .iter()
            .filter(|s| s.status == report::Status::Rebuilt)
        {
            let Some(key) = keys.get(&step.line) else {
                continue;
            };
            let earlier = calls
                .iter()
                .filter_map(|c| first.get(&(c.as_str(), *key)).copied())
                .filter(|j| *j < i)
                .min();
            for c in calls.iter() {
                first.entry((c.as_str(), *key)).or_insert(i);
            }
            let Some(j) = earlier else { continue };
            let s = shared.get_or_insert_with(|| report::Shared {
                lines: Vec::new(),
                seconds: 0.0,
                path: dockerfiles[j].path.clone(),
                target: dockerfiles[j].target.clone(),
            });
            s.lines.push(step.line);
            s.seconds += step.estimated_seconds.unwrap_or(0.0);
        }
        dockerfiles[i].shared = shared;
    }
}

/// The build logs given for timings, with a warning for each problem in them.
fn read_logs(
    timings: &[(String, String)],
    diagnostics: &mut Vec<report::FileDiagnostic>,
) -> Vec<(String, Vec<buildlog::LogBuild>)> {
    let mut logs = Vec::new();
    for (name, text) in timings {
        let read = buildlog::read_any(text);
        for (line, message) in read.problems {
            diagnostics.push(report::FileDiagnostic {
                file: name.clone(),
                line,
                severity: report::Severity::Warning,
                message,
            });
        }
        logs.push((name.clone(), read.builds));
    }
    logs
}

/// Each logged build goes to the predicted builds its vertices match best (a log with no
/// BuildKit progress is a warning).
fn assign_logs<'l>(
    logs: &'l [(String, Vec<buildlog::LogBuild>)],
    predicted: &[(usize, predict::Predicted)],
    diagnostics: &mut Vec<report::FileDiagnostic>,
) -> Vec<Vec<&'l buildlog::LogBuild>> {
    let mut assigned: Vec<Vec<&buildlog::LogBuild>> = vec![Vec::new(); predicted.len()];
    for (name, builds) in logs {
        if builds.is_empty() {
            diagnostics.push(report::FileDiagnostic {
                file: name.clone(),
                line: None,
                severity: report::Severity::Warning,
                message: "no BuildKit progress found in this log (expected --progress=plain or rawjson output)".into(),
            });
        }
        for lb in builds {
            let counts: Vec<usize> = predicted
                .iter()
                .map(|(_, p)| cost::match_count(lb, &p.facts))
                .collect();
            let best = counts.iter().copied().max().unwrap_or(0);
            if best == 0 {
                continue;
            }
            for (i, c) in counts.iter().enumerate() {
                if *c == best {
                    assigned[i].push(lb);
                }
            }
        }
    }
    assigned
}

/// Each real build goes to the predicted build whose steps it matches best (the first of
/// equals); one that matches none is a warning. FROM does not count: every log's `[1/n] FROM`
/// is the first stage's FROM of any Dockerfile.
fn assign_records<'r>(
    records: &'r [verify::RealBuild],
    predicted: &[(usize, predict::Predicted)],
    diagnostics: &mut Vec<report::FileDiagnostic>,
) -> Vec<Vec<&'r verify::RealBuild>> {
    let mut out: Vec<Vec<&verify::RealBuild>> = vec![Vec::new(); predicted.len()];
    for r in records {
        let best = predicted
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (verify::match_count(&r.build, &p.facts), i))
            .filter(|(c, _)| *c > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        match best {
            Some((_, i)) => out[i].push(r),
            None => diagnostics.push(report::FileDiagnostic {
                file: r.name.clone(),
                line: None,
                severity: report::Severity::Warning,
                message: "no step of this build matches a step of the builds analysed; it is not compared".into(),
            }),
        }
    }
    out
}

/// What a build rebuilds before any fix, and what re-predicting it with a fix needs.
struct Measure<'a, 'c> {
    /// The prediction context without the rules (a re-prediction reads steps and seconds).
    quiet: predict::Ctx<'c>,
    build: &'a BuildInput,
    logs: cost::Timed<'a, 'a>,
    config: &'a config::Config,
    steps: usize,
    runs: usize,
    seconds: f64,
}

impl Measure<'_, '_> {
    /// The change predicted again with `fix` in place on the head (and `base_fix` on the base);
    /// `runs_worse` is set when it rebuilds more `RUN` steps.
    fn with_fix(
        &self,
        fix: &fix::Fix,
        base_fix: Option<&fix::Fix>,
        runs_worse: &mut bool,
        predictions: &mut Vec<String>,
    ) -> Option<rules::Savings> {
        if fix.applicability == fix::Applicability::DisplayOnly || self.steps == 0 {
            return None;
        }
        let mut patched = self.build.clone();
        if let Some(ci) = &self.build.ci
            && !fix.edits.is_empty()
            && fix.edits.iter().all(|e| e.file == ci.setup.file)
        {
            // a fix to the workflow: the step read again from the edited workflow, as the
            // previous run exported with it too
            patched.ci = Some(patch_workflow(ci, fix, self.quiet.kept)?);
            return self.measure(patched, runs_worse, predictions);
        }
        let (dockerfile, context) = (patched.dockerfile.clone(), patched.context.clone());
        if !patch_side(&mut patched.head, &dockerfile, &context, fix) {
            return None;
        }
        // the base as the tree would be with the fix applied: the same fix where the files it
        // edits read the same on both sides (the change leaves them alone), else the base's
        // own fix of the same finding (the head's edits are offsets into the head's texts)
        let same_texts = fix.edits.iter().all(|e| {
            edited_text(&self.build.base, &dockerfile, &context, &e.file)
                == edited_text(&self.build.head, &dockerfile, &context, &e.file)
        });
        let base_patch = if same_texts { Some(fix) } else { base_fix };
        if let Some(bf) = base_patch {
            patch_side(&mut patched.base, &dockerfile, &context, bf);
        }
        // the builds whose CI cache exports this one imports read the same files: a fix to a
        // file they read is in their tree too (a shared `.dockerignore`, the same Dockerfile)
        for peer in patched.ci.iter_mut().flat_map(|c| c.peers.iter_mut()) {
            let b = &mut *peer.build;
            let (df, ctx) = (b.dockerfile.clone(), b.context.clone());
            if patch_side(&mut b.head, &df, &ctx, fix)
                && let Some(bf) = base_patch
            {
                patch_side(&mut b.base, &df, &ctx, bf);
            }
        }
        self.measure(patched, runs_worse, predictions)
    }

    /// The patched build predicted again, against what it rebuilt before.
    fn measure(
        &self,
        mut patched: BuildInput,
        runs_worse: &mut bool,
        predictions: &mut Vec<String>,
    ) -> Option<rules::Savings> {
        patched.always_report = true;
        predictions.push(patched.dockerfile.clone());
        let mut q = predict::predict_build(&self.quiet, &patched)?;
        if q.report.steps.is_empty() {
            return None;
        }
        cost::apply(
            &mut q.report,
            &q.facts,
            self.logs,
            self.config,
            self.quiet.kept,
        );
        if rebuilt_runs(&q.report) > self.runs {
            *runs_worse = true;
        }
        Some(rules::Savings {
            rebuilt_steps_before: self.steps,
            rebuilt_steps_after: q.report.summary.rebuilt,
            seconds_before: self.seconds,
            seconds_after: q
                .report
                .cost
                .as_ref()
                .map_or(0.0, |c| c.estimated_rebuild_seconds),
        })
    }
}

/// For each finding with an applicable fix: predict the change again as if the fix had been in
/// place on both sides, and mark the finding relevant when it saves rebuilds or touches the
/// changed lines. Only this build is predicted again (logged in `predictions`), never the tree.
fn savings(
    ctx: &predict::Ctx<'_>,
    build: &BuildInput,
    p: &mut predict::Predicted,
    logs: cost::Timed<'_, '_>,
    (config, purpose): (&config::Config, crate::engine::input::Purpose),
    predictions: &mut Vec<String>,
) {
    let m = Measure {
        quiet: predict::Ctx {
            rules: None,
            ..*ctx
        },
        build,
        logs,
        config,
        steps: p.report.summary.rebuilt,
        runs: rebuilt_runs(&p.report),
        seconds: p
            .report
            .cost
            .as_ref()
            .map_or(0.0, |c| c.estimated_rebuild_seconds),
    };
    for f in p.report.findings.iter_mut() {
        // a rule over the prediction marks its findings itself
        f.relevant = f.relevant
            || p.changed_lines
                .iter()
                .any(|l| *l >= f.line && *l <= f.end_line);
        let Some(fix) = &f.fix else { continue };
        let mut runs_worse = false;
        let base_fix = p.base_fixes.get(&f.fingerprint);
        let Some(s) = m.with_fix(fix, base_fix, &mut runs_worse, predictions) else {
            continue;
        };
        if s.rebuilt_steps_after < m.steps || s.seconds_after + 0.05 < m.seconds {
            f.relevant = true;
        }
        // advice never makes the build worse: a patch that would make this change rebuild more
        // seconds or more `RUN` steps is shown, never offered to apply on this change
        let worse = runs_worse || s.seconds_after > s.seconds_before + 0.05;
        f.savings = Some(s);
        if worse && let Some(x) = f.fix.as_mut() {
            x.applicability = fix::Applicability::DisplayOnly;
        }
        // a merged fix: what the finding's own part saves (a review may offer it alone; a
        // history never shows it)
        if let Some(own) = f
            .own_fix
            .as_ref()
            .filter(|_| purpose == crate::engine::input::Purpose::Review)
        {
            let mut own_worse = false;
            let key = predict::own_fix_key(&f.fingerprint);
            f.own_savings = m.with_fix(own, p.base_fixes.get(&key), &mut own_worse, predictions);
            let slower = f
                .own_savings
                .as_ref()
                .is_some_and(|s| s.seconds_after > s.seconds_before + 0.05);
            if (own_worse || slower)
                && let Some(x) = f.own_fix.as_mut()
            {
                x.applicability = fix::Applicability::DisplayOnly;
            }
        }
    }
}

/// The build's CI cache with `fix` applied to its workflow: the step as the edited workflow
/// declares it, on this run and the previous one. `None` when the fix does not apply or the
/// edited workflow no longer holds the step.
fn patch_workflow(
    ci: &crate::engine::input::CiCache,
    fix: &fix::Fix,
    kept: &Memo,
) -> Option<crate::engine::input::CiCache> {
    let text = ci.workflow_text.as_deref()?;
    let (edited, setup) = crate::engine::workflows::step_after_fix(kept, &ci.setup, text, fix)?;
    let mut patched = ci.with_setup(setup);
    patched.workflow_text = Some(edited);
    Some(patched)
}

/// `RUN` steps a build rebuilds for the change.
fn rebuilt_runs(r: &report::DockerfileReport) -> usize {
    r.steps
        .iter()
        .filter(|s| s.status == report::Status::Rebuilt && s.kind == report::Kind::Run)
        .count()
}

/// The text on one side of a file a fix edits (the Dockerfile or one of its ignore files);
/// `None` for a file a fix cannot edit.
fn edited_text<'s>(
    side: &'s SideInput,
    dockerfile: &str,
    context: &str,
    file: &str,
) -> Option<&'s Option<FileText>> {
    let ctx_ignore = if context.is_empty() {
        ".dockerignore".to_string()
    } else {
        format!("{context}/.dockerignore")
    };
    if file == dockerfile {
        Some(&side.dockerfile)
    } else if file == format!("{dockerfile}.dockerignore") {
        Some(&side.dockerfile_ignore)
    } else if file == ctx_ignore {
        Some(&side.context_ignore)
    } else {
        None
    }
}

/// Apply a fix's edits to one side's files; `false` when an edit targets a file it cannot map.
fn patch_side(side: &mut SideInput, dockerfile: &str, context: &str, fix: &fix::Fix) -> bool {
    let df_ignore = format!("{dockerfile}.dockerignore");
    let ctx_ignore = if context.is_empty() {
        ".dockerignore".to_string()
    } else {
        format!("{context}/.dockerignore")
    };
    let mut files = std::collections::BTreeMap::new();
    let text = |f: &Option<FileText>| f.as_ref().and_then(FileText::text).map(str::to_string);
    if let Some(t) = text(&side.dockerfile) {
        files.insert(dockerfile.to_string(), t);
    }
    if let Some(t) = text(&side.dockerfile_ignore) {
        files.insert(df_ignore.clone(), t);
    }
    if let Some(t) = text(&side.context_ignore) {
        files.insert(ctx_ignore.clone(), t);
    }
    if fix
        .edits
        .iter()
        .any(|e| e.file != dockerfile && e.file != df_ignore && e.file != ctx_ignore)
    {
        return false;
    }
    let (out, applied) = fix::apply(&files, &[fix]);
    if applied.is_empty() {
        return false;
    }
    for (f, t) in out {
        if f == dockerfile {
            side.dockerfile = Some(FileText::Text(t));
        } else if f == df_ignore {
            side.dockerfile_ignore = Some(FileText::Text(t));
        } else {
            side.context_ignore = Some(FileText::Text(t));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::input::EngineKind;
    use crate::engine::tree::{ChangeSet, Listing};
    use crate::engine::volatility;
    use std::collections::BTreeMap;

    /// A build whose volatile ARG (CB003, a safe fix that moves it down) re-runs every step below
    /// it when its value changes.
    fn build(name: &str) -> BuildInput {
        let text =
            "FROM alpine:3.19\nARG GIT_SHA\nRUN apk add curl\nRUN make\nRUN echo $GIT_SHA > /v\n";
        let side = |sha: &str| SideInput {
            dockerfile: Some(FileText::Text(text.into())),
            build_args: BTreeMap::from([("GIT_SHA".to_string(), sha.to_string())]),
            ..Default::default()
        };
        BuildInput {
            dockerfile: format!("{name}/Dockerfile"),
            context: name.to_string(),
            origin: report::Origin::Cli,
            origins: Vec::new(),
            base: side("1"),
            head: side("2"),
            always_report: true,
            extra_touched: Vec::new(),
            ci: None,
            guessed: None,
            fixture: false,
            calls: Vec::new(),
        }
    }

    #[test]
    fn a_fix_is_measured_on_its_own_build_only() {
        let names = ["a", "b", "c", "d", "e", "f"];
        let inputs = Inputs {
            engine: EngineKind::Buildkit,
            builds: names.iter().map(|n| build(n)).collect(),
            changes: ChangeSet::default(),
            base_tree: Listing::complete(Vec::new()),
            head_tree: Listing::complete(Vec::new()),
            diagnostics: Vec::new(),
            timings: Vec::new(),
            records: Vec::new(),
            ci: Default::default(),
            config: Default::default(),
            purpose: Default::default(),
            // CB003's evidence: each Dockerfile's GIT_SHA default changed in every one of its
            // last 20 commits
            histories: names
                .iter()
                .map(|n| {
                    let versions = (0..20)
                        .map(|i| {
                            Some(format!(
                                "FROM alpine:3.19\nARG GIT_SHA={i}\nRUN apk add curl\nRUN make\nRUN echo $GIT_SHA > /v\n"
                            ))
                        })
                        .collect();
                    let h = volatility::FileHistory {
                        commits: 20,
                        seconds: 20 * 86_400,
                        versions,
                        ids: Vec::new(),
                    };
                    (format!("{n}/Dockerfile"), Some(h))
                })
                .collect(),
        };
        let out = analyze(&inputs, &Memo::default());
        let measured: usize = out
            .report
            .dockerfiles
            .iter()
            .map(|d| d.findings.iter().filter(|f| f.savings.is_some()).count())
            .sum();
        assert!(measured >= names.len(), "every build has a fix that saves");
        // each build once, then once per measured fix: not the whole tree per fix
        assert_eq!(out.predictions.len(), names.len() + measured);
        assert_eq!(
            &out.predictions[..names.len()],
            &names.map(|n| format!("{n}/Dockerfile"))
        );
        for d in &out.report.dockerfiles {
            let own = d.findings.iter().filter(|f| f.savings.is_some()).count();
            let again = out.predictions[names.len()..]
                .iter()
                .filter(|p| **p == d.path)
                .count();
            assert_eq!(again, own, "{}", d.path);
            let f = d.findings.iter().find(|f| f.code == "CB003").unwrap();
            let s = f.savings.as_ref().unwrap();
            assert!(s.rebuilt_steps_after < s.rebuilt_steps_before, "{s:?}");
        }
    }
}
