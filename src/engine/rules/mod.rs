//! The rule catalog and its checker. One rule per file (`cb001_…` to `cb012_…`): a value
//! implementing [`Rule`] with its [`Meta`] (stable code, name, summary, severity, fix
//! applicability, what it reads), its docs ("What it does / Why it costs cache / Example / Fix
//! safety"), the hooks it needs and, where it can, a fix. The checker walks a parsed and
//! simulated Dockerfile once ([`walk`]: `check`, `fix` and every prediction run it) and hands
//! each enabled rule the file, each stage and each instruction of the kinds it names; rules over
//! a build's prediction for a change ([`Reads::Prediction`]: the causes of its rebuilt steps,
//! its CI cache; `analyze`, the Action and the App) get that prediction. A rule reports into
//! [`Findings`], which fills in the common fields ([`Meta::finding`]). This module holds the
//! registry, the checker, what the rules share (the build context, package ecosystems,
//! instruction helpers), inline `# cachebust: ignore=CB001 reason` comments and the
//! configuration's rule settings.

pub mod cb001_manifest_first;
pub mod cb002_context_noise;
pub mod cb003_volatile_arg;
pub mod cb004_cache_mount;
pub mod cb005_apt_update_alone;
pub mod cb006_add_url_checksum;
pub mod cb007_single_stage_build_tools;
pub mod cb008_mutable_base_tag;
pub mod cb009_remote_fetch_in_run;
pub mod cb010_copy_before_system_packages;
pub mod cb011_ci_cache_backend;
pub mod cb012_ci_cache_not_imported;

use super::dockerfile::{Body, CommandForm, CopySource, Dockerfile, Instruction, Kind, Severity};
use super::fix::Fix;
use super::predict::IgnoreInfo;
use super::tree::{Lookup, Needs, Side};

/// What a rule is: its stable code and name, the one-line summary the help text and SARIF
/// list, its default severity, the best applicability its fixes can have, and what it reads.
pub struct Meta {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub severity: Severity,
    /// The best applicability its fixes can have.
    pub fix: Option<super::fix::Applicability>,
    pub reads: Reads,
}

/// What a rule reads, and so where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// One simulated Dockerfile: `check` and `fix` over whole files, and every prediction. The
    /// checker walks it and calls [`Rule::file`], [`Rule::stage`] and [`Rule::instruction`].
    Dockerfile,
    /// A build's prediction for a change (its steps' causes, its CI cache): `analyze`, the
    /// Action and the App. The checker calls [`Rule::prediction`].
    Prediction,
}

/// Which stages a Dockerfile rule's stage and instruction hooks see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// The stages the build runs (the target and what it needs): the default.
    Reachable,
    /// Every stage of the file, built by this target or not (a pinned base or a manifest-first
    /// order matters to every target the file has).
    All,
}

/// A rule of the catalog. The checker ([`check`], [`check_build`]) walks each Dockerfile once
/// and hands every enabled rule what it asked for, as ruff's checker hands AST nodes to its
/// rules: the whole file ([`Rule::file`]), each stage ([`Rule::stage`]), each instruction of a
/// kind the rule names ([`Rule::kinds`], [`Rule::instruction`]), or a build's prediction
/// ([`Rule::prediction`]). Stages the build does not reach are skipped unless the rule asks for
/// [`Stages::All`]. A rule reports into [`Findings`], which fills in the common fields.
pub trait Rule: Sync {
    fn meta(&self) -> &'static Meta;
    /// Which stages the stage and instruction hooks see.
    fn stages(&self) -> Stages {
        Stages::Reachable
    }
    /// The instruction kinds [`Rule::instruction`] is called for.
    fn kinds(&self) -> &'static [Kind] {
        &[]
    }
    /// Once per Dockerfile, before its stages (rules that look across the whole file).
    fn file(&self, _ctx: &RuleContext<'_>, _out: &mut Findings<'_, '_>) {}
    /// Once per stage, in file order, before the stage's instructions.
    fn stage(&self, _ctx: &RuleContext<'_>, _stage: &SimStage, _out: &mut Findings<'_, '_>) {}
    /// Once per instruction of a stage whose kind is in [`Rule::kinds`], in file order.
    fn instruction(&self, _ctx: &RuleContext<'_>, _at: &At<'_>, _out: &mut Findings<'_, '_>) {}
    /// Once per build prediction ([`Reads::Prediction`] rules).
    fn prediction(&self, _ctx: &BuildRuleContext<'_>, _out: &mut Vec<Finding>) {}
}

impl dyn Rule {
    pub fn code(&self) -> &'static str {
        self.meta().code
    }
}

/// An instruction as the walk hands it to [`Rule::instruction`]: its index, its stage, and the
/// stage's instructions around it.
pub struct At<'a> {
    /// Its index in the Dockerfile's instructions.
    pub index: usize,
    pub inst: &'a Instruction,
    pub stage: &'a SimStage,
    /// The stage's instructions after its FROM.
    body: &'a [Instruction],
    /// `index` within `body` (`None` for the FROM itself).
    pos: Option<usize>,
}

