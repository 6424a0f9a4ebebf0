//! Hot paths do not allocate: a sleep, a wake and a poll reuse storage the
//! simulation already has once it has reached its working size.
//!
//! One test per binary: the counter is process-wide, so nothing else may run
//! while a window is measured.

use bach::ext::*;
use bach_workspace::alloc_counter::{allocations, Counting};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    task::{Poll, Waker},
};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn steady_state_sleeps_and_wakes_allocate_nothing() {
    let windows = Rc::new(RefCell::new(Vec::new()));
    let w = windows.clone();
    bach::sim(move || {
        // Sequential sleeps in one task, with other timers around, near and
        // far. The timer queue's storage grows to its working size during
        // the warm-up, so the window sees only steady state.
        let w1 = w.clone();
        async move {
            let mut start = 0;
            for i in 0..3000u64 {
                if i == 1000 {
                    start = allocations();
                }
                if i == 2000 {
                    w1.borrow_mut().push(("sleep", allocations() - start));
                }
                (1 + i % 7).ms().sleep().await;
                if i % 3 == 0 {
                    drop(300.ms().sleep()); // created and cancelled
                }
            }
        }
        .primary()
        .spawn();

        // Cross-task wakes: a ping-pong through hand-written wake slots.
        let slot_a: Rc<RefCell<Option<Waker>>> = Rc::default();
        let slot_b: Rc<RefCell<Option<Waker>>> = Rc::default();
        let turn = Rc::new(Cell::new(0u64));
        for (me, mine, theirs) in [(0u64, slot_a.clone(), slot_b.clone()), (1, slot_b, slot_a)] {
            let turn = turn.clone();
            let w2 = w.clone();
            async move {
                let mut start = 0;
                for round in 0..3000u64 {
                    std::future::poll_fn(|cx| {
                        if turn.get() % 2 == me {
                            Poll::Ready(())
                        } else {
                            mine.borrow_mut()
                                .get_or_insert_with(|| cx.waker().clone())
                                .clone_from(cx.waker());
                            Poll::Pending
                        }
                    })
                    .await;
                    if me == 0 && round == 1000 {
                        start = allocations();
                    }
                    if me == 0 && round == 2000 {
                        w2.borrow_mut().push(("wake", allocations() - start));
                    }
                    turn.set(turn.get() + 1);
                    if let Some(waker) = theirs.borrow().as_ref() {
                        waker.wake_by_ref();
                    }
                    bach::task::yield_now().await;
                }
            }
            .primary()
            .spawn();
        }
    });
    let windows = windows.borrow();
    assert_eq!(windows.len(), 2, "both windows were measured");
    for (what, count) in windows.iter() {
        assert_eq!(
            *count, 0,
            "{what}: {count} allocations in 1000 steady-state iterations"
        );
    }
}
