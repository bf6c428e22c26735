//! What a rebuild costs, in seconds: per step from real build logs when they are given (median
//! over logs of the `DONE` time of the vertex that maps to the step), otherwise from a model per
//! step class with a range (package installs per manager, compiles, COPY by bytes, FROM pulls by
//! image), overridable per step pattern in the configuration file. Pure: logs and configuration
//! arrive as text.

use super::buildlog::{LogBuild, VertexStatus};
use super::report::{CostSource, DockerfileReport, Kind, Status};
use super::settings::{Config, wildcard};
pub use super::shellwords::{
    MAX_CLASSIFIED_BYTES, Unclassified, existence_test, mount_covers, simple_commands,
};
use super::shellwords::{Sep, is_syntax, lex};
use crate::engine::memo::{Kind as Memoized, Memo};

/// What the cost model needs to know about one step of the head Dockerfile.
#[derive(Debug, Clone)]
pub struct StepFact {
    pub line: u32,
    pub kind: Kind,
    /// Stage display name and position `k` in BuildKit's `[stage k/n]` numbering.
    pub stage: String,
    pub position: Option<u32>,
    /// Texts a progress log may print for the step (whitespace collapsed), raw and expanded.
    pub texts: Vec<String>,
    /// The raw text with each variable reference as `*`: BuildKit prints the values of the
    /// build that ran, which for a changed ARG are the old ones.
    pub pattern: Option<String>,
    /// RUN: the command text (heredoc bodies included); FROM: the normalised image reference.
    pub command: String,
    /// RUN: targets of `--mount=type=cache`.
    pub cache_mounts: Vec<String>,
    /// COPY/ADD: bytes under the sources, when the listing holds them.
    pub bytes: Option<u64>,
    /// ADD of a URL.
    pub remote: bool,
    /// RUN: download classes this step repeats because an earlier step downloaded into a cache
    /// mount this step does not mount (`go mod download` under a mount, then `go build`
    /// without it: the modules are not in the image, so the build fetches them all again).
    pub refetch: Vec<&'static str>,
    /// RUN: files its existence tests look for that are absent from the context (as written in
    /// the test): what they guard (`if [ -f requirements.txt ]; then pip install …; fi`) does
    /// not run and costs nothing.
    pub absent_files: Vec<String>,
}

/// A model estimate: typical seconds and a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    const fn new(seconds: f64, low: f64, high: f64) -> Estimate {
        Estimate { seconds, low, high }
    }
    fn add(self, o: Estimate) -> Estimate {
        Estimate::new(
            self.seconds + o.seconds,
            self.low + o.low,
            self.high + o.high,
        )
    }
    fn scale(self, f: f64) -> Estimate {
        Estimate::new(self.seconds * f, self.low * f, self.high * f)
    }
}

/// One class of RUN command: a word sequence that identifies it and what it typically costs.
struct Class {
    label: &'static str,
    /// All words must appear, in order, within one shell command.
    words: &'static [&'static [&'static str]],
    est: Estimate,
    /// Cache directories a `--mount=type=cache` may hold for this tool.
    cache_dirs: &'static [&'static str],
}

