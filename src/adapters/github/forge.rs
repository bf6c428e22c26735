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
    /// `--app-slug`: with a token, whose comments are ours (an App asks GitHub instead).
    pub slug: Option<String>,
    /// Our login once known.
    identity: Mutex<Option<String>>,
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
            slug: None,
            identity: Mutex::new(None),
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

    async fn identity(&self) -> Result<String, HostError> {
        if let Some(known) = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            return Ok(known);
        }
        let login = match (&self.auth, &self.slug) {
            // the App's own answer: a configured slug that disagrees would find nothing
            (AppAuth::App { id, pem }, _) => {
                let slug = GitHub::app_slug(&self.api_url, *id, pem).await?;
                format!("{slug}[bot]")
            }
            (AppAuth::Token(_), Some(slug)) => format!("{slug}[bot]"),
            (AppAuth::Token(t), None) => {
                let mut c = GitHub::with_token(&self.api_url, t)?;
                c.stats = self.stats.clone();
                c.login().await?
            }
        };
        *self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(login.clone());
        Ok(login)
    }

    fn reader(&self, host: &GitHub, calls: u64) -> GitHub {
        host.budgeted(calls)
    }

    async fn trees(
        &self,
        host: &GitHub,
        pr: &PullRef,
        files: &PullFiles,
    ) -> Result<(ApiTrees, Vec<String>), HostError> {
        let base_sha = if pr.base_sha.is_empty() {
            host.pull_state(&pr.owner, &pr.repo, pr.number)
                .await?
                .base_sha
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
            crate::ports::SourceError::Refused(m) => HostError::OverBudget(m),
        })?;
        let notes = trees.notes.clone();
        Ok((trees, notes))
    }
}
