//! The real Docker daemon for conformance tests: Debian's docker.io (20.10, BuildKit built in),
//! reached on `CACHEBUST_DOCKER_HOST` (default `unix:///tmp/cb-docker.sock`, where `.ci/run`
//! starts it). Base images are imported from a busybox-static rootfs; there is no registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Docker {
    pub host: String,
    pub binary: PathBuf,
}

pub const BASE1: &str = "cbtest/busybox:1";
pub const BASE2: &str = "cbtest/busybox:2";

pub struct BuildOutput {
    pub ok: bool,
    pub log: String,
}

static DOCKER: OnceLock<Option<Docker>> = OnceLock::new();

/// The daemon, or `None` when there is none (then the caller must skip, and CI fails).
pub fn docker() -> Option<&'static Docker> {
    DOCKER
        .get_or_init(|| {
            let host = std::env::var("CACHEBUST_DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///tmp/cb-docker.sock".into());
            let binary = ["/usr/bin/docker", "/usr/local/bin/docker"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())?;
            let d = Docker { host, binary };
            let v = d
                .cmd()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .ok()?;
            if !v.status.success() {
                return None;
            }
            d.ensure_base_images();
            Some(d)
        })
        .as_ref()
}

/// Tests that build share one daemon and prune its cache: they take this lock.
static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The daemon for exclusive use by one test (the guard releases it).
pub async fn exclusive() -> Option<(&'static Docker, tokio::sync::MutexGuard<'static, ()>)> {
    let d = require()?;
    // an async lock: each test has its own runtime, and the guard is held across its awaits
    let guard = EXCLUSIVE.lock().await;
    Some((d, guard))
}

/// Fail in CI when the daemon is missing; skip elsewhere with a message.
pub fn require() -> Option<&'static Docker> {
    let d = docker();
    if d.is_none() {
        if std::env::var_os("CI").is_some()
            || std::env::var_os("CACHEBUST_REQUIRE_DOCKER").is_some()
        {
            panic!(
                "no Docker daemon at CACHEBUST_DOCKER_HOST (or unix:///tmp/cb-docker.sock); .ci/run starts one"
            );
        }
        eprintln!(
            "SKIPPED: no Docker daemon; start one as the README's Tests section describes to run the real-BuildKit tests"
        );
    }
    d
}

impl Docker {
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_CLI_HINTS", "false");
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

    pub fn build(
        &self,
        dir: &Path,
        dockerfile: &str,
        target: Option<&str>,
        args: &[(&str, &str)],
        secret: Option<&Path>,
        tag: &str,
    ) -> BuildOutput {
        let mut c = self.cmd();
        c.args([
            "build",
            "--network=none",
            "--progress=plain",
            "-t",
            tag,
            "-f",
        ])
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
        let out = c.output().expect("running docker build");
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        BuildOutput {
            ok: out.status.success(),
            log,
        }
    }
}
