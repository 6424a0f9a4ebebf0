//! Exploration strategies: the [`Scheduler`] trait and its engines — random
//! walk, PCT and depth-first enumeration.

use crate::executor::TaskId;
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
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
}

/// Seeds of independent streams derived from one seed.
fn derive(seed: u64, stream: u64) -> u64 {
    // SplitMix64 finaliser over (seed, stream).
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniformly random choices: execution `i` uses its own seed derived from
/// the explorer's seed, so every execution is independent and replayable.
pub(crate) struct RandomWalk {
    seed: u64,
    executions: u64,
    started: u64,
    rng: Xoshiro256PlusPlus,
}

impl RandomWalk {
    pub(crate) fn new(seed: u64, executions: u64) -> Self {
        Self {
            seed,
            executions,
            started: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    fn execution_seed(&self) -> u64 {
        derive(self.seed, self.started)
    }
}

impl Scheduler for RandomWalk {
    fn next_execution(&mut self) -> bool {
        if self.started == self.executions {
            return false;
        }
        self.started += 1;
        self.rng = Xoshiro256PlusPlus::seed_from_u64(derive(self.execution_seed(), 1));
        true
    }

    fn choose(&mut self, options: usize) -> usize {
        self.rng.random_range(0..options)
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.execution_seed())
    }
}

/// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010):
/// every task gets a random priority when first seen and the highest
/// priority ready task runs; at `depth - 1` random steps the task that
/// would run is demoted below every initial priority. A bug of depth `d`
/// among `n` tasks and `k` steps is found by one execution with
/// probability at least `1 / (n · k^(d-1))`. `k` is learnt: the largest
/// number of scheduling steps seen so far.
pub(crate) struct Pct {
    seed: u64,
    depth: usize,
    executions: u64,
    started: u64,
    rng: Xoshiro256PlusPlus,
    /// `(task, priority)`, few enough for a linear scan.
    priorities: Vec<(TaskId, u64)>,
    change_points: Vec<u64>,
    step: u64,
    max_steps: u64,
}

impl Pct {
    pub(crate) fn new(seed: u64, depth: usize, executions: u64) -> Self {
        assert!(depth >= 1, "PCT needs a depth of at least 1");
        Self {
            seed,
            depth,
            executions,
            started: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            priorities: Vec::new(),
            change_points: Vec::new(),
            step: 0,
            max_steps: 1,
        }
    }

    fn execution_seed(&self) -> u64 {
        derive(self.seed, self.started)
    }

    fn priority(&mut self, task: TaskId) -> u64 {
        if let Some((_, priority)) = self.priorities.iter().find(|(t, _)| *t == task) {
            return *priority;
        }
        // Initial priorities live above every demoted one.
        let priority = self.rng.next_u64() | (1 << 63);
        self.priorities.push((task, priority));
        priority
    }
}

impl Scheduler for Pct {
    fn next_execution(&mut self) -> bool {
        if self.started == self.executions {
            return false;
        }
        self.max_steps = self.max_steps.max(self.step);
        self.started += 1;
        self.rng = Xoshiro256PlusPlus::seed_from_u64(derive(self.execution_seed(), 1));
        self.priorities.clear();
        self.step = 0;
        self.change_points.clear();
        for _ in 1..self.depth {
            let point = self.rng.random_range(1..=self.max_steps);
            self.change_points.push(point);
        }
        true
    }

    fn choose(&mut self, options: usize) -> usize {
        self.rng.random_range(0..options)
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        self.step += 1;
        let best = |this: &mut Self| {
            (0..tasks.len())
                .max_by_key(|&i| (this.priority(tasks[i]), std::cmp::Reverse(tasks[i])))
                .expect("at least two tasks")
        };
        let mut pick = best(self);
        let step = self.step;
        if let Some(change) = self.change_points.iter().position(|&p| p == step) {
            // Demote the task about to run below all initial priorities;
            // later change points demote further.
            let demoted = (self.depth - change) as u64;
            let task = tasks[pick];
            if let Some(entry) = self.priorities.iter_mut().find(|(t, _)| *t == task) {
                entry.1 = demoted;
            }
            pick = best(self);
        }
        pick
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.execution_seed())
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    chosen: u64,
    options: u64,
}

/// Depth-first enumeration of the whole choice tree (stateless: each
/// execution replays the prefix to the next unexplored branch). Random
/// words come from one fixed seed, so only discrete choices branch.
pub(crate) struct Dfs {
    seed: u64,
    stack: Vec<Frame>,
    cursor: usize,
    /// Frames replayed from earlier executions (the last one is the branch
    /// this execution takes).
    prefix: usize,
    /// Frames that are never backtracked (a fixed starting path).
    floor: usize,
    started: bool,
}

impl Dfs {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            stack: Vec::new(),
            cursor: 0,
            prefix: 0,
            floor: 0,
            started: false,
        }
    }

    /// Depth-first search below a fixed path: `prefix` (`(chosen,
    /// options)` per choice) is replayed by every execution, never varied.
    pub(crate) fn below(seed: u64, prefix: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let stack: Vec<Frame> = prefix
            .into_iter()
            .map(|(chosen, options)| Frame { chosen, options })
            .collect();
        Self {
            seed,
            floor: stack.len(),
            stack,
            cursor: 0,
            prefix: 0,
            started: false,
        }
    }
}

