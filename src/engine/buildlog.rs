//! Reading BuildKit progress logs (`--progress=plain`, also inside GitHub Actions and other CI
//! logs): which vertices ran, which were `CACHED`, how long each took. Vertex names of the form
//! `[stage k/n] INSTRUCTION` are split so they can be mapped back to Dockerfile instructions.

/// What became of a vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VertexStatus {
    Cached,
    Done,
    Error,
    Canceled,
    /// Started but no final line was seen (truncated log).
    Unfinished,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogVertex {
    /// The `#N` number.
    pub number: u32,
    /// The full vertex name (`[build 3/7] RUN npm ci`, `[internal] load build context`).
    pub name: String,
    /// Stage name from the `[stage k/n]` prefix (None for single-stage builds or internal vertices).
    pub stage: Option<String>,
    /// `k` and `n` of the prefix.
    pub step: Option<(u32, u32)>,
    /// The instruction text after the prefix.
    pub instruction: Option<String>,
    pub status: VertexStatus,
    /// Seconds from the last `DONE` line (a vertex reopened after DONE keeps the last value).
    pub seconds: Option<f64>,
    /// Seconds summed over every `DONE` interval.
    pub seconds_total: f64,
    /// Platform in a multi-platform prefix (`[linux/arm64 build 2/5]`).
    pub platform: Option<String>,
}

/// One build found in a log (a log may hold several).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBuild {
    pub vertices: Vec<LogVertex>,
}

/// Remove ANSI escapes, Jenkins console notes, CI timestamps and a trailing CR.
pub fn clean_line(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    let b: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\u{1b}' {
            // ESC [ ... letter  |  ESC [8m ... ESC [0m (Jenkins console note)
            if i + 2 < b.len()
                && b[i + 1] == '['
                && b[i + 2] == '8'
                && i + 3 < b.len()
                && b[i + 3] == 'm'
            {
                // skip until ESC[0m
                let mut j = i + 4;
                while j + 3 < b.len()
                    && !(b[j] == '\u{1b}' && b[j + 1] == '[' && b[j + 2] == '0' && b[j + 3] == 'm')
                {
                    j += 1;
                }
                i = (j + 4).min(b.len());
                continue;
            }
            let mut j = i + 1;
            if j < b.len() && b[j] == '[' {
                j += 1;
                while j < b.len() && !(b[j].is_ascii_alphabetic()) {
                    j += 1;
                }
            }
            i = j + 1;
            continue;
        }
        if b[i] != '\r' {
            s.push(b[i]);
        }
        i += 1;
    }
    strip_timestamp(s.trim_end()).to_string()
}

/// Strip a leading RFC 3339 timestamp (`2025-11-07T22:19:51.6487693Z `).
fn strip_timestamp(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
    {
        if let Some(sp) = s.find(' ') {
            let ts = &s[..sp];
            if ts.ends_with('Z') || ts.contains('+') {
                return &s[sp + 1..];
            }
        }
    }
    s
}

/// The parts of a vertex name: (platform, stage, (k, n), instruction).
pub type NameParts = (
    Option<String>,
    Option<String>,
    Option<(u32, u32)>,
    Option<String>,
);

/// Split `[stage k/n] INSTR` (also `[k/n] INSTR` and `[platform stage k/n] INSTR`).
pub fn split_name(name: &str) -> NameParts {
    let Some(rest) = name.strip_prefix('[') else {
        return (None, None, None, None);
    };
    let Some(close) = rest.find(']') else {
        return (None, None, None, None);
    };
    let inside = &rest[..close];
    let after = rest[close + 1..].trim_start().to_string();
    let words: Vec<&str> = inside.split_whitespace().collect();
    let Some(last) = words.last() else {
        return (None, None, None, None);
    };
    let Some((k, n)) = last.split_once('/') else {
        return (None, None, None, None);
    };
    let (Ok(k), Ok(n)) = (k.parse::<u32>(), n.parse::<u32>()) else {
        return (None, None, None, None);
    };
    let (platform, stage) = match words.len() {
        1 => (None, None),
        2 => (None, Some(words[0].to_string())),
        _ => (
            Some(words[0].to_string()),
            Some(words[words.len() - 2].to_string()),
        ),
    };
    (platform, stage, Some((k, n)), Some(after))
}

