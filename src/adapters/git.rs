//! Git revisions read straight from the object database, without a checkout: one long-lived
//! `git cat-file --batch` process answers tree and blob reads (requests pipelined level by
//! level), trees are parsed and cached in memory, and two revisions are compared by walking only
//! the subtrees whose ids differ, so the change set costs what the change costs.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::walk::TreeWalk;
use crate::engine::FileText;
use crate::engine::tree::{Change, ChangeKind, ChangeSet, Entry, EntryKind};
use crate::ports::SourceError;

/// Objects read by `objects`: (type, body) or `None` when missing.
pub type Objects = Vec<Option<(String, Vec<u8>)>>;
/// One object as read: its id, its type and its content.
type Object = (String, String, Vec<u8>);

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
    /// `--batch-command --buffer` (git 2.36 and later): the answers to a chunk of requests come
    /// in one write after its `flush`, not one write per object; else plain `--batch`.
    buffered: bool,
    /// It has answered at least once (a git without `--batch-command` stops before that).
    answered: bool,
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parsed trees (and the build files found below them) kept per generation of the caches: two
/// generations at most, so memory stays flat over a history of any length while the trees a
/// run is using (a revision and the next, a base and its head) stay cached. A revision with more
/// directories than that loses nothing: `build_files` stores a subtree's answer after its
/// children's, so the answers of the top-level subtrees, which the next revision asks first, are
/// always among the most recent; a tree that did drop out is read again.
const TREES_PER_GENERATION: usize = 2_048;

/// File texts kept per generation, in bytes (a blob is read from git once while it stays the
/// same: `history` reads the same Dockerfiles, compose files and ignore files at every commit).
const TEXT_BYTES_PER_GENERATION: usize = 4 << 20;

/// A cache bounded by generations: entries go into the current one; when it holds `limit` (by
/// `weight`) it becomes the previous one and the one before is dropped. An entry read from the
/// previous generation moves back into the current one, so what is in use survives every
/// turnover. An entry heavier than a quarter of the limit is not kept.
#[derive(Clone)]
struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    held: usize,
    limit: usize,
    weight: fn(&V) -> usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> Generations<K, V> {
    fn new(limit: usize, weight: fn(&V) -> usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            held: 0,
            limit: limit.max(1),
            weight,
        }
    }

    fn get(&mut self, k: &K) -> Option<V>
    where
        K: Clone,
    {
        if let Some(v) = self.current.get(k) {
            return Some(v.clone());
        }
        let v = self.previous.remove(k)?;
        self.insert(k.clone(), v.clone());
        Some(v)
    }

    fn insert(&mut self, k: K, v: V) {
        let w = (self.weight)(&v);
        if w > self.limit.div_ceil(4) || self.current.contains_key(&k) {
            return;
        }
        if self.held + w > self.limit {
            self.previous = std::mem::take(&mut self.current);
            self.held = 0;
        }
        self.held += w;
        self.current.insert(k, v);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// A memo's lock: a thread that panicked while holding it left whole entries behind (an
/// insertion either happened or did not), so the memo is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn one<V>(_: &V) -> usize {
    1
}

fn text_bytes(t: &FileText) -> usize {
    64 + match t {
        FileText::Text(s) | FileText::Unreadable(s) => s.len(),
        FileText::Binary(_) => 0,
    }
}

/// The build files below one subtree (full paths).
type Found = Arc<Vec<String>>;

/// A repository opened for reading objects.
pub struct GitRepo {
    pub top: PathBuf,
    hash_len: usize,
    cat: Mutex<Option<CatFile>>,
    trees: Mutex<Generations<String, Arc<Vec<TreeEntry>>>>,
    /// Build files below a subtree, by (tree id, path): see `build_files`.
    found: Mutex<Generations<(String, String), Found>>,
    /// File texts by blob id.
    texts: Mutex<Generations<String, FileText>>,
    /// What `file_history` learned of commits on first-parent chains, by commit id.
    commits: Mutex<Generations<String, CommitRow>>,
    /// The entry of a path at a commit, by (path, commit): `file_history` compares each commit
    /// of its window with its first parent, and the next commit's window is the same but one.
    path_at: Mutex<Generations<(String, String), PathEntry>>,
}

