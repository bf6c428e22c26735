//! Go's `path.Match` (also `filepath.Match` on Unix), ported byte for byte: `*` and `?` do not
//! cross `/`, `[...]` classes with `^` negation and ranges, `\` escapes. BuildKit uses it for
//! COPY/ADD wildcards, and the `.dockerignore` matcher uses it to reject malformed patterns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// `path.Match(pattern, name)`. With `separator_aware == false`, `*` and `?` may match `/`
/// (used for shell-style `${v#pattern}`).
pub fn glob_match(pattern: &str, name: &str, separator_aware: bool) -> Result<bool, BadPattern> {
    go_match(
        pattern.as_bytes(),
        name.as_bytes(),
        separator_aware.then_some(b'/'),
    )
}

/// `path.Match` with `/` as the separator (the Go function itself).
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    go_match(pattern.as_bytes(), name.as_bytes(), Some(b'/'))
}

/// Whether the pattern contains wildcard syntax (`*`, `?`, `[`) — BuildKit's `containsWildcards`.
pub fn contains_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn go_match(mut pattern: &[u8], mut name: &[u8], sep: Option<u8>) -> Result<bool, BadPattern> {
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(match sep {
                Some(s) => !name.contains(&s),
                None => true,
            });
        }
        let (t, ok, err) = match_chunk(chunk, name, sep);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if let Some(e) = err {
            return Err(e);
        }
        if star {
            let mut i = 0;
            while i < name.len() && Some(name[i]) != sep {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..], sep);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
                if let Some(e) = err {
                    return Err(e);
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if let (_, _, Some(e)) = match_chunk(chunk, b"", sep) {
                return Err(e);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut inrange = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => inrange = true,
            b']' => inrange = false,
            b'*' if !inrange => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

fn decode_rune(s: &[u8]) -> (u32, usize) {
    match std::str::from_utf8(&s[..s.len().min(4)]).ok().or_else(|| {
        (1..=s.len().min(4))
            .rev()
            .find_map(|n| std::str::from_utf8(&s[..n]).ok())
    }) {
        Some(t) if !t.is_empty() => {
            let c = t.chars().next().unwrap_or('\u{fffd}');
            (c as u32, c.len_utf8())
        }
        _ => (0xfffd, 1),
    }
}

fn match_chunk<'a>(
    mut chunk: &[u8],
    mut s: &'a [u8],
    sep: Option<u8>,
) -> (&'a [u8], bool, Option<BadPattern>) {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (c, n) = decode_rune(s);
                    r = c;
                    s = &s[n..];
                }
                let (accepted, rest) = match class_accepts(&chunk[1..], r) {
                    Ok(v) => v,
                    Err(e) => return (&[], false, Some(e)),
                };
                chunk = rest;
                if !accepted {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if Some(s[0]) == sep {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let lit = if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (&[], false, Some(BadPattern));
                    }
                    chunk[0]
                } else {
                    c
                };
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (&[], false, None)
    } else {
        (s, true, None)
    }
}

/// A `[...]` class, `chunk` starting after its `[`: whether it accepts rune `r` (its `^`
/// negation applied), and the chunk after its `]`.
fn class_accepts(mut chunk: &[u8], r: u32) -> Result<(bool, &[u8]), BadPattern> {
    let mut negated = false;
    if chunk.first() == Some(&b'^') {
        negated = true;
        chunk = &chunk[1..];
    }
    let mut matched = false;
    let mut nrange = 0;
    loop {
        if chunk.first() == Some(&b']') && nrange > 0 {
            chunk = &chunk[1..];
            break;
        }
        let (lo, rest) = get_esc(chunk)?;
        chunk = rest;
        let mut hi = lo;
        if chunk.first() == Some(&b'-') {
            let (h, rest) = get_esc(&chunk[1..])?;
            hi = h;
            chunk = rest;
        }
        if lo <= r && r <= hi {
            matched = true;
        }
        nrange += 1;
    }
    Ok((matched != negated, chunk))
}

fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    let mut c = chunk;
    if c[0] == b'\\' {
        c = &c[1..];
        if c.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(c);
    let rest = &c[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match_cases() {
        // from Go's path/match_test.go
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, n, want) in cases {
            assert_eq!(path_match(p, n), *want, "Match({p:?}, {n:?})");
        }
    }

    #[test]
    fn wildcards_detected() {
        assert!(contains_wildcards("*.json"));
        assert!(!contains_wildcards("a\\*b"));
        assert!(!contains_wildcards("src/app"));
    }
}
