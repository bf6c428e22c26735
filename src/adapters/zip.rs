//! Reading the files of a zip archive within limits: what GitHub serves for a workflow
//! artifact. Only what artifacts use is read: the central directory at the end, stored (0) and
//! deflated (8) entries, no encryption, no ZIP64, no multi-disk archives. The archive is input
//! from outside (a pull request's workflow can upload anything): entries and unpacked bytes are
//! bounded whatever the directory claims, and a malformed archive is an error naming what is
//! wrong, never a panic.

use std::io::Read;

/// Limits of one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries in the central directory.
    pub entries: usize,
    /// Bytes unpacked, over the files read.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("not a zip archive: {0}")]
    Malformed(String),
    #[error("the zip archive holds more than {0} entries")]
    TooManyEntries(usize),
    #[error("the zip archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the zip entry {0} uses what cachebust does not read ({1})")]
    Unsupported(String, String),
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Whether bytes start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The files of `bytes` whose names `wanted` accepts, with their contents, in directory order.
pub fn read_files(
    bytes: &[u8],
    limits: Limits,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, ZipError> {
    let bad = |m: &str| ZipError::Malformed(m.to_string());
    // the end of central directory record: 22 bytes plus a comment of up to 64 KiB
    let from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| bad("no end of central directory"))?;
    let count = usize::from(u16_at(bytes, eocd + 10).ok_or_else(|| bad("cut"))?);
    let dir_size = u32_at(bytes, eocd + 12).ok_or_else(|| bad("cut"))? as usize;
    let dir_at = u32_at(bytes, eocd + 16).ok_or_else(|| bad("cut"))? as usize;
    if count == 0xFFFF || dir_at == 0xFFFF_FFFF {
        return Err(ZipError::Unsupported("(directory)".into(), "ZIP64".into()));
    }
    if count > limits.entries {
        return Err(ZipError::TooManyEntries(limits.entries));
    }
    if dir_at.checked_add(dir_size).is_none_or(|end| end > eocd) {
        return Err(bad("the central directory lies outside the archive"));
    }
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut at = dir_at;
    for _ in 0..count {
        if u32_at(bytes, at) != Some(0x0201_4b50) {
            return Err(bad("a central directory entry is malformed"));
        }
        let field = |o: usize| u16_at(bytes, at + o).ok_or_else(|| bad("cut"));
        let flags = field(8)?;
        let method = field(10)?;
        let csize = u32_at(bytes, at + 20).ok_or_else(|| bad("cut"))?;
        let usize_ = u32_at(bytes, at + 24).ok_or_else(|| bad("cut"))?;
        let (nlen, xlen, clen) = (
            usize::from(field(28)?),
            usize::from(field(30)?),
            usize::from(field(32)?),
        );
        let local = u32_at(bytes, at + 42).ok_or_else(|| bad("cut"))? as usize;
        let name_bytes = bytes
            .get(at + 46..at + 46 + nlen)
            .ok_or_else(|| bad("cut"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        at += 46 + nlen + xlen + clen;
        if name.ends_with('/') || !wanted(&name) {
            continue;
        }
        if flags & 1 != 0 {
            return Err(ZipError::Unsupported(name, "encryption".into()));
        }
        if csize == u32::MAX || usize_ == u32::MAX || local == 0xFFFF_FFFF {
            return Err(ZipError::Unsupported(name, "ZIP64".into()));
        }
        // the data follows the local header, whose name and extra lengths are its own
        if u32_at(bytes, local) != Some(0x0403_4b50) {
            return Err(bad("a local file header is malformed"));
        }
        let lname = usize::from(u16_at(bytes, local + 26).ok_or_else(|| bad("cut"))?);
        let lextra = usize::from(u16_at(bytes, local + 28).ok_or_else(|| bad("cut"))?);
        let start = local + 30 + lname + lextra;
        let data = bytes
            .get(start..start.saturating_add(csize as usize))
            .ok_or_else(|| bad("an entry's data lies outside the archive"))?;
        let left = limits.bytes.saturating_sub(total);
        // read one byte past what is left: more than that is over the limit, whatever the
        // directory claims
        let mut buf = Vec::new();
        match method {
            0 => {
                buf.extend_from_slice(&data[..data.len().min((left as usize).saturating_add(1))]);
            }
            8 => {
                flate2::read::DeflateDecoder::new(data)
                    .take(left + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| bad(&format!("{name}: {e}")))?;
            }
            m => {
                return Err(ZipError::Unsupported(
                    name,
                    format!("compression method {m}"),
                ));
            }
        }
        if buf.len() as u64 > left {
            return Err(ZipError::TooLarge(limits.bytes));
        }
        total += buf.len() as u64;
        out.push((name, buf));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A zip archive of `files`, deflated when `deflate`.
    pub(crate) fn zip(files: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dir = Vec::new();
        for (name, data) in files {
            let body = if deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let mut local = Vec::new();
            local.extend_from_slice(b"PK\x03\x04");
            local.extend_from_slice(&20u16.to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(&method.to_le_bytes());
            local.extend_from_slice(&[0; 8]); // time, date, crc (not checked)
            local.extend_from_slice(&(body.len() as u32).to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(&body);
            dir.extend_from_slice(b"PK\x01\x02");
            dir.extend_from_slice(&20u16.to_le_bytes());
            dir.extend_from_slice(&20u16.to_le_bytes());
            dir.extend_from_slice(&0u16.to_le_bytes());
            dir.extend_from_slice(&method.to_le_bytes());
            dir.extend_from_slice(&[0; 8]);
            dir.extend_from_slice(&(body.len() as u32).to_le_bytes());
            dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
            dir.extend_from_slice(&(name.len() as u16).to_le_bytes());
            dir.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
            dir.extend_from_slice(&offset.to_le_bytes());
            dir.extend_from_slice(name.as_bytes());
        }
        let at = out.len() as u32;
        out.extend_from_slice(&dir);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    const L: Limits = Limits {
        entries: 4,
        bytes: 4096,
    };

    #[test]
    fn files_are_read_stored_and_deflated() {
        for deflate in [false, true] {
            let z = zip(&[("a.dockerbuild", b"hello"), ("notes.txt", b"x")], deflate);
            assert!(is_zip(&z));
            let got = read_files(&z, L, |n| n.ends_with(".dockerbuild")).unwrap();
            assert_eq!(got, vec![("a.dockerbuild".to_string(), b"hello".to_vec())]);
        }
    }

    #[test]
    fn a_zip_bomb_and_hostile_directories_are_refused() {
        // 1 MiB of zeros deflates to about 1 KiB: refused past 4 KiB unpacked
        let zeros = vec![0u8; 1 << 20];
        let bomb = zip(&[("x.dockerbuild", &zeros)], true);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        assert_eq!(
            read_files(&bomb, L, |_| true),
            Err(ZipError::TooLarge(4096))
        );
        // two entries of 3 KiB each: the total counts
        let three = vec![1u8; 3 * 1024];
        let two = zip(&[("a", &three), ("b", &three)], true);
        assert_eq!(read_files(&two, L, |_| true), Err(ZipError::TooLarge(4096)));
        // too many entries
        let many: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}"), vec![])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
        assert_eq!(
            read_files(&zip(&many, false), L, |_| true),
            Err(ZipError::TooManyEntries(4))
        );
        // a directory pointing past the end, cut archives, not a zip at all
        let mut z = zip(&[("a", b"hello")], false);
        let n = z.len();
        z[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_files(&z, L, |_| true),
            Err(ZipError::Unsupported(..))
        ));
        let z = zip(&[("a", b"hello")], true);
        for cut in 0..z.len() {
            let _ = read_files(&z[..cut], L, |_| true);
            let mut flipped = z.clone();
            flipped[cut] ^= 0xff;
            let _ = read_files(&flipped, L, |_| true);
        }
        assert!(read_files(b"not a zip", L, |_| true).is_err());
    }
}
