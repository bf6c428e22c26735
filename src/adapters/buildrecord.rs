//! Unpacking a build record archive (`.dockerbuild`: a gzip'd tar holding an OCI layout, what
//! `docker buildx history export` writes and docker/build-push-action uploads): gunzip and
//! untar within size limits, follow `index.json` (one manifest per record, or a nested index
//! for several), and hand each record's history JSON and status stream to
//! `engine::buildrecord::read`. An archive is input from outside: a size over the limits, a
//! path outside `blobs/`, a missing blob or a malformed stream is an error naming it.

use std::collections::HashMap;
use std::io::Read;

use crate::engine::buildrecord::{self, Record};

/// Largest archive read, compressed and unpacked (real records are 9 to 130 KB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Most tar entries read.
const MAX_ENTRIES: usize = 10_000;
/// Most records (manifests) read from one archive.
const MAX_RECORDS: usize = 100;

/// What one archive may hold before it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes, compressed and unpacked.
    pub bytes: u64,
    /// Tar entries.
    pub entries: usize,
    /// Records (manifests); index documents followed are bounded at four times this.
    pub records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytes: MAX_BYTES,
            entries: MAX_ENTRIES,
            records: MAX_RECORDS,
        }
    }
}

const HISTORY: &str = "application/vnd.buildkit.historyrecord.v0";
const STATUS: &str = "application/vnd.buildkit.status.v0";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a build record archive: {0}")]
    NotAnArchive(String),
    #[error("the archive is larger than {0} MiB unpacked; not read")]
    TooLarge(u64),
    #[error("the archive holds more than {0} files; not read")]
    TooManyEntries(usize),
    #[error("the archive has no {0}")]
    Missing(String),
    #[error(transparent)]
    Record(#[from] buildrecord::RecordError),
}

/// A reader that ends with an error past `left` bytes and says so in `cut`.
struct Capped<R> {
    inner: R,
    left: u64,
    cut: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // one byte more than allowed exists: the archive is over the limit
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.cut.set(true);
                return Err(std::io::Error::other("over the size limit"));
            }
            return Ok(0);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Whether bytes look like a gzip stream (a `.dockerbuild` file) rather than a text log.
