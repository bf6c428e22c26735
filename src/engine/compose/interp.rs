//! Compose's variable interpolation (`$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:?e}`, `${V?e}`,
//! `${V:+r}`, `${V+r}`, `$$`) and the `.env` file format, as the Compose Specification and
//! compose-go define them. Bounded: nesting depth and produced length are capped, because a pull
//! request controls both the file and the `.env`; what a resolution interpolates in all is
//! counted against its `engine::budget::Budget`.

use std::collections::{BTreeMap, HashSet};

use crate::engine::budget::{Budget, Exceeded};

/// Deepest `${…}` nesting followed (defaults inside defaults).
pub const MAX_DEPTH: usize = 32;
/// Longest string interpolation may produce.
pub const MAX_LEN: usize = 1 << 20;

/// What interpolating one string found besides its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Variables that were not set and became empty strings (Compose warns and goes on).
    pub unset: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    /// `${V:?message}` / `${V?message}` with `V` unset (or empty): Compose refuses the file.
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("invalid interpolation format in {0:?}")]
    Syntax(String),
    #[error("interpolation nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("interpolation produces more than {MAX_LEN} bytes")]
    TooLong,
    /// The resolution this string belongs to went past its budget.
    #[error("interpolation goes past the evaluation budget ({0})")]
    Budget(Exceeded),
}

/// Interpolate `s` with the variables in `env`, counting what it produces against `budget`.
pub fn interpolate(
    s: &str,
    env: &BTreeMap<String, String>,
    budget: &mut Budget,
) -> Result<(String, Found), InterpError> {
    let mut found = Found::default();
    let mut cx = Cx {
        env,
        found: &mut found,
        unset: HashSet::new(),
        budget,
    };
    let out = expand(s, &mut cx, 0)?;
    Ok((out, found))
}

/// What one interpolation works with.
struct Cx<'a> {
    env: &'a BTreeMap<String, String>,
    found: &'a mut Found,
    /// `found.unset` as a set (a string naming 100,000 unset variables is not quadratic).
    unset: HashSet<String>,
    budget: &'a mut Budget,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn push_bounded(out: &mut String, s: &str) -> Result<(), InterpError> {
    if out.len() + s.len() > MAX_LEN {
        return Err(InterpError::TooLong);
    }
    out.push_str(s);
    Ok(())
}

fn expand(s: &str, cx: &mut Cx<'_>, depth: usize) -> Result<String, InterpError> {
    if depth > MAX_DEPTH {
        return Err(InterpError::TooDeep);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            if out.len() >= MAX_LEN {
                return Err(InterpError::TooLong);
            }
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let Some(j) = closing_brace(&chars, start) else {
                    return Err(InterpError::Syntax(s.to_string()));
                };
                let inner: String = chars[start..j].iter().collect();
                let value = braced(&inner, cx, depth)?;
                push_bounded(&mut out, &value)?;
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                let value = lookup(&name, cx);
                push_bounded(&mut out, &value)?;
                i = j;
            }
            _ => {
                // a lone `$` stays as it is (compose-go does the same)
                out.push('$');
                i += 1;
            }
        }
    }
    // every string built (a default's too) is counted once, when it is done
    cx.budget.bytes(out.len()).map_err(InterpError::Budget)?;
    Ok(out)
}

