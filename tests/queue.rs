//! `bach::queue`: storage disciplines, overflow policies, combinator
//! timing, loss, sojourn metrics, the channel adapter and duplex links.

use bach::{
    ext::*,
    queue::{self, duplex, Overflow, PopError, PushError, Queue},
    time::Instant,
    Simulation,
};
use std::{cell::RefCell, rc::Rc, time::Duration};

fn at(ms: u64) -> Instant {
    Instant::from_duration(Duration::from_millis(ms))
}

#[test]
fn latent_fifo_delivers_each_item_exactly_one_latency_after_its_send() {
    let arrivals = Rc::new(RefCell::new(Vec::new()));
    let a = arrivals.clone();
    bach::sim(move || {
        let (tx, mut rx) = queue::fifo(16).latent(10.ms()).channel();
        async move {
            for i in 0..10u32 {
                1.ms().sleep().await;
                tx.send((i, Instant::now())).await.unwrap();
            }
        }
        .spawn();
        async move {
            while let Some((i, sent)) = rx.recv().await {
                assert_eq!(Instant::now(), sent + 10.ms(), "message {i}");
                a.borrow_mut().push(i);
            }
            assert_eq!(Instant::now(), at(20), "the last message arrives at 20 ms");
        }
        .primary()
        .spawn();
    });
    assert_eq!(*arrivals.borrow(), (0..10).collect::<Vec<_>>());
}

#[test]
fn latent_queues_use_one_timer_per_waiting_receiver_not_per_item() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        let (tx, mut rx) = queue::unbounded().latent(10.ms()).channel();
        for i in 0..1000u32 {
            tx.try_send(i).unwrap();
        }
        async move {
            let mut expected = 0;
            while let Some(i) = rx.recv().await {
                assert_eq!(i, expected);
                expected += 1;
            }
        }
        .spawn();
        drop(tx);
    });
    sim.run_for(5.ms());
    assert_eq!(sim.live_tasks(), 1, "no task per item");
    assert_eq!(sim.pending_timers(), 1, "one timer for the head item");
    assert_eq!(sim.next_event_time(), Some(at(10)));
    sim.run_until_idle();
    assert_eq!(sim.live_tasks(), 0);
}

#[test]
fn per_item_latency_with_a_fifo_below_keeps_push_order() {
    bach::sim(|| {
        async {
            let mut q = queue::fifo(8).latent(|item: &u64| Duration::from_millis(*item));
            q.push(5).unwrap();
            q.push(1).unwrap();
            assert_eq!(q.pop(), Err(PopError::NotReady(at(5))));
            5.ms().sleep().await;
            assert_eq!(q.pop(), Ok(5));
            assert_eq!(q.pop(), Ok(1), "ready since 1 ms, behind the head");
            assert_eq!(q.pop(), Err(PopError::Empty));
            q.close();
            assert_eq!(q.pop(), Err(PopError::Closed));
            assert!(q.push(1).unwrap_err().is_closed());
        }
        .primary()
        .spawn();
    });
}

#[test]
fn reject_new_overflow_hands_the_item_back_and_counts_it() {
    let mut q = queue::fifo(2);
    assert_eq!(q.push(1), Ok(None));
    assert_eq!(q.push(2), Ok(None));
    assert!(q.is_full());
    let err = q.push(3).unwrap_err();
    assert!(matches!(err, PushError::Full(3)));
    assert_eq!(
        err.to_string(),
        "queue is full (overflow policy: reject new items)"
    );
    assert_eq!(q.metrics().rejected(), 1);
    assert_eq!(
        (q.pop(), q.pop(), q.pop()),
        (Ok(1), Ok(2), Err(PopError::Empty))
    );
    q.close();
    assert!(matches!(q.push(4), Err(PushError::Closed(4))));
}

