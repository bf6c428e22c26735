//! What a fix saves, said once per review (issue 32): the seconds a finding's fix saves on this
//! change, the avoidable part of a build, and the claim each finding makes about its saving. A
//! patch merged for several findings states its saving at one of them (`claim`), the others
//! name that one; a finding whose own step this change does not re-run says its patch saves on
//! later changes. Every surface (review comments, summary, job summary, check run, annotations,
//! CLI text, markdown and JSON) words its savings through here, so they state the same numbers.

use super::duration;
use crate::engine::fix::Applicability;
use crate::engine::report::{DockerfileReport, Status};
use crate::engine::rules::Finding;

/// Seconds a fix saves on this change (0 when it saves nothing here).
pub fn saved_seconds(f: &Finding) -> f64 {
    f.savings
        .as_ref()
        .map_or(0.0, |s| (s.seconds_before - s.seconds_after).max(0.0))
}

/// What the fixes of a build can save on this change: the best single fix (fixes overlap, so
/// their savings do not add up), at most the build's rebuild time.
pub fn avoidable_seconds(df: &DockerfileReport) -> f64 {
    let best = df
        .findings
        .iter()
        .filter(|f| f.relevant)
        .map(saved_seconds)
        .fold(0.0, f64::max);
    best.min(
        df.cost
            .as_ref()
            .map_or(0.0, |c| c.estimated_rebuild_seconds),
    )
}

/// What a finding says about its saving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Claim<'a> {
    /// It states what its fix saves on this change.
    States,
    /// Its fix is one patch with other findings' and `by` states that patch's saving;
    /// `cached`: this change does not re-run the finding's own step.
    Shares { by: &'a Finding, cached: bool },
}

/// The claim of `f`, a finding of `df`: a fix merged for several findings about this change
/// states its saving once, at the first of them whose step re-runs in this change (where the
/// time is saved), else at the first of them.
pub fn claim<'a>(df: &'a DockerfileReport, f: &Finding) -> Claim<'a> {
    let Some(fix) = f.fix.as_ref().filter(|_| f.relevant) else {
        return Claim::States;
    };
    let group: Vec<&Finding> = df
        .findings
        .iter()
        .filter(|g| g.relevant && g.fix.as_ref() == Some(fix))
        .collect();
    if group.len() < 2 {
        return Claim::States;
    }
    let reruns = |g: &Finding| {
        df.steps
            .iter()
            .any(|s| s.line == g.line && s.status == Status::Rebuilt)
    };
    let by = group
        .iter()
        .copied()
        .find(|g| reruns(g))
        .unwrap_or(group[0]);
    if std::ptr::eq(by, f) || (by.line == f.line && by.code == f.code) {
        Claim::States
    } else {
        Claim::Shares {
            by,
            cached: !reruns(f),
        }
    }
}

/// Whether `f` shares the patch of `earlier`, the finding that states its saving on this
/// change: a list that says "the same fix as line 4 above" has said where the saving is.
pub fn claimed_by(df: &DockerfileReport, f: &Finding, earlier: Option<&Finding>) -> bool {
    match (claim(df, f), earlier) {
        (Claim::Shares { by, cached: false }, Some(e)) => by.line == e.line && by.code == e.code,
        _ => false,
    }
}

/// The words of a shared claim (the same in short and in full).
fn shared(by: &Finding, cached: bool) -> String {
    if cached {
        format!(
            "stays cached on this change, saves on later ones (one patch with {} line {}, which counts this change's saving)",
            by.code, by.line
        )
    } else {
        format!(
            "one patch with {} line {}, which counts its saving",
            by.code, by.line
        )
    }
}

/// The short claim of `f` for PR text ("saves about 22 s on this change"), `None` when its fix
/// was not predicted.
pub fn claim_short(df: &DockerfileReport, f: &Finding) -> Option<String> {
    f.savings.as_ref()?;
    match claim(df, f) {
        Claim::States => saving_short(f),
        Claim::Shares { by, cached } => Some(shared(by, cached)),
    }
}

