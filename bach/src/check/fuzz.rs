//! Fuzzing simulations with bolero: the fuzzer's input drives every choice.
//!
//! Inside `bolero::check!().run(..)`, [`fuzz`] runs a simulation whose
//! choice source is bolero's current driver: task orders (interleavings are
//! explored), [`rand::choose`](crate::rand::choose)/`pick`/`shuffle`, and
//! every sampled value (latencies, fault decisions, `bach::rand`) come from
//! the input bytes. So `cargo bolero test` (libFuzzer, AFL, honggfuzz) steers
//! the simulation by coverage, plain `cargo test` runs bolero's random
//! engine and replays its corpus, and a failure prints `BACH_REPLAY=<token>`
//! next to bolero's own report.
//!
//! [`fuzz_choices`] draws only the discrete choices from bolero and samples
//! values from `BACH_SEED`'s generator: use it with bolero's exhaustive
//! engine (`check!().exhaustive()`), which then enumerates every schedule
//! and every `rand::choose` outcome exactly once (enumerating raw 64-bit
//! words would never end).
//!
//! `bach::sim` itself stays seeded inside `check!`: outside a harness,
//! bolero's default driver reads OS randomness, which would silently break
//! a simulation's reproducibility, so the switch is explicit.

use super::{explorer::RecordingSource, strategy::Scheduler};
use crate::Simulation;
use bolero_generator::any::{any, Any as _};
use std::{cell::RefCell, rc::Rc};

/// A [`Scheduler`] over bolero's current driver (the fuzzer's input inside
/// `bolero::check!().run(..)`).
#[derive(Clone, Copy, Debug)]
pub struct Bolero {
    words_seed: Option<u64>,
}

impl Bolero {
    /// Every choice and every random word from the driver.
    pub fn new() -> Self {
        Self { words_seed: None }
    }

    /// Discrete choices from the driver; random words from
    /// `Xoshiro256PlusPlus` seeded with `seed` (for the exhaustive engine).
    pub fn choices_only(seed: u64) -> Self {
        Self {
            words_seed: Some(seed),
        }
    }
}

impl Default for Bolero {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler for Bolero {
    fn next_execution(&mut self) -> bool {
        true
    }

    fn choose(&mut self, options: usize) -> usize {
        (0..options).any()
    }

    fn next_u64(&mut self) -> u64 {
        any()
    }

    fn words_seed(&self) -> Option<u64> {
        self.words_seed
    }
}

fn run<F: FnOnce() -> R, R>(sim: Simulation, scheduler: Bolero, body: F) -> R {
    if sim.env_replay {
        // BACH_REPLAY reruns the recorded execution without the fuzzer.
        let mut sim = sim;
        return sim.run(body);
    }
    let (source, _) = RecordingSource::new(
        Rc::new(RefCell::new(scheduler)),
        true,
        true,
        None,
        "fuzzing input".into(),
    );
    sim.interleavings(true).choice_source(source).run(body)
}

/// Runs `body` (as [`Simulation::run`] does) with every choice from
/// bolero's driver, interleavings explored; see [`bach::check`](crate::check).
///
/// ```
/// bolero::check!().with_iterations(20).run(|| {
///     bach::check::fuzz(|| {
///         use bach::ext::*;
///         async {
///             let delay = bach::rand::gen_range(0..100u64);
///             delay.ms().sleep().await;
///         }
///         .primary()
///         .spawn();
///     })
/// });
/// ```
#[track_caller]
pub fn fuzz<F: FnOnce() -> R, R>(body: F) -> R {
    run(Simulation::new(), Bolero::new(), body)
}

/// [`fuzz`] on a configured simulation (time limit, capture, trace…); its
/// choice source is replaced by bolero's driver.
#[track_caller]
pub fn fuzz_with<F: FnOnce() -> R, R>(sim: Simulation, body: F) -> R {
    run(sim, Bolero::new(), body)
}

/// Like [`fuzz`], but only discrete choices come from bolero; random words
/// come from `BACH_SEED` (or 0). Pair it with `check!().exhaustive()`.
#[track_caller]
pub fn fuzz_choices<F: FnOnce() -> R, R>(body: F) -> R {
    fuzz_choices_with(Simulation::new(), body)
}

/// [`fuzz_choices`] on a configured simulation.
#[track_caller]
pub fn fuzz_choices_with<F: FnOnce() -> R, R>(sim: Simulation, body: F) -> R {
    run(
        sim,
        Bolero::choices_only(crate::simulation::seed_from_env()),
        body,
    )
}
