//! Scheduling points under interleaving exploration
//! (`Simulation::interleavings`): every async operation on a sync
//! primitive, queue channel or socket lets the choice source decide which
//! contending task goes first, tasks on unrelated resources are never
//! permuted against each other, and the primitives stay correct (no lost
//! wake-ups, no deadlocks, per-sender order) whatever the choices.

use bach::{
    ext::*,
    net::UdpSocket,
    queue::{self, QueueExt},
    rand::ChoiceSource,
    sync::{mpsc, oneshot, watch, Mutex, Notify, RwLock, Semaphore},
    task::{yield_now, TaskId},
    Simulation,
};
use std::{
    cell::RefCell,
    future::{poll_fn, Future},
    pin::Pin,
    rc::Rc,
};

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// How [`Recorder`] answers `schedule`.
#[derive(Clone, Copy)]
enum Pick {
    /// The oldest contending task: the FIFO order.
    First,
    /// The youngest contending task: the opposite of FIFO.
    Last,
    /// Pseudo-random (xorshift64 seeded with the value).
    Random(u64),
}

/// A choice source that records the number of candidates of every
/// `schedule` call and answers it as told.
struct Recorder {
    pick: Pick,
    state: u64,
    sizes: Log<usize>,
}

impl Recorder {
    fn new(pick: Pick) -> (Self, Log<usize>) {
        let sizes = log();
        let state = match pick {
            Pick::Random(seed) => seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            _ => 0x2545_f491_4f6c_dd1d,
        };
        let recorder = Self {
            pick,
            state,
            sizes: sizes.clone(),
        };
        (recorder, sizes)
    }

    fn xorshift(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

impl ChoiceSource for Recorder {
    fn choose(&mut self, options: usize) -> usize {
        if options <= 1 {
            return 0;
        }
        (self.xorshift() % options as u64) as usize
    }

    fn next_u64(&mut self) -> u64 {
        self.xorshift()
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        self.sizes.borrow_mut().push(tasks.len());
        match self.pick {
            Pick::First => 0,
            Pick::Last => tasks.len() - 1,
            Pick::Random(_) => self.choose(tasks.len()),
        }
    }
}

/// Runs `scenario` in a fresh simulation (exploring interleavings unless
/// `pick` is `None`) and returns what it logged and every `schedule`
/// call's number of candidates.
fn run<T: Clone + 'static>(
    pick: Option<Pick>,
    scenario: impl FnOnce(Log<T>),
) -> (Vec<T>, Vec<usize>) {
    let (source, sizes) = Recorder::new(pick.unwrap_or(Pick::First));
    let mut sim = Simulation::new()
        .interleavings(pick.is_some())
        .choice_source(source);
    let out = log();
    sim.run({
        let out = out.clone();
        move || scenario(out)
    });
    let out = out.borrow().clone();
    let sizes = sizes.borrow().clone();
    (out, sizes)
}

/// The scenario under every order: off, FIFO choices, last choices.
/// Asserts that off and FIFO agree and returns (fifo, last, last's sizes).
fn fifo_and_last<T: Clone + PartialEq + std::fmt::Debug + 'static>(
    scenario: impl Fn(Log<T>),
) -> (Vec<T>, Vec<T>, Vec<usize>) {
    let (off, off_sizes) = run(None, &scenario);
    assert!(off_sizes.is_empty(), "no choices without exploration");
    let (fifo, _) = run(Some(Pick::First), &scenario);
    assert_eq!(off, fifo, "picking the oldest task is the FIFO order");
    let (last, sizes) = run(Some(Pick::Last), &scenario);
    (fifo, last, sizes)
}

// ------------------------------------------------------- contended points

fn two_lockers(out: Log<&'static str>) {
    let mutex = Rc::new(Mutex::new(()));
    for name in ["a", "b"] {
        let mutex = mutex.clone();
        let out = out.clone();
        async move {
            let _guard = mutex.lock().await;
            out.borrow_mut().push(name);
        }
        .primary()
        .spawn();
    }
}

#[test]
fn mutex_lock_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(two_lockers);
    assert_eq!(fifo, ["a", "b"]);
    assert_eq!(last, ["b", "a"], "choosing the last task lets b lock first");
    assert!(!sizes.is_empty());
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

