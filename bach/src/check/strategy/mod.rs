//! Exploration strategies: the [`Scheduler`] trait every search drives its
//! executions with, and the built-in schedulers, one file each — random
//! walk (`random`), probabilistic concurrency testing (`pct`), depth-first
//! enumeration (`dfs`), depth-first search with dynamic partial-order
//! reduction (`dpor`), bounded search, fewest deviations first
//! (`bounded`), and breadth-first search over choice prefixes (`bfs`).
//!
//! A leaf of the crate: the explorer (`check::explorer`) picks and runs a
//! scheduler, which sees task ids and numbers of options, and — through
//! [`StepObserver`], for the reduction — what each step of a task touched.

mod bfs;
mod bounded;
mod dfs;
mod dpor;
mod pct;
mod random;

pub(crate) use bfs::{Bfs, BfsNode};
pub(crate) use bounded::{Bounded, Cost};
pub(crate) use dfs::Dfs;
pub(crate) use dpor::{Dpor, Order};
pub(crate) use pct::Pct;
pub(crate) use random::RandomWalk;

use crate::{check::footprint::Footprint, executor::TaskId};
use std::fmt;

/// A strategy that drives the choices of many executions of one body
/// (shuttle's `Scheduler`): start an execution, choose among `n`, pick the
/// next task, produce a random word.
///
/// Implement it to plug a custom search into
/// [`Explorer::scheduler`](super::Explorer::scheduler); the built-in ones
/// are selected with [`Strategy`](super::Strategy).
pub trait Scheduler {
    /// Prepares the next execution. Returns `false` when the strategy has
    /// nothing left to explore (an exhausted tree, a spent budget).
    fn next_execution(&mut self) -> bool;

    /// Picks one of `options` (at least 2) alternatives.
    fn choose(&mut self, options: usize) -> usize;

    /// Picks which of `tasks` (at least 2 ready tasks contending for shared
    /// resources, oldest first) runs next. Defaults to
    /// `choose(tasks.len())`.
    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        self.choose(tasks.len())
    }

    /// A random 64-bit word for sampled values (latencies, `bach::rand`).
    /// Not called when [`Self::words_seed`] returns a seed.
    fn next_u64(&mut self) -> u64;

    /// If this execution's random words are simply those of
    /// `Xoshiro256PlusPlus::seed_from_u64(seed)`, that seed: words are then
    /// drawn by the explorer itself and replay tokens store the seed
    /// instead of every word. The default, `None`, records each word.
    fn words_seed(&self) -> Option<u64> {
        None
    }

    /// Whether the current execution is still replaying a prefix an
    /// earlier execution already explored (states seen there are not new).
    /// Model checking skips fingerprints while this is `true`.
    fn replaying(&self) -> bool {
        false
    }

    /// Whether the current execution should end at the next step boundary
    /// (a breadth-first frontier was reached).
    fn stop(&self) -> bool {
        false
    }

    /// What a search stopped before its end covered, for its report (e.g.
    /// "every execution with at most 2 delays explored"); `None` if it
    /// cannot say.
    fn covered(&self) -> Option<String> {
        None
    }
}

/// What a dependency-aware search learns about each step of a task (one
/// poll), installed on a simulation's scheduling points next to its choice
/// source (`kernel::interleave`). Steps are reported in the order they run.
pub(crate) trait StepObserver {
    /// `task` is about to be polled at simulated time `now` (nanoseconds);
    /// `next_task` is the id the next spawned task will get. Returns
    /// `false` when the execution is redundant from here (every schedule
    /// it can still reach is equivalent to one already explored): the
    /// simulation then stops it.
    fn polling(&mut self, task: TaskId, now: u64, next_task: u64) -> bool;

    /// The poll of `task` reported by [`StepObserver::polling`] touched
    /// `touched`; tasks numbered from that call's `next_task` up to this
    /// `next_task` were spawned by it.
    fn polled(&mut self, task: TaskId, touched: &Footprint, next_task: u64);
}

impl fmt::Debug for dyn Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scheduler")
    }
}

/// Seeds of independent streams derived from one seed.
fn derive(seed: u64, stream: u64) -> u64 {
    // SplitMix64 finaliser over (seed, stream).
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
