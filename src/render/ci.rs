//! What the review says about the build records it fetched from CI (`app::ci`): where the
//! costs came from, and the one line for each record that could not be used (expired, missing,
//! too large, unreadable), after which the prediction stands on the model. These are notes of
//! the summary: fragments joined with `; ` (`render::join_notes`), plain text (the summary
//! escapes them whole).

/// Why an artifact's build records were not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    Expired,
    Missing,
    TooLarge { limit: u64 },
    Unreadable(String),
    Failed(String),
}

fn why(u: &Unusable) -> String {
    match u {
        Unusable::Expired => "has expired".into(),
        Unusable::Missing => "is gone (not found)".into(),
        Unusable::TooLarge { limit } => format!(
            "is larger than {} MiB, the limit, and was not read",
            limit.div_ceil(1024 * 1024)
        ),
        Unusable::Unreadable(e) => format!("cannot be read ({})", super::visible(e)),
        Unusable::Failed(e) => format!("could not be downloaded ({})", super::visible(e)),
    }
}

/// The name a verification carries for a record CI uploaded.
pub fn record_name(artifact: &str, run: u64) -> String {
    format!("{} (run {run})", super::visible(artifact))
}

/// The pull request's own build uploaded a record that cannot be used.
pub fn head_record_unusable(artifact: &str, run: u64, u: &Unusable) -> String {
    format!(
        "the build record {} of run {run} {}: the prediction is not compared with what CI did",
        super::visible(artifact),
        why(u)
    )
}

/// A named workflow's run for the head uploaded no build record.
pub fn head_run_without_record(run: u64) -> String {
    format!(
        "run {run} uploaded no build record (no .dockerbuild artifact: docker/build-push-action and bake-action v6 and later upload one unless DOCKER_BUILD_SUMMARY or DOCKER_BUILD_RECORD_UPLOAD is false): the prediction is not compared with what CI did"
    )
}

/// A named workflow has no run for the head (yet).
pub fn no_head_run(workflow: &str, head: &str) -> String {
    format!(
        "workflow {} has no run for {} yet: the prediction is not compared with what CI did",
        super::visible(workflow),
        &head[..head.len().min(12)]
    )
}

/// Listing the runs or artifacts failed.
pub fn listing_failed(what: &str, error: &str) -> String {
    format!(
        "the build records of {what} could not be listed ({}): step costs come from the model",
        super::visible(error)
    )
}

/// Records of the base branch that could not be used; `first` names one of them.
pub fn base_records_unusable(
    branch: &str,
    count: usize,
    artifact: &str,
    run: u64,
    u: &Unusable,
) -> String {
    let more = if count > 1 {
        format!(" and {} more", count - 1)
    } else {
        String::new()
    };
    format!(
        "the build record {} of run {run} on {}{more} {}: {}",
        super::visible(artifact),
        super::visible(branch),
        if count > 1 {
            "were not used (the first one".to_string() + &format!(" {})", why(u))
        } else {
            why(u)
        },
        "those steps' costs come from the model"
    )
}

/// Where the step costs came from: build records of the base branch.
pub fn base_costs(branch: &str, records: usize, runs: &[u64]) -> String {
    let ids: Vec<String> = runs.iter().map(u64::to_string).collect();
    format!(
        "step costs from {records} build record{} of {} (run{} {}): each step's median over the records that ran it, with the number of samples and their spread; steps no record ran are priced by the model",
        if records == 1 { "" } else { "s" },
        super::visible(branch),
        if runs.len() == 1 { "" } else { "s" },
        ids.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unusable_record_is_one_line() {
        let cases = [
            (
                Unusable::Expired,
                "the build record o~r~ABC123.dockerbuild of run 9 has expired: the prediction is not compared with what CI did",
            ),
            (
                Unusable::TooLarge { limit: 64 << 20 },
                "the build record o~r~ABC123.dockerbuild of run 9 is larger than 64 MiB, the limit, and was not read: the prediction is not compared with what CI did",
            ),
        ];
        for (u, want) in cases {
            let s =
                crate::render::backticked(&head_record_unusable("o~r~ABC123.dockerbuild", 9, &u));
            assert_eq!(s, want);
            assert!(!s.contains('\n'));
        }
        assert_eq!(
            (base_records_unusable("main", 1, "a.dockerbuild", 5, &Unusable::Missing)),
            "the build record a.dockerbuild of run 5 on main is gone (not found): those steps' costs come from the model"
        );
        assert_eq!(
            (base_records_unusable("main", 3, "a.dockerbuild", 5, &Unusable::Expired)),
            "the build record a.dockerbuild of run 5 on main and 2 more were not used (the first one has expired): those steps' costs come from the model"
        );
    }
}
