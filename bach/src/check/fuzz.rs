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
//! [`fuzz_setup`] gives the setup the whole [`Simulation`] (AnySystem
//! style: `add_process`, `send_local`, …) *after* the fuzzer's driver is
//! installed, so every stimulus it sends is steered by the input. A
//! simulation handed to [`fuzz_with`] whose seed already decided something
//! (a message sent, a value drawn) is refused with an error naming the
//! problem: those decisions would be outside the fuzzer's reach.
//!
//! Bolero reports a failure with its own panic ("test failed"), the
//! simulation's message and token only printed. [`fuzz_test`] wraps a
//! bolero harness so that its panic carries the last failing execution's
//! message and `BACH_REPLAY=<token>`; [`try_fuzz_test`] returns them as a
//! [`FuzzFailure`].
//!
//! `bach::sim` itself stays seeded inside `check!`: outside a harness,
//! bolero's default driver reads OS randomness, which would silently break
//! a simulation's reproducibility, so the switch is explicit.

use super::{explorer::RecordingSource, strategy::Scheduler};
use crate::{executor::join::panic_message, Simulation};
use bolero_generator::any::{any, Any as _};
use std::{
    cell::RefCell,
    fmt,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
    rc::Rc,
    sync::Mutex,
};

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

/// A failing execution under the fuzzer: what [`try_fuzz_test`] returns
/// and [`fuzz_test`]'s panic carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzFailure {
    message: String,
    token: String,
}

impl FuzzFailure {
    /// The failing execution's panic message (with its simulated time and
    /// how to reproduce it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The replay token (`BACH_REPLAY=<token>` reruns the execution).
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Display for FuzzFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the fuzzer found a failing execution: {}\nrerun it with BACH_REPLAY={}",
            self.message, self.token
        )
    }
}

/// The last execution that failed under the fuzzer (bolero reruns failing
/// inputs while shrinking: the last one is the one it reports).
static LAST_FAILURE: Mutex<Option<FuzzFailure>> = Mutex::new(None);

fn last_failure() -> std::sync::MutexGuard<'static, Option<FuzzFailure>> {
    LAST_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a bolero harness (a closure calling `bolero::check!()…run(..)`
/// around [`fuzz`] or its siblings) and returns the last failing
/// execution, if the harness failed.
pub fn try_fuzz_test(harness: impl FnOnce()) -> Result<(), FuzzFailure> {
    last_failure().take();
    let result = catch_unwind(AssertUnwindSafe(harness));
    let failure = last_failure().take();
    match (result, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(failure)) => Err(failure),
        // Not a simulation's failure (the harness itself panicked).
        (Err(payload), None) => resume_unwind(payload),
    }
}

/// [`try_fuzz_test`], panicking on a failure with a message that carries
/// the failing execution's message and `BACH_REPLAY=<token>` (bolero's own
/// panic says only "test failed").
///
/// ```
/// let caught = std::panic::catch_unwind(|| {
///     bach::check::fuzz_test(|| {
///         bolero::check!().with_iterations(200).run(|| {
///             bach::check::fuzz(|| {
///                 use bach::ext::*;
///                 async {
///                     assert!(bach::rand::gen_range(0..4u8) != 3, "three");
///                 }
///                 .primary()
///                 .spawn();
///             })
///         })
///     })
/// });
/// let payload = caught.unwrap_err();
/// let message = payload.downcast_ref::<String>().unwrap();
/// assert!(message.contains("BACH_REPLAY="), "{message}");
/// ```
#[track_caller]
pub fn fuzz_test(harness: impl FnOnce()) {
    if let Err(failure) = try_fuzz_test(harness) {
        panic!("{failure}");
    }
}

fn run<R>(sim: Simulation, scheduler: Bolero, setup: impl FnOnce(&mut Simulation) -> R) -> R {
    let mut sim = sim;
    if sim.env_replay {
        // BACH_REPLAY reruns the recorded execution without the fuzzer.
        let output = setup(&mut sim);
        sim.run(|| {});
        return output;
    }
    assert!(
        !sim.inner.rand.borrow().consulted(),
        "bach::check::fuzz_with: this simulation's seed already decided something before the \
         fuzzer took over (a message sent, a packet's fate, a value drawn in its setup), so \
         the fuzzer cannot reach it; configure the Simulation with builder options only and \
         send stimuli inside the fuzzed body, or use bach::check::fuzz_setup(|sim| ..)"
    );
    let (source, recording) = RecordingSource::new(
        Rc::new(RefCell::new(scheduler)),
        true,
        true,
        None,
        "fuzzing input".into(),
    );
    let mut sim = sim.interleavings(true).choice_source(source);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let output = setup(&mut sim);
        sim.run(|| {});
        output
    }));
    result.unwrap_or_else(|payload| {
        *last_failure() = Some(FuzzFailure {
            message: panic_message(payload.as_ref()).to_string(),
            token: recording.borrow().token(),
        });
        resume_unwind(payload)
    })
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
    run(Simulation::new(), Bolero::new(), |sim| sim.enter(body))
}

/// [`fuzz`] with a setup that gets the whole [`Simulation`] (AnySystem
/// style: `add_process`, `set_drop_rate`, `send_local`, …), run after the
/// fuzzer's driver is installed: every stimulus it sends is steered by the
/// input. The simulation then runs to its end.
#[track_caller]
pub fn fuzz_setup<R>(setup: impl FnOnce(&mut Simulation) -> R) -> R {
    run(Simulation::new(), Bolero::new(), setup)
}

/// [`fuzz`] on a configured simulation (time limit, capture, trace…); its
/// choice source is replaced by bolero's driver. Panics if the
/// simulation's seed already decided something (a message sent, a
/// packet's fate, a value drawn in its setup): those decisions would be
/// outside the fuzzer's reach. Configure the simulation with builder
/// options only and do the setup in `body`, or use [`fuzz_setup`].
#[track_caller]
pub fn fuzz_with<F: FnOnce() -> R, R>(sim: Simulation, body: F) -> R {
    run(sim, Bolero::new(), |sim| sim.enter(body))
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
        |sim| sim.enter(body),
    )
}
