//! The real-repository corpus (tests/fixtures/corpus, PROVENANCE.md there): the invariants of
//! `support::corpus` over a slice, every commit of it, through the binary. The whole corpus runs
//! in `cargo bench --bench corpus`, which prints violations per repository and invariant.

use std::path::{Path, PathBuf};

use crate::support::corpus::{Options, bundles, check_commit_fixes, check_repo, empty_code_span};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// A slice of the corpus, chosen to cover the setups: Compose with several files (Mailu),
/// bake with inherits and a bake-action workflow (diun), a script-built image (netbox-docker),
/// a polyglot monorepo of many services (microservices-demo), a .NET solution (CleanArchitecture).
const SLICE: &[&str] = &[
    "mailu-mailu",
    "crazy-max-diun",
    "netbox-community-netbox-docker",
    "googlecloudplatform-microservices-demo",
    "ardalis-cleanarchitecture",
];

#[test]
fn invariants_hold_on_a_slice_of_real_repositories() {
    let all = bundles(&corpus_dir());
    assert!(all.len() >= 40, "the corpus has {} repositories", all.len());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cachebust"));
    let opts = Options {
        last: 40,
        same_every: 4,
        fix_commits: 4,
        formats_every: 4,
        real_tools: crate::support::realtools::docker28(),
        discovery_commits: 2,
    };
    let mut failures = Vec::new();
    for name in SLICE {
        let (_, bundle) = all
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not in the corpus"));
        let run = check_repo(name, bundle, &bin, &opts);
        assert!(run.commits >= 40, "{name}: {} commits", run.commits);
        assert!(
            run.same_checked >= 10,
            "{name}: base = head checked {} times",
            run.same_checked
        );
        eprintln!(
            "{name}: {} commits, {} rebuild, {} touch a build's inputs, {} fixes checked, {} outputs scanned",
            run.commits, run.rebuilding, run.touching, run.fixes_checked, run.outputs_checked
        );
        for v in &run.violations {
            failures.push(format!(
                "{name} {} invariant {}: {}",
                v.commit, v.invariant, v.detail
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_empty_code_span_check_tells_delimiters_from_empty_names() {
    assert!(empty_code_span("lines 2, 49: `` is a tag"));
    assert!(empty_code_span("changed: ``"));
    assert!(!empty_code_span("| 11 | `` RUN a `b` c `` | x |"));
    assert!(!empty_code_span("```dockerfile"));
    assert!(!empty_code_span("`a` and `b`"));
}

/// What a fix claims is the re-prediction of the tree with the fix applied to both sides of the
/// change. hoppscotch's CB002 on `prod.Dockerfile:58` (a `.dockerignore` fix the change leaves
/// alone) claimed 197.6 s where the tree re-predicted 228.1 s (aa01e36c: the base took its own
/// fix of the finding instead of the same fix). With its release workflow run on pull requests
/// instead (the same edit on both sides), the builds whose CI cache exports the finding's build
/// imports read the same `.dockerignore`: the claim was 197.6 s where the tree gave 6.6 s
/// (7564faab: the fix was not in their tree).
#[test]
fn a_fix_claims_what_the_tree_with_the_fix_rebuilds() {
    let all = bundles(&corpus_dir());
    let (_, bundle) = all
        .iter()
        .find(|(n, _)| n == "hoppscotch-hoppscotch")
        .expect("hoppscotch is in the corpus");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cachebust"));
    let on_pull_requests = |t: &str| -> String {
        let i = t.find("\non:\n").expect("an on: block");
        let j = t.find("\njobs:").expect("a jobs: block");
        format!("{}\non: pull_request\n{}", &t[..i], &t[j..])
    };
    let runs = [
        check_commit_fixes("hoppscotch-hoppscotch", bundle, &bin, &["aa01e36cb1"], None),
        check_commit_fixes(
            "hoppscotch-hoppscotch",
            bundle,
            &bin,
            &["7564faab67"],
            Some((
                ".github/workflows/release-push-docker.yml",
                &on_pull_requests,
            )),
        ),
    ];
    let mut bad = Vec::new();
    for run in &runs {
        assert!(
            run.fixes_checked >= 5,
            "{} fixes checked",
            run.fixes_checked
        );
        for v in &run.violations {
            bad.push(format!("{} I{}: {}", v.commit, v.invariant, v.detail));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
