//! Turning a `Report` into what people and programs read: the reason sentence of each step,
//! plain text for the terminal, JSON (version 1, a contract), and markdown. Pure functions;
//! every user-facing sentence about a prediction is made here.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod action;
pub mod builds;
pub mod check;
pub mod checkrun;
pub mod ci;
pub mod diff;
pub mod history;
pub mod json;
pub mod markdown;
pub mod metrics;
pub mod review;
pub mod sarif;
pub mod savings;
pub mod text;

pub use savings::{
    Claim, avoidable_seconds, claim, claim_sentence, claim_short, claimed_by, saved_seconds,
    saving_short, savings_sentence,
};

use crate::engine::report::{
    Cause, CauseKind, ContextGuess, DockerfileReport, Note, Origin, Report, Status, Step,
};

/// Facts about the run that are not part of the engine's report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunMeta {
    pub base: String,
    pub head: String,
    /// What the report is: a prediction (`analyze`, `verify`) or an audit (`check`).
    #[serde(skip)]
    pub mode: Mode,
    /// Text only: colour for a terminal.
    #[serde(skip)]
    pub color: bool,
    /// What the run says beside the report (the merge base, the trees read, an edited
    /// configuration, CI's records): JSON lists each as a warning diagnostic without a file,
    /// after the report's own.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// A report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// SARIF 2.1.0, for code scanning uploads.
    Sarif,
}

/// What a report holds: the prediction for a change, or the findings of an audit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Prediction,
    Check,
}

/// A report in `format`: the one entry the CLI calls for every command that prints a report
/// (adding a format is one arm here and one file).
pub fn render(format: Format, report: &Report, meta: &RunMeta) -> String {
    match (meta.mode, format) {
        (Mode::Prediction, Format::Text) => text::render_with(
            report,
            &text::TextOptions {
                color: meta.color,
                width: text::WIDTH,
            },
        ),
        (Mode::Prediction, Format::Json) => json::render(report, meta),
        (Mode::Prediction, Format::Markdown) => visible_lines(&markdown::render(report)),
        (Mode::Prediction, Format::Sarif) => sarif::render(report, false),
        (Mode::Check, Format::Text) => check::text(report),
        (Mode::Check, Format::Json) => check::json(report),
        (Mode::Check, Format::Markdown) => visible_lines(&check::markdown(report)),
        (Mode::Check, Format::Sarif) => sarif::render(report, true),
    }
}

/// The assumption every prediction rests on (also in `--help` and docs/how-it-works.md).
pub const ASSUMPTION: &str = "The base revision was built with the same target and build args on this builder, and its cache is warm.";

fn shorten_list(paths: &[String], total: usize, max: usize) -> String {
    let shown: Vec<String> = paths.iter().take(max).map(|p| code(p)).collect();
    let more = total.saturating_sub(shown.len());
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Opens a code span in a sentence made here (never in repository text, which has these
/// characters removed): markdown turns the span into inline code that keeps the text byte for
/// byte, the terminal shows it plain or coloured, JSON gets backticks.
pub const CODE_OPEN: char = '\u{E000}';
/// Closes a code span (see `CODE_OPEN`).
pub const CODE_CLOSE: char = '\u{E001}';

/// Inline code for text that came from the repository, kept exactly.
pub fn code(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| *c != CODE_OPEN && *c != CODE_CLOSE)
        .collect();
    format!("{CODE_OPEN}{s}{CODE_CLOSE}")
}

/// A sentence with its code spans in backticks (a backtick inside becomes `'`): JSON, SARIF
/// and workflow commands, whose readers expect the version 1 wording.
pub fn backticked(s: &str) -> String {
    spans(s, |c| format!("`{}`", c.replace('`', "'")), str::to_string)
}

/// A sentence with its code spans as plain text (the terminal without colour).
pub fn plain(s: &str) -> String {
    spans(s, str::to_string, str::to_string)
}

/// Rebuild a sentence, mapping its code spans and the text between them.
pub fn spans(s: &str, in_code: impl Fn(&str) -> String, text: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(i) = rest.find(CODE_OPEN) {
        out.push_str(&text(&rest[..i]));
        let after = &rest[i + CODE_OPEN.len_utf8()..];
        let end = after.find(CODE_CLOSE).unwrap_or(after.len());
        out.push_str(&in_code(&after[..end]));
        rest = after.get(end + CODE_CLOSE.len_utf8()..).unwrap_or("");
    }
    out.push_str(&text(rest));
    out
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(s) if s.is_empty() => "\"\"".into(),
        Some(s) => code(s),
        None => "unset".into(),
    }
}

/// `before → after`, an absent value as `unset`.
fn arrow(before: &Option<String>, after: &Option<String>) -> String {
    format!("{} → {}", value(before), value(after))
}

/// `before → after` of two values both sides have.
fn arrow_of(before: &str, after: &str) -> String {
    arrow(&Some(before.to_string()), &Some(after.to_string()))
}

/// Whether a character must be written out (`\u{…}`) in text: it would act on a terminal or a
/// CI log instead of showing, reorder the text around it, or not show at all. Every control
/// character but the tab: C0 (newline and carriage return included: a name holding one would
/// start a line of its own, which a CI runner may read as a workflow command), DEL and C1 (ESC
/// starts terminal sequences, NEL ends a line); the Unicode bidirectional controls ("Trojan
/// Source": U+202A–U+202E, U+2066–U+2069 and the marks); the line and paragraph separators
/// U+2028/U+2029; zero-width and other invisible format characters (U+200B–U+200D, U+2060–U+2064,
/// U+FEFF, the soft hyphen, the Hangul fillers, the Mongolian vowel separator, variation
/// selectors) and the tag characters U+E0000–U+E007F (invisible text).
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206a}'..='\u{206f}'
                | '\u{feff}'
                | '\u{00ad}'
                | '\u{034f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{3164}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e007f}'
                | '\u{e0100}'..='\u{e01ef}'
        )
}