#[test]
fn drop_oldest_overflow_discards_the_earliest_item_for_every_discipline() {
    let mut fifo = queue::fifo(2).with_overflow(Overflow::DropOldest);
    fifo.push(1).unwrap();
    fifo.push(2).unwrap();
    assert_eq!(fifo.push(3), Ok(Some(1)));
    assert_eq!((fifo.pop(), fifo.pop()), (Ok(2), Ok(3)));
    assert_eq!(fifo.metrics().dropped(), 1);

    let mut lifo = queue::lifo(2).with_overflow(Overflow::DropOldest);
    lifo.push(1).unwrap();
    lifo.push(2).unwrap();
    assert_eq!(lifo.push(3), Ok(Some(1)));
    assert_eq!((lifo.pop(), lifo.pop()), (Ok(3), Ok(2)));

    let mut prio = queue::priority(2).with_overflow(Overflow::DropOldest);
    prio.push(9).unwrap();
    prio.push(1).unwrap();
    assert_eq!(
        prio.push(5),
        Ok(Some(9)),
        "the earliest pushed, not the lowest"
    );
    assert_eq!((prio.pop(), prio.pop()), (Ok(5), Ok(1)));
}

#[test]
fn lifo_pops_newest_first() {
    let mut q = queue::lifo(8);
    for i in 0..4 {
        q.push(i).unwrap();
    }
    assert_eq!(q.peek(), Some(&3));
    let popped: Vec<_> = std::iter::from_fn(|| q.pop().ok()).collect();
    assert_eq!(popped, [3, 2, 1, 0]);
}

#[test]
fn priority_pops_greatest_first_and_fifo_among_equals() {
    #[derive(Debug, PartialEq, Eq)]
    struct Job(u8, &'static str);
    impl PartialOrd for Job {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Job {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0) // priority only
        }
    }
    let mut q = queue::priority(8);
    for job in [
        Job(1, "a"),
        Job(3, "b"),
        Job(1, "c"),
        Job(3, "d"),
        Job(2, "e"),
    ] {
        q.push(job).unwrap();
    }
    let order: Vec<_> = std::iter::from_fn(|| q.pop().ok()).map(|j| j.1).collect();
    assert_eq!(order, ["b", "d", "e", "a", "c"]);
}

#[test]
fn lossy_draws_from_the_seeded_choice_source() {
    let run = |seed| {
        Simulation::new().seed(seed).run(|| {
            let mut q = queue::unbounded().lossy(0.3);
            for i in 0..1000 {
                q.push(i).unwrap();
            }
            (q.len(), q.metrics().lost())
        })
    };
    let (kept, lost) = run(1);
    assert_eq!(kept as u64 + lost, 1000);
    assert!((250..350).contains(&lost), "lost {lost} of 1000 at p = 0.3");
    assert_eq!(run(1), (kept, lost), "same seed, same losses");
    assert_ne!(run(2), (kept, lost));
    bach::sim(|| {
        let mut none = queue::fifo(4).lossy(0.0);
        let mut all = queue::fifo(4).lossy(1.0);
        assert_eq!(none.push(1), Ok(None));
        assert_eq!(all.push(1), Ok(Some(1)));
        assert_eq!((none.len(), all.len()), (1, 0));
    });
}

