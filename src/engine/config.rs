//! The repository's cachebust configuration (`.github/cachebust.yml`, or a file named with
//! `--config`): YAML read with `serde-saphyr` under budgets (a pull request controls it),
//! unknown keys refused, every error reported with its line.

pub use super::settings::*;

use super::buildlog::MAX_SECONDS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
}

/// Parse a configuration file named `file` (for messages).
pub fn parse(file: &str, text: &str, codes: &[&str]) -> Result<Config, ConfigError> {
    if text.len() > 1024 * 1024 {
        return Err(ConfigError {
            file: file.into(),
            line: None,
            message: "larger than 1 MiB".into(),
        });
    }
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.max_documents = 1;
    budget.max_nodes = 20_000;
    budget.max_total_scalar_bytes = 1024 * 1024;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    let cfg: Config = serde_saphyr::from_str_with_options(text, opts).map_err(|e| ConfigError {
        file: file.into(),
        line: e.location().map(|l| l.line() as u32),
        message: crate::engine::decl::yaml_message(&e),
    })?;
    if let Some(d) = &cfg.builder.driver {
        if !DRIVERS.contains(&d.as_str()) {
            return Err(ConfigError {
                file: file.into(),
                line: line_of_key(text, "driver"),
                message: format!(
                    "builder.driver: {d:?} is not a buildx driver ({})",
                    DRIVERS.join(", ")
                ),
            });
        }
    }
    for (code, setting) in &cfg.rules {
        let line = line_of_key(text, code);
        if !codes.iter().any(|c| c.eq_ignore_ascii_case(code)) {
            return Err(ConfigError {
                file: file.into(),
                line,
                message: format!("rules: {code:?} is not a rule code (CB001 …)"),
            });
        }
        if let Err(m) = setting.valid() {
            return Err(ConfigError {
                file: file.into(),
                line,
                message: format!("rules.{code}: {m}"),
            });
        }
    }
    for (i, r) in cfg.cost.iter().enumerate() {
        let bad = |m: String| ConfigError {
            file: file.into(),
            line: line_of_item(text, "cost", i),
            message: m,
        };
        // at most what a timing log may say of one step (a week): a total of many such steps
        // stays a finite number, so the JSON figure is never `null`
        let believable = |x: f64| (0.0..=MAX_SECONDS).contains(&x);
        if !believable(r.seconds) {
            return Err(bad(format!(
                "cost[{i}]: seconds must be a number from 0 to {MAX_SECONDS} (a week)"
            )));
        }
        if let Some([lo, hi]) = r.range {
            if !(believable(lo) && believable(hi) && lo <= r.seconds && r.seconds <= hi) {
                return Err(bad(format!(
                    "cost[{i}]: range must be [low, high] with 0 ≤ low ≤ seconds ≤ high ≤ {MAX_SECONDS}"
                )));
            }
        }
        if r.pattern.trim().is_empty() {
            return Err(bad(format!("cost[{i}]: match must not be empty")));
        }
    }
    Ok(cfg)
}

/// Line of the first `key:` (for validation messages).
fn line_of_key(text: &str, key: &str) -> Option<u32> {
    text.lines()
        .position(|l| l.trim_start().starts_with(&format!("{key}:")))
        .map(|i| i as u32 + 1)
}

