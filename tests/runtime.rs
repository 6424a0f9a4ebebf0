//! The run model: primaries, background tasks, deadlocks, panics, seeds,
//! time limits and step-by-step control.

use bach::{ext::*, rand, task, time::Instant, Simulation};
use std::{cell::RefCell, panic, rc::Rc, time::Duration};

fn panic_message(result: std::thread::Result<()>) -> String {
    let payload = result.expect_err("the simulation should have panicked");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        panic!("non-string panic payload")
    }
}

#[test]
fn primary_ends_the_run_before_background_tasks() {
    let mut sim = Simulation::new();
    let background_ticks = Rc::new(RefCell::new(0u32));
    let ticks = background_ticks.clone();
    sim.run(|| {
        async { 2.s().sleep().await }.primary().spawn();
        async move {
            for _ in 0..100 {
                1.s().sleep().await;
                *ticks.borrow_mut() += 1;
            }
        }
        .spawn();
    });
    assert_eq!(sim.elapsed(), 2.s());
    // Ticks at 1s and 2s ran; the one due at 2s fired at the same instant.
    assert!(
        *background_ticks.borrow() <= 2,
        "background ran past the primary"
    );
}

#[test]
fn background_tasks_are_dropped_inside_the_simulation() {
    struct Guard(Rc<RefCell<Option<bool>>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            *self.0.borrow_mut() = Some(bach::is_active());
        }
    }
    let dropped_inside = Rc::new(RefCell::new(None));
    let flag = dropped_inside.clone();
    bach::sim(|| {
        async { 1.ms().sleep().await }.primary().spawn();
        async move {
            let _guard = Guard(flag);
            100.s().sleep().await;
        }
        .spawn();
    });
    assert_eq!(*dropped_inside.borrow(), Some(true));
}

#[test]
fn without_primaries_runs_until_quiescent() {
    let mut sim = Simulation::new();
    sim.run(|| {
        async { 3.s().sleep().await }.spawn();
        async { 5.s().sleep().await }.spawn();
    });
    assert_eq!(sim.elapsed(), 5.s());
    assert_eq!(sim.live_tasks(), 0);
}

#[test]
fn idle_time_is_free() {
    let mut sim = Simulation::new();
    sim.run(|| {
        async { (24 * 3600).s().sleep().await }.primary().spawn();
    });
    assert_eq!(sim.elapsed(), Duration::from_secs(24 * 3600));
}

#[test]
fn deadlock_is_reported_immediately_with_names_and_nodes() {
    let result = panic::catch_unwind(|| {
        Simulation::new().seed(3).run(|| {
            async { 1.s().sleep().await }.spawn();
            async {
                std::future::pending::<()>().await;
            }
            .group("server")
            .primary()
            .spawn_named("waiter");
            async {
                5.ms().sleep().await;
                std::future::pending::<()>().await;
            }
            .group("client")
            .primary()
            .spawn();
        });
    });
    let message = panic_message(result);
    assert!(
        message.starts_with("deadlock at 0:00:01.000000000"),
        "{message}"
    );
    assert!(
        message.contains("seed 3; rerun with BACH_SEED=3"),
        "{message}"
    );
    assert!(
        message.contains("2 primary futures are still running"),
        "{message}"
    );
    assert!(
        message.contains("task `waiter` (#1) on node `server`"),
        "{message}"
    );
    assert!(message.contains("task #2 on node `client`"), "{message}");
}

#[test]
fn deadlock_names_primaries_that_were_never_spawned() {
    let result = panic::catch_unwind(|| {
        bach::sim(|| {
            let forgotten = async {}.primary();
            std::mem::forget(forgotten);
        });
    });
    let message = panic_message(result);
    assert!(
        message.contains("1 primary future was never polled"),
        "{message}"
    );
}

#[test]
fn task_panic_carries_task_node_time_and_seed() {
    let result = panic::catch_unwind(|| {
        Simulation::new().seed(42).run(|| {
            async {
                1500.ms().sleep().await;
                panic!("boom {}", 7);
            }
            .group("replica-2")
            .primary()
            .spawn_named("writer");
        });
    });
    let message = panic_message(result);
    assert_eq!(
        message,
        "task `writer` (#0) on node `replica-2` panicked at 0:00:01.500000000 \
         (seed 42; rerun with BACH_SEED=42): boom 7"
    );
}

