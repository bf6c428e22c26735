//! `.dockerignore` against shared/conformance/dockerignore: the reader (`readall-cases.json`),
//! the current matcher and walker (`matches`, `walk_excluded`), and Docker 20.10's matcher and
//! walker (`docker_20_10`), which `--engine docker-20.10` uses.

use cachebust::engine::ignore::{Flavor, Matcher, go_clean, read_patterns};
use serde_json::Value;

use crate::parser_corpus::shared;

fn load(name: &str) -> Vec<Value> {
    let p = shared().join("conformance/dockerignore").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Run one matcher question the way the named upstream entry point answers it.
fn ask(patterns: &[String], flavor: Flavor, api: &str, path: &str) -> Result<bool, ()> {
    let m = Matcher::new(patterns, flavor).map_err(|_| ())?;
    if api.starts_with("Matches (package-level") || flavor == Flavor::Docker2010 {
        let f = go_clean(path);
        if f == "." && api.starts_with("Matches (package-level") {
            return Ok(false);
        }
        return m.matches_single_parent(&f).map_err(|_| ());
    }
    m.matches_or_parent(path).map_err(|_| ())
}

#[test]
fn matcher_cases() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in ["cases.json", "extra-cases.json"] {
        for (i, c) in load(file).iter().enumerate() {
            if c.get("os").is_some_and(|o| o.as_str() == Some("windows")) {
                continue;
            }
            let patterns = strings(&c["patterns"]);
            let path = c["path"].as_str().unwrap();
            let api = c["api"].as_str().unwrap();
            let label = format!("{file}#{i} {patterns:?} {path:?}");
            // current
            let err = c.get("error").and_then(Value::as_bool).unwrap_or(false);
            match ask(&patterns, Flavor::Current, api, path) {
                Err(()) if err => checked += 1,
                Ok(m) if !err && m == c["matches"].as_bool().unwrap() => checked += 1,
                got => failures.push(format!(
                    "current {label}: got {got:?}, want matches={} error={err}",
                    c["matches"]
                )),
            }
            if let Some(w) = c.get("walk_excluded").and_then(Value::as_bool) {
                let got = Matcher::new(&patterns, Flavor::Current)
                    .ok()
                    .and_then(|m| m.walk_excluded(path).ok());
                if got == Some(w) {
                    checked += 1;
                } else {
                    failures.push(format!("current walk {label}: got {got:?}, want {w}"));
                }
            }
            // Docker 20.10
            let old = &c["docker_20_10"];
            let err = old.get("error").and_then(Value::as_bool).unwrap_or(false);
            match ask(&patterns, Flavor::Docker2010, api, path) {
                Err(()) if err => checked += 1,
                Ok(m) if !err && m == old["matches"].as_bool().unwrap() => checked += 1,
                got => failures.push(format!(
                    "20.10 {label}: got {got:?}, want matches={} error={err}",
                    old["matches"]
                )),
            }
            if let Some(w) = old.get("walk_excluded").and_then(Value::as_bool) {
                let got = Matcher::new(&patterns, Flavor::Docker2010)
                    .ok()
                    .and_then(|m| m.walk_excluded(path).ok());
                if got == Some(w) {
                    checked += 1;
                } else {
                    failures.push(format!("20.10 walk {label}: got {got:?}, want {w}"));
                }
            }
        }
    }
    eprintln!("dockerignore: {checked} expectations checked");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 500, "{checked}");
}

#[test]
fn reader_cases() {
    for c in load("readall-cases.json") {
        let got = read_patterns(c["input"].as_str().unwrap());
        assert_eq!(got, strings(&c["patterns"]), "{}", c["origin"]);
    }
}
