//! The review as GitHub will show it, rendered in-process: snapshots of the inline comments,
//! the sticky summary and the job summary for the example pull request, the SARIF document, and
//! hostile file names and instruction text that must not inject markup, mentions or fences.

use cachebust::adapters::local::{LocalRepo, Spec};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::EngineKind;
use cachebust::engine::report::Report;
use cachebust::ports::{
    CheckRun, CodeHost, ExistingCheckRun, HostError, NewReview, Posted, PullFile, PullFiles,
    PullRef, PullState,
};
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
    let repo = LocalRepo::open(&Spec::Rev(base.into()), &Spec::Rev(head.into()), dir).unwrap();
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
            rules_url: Some("https://github.com/cachebust/cachebust/blob/v1/docs/rules"),
            blob_url: Some(&format!("https://github.com/octo/shop/blob/{}", r.head)),
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
    // the merged CB001+CB004 fix of api/Dockerfile spans lines 4-5, across the line the diff
    // deletes: CB004's own part is the one-click suggestion on line 5, the whole patch is in the
    // summary, and no other suggestion touches those lines
    let api: Vec<&review::PlannedComment> = plan
        .inline
        .iter()
        .filter(|c| c.path == "api/Dockerfile")
        .collect();
    let own = api
        .iter()
        .find(|c| !c.own_parts.is_empty())
        .expect("a suggestion of the own part");
    assert_eq!((own.start_line, own.line), (None, 5));
    assert!(
        own.suggestion
            .as_deref()
            .unwrap()
            .contains("--mount=type=cache")
    );
    assert_eq!(api.iter().filter(|c| c.suggestion.is_some()).count(), 1);
    assert!(plan.summary.contains("**Combined patch**"));
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
            rules_url: None,
            blob_url: None,
        },
    );
    assert_eq!(one.inline.len(), 1);
    // a comment may carry several findings (one merged fix): count findings, not comments
    let findings_in = |c: &review::PlannedComment| c.marker.split('+').count();
    let inline_findings: usize = plan.inline.iter().map(findings_in).sum();
    let over = inline_findings - findings_in(&one.inline[0]);
    assert_eq!(one.leftovers.len(), plan.leftovers.len() + over);
    assert!(
        one.summary
            .matches("over the limit of inline comments")
            .count()
            == over
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
            rules_url: None,
            blob_url: None,
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

/// GitHub's flavour of markdown, as comrak implements it (tables, strikethrough, autolinks,
/// task lists, raw HTML passed through as GitHub passes it before sanitising).
pub fn gfm() -> comrak::Options<'static> {
    let mut o = comrak::Options::default();
    o.extension.table = true;
    o.extension.strikethrough = true;
    o.extension.autolink = true;
    o.extension.tasklist = true;
    o.extension.tagfilter = true;
    o.render.r#unsafe = true;
    o
}

/// The code spans and the fenced blocks (info, text) of a body as GitHub parses it.
fn code_of(body: &str) -> (Vec<String>, Vec<(String, String)>) {
    let arena = comrak::Arena::new();
    let root = comrak::parse_document(&arena, body, &gfm());
    let (mut spans, mut blocks) = (Vec::new(), Vec::new());
    for n in root.descendants() {
        match &n.data().value {
            comrak::nodes::NodeValue::Code(c) => spans.push(c.literal.clone()),
            comrak::nodes::NodeValue::CodeBlock(b) => {
                blocks.push((b.info.clone(), b.literal.clone()))
            }
            _ => {}
        }
    }
    (spans, blocks)
}

