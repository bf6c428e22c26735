//! The history use-case: replay a first-parent history, predict each commit against its
//! parent, and fold the reports into the cost of each Dockerfile over the range. The replay
//! comes in three parts so that a shell can spread it over threads: the commits (`commits`),
//! a run of consecutive commits replayed (`replay_block`), and the fold (`Fold`), which takes
//! the blocks in commit order and gives the same report as one replay from first to last.

use crate::app::analyze::{AnalyzeError, AnalyzeOptions, analyze_with};
use crate::app::discover::DeclCache;
use crate::engine::Memo;
use crate::engine::history::{Accumulator, HistoryReport};
use crate::engine::report::Report;
use crate::ports::{CommitInfo, History, HistorySpan};

/// One replayed commit: its id, subject and what it rebuilt (None: a root commit, which has
/// no parent to compare with and is left out of the fold).
pub struct Replayed {
    pub commit: String,
    pub subject: String,
    pub report: Option<Report>,
}

/// The first-parent commits of `span`, oldest first.
pub async fn commits<H: History>(
    h: &H,
    span: &HistorySpan,
) -> Result<Vec<CommitInfo>, AnalyzeError> {
    Ok(h.first_parent(span).await?)
}

/// Consecutive commits replayed, each against its parent, in order. `cache` carries what the
/// previous commits' discovery learned and what the last analysis asked to have listed and read
/// (`DeclCache::warm_requests`), and `memo` what their predictions did (the run's memo, which
/// its threads share), so a block is cheapest when its commits are adjacent.
pub async fn replay_block<H: History>(
    h: &H,
    block: &[CommitInfo],
    opts: &AnalyzeOptions,
    cache: &DeclCache,
    memo: &Memo,
) -> Result<Vec<Replayed>, AnalyzeError> {
    // each commit's report is folded: what only a review shows is not measured
    let opts = &AnalyzeOptions {
        purpose: crate::engine::input::Purpose::History,
        ..opts.clone()
    };
    let mut out = Vec::with_capacity(block.len());
    for c in block {
        out.push(replay_commit(h, c, opts, cache, memo).await?);
    }
    Ok(out)
}

async fn replay_commit<H: History>(
    h: &H,
    c: &CommitInfo,
    opts: &AnalyzeOptions,
    cache: &DeclCache,
    memo: &Memo,
) -> Result<Replayed, AnalyzeError> {
    let done = |report| Replayed {
        commit: c.commit.clone(),
        subject: c.subject.clone(),
        report,
    };
    let Some(parent) = &c.parent else {
        return Ok(done(None));
    };
    let pair = h.pair(parent, &c.commit)?;
    match analyze_with(&pair, opts, Some(cache), memo).await {
        Ok(r) => Ok(done(Some(r))),
        // a named Dockerfile that does not exist yet at this commit: nothing to build
        Err(AnalyzeError::Usage(_)) => Ok(done(Some(Report::default()))),
        Err(e) => Err(e),
    }
}

/// The replayed commits folded into the history report; give them in commit order.
#[derive(Default)]
pub struct Fold {
    acc: Accumulator,
}

impl Fold {
    pub fn add(&mut self, r: Replayed) {
        if let Some(report) = &r.report {
            self.acc.add(&r.commit, &r.subject, report);
        }
    }

    pub fn add_block(&mut self, block: Vec<Replayed>) {
        for r in block {
            self.add(r);
        }
    }

    pub fn finish(self) -> HistoryReport {
        self.acc.finish()
    }
}
