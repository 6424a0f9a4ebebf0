//! Probabilistic concurrency testing: random task priorities with `d - 1`
//! random demotions per execution
//! ([`Strategy::Pct`](crate::check::Strategy::Pct)).

use super::{derive, Scheduler};
use crate::executor::TaskId;
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;

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

#[cfg(test)]
mod tests {
    use super::*;

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
