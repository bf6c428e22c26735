//! Variable expansion as BuildKit's shell lexer does it (`frontend/dockerfile/shell/lex.go`):
//! quotes, the escape character, `$NAME`, `${NAME}`, `${NAME:-w}`, `${NAME:+w}`, `${NAME:?m}`,
//! `${NAME?m}`, and — with the current frontend only — `${NAME-w}`, `${NAME+w}`, prefix/suffix
//! removal and replacement. Docker 20.10's built-in frontend rejects the newer forms.
//!
//! A pull request controls the text, so the lexer is bounded: `${…}` nests at most
//! `MAX_DEPTH` deep, one expansion produces at most `MAX_LEN` bytes and pattern removal or
//! replacement examines at most `PATTERN_BUDGET` characters; past a limit the word fails to
//! expand with a message that names the limit (the caller reports it on the instruction's line).
//!
//! Values cachebust cannot know (a variable the base image may set, an automatic platform ARG)
//! are passed in as opaque placeholders by the caller; they compare equal between base and head
//! as long as their source is the same, which is all the prediction needs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontend {
    /// dockerfile frontend 1.2, built into Docker Engine 20.10 (BuildKit v0.8).
    V0_8,
    /// Current dockerfile frontend.
    Current,
}

/// Deepest `${…}` nesting expanded (BuildKit has none; real files nest two or three deep).
pub const MAX_DEPTH: usize = 64;
/// Longest result of one expansion, in bytes (doubling ARGs would otherwise grow without end).
pub const MAX_LEN: usize = 1 << 20;
/// Characters `${v#p}`, `${v%p}` and `${v/p/r}` may examine in one word.
pub const PATTERN_BUDGET: usize = 4_000_000;

pub struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    pattern_budget: usize,
    escape: char,
    env: &'a dyn Fn(&str) -> Option<String>,
    frontend: Frontend,
    raw_quotes: bool,
}

type R<T> = Result<T, String>;

fn check_len(s: &str) -> R<()> {
    if s.len() > MAX_LEN {
        return Err(format!(
            "the expansion grows past {} MiB (cachebust's limit for one word; doubling variables?)",
            MAX_LEN >> 20
        ));
    }
    Ok(())
}

/// The error of `${name?word}` / `${name:?word}` when `name` is unset: `word`, or a default
/// message when it is empty.
fn unset_error(name: &str, word: &str) -> String {
    format!(
        "{name}: {}",
        if word.is_empty() {
            "is not allowed to be unset"
        } else {
            word
        }
    )
}

/// Expand one word (quotes removed).
pub fn expand_word(
    word: &str,
    escape: char,
    frontend: Frontend,
    env: &dyn Fn(&str) -> Option<String>,
) -> R<String> {
    let mut lx = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        depth: 0,
        pattern_budget: PATTERN_BUDGET,
        escape,
        env,
        frontend,
        raw_quotes: false,
    };
    lx.process(None).map(|(s, _)| s)
}

/// Expand and split into words (unquoted whitespace separates words).
pub fn expand_words(
    text: &str,
    escape: char,
    frontend: Frontend,
    env: &dyn Fn(&str) -> Option<String>,
) -> R<Vec<String>> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
        pattern_budget: PATTERN_BUDGET,
        escape,
        env,
        frontend,
        raw_quotes: false,
    };
    lx.process(None).map(|(_, w)| w)
}

