//! The CLI's `RepoSource`: base and head each a directory or a git revision, as the caller names
//! it (`Spec`: a directory is never guessed from a revision's name). Two revisions of
//! one repository are compared tree by tree and listed lazily; any other pair is listed
//! completely and compared entry by entry (file modes reduced to git's 644/755 when a directory
//! is compared with a revision).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::fs::{DirTree, git_mode};
use super::git::{self, GitRepo, GitTree};
use crate::engine::FileText;
use crate::engine::discover;
use crate::engine::tree::{ChangeSet, EntryKind, Listing, Lookup, Side};
use crate::ports::{Listed, RepoSource, SourceError};

#[derive(Debug)]
pub enum Tree {
    Dir(DirTree),
    Git(GitTree),
}

impl Tree {
    fn label(&self) -> String {
        match self {
            Tree::Dir(d) => d.root.display().to_string(),
            Tree::Git(g) => format!("{} ({})", g.rev, &g.commit[..g.commit.len().min(12)]),
        }
    }
}

pub struct LocalRepo {
    pub base: Tree,
    pub head: Tree,
    full: OnceLock<(Listing, Listing)>,
}

/// One side of a change as its caller names it: a directory (a tree root), or a git revision
/// of the repository. Never guessed: a revision is read from the object database even when a
/// directory of that name exists (a pull request could add one), and a directory only when it is
/// named as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Dir(PathBuf),
    Rev(String),
}

/// Open one side: a directory as a tree root, a revision from `repo`'s objects.
fn open_side(
    spec: &Spec,
    repo_path: &Path,
    repo: &mut Option<Arc<GitRepo>>,
) -> Result<Tree, SourceError> {
    let rev = match spec {
        Spec::Dir(p) => return Ok(Tree::Dir(DirTree::open(p)?)),
        Spec::Rev(r) => r,
    };
    if repo.is_none() {
        *repo = Some(GitRepo::open(repo_path)?);
    }
    Ok(Tree::Git(GitTree::open(
        repo.clone().expect("opened"),
        rev,
    )?))
}

impl LocalRepo {
    pub fn new(base: Tree, head: Tree) -> LocalRepo {
        LocalRepo {
            base,
            head,
            full: OnceLock::new(),
        }
    }

    /// Open base and head; revisions are read from the repository at `repo_path`.
    pub fn open(
        base: &Spec,
        head: &Spec,
        repo_path: &Path,
    ) -> Result<LocalRepo, (Side, SourceError)> {
        let mut repo = None;
        let b = open_side(base, repo_path, &mut repo).map_err(|e| (Side::Base, e))?;
        let h = open_side(head, repo_path, &mut repo).map_err(|e| (Side::Head, e))?;
        Ok(LocalRepo::new(b, h))
    }

    fn tree(&self, side: Side) -> &Tree {
        match side {
            Side::Base => &self.base,
            Side::Head => &self.head,
        }
    }

    fn same_repo_revisions(&self) -> Option<(&GitTree, &GitTree)> {
        match (&self.base, &self.head) {
            (Tree::Git(b), Tree::Git(h)) if Arc::ptr_eq(&b.repo, &h.repo) => Some((b, h)),
            _ => None,
        }
    }

    /// Problems met while walking directories (unreadable files), as (path, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for t in [&self.base, &self.head] {
            if let Tree::Dir(d) = t {
                v.extend(d.problems.iter().cloned());
            }
        }
        v
    }

    fn full_listings(&self) -> Result<&(Listing, Listing), SourceError> {
        if let Some(f) = self.full.get() {
            return Ok(f);
        }
        let mixed = matches!(
            (&self.base, &self.head),
            (Tree::Dir(_), Tree::Git(_)) | (Tree::Git(_), Tree::Dir(_))
        );
        let load = |t: &Tree| -> Result<Listing, SourceError> {
            Ok(match t {
                Tree::Dir(d) if mixed => {
                    Listing::complete(d.listing.iter().map(|(p, e)| (p.to_string(), git_mode(e))))
                }
                Tree::Dir(d) => d.listing.clone(),
                Tree::Git(g) => Listing::complete(g.full_listing()?),
            })
        };
        let pair = (load(&self.base)?, load(&self.head)?);
        let _ = self.full.set(pair);
        Ok(self.full.get().expect("just set"))
    }
}

