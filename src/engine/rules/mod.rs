//! The rule catalog: one rule per file (`cb001_…` to `cb011_…`), each with a stable code, a
//! name, its docs ("What it does / Why it costs cache / Example / Fix safety"), a check and,
//! where it can, a fix. A check reads one parsed and simulated Dockerfile (`Check::Dockerfile`:
//! `check`, `fix` and every prediction run it), or a build's prediction for a change
//! (`Check::Prediction`: the causes of its rebuilt steps, its CI cache; `analyze`, the Action
//! and the App run it). This module holds the registry,
//! what the rules share (the build context, package ecosystems, instruction helpers), inline
//! `# cachebust: ignore=CB001 reason` comments and the configuration's rule settings.

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

use super::dockerfile::{Body, CommandForm, CopySource, Dockerfile, Instruction, Kind, Severity};
use super::fix::Fix;
use super::predict::IgnoreInfo;
use super::tree::{Lookup, Needs, Side};

/// A rule's registry entry.
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub severity: Severity,
    /// The best applicability its fixes can have.
    pub fix: Option<super::fix::Applicability>,
    pub check: Check,
}

/// What a rule reads, and so where it runs.
pub enum Check {
    /// One simulated Dockerfile: `check` and `fix` over whole files, and every prediction.
    Dockerfile(fn(&RuleContext<'_>) -> Vec<Finding>),
    /// A build's prediction for a change (its steps' causes, its CI cache): `analyze`, the
    /// Action and the App.
    Prediction(fn(&BuildRuleContext<'_>) -> Vec<Finding>),
}

/// The catalog as the prediction calls it.
pub const CATALOG: super::predict::rule_input::Catalog = super::predict::rule_input::Catalog {
    dockerfile: check,
    build: check_build,
};

pub const RULES: &[Rule] = &[
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
];

pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code.eq_ignore_ascii_case(code))
}

/// The code of every rule (what `config::parse` accepts under `rules:`).
pub fn codes() -> Vec<&'static str> {
    RULES.iter().map(|r| r.code).collect()
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
        self.scripts.get(idx, || run_command(inst))
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

    /// The instruction's text span: from the keyword to the end of its last physical line
    /// (heredoc bodies included), plus the line ending.
    pub fn inst_range(&self, inst: &Instruction) -> std::ops::Range<usize> {
        super::fix::line_range(self.text, inst.line, inst.end_line)
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

/// A finding with the common fields filled in.
pub fn finding(
    rule: &Rule,
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
        code: rule.code,
        name: rule.name,
        severity: rule.severity,
        line: inst.line,
        end_line: inst.end_line,
        fingerprint: fingerprint(rule.code, &stage, &inst.display(usize::MAX)),
        stage,
        message,
        fix,
        own_fix: None,
        relevant: false,
        savings: None,
        own_savings: None,
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

/// Run every rule, drop findings ignored inline or switched off, apply configured severities.
pub fn check(ctx: &RuleContext<'_>, config: &super::settings::Config) -> Vec<Finding> {
    let mut out = run_catalog(ctx.text, ctx.df, config, |_, c| match c {
        Check::Dockerfile(f) => f(ctx),
        Check::Prediction(_) => Vec::new(),
    });
    merge_overlapping(&mut out, ctx);
    out
}

/// The rules over a build's prediction for a change (`Check::Prediction`), under the same
/// configuration and inline ignores as the others.
pub fn check_build(ctx: &BuildRuleContext<'_>, config: &super::settings::Config) -> Vec<Finding> {
    // most predictions give these rules nothing to say: the ignores are read only when they do
    let found: Vec<Vec<Finding>> = RULES
        .iter()
        .map(|r| match r.check {
            Check::Prediction(f) => f(ctx),
            Check::Dockerfile(_) => Vec::new(),
        })
        .collect();
    if found.iter().all(Vec::is_empty) {
        return Vec::new();
    }
    let found = std::cell::RefCell::new(found);
    run_catalog(ctx.text, ctx.df, config, |i, _| {
        std::mem::take(&mut found.borrow_mut()[i])
    })
}

/// Every enabled rule's findings from `run`, less those ignored in the Dockerfile (the whole
/// file, or the finding's line), with the configured severities, in line order.
fn run_catalog(
    text: &str,
    df: &Dockerfile,
    config: &super::settings::Config,
    run: impl Fn(usize, &Check) -> Vec<Finding>,
) -> Vec<Finding> {
    let (file_ignores, inline) = ignored_codes(text, df);
    let mut out = Vec::new();
    for (i, r) in RULES.iter().enumerate() {
        let setting = config.rules.get(r.code);
        if setting.is_some_and(|s| !s.enabled()) || file_ignores.iter().any(|c| c == r.code) {
            continue;
        }
        for mut f in run(i, &r.check) {
            if inline
                .iter()
                .any(|(line, codes)| *line == f.line && codes.iter().any(|c| c == f.code))
            {
                continue;
            }
            if let Some(sev) = setting.and_then(|s| s.severity()) {
                f.severity = sev;
            }
            out.push(f);
        }
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
    let df = super::dockerfile::parse(text);
    if !df.ok {
        return Vec::new();
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
    };
    check(&ctx, config)
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
