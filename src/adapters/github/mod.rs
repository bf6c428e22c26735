//! GitHub's REST API as a `CodeHost` and as the source of pull-request trees. octocrab carries
//! authentication (a token, or an App's JWT exchanged for installation tokens it caches), the base
//! URL (github.com, GHES, or a mock) and the transport; every request goes through its raw calls
//! with cachebust's own serde structs (octocrab's typed review builder cannot carry line comments,
//! and its comment update uses the wrong method). Pages are walked with relative routes and
//! `per_page=100`, never by following `Link` URLs. Idempotent calls (GET, PUT, PATCH, DELETE) are
//! retried on 5xx and on rate limits after the wait GitHub asks for; a POST never is.

pub mod artifacts;
pub mod event;
pub mod forge;
pub mod tree;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::{
    CheckRun, CodeHost, ExistingCheckRun, HostError, NewReview, Posted, PullFile, PullFiles,
    PullRef,
};

/// Calls made and rate-limit waits, for the server's metrics.
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub rate_limit_waits: AtomicU64,
}

#[derive(Clone)]
pub struct GitHub {
    /// Shared by every clone: octocrab's installation-token cache lives inside the client, and
    /// cloning an `Octocrab` copies the cache instead of sharing it (each clone would mint a token
    /// of its own).
    octo: Arc<Octocrab>,
    /// Attempts for idempotent calls.
    pub attempts: u32,
    /// The longest rate-limit wait accepted before giving up with `RateLimited`.
    pub max_wait: Duration,
    /// First back-off after a 5xx (doubled per attempt).
    pub backoff: Duration,
    pub stats: Arc<ApiStats>,
    /// Dry run: requests that would change something are recorded here instead of sent, and
    /// answered with `{"id": 0}`; reads still go to GitHub.
    pub dry_run: Option<Arc<std::sync::Mutex<Vec<Recorded>>>>,
    /// The calls this client may still make (`budgeted`): reading one pull request.
    budget: Option<Arc<CallBudget>>,
}

/// Calls allowed to a client reading one pull request, and those made.
#[derive(Debug)]
pub struct CallBudget {
    pub limit: u64,
    pub used: AtomicU64,
}

/// A request a dry run did not send.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub route: String,
    pub body: Option<Value>,
}

/// Send the REST API version the calls were written for.
const API_VERSION: &str = "2022-11-28";
/// The files list stops at 3,000 files (30 pages of 100).
const MAX_FILE_PAGES: u32 = 30;
const MAX_PAGES: u32 = 100;

fn transport(e: impl std::fmt::Display) -> HostError {
    HostError::Transport(e.to_string())
}

impl GitHub {
    pub fn new(octo: Octocrab) -> GitHub {
        GitHub {
            octo: Arc::new(octo),
            attempts: 4,
            max_wait: Duration::from_secs(300),
            backoff: Duration::from_secs(1),
            stats: Arc::new(ApiStats::default()),
            dry_run: None,
            budget: None,
        }
    }

    /// This client with a budget of its own: at most `calls` calls (retries count), then every
    /// call fails with `HostError::OverBudget` before it is sent.
    pub fn budgeted(&self, calls: u64) -> GitHub {
        GitHub {
            budget: Some(Arc::new(CallBudget {
                limit: calls,
                used: AtomicU64::new(0),
            })),
            ..self.clone()
        }
    }

    /// Calls made under this client's budget (0 without one).
    pub fn calls_used(&self) -> u64 {
        self.budget
            .as_ref()
            .map_or(0, |b| b.used.load(Ordering::Relaxed).min(b.limit))
    }

    /// A client without credentials (public repositories, mocks, dry runs without a token).
    pub fn anonymous(api_url: &str) -> Result<GitHub, HostError> {
        let octo = Self::builder(api_url)?.build().map_err(transport)?;
        Ok(GitHub::new(octo))
    }

