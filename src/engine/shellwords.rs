//! The shell words of a RUN command: the lexer that splits it into simple commands (quotes,
//! backslashes, separators and keywords respected, linear, bounded by
//! [`MAX_CLASSIFIED_BYTES`]), the existence tests among them, and whether a cache-mount target
//! covers a directory. Shared by the cost model, the rules, the write analysis and the
//! cache-clean detection, so none of them imports another for it.

/// Whether a cache-mount target covers a directory (the same, or one inside the other).
pub fn mount_covers(target: &str, dir: &str) -> bool {
    let t = target.trim_end_matches('/');
    let d = dir.trim_end_matches('/');
    t == d || d.starts_with(&format!("{t}/")) || t.starts_with(&format!("{d}/"))
}

/// Longest RUN command the classifier reads; a longer one gets the generic range.
pub const MAX_CLASSIFIED_BYTES: usize = 64 * 1024;

/// Why a command could not be classified (the generic range is used, and the label says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclassified {
    TooLong,
    UnbalancedQuotes,
}

/// How a simple command ends: `&&`, `||`, a closing parenthesis (which also ends a `case`
/// pattern), or anything else (`;`, `|`, `&`, a newline, an opening parenthesis, the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    And,
    Or,
    Close,
    Other,
}

/// Keywords that end the command before them when they stand in command position.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac",
];

/// The lexer behind [`simple_commands`]: every simple command with the separator after it;
/// shell keywords in command position come out as one-word commands of their own.
pub(crate) fn lex(command: &str) -> Result<Vec<(Vec<String>, Sep)>, Unclassified> {
    if command.len() > MAX_CLASSIFIED_BYTES {
        return Err(Unclassified::TooLong);
    }
    let mut out: Vec<(Vec<String>, Sep)> = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    let flush_word = |word: &mut String, in_word: &mut bool, cur: &mut Vec<String>| {
        if *in_word {
            cur.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let flush_cmd = |cur: &mut Vec<String>, out: &mut Vec<(Vec<String>, Sep)>, sep: Sep| {
        if !cur.is_empty() {
            out.push((std::mem::take(cur), sep));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                single_quoted(&mut chars, &mut word)?;
            }
            '"' => {
                in_word = true;
                double_quoted(&mut chars, &mut word)?;
            }
            '#' if !in_word => {
                // a comment runs to the end of the line
                for x in chars.by_ref() {
                    if x == '\n' {
                        break;
                    }
                }
                flush_cmd(&mut cur, &mut out, Sep::Other);
            }
            // `2>&1`, `>&2`, `&>/dev/null`: a redirection, no separator
            '&' if (in_word && word.ends_with('>')) || chars.peek() == Some(&'>') => {
                word.push(c);
                in_word = true;
            }
            '&' | '|' | ';' | '\n' | '(' | ')' => {
                flush_word(&mut word, &mut in_word, &mut cur);
                let sep = separator(c, &mut chars);
                flush_cmd(&mut cur, &mut out, sep);
            }
            c if c.is_whitespace() => {
                flush_word(&mut word, &mut in_word, &mut cur);
                // a keyword in command position ends the command before it
                if cur.len() == 1 && KEYWORDS.contains(&cur[0].as_str()) {
                    flush_cmd(&mut cur, &mut out, Sep::Other);
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush_word(&mut word, &mut in_word, &mut cur);
    flush_cmd(&mut cur, &mut out, Sep::Other);
    Ok(out)
}

/// The characters the lexer reads from.
type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// The rest of a single-quoted string after its opening quote, pushed onto `word` without the
/// closing quote; an error when the quote is never closed.
fn single_quoted(chars: &mut Chars<'_>, word: &mut String) -> Result<(), Unclassified> {
    loop {
        match chars.next() {
            Some('\'') => return Ok(()),
            Some(x) => word.push(x),
            None => return Err(Unclassified::UnbalancedQuotes),
        }
    }
}

/// The rest of a double-quoted string after its opening quote, pushed onto `word` without the
/// closing quote, a backslash keeping the character after it; an error when the quote is never
/// closed.
fn double_quoted(chars: &mut Chars<'_>, word: &mut String) -> Result<(), Unclassified> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            Some('\\') => {
                if let Some(x) = chars.next() {
                    word.push(x);
                }
            }
            Some(x) => word.push(x),
            None => return Err(Unclassified::UnbalancedQuotes),
        }
    }
}

/// The separator that the character `c` (one of `&|;\n()`) starts, consuming the second
/// character of `&&` and `||`.
fn separator(c: char, chars: &mut Chars<'_>) -> Sep {
    match (c, chars.peek()) {
        ('&', Some('&')) => {
            chars.next();
            Sep::And
        }
        ('|', Some('|')) => {
            chars.next();
            Sep::Or
        }
        (')', _) => Sep::Close,
        _ => Sep::Other,
    }
}

/// Whether a lexed command is a keyword or the head of a `for`/`case` (not a command).
pub(crate) fn is_syntax(c: &[String]) -> bool {
    (c.len() == 1 && KEYWORDS.contains(&c[0].as_str()))
        || matches!(
            c[0].as_str(),
            "for" | "case" | "fi" | "done" | "esac" | "then" | "else" | "do" | "}"
        )
}

/// Split a shell command into its simple commands (word lists): on `&&`, `||`, `;`, `;;`, `|`,
/// `&`, newlines, parentheses, and the keywords of `if`/`then`/`else`/`elif`/`fi`, loops and
/// `case`; quotes and backslashes are respected. Iterative and linear: no nesting depth limit
/// is needed.
pub fn simple_commands(command: &str) -> Result<Vec<Vec<String>>, Unclassified> {
    Ok(lex(command)?
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| !is_syntax(c))
        .collect())
}

/// The file a simple command tests for existence (`[ -f F ]`, `[ -s F ]`, `[ -e F ]`,
/// `[ -r F ]`, `[[ -f F ]]`, `test -f F`): the command succeeds only if `F` exists.
pub fn existence_test(c: &[String]) -> Option<&str> {
    let w: Vec<&str> = c.iter().map(String::as_str).collect();
    let ops = ["-f", "-s", "-e", "-r"];
    match w.as_slice() {
        ["[", op, f, "]"] | ["[[", op, f, "]]"] | ["test", op, f] if ops.contains(op) => Some(f),
        _ => None,
    }
}
