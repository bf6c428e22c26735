//! `cargo bench --bench corpus`: every repository of the real-repository corpus
//! (tests/fixtures/corpus, PROVENANCE.md there), every commit of its last 300, checked against
//! the invariants of `tests/integration/support/corpus.rs`; per repository, the violations by
//! invariant and `history --last 300` beside `git log --first-parent --name-status` over the
//! same commits (target: median at most 20x, worst at most 100x).
//!
//! `CACHEBUST_CORPUS=name,name` runs only those repositories; `CACHEBUST_CORPUS_LAST=N` replays
//! N commits; `CACHEBUST_CORPUS_JOBS=N` checks N repositories at once (the timings then share
//! the machine: keep 1 for the figures); `CACHEBUST_BIN=path` checks that binary instead of the
//! one cargo built. Invariant 3 (the builds found against `docker compose config` and `docker
//! buildx bake --print`) runs at each repository's head and at the newest commits that change a
//! Compose or bake file, `CACHEBUST_CORPUS_DISCOVERY=N` of them (5), when the Docker client with
//! Compose and buildx is there (`CACHEBUST_DOCKER28_BIN`, `CACHEBUST_DOCKER28_CONFIG`).

#[path = "../integration/support/corpus.rs"]
mod corpus;
#[path = "../integration/support/realtools.rs"]
mod realtools;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use corpus::{Options, RepoRun, bundles, check_repo};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    // the binary cargo built for this bench, or another one to compare (`CACHEBUST_BIN`)
    let bin = std::env::var_os("CACHEBUST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cachebust")));
    let only: Option<Vec<String>> = std::env::var("CACHEBUST_CORPUS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let last = std::env::var("CACHEBUST_CORPUS_LAST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let jobs: usize = std::env::var("CACHEBUST_CORPUS_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let opts = Options {
        last,
        same_every: 5,
        fix_commits: 12,
        formats_every: 10,
        // invariant 3 needs the Docker client with Compose and buildx (tools/docker-current.sh)
        real_tools: realtools::docker28(),
        discovery_commits: std::env::var("CACHEBUST_CORPUS_DISCOVERY")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    };
    let todo: Vec<(String, PathBuf)> = bundles(&dir)
        .into_iter()
        .filter(|(n, _)| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    let queue = Mutex::new(todo.into_iter());
    let done: Mutex<Vec<RepoRun>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((name, bundle)) = next else { break };
                    let run = check_repo(&name, &bundle, &bin, &opts);
                    let by = run.by_invariant();
                    eprintln!(
                        "{name}: {} violations (I1 {}, I2 {}, I3 {}, I4 {}, I5 {}; {} declarations compared; {:.1} s history)",
                        run.violations.len(),
                        by.get(&1).unwrap_or(&0),
                        by.get(&2).unwrap_or(&0),
                        by.get(&3).unwrap_or(&0),
                        by.get(&4).unwrap_or(&0),
                        by.get(&5).unwrap_or(&0),
                        run.declarations_compared,
                        run.history_time.as_secs_f64()
                    );
                    for v in &run.violations {
                        eprintln!("  {} I{}: {}", v.commit, v.invariant, v.detail);
                    }
                    done.lock().unwrap().push(run);
                }
            });
        }
    });
    let mut runs = done.into_inner().unwrap();
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    report(&runs);
}

fn report(runs: &[RepoRun]) {
    println!(
        "\n| repository | commits | touch inputs | rebuild | builds | I1 | I2 | I3 | I4 | I5 | base=head runs | fixes checked | outputs | history | git log | ratio |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut ratios = Vec::new();
    let mut totals = [0usize; 9];
    for r in runs {
        let by = r.by_invariant();
        let g = r.gitlog_time.as_secs_f64().max(1e-4);
        let ratio = r.history_time.as_secs_f64() / g;
        ratios.push(ratio);
        for (i, k) in [1u8, 2, 4, 5].iter().enumerate() {
            totals[i] += by.get(k).copied().unwrap_or(0);
        }
        totals[6] += by.get(&3).copied().unwrap_or(0);
        totals[7] += r.trees_checked;
        totals[8] += r.declarations_compared;
        totals[4] += r.fixes_checked;
        totals[5] += r.commits;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} s | {:.3} s | {:.0}x |",
            r.name,
            r.commits,
            r.touching,
            r.rebuilding,
            r.builds_seen,
            by.get(&1).unwrap_or(&0),
            by.get(&2).unwrap_or(&0),
            by.get(&3).unwrap_or(&0),
            by.get(&4).unwrap_or(&0),
            by.get(&5).unwrap_or(&0),
            r.same_checked,
            r.fixes_checked,
            r.outputs_checked,
            r.history_time.as_secs_f64(),
            g,
            ratio
        );
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    let worst = ratios.last().copied().unwrap_or(0.0);
    println!(
        "\n{} repositories, {} commits: violations I1 {}, I2 {}, I3 {}, I4 {}, I5 {}; {} fixes re-predicted; {} trees, {} declarations compared with the real tools; history vs git log: median {median:.0}x (target 20x), worst {worst:.0}x (target 100x)",
        runs.len(),
        totals[5],
        totals[0],
        totals[1],
        totals[6],
        totals[2],
        totals[3],
        totals[4],
        totals[7],
        totals[8]
    );
    for r in runs {
        for v in &r.violations {
            println!("{} {} I{}: {}", r.name, v.commit, v.invariant, v.detail);
        }
    }
}