#[test]
fn panicking_simulation_drops_its_tasks() {
    let dropped = Rc::new(RefCell::new(false));
    let flag = dropped.clone();
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        bach::sim(move || {
            struct Guard(Rc<RefCell<bool>>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    *self.0.borrow_mut() = true;
                }
            }
            async move {
                let _guard = Guard(flag);
                std::future::pending::<()>().await;
            }
            .spawn();
            async { panic!("fail") }.primary().spawn();
        });
    }));
    assert!(result.is_err());
    assert!(*dropped.borrow());
}

#[test]
fn panics_can_be_caught_per_task_like_tokio() {
    let mut sim = Simulation::new().abort_on_panic(false);
    sim.run(|| {
        async {
            let failing = async { panic!("inner failure") }.spawn();
            let error = failing.await.expect_err("the task panicked");
            assert!(error.is_panic());
            assert!(error.to_string().contains("inner failure"), "{error}");
        }
        .primary()
        .spawn();
    });
}

#[test]
fn time_limit_overrun_panics_with_context() {
    let result = panic::catch_unwind(|| {
        Simulation::new().seed(9).time_limit(10.s()).run(|| {
            async { 60.s().sleep().await }
                .group("slow")
                .primary()
                .spawn_named("sleeper");
        });
    });
    let message = panic_message(result);
    assert!(
        message.starts_with("time limit of 10s exceeded at 0:00:00.000000000"),
        "{message}"
    );
    assert!(message.contains("seed 9"), "{message}");
    assert!(
        message.contains("the next event is at 0:01:00.000000000"),
        "{message}"
    );
    assert!(
        message.contains("task `sleeper` (#0) on node `slow`"),
        "{message}"
    );
}

#[test]
fn runtime_use_outside_a_simulation_explains_itself() {
    assert!(!bach::is_active());
    let message = panic_message(panic::catch_unwind(|| {
        Instant::now();
    }));
    assert!(
        message.contains("`bach::time::Instant::now` was called outside a bach simulation"),
        "{message}"
    );
    let message = panic_message(panic::catch_unwind(|| {
        drop(bach::spawn(async {}));
    }));
    assert!(
        message.contains("`bach::spawn` was called outside"),
        "{message}"
    );
    let message = panic_message(panic::catch_unwind(|| {
        drop(async {}.primary());
    }));
    assert!(
        message.contains("`bach::ext::PrimaryExt::primary` was called outside"),
        "{message}"
    );
    bach::sim(|| assert!(bach::is_active()));
}

/// A trace of everything observable: who ran, when, with which random draws.
fn traced_run(seed: u64) -> Vec<String> {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let log = trace.clone();
    Simulation::new().seed(seed).run(move || {
        for i in 0..4 {
            let log = log.clone();
            async move {
                for _ in 0..5 {
                    let delay = rand::gen_range(1..100u64);
                    delay.ms().sleep().await;
                    let draw: u32 = rand::gen();
                    log.borrow_mut().push(format!(
                        "{} {} {}",
                        Instant::now(),
                        task::current().group(),
                        draw
                    ));
                }
            }
            .group(format!("node{i}"))
            .primary()
            .spawn();
        }
    });
    Rc::try_unwrap(trace).unwrap().into_inner()
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let a = traced_run(11);
    assert_eq!(a.len(), 20);
    assert_eq!(a, traced_run(11));
    assert_ne!(a, traced_run(12));
}

