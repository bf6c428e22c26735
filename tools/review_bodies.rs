//! Writes the review cachebust would post for two commits of a local repository, for
//! `tools/screenshots.sh`: `summary.md` (the sticky summary comment), `review-body.md` (the
//! review's own body), and per inline comment
//! `comment-N.md` with `original-N.txt` (the lines its suggestion replaces) and `comment-N.txt`
//! (path and line). The patches come from git, as the Action's dry run takes them.
//!
//! `cargo run --example review-bodies -- REPO BASE HEAD OUTDIR`

use cachebust::adapters::git::GitRepo;
use cachebust::adapters::local::{LocalRepo, Spec};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::ports::{PullFile, RepoSource};
use cachebust::render::review::{self, PlanOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (dir, base, head, out) = (
        std::path::Path::new(&a[0]),
        &a[1],
        &a[2],
        std::path::Path::new(&a[3]),
    );
    let repo = LocalRepo::open(&Spec::Rev(base.clone()), &Spec::Rev(head.clone()), dir).unwrap();
    let report = analyze(&repo, &AnalyzeOptions::new(EngineKind::Buildkit))
        .await
        .unwrap();
    let git = GitRepo::open(dir).unwrap();
    let paths: Vec<String> = repo
        .changes()
        .await
        .unwrap()
        .iter()
        .map(|c| c.path.clone())
        .collect();
    let files: Vec<PullFile> = git
        .patches(base, head, &paths)
        .unwrap()
        .into_iter()
        .map(|(path, patch)| PullFile {
            path,
            status: "modified".into(),
            previous_path: None,
            patch: Some(patch),
        })
        .collect();
    let blob = format!("https://github.com/octo/shop/blob/{head}");
    let plan = review::plan(
        &report,
        &files,
        &PlanOptions {
            run_url: Some("https://github.com/octo/shop/actions/runs/77"),
            rules_url: Some("https://github.com/cachebust/cachebust/blob/v0.1.0/docs/rules"),
            blob_url: Some(&blob),
            ..PlanOptions::new(head)
        },
    );
    std::fs::write(out.join("summary.md"), &plan.summary).unwrap();
    std::fs::write(out.join("review-body.md"), &plan.review_body).unwrap();
    for (i, c) in plan.inline.iter().enumerate() {
        std::fs::write(out.join(format!("comment-{i}.md")), &c.body).unwrap();
        let src = std::fs::read_to_string(dir.join(&c.path)).unwrap_or_default();
        let first = c.start_line.unwrap_or(c.line) as usize;
        let lines: Vec<&str> = src
            .lines()
            .skip(first - 1)
            .take(c.line as usize + 1 - first)
            .collect();
        std::fs::write(
            out.join(format!("original-{i}.txt")),
            lines.join("\n") + "\n",
        )
        .unwrap();
        std::fs::write(
            out.join(format!("comment-{i}.txt")),
            format!(
                "<b>github-actions</b> commented on <b>{}</b> line {}",
                c.path, c.line
            ),
        )
        .unwrap();
    }
}
