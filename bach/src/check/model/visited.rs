//! The visited set of model checking: which states a search has reached,
//! and with how many faults left to spend.
//!
//! A state is a fingerprint ([`fingerprint`](super::fingerprint), which
//! leaves the fault budgets out) plus what the path had left when it
//! reached it ([`Left`]: the budgets `[drops, duplicates, corruptions,
//! crashes, restarts]` and the steps before the depth bound). A visit with
//! `b` left is *covered* by an earlier visit of the same fingerprint with
//! `a` left when `a ≥ b` in every component: from there the earlier visit
//! could choose every fault this one can, for at least as many steps (and
//! it behaves the same otherwise), so it reaches everything this one
//! reaches and the path can stop. A visit that is not covered goes on, and
//! what it had left is kept. (Without the steps, a state first reached
//! deep would prune a later visit nearer the root, whose paths the depth
//! bound cuts later: a depth-first search would say "complete" without
//! every state within the bound. A breadth-first search reaches each
//! state first at its least depth, so the steps never make it go on.)
//!
//! Per fingerprint the set keeps an antichain: the budget vectors of the
//! visits that went on, minus those a later one covers. Where no fault
//! budget is set every vector is zero, and the set is a set of
//! fingerprints; most models keep one vector per fingerprint, stored inline
//! (a second one moves them to a `Vec`). Look-ups only: no result depends
//! on the order of the map.
//!
//! The sequential searches [`insert`](VisitedStates::insert) every state
//! they examine; the parallel breadth-first search's workers ask a
//! read-only copy whether it [`covers`](VisitedStates::covers) a state,
//! and its coordinator replays their states in order with `insert`, so its
//! decisions are the sequential search's (covering only grows: a vector
//! is dropped only for one that covers it).

use crate::{check::fingerprint::FingerprintHasher, net::choices::BudgetCounts};

/// What a path has left to spend at a state: the fault budgets
/// ([`BudgetCounts`]), then the steps before the depth bound (`u32::MAX`
/// without one).
pub(crate) type Left = [u32; 6];

/// `budgets` and `steps` as one [`Left`].
pub(crate) fn left(budgets: BudgetCounts, steps: u32) -> Left {
    let [drops, duplicates, corruptions, crashes, restarts] = budgets;
    [drops, duplicates, corruptions, crashes, restarts, steps]
}
use std::{
    collections::{hash_map::Entry, HashMap},
    hash::BuildHasherDefault,
};

/// The states a model-checking search has visited (see the
/// [module docs](self)).
#[derive(Clone, Default)]
pub(crate) struct VisitedStates {
    /// Fingerprints are hashes already: the map mixes them with one
    /// folded multiply instead of SipHash.
    states: HashMap<u64, Kept, BuildHasherDefault<FingerprintHasher>>,
}

/// The budget vectors kept for one fingerprint, none covering another.
#[derive(Clone, Debug)]
enum Kept {
    One(Left),
    /// Two or more.
    Many(Vec<Left>),
}

/// Whether a visit with budgets `earlier` left covers one with `later`
/// left: at least as many of every fault.
#[inline]
fn covers(earlier: &Left, later: &Left) -> bool {
    earlier
        .iter()
        .zip(later)
        .all(|(earlier, later)| earlier >= later)
}

impl VisitedStates {
    /// Whether an earlier visit of `fingerprint` covers a visit with
    /// `budgets` left (the path can stop there).
    #[inline]
    pub(crate) fn covers(&self, fingerprint: u64, budgets: &Left) -> bool {
        match self.states.get(&fingerprint) {
            None => false,
            Some(Kept::One(kept)) => covers(kept, budgets),
            Some(Kept::Many(kept)) => kept.iter().any(|kept| covers(kept, budgets)),
        }
    }

    /// Records a visit of `fingerprint` with `budgets` left. Returns
    /// whether it was new: `false` if an earlier visit covers it (the path
    /// stops), `true` if not (its budgets are kept, and those it covers
    /// dropped).
    #[inline]
    pub(crate) fn insert(&mut self, fingerprint: u64, budgets: Left) -> bool {
        let mut entry = match self.states.entry(fingerprint) {
            Entry::Vacant(vacant) => {
                vacant.insert(Kept::One(budgets));
                return true;
            }
            Entry::Occupied(occupied) => occupied,
        };
        match entry.get_mut() {
            Kept::One(kept) => {
                if covers(kept, &budgets) {
                    return false;
                }
                if covers(&budgets, kept) {
                    *kept = budgets;
                } else {
                    let kept = *kept;
                    *entry.get_mut() = Kept::Many(vec![kept, budgets]);
                }
            }
            Kept::Many(kept) => {
                if kept.iter().any(|kept| covers(kept, &budgets)) {
                    return false;
                }
                kept.retain(|kept| !covers(&budgets, kept));
                if kept.is_empty() {
                    *entry.get_mut() = Kept::One(budgets);
                } else {
                    kept.push(budgets);
                }
            }
        }
        true
    }

    /// Distinct fingerprints visited (whatever the budgets left).
    pub(crate) fn fingerprints(&self) -> u64 {
        self.states.len() as u64
    }

