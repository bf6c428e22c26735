//! Commands that empty a package manager's download cache (`npm cache clean --force`, `pip
//! cache purge`, `apt-get clean`, `go clean -modcache`, `rm -rf /root/.npm`, …), found with
//! their byte spans in a RUN's text. Images without cache mounts clean their caches to stay
//! small; in a RUN with a cache mount the same command empties the mount on every run, so the
//! mount saves nothing. The cost model (`cost`) credits a mount only when its step does not
//! empty it, and CB004 drops these commands when it adds (or finds) the mount.

use std::ops::Range;

use crate::engine::shellwords::simple_commands;

/// Cleaning commands (program, then words in order) and the cache directories they empty.
const CLEANERS: &[(&[&str], &[&str])] = &[
    (&["npm", "cache", "clean"], &["/root/.npm"]),
    (&["npm", "cache", "clear"], &["/root/.npm"]),
    (&["npm", "cache", "rm"], &["/root/.npm"]),
    (
        &["yarn", "cache", "clean"],
        &["/usr/local/share/.cache/yarn", "/root/.cache/yarn"],
    ),
    (
        &["pnpm", "store", "prune"],
        &["/root/.local/share/pnpm/store", "/pnpm/store"],
    ),
    (&["pip", "cache", "purge"], &["/root/.cache/pip"]),
    (&["pip", "cache", "remove"], &["/root/.cache/pip"]),
    (&["pip3", "cache", "purge"], &["/root/.cache/pip"]),
    (&["pip3", "cache", "remove"], &["/root/.cache/pip"]),
    (&["python", "pip", "cache", "purge"], &["/root/.cache/pip"]),
    (&["python3", "pip", "cache", "purge"], &["/root/.cache/pip"]),
    (&["poetry", "cache", "clear"], &["/root/.cache/pypoetry"]),
    (&["uv", "cache", "clean"], &["/root/.cache/uv"]),
    (&["uv", "cache", "prune"], &["/root/.cache/uv"]),
    (&["pipenv", "--clear"], &["/root/.cache/pipenv"]),
    (&["bundle", "clean"], &["/usr/local/bundle/cache"]),
    (&["composer", "clear-cache"], &["/root/.composer/cache"]),
    (&["composer", "clearcache"], &["/root/.composer/cache"]),
    (&["composer", "cc"], &["/root/.composer/cache"]),
    (
        &["go", "clean", "-modcache"],
        &["/go/pkg/mod", "/root/go/pkg/mod"],
    ),
    (&["go", "clean", "-cache"], &["/root/.cache/go-build"]),
    (&["dotnet", "nuget", "locals"], &["/root/.nuget/packages"]),
    (&["apt-get", "clean"], &["/var/cache/apt"]),
    (&["apt-get", "autoclean"], &["/var/cache/apt"]),
    (&["apt", "clean"], &["/var/cache/apt"]),
    (
        &["apk", "cache", "clean"],
        &["/var/cache/apk", "/etc/apk/cache"],
    ),
    (&["yum", "clean"], &["/var/cache/yum"]),
    (&["dnf", "clean"], &["/var/cache/dnf"]),
];

/// One cleaning command of a RUN text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean {
    /// Its bytes in the text.
    pub span: Range<usize>,
    /// The command's words (one line).
    pub text: String,
    /// The directories it empties (absolute; for `rm`, its operands).
    pub dirs: Vec<String>,
    /// The bytes to delete to drop it (with the `&&`/`;` that joins it to its neighbour, and
    /// a `|| true` after it); `None` when it cannot be dropped on its own (the only command,
    /// or one inside `if`/`case`, a pipeline or a subshell).
    pub drop: Option<Range<usize>>,
}

impl Clean {
    /// Whether it empties the cache-mount target `target` (or a directory in or above it).
    pub fn empties(&self, target: &str) -> bool {
        self.dirs
            .iter()
            .any(|d| crate::engine::shellwords::mount_covers(target, d))
    }
}

/// The directories a simple command empties, if it is a cleaning command.
fn emptied(words: &[String]) -> Option<Vec<String>> {
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| {
            w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }) || matches!(*w, "sudo" | "env" | "exec" | "command")
        })
        .collect();
    let prog = words.first()?.rsplit('/').next()?;
    let args = &words[1..];
    if prog == "rm" {
        let dirs: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .filter_map(|a| home_path(a))
            .collect();
        return (!dirs.is_empty()).then_some(dirs);
    }
    // `python -m pip cache purge`: the words after the program, `-m` left out
    let rest: Vec<&str> = args.iter().copied().filter(|a| *a != "-m").collect();
    CLEANERS.iter().find_map(|(seq, dirs)| {
        let base = seq[0];
        if prog != base {
            return None;
        }
        let mut it = rest.iter();
        seq[1..]
            .iter()
            .all(|w| it.any(|a| a == w))
            .then(|| dirs.iter().map(|d| d.to_string()).collect())
    })
}

