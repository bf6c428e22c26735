//! The server's HTTP side: the routes, the verified-delivery extractor (size limit, the
//! unverified-bytes budget, the read timeout and the signature over the raw bytes, checked once
//! as the body arrives), the `Reply` enum that says what `POST /webhook` answers, the health,
//! readiness and metrics pages, and the accept loop bounding connections.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::adapters::github::ApiStats;
use crate::adapters::store::SqlStore;
use crate::app::webhook::{self, AcceptError, Accepted, WebhookConfig};
use crate::app::worker::Metrics;
use crate::ports::JobStore;

pub(super) struct AppState {
    pub store: Arc<SqlStore>,
    pub cfg: WebhookConfig,
    pub secrets: Vec<String>,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub unverified: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<tokio::sync::Notify>,
    pub api: Arc<ApiStats>,
}

/// The routes of `serve`.
pub(super) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(state)
}

/// What `POST /webhook` answers: its status, its metrics label and its JSON body.
#[derive(Debug)]
pub(super) enum Reply {
    /// Over `--max-body-bytes` (declared or as it arrived).
    TooLarge(usize),
    /// Missing, malformed or wrong `X-Hub-Signature-256`.
    BadSignature,
    /// The body did not arrive within the read timeout.
    Timeout(Duration),
    /// Unreadable body, missing headers, a body that is not the event it says, or lacks what
    /// its event carries.
    Malformed(String),
    /// The queue did not take the delivery.
    StoreUnavailable,
    /// Verified and acted on.
    Accepted(Accepted),
}

impl Reply {
    fn status(&self) -> StatusCode {
        match self {
            Reply::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Reply::BadSignature => StatusCode::UNAUTHORIZED,
            Reply::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Reply::Malformed(_) => StatusCode::BAD_REQUEST,
            Reply::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reply::Accepted(Accepted::Queued { .. } | Accepted::Ignored(_)) => StatusCode::ACCEPTED,
            Reply::Accepted(_) => StatusCode::OK,
        }
    }

    /// The metrics label.
    fn outcome(&self) -> &'static str {
        match self {
            Reply::TooLarge(_) => "too_large",
            Reply::BadSignature => "bad_signature",
            Reply::Timeout(_) => "timeout",
            Reply::Malformed(_) => "malformed",
            Reply::StoreUnavailable => "store_error",
            Reply::Accepted(a) => a.outcome(),
        }
    }

    fn body(&self) -> Value {
        match self {
            Reply::TooLarge(max) => {
                json!({"error": format!("the body is larger than {max} bytes")})
            }
            Reply::BadSignature => json!({"error": "missing or wrong X-Hub-Signature-256"}),
            Reply::Timeout(t) => {
                json!({"error": format!("the body did not arrive within {} s", t.as_secs_f64())})
            }
            Reply::Malformed(e) => json!({"error": e}),
            Reply::StoreUnavailable => {
                json!({"error": "the queue is not available; redeliver later"})
            }
            Reply::Accepted(a) => match a {
                Accepted::Queued { id, superseded } => {
                    json!({"status": "queued", "job": id, "superseded": superseded})
                }
                Accepted::Duplicate => json!({"status": "duplicate delivery"}),
                Accepted::AlreadyQueued { id } => json!({"status": "already queued", "job": id}),
                Accepted::Installations => json!({"status": "installations updated"}),
                Accepted::Pong => json!({"status": "pong"}),
                Accepted::Ignored(why) => json!({"status": "ignored", "reason": why}),
            },
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        reply(self.status(), self.body())
    }
}

fn reply(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// `X-GitHub-Event` and `X-GitHub-Delivery` (empty when missing), read before the body for the
/// logs and the metrics of every answer.
pub(super) struct DeliveryHeaders {
    event: String,
    delivery: String,
}

impl<S: Send + Sync> FromRequestParts<S> for DeliveryHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        };
        Ok(DeliveryHeaders {
            event: header("x-github-event"),
            delivery: header("x-github-delivery"),
        })
    }
}

/// A delivery whose signature is good: its raw bytes, read within the limits.
pub(super) struct VerifiedDelivery {
    bytes: Vec<u8>,
}

/// Why a body could not be read within the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum ReadError {
    #[error("the body could not be read")]
    Unreadable,
    #[error("too large")]
    TooLarge,
    #[error("busy")]
    Busy,
}