#[test]
fn tasks_on_different_mutexes_are_never_permuted() {
    let scenario = |out: Log<&'static str>| {
        let one = Rc::new(Mutex::new(()));
        let two = Rc::new(Mutex::new(()));
        for (name, mutex) in [("a", one.clone()), ("c", two), ("b", one)] {
            let out = out.clone();
            async move {
                let _guard = mutex.lock().await;
                out.borrow_mut().push(name);
            }
            .primary()
            .spawn();
        }
    };
    let (_, last, sizes) = fifo_and_last(scenario);
    assert_eq!(last, ["b", "a", "c"]);
    assert!(!sizes.is_empty());
    assert!(
        sizes.iter().all(|n| *n == 2),
        "only a and b contend: {sizes:?}"
    );
    // Without the reduction, c is a candidate too.
    let (source, unreduced) = Recorder::new(Pick::Last);
    let mut sim = Simulation::new()
        .interleavings(true)
        .reduction(false)
        .choice_source(source);
    sim.run(|| scenario(log()));
    assert!(unreduced.borrow().contains(&3), "{:?}", unreduced.borrow());
}

#[test]
fn rwlock_write_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<&'static str>| {
        let lock = Rc::new(RwLock::new(0));
        for name in ["a", "b"] {
            let lock = lock.clone();
            let out = out.clone();
            async move {
                let _guard = lock.write().await;
                out.borrow_mut().push(name);
            }
            .primary()
            .spawn();
        }
    });
    assert_eq!(fifo, ["a", "b"]);
    assert_eq!(last, ["b", "a"]);
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

#[test]
fn semaphore_acquire_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<&'static str>| {
        let semaphore = Rc::new(Semaphore::new(1));
        for name in ["a", "b"] {
            let semaphore = semaphore.clone();
            let out = out.clone();
            async move {
                let _permit = semaphore.acquire().await.unwrap();
                out.borrow_mut().push(name);
            }
            .primary()
            .spawn();
        }
    });
    assert_eq!(fifo, ["a", "b"]);
    assert_eq!(last, ["b", "a"]);
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

/// A receiver and two senders on one channel: with the last task chosen,
/// the second sender's message is received first.
fn mpsc_race(out: Log<u32>) {
    let (tx, mut rx) = mpsc::channel(8);
    async move {
        for _ in 0..2 {
            let value = rx.recv().await.unwrap();
            out.borrow_mut().push(value);
        }
    }
    .primary()
    .spawn();
    for value in [1, 2] {
        let tx = tx.clone();
        async move { tx.send(value).await.unwrap() }.spawn();
    }
}

#[test]
fn mpsc_send_and_recv_are_scheduling_points() {
    let (fifo, last, sizes) = fifo_and_last(mpsc_race);
    assert_eq!(fifo, [1, 2]);
    assert_eq!(last, [2, 1]);
    // Receiver and both senders contend for the one channel.
    assert_eq!(sizes.first(), Some(&3), "{sizes:?}");
}

#[test]
fn mpsc_channels_are_independent_resources() {
    let scenario = |out: Log<u32>| {
        mpsc_race(out.clone());
        // A second channel, used at the same instant, is never a candidate
        // next to the first one's tasks.
        let (tx, mut rx) = mpsc::channel(8);
        async move { tx.send(10).await.unwrap() }.spawn();
        async move {
            let value = rx.recv().await.unwrap();
            out.borrow_mut().push(value);
        }
        .primary()
        .spawn();
    };
    let (_, _, sizes) = fifo_and_last(scenario);
    assert!(sizes.iter().all(|n| *n <= 3), "{sizes:?}");
    assert!(sizes.contains(&3), "{sizes:?}");
}

#[test]
fn notified_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<&'static str>| {
        let notify = Rc::new(Notify::new());
        // One stored permit: whoever reaches `notified` first takes it,
        // then hands a new one on.
        notify.notify_one();
        for name in ["a", "b"] {
            let notify = notify.clone();
            let out = out.clone();
            async move {
                notify.notified().await;
                out.borrow_mut().push(name);
                notify.notify_one();
            }
            .primary()
            .spawn();
        }
    });
    assert_eq!(fifo, ["a", "b"]);
    assert_eq!(last, ["b", "a"]);
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

/// Awaits `future`, counting its polls.
async fn counting_polls<F: Future + Unpin>(mut future: F) -> (F::Output, u32) {
    let mut polls = 0;
    let output = poll_fn(|cx| {
        polls += 1;
        Pin::new(&mut future).poll(cx)
    })
    .await;
    (output, polls)
}

