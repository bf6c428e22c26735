//! Work in ordered blocks over threads: items `0..n` cut into consecutive blocks, each block
//! done by one of `jobs` threads (each with its own state, made once per thread), the results
//! folded in block order on the calling thread. What is folded and what error is returned are
//! the same as for one thread going from first to last: the first failing block in order stops
//! the run, and blocks after it are not started. Workers stay at most `window` blocks ahead of
//! the fold, so memory is bounded by the window, not by `n`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Condvar, Mutex, mpsc};

/// How the items are cut and how many threads work on them.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub block: usize,
    pub jobs: usize,
    /// Blocks done and not yet folded, at most.
    pub window: usize,
}

impl Plan {
    /// Blocks of `block` items over `jobs` threads (at least one of each), four blocks a thread
    /// ahead of the fold.
    pub fn new(block: usize, jobs: usize) -> Plan {
        let jobs = jobs.max(1);
        Plan {
            block: block.max(1),
            jobs,
            window: 4 * jobs,
        }
    }
}

struct Gate {
    /// The next block to hand out.
    next: usize,
    /// Blocks folded so far.
    folded: usize,
    /// Blocks at and after this one are not handed out (the first failure, or the end).
    limit: usize,
}

/// The gate the workers take blocks from and the fold moves, with the signal that it moved.
struct Shared {
    gate: Mutex<Gate>,
    moved: Condvar,
    window: usize,
}

impl Shared {
    /// The next block, once the fold is close enough behind; `None` when no block is left to
    /// hand out (or the lock is poisoned).
    fn take(&self) -> Option<usize> {
        let mut g = self.gate.lock().ok()?;
        loop {
            if g.next >= g.limit {
                return None;
            }
            if g.next < g.folded + self.window {
                break;
            }
            g = self.moved.wait(g).ok()?;
        }
        g.next += 1;
        Some(g.next - 1)
    }

    /// The fold is at `folded`; with `limit`, blocks from there on are not handed out.
    fn moved(&self, limit: Option<usize>, folded: usize) {
        if let Ok(mut g) = self.gate.lock() {
            g.folded = folded;
            if let Some(l) = limit {
                g.limit = g.limit.min(l);
            }
        }
        self.moved.notify_all();
    }
}

/// Run `work` over `0..n` in the blocks of `plan`, `fold` each block's result in order.
/// `init` makes a thread's state; when it fails, that thread's first block fails with its error.
pub fn run<S, T, E>(
    n: usize,
    plan: Plan,
    init: impl Fn() -> Result<S, E> + Sync,
    work: impl Fn(&mut S, Range<usize>) -> Result<T, E> + Sync,
    mut fold: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    E: Send,
{
    let blocks = n.div_ceil(plan.block);
    let range = |b: usize| b * plan.block..((b + 1) * plan.block).min(n);
    let jobs = plan.jobs.min(blocks);
    if jobs <= 1 {
        if blocks == 0 {
            return Ok(());
        }
        let mut state = init()?;
        for b in 0..blocks {
            fold(work(&mut state, range(b))?)?;
        }
        return Ok(());
    }
    let shared = Shared {
        gate: Mutex::new(Gate {
            next: 0,
            folded: 0,
            limit: blocks,
        }),
        moved: Condvar::new(),
        window: plan.window,
    };
    let (tx, rx) = mpsc::channel::<(usize, Result<T, E>)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (shared, init, work, range) = (&shared, &init, &work, &range);
            s.spawn(move || worker(shared, init, |st: &mut S, b| work(st, range(b)), &tx));
        }
        drop(tx);
        let result = fold_in_order(blocks, &rx, &shared, &mut fold);
        if let Err((_, folded)) = &result {
            shared.moved(Some(0), *folded);
        }
        result.map_err(|(e, _)| e)
    })
}

