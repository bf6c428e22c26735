//! Load and crash benchmark of `cachebust serve` (run with `cargo bench --bench server`): the
//! release binary on 127.0.0.1 with its SQLite queue, fed signed `pull_request` deliveries (from
//! shared/github/webhooks) at a fixed rate over keep-alive connections, its workers busy against a
//! slow fake GitHub (every answer delayed). It prints deliveries accepted per second and the p50 /
//! p99 / max time to acknowledge, beside the target (p99 under 10 ms at 500 deliveries/s); then
//! kills the server with SIGKILL in the middle of a burst, restarts it on the same database, and
//! checks that every acknowledged delivery was processed exactly once (one job, done; one summary
//! comment and one check run on its pull request). The same load at 2,000 deliveries/s on a
//! PostgreSQL queue (`CACHEBUST_BENCH_POSTGRES_URL`, else `CACHEBUST_TEST_POSTGRES_URL`; its queue
//! tables are emptied first; skipped, and said, without one). A mixed run where 1% of the pull
//! requests are hostile (an expansion bomb, a doubling bomb, a Dockerfile past the line limit, a
//! 900 KB one): the time from acknowledgement to the summary comment of the other 99% beside the
//! same run with no hostile pull request. `CACHEBUST_BENCH_LOAD_ONLY=1` skips the crash part
//! (about four minutes of draining behind the slow GitHub).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SECRET: &str = "bench-secret";
const RATE: u64 = 500;
const LOAD_DELIVERIES: u64 = 5_000;
const PG_RATE: u64 = 2_000;
const PG_DELIVERIES: u64 = 10_000;
/// The mixed run: deliveries, rate, and every HOSTILE_EVERY-th pull request hostile.
/// (below what 4 workers behind a 100 ms GitHub drain, so that the time measured is the work,
/// not a queue growing without end)
const MIXED_DELIVERIES: u64 = 300;
const MIXED_RATE: u64 = 3;
const HOSTILE_EVERY: u64 = 100;
const CRASH_DELIVERIES: u64 = 2_000;
const GITHUB_DELAY: Duration = Duration::from_millis(100);
const CONNECTIONS: usize = 16;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The slow fake GitHub: just enough state for a review of an empty tree to be delivered once.
#[derive(Default)]
struct Gh {
    /// PR number → summary comments.
    comments: BTreeMap<u64, Vec<(u64, String)>>,
    /// head → check runs (id, external id).
    runs: BTreeMap<String, Vec<(u64, String)>>,
    /// PR number → when its first summary comment arrived.
    first_comment: BTreeMap<u64, Instant>,
    /// The mixed run is on: hostile pull requests have files.
    hostile_round: bool,
    next: u64,
}

/// The hostile Dockerfile of pull request `i` (every `HOSTILE_EVERY`-th of the mixed run), by
/// turns: `${V:-…}` nested 5,000 deep, 44 doubling ARGs, 80,000 lines, 900 KB of one RUN.
fn hostile_dockerfile(i: u64) -> Option<String> {
    if i % HOSTILE_EVERY != HOSTILE_EVERY - 1 {
        return None;
    }
    Some(match (i / HOSTILE_EVERY) % 4 {
        0 => format!(
            "FROM alpine\nENV X=\"{}x{}\"\nRUN echo \"$X\"\n",
            "${V:-".repeat(5_000),
            "}".repeat(5_000)
        ),
        1 => {
            let mut s = String::from("FROM alpine\nARG A0=xxxxxxxxxxxxxxxx\n");
            for l in 1..=44 {
                s.push_str(&format!("ARG A{l}=${{A{}}}${{A{}}}\n", l - 1, l - 1));
            }
            s + "ENV E=$A44\nRUN echo \"$E\"\n"
        }
        2 => format!("FROM alpine\n{}", "RUN echo x\n".repeat(80_000)),
        _ => format!("FROM alpine\nRUN echo {}\n", "x".repeat(900_000)),
    })
}