/// Expand only `$` forms, keeping quotes and escapes (heredoc bodies, `ExpandRaw`).
pub fn expand_raw(
    text: &str,
    escape: char,
    frontend: Frontend,
    env: &dyn Fn(&str) -> Option<String>,
) -> R<String> {
    // Raw mode: quotes are literal characters, escapes kept; only `$` is processed.
    let mut out = String::new();
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
        pattern_budget: PATTERN_BUDGET,
        escape,
        env,
        frontend,
        raw_quotes: true,
    };
    while let Some(c) = lx.peek() {
        check_len(&out)?;
        if c == '$' {
            out.push_str(&lx.dollar()?);
        } else if c == escape {
            lx.next();
            out.push(c);
            if let Some(n) = lx.next() {
                out.push(n);
            }
        } else {
            lx.next();
            out.push(c);
        }
    }
    check_len(&out)?;
    Ok(out)
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    cur: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() && !self.in_word {
            return;
        }
        if c.is_whitespace() {
            self.words.push(std::mem::take(&mut self.cur));
            self.in_word = false;
            return;
        }
        self.cur.push(c);
        self.in_word = true;
    }
    fn add_raw_char(&mut self, c: char) {
        self.cur.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.cur.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.words.push(self.cur);
        }
        self.words
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process(&mut self, stop: Option<char>) -> R<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            check_len(&result)?;
            if Some(ch) == stop {
                self.next();
                check_len(&result)?;
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.escape {
                        let Some(n) = self.next() else { break };
                        c = n;
                        words.add_raw_char(c);
                    } else {
                        words.add_char(c);
                    }
                    result.push(c);
                }
            }
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        check_len(&result)?;
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> R<String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('\'');
        if self.raw_quotes {
            out.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> R<String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('"');
        if self.raw_quotes {
            out.push(q);
        }
        loop {
            check_len(&out)?;
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        out.push('"');
                    }
                    check_len(&out)?;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.escape {
                        let Some(e) = self.escaped_in_double_quotes() else {
                            continue;
                        };
                        c = e;
                    }
                    out.push(c);
                }
            }
        }
    }

    /// After the escape character inside double quotes: the `"`, `$` or escape character it
    /// escapes (consumed), else the escape character itself; `None` at the end of the text.
    fn escaped_in_double_quotes(&mut self) -> Option<char> {
        match self.peek() {
            None => None,
            Some(n) if n == '"' || n == '$' || n == self.escape => {
                self.next();
                Some(n)
            }
            _ => Some(self.escape),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        (self.env)(name)
    }

    fn word_until_brace(&mut self) -> R<String> {
        match self.process(Some('}')) {
            Ok((s, _)) => Ok(s),
            Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".into()),
            Err(e) => Err(e),
        }
    }

    fn dollar(&mut self) -> R<String> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.next(); // '{'
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "${{…}} nests deeper than {MAX_DEPTH} levels (cachebust's limit)"
            ));
        }
        self.depth += 1;
        let r = self.braced();
        self.depth -= 1;
        r
    }

    fn braced(&mut self) -> R<String> {
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into());
            }
            _ => {}
        }
        let name = self.name();
        let ch = self.next();
        match ch {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some('?') => {
                let word = self.word_until_brace()?;
                match self.lookup(&name) {
                    Some(v) => Ok(v),
                    None => Err(unset_error(&name, &word)),
                }
            }
            Some(':') => {
                let modifier = self.next();
                let word = self.word_until_brace()?;
                let value = self.lookup(&name);
                let v = value.clone().unwrap_or_default();
                match modifier {
                    Some('+') => Ok(if v.is_empty() { v } else { word }),
                    Some('-') => Ok(if v.is_empty() { word } else { v }),
                    Some('?') => {
                        if v.is_empty() {
                            Err(unset_error(&name, &word))
                        } else {
                            Ok(v)
                        }
                    }
                    Some(m) => Err(format!("unsupported modifier ({m}) in substitution")),
                    None => Err("syntax error: missing '}'".into()),
                }
            }
            Some(c @ ('-' | '+' | '#' | '%' | '/')) if self.frontend == Frontend::Current => {
                self.current_modifier(&name, c)
            }
            Some(c @ ('-' | '+' | '#' | '%' | '/')) => Err(format!(
                "unsupported modifier ({c}) in substitution: ${{{name}{c}…}} needs dockerfile frontend 1.6+ (add `# syntax=docker/dockerfile:1`)"
            )),
            _ => Err("missing ':' in substitution".into()),
        }
    }

    fn current_modifier(&mut self, name: &str, c: char) -> R<String> {
        let value = self.lookup(name);
        match c {
            '-' => {
                let word = self.word_until_brace()?;
                Ok(value.unwrap_or(word))
            }
            '+' => {
                let word = self.word_until_brace()?;
                Ok(if value.is_some() { word } else { String::new() })
            }
            '#' | '%' => {
                let longest = self.peek() == Some(c);
                if longest {
                    self.next();
                }
                let pat = self.word_until_brace()?;
                let v = value.unwrap_or_default();
                trim_affix(&v, &pat, c == '#', longest, &mut self.pattern_budget)
            }
            _ => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                // pattern up to '/', replacement up to '}'
                let (pat, _) = self.process(Some('/')).map_err(|_| {
                    "syntax error: missing '/' in ${var/pattern/replacement}".to_string()
                })?;
                let rep = self.word_until_brace()?;
                let v = value.unwrap_or_default();
                replace_glob(&v, &pat, &rep, all, &mut self.pattern_budget)
            }
        }
    }
}

/// Charge one glob match of `part` against `pat` to the word's budget.
fn spend(budget: &mut usize, pat: &str, part: &str) -> R<()> {
    let cost = pat.len() + part.len() + 1;
    if cost > *budget {
        return Err(format!(
            "the value is too long for pattern removal or replacement (cachebust examines at most {PATTERN_BUDGET} characters per word)"
        ));
    }
    *budget -= cost;
    Ok(())
}

/// Shell-glob prefix/suffix removal (`${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`).
fn trim_affix(v: &str, pat: &str, prefix: bool, longest: bool, budget: &mut usize) -> R<String> {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let candidates: Box<dyn Iterator<Item = usize>> = match (prefix, longest) {
        (true, false) => Box::new(idx.clone().into_iter()),
        (true, true) => Box::new(idx.clone().into_iter().rev()),
        (false, false) => Box::new(idx.clone().into_iter().rev()),
        (false, true) => Box::new(idx.clone().into_iter()),
    };
    for i in candidates {
        let (part, keep) = if prefix {
            (&v[..i], &v[i..])
        } else {
            (&v[i..], &v[..i])
        };
        spend(budget, pat, part)?;
        if crate::engine::glob::glob_match(pat, part, false).unwrap_or(false) {
            return Ok(keep.to_string());
        }
    }
    Ok(v.to_string())
}