impl<'a> At<'a> {
    /// The stage's instructions after its FROM and before this one.
    pub fn before(&self) -> &'a [Instruction] {
        &self.body[..self.pos.unwrap_or(0)]
    }
    /// The stage's instructions after this one.
    pub fn after(&self) -> &'a [Instruction] {
        match self.pos {
            Some(p) => &self.body[p + 1..],
            None => self.body,
        }
    }
}

/// The findings one rule reports while the checker walks a Dockerfile.
pub struct Findings<'r, 'c> {
    meta: &'static Meta,
    ctx: &'r RuleContext<'c>,
    found: Vec<Finding>,
}

impl Findings<'_, '_> {
    /// Report `message` at `inst`, with the fix when the rule has one.
    pub fn report(&mut self, inst: &Instruction, message: String, fix: Option<Fix>) {
        let f = self.meta.finding(self.ctx, inst, message, fix);
        self.found.push(f);
    }
    /// Report a finding built already (with [`Meta::finding`]).
    pub fn push(&mut self, f: Finding) {
        self.found.push(f);
    }
}

use super::predict::sim::SimStage;

/// The catalog as the prediction calls it.
pub const CATALOG: super::predict::rule_input::Catalog = super::predict::rule_input::Catalog {
    dockerfile: check,
    build: check_build,
};

pub const RULES: &[&dyn Rule] = &[
    cb001_manifest_first::RULE,
    cb002_context_noise::RULE,
    cb003_volatile_arg::RULE,
    cb004_cache_mount::RULE,
    cb005_apt_update_alone::RULE,
    cb006_add_url_checksum::RULE,
    cb007_single_stage_build_tools::RULE,
    cb008_mutable_base_tag::RULE,
    cb009_remote_fetch_in_run::RULE,
    cb010_copy_before_system_packages::RULE,
    cb011_ci_cache_backend::RULE,
    cb012_ci_cache_not_imported::RULE,
];

pub fn rule(code: &str) -> Option<&'static Meta> {
    RULES
        .iter()
        .map(|r| r.meta())
        .find(|m| m.code.eq_ignore_ascii_case(code))
}

/// The code of every rule (what `config::parse` accepts under `rules:`).
pub fn codes() -> Vec<&'static str> {
    RULES.iter().map(|r| r.code()).collect()
}

pub use super::predict::rule_input::{BuildRuleContext, RuleContext};
pub use super::report::{Finding, Savings};

impl RuleContext<'_> {
    /// Whether a root-relative path exists in the head tree: `Some(bool)` when known.
    pub fn exists(&self, path: &str) -> Option<bool> {
        let t = self.tree?;
        match t.exists(path) {
            Lookup::Loaded(b) => Some(b),
            Lookup::Missing => {
                self.needs.request(self.side, path, false);
                None
            }
        }
    }

    /// Whether a root-relative path is a directory in the head tree.
    pub fn is_dir(&self, path: &str) -> Option<bool> {
        let t = self.tree?;
        match t.entry(path) {
            Lookup::Loaded(Some(e)) => Some(e.kind == super::tree::EntryKind::Dir),
            Lookup::Loaded(None) => match t.exists(path) {
                Lookup::Loaded(b) => Some(b),
                Lookup::Missing => None,
            },
            Lookup::Missing => {
                self.needs.request(self.side, path, false);
                None
            }
        }
    }

    /// Root-relative path of a context-relative source.
    pub fn in_context(&self, src: &str) -> String {
        let rel = super::tree::join_clean("", src);
        match (self.context.is_empty(), rel.is_empty()) {
            (true, _) => rel,
            (false, true) => self.context.to_string(),
            (false, false) => format!("{}/{rel}", self.context),
        }
    }

    /// Whether a context-relative path is left out by the ignore file in effect.
    pub fn ignored(&self, ctx_rel: &str) -> bool {
        self.ignore.matcher.as_ref().is_some_and(|m| {
            m.walk_excluded(ctx_rel).unwrap_or(false) || m.dir_pruned(ctx_rel).unwrap_or(false)
        })
    }

    /// The lexed script of instruction `idx` when it is a RUN: lexed once for all the rules.
    pub fn script(&self, idx: usize) -> Option<std::sync::Arc<Script>> {
        let inst = self.df.instructions.get(idx)?;
        self.scripts.get_in(self.kept, idx, || run_command(inst))
    }

    /// [`RuleContext::script`] of an instruction of this Dockerfile.
    pub fn script_of(&self, inst: &Instruction) -> Option<std::sync::Arc<Script>> {
        match index_of(self.df, inst) {
            usize::MAX => run_command(inst).map(|t| std::sync::Arc::new(Script::parse(&t))),
            i => self.script(i),
        }
    }

    pub fn stage_of(&self, idx: usize) -> Option<&super::predict::sim::SimStage> {
        self.sim.stage_of.get(&idx).map(|&s| &self.sim.stages[s])
    }

    /// Whether instruction `idx` is in a stage the build runs (what the walk hands the hooks of
    /// a [`Stages::Reachable`] rule; for rules that look at other instructions than their own).
    pub fn reachable(&self, idx: usize) -> bool {
        self.stage_of(idx).is_some_and(|s| s.reachable)
    }

    /// The instruction's text span: from the keyword to the end of its last physical line
    /// (heredoc bodies included), plus the line ending.
    pub fn inst_range(&self, inst: &Instruction) -> std::ops::Range<usize> {
        self.lines.range(self.text, inst.line, inst.end_line)
    }

    /// The raw text of an instruction's lines.
    pub fn inst_text(&self, inst: &Instruction) -> &str {
        &self.text[self.inst_range(inst)]
    }
}