fn write_escaped(o: &mut String, c: char) {
    let _ = std::fmt::Write::write_fmt(o, format_args!("\\u{{{:x}}}", c as u32));
}

/// `s` with every hidden character (see `is_hidden`) written out as `\u{…}`, so a file name,
/// instruction or commit message from a pull request shows what it holds, stays on its line, and
/// cannot act on the reader's terminal or CI log or reorder the text around it. The one function
/// every text sink uses for a value; documents made of lines are `visible_lines`.
pub fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) {
            write_escaped(&mut o, c);
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

/// A document for a terminal or a CI log, made of the renderer's own lines: its line breaks
/// (`\n`, and `\r\n`) are kept, every other hidden character is written out (`visible`; the
/// values in it have had theirs written out already), and no line can be read as a GitHub
/// Actions workflow command: the runner takes `::` at the start of a line (after white space) and
/// `##[` anywhere in it, so the first `:` of a leading `::` is written `\u{3a}` and the second `#`
/// of `##[` `\u{23}`.
pub fn visible_lines(s: &str) -> String {
    visible_lines_keeping(s, &[])
}

/// `visible_lines`, keeping the escape sequences in `keep` (the renderer's own colours).
pub fn visible_lines_keeping(s: &str, keep: &[&str]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(seq) = keep.iter().find(|k| !k.is_empty() && rest.starts_with(**k)) {
            out.push_str(seq);
            rest = &rest[seq.len()..];
            continue;
        }
        if c == '\n' || (c == '\r' && rest[1..].starts_with('\n')) || !is_hidden(c) {
            out.push(c);
        } else {
            write_escaped(&mut out, c);
        }
        rest = &rest[c.len_utf8()..];
    }
    no_workflow_commands(&out)
}

/// `s` (lines) with no line a CI runner reads as a workflow command: see `visible_lines`.
fn no_workflow_commands(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let body = line.trim_start();
        let lead = line.len() - body.len();
        let line = if body.starts_with("::") {
            std::borrow::Cow::Owned(format!("{}\\u{{3a}}{}", &line[..lead], &body[1..]))
        } else {
            std::borrow::Cow::Borrowed(line)
        };
        out.push_str(&line.replace("##[", "#\\u{23}["));
    }
    out
}

/// One event of the server's log as written: a text event stays one line (a value's line breaks
/// and every other hidden character written out, no workflow command); in a JSON event, whose
/// C0 controls the serialiser escaped already, the other hidden characters become JSON escapes
/// (`json_printed`).
pub fn log_event(event: &str, json: bool) -> String {
    let (body, end) = match event.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (event, ""),
    };
    if json {
        let mut o = json_printed(body.to_string());
        o.push_str(end);
        return o;
    }
    visible_lines(&format!("{}{end}", visible(body)))
}

/// A JSON document printed where a terminal or a CI runner reads it, meaning the same to a JSON
/// reader: the hidden characters JSON leaves raw (C1 controls, bidi, zero-width, tag characters,
/// U+2028/U+2029; they can only stand inside strings) become `\uXXXX` escapes, and so does the
/// second `#` of `##[` (a workflow command anywhere in a line, also only inside a string).
pub fn json_printed(s: String) -> String {
    if !s.contains("##[") && !s.chars().any(|c| c != '\n' && is_hidden(c)) {
        return s;
    }
    let mut o = String::with_capacity(s.len() + 16);
    let mut units = [0u16; 2];
    for c in s.chars() {
        if c != '\n' && is_hidden(c) {
            for u in c.encode_utf16(&mut units) {
                let _ = std::fmt::Write::write_fmt(&mut o, format_args!("\\u{:04x}", u));
            }
        } else {
            o.push(c);
        }
    }
    o.replace("##[", "#\\u0023[")
}

/// Where a build's diagnostic points: `file:line`, `file` when it concerns the whole file; the
/// file is the Dockerfile unless the diagnostic names another (a `.dockerignore`).
pub fn diagnostic_at(dockerfile: &str, d: &crate::engine::report::Diagnostic) -> String {
    let file = d.file.as_deref().unwrap_or(dockerfile);
    if d.line > 0 {
        format!("{file}:{}", d.line)
    } else {
        file.to_string()
    }
}