/// Parse plain progress output. Several builds in one log are returned separately (a new build
/// starts when `#1` appears again after later vertices).
pub fn parse_plain(text: &str) -> Vec<LogBuild> {
    let mut builds: Vec<LogBuild> = Vec::new();
    let mut cur = LogBuild::default();
    let mut max_seen = 0u32;
    for raw in text.split('\n') {
        let line = clean_line(raw);
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let num_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if num_len == 0 {
            continue;
        }
        let Ok(number) = rest[..num_len].parse::<u32>() else {
            continue;
        };
        let body = rest[num_len..].trim_start();
        if !rest[num_len..].starts_with(' ') && !body.is_empty() {
            continue;
        }
        let idx = match cur.vertices.iter().position(|v| v.number == number) {
            Some(i) => Some(i),
            None => {
                // A new vertex: a header line with a name.
                if body.is_empty()
                    || body == "..."
                    || is_status(body)
                    || body.starts_with("sha256:")
                    || starts_with_seconds(body)
                {
                    None
                } else {
                    if number <= 1 && max_seen > 2 {
                        builds.push(std::mem::take(&mut cur));
                        max_seen = 0;
                    }
                    let (platform, stage, step, instruction) = split_name(body);
                    cur.vertices.push(LogVertex {
                        number,
                        name: body.to_string(),
                        stage,
                        step,
                        instruction,
                        status: VertexStatus::Unfinished,
                        seconds: None,
                        seconds_total: 0.0,
                        platform,
                    });
                    max_seen = max_seen.max(number);
                    None
                }
            }
        };
        let Some(i) = idx else { continue };
        let v = &mut cur.vertices[i];
        if body == "CACHED" {
            v.status = VertexStatus::Cached;
        } else if let Some(d) = body.strip_prefix("DONE") {
            let secs = d.trim().trim_end_matches('s').parse::<f64>().ok();
            if v.status != VertexStatus::Cached {
                v.status = VertexStatus::Done;
            }
            if let Some(s) = secs {
                v.seconds = Some(s);
                v.seconds_total += s;
            }
        } else if body.starts_with("ERROR") {
            v.status = VertexStatus::Error;
        } else if body.starts_with("CANCELED") {
            v.status = VertexStatus::Canceled;
        }
    }
    if !cur.vertices.is_empty() {
        builds.push(cur);
    }
    builds
}

fn is_status(body: &str) -> bool {
    body == "CACHED"
        || body.starts_with("DONE")
        || body.starts_with("ERROR")
        || body.starts_with("CANCELED")
}

fn starts_with_seconds(body: &str) -> bool {
    let w = body.split_whitespace().next().unwrap_or_default();
    !w.is_empty() && w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split() {
        assert_eq!(
            split_name("[runner  6/11] COPY --chown=a server /app/server"),
            (
                None,
                Some("runner".into()),
                Some((6, 11)),
                Some("COPY --chown=a server /app/server".into())
            )
        );
        assert_eq!(
            split_name("[2/4] RUN echo hi"),
            (None, None, Some((2, 4)), Some("RUN echo hi".into()))
        );
        assert_eq!(
            split_name("[linux/arm64 build 2/5] RUN x").0.as_deref(),
            Some("linux/arm64")
        );
        assert_eq!(split_name("[internal] load build context").2, None);
    }

    #[test]
    fn plain_log() {
        let log = "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#5 [2/4] RUN echo hi > /x\n#5 sha256:2a5d\n#5 0.055 hi\n#5 DONE 0.1s\n\n#7 [3/4] COPY a /a\n#7 CACHED\n";
        let b = parse_plain(log);
        assert_eq!(b.len(), 1);
        let v: Vec<_> = b[0]
            .vertices
            .iter()
            .map(|v| (v.number, v.status, v.seconds))
            .collect();
        assert_eq!(
            v,
            vec![
                (1, VertexStatus::Done, Some(0.0)),
                (5, VertexStatus::Done, Some(0.1)),
                (7, VertexStatus::Cached, None)
            ]
        );
    }

    #[test]
    fn actions_prefix_and_ansi() {
        assert_eq!(
            clean_line("2025-11-07T22:19:51.6487693Z #5 DONE 1.2s\r"),
            "#5 DONE 1.2s"
        );
        assert_eq!(clean_line("\u{1b}[36m#5 CACHED\u{1b}[0m"), "#5 CACHED");
    }
}
