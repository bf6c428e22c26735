//! The real Docker daemons for conformance tests, one per engine cachebust models:
//! - Docker 20.10 (Debian bookworm's docker.io, BuildKit v0.8 built in), checked with
//!   `--engine docker-20.10`, on `CACHEBUST_DOCKER_HOST` (default `unix:///tmp/cb-docker.sock`);
//! - Docker 28.5.2 with buildx 0.29.1 (Debian sid, unpacked by tools/docker-current.sh: the
//!   BuildKit of moby 28.5, `docker` driver, classic image store), checked with
//!   `--engine buildkit`, on `CACHEBUST_DOCKER28_HOST` with the client `CACHEBUST_DOCKER28_BIN`
//!   and its plugins under `CACHEBUST_DOCKER28_CONFIG` (`.ci/run` exports all three; without
//!   `CACHEBUST_DOCKER28_HOST` that half is skipped, so a run pointed away from the daemons never
//!   prunes one by accident).
//!
//! - Docker 28.5.2 again, started with the containerd image store (`tools/docker-current.sh
//!   start-snapshotter`), the only docker-driver daemon that exports caches (`--cache-to`): the
//!   CI cache backend scenarios, on `CACHEBUST_DOCKER28_SNAP_HOST` (`.ci/run` exports it and
//!   `CACHEBUST_REQUIRE_DOCKER28_SNAP`; without the host they are skipped locally).
//!
//! Base images are imported from a busybox-static rootfs; there is no registry. Each daemon has
//! its own lock: a test that builds prunes that daemon's cache and holds its lock meanwhile. The
//! lock is a file lock (`flock`, one file per daemon socket under the temp directory), so test
//! runs in other processes on the same daemon wait too (Docker 20.10's BuildKit crashes with a
//! nil pointer in `GetByBlob` when one run prunes while another pulls a local image), and it is
//! released when its process dies.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cachebust::engine::EngineKind;

/// Which real daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// Docker 20.10.24, BuildKit v0.8 (`--engine docker-20.10`).
    D2010,
    /// Docker 28.5.2 + buildx 0.29.1 (`--engine buildkit`).
    D28,
    /// Docker 28.5.2 with the containerd image store (cache export with the docker driver).
    D28Snap,
}

impl Daemon {
    /// The engine whose verdicts this daemon checks.
    pub fn engine(self) -> EngineKind {
        match self {
            Daemon::D2010 => EngineKind::Docker2010,
            Daemon::D28 | Daemon::D28Snap => EngineKind::Buildkit,
        }
    }
}

pub struct Docker {
    pub daemon: Daemon,
    pub host: String,
    pub binary: PathBuf,
    /// `DOCKER_CONFIG` (the buildx and compose plugins of Docker 28.5.2).
    pub config: Option<PathBuf>,
    /// `docker version` of the server, e.g. `20.10.24+dfsg1`.
    pub version: String,
}

pub const BASE1: &str = "cbtest/busybox:1";
pub const BASE2: &str = "cbtest/busybox:2";

/// Progress output format of a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Plain,
    /// `--progress=rawjson` (buildx only: Docker 28.5.2).
    RawJson,
}

pub struct BuildOutput {
    pub ok: bool,
    /// stderr then stdout: the progress output.
    pub log: String,
    /// Wall time of the `docker build` process.
    pub seconds: f64,
}

static D2010: OnceLock<Option<Docker>> = OnceLock::new();
static D28: OnceLock<Option<Docker>> = OnceLock::new();
static D28_SNAP: OnceLock<Option<Docker>> = OnceLock::new();

fn probe(daemon: Daemon) -> Option<Docker> {
    let (host, binary, config) = match daemon {
        Daemon::D2010 => {
            let host = std::env::var("CACHEBUST_DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///tmp/cb-docker.sock".into());
            let binary = ["/usr/bin/docker", "/usr/local/bin/docker"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())?;
            (host, binary, None)
        }
        Daemon::D28 | Daemon::D28Snap => {
            let var = if daemon == Daemon::D28 {
                "CACHEBUST_DOCKER28_HOST"
            } else {
                "CACHEBUST_DOCKER28_SNAP_HOST"
            };
            let host = std::env::var(var).ok()?;
            let binary = std::env::var("CACHEBUST_DOCKER28_BIN")
                .unwrap_or_else(|_| "/tmp/cb-docker28/root/usr/bin/docker".into());
            let config = std::env::var("CACHEBUST_DOCKER28_CONFIG")
                .unwrap_or_else(|_| "/tmp/cb-docker28/config".into());
            (host, PathBuf::from(binary), Some(PathBuf::from(config)))
        }
    };
    let mut d = Docker {
        daemon,
        host,
        binary,
        config,
        version: String::new(),
    };
    let v = d
        .cmd()
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .ok()?;
    if !v.status.success() {
        return None;
    }
    d.version = String::from_utf8_lossy(&v.stdout).trim().to_string();
    let expected = match daemon {
        Daemon::D2010 => "20.10.",
        Daemon::D28 | Daemon::D28Snap => "28.5.2",
    };
    assert!(
        d.version.starts_with(expected),
        "the daemon at {} is Docker {}, not {expected}",
        d.host,
        d.version
    );
    if daemon == Daemon::D28Snap {
        let info = d
            .cmd()
            .args(["info", "--format", "{{.DriverStatus}}"])
            .output()
            .ok()?;
        let info = String::from_utf8_lossy(&info.stdout).to_string();
        assert!(
            info.contains("io.containerd.snapshotter"),
            "the daemon at {} does not use the containerd image store: {info}",
            d.host
        );
    }
    if daemon != Daemon::D2010 {
        let bx = d.cmd().args(["buildx", "version"]).output().ok()?;
        let bx = String::from_utf8_lossy(&bx.stdout).to_string();
        assert!(
            bx.contains(" 0.29.1"),
            "buildx 0.29.1 expected under CACHEBUST_DOCKER28_CONFIG, found {bx:?}"
        );
    }
    d.ensure_base_images();
    Some(d)
}