/// The (mode, id) of a non-directory entry at a path, `None` when there is none.
type PathEntry = Option<(u32, String)>;

/// A commit on a first-parent chain: its root tree, first parent and committer time.
#[derive(Debug, Clone)]
struct CommitRow {
    tree: String,
    parent: Option<String>,
    time: u64,
}

/// Commits and (path, commit) entries kept per generation by `file_history`: two windows of
/// 300 commits for each of tens of Dockerfiles.
const ROWS_PER_GENERATION: usize = 20_000;

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
            trees: Mutex::new(Generations::new(TREES_PER_GENERATION, one)),
            found: Mutex::new(Generations::new(TREES_PER_GENERATION, one)),
            texts: Mutex::new(Generations::new(TEXT_BYTES_PER_GENERATION, text_bytes)),
            commits: Mutex::new(Generations::new(ROWS_PER_GENERATION, one)),
            path_at: Mutex::new(Generations::new(ROWS_PER_GENERATION, one)),
        }))
    }

    /// A second handle on the same repository, with an object reader of its own (for another
    /// thread) and the first-parent rows this one has learned (`first_parent` read them for the
    /// whole range; every thread's `file_history` walks the same chain).
    pub fn sibling(&self) -> Arc<GitRepo> {
        Arc::new(GitRepo {
            top: self.top.clone(),
            hash_len: self.hash_len,
            cat: Mutex::new(None),
            trees: Mutex::new(Generations::new(TREES_PER_GENERATION, one)),
            found: Mutex::new(Generations::new(TREES_PER_GENERATION, one)),
            texts: Mutex::new(Generations::new(TEXT_BYTES_PER_GENERATION, text_bytes)),
            commits: Mutex::new(lock(&self.commits).clone()),
            path_at: Mutex::new(Generations::new(ROWS_PER_GENERATION, one)),
        })
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
                "{rev} is not a revision of the repository at {}",
                self.top.display()
            ))
        };
        if rev.starts_with('-') || rev.trim().is_empty() || rev.contains(['\n', '\r', ' ', '\t']) {
            return Err(bad());
        }
        match self
            .objects_with_ids(&[format!("{rev}^{{commit}}")])?
            .pop()
            .flatten()
        {
            Some((id, kind, _)) if kind == "commit" => Ok(id),
            _ => Err(bad()),
        }
    }

    fn start_cat(&self, buffered: bool) -> Result<CatFile, SourceError> {
        let args: &[&str] = if buffered {
            &["cat-file", "--batch-command", "--buffer"]
        } else {
            &["cat-file", "--batch"]
        };
        let mut child = git(&self.top)
            .args(args)
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
            buffered,
            answered: false,
        })
    }

    /// Read objects by id (or `<rev>:<path>`); `None` for missing ones. Requests are pipelined in
    /// chunks small enough that writing never blocks on unread output.
    pub fn objects(&self, names: &[String]) -> Result<Objects, SourceError> {
        Ok(self
            .objects_with_ids(names)?
            .into_iter()
            .map(|o| o.map(|(_, kind, body)| (kind, body)))
            .collect())
    }

    /// `objects`, each with its id.
    fn objects_with_ids(&self, names: &[String]) -> Result<Vec<Option<Object>>, SourceError> {
        let mut guard = self
            .cat
            .lock()
            .map_err(|_| SourceError::Io("git reader poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.start_cat(true)?);
        }
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(64) {
            let cat = guard.as_mut().expect("started");
            match Self::read_chunk(cat, chunk, &mut out) {
                // a git older than 2.36 has no `--batch-command`: plain `--batch` from here on
                Err(_) if cat.buffered && !cat.answered => {
                    *guard = Some(self.start_cat(false)?);
                    let cat = guard.as_mut().expect("started");
                    Self::read_chunk(cat, chunk, &mut out)?;
                }
                r => r?,
            }
        }
        Ok(out)
    }

    fn read_chunk(
        cat: &mut CatFile,
        chunk: &[String],
        out: &mut Vec<Option<Object>>,
    ) -> Result<(), SourceError> {
        let io = |e: std::io::Error| SourceError::Io(format!("git cat-file: {e}"));
        let mut req = String::new();
        for n in chunk {
            // a name cannot hold a newline: asked as a name that does not exist
            let n = if n.contains('\n') {
                "invalid\u{0}name"
            } else {
                n
            };
            if cat.buffered {
                req.push_str("contents ");
            }
            req.push_str(n);
            req.push('\n');
        }
        if cat.buffered {
            req.push_str("flush\n");
        }
        cat.stdin.write_all(req.as_bytes()).map_err(io)?;
        cat.stdin.flush().map_err(io)?;
        let mut got = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let mut header = String::new();
            cat.stdout.read_line(&mut header).map_err(io)?;
            let f: Vec<&str> = header.trim_end().split(' ').collect();
            if f.len() == 3 {
                let size: usize = f[2]
                    .parse()
                    .map_err(|_| SourceError::Io(format!("git cat-file: bad header {header:?}")))?;
                let mut body = vec![0u8; size + 1];
                cat.stdout.read_exact(&mut body).map_err(io)?;
                body.pop();
                got.push(Some((f[0].to_string(), f[1].to_string(), body)));
            } else if header.is_empty() {
                return Err(SourceError::Io("git cat-file stopped".into()));
            } else {
                got.push(None);
            }
            cat.answered = true;
        }
        out.extend(got);
        Ok(())
    }

    /// The versions of the file at `path` over the `limit` first-parent commits ending at
    /// `rev` (see `volatility::FileHistory`): one `git log` for the window, one for the
    /// commits of it that changed the file, and the blobs through the object reader.
    pub fn file_history(
        &self,
        rev: &str,
        path: &str,
        limit: usize,
    ) -> Result<crate::engine::volatility::FileHistory, SourceError> {
        use crate::engine::volatility::{FileHistory, MAX_VERSION_BYTES, MAX_VERSIONS};
        if rev.starts_with('-') || path.starts_with('-') || path.is_empty() {
            return Ok(FileHistory::default());
        }
        let run = |args: &[&str]| -> Result<String, SourceError> {
            let out = git(&self.top)
                .args(args)
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| SourceError::Io(format!("cannot run git log: {e}")))?;
            if !out.status.success() {
                return Err(SourceError::Io(format!(
                    "git log: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                )));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let rows = self.first_parent_rows(rev, limit.max(1), &run)?;
        let (Some(newest), Some(oldest)) = (rows.first(), rows.last()) else {
            return Ok(FileHistory::default());
        };
        let seconds = newest.1.time.saturating_sub(oldest.1.time);
        // the commits of the window that changed the file, oldest first: its entry differs from
        // the one at the first parent (a root commit creates what it holds), as `git log
        // --first-parent -m --raw -- <path>` lists them
        let mut ids: Vec<Option<String>> = Vec::new();
        // each row's first parent is the row after it; the oldest row's is read on its own
        let mut old = match &oldest.1.parent {
            Some(p) => match self.row_of(p, &run)? {
                Some(r) => self.path_entry(path, p, &r.tree)?,
                None => None,
            },
            None => None,
        };
        for (commit, row) in rows.iter().rev() {
            let new = self.path_entry(path, commit, &row.tree)?;
            if old != new {
                if ids.is_empty() {
                    ids.push(old.map(|(_, oid)| oid));
                }
                ids.push(new.clone().map(|(_, oid)| oid));
            }
            old = new;
        }
        if ids.len() > MAX_VERSIONS {
            ids.drain(..ids.len() - MAX_VERSIONS);
        }
        let wanted: Vec<String> = ids.iter().flatten().cloned().collect();
        let objects = self.objects(&wanted)?;
        let mut texts = wanted.iter().zip(objects).map(|(_, o)| {
            o.filter(|(kind, body)| kind == "blob" && body.len() <= MAX_VERSION_BYTES)
                .and_then(|(_, body)| String::from_utf8(body).ok())
        });
        let versions = ids
            .iter()
            .map(|id| id.as_ref().and_then(|_| texts.next().flatten()))
            .collect();
        Ok(FileHistory {
            commits: rows.len(),
            seconds,
            versions,
            ids,
        })
    }

    /// Up to `limit` commits of the first-parent chain from `rev`, newest first, each with its
    /// id: from what earlier calls learned, and one `git log` of `limit` rows from the first
    /// commit not known.
    fn first_parent_rows(
        &self,
        rev: &str,
        limit: usize,
        run: &dyn Fn(&[&str]) -> Result<String, SourceError>,
    ) -> Result<Vec<(String, CommitRow)>, SourceError> {
        let mut rows: Vec<(String, CommitRow)> = Vec::new();
        let mut cur = Some(rev.to_string());
        while let Some(c) = cur.take() {
            if rows.len() >= limit {
                break;
            }
            let known = lock(&self.commits).get(&c);
            match known {
                Some(row) => {
                    cur = row.parent.clone();
                    rows.push((c, row));
                }
                None => {
                    // a whole window's worth from here, not only what is missing: the next
                    // call (one commit older) then finds its rows known instead of
                    // spawning `git log` for each commit of a history
                    let need = limit - rows.len();
                    let read = self.log_rows(&c, need.max(limit), run)?;
                    rows.extend(read.into_iter().take(need));
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// The commit `rev` as a first-parent row (`None`: no such commit).
    fn row_of(
        &self,
        rev: &str,
        run: &dyn Fn(&[&str]) -> Result<String, SourceError>,
    ) -> Result<Option<CommitRow>, SourceError> {
        if let Some(row) = lock(&self.commits).get(&rev.to_string()) {
            return Ok(Some(row));
        }
        Ok(self
            .log_rows(rev, 1, run)?
            .into_iter()
            .next()
            .map(|(_, r)| r))
    }

    /// `n` commits of the first-parent chain from `rev`, read by `git log` and remembered.
    fn log_rows(
        &self,
        rev: &str,
        n: usize,
        run: &dyn Fn(&[&str]) -> Result<String, SourceError>,
    ) -> Result<Vec<(String, CommitRow)>, SourceError> {
        let text = run(&[
            "log",
            "--first-parent",
            &format!("-n{}", n.max(1)),
            "--format=%H %T %ct %P",
            rev,
            "--",
        ])?;
        let mut out = Vec::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (Some(id), Some(tree), Some(time)) = (f.first(), f.get(1), f.get(2)) else {
                continue;
            };
            let row = CommitRow {
                tree: tree.to_string(),
                parent: f.get(3).map(|p| p.to_string()),
                time: time.parse().unwrap_or(0),
            };
            lock(&self.commits).insert(id.to_string(), row.clone());
            out.push((id.to_string(), row));
        }
        Ok(out)
    }

    /// The (mode, id) of the non-directory entry at `path` in `commit`'s tree `tree`.
    fn path_entry(&self, path: &str, commit: &str, tree: &str) -> Result<PathEntry, SourceError> {
        let key = (path.to_string(), commit.to_string());
        if let Some(e) = lock(&self.path_at).get(&key) {
            return Ok(e);
        }
        let e = self
            .lookup(tree, path)?
            .filter(|e| e.mode != 0o40000)
            .map(|e| (e.mode, e.oid));
        lock(&self.path_at).insert(key, e.clone());
        Ok(e)
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
            // a crafted `..` (or `.`, or a name with `/`) is no path of the repository
            if crate::engine::tree::is_entry_name(&name) {
                v.push(TreeEntry { mode, name, oid });
            }
            i = oid_end;
        }
        v
    }

    /// Several trees at once (cached). The answer is built from what this call found or read,
    /// never re-read from the cache, so a generation turning over meanwhile loses nothing.
    pub fn trees(&self, oids: &[String]) -> Result<Vec<Arc<Vec<TreeEntry>>>, SourceError> {
        let mut out: Vec<Option<Arc<Vec<TreeEntry>>>> = Vec::with_capacity(oids.len());
        let mut missing: Vec<String> = Vec::new();
        {
            let mut cache = self
                .trees
                .lock()
                .map_err(|_| SourceError::Io("tree cache poisoned".into()))?;
            let mut seen = std::collections::HashSet::new();
            for o in oids {
                let hit = cache.get(o);
                if hit.is_none() && seen.insert(o) {
                    missing.push(o.clone());
                }
                out.push(hit);
            }
        }
        if !missing.is_empty() {
            let objs = self.objects(&missing)?;
            let mut read: HashMap<&str, Arc<Vec<TreeEntry>>> = HashMap::new();
            let mut cache = self
                .trees
                .lock()
                .map_err(|_| SourceError::Io("tree cache poisoned".into()))?;
            for (o, obj) in missing.iter().zip(objs) {
                let entries = Arc::new(match obj {
                    Some((t, body)) if t == "tree" => self.parse_tree(&body),
                    _ => Vec::new(),
                });
                cache.insert(o.clone(), entries.clone());
                read.insert(o, entries);
            }
            for (slot, o) in out.iter_mut().zip(oids) {
                if slot.is_none() {
                    *slot = read.get(o.as_str()).cloned();
                }
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
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
            let at: Vec<usize> = (0..paths.len())
                .filter(|&i| parts[i].len() > d && cur[i].is_some())
                .collect();
            let need: Vec<String> = at.iter().filter_map(|&i| cur[i].take()).collect();
            for (i, tree) in at.into_iter().zip(self.trees(&need)?) {
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

    /// Every entry below tree `oid`, paths prefixed with `prefix` (directories included), level
    /// by level (each level's trees read in one round trip), counted by `walk`.
    pub fn walk(
        &self,
        oid: &str,
        prefix: &str,
        out: &mut Vec<(String, Entry)>,
        walk: &mut TreeWalk,
    ) -> Result<(), SourceError> {
        let mut level: Vec<(String, String)> = vec![(oid.to_string(), prefix.to_string())];
        while !level.is_empty() {
            for (_, pfx) in &level {
                walk.dir(pfx)?;
            }
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
                    walk.entry(&p)?;
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

    /// Paths that differ between two trees, walking only subtrees whose ids differ (what it
    /// compares counted by `walk`).
    pub fn diff(&self, a: &str, b: &str, walk: &mut TreeWalk) -> Result<ChangeSet, SourceError> {
        let mut out = Vec::new();
        let mut level: Level = vec![(Some(a.to_string()), Some(b.to_string()), String::new())];
        while !level.is_empty() {
            let mut oids = Vec::new();
            for (x, y, pfx) in &level {
                walk.dir(pfx)?;
                oids.extend(x.iter().cloned());
                oids.extend(y.iter().cloned());
            }
            // this level's trees, in the order asked: each pair's base, then its head
            let mut read = self.trees(&oids)?.into_iter();
            let mut next = Vec::new();
            for (x, y, pfx) in &level {
                let tx = x.as_ref().and_then(|_| read.next()).unwrap_or_default();
                let ty = y.as_ref().and_then(|_| read.next()).unwrap_or_default();
                for (n, ex, ey) in by_name(&tx, &ty) {
                    let p = if pfx.is_empty() {
                        n.to_string()
                    } else {
                        format!("{pfx}/{n}")
                    };
                    walk.entry(&p)?;
                    compare_entries(p, ex, ey, &mut next, &mut out);
                }
            }
            level = next;
        }
        Ok(ChangeSet::new(out))
    }

    /// The build files (`engine::discover::is_build_file`) below tree `oid`, sorted, skipping the
    /// directories `engine::discover::SKIPPED_DIRS` names. Each subtree's answer is kept by its
    /// id and path, so consecutive revisions (`history`) walk only the subtrees that changed. The
    /// walk keeps its own stack (a chain of directories 20,000 deep overflowed the thread's) and
    /// counts what it reads by `walk`.
    pub fn build_files(&self, oid: &str, walk: &mut TreeWalk) -> Result<Vec<String>, SourceError> {
        let mut out = self.build_files_under(oid, "", walk)?.as_ref().clone();
        out.sort();
        Ok(out)
    }

    fn found(&self, key: &(String, String)) -> Result<Option<Found>, SourceError> {
        Ok(self
            .found
            .lock()
            .map_err(|_| SourceError::Io("discovery cache poisoned".into()))?
            .get(key))
    }

    /// A directory of `build_files_under` about to be walked: its tree, with its subdirectories'
    /// trees read in the same round trip.
    fn discovery_frame(
        &self,
        oid: &str,
        prefix: &str,
        walk: &mut TreeWalk,
    ) -> Result<DiscoveryFrame, SourceError> {
        walk.dir(prefix)?;
        let tree = self.tree(oid)?;
        let dirs: Vec<String> = tree
            .iter()
            .filter(|e| {
                e.mode == 0o40000
                    && !crate::engine::discover::SKIPPED_DIRS.contains(&e.name.as_str())
            })
            .map(|e| e.oid.clone())
            .collect();
        self.trees(&dirs)?;
        Ok(DiscoveryFrame {
            key: (oid.to_string(), prefix.to_string()),
            tree,
            next: 0,
            out: Vec::new(),
        })
    }

    fn build_files_under(
        &self,
        oid: &str,
        prefix: &str,
        walk: &mut TreeWalk,
    ) -> Result<Found, SourceError> {
        let key = (oid.to_string(), prefix.to_string());
        if let Some(v) = self.found(&key)? {
            return Ok(v);
        }
        let mut stack = vec![self.discovery_frame(oid, prefix, walk)?];
        loop {
            let top = stack.last_mut().expect("a frame until the root is done");
            let Some(e) = top.tree.get(top.next).cloned() else {
                let done = stack.pop().expect("the frame just looked at");
                let v = Arc::new(done.out);
                self.found
                    .lock()
                    .map_err(|_| SourceError::Io("discovery cache poisoned".into()))?
                    .insert(done.key, v.clone());
                match stack.last_mut() {
                    Some(parent) => parent.out.extend(v.iter().cloned()),
                    None => return Ok(v),
                }
                continue;
            };
            top.next += 1;
            let pfx = &top.key.1;
            let p = if pfx.is_empty() {
                e.name.clone()
            } else {
                format!("{pfx}/{}", e.name)
            };
            walk.entry(&p)?;
            if e.mode == 0o40000 {
                if crate::engine::discover::SKIPPED_DIRS.contains(&e.name.as_str()) {
                    continue;
                }
                match self.found(&(e.oid.clone(), p.clone()))? {
                    Some(v) => top.out.extend(v.iter().cloned()),
                    None => {
                        let f = self.discovery_frame(&e.oid, &p, walk)?;
                        stack.push(f);
                    }
                }
            } else if e.mode != 0o160000 && crate::engine::discover::is_build_file(&p) {
                top.out.push(p);
            }
        }
    }
}

/// One directory of the discovery walk: its key in the cache (tree id, path), its entries, the
/// next one to look at, and the build files found below it so far.
struct DiscoveryFrame {
    key: (String, String),
    tree: Arc<Vec<TreeEntry>>,
    next: usize,
    out: Vec<String>,
}

/// The entries of two trees paired by name, in name order (a name is in one tree or in both):
/// a merge of the two sorted lists, so a directory of 50,000 files costs what its size costs.
fn by_name<'a>(
    x: &'a [TreeEntry],
    y: &'a [TreeEntry],
) -> Vec<(&'a str, Option<&'a TreeEntry>, Option<&'a TreeEntry>)> {
    let sorted = |t: &'a [TreeEntry]| {
        let mut v: Vec<&TreeEntry> = t.iter().collect();
        v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        v
    };
    let (xs, ys) = (sorted(x), sorted(y));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(xs.len().max(ys.len()));
    while i < xs.len() || j < ys.len() {
        let order = match (xs.get(i), ys.get(j)) {
            (Some(a), Some(b)) => a.name.cmp(&b.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push((xs[i].name.as_str(), Some(xs[i]), None));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push((ys[j].name.as_str(), None, Some(ys[j])));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((xs[i].name.as_str(), Some(xs[i]), Some(ys[j])));
                i += 1;
                j += 1;
            }
        }
    }
    out
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
    /// How the tree is named when a walk of it is refused.
    fn walk_label(&self) -> String {
        format!(
            "the tree of {} ({})",
            self.rev,
            &self.commit[..self.commit.len().min(12)]
        )
    }

    /// The build files of the revision (see `GitRepo::build_files`).
    pub fn build_files(&self) -> Result<Vec<String>, SourceError> {
        self.repo
            .build_files(&self.tree, &mut TreeWalk::new(self.walk_label()))
    }

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
        // texts already read (by blob id), then the others in one round trip
        let mut texts: Vec<Option<FileText>> = Vec::with_capacity(oids.len());
        let mut wanted: Vec<String> = Vec::new();
        {
            let mut cache = self
                .repo
                .texts
                .lock()
                .map_err(|_| SourceError::Io("text cache poisoned".into()))?;
            for o in &oids {
                let hit = o.as_ref().and_then(|o| cache.get(o));
                if hit.is_none() {
                    wanted.extend(o.iter().cloned());
                }
                texts.push(hit);
            }
        }
        if wanted.is_empty() {
            return Ok(texts);
        }
        let objs = self.repo.objects(&wanted)?;
        let mut read = objs
            .into_iter()
            .map(|o| o.map(|(_, body)| FileText::from_bytes(body)));
        let mut cache = self
            .repo
            .texts
            .lock()
            .map_err(|_| SourceError::Io("text cache poisoned".into()))?;
        for (slot, o) in texts.iter_mut().zip(&oids) {
            let Some(o) = o else { continue };
            if slot.is_none() {
                *slot = read.next().flatten();
                if let Some(t) = slot {
                    cache.insert(o.clone(), t.clone());
                }
            }
        }
        Ok(texts)
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
        // one walk for all the requests of a call, each directory listed once
        let mut walk = TreeWalk::new(self.walk_label());
        let mut listed: BTreeMap<String, Entry> = BTreeMap::new();
        for dir in super::walk::outermost(requests) {
            let Some(Some(e)) = paths.iter().position(|p| p == dir).map(|i| &entries[i]) else {
                continue;
            };
            if e.mode == 0o40000 {
                let mut v = Vec::new();
                self.repo.walk(&e.oid, dir, &mut v, &mut walk)?;
                self.repo.resolve_links(&mut v)?;
                listed.extend(v);
            }
        }
        let mut results = Vec::new();
        for ((p, recursive), e) in requests.iter().zip(entries) {
            let mut v = Vec::new();
            if let Some(e) = e {
                if !p.is_empty() {
                    v.push((p.clone(), e.entry()));
                    self.repo.resolve_links(&mut v)?;
                }
                if *recursive && e.mode == 0o40000 {
                    v.extend(super::walk::below(&listed, p).map(|(k, e)| (k.clone(), e.clone())));
                }
            }
            results.push((p.clone(), *recursive, v));
        }
        Ok(results)
    }

    /// The whole tree.
    pub fn full_listing(&self) -> Result<Vec<(String, Entry)>, SourceError> {
        let mut v = Vec::new();
        let mut walk = TreeWalk::new(self.walk_label());
        self.repo.walk(&self.tree, "", &mut v, &mut walk)?;
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

/// First-parent history of a repository read with `git log`; each commit's tree, first parent
/// and time are remembered for `file_history`, whose windows walk the same chain.
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
        "--format=%H%x1f%P%x1f%T%x1f%ct%x1f%s",
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
            let mut f = t.trim_start_matches('\n').splitn(5, '\u{1f}');
            let commit = f.next()?.to_string();
            let parent = f
                .next()
                .and_then(|p| p.split(' ').next())
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            // the rows `file_history` walks, known now instead of read again per commit
            if let (Some(tree), Some(time)) = (f.next(), f.next()) {
                let row = CommitRow {
                    tree: tree.to_string(),
                    parent: parent.clone(),
                    time: time.parse().unwrap_or(0),
                };
                lock(&repo.commits).insert(commit.clone(), row);
            }
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
    let mut walk = TreeWalk::new(format!(
        "the change from {} to {}",
        base.walk_label(),
        head.walk_label()
    ));
    head.repo.diff(&base.tree, &head.tree, &mut walk)
}

/// A level's queue of directory pairs still to compare: (base tree, head tree, path).
type Level = Vec<(Option<String>, Option<String>, String)>;

/// Compares the entries named `p` in a base and a head tree: a directory pair that differs is
/// queued in `next` (and a file replaced by a directory, or back, is a change of the file
/// path); two files (or links, submodules) give their change, if any.
fn compare_entries(
    p: String,
    ex: Option<&TreeEntry>,
    ey: Option<&TreeEntry>,
    next: &mut Level,
    out: &mut Vec<Change>,
) {
    let dir = |e: Option<&TreeEntry>| e.filter(|e| e.mode == 0o40000).map(|e| e.oid.clone());
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
        return;
    }
    let kind = match (ex, ey) {
        (Some(x), Some(y)) if x == y => return,
        (Some(x), Some(y)) if x.oid == y.oid || x.kind() != y.kind() => ChangeKind::ModeChanged,
        (Some(x), Some(y)) if x.mode != y.mode => ChangeKind::ModeChanged,
        (Some(x), Some(_)) if x.mode == 0o160000 => ChangeKind::SubmoduleMoved,
        (Some(_), Some(_)) => ChangeKind::Modified,
        (Some(_), None) => ChangeKind::Deleted,
        (None, Some(_)) => ChangeKind::Added,
        (None, None) => return,
    };
    out.push(Change { path: p, kind });
}

#[cfg(test)]
mod tests {
    use super::Generations;

    fn entry(name: &str, oid: &str) -> super::TreeEntry {
        super::TreeEntry {
            mode: 0o100644,
            name: name.into(),
            oid: oid.into(),
        }
    }

    #[test]
    fn two_trees_pair_by_name_in_name_order() {
        let x = [entry("b", "1"), entry("a", "2"), entry("d", "3")];
        let y = [entry("c", "4"), entry("b", "5")];
        let got: Vec<(&str, Option<&str>, Option<&str>)> = super::by_name(&x, &y)
            .into_iter()
            .map(|(n, a, b)| (n, a.map(|e| e.oid.as_str()), b.map(|e| e.oid.as_str())))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some("2"), None),
                ("b", Some("1"), Some("5")),
                ("c", None, Some("4")),
                ("d", Some("3"), None),
            ]
        );
    }

    #[test]
    fn generations_hold_at_most_two_limits() {
        let mut g = Generations::new(3, super::one);
        for i in 0..100 {
            g.insert(i, i * 2);
            assert!(g.len() <= 6, "{} entries after {i}", g.len());
        }
        assert_eq!(g.get(&99), Some(198));
        assert_eq!(g.get(&0), None, "the oldest generation is dropped");
    }

    #[test]
    fn weighed_generations_hold_bytes_and_skip_a_heavy_entry() {
        let mut g: Generations<u32, String> = Generations::new(100, |s| s.len());
        g.insert(1, "x".repeat(26));
        assert_eq!(g.get(&1), None, "heavier than a quarter of the limit");
        for i in 0..40 {
            g.insert(i, "y".repeat(20));
            let held: usize = g
                .current
                .values()
                .chain(g.previous.values())
                .map(String::len)
                .sum();
            assert!(held <= 200, "{held} bytes held after {i}");
        }
        assert_eq!(g.get(&39).map(|s| s.len()), Some(20));
    }

    #[test]
    fn an_entry_in_use_survives_every_turnover() {
        let mut g = Generations::new(2, super::one);
        g.insert("kept", 1);
        for i in 0..50 {
            g.insert(if i % 2 == 0 { "a" } else { "b" }, i);
            g.insert("c", i);
            // reading it moves it into the current generation
            assert_eq!(g.get(&"kept"), Some(1), "lost after {i} turnovers");
        }
    }
}
