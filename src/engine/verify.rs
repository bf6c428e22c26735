//! `verify`: a build's prediction against what a real build of the head did, step by step,
//! with a reason for every difference. The real build comes as a build record
//! (`engine::buildrecord`), rawjson progress or plain progress (`engine::buildlog`); its
//! vertices are matched to the head Dockerfile's steps as timings logs are (`cost`). A step is
//! cached when any update of its vertex says so. FROM is not compared: a base image is pulled
//! or loaded, never "cached" in the same sense (semantics doc §0.1). Pure: the caller reads the
//! files; the Action and the App call `compare` on records they fetched.

use super::buildlog::{LogBuild, VertexStatus};
use super::cost::{StepFact, vertices_for};
use super::report::{
    Assumption, CauseKind, Difference, DockerfileReport, Kind, Note, RealOutcome, RealSource,
    Status, StepCheck, Verification,
};

/// A real build of the head.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RealBuild {
    /// The file (and record) it was read from.
    pub name: String,
    pub source: RealSource,
    pub build: LogBuild,
    /// Caches it imported (`local`, `registry 127.0.0.1:5055/cache:max`).
    pub cache_imports: Vec<String>,
    /// `no-cache`: `Some(vec![])` for every stage, else the stages named; `None` when unknown
    /// or off.
    pub no_cache: Option<Vec<String>>,
    pub error: Option<String>,
}

impl RealBuild {
    /// The builds of a record archive.
    pub fn from_record(name: &str, r: super::buildrecord::Record) -> RealBuild {
        RealBuild {
            name: if r.reference.is_empty() {
                name.to_string()
            } else {
                format!("{name} (record {})", r.reference)
            },
            source: RealSource::Record,
            cache_imports: r.cache_imports,
            no_cache: r.no_cache,
            error: r.error,
            build: r.build,
        }
    }

    /// The builds of a progress log (rawjson or plain); the imported caches from its
    /// `importing cache manifest from …` vertices.
    pub fn from_log(name: &str, text: &str) -> Vec<RealBuild> {
        let read = super::buildlog::read_any(text);
        let json = text.contains("\"vertexes\"") && !read.builds.is_empty();
        let several = read.builds.len() > 1;
        read.builds
            .into_iter()
            .enumerate()
            .map(|(i, b)| RealBuild {
                name: if several {
                    format!("{name} (build {})", i + 1)
                } else {
                    name.to_string()
                },
                source: if json {
                    RealSource::Rawjson
                } else {
                    RealSource::Plain
                },
                cache_imports: b
                    .vertices
                    .iter()
                    .filter_map(|v| v.name.strip_prefix("importing cache manifest from "))
                    .map(str::to_string)
                    .collect(),
                no_cache: None,
                error: b
                    .vertices
                    .iter()
                    .find(|v| v.status == VertexStatus::Error)
                    .map(|v| v.name.clone()),
                build: b,
            })
            .collect()
    }
}

/// How many steps other than FROM a real build's vertices map to: what makes it a build of
/// these steps (any build's first vertex matches a first FROM).
pub fn match_count(build: &LogBuild, facts: &[StepFact]) -> usize {
    facts
        .iter()
        .filter(|f| f.kind != Kind::From && !vertices_for(build, f).is_empty())
        .count()
}

/// What a step did in the real build, and for how long.
fn outcome(real: &RealBuild, f: &StepFact) -> (RealOutcome, Option<f64>) {
    let vs = vertices_for(&real.build, f);
    if vs.is_empty() {
        return (RealOutcome::NotSeen, None);
    }
    let secs = vs
        .iter()
        .filter(|v| v.status == VertexStatus::Done)
        .filter_map(|v| v.seconds)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if vs.iter().any(|v| v.status == VertexStatus::Error) {
        return (RealOutcome::Failed, secs);
    }
    let cached = vs
        .iter()
        .filter(|v| v.status == VertexStatus::Cached)
        .count();
    let ran = vs.iter().filter(|v| v.status == VertexStatus::Done).count();
    let o = match (cached, ran) {
        (_, 0) if cached > 0 => RealOutcome::Cached,
        (0, _) if ran > 0 => RealOutcome::Ran,
        (c, r) if c > 0 && r > 0 => RealOutcome::Mixed,
        _ => RealOutcome::NotSeen,
    };
    (o, secs)
}

