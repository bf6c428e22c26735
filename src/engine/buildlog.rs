//! Reading BuildKit progress logs (`--progress=plain`, also inside GitHub Actions and other CI
//! logs): which vertices ran, which were `CACHED`, how long each took. Vertex names of the form
//! `[stage k/n] INSTRUCTION` are split so they can be mapped back to Dockerfile instructions.

/// What became of a vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VertexStatus {
    Cached,
    Done,
    Error,
    Canceled,
    /// Started but no final line was seen (truncated log).
    Unfinished,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Strip a `machine: ` prefix that wrappers such as Vagrant put before each line.
fn strip_wrapper_prefix(line: &str) -> &str {
    if let Some(i) = line.find(": #") {
        let head = &line[..i];
        if !head.is_empty()
            && !head.contains(' ')
            && head
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            return &line[i + 2..];
        }
    }
    line
}

/// Parse plain progress output. Several builds in one log are returned separately: a new
/// build starts at `#0 building with …` or `#1 [internal] load build definition` once the
/// current build has finished vertices, or when a finished vertex number reappears with a
/// different name.
pub fn parse_plain(text: &str) -> Vec<LogBuild> {
    read_plain(text).builds
}

/// Most vertices read from one log (all its builds together): a pull request may commit the
/// log, and matching costs vertices × steps. A real build has tens to a few hundred.
pub const MAX_VERTICES: usize = 10_000;
/// Longest duration believed for one vertex, in seconds (a week); longer, negative or
/// non-finite values are dropped with a problem.
pub const MAX_SECONDS: f64 = 7.0 * 86_400.0;

/// Problems kept per log (the first ones; the rest are alike).
const MAX_PROBLEMS: usize = 5;

/// A log as read, with what was wrong with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRead {
    pub builds: Vec<LogBuild>,
    /// (1-based line where known, message): limits hit, durations refused.
    pub problems: Vec<(Option<u32>, String)>,
}

/// A duration from the log, if it is believable.
fn duration(s: f64) -> Option<f64> {
    (s.is_finite() && (0.0..=MAX_SECONDS).contains(&s)).then_some(s)
}

fn refused(value: &str) -> String {
    format!(
        "duration {value:?} is not a number of seconds between 0 and {} (a week); it is ignored",
        MAX_SECONDS as u64
    )
}

fn too_many() -> String {
    format!("more than {MAX_VERTICES} vertices; cachebust reads no further in this log")
}

