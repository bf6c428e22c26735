//! Real-BuildKit proof of the safe fixes: for each case cachebust computes the fix itself
//! (`fix` at the safe level) on a tree; then the original and the fixed Dockerfile are each built
//! for the base and the head of the rule's scenario (fresh directories, pruned cache). The final
//! images must hold the same files with the same contents and modes (`docker export`), the fixed
//! build must rebuild fewer steps than the original (read from BuildKit's plain output), and
//! cachebust's prediction of both must match what BuildKit did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cachebust::adapters::local::{LocalRepo, Spec};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::fix::Applicability;
use cachebust::engine::report::{Confidence, Status};

use crate::buildkit::real_statuses;
use crate::support::docker::{self, BASE1, Daemon, Docker};
use crate::support::trees::write_tree;

struct Case {
    name: &'static str,
    /// The rule whose safe fix is proven.
    code: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// The scenario: head = base with these file edits, and these build args per side.
    edits: &'static [(&'static str, &'static str)],
    base_args: &'static [(&'static str, &'static str)],
    head_args: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "cb003-commit-sha-arg",
        code: "CB003",
        files: &[
            (
                "Dockerfile",
                "FROM {B1}\nARG GIT_SHA\nRUN echo one > /one.txt\nRUN echo two > /two.txt\nCOPY app.txt /app/app.txt\nLABEL org.opencontainers.image.revision=$GIT_SHA\nRUN echo \"$GIT_SHA\" > /app/sha.txt\n",
            ),
            ("app.txt", "app\n"),
            (".dockerignore", "Dockerfile\n.dockerignore\n"),
            // CI passes the commit's sha: the evidence CB003 needs (issue 29)
            (
                ".github/workflows/image.yml",
                "on: push\njobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          context: .\n          build-args: |\n            GIT_SHA=${{ github.sha }}\n",
            ),
        ],
        edits: &[],
        base_args: &[("GIT_SHA", "4f2c1d9")],
        head_args: &[("GIT_SHA", "9b7e0aa")],
    },
    Case {
        name: "cb002-git-and-editor-files-in-a-builder-stage",
        code: "CB002",
        files: &[
            (
                "Dockerfile",
                "FROM {B1} AS build\nWORKDIR /src\nCOPY . .\nRUN cat main.txt > /out.txt && ls -a /src > /listing.txt\n\nFROM {B1}\nCOPY --from=build /out.txt /out.txt\nCMD [\"cat\", \"/out.txt\"]\n",
            ),
            ("main.txt", "hello\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
            (
                ".git/refs/heads/main",
                "1111111111111111111111111111111111111111\n",
            ),
            (".vscode/settings.json", "{}\n"),
        ],
        // a commit moves the branch, and the editor saved its settings
        edits: &[
            (
                ".git/refs/heads/main",
                "2222222222222222222222222222222222222222\n",
            ),
            (".vscode/settings.json", "{\"editor.tabSize\": 2}\n"),
        ],
        base_args: &[],
        head_args: &[],
    },
];

fn fill(s: &str) -> String {
    s.replace("{B1}", BASE1)
}

fn files_of(c: &Case) -> Vec<(String, String)> {
    c.files
        .iter()
        .map(|(p, t)| (p.to_string(), fill(t)))
        .collect()
}

fn head_of(files: &[(String, String)], c: &Case) -> Vec<(String, String)> {
    let mut out = files.to_vec();
    for (p, t) in c.edits {
        match out.iter_mut().find(|(q, _)| q == p) {
            Some(f) => f.1 = t.to_string(),
            None => out.push((p.to_string(), t.to_string())),
        }
    }
    out
}

fn write(dir: &Path, files: &[(String, String)]) {
    let refs: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    write_tree(dir, &refs);
}

/// The fixed files: cachebust's own safe fixes, applied until none is left.
async fn safe_fix(
    files: &[(String, String)],
    code: &str,
    engine: EngineKind,
) -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), files);
    let r = tmp.path().to_str().unwrap();
    let _ = r;
    let repo = cachebust::adapters::fs::SameDir::open(tmp.path()).unwrap();
    let out = cachebust::app::check::fix(&repo, &AnalyzeOptions::new(engine), Applicability::Safe)
        .await
        .unwrap();
    assert!(
        out.applied.iter().any(|a| a.code == code),
        "no safe {code} fix was applied: {:?}",
        out.applied
    );
    let mut fixed = files.to_vec();
    for (p, t) in out.after {
        match fixed.iter_mut().find(|(q, _)| *q == p) {
            Some(f) => f.1 = t,
            None => fixed.push((p, t)),
        }
    }
    fixed
}

/// Files of an image: path → (mode, size, content hash or link target), from `docker export`.
pub(crate) fn image_files(d: &Docker, tag: &str) -> BTreeMap<String, String> {
    // a command for images without CMD; the container never starts
    let id = d.cmd().args(["create", tag, "true"]).output().unwrap();
    assert!(id.status.success(), "docker create {tag}");
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("image.tar");
    let ok = d
        .cmd()
        .args(["export", "-o"])
        .arg(&tar)
        .arg(&id)
        .status()
        .unwrap();
    let _ = d.cmd().args(["rm", "-f", &id]).output();
    assert!(ok.success(), "docker export {tag}");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success(), "tar -x");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link {}", std::fs::read_link(&p).unwrap().display()),
            );
        } else if m.is_dir() {
            out.insert(rel.clone(), format!("dir {mode:o}"));
            walk(root, &p, out);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.insert(
                rel,
                format!("file {mode:o} {} {:016x}", bytes.len(), fnv(&bytes)),
            );
        }
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Run {
    /// Steps (not FROM) BuildKit ran again for the head.
    rebuilt: usize,
    /// Exact predictions that differ from what BuildKit did.
    mismatches: Vec<String>,
    head_tag: String,
}

