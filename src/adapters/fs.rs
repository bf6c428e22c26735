//! A tree read from a directory on disk: a full walk that never follows symlinks, with every
//! regular file hashed the way git hashes blobs (so a directory compares with a git revision).
//! Unreadable entries are reported, not fatal. Walks keep their own stack and count against the
//! budget of one tree walk (`adapters::walk`).

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::walk::TreeWalk;
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
        let mut budget = TreeWalk::new(format!("the directory {}", root.display()));
        walk(
            root,
            String::new(),
            &mut entries,
            &mut problems,
            &mut budget,
        )?;
        Ok(DirTree {
            root: root.to_path_buf(),
            listing: Listing::complete(entries),
            problems,
        })
    }

    /// Read a file inside the tree (never following a symlink out of the root). `None` when
    /// nothing is at `rel`; an error that says what is there when it is not a file that can be
    /// read (a FIFO, a device, a directory, a link that leaves the tree or dangles).
    pub fn read(&self, rel: &str) -> Option<std::io::Result<Vec<u8>>> {
        let e = match self.listing.entry(rel) {
            crate::engine::tree::Lookup::Loaded(e) => e.cloned(),
            crate::engine::tree::Lookup::Missing => None,
        };
        let refuse = |what: String| Some(Err(std::io::Error::other(what)));
        match e {
            Some(Entry {
                kind: EntryKind::File,
                ..
            }) => Some(read_bounded(&self.root.join(rel))),
            // a directory is no file there (callers ask whether a path is a file)
            Some(Entry {
                kind: EntryKind::Dir,
                ..
            }) => None,
            Some(Entry {
                kind: EntryKind::Submodule,
                ..
            }) => refuse("it is a git submodule, not a file".into()),
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
                    return refuse(format!("it is a symlink to itself ({id})"));
                }
                match self.listing.entry(&target) {
                    crate::engine::tree::Lookup::Loaded(Some(Entry {
                        kind: EntryKind::File,
                        ..
                    })) => Some(read_bounded(&self.root.join(&target))),
                    _ => refuse(format!(
                        "it is a symlink to {id}, which is not a file inside the tree; not followed"
                    )),
                }
            }
            None => {
                // not listed: nothing there, or something the walk does not take
                let meta = std::fs::symlink_metadata(self.root.join(rel)).ok()?;
                refuse(format!("it is {}; not read", special_kind(&meta)))
            }
        }
    }
}

/// Largest file read whole (a Dockerfile, `.dockerignore`, compose or bake file): every one of
/// them has a smaller limit of its own; this one keeps a huge file from being loaded at all.
pub const MAX_READ_BYTES: u64 = 16 << 20;

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_READ_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_READ_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB; not read",
            MAX_READ_BYTES >> 20
        )));
    }
    Ok(buf)
}

/// What a directory entry that is not a regular file, a directory or a symlink is.
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        if ft.is_fifo() {
            return "a FIFO (named pipe), not a regular file";
        }
        if ft.is_socket() {
            return "a socket, not a regular file";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device, not a regular file";
        }
    }
    if meta.is_dir() {
        return "a directory, not a file";
    }
    "not a regular file"
}

/// One directory of a walk: its path below the root, its entries (sorted by name) and the next
/// one to look at. Walks keep a stack of these instead of recursing (a chain of directories
/// 20,000 deep overflowed the thread's stack).
struct Frame {
    dir: PathBuf,
    rel: String,
    items: Vec<std::fs::DirEntry>,
    next: usize,
}

impl Frame {
    /// The directory at `dir` about to be read, counted by `walk`; `None` (with the reason in
    /// `problems`) when it cannot be read.
    fn open(
        dir: &Path,
        rel: String,
        walk: &mut TreeWalk,
        problems: &mut Vec<(String, String)>,
    ) -> Result<Option<Frame>, SourceError> {
        walk.dir(&rel)?;
        let rd = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                problems.push((rel, e.to_string()));
                return Ok(None);
            }
        };
        let mut items: Vec<_> = rd.filter_map(Result::ok).collect();
        items.sort_by_key(|e| e.file_name());
        Ok(Some(Frame {
            dir: dir.to_path_buf(),
            rel,
            items,
            next: 0,
        }))
    }
}

/// Every entry below `dir` (whose path below the root is `rel`), directories before what they
/// hold, each directory's entries in name order; symlinks are listed, never followed.
fn walk(
    dir: &Path,
    rel: String,
    out: &mut Vec<(String, Entry)>,
    problems: &mut Vec<(String, String)>,
    budget: &mut TreeWalk,
) -> Result<(), SourceError> {
    let mut stack: Vec<Frame> = Frame::open(dir, rel, budget, problems)?
        .into_iter()
        .collect();
    while let Some(top) = stack.last_mut() {
        let Some(item) = top.items.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let name = item.file_name();
        let rel = &top.rel;
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
        budget.entry(&path)?;
        let full = top.dir.join(name);
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
            if let Some(f) = Frame::open(&full, path, budget, problems)? {
                stack.push(f);
            }
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
        } else {
            // FIFOs, sockets, devices: never read (a FIFO would block); said, not dropped silently
            problems.push((
                path,
                format!("{}; left out of the tree", special_kind(&meta)),
            ));
        }
    }
    Ok(())
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
        let Reach::At(full, meta) = reach(&self.root, rel) else {
            return None;
        };
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

