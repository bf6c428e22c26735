//! A tree read from a git revision without checking it out, through the git CLI: `ls-tree` for
//! names and partial listings, `cat-file --batch` for contents, `diff-tree` for the change set
//! between two revisions of the same repository.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::engine::FileText;
use crate::engine::tree::{Change, ChangeKind, ChangeSet, Entry, EntryKind};
use crate::ports::SourceError;

/// One revision of a repository.
#[derive(Debug, Clone)]
pub struct GitTree {
    /// The repository's top-level directory.
    pub repo: PathBuf,
    /// The full commit id.
    pub commit: String,
    /// The revision as the user wrote it.
    pub rev: String,
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(repo)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

fn run(mut cmd: Command, what: &str) -> Result<Vec<u8>, SourceError> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| SourceError::Io(format!("cannot run git ({what}): {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(SourceError::Io(format!(
            "git {what} failed: {}",
            err.lines().next().unwrap_or("").trim()
        )));
    }
    Ok(out.stdout)
}

/// The top-level directory of the repository that contains `path`.
pub fn toplevel(path: &Path) -> Result<PathBuf, SourceError> {
    let mut c = git(path);
    c.args(["rev-parse", "--show-toplevel"]);
    let out = c
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| SourceError::Io(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(SourceError::NotFound(format!(
            "{} is not inside a git repository",
            path.display()
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

impl GitTree {
    /// Resolve `rev` in the repository at `repo`.
    pub fn open(repo: &Path, rev: &str) -> Result<GitTree, SourceError> {
        let top = toplevel(repo)?;
        if rev.starts_with('-') {
            return Err(SourceError::NotFound(format!("{rev:?} is not a revision")));
        }
        let mut c = git(&top);
        c.args([
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ]);
        let out = c
            .output()
            .map_err(|e| SourceError::Io(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(SourceError::NotFound(format!(
                "{rev} is neither a directory nor a revision of the repository at {}",
                top.display()
            )));
        }
        Ok(GitTree {
            repo: top,
            commit: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            rev: rev.to_string(),
        })
    }

    /// Every file path of the revision.
    pub fn file_names(&self) -> Result<Vec<String>, SourceError> {
        let mut c = git(&self.repo);
        c.args([
            "ls-tree",
            "-r",
            "-z",
            "--name-only",
            "--full-tree",
            &self.commit,
        ]);
        let out = run(c, "ls-tree")?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    /// Contents of blobs at paths (None for missing paths and directories).
    pub fn read_files(&self, paths: &[String]) -> Result<Vec<Option<FileText>>, SourceError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = git(&self.repo)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SourceError::Io(format!("cannot run git cat-file: {e}")))?;
        let mut input = Vec::new();
        for p in paths {
            // Paths with a newline cannot be asked for on this protocol.
            let p = if p.contains('\n') {
                "\u{0}invalid"
            } else {
                p.as_str()
            };
            writeln!(input, "{}:{}", self.commit, p).ok();
        }
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| SourceError::Io("git cat-file: no stdin".into()))?;
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child
            .wait_with_output()
            .map_err(|e| SourceError::Io(format!("git cat-file: {e}")))?;
        let _ = writer.join();
        parse_batch(&out.stdout, paths.len())
    }

    /// Entries at paths (`recursive` lists the subtree under a directory).
    pub fn list(
        &self,
        requests: &[(String, bool)],
    ) -> Result<Vec<(String, bool, Vec<(String, Entry)>)>, SourceError> {
        let mut results = Vec::new();
        for recursive in [false, true] {
            let paths: Vec<&String> = requests
                .iter()
                .filter(|(_, r)| *r == recursive)
                .map(|(p, _)| p)
                .collect();
            if paths.is_empty() {
                continue;
            }
            let whole = paths.iter().any(|p| p.is_empty());
            let mut c = git(&self.repo);
            c.args(["ls-tree", "-z", "--full-tree"]);
            if recursive {
                c.arg("-r");
            }
            c.arg(&self.commit);
            if !(recursive && whole) {
                c.arg("--");
                for p in &paths {
                    if !p.is_empty() {
                        c.arg(format!(":(literal){p}"));
                    }
                }
            }
            let out = run(c, "ls-tree")?;
            let mut entries = parse_ls_tree(&out);
            self.resolve_links(&mut entries)?;
            for p in paths {
                let prefix = format!("{p}/");
                let mine: Vec<(String, Entry)> = entries
                    .iter()
                    .filter(|(e, _)| {
                        p.is_empty() || e == p || (recursive && e.starts_with(&prefix))
                    })
                    .cloned()
                    .collect();
                results.push((p.clone(), recursive, mine));
            }
        }
        Ok(results)
    }

    /// Replace symlink blob ids by their targets.
    fn resolve_links(&self, entries: &mut [(String, Entry)]) -> Result<(), SourceError> {
        let links: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.kind == EntryKind::Symlink)
            .map(|(p, _)| p.clone())
            .collect();
        if links.is_empty() {
            return Ok(());
        }
        let texts = self.read_files(&links)?;
        let mut it = texts.into_iter();
        for (_, e) in entries
            .iter_mut()
            .filter(|(_, e)| e.kind == EntryKind::Symlink)
        {
            if let Some(Some(FileText::Text(t))) = it.next() {
                e.id = t;
            }
        }
        Ok(())
    }

    /// The whole tree.
    pub fn full_listing(&self) -> Result<Vec<(String, Entry)>, SourceError> {
        let mut r = self.list(&[(String::new(), true)])?;
        Ok(r.pop().map(|x| x.2).unwrap_or_default())
    }
}

/// `git diff-tree` between two commits of one repository.
pub fn diff(base: &GitTree, head: &GitTree) -> Result<ChangeSet, SourceError> {
    let mut c = git(&head.repo);
    c.args([
        "diff-tree",
        "-r",
        "-z",
        "--no-renames",
        "--no-commit-id",
        &base.commit,
        &head.commit,
    ]);
    let out = run(c, "diff-tree")?;
    let mut changes = Vec::new();
    let mut parts = out.split(|b| *b == 0).filter(|s| !s.is_empty());
    while let Some(meta) = parts.next() {
        let Some(path) = parts.next() else { break };
        let meta = String::from_utf8_lossy(meta);
        let f: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let kind = match f[4].chars().next() {
            Some('A') => ChangeKind::Added,
            Some('D') => ChangeKind::Deleted,
            Some('T') => ChangeKind::ModeChanged,
            _ if f[2] == f[3] => ChangeKind::ModeChanged,
            _ => ChangeKind::Modified,
        };
        changes.push(Change {
            path: String::from_utf8_lossy(path).into_owned(),
            kind,
        });
    }
    Ok(ChangeSet::new(changes))
}

fn parse_ls_tree(out: &[u8]) -> Vec<(String, Entry)> {
    let mut v = Vec::new();
    for rec in out.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let Some((meta, path)) = rec.split_once('\t') else {
            continue;
        };
        let f: Vec<&str> = meta.split(' ').collect();
        if f.len() < 3 {
            continue;
        }
        let (kind, mode) = match f[0] {
            "100644" => (EntryKind::File, 0o644),
            "100755" => (EntryKind::File, 0o755),
            "120000" => (EntryKind::Symlink, 0o777),
            "040000" => (EntryKind::Dir, 0o755),
            "160000" => (EntryKind::Submodule, 0o755),
            _ => (EntryKind::File, 0o644),
        };
        v.push((
            path.to_string(),
            Entry {
                kind,
                mode,
                id: f[2].to_string(),
            },
        ));
    }
    v
}

fn parse_batch(out: &[u8], n: usize) -> Result<Vec<Option<FileText>>, SourceError> {
    let mut res = Vec::with_capacity(n);
    let mut i = 0;
    while res.len() < n && i < out.len() {
        let nl = out[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|p| i + p)
            .unwrap_or(out.len());
        let header = String::from_utf8_lossy(&out[i..nl]).into_owned();
        i = nl + 1;
        let f: Vec<&str> = header.split(' ').collect();
        if f.len() == 3 {
            let size: usize = f[2]
                .parse()
                .map_err(|_| SourceError::Io(format!("git cat-file: bad header {header:?}")))?;
            let body = out
                .get(i..i + size)
                .ok_or_else(|| SourceError::Io("git cat-file: short output".into()))?;
            i += size + 1;
            if f[1] == "blob" {
                res.push(Some(FileText::from_bytes(body.to_vec())));
            } else {
                res.push(None);
            }
        } else {
            // "<object> missing" or "ambiguous"
            res.push(None);
        }
    }
    while res.len() < n {
        res.push(None);
    }
    Ok(res)
}