/// One thread: takes blocks until none is left, does each with its state (made at its first
/// block; a state that failed to start fails that block) and sends the result.
fn worker<S, T, E>(
    shared: &Shared,
    init: impl Fn() -> Result<S, E>,
    work: impl Fn(&mut S, usize) -> Result<T, E>,
    tx: &mpsc::Sender<(usize, Result<T, E>)>,
) {
    let mut state: Option<Result<S, E>> = None;
    while let Some(b) = shared.take() {
        let out = match state.get_or_insert_with(&init) {
            Ok(st) => work(st, b),
            Err(_) => match state.take() {
                Some(Err(e)) => Err(e),
                _ => unreachable!("the state failed to start"),
            },
        };
        if tx.send((b, out)).is_err() {
            return;
        }
    }
}

/// Folds the blocks the workers send, in block order, until all are folded, one fails, or the
/// workers are gone; a failure stops the hand-out (with how far the fold got).
fn fold_in_order<T, E>(
    blocks: usize,
    rx: &mpsc::Receiver<(usize, Result<T, E>)>,
    shared: &Shared,
    fold: &mut impl FnMut(T) -> Result<(), E>,
) -> Result<(), (E, usize)> {
    let mut pending: BTreeMap<usize, Result<T, E>> = BTreeMap::new();
    let mut folded = 0;
    while folded < blocks {
        let Ok((b, out)) = rx.recv() else {
            // every worker has gone (a panic, re-raised when the scope joins them)
            return Ok(());
        };
        if out.is_err() {
            // nothing after the first failure is started
            shared.moved(Some(b + 1), folded);
        }
        pending.insert(b, out);
        while let Some(out) = pending.remove(&folded) {
            folded += 1;
            if let Err(e) = out.and_then(&mut *fold) {
                shared.moved(Some(0), folded);
                return Err((e, folded));
            }
        }
        shared.moved(None, folded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums of squares per block, folded into one list: the same for every plan.
    fn squares(n: usize, plan: Plan, fail_at: Option<usize>) -> Result<Vec<usize>, String> {
        let mut seen = Vec::new();
        run(
            n,
            plan,
            || Ok::<_, String>(0usize),
            |calls, r| {
                *calls += 1;
                r.map(|i| match fail_at {
                    Some(f) if i == f => Err(format!("item {i}")),
                    _ => Ok(i * i),
                })
                .collect::<Result<Vec<_>, _>>()
            },
            |v| {
                seen.extend(v);
                Ok(())
            },
        )?;
        Ok(seen)
    }

    #[test]
    fn every_plan_folds_the_same_in_order() {
        let want: Vec<usize> = (0..103).map(|i| i * i).collect();
        for (block, jobs) in [(1, 1), (7, 1), (1, 4), (7, 2), (16, 3), (200, 4)] {
            let got = squares(103, Plan::new(block, jobs), None).unwrap();
            assert_eq!(got, want, "block {block} jobs {jobs}");
        }
        assert_eq!(
            squares(0, Plan::new(8, 4), None).unwrap(),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn the_first_failure_in_order_is_returned() {
        for (block, jobs) in [(1, 1), (5, 2), (3, 4)] {
            let got = squares(100, Plan::new(block, jobs), Some(42));
            assert_eq!(got, Err("item 42".to_string()), "block {block} jobs {jobs}");
        }
    }

    #[test]
    fn a_thread_that_cannot_start_fails_its_block() {
        let got = run(
            10,
            Plan::new(2, 3),
            || Err::<(), _>("no state".to_string()),
            |_, r| Ok::<_, String>(r.len()),
            |_| Ok(()),
        );
        assert_eq!(got, Err("no state".to_string()));
    }

    #[test]
    fn workers_stay_within_the_window() {
        let ahead = Mutex::new(0usize);
        let folded = Mutex::new(0usize);
        let plan = Plan {
            block: 1,
            jobs: 3,
            window: 2,
        };
        run(
            40,
            plan,
            || Ok::<_, ()>(()),
            |_, r| {
                let f = *folded.lock().unwrap();
                let mut a = ahead.lock().unwrap();
                *a = (*a).max(r.start - f);
                Ok(())
            },
            |_| {
                *folded.lock().unwrap() += 1;
                Ok(())
            },
        )
        .unwrap();
        // a block is handed out only while it is fewer than `window` ahead of the fold
        assert!(*ahead.lock().unwrap() < plan.window, "{ahead:?}");
    }
}