/// The daemon, or `None` when there is none (then the caller must skip, and CI fails).
pub fn docker_of(daemon: Daemon) -> Option<&'static Docker> {
    match daemon {
        Daemon::D2010 => D2010.get_or_init(|| probe(daemon)).as_ref(),
        Daemon::D28 => D28.get_or_init(|| probe(daemon)).as_ref(),
        Daemon::D28Snap => D28_SNAP.get_or_init(|| probe(daemon)).as_ref(),
    }
}

/// Tests that build share a daemon and prune its cache: they take its lock.
static EXCLUSIVE_2010: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static EXCLUSIVE_28: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static EXCLUSIVE_28_SNAP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Exclusive use of one daemon: the in-process lock and the file lock, released on drop.
pub struct Exclusive {
    _file: std::fs::File,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

/// The daemon for exclusive use by one test (the guard releases it).
pub async fn exclusive(daemon: Daemon) -> Option<(&'static Docker, Exclusive)> {
    let d = require(daemon)?;
    // an async lock: each test has its own runtime, and the guard is held across its awaits
    let lock = match daemon {
        Daemon::D2010 => &EXCLUSIVE_2010,
        Daemon::D28 => &EXCLUSIVE_28,
        Daemon::D28Snap => &EXCLUSIVE_28_SNAP,
    };
    let guard = lock.lock().await;
    // then the file lock, for runs in other processes (blocking: off the runtime's threads)
    let name: String = d
        .host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = std::env::temp_dir().join(format!("cachebust-test-{name}.lock"));
    let file = tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("lock file {}: {e}", path.display()));
        // std's file lock is Rust 1.89; the crate (not its tests) builds on 1.85
        #[allow(clippy::incompatible_msrv)]
        f.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        f
    })
    .await
    .unwrap();
    Some((
        d,
        Exclusive {
            _file: file,
            _guard: guard,
        },
    ))
}

/// Fail in CI when the daemon is missing; skip elsewhere with a message.
pub fn require(daemon: Daemon) -> Option<&'static Docker> {
    let d = docker_of(daemon);
    if d.is_none() {
        let (required, what) = match daemon {
            Daemon::D2010 => (
                std::env::var_os("CI").is_some()
                    || std::env::var_os("CACHEBUST_REQUIRE_DOCKER").is_some(),
                "Docker 20.10 at CACHEBUST_DOCKER_HOST (or unix:///tmp/cb-docker.sock)",
            ),
            Daemon::D28 => (
                std::env::var_os("CACHEBUST_REQUIRE_DOCKER28").is_some(),
                "Docker 28.5.2 at CACHEBUST_DOCKER28_HOST",
            ),
            Daemon::D28Snap => (
                std::env::var_os("CACHEBUST_REQUIRE_DOCKER28_SNAP").is_some(),
                "Docker 28.5.2 with the containerd image store at CACHEBUST_DOCKER28_SNAP_HOST",
            ),
        };
        if required {
            panic!("no {what}; .ci/run starts it");
        }
        eprintln!(
            "SKIPPED: no {what}; start it as docs/development.md (Build and test) describes to run these real-BuildKit tests"
        );
    }
    d
}

impl Docker {
    /// Who produced a verdict, for test output: `Docker 28.5.2+dfsg4 (--engine buildkit)`.
    pub fn label(&self) -> String {
        format!(
            "Docker {} (--engine {})",
            self.version,
            self.daemon.engine().name()
        )
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_CLI_HINTS", "false")
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1");
        if let Some(cfg) = &self.config {
            c.env("DOCKER_CONFIG", cfg);
        }
        c
    }

