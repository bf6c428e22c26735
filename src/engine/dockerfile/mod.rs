//! Reading Dockerfiles: `parse(text) -> Dockerfile`. Owns the bridge between `parse-dockerfile`
//! (structure: flags, sources, JSON forms, syntax errors with line and column) and BuildKit's own
//! line rules in `scan` (joined RUN text, heredocs anywhere on a RUN line, escaped escapes at the
//! end of a line). Never panics and never fails: a file BuildKit would reject comes back with
//! `ok == false` and an error diagnostic carrying the line.
//!
//! Known gaps of `parse-dockerfile` 0.1.9 and how they are covered (documented in docs/how-it-works.md, Parser):
//! 1. a line ending in an escaped escape (`C:\\`) is continued by the crate but not by BuildKit:
//!    the last escape character is masked before the crate sees the text;
//! 2. RUN heredocs that are not the first word, or several heredocs on one RUN, are rejected by
//!    the crate: their markers and bodies are masked and the heredocs come from `scan`;
//! 3. `ENTRYPOINT []` is rejected by the crate: the brackets are masked (the instruction never
//!    affects the cache).

pub mod ast;
pub mod scan;
pub mod stages;
pub mod words;

pub use ast::*;

use scan::{RawInstruction, Scanned};

const MASK: char = '\u{1}';

/// Largest Dockerfile read, in bytes: a pull request controls the file, and nothing real comes
/// near this (the largest of the mirrored repositories is under 20 KB).
pub const MAX_BYTES: usize = 1 << 20;
/// Most physical lines read (continuations count): the same reason.
pub const MAX_LINES: usize = 10_000;

/// The line at which `text` crosses `MAX_BYTES` or `MAX_LINES`, with the message to report.
pub fn over_limits(text: &str) -> Option<(u32, String)> {
    if text.len() > MAX_BYTES {
        let line = text.as_bytes()[..MAX_BYTES]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        return Some((
            line as u32,
            format!(
                "the Dockerfile is {} bytes; cachebust reads at most {} MiB of a Dockerfile, so it is not analysed",
                text.len(),
                MAX_BYTES >> 20
            ),
        ));
    }
    let lines = text.lines().count();
    if lines <= MAX_LINES {
        return None;
    }
    Some((
        MAX_LINES as u32 + 1,
        format!(
            "the Dockerfile has {lines} lines; cachebust reads at most {MAX_LINES} lines of a Dockerfile, so it is not analysed"
        ),
    ))
}

/// [`parse`], remembered in the caller's memo by the text (`Kind::Parsed`): a history meets the
/// same Dockerfile texts at every commit, and discovery (what a text copies), the prediction
/// (each side of each build) and CB003 (the head's declarations) read the same parse.
pub fn parse_in(memo: &crate::engine::memo::Memo, text: &str) -> std::sync::Arc<Dockerfile> {
    memo.get_or(crate::engine::memo::Kind::Parsed, text, || {
        std::sync::Arc::new(parse(text))
    })
}

/// Parse a Dockerfile the way BuildKit's current frontend does. A UTF-8 byte order mark at the
/// start is skipped, as BuildKit skips it; offsets still refer to `text`.
pub fn parse(text: &str) -> Dockerfile {
    const BOM: char = '\u{feff}';
    let Some(rest) = text.strip_prefix(BOM) else {
        return parse_text(text);
    };
    let mut df = parse_text(rest);
    let n = BOM.len_utf8();
    for inst in &mut df.instructions {
        shift(inst, n);
    }
    df
}

fn shift(inst: &mut Instruction, n: usize) {
    inst.span = inst.span.start + n..inst.span.end + n;
    for r in &mut inst.physical_lines {
        *r = r.start + n..r.end + n;
    }
    if let Body::Onbuild(inner) = &mut inst.body {
        shift(inner, n);
    }
}