pub fn is_archive(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Every record of a `.dockerbuild` archive.
pub fn read_archive(bytes: &[u8]) -> Result<Vec<Record>, ArchiveError> {
    read_archive_with(bytes, Limits::default())
}

/// Every record of a `.dockerbuild` archive, within `limits`.
pub fn read_archive_with(bytes: &[u8], limits: Limits) -> Result<Vec<Record>, ArchiveError> {
    let too_large = || ArchiveError::TooLarge(limits.bytes.div_ceil(1024 * 1024));
    if bytes.len() as u64 > limits.bytes {
        return Err(too_large());
    }
    let cut = std::rc::Rc::new(std::cell::Cell::new(false));
    let unpacked = Capped {
        inner: flate2::read::GzDecoder::new(bytes),
        left: limits.bytes,
        cut: cut.clone(),
    };
    let mut tar = tar::Archive::new(unpacked);
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut total: u64 = 0;
    // an error once the unpacked stream reached the limit is the limit, not a malformed file
    let bad = |e: std::io::Error| {
        if cut.get() {
            too_large()
        } else {
            ArchiveError::NotAnArchive(e.to_string())
        }
    };
    let entries = tar.entries().map_err(bad)?;
    for (n, e) in entries.enumerate() {
        if n >= limits.entries {
            return Err(ArchiveError::TooManyEntries(limits.entries));
        }
        let mut e = e.map_err(bad)?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let path = e
            .path()
            .map_err(bad)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        total = total.saturating_add(e.size());
        if total > limits.bytes {
            return Err(too_large());
        }
        let mut buf = Vec::with_capacity(e.size().min(limits.bytes) as usize);
        e.read_to_end(&mut buf).map_err(bad)?;
        files.insert(path, buf);
    }
    if cut.get() {
        return Err(too_large());
    }
    let blob = |digest: &str| -> Result<&Vec<u8>, ArchiveError> {
        let path = format!("blobs/{}", digest.replacen(':', "/", 1));
        if digest.contains("..") || digest.contains('/') {
            return Err(ArchiveError::Missing(format!("blob {digest}")));
        }
        files
            .get(&path)
            .ok_or_else(|| ArchiveError::Missing(format!("blob {digest}")))
    };
    let json = |b: &[u8]| -> Result<serde_json::Value, ArchiveError> {
        serde_json::from_slice(b).map_err(|e| ArchiveError::NotAnArchive(e.to_string()))
    };
    let index = files
        .get("index.json")
        .ok_or_else(|| ArchiveError::Missing("index.json".into()))?;
    // manifests to read, nested indexes expanded
    let mut queue: Vec<serde_json::Value> = json(index)?
        .get("manifests")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let mut records = Vec::new();
    let mut seen = 0;
    while let Some(desc) = queue.pop() {
        seen += 1;
        if seen > limits.records.saturating_mul(4) || records.len() >= limits.records {
            break;
        }
        let digest = desc.get("digest").and_then(|d| d.as_str()).unwrap_or("");
        let doc = json(blob(digest)?)?;
        if let Some(nested) = doc.get("manifests").and_then(|m| m.as_array()) {
            queue.extend(nested.iter().rev().cloned());
            continue;
        }
        let config = doc.get("config").cloned().unwrap_or_default();
        if config.get("mediaType").and_then(|m| m.as_str()) != Some(HISTORY) {
            continue;
        }
        let cfg = blob(config.get("digest").and_then(|d| d.as_str()).unwrap_or(""))?;
        let status = doc
            .get("layers")
            .and_then(|l| l.as_array())
            .and_then(|l| {
                l.iter()
                    .find(|x| x.get("mediaType").and_then(|m| m.as_str()) == Some(STATUS))
            })
            .and_then(|x| x.get("digest").and_then(|d| d.as_str()))
            .ok_or_else(|| ArchiveError::Missing("status stream".into()))?;
        let status = blob(status)?;
        records.push(buildrecord::read(&String::from_utf8_lossy(cfg), status)?);
    }
    if records.is_empty() {
        return Err(ArchiveError::Missing("build record".into()));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn small() -> Limits {
        Limits {
            bytes: 4096,
            entries: 8,
            records: 4,
        }
    }

    #[test]
    fn an_archive_over_the_limits_is_refused_by_name() {
        // a file that unpacks past the limit (a few hundred bytes compressed)
        let bomb = archive(&[("blobs/sha256/x", vec![0; 64 * 1024])]);
        assert!(bomb.len() < 4096);
        assert!(matches!(
            read_archive_with(&bomb, small()),
            Err(ArchiveError::TooLarge(1))
        ));
        // small files whose headers take the stream past the limit
        let many: Vec<(String, Vec<u8>)> = (0..6).map(|i| (format!("f{i}"), vec![b'x'])).collect();
        let many: Vec<(&str, Vec<u8>)> =
            many.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
        let e = read_archive_with(&archive(&many), small()).unwrap_err();
        assert!(matches!(e, ArchiveError::TooLarge(_)), "{e}");
        // more entries than allowed
        let many: Vec<(String, Vec<u8>)> = (0..9).map(|i| (format!("f{i}"), Vec::new())).collect();
        let many: Vec<(&str, Vec<u8>)> =
            many.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
        let limits = Limits {
            bytes: 1 << 20,
            ..small()
        };
        let e = read_archive_with(&archive(&many), limits).unwrap_err();
        assert!(matches!(e, ArchiveError::TooManyEntries(8)), "{e}");
        assert_eq!(
            e.to_string(),
            "the archive holds more than 8 files; not read"
        );
    }

    #[test]
    fn a_hostile_index_is_an_error_not_a_panic_or_a_loop() {
        let limits = Limits {
            bytes: 1 << 20,
            ..small()
        };
        // a digest that leaves blobs/
        let out = archive(&[
            (
                "index.json",
                br#"{"manifests":[{"digest":"sha256:../../index.json"}]}"#.to_vec(),
            ),
            ("index.json.x", Vec::new()),
        ]);
        let e = read_archive_with(&out, limits).unwrap_err();
        assert!(matches!(e, ArchiveError::Missing(_)), "{e}");
        // an index that names itself: followed a bounded number of times
        let cyc = br#"{"manifests":[{"digest":"sha256:aa"},{"digest":"sha256:aa"}]}"#.to_vec();
        let out = archive(&[("index.json", cyc.clone()), ("blobs/sha256/aa", cyc)]);
        let e = read_archive_with(&out, limits).unwrap_err();
        assert_eq!(e.to_string(), "the archive has no build record");
        // no index, an index that is not JSON, a gzip stream that is no tar
        let e = read_archive_with(&archive(&[("x", Vec::new())]), limits).unwrap_err();
        assert_eq!(e.to_string(), "the archive has no index.json");
        assert!(matches!(
            read_archive_with(&archive(&[("index.json", b"{".to_vec())]), limits),
            Err(ArchiveError::NotAnArchive(_))
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[7; 700]).unwrap();
        assert!(read_archive_with(&gz.finish().unwrap(), limits).is_err());
    }
}