/// The claim of `f` as a sentence (terminal text, JSON `savings_text`, annotations).
pub fn claim_sentence(df: &DockerfileReport, f: &Finding) -> Option<String> {
    f.savings.as_ref()?;
    match claim(df, f) {
        Claim::States => savings_sentence(f),
        Claim::Shares { by, cached } => Some(shared(by, cached)),
    }
}

fn steps(n: usize) -> String {
    format!("{n} step{}", if n == 1 { "" } else { "s" })
}

/// What a fix saves for this change: "with this patch, this change rebuilds 2 steps instead of
/// 9 (about 3 min 40 s saved per build)". An "instead of" never goes both ways: fewer steps in
/// more time (or more steps in less time) is said as the time, with the steps after it.
pub fn savings_sentence(f: &Finding) -> Option<String> {
    let s = f.savings.as_ref()?;
    let saved = s.seconds_before - s.seconds_after;
    let (a, b) = (s.rebuilt_steps_after, s.rebuilt_steps_before);
    let withheld = f
        .fix
        .as_ref()
        .is_some_and(|x| x.applicability == Applicability::DisplayOnly);
    let withheld_note = if withheld {
        ": shown, not offered as a patch for this change"
    } else {
        ""
    };
    Some(if saved < -0.05 && a < b {
        format!(
            "with this patch, this change would rebuild about {} more per build (in {} fewer, costlier step{}){withheld_note}",
            duration(-saved),
            b - a,
            if b - a == 1 { "" } else { "s" }
        )
    } else if saved < -0.05 {
        format!(
            "with this patch, this change would rebuild {} instead of {} (about {} more per build){withheld_note}",
            steps(a),
            steps(b),
            duration(-saved),
        )
    } else if a > b && withheld {
        format!(
            "with this patch, this change would rebuild {} instead of {}{withheld_note}",
            steps(a),
            steps(b)
        )
    } else if a > b && saved <= 0.05 {
        format!(
            "with this patch, this change rebuilds {} instead of {}, in the same time",
            steps(a),
            steps(b)
        )
    } else if a == b && saved <= 0.05 {
        "this change rebuilds as much with this patch as without it".to_string()
    } else if a == b {
        format!(
            "with this patch, this change rebuilds the same {}, about {} faster per build",
            steps(a),
            duration(saved)
        )
    } else if a > b {
        // more steps, less time: said as the saving, never "4 steps instead of 3 (… saved)"
        format!(
            "with this patch, this change rebuilds about {} faster per build (in {} more, cheaper step{})",
            duration(saved),
            a - b,
            if a - b == 1 { "" } else { "s" }
        )
    } else if saved > 0.05 {
        format!(
            "with this patch, this change rebuilds {} instead of {} (about {} saved per build)",
            steps(a),
            steps(b),
            duration(saved)
        )
    } else {
        format!(
            "with this patch, this change rebuilds {} instead of {}",
            steps(a),
            steps(b)
        )
    })
}

