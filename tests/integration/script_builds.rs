//! Builds set up by scripts (issue 29, class 11), predicted and then built for real: the
//! repository's own `build.sh` is run with `sh`, its `docker build` reaching the daemon of each
//! engine (Docker 20.10, `--engine docker-20.10`; Docker 28.5.2, `--engine buildkit`), first at
//! the base and then at the head. The steps the real head build runs (not CACHED) are the steps
//! cachebust predicts for the build the script declares:
//! - the script bumps the base image it passes as a build arg: every step runs;
//! - the script passes another value of an arg a RUN reads: the COPY is cached, the RUN runs;
//! - a comment above the command moves its line: nothing runs.

use std::path::Path;
use std::process::Command;

use cachebust::engine::report::{DockerfileReport, Origin};

use crate::bake_calls::{predict, predicted_runs, real_runs};
use crate::support::docker::{self, BASE1, BASE2, Daemon, Docker};
use crate::support::trees::write_tree;

const DOCKERFILE: &str = "ARG BASE=cbtest/busybox:1\nFROM ${BASE}\nCOPY app.txt /app.txt\nARG V\nRUN cat /app.txt > /out && echo $V >> /out\n";

/// The repository with its `build.sh`: `above` goes above the build command.
fn tree(base: &str, v: &str, above: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Dockerfile", DOCKERFILE.to_string()),
        ("app.txt", "app\n".to_string()),
        (
            "build.sh",
            format!(
                "#!/bin/sh\nset -e\n{above}BASE={base}\ndocker build --network=none --progress=plain --build-arg BASE=$BASE --build-arg V={v} -t cb-script-app .\n"
            ),
        ),
    ]
}

/// Runs the repository's `build.sh` as a developer would, its `docker` being this daemon's
/// client; the build's log.
fn run_script(d: &Docker, dir: &Path, bin: &Path) -> String {
    let wrapper = bin.join("docker");
    let mut env = format!(
        "DOCKER_HOST='{}' DOCKER_BUILDKIT=1 DOCKER_CLI_HINTS=false BUILDX_NO_DEFAULT_ATTESTATIONS=1",
        d.host
    );
    if let Some(c) = &d.config {
        env.push_str(&format!(" DOCKER_CONFIG='{}'", c.display()));
    }
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec env {env} '{}' \"$@\"\n",
            d.binary.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("build.sh")
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("running sh build.sh");
    let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{}: sh build.sh: {log}", d.label());
    log
}

/// The build `build.sh` declares.
fn of_script(r: &cachebust::engine::report::Report) -> &DockerfileReport {
    r.dockerfiles
        .iter()
        .find(|d| {
            d.origins
                .iter()
                .any(|o| matches!(o, Origin::Script { file, .. } if file == "build.sh"))
        })
        .unwrap_or_else(|| panic!("no build of build.sh: {:#?}", r.dockerfiles))
}

#[tokio::test]
async fn script_builds_match_real_builds_on_both_engines() {
    for daemon in [Daemon::D2010, Daemon::D28] {
        let Some((d, _lock)) = docker::exclusive(daemon).await else {
            continue;
        };
        let engine = daemon.engine();
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, base, v, above, runs) in [
            ("bumped", BASE2, "1", "", 2),
            ("arg", BASE1, "2", "", 1),
            ("moved", BASE1, "1", "# the base image\n", 0),
        ] {
            // fresh directories (fresh mtimes) for every tree built
            let base_dir = tmp.path().join(format!("{name}-base"));
            let head_dir = tmp.path().join(name);
            write_tree(&base_dir, &tree(BASE1, "1", ""));
            write_tree(&head_dir, &tree(base, v, above));
            d.prune();
            run_script(d, &base_dir, &bin);
            let log = run_script(d, &head_dir, &bin);
            // Docker 20.10 prints a RUN with its variables expanded: the keyword and first word
            // name the step here
            let key = |v: Vec<String>| -> Vec<String> {
                v.iter()
                    .map(|i| i.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                    .collect()
            };
            let real = key(real_runs(&log));
            let r = predict(&base_dir, &head_dir, engine, true).await;
            let build = of_script(&r);
            let predicted = key(predicted_runs(&[build]));
            assert_eq!(
                predicted,
                real,
                "{name} on {}: cachebust's steps vs the real build of build.sh\n{log}",
                d.label()
            );
            assert_eq!(real.len(), runs, "{name} on {}: {log}", d.label());
        }
    }
}
