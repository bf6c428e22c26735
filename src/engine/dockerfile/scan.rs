//! BuildKit's physical-line rules, implemented on their own: parser directives, the escape
//! character, line continuations (which keep the leading whitespace of continuation lines),
//! comment and blank lines inside continuations, and heredoc bodies. The result is the list of
//! logical instructions with their byte offsets and 1-based line ranges.
//!
//! `parse-dockerfile` does the structural parsing (flags, sources, JSON forms); this scanner
//! supplies what BuildKit hashes verbatim (the joined RUN text, heredoc bodies) and covers the
//! places where that crate and BuildKit disagree (see `mask_for_parser`). It follows
//! `frontend/dockerfile/parser/parser.go: Parse` (buildkit-cache-semantics.md §2).

use std::ops::Range;

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeredoc {
    /// The delimiter word after quote removal.
    pub name: String,
    /// `<<-`: leading tabs are stripped from body lines and the terminator.
    pub chomp: bool,
    /// `false` when any part of the delimiter was quoted (the body is not expanded).
    pub expand: bool,
    /// Body bytes, each line with its own line ending, tabs already stripped for `<<-`.
    pub body: String,
    /// 1-based line of the first body line.
    pub first_line: u32,
    /// 1-based line of the terminator.
    pub end_line: u32,
    /// Byte ranges of the body lines and terminator line (used to mask them).
    pub span: Range<usize>,
}

/// One logical instruction as BuildKit's line reader sees it.
#[derive(Debug, Clone)]
pub struct RawInstruction {
    /// Byte offset of the keyword.
    pub start: usize,
    /// Byte offset just after the last character of the instruction (heredoc terminator included).
    pub end: usize,
    pub line: u32,
    pub end_line: u32,
    /// Lower-cased keyword.
    pub keyword: String,
    /// The joined logical line: continuation characters removed, continuation lines appended with
    /// their leading whitespace, comment and blank continuation lines dropped.
    pub logical: String,
    /// Byte ranges of the physical lines that make up the instruction text (not heredoc bodies).
    pub physical: Vec<Range<usize>>,
    pub heredocs: Vec<RawHeredoc>,
    /// Lines of blank continuation lines (BuildKit warns about them).
    pub empty_continuation_lines: Vec<u32>,
}

/// A parser directive (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirective {
    pub name: String,
    pub value: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Scanned {
    pub escape: char,
    pub directives: Vec<RawDirective>,
    pub instructions: Vec<RawInstruction>,
    pub errors: Vec<ScanError>,
    /// Lines ending in an escaped escape character (`\\` at the end): BuildKit does not continue them.
    pub escaped_escape_lines: Vec<Range<usize>>,
}

struct PhysLine<'a> {
    /// Text without the line ending.
    text: &'a str,
    /// Text including its line ending.
    raw: &'a str,
    start: usize,
}

fn physical_lines(text: &str) -> Vec<PhysLine<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    while start < bytes.len() {
        let end_nl = memchr_nl(&bytes[start..]).map(|i| start + i);
        let (raw_end, text_end) = match end_nl {
            Some(nl) => {
                let te = if nl > start && bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (nl + 1, te)
            }
            None => (bytes.len(), bytes.len()),
        };
        out.push(PhysLine {
            text: &text[start..text_end],
            raw: &text[start..raw_end],
            start,
        });
        start = raw_end;
    }
    out
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn trim_leading_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn is_comment(line: &str) -> bool {
    trim_leading_ws(line).starts_with('#')
}

/// BuildKit's `trimContinuationCharacter`: returns (text without the escape, ends_instruction).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape) {
        if before.is_empty() {
            // the escape token alone on the line
            return ("", false);
        }
        if !before.ends_with(escape) {
            return (before, false);
        }
    }
    (line, true)
}

/// Lines that end with the escape character preceded by another escape character.
fn ends_with_escaped_escape(line: &str, escape: char) -> bool {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(before) => before.ends_with(escape),
        None => false,
    }
}

