//! The seam between the network model and the simulation's single choice source.
//!
//! Every nondeterministic thing the model does (drop this packet? how long does
//! it take?) is a call on a [`Decisions`] value that the caller passes into
//! [`Network::send`](crate::Network::send). The runtime implements the trait on
//! its one per-simulation choice source (a seeded PRNG, the bolero driver, or the
//! model-checking explorer), so a seed, a fuzzer input or an explored path fully
//! determines every packet's fate. This module never owns randomness itself:
//! [`Seeded`] exists for tests and benchmarks of this crate and is *not* the
//! simulation's choice source.
//!
//! Faults are tagged with a [`Fault`] kind so an explorer can bound them by
//! kind (for example "at most two losses per path").

/// What a yes/no decision is about, so explorers can bound faults by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Whether a packet is lost on a link.
    Loss,
    /// Whether a packet is delivered twice.
    Duplicate,
    /// Whether a delivered copy has a bit flipped.
    Corrupt,
}

impl Fault {
    /// A short stable lowercase label: `"loss"`, `"duplicate"` or `"corrupt"`.
    #[inline]
    pub const fn as_str(self) -> &'static str {
        match self {
            Fault::Loss => "loss",
            Fault::Duplicate => "duplicate",
            Fault::Corrupt => "corrupt",
        }
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source of decisions: the only place the network model gets choices from.
///
/// Implementations must be deterministic functions of their own state. The
/// model calls these methods in a fixed, documented order (see
/// [`Network::send`](crate::Network::send)), so replaying the same answers
/// replays the same run.
pub trait Decisions {
    /// Returns `true` with probability `p` (`0.0 ..= 1.0`).
    ///
    /// `p <= 0.0` must return `false` and `p >= 1.0` must return `true`
    /// *without* consuming a decision, so fault-free links cost no choices.
    /// (The network model also skips those calls itself.)
    fn chance(&mut self, fault: Fault, p: f64) -> bool;

    /// Returns a uniform integer in `0..bound`.
    ///
    /// `bound` must be at least 1; `bound <= 1` returns 0 without consuming a
    /// decision.
    fn below(&mut self, bound: u64) -> u64;

    /// Returns a uniform `f64` in `[0, 1)`.
    fn unit(&mut self) -> f64;
}

impl<D: Decisions + ?Sized> Decisions for &mut D {
    #[inline]
    fn chance(&mut self, fault: Fault, p: f64) -> bool {
        (**self).chance(fault, p)
    }

    #[inline]
    fn below(&mut self, bound: u64) -> u64 {
        (**self).below(bound)
    }

    #[inline]
    fn unit(&mut self) -> f64 {
        (**self).unit()
    }
}

/// Asks `d` for a `fault` decision with probability `p`, without consulting it
/// when the answer is already certain. `NaN` counts as 0.
#[inline]
pub(crate) fn chance<D: Decisions + ?Sized>(d: &mut D, fault: Fault, p: f64) -> bool {
    // `!(p > 0.0)` rather than `p <= 0.0` so that NaN means "never".
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(p > 0.0) {
        false
    } else if p >= 1.0 {
        true
    } else {
        d.chance(fault, p)
    }
}

/// A small deterministic [`Decisions`] source (SplitMix64) for tests and
/// benchmarks of this crate.
///
/// It is **not** the simulation's choice source: the `bach` runtime passes its
/// own. It counts how many decisions it handed out, which tests use to check
/// that certain paths consume none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeded {
    state: u64,
    consumed: u64,
}

impl Seeded {
    /// Creates a source from `seed`; equal seeds give equal sequences.
    pub const fn new(seed: u64) -> Self {
        Self {
            state: seed,
            consumed: 0,
        }
    }

    /// How many decisions (`chance`, `below`, `unit` calls that drew a value)
    /// this source has handed out so far.
    pub const fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The next raw 64-bit value (SplitMix64).
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Decisions for Seeded {
    #[inline]
    fn chance(&mut self, _fault: Fault, p: f64) -> bool {
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(p > 0.0) {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit() < p
    }

    #[inline]
    fn below(&mut self, bound: u64) -> u64 {
        if bound <= 1 {
            return 0;
        }
        self.consumed += 1;
        // Lemire's multiply-and-reject: unbiased, and almost never loops.
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    #[inline]
    fn unit(&mut self) -> f64 {
        self.consumed += 1;
        // The top 53 bits fill an f64 mantissa exactly: uniform on a 2^-53 grid.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_chances_consume_nothing() {
        let mut d = Seeded::new(1);
        assert!(!d.chance(Fault::Loss, 0.0));
        assert!(d.chance(Fault::Loss, 1.0));
        assert!(!chance(&mut d, Fault::Loss, f64::NAN));
        assert_eq!(d.below(1), 0);
        assert_eq!(d.below(0), 0);
        assert_eq!(d.consumed(), 0);
        d.unit();
        assert_eq!(d.consumed(), 1);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Seeded::new(42);
        let mut b = Seeded::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.below(1000)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(1000)).collect();
        assert_eq!(xs, ys);
        let mut c = Seeded::new(43);
        let zs: Vec<u64> = (0..100).map(|_| c.below(1000)).collect();
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_is_uniform_and_in_range() {
        let mut d = Seeded::new(7);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[d.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn unit_is_in_half_open_range() {
        let mut d = Seeded::new(9);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let u = d.unit();
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / 100_000.0 - 0.5).abs() < 0.01);
    }

    #[test]
    fn below_never_reaches_bound() {
        bolero::check!()
            .with_type::<(u64, u64)>()
            .for_each(|&(seed, bound)| {
                let mut d = Seeded::new(seed);
                let v = d.below(bound);
                assert!(v < bound.max(1));
            });
    }
}