#[test]
fn sojourn_and_length_metrics_are_observable() {
    bach::sim(|| {
        async {
            let q = queue::fifo(8).sojourn().span("jobs");
            assert_eq!(q.name(), "jobs");
            let metrics = q.metrics().clone();
            let (tx, mut rx) = q.channel();
            tx.send(1).await.unwrap();
            tx.send(2).await.unwrap();
            assert_eq!(metrics.len(), 2);
            4.ms().sleep().await;
            assert_eq!(rx.recv().await, Some(1));
            2.ms().sleep().await;
            assert_eq!(rx.recv().await, Some(2));
            let sojourn = metrics.sojourn();
            assert_eq!(sojourn.count, 2);
            assert_eq!((sojourn.min, sojourn.max), (4.ms(), 6.ms()));
            assert_eq!(sojourn.mean, 5.ms());
            assert_eq!(
                (metrics.pushed(), metrics.popped(), metrics.max_len()),
                (2, 2, 2)
            );
            // Two items for 4 ms, one for 2 ms, over 10 ms: mean length 1.0.
            4.ms().sleep().await;
            assert!(
                (metrics.mean_len() - 1.0).abs() < 1e-9,
                "{}",
                metrics.mean_len()
            );
            assert_eq!(metrics.name().as_deref(), Some("jobs"));
            assert!(format!("{:?}", rx).contains("jobs"));
            assert!(format!("{metrics:?}").contains("pushed: 2"));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn span_names_the_queue_in_debug_output() {
    let q = queue::fifo::<u8>(4).span("uplink");
    let debug = format!("{q:?}");
    assert!(debug.starts_with("Queue \"uplink\" Ring"), "{debug}");
}

#[test]
fn channel_senders_wait_while_full_and_resume_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    bach::sim(move || {
        let (tx, mut rx) = queue::fifo(1).channel();
        for name in ["a", "b", "c"] {
            let tx = tx.clone();
            async move { tx.send(name).await.unwrap() }.spawn();
        }
        assert!(matches!(tx.try_send("x"), Ok(None)));
        assert!(tx.try_send("y").unwrap_err().is_full());
        drop(tx);
        async move {
            3.ms().sleep().await;
            while let Some(item) = rx.recv().await {
                l.borrow_mut().push(item);
            }
        }
        .primary()
        .spawn();
    });
    assert_eq!(*log.borrow(), ["x", "a", "b", "c"]);
}

#[test]
fn channel_closes_when_one_side_is_gone() {
    bach::sim(|| {
        async {
            let (tx, rx) = queue::fifo(1).channel();
            tx.send(1).await.unwrap();
            let t = tx.clone();
            let blocked = async move { t.send(2).await }.spawn();
            1.ms().sleep().await;
            drop(rx);
            assert!(tx.is_closed());
            assert_eq!(blocked.await.unwrap().unwrap_err().0, 2);

            let (tx, mut rx) = queue::fifo(4).channel();
            tx.send("last").await.unwrap();
            drop(tx);
            assert_eq!(rx.recv().await, Some("last"), "drained after close");
            assert_eq!(rx.recv().await, None);
            assert_eq!(rx.try_recv(), Err(PopError::Closed));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn channel_receivers_share_the_items() {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    bach::sim(move || {
        let (tx, rx) = queue::fifo(4).latent(1.ms()).channel();
        for worker in 0..3 {
            let mut rx = rx.clone();
            let g = g.clone();
            async move {
                while let Some(item) = rx.recv().await {
                    g.borrow_mut().push((worker, item));
                    2.ms().sleep().await; // busy
                }
            }
            .primary()
            .spawn();
        }
        drop(rx);
        async move {
            for i in 0..30 {
                tx.send(i).await.unwrap();
            }
        }
        .spawn();
    });
    let got = got.borrow();
    let mut items: Vec<_> = got.iter().map(|(_, i)| *i).collect();
    items.sort();
    assert_eq!(items, (0..30).collect::<Vec<_>>(), "each item exactly once");
    for worker in 0..3 {
        assert!(
            got.iter().any(|(w, _)| *w == worker),
            "worker {worker} idle"
        );
    }
}

#[test]
fn duplex_links_two_tasks_with_per_direction_queues() {
    bach::sim(|| {
        let (a, mut b) = duplex(queue::fifo(4).latent(3.ms()), queue::fifo(4).latent(5.ms()));
        async move {
            let mut a = a;
            for i in 0..3u32 {
                a.send(i).await.unwrap();
                assert_eq!(a.recv().await, Some(i * 10));
            }
            assert_eq!(Instant::now(), at(3 * 8), "three round trips of 3 + 5 ms");
        }
        .primary()
        .spawn();
        async move {
            while let Some(i) = b.recv().await {
                b.send(i * 10).await.unwrap();
            }
        }
        .spawn();
    });
}