fn parse_text(text: &str) -> Dockerfile {
    if let Some((line, message)) = over_limits(text) {
        return Dockerfile {
            escape: '\\',
            directives: Vec::new(),
            instructions: Vec::new(),
            diagnostics: vec![diagnostic(line, Severity::Error, message)],
            ok: false,
        };
    }
    let scanned = scan::scan(text);
    let mut out = from_scan(&scanned);
    if text.contains(MASK) {
        fail(
            &mut out,
            scan::LineIndex::new(text).line(text.find(MASK).unwrap_or(0)),
            "the file contains a U+0001 control character; it is not a Dockerfile".into(),
        );
        return out;
    }
    let masked = mask_for_parser(text, &scanned);
    let parsed = match parse_dockerfile::parse(&masked) {
        Ok(p) => p,
        Err(e) => {
            fail(
                &mut out,
                e.line() as u32,
                format!(
                    "Dockerfile parse error: {}",
                    unmask(&first_line_of_error(&e.to_string()), scanned.escape)
                ),
            );
            return out;
        }
    };
    let seen = convert_all(&mut out, text, &parsed, &scanned);
    if seen != scanned.instructions.len() {
        warn_left_out(&mut out, &parsed, &scanned);
    }
    validate(&mut out);
    out
}

/// A diagnostic on `line`.
fn diagnostic(line: u32, severity: Severity, message: String) -> ParseDiagnostic {
    ParseDiagnostic {
        line,
        severity,
        message,
    }
}

/// Record an error on `line` and mark the file as one BuildKit rejects.
fn fail(out: &mut Dockerfile, line: u32, message: String) {
    out.diagnostics
        .push(diagnostic(line, Severity::Error, message));
    out.ok = false;
}

/// The file as far as the scanner knows it: escape, directives and the scanner's errors, no
/// instructions yet.
fn from_scan(scanned: &Scanned) -> Dockerfile {
    let mut out = Dockerfile {
        escape: scanned.escape,
        directives: scanned
            .directives
            .iter()
            .map(|d| Directive {
                name: d.name.clone(),
                value: d.value.clone(),
                line: d.line,
            })
            .collect(),
        instructions: Vec::new(),
        diagnostics: Vec::new(),
        ok: true,
    };
    for e in &scanned.errors {
        fail(&mut out, e.line, e.message.clone());
    }
    out
}

/// Convert each instruction the crate parsed that the scanner also found (warning about the
/// others) into `out`; returns how many were matched to a scanned instruction.
fn convert_all(
    out: &mut Dockerfile,
    text: &str,
    parsed: &parse_dockerfile::Dockerfile<'_>,
    scanned: &Scanned,
) -> usize {
    let by_start: std::collections::HashMap<usize, &RawInstruction> =
        scanned.instructions.iter().map(|r| (r.start, r)).collect();
    let mut seen = 0;
    for inst in &parsed.instructions {
        let start = keyword_start(inst);
        let Some(raw) = by_start.get(&start) else {
            let line = scan::LineIndex::new(text).line(start);
            out.diagnostics.push(diagnostic(
                line,
                Severity::Warning,
                "cachebust's BuildKit line reader found no instruction here; the step is left out of the prediction".into(),
            ));
            continue;
        };
        seen += 1;
        match convert(inst, raw, &raw.logical, scanned.escape) {
            Ok(mut i) => {
                i.index = out.instructions.len();
                out.instructions.push(i);
            }
            Err(msg) => fail(out, raw.line, msg),
        }
    }
    seen
}

/// Warn about each scanned instruction the crate did not parse as an instruction of its own.
fn warn_left_out(
    out: &mut Dockerfile,
    parsed: &parse_dockerfile::Dockerfile<'_>,
    scanned: &Scanned,
) {
    for raw in &scanned.instructions {
        if !parsed
            .instructions
            .iter()
            .any(|i| keyword_start(i) == raw.start)
        {
            out.diagnostics.push(diagnostic(
                raw.line,
                Severity::Warning,
                format!(
                    "the Dockerfile parser merged or skipped the {} instruction on this line; it is left out of the prediction",
                    raw.keyword.to_ascii_uppercase()
                ),
            ));
        }
    }
}

