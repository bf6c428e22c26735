//! The schema of the repository's cachebust configuration (`.github/cachebust.yml`): cost
//! overrides, rule settings, paths, builds, discovery and the builder, with what the engine asks
//! of them. Reading and validating the YAML is `engine::config` (it knows the rule catalog; the
//! rules and the prediction only need these types).

use serde::{Deserialize, Serialize};

/// A cost override: steps whose instruction text matches `match` cost `seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostRule {
    /// Pattern over the instruction text (`*` any text, `?` one character), e.g. `RUN npm ci*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Optional pattern over the Dockerfile path.
    #[serde(default)]
    pub dockerfile: Option<String>,
    pub seconds: f64,
    /// Optional [low, high] range in seconds.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
}

/// A rule's setting: `off`, `on`, a severity, or `{enabled, severity}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RuleSetting {
    /// `true`/`false` (and YAML 1.1's `on`/`off`, which some readers take as booleans).
    Bool(bool),
    Word(String),
    Detailed {
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        severity: Option<String>,
    },
}

fn severity_of(s: &str) -> Option<crate::engine::dockerfile::Severity> {
    use crate::engine::dockerfile::Severity;
    match s {
        "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        "info" => Some(Severity::Info),
        _ => None,
    }
}

impl RuleSetting {
    pub fn enabled(&self) -> bool {
        match self {
            RuleSetting::Bool(b) => *b,
            RuleSetting::Word(w) => w != "off",
            RuleSetting::Detailed { enabled, .. } => enabled.unwrap_or(true),
        }
    }
    pub fn severity(&self) -> Option<crate::engine::dockerfile::Severity> {
        match self {
            RuleSetting::Bool(_) => None,
            RuleSetting::Word(w) => severity_of(w),
            RuleSetting::Detailed { severity, .. } => severity.as_deref().and_then(severity_of),
        }
    }
    pub(crate) fn valid(&self) -> Result<(), String> {
        match self {
            RuleSetting::Bool(_) => Ok(()),
            RuleSetting::Word(w)
                if matches!(w.as_str(), "on" | "off") || severity_of(w).is_some() =>
            {
                Ok(())
            }
            RuleSetting::Word(w) => Err(format!(
                "{w:?} is not a rule setting (on, off, error, warning, info)"
            )),
            RuleSetting::Detailed {
                severity: Some(s), ..
            } if severity_of(s).is_none() => {
                Err(format!("{s:?} is not a severity (error, warning, info)"))
            }
            RuleSetting::Detailed { .. } => Ok(()),
        }
    }
}

/// Which Dockerfiles are analysed (patterns over root-relative paths, `*` any text).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Paths {
    pub fn wants(&self, path: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| wildcard(p, path)))
            && !self.exclude.iter().any(|p| wildcard(p, path))
    }
}

/// A build declared by hand (`builds:`), for Dockerfiles no compose file, bake file or workflow
/// names: the context and args the team really builds with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    /// Root-relative Dockerfile.
    pub dockerfile: String,
    /// Root-relative build context (default: the repository root).
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
}

/// How builds are found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// Directories never searched (names, or root-relative paths); default `vendor`,
    /// `third_party`, `node_modules` and the test-fixture and demo directories
    /// (`discover::FIXTURE_DIRS`). A list replaces the default; `[]` searches everything.
    #[serde(default)]
    pub skip: Option<Vec<String>>,
}

impl Discovery {
    pub fn skipped(&self) -> Vec<String> {
        match &self.skip {
            Some(s) => s.clone(),
            None => crate::engine::discover::default_skip(),
        }
    }
}

/// The builder the prediction follows beyond `--engine`: what depends on the buildx driver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// The buildx driver: `docker-container` (the default: docker/setup-buildx-action's
    /// builder), `remote`, `kubernetes`, or `docker` (Docker Engine's own BuildKit).
    #[serde(default)]
    pub driver: Option<String>,
}

pub const DRIVERS: &[&str] = &["docker-container", "remote", "kubernetes", "docker"];

impl Builder {
    /// Whether the builder has BuildKit's merge op, which `COPY --link` uses. Docker Engine's
    /// own BuildKit (`docker` driver) has none: measured on Docker 28.5.2 with the classic image
    /// store and with the containerd image store, `COPY --link` keys and re-runs like a plain
    /// `COPY` there.
    pub fn merge_op(&self) -> bool {
        self.driver.as_deref() != Some("docker")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Builds declared by hand.
    #[serde(default)]
    pub builds: Vec<BuildDecl>,
    /// Where builds are searched for.
    #[serde(default)]
    pub discovery: Discovery,
    /// Rules on/off and their severity, by code (`CB001: off`).
    #[serde(default)]
    pub rules: std::collections::BTreeMap<String, RuleSetting>,
    /// Which Dockerfiles to analyse.
    #[serde(default)]
    pub paths: Paths,
    /// Build args per Dockerfile path (pattern), as `--build-arg` would give them.
    #[serde(default)]
    pub build_args: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Per-step cost overrides, first match wins.
    #[serde(default)]
    pub cost: Vec<CostRule>,
    /// The builder (`builder: {driver: docker}`).
    #[serde(default)]
    pub builder: Builder,
}

impl Config {
    /// Build args the configuration gives a Dockerfile.
    pub fn build_args_for(&self, path: &str) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for (pat, args) in &self.build_args {
            if wildcard(pat, path) {
                out.extend(args.clone());
            }
        }
        out
    }
}

/// `*`/`?` wildcard match over whole text (not path-aware).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
