//! Properties of a run: invariants, goals and prunes registered with
//! `bach::check`, checks of a whole run evaluated when it ends (such as
//! linearizability of a recorded history), and the values reported for
//! state fingerprints. Kernel
//! state, so that every way of running the world (by the clock, or a run
//! mode such as model checking) reaches the same properties; `check`
//! registers them and decides what they mean for a search.

use crate::check::fingerprint::FingerprintHasher;
use std::{collections::BTreeMap, hash::Hash, rc::Rc};

type Predicate = Rc<dyn Fn() -> bool>;

/// A check of a whole run: `Err` says what is wrong.
type Final = Rc<dyn Fn() -> Result<(), String>>;

/// Properties and reported state of one simulation.
#[derive(Default)]
pub(crate) struct Properties {
    // Shared lists: evaluating them after every step clones three `Rc`s,
    // not three vectors.
    invariants: Rc<Vec<(Rc<str>, Predicate)>>,
    goals: Rc<Vec<(Rc<str>, Predicate)>>,
    prunes: Rc<Vec<Predicate>>,
    finals: Rc<Vec<(Rc<str>, Final)>>,
    states: BTreeMap<Rc<str>, u64>,
}

/// What the properties concluded at a step boundary.
pub(crate) enum Verdict {
    Continue,
    Goal(Rc<str>),
    Pruned,
}

/// Registered properties and reported states, saved by
/// [`Properties::save`].
pub(crate) struct SavedProperties(Properties);

impl Properties {
    pub(crate) fn add_invariant(&mut self, name: &str, holds: impl Fn() -> bool + 'static) {
        Rc::make_mut(&mut self.invariants).push((name.into(), Rc::new(holds)))
    }

    pub(crate) fn add_goal(&mut self, name: &str, reached: impl Fn() -> bool + 'static) {
        Rc::make_mut(&mut self.goals).push((name.into(), Rc::new(reached)))
    }

    pub(crate) fn add_prune(&mut self, cut: impl Fn() -> bool + 'static) {
        Rc::make_mut(&mut self.prunes).push(Rc::new(cut))
    }

    /// Registers a check of the whole run, evaluated when it ends.
    pub(crate) fn add_final(
        &mut self,
        name: &str,
        check: impl Fn() -> Result<(), String> + 'static,
    ) {
        Rc::make_mut(&mut self.finals).push((name.into(), Rc::new(check)))
    }

    /// Whether any state was reported (`check::state`).
    pub(crate) fn reports_state(&self) -> bool {
        !self.states.is_empty()
    }

    /// Records the latest value (its hash) reported under `name`.
    pub(crate) fn report_state(&mut self, name: &str, hash: u64) {
        match self.states.get_mut(name) {
            Some(slot) => *slot = hash,
            None => {
                self.states.insert(name.into(), hash);
            }
        }
    }

    /// The registered properties and state values (model-checking
    /// checkpoints; the property lists are shared, not copied).
    pub(crate) fn save(&self) -> SavedProperties {
        SavedProperties(Properties {
            invariants: self.invariants.clone(),
            goals: self.goals.clone(),
            prunes: self.prunes.clone(),
            finals: self.finals.clone(),
            states: self.states.clone(),
        })
    }

    /// Puts properties and state values back as [`Properties::save`]
    /// found them.
    pub(crate) fn restore(&mut self, saved: &SavedProperties) {
        self.invariants.clone_from(&saved.0.invariants);
        self.goals.clone_from(&saved.0.goals);
        self.prunes.clone_from(&saved.0.prunes);
        self.finals.clone_from(&saved.0.finals);
        self.states.clone_from(&saved.0.states);
    }

    pub(crate) fn has_goals(&self) -> bool {
        !self.goals.is_empty()
    }

    pub(crate) fn hash_states(&self, hasher: &mut FingerprintHasher) {
        self.states.hash(hasher);
    }
}

/// Evaluates invariants, goals and prunes outside any borrow of
/// `properties` (predicates may read simulation state, and register
/// more). `Err` names the violated invariant.
pub(crate) fn evaluate(properties: &std::cell::RefCell<Properties>) -> Result<Verdict, String> {
    check_invariants(properties)?;
    let (goals, prunes) = {
        let props = properties.borrow();
        (props.goals.clone(), props.prunes.clone())
    };
    for (name, reached) in goals.iter() {
        if reached() {
            return Ok(Verdict::Goal(name.clone()));
        }
    }
    if prunes.iter().any(|prune| prune()) {
        return Ok(Verdict::Pruned);
    }
    Ok(Verdict::Continue)
}

/// Evaluates the invariants alone (outside any borrow of `properties`, as
/// [`evaluate`]): what a run by the clock checks after every step. `Err`
/// names the violated invariant.
pub(crate) fn check_invariants(properties: &std::cell::RefCell<Properties>) -> Result<(), String> {
    let invariants = properties.borrow().invariants.clone();
    for (name, holds) in invariants.iter() {
        if !holds() {
            return Err(format!("invariant `{name}` violated"));
        }
    }
    Ok(())
}

/// At the end of a run (by the clock, or a model-checking path): every
/// check of the whole run, in registration order, outside any borrow.
/// `Err` names the first that fails and says why.
pub(crate) fn check_finals(properties: &std::cell::RefCell<Properties>) -> Result<(), String> {
    let finals = properties.borrow().finals.clone();
    for (name, check) in finals.iter() {
        check().map_err(|why| format!("check `{name}` failed at the end of the run: {why}"))?;
    }
    Ok(())
}

/// At the end of a run by the clock: `Err` naming the goals when goals
/// are registered and none holds (evaluated outside any borrow).
pub(crate) fn check_goals_reached(
    properties: &std::cell::RefCell<Properties>,
) -> Result<(), String> {
    let goals = properties.borrow().goals.clone();
    if goals.is_empty() || goals.iter().any(|(_, reached)| reached()) {
        return Ok(());
    }
    let names: Vec<String> = goals.iter().map(|(name, _)| format!("`{name}`")).collect();
    Err(format!(
        "the run ended without reaching {} {}",
        if names.len() == 1 {
            "its goal"
        } else {
            "any of its goals"
        },
        names.join(", ")
    ))
}