/// Stable identity of a finding across revisions (no line numbers).
pub fn fingerprint(code: &str, stage: &str, instruction: &str) -> String {
    let h = crate::engine::hash::fnv1a(
        instruction
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .bytes(),
    );
    format!("{code}:{stage}:{h:016x}")
}

impl Meta {
    /// A finding of this rule at `inst`, with the common fields filled in: code, name,
    /// severity, lines, the stage it is in and its fingerprint.
    pub fn finding(
        &'static self,
        ctx: &RuleContext<'_>,
        inst: &Instruction,
        message: String,
        fix: Option<Fix>,
    ) -> Finding {
        let stage = ctx
            .sim
            .stage_of
            .get(&index_of(ctx.df, inst))
            .map(|&s| ctx.sim.stages[s].info.display_name())
            .unwrap_or_default();
        Finding {
            code: self.code,
            name: self.name,
            severity: self.severity,
            line: inst.line,
            end_line: inst.end_line,
            fingerprint: fingerprint(self.code, &stage, &inst.display(usize::MAX)),
            stage,
            message,
            fix,
            own_fix: None,
            relevant: false,
            savings: None,
            own_savings: None,
        }
    }
}

impl Meta {
    /// A finding of this prediction rule at a step the change rebuilds (so about the change),
    /// its fingerprint from `what` the rule says and the step's instruction.
    pub fn at_step(
        &'static self,
        step: &super::report::Step,
        what: &str,
        message: String,
        fix: Option<Fix>,
    ) -> Finding {
        Finding {
            code: self.code,
            name: self.name,
            severity: self.severity,
            line: step.line,
            end_line: step.end_line,
            stage: step.stage.clone(),
            fingerprint: fingerprint(
                self.code,
                &step.stage,
                &format!("{what} {}", step.instruction),
            ),
            message,
            fix,
            own_fix: None,
            // read from this change's prediction: about this change
            relevant: true,
            savings: None,
            own_savings: None,
        }
    }
}

/// The index of `inst` in `df.instructions` (`usize::MAX` when it is not one of them: an
/// ONBUILD's instruction, an instruction of another Dockerfile): the place it carries, checked.
pub fn index_of(df: &Dockerfile, inst: &Instruction) -> usize {
    match df.instructions.get(inst.index) {
        Some(x) if std::ptr::eq(x, inst) => inst.index,
        _ => usize::MAX,
    }
}

/// The shell command of a RUN (heredoc bodies appended), or the joined exec array.
pub fn run_command(inst: &Instruction) -> Option<String> {
    match &inst.body {
        Body::Run {
            command: CommandForm::Shell(s),
            heredocs,
        } => {
            let mut t = s.clone();
            for h in heredocs {
                t.push('\n');
                t.push_str(&h.body);
            }
            Some(t)
        }
        Body::Run {
            command: CommandForm::Exec(a),
            ..
        } => Some(a.join(" ")),
        _ => None,
    }
}

pub use crate::engine::shell::{Program, Script};
pub use crate::engine::tools::Tool;

