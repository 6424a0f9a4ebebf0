//! The choice source as a `rand` generator ([`SimRng`], public as
//! `bach::rand::SimRng`), for any code that is handed no kernel: it draws
//! from the current kernel's choice source (`current`).

use super::current;
use std::convert::Infallible;

/// A `rand` generator that draws from the current simulation's choice
/// source, for any `rand` API: `bach::rand::rng().random_range(..)`.
/// Using it outside a simulation panics.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimRng(());

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
    current::with("bach::rand", |kernel| kernel.rand.borrow_mut().next_u64())
}

/// Fills `dst` with bytes from the current simulation's choice source.
#[track_caller]
pub(crate) fn fill_bytes(dst: &mut [u8]) {
    current::with("bach::rand::fill_bytes", |kernel| {
        let mut source = kernel.rand.borrow_mut();
        for chunk in dst.chunks_mut(8) {
            let word = source.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    })
}

/// `true` with probability `p` (`0 < p < 1`), from the current simulation's
/// choice source: one random word, or — when the simulation enumerates
/// values — a choice between the likelier outcome (first) and the other.
#[track_caller]
pub(crate) fn gen_bool(p: f64) -> bool {
    let enumerate = current::with("bach::rand::gen_bool", |kernel| {
        kernel.enumerate_values.get()
    });
    if enumerate {
        let likelier = p >= 0.5;
        let chosen = current::with("bach::rand::gen_bool", |kernel| {
            kernel.rand.borrow_mut().choose(2)
        });
        return if chosen == 0 { likelier } else { !likelier };
    }
    rand::RngExt::random_bool(&mut SimRng::default(), p)
}

/// A value uniformly distributed in `range`, from the current simulation's
/// choice source; panics on an empty range (`what` names the call).
#[track_caller]
pub(crate) fn gen_range<T, R>(what: &str, range: R) -> T
where
    T: rand::distr::uniform::SampleUniform,
    R: rand::distr::uniform::SampleRange<T>,
{
    assert!(!range.is_empty(), "{what} called with an empty range");
    rand::RngExt::random_range(&mut SimRng::default(), range)
}
