//! GitHub for the tests, on loopback: Prism (pinned 5.14.2, installed by `.ci/run` into
//! `tools/prism`) serving GitHub's own OpenAPI description with request validation, and a
//! stateful fake in front of it. Every request the fake receives is first sent to Prism: a request
//! the description rejects is answered with Prism's error (and recorded as a violation); a valid one
//! is answered from the fake's state (reviews, comments, check runs, files, trees), which lets the
//! tests re-run on a new head and check deduplication, sticky updates and stale deletions. Faults
//! (GitHub's real error bodies from shared/github/errors) can be queued per route.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::parser_corpus::shared;

/// A running Prism; killed on drop.
pub struct Prism {
    pub port: u16,
    child: Child,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on loopback with a raw socket: the status code.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// The OpenAPI description Prism serves: the operations of shared/github's subset plus the git
/// trees endpoint (reading pull requests of shallow checkouts), cut from GitHub's full description
/// with every component they reference.
fn spec() -> &'static Path {
    static SPEC: OnceLock<PathBuf> = OnceLock::new();
    SPEC.get_or_init(|| {
        let dir = shared().join("github/openapi");
        let full: Value =
            serde_json::from_slice(&std::fs::read(dir.join("api.github.com.json")).unwrap())
                .unwrap();
        let subset: Value = serde_json::from_slice(
            &std::fs::read(dir.join("api.github.com.cachebust-subset.json")).unwrap(),
        )
        .unwrap();
        let mut wanted: Vec<String> = subset["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        wanted.push("/repos/{owner}/{repo}/git/trees/{tree_sha}".into());
        // who a token is (personal tokens: the server's identity with --github-token)
        wanted.push("/user".into());
        // build records CI uploaded: runs, their artifacts, the download (issue 31)
        for p in [
            "/repos/{owner}/{repo}/actions/runs",
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
            "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
            "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
        ] {
            wanted.push(p.into());
        }
        let mut paths = serde_json::Map::new();
        for p in &wanted {
            paths.insert(p.clone(), full["paths"][p].clone());
        }
        let mut components: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        let mut todo: Vec<Value> = paths.values().cloned().collect();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(v) = todo.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        if let Some(rest) = r.strip_prefix("#/components/") {
                            if seen.insert(rest.to_string()) {
                                let (kind, name) = rest.split_once('/').unwrap();
                                let target = full["components"][kind][name].clone();
                                components
                                    .entry(kind.to_string())
                                    .or_default()
                                    .insert(name.to_string(), target.clone());
                                todo.push(target);
                            }
                        }
                    }
                    todo.extend(m.into_iter().map(|(_, v)| v));
                }
                Value::Array(a) => todo.extend(a),
                _ => {}
            }
        }
        let mut out = serde_json::Map::new();
        for k in ["openapi", "info", "servers", "externalDocs"] {
            if let Some(v) = full.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        out.insert("paths".into(), Value::Object(paths));
        out.insert(
            "components".into(),
            serde_json::to_value(components).unwrap(),
        );
        // under target/ (cargo's scratch space for integration tests), not left in /tmp
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("github-spec-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_vec(&Value::Object(out)).unwrap()).unwrap();
        path
    })
}

fn prism_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/prism/node_modules/.bin/prism")
}

