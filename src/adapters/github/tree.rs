//! A pull request's two trees read through the REST API, for checkouts that do not hold both
//! commits (shallow clones, the server): the change set from the pull request's files list (up to
//! GitHub's 3,000 files), both trees from `git/trees?recursive=1`, file contents from the
//! contents API (blobs over 1 MB). Nothing is cloned and nothing from the pull request runs.

use std::collections::BTreeMap;

use super::{GitHub, TreeItem};
use crate::engine::FileText;
use crate::engine::discover;
use crate::engine::tree::{Change, ChangeKind, ChangeSet, Entry, EntryKind, Listing, Side};
use crate::ports::{Listed, PullFile, RepoSource, SourceError};

pub struct ApiTrees {
    gh: GitHub,
    owner: String,
    repo: String,
    base_sha: String,
    head_sha: String,
    changes: ChangeSet,
    base: Listing,
    head: Listing,
    /// Problems the caller reports (truncated listings).
    pub notes: Vec<String>,
    /// Contents read so far, by blob id: a blob is fetched once per analysis, however many
    /// paths, sides and rounds of the analysis ask for it.
    blobs: std::sync::Mutex<BTreeMap<String, Option<FileText>>>,
}

/// Contents requests in flight at once for one analysis (GitHub's secondary rate limit asks
/// for no more than about ten concurrent requests per token).
const PARALLEL_READS: usize = 8;

/// One contents read: the bytes, none (not a file there), or GitHub's error.
type BlobRead = Result<Option<Vec<u8>>, crate::ports::HostError>;

fn source_err(e: crate::ports::HostError) -> SourceError {
    match e {
        crate::ports::HostError::NotFound(m) => SourceError::NotFound(m),
        crate::ports::HostError::OverBudget(m) => SourceError::Refused(m),
        other => SourceError::Io(other.to_string()),
    }
}

fn listing(items: Vec<TreeItem>) -> Listing {
    Listing::complete(items.into_iter().filter_map(|t| {
        // a crafted `..` entry is no path of the repository
        if !crate::engine::tree::is_clean_path(&t.path) {
            return None;
        }
        let (kind, mode) = match t.mode.as_str() {
            "040000" | "40000" => (EntryKind::Dir, 0o755),
            "120000" => (EntryKind::Symlink, 0o777),
            "160000" => (EntryKind::Submodule, 0o755),
            "100755" => (EntryKind::File, 0o755),
            "100644" | "100664" => (EntryKind::File, 0o644),
            _ => return None,
        };
        Some((
            t.path,
            Entry {
                kind,
                mode,
                id: t.sha,
                size: t.size,
            },
        ))
    }))
}

/// The change set a files list describes (a rename deletes the old path and adds the new one).
pub fn changes_of(files: &[PullFile]) -> ChangeSet {
    let mut v = Vec::new();
    for f in files {
        let kind = match f.status.as_str() {
            "added" | "copied" => ChangeKind::Added,
            "removed" => ChangeKind::Deleted,
            "unchanged" => continue,
            _ => ChangeKind::Modified,
        };
        if let Some(prev) = &f.previous_path {
            v.push(Change {
                path: prev.clone(),
                kind: ChangeKind::Deleted,
            });
            v.push(Change {
                path: f.path.clone(),
                kind: ChangeKind::Added,
            });
        } else {
            v.push(Change {
                path: f.path.clone(),
                kind,
            });
        }
    }
    ChangeSet::new(v)
}

impl ApiTrees {
    /// Load both trees. `base_sha` should be the merge base (the left side of the PR's diff).
    pub async fn load(
        gh: GitHub,
        owner: &str,
        repo: &str,
        base_sha: &str,
        head_sha: &str,
        files: &[PullFile],
        files_truncated: bool,
    ) -> Result<ApiTrees, SourceError> {
        let (b, bt) = gh.tree(owner, repo, base_sha).await.map_err(source_err)?;
        let (h, ht) = gh.tree(owner, repo, head_sha).await.map_err(source_err)?;
        let mut notes = Vec::new();
        if bt || ht {
            notes.push("GitHub truncated a tree listing (over 100,000 entries): files missing from it are treated as absent".to_string());
        }
        let (base, head) = (listing(b), listing(h));
        if files_truncated {
            notes.push("the pull request changes more than 3,000 files, the most GitHub lists: changes beyond them are not seen".to_string());
        }
        Ok(ApiTrees {
            gh,
            owner: owner.into(),
            repo: repo.into(),
            base_sha: base_sha.into(),
            head_sha: head_sha.into(),
            changes: changes_of(files).with_submodules_marked(&base, &head),
            base,
            head,
            notes,
            blobs: Default::default(),
        })
    }