// A oneshot has two parties and the value arrives either way, so what the
// choice changes is whether the receiver finds the value or waits for it:
// two polls (its scheduling point, then the take) or three (the point,
// registering, and the wake-up).
#[test]
fn oneshot_receive_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<u32>| {
        let (tx, rx) = oneshot::channel();
        async move {
            // A synchronous look gives the sender's task a footprint on the
            // channel, so it contends with the receiver.
            assert!(!tx.is_closed());
            yield_now().await;
            tx.send(7).unwrap();
        }
        .primary()
        .spawn();
        async move {
            let (value, polls) = counting_polls(rx).await;
            assert_eq!(value, Ok(7));
            out.borrow_mut().push(polls);
        }
        .primary()
        .spawn();
    });
    // Off, the receiver registers and is woken once; in FIFO order it
    // yields at its point and then finds the value: two polls either way.
    assert_eq!(fifo, [2], "the sender goes first: the value is there");
    assert_eq!(last, [3], "the receiver goes first: it waits");
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

#[test]
fn oneshot_closed_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<u32>| {
        let (mut tx, mut rx) = oneshot::channel::<u32>();
        async move {
            assert!(rx.is_empty());
            yield_now().await;
            rx.close();
        }
        .primary()
        .spawn();
        async move {
            let ((), polls) = counting_polls(Box::pin(tx.closed())).await;
            out.borrow_mut().push(polls);
        }
        .primary()
        .spawn();
    });
    assert_eq!(fifo, [2], "the receiver closes first");
    assert_eq!(last, [3], "the sender starts waiting first");
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

#[test]
fn watch_changed_is_a_scheduling_point() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<&'static str>| {
        let (tx, rx) = watch::channel(0);
        tx.send(1).unwrap();
        for name in ["a", "b"] {
            let mut rx = rx.clone();
            let out = out.clone();
            async move {
                rx.changed().await.unwrap();
                out.borrow_mut().push(name);
            }
            .primary()
            .spawn();
        }
        drop(rx);
        // Keep the sender alive until both have looked.
        async move {
            1.ms().sleep().await;
            drop(tx);
        }
        .spawn();
    });
    assert_eq!(fifo, ["a", "b"]);
    assert_eq!(last, ["b", "a"]);
    assert!(sizes.iter().all(|n| *n == 2), "{sizes:?}");
}

#[test]
fn queue_channel_send_and_recv_are_scheduling_points() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<u32>| {
        let (tx, mut rx) = queue::fifo(8).channel();
        async move {
            for _ in 0..2 {
                let value = rx.recv().await.unwrap();
                out.borrow_mut().push(value);
            }
        }
        .primary()
        .spawn();
        for value in [1, 2] {
            let tx = tx.clone();
            async move { tx.send(value).await.unwrap() }.spawn();
        }
    });
    assert_eq!(fifo, [1, 2]);
    assert_eq!(last, [2, 1]);
    assert_eq!(sizes.first(), Some(&3), "{sizes:?}");
}

#[test]
fn udp_sends_to_one_server_are_scheduling_points() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<String>| {
        async move {
            let socket = UdpSocket::bind("server:8080").await.unwrap();
            let mut buf = [0; 16];
            for _ in 0..2 {
                let (len, _) = socket.recv_from(&mut buf).await.unwrap();
                out.borrow_mut()
                    .push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        .group("server")
        .primary()
        .spawn();
        for client in ["c0", "c1"] {
            async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                socket
                    .send_to(client.as_bytes(), "server:8080")
                    .await
                    .unwrap();
            }
            .group(client)
            .spawn();
        }
    });
    assert_eq!(fifo, ["c0", "c1"]);
    assert_eq!(last, ["c1", "c0"], "c1 sent first, so it arrives first");
    assert!(!sizes.is_empty());
}

#[test]
fn udp_sends_to_different_servers_are_not_permuted() {
    let (fifo, last, sizes) = fifo_and_last(|out: Log<String>| {
        for (client, server) in [("c0", "s0"), ("c1", "s1")] {
            let out = out.clone();
            async move {
                let socket = UdpSocket::bind((server, 9)).await.unwrap();
                let mut buf = [0; 16];
                let (len, _) = socket.recv_from(&mut buf).await.unwrap();
                out.borrow_mut()
                    .push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            .group(server)
            .primary()
            .spawn();
            async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                socket
                    .send_to(client.as_bytes(), (server, 9))
                    .await
                    .unwrap();
            }
            .group(client)
            .spawn();
        }
    });
    // A send touches what is on its way to the server's node, a receive
    // the server's socket (the datagram reaches it from the timer queue):
    // no client contends with the other, nor with a server.
    assert_eq!(fifo, last);
    assert!(sizes.is_empty(), "{sizes:?}");
}

