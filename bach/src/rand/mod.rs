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

pub use source::{ChoiceSource, Seeded};

use crate::runtime::context;
use rand::{
    distr::{uniform::SampleRange, uniform::SampleUniform, Distribution, StandardUniform},
    RngExt as _,
};
use std::convert::Infallible;

/// A `rand` generator that draws from the current simulation's choice
/// source, for any `rand` API: `bach::rand::rng().random_range(..)`.
/// Using it outside a simulation panics.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimRng(());

/// The current simulation's generator; see [`SimRng`].
pub fn rng() -> SimRng {
    SimRng(())
}

impl rand::TryRng for SimRng {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(next_u64() as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        fill_bytes(dst);
        Ok(())
    }
}

#[inline]
#[track_caller]
fn next_u64() -> u64 {
    context::with("bach::rand", |inner| inner.rand.borrow_mut().next_u64())
}

/// Picks an index in `0..options` through the choice source: an explicit
/// branch point that explorers enumerate. Panics if `options` is 0.
#[track_caller]
pub fn choose(options: usize) -> usize {
    assert!(options > 0, "bach::rand::choose needs at least one option");
    context::with("bach::rand::choose", |inner| {
        inner.rand.borrow_mut().choose(options)
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
    assert!(
        !range.is_empty(),
        "bach::rand::gen_range called with an empty range"
    );
    rng().random_range(range)
}

/// `true` with probability `p`. Panics unless `0.0 <= p <= 1.0`.
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
    rng().random_bool(p)
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
    context::with("bach::rand::fill_bytes", |inner| {
        let mut source = inner.rand.borrow_mut();
        for chunk in dst.chunks_mut(8) {
            let word = source.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    })
}
