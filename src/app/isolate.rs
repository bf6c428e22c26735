//! The server's analysis in a process of its own (`ports::Isolation`), so that a pull request
//! that crashes the analysis, exhausts its memory budget or runs past its time takes only that
//! process down: the job fails with the reason, the server and the other jobs go on. Both sides
//! of the protocol live here: [`analyze_isolated`] (the server: starts the process, answers its
//! questions about the trees from the real `RepoSource`, reads the report back) and
//! [`serve_analysis`] (the process: runs `analyze` over a `RepoSource` whose every call is a
//! question on its output and an answer on its input). Messages are JSON, one per line.

use std::cell::RefCell;
use std::io::{BufRead, Write};

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::analyze::{AnalyzeError, AnalyzeOptions, analyze};
use crate::engine::FileText;
use crate::engine::report::Report;
use crate::engine::tree::{ChangeSet, Listing, Side};
use crate::ports::{Ended, Isolation, Listed, RepoSource, SourceError};

/// Longest message the process may send (a report): larger is a protocol error.
pub const MAX_MESSAGE: u64 = 256 * 1024 * 1024;
/// How long a process that has said its last is given to end before it is killed.
const REAP: std::time::Duration = std::time::Duration::from_secs(5);

/// The server to the process.
#[derive(Debug, Serialize, Deserialize)]
enum ToProcess {
    Start {
        opts: Box<AnalyzeOptions>,
        base_label: String,
        head_label: String,
        listings: Option<Box<(Listing, Listing)>>,
    },
    Changes(Result<ChangeSet, WireError>),
    Paths(Result<Vec<String>, WireError>),
    Files(Result<Vec<Option<FileText>>, WireError>),
    Listed(Result<Vec<Listed>, WireError>),
}

/// The process to the server.
#[derive(Debug, Serialize, Deserialize)]
enum FromProcess {
    Changes,
    Discover(Side),
    Children(Side, String),
    ReadFiles(Side, Vec<String>),
    List(Side, Vec<(String, bool)>),
    Done(Result<Box<Report>, WireError>),
}

/// `SourceError` and `AnalyzeError` on the wire, and a panic of the analysis.
#[derive(Debug, Serialize, Deserialize)]
enum WireError {
    NotFound(String),
    Io(String),
    TooLarge(String),
    Refused(String),
    Usage(String),
    Panic(String),
}

impl From<SourceError> for WireError {
    fn from(e: SourceError) -> WireError {
        match e {
            SourceError::NotFound(m) => WireError::NotFound(m),
            SourceError::Io(m) => WireError::Io(m),
            SourceError::TooLarge(m) => WireError::TooLarge(m),
            SourceError::Refused(m) => WireError::Refused(m),
        }
    }
}

impl WireError {
    fn source(self) -> SourceError {
        match self {
            WireError::NotFound(m) => SourceError::NotFound(m),
            WireError::TooLarge(m) => SourceError::TooLarge(m),
            WireError::Refused(m) => SourceError::Refused(m),
            WireError::Io(m) | WireError::Usage(m) | WireError::Panic(m) => SourceError::Io(m),
        }
    }
    fn analyze(self) -> AnalyzeError {
        match self {
            WireError::Usage(m) => AnalyzeError::Usage(m),
            e => AnalyzeError::Source(e.source()),
        }
    }
}

/// Why an isolated analysis gave no report.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    /// The analysis itself failed (as it would have in process).
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    /// The process could not start (for now: the job may be tried again).
    #[error("{0}")]
    Start(String),
    /// The process crashed, panicked, ran out of memory or broke the protocol.
    #[error("{0}")]
    Process(String),
}

/// What a process that ended without a report died of, in a sentence for the job's error.
pub fn death(ended: &Ended, memory_limit: u64) -> String {
    let mib = memory_limit / (1024 * 1024);
    if ended.stderr.contains("memory allocation of") {
        format!(
            "the analysis ran out of its memory budget ({mib} MiB per pull request) and was stopped; the pull request is not analysed"
        )
    } else if ended.stderr.contains("has overflowed its stack") {
        "the analysis overflowed its stack and was stopped; the pull request is not analysed".into()
    } else {
        let last = ended
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        format!(
            "the analysis process ended without a report ({}){last}",
            ended.status
        )
    }
}

/// A panic's message.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn encode<T: Serialize>(m: &T) -> Vec<u8> {
    let mut v = serde_json::to_vec(m).expect("protocol messages serialise");
    v.push(b'\n');
    v
}

