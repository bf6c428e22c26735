//! BuildKit build records (`docker buildx history export`, the `.dockerbuild` artifact that
//! docker/build-push-action uploads) once their archive is unpacked: the history record (JSON:
//! reference, frontend attributes with the imported caches and `no-cache`, step counts, error)
//! and the status stream (`application/vnd.buildkit.status.v0`: `[u32 little-endian length]` +
//! a protobuf `moby.buildkit.v1.StatusResponse`, repeated), decoded by hand for the few fields a
//! comparison needs: each vertex's digest, name, `cached`, started, completed and error
//! (field 1 of the response; vertex fields 1, 3, 4, 5, 6, 7). A step is cached when *any*
//! update of its vertex says so: a hit that loads its layer from a remote cache is followed by
//! updates with `cached` false (ci-cache-and-build-records.md §3). Pure: bytes in, data out;
//! a bad stream is an error with its offset, never a panic.

use super::buildlog::{LogBuild, LogVertex, MAX_VERTICES, VertexStatus, split_name};

/// Whether a file (or an artifact) is named as a build record archive: `.dockerbuild`, what
/// `docker buildx history export` writes and docker/build-push-action and bake-action upload
/// (`<owner>~<repo>~<REF6>.dockerbuild`, `+N` for several records).
pub fn is_record_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".dockerbuild")
}

/// One build as its record tells it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// The record's reference (`x3afz7e3f2cjf4tbvk8epdu7i`).
    pub reference: String,
    /// Caches the build imported, as `type` (and `ref` when the record keeps it).
    pub cache_imports: Vec<String>,
    /// `no-cache` was set: `Some(vec![])` for every stage, else the stages named.
    pub no_cache: Option<Vec<String>>,
    /// The build failed: its error message.
    pub error: Option<String>,
    pub build: LogBuild,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the status stream is cut or malformed at byte {0}")]
    Malformed(usize),
    #[error("the history record is not JSON: {0}")]
    Config(String),
}

fn varint(b: &[u8], i: &mut usize) -> Result<u64, RecordError> {
    let mut r: u64 = 0;
    for shift in (0..64).step_by(7) {
        let c = *b.get(*i).ok_or(RecordError::Malformed(*i))?;
        *i += 1;
        r |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Ok(r);
        }
    }
    Err(RecordError::Malformed(*i))
}

/// A protobuf field: number and value (a varint or a length-delimited slice).
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Field<'_>)>, RecordError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(b, &mut i)?),
            2 => {
                let n = varint(b, &mut i)? as usize;
                let end = i.checked_add(n).filter(|e| *e <= b.len());
                let end = end.ok_or(RecordError::Malformed(i))?;
                let s = &b[i..end];
                i = end;
                Field::Bytes(s)
            }
            1 => {
                i += 8;
                Field::Other
            }
            5 => {
                i += 4;
                Field::Other
            }
            _ => return Err(RecordError::Malformed(i)),
        };
        if i > b.len() {
            return Err(RecordError::Malformed(b.len()));
        }
        out.push((num, f));
    }
    Ok(out)
}

/// Seconds of a `google.protobuf.Timestamp` (`None` for the zero time).
fn timestamp(b: &[u8]) -> Result<Option<f64>, RecordError> {
    let (mut secs, mut nanos) = (0u64, 0u64);
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => secs = v,
            (2, Field::Varint(v)) => nanos = v,
            _ => {}
        }
    }
    Ok((secs > 0).then(|| secs as f64 + nanos as f64 / 1e9))
}

/// One update of a vertex.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VertexUpdate {
    pub digest: String,
    pub name: String,
    pub cached: bool,
    pub started: Option<f64>,
    pub completed: Option<f64>,
    pub error: Option<String>,
}

/// Every vertex update of a status stream, in order.
pub fn status_updates(stream: &[u8]) -> Result<Vec<VertexUpdate>, RecordError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        let len = stream
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(RecordError::Malformed(i))?;
        let start = i + 4;
        let end = start
            .checked_add(len)
            .filter(|e| *e <= stream.len())
            .ok_or(RecordError::Malformed(i))?;
        for (n, f) in fields(&stream[start..end])? {
            let (1, Field::Bytes(v)) = (n, f) else {
                continue;
            };
            let mut u = VertexUpdate::default();
            for (vn, vf) in fields(v)? {
                match (vn, vf) {
                    (1, Field::Bytes(s)) => u.digest = String::from_utf8_lossy(s).into_owned(),
                    (3, Field::Bytes(s)) => u.name = String::from_utf8_lossy(s).into_owned(),
                    (4, Field::Varint(c)) => u.cached = c != 0,
                    (5, Field::Bytes(t)) => u.started = timestamp(t)?,
                    (6, Field::Bytes(t)) => u.completed = timestamp(t)?,
                    (7, Field::Bytes(s)) if !s.is_empty() => {
                        u.error = Some(String::from_utf8_lossy(s).into_owned())
                    }
                    _ => {}
                }
            }
            out.push(u);
        }
        i = end;
    }
    Ok(out)
}

