//! A tree read from a directory on disk: a full walk that never follows symlinks, with every
//! regular file hashed the way git hashes blobs (so a directory compares with a git revision).
//! Unreadable entries are reported, not fatal.

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::engine::tree::{Entry, EntryKind, Listing};
use crate::ports::SourceError;

/// A directory used as one side of a change.
#[derive(Debug, Clone)]
pub struct DirTree {
    pub root: PathBuf,
    pub listing: Listing,
    /// Paths that could not be read, with the reason.
    pub problems: Vec<(String, String)>,
}

/// Git's blob id of `bytes` (`sha1("blob <len>\0" + bytes)`).
pub fn blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `root` exists and is a directory.
fn must_be_dir(root: &Path) -> Result<(), SourceError> {
    let meta = std::fs::metadata(root)
        .map_err(|e| SourceError::NotFound(format!("{}: {e}", root.display())))?;
    if !meta.is_dir() {
        return Err(SourceError::NotFound(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    Ok(())
}

impl DirTree {
    pub fn open(root: &Path) -> Result<DirTree, SourceError> {
        must_be_dir(root)?;
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        walk(root, String::new(), &mut entries, &mut problems);
        Ok(DirTree {
            root: root.to_path_buf(),
            listing: Listing::complete(entries),
            problems,
        })
    }

    /// Read a file inside the tree (never following a symlink out of the root).
    pub fn read(&self, rel: &str) -> Option<std::io::Result<Vec<u8>>> {
        let e = match self.listing.entry(rel) {
            crate::engine::tree::Lookup::Loaded(e) => e.cloned(),
            crate::engine::tree::Lookup::Missing => None,
        };
        match e {
            Some(Entry {
                kind: EntryKind::File,
                ..
            }) => Some(std::fs::read(self.root.join(rel))),
            Some(Entry {
                kind: EntryKind::Symlink,
                id,
                ..
            }) => {
                // Follow a link to a file that stays inside the tree.
                let dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let target = crate::engine::tree::join_clean(
                    if id.starts_with('/') { "" } else { dir },
                    &id,
                );
                if target == rel {
                    return None;
                }
                match self.listing.entry(&target) {
                    crate::engine::tree::Lookup::Loaded(Some(Entry {
                        kind: EntryKind::File,
                        ..
                    })) => Some(std::fs::read(self.root.join(&target))),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn walk(
    dir: &Path,
    rel: String,
    out: &mut Vec<(String, Entry)>,
    problems: &mut Vec<(String, String)>,
) {
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            problems.push((rel, e.to_string()));
            return;
        }
    };
    let mut items: Vec<_> = rd.filter_map(Result::ok).collect();
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            problems.push((
                format!("{rel}/{}", name.to_string_lossy()),
                "file name is not UTF-8; skipped".into(),
            ));
            continue;
        };
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let full = item.path();
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) => {
                problems.push((path, e.to_string()));
                continue;
            }
        };
        let mode = mode_of(&meta);
        let ft = meta.file_type();
        if ft.is_symlink() {
            match std::fs::read_link(&full) {
                Ok(t) => out.push((
                    path,
                    Entry {
                        kind: EntryKind::Symlink,
                        mode: 0o777,
                        id: t.to_string_lossy().into_owned(),
                        size: None,
                    },
                )),
                Err(e) => problems.push((path, e.to_string())),
            }
        } else if ft.is_dir() {
            out.push((
                path.clone(),
                Entry {
                    kind: EntryKind::Dir,
                    mode,
                    id: String::new(),
                    size: None,
                },
            ));
            walk(&full, path, out, problems);
        } else if ft.is_file() {
            match std::fs::read(&full) {
                Ok(bytes) => out.push((
                    path,
                    Entry {
                        kind: EntryKind::File,
                        mode,
                        id: blob_id(&bytes),
                        size: Some(bytes.len() as u64),
                    },
                )),
                Err(e) => problems.push((path, e.to_string())),
            }
        }
    }
}

#[cfg(unix)]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    if m.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

/// Reduce a mode to what git records (0644 or 0755 for files) so a directory compares fairly
/// with a git revision.
pub fn git_mode(e: &Entry) -> Entry {
    let mut e = e.clone();
    if e.kind == EntryKind::File {
        e.mode = if e.mode & 0o111 != 0 { 0o755 } else { 0o644 };
    }
    if e.kind == EntryKind::Dir {
        e.mode = 0o755;
    }
    e
}

/// One directory as both sides of a change (`check` and `fix` audit a tree, they compare none):
/// no change set, and nothing walked or hashed up front. Discovery walks names only (skipping
/// `.git` and `node_modules`); listings are read for the paths the analysis asks for.
pub struct SameDir {
    pub root: PathBuf,
    problems: std::sync::Mutex<Vec<(String, String)>>,
}

impl SameDir {
    pub fn open(root: &Path) -> Result<SameDir, SourceError> {
        must_be_dir(root)?;
        Ok(SameDir {
            root: root.to_path_buf(),
            problems: Default::default(),
        })
    }

    /// Paths that could not be read, with the reason.
    pub fn problems(&self) -> Vec<(String, String)> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn entry(&self, rel: &str) -> Option<Entry> {
        let full = self.root.join(rel);
        let meta = std::fs::symlink_metadata(&full).ok()?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(&full).ok()?;
            Some(Entry {
                kind: EntryKind::Symlink,
                mode: 0o777,
                id: t.to_string_lossy().into_owned(),
                size: None,
            })
        } else if ft.is_dir() {
            Some(Entry {
                kind: EntryKind::Dir,
                mode: mode_of(&meta),
                id: String::new(),
                size: None,
            })
        } else if ft.is_file() {
            let bytes = std::fs::read(&full).ok()?;
            Some(Entry {
                kind: EntryKind::File,
                mode: mode_of(&meta),
                id: blob_id(&bytes),
                size: Some(bytes.len() as u64),
            })
        } else {
            None
        }
    }
}

/// Names of files under `dir` that `pick` wants, without reading them.
fn walk_names(dir: &Path, rel: &str, pick: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for item in rd.filter_map(Result::ok) {
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(ft) = item.file_type() else { continue };
        if ft.is_dir() {
            if !crate::engine::discover::SKIPPED_DIRS.contains(&name.as_str()) {
                walk_names(&item.path(), &path, pick, out);
            }
        } else if pick(&path) {
            out.push(path);
        }
    }
}

impl crate::ports::RepoSource for SameDir {
    fn label(&self, _: crate::engine::tree::Side) -> String {
        self.root.display().to_string()
    }

    async fn changes(&self) -> Result<crate::engine::tree::ChangeSet, SourceError> {
        Ok(crate::engine::tree::ChangeSet::default())
    }

    async fn discover(&self, _: crate::engine::tree::Side) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        let pick = |p: &str| crate::engine::discover::is_build_file(p);
        walk_names(&self.root, "", &pick, &mut out);
        out.sort();
        Ok(out)
    }

    async fn children(
        &self,
        _: crate::engine::tree::Side,
        dir: &str,
    ) -> Result<Vec<String>, SourceError> {
        let Ok(rd) = std::fs::read_dir(self.root.join(dir)) else {
            return Ok(Vec::new());
        };
        let mut v: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        v.sort();
        Ok(v)
    }

    async fn read_files(
        &self,
        _: crate::engine::tree::Side,
        paths: &[String],
    ) -> Result<Vec<Option<crate::engine::FileText>>, SourceError> {
        Ok(paths
            .iter()
            .map(|p| {
                if p.split('/').any(|c| c == "..") {
                    return None;
                }
                let full = self.root.join(p);
                // a symlink is followed only to a file inside the root
                let canon = std::fs::canonicalize(&full).ok()?;
                let root = std::fs::canonicalize(&self.root).ok()?;
                if !canon.starts_with(&root) || !canon.is_file() {
                    return None;
                }
                Some(match std::fs::read(&canon) {
                    Ok(b) => crate::engine::FileText::from_bytes(b),
                    Err(e) => crate::engine::FileText::Unreadable(e.to_string()),
                })
            })
            .collect())
    }

    async fn list(
        &self,
        _: crate::engine::tree::Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<crate::ports::Listed>, SourceError> {
        let mut out = Vec::new();
        for (p, recursive) in requests {
            let mut entries = Vec::new();
            if p.is_empty() || self.entry(p).is_some_and(|e| e.kind == EntryKind::Dir) {
                if let Some(e) = (!p.is_empty()).then(|| self.entry(p)).flatten() {
                    entries.push((p.clone(), e));
                }
                if *recursive {
                    let mut problems = Vec::new();
                    walk(&self.root.join(p), p.clone(), &mut entries, &mut problems);
                    if let Ok(mut all) = self.problems.lock() {
                        all.extend(problems);
                    }
                }
            } else if let Some(e) = self.entry(p) {
                entries.push((p.clone(), e));
            }
            out.push((p.clone(), *recursive, entries));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
