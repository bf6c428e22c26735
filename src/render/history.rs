//! `cachebust history` output: text (totals, most rebuilt steps, triggers, avoidable share),
//! JSON (version 1) and a self-contained HTML page with a plot of the rebuild time per commit.

use std::fmt::Write;

use super::{duration, visible};
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
    super::json_printed(s)
}

fn kind_words(k: &str) -> String {
    match k {
        // avoidable parts, by the rule whose fix saves them
        "manifest_first" => "manifest-first".into(),
        "context_noise" => "context noise".into(),
        "volatile_arg_early" => "volatile ARG/ENV".into(),
        "cache_mount" => "cache mount".into(),
        "apt_update_alone" => "apt-get update alone".into(),
        "single_stage_build_tools" => "multi-stage split".into(),
        "system_packages_after_copy" => "system packages after COPY".into(),
        // what starts rebuilds
        "files" => "files changed".into(),
        "dockerfile_text" => "Dockerfile edited".into(),
        "build_arg" => "build arg".into(),
        "base_image" => "base image".into(),
        other => other.replace('_', " "),
    }
}

/// What a trigger names, in words: a changed path or variable as it is, the kind of an edit of
/// the Dockerfile's own text as a phrase.
fn what_words(kind: &str, what: &str) -> String {
    match (kind, what) {
        ("dockerfile_text", "changed") => "this instruction changed".into(),
        ("dockerfile_text", "added") => "this instruction added".into(),
        ("dockerfile_text", "removed") => "the one above it removed".into(),
        ("dockerfile_text", "heredoc") => "its heredoc changed".into(),
        ("dockerfile_text", "order") => "ENV order changed".into(),
        ("dockerfile_text", "platform") => "platform changed".into(),
        _ => what.to_string(),
    }
}

pub fn text(h: &HistoryReport, range: &str) -> String {
    let mut o = String::new();
    let rebuilding = h.per_commit.iter().filter(|c| c.rebuilt_steps > 0).count();
    let _ = writeln!(
        o,
        "cachebust history {}: {} commit{}, {rebuilding} rebuild something; about {} of rebuild time in all, {}",
        visible(range),
        h.commits,
        if h.commits == 1 { "" } else { "s" },
        duration(h.total_rebuild_seconds),
        share_avoidable(h)
    );
    if let Some(u) = not_counted_sentence(h) {
        let _ = writeln!(o, "  {u}");
    }
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
            "{}{}: {} {} it, about {} in all; {}{}",
            visible(&d.path),
            guessed_label(d),
            d.commits_rebuilding,
            commits_rebuild(d.commits_rebuilding),
            duration(d.rebuild_seconds),
            avoidable_words(d.avoidable_seconds),
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
                step_seconds(s),
                visible(&s.instruction)
            );
        }
        let _ = writeln!(o, "  what starts the rebuilds:");
        for t in d.triggers.iter().take(6) {
            let top: Vec<String> = t
                .top
                .iter()
                .map(|(p, n)| format!("{} ({n})", visible(&what_words(&t.kind, p))))
                .collect();
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
    if !h.not_counted.is_empty() {
        let _ = writeln!(
            o,
            "\nguessed builds, not counted (no declaration builds them; declare one under `builds:` to count it):"
        );
        for d in &h.not_counted {
            let _ = writeln!(
                o,
                "  {}: {} {} it, about {} in all",
                visible(&d.path),
                d.commits_rebuilding,
                commits_rebuild(d.commits_rebuilding),
                duration(d.rebuild_seconds)
            );
        }
    }
    super::visible_lines(&o)
}

/// The guessed builds left out of the totals, in one line (`None` when there are none).
fn not_counted_sentence(h: &HistoryReport) -> Option<String> {
    let n = h.not_counted.len();
    (n > 0).then(|| {
        format!(
            "not counted: about {} more in {n} guessed build{} that no declaration builds (listed last)",
            duration(h.not_counted_rebuild_seconds),
            if n == 1 { "" } else { "s" }
        )
    })
}

/// " (guessed build)" after a counted guessed build's path: the repository declares none.
fn guessed_label(d: &crate::engine::history::DockerfileHistory) -> &'static str {
    if d.guessed {
        " (guessed build: the repository declares none)"
    } else {
        ""
    }
}

