//! Webhook deliveries: the signature check (HMAC-SHA256 of the raw body, constant-time, several
//! secrets for rotation), what each event means for cachebust (queue a job, keep the list of
//! installations, answer a ping, ignore), and recording it durably before GitHub is answered.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ports::{Enqueued, GitHubEvent, InstallationChange, JobStore, NewJob, StoreError};

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under one of `secrets`.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify_signature(secrets: &[String], header: Option<&str>, body: &[u8]) -> bool {
    SignatureCheck::new(secrets, header).is_some_and(|mut c| {
        c.update(body);
        c.verify()
    })
}

/// `verify_signature` fed piece by piece, as the body arrives.
pub struct SignatureCheck {
    sig: Vec<u8>,
    macs: Vec<Hmac<Sha256>>,
}

impl SignatureCheck {
    /// `None` when the header is missing or malformed (nothing can match).
    pub fn new(secrets: &[String], header: Option<&str>) -> Option<SignatureCheck> {
        let hex = header.and_then(|h| h.trim().strip_prefix("sha256="))?;
        let sig = decode_hex(hex)?;
        let macs = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| Hmac::<Sha256>::new_from_slice(s.as_bytes()).ok())
            .collect();
        Some(SignatureCheck { sig, macs })
    }
    pub fn update(&mut self, chunk: &[u8]) {
        for m in &mut self.macs {
            m.update(chunk);
        }
    }
    /// Constant-time comparison with each secret's MAC.
    pub fn verify(self) -> bool {
        let sig = self.sig;
        self.macs
            .into_iter()
            .map(|m| m.verify_slice(&sig).is_ok())
            .fold(false, |a, b| a | b)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The `sha256=` signature of a body (for tests and load generators).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Analyse draft pull requests too (default: wait for `ready_for_review`).
    pub drafts: bool,
    /// Our App's id: check-run re-runs of other apps are ignored.
    pub app_id: Option<u64>,
}

/// What a delivery asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Enqueue {
        job: NewJob,
        force: bool,
    },
    Installation {
        id: u64,
        account: String,
        added: Vec<String>,
        removed: Vec<String>,
        deleted: bool,
    },
    Ping,
    Ignore(String),
}

fn missing(event: &str, field: &str) -> String {
    format!("the {event} payload has no {field}")
}

/// Decide from the typed event (`adapters::github::event`). `Err` names a missing field (400).
pub fn decide(
    delivery_id: &str,
    event: &GitHubEvent,
    cfg: &WebhookConfig,
) -> Result<Decision, String> {
    let name = event.name();
    match event {
        GitHubEvent::Ping => Ok(Decision::Ping),
        GitHubEvent::PullRequest(p) if !p.target => {
            let action = p.action.as_str();
            if !matches!(
                action,
                "opened" | "synchronize" | "reopened" | "ready_for_review"
            ) {
                return Ok(Decision::Ignore(format!("pull_request {action}")));
            }
            if p.draft && !cfg.drafts {
                return Ok(Decision::Ignore(
                    "a draft pull request (analysed when it is ready for review)".into(),
                ));
            }
            Ok(Decision::Enqueue {
                job: NewJob {
                    delivery_id: delivery_id.into(),
                    kind: "pull_request".into(),
                    repo: p
                        .repository
                        .clone()
                        .ok_or_else(|| missing(name, "/repository/full_name"))?,
                    pr_number: p.number,
                    head_sha: p.head_sha.clone(),
                    base_sha: p.base_sha.clone(),
                    installation_id: p
                        .installation
                        .ok_or_else(|| missing(name, "/installation/id"))?,
                },
                force: false,
            })
        }
        GitHubEvent::Check(c) => {
            let action = c.action.as_str();
            // "Re-run" on a check run, "Re-run all checks" on the pull request's checks tab
            let handled = if c.suite {
                action == "rerequested"
            } else {
                matches!(action, "rerequested" | "requested_action")
            };
            if !handled {
                return Ok(Decision::Ignore(format!("{name} {action}")));
            }
            let what = name.replace('_', " ");
            if let (Some(ours), Some(theirs)) = (cfg.app_id, c.app_id) {
                if ours != theirs {
                    return Ok(Decision::Ignore(format!("a {what} of another app")));
                }
            }
            if !c.suite && c.name.as_deref().is_some_and(|n| n != "cachebust") {
                return Ok(Decision::Ignore(
                    "a check run cachebust did not create".into(),
                ));
            }
            let Some(pr) = c.pull_requests.first() else {
                return Ok(Decision::Ignore(format!("a {what} without a pull request")));
            };
            Ok(Decision::Enqueue {
                job: NewJob {
                    delivery_id: delivery_id.into(),
                    kind: "rerun".into(),
                    repo: c
                        .repository
                        .clone()
                        .ok_or_else(|| missing(name, "/repository/full_name"))?,
                    pr_number: pr.number,
                    head_sha: c.head_sha.clone(),
                    base_sha: pr.base_sha.clone(),
                    installation_id: c
                        .installation
                        .ok_or_else(|| missing(name, "/installation/id"))?,
                },
                force: true,
            })
        }
        GitHubEvent::Installation(i) => Ok(Decision::Installation {
            id: i.id,
            account: i.account.clone(),
            added: i.added.clone(),
            removed: i.removed.clone(),
            deleted: !i.repositories && i.action == "deleted",
        }),
        GitHubEvent::PullRequest(_) | GitHubEvent::Push(_) | GitHubEvent::Other(_) => {
            Ok(Decision::Ignore(format!("event {name}")))
        }
    }
}

