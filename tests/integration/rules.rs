//! The rule catalog: fixtures per rule with snapshots of findings and fix diffs, invariants of
//! every fix over the 341-file corpus, the corpus firing counts docs/rules/README.md lists, and
//! configuration and inline ignores.

use std::collections::BTreeMap;

use cachebust::adapters::local::{LocalRepo, Spec};
use cachebust::app::analyze::AnalyzeOptions;
use cachebust::app::check::FixOutcome;
use cachebust::engine::EngineKind;
use cachebust::engine::config::Config;
use cachebust::engine::dockerfile::parse;
use cachebust::engine::fix::Applicability;
use cachebust::engine::rules::{self, audit_text};

use crate::parser_corpus::shared;

/// (id, Dockerfile text, .dockerignore text) of every corpus file.
pub fn corpus() -> Vec<(String, String, Option<String>)> {
    let dir = shared().join("corpus/dockerfiles");
    let mut ids: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|d| {
            let text =
                String::from_utf8_lossy(&std::fs::read(d.join("Dockerfile")).unwrap()).into_owned();
            let ignore = std::fs::read_dir(&d)
                .unwrap()
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().ends_with(".dockerignore"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default());
            (
                d.file_name().unwrap().to_string_lossy().into_owned(),
                text,
                ignore,
            )
        })
        .collect()
}

pub fn firing_counts() -> BTreeMap<&'static str, (usize, usize)> {
    let mut counts: BTreeMap<&'static str, (usize, usize)> =
        rules::RULES.iter().map(|r| (r.code(), (0, 0))).collect();
    for (id, text, ignore) in corpus() {
        let f = audit_text(
            &format!("{id}/Dockerfile"),
            &text,
            ignore.as_deref(),
            EngineKind::Buildkit,
            &Config::default(),
        );
        let mut seen = std::collections::BTreeSet::new();
        for x in &f {
            let c = counts.get_mut(x.code).unwrap();
            c.0 += 1;
            if seen.insert(x.code) {
                c.1 += 1;
            }
        }
    }
    counts
}

/// docs/rules/README.md's table lists each rule's corpus firing count: they must be current.
#[test]
fn corpus_firing_counts_match_the_docs() {
    let counts = firing_counts();
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules/README.md"))
            .unwrap();
    let mut listed = BTreeMap::new();
    for line in page.lines().filter(|l| l.starts_with("| [CB0")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        // "[CB001](CB001.md)"
        let code = cells[0].trim_start_matches('[').split(']').next().unwrap();
        let words: Vec<&str> = cells.last().unwrap().split_whitespace().collect();
        // "N findings in M files"
        let n: usize = words[0].parse().unwrap();
        let m: usize = words[3].parse().unwrap();
        listed.insert(code.to_string(), (n, m));
    }
    let actual: BTreeMap<String, (usize, usize)> =
        counts.iter().map(|(c, v)| (c.to_string(), *v)).collect();
    for (code, (n, files)) in &actual {
        eprintln!("{code}: {n} findings in {files} files");
    }
    assert_eq!(
        listed, actual,
        "docs/rules/README.md's table (left) vs the corpus run (right)"
    );
    assert_eq!(actual.len(), rules::RULES.len());
}

#[test]
#[ignore]
fn show_findings() {
    let want = std::env::var("CODE").unwrap_or_default();
    for (id, text, ignore) in corpus() {
        for f in audit_text(
            &format!("{id}/Dockerfile"),
            &text,
            ignore.as_deref(),
            EngineKind::Buildkit,
            &Config::default(),
        ) {
            if f.code == want {
                eprintln!(
                    "{id}:{} {}\n    fix: {:?}",
                    f.line,
                    f.message,
                    f.fix.as_ref().map(|x| (x.applicability, &x.description))
                );
            }
        }
    }
}

/// Copy a fixture into a fresh directory; paths listed in its `MAKE` file are created empty
/// there (names git cannot hold in a fixture, such as `.git/HEAD`).
fn materialize(case: &std::path::Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(case, tmp.path());
    let make = tmp.path().join("MAKE");
    if let Ok(list) = std::fs::read_to_string(&make) {
        for p in list.lines().filter(|l| !l.trim().is_empty()) {
            let f = tmp.path().join(p.trim());
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "").unwrap();
        }
        std::fs::remove_file(make).unwrap();
    }
    tmp
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

fn fixture_cases() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