fn directive_of(line: &str) -> Option<(String, String)> {
    let rest = trim_leading_ws(line).strip_prefix('#')?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if key.is_empty() || !key.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest[key_len..].trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

/// Scan `text` with BuildKit's line rules.
pub fn scan(text: &str) -> Scanned {
    let text_nobom = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bom = text.len() - text_nobom.len();
    let lines = physical_lines(text);
    let mut scanner = Scanner {
        text,
        lines: &lines,
        escape: '\\',
        idx: 0,
        errors: Vec::new(),
        escaped_escape_lines: Vec::new(),
    };
    let directives = scanner.directives();
    let mut instructions = Vec::new();
    while scanner.idx < lines.len() {
        if let Some(instruction) = scanner.instruction(bom) {
            instructions.push(instruction);
        }
    }
    Scanned {
        escape: scanner.escape,
        directives,
        instructions,
        errors: scanner.errors,
        escaped_escape_lines: scanner.escaped_escape_lines,
    }
}

/// The state of one `scan`: the physical lines, the cursor into them and what has been collected
/// so far besides the directives and instructions.
struct Scanner<'a, 'l> {
    text: &'a str,
    lines: &'l [PhysLine<'a>],
    escape: char,
    /// Index of the next physical line to read.
    idx: usize,
    errors: Vec<ScanError>,
    escaped_escape_lines: Vec<Range<usize>>,
}

impl Scanner<'_, '_> {
    /// Parser directives: consecutive `# key=value` lines at the very top. Sets the escape
    /// character and leaves the cursor on the first line after the block.
    fn directives(&mut self) -> Vec<RawDirective> {
        let mut directives = Vec::new();
        while self.idx < self.lines.len() {
            let idx = self.idx;
            let mut l = self.lines[idx].text;
            if idx == 0 {
                l = l.strip_prefix('\u{feff}').unwrap_or(l);
            }
            let Some((key, value)) = directive_of(l) else {
                break;
            };
            if !matches!(key.as_str(), "syntax" | "escape" | "check") {
                break;
            }
            if directives.iter().any(|d: &RawDirective| d.name == key) {
                self.errors.push(ScanError {
                    line: idx as u32 + 1,
                    message: format!("only one {key} parser directive can be used"),
                });
                break;
            }
            if key == "escape" {
                self.set_escape(&value, idx);
            }
            directives.push(RawDirective {
                name: key,
                value,
                line: idx as u32 + 1,
            });
            self.idx += 1;
        }
        directives
    }

    /// Apply an `escape` directive's value found on line index `idx` (an error if invalid).
    fn set_escape(&mut self, value: &str, idx: usize) {
        match value {
            "\\" => self.escape = '\\',
            "`" => self.escape = '`',
            other => self.errors.push(ScanError {
                line: idx as u32 + 1,
                message: format!("invalid escape token '{other}' does not match ` or \\"),
            }),
        }
    }

