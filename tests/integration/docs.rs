//! The documentation is checked against the program, so none of it can drift:
//! - every sample output in README.md and docs/ (a fenced block right after an HTML comment
//!   `<!-- sample … -->`) is what the binary prints for the command it shows;
//!   `UPDATE_SAMPLES=1 cargo test --test integration docs::` writes them anew;
//! - every relative link and `#anchor` of the project's markdown resolves (files exist, anchors
//!   are headings' GitHub slugs or `id`s), external links are well formed (no network);
//! - the flag tables of docs/cli.md and docs/server.md are exactly each command's `--help`;
//! - JSON v1 as `analyze`, `check` and `history` print it (examples, rule fixtures, commits of
//!   real repositories) validates against docs/json-v1.schema.json, with no field undocumented.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::cli::{cachebust, example_repo, root};

// ---------------------------------------------------------------------------------------------
// The markdown files

/// The project's own markdown: README, the top-level documents, docs/ and examples/README.md.
fn markdown_files() -> Vec<PathBuf> {
    let root = root();
    let mut files: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
        "examples/README.md",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    walk(&root.join("docs"), &mut files);
    files
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

// ---------------------------------------------------------------------------------------------
// Samples

/// One marked sample: the comment's options, the command, and the block's text.
#[derive(Debug)]
struct Sample {
    /// 0-based line of the `<!-- sample … -->` comment.
    marker: usize,
    /// 0-based lines of the opening and closing fence.
    open: usize,
    close: usize,
    /// The fence's info string (`console`, `json`, …).
    info: String,
    /// The command shown as the block's first line (`$ cachebust …`), or given as `cmd=`.
    command: String,
    shown_command: bool,
    opts: BTreeMap<String, String>,
    body: String,
}

/// `<!-- sample -->` or `<!-- sample: key=value; key=value -->`.
fn marker_options(line: &str) -> Option<BTreeMap<String, String>> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    let rest = inner.strip_prefix("sample")?;
    let mut opts = BTreeMap::new();
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(opts);
    }
    let rest = rest.strip_prefix(':')?;
    for part in rest.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => opts.insert(k.trim().to_string(), v.trim().to_string()),
            None => opts.insert(part.to_string(), String::new()),
        };
    }
    Some(opts)
}

fn samples_in(file: &Path) -> Vec<Sample> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(opts) = marker_options(lines[i]) else {
            i += 1;
            continue;
        };
        let open = i + 1;
        let fence_line = lines.get(open).unwrap_or(&"");
        let ticks = fence_line.chars().take_while(|c| *c == '`').count();
        assert!(
            ticks >= 3,
            "{}:{}: a sample comment must be followed by a fenced block",
            rel(file),
            i + 1
        );
        let fence = "`".repeat(ticks);
        let info = fence_line[ticks..].trim().to_string();
        let close = (open + 1..lines.len())
            .find(|&j| lines[j].trim_end() == fence)
            .unwrap_or_else(|| panic!("{}:{}: the sample's block is not closed", rel(file), i + 1));
        let mut body_lines = &lines[open + 1..close];
        let (command, shown_command) = match opts.get("cmd") {
            Some(c) => (c.clone(), false),
            None => {
                let first = body_lines.first().copied().unwrap_or("");
                let c = first.strip_prefix("$ ").unwrap_or_else(|| {
                    panic!(
                        "{}:{}: the sample's first line is not `$ cachebust …` (or give cmd=)",
                        rel(file),
                        open + 2
                    )
                });
                body_lines = &body_lines[1..];
                (c.to_string(), true)
            }
        };
        out.push(Sample {
            marker: i,
            open,
            close,
            info,
            command,
            shown_command,
            opts,
            body: body_lines.join("\n"),
        });
        i = close + 1;
    }
    out
}

