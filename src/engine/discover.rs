//! Which files are Dockerfiles and compose files, and what a Dockerfile reads from its build
//! context (used to pick a context when none is given). Pure name and text rules.

use super::dockerfile::{self, Body, CopySource, Kind};

/// Directories never searched for Dockerfiles.
pub const SKIPPED_DIRS: &[&str] = &[".git", "node_modules"];

/// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, `*.dockerfile`, and Podman's names for the
/// same file, `Containerfile`, `Containerfile.*`, `*.containerfile` (not their `.dockerignore`
/// files). A Containerfile is built with `-f`: Docker 28.5.2 / buildx 0.29.1 default to
/// `Dockerfile` only, and read `<file>.dockerignore` and `.dockerignore`, never
/// `.containerignore` (measured).
pub fn is_dockerfile_name(path: &str) -> bool {
    if path.split('/').any(|c| SKIPPED_DIRS.contains(&c)) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".dockerignore") {
        return false;
    }
    name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
        || name == "Containerfile"
        || name.starts_with("Containerfile.")
        || name.ends_with(".containerfile")
        || name.ends_with(".Containerfile")
}

/// Compose files: `compose*.y*ml` and `docker-compose*.y*ml` (`engine::compose`).
pub fn is_compose_name(path: &str) -> bool {
    if path.split('/').any(|c| SKIPPED_DIRS.contains(&c)) {
        return false;
    }
    super::compose::is_compose_name(path)
}

/// Bake files: `docker-bake.hcl`, `docker-bake.json`, `docker-bake.override.{hcl,json}`.
pub fn is_bake_name(path: &str) -> bool {
    if path.split('/').any(|c| SKIPPED_DIRS.contains(&c)) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "docker-bake.hcl"
            | "docker-bake.json"
            | "docker-bake.override.hcl"
            | "docker-bake.override.json"
    )
}

/// GitHub Actions workflows: `.github/workflows/*.yml` / `*.yaml` at the repository root.
pub fn is_workflow_name(path: &str) -> bool {
    path.strip_prefix(".github/workflows/")
        .is_some_and(|n| !n.contains('/') && (n.ends_with(".yml") || n.ends_with(".yaml")))
}

/// Shell scripts and Makefiles that may run `docker build` (`engine::scripts`).
pub fn is_script_name(path: &str) -> bool {
    !path.split('/').any(|c| SKIPPED_DIRS.contains(&c)) && super::scripts::is_script_name(path)
}

/// Every file discovery reads: Dockerfiles, compose files, bake files, workflows, scripts.
pub fn is_build_file(path: &str) -> bool {
    is_dockerfile_name(path)
        || is_compose_name(path)
        || is_bake_name(path)
        || is_workflow_name(path)
        || is_script_name(path)
}

/// Whether a path lies under one of the directories skipped by default or by configuration
/// (vendored trees: `vendor/`, `third_party/`, `node_modules/`; test fixtures and demos). A name
/// matches a directory of that name in any case, with or without a leading dot (`Examples/`,
/// `.examples/`), and a name ending in `*` every directory it begins (`testfile*`: `testfiles/`,
/// `testfile-line/`); a name with a `/` is a root-relative path.
pub fn under_skipped(path: &str, skip: &[String]) -> bool {
    let mut comps: Vec<&str> = path.split('/').collect();
    comps.pop();
    let joined = |n: usize| comps[..n].join("/");
    (1..=comps.len()).any(|n| {
        let c = comps[n - 1];
        skip.iter().any(|s| {
            let s = s.trim_matches('/');
            if s.contains('/') {
                joined(n) == s
            } else {
                let bare = c.strip_prefix('.').unwrap_or(c);
                match s.strip_suffix('*') {
                    Some(prefix) => bare
                        .get(..prefix.len())
                        .is_some_and(|b| b.eq_ignore_ascii_case(prefix)),
                    None => c == s || bare.eq_ignore_ascii_case(s),
                }
            }
        })
    })
}