    /// Read the instruction starting at the cursor (continuation lines and heredoc bodies
    /// included); `None` for a comment or blank line, which is consumed.
    fn instruction(&mut self, bom: usize) -> Option<RawInstruction> {
        let idx = self.idx;
        let first = &self.lines[idx];
        let mut first_text = first.text;
        let mut first_start = first.start;
        if idx == 0 && bom > 0 {
            first_text = first_text.strip_prefix('\u{feff}').unwrap_or(first_text);
            first_start += bom;
        }
        self.idx += 1;
        if is_comment(first_text) {
            return None;
        }
        let stripped = trim_leading_ws(first_text);
        let kw_start = first_start + (first_text.len() - stripped.len());
        if ends_with_escaped_escape(stripped, self.escape) {
            self.escaped_escape_lines
                .push(first.start..first.start + first.text.len());
        }
        let (part, end_of_line) = trim_continuation(stripped, self.escape);
        if end_of_line && part.trim().is_empty() {
            return None;
        }
        let line_no = self.idx as u32; // 1-based line of the first physical line
        let mut physical = Vec::with_capacity(4);
        physical.push(kw_start..first.start + first.text.len());
        let mut ins = RawInstruction {
            start: kw_start,
            end: first.start + first.text.len(),
            line: line_no,
            end_line: line_no,
            keyword: String::new(),
            logical: part.to_string(),
            physical,
            heredocs: Vec::new(),
            empty_continuation_lines: Vec::new(),
        };
        if !end_of_line {
            self.continuation(&mut ins);
        }
        ins.keyword = ins
            .logical
            .split([' ', '\t'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if can_contain_heredoc(&ins.logical) && ins.logical.contains("<<") {
            for (name, chomp, expand) in heredoc_words(&ins.logical) {
                let heredoc = self.heredoc(name, chomp, expand, line_no);
                ins.end = heredoc.span.end;
                ins.end_line = heredoc.end_line;
                ins.heredocs.push(heredoc);
            }
        }
        Some(ins)
    }

    /// Append continuation lines to `ins` until one ends the instruction (or the file ends):
    /// comment lines are skipped, blank ones recorded in `empty_continuation_lines`.
    fn continuation(&mut self, ins: &mut RawInstruction) {
        let mut end_of_line = false;
        while !end_of_line && self.idx < self.lines.len() {
            let l = &self.lines[self.idx];
            self.idx += 1;
            if is_comment(l.text) {
                continue;
            }
            if trim_leading_ws(l.text).is_empty() {
                ins.empty_continuation_lines.push(self.idx as u32);
                continue;
            }
            if ends_with_escaped_escape(l.text, self.escape) {
                self.escaped_escape_lines
                    .push(l.start..l.start + l.text.len());
            }
            let (part, eol) = trim_continuation(l.text, self.escape);
            ins.logical.push_str(part);
            end_of_line = eol;
            ins.physical.push(l.start..l.start + l.text.len());
            ins.end = l.start + l.text.len();
            ins.end_line = self.idx as u32;
        }
    }

    /// Read one heredoc body from the cursor up to its terminator line; an unterminated heredoc
    /// (an error reported on the instruction's `line_no`) runs to the end of the file.
    fn heredoc(&mut self, name: String, chomp: bool, expand: bool, line_no: u32) -> RawHeredoc {
        let body_first = self.idx as u32 + 1;
        let body_start = self
            .lines
            .get(self.idx)
            .map_or(self.text.len(), |l| l.start);
        let mut body = String::new();
        let mut terminator = None;
        while self.idx < self.lines.len() {
            let l = &self.lines[self.idx];
            self.idx += 1;
            let candidate = if chomp {
                l.text.trim_start_matches('\t')
            } else {
                l.text
            };
            if candidate == name {
                terminator = Some((l.start + l.text.len(), self.idx as u32));
                break;
            }
            if chomp {
                body.push_str(l.raw.trim_start_matches('\t'));
            } else {
                body.push_str(l.raw);
            }
        }
        let (end, end_line) = terminator.unwrap_or_else(|| {
            self.errors.push(ScanError {
                line: line_no,
                message: format!(
                    "unterminated heredoc <<{name}: no line `{name}` before the end of the file"
                ),
            });
            (self.text.len(), self.lines.len() as u32)
        });
        RawHeredoc {
            name,
            chomp,
            expand,
            body,
            first_line: body_first,
            end_line,
            span: body_start..end,
        }
    }
}

/// Split a logical line into (keyword, flags, rest) the way `extractBuilderFlags` does: leading
/// words starting with `--` are flags, a lone `--` ends them.
pub fn split_flags(args: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    loop {
        if !rest.starts_with("--") {
            break;
        }
        let (word, after) = take_word(rest);
        if word == "--" {
            rest = after.trim_start();
            break;
        }
        flags.push(word);
        rest = after.trim_start();
    }
    (flags, rest)
}

/// Take one whitespace-delimited word honouring quotes and backslash escapes; returns the word
/// with quotes removed and the remaining text.
fn take_word(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => out.push(c),
            None => {
                if c == ' ' || c == '\t' {
                    return (out, &s[i..]);
                }
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '\\' {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
        }
    }
    (out, "")
}

fn can_contain_heredoc(logical: &str) -> bool {
    let mut words = logical.split_whitespace();
    let mut kw = words.next().unwrap_or_default().to_ascii_lowercase();
    let mut rest_start = logical.trim_start();
    rest_start = rest_start[rest_start
        .find(char::is_whitespace)
        .unwrap_or(rest_start.len())..]
        .trim_start();
    if kw == "onbuild" {
        kw = words.next().unwrap_or_default().to_ascii_lowercase();
        rest_start = rest_start[rest_start
            .find(char::is_whitespace)
            .unwrap_or(rest_start.len())..]
            .trim_start();
    }
    if !matches!(kw.as_str(), "run" | "copy" | "add") {
        return false;
    }
    let (_, rest) = split_flags(rest_start);
    !is_json_array(rest)
}

/// Whether `s` is a JSON array of strings (BuildKit's strict `parseJSON`).
pub fn is_json_array(s: &str) -> bool {
    let t = s.trim();
    t.starts_with('[') && serde_json::from_str::<Vec<String>>(t).is_ok()
}

/// The heredoc words of a logical line (`heredocsFromLine`): shell words matching
/// `^(\d*)<<(-?)([^<]*)$` with a non-empty single-word rest.
pub fn heredoc_words(logical: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for raw in raw_shell_words(logical) {
        let digits = raw.chars().take_while(|c| c.is_ascii_digit()).count();
        let after = &raw[digits..];
        let Some(after) = after.strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match after.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, after),
        };
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let (name, _) = take_word(rest);
        if name.is_empty() {
            continue;
        }
        let expand = !rest.contains(['\'', '"']);
        out.push((name, chomp, expand));
    }
    out
}

