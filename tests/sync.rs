//! `bach::sync`: every primitive's semantics (tokio's), close and drop
//! behaviour, FIFO fairness, permits, owned guards, and deadlock reports.

use bach::{
    ext::*,
    sync::{
        mpsc::{self, error::TryRecvError, error::TrySendError},
        oneshot, watch, AcquireError, Mutex, Notify, RwLock, Semaphore, TryAcquireError,
    },
    task::yield_now,
    time::{timeout, Instant},
};
use futures::StreamExt;
use std::{
    cell::{Cell, RefCell},
    panic,
    rc::Rc,
};

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// Counts drops of the values it wraps.
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

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

// ---------------------------------------------------------------- mpsc

#[test]
fn mpsc_delivers_in_order_then_none_when_every_sender_is_gone() {
    bach::sim(|| {
        let (tx, mut rx) = mpsc::channel(4);
        for base in [0, 100] {
            let tx = tx.clone();
            async move {
                for i in 0..10 {
                    tx.send(base + i).await.unwrap();
                    1.ms().sleep().await;
                }
            }
            .spawn();
        }
        drop(tx);
        async move {
            let mut got = Vec::new();
            while let Some(value) = rx.recv().await {
                got.push(value);
            }
            let firsts: Vec<_> = got.iter().copied().filter(|v| *v < 100).collect();
            assert_eq!(firsts, (0..10).collect::<Vec<_>>(), "per-sender order kept");
            assert_eq!(got.len(), 20);
            assert_eq!(rx.recv().await, None, "stays finished");
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_waiting_senders_are_served_first_in_first_out() {
    let order = log();
    let o = order.clone();
    bach::sim(move || {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send("fill").unwrap();
        for name in ["a", "b", "c"] {
            let tx = tx.clone();
            async move { tx.send(name).await.unwrap() }.spawn();
        }
        async move {
            1.ms().sleep().await; // every sender is now waiting
            assert_eq!(tx.capacity(), 0);
            assert!(matches!(
                tx.try_send("late"),
                Err(TrySendError::Full("late"))
            ));
            while let Ok(Some(value)) = timeout(5.ms(), rx.recv()).await {
                o.borrow_mut().push(value);
            }
        }
        .primary()
        .spawn();
    });
    assert_eq!(*order.borrow(), ["fill", "a", "b", "c"]);
}

#[test]
fn mpsc_try_send_and_try_recv_report_full_empty_and_disconnected() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::channel(1);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            tx.try_send(1).unwrap();
            let err = tx.try_send(2).unwrap_err();
            assert!(err.is_full());
            assert_eq!(err.into_inner(), 2);
            assert_eq!(rx.try_recv(), Ok(1));
            drop(tx);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

            let (tx, rx) = mpsc::channel::<u8>(1);
            drop(rx);
            assert!(tx.is_closed());
            assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
            assert_eq!(tx.send(4).await.unwrap_err().0, 4);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_permits_reserve_capacity_and_return_it_when_dropped() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::channel::<u32>(3);
            assert_eq!(tx.max_capacity(), 3);
            let permit = tx.reserve().await.unwrap();
            assert_eq!(tx.capacity(), 2);
            drop(permit);
            assert_eq!(tx.capacity(), 3);

            let mut many = tx.reserve_many(2).await.unwrap();
            assert_eq!(many.len(), 2);
            assert_eq!(tx.capacity(), 1);
            many.next().unwrap().send(10);
            drop(many); // the unused slot comes back
            assert_eq!(tx.capacity(), 2);
            assert!(tx.try_reserve_many(4).is_err(), "more than the capacity");
            assert!(tx.reserve_many(4).await.is_err());

            let owned = tx.clone().reserve_owned().await.unwrap();
            let tx2 = owned.send(11);
            assert!(tx2.same_channel(&tx));
            let owned = tx2.try_reserve_owned().unwrap();
            let tx3 = owned.release();
            assert_eq!(tx3.capacity(), 1);

            assert_eq!(rx.recv().await, Some(10));
            assert_eq!(rx.recv().await, Some(11));
            assert_eq!(rx.len(), 0);
            assert_eq!(rx.capacity(), 3);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_close_refuses_new_sends_but_lets_reserved_permits_finish() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::channel::<u32>(4);
            tx.send(1).await.unwrap();
            let permit = tx.clone().reserve_owned().await.unwrap();
            rx.close();
            assert!(tx.is_closed());
            assert!(tx.send(2).await.is_err());
            assert!(tx.try_reserve().is_err());
            assert_eq!(rx.recv().await, Some(1));
            // A permit is outstanding: recv waits for it instead of ending.
            async move {
                3.ms().sleep().await;
                drop(permit.send(3));
            }
            .spawn();
            assert_eq!(rx.recv().await, Some(3));
            assert_eq!(Instant::now(), Instant::from_duration(3.ms()));
            assert_eq!(rx.recv().await, None);
            drop(tx);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_dropping_the_receiver_fails_waiting_senders_and_drops_buffered_values() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    bach::sim(move || {
        let (tx, rx) = mpsc::channel(2);
        tx.try_send(Tracked(d.clone())).unwrap();
        tx.try_send(Tracked(d.clone())).unwrap();
        let d2 = d.clone();
        async move {
            let closed = tx.clone();
            let waiter = async move {
                closed.closed().await;
                Instant::now()
            }
            .spawn();
            let err = tx.send(Tracked(d2.clone())).await.unwrap_err();
            assert_eq!(Instant::now(), Instant::from_duration(2.ms()));
            assert_eq!(
                d2.get(),
                2,
                "the two buffered values were dropped with the receiver"
            );
            drop(err); // the value came back to the sender
            assert_eq!(d2.get(), 3);
            assert_eq!(waiter.await.unwrap(), Instant::from_duration(2.ms()));
        }
        .primary()
        .spawn();
        async move {
            2.ms().sleep().await;
            drop(rx);
        }
        .spawn();
    });
    assert_eq!(drops.get(), 3);
}

#[test]
fn mpsc_weak_senders_do_not_keep_the_channel_open() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::channel::<u8>(2);
            let weak = tx.downgrade();
            assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
            let upgraded = weak.upgrade().expect("a sender is alive");
            upgraded.send(1).await.unwrap();
            drop(upgraded);
            drop(tx);
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, None, "only a weak sender is left");
            assert!(weak.upgrade().is_none());
            assert_eq!(rx.sender_weak_count(), 1);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_receivers_are_streams_and_recv_many_batches() {
    bach::sim(|| {
        async {
            let (tx, rx) = mpsc::unbounded_channel();
            for i in 0..5 {
                tx.send(i).unwrap();
            }
            drop(tx);
            let all: Vec<i32> = rx.collect().await;
            assert_eq!(all, [0, 1, 2, 3, 4]);

            let (tx, mut rx) = mpsc::channel(8);
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            let mut buffer = Vec::new();
            assert_eq!(rx.recv_many(&mut buffer, 3).await, 3);
            assert_eq!(rx.recv_many(&mut buffer, 10).await, 2);
            assert_eq!(buffer, [0, 1, 2, 3, 4]);
            assert_eq!(rx.recv_many(&mut buffer, 0).await, 0);
            drop(tx);
            assert_eq!(rx.recv_many(&mut buffer, 1).await, 0);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_unbounded_never_waits_and_reports_closing() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::unbounded_channel();
            for i in 0..10_000 {
                tx.send(i).unwrap();
            }
            assert_eq!(rx.len(), 10_000);
            assert_eq!(rx.recv().await, Some(0));
            rx.close();
            assert_eq!(tx.send(1).unwrap_err().0, 1);
            let mut count = 1;
            while rx.recv().await.is_some() {
                count += 1;
            }
            assert_eq!(count, 10_000);
            assert!(rx.is_closed());
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_send_timeout_measures_simulated_time() {
    bach::sim(|| {
        async {
            let (tx, _rx) = mpsc::channel(1);
            tx.send(1).await.unwrap();
            let err = tx.send_timeout(2, 5.ms()).await.unwrap_err();
            assert!(matches!(err, mpsc::error::SendTimeoutError::Timeout(2)));
            assert_eq!(Instant::now(), Instant::from_duration(5.ms()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mpsc_a_cancelled_send_gives_its_turn_to_the_next_sender() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = mpsc::channel(1);
            tx.send(0).await.unwrap();
            let tx2 = tx.clone();
            let patient = async move { tx2.send(2).await.unwrap() }.spawn();
            // First in line, but gives up before a slot frees.
            assert!(timeout(1.ms(), tx.send(1)).await.is_err());
            assert_eq!(rx.recv().await, Some(0));
            assert_eq!(rx.recv().await, Some(2));
            patient.await.unwrap();
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- oneshot

#[test]
fn oneshot_sends_once_and_reports_dropped_halves() {
    bach::sim(|| {
        async {
            let (tx, rx) = oneshot::channel();
            async move {
                1.ms().sleep().await;
                tx.send("hi").unwrap();
            }
            .spawn();
            assert_eq!(rx.await, Ok("hi"));
            assert_eq!(Instant::now(), Instant::from_duration(1.ms()));

            let (tx, rx) = oneshot::channel::<u8>();
            drop(tx);
            assert!(rx.await.is_err());

            let (tx, rx) = oneshot::channel::<u8>();
            drop(rx);
            assert!(tx.is_closed());
            assert_eq!(tx.send(5), Err(5));

            let (mut tx, mut rx) = oneshot::channel::<u8>();
            assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
            async move {
                2.ms().sleep().await;
                rx.close();
                assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
            }
            .spawn();
            tx.closed().await;
            assert_eq!(Instant::now(), Instant::from_duration(3.ms()));
            assert_eq!(tx.send(1), Err(1));
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- Mutex

#[test]
fn mutex_hands_the_lock_to_waiters_in_arrival_order() {
    let order = log();
    let o = order.clone();
    bach::sim(move || {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let m = mutex.clone();
        async move {
            let mut guard = m.lock().await;
            guard.push("holder");
            5.ms().sleep().await;
            drop(guard);
            // Handed over: the first waiter owns it already.
            assert!(m.try_lock().is_err());
        }
        .spawn();
        for (delay, name) in [(1, "a"), (2, "b"), (3, "c")] {
            let m = mutex.clone();
            async move {
                delay.ms().sleep().await;
                let mut guard = m.lock().await;
                guard.push(name);
                1.ms().sleep().await;
            }
            .primary()
            .spawn();
        }
        async move {
            20.ms().sleep().await;
            let guard = mutex.lock().await;
            o.borrow_mut().extend(guard.iter().copied());
        }
        .primary()
        .spawn();
    });
    assert_eq!(*order.borrow(), ["holder", "a", "b", "c"]);
}

#[test]
fn mutex_owned_guards_move_between_tasks() {
    bach::sim(|| {
        async {
            let mutex = Rc::new(Mutex::new(1));
            let guard = mutex.clone().lock_owned().await;
            assert!(mutex.clone().try_lock_owned().is_err());
            let handle = async move {
                let mut guard = guard;
                *guard += 1;
                2.ms().sleep().await;
            }
            .spawn();
            let value = *mutex.lock().await;
            assert_eq!(value, 2);
            assert_eq!(Instant::now(), Instant::from_duration(2.ms()));
            handle.await.unwrap();
            let mut mutex = Rc::try_unwrap(mutex).unwrap();
            *mutex.get_mut() += 1;
            assert_eq!(mutex.into_inner(), 3);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn mutex_a_cancelled_lock_does_not_block_later_waiters() {
    bach::sim(|| {
        async {
            let mutex = Rc::new(Mutex::new(()));
            let guard = mutex.lock().await;
            let m = mutex.clone();
            let later = async move {
                1.ms().sleep().await;
                let _g = m.lock().await;
                Instant::now()
            }
            .spawn();
            assert!(timeout(2.ms(), mutex.lock()).await.is_err());
            4.ms().sleep().await;
            drop(guard);
            assert_eq!(later.await.unwrap(), Instant::from_duration(6.ms()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn locking_in_opposite_order_deadlocks_and_the_report_names_both_tasks() {
    let result = panic::catch_unwind(|| {
        bach::sim(|| {
            let first = Rc::new(Mutex::new(()));
            let second = Rc::new(Mutex::new(()));
            for (name, a, b) in [
                ("a", first.clone(), second.clone()),
                ("b", second.clone(), first.clone()),
            ] {
                async move {
                    let _x = a.lock().await;
                    1.ms().sleep().await;
                    let _y = b.lock().await;
                }
                .primary()
                .spawn_named(name);
            }
        });
    });
    let message = panic_message(result);
    assert!(
        message.starts_with("deadlock at 0:00:00.001000000"),
        "{message}"
    );
    assert!(
        message.contains("2 primary futures are still running"),
        "{message}"
    );
    assert!(message.contains("blocked: task `a`"), "{message}");
    assert!(message.contains("blocked: task `b`"), "{message}");
    // What each waits on, where it was created, and who holds it.
    let here = format!("created at {}:", file!());
    assert!(
        message.contains(&format!(
            "task `a` (#0) on node `main`: waits on mutex #1 ({here}"
        )),
        "{message}"
    );
    assert!(
        message.contains("held by task `b` (#1) on node `main`"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "task `b` (#1) on node `main`: waits on mutex #0 ({here}"
        )),
        "{message}"
    );
    assert!(
        message.contains("held by task `a` (#0) on node `main`"),
        "{message}"
    );
    assert!(message.contains("wait-for cycle:"), "{message}");
}

#[test]
fn a_deadlock_report_names_a_channel_nobody_fills_and_a_background_holder() {
    let result = panic::catch_unwind(|| {
        bach::sim(|| {
            let lock = Rc::new(Mutex::new(()));
            let (tx, mut rx) = mpsc::channel::<u8>(1);
            let held = lock.clone();
            async move {
                // Its own sender keeps the channel open.
                let _tx = tx;
                let _guard = held.lock().await;
                // Waits forever for a message while holding the lock.
                let _ = rx.recv().await;
            }
            .spawn_named("holder");
            async move {
                1.ms().sleep().await;
                let _guard = lock.lock().await;
            }
            .primary()
            .spawn_named("waiter");
        });
    });
    let message = panic_message(result);
    assert!(
        message.contains("blocked: task `waiter` (#1) on node `main`: waits on mutex #0"),
        "{message}"
    );
    assert!(
        message.contains("held by task `holder` (#0) on node `main`"),
        "{message}"
    );
    assert!(!message.contains("wait-for cycle"), "{message}");
}

#[test]
fn the_wait_for_cycle_follows_background_tasks() {
    let result = panic::catch_unwind(|| {
        bach::sim(|| {
            let (first, second) = (Rc::new(Mutex::new(())), Rc::new(Mutex::new(())));
            let (a, b) = (first.clone(), second.clone());
            async move {
                let _x = a.lock().await;
                1.ms().sleep().await;
                let _y = b.lock().await;
            }
            .spawn_named("background");
            async move {
                let _y = second.lock().await;
                1.ms().sleep().await;
                let _x = first.lock().await;
            }
            .primary()
            .spawn_named("primary");
        });
    });
    let message = panic_message(result);
    let cycle = &message[message.find("wait-for cycle:").expect("a cycle")..];
    assert!(cycle.contains("task `primary`"), "{message}");
    assert!(cycle.contains("task `background`"), "{message}");
}

// ---------------------------------------------------------------- RwLock

#[test]
fn rwlock_readers_share_writers_exclude_and_queue_fairly() {
    let order = log();
    let o = order.clone();
    bach::sim(move || {
        let lock = Rc::new(RwLock::new(0));
        // Two readers hold the lock together from t=0 to t=10ms.
        for name in ["r1", "r2"] {
            let (lock, o) = (lock.clone(), o.clone());
            async move {
                let guard = lock.read().await;
                o.borrow_mut().push((name, Instant::now(), *guard));
                10.ms().sleep().await;
            }
            .primary()
            .spawn();
        }
        // A writer arrives at 1ms and waits for both readers.
        let (l, o2) = (lock.clone(), o.clone());
        async move {
            1.ms().sleep().await;
            let mut guard = l.write().await;
            *guard += 1;
            o2.borrow_mut().push(("w", Instant::now(), *guard));
            5.ms().sleep().await;
        }
        .primary()
        .spawn();
        // A reader arriving at 2ms queues behind the writer (no starvation).
        let (l, o3) = (lock.clone(), o.clone());
        async move {
            2.ms().sleep().await;
            assert!(l.try_read().is_err(), "a writer is waiting");
            let guard = l.read().await;
            o3.borrow_mut().push(("r3", Instant::now(), *guard));
        }
        .primary()
        .spawn();
    });
    let ms = |n| Instant::from_duration(std::time::Duration::from_millis(n));
    assert_eq!(
        *order.borrow(),
        [
            ("r1", ms(0), 0),
            ("r2", ms(0), 0),
            ("w", ms(10), 1),
            ("r3", ms(15), 1)
        ]
    );
}

#[test]
fn rwlock_downgrade_and_owned_guards() {
    bach::sim(|| {
        async {
            let lock = Rc::new(RwLock::new(String::from("a")));
            let mut write = lock.write().await;
            write.push('b');
            let read = write.downgrade();
            assert!(
                lock.try_read().is_ok(),
                "readers may join after a downgrade"
            );
            assert!(lock.try_write().is_err());
            drop(read);

            let owned = lock.clone().write_owned().await;
            let l = lock.clone();
            let reader = async move { l.read_owned().await.clone() }.spawn();
            3.ms().sleep().await;
            let read = owned.downgrade();
            assert_eq!(&*read, "ab");
            assert_eq!(reader.await.unwrap(), "ab");
            assert!(lock.clone().try_write_owned().is_err());
            drop(read);
            assert!(lock.clone().try_read_owned().is_ok());

            let limited = RwLock::with_max_readers((), 2);
            let _a = limited.read().await;
            let _b = limited.read().await;
            assert!(limited.try_read().is_err(), "at most two readers");
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_large_requests_keep_their_place_in_line() {
    let order = log();
    let o = order.clone();
    bach::sim(move || {
        let sem = Rc::new(Semaphore::new(2));
        let s = sem.clone();
        async move {
            let mut permit = s.acquire_many(2).await.unwrap();
            3.ms().sleep().await;
            drop(permit.split(1)); // one permit back at 3 ms...
            3.ms().sleep().await;
            drop(permit); // ...the other at 6 ms
        }
        .spawn();
        for (delay, name, n) in [(1, "wants 2", 2), (2, "wants 1", 1)] {
            let (s, o) = (sem.clone(), o.clone());
            async move {
                delay.ms().sleep().await;
                let _permit = s.acquire_many(n).await.unwrap();
                o.borrow_mut().push((name, Instant::now()));
                1.ms().sleep().await;
            }
            .primary()
            .spawn();
        }
    });
    let ms = |n| Instant::from_duration(std::time::Duration::from_millis(n));
    // The 1-permit request arrives later and must not overtake at 3 ms.
    assert_eq!(*order.borrow(), [("wants 2", ms(6)), ("wants 1", ms(7))]);
}

#[test]
fn semaphore_permits_try_acquire_close_and_forget() {
    bach::sim(|| {
        async {
            let sem = Rc::new(Semaphore::new(3));
            let mut a = sem.try_acquire().unwrap();
            let b = sem.try_acquire_many(2).unwrap();
            assert_eq!(sem.available_permits(), 0);
            assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
            a.merge(b);
            assert_eq!(a.num_permits(), 3);
            let c = a.split(1).unwrap();
            c.forget();
            drop(a);
            assert_eq!(sem.available_permits(), 2);
            sem.add_permits(1);
            assert_eq!(sem.forget_permits(10), 3);

            let owned = {
                sem.add_permits(1);
                sem.clone().acquire_owned().await.unwrap()
            };
            assert_eq!(owned.num_permits(), 1);
            let s = sem.clone();
            let waiter = async move { s.acquire().await.map(|_| ()) }.spawn();
            1.ms().sleep().await;
            sem.close();
            assert!(sem.is_closed());
            assert_eq!(
                waiter.await.unwrap(),
                Err(AcquireError::clone(&sem.acquire().await.unwrap_err()))
            );
            assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
            drop(owned); // permits held across a close stay valid
            assert_eq!(sem.available_permits(), 1);
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- Notify

#[test]
fn notify_one_stores_a_single_permit() {
    bach::sim(|| {
        async {
            let notify = Notify::new();
            notify.notify_one();
            notify.notify_one();
            notify.notified().await; // consumes the one stored permit
            assert!(timeout(1.ms(), notify.notified()).await.is_err());
        }
        .primary()
        .spawn();
    });
}

#[test]
fn notify_wakes_waiters_first_in_first_out_and_waiters_all_at_once() {
    let order = log();
    let o = order.clone();
    bach::sim(move || {
        let notify = Rc::new(Notify::new());
        for name in ["a", "b", "c"] {
            let (n, o) = (notify.clone(), o.clone());
            async move {
                n.notified().await;
                o.borrow_mut().push((name, Instant::now()));
            }
            .primary()
            .spawn();
        }
        async move {
            1.ms().sleep().await;
            notify.notify_one();
            1.ms().sleep().await;
            notify.notify_waiters();
            // notify_waiters stores nothing.
            assert!(timeout(1.ms(), notify.notified()).await.is_err());
        }
        .primary()
        .spawn();
    });
    let ms = |n| Instant::from_duration(std::time::Duration::from_millis(n));
    assert_eq!(*order.borrow(), [("a", ms(1)), ("b", ms(2)), ("c", ms(2))]);
}

#[test]
fn notify_waiters_reaches_futures_created_before_it_and_dropped_wakeups_move_on() {
    bach::sim(|| {
        async {
            let notify = Rc::new(Notify::new());
            let early = notify.notified();
            notify.notify_waiters();
            early.await; // created before the call: completes without polling first
            let mut enabled = std::pin::pin!(notify.notified());
            assert!(!enabled.as_mut().enable());
            notify.notify_one();
            enabled.await;

            // A future woken by notify_one but dropped passes it on.
            let n = notify.clone();
            let second = async move {
                n.notified().await;
                Instant::now()
            };
            let first = notify.notified();
            let mut first = Box::pin(first);
            assert!(futures::poll!(first.as_mut()).is_pending());
            let second = second.spawn();
            1.ms().sleep().await;
            notify.notify_one(); // goes to `first` (oldest)...
            drop(first); // ...which forwards it
            assert_eq!(second.await.unwrap(), Instant::from_duration(1.ms()));
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- watch

#[test]
fn watch_receivers_see_the_latest_value_and_changes() {
    bach::sim(|| {
        async {
            let (tx, mut rx) = watch::channel(0);
            assert!(!rx.has_changed().unwrap());
            let mut other = rx.clone();
            let watcher = async move {
                let mut seen = Vec::new();
                while other.changed().await.is_ok() {
                    seen.push(*other.borrow_and_update());
                }
                seen
            }
            .spawn();
            for i in 1..=3 {
                1.ms().sleep().await;
                tx.send(i).unwrap();
            }
            tx.send_modify(|v| *v += 10);
            assert!(!tx.send_if_modified(|_| false));
            assert_eq!(*tx.borrow(), 13);
            assert!(rx.has_changed().unwrap());
            let current = rx.borrow_and_update();
            assert!(current.has_changed());
            assert_eq!(*current, 13);
            drop(current);
            rx.mark_changed();
            assert!(rx.has_changed().unwrap());
            rx.mark_unchanged();
            assert_eq!(tx.receiver_count(), 2);
            drop(tx);
            assert!(rx.changed().await.is_err());
            assert!(rx.has_changed().is_err());
            // Values sent 1 ms apart are each seen; the last two coalesce.
            assert_eq!(watcher.await.unwrap(), [1, 2, 13]);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn watch_send_fails_without_receivers_and_closed_waits_for_them() {
    bach::sim(|| {
        async {
            let (tx, rx) = watch::channel("a");
            let mut rx2 = tx.subscribe();
            let waiter = async move {
                let value = *rx2.wait_for(|v| *v == "c").await.unwrap();
                value
            }
            .spawn();
            tx.send("b").unwrap();
            tx.send("c").unwrap();
            assert_eq!(waiter.await.unwrap(), "c");
            async move {
                2.ms().sleep().await;
                drop(rx);
            }
            .spawn();
            tx.closed().await;
            assert_eq!(Instant::now(), Instant::from_duration(2.ms()));
            assert!(tx.is_closed());
            assert_eq!(tx.send("d").unwrap_err().0, "d");
            assert_eq!(tx.send_replace("e"), "c");
            assert_eq!(*tx.borrow(), "e");
        }
        .primary()
        .spawn();
    });
}

// ---------------------------------------------------------------- identity

#[test]
fn resources_are_numbered_per_simulation_so_runs_match() {
    let describe = || {
        bach::sim(|| {
            let a = Mutex::new(1);
            let (tx, _rx) = mpsc::channel::<u8>(1);
            format!("{a:?} {tx:?}")
        })
    };
    let first = describe();
    assert_eq!(first, describe());
    assert!(first.contains("ResourceId(0)"), "{first}");
    assert!(first.contains("ResourceId(1)"), "{first}");
}

#[test]
fn contended_wake_order_is_the_same_on_every_run() {
    let run = || {
        let order = log();
        let o = order.clone();
        bach::sim(move || {
            let sem = Rc::new(Semaphore::new(1));
            for i in 0..20u32 {
                let (s, o) = (sem.clone(), o.clone());
                async move {
                    for _ in 0..3 {
                        let _p = s.acquire().await.unwrap();
                        o.borrow_mut().push(i);
                        yield_now().await;
                    }
                }
                .primary()
                .spawn();
            }
        });
        order.take()
    };
    let first = run();
    assert_eq!(first.len(), 60);
    assert_eq!(first, run());
    // FIFO: everyone gets a turn before anyone's second turn.
    let mut firsts = first[..20].to_vec();
    firsts.sort();
    assert_eq!(firsts, (0..20).collect::<Vec<_>>());
}
