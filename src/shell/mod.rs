//! What the three shells (`cli`, `action`, `server`) share: the outcome of a command and its exit
//! status, the `--engine` / `engine` choice, `KEY=VALUE` lists, and reading the files a pull
//! request controls (the configuration, committed timings logs) safely and size-bounded. Shells
//! never import each other; what two of them need lives here.

pub mod blocks;

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

/// The one line `main` prints for an error: a name in it (from a pull request, say) keeps its
/// line breaks and other hidden characters written out (`render::visible`), and the line is no
/// workflow command.
pub fn error_line(e: &anyhow::Error) -> String {
    let msg = format!("{e:#}");
    crate::render::visible_lines(&format!(
        "cachebust: error: {}",
        crate::render::visible(&msg)
    ))
}

/// A command-line error from clap with the arguments it would echo hidden where they may be
/// secrets: clap quotes the offending argument ("unexpected argument '-----BEGIN RSA PRIVATE
/// KEY-----…' found"), so a key pasted onto the command line would go to the logs. A flag name
/// (`--name`, `-x`) is shown; for an unexpected argument nothing else is; otherwise a value is
/// shown only when it is a short plain word (at most 64 characters, one line, no control or
/// invisible character, not starting with `-`), e.g. `invalid value 'podman' for '--engine'`.
pub fn usage_error(rendered: &str, args: &[String], unexpected_argument: bool) -> String {
    const HIDDEN: &str = "<not shown>";
    let flag = |t: &str| {
        let name = t.trim_start_matches('-');
        (t.starts_with("--") && t.len() - name.len() == 2 || t.len() - name.len() == 1)
            && name.len() <= 64
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let plain = |t: &str| {
        !t.is_empty()
            && t.chars().count() <= 64
            && !t.starts_with('-')
            && !t
                .chars()
                .any(|c| c.is_whitespace() || crate::render::is_hidden(c))
    };
    let mut hide: Vec<&str> = Vec::new();
    for a in args {
        // clap may quote the argument whole, the part before its first `=` (a long flag) or
        // the value after it
        let mut parts = vec![a.as_str()];
        if let Some((name, value)) = a.split_once('=') {
            parts.extend([name, value]);
        }
        for p in parts {
            let shown = flag(p) || (!unexpected_argument && plain(p));
            if !shown && !p.is_empty() {
                hide.push(p);
                // and each of its lines, wherever it turns up
                hide.extend(p.lines().filter(|l| l.trim().len() >= 12));
            }
        }
    }
    // longest first, so a value is hidden whole before any part of it is looked for
    hide.sort_by_key(|h| std::cmp::Reverse(h.len()));
    let mut out = rendered.to_string();
    for h in hide {
        out = out.replace(&format!("'{h}'"), &format!("'{HIDDEN}'"));
        out = out.replace(&format!("'-- {h}'"), &format!("'-- {HIDDEN}'"));
        if h.len() > 8 || h.starts_with('-') {
            out = out.replace(h, HIDDEN);
        }
    }
    out
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

/// `KEY=VALUE` items as a map, the one behaviour of `--build-arg`, `--env` and the Action's
/// `build_args` input, as `docker build --build-arg` has it: `KEY=VALUE` sets `KEY` (the name
/// trimmed, the value as written, `=` in it kept); a bare `KEY` takes its value from the
/// environment and is left out when the environment does not set it. An empty name is an error
/// naming `what` (the flag or input).
pub fn key_values(
    raw: &[String],
    what: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    key_values_with(raw, what, |k| std::env::var(k).ok())
}

/// `key_values` with the environment given as a lookup.
pub fn key_values_with(
    raw: &[String],
    what: &str,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for a in raw {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.to_string())),
            None => (a.trim(), None),
        };
        if k.is_empty() {
            anyhow::bail!("{what} {a:?}: the name is empty");
        }
        if let Some(v) = v.or_else(|| env(k)) {
            out.insert(k.to_string(), v);
        }
    }
    Ok(out)
}