/// The model's classes (docs/how-it-works.md, Cost, lists them with their assumptions).
const CLASSES: &[Class] = &[
    Class {
        label: "apt-get install",
        words: &[&["apt-get", "install"], &["apt", "install"]],
        est: Estimate::new(30.0, 10.0, 120.0),
        cache_dirs: &["/var/cache/apt", "/var/lib/apt"],
    },
    Class {
        label: "apt-get update",
        words: &[&["apt-get", "update"], &["apt", "update"]],
        est: Estimate::new(6.0, 2.0, 20.0),
        cache_dirs: &["/var/lib/apt"],
    },
    Class {
        label: "apk add",
        words: &[&["apk", "add"]],
        est: Estimate::new(6.0, 2.0, 30.0),
        cache_dirs: &["/var/cache/apk", "/etc/apk/cache"],
    },
    Class {
        label: "dnf/yum install",
        words: &[
            &["dnf", "install"],
            &["yum", "install"],
            &["microdnf", "install"],
        ],
        est: Estimate::new(40.0, 15.0, 150.0),
        cache_dirs: &["/var/cache/dnf", "/var/cache/yum"],
    },
    Class {
        label: "npm install",
        words: &[
            &["npm", "ci"],
            &["npm", "clean-install"],
            &["npm", "install-clean"],
            &["npm", "install"],
            &["npm", "i"],
        ],
        est: Estimate::new(45.0, 15.0, 180.0),
        cache_dirs: &["/root/.npm", ".npm"],
    },
    Class {
        label: "yarn install",
        words: &[&["yarn", "install"], &["yarn", "--frozen-lockfile"]],
        est: Estimate::new(40.0, 15.0, 180.0),
        cache_dirs: &["/usr/local/share/.cache/yarn", ".yarn", "yarn"],
    },
    Class {
        label: "pnpm install",
        words: &[&["pnpm", "install"], &["pnpm", "i"], &["pnpm", "fetch"]],
        est: Estimate::new(30.0, 10.0, 120.0),
        cache_dirs: &["pnpm"],
    },
    Class {
        label: "pip install",
        words: &[&["pip", "install"], &["pip3", "install"]],
        est: Estimate::new(40.0, 10.0, 240.0),
        cache_dirs: &["/root/.cache/pip", ".cache/pip"],
    },
    Class {
        label: "poetry install",
        words: &[&["poetry", "install"]],
        est: Estimate::new(50.0, 15.0, 240.0),
        cache_dirs: &["pypoetry", ".cache/pip"],
    },
    Class {
        label: "uv sync",
        words: &[&["uv", "sync"], &["uv", "pip", "install"]],
        est: Estimate::new(10.0, 3.0, 60.0),
        cache_dirs: &["/root/.cache/uv", ".cache/uv"],
    },
    Class {
        label: "pipenv install",
        words: &[&["pipenv", "install"], &["pipenv", "sync"]],
        est: Estimate::new(60.0, 20.0, 240.0),
        cache_dirs: &["pipenv", ".cache/pip"],
    },
    Class {
        label: "bundle install",
        words: &[&["bundle", "install"]],
        est: Estimate::new(60.0, 20.0, 300.0),
        cache_dirs: &["/usr/local/bundle/cache", "bundle"],
    },
    Class {
        label: "composer install",
        words: &[&["composer", "install"]],
        est: Estimate::new(30.0, 10.0, 120.0),
        cache_dirs: &["/root/.composer", "composer"],
    },
    Class {
        label: "go mod download",
        words: &[&["go", "mod", "download"]],
        est: Estimate::new(20.0, 5.0, 90.0),
        cache_dirs: &["/go/pkg/mod", "/root/go/pkg/mod"],
    },
    Class {
        label: "go build",
        words: &[&["go", "build"], &["go", "install"]],
        est: Estimate::new(40.0, 10.0, 180.0),
        cache_dirs: &["/root/.cache/go-build", "go-build"],
    },
    Class {
        label: "cargo fetch",
        words: &[&["cargo", "fetch"]],
        est: Estimate::new(20.0, 5.0, 90.0),
        cache_dirs: &["/usr/local/cargo/registry", "cargo/registry"],
    },
    Class {
        label: "cargo build",
        words: &[
            &["cargo", "build"],
            &["cargo", "install"],
            &["cargo", "chef", "cook"],
        ],
        est: Estimate::new(180.0, 60.0, 900.0),
        cache_dirs: &["/usr/local/cargo/registry", "target"],
    },
    Class {
        label: "maven/gradle",
        words: &[&["mvn"], &["gradle"], &["./gradlew"], &["./mvnw"]],
        est: Estimate::new(120.0, 40.0, 600.0),
        cache_dirs: &["/root/.m2", ".m2", "/root/.gradle", ".gradle"],
    },
    Class {
        label: "dotnet restore",
        words: &[&["dotnet", "restore"]],
        est: Estimate::new(30.0, 10.0, 120.0),
        cache_dirs: &["/root/.nuget", ".nuget"],
    },
    Class {
        label: "dotnet build",
        words: &[&["dotnet", "publish"], &["dotnet", "build"]],
        est: Estimate::new(60.0, 20.0, 300.0),
        cache_dirs: &[],
    },
    Class {
        label: "make",
        words: &[&["make"], &["cmake"], &["ninja"]],
        est: Estimate::new(60.0, 10.0, 600.0),
        cache_dirs: &[],
    },
    Class {
        label: "JS build",
        words: &[
            &["npm", "run", "build"],
            &["yarn", "build"],
            &["pnpm", "build"],
            &["pnpm", "run", "build"],
            &["tsc"],
            &["webpack"],
            &["vite", "build"],
            &["next", "build"],
        ],
        est: Estimate::new(30.0, 10.0, 180.0),
        cache_dirs: &[],
    },
];

