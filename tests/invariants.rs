//! `check::invariant` holds in every way of running a simulation, not only
//! under model checking: a plain run, stepping, `run_for`, sweeps and the
//! interleaving explorer check every registered invariant after each step,
//! and fail at the step where it first breaks; a run that ends without
//! reaching any registered goal (`check::goal`) fails too.

use bach::{
    check::{self, Explorer, Sweep},
    ext::*,
    Simulation,
};
use std::{cell::Cell, panic, rc::Rc, time::Duration};

/// Runs `run`, which must panic, and checks that its message contains
/// `expected`; returns the message.
#[track_caller]
fn fails_with(expected: &str, run: impl FnOnce()) -> String {
    let payload =
        panic::catch_unwind(panic::AssertUnwindSafe(run)).expect_err("the run should have failed");
    let message = match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    };
    assert!(message.contains(expected), "{message}");
    message
}

#[test]
fn a_plain_run_fails_on_an_invariant_that_never_holds() {
    let message = fails_with("invariant `never` violated at 0:00:00.000000000", || {
        bach::sim(|| check::invariant("never", || false));
    });
    assert!(message.contains("BACH_SEED"), "{message}");
}

/// A counter that a task raises every 10 ms, with the invariant
/// "at most `limit`": broken at 10 ms × (limit + 1).
fn counting(limit: u64) -> impl Fn() {
    move || {
        let count = Rc::new(Cell::new(0u64));
        let seen = count.clone();
        check::invariant("at most the limit", move || seen.get() <= limit);
        async move {
            for _ in 0..10 {
                10.ms().sleep().await;
                count.set(count.get() + 1);
            }
        }
        .primary()
        .spawn();
    }
}

#[test]
fn a_plain_run_fails_at_the_step_where_the_invariant_breaks() {
    fails_with(
        "invariant `at most the limit` violated at 0:00:00.040000000",
        || bach::sim(counting(3)),
    );
}

#[test]
fn an_invariant_that_holds_lets_the_run_finish() {
    let mut sim = Simulation::new();
    sim.run(counting(10));
    assert_eq!(sim.elapsed(), Duration::from_millis(100));
}

#[test]
fn stepping_stops_at_the_violating_step() {
    let mut sim = Simulation::new();
    sim.enter(counting(1));
    // Steps while the invariant holds: the first poll, then the timers at
    // 10 ms (count 1) ...
    assert!(sim.step());
    assert!(sim.step());
    assert_eq!(sim.elapsed(), Duration::from_millis(10));
    // ... and the one at 20 ms breaks it.
    fails_with(
        "invariant `at most the limit` violated at 0:00:00.020000000",
        || {
            sim.step();
        },
    );
}

#[test]
fn run_for_checks_invariants() {
    let mut sim = Simulation::new();
    sim.enter(counting(2));
    fails_with("violated at 0:00:00.030000000", || {
        sim.run_for(Duration::from_secs(1))
    });
}

#[test]
fn a_sweep_reports_every_seed_that_breaks_an_invariant() {
    // The invariant breaks only for seeds whose sampled value is large.
    let body = || {
        let value = bach::rand::gen_range(0..10u32);
        check::invariant("small value", move || value < 7);
    };
    let report = Sweep::new(0..40)
        .stop_at_first_failure(false)
        .progress(false)
        .run(body);
    assert!(!report.is_ok());
    let failing: Vec<u64> = report.failures().iter().map(|f| f.seed).collect();
    for seed in 0..40u64 {
        let broke = panic::catch_unwind(|| Simulation::new().seed(seed).run(body)).is_err();
        assert_eq!(failing.contains(&seed), broke, "seed {seed}");
    }
    assert!(report
        .failures()
        .iter()
        .all(|f| f.message.contains("invariant `small value` violated")));
}

#[test]
fn the_interleaving_explorer_reports_an_invariant_violation() {
    // Two tasks race for a lock to add to a shared value; whoever holds it
    // leaves the value odd across a sleep: "even" breaks in every
    // execution, and the explorer must say so instead of "all explored".
    let body = || {
        let value = Rc::new(Cell::new(0u32));
        let seen = value.clone();
        check::invariant("even", move || seen.get() & 1 == 0);
        let lock = Rc::new(bach::sync::Mutex::new(()));
        for _ in 0..2 {
            let (value, lock) = (value.clone(), lock.clone());
            async move {
                let _guard = lock.lock().await;
                value.set(value.get() + 1);
                1.ms().sleep().await;
                value.set(value.get() + 1);
            }
            .primary()
            .spawn();
        }
    };
    let failure = Explorer::new()
        .progress(false)
        .try_run(body)
        .expect_err("the explorer finds the odd state");
    assert!(
        failure.message().contains("invariant `even` violated"),
        "{}",
        failure.message()
    );
}

#[test]
fn a_plain_run_that_ends_without_reaching_its_goal_fails() {
    let expected = "the run ended without reaching its goal `answered` at 0:00:00.010000000";
    fails_with(expected, || {
        bach::sim(|| {
            let answered = Rc::new(Cell::new(false));
            let seen = answered.clone();
            check::goal("answered", move || seen.get());
            async move {
                10.ms().sleep().await;
                // The answer never comes.
                drop(answered);
            }
            .primary()
            .spawn();
        })
    });
}

#[test]
fn a_plain_run_that_reaches_one_of_its_goals_passes() {
    let mut sim = Simulation::new();
    sim.run(|| {
        let count = Rc::new(Cell::new(0u32));
        let (a, b) = (count.clone(), count.clone());
        check::goal("ten", move || a.get() == 10);
        check::goal("a hundred", move || b.get() == 100);
        async move {
            for _ in 0..10 {
                1.ms().sleep().await;
                count.set(count.get() + 1);
            }
        }
        .primary()
        .spawn();
    });
    assert_eq!(sim.elapsed(), Duration::from_millis(10));
}
