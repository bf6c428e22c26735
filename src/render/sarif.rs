//! SARIF 2.1.0 for code scanning (`github/codeql-action/upload-sarif`): the rule catalog as the
//! driver's rules (plus `cache-miss` for predicted misses), each finding as a result with its full
//! line range, a line-independent partial fingerprint, and its fix as replacements.

use serde_json::{Value, json};

use crate::engine::dockerfile::Severity;
use crate::engine::fix::Applicability;
use crate::engine::hash::fnv1a;
use crate::engine::report::Report;
use crate::engine::rules::{Finding, RULES};

const CACHE_MISS: &str = "cache-miss";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative path as a URI reference (SARIF §3.10): every byte but RFC 3986's unreserved
/// characters and `/` percent-encoded, so a space, `#`, `?`, `%` or a control in a file name
/// cannot change what the URI points at.
fn uri(path: &str) -> String {
    let mut o = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, off: usize) -> (usize, usize) {
    let off = off.min(text.len());
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

fn fix_json(f: &Finding, sources: &std::collections::BTreeMap<String, String>) -> Option<Value> {
    let x = f.fix.as_ref()?;
    if x.applicability == Applicability::DisplayOnly {
        return None;
    }
    let mut by_file: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for e in &x.edits {
        let text = sources.get(&e.file).map(String::as_str).unwrap_or("");
        let (sl, sc) = position(text, e.range.start);
        let (el, ec) = position(text, e.range.end);
        by_file.entry(&e.file).or_default().push(json!({
            "deletedRegion": {"startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec,
                               "charOffset": text[..e.range.start.min(text.len())].chars().count(),
                               "charLength": text.get(e.range.clone()).map_or(0, |t| t.chars().count())},
            "insertedContent": {"text": e.content},
        }));
    }
    Some(json!({
        "description": {"text": format!("{} ({})", x.description, match x.applicability { Applicability::Safe => "safe", _ => "unsafe: review it" })},
        "artifactChanges": by_file.into_iter().map(|(file, reps)| json!({
            "artifactLocation": {"uri": uri(file), "uriBaseId": "%SRCROOT%"},
            "replacements": reps,
        })).collect::<Vec<_>>(),
    }))
}

/// A result about a guessed build says so in its properties (`guessed`, `counted`, the reason).
fn guessed_properties(r: &mut Value, df: &crate::engine::report::DockerfileReport) {
    if let (Some(g), Some(why)) = (&df.guessed, super::guess_sentence(df)) {
        // beside the properties the result has (the assumption)
        r["properties"]["guessed"] = json!(true);
        r["properties"]["counted"] = json!(g.counted);
        r["properties"]["guess"] = json!(super::backticked(&why));
    }
}

/// The driver's rules: the rule catalog, then `cache-miss` for predicted misses.
fn rule_descriptors() -> Vec<Value> {
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| r.meta())
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": format!("{}: {}. See the Rules section of cachebust's README.", r.name, r.summary)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"tags": ["docker", "build-cache"], "fix": r.fix.map(|a| format!("{a:?}").to_lowercase())},
            })
        })
        .collect();
    rules.push(json!({
        "id": CACHE_MISS,
        "name": "cache-miss",
        "shortDescription": {"text": "a build step this change makes BuildKit rebuild"},
        "fullDescription": {"text": "The first step of a chain that loses its cache with this change, predicted before any build; the message says why and how many later steps follow."},
        "defaultConfiguration": {"level": "note"},
        "properties": {"tags": ["docker", "build-cache"]},
    }));
    rules
}

/// The index of the rule `code` among the driver's rules (0 when it is not one).
fn rule_index(rules: &[Value], code: &str) -> usize {
    rules.iter().position(|r| r["id"] == code).unwrap_or(0)
}

/// A result's `locations`: lines `line` to `end_line` of the file at `path`.
fn locations(path: &str, line: u32, end_line: u32) -> Value {
    json!([{"physicalLocation": {
        "artifactLocation": {"uri": uri(path), "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line, "endLine": end_line},
    }}])
}

/// The result of a finding of `df` (rule `index` among the driver's rules), with its fix.
fn finding_result(
    df: &crate::engine::report::DockerfileReport,
    f: &Finding,
    index: usize,
) -> Value {
    let mut r = json!({
        "ruleId": f.code,
        "ruleIndex": index,
        "level": level(f.severity),
        // read by people in code scanning: hidden characters written out
        "message": {"text": super::visible(&f.message)},
        "locations": locations(&df.path, f.line, f.end_line),
        "partialFingerprints": {"cachebust/v1": super::review::marker_id(&df.path, f)},
        "properties": {"assumption": super::backticked(&super::assumption_sentence(&df.assumption))},
    });
    if let Some(fx) = fix_json(f, &df.sources) {
        r["fixes"] = json!([fx]);
    }
    guessed_properties(&mut r, df);
    r
}

/// The `cache-miss` note (rule `index` among the driver's rules) of a chain of `df`: its first
/// step `origin`, why it rebuilds, and how many steps `follow`.
fn miss_result(
    df: &crate::engine::report::DockerfileReport,
    origin: &crate::engine::report::Step,
    follow: &[&crate::engine::report::Step],
    index: usize,
) -> Value {
    let why = super::chain_why(origin, df);
    let mut r = json!({
        "ruleId": CACHE_MISS,
        "ruleIndex": index,
        "level": "note",
        "message": {"text": super::visible(&format!("`{}` rebuilds ({} later step{} follow): {why}", origin.instruction, follow.len(), if follow.len() == 1 { "" } else { "s" }))},
        "locations": locations(&df.path, origin.line, origin.end_line),
        "partialFingerprints": {"cachebust/v1": format!("miss-{:016x}", fnv1a(format!("{}\0{}\0{}", df.path, origin.stage, origin.instruction).bytes()))},
        "properties": {"assumption": super::backticked(&super::assumption_sentence(&df.assumption))},
    });
    guessed_properties(&mut r, df);
    r
}

/// `all_findings`: every finding (check); otherwise those concerning the change (analyze), with
/// the predicted cache misses as `cache-miss` notes.
pub fn render(report: &Report, all_findings: bool) -> String {
    let rules = rule_descriptors();
    let mut results = Vec::new();
    for df in &report.dockerfiles {
        for f in df.findings.iter().filter(|f| all_findings || f.relevant) {
            results.push(finding_result(df, f, rule_index(&rules, f.code)));
        }
        if !all_findings {
            for (origin, follow) in super::chains(df) {
                results.push(miss_result(
                    df,
                    origin,
                    &follow,
                    rule_index(&rules, CACHE_MISS),
                ));
            }
        }
    }
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cachebust",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
            "properties": {"assumptions": report.dockerfiles.iter().map(|df| json!({
                "path": df.path,
                "target": df.target,
                "assumption": super::backticked(&super::assumption_sentence(&df.assumption)),
            })).collect::<Vec<_>>()},
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    super::json_printed(s)
}

#[cfg(test)]
mod tests {
    use super::{position, uri};

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("svc/Dockerfile"), "svc/Dockerfile");
        assert_eq!(uri("a b/Docker#file?x%"), "a%20b/Docker%23file%3Fx%25");
        assert_eq!(uri("é/\u{1b}[2J"), "%C3%A9/%1B%5B2J");
    }

    #[test]
    fn positions_are_one_based_characters() {
        let t = "FROM a\nRUN é x\n";
        assert_eq!(position(t, 0), (1, 1));
        assert_eq!(position(t, 7), (2, 1));
        assert_eq!(position(t, 13), (2, 6)); // after "RUN é" (é is two bytes)
    }
}
