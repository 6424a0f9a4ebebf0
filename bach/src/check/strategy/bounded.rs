//! Bounded search ([`Strategy::DelayBounded`] and
//! [`Strategy::PreemptionBounded`]): every execution, fewest deviations
//! from the default schedule first.
//!
//! Each choice has a default — the oldest ready task (delay bounding) or
//! the task that ran last, while it is still ready (preemption bounding);
//! for any other choice (`rand::choose`, a fault when model checking),
//! option 0 — and deviating from it has a cost: picking option `i` of a
//! choice costs `i` delays, or one preemption. Bugs that need few
//! deviations (most: CHESS, Musuvathi and Qadeer, PLDI 2007; delay
//! bounding, Emmi, Qadeer and Rakamarić, POPL 2011) show up among the
//! first executions, wherever in the tree their deviations sit — a fault
//! at the root is tried after one execution, not after every interleaving
//! below the default.
//!
//! The search is iterative bounding without repeats: executions run in
//! order of total cost, then length. An execution is a prefix of choices
//! (its deviations) followed by defaults only; once it has run, each of
//! its default choices past the prefix yields children (the same prefix,
//! the defaults up to that choice, then one other option), queued by their
//! cost. Every sequence of choices is therefore run exactly once, and the
//! search ends, complete, when the queue is empty. Random words come from
//! one fixed seed, as in depth-first search.
//!
//! [`Strategy::DelayBounded`]: crate::check::Strategy::DelayBounded
//! [`Strategy::PreemptionBounded`]: crate::check::Strategy::PreemptionBounded

use super::Scheduler;
use crate::executor::TaskId;
use std::{cmp::Reverse, collections::BinaryHeap, rc::Rc};

/// What a deviation from the default costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cost {
    /// Option `i` of a choice costs `i` (the oldest ready task is the
    /// default schedule).
    Delays,
    /// Any option but the default costs 1 (the default schedule keeps the
    /// task that ran last while it is ready).
    Preemptions,
}

/// A prefix waiting to run: the first `at` choices of an execution that
/// ran (shared by all its children), then `option`. Ordered by cost, then
/// length, then insertion (ties run first queued, first run).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    cost: u32,
    at: usize,
    order: u64,
    parent: Rc<[u32]>,
    option: u32,
}

/// One choice of the running execution.
struct Made {
    chosen: u32,
    options: u32,
    /// The default option at this choice.
    default: u32,
}

/// The bounded search; see the module docs.
pub(crate) struct Bounded {
    seed: u64,
    cost: Cost,
    queue: BinaryHeap<Reverse<Queued>>,
    queued: u64,
    started: bool,
    /// The running execution: its prefix, its cost, its choices so far.
    prefix: Vec<u32>,
    prefix_cost: u32,
    made: Vec<Made>,
    /// The task scheduled last (preemption bounding's default).
    last: Option<TaskId>,
    /// The highest cost of an execution started so far.
    bound: u32,
}

impl Bounded {
    pub(crate) fn new(seed: u64, cost: Cost) -> Self {
        Self {
            seed,
            cost,
            queue: BinaryHeap::new(),
            queued: 0,
            started: false,
            prefix: Vec::new(),
            prefix_cost: 0,
            made: Vec::new(),
            last: None,
            bound: 0,
        }
    }

    fn option_cost(&self, option: u32, default: u32) -> u32 {
        if option == default {
            return 0;
        }
        match self.cost {
            Cost::Preemptions => 1,
            // The default is option 0: option `i` skips `i` alternatives.
            Cost::Delays => option,
        }
    }

    /// Queues the children of the execution that just ended.
    fn expand(&mut self) {
        // Past the prefix every choice took its default, at no cost.
        let cost = self.prefix_cost;
        if self.made.len() <= self.prefix.len() {
            return;
        }
        let parent: Rc<[u32]> = self.made.iter().map(|made| made.chosen).collect();
        for at in self.prefix.len()..self.made.len() {
            let made = &self.made[at];
            for option in 0..made.options {
                if option == made.default {
                    continue;
                }
                let child = cost + self.option_cost(option, made.default);
                self.queued += 1;
                self.queue.push(Reverse(Queued {
                    cost: child,
                    at,
                    order: self.queued,
                    parent: parent.clone(),
                    option,
                }));
            }
        }
    }