/// The index of the `}` that closes a `${` whose text starts at `start`, counting nested `${`;
/// `None` when it is never closed.
fn closing_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    let mut level = 1usize;
    while j < chars.len() {
        match chars[j] {
            '$' if chars.get(j + 1) == Some(&'{') => {
                level += 1;
                j += 2;
                continue;
            }
            '}' => {
                level -= 1;
                if level == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

fn lookup(name: &str, cx: &mut Cx<'_>) -> String {
    match cx.env.get(name) {
        Some(v) => v.clone(),
        None => {
            if cx.unset.insert(name.to_string()) {
                cx.found.unset.push(name.to_string());
            }
            String::new()
        }
    }
}

fn braced(inner: &str, cx: &mut Cx<'_>, depth: usize) -> Result<String, InterpError> {
    let name_len = inner
        .char_indices()
        .find(|&(k, c)| {
            !(if k == 0 {
                is_name_start(c)
            } else {
                is_name_char(c)
            })
        })
        .map(|(k, _)| k)
        .unwrap_or(inner.len());
    if name_len == 0 {
        return Err(InterpError::Syntax(format!("${{{inner}}}")));
    }
    let name = &inner[..name_len];
    let rest = &inner[name_len..];
    if rest.is_empty() {
        return Ok(lookup(name, cx));
    }
    let env = cx.env;
    let value = env.get(name);
    let set = value.is_some();
    let nonempty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(InterpError::Syntax(format!("${{{inner}}}")));
    };
    let v = || value.cloned().unwrap_or_default();
    Ok(match op {
        ":-" if nonempty => v(),
        "-" if set => v(),
        ":-" | "-" => expand(arg, cx, depth + 1)?,
        ":+" if nonempty => expand(arg, cx, depth + 1)?,
        "+" if set => expand(arg, cx, depth + 1)?,
        ":+" | "+" => String::new(),
        ":?" if nonempty => v(),
        "?" if set => v(),
        _ => {
            return Err(InterpError::Required {
                name: name.to_string(),
                message: expand(arg, cx, depth + 1)?,
            });
        }
    })
}

/// A problem in a `.env` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub line: u32,
    pub message: String,
}

/// Read a `.env` file (compose-go's dotenv format): `KEY=VALUE`, optional `export `, `#`
/// comments, single quotes literal, double quotes with `\n`-style escapes, unquoted values ending
/// at ` #`; values may use `${VAR}` of earlier lines (or of `outer`). What the values interpolate
/// is counted against `budget`; past it a value is kept as written.
pub fn parse_dotenv(
    text: &str,
    outer: &BTreeMap<String, String>,
    budget: &mut Budget,
) -> (BTreeMap<String, String>, Vec<EnvProblem>) {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    // what a value interpolates with: the outer environment under the lines read so far (kept
    // as one map: building it again for every line made a long `.env` quadratic)
    let mut env_now = outer.clone();
    let mut problems = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i as u32 + 1;
        let raw = lines[i];
        i += 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some(eq) = line.find('=') else {
            let key = line.trim();
            if key.chars().all(is_name_char) {
                // a bare name takes the value of the outer environment, if any
                if let Some(v) = outer.get(key) {
                    vars.insert(key.to_string(), v.clone());
                    env_now.insert(key.to_string(), v.clone());
                }
            } else {
                problems.push(EnvProblem {
                    line: lineno,
                    message: format!("not a KEY=VALUE line: {:?}", truncate(raw, 60)),
                });
            }
            continue;
        };
        let key = line[..eq].trim().to_string();
        if key.is_empty() || !key.chars().all(|c| is_name_char(c) || c == '.' || c == '-') {
            problems.push(EnvProblem {
                line: lineno,
                message: format!("invalid variable name {:?}", truncate(&key, 60)),
            });
            continue;
        }
        let rest = line[eq + 1..].trim_start();
        let value = dotenv_value(rest, &lines, &mut i, &env_now, budget);
        match value {
            Some(v) => {
                env_now.insert(key.clone(), v.clone());
                vars.insert(key, v);
            }
            None => problems.push(EnvProblem {
                line: lineno,
                message: format!("the quoted value of {key} is never closed"),
            }),
        }
    }
    (vars, problems)
}

/// The value of a `KEY=` line whose text after the `=` is `rest`. A quoted value may go on over
/// the next lines (`*i` moves past them) and is `None` when never closed; double-quoted and
/// unquoted values interpolate with `env` (kept as written when that fails).
fn dotenv_value(
    rest: &str,
    lines: &[&str],
    i: &mut usize,
    env: &BTreeMap<String, String>,
    budget: &mut Budget,
) -> Option<String> {
    if let Some(q) = rest.strip_prefix('\'') {
        // literal up to the closing quote, possibly over several lines
        return quoted(q, lines, i, |acc| acc.find('\''));
    }
    if let Some(q) = rest.strip_prefix('"') {
        let unescaped = unescape(&quoted(q, lines, i, closing_double_quote)?);
        return Some(
            interpolate(&unescaped, env, budget)
                .map(|(v, _)| v)
                .unwrap_or(unescaped),
        );
    }
    let v = match rest.find(" #") {
        Some(k) => &rest[..k],
        None => rest,
    }
    .trim_end();
    Some(
        interpolate(v, env, budget)
            .map(|(v, _)| v)
            .unwrap_or_else(|_| v.to_string()),
    )
}