/// Directories that hold test fixtures, demos and samples: Dockerfiles there are inputs of a
/// test or documentation, not builds a team runs (a parser's test files, a tool's end-to-end
/// fixtures, a README's example). Skipped by default, and a file there that does not parse is
/// information, not an error.
pub const FIXTURE_DIRS: &[&str] = &[
    "demo",
    "demos",
    "example",
    "examples",
    "sample",
    "samples",
    "fixture*",
    "test-fixture*",
    "test_fixture*",
    "__fixtures__",
    "testdata",
    "test-data",
    "test_data",
    "testfile*",
    "__tests__",
    "spec",
];

/// Whether a path lies in a test-fixture, demo or sample directory (`FIXTURE_DIRS`).
pub fn is_fixture_path(path: &str) -> bool {
    let names: Vec<String> = FIXTURE_DIRS.iter().map(|s| s.to_string()).collect();
    under_skipped(path, &names)
}

/// The directories skipped when the configuration names none: vendored trees, then
/// `FIXTURE_DIRS` (`default_skip`).
pub const DEFAULT_SKIP: &[&str] = &["vendor", "third_party", "node_modules"];

/// Every directory skipped by default: `DEFAULT_SKIP` and `FIXTURE_DIRS`.
pub fn default_skip() -> Vec<String> {
    DEFAULT_SKIP
        .iter()
        .chain(FIXTURE_DIRS)
        .map(|s| s.to_string())
        .collect()
}

/// A Dockerfile for Windows containers, which a Linux BuildKit does not build: named so
/// (`Dockerfile.windows`, `app.windows.Dockerfile`, a `nanoserver`/`servercore` word in the name)
/// or based on a Windows image (`mcr.microsoft.com/windows/…`, a `nanoserver` or `servercore`
/// repository or tag, as `mcr.microsoft.com/dotnet/sdk:8.0-nanoserver-ltsc2022`).
pub fn is_windows_dockerfile(path: &str, text: Option<&str>) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let windowsish = |w: &str| {
        w == "windows" || w == "win" || w.contains("nanoserver") || w.contains("servercore")
    };
    if name
        .split(['.', '-', '_'])
        .filter(|w| *w != "dockerfile")
        .any(windowsish)
    {
        return true;
    }
    let Some(text) = text else { return false };
    // what a Windows base names, in any case, is somewhere in the text: most texts have none,
    // and are not read line by line (a history asks at every commit)
    let lower = text.to_ascii_lowercase();
    if !["mcr.microsoft.com/windows", "nanoserver", "servercore"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return false;
    }
    text.lines().any(|l| {
        let mut words = l.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            return false;
        }
        let image = words
            .find(|w| !w.starts_with("--"))
            .unwrap_or("")
            .to_ascii_lowercase();
        image.starts_with("mcr.microsoft.com/windows")
            || image.contains("nanoserver")
            || image.contains("servercore")
    })
}

/// [`context_sources`], remembered in `memo` by the text.
pub fn context_sources_in(memo: &crate::engine::memo::Memo, text: &str) -> Vec<String> {
    memo.get_or(crate::engine::memo::Kind::ContextSources, text, || {
        sources_of(&dockerfile::parse_in(memo, text))
    })
}

/// Context-relative sources of COPY/ADD instructions and bind mounts that read the build
/// context (no `--from`, no URLs, no heredocs, no variables).
pub fn context_sources(text: &str) -> Vec<String> {
    sources_of(&dockerfile::parse(text))
}