impl Dfs {
    /// How many choices the current execution replays: the choice at
    /// `prefix() - 1` is the one [`Scheduler::next_execution`] changed.
    pub(crate) fn prefix(&self) -> usize {
        self.prefix
    }

    /// How many choices the current execution has made.
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// Continues the current execution from a saved state that had made
    /// `cursor` choices of its prefix.
    pub(crate) fn resume_at(&mut self, cursor: usize) {
        debug_assert!(cursor < self.prefix.max(1));
        self.cursor = cursor;
    }
}

impl Scheduler for Dfs {
    fn next_execution(&mut self) -> bool {
        self.cursor = 0;
        if !self.started {
            self.started = true;
            self.prefix = self.floor;
            return true;
        }
        while self.stack.len() > self.floor {
            let frame = self.stack.last_mut().expect("above the floor");
            if frame.chosen + 1 < frame.options {
                frame.chosen += 1;
                self.prefix = self.stack.len();
                return true;
            }
            self.stack.pop();
        }
        false
    }

    fn choose(&mut self, options: usize) -> usize {
        let options = options as u64;
        let at = self.cursor;
        self.cursor += 1;
        match self.stack.get(at) {
            Some(frame) => {
                assert_eq!(
                    frame.options, options,
                    "depth-first exploration replayed a prefix and reached a choice among {options} \
                     where the earlier execution had {} options: the body is nondeterministic \
                     (see Simulation::check_determinism)",
                    frame.options
                );
                frame.chosen as usize
            }
            None => {
                self.stack.push(Frame { chosen: 0, options });
                0
            }
        }
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Dfs draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.cursor < self.prefix
    }
}

/// One node of a parallel breadth-first search: replays `prefix`, records
/// how many options the first new choice had (the node's children), and
/// asks to stop at the next step boundary.
pub(crate) struct BfsNode {
    seed: u64,
    prefix: Vec<u32>,
    cursor: usize,
    pub(crate) children: Option<usize>,
    started: bool,
}

impl BfsNode {
    pub(crate) fn new(seed: u64, prefix: Vec<u32>) -> Self {
        Self {
            seed,
            prefix,
            cursor: 0,
            children: None,
            started: false,
        }
    }

    /// The child prefixes: one per option of the first new choice.
    pub(crate) fn children(&self) -> impl Iterator<Item = Vec<u32>> + '_ {
        (0..self.children.unwrap_or(0) as u32).map(|option| {
            let mut child = Vec::with_capacity(self.prefix.len() + 1);
            child.extend_from_slice(&self.prefix);
            child.push(option);
            child
        })
    }
}

