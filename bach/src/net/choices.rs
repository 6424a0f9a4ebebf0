//! The network model's decisions, drawn from the simulation's one choice
//! source.
//!
//! `bach_net` asks a [`Decisions`] value whether a packet is lost, corrupted
//! or duplicated and how long it travels. [`Choices`] answers from the
//! simulation's [`ChoiceSource`], so the seed (or a fuzzer's bytes) decides
//! every packet's fate:
//!
//! * `chance(fault, p)`: one raw 64-bit draw compared with `p · 2⁶⁴` (certain
//!   outcomes, `p <= 0` or `p >= 1`, draw nothing). Every fault decision is
//!   thus exactly one draw, whichever its probability, which keeps replay
//!   simple; an explorer that wants to branch on faults intercepts here.
//! * `below(n)`: an unbiased integer in `0..n` by multiply-and-reject over
//!   raw draws (usually one).
//! * `unit()`: the top 53 bits of one draw, as an `f64` in `[0, 1)`.
//!
//! The source is borrowed per draw, never across a call into user code.

use crate::rand::source::ChoiceSource;
use bach_net::{Decisions, Fault};
use std::cell::{Cell, RefCell};

/// [`Decisions`] over the simulation's choice source. In model-checking
/// mode (`budgets` set) each fault with a probability strictly between 0
/// and 1 is a two-way choice while its budget lasts, instead of a draw.
pub(crate) struct Choices<'a>(
    pub(crate) &'a RefCell<Box<dyn ChoiceSource>>,
    pub(crate) Option<&'a Budgets>,
);

impl<'a> Choices<'a> {
    #[inline]
    fn draw(&mut self) -> u64 {
        self.0.borrow_mut().next_u64()
    }

    #[cold]
    fn branch(&mut self, budgets: &Budgets, fault: Fault) -> bool {
        let budget = match fault {
            Fault::Loss => &budgets.drops,
            Fault::Duplicate => &budgets.duplicates,
            Fault::Corrupt => &budgets.corruptions,
        };
        if budget.get() == 0 {
            return false;
        }
        let happens = self.0.borrow_mut().choose(2) == 1;
        if happens {
            Budgets::spend(budget);
        }
        happens
    }
}

/// Fault budgets as numbers: `[drops, duplicates, corruptions, crashes,
/// restarts]`.
pub(crate) type BudgetCounts = [u32; 5];

/// Fault budgets of one model-checking execution: how many more drops,
/// duplicates and corruptions the search may choose on this path, and how
/// many node crashes and restarts (chosen by the model checker's run mode).
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    pub(crate) drops: Cell<u32>,
    pub(crate) duplicates: Cell<u32>,
    pub(crate) corruptions: Cell<u32>,
    pub(crate) crashes: Cell<u32>,
    pub(crate) restarts: Cell<u32>,
}

impl Budgets {
    /// The budgets left (model-checking checkpoints).
    pub(crate) fn save(&self) -> BudgetCounts {
        [
            self.drops.get(),
            self.duplicates.get(),
            self.corruptions.get(),
            self.crashes.get(),
            self.restarts.get(),
        ]
    }

    /// Sets the budgets left to what [`Budgets::save`] returned.
    pub(crate) fn restore(&self, saved: BudgetCounts) {
        self.drops.set(saved[0]);
        self.duplicates.set(saved[1]);
        self.corruptions.set(saved[2]);
        self.crashes.set(saved[3]);
        self.restarts.set(saved[4]);
    }

    /// Spends one unit of `budget` if there is one.
    pub(crate) fn spend(budget: &Cell<u32>) -> bool {
        match budget.get() {
            0 => false,
            left => {
                budget.set(left - 1);
                true
            }
        }
    }
}

/// `2⁶⁴` as a float, to scale probabilities to thresholds.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Decisions for Choices<'_> {
    #[inline]
    fn chance(&mut self, fault: Fault, p: f64) -> bool {
        // `!(p > 0.0)` so that NaN means "never".
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(p > 0.0) {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        if let Some(budgets) = self.1 {
            return self.branch(budgets, fault);
        }
        // `as` saturates, so p just below 1 maps to u64::MAX, not 0.
        let threshold = (p * TWO_POW_64) as u64;
        self.draw() < threshold
    }

    #[inline]
    fn below(&mut self, bound: u64) -> u64 {
        if bound <= 1 {
            return 0;
        }
        // Lemire's multiply-and-reject: unbiased, and almost never loops.
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.draw()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    #[inline]
    fn unit(&mut self) -> f64 {
        (self.draw() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::source::Seeded;

    fn source(seed: u64) -> RefCell<Box<dyn ChoiceSource>> {
        RefCell::new(Box::new(Seeded::new(seed)))
    }

    /// Counts draws, to check which decisions consume the source.
    struct Counting(std::rc::Rc<std::cell::Cell<u64>>);
    impl ChoiceSource for Counting {
        fn choose(&mut self, _options: usize) -> usize {
            0
        }
        fn next_u64(&mut self) -> u64 {
            self.0.set(self.0.get() + 1);
            u64::MAX / 2
        }
    }

    #[test]
    fn certain_outcomes_draw_nothing_and_others_draw_once() {
        let drawn = std::rc::Rc::new(std::cell::Cell::new(0));
        let cell: RefCell<Box<dyn ChoiceSource>> = RefCell::new(Box::new(Counting(drawn.clone())));
        let mut choices = Choices(&cell, None);
        assert!(!choices.chance(Fault::Loss, 0.0));
        assert!(!choices.chance(Fault::Loss, f64::NAN));
        assert!(choices.chance(Fault::Loss, 1.0));
        assert_eq!(choices.below(1), 0);
        assert_eq!(drawn.get(), 0);
        // A half-way draw against p = 0.6 and p = 0.4.
        assert!(choices.chance(Fault::Corrupt, 0.6));
        assert!(!choices.chance(Fault::Corrupt, 0.4));
        assert_eq!(drawn.get(), 2);
    }

    #[test]
    fn frequencies_match_probabilities() {
        let cell = source(3);
        let mut choices = Choices(&cell, None);
        let hits = (0..100_000)
            .filter(|_| choices.chance(Fault::Loss, 0.25))
            .count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        let mut counts = [0u32; 5];
        for _ in 0..50_000 {
            counts[choices.below(5) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
        assert!((0..1000).all(|_| (0.0..1.0).contains(&choices.unit())));
    }
}