/// Analyse in a fresh process of `isolation`, answering its questions from `source`. Dropping
/// the future kills the process (the caller's time budget).
pub async fn analyze_isolated<S: RepoSource>(
    isolation: &dyn Isolation,
    source: &S,
    opts: &AnalyzeOptions,
) -> Result<Report, IsolateError> {
    // a process that does not start (no more processes or memory for now) may start later
    let mut p = isolation
        .start()
        .map_err(|e| IsolateError::Start(format!("the analysis process did not start: {e}")))?;
    let start = ToProcess::Start {
        opts: Box::new(opts.clone()),
        base_label: source.label(Side::Base),
        head_label: source.label(Side::Head),
        listings: source.complete_listings().map(Box::new),
    };
    let mut out = tokio::io::BufReader::new(p.output);
    let mut line = Vec::new();
    let mut msg = encode(&start);
    let broke = loop {
        if p.input.write_all(&msg).await.is_err() || p.input.flush().await.is_err() {
            break None;
        }
        line.clear();
        match (&mut out)
            .take(MAX_MESSAGE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break None,
            // cut off: over the limit, or the process died in the middle of a message
            Ok(_) if line.last() != Some(&b'\n') => {
                break (line.len() as u64 >= MAX_MESSAGE).then(|| {
                    format!("the analysis process sent a message over {MAX_MESSAGE} bytes")
                });
            }
            Ok(_) => {}
        }
        let parsed = if line.len() > 1 << 20 {
            // a large report: parsed off the runtime's threads
            let l = std::mem::take(&mut line);
            tokio::task::spawn_blocking(move || serde_json::from_slice::<FromProcess>(&l))
                .await
                .map_err(|e| e.to_string())
        } else {
            Ok(serde_json::from_slice::<FromProcess>(&line))
        };
        let m = match parsed {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                break Some(format!(
                    "the analysis process sent what is not the protocol: {e}"
                ));
            }
            Err(e) => break Some(e),
        };
        let reply = match m {
            FromProcess::Done(r) => {
                // reaped (or, lingering, killed) apart: the report is not held up by it
                drop((p.input, out));
                tokio::spawn(tokio::time::timeout(REAP, p.ended));
                return r.map(|b| *b).map_err(|e| match e {
                    WireError::Panic(m) => {
                        IsolateError::Process(format!("the analysis panicked: {m}"))
                    }
                    e => IsolateError::Analyze(e.analyze()),
                });
            }
            FromProcess::Changes => {
                ToProcess::Changes(source.changes().await.map_err(WireError::from))
            }
            FromProcess::Discover(side) => {
                ToProcess::Paths(source.discover(side).await.map_err(WireError::from))
            }
            FromProcess::Children(side, dir) => {
                ToProcess::Paths(source.children(side, &dir).await.map_err(WireError::from))
            }
            FromProcess::ReadFiles(side, paths) => ToProcess::Files(
                source
                    .read_files(side, &paths)
                    .await
                    .map_err(WireError::from),
            ),
            FromProcess::List(side, reqs) => {
                ToProcess::Listed(source.list(side, &reqs).await.map_err(WireError::from))
            }
        };
        msg = encode(&reply);
    };
    drop((p.input, out));
    if let Some(m) = broke {
        // it broke the protocol: no need to hear more (dropping `ended` kills it)
        return Err(IsolateError::Process(m));
    }
    // its output ended: it died, or is about to
    let ended = match tokio::time::timeout(REAP, p.ended).await {
        Ok(e) => e,
        Err(_) => Ended {
            status: "its output closed, and it did not end".into(),
            stderr: String::new(),
        },
    };
    Err(IsolateError::Process(death(
        &ended,
        isolation.memory_limit(),
    )))
}

/// Why the analysis process stopped talking to the server (the server went away, or spoke out
/// of protocol).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipeError {
    #[error("the server closed the pipe")]
    Closed,
    #[error("reading the server: {0}")]
    Read(String),
    #[error("the first message is not the start")]
    NotStart,
    #[error("writing the report: {0}")]
    Write(String),
}

/// The process's side: read the start message from `input`, analyse over the server's trees,
/// write the report to `output`. Errors are those of the pipe (the server went away).
pub async fn serve_analysis<R: BufRead, W: Write>(
    mut input: R,
    output: W,
) -> Result<(), PipeError> {
    let ToProcess::Start {
        opts,
        base_label,
        head_label,
        listings,
    } = read_message(&mut input)?
    else {
        return Err(PipeError::NotStart);
    };
    let pipe = Pipe {
        io: RefCell::new((input, output)),
        labels: (base_label, head_label),
        listings: listings.map(|b| *b),
    };
    let done = match AssertUnwindSafe(analyze(&pipe, &opts)).catch_unwind().await {
        Ok(r) => r.map(Box::new).map_err(|e| match e {
            AnalyzeError::Source(s) => WireError::from(s),
            AnalyzeError::Usage(m) => WireError::Usage(m),
        }),
        Err(panic) => Err(WireError::Panic(panic_text(&*panic))),
    };
    let done = FromProcess::Done(done);
    let mut io = pipe.io.borrow_mut();
    io.1.write_all(&encode(&done))
        .and_then(|_| io.1.flush())
        .map_err(|e| PipeError::Write(e.to_string()))
}

