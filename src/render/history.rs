//! `cachebust history` output: text (totals, most rebuilt steps, triggers, avoidable share)
//! and JSON (version 1).

use std::fmt::Write;

use super::duration;
use crate::engine::history::HistoryReport;

#[derive(serde::Serialize)]
struct Out<'a> {
    version: u32,
    range: &'a str,
    #[serde(flatten)]
    report: &'a HistoryReport,
}

pub fn json(h: &HistoryReport, range: &str) -> String {
    let mut s = serde_json::to_string_pretty(&Out {
        version: 1,
        range,
        report: h,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

fn kind_words(k: &str) -> &str {
    match k {
        "manifest_first" => "manifest-first",
        "context_noise" => "context noise",
        "volatile_arg" => "volatile ARG/ENV",
        "files" => "files changed",
        "dockerfile_text" => "instruction changed",
        "build_arg" => "build arg",
        "base_image" => "base image",
        other => other,
    }
}

pub fn text(h: &HistoryReport, range: &str) -> String {
    let mut o = String::new();
    let rebuilding = h.per_commit.iter().filter(|c| c.rebuilt_steps > 0).count();
    let _ = writeln!(
        o,
        "cachebust history {range}: {} commit{}, {rebuilding} rebuild something; about {} of rebuild time in all, {:.0}% of it avoidable ({})",
        h.commits,
        if h.commits == 1 { "" } else { "s" },
        duration(h.total_rebuild_seconds),
        h.avoidable_share * 100.0,
        duration(h.avoidable_seconds)
    );
    for d in &h.dockerfiles {
        let _ = writeln!(o);
        let parts: Vec<String> = d
            .avoidable
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{} {}", kind_words(k), duration(*v)))
            .collect();
        let _ = writeln!(
            o,
            "{}: {} commit{} rebuild it, about {} in all; avoidable {}{}",
            d.path,
            d.commits_rebuilding,
            if d.commits_rebuilding == 1 { "" } else { "s" },
            duration(d.rebuild_seconds),
            duration(d.avoidable_seconds),
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        );
        let _ = writeln!(o, "  most rebuilt steps:");
        for s in d.steps.iter().take(8) {
            let _ = writeln!(
                o,
                "    {:>4}x  line {:<4} {:>10}  {}",
                s.rebuilds,
                s.line,
                duration(s.seconds),
                s.instruction
            );
        }
        let _ = writeln!(o, "  what starts the rebuilds:");
        for t in d.triggers.iter().take(6) {
            let top: Vec<String> = t.top.iter().map(|(p, n)| format!("{p} ({n})")).collect();
            let _ = writeln!(
                o,
                "    {:>4}x  line {:<4} {}{}",
                t.count,
                t.line,
                kind_words(&t.kind),
                if top.is_empty() {
                    String::new()
                } else {
                    format!(": {}", top.join(", "))
                }
            );
        }
    }
    o
}