    fn image_exists(&self, name: &str) -> bool {
        self.cmd()
            .args(["image", "inspect", name])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn ensure_base_images(&self) {
        for (name, extra) in [(BASE1, "one"), (BASE2, "two")] {
            if self.image_exists(name) {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            std::fs::create_dir_all(root.join("bin")).unwrap();
            std::fs::create_dir_all(root.join("tmp")).unwrap();
            std::fs::create_dir_all(root.join("etc")).unwrap();
            let busybox = ["/bin/busybox", "/usr/bin/busybox"]
                .iter()
                .map(Path::new)
                .find(|p| p.exists())
                .expect("busybox-static is needed for the real-BuildKit tests");
            std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
            let out = Command::new(root.join("bin/busybox"))
                .args(["--list"])
                .output()
                .unwrap();
            for applet in String::from_utf8_lossy(&out.stdout).lines() {
                if applet != "busybox" {
                    let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
                }
            }
            std::fs::write(
                root.join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            )
            .unwrap();
            std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
            std::fs::write(root.join("etc/variant"), extra).unwrap();
            let tar = Command::new("tar")
                .arg("-C")
                .arg(root)
                .args(["-cf", "-", "."])
                .output()
                .unwrap();
            let mut child = self
                .cmd()
                .args(["import", "-", name])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
            assert!(child.wait().unwrap().success(), "docker import {name}");
        }
    }

    /// Drop the build cache so scenarios cannot hit each other's records.
    pub fn prune(&self) {
        let _ = self.cmd().args(["builder", "prune", "-af"]).output();
    }

    /// A fresh CI runner: no build cache and none of these images.
    pub fn fresh_runner(&self, tags: &[&str]) {
        let _ = self.cmd().arg("rmi").arg("-f").args(tags).output();
        self.prune();
    }

    /// `docker buildx build` with rawjson progress and extra arguments (`--cache-from`, …):
    /// what docker/build-push-action runs.
    pub fn buildx(
        &self,
        dir: &Path,
        target: Option<&str>,
        extra: &[String],
        tag: &str,
    ) -> BuildOutput {
        let mut c = self.cmd();
        c.args([
            "buildx",
            "build",
            "--network=none",
            "--progress=rawjson",
            "-t",
            tag,
        ]);
        if let Some(t) = target {
            c.args(["--target", t]);
        }
        c.args(extra);
        c.arg(dir);
        let start = std::time::Instant::now();
        let out = c.output().expect("running docker buildx build");
        let seconds = start.elapsed().as_secs_f64();
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        BuildOutput {
            ok: out.status.success(),
            log,
            seconds,
        }
    }

    /// `docker buildx bake TARGETS` in `dir` (plain progress), by the buildx 0.29.1 of the Docker
    /// 28.5.2 client on this daemon: the Docker 20.10 client has no buildx, and buildx's `docker`
    /// driver builds on Docker 20.10's own BuildKit (measured). `None` (skip; CI fails) without
    /// that client.
    pub fn bake(&self, dir: &Path, targets: &[&str]) -> Option<BuildOutput> {
        let bin = std::env::var("CACHEBUST_DOCKER28_BIN")
            .unwrap_or_else(|_| "/tmp/cb-docker28/root/usr/bin/docker".into());
        let config = std::env::var("CACHEBUST_DOCKER28_CONFIG")
            .unwrap_or_else(|_| "/tmp/cb-docker28/config".into());
        if !Path::new(&bin).exists() || !Path::new(&config).join("cli-plugins").exists() {
            if std::env::var_os("CI").is_some()
                || std::env::var_os("CACHEBUST_REQUIRE_DOCKER28").is_some()
            {
                panic!("no buildx client at CACHEBUST_DOCKER28_BIN; .ci/run installs it");
            }
            eprintln!("SKIPPED: no buildx client (tools/docker-current.sh install)");
            return None;
        }
        let mut c = Command::new(bin);
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", config)
            .env("DOCKER_CLI_HINTS", "false")
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .current_dir(dir)
            .args(["buildx", "bake", "--progress=plain"])
            .args(targets);
        let start = std::time::Instant::now();
        let out = c.output().expect("running docker buildx bake");
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        Some(BuildOutput {
            ok: out.status.success(),
            log,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    pub fn build(
        &self,
        dir: &Path,
        dockerfile: &str,
        target: Option<&str>,
        args: &[(&str, &str)],
        secret: Option<&Path>,
        tag: &str,
    ) -> BuildOutput {
        self.build_with(dir, dockerfile, target, args, secret, tag, Progress::Plain)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn build_with(
        &self,
        dir: &Path,
        dockerfile: &str,
        target: Option<&str>,
        args: &[(&str, &str)],
        secret: Option<&Path>,
        tag: &str,
        progress: Progress,
    ) -> BuildOutput {
        let mut c = self.cmd();
        let progress = match progress {
            Progress::Plain => "--progress=plain",
            Progress::RawJson => {
                assert_ne!(self.daemon, Daemon::D2010, "only buildx prints rawjson");
                "--progress=rawjson"
            }
        };
        c.args(["build", "--network=none", progress, "-t", tag, "-f"])
            .arg(dir.join(dockerfile));
        if let Some(s) = secret {
            c.arg("--secret").arg(format!("id=s,src={}", s.display()));
        }
        if let Some(t) = target {
            c.args(["--target", t]);
        }
        for (k, v) in args {
            c.arg("--build-arg").arg(format!("{k}={v}"));
        }
        c.arg(dir);
        let start = std::time::Instant::now();
        let out = c.output().expect("running docker build");
        let seconds = start.elapsed().as_secs_f64();
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        BuildOutput {
            ok: out.status.success(),
            log,
            seconds,
        }
    }
}
