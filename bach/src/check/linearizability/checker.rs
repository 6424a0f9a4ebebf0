//! Checking a whole history: validate it, split it with the model's
//! partition, search every partition (in parallel, on worker threads) and
//! combine the outcomes into one [`CheckResult`].
//!
//! Workers take partitions from a shared counter, largest first so that a
//! big partition does not start last. The result does not depend on the
//! number of threads or their timing: with
//! [`Options::stop_at_first_failure`], a failure in partition `p` cancels
//! only partitions after `p` (in the model's order), so every partition
//! before it is decided and the lowest failing partition is the one
//! reported. Only a time limit, which reads the wall clock, can make two
//! runs of the same check differ.

use super::{
    history::{ops_of_events, ops_of_operations, Event, HistoryError, Op, Operation, Ties},
    model::Model,
    report::{CheckResult, Witness},
    search::{check_partition, Outcome},
};
use std::{
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
    thread,
    time::{Duration, Instant},
};

/// How a check runs: threads, time limit, what to report, how to read
/// equal times. [`Options::default`] (the same as [`Options::new`]) uses
/// every core, has no time limit and stops at the first failure.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `None`: one per core.
    threads: Option<usize>,
    time_limit: Option<Duration>,
    /// Run every partition, reporting every failure.
    every_failure: bool,
    ties: Ties,
}

impl Options {
    /// The defaults: every core, no time limit, stop at the first failure,
    /// [`Ties::ReturnBeforeCall`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks partitions on `n` threads (`0`, the default: one per core, as
    /// [`std::thread::available_parallelism`] reports; never more than
    /// there are partitions). With one, the calling thread does all the
    /// work. The result does not depend on it.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = (n > 0).then_some(n);
        self
    }

    /// Gives up after `limit` of wall-clock time: partitions not decided by
    /// then make the result [`CheckResult::Unknown`] (unless another
    /// partition failed). No limit by default.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Whether to stop at the first failing partition — the default, which
    /// reports the failing partition with the lowest position — or check
    /// every partition and report each failing one.
    pub fn stop_at_first_failure(mut self, stop: bool) -> Self {
        self.every_failure = !stop;
        self
    }

    /// How equal times of a return and a call are read
    /// ([`Ties::ReturnBeforeCall`] by default).
    pub fn ties(mut self, ties: Ties) -> Self {
        self.ties = ties;
        self
    }
}

/// Checks whether a history of operations is linearizable with respect to
/// `model`.
///
/// Fails, without checking, if an operation has an output but no return
/// time (or the other way round) or returns before its call, or if the
/// model's partition is invalid; the error names the operation by its
/// position in `history`, as the witness does.
pub fn check_operations<M: Model + ?Sized>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    options: Options,
) -> Result<CheckResult, HistoryError> {
    check(model, ops_of_operations(history)?, &options)
}

/// Checks whether a history of events is linearizable with respect to
/// `model`. Calls without a return never returned.
///
/// Fails, without checking, on a return without an earlier call, a return
/// timed before its call, two calls or two returns with the same id, or an
/// invalid partition; the error names the event id, as the witness does.
pub fn check_events<M: Model + ?Sized>(
    model: &M,
    history: &[Event<M::Input, M::Output>],
    options: Options,
) -> Result<CheckResult, HistoryError> {
    check(model, ops_of_events(history)?, &options)
}

fn check<M: Model + ?Sized>(
    model: &M,
    ops: Vec<Op<'_, M::Input, M::Output>>,
    options: &Options,
) -> Result<CheckResult, HistoryError> {
    let parts = partition(model, &ops)?;
    let deadline = options
        .time_limit
        .and_then(|limit| Instant::now().checked_add(limit));
    // Largest first; empty partitions are linearizable and never searched.
    let mut order: Vec<usize> = (0..parts.len()).filter(|&p| !parts[p].is_empty()).collect();
    order.sort_by_key(|&p| std::cmp::Reverse(parts[p].len()));
    let threads = options
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .min(order.len())
        .max(1);

    let next = AtomicUsize::new(0);
    let lowest_failure = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut outcomes = Vec::new();
        while let Some(&p) = order.get(next.fetch_add(1, Relaxed)) {
            let stop = || {
                (!options.every_failure && lowest_failure.load(Relaxed) < p)
                    || deadline.is_some_and(|deadline| Instant::now() >= deadline)
            };
            if stop() {
                outcomes.push((p, Outcome::Stopped));
                continue;
            }
            let part: Vec<Op<'_, M::Input, M::Output>> = parts[p].iter().map(|&i| ops[i]).collect();
            let outcome = check_partition(model, &part, p, options.ties, &stop);
            if matches!(outcome, Outcome::Violation(_)) {
                lowest_failure.fetch_min(p, Relaxed);
            }
            outcomes.push((p, outcome));
        }
        outcomes
    };
    let outcomes = if threads == 1 {
        work()
    } else {
        // The calling thread is one of the workers: a check that is over
        // before the others wake costs them nothing but their start.
        thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .map(|index| {
                    thread::Builder::new()
                        .name(format!("bach-linearizability-{index}"))
                        .spawn_scoped(scope, work)
                        .expect("the OS can spawn a checker thread")
                })
                .collect();
            let mut outcomes = work();
            for helper in helpers {
                // A panic in the model reaches the caller as it is.
                outcomes.extend(
                    helper
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
            outcomes
        })
    };
    Ok(combine(outcomes, parts.len(), options.every_failure))
}

/// The model's partition of `ops`, checked: every operation in exactly one
/// part.
fn partition<M: Model + ?Sized>(
    model: &M,
    ops: &[Op<'_, M::Input, M::Output>],
) -> Result<Vec<Vec<usize>>, HistoryError> {
    let inputs: Vec<&M::Input> = ops.iter().map(|op| op.input).collect();
    let parts = model.partition(&inputs);
    let mut seen = vec![false; ops.len()];
    for &i in parts.iter().flatten() {
        let invalid = |reason| Err(HistoryError::InvalidPartition { reason });
        match seen.get_mut(i) {
            None => {
                return invalid(format!(
                    "it names position {i}, but the history has {} operation(s)",
                    ops.len()
                ))
            }
            Some(true) => return invalid(format!("operation {} is in two parts", ops[i].id)),
            Some(slot) => *slot = true,
        }
    }
    match seen.iter().position(|&seen| !seen) {
        Some(i) => Err(HistoryError::InvalidPartition {
            reason: format!("operation {} is in no part", ops[i].id),
        }),
        None => Ok(parts),
    }
}

/// One verdict from the partitions' outcomes.
fn combine(
    mut outcomes: Vec<(usize, Outcome)>,
    partitions: usize,
    every_failure: bool,
) -> CheckResult {
    outcomes.sort_by_key(|(p, _)| *p);
    let mut failures = Vec::new();
    let mut unfinished = Vec::new();
    for (p, outcome) in outcomes {
        match outcome {
            Outcome::Linearizable => {}
            Outcome::Violation(failure) => failures.push(failure),
            Outcome::Stopped => unfinished.push(p),
        }
    }
    if !every_failure {
        // Partitions after the lowest failure may have failed too, on
        // threads that got there first: reporting them would depend on
        // timing.
        failures.truncate(1);
    }
    if !failures.is_empty() {
        CheckResult::NotLinearizable(Witness {
            partitions,
            failures,
        })
    } else if !unfinished.is_empty() {
        CheckResult::Unknown {
            unfinished,
            partitions,
        }
    } else {
        CheckResult::Linearizable
    }
}