/// What a path below a root leads to when no symlink is followed: every component but the last
/// must be a real directory (a symlinked directory is never entered: `COPY x/app/` with
/// `x -> /outside` or `x -> /proc/self` reads nothing out there), the last is taken as it is
/// (`symlink_metadata`). A `..` component leads nowhere.
enum Reach {
    At(PathBuf, std::fs::Metadata),
    Nothing,
}

fn reach(root: &Path, rel: &str) -> Reach {
    let comps: Vec<&str> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.contains(&"..") {
        return Reach::Nothing;
    }
    let mut cur = root.to_path_buf();
    let Some((last, dirs)) = comps.split_last() else {
        return match std::fs::metadata(root) {
            Ok(m) => Reach::At(cur, m),
            Err(_) => Reach::Nothing,
        };
    };
    for d in dirs {
        cur.push(d);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_dir() => {}
            // a symlink, a file, nothing: there is no path below it in this tree
            _ => return Reach::Nothing,
        }
    }
    cur.push(last);
    match std::fs::symlink_metadata(&cur) {
        Ok(m) => Reach::At(cur, m),
        Err(_) => Reach::Nothing,
    }
}

/// Names of files under the root that `pick` wants, without reading them (skipping the
/// directories discovery skips), walked with a stack of its own and counted by `budget`.
fn walk_names(
    root: &Path,
    pick: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
    budget: &mut TreeWalk,
) -> Result<(), SourceError> {
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        budget.dir(&rel)?;
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
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
            budget.entry(&path)?;
            let Ok(ft) = item.file_type() else { continue };
            if ft.is_dir() {
                if !crate::engine::discover::SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push((item.path(), path));
                }
            } else if pick(&path) {
                out.push(path);
            }
        }
    }
    Ok(())
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
        let mut budget = TreeWalk::new(format!("the directory {}", self.root.display()));
        walk_names(&self.root, &pick, &mut out, &mut budget)?;
        out.sort();
        Ok(out)
    }

    async fn children(
        &self,
        _: crate::engine::tree::Side,
        dir: &str,
    ) -> Result<Vec<String>, SourceError> {
        let full = match reach(&self.root, dir) {
            Reach::At(full, m) if m.file_type().is_dir() => full,
            _ => return Ok(Vec::new()),
        };
        let Ok(rd) = std::fs::read_dir(full) else {
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
        use crate::engine::FileText;
        let root = std::fs::canonicalize(&self.root).map_err(|e| SourceError::Io(e.to_string()))?;
        Ok(paths
            .iter()
            .map(|p| {
                if p.split('/').any(|c| c == "..") {
                    return None;
                }
                let full = self.root.join(p);
                let meta = std::fs::symlink_metadata(&full).ok()?;
                // a symlink is followed only to a file inside the root
                let Ok(canon) = std::fs::canonicalize(&full) else {
                    return Some(FileText::Unreadable(
                        "it is a symlink whose target does not exist".into(),
                    ));
                };
                if !canon.starts_with(&root) {
                    return Some(FileText::Unreadable(
                        "it is a symlink that leads outside the repository; not followed".into(),
                    ));
                }
                let target = if meta.file_type().is_symlink() {
                    match std::fs::metadata(&canon) {
                        Ok(m) => m,
                        Err(e) => return Some(FileText::Unreadable(e.to_string())),
                    }
                } else {
                    meta
                };
                if target.is_dir() {
                    return None; // no file there
                }
                if !target.is_file() {
                    return Some(FileText::Unreadable(format!(
                        "it is {}; not read",
                        special_kind(&target)
                    )));
                }
                Some(match read_bounded(&canon) {
                    Ok(b) => FileText::from_bytes(b),
                    Err(e) => FileText::Unreadable(e.to_string()),
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
        // one walk for all the requests of a call
        let mut budget = TreeWalk::new(format!("the directory {}", self.root.display()));
        for (p, recursive) in requests {
            let mut entries = Vec::new();
            if p.is_empty() || self.entry(p).is_some_and(|e| e.kind == EntryKind::Dir) {
                if let Some(e) = (!p.is_empty()).then(|| self.entry(p)).flatten() {
                    entries.push((p.clone(), e));
                }
                if *recursive {
                    let mut problems = Vec::new();
                    // `p` is a real directory (`entry` reached it without a symlink); the walk
                    // below it follows none either
                    walk(
                        &self.root.join(p),
                        p.clone(),
                        &mut entries,
                        &mut problems,
                        &mut budget,
                    )?;
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

    /// `check` on a directory inside a git repository: that repository's history at HEAD
    /// (the directory's own text counts as the newest version); none outside one.
    async fn file_history(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<Option<crate::engine::volatility::FileHistory>, SourceError> {
        let Ok(repo) = super::git::GitRepo::open(&self.root) else {
            return Ok(None);
        };
        let (Ok(root), Ok(top)) = (self.root.canonicalize(), repo.top.canonicalize()) else {
            return Ok(None);
        };
        let Ok(prefix) = root.strip_prefix(&top) else {
            return Ok(None);
        };
        let prefix = prefix.to_string_lossy().replace('\\', "/");
        let full = crate::engine::tree::join_clean(&prefix, path);
        if !repo.has_commit("HEAD") {
            return Ok(None);
        }
        Ok(Some(repo.file_history("HEAD", &full, limit)?))
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