/// Spawns a task that is ready now and touches nothing shared, so the next
/// scheduling point has someone else to yield to.
fn neighbour() {
    async { yield_now().await }.spawn();
}

/// Awaits `future` behind a ready neighbour; returns its polls.
async fn polls_behind_neighbour<F: Future>(future: F) -> u32 {
    neighbour();
    counting_polls(Box::pin(future)).await.1
}

// An uncontended operation yields once at its scheduling point and acts at
// its next poll; an operation built on another (a lock on a semaphore, a
// socket's `send_to` on `poll_send_to`) must not yield twice.
#[test]
fn each_async_operation_yields_exactly_once() {
    let (polls, _) = run(Some(Pick::Last), |out: Log<(&'static str, u32)>| {
        async move {
            let record = |what, polls| out.borrow_mut().push((what, polls));
            let mutex = Mutex::new(0);
            record("mutex lock", polls_behind_neighbour(mutex.lock()).await);
            let lock = RwLock::new(0);
            record("rwlock read", polls_behind_neighbour(lock.read()).await);
            record("rwlock write", polls_behind_neighbour(lock.write()).await);
            let semaphore = Semaphore::new(1);
            record("acquire", polls_behind_neighbour(semaphore.acquire()).await);
            let notify = Notify::new();
            notify.notify_one();
            record("notified", polls_behind_neighbour(notify.notified()).await);

            let (tx, mut rx) = mpsc::channel(1);
            record("mpsc send", polls_behind_neighbour(tx.send(1)).await);
            record("mpsc recv", polls_behind_neighbour(rx.recv()).await);
            let permit = polls_behind_neighbour(tx.reserve()).await;
            record("mpsc reserve", permit);
            let (tx, mut rx) = mpsc::unbounded_channel();
            tx.send(1).unwrap();
            record("unbounded recv", polls_behind_neighbour(rx.recv()).await);

            let (tx, rx) = oneshot::channel();
            tx.send(1).unwrap();
            record("oneshot recv", polls_behind_neighbour(rx).await);
            let (tx, rx) = watch::channel(0);
            let mut changed = rx.clone();
            tx.send(1).unwrap();
            record(
                "watch changed",
                polls_behind_neighbour(changed.changed()).await,
            );
            drop(rx);
            drop(changed);
            record("watch closed", polls_behind_neighbour(tx.closed()).await);

            let (tx, mut rx) = queue::fifo(1).channel();
            record("queue send", polls_behind_neighbour(tx.send(1)).await);
            record("queue recv", polls_behind_neighbour(rx.recv()).await);

            let server = UdpSocket::bind("node:1").await.unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let send = client.send_to(b"x", "127.0.0.1:1");
            record("udp send_to", polls_behind_neighbour(send).await);
            client.connect("node:1").await.unwrap();
            record("udp send", polls_behind_neighbour(client.send(b"y")).await);
            // Loopback datagrams arrive at this instant, once time is
            // allowed to move on.
            1.ms().sleep().await;
            let mut buf = [0; 1];
            let peek = server.peek_from(&mut buf);
            record("udp peek_from", polls_behind_neighbour(peek).await);
            let recv = server.recv_from(&mut buf);
            record("udp recv_from", polls_behind_neighbour(recv).await);
            record(
                "udp recv",
                polls_behind_neighbour(server.recv(&mut buf)).await,
            );
        }
        .group("node")
        .primary()
        .spawn();
    });
    assert_eq!(polls.len(), 19);
    for (what, polls) in polls {
        assert_eq!(polls, 2, "{what}");
    }
}

// ------------------------------------------ correctness under any choices

const SEEDS: u64 = 16;

#[test]
fn bounded_mpsc_delivers_everything_in_per_sender_order_under_random_choices() {
    for seed in 0..SEEDS {
        let (received, sizes) = run(Some(Pick::Random(seed)), |out: Log<(u32, u32)>| {
            let (tx, mut rx) = mpsc::channel(2);
            for sender in 0..3u32 {
                let tx = tx.clone();
                async move {
                    for i in 0..100u32 {
                        tx.send((sender, i)).await.unwrap();
                        if i % 10 == 0 {
                            yield_now().await;
                        }
                    }
                }
                .spawn();
            }
            drop(tx);
            async move {
                while let Some(message) = rx.recv().await {
                    out.borrow_mut().push(message);
                }
            }
            .primary()
            .spawn();
        });
        assert!(!sizes.is_empty(), "seed {seed}: no choice was made");
        assert_eq!(received.len(), 300, "seed {seed}");
        for sender in 0..3 {
            let order: Vec<u32> = received
                .iter()
                .filter(|(from, _)| *from == sender)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(order, (0..100).collect::<Vec<_>>(), "seed {seed}");
        }
    }
}