/// Structural checks of one rendered body: every `<details>` holds its own summary and content
/// (no element opened before it closes inside it, nothing of its content escapes it), and tags
/// balance.
fn assert_structure(body: &str) {
    let html = comrak::markdown_to_html(body, &gfm());
    let tags = regex::Regex::new(r"</?([a-zA-Z][a-zA-Z0-9]*)[^>]*>").unwrap();
    let void = ["br", "hr", "img", "input", "col"];
    let mut stack: Vec<(String, usize)> = Vec::new();
    for m in tags.captures_iter(&html) {
        let whole = m.get(0).unwrap();
        let name = m[1].to_ascii_lowercase();
        if void.contains(&name.as_str()) || whole.as_str().ends_with("/>") {
            continue;
        }
        if whole.as_str().starts_with("</") {
            let (open, at) = stack.pop().unwrap_or_else(|| {
                panic!("</{name}> closes nothing at {}:\n{html}", whole.start())
            });
            assert_eq!(
                open,
                name,
                "</{name}> closes <{open}> at {}:\n{html}",
                whole.start()
            );
            if name == "details" {
                let inner = &html[at..whole.start()];
                let content = inner.split_once("</summary>").map(|(_, c)| c).unwrap_or("");
                assert!(
                    inner.contains("<summary>") && content.trim().len() > 10,
                    "a <details> with no content of its own:\n{inner}"
                );
            }
        } else {
            stack.push((name, whole.end()));
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}:\n{html}");
}

/// Every check on every body of a plan: structure, at most one suggestion per body (none in the
/// summary), no fenced block twice in one body, every suggestion the exact replacement of the
/// lines it anchors, and all suggestions of a file together equal to the fixes they carry.
fn assert_plan(plan: &review::ReviewPlan, rep: &Report) {
    let mut bodies = vec![
        plan.summary.clone(),
        plan.job_summary.clone(),
        plan.review_body.clone(),
    ];
    bodies.extend(plan.inline.iter().map(|c| c.body.clone()));
    for b in &bodies {
        assert!(b.len() <= review::BODY_LIMIT || b == &plan.job_summary);
        assert!(plan.job_summary.len() <= review::JOB_SUMMARY_LIMIT);
        assert_structure(b);
        let (_, blocks) = code_of(b);
        for (i, x) in blocks.iter().enumerate() {
            assert!(
                !blocks[..i].contains(x),
                "a block twice in one body: {x:?}\n{b}"
            );
        }
    }
    for b in [&plan.summary, &plan.job_summary, &plan.review_body] {
        let (_, blocks) = code_of(b);
        assert!(
            blocks.iter().all(|(info, _)| info != "suggestion"),
            "a suggestion outside its comment"
        );
    }
    let mut applied: std::collections::BTreeMap<String, Vec<(u32, u32, String)>> =
        Default::default();
    for c in &plan.inline {
        let (_, blocks) = code_of(&c.body);
        let sug: Vec<&(String, String)> =
            blocks.iter().filter(|(i, _)| i == "suggestion").collect();
        assert!(
            sug.len() <= 1,
            "two suggestions in one comment:\n{}",
            c.body
        );
        match (&c.suggestion, sug.first()) {
            (Some(t), Some((_, lit))) => {
                assert_eq!(lit.trim_end_matches('\n'), t.as_str(), "{}", c.body);
                let start = c.start_line.unwrap_or(c.line);
                applied
                    .entry(c.path.clone())
                    .or_default()
                    .push((start, c.line, t.clone()));
            }
            (None, None) => {}
            (a, b) => panic!("suggestion planned {a:?}, rendered {b:?}:\n{}", c.body),
        }
    }
    for (path, mut sugs) in applied {
        let df = rep.dockerfiles.iter().find(|d| d.path == path).unwrap();
        let src = &df.sources[&path];
        sugs.sort();
        for w in sugs.windows(2) {
            assert!(w[0].1 < w[1].0, "suggestions overlap in {path}: {w:?}");
        }
        // apply them bottom-up, as GitHub applies each to its lines
        let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
        for (a, b, t) in sugs.iter().rev() {
            let new: Vec<String> = if t.is_empty() && !t.contains('\n') {
                Vec::new()
            } else {
                t.split('\n').map(str::to_string).collect()
            };
            lines.splice((*a - 1) as usize..*b as usize, new);
        }
        let got = lines.join("\n") + "\n";
        // the fixes these comments carry, applied by the engine
        let markers: Vec<String> = plan
            .inline
            .iter()
            .filter(|c| c.path == path && c.suggestion.is_some())
            .flat_map(|c| {
                c.marker
                    .split('+')
                    .map(|m| m.split(':').next().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        // a comment offering a finding's own part of a merged fix carries that part
        let own: Vec<&String> = plan.inline.iter().flat_map(|c| &c.own_parts).collect();
        let fixes: Vec<&cachebust::engine::fix::Fix> = df
            .findings
            .iter()
            .filter(|f| markers.contains(&review::marker_id(&path, f)))
            .filter_map(|f| {
                if own.contains(&&review::marker_id(&path, f)) {
                    f.own_fix.as_ref()
                } else {
                    f.fix.as_ref()
                }
            })
            .collect();
        let files = std::collections::BTreeMap::from([(path.clone(), src.clone())]);
        let (want, _) = cachebust::engine::fix::apply(&files, &fixes);
        assert_eq!(
            got, want[&path],
            "the suggestions of {path} do not make the fixes"
        );
    }
}

#[tokio::test]
async fn every_body_renders_with_its_structure_as_github_parses_it() {
    let r = pr_repo();
    let rep = report(&r.dir, &r.base, &r.head).await;
    let files = files_of(pull_files(&r.dir, &r.base, &r.head));
    for max_inline in [30, 1, 0] {
        let plan = review::plan(
            &rep,
            &files,
            &PlanOptions {
                max_inline,
                rules_url: Some("https://github.com/cachebust/cachebust/blob/v1/docs/rules"),
                ..PlanOptions::new(&r.head)
            },
        );
        assert_plan(&plan, &rep);
        // each finding once in the summary: inline ones as one line, the rest in full
        let inline_count = plan.inline.len();
        for l in &plan.leftovers {
            assert_eq!(
                plan.summary
                    .matches(&format!("`{}` line {}\n", l.path, l.finding.line))
                    .count(),
                1,
                "{}",
                plan.summary
            );
        }
        assert_eq!(
            plan.summary.matches("Not inline: ").count(),
            plan.leftovers.len()
        );
        if inline_count > 0 {
            assert!(
                plan.summary
                    .contains(&format!("**On the diff:** {inline_count} comment"))
            );
        }
        // no CLI flags in what a reviewer reads
        for b in std::iter::once(&plan.summary).chain(plan.inline.iter().map(|c| &c.body)) {
            assert!(
                !b.contains("--unsafe") && !b.contains("cachebust fix"),
                "{b}"
            );
        }
        // rule codes link to their page
        for c in &plan.inline {
            assert!(c.body.contains("/docs/rules/CB00"), "{}", c.body);
        }
    }
    // the multi-stage builds carry a stage graph, the single-stage ones none
    let plan = review::plan(&rep, &files, &PlanOptions::new(&r.head));
    let (_, blocks) = code_of(&plan.summary);
    let graphs: Vec<&String> = blocks
        .iter()
        .filter(|(i, _)| i == "mermaid")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(graphs.len(), 2, "gosvc and web are multi-stage");
    assert!(
        graphs
            .iter()
            .any(|g| g.contains("-->|\"COPY --from\"|") && g.contains(":::rebuilt"))
    );
}

/// A pull request that adds a volatile ARG at the top and a LABEL using it further down, both in
/// the diff: the move goes inline as two suggestions (removal and insertion) that together make
/// the fix; a cache-mount fix on a line the move's range would cover stays its own suggestion.
#[tokio::test]
async fn a_move_is_two_suggestions_and_overlapping_fixes_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    let base = "FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nCMD [\"python\", \"app.py\"]\n";
    std::fs::write(dir.join("Dockerfile"), base).unwrap();
    std::fs::write(dir.join("requirements.txt"), "flask\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "Dockerfile\n.dockerignore\n").unwrap();
    std::fs::write(dir.join("app.py"), "print(1)\n").unwrap();
    // CI passes the commit's sha: the evidence CB003 needs (issue 29)
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(
        dir.join(".github/workflows/image.yml"),
        crate::cli::WORKFLOW_GIT_SHA.replace("{context}", "."),
    )
    .unwrap();
    let b = crate::action::commit(dir, "base");
    let head = "FROM python:3.12-slim\nARG GIT_SHA=dev\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nLABEL org.opencontainers.image.revision=$GIT_SHA\nCMD [\"python\", \"app.py\"]\n";
    std::fs::write(dir.join("Dockerfile"), head).unwrap();
    let h = crate::action::commit(dir, "head");
    let rep = report(dir, &b, &h).await;
    let files = files_of(pull_files(dir, &b, &h));
    let plan = review::plan(&rep, &files, &PlanOptions::new(&h));
    assert_plan(&plan, &rep);
    let moves: Vec<&review::PlannedComment> = plan
        .inline
        .iter()
        .filter(|c| c.marker.starts_with("CB003-"))
        .collect();
    assert_eq!(moves.len(), 2, "{:#?}", plan.inline);
    assert_eq!(moves[0].suggestion.as_deref(), Some(""), "line 2 comes out");
    assert_eq!((moves[0].start_line, moves[0].line), (None, 2));
    assert!(
        moves[1]
            .suggestion
            .as_deref()
            .unwrap()
            .starts_with("ARG GIT_SHA=dev\n")
    );
    assert!(moves[0].body.contains("part 1 of 2") && moves[1].body.contains("part 2 of 2"));
    assert!(plan.live_markers.contains(&moves[1].marker));
    insta::assert_snapshot!(
        "review_move_comments",
        moves
            .iter()
            .map(|c| format!("=== lines {:?}..{}\n{}", c.start_line, c.line, c.body))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Issue 14/16: a pull request that adds `COPY . .` above `RUN npm ci` (CB001 moves lines 3-4)
/// where the install also lacks a cache mount (CB004 edits line 4): one suggestion that does
/// both, posted once, carrying both findings; committing it leaves no stale suggestion.
#[tokio::test]
async fn overlapping_fixes_are_one_suggestion_posted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    std::fs::write(dir.join("Dockerfile"), "FROM node:20\nWORKDIR /app\n").unwrap();
    std::fs::write(dir.join("package.json"), "{}\n").unwrap();
    std::fs::write(dir.join("package-lock.json"), "{}\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "Dockerfile\n.dockerignore\n").unwrap();
    std::fs::write(dir.join("server.js"), "1\n").unwrap();
    let b = crate::action::commit(dir, "base");
    let head = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"server.js\"]\n";
    std::fs::write(dir.join("Dockerfile"), head).unwrap();
    std::fs::write(dir.join("server.js"), "2\n").unwrap();
    let h = crate::action::commit(dir, "head");
    let rep = report(dir, &b, &h).await;
    let files = files_of(pull_files(dir, &b, &h));
    let plan = review::plan(&rep, &files, &PlanOptions::new(&h));
    assert_plan(&plan, &rep);
    let with: Vec<&review::PlannedComment> = plan
        .inline
        .iter()
        .filter(|c| c.body.contains("CB001") || c.body.contains("CB004"))
        .collect();
    assert_eq!(with.len(), 1, "{:#?}", plan.inline);
    let c = with[0];
    assert!(
        c.body.contains("CB001") && c.body.contains("CB004"),
        "{}",
        c.body
    );
    assert!(
        c.body.contains("One suggestion for these 2 fixes"),
        "{}",
        c.body
    );
    assert_eq!((c.start_line, c.line), (Some(3), 4));
    assert_eq!(
        c.suggestion.as_deref(),
        Some(
            "COPY package.json package-lock.json ./\nRUN --mount=type=cache,target=/root/.npm npm ci\nCOPY . ."
        )
    );
    // committed, the Dockerfile has neither finding left
    let fixed = head.replace(
        "COPY . .\nRUN npm ci\n",
        "COPY package.json package-lock.json ./\nRUN --mount=type=cache,target=/root/.npm npm ci\nCOPY . .\n",
    );
    let config = cachebust::engine::config::Config::default();
    let left: Vec<&str> = cachebust::engine::rules::audit_text(
        "Dockerfile",
        &fixed,
        Some("Dockerfile\n.dockerignore\n"),
        cachebust::engine::EngineKind::Buildkit,
        &config,
    )
    .iter()
    .map(|f| f.code)
    .filter(|c| *c == "CB001" || *c == "CB004")
    .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn bad_input_stays_under_the_limits_and_keeps_its_structure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    // a 200-character path
    let mut sub = String::new();
    while sub.len() < 200 - "/Dockerfile".len() - 4 {
        sub.push_str("deep-");
    }
    let sub = format!("svc/{}", &sub[..200 - "/Dockerfile".len() - 4]);
    let df = format!("{sub}/Dockerfile");
    assert_eq!(df.len(), 200);
    std::fs::create_dir_all(dir.join(&sub)).unwrap();
    std::fs::write(dir.join(&sub).join("package.json"), "{}").unwrap();
    std::fs::write(dir.join(&sub).join("package-lock.json"), "{}").unwrap();
    std::fs::write(dir.join(&df), "FROM node:20\nRUN true\n").unwrap();
    let b = crate::action::commit(dir, "base");
    // installs with instruction text full of markup, each a finding; the build is copied 20
    // times (paths of 200 characters) for 500 findings
    let hostile = "echo \"`date` | <details><summary>x</summary> <!-- c --> @admin ``` |\"";
    let mut text =
        String::from("FROM node:20\nWORKDIR /app\nCOPY package.json package-lock.json ./\n");
    for i in 0..25 {
        text.push_str(&format!("RUN npm ci --prefix p{i} && {hostile}\n"));
    }
    std::fs::write(dir.join(&df), &text).unwrap();
    let h = crate::action::commit(dir, "head");
    let one = report(dir, &b, &h).await;
    let files_one = files_of(pull_files(dir, &b, &h));
    let mut rep = one.clone();
    rep.dockerfiles.clear();
    let mut files = Vec::new();
    for k in 0..20 {
        let path = format!(
            "{}{k:02}{}",
            &df[..df.len() - "/Dockerfile".len() - 2],
            "/Dockerfile"
        );
        assert_eq!(path.len(), 200);
        let mut d = one.dockerfiles[0].clone();
        let src = d.sources.remove(&df).unwrap();
        d.sources.insert(path.clone(), src);
        for f in &mut d.findings {
            for e in f.fix.iter_mut().flat_map(|x| x.edits.iter_mut()) {
                if e.file == df {
                    e.file = path.clone();
                }
            }
        }
        d.path = path.clone();
        rep.dockerfiles.push(d);
        for f in &files_one {
            if f.path == df {
                files.push(PullFile {
                    path: path.clone(),
                    ..f.clone()
                });
            }
        }
    }
    let relevant: usize = rep
        .dockerfiles
        .iter()
        .map(|d| d.findings.iter().filter(|f| f.relevant).count())
        .sum();
    assert!(relevant >= 500, "{relevant} findings");
    let plan = review::plan(&rep, &files, &PlanOptions::new(&h));
    assert!(
        plan.summary.len() <= review::BODY_LIMIT,
        "{}",
        plan.summary.len()
    );
    assert!(plan.summary.contains("more suggestion"), "the cut is said");
    assert_eq!(plan.inline.len(), review::DEFAULT_MAX_INLINE);
    assert_plan(&plan, &rep);
    // the instruction text survives byte for byte inside code spans
    let line = format!("RUN npm ci --prefix p0 && {hostile}");
    assert!(plan.job_summary.len() < review::JOB_SUMMARY_LIMIT);
    let (spans, _) = code_of(&plan.job_summary);
    assert!(
        spans.iter().any(|s| s == &line),
        "no code span holds {line:?}"
    );
    let (_, blocks) = code_of(&plan.inline[0].body);
    assert!(
        blocks
            .iter()
            .any(|(i, t)| i == "suggestion" && t.contains(hostile))
    );
    // nothing from the tree becomes a mention or HTML
    let code_re = regex::Regex::new(r"(?s)<code>.*?</code>|<pre.*?</pre>").unwrap();
    for body in std::iter::once(&plan.summary).chain(plan.inline.iter().map(|c| &c.body)) {
        let html = comrak::markdown_to_html(body, &gfm());
        assert!(!html.contains("<!-- c -->"), "a comment from the tree");
        let text_only = code_re.replace_all(&html, "");
        assert!(!text_only.contains("@admin"), "a mention");
        assert!(
            !text_only.contains("<summary>x</summary>"),
            "HTML from the tree"
        );
    }
}

/// Every line the Action prints and every note it appends, in one place (`render::action`).
#[test]
fn action_lines() {
    use cachebust::render::action::{self, NotPosted, PostedCounts};
    let mut o = String::new();
    o.push_str(&action::nothing_posted(3, NotPosted::NoPullRequest));
    o.push('\n');
    o.push_str(&action::nothing_posted(0, NotPosted::SummaryMode));
    o.push('\n');
    o.push_str(&action::posted(&PostedCounts {
        rebuilt: 4,
        inline_posted: 2,
        inline_existing: 1,
        not_inline: 3,
        stale_deleted: 1,
    }));
    o.push('\n');
    o.push_str(action::FILES_TRUNCATED);
    o.push('\n');
    let why = action::shallow_listing_failed("GitHub server error (502): bad gateway");
    o.push_str(&why);
    o.push('\n');
    o.push_str(&action::no_prediction_summary(&why));
    let (line, warning, note) = action::degraded(&action::delivering_failed(
        "cannot reach GitHub: timed out\n",
    ));
    o.push_str(&format!("{line}\n{warning}\n{note}"));
    let (line, warning, note) = action::degraded(&action::listing_failed("not found on GitHub: x"));
    o.push_str(&format!("{line}\n{warning}\n{note}"));
    let (warning, note) = action::fallback("GitHub refused to post (403): Resource not accessible");
    o.push_str(&format!("{warning}\n{note}"));
    o.push_str(&action::dry_run_files_unlisted(
        "cannot reach GitHub: refused",
    ));
    o.push('\n');
    o.push_str(&action::dry_run_requests(&[
        (
            "POST".into(),
            "/repos/o/r/issues/1/comments".into(),
            Some("{\n  \"body\": \"x\"\n}".into()),
        ),
        ("DELETE".into(), "/repos/o/r/pulls/comments/9".into(), None),
    ]));
    o.push_str(&action::dry_run_requests(&[]));
    insta::assert_snapshot!(o);
}

/// The server's check run of the example pull request: title, conclusion, annotations.
#[tokio::test]
async fn example_check_run_text() {
    let r = pr_repo();
    let rep = report(&r.dir, &r.base, &r.head).await;
    let run = cachebust::render::checkrun::check_run(&rep);
    let mut o = format!("{}\n{}\n", run.title, run.conclusion);
    for a in &run.annotations {
        o.push_str(&format!(
            "{} {}-{} {} | {} | {}\n",
            a.path, a.start_line, a.end_line, a.level, a.title, a.message
        ));
    }
    insta::assert_snapshot!(o);
    // nothing changed: success, and a title for zero steps
    let same = report(&r.dir, &r.head, &r.head).await;
    let run = cachebust::render::checkrun::check_run(&same);
    assert_eq!(run.conclusion, "success", "{:?}", run.annotations);
    assert!(run.annotations.is_empty());
    assert!(
        run.title.starts_with("0 steps lose their cache"),
        "{}",
        run.title
    );
}

/// A code host that counts its calls and fails the ones named in `fail` with a 502.
#[derive(Default)]
struct Counting {
    calls: std::sync::Mutex<Vec<&'static str>>,
    fail: Vec<&'static str>,
}

impl Counting {
    fn call(&self, name: &'static str) -> Result<(), HostError> {
        self.calls.lock().unwrap().push(name);
        if self.fail.contains(&name) || self.fail.contains(&"*") {
            return Err(HostError::Server {
                status: 502,
                message: "Bad Gateway".into(),
            });
        }
        Ok(())
    }
    fn count(&self, name: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == name)
            .count()
    }
}

impl CodeHost for Counting {
    async fn pull_request(&self, pr: &PullRef) -> Result<PullState, HostError> {
        self.call("pull_request").map(|_| PullState {
            head_sha: pr.head_sha.clone(),
            base_sha: pr.base_sha.clone(),
            base_ref: None,
        })
    }
    async fn pull_files(&self, _: &PullRef) -> Result<PullFiles, HostError> {
        self.call("pull_files").map(|_| PullFiles::default())
    }
    async fn reviews(&self, _: &PullRef) -> Result<Vec<Posted>, HostError> {
        self.call("reviews").map(|_| Vec::new())
    }
    async fn review_comments(&self, _: &PullRef) -> Result<Vec<Posted>, HostError> {
        self.call("review_comments").map(|_| Vec::new())
    }
    async fn issue_comments(&self, _: &PullRef) -> Result<Vec<Posted>, HostError> {
        self.call("issue_comments").map(|_| Vec::new())
    }
    async fn create_review(&self, _: &PullRef, _: &NewReview) -> Result<u64, HostError> {
        self.call("create_review").map(|_| 1)
    }
    async fn update_review(&self, _: &PullRef, _: u64, _: &str) -> Result<(), HostError> {
        self.call("update_review")
    }
    async fn delete_review_comment(&self, _: &PullRef, _: u64) -> Result<(), HostError> {
        self.call("delete_review_comment")
    }
    async fn create_issue_comment(&self, _: &PullRef, _: &str) -> Result<u64, HostError> {
        self.call("create_issue_comment").map(|_| 2)
    }
    async fn update_issue_comment(&self, _: &PullRef, _: u64, _: &str) -> Result<(), HostError> {
        self.call("update_issue_comment")
    }
    async fn delete_issue_comment(&self, _: &PullRef, _: u64) -> Result<(), HostError> {
        self.call("delete_issue_comment")
    }
    async fn create_check_run(&self, _: &PullRef, _: &CheckRun) -> Result<u64, HostError> {
        self.call("create_check_run").map(|_| 3)
    }
    async fn update_check_run(&self, _: &PullRef, _: u64, _: &CheckRun) -> Result<(), HostError> {
        self.call("update_check_run")
    }
    async fn find_check_run(
        &self,
        _: &PullRef,
        _: &str,
        _: &str,
    ) -> Result<Option<ExistingCheckRun>, HostError> {
        self.call("find_check_run").map(|_| None)
    }
}

/// One retry policy: `publish` calls each endpoint once (the GitHub adapter retries what is
/// idempotent, the worker's job back-off the rest), and a POST is never sent twice.
#[tokio::test]
async fn publishing_retries_nothing_and_never_resends_a_post() {
    use cachebust::app::publish::{PublishOptions, Unguarded, publish};
    let r = pr_repo();
    let rep = report(&r.dir, &r.base, &r.head).await;
    let files = files_of(pull_files(&r.dir, &r.base, &r.head));
    let pr = PullRef {
        owner: "octo".into(),
        repo: "shop".into(),
        number: 7,
        head_sha: r.head.clone(),
        base_sha: r.base.clone(),
    };
    // a lost answer is looked for at once and after each wait (two here)
    let opts = PublishOptions {
        bot_login: Some("github-actions[bot]".into()),
        reconcile: vec![std::time::Duration::ZERO; 2],
        ..PublishOptions::default()
    };
    // everything fails: one call, then the error goes up (the job is queued again)
    let host = Counting {
        fail: vec!["*"],
        ..Default::default()
    };
    let e = publish(&host, &pr, &rep, &files, None, &opts, &mut Unguarded)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(*host.calls.lock().unwrap(), ["review_comments"]);
    // the review's POST fails: it is looked for three times (it may have landed, or land
    // late), not sent again, and the error says the job must wait before it posts again
    let host = Counting {
        fail: vec!["create_review"],
        ..Default::default()
    };
    let e = publish(&host, &pr, &rep, &files, None, &opts, &mut Unguarded)
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::Unsettled(_)), "{e}");
    assert_eq!(
        *host.calls.lock().unwrap(),
        [
            "review_comments",
            "create_review",
            "reviews",
            "reviews",
            "reviews"
        ]
    );
    // the summary's POST fails likewise
    let host = Counting {
        fail: vec!["create_issue_comment"],
        ..Default::default()
    };
    assert!(
        publish(&host, &pr, &rep, &files, None, &opts, &mut Unguarded)
            .await
            .is_err()
    );
    assert_eq!(host.count("create_issue_comment"), 1);
    assert_eq!(
        host.count("issue_comments"),
        4,
        "listed, then looked for three times"
    );
    // nothing fails: each call once
    let host = Counting::default();
    publish(&host, &pr, &rep, &files, None, &opts, &mut Unguarded)
        .await
        .unwrap();
    assert_eq!(
        *host.calls.lock().unwrap(),
        [
            "review_comments",
            "create_review",
            "issue_comments",
            "create_issue_comment"
        ]
    );
}

/// The adapter is the one layer that retries: an idempotent GET as often as its `attempts`,
/// a POST never, against GitHub answering 502 every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_retries_idempotent_calls_only() {
    use crate::support::github::{Fault, fake};
    use cachebust::adapters::github::GitHub;
    let Some(f) = fake() else { return };
    let fault = |method: &'static str, suffix: &str| Fault {
        method,
        path_suffix: suffix.into(),
        status: 502,
        body: "{\"message\":\"Bad Gateway\"}".into(),
        headers: vec![],
        land: false,
        land_after: None,
    };
    for _ in 0..20 {
        let mut st = f.state();
        st.faults.push(fault("GET", "/issues/7/comments"));
        st.faults.push(fault("POST", "/issues/7/comments"));
    }
    let mut gh = GitHub::with_token(&f.url, "ghp_test").unwrap();
    gh.backoff = std::time::Duration::from_millis(1);
    gh.attempts = 3;
    let pr = PullRef {
        owner: "octo".into(),
        repo: "shop".into(),
        number: 7,
        head_sha: "a".repeat(40),
        base_sha: "b".repeat(40),
    };
    let count = |method: &str| {
        f.state()
            .requests
            .iter()
            .filter(|q| q.method == method && q.path.ends_with("/issues/7/comments"))
            .count()
    };
    assert!(gh.issue_comments(&pr).await.is_err());
    assert_eq!(count("GET"), 3, "a GET is tried `attempts` times");
    assert!(gh.create_issue_comment(&pr, "x").await.is_err());
    assert_eq!(count("POST"), 1, "a POST is sent once");
}

/// One set of numbers per review (issue 32): the example pull request's report rendered for
/// every surface — the review body, the summary comment, the job summary, the check run, the
/// CLI's text and markdown — and the numbers each states compared: rebuilt steps, the time of
/// this change's first build, the avoidable part, and how many comments went inline.
#[tokio::test]
async fn every_surface_states_the_same_numbers() {
    let r = pr_repo();
    let rep = report(&r.dir, &r.base, &r.head).await;
    let files = files_of(pull_files(&r.dir, &r.base, &r.head));
    let plan = review::plan(&rep, &files, &PlanOptions::new(&r.head));
    let check = cachebust::render::checkrun::check_run(&rep);
    let text = cachebust::render::text::render(&rep);
    let md = cachebust::render::markdown::render(&rep);
    let one = |re: &str, s: &str| -> String {
        let re = regex::Regex::new(re).unwrap();
        let hits: Vec<String> = re.captures_iter(s).map(|c| c[1].to_string()).collect();
        assert!(!hits.is_empty(), "no {re} in:\n{s}");
        assert!(
            hits.iter().all(|h| *h == hits[0]),
            "{re}: {hits:?} in:\n{s}"
        );
        hits[0].clone()
    };
    let md_surfaces = [
        ("review body", &plan.review_body),
        ("summary", &plan.summary),
        ("job summary", &plan.job_summary),
        ("CLI markdown", &md),
    ];
    // the time of this change's first build
    let time = one(r"steps? rebuilds?, about (\d[^.;]*?) more on this", &text);
    for (name, s) in md_surfaces {
        assert_eq!(
            one(r"\+([^·]+?) on this (?:PR|change)'s first build", s),
            time,
            "{name}"
        );
    }
    // the check run says it as the others do: more on the first build, not on every build
    assert_eq!(
        one(
            r"\(about ([^)]+?) more on this change's first build\)",
            &check.title
        ),
        time,
        "check run"
    );
    // rebuilt steps
    let steps = one(r"(\d+) steps? rebuilds?, about", &text);
    assert_eq!(one(r"^(\d+) steps? lose", &check.title), steps, "check run");
    for (name, s) in &md_surfaces[1..] {
        assert_eq!(
            one(r"(?m)^(\d+) of \d+ build steps? lose", s),
            steps,
            "{name}"
        );
    }
    // the avoidable part
    let avoidable = one(r"· ([^·.]+?) avoidable", &md);
    for (name, s) in md_surfaces {
        assert_eq!(one(r"· ([^·.]+?) avoidable", s), avoidable, "{name}");
    }
    // comments on the diff: the review body's count, the summary's headline and list, the plan
    let inline = plan.inline.len().to_string();
    let body = &plan.review_body;
    let clicks = regex::Regex::new(r"(\d+) suggestions? below").unwrap();
    let by_hand = regex::Regex::new(r"(\d+) comments? (?:below|whose)").unwrap();
    let n = |re: &regex::Regex| {
        re.captures(body)
            .map_or(0, |c| c[1].parse::<usize>().unwrap())
    };
    assert_eq!(
        (n(&clicks) + n(&by_hand)).to_string(),
        inline,
        "review body: {body}"
    );
    assert_eq!(
        one(r"· (\d+) fix(?:es)? inline", &plan.summary),
        inline,
        "summary"
    );
    assert_eq!(
        one(r"On the diff:\*\* (\d+) comments?", &plan.summary),
        inline,
        "summary list"
    );
    // savings: each patch's saving on this change claimed once, with the same figure, on every
    // surface that lists the findings; a patch merged for several findings (CB001+CB004 on
    // api/Dockerfile, the two CB004 of gosvc/Dockerfile) counts once
    let mut patches = std::collections::BTreeMap::new();
    for df in &rep.dockerfiles {
        for f in df.findings.iter().filter(|f| f.relevant) {
            let saved = cachebust::render::saved_seconds(f);
            if let (Some(x), true) = (&f.fix, saved > 0.05) {
                patches.insert((df.path.clone(), format!("{x:?}")), saved);
            }
        }
    }
    let mut want: Vec<String> = patches
        .values()
        .map(|s| cachebust::render::duration(*s))
        .collect();
    want.sort();
    assert!(want.len() >= 4, "{want:?}");
    let claimed = |s: &str| -> Vec<String> {
        let re = regex::Regex::new(
            r"saves about (\d[^(),;]*?) on this change|about (\d[^(),;]*?) (?:saved|faster) per build",
        )
        .unwrap();
        // the terminal text wraps its lines
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut v: Vec<String> = re
            .captures_iter(&s)
            .map(|c| c.get(1).or(c.get(2)).unwrap().as_str().to_string())
            .collect();
        v.sort();
        v
    };
    let json: Value = serde_json::from_str(&cachebust::render::json::render(
        &rep,
        &cachebust::render::RunMeta::default(),
    ))
    .unwrap();
    let savings_texts: String = json["dockerfiles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["savings_text"].as_str().map(|s| format!("{s}\n")))
        .collect();
    let check_messages: String = check
        .annotations
        .iter()
        .map(|a| format!("{}\n", a.message))
        .collect();
    let annotations = review::annotations(&rep);
    for (name, s) in [
        ("summary", plan.summary.as_str()),
        ("job summary", plan.job_summary.as_str()),
        ("CLI markdown", md.as_str()),
        ("CLI text", text.as_str()),
        ("JSON savings_text", savings_texts.as_str()),
        ("check run", check_messages.as_str()),
        ("annotations", annotations.as_str()),
    ] {
        assert_eq!(claimed(s), want, "{name}:\n{s}");
    }
    // the inline comments together claim each of their patches once too
    let bodies: String = plan.inline.iter().map(|c| c.body.as_str()).collect();
    let mut inline_claims = claimed(&bodies);
    assert!(inline_claims.iter().all(|c| want.contains(c)), "{bodies}");
    inline_claims.dedup();
    assert_eq!(claimed(&bodies), inline_claims, "{bodies}");
    // a finding on a step this change does not re-run claims nothing on this change (CB004 on
    // gosvc's `go mod download`, whose patch is merged with the `go build` step's): it says its
    // patch saves on later changes
    let place = regex::Regex::new(r"`([^`]+)` line (\d+)").unwrap();
    let mut later = 0;
    for l in plan.summary.lines() {
        let Some(c) = place.captures(l) else { continue };
        let (path, line) = (&c[1], c[2].parse::<u32>().unwrap());
        let Some(df) = rep.dockerfiles.iter().find(|d| d.path == path) else {
            continue;
        };
        let cached = df
            .steps
            .iter()
            .any(|s| s.line == line && s.status == cachebust::engine::report::Status::Cached);
        if cached {
            assert!(claimed(l).is_empty(), "{l}");
            later += usize::from(l.contains("saves on later"));
        }
    }
    assert!(later >= 1, "{}", plan.summary);
}
