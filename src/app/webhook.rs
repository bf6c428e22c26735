//! Webhook deliveries: the signature check (HMAC-SHA256 of the raw body, constant-time, several
//! secrets for rotation), what each event means for cachebust (queue a job, keep the list of
//! installations, answer a ping, ignore), and recording it durably before GitHub is answered.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::ports::{Enqueued, InstallationChange, JobStore, NewJob, StoreError};

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

fn s<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

fn u(v: &Value, p: &str) -> Option<u64> {
    v.pointer(p).and_then(Value::as_u64)
}

/// Decide from the event name and the parsed payload. `Err` names a missing field (400).
pub fn decide(
    delivery_id: &str,
    event: &str,
    payload: &Value,
    cfg: &WebhookConfig,
) -> Result<Decision, String> {
    let action = s(payload, "/action").unwrap_or("");
    let need = |p: &str| -> Result<String, String> {
        s(payload, p)
            .map(str::to_string)
            .ok_or_else(|| format!("the {event} payload has no {p}"))
    };
    let need_u = |p: &str| -> Result<u64, String> {
        u(payload, p).ok_or_else(|| format!("the {event} payload has no {p}"))
    };
    match event {
        "ping" => Ok(Decision::Ping),
        "pull_request" => {
            if !matches!(
                action,
                "opened" | "synchronize" | "reopened" | "ready_for_review"
            ) {
                return Ok(Decision::Ignore(format!("pull_request {action}")));
            }
            let draft = payload
                .pointer("/pull_request/draft")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if draft && !cfg.drafts {
                return Ok(Decision::Ignore(
                    "a draft pull request (analysed when it is ready for review)".into(),
                ));
            }
            Ok(Decision::Enqueue {
                job: NewJob {
                    delivery_id: delivery_id.into(),
                    kind: "pull_request".into(),
                    repo: need("/repository/full_name")?,
                    pr_number: need_u("/pull_request/number")?,
                    head_sha: need("/pull_request/head/sha")?,
                    base_sha: need("/pull_request/base/sha")?,
                    installation_id: need_u("/installation/id")?,
                },
                force: false,
            })
        }
        "check_run" | "check_suite" => {
            // "Re-run" on a check run, "Re-run all checks" on the pull request's checks tab
            let handled = if event == "check_run" {
                matches!(action, "rerequested" | "requested_action")
            } else {
                action == "rerequested"
            };
            if !handled {
                return Ok(Decision::Ignore(format!("{event} {action}")));
            }
            let what = event.replace('_', " ");
            if let (Some(ours), Some(theirs)) =
                (cfg.app_id, u(payload, &format!("/{event}/app/id")))
            {
                if ours != theirs {
                    return Ok(Decision::Ignore(format!("a {what} of another app")));
                }
            }
            if event == "check_run"
                && s(payload, "/check_run/name").is_some_and(|n| n != "cachebust")
            {
                return Ok(Decision::Ignore(
                    "a check run cachebust did not create".into(),
                ));
            }
            let Some(pr) = payload.pointer(&format!("/{event}/pull_requests/0")) else {
                return Ok(Decision::Ignore(format!("a {what} without a pull request")));
            };
            Ok(Decision::Enqueue {
                job: NewJob {
                    delivery_id: delivery_id.into(),
                    kind: "rerun".into(),
                    repo: need("/repository/full_name")?,
                    pr_number: pr
                        .get("number")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| format!("the {what}'s pull request has no number"))?,
                    head_sha: need(&format!("/{event}/head_sha"))?,
                    base_sha: pr
                        .pointer("/base/sha")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    installation_id: need_u("/installation/id")?,
                },
                force: true,
            })
        }
        "installation" | "installation_repositories" => {
            let names = |p: &str| -> Vec<String> {
                payload
                    .pointer(p)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| {
                                r.get("full_name")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let id = need_u("/installation/id")?;
            let account = s(payload, "/installation/account/login")
                .unwrap_or("")
                .to_string();
            let (added, removed) = if event == "installation" {
                (names("/repositories"), Vec::new())
            } else {
                (names("/repositories_added"), names("/repositories_removed"))
            };
            Ok(Decision::Installation {
                id,
                account,
                added,
                removed,
                deleted: event == "installation" && action == "deleted",
            })
        }
        other => Ok(Decision::Ignore(format!("event {other}"))),
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

/// Act on a verified, parsed delivery; returns once it is durable.
pub async fn accept<S: JobStore>(
    store: &S,
    delivery_id: &str,
    event: &str,
    payload: &Value,
    cfg: &WebhookConfig,
) -> Result<Result<Accepted, String>, StoreError> {
    let decision = match decide(delivery_id, event, payload, cfg) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(match decision {
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
                .apply_installation(delivery_id, event, &change)
                .await?
            {
                return Ok(Ok(Accepted::Duplicate));
            }
            Accepted::Installations
        }
    }))
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

    #[test]
    fn decisions() {
        let cfg = WebhookConfig {
            drafts: false,
            app_id: Some(1),
        };
        let pr = serde_json::json!({"action": "synchronize", "repository": {"full_name": "o/r"}, "installation": {"id": 9},
            "pull_request": {"number": 3, "draft": false, "head": {"sha": "h"}, "base": {"sha": "b"}}});
        assert!(matches!(
            decide("d", "pull_request", &pr, &cfg),
            Ok(Decision::Enqueue { force: false, .. })
        ));
        let mut draft = pr.clone();
        draft["pull_request"]["draft"] = true.into();
        assert!(matches!(
            decide("d", "pull_request", &draft, &cfg),
            Ok(Decision::Ignore(_))
        ));
        let mut closed = pr.clone();
        closed["action"] = "closed".into();
        assert!(matches!(
            decide("d", "pull_request", &closed, &cfg),
            Ok(Decision::Ignore(_))
        ));
        let mut broken = pr.clone();
        broken["pull_request"]["head"] = Value::Null;
        assert!(decide("d", "pull_request", &broken, &cfg).is_err());
        assert_eq!(decide("d", "ping", &Value::Null, &cfg), Ok(Decision::Ping));
        let suite = serde_json::json!({"action": "rerequested", "repository": {"full_name": "o/r"}, "installation": {"id": 9},
            "check_suite": {"head_sha": "h2", "app": {"id": 1}, "pull_requests": [{"number": 3, "base": {"sha": "b"}}]}});
        match decide("d", "check_suite", &suite, &cfg) {
            Ok(Decision::Enqueue { job, force: true }) => {
                assert_eq!(
                    (
                        job.kind.as_str(),
                        job.pr_number,
                        job.head_sha.as_str(),
                        job.base_sha.as_str()
                    ),
                    ("rerun", 3, "h2", "b")
                );
            }
            other => panic!("{other:?}"),
        }
        let mut foreign = suite.clone();
        foreign["check_suite"]["app"]["id"] = 2.into();
        assert!(matches!(
            decide("d", "check_suite", &foreign, &cfg),
            Ok(Decision::Ignore(_))
        ));
        let mut no_pr = suite.clone();
        no_pr["check_suite"]["pull_requests"] = serde_json::json!([]);
        assert!(matches!(
            decide("d", "check_suite", &no_pr, &cfg),
            Ok(Decision::Ignore(_))
        ));
        assert!(matches!(
            decide("d", "star", &Value::Null, &cfg),
            Ok(Decision::Ignore(_))
        ));
    }
}