impl Scheduler for BfsNode {
    fn next_execution(&mut self) -> bool {
        !std::mem::replace(&mut self.started, true)
    }

    fn choose(&mut self, options: usize) -> usize {
        let at = self.cursor;
        self.cursor += 1;
        if let Some(&chosen) = self.prefix.get(at) {
            return chosen as usize;
        }
        self.children.get_or_insert(options);
        0
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("BfsNode draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.cursor < self.prefix.len()
    }

    fn stop(&self) -> bool {
        self.children.is_some()
    }
}

/// Breadth-first search over choice prefixes (stateless: only prefixes
/// are kept). Each execution is one [`BfsNode`]: it replays its prefix,
/// takes the first new choice's first option and stops at the next step
/// boundary; the node's children (one prefix per option of that choice)
/// join the queue. So executions come in order of prefix length and the
/// first violation found has a shortest choice sequence.
pub(crate) struct Bfs {
    seed: u64,
    queue: std::collections::VecDeque<Vec<u32>>,
    node: Option<BfsNode>,
}

impl Bfs {
    pub(crate) fn new(seed: u64) -> Self {
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(Vec::new());
        Self {
            seed,
            queue,
            node: None,
        }
    }

    fn node(&self) -> &BfsNode {
        self.node.as_ref().expect("an execution was started")
    }
}

impl Scheduler for Bfs {
    fn next_execution(&mut self) -> bool {
        if let Some(done) = self.node.take() {
            self.queue.extend(done.children());
        }
        match self.queue.pop_front() {
            Some(prefix) => {
                let mut node = BfsNode::new(self.seed, prefix);
                node.next_execution();
                self.node = Some(node);
                true
            }
            None => false,
        }
    }

    fn choose(&mut self, options: usize) -> usize {
        self.node
            .as_mut()
            .expect("an execution was started")
            .choose(options)
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Bfs draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.node().replaying()
    }

    fn stop(&self) -> bool {
        self.node().stop()
    }
}

impl fmt::Debug for dyn Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scheduler")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `dfs` over a fixed tree shape: `shape[i]` options at depth i.
    fn leaves(shape: &[usize]) -> Vec<Vec<usize>> {
        let mut dfs = Dfs::new(0);
        let mut seen = Vec::new();
        while dfs.next_execution() {
            seen.push(shape.iter().map(|&n| dfs.choose(n)).collect());
        }
        seen
    }

    #[test]
    fn dfs_enumerates_every_leaf_once_in_order() {
        let seen = leaves(&[2, 3]);
        assert_eq!(
            seen,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
    }

    #[test]
    fn dfs_handles_trees_whose_shape_depends_on_choices() {
        let mut dfs = Dfs::new(0);
        let mut seen = Vec::new();
        while dfs.next_execution() {
            let first = dfs.choose(2);
            let path = if first == 0 {
                vec![first, dfs.choose(3)]
            } else {
                vec![first]
            };
            seen.push(path);
        }
        assert_eq!(seen, vec![vec![0, 0], vec![0, 1], vec![0, 2], vec![1]]);
    }

    #[test]
    fn random_walk_executions_are_reproducible_from_their_words_seed() {
        let mut walk = RandomWalk::new(9, 3);
        let mut seeds = Vec::new();
        while walk.next_execution() {
            seeds.push(walk.words_seed().unwrap());
        }
        assert_eq!(seeds.len(), 3);
        seeds.dedup();
        assert_eq!(seeds.len(), 3);
    }

    #[test]
    fn pct_with_depth_one_runs_a_fixed_priority_order() {
        let mut pct = Pct::new(1, 1, 1);
        assert!(pct.next_execution());
        let tasks = [TaskId(1), TaskId(2), TaskId(3)];
        let first = pct.schedule(&tasks);
        // Without change points the same task keeps winning.
        for _ in 0..10 {
            assert_eq!(pct.schedule(&tasks), first);
        }
        assert!(!pct.next_execution());
    }
}
