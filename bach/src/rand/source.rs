//! The choice source: the trait every nondeterministic decision is drawn
//! through, and [`Seeded`], the default source. A leaf: the random API of
//! `bach::rand` and the run loop consult it; it consults nothing.

use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Where a simulation's choices come from.
pub trait ChoiceSource {
    /// Picks one of `options` alternatives, returning an index in
    /// `0..options`. `options` is at least 1; with exactly 1 an
    /// implementation should return 0 without consuming anything.
    fn choose(&mut self, options: usize) -> usize;

    /// A uniformly distributed 64-bit word.
    fn next_u64(&mut self) -> u64;

    /// Picks which of the ready tasks `tasks` runs next (an index into
    /// `tasks`), when the simulation explores interleavings
    /// ([`Simulation::interleavings`]). `tasks` holds at least two tasks,
    /// oldest first, that contend for shared resources. The default is
    /// `choose(tasks.len())`; strategies that track tasks (PCT's
    /// priorities) override it.
    ///
    /// [`Simulation::interleavings`]: crate::Simulation::interleavings
    fn schedule(&mut self, tasks: &[crate::executor::TaskId]) -> usize {
        self.choose(tasks.len())
    }

    /// Whether this source has decided anything yet (a choice among
    /// several options or a random word). Sources that do not track it
    /// say `false`. Used to refuse handing a simulation to a fuzzer after
    /// its seed already decided something.
    fn consulted(&self) -> bool {
        false
    }

    /// How to reproduce this run, for failure messages
    /// (e.g. `"seed 7; rerun with BACH_SEED=7"`).
    fn reproduce(&self) -> String {
        "a custom choice source".to_string()
    }
}

/// The default choice source: a seeded `Xoshiro256PlusPlus`.
#[derive(Clone, Debug)]
pub struct Seeded {
    rng: Xoshiro256PlusPlus,
    seed: u64,
}

impl Seeded {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            seed,
        }
    }

    /// The seed this source started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl ChoiceSource for Seeded {
    #[inline]
    fn choose(&mut self, options: usize) -> usize {
        assert!(
            options > 0,
            "ChoiceSource::choose needs at least one option"
        );
        if options == 1 {
            return 0;
        }
        self.rng.random_range(0..options)
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn consulted(&self) -> bool {
        // Every decision advances the generator.
        self.rng != Xoshiro256PlusPlus::seed_from_u64(self.seed)
    }

    fn reproduce(&self) -> String {
        format!("seed {0}; rerun with BACH_SEED={0}", self.seed)
    }
}