/// The short saving of a fix, for PR text: "saves about 1 min 17 s on this change (1 step
/// rebuilds instead of 5)".
pub fn saving_short(f: &Finding) -> Option<String> {
    let s = f.savings.as_ref()?;
    let saved = s.seconds_before - s.seconds_after;
    let (a, b) = (s.rebuilt_steps_after, s.rebuilt_steps_before);
    Some(if saved > 0.05 && a < b {
        let now = match a {
            0 => format!("nothing rebuilds instead of {}", steps(b)),
            1 => format!("1 step rebuilds instead of {b}"),
            _ => format!("{a} steps rebuild instead of {b}"),
        };
        format!("saves about {} on this change ({now})", duration(saved))
    } else if saved > 0.05 {
        format!("saves about {} on this change", duration(saved))
    } else if saved < -0.05 {
        format!(
            "costs about {} more on this change, saves on later ones",
            duration(-saved)
        )
    } else if a > b {
        format!(
            "costs {} more rebuilt step{} now (in the same time), saves on later changes",
            a - b,
            if a - b == 1 { "" } else { "s" }
        )
    } else if a < b {
        // fewer steps in the same priced time: the steps it spares are cheap or unpriced
        let now = match a {
            0 => format!("nothing rebuilds instead of {}", steps(b)),
            1 => format!("1 step rebuilds instead of {b}"),
            _ => format!("{a} steps rebuild instead of {b}"),
        };
        format!("saves {} on this change ({now})", steps(b - a))
    } else {
        "saves nothing on this change, only on later ones".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::Savings;

    fn finding(a: usize, b: usize, saved: f64, withheld: bool) -> Finding {
        Finding {
            code: "CB004",
            name: "cache-mount",
            severity: crate::engine::dockerfile::Severity::Warning,
            line: 3,
            end_line: 3,
            stage: String::new(),
            message: String::new(),
            fix: Some(crate::engine::fix::Fix {
                applicability: if withheld {
                    Applicability::DisplayOnly
                } else {
                    Applicability::Unsafe
                },
                description: String::new(),
                edits: vec![],
            }),
            own_fix: None,
            fingerprint: String::new(),
            relevant: true,
            savings: Some(Savings {
                rebuilt_steps_before: b,
                rebuilt_steps_after: a,
                seconds_before: 100.0,
                seconds_after: 100.0 - saved,
            }),
            own_savings: None,
        }
    }

    /// An "instead of" never goes both ways (issue 32: "rebuilds 4 steps instead of 3 (about
    /// 22 s saved)"), in the sentence or the short form: every combination of fewer, as many
    /// and more steps with less, the same and more time.
    #[test]
    fn instead_of_never_goes_both_ways() {
        let re = regex::Regex::new(r"(\d+) steps? (?:rebuilds? )?instead of (\d+)").unwrap();
        let nothing = regex::Regex::new(r"nothing rebuilds instead of (\d+)").unwrap();
        for a in 0..4 {
            for b in 0..4 {
                for saved in [-12.0, 0.0, 12.0] {
                    for withheld in [false, true] {
                        let f = finding(a, b, saved, withheld);
                        for s in [savings_sentence(&f).unwrap(), saving_short(&f).unwrap()] {
                            assert_one_way(&re, &nothing, &s, (a, b, saved));
                        }
                        assert_short_wording(&saving_short(&f).unwrap(), a, b, saved);
                    }
                }
            }
        }
    }

    /// In `s` (the finding of `case`: steps after, before, seconds saved), an "instead of" (read
    /// by `re`, or `nothing` for no step) with fewer steps never costs time, nor one with more
    /// steps saves time.
    fn assert_one_way(
        re: &regex::Regex,
        nothing: &regex::Regex,
        s: &str,
        (a, b, saved): (usize, usize, f64),
    ) {
        let pair = re
            .captures(s)
            .map(|c| (c[1].parse::<usize>().unwrap(), c[2].parse().unwrap()))
            .or_else(|| nothing.captures(s).map(|c| (0, c[1].parse().unwrap())));
        let Some((after, before)) = pair else {
            return;
        };
        let (fewer, more) = (after < before, after > before);
        let less_time = s.contains("saved") || s.contains("faster") || s.contains("saves about");
        let more_time = s.contains("more per build") || s.contains("costs about");
        assert!(!(fewer && more_time), "{a} {b} {saved}: {s}");
        assert!(!(more && less_time), "{a} {b} {saved}: {s}");
    }

    /// A cost is never worded as a saving, nor a saving as a cost, in the short form `short` of
    /// a finding with `a` steps after, `b` before and `saved` seconds saved.
    fn assert_short_wording(short: &str, a: usize, b: usize, saved: f64) {
        if saved < 0.0 {
            assert!(!short.contains("saves about"), "{short}");
        }
        if saved > 0.0 {
            assert!(!short.contains("costs"), "{short}");
        }
        if a > b && saved == 0.0 {
            assert!(short.contains(&format!("costs {} more", a - b)), "{short}");
        }
        // fewer steps in the same priced time (unpriced steps spared) is a saving
        if a < b && saved == 0.0 {
            assert!(short.starts_with(&format!("saves {}", b - a)), "{short}");
        }
    }
}
