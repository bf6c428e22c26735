//! Workflow-command annotations (`::warning file=…::`), for when no review can be posted,
//! escaped as `@actions/core` escapes them.

use super::*;

/// Workflow-command annotations for every relevant finding and every rebuilt chain's origin
/// (when no review can be posted), escaped as `@actions/core` does.
pub fn annotations(report: &Report) -> String {
    let mut o = String::new();
    for df in &report.dockerfiles {
        for f in df.findings.iter().filter(|f| f.relevant) {
            let level = if sev_rank(f) == 0 {
                "error"
            } else if sev_rank(f) == 1 {
                "warning"
            } else {
                "notice"
            };
            let mut msg = f.message.clone();
            if let Some(s) = crate::render::claim_sentence(df, f) {
                msg.push_str(&format!(" — {s}"));
            }
            let _ = writeln!(
                o,
                "::{level} file={},line={},endLine={},title={}::{}",
                prop(&df.path),
                f.line,
                f.end_line,
                prop(&format!("{} {}", f.code, f.name)),
                data(&msg)
            );
        }
        for (origin, follow) in crate::render::chains(df) {
            let why = crate::render::chain_why(origin, df);
            let _ = writeln!(
                o,
                "::notice file={},line={},endLine={},title={}::{}",
                prop(&df.path),
                origin.line,
                origin.end_line,
                prop("cachebust: cache miss"),
                data(&format!(
                    "rebuilds ({} step{} follow): {why}",
                    follow.len(),
                    if follow.len() == 1 { "" } else { "s" }
                ))
            );
        }
    }
    o
}

/// Escape a workflow-command message: `%`, CR and LF as `@actions/core` escapes them (the runner
/// reads them back), every other hidden character written out (`render::visible`: an
/// annotation shows what a name holds, and ESC never reaches the log).
pub fn data(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => o.push_str("%25"),
            '\r' => o.push_str("%0D"),
            '\n' => o.push_str("%0A"),
            c if crate::render::is_hidden(c) => o.push_str(&crate::render::visible(&c.to_string())),
            c => o.push(c),
        }
    }
    o
}

/// Escape a workflow-command property value.
pub fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