/// Line of the `i`-th list item under a top-level key (for validation messages).
fn line_of_item(text: &str, key: &str, i: usize) -> Option<u32> {
    let mut in_key = false;
    let mut n = 0;
    for (no, line) in text.lines().enumerate() {
        if !line.starts_with(' ') && !line.starts_with('-') && !line.trim().is_empty() {
            in_key = line.trim_start().starts_with(&format!("{key}:"));
            continue;
        }
        if in_key && line.trim_start().starts_with("- ") {
            if n == i {
                return Some(no as u32 + 1);
            }
            n += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes the catalog knows, as the caller hands them in (a code outside them is refused).
    fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        super::parse(file, text, &["CB001", "CB002", "CB003", "CB004"])
    }

    #[test]
    fn parses_and_validates() {
        let c = parse(
            "c.yml",
            "cost:\n  - match: \"RUN npm ci*\"\n    seconds: 90\n    range: [60, 180]\n",
        )
        .unwrap();
        assert_eq!(c.cost[0].seconds, 90.0);
        let e = parse(
            "c.yml",
            "cost:\n  - match: x\n    seconds: 9\n    range: [10, 20]\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        for (seconds, range) in [("1e307", ""), ("-1", ""), (".nan", ""), ("9", "[1, 1e308]")] {
            let range = if range.is_empty() {
                String::new()
            } else {
                format!("\n    range: {range}")
            };
            let e = parse(
                "c.yml",
                &format!(
                    "cost:\n  - match: x\n    seconds: 1\n  - match: y\n    seconds: {seconds}{range}\n"
                ),
            )
            .unwrap_err();
            assert_eq!(e.line, Some(4), "{seconds} {range}: {e}");
            assert!(e.message.starts_with("cost[1]: "), "{e}");
        }
        let e = parse("c.yml", "cost:\n  - match: x\n    secs: 9\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        assert!(
            e.message.contains("secs") || e.message.contains("unknown"),
            "{e}"
        );
    }

    #[test]
    fn builds_and_discovery() {
        let c = parse(
            "c.yml",
            "builds:\n  - dockerfile: cmd/loki/Dockerfile\n    context: .\n    target: final\n    args: {GO: \"1.22\"}\ndiscovery:\n  skip: [gen]\n",
        )
        .unwrap();
        assert_eq!(c.builds[0].dockerfile, "cmd/loki/Dockerfile");
        assert_eq!(c.builds[0].target.as_deref(), Some("final"));
        assert_eq!(c.builds[0].args["GO"], "1.22");
        assert_eq!(c.discovery.skipped(), vec!["gen"]);
        let default = Config::default().discovery.skipped();
        assert_eq!(default[..3], ["vendor", "third_party", "node_modules"]);
        for d in [
            "examples",
            "fixtures",
            "testdata",
            "__tests__",
            "demo",
            "testfiles",
        ] {
            let p = format!("a/{d}/Dockerfile");
            assert!(crate::engine::discover::under_skipped(&p, &default), "{p}");
        }
        let e = parse("c.yml", "builds:\n  - dockerfile: a\n    contxt: b\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }

    /// Issue 30 item 14: a configuration past a reader's budget says so in a sentence naming
    /// what went past which count, not "budget breached: Nodes { nodes: 20001 }".
    #[test]
    fn a_budget_breach_is_a_sentence() {
        let nodes = format!("paths:\n  include: [{}]\n", vec!["a"; 20_001].join(", "));
        let want = "more than 20000 nodes (mappings, lists and values): past the limit";
        let e = parse("c.yml", &nodes).unwrap_err();
        assert!(e.message.contains(want), "{e}");
        assert!(
            !e.message.contains("breached") && !e.message.contains('{'),
            "{e}"
        );
        // a YAML file of a build declaration, the same way
        let deep = format!("x: {}{}\n", "[".repeat(70), "]".repeat(70));
        let (_, m) = crate::engine::decl::load_yaml(&deep).unwrap_err();
        assert!(m.starts_with("more than 64 levels of nesting"), "{m}");
    }

    #[test]
    fn builder_driver() {
        assert!(Config::default().builder.merge_op());
        let c = parse("c.yml", "builder:\n  driver: docker\n").unwrap();
        assert!(!c.builder.merge_op());
        let c = parse("c.yml", "builder:\n  driver: docker-container\n").unwrap();
        assert!(c.builder.merge_op());
        let e = parse("c.yml", "rules: {}\nbuilder:\n  driver: podman\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("podman"), "{e}");
    }

    #[test]
    fn rules_paths_and_args() {
        let c = parse("c.yml", "rules:\n  CB003: off\n  CB001: error\n  CB004: {severity: info}\npaths:\n  exclude: [\"legacy/*\"]\nbuild_args:\n  \"api/*\": {NODE: \"20\"}\n").unwrap();
        assert!(!c.rules["CB003"].enabled());
        assert_eq!(
            c.rules["CB001"].severity(),
            Some(crate::engine::dockerfile::Severity::Error)
        );
        assert!(c.paths.wants("api/Dockerfile") && !c.paths.wants("legacy/Dockerfile"));
        assert_eq!(
            c.build_args_for("api/Dockerfile")
                .get("NODE")
                .map(String::as_str),
            Some("20")
        );
        let e = parse("c.yml", "rules:\n  CB999: off\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("c.yml", "rules:\n  CB001: sometimes\n").unwrap_err();
        assert!(e.message.contains("sometimes"), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("RUN npm ci*", "RUN npm ci --omit=dev"));
        assert!(wildcard(
            "*cargo build*",
            "RUN --mount=type=cache,target=/x cargo build --release"
        ));
        assert!(!wildcard("RUN npm ci", "RUN npm ci --omit=dev"));
        assert!(wildcard("RUN ?pt-get*", "RUN apt-get update"));
    }
}
