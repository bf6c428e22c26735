//! The one shell model of a RUN: its text lexed once (by [`super::shellwords`]'s linear lexer:
//! quotes, backslashes, `&&`/`||`/`;`/`|`, `if`/loops/`case`, comments, heredoc bodies appended
//! by the caller) into simple commands, each with the program it runs and that program's
//! arguments. `sh -c "…"` (and `bash`, `dash`, `ash`) runs its script: the script's commands
//! count too, one level deep. Every rule and the cost model ask this model what a RUN runs, so
//! they agree on it; [`Scripts`] keeps one lexed script per instruction for the rules of one
//! Dockerfile.

pub use super::shellwords::{MAX_CLASSIFIED_BYTES, Unclassified};
use super::shellwords::{Sep, existence_test, is_syntax, lex, simple_commands};

/// The program a simple command runs and its arguments without options (`--frozen-lockfile`
/// kept: yarn's install is spelt that way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Base name (`/usr/local/bin/pip` runs `pip`; `python -m pip` runs `pip`).
    pub name: String,
    pub args: Vec<String>,
}

impl Program {
    /// Whether this runs `seq`: the program is `seq[0]` (by its base name), and the rest of
    /// `seq` appears among its arguments in order (a word ending in `*` matches by prefix).
    pub fn runs(&self, seq: &[&str]) -> bool {
        let Some(first) = seq.first() else {
            return false;
        };
        // `first`'s base name is the program's (`/usr/bin/npm` runs `npm`), compared without
        // splitting: this runs for every tool of the table against every command
        let name = self.name.as_str();
        let same = *first == name
            || first
                .strip_suffix(name)
                .is_some_and(|dir| dir.ends_with('/'));
        if !same {
            return false;
        }
        let mut it = self.args.iter();
        seq[1..].iter().all(|w| match w.strip_suffix('*') {
            // `build*`: `build`, `build:web`, `build-docker`
            Some(prefix) => it.any(|a| a.starts_with(prefix)),
            None => it.any(|a| a == w),
        })
    }

    /// Whether this runs any of `seqs`.
    pub fn runs_any(&self, seqs: &[&[&str]]) -> bool {
        seqs.iter().any(|s| self.runs(s))
    }
}

/// The program a simple command runs and its arguments: leading `VAR=value` assignments and the
/// wrappers `sudo`, `env`, `exec`, `time`, `nice`, `nohup`, `command`, `npx`, `bunx` (with
/// their options) are skipped, and
/// `python -m pip` runs `pip`. `None` for a test (`[ -f x ]`, `test`), `true`/`false`/`:` or an
/// empty command.
pub fn program(cmd: &[String]) -> Option<Program> {
    let mut i = 0;
    while i < cmd.len() {
        let w = cmd[i].as_str();
        let assignment = w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        });
        if assignment {
            i += 1;
            continue;
        }
        // a parameter expansion in command position (`${DEBUG:+env RUST_LOG=debug} cargo …`)
        // expands to a wrapper or to nothing: skip it to the word that closes it
        if w.starts_with("${") {
            while cmd.get(i).is_some_and(|x| !x.contains('}')) {
                i += 1;
            }
            i += 1;
            continue;
        }
        if matches!(
            w,
            "sudo" | "env" | "exec" | "time" | "nice" | "nohup" | "command" | "npx" | "bunx"
        ) {
            i += 1;
            // the wrapper's own options (`sudo -E`), and their values (`sudo -u app`,
            // `nice -n 10`)
            while let Some(o) = cmd.get(i).filter(|x| x.starts_with('-')) {
                let valued = match w {
                    "sudo" => matches!(
                        o.as_str(),
                        "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-T" | "-U"
                    ),
                    "nice" => o == "-n",
                    _ => false,
                };
                i += if valued { 2 } else { 1 };
            }
            continue;
        }
        break;
    }
    let word = cmd.get(i)?;
    let base = word.rsplit('/').next().unwrap_or(word).to_string();
    if matches!(base.as_str(), "[" | "[[" | "test" | "true" | "false" | ":") {
        return None;
    }
    if base.starts_with("python") && cmd.get(i + 1).map(String::as_str) == Some("-m") {
        let module = cmd.get(i + 2)?.clone();
        let args = cmd[i + 3..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .cloned()
            .collect();
        return Some(Program { name: module, args });
    }
    let args = cmd[i + 1..]
        .iter()
        .filter(|w| !w.starts_with('-') || *w == "--frozen-lockfile")
        .cloned()
        .collect();
    Some(Program { name: base, args })
}