fn replace_glob(v: &str, pat: &str, rep: &str, all: bool, budget: &mut usize) -> R<String> {
    if pat.is_empty() {
        return Ok(v.to_string());
    }
    let mut out = String::new();
    let mut i = 0;
    let bounds: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let mut replaced = false;
    while i < v.len() {
        let mut matched = None;
        if !replaced || all {
            for &j in bounds.iter().rev() {
                if j <= i {
                    break;
                }
                spend(budget, pat, &v[i..j])?;
                if crate::engine::glob::glob_match(pat, &v[i..j], false).unwrap_or(false) {
                    matched = Some(j);
                    break;
                }
            }
        }
        match matched {
            Some(j) => {
                out.push_str(rep);
                check_len(&out)?;
                i = j;
                replaced = true;
            }
            None => {
                let c = v[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("hello".into()),
            "EMPTY" => Some(String::new()),
            "P" => Some("/usr/local/bin/app".into()),
            _ => None,
        }
    }

    fn ex(s: &str, f: Frontend) -> R<String> {
        expand_word(s, '\\', f, &env)
    }

    #[test]
    fn basic_forms() {
        let c = Frontend::Current;
        assert_eq!(ex("$A", c).unwrap(), "hello");
        assert_eq!(ex("${A}x", c).unwrap(), "hellox");
        assert_eq!(ex("'$A'", c).unwrap(), "$A");
        assert_eq!(ex("\"$A b\"", c).unwrap(), "hello b");
        assert_eq!(ex("\\$A", c).unwrap(), "$A");
        assert_eq!(ex("${B:-def}", c).unwrap(), "def");
        assert_eq!(ex("${EMPTY:-def}", c).unwrap(), "def");
        assert_eq!(ex("${A:+yes}", c).unwrap(), "yes");
        assert_eq!(ex("${B:+yes}", c).unwrap(), "");
        assert_eq!(ex("$", c).unwrap(), "$");
        assert!(ex("${}", c).is_err());
        assert!(ex("${B:?nope}", c).is_err());
    }

    #[test]
    fn current_only_forms() {
        let c = Frontend::Current;
        assert_eq!(ex("${EMPTY-def}", c).unwrap(), "");
        assert_eq!(ex("${B-def}", c).unwrap(), "def");
        assert_eq!(ex("${P##*/}", c).unwrap(), "app");
        assert_eq!(ex("${P%/*}", c).unwrap(), "/usr/local/bin");
        assert_eq!(ex("${A/l/L}", c).unwrap(), "heLlo");
        assert_eq!(ex("${A//l/L}", c).unwrap(), "heLLo");
        assert!(ex("${B-def}", Frontend::V0_8).is_err());
        assert!(ex("${P##*/}", Frontend::V0_8).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let c = Frontend::Current;
        let ok = format!("{}x{}", "${B:-".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert_eq!(ex(&ok, c).unwrap(), "x");
        // 100,000 levels: would overflow any stack when recursed without a limit
        let deep = format!("{}x{}", "${B:-".repeat(100_000), "}".repeat(100_000));
        let e = ex(&deep, c).unwrap_err();
        assert!(e.contains("nests deeper than 64 levels"), "{e}");
        let e = expand_raw(&deep, '\\', c, &env).unwrap_err();
        assert!(e.contains("nests deeper"), "{e}");
    }

    #[test]
    fn produced_length_is_bounded() {
        let big = "y".repeat(MAX_LEN / 2 + 1);
        let lookup = |n: &str| (n == "H").then(|| big.clone());
        let c = Frontend::Current;
        assert_eq!(
            expand_word("$H", '\\', c, &lookup).unwrap().len(),
            big.len()
        );
        for w in ["$H$H", "\"$H$H\"", "${H}x${H}", "${U:-$H$H}"] {
            let e = expand_word(w, '\\', c, &lookup).unwrap_err();
            assert!(e.contains("grows past 1 MiB"), "{w}: {e}");
        }
        assert!(expand_raw("$H $H", '\\', c, &lookup).is_err());
    }

    #[test]
    fn pattern_work_is_bounded() {
        let long = "ab".repeat(50_000);
        let lookup = |n: &str| (n == "L").then(|| long.clone());
        let c = Frontend::Current;
        let e = expand_word("${L//b*z/q}", '\\', c, &lookup).unwrap_err();
        assert!(e.contains("too long for pattern"), "{e}");
        // short values still work the same
        assert_eq!(ex("${A//l/L}", c).unwrap(), "heLLo");
    }

    #[test]
    fn words_split_on_unquoted_space() {
        let w = expand_words("a \"b c\" $A", '\\', Frontend::Current, &env).unwrap();
        assert_eq!(w, vec!["a", "b c", "hello"]);
    }
}