    fn builder(
        api_url: &str,
    ) -> Result<
        octocrab::OctocrabBuilder<
            octocrab::NoSvc,
            octocrab::DefaultOctocrabBuilderConfig,
            octocrab::NoAuth,
            octocrab::NotLayerReady,
        >,
        HostError,
    > {
        Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|e| HostError::Transport(format!("{api_url} is not a URL: {e}")))
            .map(|b| {
                b.add_header(
                    http::HeaderName::from_static("x-github-api-version"),
                    API_VERSION.to_string(),
                )
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(60)))
            })
    }

    /// A client authenticated with a token (`GITHUB_TOKEN`, a PAT) against `api_url`.
    pub fn with_token(api_url: &str, token: &str) -> Result<GitHub, HostError> {
        let octo = Self::builder(api_url)?
            .personal_token(token.to_string())
            .build()
            .map_err(transport)?;
        Ok(GitHub::new(octo))
    }

    /// Whether `pem` is an RSA private key the App's JWTs can be signed with: checked once at
    /// startup, so a bad key stops the server instead of failing every job later.
    /// A key that parses is also made to sign one JWT: PEM holding something that is not an
    /// RSA private key is accepted by the parser and refused only by the signer.
    pub fn check_app_key(app_id: u64, pem: &[u8]) -> Result<(), String> {
        // the key's own errors name what is wrong, never its bytes
        let key = octocrab::EncodingKey::from_rsa_pem(pem).map_err(|e| {
            format!("the App's private key is malformed (not an RSA key in PEM): {e}")
        })?;
        octocrab::auth::create_jwt(octocrab::models::AppId(app_id), &key)
            .map(|_| ())
            .map_err(|e| format!("the App's private key cannot sign GitHub's RS256 tokens: {e}"))
    }

    /// A client for one installation of a GitHub App (JWT from the private key; installation
    /// tokens minted and cached by octocrab until shortly before they expire).
    pub fn for_installation(
        api_url: &str,
        app_id: u64,
        pem: &[u8],
        installation: u64,
    ) -> Result<GitHub, HostError> {
        let app = Self::builder(api_url)?
            .app_from_rsa_pem(octocrab::models::AppId(app_id), pem)
            .map_err(|e| HostError::Forbidden {
                status: 401,
                message: format!("the App's private key: {e}"),
            })?
            .build()
            .map_err(transport)?;
        let octo = app
            .installation(octocrab::models::InstallationId(installation))
            .map_err(transport)?;
        Ok(GitHub::new(octo))
    }

    /// Count one call against the budget and the statistics; past the budget, an error.
    fn spend_one(&self) -> Result<(), HostError> {
        if let Some(b) = &self.budget {
            if b.used.fetch_add(1, Ordering::Relaxed) >= b.limit {
                return Err(HostError::OverBudget(format!(
                    "reading this pull request takes more than {} GitHub API calls, cachebust's budget per pull request",
                    b.limit
                )));
            }
        }
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One HTTP exchange: status, headers and body, or a transport error.
    async fn exchange(
        &self,
        method: &Method,
        uri: &str,
        body: Option<&Value>,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, String), HostError> {
        self.spend_one()?;
        let res = match *method {
            Method::GET => {
                let mut h = HeaderMap::new();
                if let Some(a) = accept {
                    h.insert(http::header::ACCEPT, a.parse().map_err(transport)?);
                }
                self.octo._get_with_headers(uri, Some(h)).await
            }
            Method::POST => self.octo._post(uri, body).await,
            Method::PATCH => self.octo._patch(uri, body).await,
            Method::PUT => self.octo._put(uri, body).await,
            Method::DELETE => self.octo._delete(uri, body).await,
            _ => return Err(HostError::Transport(format!("unsupported method {method}"))),
        };
        let res = match res {
            Ok(r) => r,
            // an error answer from the token exchange arrives already mapped
            Err(octocrab::Error::GitHub { source, .. }) => {
                let body = serde_json::json!({"message": source.message, "errors": source.errors})
                    .to_string();
                return Ok((source.status_code, source.headers.unwrap_or_default(), body));
            }
            Err(e) => return Err(transport(e)),
        };
        let status = res.status();
        let headers = res.headers().clone();
        let text = self.octo.body_to_string(res).await.map_err(transport)?;
        Ok((status, headers, text))
    }

    /// DELETE `route`; a thing already gone is what was wanted (a retry after a lost answer, a
    /// comment someone removed).
    async fn delete_if_present(&self, route: &str) -> Result<(), HostError> {
        match self.call(Method::DELETE, route, None, None).await {
            Ok(_) | Err(HostError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A call with GitHub's error answers mapped; idempotent methods are retried on 5xx,
    /// transport errors and rate limits (waiting as long as GitHub says, up to `max_wait`).
    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
        accept: Option<&str>,
    ) -> Result<String, HostError> {
        if method != Method::GET {
            if let Some(rec) = &self.dry_run {
                rec.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Recorded {
                        method: method.to_string(),
                        route: uri.to_string(),
                        body: body.cloned(),
                    });
                return Ok(r#"{"id":0}"#.to_string());
            }
        }
        // a POST creates; a check-run update appends the annotations it carries: neither is sent
        // again blindly (the caller looks first)
        let appends = body
            .and_then(|b| b.pointer("/output/annotations"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let idempotent = method != Method::POST && !appends;
        let mut attempt = 0u32;
        loop {
            let e = match self.exchange(&method, uri, body, accept).await {
                Ok((status, _, text)) if status.is_success() => return Ok(text),
                Ok((status, headers, text)) => classify(status, &headers, &text),
                Err(e) => e,
            };
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            if !idempotent || !e.is_transient() || attempt >= self.attempts {
                return Err(e);
            }
            let wait = match &e {
                HostError::RateLimited { retry_after, .. } => {
                    let w = Duration::from_secs(retry_after.unwrap_or(60));
                    if w > self.max_wait {
                        return Err(e);
                    }
                    self.stats.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
                    w
                }
                _ => self.backoff.saturating_mul(1 << attempt.min(6)),
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, uri: &str) -> Result<T, HostError> {
        let text = self
            .call(Method::GET, uri, None, Some("application/vnd.github+json"))
            .await?;
        serde_json::from_str(&text).map_err(|e| HostError::Server {
            status: 200,
            message: format!("unreadable answer to GET {}: {e}", strip_query(uri)),
        })
    }

    async fn send_json<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        uri: &str,
        body: &impl Serialize,
    ) -> Result<T, HostError> {
        let v = serde_json::to_value(body).map_err(transport)?;
        let text = self.call(method.clone(), uri, Some(&v), None).await?;
        serde_json::from_str(&text).map_err(|e| HostError::Server {
            status: 200,
            message: format!("unreadable answer to {method} {}: {e}", strip_query(uri)),
        })
    }

    /// Every page of a list (relative routes, 100 per page), up to `max_pages`; `true` when the
    /// last page allowed was full.
    async fn pages<T: for<'de> Deserialize<'de>>(
        &self,
        route: &str,
        max_pages: u32,
    ) -> Result<(Vec<T>, bool), HostError> {
        let mut out = Vec::new();
        for page in 1..=max_pages {
            let sep = if route.contains('?') { '&' } else { '?' };
            let items: Vec<T> = self
                .get_json(&format!("{route}{sep}per_page=100&page={page}"))
                .await?;
            let n = items.len();
            out.extend(items);
            if n < 100 {
                return Ok((out, false));
            }
        }
        Ok((out, true))
    }

    pub fn octocrab(&self) -> &Octocrab {
        &self.octo
    }

    /// A file at a commit (`None` when it is not a file there): the contents API, falling back
    /// to the blob for files over 1 MB.
    pub async fn file_at(
        &self,
        owner: &str,
        repo: &str,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let uri = format!(
            "/repos/{}/{}/contents/{}?ref={}",
            seg(owner),
            seg(repo),
            encode_path(path),
            seg(git_ref)
        );
        let v: Value = match self.get_json(&uri).await {
            Ok(v) => v,
            Err(HostError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if v.get("type").and_then(Value::as_str) != Some("file") {
            return Ok(None);
        }
        let content = v.get("content").and_then(Value::as_str).unwrap_or("");
        let encoding = v.get("encoding").and_then(Value::as_str).unwrap_or("");
        if encoding == "base64"
            && !(content.is_empty() && v.get("size").and_then(Value::as_u64).unwrap_or(0) > 0)
        {
            return decode_base64(content).map(Some);
        }
        let Some(sha) = v.get("sha").and_then(Value::as_str) else {
            return Ok(None);
        };
        self.blob(owner, repo, sha).await.map(Some)
    }

    pub async fn blob(&self, owner: &str, repo: &str, sha: &str) -> Result<Vec<u8>, HostError> {
        let v: Value = self
            .get_json(&format!(
                "/repos/{}/{}/git/blobs/{}",
                seg(owner),
                seg(repo),
                seg(sha)
            ))
            .await?;
        decode_base64(v.get("content").and_then(Value::as_str).unwrap_or(""))
    }

    /// A pull request's current head and base (`GET pulls/{n}`).
    pub async fn pull_state(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<crate::ports::PullState, HostError> {
        let v: Value = self
            .get_json(&format!(
                "/repos/{}/{}/pulls/{number}",
                seg(owner),
                seg(repo)
            ))
            .await?;
        let sha = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| HostError::Server {
                    status: 200,
                    message: format!("the pull request has no {}", &p[1..p.len() - 4]),
                })
        };
        Ok(crate::ports::PullState {
            head_sha: sha("/head/sha")?,
            base_sha: sha("/base/sha")?,
            base_ref: v
                .pointer("/base/ref")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The login of the token's user (`GET /user`: personal tokens).
    pub async fn login(&self) -> Result<String, HostError> {
        let v: Value = self.get_json("/user").await?;
        v.get("login")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .ok_or_else(|| HostError::Server {
                status: 200,
                message: "GET /user answered without a login".into(),
            })
    }

    /// The slug of the App whose key signs this client's JWTs (`GET /app`): its comments are
    /// by `<slug>[bot]`.
    pub async fn app_slug(api_url: &str, app_id: u64, pem: &[u8]) -> Result<String, HostError> {
        let app = Self::builder(api_url)?
            .app_from_rsa_pem(octocrab::models::AppId(app_id), pem)
            .map_err(|e| HostError::Forbidden {
                status: 401,
                message: format!("the App's private key: {e}"),
            })?
            .build()
            .map_err(transport)?;
        let v: Value = GitHub::new(app).get_json("/app").await?;
        v.get("slug")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .ok_or_else(|| HostError::Server {
                status: 200,
                message: "GET /app answered without a slug".into(),
            })
    }

    /// The merge base of a pull request's base and head (the left side of its diff).
    pub async fn merge_base(
        &self,
        owner: &str,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<String, HostError> {
        let v: Value = self
            .get_json(&format!(
                "/repos/{}/{}/compare/{}...{}?per_page=1",
                seg(owner),
                seg(repo),
                seg(base),
                seg(head)
            ))
            .await?;
        v.pointer("/merge_base_commit/sha")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| HostError::Server {
                status: 200,
                message: "the compare answer has no merge base".into(),
            })
    }

    /// The whole tree of a commit (`git/trees/{sha}?recursive=1`): entries and whether GitHub
    /// truncated the listing.
    pub async fn tree(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
    ) -> Result<(Vec<TreeItem>, bool), HostError> {
        #[derive(Deserialize)]
        struct T {
            tree: Vec<TreeItem>,
            #[serde(default)]
            truncated: bool,
        }
        let t: T = self
            .get_json(&format!(
                "/repos/{}/{}/git/trees/{}?recursive=1",
                seg(owner),
                seg(repo),
                seg(sha)
            ))
            .await?;
        Ok((t.tree, t.truncated))
    }
}

fn strip_query(uri: &str) -> &str {
    uri.split('?').next().unwrap_or(uri)
}

/// One entry of a git tree listing.
#[derive(Debug, Clone, Deserialize)]
pub struct TreeItem {
    pub path: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    #[serde(default)]
    pub size: Option<u64>,
}

fn decode_base64(s: &str) -> Result<Vec<u8>, HostError> {
    use base64::Engine;
    // GitHub wraps base64 at 60 columns; some answers carry escaped newlines
    let clean: String = s
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| HostError::Server {
            status: 200,
            message: format!("file content is not base64: {e}"),
        })
}

/// A path parameter: percent-encoded, `/` included (GitHub's description marks `path` as one
/// parameter; the mock only routes the encoded form).
pub fn encode_path(p: &str) -> String {
    let mut o = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// One route segment (owner, repo, ref), encoded the same way.
fn seg(s: &str) -> String {
    encode_path(s)
}

/// The longest wait a rate limit may ask for: GitHub's primary limits reset within the hour.
pub const MAX_RATE_LIMIT_WAIT: u64 = 3600;

/// A wait GitHub asked for, in seconds, within [1, `MAX_RATE_LIMIT_WAIT`].
pub fn clamp_wait(seconds: u64) -> u64 {
    seconds.clamp(1, MAX_RATE_LIMIT_WAIT)
}

/// Map an error answer to a `HostError`.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> HostError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    let code = status.as_u16();
    match code {
        403 | 429 => {
            // what GitHub asks for, within [1 s, an hour]: a huge value must not wrap into
            // "now" (a hot retry loop), nor 0 into a retry without a pause
            let retry_after = header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(clamp_wait);
            let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
            let reset = header("x-ratelimit-reset").and_then(|s| s.trim().parse::<u64>().ok());
            let secondary = message.to_ascii_lowercase().contains("rate limit");
            if retry_after.is_some() || exhausted || secondary || code == 429 {
                let until_reset = reset.map(|r| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    clamp_wait(r.saturating_sub(now).saturating_add(1))
                });
                HostError::RateLimited {
                    message,
                    retry_after: retry_after.or(if exhausted { until_reset } else { None }),
                }
            } else {
                HostError::Forbidden {
                    status: code,
                    message,
                }
            }
        }
        401 => HostError::Forbidden {
            status: code,
            message,
        },
        404 => HostError::NotFound(message),
        500..=599 => HostError::Server {
            status: code,
            message,
        },
        _ => {
            let errors: Vec<String> = v
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|e| match e {
                            Value::String(s) => s.clone(),
                            other => other
                                .get("message")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| other.to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            HostError::Invalid {
                status: code,
                message,
                errors,
            }
        }
    }
}

// ---- request and answer bodies -------------------------------------------------------------

#[derive(Serialize)]
struct ReviewBody<'a> {
    commit_id: &'a str,
    body: &'a str,
    event: &'static str,
    comments: Vec<ReviewCommentBody<'a>>,
}

#[derive(Serialize)]
struct ReviewCommentBody<'a> {
    path: &'a str,
    body: &'a str,
    line: u32,
    side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_side: Option<&'static str>,
}

#[derive(Serialize)]
struct BodyOnly<'a> {
    body: &'a str,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct PostedBody {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    in_reply_to_id: Option<u64>,
}

impl From<PostedBody> for Posted {
    fn from(p: PostedBody) -> Posted {
        let (author, author_type) = p.user.map(|u| (u.login, u.kind)).unwrap_or_default();
        Posted {
            id: p.id,
            body: p.body.unwrap_or_default(),
            author,
            author_type,
            path: p.path,
            in_reply_to: p.in_reply_to_id,
        }
    }
}

#[derive(Deserialize)]
struct FileBody {
    filename: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    previous_filename: Option<String>,
    #[serde(default)]
    patch: Option<String>,
}

#[derive(Serialize)]
struct CheckRunBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_sha: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<&'a str>,
    output: CheckOutputBody<'a>,
}

#[derive(Serialize)]
struct CheckOutputBody<'a> {
    title: &'a str,
    summary: &'a str,
    annotations: Vec<AnnotationBody<'a>>,
}

#[derive(Serialize)]
struct AnnotationBody<'a> {
    path: &'a str,
    start_line: u32,
    end_line: u32,
    annotation_level: &'a str,
    title: &'a str,
    message: &'a str,
}

fn check_body<'a>(run: &'a CheckRun, create: bool) -> CheckRunBody<'a> {
    CheckRunBody {
        name: create.then_some(run.name.as_str()),
        head_sha: create.then_some(run.head_sha.as_str()),
        external_id: (create && !run.external_id.is_empty()).then_some(run.external_id.as_str()),
        status: &run.status,
        conclusion: run.conclusion.as_deref(),
        output: CheckOutputBody {
            title: &run.title,
            summary: &run.summary,
            annotations: run
                .annotations
                .iter()
                .map(|a| AnnotationBody {
                    path: &a.path,
                    start_line: a.start_line,
                    end_line: a.end_line,
                    annotation_level: &a.level,
                    title: &a.title,
                    message: &a.message,
                })
                .collect(),
        },
    }
}