    /// Budget vectors kept, over all fingerprints.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.states
            .values()
            .map(|kept| match kept {
                Kept::One(_) => 1,
                Kept::Many(kept) => kept.len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[drops, duplicates, corruptions, crashes, restarts, steps]`.
    const NONE: Left = [0; 6];

    #[test]
    fn without_budgets_it_is_a_set_of_fingerprints() {
        let mut visited = VisitedStates::default();
        assert!(visited.insert(7, NONE));
        assert!(!visited.insert(7, NONE));
        assert!(visited.insert(8, NONE));
        assert!(visited.covers(7, &NONE));
        assert!(!visited.covers(9, &NONE));
        assert_eq!(visited.fingerprints(), 2);
    }

    #[test]
    fn a_visit_with_a_fault_left_is_not_covered_by_one_without() {
        let mut visited = VisitedStates::default();
        // First reached after spending the only drop...
        assert!(visited.insert(1, [0, 0, 0, 0, 0, 0]));
        // ...then with the drop unspent: it can do more, so it goes on.
        assert!(visited.insert(1, [1, 0, 0, 0, 0, 0]));
        // Now both are covered, and the first vector was dropped.
        assert!(!visited.insert(1, [1, 0, 0, 0, 0, 0]));
        assert!(!visited.insert(1, [0, 0, 0, 0, 0, 0]));
        assert_eq!(visited.kept(), 1);
        assert_eq!(visited.fingerprints(), 1);
    }

    #[test]
    fn a_visit_covers_only_when_every_budget_is_at_least_as_large() {
        let mut visited = VisitedStates::default();
        assert!(visited.insert(1, [2, 0, 1, 0, 0, 0]));
        // Fewer or equal everywhere: covered.
        assert!(visited.covers(1, &[2, 0, 1, 0, 0, 0]));
        assert!(visited.covers(1, &[1, 0, 0, 0, 0, 0]));
        // More of any one fault, even with fewer of another: not covered.
        assert!(!visited.covers(1, &[3, 0, 0, 0, 0, 0]));
        assert!(!visited.covers(1, &[0, 1, 0, 0, 0, 0]));
        assert!(!visited.covers(1, &[0, 0, 0, 1, 0, 0]));
        assert!(!visited.covers(1, &[0, 0, 0, 0, 1, 0]));
        // Incomparable vectors are both kept, and cover together.
        assert!(visited.insert(1, [0, 1, 0, 0, 0, 0]));
        assert_eq!(visited.kept(), 2);
        assert!(visited.covers(1, &[2, 0, 0, 0, 0, 0]));
        assert!(visited.covers(1, &[0, 1, 0, 0, 0, 0]));
        assert!(!visited.covers(1, &[1, 1, 0, 0, 0, 0]));
        // One that covers both replaces both.
        assert!(visited.insert(1, [2, 1, 1, 0, 0, 0]));
        assert_eq!(visited.kept(), 1);
        // Steps left before the depth bound count as a budget.
        assert!(!visited.covers(1, &[0, 0, 0, 0, 0, 1]));
        assert!(visited.insert(3, [0, 0, 0, 0, 0, 5]));
        assert!(visited.covers(3, &[0, 0, 0, 0, 0, 4]));
        assert!(!visited.covers(3, &[0, 0, 0, 0, 0, 6]));
        // Other fingerprints are not affected.
        assert!(!visited.covers(2, &NONE));
    }

    /// One visit of a model test: a small fingerprint and small budgets,
    /// so that visits meet and compare often.
    type Visit = (u8, [u8; 6]);

    fn budgets(small: [u8; 6]) -> Left {
        small.map(|budget| u32::from(budget % 3))
    }

    /// Against every visit that went on, kept in a list: a visit is
    /// covered exactly when one of them has at least as much of every
    /// budget; the kept vectors never cover one another.
    fn check(visits: &[Visit]) {
        let mut visited = VisitedStates::default();
        let mut went_on: Vec<(u64, Left)> = Vec::new();
        for &(fingerprint, small) in visits {
            let (fingerprint, budgets) = (u64::from(fingerprint % 4), budgets(small));
            let covered = went_on
                .iter()
                .any(|(seen, kept)| *seen == fingerprint && covers(kept, &budgets));
            assert_eq!(visited.covers(fingerprint, &budgets), covered);
            let copy = visited.clone();
            assert_eq!(visited.insert(fingerprint, budgets), !covered);
            if covered {
                assert_eq!(visited.kept(), copy.kept(), "a covered visit keeps nothing");
            } else {
                went_on.push((fingerprint, budgets));
            }
            for kept in visited.states.values() {
                if let Kept::Many(kept) = kept {
                    assert!(kept.len() >= 2);
                    for (i, a) in kept.iter().enumerate() {
                        for b in &kept[i + 1..] {
                            assert!(!covers(a, b) && !covers(b, a), "{kept:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn matches_a_list_of_every_visit() {
        bolero::check!()
            .with_type::<Vec<Visit>>()
            .for_each(|visits| check(visits));
    }
}