/// Words of a line split on unquoted whitespace, quotes and escapes kept as written.
fn raw_shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
            None => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '\\' => {
                    cur.push(c);
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Byte offset → 1-based line number.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> u32 {
        match self.starts.binary_search(&offset) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        }
    }

    /// Byte offset of the start of 1-based `line`.
    pub fn line_start(&self, line: u32) -> usize {
        self.starts
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_keeps_indentation_and_drops_comments() {
        let s = scan("FROM a\nRUN echo a && \\\n    # comment\n    echo b \\\n\n  && echo c # x\n");
        assert_eq!(s.instructions.len(), 2);
        let run = &s.instructions[1];
        assert_eq!(run.logical, "RUN echo a &&     echo b   && echo c # x");
        assert_eq!((run.line, run.end_line), (2, 6));
        assert_eq!(run.empty_continuation_lines, vec![5]);
    }

    #[test]
    fn escaped_escape_ends_the_line() {
        let s =
            scan("FROM a\nENV C trailing\\\\backslash\\\\\nENV D x\nENV E hello\\\n\\\nworld\n");
        let l: Vec<_> = s.instructions.iter().map(|i| i.logical.as_str()).collect();
        assert_eq!(
            l,
            [
                "FROM a",
                "ENV C trailing\\\\backslash\\\\",
                "ENV D x",
                "ENV E helloworld"
            ]
        );
        assert_eq!(s.escaped_escape_lines.len(), 1);
    }

    #[test]
    fn heredocs_anywhere_on_the_line() {
        let s = scan("FROM a\nRUN cat <<EOF > /f && cat <<-'X'\nhi\nEOF\n\tthere\n\tX\nRUN b\n");
        assert_eq!(s.instructions.len(), 3);
        let h = &s.instructions[1].heredocs;
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].body, "hi\n");
        assert!(h[0].expand);
        assert_eq!(h[1].body, "there\n");
        assert!(!h[1].expand && h[1].chomp);
        assert_eq!(s.instructions[1].end_line, 6);
    }

    #[test]
    fn directives_and_backtick_escape() {
        let s = scan("# escape=`\n# syntax=docker/dockerfile:1\nFROM a\nRUN a `\n  b\n");
        assert_eq!(s.escape, '`');
        assert_eq!(s.directives.len(), 2);
        assert_eq!(s.instructions[1].logical, "RUN a   b");
    }
}