/// The vertices of a status stream as a build log: one per digest in order of first
/// appearance, cached when any update says so, its time from its first start to its last
/// completion.
pub fn build_of(updates: &[VertexUpdate]) -> LogBuild {
    struct Acc {
        name: String,
        cached: bool,
        started: Option<f64>,
        completed: Option<f64>,
        error: bool,
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: std::collections::HashMap<&str, Acc> = std::collections::HashMap::new();
    for u in updates {
        if !acc.contains_key(u.digest.as_str()) {
            if order.len() == MAX_VERTICES {
                continue;
            }
            order.push(u.digest.clone());
        }
        let a = acc.entry(u.digest.as_str()).or_insert(Acc {
            name: String::new(),
            cached: false,
            started: None,
            completed: None,
            error: false,
        });
        if !u.name.is_empty() {
            a.name = u.name.clone();
        }
        a.cached |= u.cached;
        a.error |= u.error.is_some();
        if let Some(s) = u.started {
            a.started = Some(a.started.map_or(s, |x: f64| x.min(s)));
        }
        if let Some(c) = u.completed {
            a.completed = Some(a.completed.map_or(c, |x: f64| x.max(c)));
        }
    }
    let vertices = order
        .iter()
        .enumerate()
        .filter_map(|(n, d)| {
            let a = acc.get(d.as_str())?;
            let (platform, stage, step, instruction) = split_name(&a.name);
            let status = if a.error {
                VertexStatus::Error
            } else if a.cached {
                VertexStatus::Cached
            } else if a.completed.is_some() {
                VertexStatus::Done
            } else {
                VertexStatus::Unfinished
            };
            let seconds = match (a.started, a.completed) {
                (Some(s), Some(c)) if c >= s && c - s <= super::buildlog::MAX_SECONDS => {
                    Some(c - s)
                }
                _ => None,
            };
            Some(LogVertex {
                number: n as u32 + 1,
                name: a.name.clone(),
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
            })
        })
        .collect();
    LogBuild { vertices }
}

/// A record from its history-record JSON (the manifest's config) and its status stream.
pub fn read(config_json: &str, status: &[u8]) -> Result<Record, RecordError> {
    let v: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| RecordError::Config(e.to_string()))?;
    let attrs = v.get("FrontendAttrs");
    let attr = |k: &str| attrs.and_then(|a| a.get(k)).and_then(|x| x.as_str());
    let mut cache_imports = Vec::new();
    if let Some(ci) = attr("cache-imports") {
        if let Ok(serde_json::Value::Array(list)) = serde_json::from_str::<serde_json::Value>(ci) {
            for c in list {
                let ty = c.get("Type").and_then(|t| t.as_str()).unwrap_or("?");
                match c
                    .get("Attrs")
                    .and_then(|a| a.get("ref").or_else(|| a.get("scope")))
                    .and_then(|r| r.as_str())
                {
                    Some(r) => cache_imports.push(format!("{ty} {r}")),
                    None => cache_imports.push(ty.to_string()),
                }
            }
        }
    }
    let no_cache = attr("no-cache").map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    });
    let error = v.get("error").and_then(|e| {
        e.get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .or_else(|| Some(e.to_string()))
    });
    let updates = status_updates(status)?;
    Ok(Record {
        reference: v
            .get("Ref")
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_string(),
        cache_imports,
        no_cache,
        error,
        build: build_of(&updates),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(fields: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, b) in fields {
            out.push(((n << 3) | 2) as u8);
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
        out
    }

    #[test]
    fn a_hit_followed_by_a_layer_pull_is_cached() {
        let ts = |s: u8| vec![0x08, s];
        let vertex = |cached: bool, start: u8| {
            let mut v = msg(&[
                (1, b"sha256:a".to_vec()),
                (3, b"[build 2/4] RUN x".to_vec()),
            ]);
            if cached {
                v.extend_from_slice(&[0x20, 1]);
            }
            v.extend(msg(&[(5, ts(start)), (6, ts(start + 1))]));
            v
        };
        let mut stream = Vec::new();
        for (c, s) in [(true, 10), (false, 12)] {
            let m = msg(&[(1, vertex(c, s))]);
            stream.extend_from_slice(&(m.len() as u32).to_le_bytes());
            stream.extend(m);
        }
        let u = status_updates(&stream).unwrap();
        assert_eq!(u.len(), 2);
        assert!(u[0].cached && !u[1].cached);
        let b = build_of(&u);
        assert_eq!(b.vertices.len(), 1);
        assert_eq!(b.vertices[0].status, VertexStatus::Cached);
        assert_eq!(b.vertices[0].stage.as_deref(), Some("build"));
    }

    #[test]
    fn a_cut_stream_is_an_error_not_a_panic() {
        assert_eq!(
            status_updates(&[5, 0, 0, 0, 1]),
            Err(RecordError::Malformed(0))
        );
        assert!(status_updates(&[3, 0, 0, 0, 0x0a, 0xff, 0xff]).is_err());
        assert!(status_updates(&[2, 0, 0, 0, 0xff, 0xff]).is_err());
        assert_eq!(status_updates(&[]), Ok(Vec::new()));
        // any bytes: an answer, never a panic
        let mut x: u64 = 1;
        for _ in 0..2000 {
            let mut b = Vec::new();
            for _ in 0..(x % 40) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b.push((x >> 33) as u8);
            }
            let _ = status_updates(&b);
        }
    }
}