#[test]
fn locks_semaphores_and_notifications_never_lose_a_wakeup_under_random_choices() {
    for seed in 0..SEEDS {
        let (out, _) = run(Some(Pick::Random(seed)), |out: Log<u32>| {
            let counter = Rc::new(Mutex::new(0u32));
            let table = Rc::new(RwLock::new(0u32));
            let permits = Rc::new(Semaphore::new(2));
            let done = Rc::new(Notify::new());
            let (finished_tx, mut finished_rx) = mpsc::unbounded_channel();
            for task in 0..6u32 {
                let (counter, table, permits) = (counter.clone(), table.clone(), permits.clone());
                let (done, finished_tx) = (done.clone(), finished_tx.clone());
                async move {
                    for round in 0..5 {
                        let _permit = permits.acquire().await.unwrap();
                        {
                            let mut count = counter.lock().await;
                            *count += 1;
                            yield_now().await;
                        }
                        if (task + round) % 2 == 0 {
                            *table.write().await += 1;
                        } else {
                            let _read = table.read().await;
                            yield_now().await;
                        }
                    }
                    finished_tx.send(task).unwrap();
                    done.notify_one();
                }
                .spawn();
            }
            drop(finished_tx);
            async move {
                let mut finished = 0;
                while finished < 6 {
                    done.notified().await;
                    while finished_rx.try_recv().is_ok() {
                        finished += 1;
                    }
                }
                let count = *counter.lock().await;
                let writes = *table.read().await;
                out.borrow_mut().extend([count, writes]);
            }
            .primary()
            .spawn();
        });
        assert_eq!(out, [30, 15], "seed {seed}");
    }
}

#[test]
fn channels_oneshot_and_watch_complete_under_random_choices() {
    for seed in 0..SEEDS {
        let (out, _) = run(Some(Pick::Random(seed)), |out: Log<u32>| {
            let (queue_tx, mut queue_rx) = queue::fifo(1).channel();
            let (watch_tx, mut watch_rx) = watch::channel(0u32);
            let (reply_tx, reply_rx) = oneshot::channel();
            for base in [0u32, 100] {
                let queue_tx = queue_tx.clone();
                async move {
                    for i in 0..20 {
                        queue_tx.send(base + i).await.unwrap();
                    }
                }
                .spawn();
            }
            drop(queue_tx);
            async move {
                let mut sum = 0;
                while let Some(value) = queue_rx.recv().await {
                    sum += value;
                    watch_tx.send_replace(sum);
                }
                reply_tx.send(sum).unwrap();
            }
            .spawn();
            async move {
                let total = (0..20).sum::<u32>() * 2 + 100 * 20;
                let seen = *watch_rx.wait_for(|sum| *sum == total).await.unwrap();
                out.borrow_mut().push(seen);
                let reply = reply_rx.await.unwrap();
                out.borrow_mut().push(reply);
            }
            .primary()
            .spawn();
        });
        assert_eq!(out, [2380, 2380], "seed {seed}");
    }
}

#[test]
fn udp_ping_pong_completes_under_random_choices() {
    for seed in 0..SEEDS {
        let (out, _) = run(Some(Pick::Random(seed)), |out: Log<u32>| {
            async {
                let socket = UdpSocket::bind("server:8080").await.unwrap();
                let mut buf = [0; 16];
                loop {
                    let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                    socket.send_to(&buf[..len], from).await.unwrap();
                }
            }
            .group("server")
            .spawn();
            for client in 0..3u32 {
                let out = out.clone();
                async move {
                    let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                    socket.connect("server:8080").await.unwrap();
                    let mut buf = [0; 16];
                    for i in 0..5u32 {
                        socket.send(&i.to_be_bytes()).await.unwrap();
                        let len = socket.recv(&mut buf).await.unwrap();
                        assert_eq!(&buf[..len], i.to_be_bytes());
                    }
                    out.borrow_mut().push(client);
                }
                .group(format!("client_{client}"))
                .primary()
                .spawn();
            }
        });
        assert_eq!(out.len(), 3, "seed {seed}");
    }
}