/// Text for HTML: entities, and hidden characters written out (`render::visible`).
fn esc(s: &str) -> String {
    visible(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A self-contained page (inline CSS and SVG, no script, nothing fetched): the rebuild time of
/// each commit as bars (oldest left; the avoidable part darker), then per Dockerfile the top
/// triggers and the most rebuilt steps.
pub fn html(h: &HistoryReport, range: &str) -> String {
    let mut o = String::new();
    let rebuilding = h.per_commit.iter().filter(|c| c.rebuilt_steps > 0).count();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cachebust history {}</title>\n<style>\n\
body{{font:14px/1.5 -apple-system,BlinkMacSystemFont,\"Segoe UI\",Helvetica,Arial,sans-serif;color:#1f2328;background:#fff;margin:24px;max-width:980px}}\n\
h1{{font-size:20px;margin:0 0 4px}} h2{{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d1d9e0;padding-bottom:4px}}\n\
p.sub{{color:#59636e;margin:0 0 16px}} table{{border-collapse:collapse;margin:8px 0}}\n\
td,th{{border:1px solid #d1d9e0;padding:4px 10px;text-align:left;vertical-align:top}} th{{background:#f6f8fa}}\n\
td.n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}} th{{white-space:nowrap}} code{{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eff1f3;padding:1px 4px;border-radius:4px}}\n\
.legend span{{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}}\n\
</style></head><body>\n",
        esc(range)
    );
    let _ = writeln!(
        o,
        "<h1>cachebust history: {}</h1>\n<p class=\"sub\">{} commit{}, {rebuilding} rebuild something; about {} of rebuild time in all, {}</p>",
        esc(range),
        h.commits,
        if h.commits == 1 { "" } else { "s" },
        esc(&duration(h.total_rebuild_seconds)),
        esc(&share_avoidable(h))
    );
    if let Some(u) = not_counted_sentence(h) {
        let _ = writeln!(o, "<p class=\"sub\">{}</p>", esc(&u));
    }
    plot(&mut o, h);
    for d in &h.dockerfiles {
        dockerfile_tables(&mut o, d);
    }
    if !h.not_counted.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Guessed builds, not counted</h2>\n<p>No declaration builds them; declare one under <code>builds:</code> to count it.</p>\n<table><tr><th>Dockerfile</th><th>commits rebuilding</th><th>time in all</th></tr>"
        );
        for d in &h.not_counted {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&d.path),
                d.commits_rebuilding,
                esc(&duration(d.rebuild_seconds))
            );
        }
        let _ = writeln!(o, "</table>");
    }
    o.push_str("</body></html>\n");
    // printed to stdout: no line a CI runner takes for a workflow command
    super::visible_lines(&o)
}

/// The bar chart of rebuild time per commit, its avoidable part in red.
fn plot(o: &mut String, h: &HistoryReport) {
    let n = h.per_commit.len().max(1);
    let (w, ph, left, bottom, top) = (940.0f64, 220.0f64, 96.0f64, 56.0f64, 12.0f64);
    let max = h
        .per_commit
        .iter()
        .map(|c| c.rebuild_seconds)
        .fold(0.0, f64::max)
        .max(1.0);
    let (tick, max) = axis(max);
    let ticks = (max / tick).round() as usize;
    let step = (w - left - 8.0) / n as f64;
    let bar = (step * 0.7).clamp(1.0, 48.0);
    let _ = writeln!(
        o,
        "<h2>Rebuild time per commit</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"rebuild time per commit\">",
        ph + bottom + top,
        ph + bottom + top
    );
    for k in 0..=ticks {
        let v = tick * k as f64;
        let y = top + ph - ph * v / max;
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#d1d9e0\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#59636e\">{}</text>",
            w - 4.0,
            left - 6.0,
            y + 4.0,
            // the axis starts at 0, not "0.0 s"
            if k == 0 {
                "0".to_string()
            } else {
                esc(&duration(v))
            }
        );
    }
    let label_every = (n / 20).max(1);
    for (i, c) in h.per_commit.iter().enumerate() {
        let x = left + step * i as f64 + (step - bar) / 2.0;
        let hh = ph * c.rebuild_seconds / max;
        let ha = ph * c.avoidable_seconds.min(c.rebuild_seconds) / max;
        let short: String = c.commit.chars().take(7).collect();
        let tip = format!(
            "{short} {}: {} steps, {} ({})",
            c.subject,
            c.rebuilt_steps,
            duration(c.rebuild_seconds),
            avoidable_words(c.avoidable_seconds)
        );
        let _ = writeln!(
            o,
            "<g><title>{}</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{hh:.1}\" fill=\"#54aeff\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{ha:.1}\" fill=\"#cf222e\"/></g>",
            esc(&tip),
            top + ph - hh,
            top + ph - ha
        );
        if i % label_every == 0 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#59636e\" transform=\"rotate(-45 {:.1} {:.1})\" text-anchor=\"end\" font-family=\"ui-monospace,monospace\">{}</text>",
                x + bar / 2.0,
                top + ph + 14.0,
                x + bar / 2.0,
                top + ph + 14.0,
                esc(&short)
            );
        }
    }
    let _ = writeln!(
        o,
        "</svg>\n<p class=\"legend\">oldest commit left<span style=\"background:#54aeff\"></span>rebuild time<span style=\"background:#cf222e\"></span>avoidable part</p>"
    );
}