/// A download-only step: it fills a cache directory that later steps read (`go mod download`
/// then `go build`). With a cache mount on the download alone the files stay in the mount, not
/// in the image, so a consumer without the mount fetches them again, and an offline consumer
/// (`dotnet publish --no-restore`) fails when the mount is empty.
pub struct Download {
    /// The label of its class in the model.
    pub class: &'static str,
    /// The download command (program, then arguments in order).
    pub words: &'static [&'static str],
    /// Where the downloads go, for root.
    pub cache_dir: &'static str,
    /// Commands that read the downloads.
    pub consumers: &'static [&'static [&'static str]],
    /// Consumer flags that forbid downloading: such a consumer needs the files present.
    pub offline_flags: &'static [&'static str],
}

pub const DOWNLOADS: &[Download] = &[
    Download {
        class: "go mod download",
        words: &["go", "mod", "download"],
        cache_dir: "/go/pkg/mod",
        consumers: &[
            &["go", "build"],
            &["go", "install"],
            &["go", "test"],
            &["go", "run"],
            &["go", "vet"],
            &["go", "generate"],
            &["go", "list"],
        ],
        offline_flags: &[],
    },
    Download {
        class: "dotnet restore",
        words: &["dotnet", "restore"],
        cache_dir: "/root/.nuget/packages",
        consumers: &[
            &["dotnet", "build"],
            &["dotnet", "publish"],
            &["dotnet", "test"],
            &["dotnet", "pack"],
            &["dotnet", "run"],
        ],
        offline_flags: &["--no-restore"],
    },
    Download {
        class: "cargo fetch",
        words: &["cargo", "fetch"],
        cache_dir: "/usr/local/cargo/registry",
        consumers: &[
            &["cargo", "build"],
            &["cargo", "install"],
            &["cargo", "test"],
            &["cargo", "run"],
            &["cargo", "check"],
            &["cargo", "doc"],
        ],
        offline_flags: &["--offline", "--frozen"],
    },
    Download {
        class: "maven/gradle",
        words: &["mvn", "dependency:go-offline"],
        cache_dir: "/root/.m2",
        consumers: &[&["mvn"], &["./mvnw"]],
        offline_flags: &["-o", "--offline"],
    },
    Download {
        class: "maven/gradle",
        words: &["mvn", "dependency:resolve"],
        cache_dir: "/root/.m2",
        consumers: &[&["mvn"], &["./mvnw"]],
        offline_flags: &["-o", "--offline"],
    },
];

/// How a RUN text relates to a download: `downloads` when it runs the download, `consumer`
/// `Some(offline)` when it runs a reader of the downloads (without being the download itself).
pub struct DownloadUse {
    pub downloads: bool,
    pub consumer: Option<bool>,
}

/// A RUN text's simple commands, each with its program: lexed once per text, since every kind of
/// download, every rule, every build and every commit of `history` asks about the same texts.
type Commands = std::sync::Arc<Vec<(Vec<String>, Option<(String, Vec<String>)>)>>;

fn commands(memo: &Memo, command: &str) -> Option<Commands> {
    memo.get_or(Memoized::Commands, command, || {
        let cmds = simple_commands(command).ok()?;
        Some(std::sync::Arc::new(
            cmds.into_iter()
                .map(|c| {
                    let p = program(&c);
                    (c, p)
                })
                .collect(),
        ))
    })
}

pub fn download_use(memo: &Memo, command: &str, d: &Download) -> DownloadUse {
    let Some(cmds) = commands(memo, command) else {
        return DownloadUse {
            downloads: false,
            consumer: None,
        };
    };
    let mut downloads = false;
    let mut consumer: Option<bool> = None;
    for (c, p) in cmds.iter() {
        let Some(p) = p else { continue };
        if runs(p, d.words) {
            downloads = true;
            continue;
        }
        if d.consumers.iter().any(|seq| runs(p, seq)) {
            let offline = c.iter().any(|w| d.offline_flags.contains(&w.as_str()));
            consumer = Some(consumer.unwrap_or(false) || offline);
        }
    }
    DownloadUse {
        downloads,
        consumer,
    }
}