/// What the delivery led to, for the answer and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Queued { id: i64, superseded: u64 },
    Duplicate,
    AlreadyQueued { id: i64 },
    Installations,
    Pong,
    Ignored(String),
}

impl Accepted {
    /// The metrics label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Accepted::Queued { .. } => "queued",
            Accepted::Duplicate => "duplicate",
            Accepted::AlreadyQueued { .. } => "already_queued",
            Accepted::Installations => "installation",
            Accepted::Pong => "ping",
            Accepted::Ignored(_) => "ignored",
        }
    }
}

/// Why a verified delivery was not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// It lacks what its event carries (the sentence says what): a 400, not to be redelivered.
    #[error("{0}")]
    Malformed(String),
    /// The queue did not record it: a 503, GitHub may redeliver.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Act on a verified, parsed delivery; returns once it is durable.
pub async fn accept<S: JobStore>(
    store: &S,
    delivery_id: &str,
    event: &GitHubEvent,
    cfg: &WebhookConfig,
) -> Result<Accepted, AcceptError> {
    let decision = decide(delivery_id, event, cfg).map_err(AcceptError::Malformed)?;
    Ok(match decision {
        Decision::Ping => Accepted::Pong,
        Decision::Ignore(why) => Accepted::Ignored(why),
        Decision::Enqueue { job, force } => match store.enqueue(&job, force).await? {
            Enqueued::Queued { id, superseded } => Accepted::Queued { id, superseded },
            Enqueued::DuplicateDelivery => Accepted::Duplicate,
            Enqueued::AlreadyQueued { id } => Accepted::AlreadyQueued { id },
        },
        Decision::Installation {
            id,
            account,
            added,
            removed,
            deleted,
        } => {
            let change = InstallationChange {
                id,
                account,
                added,
                removed,
                deleted,
            };
            // the delivery and its change in one transaction: a failure leaves neither, and
            // GitHub's redelivery is applied rather than taken for a duplicate
            if !store
                .apply_installation(delivery_id, event.name(), &change)
                .await?
            {
                return Ok(Accepted::Duplicate);
            }
            Accepted::Installations
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_fed_in_pieces_checks_like_the_whole() {
        let secrets = vec!["old".to_string(), "new".to_string()];
        let body = b"{\"zen\":\"Keep it logically awesome.\"}";
        let good = sign("new", body);
        for split in [0, 1, 7, body.len()] {
            let mut c = SignatureCheck::new(&secrets, Some(&good)).unwrap();
            c.update(&body[..split]);
            c.update(&body[split..]);
            assert!(c.verify(), "{split}");
        }
        let mut c = SignatureCheck::new(&secrets, Some(&good)).unwrap();
        c.update(&body[1..]);
        assert!(!c.verify());
        assert!(SignatureCheck::new(&secrets, Some("sha256=zz")).is_none());
    }

    #[test]
    fn github_test_vector() {
        // docs: validating webhook deliveries
        let secret = vec!["It's a Secret to Everybody".to_string()];
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(&secret, Some(good), b"Hello, World!"));
        assert!(!verify_signature(
            &secret,
            Some(&good.replace("e17", "e18")),
            b"Hello, World!"
        ));
        assert!(!verify_signature(&secret, Some(good), b"Hello, World?"));
        assert!(!verify_signature(&secret, None, b"Hello, World!"));
        assert!(!verify_signature(
            &secret,
            Some("sha1=757107ea"),
            b"Hello, World!"
        ));
        // rotation: any of the secrets
        let two = vec!["old".to_string(), "It's a Secret to Everybody".to_string()];
        assert!(verify_signature(&two, Some(good), b"Hello, World!"));
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), good);
    }
}