/// The sentence explaining a cause (without the leading status). One arm per variant, so that a
/// new cause does not compile without its sentence; the longer sentences are made by the
/// helpers below, grouped by cause family.
pub fn cause_sentence(c: &Cause, df: &DockerfileReport) -> String {
    match c {
        Cause::InstructionAdded { .. } => {
            "the instruction is new (or replaces another): no cached step has this text".into()
        }
        Cause::InstructionRemoved {
            base_line, before, ..
        } => removed_sentence(*base_line, before),
        Cause::HeredocChanged { .. } => "the heredoc content changed".into(),
        Cause::InstructionChanged {
            base_line, before, ..
        } => changed_sentence(*base_line, before.as_deref()),
        Cause::Files { paths, .. } => files_sentence(paths, df),
        Cause::Dockerignore { file, paths, .. } => dockerignore_sentence(file.as_deref(), paths),
        Cause::BuildArg {
            line,
            name,
            before,
            after,
            ..
        } => build_arg_sentence(*line, name, before, after),
        Cause::ArgRemoved {
            name, base_line, ..
        } => arg_removed_sentence(name, *base_line),
        Cause::Arg {
            line,
            name,
            before,
            after,
            ..
        } => arg_sentence(*line, name, before, after),
        Cause::EnvOrder { line } => env_order_sentence(*line),
        Cause::EnvRemoved {
            name, base_line, ..
        } => format!("ENV {} (base line {base_line}) was removed", code(name)),
        Cause::Env {
            line,
            name,
            before,
            after,
            ..
        } => env_sentence(*line, name, before, after),
        Cause::User {
            line,
            before,
            after,
            ..
        } => format!("USER at line {line} changed ({})", arrow_of(before, after)),
        Cause::Shell {
            line,
            before,
            after,
            ..
        } => format!("SHELL at line {line} changed ({})", arrow_of(before, after)),
        Cause::Workdir {
            line,
            before,
            after,
            ..
        } => workdir_sentence(*line, before, after),
        Cause::FromPlatform { before, after, .. } => platform_sentence(before, after),
        Cause::BaseImage { before, after, .. } => base_image_sentence(&arrow_of(before, after)),
        Cause::ImageVariable { before, after, .. } => base_image_sentence(&arrow(before, after)),
        Cause::ParentStage { line, stage } => parent_stage_sentence(*line, stage),
        Cause::CopyFrom {
            stage,
            producer_line,
            paths,
            ..
        } => copy_from_sentence(stage, *producer_line, paths),
        Cause::Onbuild { line, .. } => onbuild_sentence(*line),
        Cause::Syntax { .. } => syntax_sentence(),
        Cause::NewDockerfile { .. } => {
            "the Dockerfile is new in this change: nothing of it is cached".into()
        }
        Cause::BaseNotBuildable { .. } => {
            "the base revision of this Dockerfile does not build, so it left no cache".into()
        }
        Cause::Follows { follows_line, .. } => follows_sentence(*follows_line),
        Cause::NotExported {
            needed_by,
            cache,
            mode,
            ..
        } => not_exported_sentence(*needed_by, cache, *mode),
        Cause::CacheReplaced { cache, by, .. } => cache_replaced_sentence(cache, by),
        Cause::CacheEmpty { cache, .. } => cache_empty_sentence(cache),
        Cause::NoCacheImport { file, .. } => no_cache_import_sentence(file),
        Cause::NoCache { file, .. } => no_cache_sentence(file),
        Cause::NoCacheFilter { stage, .. } => no_cache_filter_sentence(stage),
    }
}

// The Dockerfile's text: a removed or changed instruction, the `# syntax` directive.

/// `Cause::InstructionRemoved`: the instruction before the step (`before`, at `base_line`).
fn removed_sentence(base_line: u32, before: &str) -> String {
    format!(
        "the instruction before it ({}, base line {base_line}) was removed",
        code(before)
    )
}

/// `Cause::InstructionChanged`: what the instruction was (at `base_line`), when known.
fn changed_sentence(base_line: Option<u32>, before: Option<&str>) -> String {
    match before {
        Some(b) => format!(
            "the instruction changed (was {}{})",
            code(b),
            base_line
                .map(|l| format!(" at base line {l}"))
                .unwrap_or_default()
        ),
        None => "the instruction or its flags changed".into(),
    }
}

/// `Cause::Syntax`: a different frontend.
fn syntax_sentence() -> String {
    format!(
        "the {} directive changed: a different frontend builds the whole file",
        code("# syntax")
    )
}

// The base image and the stages: the FROM image or platform, a parent stage, an ONBUILD
// trigger, the step a later miss follows.

/// `Cause::FromPlatform`: the FROM platform's values.
fn platform_sentence(before: &str, after: &str) -> String {
    format!("the FROM platform changed ({})", arrow_of(before, after))
}

/// `Cause::BaseImage`, `Cause::ImageVariable`: the values (`arrow`) of what changed.
fn base_image_sentence(arrow: &str) -> String {
    format!("the base image changed ({arrow})")
}

/// `Cause::Onbuild`: the trigger's line.
fn onbuild_sentence(line: u32) -> String {
    format!("an ONBUILD trigger of its parent stage changed at line {line}")
}

/// `Cause::ParentStage`: the stage it builds FROM, and where that stage rebuilds.
fn parent_stage_sentence(line: u32, stage: &str) -> String {
    format!(
        "it builds FROM stage {}, which rebuilds from line {line}",
        code(stage),
    )
}

/// `Cause::Follows`: the rebuilt step it follows.
fn follows_sentence(follows_line: u32) -> String {
    format!("follows the rebuilt step at line {follows_line}")
}

// Files: the copied files, `.dockerignore`, another stage's files.

/// `Cause::Files`: the changed files, and a hint when the Dockerfile itself is among them.
fn files_sentence(paths: &crate::engine::report::Paths, df: &DockerfileReport) -> String {
    let mut s = format!(
        "files it copies changed: {}",
        shorten_list(&paths.shown, paths.total, 5)
    );
    if paths.shown.iter().any(|p| p == &df.path) {
        s.push_str(" — the Dockerfile itself is in the copied context (list it in .dockerignore to stop this)");
    }
    s
}

/// `Cause::Dockerignore`: the ignore file (`.dockerignore` when unnamed) and the paths.
fn dockerignore_sentence(file: Option<&str>, paths: &crate::engine::report::Paths) -> String {
    format!(
        "{} changed which files it copies: {}",
        code(file.unwrap_or(".dockerignore")),
        shorten_list(&paths.shown, paths.total, 5)
    )
}

/// `Cause::CopyFrom`: the source stage, the step that makes the files, the changed paths.
fn copy_from_sentence(
    stage: &str,
    producer_line: Option<u32>,
    paths: &crate::engine::report::Paths,
) -> String {
    let mut s = format!("the files it takes from stage {} change", code(stage));
    if let Some(l) = producer_line {
        s.push_str(&format!(" (made at line {l})"));
    }
    if !paths.shown.is_empty() {
        s.push_str(&format!(": {}", shorten_list(&paths.shown, paths.total, 5)));
    }
    s
}