/// An `rm` operand as an absolute path: `~` and `$HOME` as root's home; the directory before a
/// wildcard (`/var/lib/apt/lists/*` empties `/var/lib/apt/lists`). Relative operands are left
/// out (the working directory holds no package cache).
fn home_path(a: &str) -> Option<String> {
    let a = a
        .strip_prefix("~/")
        .or_else(|| a.strip_prefix("$HOME/"))
        .or_else(|| a.strip_prefix("${HOME}/"))
        .map(|r| format!("/root/{r}"))
        .unwrap_or_else(|| a.to_string());
    if !a.starts_with('/') {
        return None;
    }
    let lit = match a.find(['*', '?', '[', '$', '{']) {
        None => a.as_str(),
        Some(i) => a[..i].rsplit_once('/').map_or("/", |(d, _)| d),
    };
    let lit = lit.trim_end_matches('/');
    Some(if lit.is_empty() {
        "/".into()
    } else {
        lit.into()
    })
}

/// What joins two commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// `&&`, `;` or a newline: the next command runs after this one either way or on success.
    Seq,
    /// `||`.
    Or,
    /// `|`, `&`, `(`, `)` and what makes the command part of a larger one.
    Other,
}

/// The simple commands of a shell text with their byte spans and the separator after each
/// (quotes, backslashes and `#` comments respected; a backslash-newline continues a line).
fn spans(text: &str) -> Vec<(Range<usize>, Sep)> {
    let b = text.as_bytes();
    let mut out: Vec<(Range<usize>, Sep)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut i = 0;
    let mut push = |start: &mut Option<usize>, end: usize, sep: Sep| {
        if let Some(s) = start.take() {
            out.push((s..end, sep));
        } else if let Some(last) = out.last_mut() {
            // an empty command between two separators: the stronger one counts
            if sep == Sep::Other {
                last.1 = Sep::Other;
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    i += 2;
                    continue;
                }
                start.get_or_insert(i);
                i += 2;
                end = i.min(b.len());
                continue;
            }
            b'\'' | b'"' => {
                start.get_or_insert(i);
                let q = c;
                i += 1;
                while i < b.len() && b[i] != q {
                    if q == b'"' && b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                end = i.min(b.len());
                continue;
            }
            b'#' if start.is_none() || b[i - 1].is_ascii_whitespace() => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'&' | b'|' | b';' | b'\n' | b'(' | b')' => {
                let two = b.get(i + 1) == Some(&c);
                let sep = match (c, two) {
                    (b'&', true) | (b';', false) | (b'\n', _) => Sep::Seq,
                    (b'|', true) => Sep::Or,
                    _ => Sep::Other,
                };
                push(&mut start, end, sep);
                i += if two && c != b'\n' { 2 } else { 1 };
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                start.get_or_insert(i);
                end = i + 1;
            }
        }
        i += 1;
    }
    push(&mut start, end, Sep::Seq);
    out
}