/// `--timings` files named on the command line (the user's own files): each a regular file of
/// at most `MAX_TIMINGS_BYTES`, as (name, text).
pub fn timings_files(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    files
        .iter()
        .map(|t| {
            let bytes = read_regular(t, MAX_TIMINGS_BYTES)
                .map_err(|e| anyhow::anyhow!("--timings {}: {e}", t.display()))?;
            Ok((
                t.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })
        .collect()
}

/// `verify`'s real builds: each file a build record archive (`.dockerbuild`, gzip'd) or a
/// BuildKit progress log (rawjson or plain), a regular file of at most `MAX_TIMINGS_BYTES`.
pub fn record_files(
    files: &[std::path::PathBuf],
) -> anyhow::Result<Vec<crate::engine::verify::RealBuild>> {
    use crate::adapters::buildrecord;
    use crate::engine::verify::RealBuild;
    let mut out = Vec::new();
    for f in files {
        let bytes = read_regular(f, MAX_TIMINGS_BYTES)
            .map_err(|e| anyhow::anyhow!("--record {}: {e}", f.display()))?;
        // reports name the file, not the directory it was downloaded to
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        if buildrecord::is_archive(&bytes) {
            let records = buildrecord::read_archive(&bytes)
                .map_err(|e| anyhow::anyhow!("--record {name}: {e}"))?;
            out.extend(
                records
                    .into_iter()
                    .map(|r| RealBuild::from_record(&name, r)),
            );
        } else {
            let builds = RealBuild::from_log(&name, &String::from_utf8_lossy(&bytes));
            if builds.is_empty() {
                return Err(anyhow::anyhow!(
                    "--record {name}: neither a build record archive nor a BuildKit progress log"
                ));
            }
            out.extend(builds);
        }
    }
    Ok(out)
}

/// Build logs under `root` that a pull request controls (committed, or left by an earlier
/// step), read as COPY sources are: a symlink out of the tree, a FIFO or a device is refused,
/// and so is a log over the limit; a missing file is skipped (the first run has no log from an
/// earlier one yet). `what` names the input in errors.
pub fn timings_in_tree(
    root: &std::path::Path,
    files: &[String],
    what: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in files {
        match read_in_tree(root, f, MAX_TIMINGS_BYTES) {
            Ok(Some(b)) => out.push((f.clone(), String::from_utf8_lossy(&b).into_owned())),
            Ok(None) => {}
            Err(e) => anyhow::bail!("{what}: {f}: {e}"),
        }
    }
    Ok(out)
}

/// An engine named in text (the Action's `engine` input, an environment variable): absent
/// means current BuildKit; a name other than the `--engine` values is an error naming `what`.
pub fn engine_named(value: Option<&str>, what: &str) -> anyhow::Result<EngineKind> {
    match value {
        None => Ok(EngineKind::Buildkit),
        Some(e) => EngineArg::parse(e)
            .map(EngineKind::from)
            .ok_or_else(|| anyhow::anyhow!("{what}: {e:?} is not buildkit or docker-20.10")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(raw: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Vec<(String, String)>> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        let env: std::collections::BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        key_values_with(&raw, "--build-arg", |k| env.get(k).cloned())
            .map(|m| m.into_iter().collect())
    }

    #[test]
    fn bare_keys_come_from_the_environment_as_in_docker_build() {
        let got = kv(&["A=1", "B", "C", " D = x=y"], &[("B", "from env")]).unwrap();
        let want = [("A", "1"), ("B", "from env"), ("D", " x=y")];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
    }

    #[test]
    fn an_empty_name_is_an_error_naming_the_flag() {
        for bad in ["=1", " =1", ""] {
            let e = kv(&[bad], &[]).unwrap_err().to_string();
            assert!(
                e.starts_with("--build-arg") && e.contains("the name is empty"),
                "{e}"
            );
        }
    }

    #[test]
    fn engines_by_name() {
        assert_eq!(
            engine_named(None, "input engine").unwrap(),
            EngineKind::Buildkit
        );
        assert_eq!(
            engine_named(Some("docker-20.10"), "input engine").unwrap(),
            EngineKind::Docker2010
        );
        let e = engine_named(Some("podman"), "input engine").unwrap_err();
        assert_eq!(
            e.to_string(),
            "input engine: \"podman\" is not buildkit or docker-20.10"
        );
    }
}
