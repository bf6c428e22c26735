//! Compose files: the `build:` entries of `services` (context, dockerfile, args, target), read
//! with `serde-saphyr` under tight budgets because a pull request controls the file. Merge keys
//! (`<<: *build`) are expanded; alias bombs and oversized documents are refused with a message.

use std::collections::BTreeMap;

use crate::engine::tree::join_clean;

/// One service build declared in a compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeBuild {
    pub service: String,
    /// Root-relative context directory ("" = root).
    pub context: String,
    /// Root-relative Dockerfile path.
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeProblem {
    pub line: Option<u32>,
    pub message: String,
}

/// Size limit for compose files, in bytes.
pub const MAX_COMPOSE_BYTES: usize = 2 * 1024 * 1024;

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 2_000;
    budget.max_anchors = 2_000;
    budget.max_depth = 64;
    budget.max_documents = 1;
    budget.max_nodes = 50_000;
    budget.max_total_scalar_bytes = 4 * 1024 * 1024;
    budget.max_merge_keys = 2_000;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = 4 * 1024 * 1024;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o
}

/// Parse a compose file at `path` (root-relative) and list its service builds.
pub fn parse(path: &str, text: &str) -> (Vec<ComposeBuild>, Vec<ComposeProblem>) {
    let mut problems = Vec::new();
    if text.len() > MAX_COMPOSE_BYTES {
        problems.push(ComposeProblem {
            line: None,
            message: format!("compose file is larger than {MAX_COMPOSE_BYTES} bytes; not read"),
        });
        return (Vec::new(), problems);
    }
    let value: serde_json::Value = match serde_saphyr::from_str_with_options(text, options()) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line() as u32);
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
            problems.push(ComposeProblem {
                line,
                message: format!("cannot read compose file: {first}"),
            });
            return (Vec::new(), problems);
        }
    };
    let dir = match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    };
    let mut out = Vec::new();
    let Some(services) = value.get("services").and_then(|s| s.as_object()) else {
        return (out, problems);
    };
    for (name, svc) in services {
        let Some(build) = svc.get("build") else {
            continue;
        };
        let (context_raw, dockerfile_raw, args, target, inline) = match build {
            serde_json::Value::String(s) => (s.clone(), None, BTreeMap::new(), None, false),
            serde_json::Value::Object(m) => {
                let ctx = m
                    .get("context")
                    .and_then(scalar)
                    .unwrap_or_else(|| ".".into());
                let df = m.get("dockerfile").and_then(scalar);
                let target = m.get("target").and_then(scalar);
                let args = m
                    .get("args")
                    .map(|a| parse_args(a, name, &mut problems))
                    .unwrap_or_default();
                (ctx, df, args, target, m.contains_key("dockerfile_inline"))
            }
            _ => {
                problems.push(ComposeProblem {
                    line: None,
                    message: format!("service {name}: `build` must be a string or a mapping"),
                });
                continue;
            }
        };
        if inline {
            problems.push(ComposeProblem {
                line: None,
                message: format!("service {name}: dockerfile_inline is not analysed"),
            });
            continue;
        }
        if context_raw.contains("://") || context_raw.starts_with("git@") {
            problems.push(ComposeProblem {
                line: None,
                message: format!(
                    "service {name}: remote build context {context_raw} is not analysed"
                ),
            });
            continue;
        }
        if context_raw.starts_with('/') {
            problems.push(ComposeProblem { line: None, message: format!("service {name}: absolute build context {context_raw} is outside the repository; not analysed") });
            continue;
        }
        let context = join_clean(dir, &context_raw);
        let dockerfile = match dockerfile_raw {
            Some(d) if d.starts_with('/') => {
                problems.push(ComposeProblem {
                    line: None,
                    message: format!(
                        "service {name}: absolute dockerfile path {d} is not analysed"
                    ),
                });
                continue;
            }
            Some(d) => join_clean(&context, &d),
            None => join_clean(&context, "Dockerfile"),
        };
        out.push(ComposeBuild {
            service: name.clone(),
            context,
            dockerfile,
            args,
            target,
        });
    }
    (out, problems)
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_args(
    v: &serde_json::Value,
    service: &str,
    problems: &mut Vec<ComposeProblem>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m {
                match scalar(val) {
                    Some(s) => {
                        out.insert(k.clone(), s);
                    }
                    None => problems.push(ComposeProblem {
                        line: None,
                        message: format!("service {service}: build arg {k} takes its value from the environment; treated as unset"),
                    }),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for it in items {
                if let Some(s) = scalar(it) {
                    match s.split_once('=') {
                        Some((k, val)) => {
                            out.insert(k.to_string(), val.to_string());
                        }
                        None => problems.push(ComposeProblem {
                            line: None,
                            message: format!("service {service}: build arg {s} takes its value from the environment; treated as unset"),
                        }),
                    }
                }
            }
        }
        _ => problems.push(ComposeProblem {
            line: None,
            message: format!("service {service}: `args` must be a mapping or a list"),
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_are_expanded() {
        let y = "x-build: &b\n  context: ./api\n  dockerfile: app.Dockerfile\n  args:\n    NODE: \"20\"\nservices:\n  api:\n    build:\n      <<: *b\n      target: prod\n  web:\n    build: ./web\n";
        let (b, p) = parse("deploy/compose.yaml", y);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(b.len(), 2);
        let api = b.iter().find(|x| x.service == "api").unwrap();
        assert_eq!(api.context, "deploy/api");
        assert_eq!(api.dockerfile, "deploy/api/app.Dockerfile");
        assert_eq!(api.target.as_deref(), Some("prod"));
        assert_eq!(api.args.get("NODE").map(String::as_str), Some("20"));
        let web = b.iter().find(|x| x.service == "web").unwrap();
        assert_eq!(web.dockerfile, "deploy/web/Dockerfile");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut y = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            y.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
        }
        y.push_str("services:\n  x:\n    build: .\n");
        let (b, p) = parse("compose.yaml", &y);
        assert!(b.is_empty());
        assert_eq!(p.len(), 1);
        assert!(
            p[0].message.contains("cannot read compose file"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (_, p) = parse("compose.yaml", "services:\n  a:\n    build: [unclosed\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].line.is_some());
    }
}