    fn decide(&mut self, options: usize, default: usize) -> usize {
        let at = self.made.len();
        let chosen = match self.prefix.get(at) {
            Some(&chosen) => {
                assert!(
                    (chosen as usize) < options,
                    "bounded exploration replayed a prefix and reached a choice among {options} \
                     where the earlier execution had more: the body is nondeterministic \
                     (see Simulation::check_determinism)"
                );
                chosen
            }
            None => default as u32,
        };
        self.made.push(Made {
            chosen,
            options: options as u32,
            default: default as u32,
        });
        chosen as usize
    }
}

impl Scheduler for Bounded {
    fn next_execution(&mut self) -> bool {
        if self.started {
            self.expand();
        }
        self.made.clear();
        self.last = None;
        if !self.started {
            self.started = true;
            self.prefix.clear();
            self.prefix_cost = 0;
            return true;
        }
        let Some(Reverse(next)) = self.queue.pop() else {
            return false;
        };
        self.bound = self.bound.max(next.cost);
        self.prefix.clear();
        self.prefix.extend_from_slice(&next.parent[..next.at]);
        self.prefix.push(next.option);
        self.prefix_cost = next.cost;
        true
    }

    fn choose(&mut self, options: usize) -> usize {
        self.decide(options, 0)
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        let default = match self.cost {
            Cost::Preemptions => self
                .last
                .and_then(|last| tasks.iter().position(|task| *task == last))
                .unwrap_or(0),
            Cost::Delays => 0,
        };
        let chosen = self.decide(tasks.len(), default);
        self.last = Some(tasks[chosen]);
        chosen
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Bounded draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.made.len() < self.prefix.len()
    }

    fn covered(&self) -> Option<String> {
        // Executions run in order of cost: all those cheaper than the
        // latest one started have run.
        let below = self.bound.checked_sub(1)?;
        let unit = match (self.cost, below) {
            (Cost::Delays, 1) => "delay",
            (Cost::Delays, _) => "delays",
            (Cost::Preemptions, 1) => "preemption",
            (Cost::Preemptions, _) => "preemptions",
        };
        Some(format!(
            "every execution with at most {below} {unit} explored"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search over a fixed tree shape: `shape[i]` options at
    /// depth i, all plain choices; returns the leaves in the order run.
    fn leaves(shape: &[usize], cost: Cost) -> Vec<Vec<usize>> {
        let mut search = Bounded::new(0, cost);
        let mut seen = Vec::new();
        while search.next_execution() {
            seen.push(shape.iter().map(|&n| search.choose(n)).collect());
        }
        seen
    }

    #[test]
    fn every_leaf_runs_once_fewest_delays_first() {
        let seen = leaves(&[2, 3, 2], Cost::Delays);
        assert_eq!(seen.len(), 12);
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 12);
        let costs: Vec<usize> = seen.iter().map(|leaf| leaf.iter().sum()).collect();
        assert!(costs.windows(2).all(|pair| pair[0] <= pair[1]), "{costs:?}");
        assert_eq!(seen[0], vec![0, 0, 0]);
    }

    #[test]
    fn a_deviation_at_the_root_runs_second() {
        // A deep tree below the default root choice does not delay the
        // other root option.
        let mut shape = vec![2];
        shape.extend([3; 8]);
        let seen = leaves(&shape, Cost::Preemptions);
        assert_eq!(seen[0][0], 0);
        assert!(
            seen[..=shape.len()].iter().any(|leaf| leaf[0] == 1),
            "the root's other option is among the one-deviation executions"
        );
    }

    #[test]
    fn preemption_bounding_keeps_the_running_task_by_default() {
        let mut search = Bounded::new(0, Cost::Preemptions);
        assert!(search.next_execution());
        let (a, b) = (TaskId(1), TaskId(2));
        assert_eq!(search.schedule(&[a, b]), 0);
        // `a` ran last and is still ready, even behind `b`: it continues.
        assert_eq!(search.schedule(&[b, a]), 1);
        // Children: one preemption at either choice.
        let mut runs = 1;
        while search.next_execution() {
            search.schedule(&[a, b]);
            search.schedule(&[b, a]);
            runs += 1;
        }
        assert_eq!(runs, 4);
    }
}