/// The ecosystems whose install a RUN text invokes.
pub fn installs_in(text: &str) -> Vec<&'static Tool> {
    installs_in_script(&Script::parse(text), text)
}

/// [`installs_in`] over an already lexed script of `text`.
pub fn installs_in_script(script: &Script, text: &str) -> Vec<&'static Tool> {
    // global installs (`npm install -g`, `yarn global add`) and `pip install` without a
    // requirements file install tools, not the project's dependencies
    let global = text
        .split_whitespace()
        .any(|w| w == "-g" || w == "--global" || w == "global");
    let pip_project = text.split_whitespace().any(|w| {
        w == "-r" || w.starts_with("--requirement") || (w.starts_with("-r") && w.len() > 2)
    });
    crate::engine::tools::ecosystems()
        .filter(|e| script.programs().any(|p| e.installed_by(p)))
        .filter(|e| {
            !(global && matches!(e.name, "npm" | "yarn" | "pnpm"))
                && (e.name != "pip" || pip_project)
        })
        .collect()
}

/// A COPY/ADD from the build context (no `--from`), with its sources as written.
pub fn context_copy(inst: &Instruction) -> Option<(Vec<&str>, &str)> {
    if !matches!(inst.kind, Kind::Copy | Kind::Add) || inst.flag("from").is_some() {
        return None;
    }
    let Body::Copy { sources, dest, .. } = &inst.body else {
        return None;
    };
    let srcs: Vec<&str> = sources
        .iter()
        .filter_map(|s| match s {
            CopySource::Path(p) => Some(p.as_str()),
            CopySource::Heredoc(_) => None,
        })
        .collect();
    (srcs.len() == sources.len()).then_some((srcs, dest.as_str()))
}

