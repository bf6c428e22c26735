//! `--fail-on` / `fail_on`: the condition a CI step fails on, parsed from its text and checked on
//! the report. Pure, shared by the CLI and the Action.

/// `--fail-on` condition: a metric above a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOn {
    /// More rebuilt steps than this.
    RebuiltSteps(usize),
    /// More estimated rebuild seconds than this.
    RebuildSeconds(f64),
}

impl FailOn {
    pub fn exceeded(&self, report: &crate::engine::report::Report) -> bool {
        match *self {
            FailOn::RebuiltSteps(n) => report.rebuilt_steps() > n,
            FailOn::RebuildSeconds(s) => report.rebuild_seconds() > s,
        }
    }
}

pub fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    let t = s.replace(' ', "");
    let (metric, rest) = if let Some(r) = t.strip_prefix("rebuilt-steps") {
        ("steps", r)
    } else if let Some(r) = t.strip_prefix("rebuild-seconds") {
        ("seconds", r)
    } else {
        return Err(format!(
            "unknown condition {s:?}: expected rebuilt-steps>N or rebuild-seconds>N (or >=)"
        ));
    };
    let (n, ge) = match rest.strip_prefix(">=") {
        Some(n) => (n, true),
        None => (
            rest.strip_prefix('>')
                .ok_or_else(|| format!("{s:?}: expected > or >= after the metric"))?,
            false,
        ),
    };
    match metric {
        "steps" => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("{s:?}: {n:?} is not a whole number"))?;
            if ge && n == 0 {
                return Err(format!("{s:?} is always true"));
            }
            Ok(FailOn::RebuiltSteps(if ge { n - 1 } else { n }))
        }
        _ => {
            let x: f64 = n
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{s:?}: {n:?} is not a number of seconds"))?;
            Ok(FailOn::RebuildSeconds(if ge { x - 1e-9 } else { x }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_conditions() {
        assert_eq!(
            parse_fail_on("rebuilt-steps>3"),
            Ok(FailOn::RebuiltSteps(3))
        );
        assert_eq!(
            parse_fail_on("rebuilt-steps>=1"),
            Ok(FailOn::RebuiltSteps(0))
        );
        assert_eq!(
            parse_fail_on("rebuild-seconds>120"),
            Ok(FailOn::RebuildSeconds(120.0))
        );
        assert!(parse_fail_on("rebuilt-steps>x").is_err());
        assert!(parse_fail_on("rebuild-seconds>-1").is_err());
        assert!(parse_fail_on("steps>1").is_err());
    }
}