// Variables and settings: build args, ARG, ENV, WORKDIR.

/// `Cause::BuildArg`: the build arg's values, and where it is declared.
fn build_arg_sentence(
    line: u32,
    name: &str,
    before: &Option<String>,
    after: &Option<String>,
) -> String {
    format!(
        "build arg {} changed ({}) declared at line {line}",
        code(name),
        arrow(before, after),
    )
}

/// `Cause::ArgRemoved`: the ARG the base declared.
fn arg_removed_sentence(name: &str, base_line: u32) -> String {
    format!(
        "ARG {} (base line {base_line}) was removed; every valued ARG is part of the environment of later RUNs",
        code(name),
    )
}

/// `Cause::Arg`: the ARG's values.
fn arg_sentence(line: u32, name: &str, before: &Option<String>, after: &Option<String>) -> String {
    format!(
        "ARG {} at line {line} changed its value ({}); every valued ARG is part of the environment of later RUNs, used or not",
        code(name),
        arrow(before, after)
    )
}

/// `Cause::EnvOrder`: the same ENV values in another order.
fn env_order_sentence(line: u32) -> String {
    format!(
        "the order of ENV values changed at line {line} (BuildKit keys the environment as an ordered list)"
    )
}

/// `Cause::Env`: the ENV's values.
fn env_sentence(line: u32, name: &str, before: &Option<String>, after: &Option<String>) -> String {
    format!(
        "ENV {} at line {line} changed ({})",
        code(name),
        arrow(before, after)
    )
}

/// `Cause::Workdir`: the working directory's values.
fn workdir_sentence(line: u32, before: &str, after: &str) -> String {
    format!(
        "the working directory changed by WORKDIR at line {line} ({})",
        arrow_of(before, after)
    )
}

// The CI cache backend: a cache that cannot serve the step, no cache at all.

/// `Cause::NotExported`: the imported cache (exported with `mode`) has no result the re-run
/// step at `needed_by` needs.
fn not_exported_sentence(
    needed_by: u32,
    cache: &str,
    mode: crate::engine::backend::Mode,
) -> String {
    match mode {
        crate::engine::backend::Mode::Min => format!(
            "nothing changed for it, but the cache imported from {} was exported with {}, which keeps only the final image's layers, and the re-run step at line {needed_by} needs its result",
            code(cache),
            code("mode=min")
        ),
        crate::engine::backend::Mode::Max => format!(
            "nothing changed for it, but the cache imported from {} holds no result for it, and the re-run step at line {needed_by} needs its result",
            code(cache)
        ),
    }
}

/// `Cause::CacheReplaced`: `by` exported to the same place and replaced the records.
fn cache_replaced_sentence(cache: &str, by: &str) -> String {
    format!(
        "the cache imported from {} holds no record of it: {} exports to the same place after this build and replaces its cache",
        code(cache),
        code(by)
    )
}

/// `Cause::CacheEmpty`: nothing exported there.
fn cache_empty_sentence(cache: &str) -> String {
    format!(
        "the cache imported from {} is empty on this run: the base revision's workflow exports nothing there",
        code(cache)
    )
}

/// `Cause::NoCacheImport`: the workflow step in `file` imports no cache.
fn no_cache_import_sentence(file: &str) -> String {
    format!(
        "the runner starts with an empty builder and the step in {} imports no cache ({})",
        code(file),
        code("cache-from")
    )
}

/// `Cause::NoCache`: `no-cache: true` on the workflow step in `file`.
fn no_cache_sentence(file: &str) -> String {
    format!(
        "the step in {} builds with {}",
        code(file),
        code("no-cache: true")
    )
}

/// `Cause::NoCacheFilter`: `no-cache-filters` names the step's stage.
fn no_cache_filter_sentence(stage: &str) -> String {
    format!("{} names stage {}", code("no-cache-filters"), code(stage))
}

/// A real outcome in a few words.
pub fn outcome_word(o: crate::engine::report::RealOutcome) -> &'static str {
    use crate::engine::report::RealOutcome;
    match o {
        RealOutcome::Cached => "cached",
        RealOutcome::Ran => "ran",
        RealOutcome::Mixed => "ran on some platforms",
        RealOutcome::Failed => "failed",
        RealOutcome::NotSeen => "not in the build",
    }
}

/// Why a step's real outcome differs from the prediction.
pub fn difference_sentence(d: &crate::engine::report::Difference) -> String {
    use crate::engine::report::Difference;
    match d {
        Difference::NoCache => format!("the build ran with {}", code("no-cache")),
        Difference::NoCacheImported => "the build imported no cache and its builder held none of the base's: a fresh runner starts empty (declare a cache backend with cache-from), or the cache was pruned".into(),
        Difference::NotExported { cache, needed_by } => format!(
            "the imported cache ({}) has its key but no result (it was exported with {}, which keeps only the final image's layers), and line {needed_by}, which ran, needs its result",
            code(cache),
            code("mode=min")
        ),
        Difference::BaseMoved { image } => format!(
            "every stage built from {} ran from its first step: the tag resolved to another image than the one cached (it moved upstream)",
            code(image)
        ),
        Difference::Evicted => "its cache record was not there: evicted, or the base was never built where this build looked".into(),
        Difference::SameBytes => "the re-run step made the same bytes, so the copy hit (the prediction said it might)".into(),
        Difference::CacheHeld => "the cache held its result after all (exported with mode=max, or the builder kept it)".into(),
        Difference::ModelWrong => "cachebust predicted a miss BuildKit did not have: the model is wrong for this step (please report it)".into(),
        Difference::PlainLogAmbiguous => "the plain log cannot tell: with an imported cache a hit that downloads its layer prints DONE (give the build record or rawjson progress)".into(),
        Difference::Failed { message: Some(m) } => format!("the step failed: {}", code(m)),
        Difference::Failed { message: None } => "the step failed".into(),
    }
}

