//! Git revisions read straight from the object database, without a checkout: one long-lived
//! `git cat-file --batch` process answers tree and blob reads (requests pipelined level by
//! level), trees are parsed and cached in memory, and two revisions are compared by walking only
//! the subtrees whose ids differ, so the change set costs what the change costs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::engine::FileText;
use crate::engine::tree::{Change, ChangeKind, ChangeSet, Entry, EntryKind};
use crate::ports::SourceError;

/// Objects read by `objects`: (type, body) or `None` when missing.
pub type Objects = Vec<Option<(String, Vec<u8>)>>;

/// One entry of a tree object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub mode: u32,
    pub name: String,
    pub oid: String,
}

impl TreeEntry {
    fn kind(&self) -> EntryKind {
        match self.mode {
            0o40000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            0o160000 => EntryKind::Submodule,
            _ => EntryKind::File,
        }
    }

    fn entry(&self) -> Entry {
        let kind = self.kind();
        let mode = match kind {
            EntryKind::File if self.mode & 0o111 != 0 => 0o755,
            EntryKind::File => 0o644,
            EntryKind::Symlink => 0o777,
            _ => 0o755,
        };
        Entry {
            kind,
            mode,
            id: self.oid.clone(),
            size: None,
        }
    }
}

struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parsed trees kept in memory at most (a tree of a large monorepo revision is a few thousand;
/// `history` reads the changed ones of every commit).
const MAX_CACHED_TREES: usize = 50_000;

/// The build files below one subtree (full paths).
type Found = Arc<Vec<String>>;

/// A repository opened for reading objects.
pub struct GitRepo {
    pub top: PathBuf,
    hash_len: usize,
    cat: Mutex<Option<CatFile>>,
    trees: Mutex<HashMap<String, Arc<Vec<TreeEntry>>>>,
    /// Build files below a subtree, by (tree id, path): see `build_files`.
    found: Mutex<HashMap<(String, String), Found>>,
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

impl GitRepo {
    /// Open the repository containing `path`: a work tree (or a linked worktree), or a bare
    /// repository (then `top` is its git directory; there is no work tree).
    pub fn open(path: &Path) -> Result<Arc<GitRepo>, SourceError> {
        let bare = git(path)
            .args(["rev-parse", "--is-bare-repository", "--absolute-git-dir"])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| SourceError::Io(format!("cannot run git: {e}")))?;
        let bare_text = String::from_utf8_lossy(&bare.stdout).to_string();
        let mut bl = bare_text.lines();
        let bare_dir = match (bare.status.success(), bl.next(), bl.next()) {
            (true, Some("true"), Some(dir)) => Some(dir.to_string()),
            _ => None,
        };
        let wanted: &[&str] = if bare_dir.is_some() {
            &["rev-parse", "--show-object-format"]
        } else {
            &["rev-parse", "--show-toplevel", "--show-object-format"]
        };
        let out = git(path)
            .args(wanted)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| SourceError::Io(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(SourceError::NotFound(format!(
                "{} is not inside a git repository",
                path.display()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let top = match bare_dir {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(lines.next().unwrap_or_default()),
        };
        let hash_len = if lines.next() == Some("sha256") {
            32
        } else {
            20
        };
        Ok(Arc::new(GitRepo {
            top,
            hash_len,
            cat: Mutex::new(None),
            trees: Mutex::new(HashMap::new()),
            found: Mutex::new(HashMap::new()),
        }))
    }

    /// Whether the object database holds this commit (a shallow clone may not).
    pub fn has_commit(&self, rev: &str) -> bool {
        self.resolve(rev).is_ok()
    }

    /// The merge base of two commits (`None` when they share no history here, e.g. shallow).
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        if [a, b].iter().any(|r| r.starts_with('-')) {
            return None;
        }
        let out = git(&self.top)
            .args(["merge-base", a, b])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !id.is_empty()).then_some(id)
    }

    /// The unified diff hunks (3 lines of context, as GitHub shows them) of each path between
    /// two commits, as (path, patch from the first `@@`). Paths without a text diff are left out.
    pub fn patches(
        &self,
        base: &str,
        head: &str,
        paths: &[String],
    ) -> Result<Vec<(String, String)>, SourceError> {
        if paths.is_empty() || [base, head].iter().any(|r| r.starts_with('-')) {
            return Ok(Vec::new());
        }
        let out = git(&self.top)
            .args([
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-renames",
                "--unified=3",
                base,
                head,
                "--",
            ])
            .args(paths)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| SourceError::Io(format!("cannot run git diff: {e}")))?;
        if !out.status.success() {
            return Err(SourceError::Io(format!(
                "git diff: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut result = Vec::new();
        for chunk in text
            .split("\ndiff --git ")
            .map(|c| c.trim_start_matches("diff --git "))
        {
            let Some(plus) = chunk.lines().find_map(|l| l.strip_prefix("+++ b/")) else {
                continue;
            };
            let Some(at) = chunk.find("\n@@") else {
                continue;
            };
            result.push((plus.to_string(), chunk[at + 1..].to_string()));
        }
        Ok(result)
    }

    /// Resolve a revision to a commit id (through the object reader: no extra process).
    pub fn resolve(&self, rev: &str) -> Result<String, SourceError> {
        let bad = || {
            SourceError::NotFound(format!(
                "{rev} is neither a directory nor a revision of the repository at {}",
                self.top.display()
            ))
        };
        if rev.starts_with('-') || rev.trim().is_empty() || rev.contains(['\n', '\r', ' ', '\t']) {
            return Err(bad());
        }
        let mut guard = self
            .cat
            .lock()
            .map_err(|_| SourceError::Io("git reader poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.start_cat()?);
        }
        let cat = guard.as_mut().expect("started");
        let io = |e: std::io::Error| SourceError::Io(format!("git cat-file: {e}"));
        writeln!(cat.stdin, "{rev}^{{commit}}").map_err(io)?;
        cat.stdin.flush().map_err(io)?;
        let mut header = String::new();
        cat.stdout.read_line(&mut header).map_err(io)?;
        let f: Vec<&str> = header.trim_end().split(' ').collect();
        if f.len() != 3 || f[1] != "commit" {
            return Err(bad());
        }
        let size: usize = f[2].parse().map_err(|_| bad())?;
        let mut body = vec![0u8; size + 1];
        cat.stdout.read_exact(&mut body).map_err(io)?;
        Ok(f[0].to_string())
    }

    fn start_cat(&self) -> Result<CatFile, SourceError> {
        let mut child = git(&self.top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| SourceError::Io(format!("cannot run git cat-file: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| SourceError::Io("git cat-file: no stdin".into()))?;
        let stdout = BufReader::with_capacity(
            1 << 16,
            child
                .stdout
                .take()
                .ok_or_else(|| SourceError::Io("git cat-file: no stdout".into()))?,
        );
        Ok(CatFile {
            child,
            stdin,
            stdout,
        })
    }

    /// Read objects by id (or `<rev>:<path>`); `None` for missing ones. Requests are pipelined in
    /// chunks small enough that writing never blocks on unread output.
    pub fn objects(&self, names: &[String]) -> Result<Objects, SourceError> {
        let mut guard = self
            .cat
            .lock()
            .map_err(|_| SourceError::Io("git reader poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.start_cat()?);
        }
        let cat = guard.as_mut().expect("started");
        let mut out = Vec::with_capacity(names.len());
        let io = |e: std::io::Error| SourceError::Io(format!("git cat-file: {e}"));
        for chunk in names.chunks(64) {
            let mut req = String::new();
            for n in chunk {
                if n.contains('\n') {
                    req.push_str("invalid\u{0}name\n");
                } else {
                    req.push_str(n);
                    req.push('\n');
                }
            }
            cat.stdin.write_all(req.as_bytes()).map_err(io)?;
            cat.stdin.flush().map_err(io)?;
            for _ in chunk {
                let mut header = String::new();
                cat.stdout.read_line(&mut header).map_err(io)?;
                let f: Vec<&str> = header.trim_end().split(' ').collect();
                if f.len() == 3 {
                    let size: usize = f[2].parse().map_err(|_| {
                        SourceError::Io(format!("git cat-file: bad header {header:?}"))
                    })?;
                    let mut body = vec![0u8; size + 1];
                    cat.stdout.read_exact(&mut body).map_err(io)?;
                    body.pop();
                    out.push(Some((f[1].to_string(), body)));
                } else if header.is_empty() {
                    return Err(SourceError::Io("git cat-file stopped".into()));
                } else {
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    /// The root tree of a commit.
    pub fn commit_tree(&self, commit: &str) -> Result<String, SourceError> {
        let obj = self.objects(&[commit.to_string()])?.pop().flatten();
        let Some((_, body)) = obj else {
            return Err(SourceError::NotFound(format!("commit {commit} not found")));
        };
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|l| l.strip_prefix("tree "))
            .map(|t| t.trim().to_string())
            .ok_or_else(|| SourceError::Io(format!("commit {commit} has no tree")))
    }

    fn parse_tree(&self, body: &[u8]) -> Vec<TreeEntry> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let Some(sp) = body[i..].iter().position(|b| *b == b' ') else {
                break;
            };
            let mode = std::str::from_utf8(&body[i..i + sp])
                .ok()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(0o100644);
            let name_start = i + sp + 1;
            let Some(nul) = body[name_start..].iter().position(|b| *b == 0) else {
                break;
            };
            let name = String::from_utf8_lossy(&body[name_start..name_start + nul]).into_owned();
            let oid_start = name_start + nul + 1;
            let oid_end = oid_start + self.hash_len;
            if oid_end > body.len() {
                break;
            }
            let oid: String = body[oid_start..oid_end]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            v.push(TreeEntry { mode, name, oid });
            i = oid_end;
        }
        v
    }

    /// Several trees at once (cached).
    pub fn trees(&self, oids: &[String]) -> Result<Vec<Arc<Vec<TreeEntry>>>, SourceError> {
        let mut missing: Vec<String> = Vec::new();
        {
            let mut cache = self
                .trees
                .lock()
                .map_err(|_| SourceError::Io("tree cache poisoned".into()))?;
            // memory stays flat over a long history: past the bound, start again (callers hold
            // the `Arc`s they are using; this call's trees are all read below)
            if cache.len() > MAX_CACHED_TREES {
                cache.clear();
            }
            let mut seen = std::collections::HashSet::new();
            for o in oids {
                if !cache.contains_key(o) && seen.insert(o) {
                    missing.push(o.clone());
                }
            }
        }
        if !missing.is_empty() {
            let objs = self.objects(&missing)?;
            let mut cache = self
                .trees
                .lock()
                .map_err(|_| SourceError::Io("tree cache poisoned".into()))?;
            for (o, obj) in missing.iter().zip(objs) {
                let entries = match obj {
                    Some((t, body)) if t == "tree" => self.parse_tree(&body),
                    _ => Vec::new(),
                };
                cache.insert(o.clone(), Arc::new(entries));
            }
        }
        let cache = self
            .trees
            .lock()
            .map_err(|_| SourceError::Io("tree cache poisoned".into()))?;
        Ok(oids
            .iter()
            .map(|o| cache.get(o).cloned().unwrap_or_default())
            .collect())
    }

    pub fn tree(&self, oid: &str) -> Result<Arc<Vec<TreeEntry>>, SourceError> {
        Ok(self.trees(&[oid.to_string()])?.pop().unwrap_or_default())
    }

    /// The entry at `path` below `root` (`None` if absent).
    pub fn lookup(&self, root: &str, path: &str) -> Result<Option<TreeEntry>, SourceError> {
        if path.is_empty() {
            return Ok(Some(TreeEntry {
                mode: 0o40000,
                name: String::new(),
                oid: root.to_string(),
            }));
        }
        let mut cur = root.to_string();
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let t = self.tree(&cur)?;
            let Some(e) = t.iter().find(|e| e.name == *part) else {
                return Ok(None);
            };
            if i + 1 == parts.len() {
                return Ok(Some(e.clone()));
            }
            if e.mode != 0o40000 {
                return Ok(None);
            }
            cur = e.oid.clone();
        }
        Ok(None)
    }

    /// Entries at many paths below `root`, reading each level of trees in one round trip.
    pub fn lookup_many(
        &self,
        root: &str,
        paths: &[String],
    ) -> Result<Vec<Option<TreeEntry>>, SourceError> {
        let parts: Vec<Vec<&str>> = paths
            .iter()
            .map(|p| {
                if p.is_empty() {
                    Vec::new()
                } else {
                    p.split('/').collect()
                }
            })
            .collect();
        let mut cur: Vec<Option<String>> = vec![Some(root.to_string()); paths.len()];
        let mut result: Vec<Option<TreeEntry>> = paths
            .iter()
            .map(|p| {
                p.is_empty().then(|| TreeEntry {
                    mode: 0o40000,
                    name: String::new(),
                    oid: root.to_string(),
                })
            })
            .collect();
        let depth = parts.iter().map(Vec::len).max().unwrap_or(0);
        for d in 0..depth {
            let need: Vec<String> = (0..paths.len())
                .filter(|&i| parts[i].len() > d)
                .filter_map(|i| cur[i].clone())
                .collect();
            self.trees(&need)?;
            for i in 0..paths.len() {
                if parts[i].len() <= d {
                    continue;
                }
                let Some(t) = cur[i].take() else { continue };
                let tree = self.tree(&t)?;
                let Some(e) = tree.iter().find(|e| e.name == parts[i][d]) else {
                    continue;
                };
                if d + 1 == parts[i].len() {
                    result[i] = Some(e.clone());
                } else if e.mode == 0o40000 {
                    cur[i] = Some(e.oid.clone());
                }
            }
        }
        Ok(result)
    }

    /// Every entry below tree `oid`, paths prefixed with `prefix` (directories included).
    pub fn walk(
        &self,
        oid: &str,
        prefix: &str,
        out: &mut Vec<(String, Entry)>,
    ) -> Result<(), SourceError> {
        let mut level: Vec<(String, String)> = vec![(oid.to_string(), prefix.to_string())];
        while !level.is_empty() {
            let oids: Vec<String> = level.iter().map(|(o, _)| o.clone()).collect();
            let trees = self.trees(&oids)?;
            let mut next = Vec::new();
            for ((_, pfx), t) in level.iter().zip(trees) {
                for e in t.iter() {
                    let p = if pfx.is_empty() {
                        e.name.clone()
                    } else {
                        format!("{pfx}/{}", e.name)
                    };
                    out.push((p.clone(), e.entry()));
                    if e.mode == 0o40000 {
                        next.push((e.oid.clone(), p));
                    }
                }
            }
            level = next;
        }
        Ok(())
    }

    /// Replace symlink blob ids by their targets.
    pub fn resolve_links(&self, entries: &mut [(String, Entry)]) -> Result<(), SourceError> {
        let oids: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.kind == EntryKind::Symlink)
            .map(|(_, e)| e.id.clone())
            .collect();
        if oids.is_empty() {
            return Ok(());
        }
        let objs = self.objects(&oids)?;
        let mut it = objs.into_iter();
        for (_, e) in entries
            .iter_mut()
            .filter(|(_, e)| e.kind == EntryKind::Symlink)
        {
            if let Some(Some((_, body))) = it.next() {
                e.id = String::from_utf8_lossy(&body).into_owned();
            }
        }
        Ok(())
    }

    /// Paths that differ between two trees, walking only subtrees whose ids differ.
    pub fn diff(&self, a: &str, b: &str) -> Result<ChangeSet, SourceError> {
        let mut out = Vec::new();
        let mut level: Vec<(Option<String>, Option<String>, String)> =
            vec![(Some(a.to_string()), Some(b.to_string()), String::new())];
        while !level.is_empty() {
            let mut oids = Vec::new();
            for (x, y, _) in &level {
                oids.extend(x.iter().cloned());
                oids.extend(y.iter().cloned());
            }
            self.trees(&oids)?;
            let mut next = Vec::new();
            for (x, y, pfx) in &level {
                let tx = match x {
                    Some(o) => self.tree(o)?,
                    None => Arc::default(),
                };
                let ty = match y {
                    Some(o) => self.tree(o)?,
                    None => Arc::default(),
                };
                let mut names: Vec<&str> = tx
                    .iter()
                    .chain(ty.iter())
                    .map(|e| e.name.as_str())
                    .collect();
                names.sort_unstable();
                names.dedup();
                for n in names {
                    let ex = tx.iter().find(|e| e.name == n);
                    let ey = ty.iter().find(|e| e.name == n);
                    let p = if pfx.is_empty() {
                        n.to_string()
                    } else {
                        format!("{pfx}/{n}")
                    };
                    let dir = |e: Option<&TreeEntry>| {
                        e.filter(|e| e.mode == 0o40000).map(|e| e.oid.clone())
                    };
                    let (dx, dy) = (dir(ex), dir(ey));
                    if dx.is_some() || dy.is_some() {
                        if dx != dy {
                            next.push((dx.clone(), dy.clone(), p.clone()));
                        }
                        // a file replaced by a directory (or back) also changes the file path
                        let fx = ex.filter(|e| e.mode != 0o40000);
                        let fy = ey.filter(|e| e.mode != 0o40000);
                        if fx.is_some() || fy.is_some() {
                            out.push(Change {
                                path: p,
                                kind: if fx.is_some() {
                                    ChangeKind::Deleted
                                } else {
                                    ChangeKind::Added
                                },
                            });
                        }
                        continue;
                    }
                    match (ex, ey) {
                        (Some(x), Some(y)) if x == y => {}
                        (Some(x), Some(y)) if x.oid == y.oid || x.kind() != y.kind() => {
                            out.push(Change {
                                path: p,
                                kind: ChangeKind::ModeChanged,
                            })
                        }
                        (Some(x), Some(y)) if x.mode != y.mode => out.push(Change {
                            path: p,
                            kind: ChangeKind::ModeChanged,
                        }),
                        (Some(_), Some(_)) => out.push(Change {
                            path: p,
                            kind: ChangeKind::Modified,
                        }),
                        (Some(_), None) => out.push(Change {
                            path: p,
                            kind: ChangeKind::Deleted,
                        }),
                        (None, Some(_)) => out.push(Change {
                            path: p,
                            kind: ChangeKind::Added,
                        }),
                        (None, None) => {}
                    }
                }
            }
            level = next;
        }
        Ok(ChangeSet::new(out))
    }

    /// The build files (`engine::discover::is_build_file`) below tree `oid`, sorted, skipping the
    /// directories `engine::discover::SKIPPED_DIRS` names. Each subtree's answer is kept by its
    /// id and path, so consecutive revisions (`history`) walk only the subtrees that changed.
    pub fn build_files(&self, oid: &str) -> Result<Vec<String>, SourceError> {
        let mut out = self.build_files_under(oid, "")?.as_ref().clone();
        out.sort();
        Ok(out)
    }

    fn build_files_under(&self, oid: &str, prefix: &str) -> Result<Arc<Vec<String>>, SourceError> {
        let key = (oid.to_string(), prefix.to_string());
        if let Some(v) = self
            .found
            .lock()
            .map_err(|_| SourceError::Io("discovery cache poisoned".into()))?
            .get(&key)
        {
            return Ok(v.clone());
        }
        let t = self.tree(oid)?;
        // read this level's missing subtrees in one round trip
        let dirs: Vec<String> = t
            .iter()
            .filter(|e| {
                e.mode == 0o40000
                    && !crate::engine::discover::SKIPPED_DIRS.contains(&e.name.as_str())
            })
            .map(|e| e.oid.clone())
            .collect();
        self.trees(&dirs)?;
        let mut out = Vec::new();
        for e in t.iter() {
            let p = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            if e.mode == 0o40000 {
                if !crate::engine::discover::SKIPPED_DIRS.contains(&e.name.as_str()) {
                    out.extend(self.build_files_under(&e.oid, &p)?.iter().cloned());
                }
            } else if e.mode != 0o160000 && crate::engine::discover::is_build_file(&p) {
                out.push(p);
            }
        }
        let v = Arc::new(out);
        let mut found = self
            .found
            .lock()
            .map_err(|_| SourceError::Io("discovery cache poisoned".into()))?;
        if found.len() > MAX_CACHED_TREES {
            found.clear();
        }
        found.insert(key, v.clone());
        Ok(v)
    }
}

/// One revision of a repository.
#[derive(Clone)]
pub struct GitTree {
    pub repo: Arc<GitRepo>,
    pub commit: String,
    pub tree: String,
    /// The revision as the user wrote it.
    pub rev: String,
}

impl std::fmt::Debug for GitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitTree({} {})", self.rev, self.commit)
    }
}

impl GitTree {
    pub fn open(repo: Arc<GitRepo>, rev: &str) -> Result<GitTree, SourceError> {
        let commit = repo.resolve(rev)?;
        let tree = repo.commit_tree(&commit)?;
        Ok(GitTree {
            repo,
            commit,
            tree,
            rev: rev.to_string(),
        })
    }

    /// Contents of files at paths (None for missing paths and directories).
    pub fn read_files(&self, paths: &[String]) -> Result<Vec<Option<FileText>>, SourceError> {
        let entries = self.repo.lookup_many(&self.tree, paths)?;
        let mut oids = Vec::with_capacity(paths.len());
        for (p, e) in paths.iter().zip(entries) {
            oids.push(match e {
                Some(e) if e.kind() == EntryKind::File => Some(e.oid),
                Some(e) if e.kind() == EntryKind::Symlink => self.follow_file(p, &e)?,
                _ => None,
            });
        }
        let wanted: Vec<String> = oids.iter().flatten().cloned().collect();
        let objs = self.repo.objects(&wanted)?;
        let mut it = objs.into_iter();
        Ok(oids
            .into_iter()
            .map(|o| {
                o.and_then(|_| {
                    it.next()
                        .flatten()
                        .map(|(_, body)| FileText::from_bytes(body))
                })
            })
            .collect())
    }

    /// A symlink to a file inside the tree: the file's blob id.
    fn follow_file(&self, path: &str, link: &TreeEntry) -> Result<Option<String>, SourceError> {
        let target = match self
            .repo
            .objects(std::slice::from_ref(&link.oid))?
            .pop()
            .flatten()
        {
            Some((_, b)) => String::from_utf8_lossy(&b).into_owned(),
            None => return Ok(None),
        };
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        if target.starts_with('/') {
            return Ok(None);
        }
        let resolved = crate::engine::tree::join_clean(dir, &target);
        Ok(self
            .repo
            .lookup(&self.tree, &resolved)?
            .filter(|e| e.kind() == EntryKind::File)
            .map(|e| e.oid))
    }

    /// Entries at paths (`recursive` lists the subtree under a directory).
    pub fn list(
        &self,
        requests: &[(String, bool)],
    ) -> Result<Vec<crate::ports::Listed>, SourceError> {
        let paths: Vec<String> = requests.iter().map(|(p, _)| p.clone()).collect();
        let entries = self.repo.lookup_many(&self.tree, &paths)?;
        let mut results = Vec::new();
        for ((p, recursive), e) in requests.iter().zip(entries) {
            let mut v = Vec::new();
            if let Some(e) = e {
                if !p.is_empty() {
                    v.push((p.clone(), e.entry()));
                }
                if *recursive && e.mode == 0o40000 {
                    self.repo.walk(&e.oid, p, &mut v)?;
                }
            }
            self.repo.resolve_links(&mut v)?;
            results.push((p.clone(), *recursive, v));
        }
        Ok(results)
    }

    /// The whole tree.
    pub fn full_listing(&self) -> Result<Vec<(String, Entry)>, SourceError> {
        let mut v = Vec::new();
        self.repo.walk(&self.tree, "", &mut v)?;
        self.repo.resolve_links(&mut v)?;
        Ok(v)
    }

    /// Immediate children of a directory.
    pub fn children(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        Ok(match self.repo.lookup(&self.tree, dir)? {
            Some(e) if e.mode == 0o40000 => self
                .repo
                .tree(&e.oid)?
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            _ => Vec::new(),
        })
    }
}

/// First-parent history of a repository read with `git log`.
pub fn first_parent(
    repo: &GitRepo,
    span: &crate::ports::HistorySpan,
) -> Result<Vec<crate::ports::CommitInfo>, SourceError> {
    let mut c = git(&repo.top);
    c.args([
        "log",
        "--first-parent",
        "--reverse",
        "-z",
        "--format=%H%x1f%P%x1f%s",
    ]);
    match span {
        crate::ports::HistorySpan::Range(r) => {
            if r.starts_with('-') {
                return Err(SourceError::NotFound(format!("{r:?} is not a range")));
            }
            c.arg("--end-of-options").arg(r);
        }
        crate::ports::HistorySpan::Last(n) => {
            c.arg(format!("-n{n}")).arg("HEAD");
        }
    }
    let out = c
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| SourceError::Io(format!("cannot run git log: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(SourceError::NotFound(format!(
            "git log: {}",
            err.lines().next().unwrap_or("").trim()
        )));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let t = String::from_utf8_lossy(r);
            let mut f = t.trim_start_matches('\n').splitn(3, '\u{1f}');
            let commit = f.next()?.to_string();
            let parent = f
                .next()
                .and_then(|p| p.split(' ').next())
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            Some(crate::ports::CommitInfo {
                commit,
                parent,
                subject: f.next().unwrap_or("").to_string(),
            })
        })
        .collect())
}

/// The change set between two revisions of one repository.
pub fn diff(base: &GitTree, head: &GitTree) -> Result<ChangeSet, SourceError> {
    head.repo.diff(&base.tree, &head.tree)
}
