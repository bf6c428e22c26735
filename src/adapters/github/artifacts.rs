//! GitHub's Actions artifacts as the `Artifacts` port: workflow runs (of one workflow or all,
//! by branch, commit, event and result), a run's artifacts, and an artifact's download. The
//! download answers 302 with a short-lived URL on another host: it is followed once, by a
//! client without credentials (octocrab sends a personal token to every host), and read within the limit
//! whatever the length announced. The bytes are a zip archive (`adapters::zip`) holding the
//! `.dockerbuild` files docker/build-push-action and bake-action upload
//! (`<owner>~<repo>~<REF6>.dockerbuild`), or, for an artifact uploaded unzipped, the
//! `.dockerbuild` itself; each is unpacked by `adapters::buildrecord` within the same limit.

use http::StatusCode;
use serde::Deserialize;

use super::{GitHub, seg, strip_query};
use crate::adapters::buildrecord::{self, Limits as RecordLimits};
use crate::adapters::zip;
use crate::engine::buildrecord::Record;
use crate::ports::{ArtifactError, ArtifactInfo, Artifacts, HostError, RunInfo, RunQuery};

/// Entries read from one artifact's zip archive.
const MAX_ZIP_ENTRIES: usize = 1_000;
/// Build record files read from one artifact.
const MAX_RECORD_FILES: usize = 20;
/// Runs listed at most (one page).
const MAX_RUNS: usize = 100;

#[derive(Deserialize)]
struct RunsPage {
    #[serde(default)]
    workflow_runs: Vec<RunBody>,
}

#[derive(Deserialize)]
struct RunBody {
    id: u64,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
}

#[derive(Deserialize)]
struct ArtifactsPage {
    #[serde(default)]
    artifacts: Vec<ArtifactBody>,
}

#[derive(Deserialize)]
struct ArtifactBody {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    size_in_bytes: u64,
    #[serde(default)]
    expired: bool,
}

/// The build records of an artifact's bytes: a zip of `.dockerbuild` files, or one
/// `.dockerbuild` (gzip) as it is; everything within `max_bytes`.
pub fn records_of(bytes: &[u8], max_bytes: u64) -> Result<Vec<Record>, ArtifactError> {
    let limits = RecordLimits {
        bytes: max_bytes,
        ..RecordLimits::default()
    };
    let read = |b: &[u8]| {
        buildrecord::read_archive_with(b, limits).map_err(|e| match e {
            buildrecord::ArchiveError::TooLarge(_) => ArtifactError::TooLarge { limit: max_bytes },
            e => ArtifactError::Unreadable(e.to_string()),
        })
    };
    if buildrecord::is_archive(bytes) {
        return read(bytes);
    }
    if !zip::is_zip(bytes) {
        return Err(ArtifactError::Unreadable(
            "neither a zip archive nor a build record archive".into(),
        ));
    }
    let files = zip::read_files(
        bytes,
        zip::Limits {
            entries: MAX_ZIP_ENTRIES,
            bytes: max_bytes,
        },
        crate::engine::buildrecord::is_record_name,
    )
    .map_err(|e| match e {
        zip::ZipError::TooLarge(_) => ArtifactError::TooLarge { limit: max_bytes },
        e => ArtifactError::Unreadable(e.to_string()),
    })?;
    if files.is_empty() {
        return Err(ArtifactError::Unreadable(
            "the archive holds no .dockerbuild file".into(),
        ));
    }
    let mut out = Vec::new();
    for (_, data) in files.iter().take(MAX_RECORD_FILES) {
        out.extend(read(data)?);
    }
    Ok(out)
}

impl GitHub {
    /// GET `uri` for bytes: status, the `Location` header, and the body read up to `max`
    /// bytes (`None` past it).
    /// `anonymous`: with a client that has no credentials at all (the redirect's host is not
    /// GitHub's API: a token given to octocrab as a personal token goes to every host).
    async fn get_bytes(
        &self,
        uri: &str,
        max: u64,
        anonymous: bool,
    ) -> Result<(StatusCode, Option<String>, Option<Vec<u8>>), HostError> {
        self.spend_one()?;
        let res = if anonymous {
            octocrab::Octocrab::builder()
                .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
                .set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .build()
                .map_err(|e| HostError::Transport(e.to_string()))?
                ._get(uri)
                .await
        } else {
            self.octo._get(uri).await
        }
        .map_err(|e| HostError::Transport(e.to_string()))?;
        let status = res.status();
        let location = res
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let announced = res
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max) {
            return Ok((status, location, None));
        }
        let body = axum::body::Body::new(res.into_body());
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => Ok((status, location, Some(b.to_vec()))),
            // over the limit, or cut: neither is read
            Err(e) if status.is_success() => {
                let over = std::error::Error::source(&e)
                    .is_some_and(|s| s.to_string().contains("length limit"))
                    || e.to_string().contains("length limit");
                if over {
                    Ok((status, location, None))
                } else {
                    Err(HostError::Transport(format!(
                        "reading {}: {e}",
                        strip_query(uri)
                    )))
                }
            }
            Err(_) => Ok((status, location, Some(Vec::new()))),
        }
    }
}