    fn side(&self, side: Side) -> (&Listing, &str) {
        match side {
            Side::Base => (&self.base, &self.base_sha),
            Side::Head => (&self.head, &self.head_sha),
        }
    }
}

impl RepoSource for ApiTrees {
    fn label(&self, side: Side) -> String {
        let (_, sha) = self.side(side);
        sha.chars().take(12).collect()
    }

    async fn changes(&self) -> Result<ChangeSet, SourceError> {
        Ok(self.changes.clone())
    }

    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError> {
        let (l, _) = self.side(side);
        Ok(l.iter()
            .filter(|(p, e)| {
                matches!(e.kind, EntryKind::File | EntryKind::Symlink)
                    && discover::is_build_file(p)
                    && !p
                        .split('/')
                        .rev()
                        .skip(1)
                        .any(|d| discover::SKIPPED_DIRS.contains(&d))
            })
            .map(|(p, _)| p.to_string())
            .collect())
    }

    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError> {
        Ok(self.side(side).0.children(dir))
    }

    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError> {
        use futures_util::StreamExt;
        let (l, sha) = self.side(side);
        // the blob of each path that is a file or a link on this side
        let ids: Vec<Option<String>> = paths
            .iter()
            .map(|p| match l.entry(p) {
                crate::engine::tree::Lookup::Loaded(Some(e))
                    if matches!(e.kind, EntryKind::File | EntryKind::Symlink) =>
                {
                    Some(e.id.clone())
                }
                _ => None,
            })
            .collect();
        // the blobs not read yet, each once (the first path naming it)
        let missing: Vec<(String, String)> = {
            let cache = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = std::collections::BTreeSet::new();
            paths
                .iter()
                .zip(&ids)
                .filter_map(|(p, id)| id.as_ref().map(|id| (p, id)))
                .filter(|(_, id)| !cache.contains_key(*id) && seen.insert((*id).clone()))
                .map(|(p, id)| (p.clone(), id.clone()))
                .collect()
        };
        let read: Vec<(String, BlobRead)> =
            futures_util::stream::iter(missing)
                .map(|(p, id)| async move {
                    (id, self.gh.file_at(&self.owner, &self.repo, &p, sha).await)
                })
                .buffer_unordered(PARALLEL_READS)
                .collect()
                .await;
        let mut cache = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        for (id, r) in read {
            let text = match r {
                Ok(Some(bytes)) => Some(FileText::from_bytes(bytes)),
                Ok(None) => None,
                // the pull request used up its calls: the analysis stops, and says why
                Err(crate::ports::HostError::OverBudget(m)) => return Err(SourceError::Refused(m)),
                Err(e) => Some(FileText::Unreadable(e.to_string())),
            };
            cache.insert(id, text);
        }
        Ok(ids
            .iter()
            .map(|id| id.as_ref().and_then(|id| cache.get(id).cloned().flatten()))
            .collect())
    }

    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError> {
        let (l, _) = self.side(side);
        let all: BTreeMap<&str, &Entry> = l.iter().collect();
        Ok(requests
            .iter()
            .map(|(p, r)| {
                let prefix = format!("{p}/");
                let v = all
                    .iter()
                    .filter(|(k, _)| {
                        p.is_empty() || **k == p.as_str() || (*r && k.starts_with(&prefix))
                    })
                    .map(|(k, e)| (k.to_string(), (*e).clone()))
                    .collect();
                (p.clone(), *r, v)
            })
            .collect())
    }

    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        Some((self.base.clone(), self.head.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tree::Lookup;

    /// A crafted tree (`..`, `.`, an empty component) read through the API gives no path out of
    /// the repository; the real entries stay.
    #[test]
    fn crafted_paths_are_left_out_of_a_listing() {
        let item = |path: &str| TreeItem {
            path: path.into(),
            mode: "100644".into(),
            kind: "blob".into(),
            sha: "0".repeat(40),
            size: Some(1),
        };
        let l = listing(
            [
                "Dockerfile",
                "../Dockerfile",
                "a/../../b",
                "./x",
                "a//b",
                "/etc/passwd",
                "app/Dockerfile",
            ]
            .into_iter()
            .map(item)
            .collect(),
        );
        let Lookup::Loaded(entries) = l.under("") else {
            panic!("a complete listing")
        };
        let mut kept: Vec<String> = entries.into_iter().map(|(p, _)| p.to_string()).collect();
        kept.sort();
        assert_eq!(kept, ["Dockerfile", "app/Dockerfile"]);
    }
}