/// The cleaning commands of a RUN's shell text.
pub fn cleans(text: &str) -> Vec<Clean> {
    if text.len() > crate::engine::shellwords::MAX_CLASSIFIED_BYTES {
        return Vec::new();
    }
    let all = spans(text);
    let words: Vec<Option<Vec<String>>> = all
        .iter()
        .map(|(r, _)| {
            let mut cs = simple_commands(&text[r.clone()]).ok()?;
            (cs.len() == 1).then(|| cs.remove(0))
        })
        .collect();
    // inside `if`/`case`/loops a command cannot be dropped on its own
    let keyword = |r: &Range<usize>| {
        text[r.clone()].split_whitespace().next().is_some_and(|f| {
            matches!(
                f,
                "if" | "then"
                    | "else"
                    | "elif"
                    | "fi"
                    | "for"
                    | "while"
                    | "until"
                    | "do"
                    | "done"
                    | "case"
                    | "esac"
                    | "{"
                    | "}"
                    | "!"
            )
        })
    };
    let in_block = all.iter().any(|(r, _)| keyword(r));
    let mut out = Vec::new();
    for (k, ((r, sep), w)) in all.iter().zip(&words).enumerate() {
        let Some(w) = w else { continue };
        let Some(dirs) = emptied(w) else { continue };
        let prev_sep = k.checked_sub(1).map(|p| all[p].1);
        // `clean || true`: dropped together
        let or_true = *sep == Sep::Or
            && words
                .get(k + 1)
                .and_then(|x| x.as_ref())
                .is_some_and(|x| x.len() == 1 && matches!(x[0].as_str(), "true" | ":"));
        let after = if or_true {
            all.get(k + 1).map(|x| x.1)
        } else {
            Some(*sep)
        };
        let last = if or_true { k + 1 } else { k };
        let drop = if in_block || all.len() < 2 + usize::from(or_true) {
            None
        } else if k > 0 && prev_sep == Some(Sep::Seq) && matches!(after, Some(Sep::Seq)) {
            // `a && clean [&& b]`: from the end of the command before to the end of this one
            Some(all[k - 1].0.end..all[last].0.end)
        } else if k == 0 && matches!(after, Some(Sep::Seq)) && last + 1 < all.len() {
            // `clean && b`: up to the command after
            Some(r.start..all[last + 1].0.start)
        } else {
            None
        };
        out.push(Clean {
            span: r.start..all[last].0.end,
            text: w.join(" "),
            dirs,
            drop,
        });
    }
    out
}

/// Whether the shell text empties the cache-mount target `target` (see [`Clean::empties`]).
pub fn empties(text: &str, target: &str) -> bool {
    cleans(text).iter().any(|c| c.empties(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(text: &str) -> Vec<String> {
        let mut t = text.to_string();
        let mut cs = cleans(text);
        cs.reverse();
        for c in cs {
            if let Some(d) = c.drop {
                t.replace_range(d, "");
            }
        }
        vec![t]
    }

    #[test]
    fn finds_and_drops_cleans() {
        let rows: &[(&str, &str)] = &[
            ("npm ci && npm cache clean --force", "npm ci"),
            ("npm cache clean --force && npm ci", "npm ci"),
            (
                "npm ci \\\n    && npm cache clean --force \\\n    && npm run build",
                "npm ci \\\n    && npm run build",
            ),
            (
                "pip install -r r.txt; pip cache purge",
                "pip install -r r.txt",
            ),
            ("yarn install && yarn cache clean || true", "yarn install"),
            (
                "apt-get update && apt-get install -y curl && apt-get clean && rm -rf /var/lib/apt/lists/*",
                "apt-get update && apt-get install -y curl",
            ),
            ("go mod download && go clean -modcache", "go mod download"),
            (
                "composer install && composer clear-cache",
                "composer install",
            ),
            ("bundle install && bundle clean --force", "bundle install"),
            ("npm ci && rm -rf ~/.npm /tmp/*", "npm ci"),
            (
                "python -m pip install x && python -m pip cache purge",
                "python -m pip install x",
            ),
            // cannot be dropped alone: the only command, inside `if`, in a pipeline
            ("npm cache clean --force", "npm cache clean --force"),
            (
                "npm ci && if true; then npm cache clean --force; fi",
                "npm ci && if true; then npm cache clean --force; fi",
            ),
            (
                "npm ci && npm cache clean --force | cat",
                "npm ci && npm cache clean --force | cat",
            ),
            // not cleans
            (
                "npm ci && echo 'npm cache clean'",
                "npm ci && echo 'npm cache clean'",
            ),
            (
                "rm -rf node_modules/.cache && npm ci",
                "rm -rf node_modules/.cache && npm ci",
            ),
        ];
        for (text, want) in rows {
            assert_eq!(dropped(text), vec![want.to_string()], "{text}");
        }
    }

    #[test]
    fn what_they_empty() {
        assert!(empties("npm ci && npm cache clean --force", "/root/.npm"));
        assert!(!empties(
            "npm ci && npm cache clean --force",
            "/root/.cache/pip"
        ));
        assert!(empties(
            "pip install x && rm -rf /root/.cache",
            "/root/.cache/pip"
        ));
        assert!(empties(
            "apt-get install -y x && rm -rf /var/lib/apt/lists/*",
            "/var/lib/apt"
        ));
        assert!(empties(
            "apt-get install -y x && apt-get clean",
            "/var/cache/apt"
        ));
        assert!(!empties(
            "apt-get install -y x && apt-get clean",
            "/var/lib/apt"
        ));
        assert!(!empties("npm ci && rm -rf /tmp/x", "/root/.npm"));
        assert!(empties("go build && go clean -modcache", "/go/pkg/mod"));
    }
}