/// A quoted value: `first` (the text after the opening quote) up to the closing quote `close`
/// finds, going on over the next lines (`*i` moves past them); `None` when it is never closed.
fn quoted(
    first: &str,
    lines: &[&str],
    i: &mut usize,
    close: impl Fn(&str) -> Option<usize>,
) -> Option<String> {
    let mut acc = first.to_string();
    loop {
        if let Some(end) = close(&acc) {
            acc.truncate(end);
            return Some(acc);
        }
        if *i >= lines.len() {
            return None;
        }
        acc.push('\n');
        acc.push_str(lines[*i]);
        *i += 1;
    }
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut k = 0;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            b'"' => return Some(k),
            _ => k += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::budget::{self, Measure};

    fn interpolate(
        s: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<(String, Found), InterpError> {
        super::interpolate(s, env, &mut Budget::new(&budget::RESOLVE))
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms() {
        let e = env(&[("A", "a"), ("E", "")]);
        let cases: &[(&str, &str)] = &[
            ("$A", "a"),
            ("${A}", "a"),
            ("x${A}y", "xay"),
            ("$$A", "$A"),
            ("${B:-d}", "d"),
            ("${E:-d}", "d"),
            ("${E-d}", ""),
            ("${B-d}", "d"),
            ("${A:+r}", "r"),
            ("${E:+r}", ""),
            ("${E+r}", "r"),
            ("${B+r}", ""),
            ("${B:-${A}}", "a"),
            ("${B:-${C:-deep}}", "deep"),
            ("${A:?no}", "a"),
            ("a $ b", "a $ b"),
        ];
        for (i, want) in cases {
            let (got, _) = interpolate(i, &e).unwrap();
            assert_eq!(&got, want, "{i}");
        }
        let (v, f) = interpolate("${NOPE}/x", &e).unwrap();
        assert_eq!(v, "/x");
        assert_eq!(f.unset, vec!["NOPE"]);
        assert!(matches!(
            interpolate("${NOPE:?set it}", &e),
            Err(InterpError::Required { .. })
        ));
        assert!(matches!(
            interpolate("${E?x}", &e),
            Ok((ref s, _)) if s.is_empty()
        ));
        assert!(matches!(
            interpolate("${A", &e),
            Err(InterpError::Syntax(_))
        ));
    }

    #[test]
    fn bounds() {
        let mut s = String::from("x");
        for _ in 0..100 {
            s = format!("${{U:-{s}}}");
        }
        assert_eq!(interpolate(&s, &BTreeMap::new()), Err(InterpError::TooDeep));
        let big = "a".repeat(MAX_LEN / 2 + 1);
        let e = env(&[("B", &big)]);
        assert_eq!(interpolate("${B}${B}", &e), Err(InterpError::TooLong));
        // one string stays under its 1 MiB, many of them share the resolution's budget
        let mut b = Budget::new(&budget::RESOLVE);
        let over = (0..40)
            .map(|_| super::interpolate("${B}", &e, &mut b))
            .find_map(Result::err);
        assert!(
            matches!(over, Some(InterpError::Budget(x)) if x.measure == Measure::Bytes),
            "{over:?}"
        );
        // a `.env` whose lines double an earlier one keeps the values past the budget as written
        let mut text = format!("A0={}\n", "a".repeat(1 << 19));
        for i in 1..64 {
            text.push_str(&format!("A{i}=${{A{}}}\n", i - 1));
        }
        let mut b = Budget::new(&budget::RESOLVE);
        let (v, _) = parse_dotenv(&text, &BTreeMap::new(), &mut b);
        assert!(b.exceeded().is_some());
        assert_eq!(v["A63"], "${A62}");
    }

    #[test]
    fn dotenv() {
        let text = "# c\nA=1\nexport B = two \nC='lit ${A}'\nD=\"q ${A}\\n\"\nE=x #comment\nF=${A}${B}\nG=\"multi\nline\"\n bad line\n";
        let (v, p) = parse_dotenv(text, &BTreeMap::new(), &mut Budget::new(&budget::RESOLVE));
        assert_eq!(v["A"], "1");
        assert_eq!(v["B"], "two");
        assert_eq!(v["C"], "lit ${A}");
        assert_eq!(v["D"], "q 1\n");
        assert_eq!(v["E"], "x");
        assert_eq!(v["F"], "1two");
        assert_eq!(v["G"], "multi\nline");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 10);
    }
}
