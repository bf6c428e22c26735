//! What the three shells (`cli`, `action`, `server`) share: the outcome of a command and its exit
//! status, the `--engine` / `engine` choice, `KEY=VALUE` lists, and reading the files a pull
//! request controls (the configuration, committed timings logs) safely and size-bounded. Shells
//! never import each other; what two of them need lives here.

use clap::ValueEnum;

use crate::engine::EngineKind;

/// The outcome of a command, mapped to the process exit status by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    FailOn,
}

impl Exit {
    /// 0 done, 1 the fail condition holds.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::FailOn => 1,
        }
    }
}

/// The exit status of an error: 2 (usage or I/O), with its message on one line.
pub const ERROR_CODE: u8 = 2;

/// The one line `main` prints for an error.
pub fn error_line(e: &anyhow::Error) -> String {
    let msg = format!("{e:#}").replace('\n', " ");
    format!("cachebust: error: {msg}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Current BuildKit, as run by docker/setup-buildx-action.
    Buildkit,
    /// The BuildKit built into Docker Engine 20.10.
    #[value(name = "docker-20.10")]
    Docker2010,
}

impl From<EngineArg> for EngineKind {
    fn from(e: EngineArg) -> EngineKind {
        match e {
            EngineArg::Buildkit => EngineKind::Buildkit,
            EngineArg::Docker2010 => EngineKind::Docker2010,
        }
    }
}

impl EngineArg {
    /// An engine named in text (the Action's `engine` input): the `--engine` values.
    pub fn parse(s: &str) -> Option<EngineArg> {
        EngineArg::from_str(s, false).ok()
    }
}