fn repo_route(pr: &PullRef) -> String {
    format!("/repos/{}/{}", seg(&pr.owner), seg(&pr.repo))
}

impl CodeHost for GitHub {
    async fn pull_request(&self, pr: &PullRef) -> Result<crate::ports::PullState, HostError> {
        self.pull_state(&pr.owner, &pr.repo, pr.number).await
    }

    async fn pull_files(&self, pr: &PullRef) -> Result<PullFiles, HostError> {
        let (files, full): (Vec<FileBody>, bool) = self
            .pages(
                &format!("{}/pulls/{}/files", repo_route(pr), pr.number),
                MAX_FILE_PAGES,
            )
            .await?;
        Ok(PullFiles {
            truncated: full,
            files: files
                .into_iter()
                .map(|f| PullFile {
                    path: f.filename,
                    status: f.status,
                    previous_path: f.previous_filename,
                    patch: f.patch,
                })
                .collect(),
        })
    }

    async fn reviews(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError> {
        let (v, _): (Vec<PostedBody>, _) = self
            .pages(
                &format!("{}/pulls/{}/reviews", repo_route(pr), pr.number),
                MAX_PAGES,
            )
            .await?;
        Ok(v.into_iter().map(Posted::from).collect())
    }

    async fn review_comments(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError> {
        let (v, _): (Vec<PostedBody>, _) = self
            .pages(
                &format!("{}/pulls/{}/comments", repo_route(pr), pr.number),
                MAX_PAGES,
            )
            .await?;
        Ok(v.into_iter().map(Posted::from).collect())
    }

    async fn issue_comments(&self, pr: &PullRef) -> Result<Vec<Posted>, HostError> {
        let (v, _): (Vec<PostedBody>, _) = self
            .pages(
                &format!("{}/issues/{}/comments", repo_route(pr), pr.number),
                MAX_PAGES,
            )
            .await?;
        Ok(v.into_iter().map(Posted::from).collect())
    }

    async fn create_review(&self, pr: &PullRef, review: &NewReview) -> Result<u64, HostError> {
        let body = ReviewBody {
            commit_id: &review.commit_id,
            body: &review.body,
            event: "COMMENT",
            comments: review
                .comments
                .iter()
                .map(|c| ReviewCommentBody {
                    path: &c.path,
                    body: &c.body,
                    line: c.line,
                    side: "RIGHT",
                    start_line: c.start_line.filter(|s| *s < c.line),
                    start_side: c.start_line.filter(|s| *s < c.line).map(|_| "RIGHT"),
                })
                .collect(),
        };
        let c: Created = self
            .send_json(
                Method::POST,
                &format!("{}/pulls/{}/reviews", repo_route(pr), pr.number),
                &body,
            )
            .await?;
        Ok(c.id)
    }

    async fn update_review(
        &self,
        pr: &PullRef,
        review_id: u64,
        body: &str,
    ) -> Result<(), HostError> {
        let _: Value = self
            .send_json(
                Method::PUT,
                &format!("{}/pulls/{}/reviews/{review_id}", repo_route(pr), pr.number),
                &BodyOnly { body },
            )
            .await?;
        Ok(())
    }

    async fn delete_review_comment(&self, pr: &PullRef, comment_id: u64) -> Result<(), HostError> {
        self.delete_if_present(&format!("{}/pulls/comments/{comment_id}", repo_route(pr)))
            .await
    }

    async fn create_issue_comment(&self, pr: &PullRef, body: &str) -> Result<u64, HostError> {
        let c: Created = self
            .send_json(
                Method::POST,
                &format!("{}/issues/{}/comments", repo_route(pr), pr.number),
                &BodyOnly { body },
            )
            .await?;
        Ok(c.id)
    }

    async fn update_issue_comment(
        &self,
        pr: &PullRef,
        comment_id: u64,
        body: &str,
    ) -> Result<(), HostError> {
        let _: Value = self
            .send_json(
                Method::PATCH,
                &format!("{}/issues/comments/{comment_id}", repo_route(pr)),
                &BodyOnly { body },
            )
            .await?;
        Ok(())
    }

    async fn delete_issue_comment(&self, pr: &PullRef, comment_id: u64) -> Result<(), HostError> {
        self.delete_if_present(&format!("{}/issues/comments/{comment_id}", repo_route(pr)))
            .await
    }

    async fn create_check_run(&self, pr: &PullRef, run: &CheckRun) -> Result<u64, HostError> {
        let c: Created = self
            .send_json(
                Method::POST,
                &format!("{}/check-runs", repo_route(pr)),
                &check_body(run, true),
            )
            .await?;
        Ok(c.id)
    }

    async fn find_check_run(
        &self,
        pr: &PullRef,
        name: &str,
        external_id: &str,
    ) -> Result<Option<ExistingCheckRun>, HostError> {
        #[derive(Deserialize)]
        struct Runs {
            #[serde(default)]
            check_runs: Vec<RunBody>,
        }
        #[derive(Deserialize)]
        struct RunBody {
            id: u64,
            #[serde(default)]
            name: String,
            #[serde(default)]
            external_id: Option<String>,
            #[serde(default)]
            output: Option<RunOutput>,
        }
        #[derive(Deserialize)]
        struct RunOutput {
            #[serde(default)]
            annotations_count: usize,
        }
        let runs: Runs = self
            .get_json(&format!(
                "{}/commits/{}/check-runs?check_name={}&per_page=100",
                repo_route(pr),
                seg(&pr.head_sha),
                seg(name)
            ))
            .await?;
        Ok(runs
            .check_runs
            .into_iter()
            .find(|r| r.name == name && r.external_id.as_deref().unwrap_or("") == external_id)
            .map(|r| ExistingCheckRun {
                id: r.id,
                annotations: r.output.map_or(0, |o| o.annotations_count),
            }))
    }

    async fn update_check_run(
        &self,
        pr: &PullRef,
        id: u64,
        run: &CheckRun,
    ) -> Result<(), HostError> {
        let _: Value = self
            .send_json(
                Method::PATCH,
                &format!("{}/check-runs/{id}", repo_route(pr)),
                &check_body(run, false),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_whole() {
        assert_eq!(
            encode_path("docker/app/Dockerfile"),
            "docker%2Fapp%2FDockerfile"
        );
        assert_eq!(encode_path("a b#c"), "a%20b%23c");
    }

    #[test]
    fn errors_are_classified() {
        let h = HeaderMap::new();
        let body = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/github/errors/resource-not-accessible-by-integration.403.json"
        ));
        if let Ok(b) = body {
            assert!(matches!(
                classify(StatusCode::FORBIDDEN, &h, &b),
                HostError::Forbidden { status: 403, .. }
            ));
        }
        let mut rl = HeaderMap::new();
        rl.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            classify(
                StatusCode::FORBIDDEN,
                &rl,
                r#"{"message":"You have exceeded a secondary rate limit"}"#
            ),
            HostError::RateLimited {
                message: "You have exceeded a secondary rate limit".into(),
                retry_after: Some(7)
            }
        );
        // Retry-After from GitHub (item 14 of issue 30): a value that would overflow any clock
        // is an hour, 0 is a second; a reset far ahead is an hour too
        for (header, want) in [
            ("18446744073709551615", 3600),
            ("99999999999", 3600),
            ("0", 1),
            (" 42 ", 42),
        ] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", header.parse().unwrap());
            assert_eq!(
                classify(StatusCode::TOO_MANY_REQUESTS, &h, "{}"),
                HostError::RateLimited {
                    message: "Too Many Requests".into(),
                    retry_after: Some(want)
                },
                "{header}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "18446744073709551615".parse().unwrap());
        assert!(matches!(
            classify(
                StatusCode::FORBIDDEN,
                &h,
                r#"{"message":"API rate limit exceeded"}"#
            ),
            HostError::RateLimited {
                retry_after: Some(3600),
                ..
            }
        ));
        let e = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            &h,
            r#"{"message":"Unprocessable Entity","errors":["Pull request review thread line must be part of the diff"]}"#,
        );
        assert!(
            matches!(e, HostError::Invalid { ref errors, .. } if errors[0].contains("part of the diff"))
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &h, ""),
            HostError::Server { status: 502, .. }
        ));
        // another 4xx keeps its own status in the kind and the message
        let e = classify(
            StatusCode::NOT_ACCEPTABLE,
            &h,
            r#"{"message":"Must accept 'application/json'"}"#,
        );
        assert!(matches!(e, HostError::Invalid { status: 406, .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("GitHub rejected the request (406)"),
            "{e}"
        );
    }
}