impl Artifacts for GitHub {
    async fn runs(&self, owner: &str, repo: &str, q: &RunQuery) -> Result<Vec<RunInfo>, HostError> {
        let base = match &q.workflow {
            Some(w) => format!(
                "/repos/{}/{}/actions/workflows/{}/runs",
                seg(owner),
                seg(repo),
                seg(w)
            ),
            None => format!("/repos/{}/{}/actions/runs", seg(owner), seg(repo)),
        };
        let mut query = vec![format!("per_page={}", q.limit.clamp(1, MAX_RUNS))];
        if let Some(b) = &q.branch {
            query.push(format!("branch={}", seg(b)));
        }
        if let Some(h) = &q.head_sha {
            query.push(format!("head_sha={}", seg(h)));
        }
        if q.push_only {
            query.push("event=push".into());
        }
        if q.success_only {
            query.push("status=success".into());
        }
        let page: RunsPage = self
            .get_json(&format!("{base}?{}", query.join("&")))
            .await?;
        Ok(page
            .workflow_runs
            .into_iter()
            .take(q.limit)
            .map(|r| RunInfo {
                id: r.id,
                head_sha: r.head_sha,
                head_branch: r.head_branch,
                conclusion: r.conclusion,
            })
            .collect())
    }

    async fn run_artifacts(
        &self,
        owner: &str,
        repo: &str,
        run: u64,
    ) -> Result<Vec<ArtifactInfo>, HostError> {
        let page: ArtifactsPage = self
            .get_json(&format!(
                "/repos/{}/{}/actions/runs/{run}/artifacts?per_page=100",
                seg(owner),
                seg(repo)
            ))
            .await?;
        Ok(page
            .artifacts
            .into_iter()
            .map(|a| ArtifactInfo {
                id: a.id,
                name: a.name,
                size: a.size_in_bytes,
                expired: a.expired,
            })
            .collect())
    }

    async fn artifact_records(
        &self,
        owner: &str,
        repo: &str,
        artifact: &ArtifactInfo,
        max_bytes: u64,
    ) -> Result<Vec<Record>, ArtifactError> {
        if artifact.expired {
            return Err(ArtifactError::Expired);
        }
        if artifact.size > max_bytes {
            return Err(ArtifactError::TooLarge { limit: max_bytes });
        }
        let route = format!(
            "/repos/{}/{}/actions/artifacts/{}/zip",
            seg(owner),
            seg(repo),
            artifact.id
        );
        let (status, location, body) = self.get_bytes(&route, max_bytes, false).await?;
        let (status, body) = match (status.as_u16(), location) {
            // the archive lives elsewhere: one hop, without the token
            (301 | 302 | 303 | 307 | 308, Some(to)) => {
                // a relative location stays on the API's host
                let elsewhere = !to.starts_with('/');
                let (s, _, b) = self.get_bytes(&to, max_bytes, elsewhere).await?;
                (s, b)
            }
            _ => (status, body),
        };
        match status.as_u16() {
            200 => {}
            410 => return Err(ArtifactError::Expired),
            404 => return Err(ArtifactError::Missing),
            _ => {
                let text = body
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                return Err(ArtifactError::Host(super::classify(
                    status,
                    &http::HeaderMap::new(),
                    &text,
                )));
            }
        }
        let bytes = body.ok_or(ArtifactError::TooLarge { limit: max_bytes })?;
        records_of(&bytes, max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::read(root.join("tests/fixtures/records").join(name)).unwrap()
    }

    #[test]
    fn records_come_from_a_zip_or_a_bare_archive_within_the_limit() {
        let rec = sample("registry-max-src-changed.dockerbuild");
        let bare = records_of(&rec, 1 << 20).unwrap();
        assert_eq!(bare.len(), 1);
        let zipped = crate::adapters::zip::tests::zip(
            &[
                ("octo~shop~X3AFZ7.dockerbuild", &rec),
                ("summary.json", b"{}"),
            ],
            true,
        );
        let from_zip = records_of(&zipped, 1 << 20).unwrap();
        assert_eq!(from_zip, bare);
        // the limit holds for the unpacked record too
        assert!(matches!(
            records_of(&zipped, 4096),
            Err(ArtifactError::TooLarge { limit: 4096 })
        ));
        let none = crate::adapters::zip::tests::zip(&[("log.txt", b"x")], false);
        assert!(matches!(
            records_of(&none, 1 << 20),
            Err(ArtifactError::Unreadable(_))
        ));
        assert!(matches!(
            records_of(b"<html>", 1 << 20),
            Err(ArtifactError::Unreadable(_))
        ));
    }
}