/// Build base then head of one variant (original or fixed) from fresh directories, and predict.
async fn run_variant(
    d: &Docker,
    c: &Case,
    work: &Path,
    variant: &str,
    base: &[(String, String)],
    head: &[(String, String)],
) -> Run {
    d.prune();
    let bdir: PathBuf = work.join(format!("{variant}-base"));
    let hdir: PathBuf = work.join(format!("{variant}-head"));
    write(&bdir, base);
    write(&hdir, head);
    let tag = format!("cbproof-{}-{variant}", c.name);
    let b = d.build(
        &bdir,
        "Dockerfile",
        None,
        c.base_args,
        None,
        &format!("{tag}-base"),
    );
    assert!(b.ok, "{} {variant}: base build failed\n{}", c.name, b.log);
    let h = d.build(&hdir, "Dockerfile", None, c.head_args, None, &tag);
    assert!(h.ok, "{} {variant}: head build failed\n{}", c.name, h.log);
    let text = &head.iter().find(|(p, _)| p == "Dockerfile").unwrap().1;
    let from_lines: Vec<u32> = cachebust::engine::dockerfile::parse(text)
        .instructions
        .iter()
        .filter(|i| i.kind == cachebust::engine::dockerfile::Kind::From)
        .map(|i| i.line)
        .collect();
    let rebuilt = real_statuses(&h.log, text)
        .iter()
        .filter(|(l, s)| **s == 'R' && !from_lines.contains(l))
        .count();
    let repo = LocalRepo::open(&Spec::Dir(bdir.clone()), &Spec::Dir(hdir.clone()), &bdir).unwrap();
    let mut opts = AnalyzeOptions::new(d.daemon.engine());
    opts.dockerfiles = vec!["Dockerfile".into()];
    opts.build_args = c
        .head_args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    opts.base_build_args = Some(
        c.base_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let report = analyze(&repo, &opts).await.unwrap();
    // where the prediction is exact it must be what BuildKit did; where it depends on build
    // output (`likely`) it is not counted
    let real = real_statuses(&h.log, text);
    let mut mismatches = Vec::new();
    for st in report.dockerfiles.iter().flat_map(|df| &df.steps) {
        if from_lines.contains(&st.line) || st.confidence != Confidence::Exact {
            continue;
        }
        let want = if st.status == Status::Rebuilt {
            'R'
        } else {
            'C'
        };
        if real.get(&st.line) != Some(&want) {
            mismatches.push(format!(
                "line {}: predicted {want}, BuildKit {:?}",
                st.line,
                real.get(&st.line)
            ));
        }
    }
    Run {
        rebuilt,
        mismatches,
        head_tag: tag,
    }
}

#[tokio::test]
async fn safe_fixes_keep_the_image_and_rebuild_less_under_docker_20_10() {
    proofs_on(Daemon::D2010).await;
}

#[tokio::test]
async fn safe_fixes_keep_the_image_and_rebuild_less_under_docker_28() {
    proofs_on(Daemon::D28).await;
}

async fn proofs_on(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let mut report = Vec::new();
    for c in CASES {
        let work = tempfile::tempdir().unwrap();
        let original = files_of(c);
        let fixed = safe_fix(&original, c.code, daemon.engine()).await;
        assert_ne!(original, fixed, "{}: the fix changed nothing", c.name);
        let before = run_variant(
            d,
            c,
            work.path(),
            "original",
            &original,
            &head_of(&original, c),
        )
        .await;
        let after = run_variant(d, c, work.path(), "fixed", &fixed, &head_of(&fixed, c)).await;
        let a = image_files(d, &before.head_tag);
        let b = image_files(d, &after.head_tag);
        assert!(
            a.len() > 100,
            "{}: the exported image holds only {} entries",
            c.name,
            a.len()
        );
        let differ: Vec<String> = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v} vs {:?}", b.get(k)))
            .chain(
                b.keys()
                    .filter(|k| !a.contains_key(*k))
                    .map(|k| format!("{k}: only in the fixed image")),
            )
            .collect();
        assert!(
            differ.is_empty(),
            "{}: the final images differ:\n{}",
            c.name,
            differ.join("\n")
        );
        assert!(
            after.rebuilt < before.rebuilt,
            "{} [{}]: the fixed Dockerfile rebuilt {} steps, the original {}",
            c.name,
            d.label(),
            after.rebuilt,
            before.rebuilt
        );
        assert!(
            before.mismatches.is_empty(),
            "{} [{}]: prediction for the original: {:?}",
            c.name,
            d.label(),
            before.mismatches
        );
        assert!(
            after.mismatches.is_empty(),
            "{} [{}]: prediction for the fixed file: {:?}",
            c.name,
            d.label(),
            after.mismatches
        );
        report.push(format!(
            "{} ({}) [{}]: {} files identical; rebuilt {} steps before the fix, {} after",
            c.name,
            c.code,
            d.label(),
            a.len(),
            before.rebuilt,
            after.rebuilt
        ));
    }
    eprintln!("{}", report.join("\n"));
}