/// One Dockerfile: what starts its rebuilds, and its most rebuilt steps.
fn dockerfile_tables(o: &mut String, d: &crate::engine::history::DockerfileHistory) {
    let _ = writeln!(
        o,
        "<h2><code>{}</code>{}</h2>\n<p>{} {} it, about {} in all; {}</p>",
        esc(&d.path),
        esc(guessed_label(d)),
        d.commits_rebuilding,
        commits_rebuild(d.commits_rebuilding),
        esc(&duration(d.rebuild_seconds)),
        esc(&avoidable_words(d.avoidable_seconds))
    );
    let _ = writeln!(
        o,
        "<table><tr><th>what starts the rebuilds</th><th>line</th><th>times</th><th>most often</th></tr>"
    );
    for t in d.triggers.iter().take(6) {
        let top: Vec<String> = t
            .top
            .iter()
            .map(|(p, n)| match what_words(&t.kind, p) {
                w if w == *p => format!("<code>{}</code> ({n})", esc(p)),
                w => format!("{} ({n})", esc(&w)),
            })
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&kind_words(&t.kind)),
            t.line,
            t.count,
            top.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "</table>\n<table><tr><th>most rebuilt steps</th><th>line</th><th>times</th><th>time in all</th></tr>"
    );
    for s in d.steps.iter().take(8) {
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&s.instruction),
            s.line,
            s.rebuilds,
            esc(&step_seconds(s))
        );
    }
    let _ = writeln!(o, "</table>");
}

/// "avoidable 1 min 20 s", or "nothing avoidable" (never "avoidable 0.0 s").
fn avoidable_words(secs: f64) -> String {
    if duration(secs) == duration(0.0) {
        "nothing avoidable".into()
    } else {
        format!("avoidable {}", duration(secs))
    }
}

/// "39% of it avoidable (1 min 20 s)", or "none of it avoidable".
fn share_avoidable(h: &HistoryReport) -> String {
    if duration(h.avoidable_seconds) == duration(0.0) {
        "none of it avoidable".into()
    } else {
        format!(
            "{:.0}% of it avoidable ({})",
            h.avoidable_share * 100.0,
            duration(h.avoidable_seconds)
        )
    }
}

/// The plot's y axis for a tallest bar of `max` seconds: a round tick (1, 2, 5, 10, 15, 30 s,
/// 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 4, 6, 12 h, then days) and the top, a whole number of ticks
/// (at most 4) at or above `max`.
fn axis(max: f64) -> (f64, f64) {
    const NICE: [f64; 19] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 14400.0, 21600.0, 43200.0, 86400.0,
    ];
    let max = if max.is_finite() { max.max(1.0) } else { 1.0 };
    let tick = NICE
        .iter()
        .copied()
        .find(|t| t * 4.0 >= max)
        .unwrap_or_else(|| (max / 4.0 / 86400.0).ceil() * 86400.0);
    (tick, (max / tick).ceil() * tick)
}

/// "1 commit rebuilds" / "3 commits rebuild" (without the number).
fn commits_rebuild(n: usize) -> &'static str {
    if n == 1 {
        "commit rebuilds"
    } else {
        "commits rebuild"
    }
}

