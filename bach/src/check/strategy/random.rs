//! Random walk: every execution makes uniformly random choices from a seed
//! of its own, derived from the explorer's seed
//! ([`Strategy::Random`](crate::check::Strategy::Random)).

use super::{derive, Scheduler};
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