/// Start Prism on a free loopback port, or `None` (skipped) when it is not installed; in CI
/// (`CACHEBUST_REQUIRE_PRISM`, set by `.ci/run`) a missing Prism fails the test.
pub fn prism() -> Option<Prism> {
    let bin = prism_binary();
    if !bin.exists() {
        if std::env::var_os("CACHEBUST_REQUIRE_PRISM").is_some() || std::env::var_os("CI").is_some()
        {
            panic!(
                "Prism is not installed at {}: .ci/run installs it (npm ci --prefix tools/prism)",
                bin.display()
            );
        }
        eprintln!("SKIPPED: Prism is not installed (npm ci --prefix tools/prism)");
        return None;
    }
    let port = free_port();
    let child = Command::new(&bin)
        .args([
            "mock",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-v",
            "error",
        ])
        .arg(spec())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prism");
    let p = Prism { port, child };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if http_status(port, "/zen") == Some(200) {
            return Some(p);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("prism did not answer on 127.0.0.1:{port} within 60 s");
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// The query string as sent (`ref=…`).
    pub query: String,
    pub body: Value,
    /// Prism's verdict when it rejected the request (status and violations).
    pub violation: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
}

/// An error to answer instead of the normal one, for the next matching request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    /// The path must end with this.
    pub path_suffix: String,
    pub status: u16,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
    /// Do the work anyway before answering with the error (a 502 after the review landed).
    pub land: bool,
    /// With `land`: what it created shows in listings only this long after the answer (GitHub
    /// storing a POST after the client gave up on it).
    pub land_after: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct Comment {
    pub id: u64,
    /// The pull request (issue) number it belongs to.
    pub pr: u64,
    pub body: String,
    pub path: Option<String>,
    pub line: Option<u64>,
    pub start_line: Option<u64>,
    pub in_reply_to: Option<u64>,
    pub user: String,
    pub user_type: String,
    /// Not listed before this instant (stored late).
    pub visible_at: Option<Instant>,
}

impl Comment {
    fn listed(&self, pr: u64) -> bool {
        self.pr == pr && self.visible_at.is_none_or(|t| t <= Instant::now())
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub requests: Vec<Req>,
    pub faults: Vec<Fault>,
    /// The pull request's files (`filename`, `status`, `patch`).
    pub files: Vec<Value>,
    pub reviews: Vec<Comment>,
    pub review_comments: Vec<Comment>,
    pub issue_comments: Vec<Comment>,
    pub check_runs: Vec<Value>,
    /// Trees by commit (for `git/trees`), file contents by (commit, path), merge bases.
    pub trees: BTreeMap<String, Vec<Value>>,
    pub contents: BTreeMap<(String, String), Vec<u8>>,
    pub merge_base: Option<String>,
    /// Commit ids served as another one (many pull requests over the same trees).
    pub aliases: BTreeMap<String, String>,
    /// Added to every answer (a slow GitHub).
    pub delay: Duration,
    /// Requests (method, path suffix) that land at once but are answered this much later: what
    /// they create is listed while the client still waits for the answer.
    pub answer_late: Vec<(&'static str, String, Duration)>,
    /// GitHub App mode: `POST /app/installations/{id}/access_tokens` takes a JWT whose `iss` is
    /// this App id and issues a token; every other request must carry an issued token (401).
    pub app_id: Option<u64>,
    /// Installation tokens issued, by installation.
    pub issued: Vec<(u64, String)>,
    /// Who posts (the token's user, or the App's bot): comments and reviews are by this login,
    /// `GET /user` answers it, and another user's comment cannot be deleted or edited (403).
    pub login: String,
    /// `GET /app` (with the App's JWT) answers this slug.
    pub app_slug: String,
    /// Pull requests as GitHub has them now: number → (head, base), for `GET pulls/{n}`.
    pub pulls: BTreeMap<u64, (String, String)>,
    /// Workflow runs (`id`, `head_sha`, `head_branch`, `event`, `conclusion`, `path`), newest
    /// first, for `actions/runs` and `actions/workflows/{id}/runs`.
    pub runs: Vec<Value>,
    /// Artifacts by run (`id`, `name`, `size_in_bytes`, `expired`).
    pub artifacts: BTreeMap<u64, Vec<Value>>,
    /// An artifact's archive by artifact id: its download redirects to `/_blobs/{id}` on this
    /// server (another host on GitHub), which serves these bytes.
    pub blobs: BTreeMap<u64, Vec<u8>>,
    next_id: u64,
}

impl State {
    /// Serve commit `sha` of the git repository at `dir` as GitHub would: its tree (`git/trees`,
    /// recursive) and the contents of its files.
    pub fn serve_commit(&mut self, dir: &std::path::Path, sha: &str) {
        let o = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["ls-tree", "-r", "-t", "--long", sha])
            .output()
            .unwrap();
        let mut tree = Vec::new();
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            let (meta, path) = l.split_once('\t').unwrap();
            let w: Vec<&str> = meta.split_whitespace().collect();
            tree.push(json!({"path": path, "mode": w[0], "type": w[1], "sha": w[2], "size": w[3].parse::<u64>().ok()}));
            if w[1] == "blob" {
                let c = Command::new("git")
                    .arg("-C")
                    .arg(dir)
                    .args(["cat-file", "-p", w[2]])
                    .output()
                    .unwrap();
                self.contents
                    .insert((sha.to_string(), path.to_string()), c.stdout);
            }
        }
        self.trees.insert(sha.to_string(), tree);
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }
    pub fn mutations(&self) -> Vec<&Req> {
        self.requests.iter().filter(|r| r.method != "GET").collect()
    }
    pub fn violations(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter_map(|r| {
                r.violation
                    .as_ref()
                    .map(|v| format!("{} {}: {v}", r.method, r.path))
            })
            .collect()
    }
}

/// The fake: its address and its state. Its server runs on a thread of its own (so that tests
/// with and without a runtime can start it) until the test process ends.
pub struct Fake {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _prism: Option<Prism>,
}

impl Fake {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

/// Start the fake in front of Prism (validation) or, without Prism, `None`.
pub fn fake() -> Option<Fake> {
    let prism = prism()?;
    let state: Arc<Mutex<State>> = Arc::new(Mutex::new(State {
        login: "github-actions[bot]".into(),
        app_slug: "cachebust-test".into(),
        ..State::default()
    }));
    let st = state.clone();
    let prism_port = prism.port;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let validator = octocrab::Octocrab::builder()
                .base_uri(format!("http://127.0.0.1:{prism_port}"))
                .unwrap()
                .build()
                .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let st = st.clone();
                    let validator = validator.clone();
                    async move { handle(st, validator, method, uri, headers, body).await }
                },
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Some(Fake {
        url: format!("http://{addr}"),
        state,
        _prism: Some(prism),
    })
}

/// The `iss` claim of a well-formed, currently valid JWT (RS256 header, `iat` in the past, `exp`
/// at most ten minutes ahead as GitHub requires); the signature is not checked here.
fn jwt_issuer(jwt: &str) -> Option<u64> {
    use base64::Engine;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts[2].is_empty() {
        return None;
    }
    let dec = |p: &str| -> Option<Value> {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&b).ok()
    };
    let (header, claims) = (dec(parts[0])?, dec(parts[1])?);
    if header["alg"] != "RS256" {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let (iat, exp) = (claims["iat"].as_u64()?, claims["exp"].as_u64()?);
    if iat > now + 60 || exp <= now || exp > now + 660 {
        return None;
    }
    match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn json_response(status: u16, v: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Ask Prism whether the request is valid: `Some(status, body)` when it is not.
async fn validate(
    v: &octocrab::Octocrab,
    method: &Method,
    uri: &Uri,
    body: &Bytes,
) -> Option<(u16, String)> {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    let res = match *method {
        Method::GET => {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::ACCEPT, "application/json".parse().unwrap());
            v._get_with_headers(pq.as_str(), Some(h)).await
        }
        Method::POST => v._post(pq.as_str(), json.as_ref()).await,
        Method::PATCH => v._patch(pq.as_str(), json.as_ref()).await,
        Method::PUT => v._put(pq.as_str(), json.as_ref()).await,
        Method::DELETE => v._delete(pq.as_str(), json.as_ref()).await,
        _ => return Some((405, "method".into())),
    };
    let res = match res {
        Ok(r) => r,
        Err(e) => return Some((599, e.to_string())),
    };
    let status = res.status().as_u16();
    if status < 400 {
        return None;
    }
    let violations = res
        .headers()
        .get("sl-violations")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = v.body_to_string(res).await.unwrap_or_default();
    Some((status, format!("{text} {violations}")))
}

fn user(c: &Comment) -> Value {
    json!({"login": c.user, "id": 41898282, "type": c.user_type})
}

fn comment_json(c: &Comment) -> Value {
    json!({"id": c.id, "body": c.body, "path": c.path, "line": c.line, "start_line": c.start_line,
           "in_reply_to_id": c.in_reply_to, "user": user(c)})
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether right-side line `line` (and `start`..`line`) lies in one hunk of the file's patch.
fn in_diff(files: &[Value], path: &str, start: u64, line: u64) -> bool {
    let Some(f) = files.iter().find(|f| f["filename"] == path) else {
        return false;
    };
    let Some(patch) = f["patch"].as_str() else {
        return false;
    };
    let hunks = cachebust::render::review::parse_patch(patch);
    cachebust::render::review::anchorable(&hunks, start as u32, line as u32)
}

/// GitHub's answer to an App touching another App's comment.
fn not_accessible() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            shared().join("github/errors/resource-not-accessible-by-integration.403.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

fn line_not_in_diff() -> String {
    std::fs::read_to_string(shared().join("github/errors/review-line-not-in-diff.422.json"))
        .unwrap()
}

async fn handle(
    st: Arc<Mutex<State>>,
    validator: octocrab::Octocrab,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let late = st
        .lock()
        .unwrap()
        .answer_late
        .iter()
        .find(|(m, suffix, _)| *m == method.as_str() && uri.path().ends_with(suffix.as_str()))
        .map(|(_, _, d)| *d);
    let r = answer(st, validator, method, uri, headers, body).await;
    if let Some(d) = late {
        tokio::time::sleep(d).await;
    }
    r
}

async fn answer(
    st: Arc<Mutex<State>>,
    validator: octocrab::Octocrab,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = st.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // the archive host an artifact download redirects to: not GitHub's API, so not validated
    if let Some(id) = uri.path().strip_prefix("/_blobs/") {
        let mut s = st.lock().unwrap();
        s.requests.push(Req {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: String::new(),
            body: Value::Null,
            violation: None,
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        return match s.blobs.get(&id.parse().unwrap_or(0)) {
            Some(b) => (
                StatusCode::OK,
                [("content-type", "application/zip")],
                b.clone(),
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, "BlobNotFound").into_response(),
        };
    }
    let violation = validate(&validator, &method, &uri, &body).await;
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = st.lock().unwrap();
    s.requests.push(Req {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: json_body.clone(),
        violation: violation.as_ref().map(|(c, b)| format!("{c} {b}")),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    if let Some((code, text)) = violation {
        return (
            StatusCode::from_u16(code.min(599)).unwrap_or(StatusCode::BAD_REQUEST),
            text,
        )
            .into_response();
    }
    let fault = s
        .faults
        .iter()
        .position(|f| f.method == method.as_str() && path.ends_with(&f.path_suffix))
        .map(|i| s.faults.remove(i));
    if let Some(f) = &fault {
        if !f.land {
            let mut r = (StatusCode::from_u16(f.status).unwrap(), f.body.clone()).into_response();
            for (k, v) in &f.headers {
                r.headers_mut().insert(*k, v.parse().unwrap());
            }
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            return r;
        }
    }
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(app_id) = s.app_id {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bearer = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("token "))
            .unwrap_or("");
        if let ("POST", ["app", "installations", id, "access_tokens"]) =
            (method.as_str(), seg.as_slice())
        {
            return match jwt_issuer(bearer) {
                Some(iss) if iss == app_id => {
                    let id: u64 = id.parse().unwrap_or(0);
                    let token = format!("ghs_fake_installation_{id}_{}", s.issued.len());
                    s.issued.push((id, token.clone()));
                    json_response(
                        201,
                        json!({"token": token, "expires_at": "2099-01-01T00:00:00Z",
                               "permissions": {"pull_requests": "write", "contents": "read", "checks": "write"},
                               "repository_selection": "all"}),
                    )
                }
                _ => json_response(
                    401,
                    json!({"message": "A JSON web token could not be decoded"}),
                ),
            };
        }
        if let ("GET", ["app"]) = (method.as_str(), seg.as_slice()) {
            return match jwt_issuer(bearer) {
                Some(iss) if iss == app_id => json_response(
                    200,
                    json!({"id": app_id, "slug": s.app_slug, "name": s.app_slug}),
                ),
                _ => json_response(
                    401,
                    json!({"message": "A JSON web token could not be decoded"}),
                ),
            };
        }
        if !s.issued.iter().any(|(_, t)| t == bearer) {
            return json_response(401, json!({"message": "Bad credentials"}));
        }
    }
    let page: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let per_page: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("per_page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(30);
    let paged = |v: Vec<Value>| -> Value {
        Value::Array(
            v.into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect(),
        )
    };
    let pr_of = |i: usize| -> u64 { seg.get(i).and_then(|x| x.parse().ok()).unwrap_or(0) };
    let real = |sha: &str| -> String {
        s.aliases
            .get(sha)
            .cloned()
            .unwrap_or_else(|| sha.to_string())
    };
    let counts = (
        s.reviews.len(),
        s.review_comments.len(),
        s.issue_comments.len(),
    );
    let answer = match (method.as_str(), seg.as_slice()) {
        ("GET", ["repos", _, _, "pulls", _, "files"]) => json_response(200, paged(s.files.clone())),
        ("GET", ["repos", _, _, "pulls", _, "comments"]) => json_response(
            200,
            paged(
                s.review_comments
                    .iter()
                    .filter(|c| c.listed(pr_of(4)))
                    .map(comment_json)
                    .collect(),
            ),
        ),
        ("GET", ["repos", _, _, "pulls", _, "reviews"]) => json_response(
            200,
            paged(
                s.reviews
                    .iter()
                    .filter(|c| c.listed(pr_of(4)))
                    .map(comment_json)
                    .collect(),
            ),
        ),
        ("GET", ["repos", _, _, "issues", _, "comments"]) => json_response(
            200,
            paged(
                s.issue_comments
                    .iter()
                    .filter(|c| c.listed(pr_of(4)))
                    .map(comment_json)
                    .collect(),
            ),
        ),
        ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = s
                .check_runs
                .iter()
                .filter(|r| r["head_sha"] == json!(sha))
                .map(|r| {
                    // GitHub lists a run's output with a count, not the annotations
                    let mut r = r.clone();
                    let n = r["output"]["annotations"].as_array().map_or(0, Vec::len);
                    r["output"] = json!({"title": r["output"]["title"], "summary": r["output"]["summary"], "annotations_count": n});
                    r
                })
                .collect();
            json_response(200, json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("POST", ["repos", _, _, "pulls", _, "reviews"]) => {
            let comments = json_body["comments"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let files = s.files.clone();
            for c in &comments {
                let line = c["line"].as_u64().unwrap_or(0);
                let start = c["start_line"].as_u64().unwrap_or(line);
                if c["side"] != "RIGHT"
                    || !in_diff(&files, c["path"].as_str().unwrap_or(""), start, line)
                {
                    return json_response(422, serde_json::from_str(&line_not_in_diff()).unwrap());
                }
            }
            let id = s.id();
            let pr = pr_of(4);
            let login = s.login.clone();
            s.reviews.push(Comment {
                id,
                pr,
                body: json_body["body"].as_str().unwrap_or("").into(),
                user: login.clone(),
                user_type: "Bot".into(),
                ..Default::default()
            });
            for c in comments {
                let cid = s.id();
                s.review_comments.push(Comment {
                    id: cid,
                    pr,
                    body: c["body"].as_str().unwrap_or("").into(),
                    path: c["path"].as_str().map(str::to_string),
                    line: c["line"].as_u64(),
                    start_line: c["start_line"].as_u64(),
                    user: login.clone(),
                    user_type: "Bot".into(),
                    ..Default::default()
                });
            }
            json_response(
                200,
                json!({"id": id, "body": json_body["body"], "state": "COMMENTED", "user": {"login": login, "type": "Bot"}}),
            )
        }
        ("PUT", ["repos", _, _, "pulls", _, "reviews", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if let Some(r) = s.reviews.iter_mut().find(|r| r.id == id) {
                r.body = json_body["body"].as_str().unwrap_or("").into();
            }
            json_response(200, json!({"id": id}))
        }
        ("DELETE", ["repos", _, _, "pulls", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if s.review_comments
                .iter()
                .any(|c| c.id == id && c.user != s.login)
            {
                return json_response(403, not_accessible());
            }
            let before = s.review_comments.len();
            s.review_comments.retain(|c| c.id != id);
            if s.review_comments.len() == before {
                json_response(404, json!({"message": "Not Found"}))
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            let body = json_body["body"].as_str().unwrap_or("").to_string();
            if body.chars().count() > 65_536 {
                return json_response(
                    422,
                    serde_json::from_str(
                        &std::fs::read_to_string(
                            shared().join("github/errors/issue-comment-body-too-long.422.json"),
                        )
                        .unwrap(),
                    )
                    .unwrap(),
                );
            }
            let id = s.id();
            let pr = pr_of(4);
            let user = s.login.clone();
            s.issue_comments.push(Comment {
                id,
                pr,
                body,
                user,
                user_type: "Bot".into(),
                ..Default::default()
            });
            json_response(201, json!({"id": id}))
        }
        ("DELETE", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if s.issue_comments
                .iter()
                .any(|c| c.id == id && c.user != s.login)
            {
                return json_response(403, not_accessible());
            }
            let before = s.issue_comments.len();
            s.issue_comments.retain(|c| c.id != id);
            if s.issue_comments.len() == before {
                json_response(404, json!({"message": "Not Found"}))
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if s.issue_comments
                .iter()
                .any(|c| c.id == id && c.user != s.login)
            {
                return json_response(403, not_accessible());
            }
            let body = json_body["body"].as_str().unwrap_or("").to_string();
            match s.issue_comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = body;
                    json_response(200, json!({"id": id}))
                }
                None => json_response(404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            let id = s.id();
            let mut run = json_body.clone();
            run["id"] = json!(id);
            s.check_runs.push(run);
            json_response(201, json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "check-runs", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if let Some(r) = s.check_runs.iter_mut().find(|r| r["id"] == json!(id)) {
                let mut anns = r["output"]["annotations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                anns.extend(
                    json_body["output"]["annotations"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
                r["output"]["annotations"] = Value::Array(anns);
            }
            json_response(200, json!({"id": id}))
        }
        ("GET", ["repos", _, _, "pulls", n]) => match s.pulls.get(&n.parse().unwrap_or(0)) {
            Some((head, base)) => json_response(
                200,
                json!({"number": pr_of(4), "state": "open", "head": {"sha": head}, "base": {"sha": base, "ref": "main"}}),
            ),
            None => json_response(404, json!({"message": "Not Found"})),
        },
        ("GET", ["user"]) => json_response(200, json!({"login": s.login, "type": "Bot"})),
        ("GET", ["repos", _, _, "actions", "runs"])
        | ("GET", ["repos", _, _, "actions", "workflows", _, "runs"]) => {
            let q = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .map(decode)
            };
            let workflow = (seg.len() == 7).then(|| decode(seg[5]));
            let runs: Vec<Value> = s
                .runs
                .iter()
                .filter(|r| {
                    workflow
                        .as_deref()
                        .is_none_or(|w| r["path"].as_str().unwrap_or("").ends_with(w))
                        && q("branch").is_none_or(|b| r["head_branch"] == json!(b))
                        && q("head_sha").is_none_or(|h| r["head_sha"] == json!(h))
                        && q("event").is_none_or(|e| r["event"] == json!(e))
                        && q("status").is_none_or(|c| r["conclusion"] == json!(c))
                })
                .cloned()
                .collect();
            json_response(
                200,
                json!({"total_count": runs.len(), "workflow_runs": paged(runs)}),
            )
        }
        ("GET", ["repos", _, _, "actions", "runs", run, "artifacts"]) => {
            let list = s
                .artifacts
                .get(&run.parse().unwrap_or(0))
                .cloned()
                .unwrap_or_default();
            json_response(
                200,
                json!({"total_count": list.len(), "artifacts": paged(list)}),
            )
        }
        ("GET", ["repos", _, _, "actions", "artifacts", id, "zip"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let listed = s
                .artifacts
                .values()
                .flatten()
                .find(|a| a["id"] == json!(id))
                .cloned();
            match listed {
                Some(a) if a["expired"] == json!(true) => json_response(
                    410,
                    json!({"message": "Artifact has expired", "documentation_url": "https://docs.github.com/rest/actions/artifacts#download-an-artifact"}),
                ),
                Some(_) if s.blobs.contains_key(&id) => {
                    let host = headers
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1");
                    (
                        StatusCode::FOUND,
                        [("location", format!("http://{host}/_blobs/{id}"))],
                    )
                        .into_response()
                }
                _ => json_response(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["repos", _, _, "git", "trees", sha]) => match s.trees.get(&real(sha)) {
            Some(t) => json_response(200, json!({"sha": sha, "tree": t, "truncated": false})),
            None => json_response(404, json!({"message": "Not Found"})),
        },
        ("GET", ["repos", _, _, "contents", p]) => {
            let git_ref = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ref="))
                .unwrap_or("")
                .to_string();
            match s.contents.get(&(real(&git_ref), decode(p))) {
                Some(bytes) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    json_response(
                        200,
                        json!({"type": "file", "encoding": "base64", "content": b64, "size": bytes.len(), "sha": "0", "name": p, "path": decode(p)}),
                    )
                }
                None => json_response(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["repos", _, _, "compare", _]) => match &s.merge_base {
            Some(mb) => json_response(200, json!({"merge_base_commit": {"sha": mb}})),
            None => json_response(404, json!({"message": "Not Found"})),
        },
        _ => json_response(
            404,
            json!({"message": format!("the fake has no route for {method} {path}")}),
        ),
    };
    if let Some(f) = fault {
        // the work is done; the client still sees the error
        let _ = answer;
        if let Some(later) = f.land_after {
            let at = Instant::now() + later;
            let (r, rc, ic) = counts;
            for c in s.reviews.iter_mut().skip(r) {
                c.visible_at = Some(at);
            }
            for c in s.review_comments.iter_mut().skip(rc) {
                c.visible_at = Some(at);
            }
            for c in s.issue_comments.iter_mut().skip(ic) {
                c.visible_at = Some(at);
            }
        }
        let mut r = (StatusCode::from_u16(f.status).unwrap(), f.body.clone()).into_response();
        for (k, v) in &f.headers {
            r.headers_mut().insert(*k, v.parse().unwrap());
        }
        return r;
    }
    answer
}
