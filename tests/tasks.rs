//! Tasks: spawning, joining, aborting, naming, groups, wakes and yields.

use bach::{
    ext::*,
    group::{self, Group},
    task::{self, yield_now, JoinHandle},
    time::Instant,
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

#[test]
fn join_handle_returns_the_output() {
    bach::sim(|| {
        async {
            let handle = async {
                1.s().sleep().await;
                "done"
            }
            .spawn();
            assert!(!handle.is_finished());
            assert_eq!(handle.await.unwrap(), "done");
            assert_eq!(Instant::now(), Instant::from_duration(1.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn non_send_futures_and_outputs_are_allowed() {
    bach::sim(|| {
        let shared = Rc::new(Cell::new(1));
        let s = shared.clone();
        async move {
            let out: Rc<u32> = async move {
                s.set(2);
                Rc::new(7)
            }
            .spawn()
            .await
            .unwrap();
            assert_eq!(*out, 7);
            assert_eq!(shared.get(), 2);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn abort_before_completion_cancels_and_drops_the_future() {
    bach::sim(|| {
        async {
            let dropped = Rc::new(Cell::new(false));
            struct Flag(Rc<Cell<bool>>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.set(true);
                }
            }
            let flag = Flag(dropped.clone());
            let handle = async move {
                let _flag = flag;
                10.s().sleep().await;
                "finished"
            }
            .spawn();
            1.s().sleep().await;
            handle.abort();
            assert!(
                !dropped.get(),
                "dropped on the task's next turn, like tokio"
            );
            let error = handle.await.unwrap_err();
            assert!(dropped.get());
            assert!(error.is_cancelled());
            assert!(!error.is_panic());
            assert_eq!(error.to_string(), "task #1 was cancelled");
            assert_eq!(Instant::now(), Instant::from_duration(1.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    bach::sim(|| {
        async {
            let handle = async { 5 }.spawn();
            1.ms().sleep().await;
            assert!(handle.is_finished());
            handle.abort();
            assert_eq!(handle.await.unwrap(), 5);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn abort_of_an_unpolled_task_never_runs_it() {
    bach::sim(|| {
        async {
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let handle = async move { r.set(true) }.spawn();
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
            assert!(!ran.get());
        }
        .primary()
        .spawn();
    });
}

#[test]
fn a_task_can_abort_itself_through_its_handle() {
    bach::sim(|| {
        async {
            let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let s = slot.clone();
            let after = Rc::new(Cell::new(false));
            let a = after.clone();
            let handle = async move {
                yield_now().await;
                s.borrow().as_ref().unwrap().abort();
                yield_now().await;
                a.set(true);
            }
            .spawn();
            // Keep a second view of the task through a detached copy.
            *slot.borrow_mut() = Some(handle);
            10.ms().sleep().await;
            assert!(!after.get(), "the task stopped at its next yield");
            let handle = slot.borrow_mut().take().unwrap();
            assert!(handle.is_finished());
            assert!(handle.await.unwrap_err().is_cancelled());
        }
        .primary()
        .spawn();
    });
}

#[test]
fn detached_tasks_keep_running() {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    bach::sim(move || {
        drop(
            async move {
                5.s().sleep().await;
                d.set(true);
            }
            .spawn(),
        );
    });
    assert!(done.get());
}

#[test]
fn spawned_tasks_run_in_spawn_order_and_yield_round_robin() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    bach::sim(move || {
        for name in ["a", "b", "c"] {
            let l = l.clone();
            async move {
                for round in 0..2 {
                    l.borrow_mut().push(format!("{name}{round}"));
                    yield_now().await;
                }
            }
            .spawn();
        }
    });
    assert_eq!(*log.borrow(), ["a0", "b0", "c0", "a1", "b1", "c1"]);
}

#[test]
fn each_wake_causes_exactly_one_poll() {
    /// Wakes itself `extra` times per poll, then completes after `polls`.
    struct Noisy {
        polls: Rc<Cell<u32>>,
        wakes_per_poll: u32,
    }
    impl Future for Noisy {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.polls.get() == 3 {
                return Poll::Ready(());
            }
            for _ in 0..self.wakes_per_poll {
                cx.waker().wake_by_ref();
                // Waking an owned clone goes through a different vtable entry.
                #[allow(clippy::waker_clone_wake)]
                cx.waker().clone().wake();
            }
            Poll::Pending
        }
    }
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    bach::sim(move || {
        Noisy {
            polls: p,
            wakes_per_poll: 5,
        }
        .spawn();
    });
    assert_eq!(
        polls.get(),
        3,
        "ten wakes per poll still mean one poll each"
    );
}

#[test]
fn stale_wakers_do_not_wake_a_new_task_in_the_same_slot() {
    let stash: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new(0));
    let (s, p) = (stash.clone(), polls.clone());
    let mut sim = Simulation::new();
    sim.enter(move || {
        std::future::poll_fn(move |cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .spawn();
    });
    sim.run_until_idle();
    sim.enter(move || {
        // Reuses the finished task's slot.
        std::future::poll_fn(move |_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        })
        .spawn();
    });
    sim.run_until_idle();
    assert_eq!(polls.get(), 1);
    stash.borrow_mut().take().unwrap().wake();
    sim.run_until_idle();
    assert_eq!(polls.get(), 1, "the old waker must not poll the new task");
}

#[test]
fn task_names_ids_and_groups_are_queryable() {
    bach::sim(|| {
        async {
            let me = task::current();
            assert_eq!(me.name(), Some("leader"));
            assert_eq!(me.group().name(), "replica-1");
            assert_eq!(group::current().name(), "replica-1");
            let child = async {
                let info = task::current();
                (
                    info.group().name().to_string(),
                    info.name().map(str::to_string),
                )
            }
            .spawn()
            .await
            .unwrap();
            assert_eq!(
                child,
                ("replica-1".to_string(), None),
                "children inherit the node"
            );
            let elsewhere = async { group::current().name().to_string() }
                .group("replica-2")
                .spawn()
                .await
                .unwrap();
            assert_eq!(elsewhere, "replica-2");
        }
        .group("replica-1")
        .primary()
        .spawn_named("leader");
        assert_eq!(group::current().name(), "main");
        assert!(task::try_current().is_none());
    });
}

#[test]
fn group_scopes_an_await_inside_a_task() {
    bach::sim(|| {
        async {
            let inside = async { group::current().name().to_string() }
                .group("b")
                .await;
            assert_eq!(inside, "b");
            assert_eq!(group::current().name(), "a");
            assert_eq!(task::current().group().name(), "a");
        }
        .group("a")
        .primary()
        .spawn();
    });
}

#[test]
fn groups_are_interned_per_simulation_in_creation_order() {
    let names = |order: &'static [&'static str]| {
        bach::sim(move || {
            for name in order {
                drop(async {}.group(name));
            }
            group::list()
                .iter()
                .map(|g| (g.index(), g.name().to_string()))
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        names(&["x", "y", "x"]),
        [(0, "main".into()), (1, "x".into()), (2, "y".into())]
    );
    assert_eq!(names(&["y"]), [(0, "main".into()), (1, "y".into())]);
    bach::sim(|| {
        assert_eq!(Group::lookup("nope"), None);
        assert_eq!(Group::new("n").index(), 1);
        assert_eq!(Group::lookup("n").unwrap().name(), "n");
    });
}

#[test]
fn waker_used_on_another_thread_panics_clearly() {
    let waker = Rc::new(RefCell::new(None));
    let w = waker.clone();
    bach::sim(move || {
        std::future::poll_fn(move |cx| {
            *w.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .spawn();
    });
    let waker = waker.borrow_mut().take().unwrap();
    let result = std::thread::spawn(move || waker.wake()).join();
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("used on an OS thread that runs no bach simulation"),
        "{message}"
    );
}

#[test]
fn wakes_from_test_code_between_steps_reach_the_task() {
    let waker = Rc::new(RefCell::new(None));
    let done = Rc::new(Cell::new(false));
    let (w, d) = (waker.clone(), done.clone());
    let mut sim = Simulation::new();
    sim.enter(move || {
        let mut first = true;
        std::future::poll_fn(move |cx| {
            if std::mem::take(&mut first) {
                *w.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            d.set(true);
            Poll::Ready(())
        })
        .spawn();
    });
    sim.run_until_idle();
    assert!(!done.get());
    waker.borrow_mut().take().unwrap().wake(); // outside `enter`
    sim.run_until_idle();
    assert!(done.get());
}

#[bach::test]
async fn bach_test_runs_the_body_as_a_primary_task() {
    assert!(bach::is_active());
    1.s().sleep().await;
    assert_eq!(Instant::now(), Instant::from_duration(1.s()));
}

#[bach::test(seed = 5, time_limit = "2s")]
async fn bach_test_takes_a_seed_and_a_time_limit() {
    use bach::rand::ChoiceSource;
    let drawn: u64 = bach::rand::gen();
    assert_eq!(
        drawn,
        bach::rand::Seeded::new(5).next_u64(),
        "seeded with 5"
    );
    1.s().sleep().await;
}

#[bach::test(time_limit = "2s")]
#[should_panic(expected = "time limit of 2s exceeded")]
async fn bach_test_time_limit_is_enforced() {
    5.s().sleep().await;
}
