//! The analysis process (`ports::Isolation`): this same executable started with the hidden
//! `analysis-process` command, in a process group of its own and with an empty environment, its
//! input and output piped, the end of its standard error kept, killed when the server drops it.
//! [`confine`] is what that process does first: a heap limit (`RLIMIT_DATA`, which counts what
//! the allocator takes, not the mapped binary), no core dump, and death with its parent.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::ports::{Ended, Isolated, Isolation, IsolationError};

/// The command line the server starts (hidden from `--help`).
pub const COMMAND: &str = "analysis-process";
/// Bytes of the process's standard error kept for the job's error.
const STDERR_TAIL: usize = 4096;

/// Start `exe analysis-process --memory-bytes N` per analysis.
#[derive(Debug, Clone)]
pub struct AnalysisProcess {
    pub exe: PathBuf,
    pub memory_bytes: u64,
}

impl AnalysisProcess {
    /// This very executable, also after the file was replaced or removed (an upgrade in place):
    /// on Linux `/proc/self/exe` always runs the image the server runs.
    pub fn this_executable(memory_bytes: u64) -> Result<AnalysisProcess, IsolationError> {
        let exe = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe().map_err(|e| IsolationError::Executable(e.to_string()))?
        };
        Ok(AnalysisProcess { exe, memory_bytes })
    }
}

impl Isolation for AnalysisProcess {
    fn start(&self) -> Result<Isolated, IsolationError> {
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg(COMMAND)
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string())
            // nothing of the server's environment (its keys and tokens) reaches the analysis
            .env_clear();
        // its own process group: a Ctrl-C meant for the server does not kill the analysis
        // under it (the server gives the job back, or kills the process, itself)
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| IsolationError::Spawn(format!("{}: {e}", self.exe.display())))?;
        let (Some(input), Some(output), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(IsolationError::Pipes);
        };
        // drained as it comes, so that a chatty process never blocks on a full pipe
        let tail = tokio::spawn(async move {
            let mut kept: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_TAIL {
                    kept.drain(..kept.len() - STDERR_TAIL);
                }
            }
            let from = kept.len().saturating_sub(STDERR_TAIL);
            String::from_utf8_lossy(&kept[from..]).into_owned()
        });
        let ended = async move {
            let status = child.wait().await;
            let stderr = tail.await.unwrap_or_default();
            Ended {
                status: match status {
                    Ok(s) => describe(&s),
                    Err(e) => format!("not known: {e}"),
                },
                stderr,
            }
        };
        Ok(Isolated {
            input: Box::new(input),
            output: Box::new(output),
            ended: Box::pin(ended),
        })
    }

    fn memory_limit(&self) -> u64 {
        self.memory_bytes
    }
}

fn describe(s: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    use std::os::unix::process::ExitStatusExt;
    #[cfg(unix)]
    let signal = s.signal();
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    match (s.code(), signal) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => {
            let name = match sig {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                _ => "",
            };
            format!("signal {sig}{name}")
        }
        _ => "ended".into(),
    }
}

/// Whether analysis processes can be confined here (Linux: `RLIMIT_DATA` counts `mmap`ed heap
/// since Linux 4.7, and `PR_SET_PDEATHSIG`).
pub const CAN_CONFINE: bool = cfg!(target_os = "linux");

/// Why an analysis process could not be confined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    #[error("setting the memory limit: {0}")]
    MemoryLimit(String),
    #[error("turning core dumps off: {0}")]
    CoreDumps(String),
    #[error("asking to die with the server: {0}")]
    ParentDeath(String),
    #[error("analysis processes are confined on Linux only")]
    Unsupported,
}

/// In the analysis process, before anything else: at most `memory_bytes` of heap, no core
/// dump (an analysis that runs out aborts), and killed if the server that started it dies.
#[cfg(target_os = "linux")]
pub fn confine(memory_bytes: u64) -> Result<(), ConfineError> {
    use rustix::process::{Resource, Rlimit, Signal, set_parent_process_death_signal, setrlimit};
    let limit = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    setrlimit(Resource::Data, limit(memory_bytes))
        .map_err(|e| ConfineError::MemoryLimit(e.to_string()))?;
    setrlimit(Resource::Core, limit(0)).map_err(|e| ConfineError::CoreDumps(e.to_string()))?;
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| ConfineError::ParentDeath(e.to_string()))?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn confine(_: u64) -> Result<(), ConfineError> {
    Err(ConfineError::Unsupported)
}
