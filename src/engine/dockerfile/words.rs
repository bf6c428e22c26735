//! BuildKit's word splitting for ENV, LABEL and ARG (`parser/line_parsers.go: parseWords`,
//! `parseNameVal`, `parseNameOrNameVal`): words are split on whitespace outside quotes, quotes
//! and escapes are kept in the words (the shell lexer removes them later).

/// Port of `parseWords`.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if (phase == Phase::Word || phase == Phase::Quote) && at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if c == '\'' || c == '"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if c == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(c);
                pos += 1;
                c = chars[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // in quote
        let mut c = ch;
        if c == quote {
            phase = Phase::Word;
        }
        if c == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(c);
            c = chars[pos];
        }
        word.push(c);
        pos += 1;
    }
    words
}

/// `parseNameVal` for ENV and LABEL: either `KEY value…` (legacy) or `k=v k2=v2`.
pub fn parse_name_val(
    rest: &str,
    escape: char,
    keyword: &str,
) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    if !words[0].contains('=') {
        let t = rest.trim_start();
        let split = t.find(char::is_whitespace);
        return match split {
            Some(i) => Ok(vec![(t[..i].to_string(), t[i..].trim_start().to_string())]),
            None => Err(format!("{keyword} must have two arguments")),
        };
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `parseNameOrNameVal` for ARG: each word is `NAME` or `NAME=default`.
pub fn parse_name_or_name_val(rest: &str, escape: char) -> Vec<(String, Option<String>)> {
    parse_words(rest, escape)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"A="x \" y" B=a\ b"#, '\\'),
            vec![r#"A="x \" y""#, r"B=a\ b"]
        );
        assert_eq!(
            parse_name_val("A=1 B=\"two words\"", '\\', "ENV").unwrap(),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into())
            ]
        );
        assert_eq!(
            parse_name_val("PATH /a b", '\\', "ENV").unwrap(),
            vec![("PATH".into(), "/a b".into())]
        );
        assert!(parse_name_val("A=1 C", '\\', "ENV").is_err());
        assert_eq!(
            parse_name_or_name_val("X Y=2", '\\'),
            vec![("X".into(), None), ("Y".into(), Some("2".into()))]
        );
    }
}