#[test]
fn step_runs_one_event_at_a_time() {
    let mut sim = Simulation::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    sim.enter(|| {
        async move {
            l.borrow_mut().push("start");
            1.s().sleep().await;
            l.borrow_mut().push("one");
            2.s().sleep().await;
            l.borrow_mut().push("three");
        }
        .spawn();
    });
    assert!(log.borrow().is_empty(), "enter runs no task");
    assert_eq!(sim.next_event_time(), None);
    assert!(sim.step());
    assert_eq!(*log.borrow(), ["start"]);
    assert_eq!(sim.now(), Instant::ZERO);
    assert_eq!(
        sim.next_event_time().map(|t| t.elapsed_since_start()),
        Some(1.s())
    );
    assert!(sim.step());
    assert_eq!(*log.borrow(), ["start", "one"]);
    assert_eq!(sim.elapsed(), 1.s());
    assert!(sim.step());
    assert_eq!(sim.elapsed(), 3.s());
    assert!(!sim.step());
    assert_eq!(sim.elapsed(), 3.s());
}

#[test]
fn run_for_moves_the_clock_exactly() {
    let mut sim = Simulation::new();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    sim.enter(|| {
        async move {
            for _ in 0..3 {
                700.ms().sleep().await;
                f.borrow_mut().push(Instant::now().elapsed_since_start());
            }
        }
        .spawn();
    });
    sim.run_for(1.s());
    assert_eq!(sim.elapsed(), 1.s());
    assert_eq!(*fired.borrow(), [700.ms()]);
    sim.run_for(400.ms());
    assert_eq!(sim.elapsed(), 1400.ms());
    assert_eq!(*fired.borrow(), [700.ms(), 1400.ms()]);
    sim.run_for(10.s());
    assert_eq!(sim.elapsed(), 11400.ms());
    assert_eq!(*fired.borrow(), [700.ms(), 1400.ms(), 2100.ms()]);
    // Nothing pending: the clock still moves exactly.
    sim.run_for(1.ns());
    assert_eq!(sim.elapsed(), 11400.ms() + 1.ns());
}

#[test]
fn timers_set_after_run_for_fire_at_the_right_time() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        async { 10.s().sleep().await }.spawn();
    });
    sim.run_for(3500.ms());
    let woke = Rc::new(RefCell::new(None));
    let w = woke.clone();
    sim.enter(|| {
        async move {
            250.ms().sleep().await;
            *w.borrow_mut() = Some(Instant::now());
        }
        .spawn();
    });
    sim.run_until_idle();
    assert_eq!(
        woke.borrow().map(|t| t.elapsed_since_start()),
        Some(3750.ms())
    );
    assert_eq!(sim.elapsed(), 10.s());
}

#[test]
fn run_until_stops_when_the_predicate_holds() {
    let mut sim = Simulation::new();
    let counter = Rc::new(RefCell::new(0));
    let c = counter.clone();
    sim.enter(|| {
        async move {
            loop {
                1.s().sleep().await;
                *c.borrow_mut() += 1;
            }
        }
        .spawn();
    });
    let c = counter.clone();
    assert!(sim.run_until(move || *c.borrow() == 3));
    assert_eq!(sim.elapsed(), 3.s());
}

#[test]
fn a_failed_simulation_cannot_be_reused() {
    let mut sim = Simulation::new();
    let first = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        sim.run(|| {
            async { panic!("first") }.primary().spawn();
        })
    }));
    assert!(first.is_err());
    let message = panic_message(panic::catch_unwind(panic::AssertUnwindSafe(|| {
        sim.step();
    })));
    assert!(message.contains("already failed"), "{message}");
}

#[test]
fn bach_seed_env_is_the_default_seed() {
    // Runs in a child process so the environment of other tests is untouched.
    if std::env::var("BACH_SEED_CHILD").is_ok() {
        let sim = Simulation::new();
        println!("{}", sim.reproduce());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([
            "bach_seed_env_is_the_default_seed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BACH_SEED_CHILD", "1")
        .env("BACH_SEED", "1234")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("seed 1234; rerun with BACH_SEED=1234"),
        "{stdout}"
    );
}

#[test]
fn simulations_nest_and_stay_separate() {
    bach::sim(|| {
        async {
            1.s().sleep().await;
            let inner_elapsed = {
                let mut inner = Simulation::new();
                inner.run(|| {
                    async { 5.s().sleep().await }.primary().spawn();
                });
                inner.elapsed()
            };
            assert_eq!(inner_elapsed, 5.s());
            assert_eq!(Instant::now().elapsed_since_start(), 1.s());
        }
        .primary()
        .spawn();
    });
}
