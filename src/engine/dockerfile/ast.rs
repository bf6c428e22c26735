//! The Dockerfile model cachebust reasons about: instructions with their kind, 1-based line
//! range, builder flags and arguments *as BuildKit's parser leaves them* (quotes and escapes kept
//! where BuildKit keeps them; RUN text joined verbatim). Variable expansion happens later, in
//! `engine::expand`, against the simulated build state.

use std::ops::Range;

/// Instruction keywords BuildKit knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    From,
    Run,
    Copy,
    Add,
    Workdir,
    Env,
    Arg,
    User,
    Shell,
    Label,
    Expose,
    Cmd,
    Entrypoint,
    Healthcheck,
    Stopsignal,
    Volume,
    Maintainer,
    Onbuild,
}

impl Kind {
    pub fn from_keyword(k: &str) -> Option<Kind> {
        Some(match k.to_ascii_lowercase().as_str() {
            "from" => Kind::From,
            "run" => Kind::Run,
            "copy" => Kind::Copy,
            "add" => Kind::Add,
            "workdir" => Kind::Workdir,
            "env" => Kind::Env,
            "arg" => Kind::Arg,
            "user" => Kind::User,
            "shell" => Kind::Shell,
            "label" => Kind::Label,
            "expose" => Kind::Expose,
            "cmd" => Kind::Cmd,
            "entrypoint" => Kind::Entrypoint,
            "healthcheck" => Kind::Healthcheck,
            "stopsignal" => Kind::Stopsignal,
            "volume" => Kind::Volume,
            "maintainer" => Kind::Maintainer,
            "onbuild" => Kind::Onbuild,
            _ => return None,
        })
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Kind::From => "FROM",
            Kind::Run => "RUN",
            Kind::Copy => "COPY",
            Kind::Add => "ADD",
            Kind::Workdir => "WORKDIR",
            Kind::Env => "ENV",
            Kind::Arg => "ARG",
            Kind::User => "USER",
            Kind::Shell => "SHELL",
            Kind::Label => "LABEL",
            Kind::Expose => "EXPOSE",
            Kind::Cmd => "CMD",
            Kind::Entrypoint => "ENTRYPOINT",
            Kind::Healthcheck => "HEALTHCHECK",
            Kind::Stopsignal => "STOPSIGNAL",
            Kind::Volume => "VOLUME",
            Kind::Maintainer => "MAINTAINER",
            Kind::Onbuild => "ONBUILD",
        }
    }

    /// Instructions that produce a build step of their own (reported one entry each).
    pub fn is_step(self) -> bool {
        matches!(
            self,
            Kind::From | Kind::Run | Kind::Copy | Kind::Add | Kind::Workdir
        )
    }
}

/// A builder flag such as `--mount=type=cache,target=/root/.npm` (value with flag-level quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// Shell form keeps the joined text verbatim; exec form is the JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path, URL or pattern as written (quotes and escapes kept for shell-style words).
    Path(String),
    Heredoc(Heredoc),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    From {
        image: String,
        alias: Option<String>,
    },
    Run {
        command: CommandForm,
        heredocs: Vec<Heredoc>,
    },
    /// COPY and ADD.
    Copy {
        sources: Vec<CopySource>,
        dest: String,
        json: bool,
    },
    /// ENV and LABEL: raw key/value pairs.
    Pairs(Vec<(String, String)>),
    /// ARG: names with optional raw defaults.
    Arg(Vec<(String, Option<String>)>),
    /// WORKDIR, USER, STOPSIGNAL, MAINTAINER: the rest of the line.
    Text(String),
    /// SHELL: the JSON array.
    Shell(Vec<String>),
    /// CMD, ENTRYPOINT, HEALTHCHECK (command part), EXPOSE, VOLUME: kept only for display.
    Other,
    Onbuild(Box<Instruction>),
}

/// One instruction. Equality is of what it says and where (its `index` is left out: the same
/// instruction at another place in another Dockerfile is the same instruction).
#[derive(Debug, Clone)]
pub struct Instruction {
    /// Its place in `Dockerfile::instructions` (`usize::MAX` for the instruction an ONBUILD
    /// holds).
    pub index: usize,
    pub kind: Kind,
    pub line: u32,
    pub end_line: u32,
    /// Byte range in the Dockerfile text (keyword to end of the last line, heredocs included).
    pub span: Range<usize>,
    pub flags: Vec<Flag>,
    pub body: Body,
    /// Everything after the keyword on the logical line (flags included), whitespace kept.
    pub args_text: String,
    /// Lines of the physical lines that make up the instruction text (no heredoc bodies).
    pub physical_lines: Vec<Range<usize>>,
    /// The instruction on one line, uncut (`one_line`): made once when it is parsed, since
    /// every prediction, fix measurement and message shows it again.
    pub shown: String,
}

impl PartialEq for Instruction {
    fn eq(&self, o: &Instruction) -> bool {
        self.kind == o.kind
            && self.line == o.line
            && self.end_line == o.end_line
            && self.span == o.span
            && self.flags == o.flags
            && self.body == o.body
            && self.args_text == o.args_text
            && self.physical_lines == o.physical_lines
            && self.shown == o.shown
    }
}

impl Eq for Instruction {}

/// `Instruction::shown`: the keyword and `args_text` with whitespace runs collapsed and
/// backticks made `'`.
pub fn one_line(kind: Kind, args_text: &str) -> String {
    let mut s = String::with_capacity(kind.keyword().len() + 1 + args_text.len());
    s.push_str(kind.keyword());
    for w in args_text.split_whitespace() {
        s.push(' ');
        s.push_str(w);
    }
    if s.contains('`') {
        s = s.replace('`', "'");
    }
    s
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    pub fn flag_value(&self, name: &str) -> Option<&str> {
        self.flag(name).and_then(|f| f.value.as_deref())
    }

    pub fn flags_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Flag> + 'a {
        self.flags.iter().filter(move |f| f.name == name)
    }

    /// The instruction on one line for messages, cut at `max` characters: keyword and
    /// arguments with whitespace runs collapsed, heredoc bodies left out. Backticks become `'`
    /// so that messages can quote it as code.
    pub fn display(&self, max: usize) -> String {
        // a text of at most `max` bytes has at most `max` characters
        let shown = self.shown.as_str();
        if shown.len() <= max || shown.char_indices().nth(max).is_none() {
            return self.shown.clone();
        }
        // the first `max - 1` characters, sliced where the next one starts
        let end = shown
            .char_indices()
            .nth(max.saturating_sub(1))
            .map_or(shown.len(), |(i, _)| i);
        let cut = shown[..end].trim_end();
        let mut out = String::with_capacity(cut.len() + '…'.len_utf8());
        out.push_str(cut);
        out.push('…');
        out
    }
}

/// A parser directive at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: u32,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A problem found while reading the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDiagnostic {
    pub line: u32,
    pub severity: Severity,
    pub message: String,
}

/// The parsed file.
#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    pub escape: char,
    pub directives: Vec<Directive>,
    pub instructions: Vec<Instruction>,
    pub diagnostics: Vec<ParseDiagnostic>,
    /// `false` when BuildKit would reject the file (the build fails before any step runs).
    pub ok: bool,
}

impl Dockerfile {
    pub fn syntax(&self) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == "syntax")
            .map(|d| d.value.as_str())
    }
}
