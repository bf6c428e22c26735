//! The server's view of GitHub as a `Forge`: one client per installation (a GitHub App's JWT
//! exchanged for installation tokens that octocrab caches until shortly before they expire, or a
//! plain token), all counting into one `ApiStats`; the pull request's trees read through the API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tree::ApiTrees;
use super::{ApiStats, GitHub};
use crate::ports::{Forge, HostError, PullFiles, PullRef};

#[derive(Clone)]
pub enum AppAuth {
    /// A GitHub App: its id and private key (PEM).
    App { id: u64, pem: Vec<u8> },
    /// One token for every installation (a PAT; tests and single-repository set-ups).
    Token(String),
}

pub struct GitHubForge {
    pub api_url: String,
    auth: AppAuth,
    clients: Mutex<HashMap<u64, GitHub>>,
    pub stats: Arc<ApiStats>,
    /// Retry policy of the clients' idempotent calls.
    pub attempts: u32,
    pub backoff: Duration,
    pub max_wait: Duration,
}

impl GitHubForge {
    pub fn new(api_url: &str, auth: AppAuth) -> GitHubForge {
        GitHubForge {
            api_url: api_url.into(),
            auth,
            clients: Mutex::new(HashMap::new()),
            stats: Arc::new(ApiStats::default()),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(300),
        }
    }
}

impl Forge for GitHubForge {
    type Host = GitHub;
    type Trees = ApiTrees;

    async fn connect(&self, installation: u64) -> Result<GitHub, HostError> {
        // held while the client is made (no I/O there): workers starting together share one
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&installation) {
            return Ok(c.clone());
        }
        let mut c = match &self.auth {
            AppAuth::App { id, pem } => {
                GitHub::for_installation(&self.api_url, *id, pem, installation)?
            }
            AppAuth::Token(t) => GitHub::with_token(&self.api_url, t)?,
        };
        c.stats = self.stats.clone();
        c.attempts = self.attempts;
        c.backoff = self.backoff;
        c.max_wait = self.max_wait;
        clients.insert(installation, c.clone());
        Ok(c)
    }

    async fn trees(
        &self,
        host: &GitHub,
        pr: &PullRef,
        files: &PullFiles,
    ) -> Result<(ApiTrees, Vec<String>), HostError> {
        let base_sha = if pr.base_sha.is_empty() {
            host.pull_base(&pr.owner, &pr.repo, pr.number).await?
        } else {
            pr.base_sha.clone()
        };
        let base = match host
            .merge_base(&pr.owner, &pr.repo, &base_sha, &pr.head_sha)
            .await
        {
            Ok(b) => b,
            Err(HostError::NotFound(_)) => base_sha,
            Err(e) => return Err(e),
        };
        let trees = ApiTrees::load(
            host.clone(),
            &pr.owner,
            &pr.repo,
            &base,
            &pr.head_sha,
            &files.files,
            files.truncated,
        )
        .await
        .map_err(|e| match e {
            crate::ports::SourceError::NotFound(m) => HostError::NotFound(m),
            crate::ports::SourceError::Io(m) => HostError::Transport(m),
            // the API's trees are bounded by GitHub itself (100,000 entries, then truncated)
            crate::ports::SourceError::TooLarge(m) => HostError::Invalid {
                status: 413,
                message: m,
                errors: Vec::new(),
            },
        })?;
        let notes = trees.notes.clone();
        Ok((trees, notes))
    }
}