async fn check_dir(root: &std::path::Path) -> cachebust::engine::report::Report {
    let r = root.to_str().unwrap();
    let _ = r;
    let repo = cachebust::adapters::fs::SameDir::open(root).unwrap();
    let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
    if let Ok(t) = std::fs::read_to_string(root.join(".github/cachebust.yml")) {
        opts.config = cachebust::engine::config::parse(
            "cachebust.yml",
            &t,
            &cachebust::engine::rules::codes(),
        )
        .unwrap();
    }
    cachebust::app::check::check(&repo, &opts).await.unwrap()
}

async fn fix_dir(root: &std::path::Path, level: Applicability) -> FixOutcome {
    let r = root.to_str().unwrap();
    let _ = r;
    let repo = cachebust::adapters::fs::SameDir::open(root).unwrap();
    let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
    if let Ok(t) = std::fs::read_to_string(root.join(".github/cachebust.yml")) {
        opts.config = cachebust::engine::config::parse(
            "cachebust.yml",
            &t,
            &cachebust::engine::rules::codes(),
        )
        .unwrap();
    }
    cachebust::app::check::fix(&repo, &opts, level)
        .await
        .unwrap()
}

/// Findings with their fixes as diffs, as a reviewer reads them.
fn describe(report: &cachebust::engine::report::Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for df in &report.dockerfiles {
        for d in &df.diagnostics {
            let _ = writeln!(
                s,
                "{}:{} diagnostic {:?}: {}",
                df.path, d.line, d.severity, d.message
            );
        }
        for f in &df.findings {
            let _ = writeln!(
                s,
                "{}:{}-{} {} {} {:?} [stage {}]\n  {}",
                df.path, f.line, f.end_line, f.code, f.name, f.severity, f.stage, f.message
            );
            if let Some(x) = &f.fix {
                let _ = writeln!(s, "  fix {:?}: {}", x.applicability, x.description);
                for l in cachebust::render::diff::fix_diff(x, &df.sources).lines() {
                    let _ = writeln!(s, "    {l}");
                }
            }
        }
    }
    if s.is_empty() {
        s.push_str("no findings\n");
    }
    s
}

fn write_back(root: &std::path::Path, out: &FixOutcome) {
    for (p, t) in &out.after {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    }
}

