//! Load and crash benchmark of `cachebust serve` (run with `cargo bench --bench server`): the
//! release binary on 127.0.0.1 with its SQLite queue, fed signed `pull_request` deliveries (from
//! shared/github/webhooks) at a fixed rate over keep-alive connections, its workers busy against a
//! slow fake GitHub (every answer delayed). It prints deliveries accepted per second and the p50 /
//! p99 / max time to acknowledge, beside the target (p99 under 10 ms at 500 deliveries/s); then
//! kills the server with SIGKILL in the middle of a burst, restarts it on the same database, and
//! checks that every acknowledged delivery was processed exactly once (one job, done; one summary
//! comment and one check run on its pull request). `CACHEBUST_BENCH_LOAD_ONLY=1` skips the crash
//! part (about four minutes of draining behind the slow GitHub).

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
    next: u64,
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
        ("GET", ["repos", _, _, "pulls", _, "files" | "comments" | "reviews"]) => j(json!([])),
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = g.comments.get(&n).map(|c| c.iter().map(|(id, b)| json!({"id": id, "body": b, "user": {"login": "cachebust[bot]", "type": "Bot"}})).collect()).unwrap_or_default();
            j(Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            g.next += 1;
            let id = g.next;
            let n: u64 = n.parse().unwrap_or(0);
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
        ("GET", ["repos", _, _, "git", "trees", _]) => j(json!({"tree": [], "truncated": false})),
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
    let child = Command::new(env!("CARGO_BIN_EXE_cachebust"))
        .arg("serve")
        .env("CACHEBUST_LISTEN", format!("127.0.0.1:{port}"))
        .env("CACHEBUST_DATABASE", format!("sqlite://{}", db.display()))
        .env("CACHEBUST_WEBHOOK_SECRET", SECRET)
        .env("CACHEBUST_GITHUB_TOKEN", "bench")
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

/// Send deliveries at `RATE` per second over `CONNECTIONS` keep-alive connections until `stop_at`
/// deliveries (or the server goes away); `(delivery id, status, latency)` of each answered one.
async fn burst(
    port: u16,
    template: &Value,
    n: u64,
    round: &str,
    kill_after: Option<u64>,
    kill: Option<Arc<Mutex<Child>>>,
) -> Vec<(String, u16, Duration)> {
    let results = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (results, next, template, round, kill) = (
            results.clone(),
            next.clone(),
            template.clone(),
            round.to_string(),
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
                let due = start + Duration::from_micros(i * 1_000_000 / RATE);
                tokio::time::sleep_until(due.into()).await;
                let (id, body, sig) = delivery(&template, i, &round);
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
                let mut req = format!("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {sig}\r\n\r\n", body.len()).into_bytes();
                req.extend_from_slice(&body);
                let ok = c.get_mut().write_all(&req).await.is_ok();
                let status = if ok { read_response(c).await } else { None };
                match status {
                    Some(st) => results.lock().unwrap().push((id, st, sent.elapsed())),
                    None => conn = None,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(results).unwrap().into_inner().unwrap()
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
    use cachebust::ports::JobStore;
    let s = cachebust::adapters::store::SqlStore::open(db.to_str().unwrap())
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

    // ---- load
    let db = dir.path().join("load.db");
    let port = free_port();
    let mut server = start_server(&db, &api, port);
    let started = Instant::now();
    let results = rt.block_on(burst(port, &template, LOAD_DELIVERIES, "a", None, None));
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
        "cachebust serve, load: {LOAD_DELIVERIES} signed pull_request deliveries offered at {RATE}/s over {CONNECTIONS} keep-alive connections, SQLite queue, 4 workers against a GitHub that answers in {} ms",
        GITHUB_DELAY.as_millis()
    );
    println!(
        "  accepted: {accepted} of {} answered ({:.0} deliveries/s over {:.2} s)",
        results.len(),
        accepted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  time to acknowledge: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms   (target: p99 under 10 ms at 500/s: {})",
        if p99 < 10.0 { "met" } else { "missed" }
    );
    if let Some(m) = rt.block_on(metrics(port)) {
        let share: Vec<String> = m
            .lines()
            .filter_map(|l| l.strip_prefix("cachebust_ack_latency_seconds_bucket{le=\""))
            .filter_map(|l| l.split_once("\"} "))
            .filter_map(|(le, c)| Some((le.parse::<f64>().ok()?, c.parse::<f64>().ok()?)))
            .filter(|(le, _)| *le <= 0.010)
            .map(|(le, c)| {
                format!(
                    "{:.1}% within {} ms",
                    100.0 * c / LOAD_DELIVERIES as f64,
                    le * 1000.0
                )
            })
            .collect();
        println!(
            "  inside the server (its own ack histogram): {}",
            share.join(", ")
        );
    }
    let counts = rt.block_on(queue_counts(&db));
    println!(
        "  queue right after the burst: {counts:?} (the workers drain it behind the slow GitHub)"
    );
    let _ = server.kill();
    let _ = server.wait();

    if std::env::var_os("CACHEBUST_BENCH_LOAD_ONLY").is_some() {
        return;
    }
    // ---- crash
    let db = dir.path().join("crash.db");
    let port = free_port();
    let server = Arc::new(Mutex::new(start_server(&db, &api, port)));
    let results = rt.block_on(burst(
        port,
        &template,
        CRASH_DELIVERIES,
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
