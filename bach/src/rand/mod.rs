//! The simulation's single source of choices, and the random API on top.
//!
//! Every nondeterministic decision in a simulation — random numbers a task
//! asks for, network latency samples and fault decisions, and (when
//! exploring) the order of same-instant events — is drawn from one
//! [`ChoiceSource`] per simulation. By default that is [`Seeded`], a
//! `Xoshiro256PlusPlus` seeded from `BACH_SEED` (or 0), so one seed
//! reproduces one run. Exploration plugs other sources in (a fuzzer's bytes,
//! a model checker's schedule) through [`Simulation::choice_source`].
//!
//! The distinction matters to explorers: [`ChoiceSource::choose`] picks one
//! of `n` discrete alternatives (a branch point worth enumerating), while
//! [`ChoiceSource::next_u64`] produces raw entropy for sampled values.
//!
//! [`Simulation::choice_source`]: crate::Simulation::choice_source

pub(crate) mod source;

pub use crate::kernel::rng::SimRng;
pub use source::{ChoiceSource, Seeded};

use crate::kernel::current;
use rand::distr::{uniform::SampleRange, uniform::SampleUniform, Distribution, StandardUniform};

/// The current simulation's generator; see [`SimRng`].
pub fn rng() -> SimRng {
    SimRng::default()
}

/// Picks an index in `0..options` through the choice source: an explicit
/// branch point that explorers enumerate. Panics if `options` is 0.
#[track_caller]
pub fn choose(options: usize) -> usize {
    assert!(options > 0, "bach::rand::choose needs at least one option");
    current::with("bach::rand::choose", |kernel| {
        kernel.rand.borrow_mut().choose(options)
    })
}

/// A random value of type `T` (any type `rand`'s standard distribution
/// supports: integers, floats in `[0, 1)`, `bool`, tuples, arrays).
#[track_caller]
pub fn gen<T>() -> T
where
    StandardUniform: Distribution<T>,
{
    StandardUniform.sample(&mut rng())
}

/// Same as [`gen`] (for code on edition 2024, where `gen` is a keyword).
#[track_caller]
pub fn random<T>() -> T
where
    StandardUniform: Distribution<T>,
{
    gen()
}

/// A value uniformly distributed in `range` (`a..b` or `a..=b`). Panics on
/// an empty range.
#[track_caller]
pub fn gen_range<T, R>(range: R) -> T
where
    T: SampleUniform,
    R: SampleRange<T>,
{
    crate::kernel::rng::gen_range("bach::rand::gen_range", range)
}

/// `true` with probability `p`. Panics unless `0.0 <= p <= 1.0`. Under an
/// exhaustive search with
/// [`Explorer::enumerate_values`](crate::check::Explorer::enumerate_values)
/// both outcomes are explored (a `p` of 0 or 1 is no choice).
#[track_caller]
pub fn gen_bool(p: f64) -> bool {
    assert!(
        (0.0..=1.0).contains(&p),
        "bach::rand::gen_bool: probability {p} is not in [0, 1]"
    );
    if p == 0.0 {
        return false;
    }
    if p == 1.0 {
        return true;
    }
    crate::kernel::rng::gen_bool(p)
}

/// Shuffles `items` uniformly; every swap is a choice explorers enumerate.
#[track_caller]
pub fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = choose(i + 1);
        items.swap(i, j);
    }
}

/// One element of `items`, chosen through the choice source. Panics on an
/// empty slice.
#[track_caller]
pub fn pick<T>(items: &[T]) -> &T {
    assert!(
        !items.is_empty(),
        "bach::rand::pick called with an empty slice"
    );
    &items[choose(items.len())]
}

/// Fills `dst` with random bytes.
#[track_caller]
pub fn fill_bytes(dst: &mut [u8]) {
    crate::kernel::rng::fill_bytes(dst)
}