impl FromRequest<Arc<AppState>> for VerifiedDelivery {
    type Rejection = Reply;

    async fn from_request(req: Request, st: &Arc<AppState>) -> Result<Self, Reply> {
        let (parts, body) = req.into_parts();
        let declared: Option<usize> = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        if declared.is_some_and(|n| n > st.max_body) {
            return Err(Reply::TooLarge(st.max_body));
        }
        let sig = parts
            .headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok());
        let mut check =
            webhook::SignatureCheck::new(&st.secrets, sig).ok_or(Reply::BadSignature)?;
        // bodies not yet known to be good share a memory budget: each piece is paid for before
        // it is kept, and the payment is returned once the signature is checked
        let mut paid = Vec::new();
        let read = async {
            use futures_util::StreamExt;
            let mut bytes = Vec::new();
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| ReadError::Unreadable)?;
                if bytes.len() + chunk.len() > st.max_body {
                    return Err(ReadError::TooLarge);
                }
                let n = u32::try_from(chunk.len()).map_err(|_| ReadError::TooLarge)?;
                paid.push(
                    st.unverified
                        .clone()
                        .acquire_many_owned(n)
                        .await
                        .map_err(|_| ReadError::Busy)?,
                );
                check.update(&chunk);
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = match tokio::time::timeout(st.read_timeout, read).await {
            Ok(Ok(b)) => b,
            Ok(Err(ReadError::TooLarge)) => return Err(Reply::TooLarge(st.max_body)),
            Ok(Err(e)) => return Err(Reply::Malformed(e.to_string())),
            Err(_) => return Err(Reply::Timeout(st.read_timeout)),
        };
        drop(paid);
        if !check.verify() {
            return Err(Reply::BadSignature);
        }
        Ok(VerifiedDelivery { bytes })
    }
}

async fn webhook(
    State(st): State<Arc<AppState>>,
    h: DeliveryHeaders,
    verified: Result<VerifiedDelivery, Reply>,
) -> Response {
    let started = Instant::now();
    let answer = match verified {
        Ok(v) => handle(&st, &h.event, &h.delivery, &v.bytes).await,
        Err(rejected) => rejected,
    };
    let (event, delivery) = (&h.event, &h.delivery);
    let outcome = answer.outcome();
    st.metrics
        .delivery(if event.is_empty() { "-" } else { event }, outcome);
    if let Ok(mut h) = st.metrics.ack_latency.lock() {
        h.observe(started.elapsed().as_secs_f64() * 1000.0);
    }
    let status = answer.status();
    tracing::info!(delivery = %delivery, event = %event, status = status.as_u16(), outcome, "delivery");
    answer.into_response()
}

/// A verified delivery: its headers, its typed event, then the durable enqueue.
async fn handle(st: &AppState, event: &str, delivery: &str, bytes: &[u8]) -> Reply {
    if event.is_empty() || delivery.is_empty() {
        return Reply::Malformed("X-GitHub-Event and X-GitHub-Delivery are required".into());
    }
    // read once into the typed event: a body that is not JSON, or lacks what its event carries
    let typed = match crate::adapters::github::event::parse(event, bytes) {
        Ok(t) => t,
        Err(e) => return Reply::Malformed(e.to_string()),
    };
    match webhook::accept(&*st.store, delivery, &typed, &st.cfg).await {
        Err(AcceptError::Store(e)) => {
            tracing::error!(delivery = %delivery, error = %e, "cannot record the delivery");
            Reply::StoreUnavailable
        }
        Err(AcceptError::Malformed(missing)) => Reply::Malformed(missing),
        Ok(a) => {
            if matches!(a, Accepted::Queued { .. }) {
                st.wake.notify_one();
            }
            Reply::Accepted(a)
        }
    }
}

async fn healthz() -> Response {
    reply(StatusCode::OK, json!({"status": "ok"}))
}
async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    match st.store.ping().await {
        Ok(()) => reply(
            StatusCode::OK,
            json!({"status": "ready", "database": st.store.backend()}),
        ),
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "database unavailable", "error": e.to_string()}),
        ),
    }
}