/// A `RepoSource` whose calls are questions to the server.
struct Pipe<R, W> {
    io: RefCell<(R, W)>,
    labels: (String, String),
    listings: Option<(Listing, Listing)>,
}

/// The server's next message.
fn read_message<R: BufRead>(input: &mut R) -> Result<ToProcess, PipeError> {
    let mut line = Vec::new();
    match input.read_until(b'\n', &mut line) {
        Ok(0) => Err(PipeError::Closed),
        Ok(_) => serde_json::from_slice(&line).map_err(|e| PipeError::Read(e.to_string())),
        Err(e) => Err(PipeError::Read(e.to_string())),
    }
}

impl<R: BufRead, W: Write> Pipe<R, W> {
    fn ask(&self, q: FromProcess) -> Result<ToProcess, SourceError> {
        let mut io = self.io.borrow_mut();
        io.1.write_all(&encode(&q))
            .and_then(|_| io.1.flush())
            .map_err(|e| SourceError::Io(format!("asking the server: {e}")))?;
        read_message(&mut io.0).map_err(|e| SourceError::Io(e.to_string()))
    }
}

fn out_of_turn() -> SourceError {
    SourceError::Io("the server answered out of turn".into())
}

impl<R: BufRead, W: Write> RepoSource for Pipe<R, W> {
    fn label(&self, side: Side) -> String {
        match side {
            Side::Base => self.labels.0.clone(),
            Side::Head => self.labels.1.clone(),
        }
    }

    async fn changes(&self) -> Result<ChangeSet, SourceError> {
        match self.ask(FromProcess::Changes)? {
            ToProcess::Changes(r) => r.map_err(WireError::source),
            _ => Err(out_of_turn()),
        }
    }

    async fn discover(&self, side: Side) -> Result<Vec<String>, SourceError> {
        match self.ask(FromProcess::Discover(side))? {
            ToProcess::Paths(r) => r.map_err(WireError::source),
            _ => Err(out_of_turn()),
        }
    }

    async fn children(&self, side: Side, dir: &str) -> Result<Vec<String>, SourceError> {
        match self.ask(FromProcess::Children(side, dir.to_string()))? {
            ToProcess::Paths(r) => r.map_err(WireError::source),
            _ => Err(out_of_turn()),
        }
    }

    async fn read_files(
        &self,
        side: Side,
        paths: &[String],
    ) -> Result<Vec<Option<FileText>>, SourceError> {
        match self.ask(FromProcess::ReadFiles(side, paths.to_vec()))? {
            ToProcess::Files(r) => r.map_err(WireError::source),
            _ => Err(out_of_turn()),
        }
    }

    async fn list(
        &self,
        side: Side,
        requests: &[(String, bool)],
    ) -> Result<Vec<Listed>, SourceError> {
        match self.ask(FromProcess::List(side, requests.to_vec()))? {
            ToProcess::Listed(r) => r.map_err(WireError::source),
            _ => Err(out_of_turn()),
        }
    }

    fn complete_listings(&self) -> Option<(Listing, Listing)> {
        self.listings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: &str, stderr: &str) -> Ended {
        Ended {
            status: status.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_dead_process_is_named_by_what_it_died_of() {
        let cases = [
            (
                ended(
                    "signal 6 (SIGABRT)",
                    "memory allocation of 4096 bytes failed\n",
                ),
                "the analysis ran out of its memory budget (32 MiB per pull request) and was stopped; the pull request is not analysed",
            ),
            (
                ended(
                    "signal 6 (SIGABRT)",
                    "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n",
                ),
                "the analysis overflowed its stack and was stopped; the pull request is not analysed",
            ),
            (
                ended("signal 9 (SIGKILL)", ""),
                "the analysis process ended without a report (signal 9 (SIGKILL))",
            ),
            (
                ended("exit status 2", "error: reading the server: EOF\n\n"),
                "the analysis process ended without a report (exit status 2): error: reading the server: EOF",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(death(&e, 32 << 20), want);
        }
    }
}