/// A step's seconds over the history, or "unknown" when the cost model priced none of its
/// rebuilds.
fn step_seconds(s: &crate::engine::history::StepHistory) -> String {
    if s.unknown > 0 && s.seconds == 0.0 {
        "unknown".to_string()
    } else {
        duration(s.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "1 commit rebuilds it", "2 commits rebuild it": the verb agrees, in text and in HTML.
    #[test]
    fn one_commit_rebuilds_two_commits_rebuild() {
        for (n, words) in [(1, "1 commit rebuilds it"), (2, "2 commits rebuild it")] {
            let h = crate::engine::history::HistoryReport {
                commits: 2,
                dockerfiles: vec![crate::engine::history::DockerfileHistory {
                    path: "Dockerfile".into(),
                    guessed: false,
                    commits_rebuilding: n,
                    rebuild_seconds: 5.0,
                    avoidable_seconds: 0.0,
                    avoidable: Default::default(),
                    steps: Vec::new(),
                    triggers: Vec::new(),
                }],
                ..Default::default()
            };
            assert!(text(&h, "last 2 commits").contains(words), "{n}");
            assert!(html(&h, "last 2 commits").contains(words), "{n}");
        }
    }

    /// Nothing avoidable reads as words, never "avoidable 0.0 s" (text, HTML and the bars'
    /// tooltips); a real part keeps its time.
    #[test]
    fn nothing_avoidable_is_said_so() {
        use crate::engine::history::{CommitCost, DockerfileHistory, HistoryReport};
        for (secs, want) in [(0.0, "nothing avoidable"), (12.0, "avoidable 12 s")] {
            let h = HistoryReport {
                commits: 1,
                total_rebuild_seconds: 40.0,
                avoidable_seconds: secs,
                avoidable_share: secs / 40.0,
                dockerfiles: vec![DockerfileHistory {
                    path: "Dockerfile".into(),
                    commits_rebuilding: 1,
                    rebuild_seconds: 40.0,
                    avoidable_seconds: secs,
                    ..Default::default()
                }],
                per_commit: vec![CommitCost {
                    commit: "abc1234".into(),
                    subject: "s".into(),
                    rebuilt_steps: 2,
                    rebuild_seconds: 40.0,
                    avoidable_seconds: secs,
                    builds: Vec::new(),
                }],
                ..Default::default()
            };
            // the plot's axis starts at "0", not "0.0 s" (seen in the README's picture)
            let page = html(&h, "last 1 commit");
            assert!(page.contains("fill=\"#59636e\">0</text>"), "{page}");
            assert!(!page.contains(">0.0 s<"), "{page}");
            for out in [text(&h, "last 1 commit"), page] {
                assert!(!out.contains("avoidable 0.0 s"), "{out}");
                assert!(!out.contains("(0.0 s avoidable)"), "{out}");
                assert!(!out.contains("0% of it avoidable (0.0 s)"), "{out}");
                assert!(out.contains(want), "{want}: {out}");
            }
        }
    }

    /// The y axis of the plot has round ticks (0, 30 s, 1 min, …), whatever the tallest bar.
    #[test]
    fn plot_ticks_are_round() {
        for (max, step, top) in [
            (1.0, 1.0, 1.0),
            (7.3, 2.0, 8.0),
            (83.0, 30.0, 90.0),
            (206.75, 60.0, 240.0),
            (3000.0, 900.0, 3600.0),
            (40_000.0, 10_800.0, 43_200.0),
        ] {
            let (s, t) = axis(max);
            assert_eq!((s, t), (step, top), "{max}");
            assert!(t >= max && t / s <= 4.0, "{max}");
        }
    }

    /// An edit of the Dockerfile's text reads as a phrase, never "instruction changed: changed".
    #[test]
    fn trigger_words() {
        let cases = [
            (
                "dockerfile_text",
                "changed",
                "Dockerfile edited",
                "this instruction changed",
            ),
            (
                "dockerfile_text",
                "added",
                "Dockerfile edited",
                "this instruction added",
            ),
            (
                "dockerfile_text",
                "removed",
                "Dockerfile edited",
                "the one above it removed",
            ),
            ("files", "src/a.go", "files changed", "src/a.go"),
            ("build_arg", "SENTRY_IMAGE", "build arg", "SENTRY_IMAGE"),
        ];
        for (kind, what, k, w) in cases {
            assert_eq!(
                (kind_words(kind).as_str(), what_words(kind, what).as_str()),
                (k, w)
            );
        }
    }
}