async fn metrics_page(State(st): State<Arc<AppState>>) -> Response {
    let depth = st.store.depth().await.ok().map(|d| {
        vec![
            ("queued".to_string(), d.queued),
            ("running".into(), d.running),
            ("done".into(), d.done),
            ("failed".into(), d.failed),
            ("superseded".into(), d.superseded),
        ]
    });
    let snap = crate::render::metrics::Snapshot {
        deliveries: st
            .metrics
            .deliveries
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
        jobs: st
            .metrics
            .jobs
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
        depth,
        in_flight: st.metrics.in_flight.load(Ordering::Relaxed),
        job_latency: st
            .metrics
            .job_latency
            .lock()
            .map(|h| h.snapshot())
            .unwrap_or_else(|_| crate::app::metrics::Histogram::default().snapshot()),
        ack_latency: st
            .metrics
            .ack_latency
            .lock()
            .map(|h| h.snapshot())
            .unwrap_or_else(|_| crate::app::metrics::Histogram::default().snapshot()),
        api_calls: st.api.calls.load(Ordering::Relaxed),
        api_errors: st.api.errors.load(Ordering::Relaxed),
        rate_limit_waits: st.api.rate_limit_waits.load(Ordering::Relaxed),
    };
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        crate::render::metrics::prometheus(&snap),
    )
        .into_response()
}

/// Serve connections until SIGTERM / Ctrl-C, then call `on_stop`, stop accepting and let open
/// requests finish (up to `grace`); returns when the signal came. At most `max_conns`
/// connections are open; each has `read_timeout` for the headers of each request (hyper closes
/// it otherwise).
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    max_conns: usize,
    read_timeout: Duration,
    grace: Duration,
    on_stop: impl FnOnce(),
) -> tokio::time::Instant {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let conns = Arc::new(tokio::sync::Semaphore::new(max_conns));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .keep_alive(true);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors, most likely: let open connections finish or time out
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        // answers are small: send them at once rather than waiting on Nagle's algorithm
        let _ = tcp.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    let stopped_at = tokio::time::Instant::now();
    on_stop();
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open at the end of the grace period were cut");
    }
    stopped_at
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer of `POST /webhook`: its status, metrics label and body, as GitHub and the
    /// dashboards see them.
    #[test]
    fn each_reply_answers_its_status_label_and_body() {
        for (reply, status, outcome, body) in [
            (
                Reply::TooLarge(10),
                413,
                "too_large",
                json!({"error": "the body is larger than 10 bytes"}),
            ),
            (
                Reply::BadSignature,
                401,
                "bad_signature",
                json!({"error": "missing or wrong X-Hub-Signature-256"}),
            ),
            (
                Reply::Timeout(Duration::from_millis(1500)),
                408,
                "timeout",
                json!({"error": "the body did not arrive within 1.5 s"}),
            ),
            (
                Reply::Malformed(ReadError::Busy.to_string()),
                400,
                "malformed",
                json!({"error": "busy"}),
            ),
            (
                Reply::StoreUnavailable,
                503,
                "store_error",
                json!({"error": "the queue is not available; redeliver later"}),
            ),
            (
                Reply::Accepted(Accepted::Queued {
                    id: 7,
                    superseded: 2,
                }),
                202,
                "queued",
                json!({"status": "queued", "job": 7, "superseded": 2}),
            ),
            (
                Reply::Accepted(Accepted::Ignored("event push".into())),
                202,
                "ignored",
                json!({"status": "ignored", "reason": "event push"}),
            ),
            (
                Reply::Accepted(Accepted::Duplicate),
                200,
                "duplicate",
                json!({"status": "duplicate delivery"}),
            ),
            (
                Reply::Accepted(Accepted::AlreadyQueued { id: 3 }),
                200,
                "already_queued",
                json!({"status": "already queued", "job": 3}),
            ),
            (
                Reply::Accepted(Accepted::Installations),
                200,
                "installation",
                json!({"status": "installations updated"}),
            ),
            (
                Reply::Accepted(Accepted::Pong),
                200,
                "ping",
                json!({"status": "pong"}),
            ),
        ] {
            assert_eq!(reply.status().as_u16(), status, "{reply:?}");
            assert_eq!(reply.outcome(), outcome, "{reply:?}");
            assert_eq!(reply.body(), body, "{reply:?}");
        }
    }
}
