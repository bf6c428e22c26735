//! The event an Action run was started by (`GITHUB_EVENT_PATH`), read with cachebust's own serde
//! structs (only the fields it needs, so new fields or actions never break the parse).

use serde::Deserialize;

/// What to analyse for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `pull_request` / `pull_request_target`: the pull request's base and head commits.
    PullRequest {
        number: u64,
        action: String,
        base_sha: String,
        head_sha: String,
        /// `owner/name` of the head repository (`None` when the fork was deleted).
        head_repo: Option<String>,
        base_repo: String,
        draft: bool,
    },
    /// `push`: `before..after` (`before` is all zeros for a new branch).
    Push { before: String, after: String },
    /// Anything else (`workflow_dispatch`, …): the commit the run is for.
    Other { sha: Option<String> },
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Deserialize)]
struct Side {
    sha: String,
    #[serde(default)]
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct Pull {
    number: u64,
    #[serde(default)]
    draft: bool,
    head: Side,
    base: Side,
}

#[derive(Deserialize)]
struct PullEvent {
    #[serde(default)]
    action: String,
    pull_request: Pull,
}

#[derive(Deserialize)]
struct PushEvent {
    before: String,
    after: String,
}

/// Read an event payload. `sha` is `GITHUB_SHA`, used for events without commits of their own.
pub fn parse(event_name: &str, payload: &str, sha: Option<&str>) -> Result<Trigger, String> {
    match event_name {
        "pull_request" | "pull_request_target" => {
            let e: PullEvent = serde_json::from_str(payload)
                .map_err(|e| format!("the {event_name} event payload: {e}"))?;
            let p = e.pull_request;
            Ok(Trigger::PullRequest {
                number: p.number,
                action: e.action,
                base_sha: p.base.sha,
                head_sha: p.head.sha,
                head_repo: p.head.repo.map(|r| r.full_name),
                base_repo: p.base.repo.map(|r| r.full_name).unwrap_or_default(),
                draft: p.draft,
            })
        }
        "push" => {
            let e: PushEvent = serde_json::from_str(payload)
                .map_err(|e| format!("the push event payload: {e}"))?;
            Ok(Trigger::Push {
                before: e.before,
                after: e.after,
            })
        }
        _ => Ok(Trigger::Other {
            sha: sha.map(str::to_string),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_payloads_parse() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/github/webhooks");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("pull_request.") {
                continue;
            }
            let t = parse(
                "pull_request",
                &std::fs::read_to_string(e.path()).unwrap(),
                None,
            )
            .unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(
                matches!(t, Trigger::PullRequest { number, ref head_sha, .. } if number > 0 && head_sha.len() == 40),
                "{name}"
            );
            n += 1;
        }
        assert!(n >= 20);
    }

    #[test]
    fn other_events() {
        assert_eq!(
            parse(
                "push",
                r#"{"before":"a","after":"b","ref":"refs/heads/x"}"#,
                None
            ),
            Ok(Trigger::Push {
                before: "a".into(),
                after: "b".into()
            })
        );
        assert_eq!(
            parse("workflow_dispatch", "{}", Some("c")),
            Ok(Trigger::Other {
                sha: Some("c".into())
            })
        );
        assert!(parse("pull_request", "{}", None).is_err());
    }
}
