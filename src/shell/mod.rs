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

/// The largest configuration file read (the parser refuses more anyway).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The largest build log read for `timings`.
pub const MAX_TIMINGS_BYTES: u64 = 64 * 1024 * 1024;

/// Read a regular file of at most `max` bytes: never a FIFO, device or directory (reading one
/// could hang or never end). The error names the file, never its contents.
pub fn read_regular(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (a directory, FIFO or device): not read".into());
    }
    if meta.len() > max {
        return Err(format!("larger than {} MiB: not read", max / (1024 * 1024)));
    }
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // the file may still grow between the check and the read
    let mut out = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > max {
        return Err(format!("larger than {} MiB: not read", max / (1024 * 1024)));
    }
    Ok(out)
}

/// Read `rel` under `root` the way COPY sources are read, for files a pull request controls:
/// `Ok(None)` when it does not exist; an error when it (or a directory on the way) is a symlink
/// that leaves `root`, or it is not a regular file, or it is larger than `max`.
pub fn read_in_tree(
    root: &std::path::Path,
    rel: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, String> {
    let path = root.join(rel);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let top = root.canonicalize().map_err(|e| e.to_string())?;
    let real = match path.canonicalize() {
        Ok(r) => r,
        // a dangling link
        Err(_) => return Err("a symlink to nothing: not read".into()),
    };
    if !real.starts_with(&top) {
        return Err("a symlink out of the repository: not read".into());
    }
    read_regular(&real, max).map(Some)
}

/// Who gives the value of a `KEY` written without `=VALUE`.
pub enum BareKey<'a> {
    /// The environment, as `docker build --build-arg KEY` does (skipped when unset).
    FromEnv,
    /// Nobody: it is an error, worded for this flag or input.
    Refused(&'a str),
}

/// `KEY=VALUE` items as a map; `what` names the flag or input in errors.
pub fn key_values(
    raw: &[String],
    what: &str,
    bare: BareKey<'_>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for a in raw {
        match (a.split_once('='), &bare) {
            (Some((k, v)), BareKey::FromEnv) => {
                if k.is_empty() {
                    anyhow::bail!("{what} {a:?}: the name is empty");
                }
                out.insert(k.to_string(), v.to_string());
            }
            (Some((k, v)), BareKey::Refused(_)) => {
                if k.trim().is_empty() {
                    anyhow::bail!("{what}: {a:?} has an empty name");
                }
                out.insert(k.trim().to_string(), v.to_string());
            }
            (None, BareKey::FromEnv) => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
            (None, BareKey::Refused(form)) => anyhow::bail!("{what}: {a:?} is not {form}"),
        }
    }
    Ok(out)
}
