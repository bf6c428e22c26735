//! The configuration a change is reviewed with: `.github/cachebust.yml` (or the file the
//! `config` input names) read from the BASE revision, as CODEOWNERS and most review bots read
//! theirs, so a pull request cannot switch off the rules that would flag it. The head's copy is
//! read only to say whether the change edits it. Both are read through the `RepoSource`, the way
//! COPY sources are: never through a symlink that leaves the tree, never a device or FIFO.

use crate::engine::FileText;
use crate::engine::config::{self, Config};
use crate::engine::tree::Side;
use crate::ports::RepoSource;

/// The default place of the configuration.
pub const DEFAULT_PATH: &str = ".github/cachebust.yml";

/// The configuration in effect for a change, and what to tell about it.
#[derive(Debug, Clone, Default)]
pub struct ChangeConfig {
    pub config: Config,
    /// The change edits, adds or removes the file (its edit takes effect once merged).
    pub changed: bool,
    /// The base's file exists on neither side.
    pub absent: bool,
    /// Why the base's file could not be used (it does not parse, is not text, cannot be read):
    /// the defaults apply and the shell shows this.
    pub problem: Option<String>,
}

fn text_of(f: &Option<FileText>) -> Option<Result<&str, String>> {
    match f {
        None => None,
        Some(FileText::Text(t)) => Some(Ok(t)),
        Some(FileText::Binary(why)) => Some(Err(format!("not a text file: {}", why.describe()))),
        Some(FileText::Unreadable(m)) => Some(Err(m.clone())),
    }
}

/// Read the configuration at `path` from the base revision of `repo`.
pub async fn for_change<R: RepoSource>(repo: &R, path: &str) -> ChangeConfig {
    let wanted = [path.to_string()];
    let base = repo.read_files(Side::Base, &wanted).await;
    let head = repo.read_files(Side::Head, &wanted).await;
    let (base, head) = (
        base.map(|mut v| v.pop().flatten()),
        head.map(|mut v| v.pop().flatten()),
    );
    let mut out = ChangeConfig::default();
    let base = match base {
        Ok(b) => b,
        Err(e) => {
            out.problem = Some(format!("{path}: cannot be read at the base revision: {e}"));
            return out;
        }
    };
    if let Ok(h) = &head {
        out.changed = text_of(&base).map(|r| r.ok()) != text_of(h).map(|r| r.ok());
        out.absent = base.is_none() && h.is_none();
    }
    match text_of(&base) {
        None => {}
        Some(Err(why)) => out.problem = Some(format!("{path}: {why}")),
        Some(Ok(t)) => match config::parse(path, t, &crate::engine::rules::codes()) {
            Ok(c) => out.config = c,
            Err(e) => out.problem = Some(e.to_string()),
        },
    }
    out
}