/// The script a shell runs with `-c` (`sh -c "npm ci && npm run build"`).
fn shell_script<'a>(words: &'a [String], p: &Program) -> Option<&'a str> {
    if !matches!(p.name.as_str(), "sh" | "bash" | "dash" | "ash") {
        return None;
    }
    let k = words.iter().position(|w| w == "-c")?;
    words.get(k + 1).map(String::as_str)
}

/// One simple command of a RUN.
#[derive(Debug, Clone)]
pub struct Simple {
    /// Its words, quotes removed.
    pub words: Vec<String>,
    /// What ends it.
    pub sep: Sep,
    /// What it runs (`None`: a test, `true`, or nothing).
    pub program: Option<Program>,
    /// A command of an `sh -c` script inside another command.
    pub nested: bool,
}

/// A RUN text as simple commands: shell keywords and the heads of `for`/`case` are left out;
/// the commands of an `sh -c` script follow the command that runs it.
#[derive(Debug, Clone, Default)]
pub struct Script {
    commands: Vec<Simple>,
    /// Why the text could not be read (too long, unbalanced quotes): then it has no commands.
    pub unclassified: Option<Unclassified>,
}

impl Script {
    /// Lex a RUN text (heredoc bodies appended: [`super::rules::run_command`]).
    pub fn parse(text: &str) -> Script {
        let lexed = match lex(&without_heredoc_bodies(text)) {
            Ok(l) => l,
            Err(why) => {
                return Script {
                    commands: Vec::new(),
                    unclassified: Some(why),
                };
            }
        };
        let mut commands = Vec::with_capacity(lexed.len());
        let mut cases = 0usize;
        for (words, sep) in lexed {
            if words[0] == "case" {
                cases += 1;
            } else if words.len() == 1 && words[0] == "esac" {
                cases = cases.saturating_sub(1);
            }
            // a `case` pattern (`amd64)`, `*)`) is no command
            if is_syntax(&words) || (cases > 0 && sep == Sep::Close) {
                continue;
            }
            let prog = program(&words);
            let inner = prog
                .as_ref()
                .and_then(|p| shell_script(&words, p))
                .and_then(|s| simple_commands(s).ok());
            commands.push(Simple {
                words,
                sep,
                program: prog,
                nested: false,
            });
            for iw in inner.into_iter().flatten() {
                commands.push(Simple {
                    program: program(&iw),
                    words: iw,
                    sep: Sep::Other,
                    nested: true,
                });
            }
        }
        Script {
            commands,
            unclassified: None,
        }
    }

    /// Every simple command, those of `sh -c` scripts included.
    pub fn commands(&self) -> impl Iterator<Item = &Simple> {
        self.commands.iter()
    }

    /// The programs it runs, those of `sh -c` scripts included.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.commands.iter().filter_map(|c| c.program.as_ref())
    }

    /// How many simple commands it has at the top level (`sh -c` scripts not counted).
    pub fn top_level_len(&self) -> usize {
        self.commands.iter().filter(|c| !c.nested).count()
    }

    /// Whether any command runs `seq` (see [`Program::runs`]).
    pub fn runs(&self, seq: &[&str]) -> bool {
        self.programs().any(|p| p.runs(seq))
    }

    /// Whether any command runs one of `seqs`.
    pub fn runs_any(&self, seqs: &[&[&str]]) -> bool {
        self.programs().any(|p| p.runs_any(seqs))
    }
}