/// Compare a build's prediction with a real build of its head.
pub fn compare(report: &DockerfileReport, facts: &[StepFact], real: &RealBuild) -> Verification {
    let outcomes: Vec<(RealOutcome, Option<f64>)> = report
        .steps
        .iter()
        .map(|s| match facts.iter().find(|f| f.line == s.line) {
            Some(f) => outcome(real, f),
            None => (RealOutcome::NotSeen, None),
        })
        .collect();
    let mut steps = Vec::new();
    let (mut agreed, mut differed, mut not_compared) = (0, 0, 0);
    for (i, s) in report.steps.iter().enumerate() {
        let (real_outcome, seconds) = outcomes[i];
        let mut check = StepCheck {
            line: s.line,
            instruction: s.instruction.clone(),
            predicted: s.status,
            real: real_outcome,
            agrees: None,
            difference: None,
            seconds,
        };
        let compared = s.kind != Kind::From && real_outcome != RealOutcome::NotSeen;
        if !compared {
            not_compared += 1;
            steps.push(check);
            continue;
        }
        let agrees = matches!(
            (s.status, real_outcome),
            (Status::Cached, RealOutcome::Cached)
                | (
                    Status::Rebuilt,
                    RealOutcome::Ran | RealOutcome::Mixed | RealOutcome::Failed
                )
        );
        if real_outcome == RealOutcome::Failed {
            check.difference = Some(Difference::Failed {
                message: real.error.clone(),
            });
        }
        if !agrees {
            check.difference = Some(match (s.status, real_outcome) {
                (_, RealOutcome::Failed) => Difference::Failed {
                    message: real.error.clone(),
                },
                (Status::Cached, _) => why_ran(report, real, i, &outcomes),
                _ => why_cached(report, i),
            });
        }
        check.agrees = Some(agrees);
        if agrees {
            agreed += 1;
        } else {
            differed += 1;
        }
        steps.push(check);
    }
    Verification {
        name: real.name.clone(),
        source: real.source,
        cache_imports: real.cache_imports.clone(),
        steps,
        agreed,
        differed,
        not_compared,
    }
}

/// Predicted cached, ran for real.
fn why_ran(
    report: &DockerfileReport,
    real: &RealBuild,
    i: usize,
    outcomes: &[(RealOutcome, Option<f64>)],
) -> Difference {
    let s = &report.steps[i];
    let ran = |j: usize| matches!(outcomes[j].0, RealOutcome::Ran | RealOutcome::Mixed);
    if let Some(stages) = &real.no_cache {
        if stages.is_empty() || stages.iter().any(|x| x.eq_ignore_ascii_case(&s.stage)) {
            return Difference::NoCache;
        }
    }
    if real.source == RealSource::Plain && !real.cache_imports.is_empty() {
        return Difference::PlainLogAmbiguous;
    }
    // nothing at all hit: the builder held no cache of the base
    let any_hit = report.steps.iter().zip(outcomes).any(|(x, (o, _))| {
        x.kind != Kind::From && matches!(o, RealOutcome::Cached | RealOutcome::Mixed)
    });
    if !any_hit {
        return if real.cache_imports.is_empty() {
            Difference::NoCacheImported
        } else {
            Difference::Evicted
        };
    }
    // a later step of its stage, or one copying from the stage, ran and needed its result
    let needed_by = (i + 1..report.steps.len()).find(|&j| {
        let o = &report.steps[j];
        ran(j)
            && o.kind != Kind::From
            && (o.stage == s.stage
                || o.instruction
                    .to_ascii_lowercase()
                    .contains(&format!("--from={}", s.stage.to_ascii_lowercase())))
    });
    let not_exported = |j: usize| Difference::NotExported {
        cache: real.cache_imports.join(", "),
        needed_by: report.steps[j].line,
    };
    // the model knew that step would run: it needed this one's result, which the cache lacks
    if let Some(j) = needed_by.filter(|&j| report.steps[j].status == Status::Rebuilt) {
        if !real.cache_imports.is_empty() {
            return not_exported(j);
        }
    }
    if let Some(image) = base_moved(report, i, outcomes) {
        return Difference::BaseMoved { image };
    }
    if real.cache_imports.is_empty() {
        if matches!(report.assumption, Assumption::WarmLocal) {
            return Difference::NoCacheImported;
        }
        return Difference::Evicted;
    }
    match needed_by {
        Some(j) => not_exported(j),
        None => Difference::Evicted,
    }
}

/// The image of step `i`'s stage when the stage starts from a movable tag and every stage
/// starting from that image ran from its first step (what a tag that moved upstream does).
fn base_moved(
    report: &DockerfileReport,
    i: usize,
    outcomes: &[(RealOutcome, Option<f64>)],
) -> Option<String> {
    let image_of = |stage: &str| {
        report
            .steps
            .iter()
            .find(|f| f.stage == stage && f.kind == Kind::From)
            .filter(|f| f.notes.iter().any(|n| matches!(n, Note::MutableTag { .. })))
            .and_then(|f| {
                f.instruction
                    .split_whitespace()
                    .skip(1)
                    .find(|w| !w.starts_with("--"))
                    .map(str::to_string)
            })
    };
    let image = image_of(&report.steps[i].stage)?;
    let mut stages: Vec<&str> = report.steps.iter().map(|x| x.stage.as_str()).collect();
    stages.dedup();
    for st in stages {
        if image_of(st).as_deref() != Some(image.as_str()) {
            continue;
        }
        let first = (0..report.steps.len())
            .find(|&j| report.steps[j].stage == st && report.steps[j].kind != Kind::From);
        if let Some(j) = first {
            if !matches!(outcomes[j].0, RealOutcome::Ran | RealOutcome::Mixed) {
                return None;
            }
        }
    }
    Some(image)
}

/// Predicted rebuilt, cached for real.
fn why_cached(report: &DockerfileReport, i: usize) -> Difference {
    let s = &report.steps[i];
    if s.notes
        .iter()
        .any(|n| matches!(n, Note::MayStayCached { .. }))
    {
        return Difference::SameBytes;
    }
    if s.cause
        .as_ref()
        .is_some_and(|c| c.kind() == CauseKind::CacheBackend)
    {
        return Difference::CacheHeld;
    }
    Difference::ModelWrong
}