/// Every fixture: findings and fix diffs as snapshots; then `fix --unsafe` written back leaves
/// parsable Dockerfiles, and a second run finds nothing more to fix (idempotent).
#[tokio::test]
async fn fixtures_findings_and_fixes() {
    let mut failures = Vec::new();
    for case in fixture_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = materialize(&case);
        let report = check_dir(tmp.path()).await;
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_suffix(name.clone());
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!("rule_fixture", describe(&report)));

        let first = fix_dir(tmp.path(), Applicability::Unsafe).await;
        write_back(tmp.path(), &first);
        for (p, t) in &first.after {
            if !p.ends_with(".dockerignore") {
                let before_ok = first.before.get(p).is_none_or(|b| parse(b).ok);
                if before_ok && !parse(t).ok {
                    failures.push(format!("{name}: fixed {p} does not parse:\n{t}"));
                }
            }
        }
        let second = fix_dir(tmp.path(), Applicability::Unsafe).await;
        if !second.after.is_empty() {
            failures.push(format!(
                "{name}: a second fix run still changes {:?}",
                second.after.keys().collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A corpus Dockerfile as a tree: the Dockerfile, its `.dockerignore`, a file for every literal
/// COPY/ADD source, the manifests of the package managers its RUNs call, and `src/main.txt`.
fn corpus_tree(text: &str, ignore: Option<&str>) -> Vec<(String, String)> {
    let mut files = vec![("Dockerfile".to_string(), text.to_string())];
    if let Some(i) = ignore {
        files.push((".dockerignore".into(), i.to_string()));
    }
    let mut dirs = vec![String::new()];
    for s in cachebust::engine::discover::context_sources(text) {
        if s.split('/').any(|c| c == ".." || c.is_empty()) || s.len() > 200 {
            continue;
        }
        let last = s.rsplit('/').next().unwrap_or(&s);
        if last.contains('.') || cachebust::engine::discover::is_dockerfile_name(&s) {
            files.push((s.clone(), format!("{s}\n")));
        } else {
            files.push((format!("{s}/main.txt"), "x\n".into()));
            dirs.push(s.clone());
        }
    }
    let df = parse(text);
    let mut ecos = Vec::new();
    for inst in &df.instructions {
        if let Some(c) = rules::run_command(inst) {
            ecos.extend(rules::installs_in(&c));
        }
    }
    for d in &dirs {
        for e in &ecos {
            for m in e.manifests.iter().filter(|m| !m.contains('*')) {
                let p = if d.is_empty() {
                    m.to_string()
                } else {
                    format!("{d}/{m}")
                };
                files.push((p, "{}\n".into()));
            }
        }
    }
    files.push(("src/main.txt".into(), "1\n".into()));
    // a file and a directory at the same path: keep the first
    let mut seen: Vec<String> = Vec::new();
    files.retain(|(p, _)| {
        let clash = seen
            .iter()
            .any(|q| q == p || p.starts_with(&format!("{q}/")) || q.starts_with(&format!("{p}/")));
        if !clash {
            seen.push(p.clone());
        }
        !clash
    });
    files
}

fn write_files(root: &std::path::Path, files: &[(String, String)]) {
    for (p, t) in files {
        let f = root.join(p);
        // sources with names a directory cannot hold here (Windows paths) are left out
        let _ = std::fs::create_dir_all(f.parent().unwrap());
        let _ = std::fs::write(f, t);
    }
}

/// Rebuilt RUN steps of a change from `base` files to `head` files, with build args per side.
async fn rebuilt_runs(
    base: &[(String, String)],
    head: &[(String, String)],
    base_args: &BTreeMap<String, String>,
    head_args: &BTreeMap<String, String>,
) -> usize {
    let b = tempfile::tempdir().unwrap();
    let h = tempfile::tempdir().unwrap();
    write_files(b.path(), base);
    write_files(h.path(), head);
    let repo = LocalRepo::open(
        &Spec::Dir(b.path().into()),
        &Spec::Dir(h.path().into()),
        b.path(),
    )
    .unwrap();
    let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
    opts.dockerfiles = vec!["Dockerfile".into()];
    opts.context = Some(".".into());
    opts.build_args = head_args.clone();
    opts.base_build_args = Some(base_args.clone());
    let r = cachebust::app::analyze::analyze(&repo, &opts)
        .await
        .unwrap();
    r.dockerfiles
        .iter()
        .flat_map(|d| &d.steps)
        .filter(|s| {
            s.status == cachebust::engine::report::Status::Rebuilt
                && s.instruction.starts_with("RUN")
        })
        .count()
}

/// The changes every fixed corpus file is predicted under: a source edit, an edit of the
/// Dockerfile (a comment line at its end), and new values for the volatile build args.
/// (name, head files, base build args, head build args).
type Scenario = (
    &'static str,
    Vec<(String, String)>,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

fn scenarios(files: &[(String, String)]) -> Vec<Scenario> {
    let text = &files[0].1;
    let mut edited = files.to_vec();
    for f in edited.iter_mut() {
        if f.0 == "src/main.txt" {
            f.1 = "2\n".into();
        }
    }
    let mut df_edit = files.to_vec();
    df_edit[0].1 = format!(
        "{}{}# touched\n",
        text,
        if text.ends_with('\n') { "" } else { "\n" }
    );
    let df = parse(text);
    let mut old = BTreeMap::new();
    let mut new = BTreeMap::new();
    // every ARG a stage declares gets a new value (global ARGs name base images)
    let mut in_stage = false;
    for inst in &df.instructions {
        in_stage |= inst.kind == cachebust::engine::dockerfile::Kind::From;
        if let cachebust::engine::dockerfile::Body::Arg(a) = &inst.body {
            for (n, _) in a.iter().filter(|_| in_stage) {
                old.insert(n.clone(), "1111111".to_string());
                new.insert(n.clone(), "2222222".to_string());
            }
        }
    }
    let none = BTreeMap::new();
    vec![
        ("source edit", edited, none.clone(), none.clone()),
        ("Dockerfile edit", df_edit, none.clone(), none),
        ("changed build args", files.to_vec(), old, new),
    ]
}

/// Over the whole corpus: `fix --unsafe` leaves every Dockerfile that parsed parsable, a second
/// run changes nothing, and for each scenario the fixed tree rebuilds no more RUN steps than the
/// original.
#[tokio::test]
async fn corpus_fixes_reparse_converge_and_never_predict_worse() {
    let mut failures = Vec::new();
    let (mut fixed_files, mut applied, mut better) = (0, 0, 0);
    for (id, text, ignore) in corpus() {
        if !parse(&text).ok {
            continue;
        }
        let files = corpus_tree(&text, ignore.as_deref());
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &files);
        let first = fix_dir(dir.path(), Applicability::Unsafe).await;
        if first.after.is_empty() {
            continue;
        }
        fixed_files += 1;
        applied += first.applied.len();
        if let Some(t) = first.after.get("Dockerfile") {
            if !parse(t).ok {
                failures.push(format!("{id}: the fixed Dockerfile does not parse"));
                continue;
            }
        }
        write_back(dir.path(), &first);
        let second = fix_dir(dir.path(), Applicability::Unsafe).await;
        if !second.after.is_empty() {
            let d = cachebust::render::diff::files_diff(&second.before, &second.after);
            failures.push(format!("{id}: a second run still changes files:\n{d}"));
        }
        let mut fixed = files.clone();
        for (p, t) in &first.after {
            match fixed.iter_mut().find(|(q, _)| q == p) {
                Some(f) => f.1 = t.clone(),
                None => fixed.push((p.clone(), t.clone())),
            }
        }
        let orig_s = scenarios(&files);
        let fixed_s = scenarios(&fixed);
        for ((name, oh, ob, oa), (_, fh, fb, fa)) in orig_s.into_iter().zip(fixed_s) {
            let before = rebuilt_runs(&files, &oh, &ob, &oa).await;
            let after = rebuilt_runs(&fixed, &fh, &fb, &fa).await;
            if after > before {
                failures.push(format!(
                    "{id}: {name}: {after} RUN steps rebuild after the fixes, {before} before"
                ));
            } else if after < before {
                better += 1;
            }
        }
    }
    eprintln!(
        "corpus: {fixed_files} files fixed, {applied} fixes applied, {better} scenario predictions improved"
    );
    assert!(
        fixed_files > 100 && better > 20,
        "the corpus run exercised too little: {fixed_files} files, {better} improvements"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each fix alone, of every applicability, applied to its corpus file: the result parses.
#[test]
fn corpus_every_single_fix_reparses() {
    let mut n = 0;
    let mut failures = Vec::new();
    for (id, text, ignore) in corpus() {
        if !parse(&text).ok {
            continue;
        }
        let path = format!("{id}/Dockerfile");
        for f in audit_text(
            &path,
            &text,
            ignore.as_deref(),
            EngineKind::Buildkit,
            &Config::default(),
        ) {
            let Some(x) = &f.fix else { continue };
            let mut files = BTreeMap::from([(path.clone(), text.clone())]);
            for e in &x.edits {
                if e.file != path {
                    if let Some(i) = &ignore {
                        files.insert(e.file.clone(), i.clone());
                    }
                }
            }
            let (out, applied) = cachebust::engine::fix::apply(&files, &[x]);
            assert_eq!(
                applied,
                vec![0],
                "{id}: {} fix does not apply to its own file",
                f.code
            );
            n += 1;
            if let Some(t) = out.get(&path) {
                if !parse(t).ok {
                    failures.push(format!(
                        "{id}:{} {} ({:?}) breaks the parse",
                        f.line, f.code, x.applicability
                    ));
                }
            }
        }
    }
    assert!(n > 300, "only {n} fixes over the corpus");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// docs/rules/CB00N.md (what rule codes in review comments link to) is the rule module's own
/// documentation: `CACHEBUST_UPDATE_RULE_DOCS=1` writes the pages, the test fails when they drift.
#[test]
fn rule_docs_pages_are_the_modules_docs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("src/engine/rules");
    let mut pages = 0;
    for r in cachebust::engine::rules::RULES.iter().map(|r| r.meta()) {
        let prefix = format!("{}_", r.code.to_ascii_lowercase());
        let module = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .unwrap_or_else(|| panic!("no module for {}", r.code));
        let src = std::fs::read_to_string(&module).unwrap();
        let doc: Vec<&str> = src
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| {
                l.trim_start_matches("//!")
                    .strip_prefix(' ')
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect();
        let page = format!(
            "# {} {}\n\n{}. Severity: {}; {}.\n\n{}\n\n<sub>Generated from `{}` by the test `rule_docs_pages_are_the_modules_docs`; silence it with `# cachebust: ignore={}` or in `.github/cachebust.yml`.</sub>\n",
            r.code,
            r.name,
            capitalize(r.summary),
            format!("{:?}", r.severity).to_lowercase(),
            match r.fix {
                Some(a) => format!("best fix: {a:?}").to_lowercase(),
                None => "no fix".into(),
            },
            doc[1..].join("\n").trim(),
            module.strip_prefix(root).unwrap().display(),
            r.code
        );
        let path = root.join(format!("docs/rules/{}.md", r.code));
        if std::env::var_os("CACHEBUST_UPDATE_RULE_DOCS").is_some() {
            std::fs::write(&path, &page).unwrap();
        }
        let have = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing", path.display()));
        assert_eq!(have, page, "{} is out of date", path.display());
        pages += 1;
    }
    assert_eq!(pages, cachebust::engine::rules::RULES.len());
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// CB003 from evidence, not from names (issue 29, class 7): each row is a history of the
/// Dockerfile's `ARG APP_VERSION` default (a value per commit, the commits otherwise editing
/// another file), an optional workflow, and whether CB003 fires on `check` (the repository's
/// history at HEAD), and on `analyze` of the last commit as a change (the base revision's
/// history, the change under review counted).
#[tokio::test]
async fn cb003_volatility_comes_from_history() {
    use crate::cli::git;
    struct Row {
        name: &'static str,
        /// The default in each commit (`None`: a commit that edits another file).
        values: Vec<Option<&'static str>>,
        workflow: Option<&'static str>,
        git: bool,
        fires: bool,
    }
    let many: Vec<Option<&'static str>> = (0..40)
        .map(|i| {
            Some(
                [
                    "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9",
                ][i % 10],
            )
        })
        .collect();
    let mut rare: Vec<Option<&'static str>> = vec![Some("1.0")];
    rare.extend(std::iter::repeat_n(None, 50));
    rare.push(Some("2.0"));
    rare.extend(std::iter::repeat_n(None, 50));
    rare.push(Some("3.0"));
    let rows = [
        Row {
            name: "bumped in every commit",
            values: many.clone(),
            workflow: None,
            git: true,
            fires: true,
        },
        Row {
            name: "changed twice in a hundred commits",
            values: rare.clone(),
            workflow: None,
            git: true,
            fires: false,
        },
        Row {
            name: "no history: a directory",
            values: many.clone(),
            workflow: None,
            git: false,
            fires: false,
        },
        Row {
            name: "a workflow passes the commit's sha",
            values: vec![Some("1.0"), None],
            workflow: Some(
                "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          context: .\n          build-args: |\n            APP_VERSION=${{ github.sha }}\n",
            ),
            git: true,
            fires: true,
        },
    ];
    let df = |v: &str| {
        format!(
            "FROM debian:12\nARG APP_VERSION={v}\nRUN apt-get update && apt-get install -y curl\nRUN curl -fsSL https://example.com/x -o /x\nLABEL version=$APP_VERSION\n"
        )
    };
    let mut failures = Vec::new();
    for r in &rows {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        if r.git {
            git(root, &["init", "-q", "-b", "main"]);
            git(root, &["config", "user.email", "t@example.invalid"]);
            git(root, &["config", "user.name", "t"]);
        }
        if let Some(w) = r.workflow {
            std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
            std::fs::write(root.join(".github/workflows/build.yml"), w).unwrap();
        }
        let mut current = "";
        for (i, v) in r.values.iter().enumerate() {
            match v {
                Some(v) => {
                    current = v;
                    std::fs::write(root.join("Dockerfile"), df(v)).unwrap();
                }
                None => std::fs::write(root.join("notes.txt"), format!("{i}\n")).unwrap(),
            }
            if r.git {
                git(root, &["add", "-A"]);
                git(root, &["commit", "-q", "-m", &format!("c{i}")]);
            }
        }
        let _ = current;
        let report = check_dir(root).await;
        let cb003: Vec<_> = report.dockerfiles[0]
            .findings
            .iter()
            .filter(|f| f.code == "CB003")
            .collect();
        if cb003.is_empty() == r.fires {
            failures.push(format!("{} (check): CB003 {:?}", r.name, cb003));
        }
        if let Some(f) = cb003.first() {
            let why = if r.workflow.is_some() {
                "github.sha"
            } else {
                "changed its value in"
            };
            if !f.message.contains(why) {
                failures.push(format!(
                    "{}: the message gives no evidence: {}",
                    r.name, f.message
                ));
            }
        }
        if r.git {
            // the last commit as a change: the base revision's history
            use cachebust::adapters::local::{LocalRepo, Spec};
            let repo =
                LocalRepo::open(&Spec::Rev("HEAD~1".into()), &Spec::Rev("HEAD".into()), root)
                    .map_err(|(_, e)| e)
                    .unwrap();
            let mut opts = AnalyzeOptions::new(EngineKind::Buildkit);
            if r.workflow.is_some() {
                // the build the workflow declares, with its args
                opts.report_all = true;
            } else {
                opts.dockerfiles = vec!["Dockerfile".into()];
            }
            let rep = cachebust::app::analyze::analyze(&repo, &opts)
                .await
                .unwrap();
            let fired = rep.dockerfiles[0]
                .findings
                .iter()
                .any(|f| f.code == "CB003");
            if fired != r.fires {
                failures.push(format!("{} (analyze): CB003 fired {fired}", r.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