/// `parse_plain` with its problems; linear in the log's length.
pub fn read_plain(text: &str) -> LogRead {
    let mut out = LogRead::default();
    let mut cur = LogBuild::default();
    // number → index in cur.vertices (the first vertex of that number)
    let mut index: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut any_finished = false;
    let mut total = 0usize;
    for (ln, raw) in text.split('\n').enumerate() {
        let line = clean_line(raw);
        let line = strip_wrapper_prefix(line.trim_start());
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
        let header = !(body.is_empty()
            || body == "..."
            || is_status(body)
            || body.starts_with("sha256:")
            || starts_with_seconds(body));
        let known = index.get(&number).map(|&i| &cur.vertices[i]);
        let finished = |v: &LogVertex| v.status != VertexStatus::Unfinished;
        let starts_build = header
            && ((number == 0 && body.starts_with("building with"))
                || (number <= 1 && body.starts_with("[internal] load build definition")))
            && any_finished
            && known.is_none_or(|v| v.name != body);
        let reused = header && known.is_some_and(|v| v.name != body && finished(v));
        if starts_build || reused {
            out.builds.push(std::mem::take(&mut cur));
            index.clear();
            any_finished = false;
        }
        let idx = match index.get(&number) {
            Some(&i) => Some(i),
            None if header => {
                if total == MAX_VERTICES {
                    out.problems.push((Some(ln as u32 + 1), too_many()));
                    break;
                }
                total += 1;
                let (platform, stage, step, instruction) = split_name(body);
                index.insert(number, cur.vertices.len());
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
                None
            }
            None => None,
        };
        let Some(i) = idx else { continue };
        let v = &mut cur.vertices[i];
        if body == "CACHED" {
            v.status = VertexStatus::Cached;
        } else if let Some(d) = body.strip_prefix("DONE") {
            let text = d.trim().trim_end_matches('s');
            let secs = text.parse::<f64>().ok();
            if v.status != VertexStatus::Cached {
                v.status = VertexStatus::Done;
            }
            match secs.map(|s| (s, duration(s))) {
                Some((_, Some(s))) => {
                    v.seconds = Some(s);
                    v.seconds_total = (v.seconds_total + s).min(MAX_SECONDS);
                }
                Some((_, None)) if out.problems.len() < MAX_PROBLEMS => {
                    out.problems.push((Some(ln as u32 + 1), refused(text)))
                }
                Some((_, None)) => {}
                None => {}
            }
        } else if body.starts_with("ERROR") {
            v.status = VertexStatus::Error;
        } else if body.starts_with("CANCELED") {
            v.status = VertexStatus::Canceled;
        }
        any_finished |= cur.vertices[i].status != VertexStatus::Unfinished;
    }
    if !cur.vertices.is_empty() {
        out.builds.push(cur);
    }
    out
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
    fn hostile_durations_are_refused() {
        let log = "#1 [1/3] FROM a\n#1 DONE NaN\n#2 [2/3] RUN x\n#2 DONE infs\n#3 [3/3] RUN y\n#3 DONE -5s\n#4 [3/3] RUN z\n#4 DONE 1e308s\n#5 [3/3] RUN w\n#5 DONE 2.5s\n";
        let r = read_plain(log);
        let secs: Vec<_> = r.builds[0].vertices.iter().map(|v| v.seconds).collect();
        assert_eq!(secs, vec![None, None, None, None, Some(2.5)]);
        let lines: Vec<_> = r.problems.iter().map(|p| p.0).collect();
        assert_eq!(lines, vec![Some(2), Some(4), Some(6), Some(8)]);
        assert!(
            r.problems[0]
                .1
                .contains("\"NaN\" is not a number of seconds")
        );
        assert!(
            r.builds[0]
                .vertices
                .iter()
                .all(|v| v.seconds_total.is_finite())
        );
    }

    #[test]
    fn bad_offsets_and_dates_are_not_times() {
        assert!(parse_rfc3339("2025-03-20T22:53:16.44+01:00").is_some());
        assert_eq!(parse_rfc3339("2025-03-20T22:53:16+99:99"), None);
        assert_eq!(parse_rfc3339("2025-13-20T22:53:16Z"), None);
        assert_eq!(parse_rfc3339("2025-03-20T25:53:16Z"), None);
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        reason = "the test, not the engine, reads the clock"
    )]
    fn vertices_past_the_limit_are_not_read_and_parsing_is_linear() {
        let mut log = String::new();
        for n in 1..=MAX_VERTICES + 50 {
            log.push_str(&format!("#{n} [1/2] RUN step {n}\n#{n} DONE 0.1s\n"));
        }
        let t = std::time::Instant::now();
        let r = read_plain(&log);
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        assert_eq!(
            r.builds.iter().map(|b| b.vertices.len()).sum::<usize>(),
            MAX_VERTICES
        );
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].0, Some(2 * MAX_VERTICES as u32 + 1));
        let mut json = String::new();
        for n in 0..MAX_VERTICES + 3 {
            json.push_str(&format!("{{\"vertexes\":[{{\"digest\":\"sha256:{n}\",\"name\":\"[1/2] RUN {n}\",\"started\":\"2024-02-05T18:37:58Z\",\"completed\":\"2024-02-05T18:37:59Z\"}}]}}\n"));
        }
        let r = read_json(&json);
        assert_eq!(r.builds[0].vertices.len(), MAX_VERTICES);
        assert_eq!(r.problems[0].0, Some(MAX_VERTICES as u32 + 1));
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

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2024-02-05T18:37:58.113853435Z`,
/// `2025-03-20T22:53:16.44+01:00`); `None` for the zero time or a malformed value.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if y < 1970 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = format!("0.{}", &s[start..i]).parse().unwrap_or(0.0);
    }
    let offset = match b.get(i) {
        Some(b'Z') | Some(b'z') | None => 0,
        Some(b'+') | Some(b'-') => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6).unwrap_or(0);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // days from civil (Howard Hinnant)
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

#[derive(serde::Deserialize)]
struct JsonVertex {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    started: Option<String>,
    #[serde(default)]
    completed: Option<String>,
    #[serde(default)]
    cached: bool,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct JsonStatus {
    #[serde(default)]
    vertexes: Vec<JsonVertex>,
}

/// Parse rawjson progress (`--progress=rawjson`, one `SolveStatus` per line or indented), the
/// engine's `StatusResponse` stream, or an aggregated solve status: every JSON object with a
/// `vertexes` array, in order, prose around them ignored. Durations are completed − started.
pub fn parse_json(text: &str) -> Vec<LogBuild> {
    read_json(text).builds
}

/// `parse_json` with its problems.
pub fn read_json(text: &str) -> LogRead {
    let mut problems = Vec::new();
    let mut acc: std::collections::HashMap<String, JsonAcc> = std::collections::HashMap::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let mut de =
            serde_json::Deserializer::from_str(&text[i..]).into_iter::<serde_json::Value>();
        match de.next() {
            Some(Ok(v)) => {
                let used = de.byte_offset();
                if let Ok(st) = serde_json::from_value::<JsonStatus>(v) {
                    merge_status(&mut acc, st, text, i, &mut problems);
                }
                i += used.max(1);
            }
            _ => i += 1,
        }
    }
    let mut list: Vec<(String, JsonAcc)> = acc.into_iter().collect();
    list.sort_by_key(|(_, a)| a.order);
    let vertices: Vec<LogVertex> = list
        .into_iter()
        .enumerate()
        .map(|(n, (_, a))| json_vertex(n, a, &mut problems))
        .collect();
    LogRead {
        builds: if vertices.is_empty() {
            Vec::new()
        } else {
            vec![LogBuild { vertices }]
        },
        problems,
    }
}

/// What the JSON statuses say about one vertex (by digest), merged over every status seen.
struct JsonAcc {
    name: String,
    started: Option<f64>,
    completed: Option<f64>,
    cached: bool,
    error: bool,
    /// Order of first appearance.
    order: usize,
}

/// Merge the vertices of one status (the JSON object at byte `at` of `text`) into `acc`; past
/// `MAX_VERTICES` digests new ones are dropped and the first problem says so.
fn merge_status(
    acc: &mut std::collections::HashMap<String, JsonAcc>,
    st: JsonStatus,
    text: &str,
    at: usize,
    problems: &mut Vec<(Option<u32>, String)>,
) {
    for jv in st.vertexes {
        let n = acc.len();
        if n == MAX_VERTICES && !acc.contains_key(&jv.digest) {
            if problems.is_empty() {
                let line = text[..at].matches('\n').count() as u32 + 1;
                problems.push((Some(line), too_many()));
            }
            continue;
        }
        let a = acc.entry(jv.digest.clone()).or_insert(JsonAcc {
            name: String::new(),
            started: None,
            completed: None,
            cached: false,
            error: false,
            order: n,
        });
        if !jv.name.is_empty() {
            a.name = jv.name;
        }
        if let Some(s) = jv.started.as_deref().and_then(parse_rfc3339) {
            a.started = Some(s);
        }
        if let Some(c) = jv.completed.as_deref().and_then(parse_rfc3339) {
            a.completed = Some(c);
        }
        a.cached |= jv.cached;
        a.error |= jv.error.is_some_and(|e| !e.is_empty());
    }
}

/// The `n`th (0-based) merged vertex as a `LogVertex`; an unbelievable duration is refused
/// with a problem (up to `MAX_PROBLEMS`).
fn json_vertex(n: usize, a: JsonAcc, problems: &mut Vec<(Option<u32>, String)>) -> LogVertex {
    let (platform, stage, step, instruction) = split_name(&a.name);
    let seconds = match (a.started, a.completed) {
        (Some(s), Some(c)) if c >= s => {
            let d = duration(c - s);
            if d.is_none() && problems.len() < MAX_PROBLEMS {
                problems.push((None, refused(&format!("{}", c - s))));
            }
            d
        }
        _ => None,
    };
    let status = if a.error {
        VertexStatus::Error
    } else if a.cached {
        VertexStatus::Cached
    } else if a.completed.is_some() {
        VertexStatus::Done
    } else {
        VertexStatus::Unfinished
    };
    LogVertex {
        number: n as u32 + 1,
        name: a.name,
        stage,
        step,
        instruction,
        status,
        seconds: if status == VertexStatus::Cached {
            None
        } else {
            seconds
        },
        seconds_total: seconds.unwrap_or(0.0),
        platform,
    }
}

/// Read a log in any supported format.
pub fn parse_any(text: &str) -> Vec<LogBuild> {
    read_any(text).builds
}

/// `parse_any` with its problems.
pub fn read_any(text: &str) -> LogRead {
    if text.contains("\"vertexes\"") {
        let j = read_json(text);
        if !j.builds.is_empty() {
            return j;
        }
    }
    read_plain(text)
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10.0));
        let a = parse_rfc3339("2025-03-20T22:53:16.448246532+01:00").unwrap();
        let b = parse_rfc3339("2025-03-20T21:53:16.448246532Z").unwrap();
        assert!((a - b).abs() < 1e-6);
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn rawjson_vertices() {
        let log = r#"{"vertexes":[{"digest":"sha256:a","name":"[2/3] RUN sleep 2","started":"2024-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","name":"[2/3] RUN sleep 2","started":"2024-01-01T00:00:00Z","completed":"2024-01-01T00:00:02.5Z"}]}
{"vertexes":[{"digest":"sha256:b","name":"[3/3] COPY a /a","cached":true,"started":"2024-01-01T00:00:03Z","completed":"2024-01-01T00:00:03Z"}]}"#;
        let b = parse_json(log);
        assert_eq!(b.len(), 1);
        let v = &b[0].vertices;
        assert_eq!(v[0].status, VertexStatus::Done);
        assert_eq!(v[0].seconds, Some(2.5));
        assert_eq!(v[0].step, Some((2, 3)));
        assert_eq!(v[1].status, VertexStatus::Cached);
        assert_eq!(v[1].seconds, None);
    }
}