/// The lexed scripts of one Dockerfile's instructions, each lexed on first use: every rule that
/// asks about a RUN gets the same script.
#[derive(Debug, Default)]
pub struct Scripts {
    by_instruction: Vec<std::sync::OnceLock<std::sync::Arc<Script>>>,
}

impl Scripts {
    /// Room for `n` instructions.
    pub fn new(n: usize) -> Scripts {
        Scripts {
            by_instruction: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// The script of instruction `i`, whose RUN text `text` gives when first asked (`None`: not
    /// a RUN). An index out of range is lexed each time.
    pub fn get(
        &self,
        i: usize,
        text: impl FnOnce() -> Option<String>,
    ) -> Option<std::sync::Arc<Script>> {
        self.get_with(i, text, |t| std::sync::Arc::new(Script::parse(t)))
    }

    /// [`Scripts::get`], a RUN text not yet lexed for this Dockerfile taken from the caller's
    /// memo by the text (`Kind::Commands`, which the cost model reads too): the versions of a
    /// Dockerfile and the Dockerfiles of one repository repeat their RUN texts
    /// (docker-library/php's variants).
    pub fn get_in(
        &self,
        memo: &crate::engine::memo::Memo,
        i: usize,
        text: impl FnOnce() -> Option<String>,
    ) -> Option<std::sync::Arc<Script>> {
        self.get_with(i, text, |t| {
            memo.get_or(crate::engine::memo::Kind::Commands, t, || {
                std::sync::Arc::new(Script::parse(t))
            })
        })
    }

    fn get_with(
        &self,
        i: usize,
        text: impl FnOnce() -> Option<String>,
        lex: impl FnOnce(&str) -> std::sync::Arc<Script>,
    ) -> Option<std::sync::Arc<Script>> {
        match self.by_instruction.get(i) {
            Some(cell) => {
                if let Some(s) = cell.get() {
                    return Some(s.clone());
                }
                let s = lex(&text()?);
                Some(cell.get_or_init(|| s).clone())
            }
            None => text().map(|t| lex(&t)),
        }
    }
}

/// Files the command tests for existence (see [`existence_test`]).
pub fn tested_files(command: &str) -> Vec<String> {
    let Ok(cmds) = lex(&without_heredoc_bodies(command)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (c, _) in &cmds {
        if let Some(f) = existence_test(c) {
            if !out.iter().any(|x| x == f) {
                out.push(f.to_string());
            }
        }
    }
    out
}

/// The simple commands that can run when the files in `absent` do not exist: a `then` branch
/// whose condition is an existence test of an absent file is left out, and so is a command
/// after `&&` that follows such a test. Linear.
pub fn runnable_commands(
    command: &str,
    absent: &[String],
) -> Result<Vec<Vec<String>>, Unclassified> {
    let cmds = lex(&without_heredoc_bodies(command))?;
    if absent.is_empty() {
        let mut cases = 0usize;
        return Ok(cmds
            .into_iter()
            .filter(|(c, sep)| {
                if c[0] == "case" {
                    cases += 1;
                } else if c.len() == 1 && c[0] == "esac" {
                    cases = cases.saturating_sub(1);
                }
                !(is_syntax(c) || (cases > 0 && *sep == Sep::Close))
            })
            .map(|(c, _)| c)
            .collect());
    }
    let fails = |c: &[String]| existence_test(c).is_some_and(|f| absent.iter().any(|a| a == f));
    let mut out = Vec::new();
    // per open `if`: whether its current branch is skipped; and the condition being read
    let mut frames: Vec<bool> = Vec::new();
    let mut cond: Option<Vec<Vec<String>>> = None;
    let mut skip_and_chain = false;
    let skipping = |frames: &[bool]| frames.iter().any(|s| *s);
    for (c, sep) in cmds {
        let kw = if c.len() == 1 { c[0].as_str() } else { "" };
        match kw {
            "if" | "elif" => {
                if kw == "elif" {
                    frames.pop();
                }
                cond = Some(Vec::new());
                continue;
            }
            "then" => {
                let cs = cond.take().unwrap_or_default();
                frames.push(cs.len() == 1 && fails(&cs[0]));
                continue;
            }
            "else" => {
                // the else branch of a skipped test runs; of a taken one it may run too
                if let Some(f) = frames.last_mut() {
                    *f = false;
                }
                continue;
            }
            "fi" => {
                frames.pop();
                continue;
            }
            _ => {}
        }
        if let Some(cs) = cond.as_mut() {
            cs.push(c);
            continue;
        }
        if is_syntax(&c) {
            continue;
        }
        let skipped_here = skip_and_chain;
        skip_and_chain = match sep {
            Sep::And => skipped_here || fails(&c),
            _ => false,
        };
        if skipped_here || skipping(&frames) {
            continue;
        }
        out.push(c);
    }
    Ok(out)
}

/// The programs of `commands` (as [`runnable_commands`] gives them), with those of their
/// `sh -c` scripts: what the cost model prices.
pub fn programs_of(commands: &[Vec<String>]) -> Vec<Program> {
    commands_of(commands).into_iter().map(|(_, p)| p).collect()
}

/// [`programs_of`] with each program's words; a shell that runs a `-c` script comes after the
/// script's commands.
pub fn commands_of(commands: &[Vec<String>]) -> Vec<(Vec<String>, Program)> {
    let mut out = Vec::new();
    for c in commands {
        let Some(p) = program(c) else { continue };
        if let Some(inner) = shell_script(c, &p).and_then(|s| simple_commands(s).ok()) {
            out.extend(
                inner
                    .into_iter()
                    .filter_map(|ic| program(&ic).map(|ip| (ic, ip))),
            );
        }
        out.push((c.clone(), p));
    }
    out
}

/// Whether a simple command runs a shell on a `-c` script (the script's commands are judged
/// on their own).
pub fn runs_shell_script(words: &[String], p: &Program) -> bool {
    shell_script(words, p).is_some()
}

/// A RUN text without the bodies of its heredocs: `cat <<EOF > /etc/x` feeds the lines up to
/// `EOF` to `cat`, they run nothing. A text whose first line is heredoc words only (`<<EOF`,
/// BuildKit's `RUN <<EOF`) is the script itself: its body is kept and the marker dropped. A
/// body without its closing line runs to the end (the rules' text appends bodies without it).
/// Here-strings (`<<<`) are no heredocs.
pub fn without_heredoc_bodies(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("<<") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n');
    let mut first = true;
    while let Some(line) = lines.next() {
        let marks = heredoc_marks(line);
        let script_form = first
            && !marks.is_empty()
            && marks
                .iter()
                .fold(line.to_string(), |l, (m, _)| l.replacen(m.as_str(), "", 1))
                .trim()
                .is_empty();
        first = false;
        if script_form {
            // the body is the script: its lines run, up to the closing line
            let name = &marks[0].1;
            for l in lines.by_ref() {
                if l.trim_start_matches('\t') == name {
                    break;
                }
                out.push_str(l);
                out.push('\n');
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
        for (_, name) in &marks {
            for l in lines.by_ref() {
                if l.trim_start_matches('\t') == name {
                    break;
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The heredoc markers of one line: (marker as written, delimiter word).
fn heredoc_marks(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(p) = line[i..].find("<<") {
        let at = i + p;
        let mut j = at + 2;
        if b.get(j) == Some(&b'<') {
            // a here-string
            i = j + 1;
            continue;
        }
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        let quote = b.get(j).copied().filter(|c| *c == b'\'' || *c == b'"');
        if quote.is_some() {
            j += 1;
        }
        let start = j;
        while b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        {
            j += 1;
        }
        if j == start {
            i = j;
            continue;
        }
        let name = line[start..j].to_string();
        if quote.is_some() && b.get(j).copied() == quote {
            j += 1;
        }
        out.push((line[at..j].to_string(), name));
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(text: &str) -> Vec<String> {
        Script::parse(text)
            .programs()
            .map(|p| {
                format!("{} {}", p.name, p.args.join(" "))
                    .trim()
                    .to_string()
            })
            .collect()
    }

    /// What "runs" means, as a table: separators, quotes, keywords, heredoc bodies, wrappers,
    /// `sh -c` scripts, comments.
    #[test]
    fn what_a_run_runs() {
        let cases: &[(&str, &[&str])] = &[
            (
                "apt-get update && apt-get install -y curl",
                &["apt-get update", "apt-get install curl"],
            ),
            (
                "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o /app .",
                &["go build /app ."],
            ),
            (
                "echo 'npm ci && make' > notes",
                &["echo npm ci && make > notes"],
            ),
            ("sudo -E pip3 install -r r.txt", &["pip3 install r.txt"]),
            ("sudo -u app -H bundle install", &["bundle install"]),
            ("nice -n 10 make -j4", &["make"]),
            (
                "${DBG:+env RUST_LOG=debug} xx-cargo build -r",
                &["xx-cargo build"],
            ),
            ("python3 -m pip install flask", &["pip install flask"]),
            (
                "sh -c \"npm ci && npm run build\"",
                &["sh npm ci && npm run build", "npm ci", "npm run build"],
            ),
            (
                "if [ -f go.mod ]; then go mod download; fi",
                &["go mod download"],
            ),
            ("for f in a b; do make $f; done", &["make $f"]),
            (
                "set -eux; \\\n  cargo build --release",
                &["set", "cargo build"],
            ),
            ("# apt-get install x\necho ok", &["echo ok"]),
            ("true || exit 1", &["exit 1"]),
            (
                "make >/dev/null 2>&1 && go vet &>/dev/null",
                &["make >/dev/null 2>&1", "go vet &>/dev/null"],
            ),
            (
                "cat <<EOF > /x\nhello\nEOF\nyarn install --frozen-lockfile",
                &["cat <<EOF > /x", "yarn install --frozen-lockfile"],
            ),
            (
                "cat <<-'EOF' > /x\n\tpip install x\n\tEOF",
                &["cat <<-EOF > /x"],
            ),
            (
                "<<EOF\napt-get update\nmake\nEOF",
                &["apt-get update", "make"],
            ),
            ("cat <<<'make' > /x", &["cat <<<make > /x"]),
            (
                "case \"$arch\" in\n  'amd64') url=a ;;\n  *) echo no; exit 1 ;;\nesac",
                &["echo no", "exit 1"],
            ),
            ("(cd web && yarn build)", &["cd web", "yarn build"]),
        ];
        for (text, want) in cases {
            assert_eq!(&programs(text), want, "{text}");
        }
        let s = Script::parse("sh -c \"npm ci\"");
        assert_eq!(s.top_level_len(), 1);
        assert!(s.runs(&["npm", "ci"]));
        assert!(!s.runs(&["npm", "install"]));
        assert_eq!(
            Script::parse("echo 'x").unclassified,
            Some(Unclassified::UnbalancedQuotes)
        );
    }

    #[test]
    fn scripts_are_lexed_once() {
        let s = Scripts::new(2);
        let a = s.get(1, || Some("npm ci".into())).unwrap();
        // asked again, the text is not read: the same script comes back
        let b = s.get(1, || panic!("lexed twice")).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert!(s.get(0, || None).is_none());
        assert!(s.get(9, || Some("make".into())).unwrap().runs(&["make"]));
        // from a memo: another Dockerfile's scripts with the same RUN text share its lexing
        let memo = crate::engine::memo::Memo::default();
        let (x, y) = (Scripts::new(1), Scripts::new(1));
        let a = x.get_in(&memo, 0, || Some("npm ci".into())).unwrap();
        let b = y.get_in(&memo, 0, || Some("npm ci".into())).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b) && a.runs(&["npm", "ci"]));
    }
}
