//! GitHub events read once from (event name, payload bytes) into the typed `ports::GitHubEvent`,
//! for the server's webhook intake and the Action's `GITHUB_EVENT_PATH` alike (bors's layout).
//! cachebust's own serde structs name only the fields it needs, so new fields or actions never
//! break the parse; a payload that is not JSON, or lacks what its event must carry (a pull
//! request's number and commits, an installation's id), is an `EventError`.

use serde::Deserialize;

use crate::ports::{
    CheckEvent, CheckPull, GitHubEvent, InstallationEvent, PullRequestEvent, PushEvent,
};

/// A payload that does not fit its event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {event} event payload: {message}")]
pub struct EventError {
    pub event: String,
    pub message: String,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
    #[serde(default)]
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    login: Option<String>,
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
    draft: Option<bool>,
    head: Side,
    base: Side,
}

#[derive(Deserialize)]
struct PullPayload {
    #[serde(default)]
    action: Option<String>,
    pull_request: Pull,
    #[serde(default)]
    repository: Option<RepoRef>,
    #[serde(default)]
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct AppRef {
    #[serde(default)]
    id: Option<u64>,
}

#[derive(Deserialize)]
struct CheckPullBody {
    number: u64,
    #[serde(default)]
    base: Option<BaseSha>,
}

#[derive(Deserialize)]
struct BaseSha {
    #[serde(default)]
    sha: Option<String>,
}

#[derive(Deserialize)]
struct Check {
    head_sha: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    app: Option<AppRef>,
    #[serde(default)]
    pull_requests: Option<Vec<CheckPullBody>>,
}

#[derive(Deserialize)]
struct CheckPayload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    check_run: Option<Check>,
    #[serde(default)]
    check_suite: Option<Check>,
    #[serde(default)]
    repository: Option<RepoRef>,
    #[serde(default)]
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct RepoName {
    #[serde(default)]
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct InstallationPayload {
    #[serde(default)]
    action: Option<String>,
    installation: Installation,
    #[serde(default)]
    repositories: Option<Vec<RepoName>>,
    #[serde(default)]
    repositories_added: Option<Vec<RepoName>>,
    #[serde(default)]
    repositories_removed: Option<Vec<RepoName>>,
}

#[derive(Deserialize)]
struct PushPayload {
    before: String,
    after: String,
}

fn names(list: Option<Vec<RepoName>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.full_name)
        .collect()
}

/// Read the payload of event `name`.
pub fn parse(name: &str, payload: &[u8]) -> Result<GitHubEvent, EventError> {
    let fail = |e: serde_json::Error| EventError {
        event: name.to_string(),
        message: e.to_string(),
    };
    Ok(match name {
        "pull_request" | "pull_request_target" => {
            let e: PullPayload = serde_json::from_slice(payload).map_err(fail)?;
            let p = e.pull_request;
            GitHubEvent::PullRequest(PullRequestEvent {
                target: name == "pull_request_target",
                action: e.action.unwrap_or_default(),
                number: p.number,
                draft: p.draft.unwrap_or(false),
                head_sha: p.head.sha,
                base_sha: p.base.sha,
                head_repo: p.head.repo.map(|r| r.full_name),
                base_repo: p.base.repo.map(|r| r.full_name),
                repository: e.repository.map(|r| r.full_name),
                installation: e.installation.map(|i| i.id),
            })
        }
        "check_run" | "check_suite" => {
            let e: CheckPayload = serde_json::from_slice(payload).map_err(fail)?;
            let suite = name == "check_suite";
            let Some(c) = (if suite { e.check_suite } else { e.check_run }) else {
                return Err(EventError {
                    event: name.to_string(),
                    message: format!("no {name}"),
                });
            };
            GitHubEvent::Check(CheckEvent {
                suite,
                action: e.action.unwrap_or_default(),
                name: c.name,
                app_id: c.app.and_then(|a| a.id),
                head_sha: c.head_sha,
                pull_requests: c
                    .pull_requests
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| CheckPull {
                        number: p.number,
                        base_sha: p.base.and_then(|b| b.sha).unwrap_or_default(),
                    })
                    .collect(),
                repository: e.repository.map(|r| r.full_name),
                installation: e.installation.map(|i| i.id),
            })
        }
        "installation" | "installation_repositories" => {
            let e: InstallationPayload = serde_json::from_slice(payload).map_err(fail)?;
            let repositories = name == "installation_repositories";
            let (added, removed) = if repositories {
                (names(e.repositories_added), names(e.repositories_removed))
            } else {
                (names(e.repositories), Vec::new())
            };
            GitHubEvent::Installation(InstallationEvent {
                repositories,
                action: e.action.unwrap_or_default(),
                id: e.installation.id,
                account: e
                    .installation
                    .account
                    .and_then(|a| a.login)
                    .unwrap_or_default(),
                added,
                removed,
            })
        }
        "push" => {
            let e: PushPayload = serde_json::from_slice(payload).map_err(fail)?;
            GitHubEvent::Push(PushEvent {
                before: e.before,
                after: e.after,
            })
        }
        other => {
            // read as JSON all the same: a body that is not is malformed whatever its event
            serde_json::from_slice::<serde::de::IgnoredAny>(payload).map_err(fail)?;
            if other == "ping" {
                GitHubEvent::Ping
            } else {
                GitHubEvent::Other(other.to_string())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_payloads(prefix: &str) -> Vec<(String, Vec<u8>)> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/github/webhooks");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn captured_payloads_parse() {
        let prs = shared_payloads("pull_request.");
        for (name, body) in &prs {
            let e = parse("pull_request", body).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(
                matches!(&e, GitHubEvent::PullRequest(p) if p.number > 0 && p.head_sha.len() == 40 && p.repository.is_some() && name.contains(&p.action)),
                "{name}: {e:?}"
            );
        }
        if prs.is_empty() {
            return;
        }
        assert!(prs.len() >= 20);
        for (prefix, event) in [
            ("check_run.", "check_run"),
            ("check_suite.", "check_suite"),
            ("installation.", "installation"),
            ("installation_repositories.", "installation_repositories"),
            ("ping.", "ping"),
        ] {
            let all = shared_payloads(prefix);
            assert!(!all.is_empty(), "{prefix}");
            for (name, body) in all {
                let e = parse(event, &body).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(e.name(), event, "{name}");
            }
        }
        let (_, suite) = &shared_payloads("check_suite.rerequested.1")[0];
        match parse("check_suite", suite).unwrap() {
            GitHubEvent::Check(c) => {
                assert!(c.suite && c.action == "rerequested" && c.head_sha.len() == 40);
                assert_eq!(c.pull_requests.len(), 1);
                assert_eq!(c.pull_requests[0].base_sha.len(), 40);
            }
            other => panic!("{other:?}"),
        }
        let (_, added) = &shared_payloads("installation_repositories.added.1")[0];
        match parse("installation_repositories", added).unwrap() {
            GitHubEvent::Installation(i) => {
                assert!(i.repositories && i.id > 0 && !i.account.is_empty());
                assert!(!i.added.is_empty() && i.removed.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_events() {
        assert_eq!(
            parse(
                "push",
                br#"{"before":"a","after":"b","ref":"refs/heads/x"}"#
            ),
            Ok(GitHubEvent::Push(PushEvent {
                before: "a".into(),
                after: "b".into()
            }))
        );
        assert_eq!(
            parse("workflow_dispatch", b"{}"),
            Ok(GitHubEvent::Other("workflow_dispatch".into()))
        );
        assert_eq!(parse("ping", b"{\"zen\":\"x\"}"), Ok(GitHubEvent::Ping));
        let e = parse("pull_request", b"{}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the pull_request event payload: missing field `pull_request`"),
            "{e}"
        );
        // not JSON: malformed whatever the event
        assert!(parse("star", b"{\"action\": ").is_err());
        assert!(parse("ping", b"").is_err());
        // a pull request without its head commit
        assert!(
            parse(
                "pull_request",
                br#"{"action":"opened","pull_request":{"number":1,"head":null,"base":{"sha":"b"}}}"#
            )
            .is_err()
        );
        // installation events need the installation's id
        assert!(parse("installation", br#"{"action":"created","installation":{}}"#).is_err());
    }
}