/// The summary of one verification: `5 of 7 steps agree, 2 differ`.
pub fn verification_summary(v: &crate::engine::report::Verification) -> String {
    let compared = v.agreed + v.differed;
    let mut s = format!(
        "{} of {compared} step{} as predicted",
        v.agreed,
        if compared == 1 { "" } else { "s" }
    );
    if v.differed > 0 {
        s.push_str(&format!(", {} differ", v.differed));
    }
    let source = match v.source {
        crate::engine::report::RealSource::Record => "build record",
        crate::engine::report::RealSource::CiRecord => "build record from CI",
        crate::engine::report::RealSource::Rawjson => "rawjson progress",
        crate::engine::report::RealSource::Plain => "plain progress",
    };
    s.push_str(&format!(" ({source}"));
    if v.cache_imports.is_empty() {
        s.push_str(", no cache imported)");
    } else {
        s.push_str(&format!(
            ", cache imported from {})",
            v.cache_imports
                .iter()
                .map(|c| code(c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// The sentence of what a build was predicted under.
pub fn assumption_sentence(a: &crate::engine::report::Assumption) -> String {
    use crate::engine::report::Assumption;
    match a {
        Assumption::WarmLocal => "a warm local builder that built the base revision".into(),
        Assumption::FreshRunner(f) => {
            let mut s = String::from("a fresh runner");
            if f.imports.is_empty() {
                s.push_str(", no cache imported");
            }
            for (i, imp) in f.imports.iter().enumerate() {
                s.push_str(if i == 0 {
                    ", cache from "
                } else {
                    " and from "
                });
                s.push_str(&code(&imp.cache));
                match (imp.writer.as_str(), imp.mode, &imp.by) {
                    ("other", Some(m), Some(by)) => s.push_str(&format!(
                        " with {} as {} exported it",
                        code(&format!("mode={}", m.name())),
                        code(by)
                    )),
                    (_, Some(m), _) => {
                        s.push_str(&format!(" with {}", code(&format!("mode={}", m.name()))))
                    }
                    ("nothing", _, _) => s.push_str(" (nothing exports there yet)"),
                    ("unknown", _, _) => {
                        s.push_str(" (exported outside the workflows read; taken as complete)")
                    }
                    _ => {}
                }
            }
            if f.no_cache {
                s.push_str(&format!(", {}", code("no-cache")));
            }
            if !f.no_cache_filters.is_empty() {
                s.push_str(&format!(
                    ", {} {}",
                    code("no-cache-filters"),
                    f.no_cache_filters
                        .iter()
                        .map(|x| code(x))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if f.pull {
                s.push_str(&format!(", {} (base images re-resolved)", code("pull")));
            }
            if f.platforms.len() > 1 {
                s.push_str(&format!(
                    ", {} platforms ({}): each rebuilt step runs once per platform",
                    f.platforms.len(),
                    f.platforms.join(", ")
                ));
            }
            s.push_str(&format!(" ({}, job {}, {})", f.workflow, f.job, f.step));
            s
        }
    }
}

pub fn note_sentence(n: &Note) -> String {
    match n {
        // an empty name never reaches a sentence: say what it is
        Note::MutableTag { image, .. } if image.trim().is_empty() => {
            "the base image's name is empty here (a build arg with no value?): the stage cannot be predicted until it is set".into()
        }
        Note::MutableTag { image, engine_checks_registry: true } => {
            format!("{} is a tag BuildKit re-resolves on every build: if it moved upstream since the base build, this stage rebuilds", code(image))
        }
        Note::MutableTag { image, engine_checks_registry: false } => {
            format!("Docker 20.10 uses the local {} until someone pulls it; a pull of a moved tag rebuilds this stage", code(image))
        }
        Note::RemoteSource { url } => format!("uncertain: {} is fetched on every build; the step rebuilds if it changed upstream", code(url)),
        Note::MayStayCached { stage, producer_line } => format!(
            "uncertain: may stay cached — stage {} re-runs line {producer_line}, which makes the copied files, and BuildKit keeps this step cached if they come out byte-identical",
            code(stage)
        ),
        Note::EarlyCutoff { stage, producer_line: Some(l) } => format!(
            "the files it takes from stage {} come from line {l}, which does not re-run, so BuildKit finds the same bytes",
            code(stage)
        ),
        Note::EarlyCutoff { stage, producer_line: None } => format!("nothing in stage {} writes the copied path", code(stage)),
        Note::RunMayWrite { stage, run_line, path } => format!(
            "uncertain: may stay cached — stage {} re-runs line {run_line}, which runs programs that may write {} (a RUN can write anywhere), and BuildKit keeps this step cached if the copied files come out byte-identical",
            code(stage),
            code(path)
        ),
        Note::UnresolvedArg { name } => format!("uncertain: ARG {} has no value here; give it one as a build arg to predict exactly", code(name)),
        Note::NoBuildStep => "WORKDIR / makes no build step of its own".into(),
        Note::LinkedCopyReused => "COPY --link: the copied layer itself is reused; only the merge onto the new parent re-runs".into(),
        Note::WillFail { message } => format!("the build fails here: {message}"),
        Note::ImageVariable { name } => format!("uses {} from the base image, whose value is not known here", code(name)),
        Note::ServedByOther { by } => format!("on the fresh runner its cache comes from the export of {}", code(by)),
    }
}

/// The human sentence for one step.
pub fn reason(step: &Step, df: &DockerfileReport) -> String {
    let mut s = match step.status {
        Status::Unused => format!(
            "not built: the target {} does not need stage {}",
            df.target_stage
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "(none)".into()),
            code(&step.stage)
        ),
        Status::Cached => "cache hit: nothing it depends on changed".into(),
        Status::Rebuilt => match &step.cause {
            Some(c) => format!("rebuilds: {}", cause_sentence(c, df)),
            None => "rebuilds".into(),
        },
    };
    let notes: Vec<&Note> = step
        .notes
        .iter()
        .filter(|n| {
            step.status != Status::Unused
                && !(step.status == Status::Rebuilt
                    && matches!(n, Note::EarlyCutoff { .. } | Note::MutableTag { .. }))
        })
        .collect();
    for n in notes {
        s.push_str("; ");
        s.push_str(&note_sentence(n));
    }
    s
}

/// A duration for people: `8.2 s`, `42 s`, `4 min 10 s`, `1 h 5 min`.
pub fn duration(secs: f64) -> String {
    let secs = if secs.abs() < 0.05 { 0.0 } else { secs };
    if secs < 10.0 {
        return format!("{:.1} s", secs.max(0.0));
    }
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        if s % 60 == 0 {
            format!("{} min", s / 60)
        } else {
            format!("{} min {} s", s / 60, s % 60)
        }
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// The builds of a report costliest first (estimated rebuild time; ties in the report's order):
/// the one order of every format that lists builds.
pub fn by_cost(report: &Report) -> Vec<&DockerfileReport> {
    // what the totals count for the build: a step an earlier build of its bake call runs is
    // counted there, so that build comes first and the sentence pointing at it reads after it
    let rebuild = |df: &DockerfileReport| df.counted_seconds();
    let mut order: Vec<&DockerfileReport> = report.dockerfiles.iter().collect();
    order.sort_by(|a, b| rebuild(b).total_cmp(&rebuild(a)));
    order
}

/// The rebuilt steps of the counted builds that the cost model cannot price: the headline's
/// seconds leave them out, so every headline says how many there are.
pub fn unknown_rebuilt(report: &Report) -> usize {
    report
        .dockerfiles
        .iter()
        .filter(|d| d.counted())
        .filter_map(|d| d.cost.as_ref())
        .map(|c| c.unknown_rebuilt_steps)
        .sum()
}

/// ", plus 2 rebuilt steps the cost model cannot price", or nothing when there are none.
pub fn unknown_clause(report: &Report) -> String {
    match unknown_rebuilt(report) {
        0 => String::new(),
        1 => ", plus 1 rebuilt step the cost model cannot price".to_string(),
        n => format!(", plus {n} rebuilt steps the cost model cannot price"),
    }
}

/// The cost sentence of a build: what the change adds to the first build of its head (against
/// a warm cache of the base; later builds of the same head are cached again) and the step that
/// dominates it with the step that caused it, and how many rebuilt steps the model cannot
/// price. The range is in the JSON report.
pub fn cost_sentence(df: &DockerfileReport) -> Option<String> {
    let c = df.cost.as_ref()?;
    if df.summary.rebuilt == 0 {
        return Some(format!(
            "no step rebuilds; a build from scratch takes about {}",
            duration(c.estimated_full_build_seconds)
        ));
    }
    let mut s = format!(
        "about {} more on this change's first build",
        duration(c.estimated_rebuild_seconds)
    );
    if c.unknown_rebuilt_steps > 0 {
        s.push_str(&format!(
            ", plus {} rebuilt step{} the cost model cannot price (unknown)",
            c.unknown_rebuilt_steps,
            if c.unknown_rebuilt_steps == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    if let Some(t) = cost_top(df) {
        s.push_str("; ");
        s.push_str(&t);
    }
    Some(s)
}

/// The rebuilt steps a build shares with an earlier build of the same bake call: "lines 2, 3
/// and 4 also rebuild for target a of the same bake call, which runs them once: the totals
/// count them there (2.2 s)".
pub fn shared_sentence(df: &DockerfileReport) -> Option<String> {
    let s = df.shared.as_ref()?;
    let lines: Vec<String> = s.lines.iter().map(u32::to_string).collect();
    let lines = match lines.as_slice() {
        [] => return None,
        [one] => format!("line {one} also rebuilds"),
        [init @ .., last] => format!("lines {} and {last} also rebuild", init.join(", ")),
    };
    let other = match &s.target {
        Some(t) if s.path == df.path => format!("target {t}"),
        Some(t) => format!("{} (target {t})", s.path),
        None => s.path.clone(),
    };
    Some(format!(
        "{lines} for {other} of the same bake call, which runs them once: the totals count them there ({})",
        duration(s.seconds)
    ))
}

/// Under a list of builds whose totals count a bake call's shared steps once.
pub fn shared_total_note(report: &crate::engine::report::Report) -> Option<&'static str> {
    report
        .dockerfiles
        .iter()
        .any(|d| d.shared.is_some())
        .then_some("Steps the builds of one bake call share run once; the total counts them once.")
}

/// The step that dominates a build's rebuild time, and what caused it: "51% of it is `RUN …` at
/// line 9, caused by `COPY . .` at line 4".
pub fn cost_top(df: &DockerfileReport) -> Option<String> {
    let c = df.cost.as_ref()?;
    let mut s = String::new();
    let top = df
        .steps
        .iter()
        .filter(|st| st.status == Status::Rebuilt)
        .max_by(|a, b| {
            a.estimated_seconds
                .unwrap_or(0.0)
                .partial_cmp(&b.estimated_seconds.unwrap_or(0.0))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    if let Some(t) = top {
        let secs = t.estimated_seconds.unwrap_or(0.0);
        if c.estimated_rebuild_seconds > 0.0 {
            let share = (100.0 * secs / c.estimated_rebuild_seconds).floor();
            s.push_str(&format!(
                "{share}% of it is {} at line {}",
                code(&instruction_text(df, t)),
                t.line
            ));
            let origin = match &t.cause {
                Some(Cause::Follows { origin_line, .. }) => Some(*origin_line),
                _ => None,
            };
            if let Some(o) = origin.and_then(|o| df.steps.iter().find(|x| x.line == o)) {
                match o.cause.as_ref().map(Cause::kind) {
                    Some(
                        CauseKind::Files | CauseKind::Dockerignore | CauseKind::DockerfileText,
                    )
                    | None => s.push_str(&format!(
                        ", caused by {} at line {}",
                        code(&instruction_text(df, o)),
                        o.line
                    )),
                    Some(_) => {
                        let why = o
                            .cause
                            .as_ref()
                            .map(|c| cause_sentence(c, df))
                            .unwrap_or_default();
                        s.push_str(&format!(", which follows line {}, where {why}", o.line))
                    }
                }
            }
        }
    }
    (!s.is_empty()).then_some(s)
}

pub use crate::engine::report::chains;

/// Why a chain's first rebuilt step misses, as a sentence with backticked code (annotations,
/// workflow commands, SARIF).
pub fn chain_why(origin: &Step, df: &DockerfileReport) -> String {
    origin
        .cause
        .as_ref()
        .map(|c| backticked(&cause_sentence(c, df)))
        .unwrap_or_default()
}

/// The earlier finding of `shown` that carries the same fix as `f` (a fix merged for
/// overlapping findings is on each of them): a list names it once and refers back to it after.
pub fn same_fix_as<'a>(
    shown: &[&'a crate::engine::rules::Finding],
    f: &crate::engine::rules::Finding,
) -> Option<&'a crate::engine::rules::Finding> {
    let fix = f.fix.as_ref()?;
    shown.iter().copied().find(|e| e.fix.as_ref() == Some(fix))
}

/// Display name of a build: path, plus where it is declared (compose services, bake targets,
/// workflow steps), several declarations of one build folded into one line; a guessed build
/// says so, and whether it counts.
pub fn build_title(df: &DockerfileReport) -> String {
    let origins: &[Origin] = if df.origins.is_empty() {
        std::slice::from_ref(&df.origin)
    } else {
        &df.origins
    };
    let mut parts = origin_parts(origins);
    if let Some(g) = &df.guessed {
        parts.push(if g.counted {
            "guessed build".to_string()
        } else {
            "guessed build, not counted".to_string()
        });
    }
    if parts.is_empty() {
        df.path.clone()
    } else {
        format!("{} ({})", df.path, parts.join("; "))
    }
}

/// What a guessed build rests on: nothing declares it, why its context is what it is, and
/// whether it counts in the totals (`None` for a declared build).
pub fn guess_sentence(df: &DockerfileReport) -> Option<String> {
    let g = df.guessed.as_ref()?;
    let why = match g.context {
        ContextGuess::Given => "`--context` names it".to_string(),
        ContextGuess::RootDockerfile => "the Dockerfile is at the root".to_string(),
        ContextGuess::CopiesFromItsDirectory => {
            "the files it copies are in its directory, not at the root".to_string()
        }
        ContextGuess::CopiesFromRoot => "the files it copies are at the root".to_string(),
        ContextGuess::ItsDirectory => {
            "it copies no file by name and its directory holds more than Dockerfiles".to_string()
        }
        ContextGuess::Root => {
            "it copies no file by name and its directory holds only Dockerfiles".to_string()
        }
    };
    let counts = if g.counted {
        "it counts in the totals because the repository declares no build at all"
    } else {
        "it is left out of the totals"
    };
    Some(format!(
        "guessed: no compose file, bake file, workflow or {} entry builds this Dockerfile; context {} because {why}; {counts}",
        code("builds:"),
        code(&df.context),
    ))
}

/// At most five paths, then how many more: "a, b, c, d, e and 3 more".
fn listed(v: &[String]) -> String {
    let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
    let more = if v.len() > 5 {
        format!(" and {} more", v.len() - 5)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// What discovery says of the Dockerfiles no declaration builds (`inferred`: "path → context"):
/// taken as guessed builds, counted when the repository declares no build at all (`counted`),
/// else left out of the totals; and where to declare them.
pub fn guessed_builds_sentence(counted: bool, inferred: &[String], config_file: &str) -> String {
    let n = inferred.len();
    if counted {
        format!(
            "no compose file, bake file, workflow or `builds:` entry declares a build, so the Dockerfiles found are taken as builds (each labelled guessed) with the context guessed from what each copies: {}. Declare them under `builds:` in {config_file} to be sure",
            listed(inferred),
        )
    } else {
        format!(
            "{n} Dockerfile{} that no compose file, bake file, workflow or `builds:` entry builds {} reported as {}, left out of the totals, with the context guessed from what each copies: {}. Declare the ones you build under `builds:` in {config_file} to count them",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            if n == 1 {
                "a guessed build"
            } else {
                "guessed builds"
            },
            listed(inferred),
        )
    }
}

/// What discovery says of the Windows Dockerfiles it leaves out.
pub fn windows_dockerfiles_sentence(windows: &[String], config_file: &str) -> String {
    let n = windows.len();
    format!(
        "{n} Windows Dockerfile{} not analysed (a Linux BuildKit does not build {}; declare one under `builds:` in {config_file} to analyse it): {}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" },
        listed(windows)
    )
}

/// Why a workflow's builds are not this change's builds (its `on:` does not run it for the
/// change), for the `builds` only it declares.
pub fn workflow_left_out_sentence(why: &crate::engine::workflows::Skip, builds: usize) -> String {
    let s = if builds == 1 { "" } else { "s" };
    let reason = match why {
        crate::engine::workflows::Skip::Events(events) if events.is_empty() => {
            "runs on no event that a pull request or a push to a branch raises".to_string()
        }
        crate::engine::workflows::Skip::Events(events) => format!(
            "runs on {} only, not on a pull request or a push to a branch",
            events
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        crate::engine::workflows::Skip::Paths => {
            "runs only when a path its `paths`/`paths-ignore` filters select changes, and this change touches none".to_string()
        }
    };
    format!(
        "this workflow {reason}: the {builds} build{s} only it declares {} not this change's builds and {} left out",
        if builds == 1 { "is" } else { "are" },
        if builds == 1 { "is" } else { "are" },
    )
}

/// The guessed builds left out of the totals, when there are any: how many and what they
/// rebuild.
pub fn uncounted_sentence(report: &crate::engine::report::Report) -> Option<String> {
    let (n, steps, secs) = report.uncounted();
    if n == 0 {
        return None;
    }
    Some(format!(
        "not counted: {n} guessed build{} (no declaration builds {}) with {steps} rebuilt step{}, about {}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" },
        if steps == 1 { "" } else { "s" },
        duration(secs)
    ))
}

/// One phrase per kind of declaration: "service api in compose.yaml", "services a, b and 23
/// more in docker-compose.yml", "bake target app in docker-bake.hcl", "workflow step …".
pub fn origin_parts(origins: &[Origin]) -> Vec<String> {
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut add = |kind: &str, file: &str, name: String| match groups
        .iter_mut()
        .find(|(k, f, _)| k == kind && f == file)
    {
        Some(g) => {
            if !g.2.contains(&name) {
                g.2.push(name)
            }
        }
        None => groups.push((kind.to_string(), file.to_string(), vec![name])),
    };
    for o in origins {
        match o {
            Origin::Compose { file, service, .. } => add("service", file, service.clone()),
            Origin::Bake { file, target } => add("bake target", file, target.clone()),
            Origin::Workflow {
                file, job, step, ..
            } => add("workflow step", file, format!("{step} (job {job})")),
            Origin::Config { file, index } => add("builds entry", file, format!("#{}", index + 1)),
            Origin::Script { file, line } => add("build command at line", file, line.to_string()),
            Origin::Cli | Origin::Discovered => {}
        }
    }
    groups
        .into_iter()
        .map(|(kind, file, names)| {
            let plural = if names.len() > 1 {
                match kind.as_str() {
                    "service" => "services".to_string(),
                    "builds entry" => "builds entries".to_string(),
                    "build command at line" => "build commands at lines".to_string(),
                    k => format!("{k}s"),
                }
            } else {
                kind.clone()
            };
            let shown = if names.len() > 3 {
                format!("{} and {} more", names[..2].join(", "), names.len() - 2)
            } else if names.len() > 1 {
                format!(
                    "{} and {}",
                    names[..names.len() - 1].join(", "),
                    names[names.len() - 1]
                )
            } else {
                names[0].clone()
            };
            format!("{plural} {shown} in {file}")
        })
        .collect()
}

/// A stage as people read it: its name, or "final stage" / "stage N" (1-based) for an unnamed
/// one (the report calls those `stage-0`, `stage-1`, …).
pub fn stage_label(df: &DockerfileReport, stage: &str) -> String {
    let Some(n) = stage
        .strip_prefix("stage-")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return stage.to_string();
    };
    let mut stages: Vec<&str> = df.steps.iter().map(|s| s.stage.as_str()).collect();
    stages.dedup();
    if stages.last() == Some(&stage) {
        "final stage".into()
    } else {
        format!("stage {}", n + 1)
    }
}

/// The instruction of a step as written (continuation lines joined, whitespace runs collapsed),
/// from the head Dockerfile when the report holds it; the report's display text otherwise.
pub fn instruction_text(df: &DockerfileReport, step: &Step) -> String {
    let Some(src) = df.sources.get(&df.path) else {
        return step.instruction.clone();
    };
    let lines: Vec<&str> = src
        .lines()
        .skip(step.line.saturating_sub(1) as usize)
        .take((step.end_line.max(step.line) - step.line + 1) as usize)
        .collect();
    let Some(first) = lines.first() else {
        return step.instruction.clone();
    };
    let keyword = step.instruction.split_whitespace().next().unwrap_or("");
    if !first
        .trim_start()
        .to_ascii_uppercase()
        .starts_with(&keyword.to_ascii_uppercase())
        || lines.iter().any(|l| l.contains("<<"))
    {
        return step.instruction.clone();
    }
    let joined: Vec<&str> = lines
        .iter()
        .map(|l| l.trim().trim_end_matches('\\'))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    joined
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The note a review carries when the change edits its own configuration.
pub fn config_changed_note(path: &str) -> String {
    format!(
        "this change edits {path}; the review follows the base revision's configuration (a pull request cannot change the rules that review it), the edit takes effect once merged"
    )
}

/// The note a review carries when the merge base of a pull request could not be found.
pub fn merge_base_note(base_sha: &str, error: &str) -> String {
    format!(
        "the merge base could not be found ({error}); the prediction compares against the base branch's head {}, so changes made on the base branch since the fork count too",
        &base_sha[..base_sha.len().min(12)]
    )
}

/// Notes of a review summary joined into one (`None` when there is none).
pub fn join_notes(first: Option<&str>, more: &[String]) -> Option<String> {
    let all: Vec<&str> = first
        .into_iter()
        .chain(more.iter().map(String::as_str))
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// Whether the cost model could not price a step (its label says "unknown"): shown as
/// "unknown", never as a number.
pub(crate) fn unpriced(s: &crate::engine::report::Step) -> bool {
    s.cost_label
        .as_deref()
        .is_some_and(|l| l.starts_with("unknown"))
}