/// The estimate for a RUN with no recognised command.
const GENERIC_RUN: Estimate = Estimate::new(2.0, 0.2, 15.0);

/// Files the command tests for existence (see [`existence_test`]).
pub fn tested_files(command: &str) -> Vec<String> {
    let Ok(cmds) = lex(command) else {
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
/// after `&&` that follows such a test. Also linear.
pub fn runnable_commands(
    command: &str,
    absent: &[String],
) -> Result<Vec<Vec<String>>, Unclassified> {
    let cmds = lex(command)?;
    if absent.is_empty() {
        return Ok(cmds
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| !is_syntax(c))
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

/// The program a simple command runs and its arguments: leading `VAR=value` assignments and the
/// wrappers `sudo`, `env`, `exec`, `time`, `nice`, `nohup`, `command` are skipped, and
/// `python -m pip` runs `pip`. `None` for a test (`[ -f x ]`, `test`) or an empty command.
fn program(cmd: &[String]) -> Option<(String, Vec<String>)> {
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
        if matches!(
            w,
            "sudo" | "env" | "exec" | "time" | "nice" | "nohup" | "command"
        ) {
            i += 1;
            // the wrapper's own options (`sudo -E`, `nice -n 10` takes a value: rare, left)
            while cmd.get(i).is_some_and(|x| x.starts_with('-')) {
                i += 1;
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
    let args: Vec<String> = cmd[i + 1..]
        .iter()
        .filter(|w| !w.starts_with('-') || *w == "--frozen-lockfile")
        .cloned()
        .collect();
    if base.starts_with("python") && cmd.get(i + 1).map(String::as_str) == Some("-m") {
        let module = cmd.get(i + 2)?.clone();
        let rest: Vec<String> = cmd[i + 3..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .cloned()
            .collect();
        return Some((module, rest));
    }
    Some((base, args))
}

/// Whether a simple command runs `seq`: its program is `seq[0]` (by its base name), and the
/// rest of `seq` appears among its arguments in order.
fn runs(prog: &(String, Vec<String>), seq: &[&str]) -> bool {
    let (name, args) = prog;
    let base = seq[0].rsplit('/').next().unwrap_or(seq[0]);
    if name != base {
        return false;
    }
    let mut it = args.iter();
    seq[1..].iter().all(|w| it.any(|a| a == w))
}

/// Model estimate of a RUN: each simple command classified by its program and arguments, the
/// recognised classes summed (each once), halved for package managers whose cache directory is
/// a cache mount the step does not empty itself (`super::cleans`). A command too long or with
/// unbalanced quotes gets the generic range, and the reason is returned.
pub fn model_run(
    command: &str,
    cache_mounts: &[String],
) -> (Estimate, Vec<&'static str>, Option<Unclassified>) {
    model_run_in(command, cache_mounts, &[], &[])
}

/// [`model_run`] knowing more of the step: files its tests find absent (what they guard does
/// not run) and download classes it repeats (see [`StepFact::refetch`], added at full cost).
pub fn model_run_in(
    command: &str,
    cache_mounts: &[String],
    absent: &[String],
    refetch: &[&'static str],
) -> (Estimate, Vec<&'static str>, Option<Unclassified>) {
    let commands = match runnable_commands(command, absent) {
        Ok(c) => c,
        Err(why) => return (GENERIC_RUN, Vec::new(), Some(why)),
    };
    let mut programs: Vec<(String, Vec<String>)> = Vec::new();
    for c in &commands {
        // `sh -c "…"` runs its script: classify the script's commands too (one level)
        if let Some((p, _)) = program(c) {
            if matches!(p.as_str(), "sh" | "bash" | "dash" | "ash") {
                if let Some(k) = c.iter().position(|w| w == "-c") {
                    if let Some(script) = c.get(k + 1) {
                        if let Ok(inner) = simple_commands(script) {
                            for ic in inner {
                                if let Some(ip) = program(&ic) {
                                    programs.push(ip);
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(p) = program(c) {
            programs.push(p);
        }
    }
    let mut total: Option<Estimate> = None;
    let mut labels = Vec::new();
    for class in CLASSES {
        // "npm run build" must not also count as "npm install"
        let hit = programs.iter().any(|p| {
            class.words.iter().any(|seq| {
                runs(p, seq) && !(class.label == "npm install" && p.1.iter().any(|a| a == "run"))
            })
        });
        if hit && !labels.contains(&class.label) {
            let mut e = class.est;
            // a mount the step empties itself (`npm cache clean --force`) keeps nothing
            if class.cache_dirs.iter().any(|d| {
                cache_mounts.iter().any(|m| {
                    m.contains(d.trim_start_matches('.')) && !super::cleans::empties(command, m)
                })
            }) {
                e = e.scale(0.5);
            }
            total = Some(total.map_or(e, |t| t.add(e)));
            labels.push(class.label);
        }
    }
    for r in refetch {
        if let Some(class) = CLASSES.iter().find(|c| c.label == *r) {
            total = Some(total.map_or(class.est, |t| t.add(class.est)));
        }
    }
    (total.unwrap_or(GENERIC_RUN), labels, None)
}

/// Approximate compressed size in MB of a base image, from its name and tag.
fn image_megabytes(reference: &str) -> f64 {
    let r = reference.to_ascii_lowercase();
    let name = r.rsplit('/').next().unwrap_or(&r);
    let (repo, tag) = name.split_once(':').unwrap_or((name, "latest"));
    let tag = tag.split('@').next().unwrap_or(tag);
    let slim = tag.contains("slim");
    let alpine = tag.contains("alpine");
    match repo {
        "scratch" => 0.0,
        "busybox" => 2.0,
        "alpine" => 4.0,
        _ if r.contains("distroless") => 10.0,
        "debian" | "ubuntu" => {
            if slim {
                30.0
            } else {
                50.0
            }
        }
        "node" => {
            if alpine {
                50.0
            } else if slim {
                80.0
            } else {
                400.0
            }
        }
        "python" => {
            if alpine {
                20.0
            } else if slim {
                50.0
            } else {
                370.0
            }
        }
        "golang" => {
            if alpine {
                90.0
            } else {
                300.0
            }
        }
        "rust" => {
            if alpine {
                300.0
            } else if slim {
                250.0
            } else {
                550.0
            }
        }
        "nginx" | "httpd" | "caddy" => {
            if alpine {
                20.0
            } else {
                70.0
            }
        }
        "openjdk" | "eclipse-temurin" | "maven" | "gradle" => 200.0,
        "ruby" | "php" => {
            if alpine {
                40.0
            } else {
                300.0
            }
        }
        _ => 150.0,
    }
}

/// Model estimate of one step.
pub fn model_step(f: &StepFact) -> (Estimate, String) {
    match f.kind {
        Kind::Run => {
            let (e, labels, why) =
                model_run_in(&f.command, &f.cache_mounts, &f.absent_files, &f.refetch);
            let label = match why {
                Some(Unclassified::TooLong) => format!(
                    "RUN longer than {} KB, not classified (generic range)",
                    MAX_CLASSIFIED_BYTES / 1024
                ),
                Some(Unclassified::UnbalancedQuotes) => {
                    "RUN with unbalanced quotes, not classified (generic range)".to_string()
                }
                None if labels.is_empty() && f.refetch.is_empty() => {
                    "RUN (no known tool)".to_string()
                }
                None => {
                    let mut l = labels.join(" + ");
                    for r in &f.refetch {
                        if !l.is_empty() {
                            l.push_str(" + ");
                        }
                        l.push_str(&format!(
                            "{r} again (an earlier step downloaded into a cache mount this step does not mount)"
                        ));
                    }
                    l
                }
            };
            let label = if f.absent_files.is_empty() {
                label
            } else {
                format!(
                    "{label}; not run: tests of {} absent from the context",
                    f.absent_files
                        .iter()
                        .map(|x| format!("`{x}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            (e, label)
        }
        Kind::Copy | Kind::Add if f.remote => (Estimate::new(2.0, 0.5, 30.0), "download".into()),
        Kind::Copy | Kind::Add => match f.bytes {
            Some(b) => {
                let mb = b as f64 / 1_000_000.0;
                (
                    Estimate::new(0.2 + mb / 40.0, 0.1 + mb / 150.0, 1.0 + mb / 10.0),
                    format!("copy of {:.1} MB", mb),
                )
            }
            None => (
                Estimate::new(0.5, 0.1, 5.0),
                "copy (size not listed)".into(),
            ),
        },
        Kind::Workdir => (Estimate::new(0.1, 0.05, 0.5), "mkdir".into()),
        // a stage (`FROM build`): nothing to pull, it starts from the stage's result
        Kind::From if f.command.is_empty() => (Estimate::new(0.0, 0.0, 0.0), "a stage".into()),
        Kind::From => {
            let mb = image_megabytes(&f.command);
            (
                Estimate::new(2.0 + mb / 40.0, 1.0 + mb / 150.0, 5.0 + mb / 10.0),
                format!("pull of ~{mb:.0} MB"),
            )
        }
        _ => (Estimate::new(0.0, 0.0, 0.0), String::new()),
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How many steps of `facts` a build log's vertices map to.
pub fn match_count(log: &LogBuild, facts: &[StepFact]) -> usize {
    facts
        .iter()
        .filter(|f| !vertices_for(log, f).is_empty())
        .count()
}

/// Log vertices that are this step: same instruction text (in the same stage when the log
/// names stages), or for FROM the first vertex of the stage.
pub fn vertices_for<'a>(log: &'a LogBuild, f: &StepFact) -> Vec<&'a super::buildlog::LogVertex> {
    log.vertices
        .iter()
        .filter(|v| {
            let Some(instr) = &v.instruction else {
                return false;
            };
            let stage_ok = match &v.stage {
                Some(s) => *s == f.stage,
                None => true,
            };
            if !stage_ok {
                return false;
            }
            if f.kind == Kind::From {
                return instr.starts_with("FROM ") && v.step.map(|(k, _)| k) == f.position;
            }
            let t = collapse(instr);
            f.texts.contains(&t) || f.pattern.as_deref().is_some_and(|p| wildcard(p, &t))
        })
        .collect()
}

/// Seconds a step took in one log: `Some(None)` when it was cached there (no duration),
/// `None` when the log does not show it.
fn seconds_in(log: &LogBuild, f: &StepFact) -> Option<Option<f64>> {
    let vs = vertices_for(log, f);
    if vs.is_empty() {
        return None;
    }
    let done: Vec<f64> = vs
        .iter()
        .filter(|v| v.status == VertexStatus::Done)
        .filter_map(|v| v.seconds)
        .collect();
    if done.is_empty() {
        return Some(None);
    }
    // several platforms build in parallel: the slowest decides
    Some(
        done.into_iter()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The real builds that time a build's steps: `logs`, the build logs given (`--timings`, a
/// verified record), and `ci`, the build records CI uploaded for the base branch.
#[derive(Debug, Clone, Copy)]
pub struct Timed<'a, 'l> {
    pub logs: &'a [&'l LogBuild],
    pub ci: &'a [&'l LogBuild],
}

/// The median and the spread of a step's durations over `logs`, with the number of samples;
/// `None` when no log shows it run.
fn sampled(logs: &[&LogBuild], f: &StepFact) -> Option<(Estimate, usize)> {
    let mut t: Vec<f64> = logs
        .iter()
        .filter_map(|l| seconds_in(l, f))
        .flatten()
        .collect();
    if t.is_empty() {
        return None;
    }
    let m = median(&mut t);
    let lo = t.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = t.iter().cloned().fold(0.0, f64::max);
    Some((Estimate::new(m, lo, hi), t.len()))
}

/// Fill in per-step estimates and the build's totals from the real builds assigned to this
/// build: a configured cost first, then the logs given, then CI's records of the base branch
/// (`CostSource::Records`, labelled with the number of samples), then the model.
pub fn apply(
    report: &mut DockerfileReport,
    facts: &[StepFact],
    timed: Timed<'_, '_>,
    config: &Config,
) {
    let logs = timed.logs;
    let mut rebuild = Estimate::new(0.0, 0.0, 0.0);
    let mut full = Estimate::new(0.0, 0.0, 0.0);
    let mut untimed = Vec::new();
    for step in report.steps.iter_mut() {
        if step.status == Status::Unused {
            continue;
        }
        let Some(f) = facts.iter().find(|f| f.line == step.line) else {
            continue;
        };
        if f.kind == Kind::Run {
            step.classes = model_run_in(&f.command, &f.cache_mounts, &f.absent_files, &f.refetch)
                .1
                .into_iter()
                .map(str::to_string)
                .collect();
        }
        let over = config.cost.iter().find(|r| {
            wildcard(&r.pattern, &step.instruction)
                && r.dockerfile
                    .as_deref()
                    .is_none_or(|d| wildcard(d, &report.path))
        });
        let (est, source, label) = if let Some(r) = over {
            let [lo, hi] = r.range.unwrap_or([r.seconds, r.seconds]);
            (
                Estimate::new(r.seconds, lo, hi),
                CostSource::Config,
                Some(format!("configured for `{}`", r.pattern)),
            )
        } else if let Some((e, _)) = sampled(logs, f) {
            (e, CostSource::Timings, None)
        } else if let Some((e, n)) = sampled(timed.ci, f) {
            (
                e,
                CostSource::Records,
                Some(format!("{n} sample{}", if n == 1 { "" } else { "s" })),
            )
        } else {
            if (!logs.is_empty() || !timed.ci.is_empty()) && f.kind != Kind::From {
                untimed.push(step.line);
            }
            let (e, l) = model_step(f);
            (e, CostSource::Model, Some(l))
        };
        step.estimated_seconds = Some(round(est.seconds));
        let sampled = matches!(source, CostSource::Timings | CostSource::Records);
        step.estimated_range =
            (!sampled || est.low != est.high).then(|| [round(est.low), round(est.high)]);
        step.cost_source = Some(source);
        step.cost_label = label;
        full = full.add(est);
        if step.status == Status::Rebuilt {
            rebuild = rebuild.add(est);
        }
    }
    let built = report.summary.rebuilt + report.summary.cached;
    report.cost = Some(super::report::CostSummary {
        estimated_rebuild_seconds: round(rebuild.seconds),
        estimated_rebuild_range: [round(rebuild.low), round(rebuild.high)],
        estimated_full_build_seconds: round(full.seconds),
        cached_step_share: if built == 0 {
            1.0
        } else {
            round(report.summary.cached as f64 / built as f64)
        },
        cached_step_share_warm: 1.0,
        cached_seconds_share: if full.seconds <= 0.0 {
            1.0
        } else {
            round(1.0 - rebuild.seconds / full.seconds)
        },
        logs: logs.len() + timed.ci.len(),
        steps_without_timing: untimed,
    });
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_classes() {
        let (e, l, _) = model_run(
            "apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
            &[],
        );
        assert_eq!(l, vec!["apt-get install", "apt-get update"]);
        assert_eq!(e.seconds, 36.0);
        let (_, l, _) = model_run("npm ci && npm run build", &[]);
        assert_eq!(l, vec!["npm install", "JS build"]);
        let (e, _, _) = model_run("npm ci", &["/root/.npm".into()]);
        assert_eq!(e.seconds, 22.5);
        let (e, l, _) = model_run("echo hi", &[]);
        assert!(l.is_empty());
        assert_eq!(e, GENERIC_RUN);
        let (_, l, _) = model_run("CGO_ENABLED=0 go build -o /out/app ./cmd", &[]);
        assert_eq!(l, vec!["go build"]);
        let (_, l, _) = model_run("/usr/local/bin/pip install -r requirements.txt", &[]);
        assert_eq!(l, vec!["pip install"]);
    }

    /// Classification by command word and arguments, not by substring (issue 14).
    #[test]
    fn classified_by_command_word() {
        let cases: &[(&str, &[&str])] = &[
            ("chmod +x ./gradlew", &[]),
            ("chmod +x ./gradlew && ./gradlew build", &["maven/gradle"]),
            ("echo 'apt-get install x' > notes.txt", &[]),
            (
                "if [ -s requirements.txt ]; then pip install -r requirements.txt; fi",
                &["pip install"],
            ),
            (
                "python3 -m pip install --no-cache-dir flask",
                &["pip install"],
            ),
            ("sudo -E apt-get install -y git", &["apt-get install"]),
            (
                "sh -c \"npm ci && npm run build\"",
                &["npm install", "JS build"],
            ),
            ("npm clean-install", &["npm install"]),
            ("grep make Makefile", &[]),
            ("cd /src && make -j4 install", &["make"]),
            ("for f in a b; do go build ./$f; done", &["go build"]),
            ("case $X in a) yarn install ;; esac", &["yarn install"]),
            ("# apt-get install\necho ok", &[]),
        ];
        for (cmd, want) in cases {
            let (_, l, why) = model_run(cmd, &[]);
            assert_eq!(why, None, "{cmd}");
            assert_eq!(&l, want, "{cmd}");
        }
    }

    /// Conditions on files absent from the context cost nothing (issue 14).
    #[test]
    fn tests_of_absent_files_guard_nothing_that_costs() {
        let absent = vec!["requirements.txt".to_string()];
        let cmd = "if [ -s requirements.txt ]; then pip install -r requirements.txt; fi";
        assert_eq!(tested_files(cmd), absent);
        let (e, l, _) = model_run_in(cmd, &[], &absent, &[]);
        assert_eq!((e, l), (GENERIC_RUN, vec![]));
        // present: it runs
        let (_, l, _) = model_run_in(cmd, &[], &[], &[]);
        assert_eq!(l, vec!["pip install"]);
        // `&&` after the test, nested ifs, else branches
        let (_, l, _) = model_run_in(
            "test -f requirements.txt && pip install -r requirements.txt; npm ci",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["npm install"]);
        let (_, l, _) = model_run_in(
            "if [ -f requirements.txt ]; then if true; then pip install x; fi; else poetry install; fi",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["poetry install"]);
        // a test of another file guards nothing
        let (_, l, _) = model_run_in(
            "if [ -f setup.py ]; then pip install .; fi",
            &[],
            &absent,
            &[],
        );
        assert_eq!(l, vec!["pip install"]);
        // a repeated download is charged
        let (e, _, _) = model_run_in("go build ./...", &[], &[], &["go mod download"]);
        assert_eq!(e.seconds, 60.0);
    }

    #[test]
    fn downloads_and_their_readers() {
        let go = &DOWNLOADS[0];
        assert!(download_use(&Memo::default(), "go mod download -x", go).downloads);
        assert_eq!(
            download_use(&Memo::default(), "CGO_ENABLED=0 go build -o /app .", go).consumer,
            Some(false)
        );
        let dn = &DOWNLOADS[1];
        assert_eq!(
            download_use(
                &Memo::default(),
                "dotnet publish -c Release --no-restore -o /out",
                dn
            )
            .consumer,
            Some(true)
        );
        assert!(mount_covers("/root/.nuget", "/root/.nuget/packages"));
        assert!(!mount_covers("/root/.npm", "/root/.nuget/packages"));
    }

    #[test]
    fn bad_input_falls_back_to_the_generic_range() {
        let long = format!("echo {}", "x".repeat(100_000));
        let (e, l, why) = model_run(&long, &[]);
        assert_eq!(
            (e, l.len(), why),
            (GENERIC_RUN, 0, Some(Unclassified::TooLong))
        );
        let (e, _, why) = model_run("echo 'unclosed && apt-get install x", &[]);
        assert_eq!(
            (e, why),
            (GENERIC_RUN, Some(Unclassified::UnbalancedQuotes))
        );
        // deeply nested conditionals: linear, no recursion
        let mut nested = String::new();
        for _ in 0..3_000 {
            nested.push_str("if true; then ");
        }
        nested.push_str("pip install x");
        for _ in 0..3_000 {
            nested.push_str("; fi");
        }
        let (_, l, why) = model_run(&nested, &[]);
        assert_eq!((l, why), (vec!["pip install"], None));
        let f = StepFact {
            line: 3,
            kind: Kind::From,
            stage: "app".into(),
            position: None,
            texts: vec![],
            pattern: None,
            command: String::new(),
            cache_mounts: vec![],
            bytes: None,
            remote: false,
            refetch: vec![],
            absent_files: vec![],
        };
        assert_eq!(model_step(&f).0.seconds, 0.0);
    }

    #[test]
    fn images() {
        assert!(
            image_megabytes("docker.io/library/node:20-alpine")
                < image_megabytes("docker.io/library/node:20")
        );
        assert_eq!(image_megabytes("docker.io/library/alpine:3.20"), 4.0);
    }
}