/// The PR number a head commit of the mixed run belongs to (`e{i:039x}`).
fn mixed_pr(sha: &str) -> Option<u64> {
    u64::from_str_radix(sha.strip_prefix('e')?, 16).ok()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                o.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

async fn gh(st: Arc<Mutex<Gh>>, method: Method, uri: Uri, body: Bytes) -> axum::response::Response {
    tokio::time::sleep(GITHUB_DELAY).await;
    let seg: Vec<String> = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut g = st.lock().unwrap();
    let j = |v: Value| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match (method.as_str(), s.as_slice()) {
        ("GET", ["repos", _, _, "pulls", n, "files"]) => {
            // the mixed run's hostile pull requests change their Dockerfile
            let n: u64 = n.parse().unwrap_or(0);
            if g.hostile_round && hostile_dockerfile(n).is_some() {
                j(
                    json!([{"filename": "Dockerfile", "status": "added", "additions": 3, "deletions": 0, "changes": 3,
                          "patch": "@@ -0,0 +1,3 @@\n+FROM alpine\n+x\n+x"}]),
                )
            } else {
                j(json!([]))
            }
        }
        ("GET", ["repos", _, _, "pulls", _, "comments" | "reviews"]) => j(json!([])),
        ("GET", ["repos", _, _, "pulls", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let round = ROUND.lock().unwrap().clone();
            j(
                json!({"number": n, "head": {"sha": format!("{round}{n:039x}")},
                     "base": {"sha": "b".repeat(40)}}),
            )
        }
        ("POST", ["repos", _, _, "pulls", _, "reviews"]) => {
            g.next += 1;
            j(json!({"id": g.next}))
        }
        ("GET", ["repos", _, _, "contents", "Dockerfile"]) => {
            let sha = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ref=")))
                .unwrap_or("");
            match mixed_pr(sha).and_then(hostile_dockerfile) {
                Some(text) => j(
                    json!({"type": "file", "encoding": "base64", "size": text.len(),
                                       "sha": "d".repeat(40), "content": base64(text.as_bytes())}),
                ),
                None => (
                    StatusCode::NOT_FOUND,
                    "{\"message\":\"Not Found\"}".to_string(),
                )
                    .into_response(),
            }
        }
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = g.comments.get(&n).map(|c| c.iter().map(|(id, b)| json!({"id": id, "body": b, "user": {"login": "cachebust[bot]", "type": "Bot"}})).collect()).unwrap_or_default();
            j(Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            g.next += 1;
            let id = g.next;
            let n: u64 = n.parse().unwrap_or(0);
            g.first_comment.entry(n).or_insert_with(Instant::now);
            g.comments
                .entry(n)
                .or_default()
                .push((id, v["body"].as_str().unwrap_or("").to_string()));
            j(json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", _]) => j(json!({})),
        ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = g
                .runs
                .get(*sha)
                .map(|r| {
                    r.iter()
                        .map(|(id, ext)| json!({"id": id, "name": "cachebust", "external_id": ext, "output": {"annotations_count": 0}}))
                        .collect()
                })
                .unwrap_or_default();
            j(json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            g.next += 1;
            let id = g.next;
            g.runs
                .entry(v["head_sha"].as_str().unwrap_or("").to_string())
                .or_default()
                .push((id, v["external_id"].as_str().unwrap_or("").to_string()));
            j(json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "check-runs", _]) => j(json!({})),
        ("GET", ["repos", _, _, "git", "trees", sha]) => {
            match mixed_pr(sha).and_then(hostile_dockerfile) {
                Some(text) => j(json!({"sha": sha, "truncated": false, "tree": [
                {"path": "Dockerfile", "mode": "100644", "type": "blob", "sha": "d".repeat(40), "size": text.len()}]})),
                None => j(json!({"sha": sha, "tree": [], "truncated": false})),
            }
        }
        ("GET", ["repos", _, _, "compare", _]) => {
            j(json!({"merge_base_commit": {"sha": "b".repeat(40)}}))
        }
        _ => (
            StatusCode::NOT_FOUND,
            format!("no route {method} {}", uri.path()),
        )
            .into_response(),
    }
}

/// The round being sent: `GET pulls/{n}` answers its head of pull request `n` (the server
/// reads the pull request's real head before it reviews one).
static ROUND: Mutex<String> = Mutex::new(String::new());

fn start_github(rt: &tokio::runtime::Runtime) -> (String, Arc<Mutex<Gh>>) {
    let st: Arc<Mutex<Gh>> = Arc::default();
    let s2 = st.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |m: Method, u: Uri, b: Bytes| {
        let st = s2.clone();
        async move { gh(st, m, u, b).await }
    });
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), st)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(db: &Path, api: &str, port: u16) -> Child {
    start_server_on(&format!("sqlite://{}", db.display()), api, port)
}

fn start_server_on(database: &str, api: &str, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_cachebust"))
        .arg("serve")
        .env("CACHEBUST_LISTEN", format!("127.0.0.1:{port}"))
        .env("CACHEBUST_DATABASE", database)
        .env("CACHEBUST_WEBHOOK_SECRET", SECRET)
        .env("CACHEBUST_GITHUB_TOKEN", "bench")
        .env("CACHEBUST_APP_SLUG", "cachebust")
        .env("CACHEBUST_API_URL", api)
        .env("CACHEBUST_WORKERS", "4")
        .env("CACHEBUST_LEASE_SECONDS", "3")
        .env("CACHEBUST_RETRY_SECONDS", "0.5")
        .env("CACHEBUST_POLL_MS", "100")
        .env("CACHEBUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The signed delivery `i`: a pull request of its own, with a head of its own.
fn delivery(template: &Value, i: u64, round: &str) -> (String, Vec<u8>, String) {
    let mut v = template.clone();
    v["action"] = json!("opened");
    v["number"] = json!(i);
    v["pull_request"]["number"] = json!(i);
    v["pull_request"]["draft"] = json!(false);
    v["pull_request"]["head"]["sha"] = json!(format!("{round}{i:039x}"));
    v["pull_request"]["base"]["sha"] = json!("b".repeat(40));
    v["repository"]["full_name"] = json!("octo/shop");
    v["installation"] = json!({"id": 1});
    let body = serde_json::to_vec(&v).unwrap();
    let sig = cachebust::app::webhook::sign(SECRET, &body);
    (format!("{round}-{i}"), body, sig)
}

/// The HTTP request of delivery `i`, whole: headers and signed body.
fn request(template: &Value, i: u64, round: &str) -> (String, Vec<u8>) {
    let (id, body, sig) = delivery(template, i, round);
    let mut req = format!("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {sig}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    (id, req)
}

/// Send deliveries at `rate` per second over `CONNECTIONS` keep-alive connections until `stop_at`
/// deliveries (or the server goes away); when the burst started (delivery `i` is due `i / rate`
/// seconds after) and `(delivery id, status, latency)` of each answered one. Every request is built and signed before the clock starts, as a load generator does, so that
/// the client's own work (a 25 KB body serialised and signed per delivery) does not take the
/// cores the server and its database share with it during the burst.
async fn burst(
    port: u16,
    template: &Value,
    n: u64,
    rate: u64,
    round: &str,
    kill_after: Option<u64>,
    kill: Option<Arc<Mutex<Child>>>,
) -> (Instant, Vec<(String, u16, Duration)>) {
    *ROUND.lock().unwrap() = round.to_string();
    let results = Arc::new(Mutex::new(Vec::new()));
    let requests: Arc<Vec<(String, Vec<u8>)>> =
        Arc::new((0..n).map(|i| request(template, i, round)).collect());
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (results, next, requests, kill) = (
            results.clone(),
            next.clone(),
            requests.clone(),
            kill.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<BufReader<tokio::net::TcpStream>> = None;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return;
                }
                if kill_after == Some(i) {
                    if let Some(k) = &kill {
                        // SIGKILL: no shutdown, no flush, jobs left claimed
                        let _ = k.lock().unwrap().kill();
                    }
                }
                let due = start + Duration::from_micros(i * 1_000_000 / rate);
                tokio::time::sleep_until(due.into()).await;
                let (id, req) = &requests[i as usize];
                if conn.is_none() {
                    conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok()
                        .inspect(|t| {
                            // the request goes out in one write: no Nagle wait on a delayed ACK
                            let _ = t.set_nodelay(true);
                        })
                        .map(BufReader::new);
                }
                let Some(c) = conn.as_mut() else { continue };
                let sent = Instant::now();
                let ok = c.get_mut().write_all(req).await.is_ok();
                let status = if ok { read_response(c).await } else { None };
                match status {
                    Some(st) => results
                        .lock()
                        .unwrap()
                        .push((id.clone(), st, sent.elapsed())),
                    None => conn = None,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        start,
        Arc::try_unwrap(results).unwrap().into_inner().unwrap(),
    )
}

async fn read_response(c: &mut BufReader<tokio::net::TcpStream>) -> Option<u16> {
    let mut line = String::new();
    if c.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if c.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.ok()?;
    Some(status)
}

/// The server's `/metrics` page.
async fn metrics(port: u16) -> Option<String> {
    let t = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let mut c = BufReader::new(t);
    c.get_mut()
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut all = String::new();
    c.read_to_string(&mut all).await.ok()?;
    all.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
}

async fn queue_counts(db: &Path) -> BTreeMap<String, u64> {
    queue_counts_on(db.to_str().unwrap()).await
}

async fn queue_counts_on(url: &str) -> BTreeMap<String, u64> {
    use cachebust::ports::JobStore;
    let s = cachebust::adapters::store::SqlStore::open(url)
        .await
        .unwrap();
    let d = s.depth().await.unwrap();
    BTreeMap::from([
        ("queued".into(), d.queued),
        ("running".into(), d.running),
        ("done".into(), d.done),
        ("failed".into(), d.failed),
    ])
}

/// Empty the queue tables of a PostgreSQL database the bench may use.
async fn empty_queue(url: &str) {
    let s = cachebust::adapters::store::SqlStore::open(url)
        .await
        .unwrap();
    if let Some(p) = s.postgres_pool() {
        sqlx::query("TRUNCATE deliveries, jobs")
            .execute(p)
            .await
            .unwrap();
    }
}

/// Offer `n` deliveries at `rate`, print what was accepted and how fast.
#[allow(clippy::too_many_arguments)]
fn load_run(
    rt: &tokio::runtime::Runtime,
    template: &Value,
    api: &str,
    database: &str,
    name: &str,
    rate: u64,
    n: u64,
    round: &str,
) {
    let port = free_port();
    let mut server = start_server_on(database, api, port);
    let (started, results) = rt.block_on(burst(port, template, n, rate, round, None, None));
    let elapsed = started.elapsed();
    let accepted = results.iter().filter(|r| r.1 == 202).count();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.2).collect();
    lat.sort();
    let (p50, p99, max) = (
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    println!(
        "cachebust serve, load: {n} signed pull_request deliveries offered at {rate}/s over {CONNECTIONS} keep-alive connections, {name} queue, 4 workers against a GitHub that answers in {} ms",
        GITHUB_DELAY.as_millis()
    );
    println!(
        "  accepted: {accepted} of {} answered ({:.0} deliveries/s over {:.2} s)",
        results.len(),
        accepted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  time to acknowledge: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms   (target: p99 under 10 ms at {rate}/s: {})",
        if p99 < 10.0 { "met" } else { "missed" }
    );
    if let Some(m) = rt.block_on(metrics(port)) {
        let share: Vec<String> = m
            .lines()
            .filter_map(|l| l.strip_prefix("cachebust_ack_latency_seconds_bucket{le=\""))
            .filter_map(|l| l.split_once("\"} "))
            .filter_map(|(le, c)| Some((le.parse::<f64>().ok()?, c.parse::<f64>().ok()?)))
            .filter(|(le, _)| *le <= 0.010)
            .map(|(le, c)| format!("{:.1}% within {} ms", 100.0 * c / n as f64, le * 1000.0))
            .collect();
        println!(
            "  inside the server (its own ack histogram): {}",
            share.join(", ")
        );
    }
    let counts = rt.block_on(queue_counts_on(database));
    println!(
        "  queue right after the burst: {counts:?} (the workers drain it behind the slow GitHub)"
    );
    let _ = server.kill();
    let _ = server.wait();
}

struct Mixed {
    ordinary: usize,
    reviewed: usize,
    p50: f64,
    p99: f64,
    max: f64,
    hostile: String,
}

/// `MIXED_DELIVERIES` pull requests at `MIXED_RATE`; with `hostile`, every `HOSTILE_EVERY`-th
/// changes a hostile Dockerfile. Waits until every job is settled.
fn mixed_run(
    rt: &tokio::runtime::Runtime,
    template: &Value,
    api: &str,
    gh_state: &Arc<Mutex<Gh>>,
    dir: &Path,
    hostile: bool,
) -> Mixed {
    let round = if hostile { "e" } else { "f" };
    {
        let mut g = gh_state.lock().unwrap();
        g.hostile_round = hostile;
        g.comments.clear();
        g.first_comment.clear();
    }
    let db = dir.join(format!("mixed-{round}.db"));
    let port = free_port();
    let mut server = start_server(&db, api, port);
    let (sent_at, results) = rt.block_on(burst(
        port,
        template,
        MIXED_DELIVERIES,
        MIXED_RATE,
        round,
        None,
        None,
    ));
    let wait_start = Instant::now();
    loop {
        let c = rt.block_on(queue_counts(&db));
        if c["queued"] == 0 && c["running"] == 0 {
            break;
        }
        assert!(
            wait_start.elapsed() < Duration::from_secs(600),
            "the mixed queue did not drain: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let counts = rt.block_on(queue_counts(&db));
    let _ = server.kill();
    let _ = server.wait();
    let g = gh_state.lock().unwrap();
    let mut lat = Vec::new();
    let (mut ordinary, mut hostile_reviewed) = (0, 0);
    for (id, status, _) in &results {
        if *status != 202 {
            continue;
        }
        let i: u64 = id.trim_start_matches(&format!("{round}-")).parse().unwrap();
        // a delivery's acknowledgement time: when it was due (the burst keeps to the rate)
        let due = sent_at + Duration::from_micros(i * 1_000_000 / MIXED_RATE);
        if hostile && hostile_dockerfile(i).is_some() {
            hostile_reviewed += usize::from(g.first_comment.contains_key(&i));
            continue;
        }
        ordinary += 1;
        if let Some(at) = g.first_comment.get(&i) {
            lat.push(at.saturating_duration_since(due));
        }
    }
    lat.sort();
    let n_hostile = (0..MIXED_DELIVERIES)
        .filter(|i| hostile_dockerfile(*i).is_some())
        .count();
    Mixed {
        ordinary,
        reviewed: lat.len(),
        p50: if lat.is_empty() { 0.0 } else { pct(&lat, 0.5) },
        p99: if lat.is_empty() { 0.0 } else { pct(&lat, 0.99) },
        max: lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        hostile: if hostile {
            format!(
                "{n_hostile} offered, {hostile_reviewed} got a summary saying what was refused; queue {counts:?}"
            )
        } else {
            format!("none; queue {counts:?}")
        },
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("github/webhooks/pull_request.opened.1.json"))
            .unwrap(),
    )
    .unwrap();
    let (api, gh_state) = start_github(&rt);
    let dir = tempfile::tempdir().unwrap();

    // CACHEBUST_BENCH_PARTS=sqlite,pg,mixed,crash picks parts (default: all)
    let parts = std::env::var("CACHEBUST_BENCH_PARTS").unwrap_or_default();
    let part = |p: &str| parts.is_empty() || parts.split(',').any(|x| x == p);

    // ---- load: SQLite at 500/s
    if part("sqlite") {
        let db = dir.path().join("load.db");
        let url = format!("sqlite://{}", db.display());
        load_run(
            &rt,
            &template,
            &api,
            &url,
            "SQLite",
            RATE,
            LOAD_DELIVERIES,
            "a",
        );
    }

    // ---- load: PostgreSQL at 2,000/s
    let pg = std::env::var("CACHEBUST_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("CACHEBUST_TEST_POSTGRES_URL"))
        .ok();
    match pg.filter(|_| part("pg")) {
        Some(url) => {
            rt.block_on(empty_queue(&url));
            load_run(
                &rt,
                &template,
                &api,
                &url,
                "PostgreSQL",
                PG_RATE,
                PG_DELIVERIES,
                "0",
            );
        }
        None if part("pg") => println!(
            "cachebust serve, load on PostgreSQL: skipped (set CACHEBUST_BENCH_POSTGRES_URL or CACHEBUST_TEST_POSTGRES_URL)"
        ),
        None => {}
    }

    // ---- mixed: 1% hostile pull requests, beside the same run with none
    if part("mixed") {
        let clean = mixed_run(&rt, &template, &api, &gh_state, dir.path(), false);
        let mixed = mixed_run(&rt, &template, &api, &gh_state, dir.path(), true);
        println!(
            "cachebust serve, mixed: {MIXED_DELIVERIES} pull requests at {MIXED_RATE}/s, SQLite, 4 workers, GitHub answering in {} ms; acknowledgement to summary comment of the ordinary ones:",
            GITHUB_DELAY.as_millis()
        );
        for (name, r) in [("no hostile PR", &clean), ("1% hostile", &mixed)] {
            println!(
                "  {name:>13}: {} of {} reviewed, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; hostile: {}",
                r.reviewed, r.ordinary, r.p50, r.p99, r.max, r.hostile
            );
        }
        println!(
            "  p99 with hostile PRs / without: {:.2}x (target: the ordinary ones are processed on time, at most 1.5x)",
            mixed.p99 / clean.p99.max(1.0)
        );
    }
    if !part("crash") {
        return;
    }

    if std::env::var_os("CACHEBUST_BENCH_LOAD_ONLY").is_some() {
        return;
    }
    // ---- crash
    let db = dir.path().join("crash.db");
    let port = free_port();
    let server = Arc::new(Mutex::new(start_server(&db, &api, port)));
    let (_, results) = rt.block_on(burst(
        port,
        &template,
        CRASH_DELIVERIES,
        RATE,
        "c",
        Some(CRASH_DELIVERIES / 2),
        Some(server.clone()),
    ));
    let _ = server.lock().unwrap().wait();
    let acked: Vec<&String> = results
        .iter()
        .filter(|r| r.1 == 202)
        .map(|r| &r.0)
        .collect();
    println!(
        "cachebust serve, crash: {CRASH_DELIVERIES} deliveries at {RATE}/s, SIGKILL after {} were sent; {} acknowledged",
        CRASH_DELIVERIES / 2,
        acked.len()
    );
    let mut restarted = start_server(&db, &api, port);
    let wait_start = Instant::now();
    loop {
        let c = rt.block_on(queue_counts(&db));
        if c["queued"] == 0 && c["running"] == 0 {
            break;
        }
        assert!(
            wait_start.elapsed() < Duration::from_secs(600),
            "the queue did not drain: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let store = rt
        .block_on(cachebust::adapters::store::SqlStore::open(
            db.to_str().unwrap(),
        ))
        .unwrap();
    let jobs = rt.block_on(store.jobs()).unwrap();
    let mut by_delivery: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for j in &jobs {
        by_delivery
            .entry(j.1.as_str())
            .or_default()
            .push(j.3.as_str());
    }
    let once = acked
        .iter()
        .filter(|d| by_delivery.get(d.as_str()).is_some_and(|v| v == &["done"]))
        .count();
    let g = gh_state.lock().unwrap();
    let mut effects_once = 0;
    for d in &acked {
        let i: u64 = d.trim_start_matches("c-").parse().unwrap();
        let comments = g.comments.get(&i).map_or(0, Vec::len);
        let runs = g.runs.get(&format!("c{i:039x}")).map_or(0, Vec::len);
        if comments == 1 && runs == 1 {
            effects_once += 1;
        }
    }
    println!(
        "  after a restart on the same database: {once} of {} acknowledged deliveries have exactly one job, done; {effects_once} have exactly one summary comment and one check run on GitHub; drained in {:.1} s",
        acked.len(),
        wait_start.elapsed().as_secs_f64()
    );
    println!(
        "  {}",
        if once == acked.len() && effects_once == acked.len() {
            "every acknowledged delivery was processed exactly once"
        } else {
            "SOME ACKNOWLEDGED DELIVERIES WERE NOT PROCESSED EXACTLY ONCE"
        }
    );
    let _ = restarted.kill();
    let _ = restarted.wait();
}
