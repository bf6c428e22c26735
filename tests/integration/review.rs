//! The review as GitHub will show it, rendered in-process: snapshots of the inline comments,
//! the sticky summary and the job summary for the example pull request, the SARIF document, and
//! hostile file names and instruction text that must not inject markup, mentions or fences.

use cachebust::adapters::local::LocalRepo;
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::report::Report;
use cachebust::ports::PullFile;
use cachebust::render::review::{self, PlanOptions};
use serde_json::Value;

use crate::action::{pr_repo, pull_files};
use crate::cli::git;

fn files_of(v: Vec<Value>) -> Vec<PullFile> {
    v.into_iter()
        .map(|f| PullFile {
            path: f["filename"].as_str().unwrap().into(),
            status: f["status"].as_str().unwrap().into(),
            previous_path: None,
            patch: f["patch"].as_str().map(str::to_string),
        })
        .collect()
}

async fn report(dir: &std::path::Path, base: &str, head: &str) -> Report {
    let repo = LocalRepo::open(base, head, dir).unwrap();
    analyze(&repo, &AnalyzeOptions::new(EngineKind::Buildkit))
        .await
        .unwrap()
}

#[tokio::test]
async fn example_review_comments_and_summaries() {
    let r = pr_repo();
    let rep = report(&r.dir, &r.base, &r.head).await;
    let files = files_of(pull_files(&r.dir, &r.base, &r.head));
    let plan = review::plan(
        &rep,
        &files,
        &PlanOptions {
            head_sha: &r.head,
            max_inline: 30,
            run_url: Some("https://github.com/octo/shop/actions/runs/77"),
            files_note: None,
        },
    );
    let redact = |s: &str| s.replace(&r.head, "<head-sha>");
    let mut comments = String::new();
    for c in &plan.inline {
        comments.push_str(&format!(
            "=== {} lines {:?}..{}\n{}\n",
            c.path, c.start_line, c.line, c.body
        ));
    }
    insta::assert_snapshot!("review_inline_comments", comments);
    insta::assert_snapshot!("review_summary_comment", redact(&plan.summary));
    insta::assert_snapshot!("review_body", redact(&plan.review_body));
    assert_eq!(
        plan.summary,
        review::truncate(&plan.summary, review::BODY_LIMIT)
    );
    assert!(plan.job_summary.starts_with(review::SUMMARY_MARKER));
    // the same plan with a limit of one inline comment: the rest is listed in the summary
    let one = review::plan(
        &rep,
        &files,
        &PlanOptions {
            head_sha: &r.head,
            max_inline: 1,
            run_url: None,
            files_note: None,
        },
    );
    assert_eq!(one.inline.len(), 1);
    assert_eq!(
        one.leftovers.len(),
        plan.leftovers.len() + plan.inline.len() - 1
    );
    assert!(
        one.summary
            .matches("over the limit of inline comments")
            .count()
            == plan.inline.len() - 1
    );
    // SARIF of the same report
    let sarif: Value =
        serde_json::from_str(&cachebust::render::sarif::render(&rep, false)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for res in run["results"].as_array().unwrap() {
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], res["ruleId"]);
        assert!(
            res["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    assert!(
        run["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ruleId"] == "cache-miss")
    );
    assert!(run["results"].as_array().unwrap().iter().any(|r| {
        r["ruleId"] == "CB004"
            && r["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"]
                .as_str()
                .unwrap()
                .contains("--mount=type=cache")
    }));
}

#[tokio::test]
async fn hostile_names_and_instructions_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    let evil = "svc/<img src=x onerror=alert(1)>@admin`x`[a](b)|";
    let df = format!("{evil}/Dockerfile");
    let text = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && echo \"````</details><!-- x --> @admin\"\n";
    std::fs::create_dir_all(dir.join(evil)).unwrap();
    std::fs::write(dir.join(&df), text).unwrap();
    std::fs::write(dir.join(evil).join("package.json"), "{}").unwrap();
    std::fs::write(dir.join(evil).join("package-lock.json"), "{}").unwrap();
    let base = crate::action::commit(dir, "base");
    std::fs::write(dir.join(evil).join("index.js"), "1").unwrap();
    std::fs::write(dir.join(&df), text.replace("npm ci", "npm ci --no-audit")).unwrap();
    let head = crate::action::commit(dir, "head");
    let rep = report(dir, &base, &head).await;
    let files = files_of(pull_files(dir, &base, &head));
    let plan = review::plan(
        &rep,
        &files,
        &PlanOptions {
            head_sha: &head,
            max_inline: 30,
            run_url: None,
            files_note: None,
        },
    );
    assert!(!plan.inline.is_empty(), "the RUN line is in the diff");
    let mut all = vec![plan.summary.clone(), plan.review_body.clone()];
    all.extend(plan.inline.iter().map(|c| c.body.clone()));
    for body in &all {
        // outside code, nothing from the tree becomes markup, HTML or a mention
        let prose = strip_code(body);
        for tag in ["<img", "</details><!--", "<!-- x"] {
            for (i, _) in prose.match_indices(tag) {
                assert!(prose[..i].ends_with('\\'), "unescaped {tag}: {prose}");
            }
        }
        assert!(!prose.contains(" @admin"), "a mention: {prose}");
        // outside code, only our own markers open HTML comments
        for (i, _) in prose.match_indices("<!--") {
            assert!(
                prose[i..].starts_with("<!-- cachebust:") || prose[..i].ends_with('\\'),
                "a foreign comment opens at {i}: {prose}"
            );
        }
    }
    let c = &plan.inline[0];
    let fence_len = c
        .body
        .lines()
        .find(|l| l.ends_with("suggestion"))
        .map(|l| l.len() - "suggestion".len())
        .unwrap();
    assert!(
        fence_len > 4,
        "the fence outgrows the four backticks in the RUN line: {}",
        c.body
    );
    insta::assert_snapshot!("review_hostile_comment", c.body.clone());
}

/// Body text outside fenced and inline code spans.
fn strip_code(s: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<usize> = None;
    for line in s.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match fence {
            Some(n) if ticks >= n => fence = None,
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                // drop inline code spans: runs of N backticks close with N backticks
                let mut rest = line;
                while let Some(i) = rest.find('`') {
                    out.push_str(&rest[..i]);
                    let n = rest[i..].chars().take_while(|c| *c == '`').count();
                    let after = &rest[i + n..];
                    let close = "`".repeat(n);
                    match after.find(&close) {
                        Some(j) => rest = &after[j + n..],
                        None => {
                            rest = after;
                        }
                    }
                }
                out.push_str(rest);
                out.push('\n');
            }
        }
    }
    out
}