/// Words of a command line: whitespace-separated, `'…'` and `"…"` quote.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What the sample's command prints now, as the block shows it (options applied).
fn run_sample(s: &Sample) -> Result<String, String> {
    let args = words(&s.command);
    if args.first().map(String::as_str) != Some("cachebust") {
        return Err(format!("the command is not `cachebust …`: {}", s.command));
    }
    let tmp = tempfile::tempdir().unwrap();
    let cwd = match s.opts.get("in") {
        // a fresh clone of a bundle of a real repository
        Some(bundle) => {
            let dir = tmp.path().join("repo");
            let o = Command::new("git")
                .args(["clone", "-q"])
                .arg(root().join(bundle))
                .arg(&dir)
                .output()
                .unwrap();
            if !o.status.success() {
                return Err(format!(
                    "cloning {bundle}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            dir
        }
        None => root(),
    };
    let argv: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let o = cachebust(&argv, &cwd);
    let want_exit: i32 = s.opts.get("exit").map_or(0, |e| e.parse().unwrap());
    if o.status.code() != Some(want_exit) {
        return Err(format!(
            "`{}` exited with {:?}, the sample says {want_exit}: {}",
            s.command,
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    if s.opts.contains_key("stderr") {
        text.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    // the only thing normalised: the temporary directory a bundle was cloned into
    let text = text.replace(&tmp.path().display().to_string(), "<tmp>");
    let mut text = text.trim_end().to_string();
    if s.opts.contains_key("pointer") || s.opts.contains_key("first") {
        // JSON read and written again in the program's own key order
        let mut v: Json = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        if let Some(pointer) = s.opts.get("pointer") {
            v = select(&v, pointer)
                .ok_or_else(|| format!("no {pointer} in the output"))?
                .clone();
        }
        if let Some(first) = s.opts.get("first") {
            // every array cut to its first N elements (the page says so)
            v.cut(first.parse().map_err(|e| format!("first={first}: {e}"))?);
        }
        text = serde_json::to_string_pretty(&v).unwrap();
    }
    if let Some(blocks) = s.opts.get("blocks") {
        text = select_blocks(&text, blocks)?;
    }
    if let Some(range) = s.opts.get("lines") {
        // lines A-B (1-based, inclusive) of what is selected so far
        let (a, b) = range
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .filter(|(a, b)| *a >= 1 && a <= b)
            .ok_or_else(|| format!("lines={range}: not A-B"))?;
        let all: Vec<&str> = text.lines().collect();
        if b > all.len() {
            return Err(format!("lines={range}: the output has {} lines", all.len()));
        }
        text = all[a - 1..b].join("\n");
    }
    Ok(text)
}

/// JSON as the program wrote it: objects keep their keys in the program's order (serde_json's
/// `Value` sorts them), so a part of an output reads as the output does.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn field(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as `key=value` of a selector compares it: a string as it is, else its JSON.
    fn matches(&self, want: &str) -> bool {
        match self {
            Json::String(s) => s == want,
            other => serde_json::to_string(other).is_ok_and(|t| t == want),
        }
    }

    fn cut(&mut self, n: usize) {
        match self {
            Json::Array(a) => {
                a.truncate(n);
                a.iter_mut().for_each(|x| x.cut(n));
            }
            Json::Object(m) => m.iter_mut().for_each(|(_, x)| x.cut(n)),
            _ => {}
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("not a JSON number"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::String(s.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Json::Array(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    v.push(kv);
                }
                Ok(Json::Object(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(x) => s.serialize_str(x),
            Json::Array(a) => {
                let mut q = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    q.serialize_element(x)?;
                }
                q.end()
            }
            Json::Object(m) => {
                let mut q = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    q.serialize_entry(k, v)?;
                }
                q.end()
            }
        }
    }
}

/// A JSON pointer whose segments may also be `[key=value]`: the element of an array whose field
/// `key` is `value` (`/dockerfiles/[path=web/Dockerfile]/steps/[line=6]`), so a sample names
/// what it shows rather than where it happens to be.
fn select<'v>(v: &'v Json, pointer: &str) -> Option<&'v Json> {
    let mut at = v;
    let mut rest = pointer.strip_prefix('/')?;
    while !rest.is_empty() {
        let (seg, tail) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            (
                &rest[..end + 2],
                inner[end + 1..].strip_prefix('/').unwrap_or(""),
            )
        } else {
            match rest.split_once('/') {
                Some((a, b)) => (a, b),
                None => (rest, ""),
            }
        };
        at = match seg.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            Some(cond) => {
                let (key, want) = cond.split_once('=')?;
                match at {
                    Json::Array(a) => a
                        .iter()
                        .find(|x| x.field(key).is_some_and(|f| f.matches(want)))?,
                    _ => return None,
                }
            }
            None => match at {
                Json::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                Json::Object(_) => at.field(seg)?,
                _ => return None,
            },
        };
        rest = tail;
    }
    Some(at)
}

/// The blank-line-separated blocks whose first line starts with one of the comma-separated
/// prefixes, in output order; a `…` line stands for blocks left out between them.
fn select_blocks(text: &str, prefixes: &str) -> Result<String, String> {
    let prefixes: Vec<&str> = prefixes.split(',').map(str::trim).collect();
    let mut out: Vec<&str> = Vec::new();
    let mut skipped = false;
    let mut found = BTreeSet::new();
    for block in text.split("\n\n") {
        match prefixes.iter().find(|p| block.starts_with(**p)) {
            Some(p) => {
                if skipped && !out.is_empty() {
                    out.push("…");
                }
                skipped = false;
                found.insert(*p);
                out.push(block);
            }
            None => skipped = true,
        }
    }
    if skipped && !out.is_empty() {
        out.push("…");
    }
    let missing: Vec<&&str> = prefixes.iter().filter(|p| !found.contains(**p)).collect();
    if !missing.is_empty() {
        return Err(format!("no block of the output starts with {missing:?}"));
    }
    Ok(out.join("\n\n"))
}

/// Writes the block anew with `now` (a fence longer than any run of backticks in it).
fn rewrite(file: &Path, samples: &[(&Sample, String)]) {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut at = 0;
    for (s, now) in samples {
        out.extend(lines[at..s.open].iter().map(|l| l.to_string()));
        let longest = now
            .lines()
            .map(|l| l.trim_start().chars().take_while(|c| *c == '`').count())
            .max()
            .unwrap_or(0);
        let fence = "`".repeat(3.max(longest + 1));
        out.push(format!("{fence}{}", s.info));
        if s.shown_command {
            out.push(format!("$ {}", s.command));
        }
        out.extend(now.lines().map(str::to_string));
        out.push(fence);
        at = s.close + 1;
    }
    out.extend(lines[at..].iter().map(|l| l.to_string()));
    let mut new = out.join("\n");
    new.push('\n');
    std::fs::write(file, new).unwrap();
}

/// Every sample in README.md and docs/ is what the program prints. A sample that differs fails
/// with the difference; `UPDATE_SAMPLES=1` writes the current output instead.
#[test]
fn every_sample_output_is_what_the_program_prints() {
    let update = std::env::var_os("UPDATE_SAMPLES").is_some();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut per_file = BTreeMap::new();
    for file in markdown_files() {
        let samples = samples_in(&file);
        let mut changed = Vec::new();
        for s in &samples {
            count += 1;
            *per_file.entry(rel(&file)).or_insert(0) += 1;
            match run_sample(s) {
                Err(e) => failures.push(format!("{}:{}: {e}", rel(&file), s.marker + 1)),
                Ok(now) if now == s.body => {}
                Ok(now) => {
                    if update {
                        changed.push((s, now));
                    } else {
                        let diff = similar::TextDiff::from_lines(&s.body, &now)
                            .unified_diff()
                            .header("the document", "the program")
                            .to_string();
                        failures.push(format!(
                            "{}:{}: `{}` prints something else now:\n{diff}",
                            rel(&file),
                            s.marker + 1,
                            s.command
                        ));
                    }
                }
            }
        }
        if !changed.is_empty() {
            rewrite(&file, &changed);
        }
    }
    eprintln!("{count} samples: {per_file:?}");
    assert!(
        failures.is_empty(),
        "{} of {count} samples differ from the program (UPDATE_SAMPLES=1 writes them anew):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // the README shows the main job's real output, and the pages for each reader theirs
    for (f, at_least) in [("README.md", 1), ("docs/cli.md", 4), ("docs/json-v1.md", 1)] {
        assert!(
            per_file.get(f).copied().unwrap_or(0) >= at_least,
            "{f} has fewer than {at_least} generated samples: {per_file:?}"
        );
    }
}

/// The sample machinery itself: a block that differs is found, options select what they say.
#[test]
fn a_sample_that_drifted_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("x.md");
    std::fs::write(
        &md,
        "# x\n\n<!-- sample: exit=1 -->\n```console\n$ cachebust check examples/head/gosvc\nsomething else\n```\n\n<!-- sample: cmd=cachebust analyze --base-dir examples/base --head-dir examples/head --format json; pointer=/rebuilt_steps -->\n```json\n12\n```\n",
    )
    .unwrap();
    let s = samples_in(&md);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].command, "cachebust check examples/head/gosvc");
    assert_eq!(s[0].body, "something else");
    let now = run_sample(&s[0]).unwrap();
    assert_ne!(now, s[0].body, "a wrong sample must differ");
    assert!(now.contains("CB002 context-noise"), "{now}");
    assert_eq!(run_sample(&s[1]).unwrap(), s[1].body);
    // rewriting puts the program's output in place, the command line kept
    rewrite(&md, &[(&s[0], now.clone())]);
    let again = samples_in(&md);
    assert_eq!(again[0].body, now);
    assert_eq!(again[0].command, s[0].command);
    assert_eq!(again[1].body, "12");
    // a wrong exit status is a failure, not a sample
    let mut wrong = samples_in(&md).remove(0);
    wrong.opts.insert("exit".into(), "0".into());
    assert!(
        run_sample(&wrong)
            .unwrap_err()
            .contains("exited with Some(1)")
    );
    assert_eq!(
        select_blocks("a: 1\nx\n\nb: 2\n\nc: 3\n\nd: 4", "a:,c:").unwrap(),
        "a: 1\nx\n\n…\n\nc: 3\n\n…"
    );
    assert!(select_blocks("a\n\nb", "z").is_err());
    let v: Json =
        serde_json::from_str(r#"{"z":1,"d":[{"p":"a/b","s":[{"l":3},{"l":6,"x":1.5}]}]}"#).unwrap();
    let one_five = Json::Number(serde_json::Number::from_f64(1.5).unwrap());
    assert_eq!(select(&v, "/d/[p=a/b]/s/[l=6]/x"), Some(&one_five));
    assert_eq!(select(&v, "/d/0/s/1/x"), Some(&one_five));
    assert_eq!(select(&v, "/d/[p=c]/s"), None);
    // the program's key order, not sorted
    let mut cut = v.clone();
    cut.cut(1);
    assert_eq!(
        serde_json::to_string(&cut).unwrap(),
        r#"{"z":1,"d":[{"p":"a/b","s":[{"l":3}]}]}"#
    );
    assert_eq!(
        words(r#"cachebust analyze --build-arg "A=b c" --x 'y'"#),
        ["cachebust", "analyze", "--build-arg", "A=b c", "--x", "y"]
    );
}

/// The README's two commands: the main job on the bundled example, and `bash .ci/run`, which
/// ends in exactly the test command the README names.
#[test]
fn the_readme_commands_are_the_real_ones() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let samples = samples_in(&root().join("README.md"));
    let main_job = samples
        .iter()
        .find(|s| s.command.starts_with("cachebust analyze "))
        .expect("the README shows `cachebust analyze` on the examples with its output");
    assert!(
        main_job.command.contains("examples/base") && main_job.command.contains("examples/head"),
        "{}",
        main_job.command
    );
    let run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let last = run.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(
        last, "cargo test --locked",
        ".ci/run must end in the README's test command"
    );
    assert!(readme.contains("bash .ci/run"));
    assert!(readme.contains("`cargo test --locked`"));
    assert!(
        readme.lines().count() <= 200,
        "the README has {} lines (at most 200; the rest belongs in docs/)",
        readme.lines().count()
    );
}

// ---------------------------------------------------------------------------------------------
// Links

/// A link target found in a markdown file, with its line.
struct Link {
    line: usize,
    target: String,
}

struct Parsed {
    links: Vec<Link>,
    anchors: BTreeSet<String>,
}

fn parse_markdown(text: &str) -> Parsed {
    use comrak::nodes::NodeValue;
    let arena = comrak::Arena::new();
    let mut o = comrak::Options::default();
    o.extension.table = true;
    o.extension.strikethrough = true;
    o.extension.autolink = true;
    o.extension.tasklist = true;
    o.extension.footnotes = true;
    let doc = comrak::parse_document(&arena, text, &o);
    let mut anchorizer = comrak::Anchorizer::new();
    let mut links = Vec::new();
    let mut anchors = BTreeSet::new();
    let attr = regex::Regex::new(r#"(?i)\b(href|src|id|name)\s*=\s*"([^"]*)""#).unwrap();
    for node in doc.descendants() {
        let data = node.data();
        let line = data.sourcepos.start.line;
        match &data.value {
            NodeValue::Heading(_) => {
                anchors.insert(anchorizer.anchorize(&comrak::html::collect_text(node)));
            }
            NodeValue::Link(l) | NodeValue::Image(l) => links.push(Link {
                line,
                target: l.url.clone(),
            }),
            NodeValue::HtmlBlock(h) => {
                for c in attr.captures_iter(&h.literal) {
                    match &c[1].to_ascii_lowercase()[..] {
                        "id" | "name" => {
                            anchors.insert(c[2].to_string());
                        }
                        _ => links.push(Link {
                            line,
                            target: c[2].to_string(),
                        }),
                    }
                }
            }
            NodeValue::HtmlInline(h) => {
                for c in attr.captures_iter(h) {
                    match &c[1].to_ascii_lowercase()[..] {
                        "id" | "name" => {
                            anchors.insert(c[2].to_string());
                        }
                        _ => links.push(Link {
                            line,
                            target: c[2].to_string(),
                        }),
                    }
                }
            }
            _ => {}
        }
    }
    Parsed { links, anchors }
}

/// What is wrong with one link target of `file`, if anything.
fn check_link(file: &Path, target: &str, parsed: &mut BTreeMap<PathBuf, Parsed>) -> Option<String> {
    let external = regex::Regex::new(
        r"^(https?://[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+(?::\d+)?(?:[/?#][^\s<>]*)?|mailto:[^\s@]+@[^\s@]+\.[^\s@]+)$",
    )
    .unwrap();
    if target.contains("://") || target.starts_with("mailto:") {
        if !external.is_match(target) {
            return Some(format!("malformed external link {target}"));
        }
        // this repository's own files by URL: the file must be here
        let own = regex::Regex::new(
            r"^https://github\.com/cachebust/cachebust/(?:blob|tree)/[^/]+/([^#?]+)",
        )
        .unwrap();
        if let Some(c) = own.captures(target) {
            if !root().join(&c[1]).exists() {
                return Some(format!("{target}: {} is not in this repository", &c[1]));
            }
        }
        return None;
    }
    if target.is_empty() {
        return Some("an empty link".into());
    }
    if target.contains(char::is_whitespace) {
        return Some(format!("a link with whitespace: {target:?}"));
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let dest = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(abs) = path.strip_prefix('/') {
        root().join(abs)
    } else {
        file.parent().unwrap().join(path)
    };
    let dest = normalize(&dest);
    if !dest.starts_with(root()) {
        return Some(format!("{target} leaves the repository"));
    }
    if !dest.exists() {
        return Some(format!("{target}: no file {}", rel(&dest)));
    }
    let anchor = anchor?;
    if dest.extension().is_some_and(|e| e == "md") {
        let p = parsed
            .entry(dest.clone())
            .or_insert_with(|| parse_markdown(&std::fs::read_to_string(&dest).unwrap()));
        if !p.anchors.contains(anchor) {
            return Some(format!(
                "{target}: {} has no heading or id `{anchor}`",
                rel(&dest)
            ));
        }
    } else if !regex::Regex::new(r"^L\d+(-L\d+)?$")
        .unwrap()
        .is_match(anchor)
    {
        return Some(format!(
            "{target}: an anchor into a file that is not markdown"
        ));
    }
    None
}

/// `a/./b/../c` → `a/c`, without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Every relative link and anchor in README.md, docs/, ARCHITECTURE.md, CONTRIBUTING.md,
/// CHANGELOG.md and examples/README.md resolves; external links are well formed.
#[test]
fn every_link_and_anchor_resolves() {
    let mut parsed = BTreeMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let p = parse_markdown(&std::fs::read_to_string(&file).unwrap());
        for l in &p.links {
            checked += 1;
            if let Some(e) = check_link(&file, &l.target, &mut parsed) {
                failures.push(format!("{}:{}: {e}", rel(&file), l.line));
            }
        }
        parsed.insert(file, p);
    }
    eprintln!("{checked} links checked");
    assert!(checked > 100, "only {checked} links found");
    assert!(
        failures.is_empty(),
        "broken links:\n{}",
        failures.join("\n")
    );
}

/// The link checker finds what it must: a missing file, a missing anchor, a malformed URL, a
/// link out of the repository; GitHub's slugs for headings with code and punctuation.
#[test]
fn the_link_checker_finds_broken_links() {
    let tmp = tempfile::Builder::new()
        .prefix("links")
        .tempdir_in(root().join("target"))
        .unwrap();
    let md = tmp.path().join("a.md");
    std::fs::write(
        &md,
        "# The `cachebust analyze` command: flags & exit codes\n\n## Server (GitHub App)\n\n## Server (GitHub App)\n\n<a id=\"custom\"></a>\n\n[ok](#the-cachebust-analyze-command-flags--exit-codes) [ok](#server-github-app-1) [ok](#custom)\n[bad](#nope) [bad](missing.md) [bad](https://-example.com) [bad](../../../../etc/passwd)\n[ok](https://github.com/cachebust/cachebust/blob/v0.1.0/README.md) [bad](https://github.com/cachebust/cachebust/blob/main/nope.md)\n`[not a link](nowhere.md)`\n",
    )
    .unwrap();
    let p = parse_markdown(&std::fs::read_to_string(&md).unwrap());
    let mut parsed = BTreeMap::new();
    parsed.insert(
        md.clone(),
        parse_markdown(&std::fs::read_to_string(&md).unwrap()),
    );
    let verdicts: Vec<(String, bool)> = p
        .links
        .iter()
        .map(|l| {
            (
                l.target.clone(),
                check_link(&md, &l.target, &mut parsed).is_none(),
            )
        })
        .collect();
    let ok: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.1)
        .map(|v| v.0.as_str())
        .collect();
    let bad: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.1)
        .map(|v| v.0.as_str())
        .collect();
    assert_eq!(
        ok,
        [
            "#the-cachebust-analyze-command-flags--exit-codes",
            "#server-github-app-1",
            "#custom",
            "https://github.com/cachebust/cachebust/blob/v0.1.0/README.md"
        ]
    );
    assert_eq!(bad.len(), 5, "{bad:?}");
}

// ---------------------------------------------------------------------------------------------
// Flags

/// The flags (and, for `serve`, the variables: each flag's `[env: …]` and those it names only in
/// prose, read from the environment alone) a command's `--help` lists.
fn help_flags(cmd: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let o = cachebust(&[cmd, "--help"], &root());
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let flag = regex::Regex::new(r"^ {2,6}(?:-[a-zA-Z], )?(--[a-z0-9-]+)").unwrap();
    let var = regex::Regex::new(r"CACHEBUST_[A-Z0-9_]+").unwrap();
    let flags = text
        .lines()
        .filter_map(|l| flag.captures(l).map(|c| c[1].to_string()))
        .filter(|f| f != "--help")
        .collect();
    let vars = var
        .find_iter(&text)
        .map(|m| m.as_str().to_string())
        .collect();
    (flags, vars)
}

/// The flags named in the first cell of the flag tables under a heading `cachebust <cmd>` (up to
/// the next heading of the same or a higher level), and the `CACHEBUST_*` names in those rows
/// (also of a row for a variable with no flag, `| (environment only) | … |`).
fn documented_flags(doc: &str, cmd: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let heading = regex::Regex::new(r"^(#+) ").unwrap();
    let flag = regex::Regex::new(r"--[a-z0-9-]+").unwrap();
    let var = regex::Regex::new(r"CACHEBUST_[A-Z0-9_]+").unwrap();
    let mut flags = BTreeSet::new();
    let mut vars = BTreeSet::new();
    let mut inside: Option<usize> = None;
    for line in doc.lines() {
        if let Some(c) = heading.captures(line) {
            let level = c[1].len();
            if inside.is_some_and(|l| level <= l) {
                inside = None;
            }
            if line.contains(&format!("`cachebust {cmd}`")) {
                inside = Some(level);
            }
            continue;
        }
        if inside.is_none() || !(line.starts_with("| `") || line.starts_with("| (")) {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        flags.extend(flag.find_iter(cells[0]).map(|m| m.as_str().to_string()));
        if let Some(second) = cells.get(1) {
            vars.extend(var.find_iter(second).map(|m| m.as_str().to_string()));
        }
    }
    (flags, vars)
}

/// docs/cli.md's flag table of each command is its `--help`: every flag documented, no flag
/// documented that the command does not have. docs/server.md's table likewise for `serve`, with
/// each flag's environment variable.
#[test]
fn the_flag_tables_are_the_help() {
    let cli = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let server = std::fs::read_to_string(root().join("docs/server.md")).unwrap();
    let mut failures = Vec::new();
    for (doc, name, cmd) in [
        (&cli, "docs/cli.md", "analyze"),
        (&cli, "docs/cli.md", "check"),
        (&cli, "docs/cli.md", "fix"),
        (&cli, "docs/cli.md", "history"),
        (&cli, "docs/cli.md", "action"),
        (&server, "docs/server.md", "serve"),
    ] {
        let (help, help_vars) = help_flags(cmd);
        let (documented, vars) = documented_flags(doc, cmd);
        assert!(!help.is_empty(), "{cmd} --help lists no flag");
        for f in help.difference(&documented) {
            failures.push(format!(
                "{name}: `cachebust {cmd}` has {f}, the table does not"
            ));
        }
        for f in documented.difference(&help) {
            failures.push(format!(
                "{name}: the table of `cachebust {cmd}` lists {f}, which --help does not"
            ));
        }
        if cmd == "serve" {
            for v in help_vars.symmetric_difference(&vars) {
                failures.push(format!(
                    "{name}: {v} is in one of --help and the table only"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The table reader takes the rows of the command's own section only, every flag of a row's first
/// cell, and the variables of its second; a flag --help has and the table lacks is a difference.
#[test]
fn the_flag_table_reader_reads_the_commands_section() {
    let doc = "# x\n\n## `cachebust analyze`\n\n| flag | meaning |\n| --- | --- |\n| `--base`, `--head` | a |\n| `PATHS`, `--root DIR` | b |\nprose with `--not-a-row`\n\n### Which builds\n\n| `--deeper` | still analyze |\n\n## `cachebust check`\n\n| `--root` | `CACHEBUST_ROOT` | c |\n";
    let (flags, _) = documented_flags(doc, "analyze");
    assert_eq!(
        flags,
        ["--base", "--deeper", "--head", "--root"]
            .map(String::from)
            .into()
    );
    let (flags, vars) = documented_flags(doc, "check");
    assert_eq!(flags, ["--root"].map(String::from).into());
    assert_eq!(vars, ["CACHEBUST_ROOT"].map(String::from).into());
    let (help, _) = help_flags("fix");
    assert!(help.contains("--apply") && help.contains("--unsafe") && !help.contains("--help"));
    assert!(!help.contains("--base"), "{help:?}");
}

// ---------------------------------------------------------------------------------------------
// JSON v1 and its schema

/// The schema as published (additional fields allowed: version 1 may add fields) and as the
/// tests apply it: every object closed, so a field the program writes and the schema does not
/// document fails.
fn schema_value(strict: bool) -> Value {
    let text = std::fs::read_to_string(root().join("docs/json-v1.schema.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    fn close(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                    m.insert("additionalProperties".into(), Value::Bool(false));
                }
                for x in m.values_mut() {
                    close(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(close),
            _ => {}
        }
    }
    if strict {
        close(&mut v);
    }
    v
}

struct Validator {
    schemas: boon::Schemas,
    index: BTreeMap<&'static str, boon::SchemaIndex>,
}

impl Validator {
    fn new(strict: bool) -> Validator {
        let mut schemas = boon::Schemas::new();
        let mut c = boon::Compiler::new();
        let loc = "https://cachebust.invalid/json-v1.schema.json";
        c.add_resource(loc, schema_value(strict)).unwrap();
        let mut index = BTreeMap::new();
        for (k, frag) in [
            ("any", ""),
            ("analyze", "#/$defs/analyze"),
            ("check", "#/$defs/check"),
            ("history", "#/$defs/history"),
        ] {
            let i = c
                .compile(&format!("{loc}{frag}"), &mut schemas)
                .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
            index.insert(k, i);
        }
        Validator { schemas, index }
    }

    fn errors(&self, kind: &str, v: &Value) -> Option<String> {
        for k in [kind, "any"] {
            if let Err(e) = self.schemas.validate(v, self.index[k]) {
                return Some(format!("{e:#}"));
            }
        }
        None
    }
}

fn json_of(args: &[&str], cwd: &Path) -> Value {
    let o = cachebust(args, cwd);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// The cause kinds, notes and origins a set of outputs exercised (so the test says what it saw).
fn seen(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let (Some(s), true) = (x.as_str(), ["kind", "note"].contains(&k.as_str())) {
                    out.insert(format!("{k}={s}"));
                }
                seen(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| seen(x, out)),
        _ => {}
    }
}

/// JSON v1 of `analyze` (the examples with and without a build log, a new Dockerfile of every
/// rule fixture, commits of real repositories), `check` (every rule fixture) and `history` (the
/// examples' repository and a real one) validates against docs/json-v1.schema.json, with every
/// object closed: a field the program writes that the schema does not document fails too.
#[test]
fn json_v1_outputs_validate_against_the_schema() {
    let v = Validator::new(true);
    let root = root();
    let mut failures = Vec::new();
    let mut kinds = BTreeSet::new();
    let mut validate = |what: String, kind: &str, out: Value, kinds: &mut BTreeSet<String>| {
        seen(&out, kinds);
        if let Some(e) = v.errors(kind, &out) {
            failures.push(format!("{what}: {e}"));
        }
    };
    let mut n = 0;
    // the examples, as the README and docs show them
    for extra in [&[][..], &["--engine", "docker-20.10"][..]] {
        let mut args = vec![
            "analyze",
            "--base-dir",
            "examples/base",
            "--head-dir",
            "examples/head",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        validate(
            format!("{args:?}"),
            "analyze",
            json_of(&args, &root),
            &mut kinds,
        );
        n += 1;
    }
    // every rule fixture: check, and analyze with the fixture as a new tree
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures/rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 20);
    for f in &fixtures {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let fs = f.display().to_string();
        validate(
            format!("check {name}"),
            "check",
            json_of(&["check", "--root", &fs, "--format", "json"], &root),
            &mut kinds,
        );
        let es = empty.display().to_string();
        validate(
            format!("analyze {name}"),
            "analyze",
            json_of(
                &[
                    "analyze",
                    "--base-dir",
                    &es,
                    "--head-dir",
                    &fs,
                    "--format",
                    "json",
                ],
                &root,
            ),
            &mut kinds,
        );
        n += 2;
    }
    // commits of real repositories (tests/fixtures/corpus): each against its parent
    for bundle in [
        "mailu-mailu",
        "crazy-max-diun",
        "getredash-redash",
        "googlecloudplatform-microservices-demo",
    ] {
        let dir = tmp.path().join(bundle);
        let o = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(root.join(format!("tests/fixtures/corpus/{bundle}.bundle")))
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let log = Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["log", "--first-parent", "--format=%H", "-12"])
            .output()
            .unwrap();
        let commits: Vec<String> = String::from_utf8_lossy(&log.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        let ds = dir.display().to_string();
        for c in commits.iter().take(10) {
            let parent = format!("{c}^");
            validate(
                format!("{bundle} {c}"),
                "analyze",
                json_of(
                    &[
                        "analyze", "--repo", &ds, "--base", &parent, "--head", c, "--format",
                        "json",
                    ],
                    &root,
                ),
                &mut kinds,
            );
            n += 1;
        }
        validate(
            format!("history {bundle}"),
            "history",
            json_of(
                &["history", "--repo", &ds, "--last", "12", "--format", "json"],
                &root,
            ),
            &mut kinds,
        );
        n += 1;
    }
    // history of the examples' repository and of a real one
    let repo = tmp.path().join("examples-repo");
    example_repo(&repo);
    let rs = repo.display().to_string();
    validate(
        "history examples".into(),
        "history",
        json_of(&["history", "--repo", &rs, "--format", "json"], &root),
        &mut kinds,
    );
    let sh = tmp.path().join("self-hosted");
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(root.join("tests/fixtures/history/self-hosted.bundle"))
        .arg(&sh)
        .output()
        .unwrap();
    assert!(o.status.success());
    let ss = sh.display().to_string();
    validate(
        "history self-hosted".into(),
        "history",
        json_of(
            &["history", "--repo", &ss, "--last", "60", "--format", "json"],
            &root,
        ),
        &mut kinds,
    );
    n += 2;
    // a build log gives the steps real times (cost_source timings, steps without timing)
    let log = tmp.path().join("web.log");
    std::fs::write(
        &log,
        "#5 [build 2/6] WORKDIR /app\n#5 DONE 0.1s\n#8 [build 5/6] COPY . .\n#8 DONE 0.3s\n#9 [build 6/6] RUN npm run build\n#9 DONE 41.5s\n",
    )
    .unwrap();
    let ls = log.display().to_string();
    let timed = json_of(
        &[
            "analyze",
            "--base-dir",
            "examples/base",
            "--head-dir",
            "examples/head",
            "--timings",
            &ls,
            "--format",
            "json",
        ],
        &root,
    );
    assert!(
        timed.to_string().contains("\"cost_source\":\"timings\""),
        "the log timed no step"
    );
    validate(
        "analyze with --timings".into(),
        "analyze",
        timed,
        &mut kinds,
    );
    n += 1;
    eprintln!("{n} outputs validated; seen: {kinds:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // the outputs exercised the schema's variety: causes, notes and origins of several kinds
    for k in [
        "kind=files",
        "kind=follows",
        "kind=build_arg",
        "kind=new_dockerfile",
        "kind=compose",
        "kind=check",
        "note=mutable_tag",
        "note=may_stay_cached",
    ] {
        assert!(kinds.contains(k), "no output had {k}: {kinds:?}");
    }
}

/// The schema is no rubber stamp: outputs with a wrong value, a missing field or (for the
/// tests' closed reading) an undocumented field are refused.
#[test]
fn the_schema_refuses_what_v1_does_not_allow() {
    let strict = Validator::new(true);
    let open = Validator::new(false);
    let good = json_of(
        &[
            "analyze",
            "--base-dir",
            "examples/base",
            "--head-dir",
            "examples/head",
            "--format",
            "json",
        ],
        &root(),
    );
    assert_eq!(strict.errors("analyze", &good), None);
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let wrong_status = mutate(&|v| v["dockerfiles"][0]["steps"][0]["status"] = "maybe".into());
    let no_version = mutate(&|v| {
        v.as_object_mut().unwrap().remove("version");
    });
    let version_2 = mutate(&|v| v["version"] = 2.into());
    let cause_kind = mutate(&|v| {
        let steps = v["dockerfiles"][0]["steps"].as_array_mut().unwrap();
        let s = steps.iter_mut().find(|s| !s["cause"].is_null()).unwrap();
        s["cause"]["kind"] = "moon_phase".into();
    });
    let added = mutate(&|v| v["dockerfiles"][0]["colour"] = "red".into());
    for (what, bad) in [
        ("a status v1 does not have", &wrong_status),
        ("no version", &no_version),
        ("version 2", &version_2),
        ("an unknown cause kind", &cause_kind),
    ] {
        assert!(strict.errors("analyze", bad).is_some(), "{what} passed");
        assert!(open.errors("analyze", bad).is_some(), "{what} passed");
    }
    assert!(
        strict.errors("analyze", &added).is_some(),
        "an undocumented field passed"
    );
    assert_eq!(
        open.errors("analyze", &added),
        None,
        "the published schema allows fields added in version 1"
    );
}

/// The cause kinds docs/json-v1.md's table lists (under its heading "Causes") are the
/// schema's: one list, two places.
#[test]
fn the_json_page_lists_the_schemas_cause_kinds() {
    let schema = schema_value(false);
    let kinds: BTreeSet<String> = schema["$defs"]["cause"]["properties"]["kind"]["enum"]
        .as_array()
        .expect("$defs/cause/properties/kind/enum")
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let page = std::fs::read_to_string(root().join("docs/json-v1.md")).unwrap();
    let mut listed = BTreeSet::new();
    let mut inside = false;
    for line in page.lines() {
        if line.starts_with('#') {
            inside = line.trim_start_matches('#').trim() == "Causes";
            continue;
        }
        if let (true, Some(cell)) = (inside, line.strip_prefix("| `")) {
            listed.insert(cell.split('`').next().unwrap().to_string());
        }
    }
    assert_eq!(
        listed, kinds,
        "docs/json-v1.md's table of causes vs the schema"
    );
}

/// Every YAML block of docs/configuration.md is a configuration the real parser accepts, and the
/// page's first block and its sections name exactly the configuration's top-level keys.
#[test]
fn the_configuration_examples_are_valid() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let mut blocks = Vec::new();
    let mut cur: Option<Vec<&str>> = None;
    for line in page.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```yaml") => cur = Some(Vec::new()),
            (Some(b), "```") => {
                blocks.push(b.join("\n"));
                cur = None;
            }
            (Some(b), l) => b.push(l),
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 2, "{} YAML blocks", blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        if let Err(e) = cachebust::engine::config::parse(
            "docs/configuration.md",
            b,
            &cachebust::engine::rules::codes(),
        ) {
            panic!(
                "YAML block {} of docs/configuration.md is refused: {e}\n{b}",
                i + 1
            );
        }
    }
    let keys: BTreeSet<String> = blocks[0]
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(':'))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    let documented: BTreeSet<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("## `"))
        .map(|l| l.trim_end_matches('`').to_string())
        .collect();
    assert_eq!(keys, documented, "every key of the example has its section");
    let known: BTreeSet<String> =
        serde_json::to_value(cachebust::engine::settings::Config::default())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(
        keys, known,
        "the page's keys (left) vs the configuration's (right)"
    );
    // the parser refuses a key the page does not know
    assert!(
        cachebust::engine::config::parse("x", "colour: red\n", &cachebust::engine::rules::codes())
            .is_err()
    );
}