/// [`context_sources`] of a parsed text.
fn sources_of(df: &dockerfile::Dockerfile) -> Vec<String> {
    let mut out = Vec::new();
    for inst in &df.instructions {
        if let (Kind::Copy | Kind::Add, Body::Copy { sources, .. }) = (inst.kind, &inst.body) {
            if inst.flag("from").is_some() {
                continue;
            }
            for s in sources {
                if let CopySource::Path(p) = s {
                    if p.contains('$')
                        || p.contains("://")
                        || p.contains('*')
                        || p.contains('?')
                        || p.contains('[')
                    {
                        continue;
                    }
                    let p = p
                        .trim_matches('"')
                        .trim_start_matches("./")
                        .trim_start_matches('/');
                    if !p.is_empty() && p != "." {
                        out.push(p.trim_end_matches('/').to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "Dockerfile",
            "a/Dockerfile",
            "Dockerfile.prod",
            "docker/app.Dockerfile",
            "x.dockerfile",
            "Containerfile",
            "images/base/Containerfile",
            "Containerfile.fedora",
            "ci/test.containerfile",
        ] {
            assert!(is_dockerfile_name(ok), "{ok}");
        }
        for no in [
            "Dockerfile.dockerignore",
            "a/b.Dockerfile.dockerignore",
            "Dockerfiles/x",
            "node_modules/x/Dockerfile",
            "dockerfile",
            "Containerfile.dockerignore",
            ".containerignore",
            "containerfile",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
        assert!(is_compose_name("compose.yaml"));
        assert!(is_compose_name("deploy/docker-compose.prod.yml"));
        assert!(!is_compose_name("compose.json"));
        assert!(is_compose_name("compose.tests.yaml"));
        assert!(is_bake_name("x/docker-bake.override.hcl"));
        assert!(!is_bake_name("docker-bake.yaml"));
        assert!(is_workflow_name(".github/workflows/ci.yml"));
        assert!(!is_workflow_name(".github/workflows/sub/ci.yml"));
        let skip = default_skip();
        assert!(under_skipped("vendor/github.com/x/Dockerfile", &skip));
        assert!(under_skipped("a/third_party/b/Dockerfile", &skip));
        assert!(!under_skipped("vendor", &skip));
        assert!(!under_skipped("cmd/vendorx/Dockerfile", &skip));
        assert!(under_skipped(
            "tools/gen/Dockerfile",
            &["tools/gen".to_string()]
        ));
        // fixture and demo trees, in any case and hidden
        for p in [
            "pkg/e2e/fixtures/build-test/Dockerfile",
            "frontend/dockerfile/parser/testfiles/env/Dockerfile",
            ".examples/dockerfiles/full/apache/Dockerfile",
            "Examples/app/Dockerfile",
            "hack/demo-env/examples/compose/Dockerfile.webapp",
            "pkg/dockerfile/fixtures/invalid.Dockerfile",
            "frontend/dockerfile/parser/testfile-line/Dockerfile",
            "x/Test-Fixtures/Dockerfile",
        ] {
            assert!(under_skipped(p, &skip), "{p}");
            assert!(is_fixture_path(p), "{p}");
        }
        for p in [
            "Dockerfile",
            "demo.Dockerfile",
            "demos-app/Dockerfile",
            "src/example.go",
            "Dockerfile.testfiles",
            "infix-fixture/Dockerfile",
        ] {
            assert!(!under_skipped(p, &skip), "{p}");
        }
    }

    #[test]
    fn windows_dockerfiles() {
        for (p, t) in [
            ("Dockerfile.windows", None),
            ("docker/app.windows.Dockerfile", None),
            ("Dockerfile-nanoserver", None),
            (
                "Dockerfile",
                Some("FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"),
            ),
            (
                "x/Dockerfile",
                Some(
                    "# escape=`\nFROM --platform=windows mcr.microsoft.com/dotnet/sdk:8.0-nanoserver-ltsc2022 AS b\n",
                ),
            ),
            (
                "Dockerfile",
                Some("from $REPO:10.0.11-windowsservercore-ltsc2022\n"),
            ),
        ] {
            assert!(is_windows_dockerfile(p, t), "{p} {t:?}");
        }
        for (p, t) in [
            (
                "Dockerfile",
                Some("FROM mcr.microsoft.com/dotnet/sdk:8.0\nRUN echo windows\n"),
            ),
            ("windows/Dockerfile.linux", None),
            ("Dockerfile.winery", None),
        ] {
            assert!(!is_windows_dockerfile(p, t), "{p} {t:?}");
        }
    }

    #[test]
    fn sources() {
        let s = context_sources(
            "FROM a\nCOPY package.json ./src/ /app/\nCOPY --from=b /x /y\nADD https://x/y /z\nCOPY $V /q\n",
        );
        assert_eq!(s, vec!["package.json", "src"]);
    }
}
