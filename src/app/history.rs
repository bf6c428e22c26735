//! The history use-case: replay a first-parent history, predict each commit against its
//! parent, and fold the reports into the cost of each Dockerfile over the range.

use crate::app::analyze::{AnalyzeError, AnalyzeOptions, analyze_with};
use crate::app::discover::DeclCache;
use crate::engine::history::{Accumulator, HistoryReport};
use crate::ports::{History, HistorySpan};

pub async fn history<H: History>(
    h: &H,
    span: &HistorySpan,
    opts: &AnalyzeOptions,
) -> Result<HistoryReport, AnalyzeError> {
    let commits = h.first_parent(span).await?;
    let mut acc = Accumulator::default();
    let cache = DeclCache::default();
    for c in &commits {
        let Some(parent) = &c.parent else { continue };
        let pair = h.pair(parent, &c.commit)?;
        match analyze_with(&pair, opts, Some(&cache)).await {
            Ok(r) => acc.add(&c.commit, &c.subject, &r),
            // a named Dockerfile that does not exist yet at this commit: nothing to build
            Err(AnalyzeError::Usage(_)) => acc.add(&c.commit, &c.subject, &Default::default()),
            Err(e) => return Err(e),
        }
    }
    Ok(acc.finish())
}
