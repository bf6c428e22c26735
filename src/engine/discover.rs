//! Which files are Dockerfiles and compose files, and what a Dockerfile reads from its build
//! context (used to pick a context when none is given). Pure name and text rules.

use super::dockerfile::{self, Body, CopySource, Kind};

/// Directories never searched for Dockerfiles.
pub const SKIPPED_DIRS: &[&str] = &[".git", "node_modules"];

/// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, `*.dockerfile` (not their `.dockerignore` files).
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
}

/// `compose.yaml`, `compose.yml`, `docker-compose*.yml`, `docker-compose*.yaml`.
pub fn is_compose_name(path: &str) -> bool {
    if path.split('/').any(|c| SKIPPED_DIRS.contains(&c)) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    yaml && (name == "compose.yml" || name == "compose.yaml" || name.starts_with("docker-compose"))
}

/// Context-relative sources of COPY/ADD instructions and bind mounts that read the build
/// context (no `--from`, no URLs, no heredocs, no variables).
pub fn context_sources(text: &str) -> Vec<String> {
    let df = dockerfile::parse(text);
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
        ] {
            assert!(is_dockerfile_name(ok), "{ok}");
        }
        for no in [
            "Dockerfile.dockerignore",
            "a/b.Dockerfile.dockerignore",
            "Dockerfiles/x",
            "node_modules/x/Dockerfile",
            "dockerfile",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
        assert!(is_compose_name("compose.yaml"));
        assert!(is_compose_name("deploy/docker-compose.prod.yml"));
        assert!(!is_compose_name("compose.json"));
    }

    #[test]
    fn sources() {
        let s = context_sources(
            "FROM a\nCOPY package.json ./src/ /app/\nCOPY --from=b /x /y\nADD https://x/y /z\nCOPY $V /q\n",
        );
        assert_eq!(s, vec!["package.json", "src"]);
    }
}