fn wanted(name: &str) -> bool {
    discover::is_build_file(name)
}

impl RepoSource for LocalRepo {
    fn label(&self, side: Side) -> String {
        self.tree(side).label()
    }

    async fn changes(&self) -> Result<ChangeSet, SourceError> {
        if let Some((b, h)) = self.same_repo_revisions() {
            return git::diff(b, h);
        }
        let (b, h) = self.full_listings()?;
        Ok(ChangeSet::between(b, h))
    }

    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError> {
        match self.tree(side) {
            Tree::Dir(d) => Ok(d
                .listing
                .iter()
                .filter(|(p, e)| {
                    matches!(e.kind, EntryKind::File | EntryKind::Symlink) && wanted(p)
                })
                .map(|(p, _)| p.to_string())
                .collect()),
            Tree::Git(g) => g.build_files(),
        }
    }

    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError> {
        match self.tree(side) {
            Tree::Git(g) => g.children(dir),
            Tree::Dir(d) => Ok(d.listing.children(dir)),
        }
    }

    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError> {
        match self.tree(side) {
            Tree::Dir(d) => Ok(paths
                .iter()
                .map(|p| match d.read(p) {
                    None => None,
                    Some(Ok(bytes)) => Some(FileText::from_bytes(bytes)),
                    Some(Err(e)) => Some(FileText::Unreadable(e.to_string())),
                })
                .collect()),
            Tree::Git(g) => g.read_files(paths),
        }
    }

    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError> {
        match self.tree(side) {
            Tree::Git(g) => g.list(requests),
            Tree::Dir(_) => {
                let (b, h) = self.full_listings()?;
                let l = match side {
                    Side::Base => b,
                    Side::Head => h,
                };
                // the path itself, then what lies below it, looked up in the sorted listing
                // (a scan of the whole tree per request made discovery quadratic)
                Ok(requests
                    .iter()
                    .map(|(p, r)| {
                        let mut v = Vec::new();
                        if !p.is_empty() {
                            if let Lookup::Loaded(Some(e)) = l.entry(p) {
                                v.push((p.clone(), e.clone()));
                            }
                        }
                        if *r || p.is_empty() {
                            if let Lookup::Loaded(below) = l.under(p) {
                                v.extend(
                                    below.into_iter().map(|(k, e)| (k.to_string(), e.clone())),
                                );
                            }
                        }
                        (p.clone(), *r, v)
                    })
                    .collect())
            }
        }
    }

    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        if self.same_repo_revisions().is_some() {
            return None;
        }
        self.full_listings().ok().cloned()
    }

    /// A base revision has the history of its repository; a directory has none.
    async fn file_history(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<Option<crate::engine::volatility::FileHistory>, SourceError> {
        match &self.base {
            Tree::Git(g) => Ok(Some(g.repo.file_history(&g.commit, path, limit)?)),
            Tree::Dir(_) => Ok(None),
        }
    }
}

/// A repository's first-parent history for `cachebust history`.
pub struct LocalHistory {
    pub repo: Arc<GitRepo>,
}

impl LocalHistory {
    pub fn open(path: &Path) -> Result<LocalHistory, SourceError> {
        Ok(LocalHistory {
            repo: GitRepo::open(path)?,
        })
    }

    /// Another handle on the same history for another thread (see `GitRepo::sibling`).
    pub fn sibling(&self) -> LocalHistory {
        LocalHistory {
            repo: self.repo.sibling(),
        }
    }
}

impl crate::ports::History for LocalHistory {
    type Pair = LocalRepo;

    async fn first_parent(
        &self,
        span: &crate::ports::HistorySpan,
    ) -> Result<Vec<crate::ports::CommitInfo>, SourceError> {
        git::first_parent(&self.repo, span)
    }

    fn pair(&self, parent: &str, commit: &str) -> Result<LocalRepo, SourceError> {
        Ok(LocalRepo::new(
            Tree::Git(GitTree::open(self.repo.clone(), parent)?),
            Tree::Git(GitTree::open(self.repo.clone(), commit)?),
        ))
    }
}