/// What a Dockerfile reads by name from its build context, context-relative: the sources of its
/// `COPY`/`ADD` without `--from` (not `.`, a URL or a variable), the sources of its bind mounts
/// of the context, and `.git` when a `RUN` runs git (`runs_git`). A fix to an ignore file that
/// other builds share must not hide any of them (`RuleContext::shared_reads`).
pub fn context_reads(text: &str) -> Vec<String> {
    let df = super::dockerfile::parse(text);
    let mut out = Vec::new();
    let mut keep = |p: &str| {
        if p.contains('$') || p.contains("://") {
            return;
        }
        let p = super::tree::join_clean("", p.trim_matches('"'));
        if !p.is_empty() && p != "." {
            out.push(p);
        }
    };
    for inst in &df.instructions {
        if let Some((srcs, _)) = context_copy(inst) {
            srcs.into_iter().for_each(&mut keep);
        }
        if inst.kind != Kind::Run {
            continue;
        }
        for f in inst.flags_named("mount") {
            let v = f.value.clone().unwrap_or_default();
            let parts = super::dockerfile::stages::split_csv(&v);
            let bind = parts
                .iter()
                .all(|p| !p.starts_with("type=") || p.as_str() == "type=bind");
            if !bind || parts.iter().any(|p| p.starts_with("from=")) {
                continue;
            }
            for p in &parts {
                if let Some(src) = p.strip_prefix("source=").or_else(|| p.strip_prefix("src=")) {
                    keep(src);
                }
            }
        }
        if run_command(inst).is_some_and(|r| runs_git(&r)) {
            keep(".git");
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a `RUN` command reads the repository's `.git`: it runs `git …` (not `git clone`), or
/// names `.git` as a path (`cat .git/HEAD`).
pub fn runs_git(r: &str) -> bool {
    Script::parse(r)
        .programs()
        .any(|p| p.name == "git" && p.args.first().is_none_or(|a| a != "clone"))
        || r.match_indices(".git").any(|(i, _)| {
            !r[i + 4..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        })
}

/// `.`, `./`, or a directory: a COPY source that takes many files.
pub fn is_broad_source(ctx: &RuleContext<'_>, src: &str) -> bool {
    let s = src.trim_end_matches('/');
    if s.is_empty() || s == "." || s == "./" || src.contains('$') || src.contains("://") {
        return s.is_empty() || s == ".";
    }
    if super::glob::contains_wildcards(s) {
        return false;
    }
    match ctx.is_dir(&ctx.in_context(s)) {
        Some(d) => d,
        // no listing: only an explicit directory (`src/`) counts
        None => src.ends_with('/'),
    }
}

/// Inline ignores: `# cachebust: ignore=CB001,CB003 reason` on the comment lines right above an
/// instruction, and `# cachebust: ignore-file=CB008 reason` anywhere for the whole file.
pub fn ignored_codes(text: &str, df: &Dockerfile) -> (Vec<String>, Vec<(u32, Vec<String>)>) {
    // every rule pass asks, and nearly no Dockerfile has one: a text without the marker has none
    if !text.contains("cachebust:") {
        return (Vec::new(), Vec::new());
    }
    let lines: Vec<&str> = text.lines().collect();
    let parse = |l: &str, key: &str| -> Option<Vec<String>> {
        let t = l.trim_start().strip_prefix('#')?.trim_start();
        let t = t.strip_prefix("cachebust:")?.trim_start();
        let rest = t.strip_prefix(key)?.strip_prefix('=')?;
        let codes = rest.split_whitespace().next().unwrap_or("");
        Some(
            codes
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| c.trim().to_ascii_uppercase())
                .collect(),
        )
    };
    let file: Vec<String> = lines
        .iter()
        .filter_map(|l| parse(l, "ignore-file"))
        .flatten()
        .collect();
    let mut per = Vec::new();
    for inst in &df.instructions {
        let mut codes = Vec::new();
        let mut ln = inst.line as usize - 1;
        while ln > 0 {
            ln -= 1;
            let l = lines.get(ln).copied().unwrap_or("");
            if !l.trim_start().starts_with('#') {
                break;
            }
            if let Some(c) = parse(l, "ignore") {
                codes.extend(c);
            }
        }
        if !codes.is_empty() {
            per.push((inst.line, codes));
        }
    }
    (file, per)
}

/// Run every enabled rule over one Dockerfile (one walk: [`walk`]), drop findings ignored
/// inline, apply configured severities, merge overlapping fixes.
pub fn check(ctx: &RuleContext<'_>, config: &super::settings::Config) -> Vec<Finding> {
    let (file_ignores, inline) = ignored_codes(ctx.text, ctx.df);
    let rules: Vec<&'static dyn Rule> = RULES
        .iter()
        .copied()
        .filter(|r| r.meta().reads == Reads::Dockerfile && enabled(r.code(), config, &file_ignores))
        .collect();
    let found = walk(ctx, &rules);
    let mut out = settle(found.into_iter().flatten(), config, &inline);
    merge_overlapping(&mut out, ctx);
    out
}

/// The rules over a build's prediction for a change ([`Reads::Prediction`]), under the same
/// configuration and inline ignores as the others.
pub fn check_build(ctx: &BuildRuleContext<'_>, config: &super::settings::Config) -> Vec<Finding> {
    // most predictions give these rules nothing to say: the ignores are read only when they do
    let mut found: Vec<Finding> = Vec::new();
    for r in RULES.iter().filter(|r| r.meta().reads == Reads::Prediction) {
        r.prediction(ctx, &mut found);
    }
    if found.is_empty() {
        return Vec::new();
    }
    let (file_ignores, inline) = ignored_codes(ctx.text, ctx.df);
    let kept = found
        .into_iter()
        .filter(|f| enabled(f.code, config, &file_ignores));
    settle(kept, config, &inline)
}

/// Whether a rule runs: not switched off by the configuration nor ignored for the whole file.
fn enabled(code: &str, config: &super::settings::Config, file_ignores: &[String]) -> bool {
    config.rules.get(code).is_none_or(|s| s.enabled()) && !file_ignores.iter().any(|c| c == code)
}

/// The walk: each rule's [`Rule::file`] hook, then stage by stage in file order its
/// [`Rule::stage`] hook and, instruction by instruction, its [`Rule::instruction`] hook for the
/// kinds it names; stages the build does not reach only for [`Stages::All`] rules. One list of
/// findings per rule, in the order of `rules`.
pub fn walk(ctx: &RuleContext<'_>, rules: &[&'static dyn Rule]) -> Vec<Vec<Finding>> {
    let mut outs: Vec<Findings<'_, '_>> = rules
        .iter()
        .map(|r| Findings {
            meta: r.meta(),
            ctx,
            found: Vec::new(),
        })
        .collect();
    for (r, out) in rules.iter().zip(&mut outs) {
        r.file(ctx, out);
    }
    let n = ctx.df.instructions.len();
    for stage in &ctx.sim.stages {
        let seen: Vec<usize> = (0..rules.len())
            .filter(|&k| stage.reachable || rules[k].stages() == Stages::All)
            .collect();
        for &k in &seen {
            rules[k].stage(ctx, stage, &mut outs[k]);
        }
        let end = stage.info.end.min(n);
        let from = stage.info.from.min(end);
        let body = &ctx.df.instructions[(from + 1).min(end)..end];
        for (index, inst) in ctx.df.instructions[from..end].iter().enumerate() {
            let index = from + index;
            let at = At {
                index,
                inst,
                stage,
                body,
                pos: index.checked_sub(from + 1),
            };
            for &k in &seen {
                if rules[k].kinds().contains(&inst.kind) {
                    rules[k].instruction(ctx, &at, &mut outs[k]);
                }
            }
        }
    }
    outs.into_iter().map(|o| o.found).collect()
}

/// Findings less those ignored on their line, with the configured severities, in line order
/// (rule code order on one line).
fn settle(
    found: impl Iterator<Item = Finding>,
    config: &super::settings::Config,
    inline: &[(u32, Vec<String>)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for mut f in found {
        if inline
            .iter()
            .any(|(line, codes)| *line == f.line && codes.iter().any(|c| c == f.code))
        {
            continue;
        }
        if let Some(sev) = config.rules.get(f.code).and_then(|s| s.severity()) {
            f.severity = sev;
        }
        out.push(f);
    }
    out.sort_by(|a, b| a.line.cmp(&b.line).then(a.code.cmp(b.code)));
    out
}

/// Fixes of the same applicability whose edits overlap (CB001 moving lines 3-4, CB004 adding
/// a mount on line 4) become one fix that does both, carried by each of the findings: offered
/// once, and applying it leaves nothing stale. Fixes that do not compose stay apart (`fix`
/// applies them in separate passes).
fn merge_overlapping(out: &mut [Finding], ctx: &RuleContext<'_>) {
    let mut texts = std::collections::BTreeMap::new();
    texts.insert(ctx.path.to_string(), ctx.text.to_string());
    if let (Some(f), Some(t)) = (&ctx.ignore.file, ctx.ignore_text) {
        texts.insert(f.clone(), t.to_string());
    }
    let own_fixes: Vec<Option<super::fix::Fix>> = out.iter().map(|f| f.fix.clone()).collect();
    let own: Vec<Option<String>> = own_fixes
        .iter()
        .map(|f| f.as_ref().map(|x| x.description.clone()))
        .collect();
    let mut merged_any = false;
    for _round in 0..out.len() {
        let mut changed = false;
        for a in 0..out.len() {
            for b in a + 1..out.len() {
                let (Some(fa), Some(fb)) = (&out[a].fix, &out[b].fix) else {
                    continue;
                };
                if fa == fb
                    || fa.applicability != fb.applicability
                    || fa.applicability == super::fix::Applicability::DisplayOnly
                    || !super::fix::fixes_overlap(fa, fb)
                {
                    continue;
                }
                let Some(merged) = super::fix::compose(fa, fb, &texts)
                    .or_else(|| super::fix::compose(fb, fa, &texts))
                else {
                    continue;
                };
                merged_any = true;
                // every finding that carried either fix now carries the merged one
                let (old_a, old_b) = (fa.clone(), fb.clone());
                for f in out.iter_mut() {
                    if f.fix.as_ref().is_some_and(|x| *x == old_a || *x == old_b) {
                        f.fix = Some(merged.clone());
                    }
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if !merged_any {
        return;
    }
    for (f, own) in out.iter_mut().zip(own_fixes) {
        if f.fix != own {
            f.own_fix = own;
        }
    }
    // a merged fix says what each of its parts does
    let fixes: Vec<Option<super::fix::Fix>> = out.iter().map(|f| f.fix.clone()).collect();
    for (i, fx) in fixes.iter().enumerate() {
        let Some(fx) = fx else { continue };
        let members: Vec<usize> = (0..out.len())
            .filter(|&j| fixes[j].as_ref() == Some(fx))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let mut parts: Vec<String> = Vec::new();
        for &j in &members {
            if let Some(d) = &own[j] {
                let p = format!("{} (line {}): {d}", out[j].code, out[j].line);
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
        }
        if let Some(x) = out[i].fix.as_mut() {
            x.description = format!(
                "one fix for {} findings: {}",
                members.len(),
                parts.join("; ")
            );
        }
    }
}

/// Audit one Dockerfile text without a tree (what a rule needs from the context is inferred
/// from the Dockerfile): used to measure the rules over a corpus and by `check` on single files.
pub fn audit_text(
    path: &str,
    text: &str,
    ignore_text: Option<&str>,
    engine: crate::engine::input::EngineKind,
    config: &crate::engine::settings::Config,
) -> Vec<Finding> {
    audit_with(path, text, ignore_text, engine, config, |ctx| {
        check(ctx, config)
    })
    .unwrap_or_default()
}

/// `f` over the rule context [`audit_text`] builds (`None` when the text does not parse).
fn audit_with<T>(
    path: &str,
    text: &str,
    ignore_text: Option<&str>,
    engine: crate::engine::input::EngineKind,
    config: &crate::engine::settings::Config,
    f: impl FnOnce(&RuleContext<'_>) -> T,
) -> Option<T> {
    let df = super::dockerfile::parse(text);
    if !df.ok {
        return None;
    }
    let frontend = match (engine, df.syntax()) {
        (crate::engine::input::EngineKind::Docker2010, None) => super::expand::Frontend::V0_8,
        _ => super::expand::Frontend::Current,
    };
    let sem = super::predict::sim::Semantics {
        frontend,
        daemon_current: engine == crate::engine::input::EngineKind::Buildkit,
        resolves_tags: engine == crate::engine::input::EngineKind::Buildkit,
        merge_op: engine == crate::engine::input::EngineKind::Buildkit && config.builder.merge_op(),
    };
    let args = std::collections::BTreeMap::new();
    let context = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let sim = super::predict::sim::simulate(&super::predict::sim::SideSpec {
        df: &df,
        build_args: &args,
        target: None,
        sem,
        context,
    });
    let flavor = if engine == crate::engine::input::EngineKind::Docker2010 {
        crate::engine::ignore::Flavor::Docker2010
    } else {
        crate::engine::ignore::Flavor::Current
    };
    let patterns = ignore_text
        .map(super::ignore::read_patterns)
        .unwrap_or_default();
    let ignore = IgnoreInfo {
        file: ignore_text.map(|_| {
            if context.is_empty() {
                ".dockerignore".to_string()
            } else {
                format!("{context}/.dockerignore")
            }
        }),
        matcher: super::ignore::Matcher::new(&patterns, flavor).ok(),
        patterns: std::sync::Arc::new(patterns),
    };
    let needs = Needs::default();
    let kept = crate::engine::memo::Memo::default();
    let scripts = crate::engine::shell::Scripts::new(df.instructions.len());
    let lines = super::fix::Lines::default();
    let ctx = RuleContext {
        path,
        text,
        df: &df,
        sim: &sim,
        context,
        tree: None,
        ignore: &ignore,
        ignore_text,
        needs: &needs,
        flavor,
        changes: None,
        side: Side::Head,
        memo: None,
        kept: &kept,
        histories: None,
        build_args: None,
        shared_reads: None,
        scripts: &scripts,
        lines: &lines,
    };
    Some(f(&ctx))
}

/// A finding read back (the server's analysis process sends its report over a pipe): its code
/// and name become the catalog's own strings. Here rather than in `report`, which knows no rule.
#[derive(serde::Deserialize)]
struct FindingRead {
    code: String,
    name: String,
    severity: super::report::Severity,
    line: u32,
    end_line: u32,
    stage: String,
    message: String,
    fix: Option<super::fix::Fix>,
    own_fix: Option<super::fix::Fix>,
    fingerprint: String,
    relevant: bool,
    savings: Option<Savings>,
    own_savings: Option<Savings>,
}

impl<'de> serde::Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Finding, D::Error> {
        Finding::try_from(FindingRead::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<FindingRead> for Finding {
    type Error = String;
    fn try_from(f: FindingRead) -> Result<Finding, String> {
        let rule = rule(&f.code)
            .filter(|r| r.code == f.code && r.name == f.name)
            .ok_or_else(|| format!("{} {} is no rule of the catalog", f.code, f.name))?;
        Ok(Finding {
            code: rule.code,
            name: rule.name,
            severity: f.severity,
            line: f.line,
            end_line: f.end_line,
            stage: f.stage,
            message: f.message,
            fix: f.fix,
            own_fix: f.own_fix,
            fingerprint: f.fingerprint,
            relevant: f.relevant,
            savings: f.savings,
            own_savings: f.own_savings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_dockerfile_reads_from_its_context() {
        let text = "FROM alpine AS a\nCOPY go.mod go.sum ./\nCOPY . .\nCOPY --from=b /x /x\nADD https://e.x/f /f\nCOPY ${D}/x /y\nRUN --mount=type=bind,source=./scripts,target=/s sh /s/a\nRUN --mount=type=cache,target=/c --mount=type=bind,target=. git describe --tags > /v\nRUN --mount=type=bind,from=a,source=/out,target=/o true\n";
        assert_eq!(
            context_reads(text),
            [".git", "go.mod", "go.sum", "scripts"],
            "{text}"
        );
        // `git clone` reads no .git of the context; `cat .git/HEAD` does
        assert!(context_reads("FROM a\nRUN git clone https://x/y\n").is_empty());
        assert_eq!(
            context_reads("FROM a\nCOPY . .\nRUN cat .git/HEAD\n"),
            [".git"]
        );
        assert!(context_reads("FROM a\nRUN echo .github\n").is_empty());
    }

    /// A rule that reports every hook call it gets, to see what the walk hands out.
    struct Probe(Stages);

    const PROBE: Meta = Meta {
        code: "CB999",
        name: "probe",
        summary: "",
        severity: Severity::Info,
        fix: None,
        reads: Reads::Dockerfile,
    };

    impl Rule for Probe {
        fn meta(&self) -> &'static Meta {
            &PROBE
        }
        fn stages(&self) -> Stages {
            self.0
        }
        fn kinds(&self) -> &'static [Kind] {
            &[Kind::Run, Kind::From]
        }
        fn file(&self, ctx: &RuleContext<'_>, out: &mut Findings<'_, '_>) {
            out.report(&ctx.df.instructions[0], "file".into(), None);
        }
        fn stage(&self, ctx: &RuleContext<'_>, st: &SimStage, out: &mut Findings<'_, '_>) {
            let from = &ctx.df.instructions[st.info.from];
            out.report(from, format!("stage {}", st.info.display_name()), None);
        }
        fn instruction(&self, _ctx: &RuleContext<'_>, at: &At<'_>, out: &mut Findings<'_, '_>) {
            let lines = |x: &[Instruction]| x.iter().map(|i| i.line).collect::<Vec<_>>();
            let what = format!(
                "{} at {} before {:?} after {:?}",
                at.inst.display(20),
                at.index,
                lines(at.before()),
                lines(at.after())
            );
            out.report(at.inst, what, None);
        }
    }

    #[test]
    fn the_walk_hands_each_hook_what_it_asked_for() {
        // stage `unused` is not built for the last stage; `b` builds on `a`
        let text = "FROM alpine AS a\nRUN one\nCOPY x y\nRUN two\nFROM alpine AS unused\nRUN three\nFROM a AS b\nENV K=v\nRUN four\n";
        let config = crate::engine::settings::Config::default();
        let walked = |stages: Stages| -> Vec<(u32, String)> {
            let rule: &'static dyn Rule = if stages == Stages::All {
                &Probe(Stages::All)
            } else {
                &Probe(Stages::Reachable)
            };
            audit_with(
                "Dockerfile",
                text,
                None,
                crate::engine::input::EngineKind::Buildkit,
                &config,
                |ctx| walk(ctx, &[rule]),
            )
            .expect("parses")
            .remove(0)
            .into_iter()
            .map(|f| (f.line, f.message))
            .collect()
        };
        let reachable = walked(Stages::Reachable);
        assert_eq!(
            reachable,
            [
                (1, "file".to_string()),
                (1, "stage a".into()),
                (1, "FROM alpine AS a at 0 before [] after [2, 3, 4]".into()),
                (2, "RUN one at 1 before [] after [3, 4]".into()),
                (4, "RUN two at 3 before [2, 3] after []".into()),
                (7, "stage b".into()),
                (7, "FROM a AS b at 6 before [] after [8, 9]".into()),
                (9, "RUN four at 8 before [8] after []".into()),
            ],
            "{reachable:#?}"
        );
        // a rule over every stage also sees the stage the build does not reach, in file order
        let all = walked(Stages::All);
        assert_eq!(all.len(), reachable.len() + 3, "{all:#?}");
        assert_eq!(all[5], (5, "stage unused".to_string()), "{all:#?}");
        assert_eq!(all[7].0, 6, "{all:#?}");
    }

    #[test]
    fn inline_ignores() {
        let t = "FROM a\n# cachebust: ignore=CB001,cb003 the lockfile is generated\nCOPY . .\n# cachebust: ignore-file=CB008\nRUN x\n";
        let df = super::super::dockerfile::parse(t);
        let (file, per) = ignored_codes(t, &df);
        assert_eq!(file, vec!["CB008"]);
        assert_eq!(
            per,
            vec![(3, vec!["CB001".to_string(), "CB003".to_string()])]
        );
    }

    #[test]
    fn ecosystems() {
        assert_eq!(
            installs_in("npm ci --omit=dev")
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>(),
            vec!["npm"]
        );
        assert!(installs_in("npm run build").is_empty());
        assert_eq!(
            installs_in("pip install --no-cache-dir -r requirements.txt")[0].name,
            "pip"
        );
        assert_eq!(installs_in("CGO_ENABLED=0 go mod download")[0].name, "go");
    }
}