fn first_line_of_error(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn unmask(s: &str, escape: char) -> String {
    s.replace(MASK, &escape.to_string())
}

/// Same-length edits that make `parse-dockerfile` see what BuildKit sees (module docs).
fn mask_for_parser(text: &str, scanned: &Scanned) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let esc = scanned.escape as u8;
    for r in &scanned.escaped_escape_lines {
        let line = &text[r.clone()];
        let trimmed = line.trim_end_matches([' ', '\t']);
        let pos = r.start + trimmed.len() - 1;
        if bytes[pos] == esc {
            bytes[pos] = MASK as u8;
        }
    }
    for raw in &scanned.instructions {
        let is_run = raw.keyword == "run"
            || (raw.keyword == "onbuild"
                && raw
                    .logical
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.eq_ignore_ascii_case("run")));
        if is_run && !raw.heredocs.is_empty() && !run_heredoc_is_supported(raw) {
            mask_run_heredocs(&mut bytes, text, raw);
        }
        if raw.keyword == "entrypoint" {
            mask_empty_entrypoint(&mut bytes, text, raw);
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes at character boundaries.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

/// Gap 2: blank out the `<<` markers on a RUN's instruction lines and turn each non-blank line of
/// its heredoc bodies (and terminators) into a comment, keeping every byte offset.
fn mask_run_heredocs(bytes: &mut [u8], text: &str, raw: &RawInstruction) {
    for r in &raw.physical {
        let seg = &text[r.clone()];
        let mut from = 0;
        while let Some(i) = seg[from..].find("<<") {
            let at = r.start + from + i;
            bytes[at] = b' ';
            bytes[at + 1] = b' ';
            from += i + 2;
        }
    }
    for h in &raw.heredocs {
        let body = &text[h.span.clone()];
        let mut off = h.span.start;
        for line in body.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            if !content.trim().is_empty() {
                let first_len = content.chars().next().map_or(1, char::len_utf8);
                bytes[off] = b'#';
                for b in &mut bytes[off + 1..off + first_len] {
                    *b = b' ';
                }
            }
            off += line.len();
        }
    }
}

/// Gap 3: `ENTRYPOINT []` becomes `ENTRYPOINT ""` (same length) on its first line.
fn mask_empty_entrypoint(bytes: &mut [u8], text: &str, raw: &RawInstruction) {
    let rest = raw.logical[raw.keyword.len()..].trim();
    if !(rest.starts_with('[') && rest.ends_with(']') && rest[1..rest.len() - 1].trim().is_empty())
    {
        return;
    }
    if let Some(r) = raw.physical.first() {
        let seg = &text[r.clone()];
        if let (Some(a), Some(b)) = (seg.find('['), seg.rfind(']')) {
            bytes[r.start + a] = b'"';
            bytes[r.start + b] = b'"';
        }
    }
}

/// `parse-dockerfile` handles a RUN heredoc only as the single, first word after the flags.
fn run_heredoc_is_supported(raw: &RawInstruction) -> bool {
    if raw.heredocs.len() != 1 {
        return false;
    }
    let mut rest = raw.logical.trim_start();
    let kw_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let kw = &rest[..kw_end];
    rest = rest[kw_end..].trim_start();
    if kw.eq_ignore_ascii_case("onbuild") {
        let e = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[e..].trim_start();
    }
    let (_, cmd) = scan::split_flags(rest);
    let first = cmd.split_whitespace().next().unwrap_or_default();
    let digits = first.chars().take_while(char::is_ascii_digit).count();
    first[digits..].starts_with("<<")
}

fn keyword_start(inst: &parse_dockerfile::Instruction<'_>) -> usize {
    use parse_dockerfile::Instruction as I;
    match inst {
        I::Add(i) => i.add.span.start,
        I::Arg(i) => i.arg.span.start,
        I::Cmd(i) => i.cmd.span.start,
        I::Copy(i) => i.copy.span.start,
        I::Entrypoint(i) => i.entrypoint.span.start,
        I::Env(i) => i.env.span.start,
        I::Expose(i) => i.expose.span.start,
        I::From(i) => i.from.span.start,
        I::Healthcheck(i) => i.healthcheck.span.start,
        I::Label(i) => i.label.span.start,
        I::Maintainer(i) => i.maintainer.span.start,
        I::Onbuild(i) => i.onbuild.span.start,
        I::Run(i) => i.run.span.start,
        I::Shell(i) => i.shell.span.start,
        I::Stopsignal(i) => i.stopsignal.span.start,
        I::User(i) => i.user.span.start,
        I::Volume(i) => i.volume.span.start,
        I::Workdir(i) => i.workdir.span.start,
        _ => usize::MAX,
    }
}

fn flags_of(opts: &[parse_dockerfile::Flag<'_>], escape: char) -> Vec<Flag> {
    opts.iter()
        .map(|f| Flag {
            name: unmask(&f.name.value, escape),
            value: f.value.as_ref().map(|v| unmask(&v.value, escape)),
        })
        .collect()
}

/// Everything after the keyword of a logical line, and (for ONBUILD) after the inner keyword.
fn after_keyword(logical: &str) -> &str {
    let t = logical.trim_start();
    let e = t.find(char::is_whitespace).unwrap_or(t.len());
    &t[e..]
}

fn convert(
    inst: &parse_dockerfile::Instruction<'_>,
    raw: &RawInstruction,
    logical: &str,
    escape: char,
) -> Result<Instruction, String> {
    let args_text = after_keyword(logical).to_string();
    let (_, rest) = scan::split_flags(args_text.trim_start());
    let rest = rest.trim().to_string();
    let (kind, flags, body) = parts_of(inst, raw, logical, &rest, escape)?;
    Ok(Instruction {
        // `convert_all` places it; an ONBUILD's instruction has no place
        index: usize::MAX,
        shown: ast::one_line(kind, &args_text),
        kind,
        line: raw.line,
        end_line: raw.end_line,
        span: raw.start..raw.end,
        flags,
        body,
        args_text,
        physical_lines: raw.physical.clone(),
    })
}

/// The kind, flags and body of one parsed instruction; `rest` is its text after the keyword and
/// flags, trimmed. ONBUILD converts its inner instruction with `convert`.
fn parts_of(
    inst: &parse_dockerfile::Instruction<'_>,
    raw: &RawInstruction,
    logical: &str,
    rest: &str,
    escape: char,
) -> Result<(Kind, Vec<Flag>, Body), String> {
    use parse_dockerfile::Instruction as I;
    Ok(match inst {
        I::From(f) => (
            Kind::From,
            flags_of(&f.options, escape),
            Body::From {
                image: unmask(&f.image.value, escape),
                alias: f
                    .as_
                    .as_ref()
                    .map(|(_, n)| unmask(&n.value, escape).to_ascii_lowercase()),
            },
        ),
        I::Run(r) => (
            Kind::Run,
            flags_of(&r.options, escape),
            run_body(r, raw, rest, escape),
        ),
        I::Copy(c) => (
            Kind::Copy,
            flags_of(&c.options, escape),
            copy_body(&c.src, &c.dest, rest, escape),
        ),
        I::Add(c) => (
            Kind::Add,
            flags_of(&c.options, escape),
            copy_body(&c.src, &c.dest, rest, escape),
        ),
        I::Env(_) => (
            Kind::Env,
            vec![],
            Body::Pairs(words::parse_name_val(rest, escape, "ENV")?),
        ),
        I::Label(_) => (
            Kind::Label,
            vec![],
            Body::Pairs(words::parse_name_val(rest, escape, "LABEL")?),
        ),
        I::Arg(_) => (
            Kind::Arg,
            vec![],
            Body::Arg(words::parse_name_or_name_val(rest, escape)),
        ),
        I::Workdir(_) => (Kind::Workdir, vec![], Body::Text(rest.to_string())),
        I::User(_) => (Kind::User, vec![], Body::Text(rest.to_string())),
        I::Stopsignal(_) => (Kind::Stopsignal, vec![], Body::Text(rest.to_string())),
        I::Maintainer(_) => (Kind::Maintainer, vec![], Body::Text(rest.to_string())),
        I::Shell(s) => (
            Kind::Shell,
            vec![],
            Body::Shell(
                s.arguments
                    .iter()
                    .map(|a| unmask(&a.value, escape))
                    .collect(),
            ),
        ),
        I::Cmd(_) => (Kind::Cmd, vec![], Body::Other),
        I::Entrypoint(_) => (Kind::Entrypoint, vec![], Body::Other),
        I::Expose(_) => (Kind::Expose, vec![], Body::Other),
        I::Volume(_) => (Kind::Volume, vec![], Body::Other),
        I::Healthcheck(h) => (Kind::Healthcheck, flags_of(&h.options, escape), Body::Other),
        I::Onbuild(o) => {
            let inner_logical = after_keyword(logical);
            let inner = convert(&o.instruction, raw, inner_logical, escape)?;
            (Kind::Onbuild, vec![], Body::Onbuild(Box::new(inner)))
        }
        _ => {
            return Err(format!(
                "unsupported instruction {}",
                raw.keyword.to_ascii_uppercase()
            ));
        }
    })
}

/// The body of a RUN: its command (exec form only when `rest` is a strict JSON array) and the
/// heredocs the scanner found.
fn run_body(
    r: &parse_dockerfile::RunInstruction<'_>,
    raw: &RawInstruction,
    rest: &str,
    escape: char,
) -> Body {
    let command = match &r.arguments {
        parse_dockerfile::Command::Exec(a) if scan::is_json_array(rest) => {
            CommandForm::Exec(a.value.iter().map(|s| unmask(&s.value, escape)).collect())
        }
        _ => CommandForm::Shell(rest.to_string()),
    };
    let heredocs = raw
        .heredocs
        .iter()
        .map(|h| Heredoc {
            name: h.name.clone(),
            body: h.body.clone(),
            expand: h.expand,
        })
        .collect();
    Body::Run { command, heredocs }
}

fn copy_body(
    src: &[parse_dockerfile::Source<'_>],
    dest: &parse_dockerfile::UnescapedString<'_>,
    rest: &str,
    escape: char,
) -> Body {
    let json = scan::is_json_array(rest);
    let sources = src
        .iter()
        .map(|s| match s {
            parse_dockerfile::Source::Path(p) => CopySource::Path(unmask(&p.value, escape)),
            parse_dockerfile::Source::HereDoc(h) => CopySource::Heredoc(Heredoc {
                name: String::new(),
                body: h.value.to_string(),
                expand: h.expand,
            }),
            _ => CopySource::Path(String::new()),
        })
        .collect();
    Body::Copy {
        sources,
        dest: unmask(&dest.value, escape),
        json,
    }
}

/// Checks BuildKit makes after parsing that the crate does not (flag names, FROM first).
fn validate(df: &mut Dockerfile) {
    let mut diags = Vec::new();
    for inst in &df.instructions {
        let allowed: &[&str] = match inst.kind {
            Kind::From => &["platform"],
            Kind::Run => &["mount", "network", "security", "device"],
            Kind::Copy => &["from", "chown", "chmod", "link", "parents", "exclude"],
            Kind::Add => &[
                "chown",
                "chmod",
                "link",
                "checksum",
                "keep-git-dir",
                "exclude",
                "unpack",
            ],
            Kind::Healthcheck => &[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ],
            _ => &[],
        };
        for f in &inst.flags {
            // a lone `--` only ends the flags
            if f.name.is_empty() && f.value.is_none() {
                continue;
            }
            if !allowed.contains(&f.name.as_str()) {
                diags.push(ParseDiagnostic {
                    line: inst.line,
                    severity: Severity::Error,
                    message: format!(
                        "unknown flag: --{} on {} (BuildKit rejects the file)",
                        f.name,
                        inst.kind.keyword()
                    ),
                });
            }
        }
        if let Body::Copy { sources, .. } = &inst.body {
            if sources.is_empty() {
                diags.push(ParseDiagnostic {
                    line: inst.line,
                    severity: Severity::Error,
                    message: format!("{} requires at least two arguments", inst.kind.keyword()),
                });
            }
        }
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        df.ok = false;
    }
    df.diagnostics.extend(diags);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped_as_buildkit_skips_it() {
        let text = "\u{feff}# syntax=docker/dockerfile:1\nFROM alpine\nRUN echo a\n";
        let df = parse(text);
        assert!(df.ok, "{:?}", df.diagnostics);
        assert_eq!(df.directives.len(), 1, "{:?}", df.directives);
        assert_eq!(df.instructions.len(), 2);
        let run = &df.instructions[1];
        assert_eq!(run.line, 3);
        assert!(text[run.span.clone()].starts_with("RUN echo a"));
        let plain = parse("FROM alpine\n");
        assert_eq!(plain.instructions[0].span.start, 0);
        assert_eq!(parse("\u{feff}FROM alpine\n").instructions[0].span.start, 3);
    }

    #[test]
    fn run_text_is_joined_verbatim() {
        let df = parse("FROM alpine\nRUN echo a && \\\n    # c\n    echo b\n");
        assert!(df.ok, "{:?}", df.diagnostics);
        match &df.instructions[1].body {
            Body::Run {
                command: CommandForm::Shell(s),
                ..
            } => assert_eq!(s, "echo a &&     echo b"),
            b => panic!("{b:?}"),
        }
        assert_eq!(
            (df.instructions[1].line, df.instructions[1].end_line),
            (2, 4)
        );
    }

    #[test]
    fn escaped_escape_is_not_a_continuation() {
        let df = parse("FROM a\nCOPY x C:\\\\dir\\\\\n\nENV A b\n");
        assert!(df.ok, "{:?}", df.diagnostics);
        assert_eq!(df.instructions.len(), 3);
        match &df.instructions[1].body {
            Body::Copy { dest, .. } => assert_eq!(dest, "C:\\\\dir\\\\"),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn heredoc_not_first_word_and_several() {
        let df = parse("FROM a\nRUN cat <<EOF > /x && cat <<B\nline\nEOF\nb\nB\nRUN true\n");
        assert!(df.ok, "{:?}", df.diagnostics);
        assert_eq!(df.instructions.len(), 3);
        match &df.instructions[1].body {
            Body::Run {
                heredocs,
                command: CommandForm::Shell(s),
            } => {
                assert_eq!(heredocs.len(), 2);
                assert_eq!(s, "cat <<EOF > /x && cat <<B");
            }
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn empty_entrypoint_is_accepted() {
        let df = parse("FROM a\nENTRYPOINT []\nRUN x\n");
        assert!(df.ok, "{:?}", df.diagnostics);
        assert_eq!(df.instructions.len(), 3);
    }

    #[test]
    fn limits_are_findings_with_a_line() {
        let ok = format!("FROM a\n{}", "RUN x\n".repeat(MAX_LINES - 1));
        assert!(parse(&ok).ok);
        let long = format!("FROM a\n{}", "RUN x\n".repeat(MAX_LINES + 5));
        let df = parse(&long);
        assert!(!df.ok && df.instructions.is_empty());
        assert_eq!(df.diagnostics[0].line, MAX_LINES as u32 + 1);
        assert!(
            df.diagnostics[0].message.contains("has 10006 lines")
                && df.diagnostics[0].message.contains("at most 10000 lines"),
            "{:?}",
            df.diagnostics
        );
        // one logical line of continuations counts by its physical lines
        let cont = format!("FROM a\nRUN x{}\n", " \\\n y".repeat(MAX_LINES + 1));
        assert!(!parse(&cont).ok);
        let fat = format!("FROM a\nRUN {}\n", "x".repeat(MAX_BYTES));
        let df = parse(&fat);
        assert!(!df.ok);
        assert_eq!(df.diagnostics[0].line, 2);
        assert!(df.diagnostics[0].message.contains("at most 1 MiB"));
    }

    #[test]
    fn errors_carry_lines() {
        let df = parse("FROM a\nRUN x\nFOO bar\n");
        assert!(!df.ok);
        assert_eq!(df.diagnostics[0].line, 3);
        let df = parse("FROM a\nCOPY --fromm=x a b\n");
        assert!(!df.ok);
        assert_eq!(df.diagnostics[0].line, 2);
    }
}
