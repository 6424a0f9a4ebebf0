//! Dynamic partial-order reduction: an exhaustive depth-first search runs
//! about one execution per class of equivalent schedules (schedules that
//! differ only in the order of independent steps), not one per order of
//! every step, and still sees every distinct outcome.
//!
//! Each scenario has tasks (or processes) contending for one primitive, a
//! socket or a process, and derives its number of classes in a comment.
//! Most have three tasks each acting twice: the classes are the orders of
//! those six operations that keep each task's own two in sequence,
//! 6! / (2!·2!·2!) = 90. The search must be complete, see one outcome per
//! class and run at most twice as many executions. The search without
//! reduction then runs for comparison, up to a budget; when it completes it
//! must see the same outcomes.
//!
//! What each scenario costs (`cargo test --test reduction -- --nocapture`
//! prints it; "without" was measured once with a budget of 3,000,000
//! executions, the test's budget is 20,000; "redundant" executions stopped
//! early, their schedule equivalent to one already explored):
//!
//! | scenario | classes | with reduction | redundant | without |
//! |---|---:|---:|---:|---:|
//! | mutex: three tasks lock twice | 90 | 90 | 0 | over 3,000,000 |
//! | rwlock: two writers, a reader | 90 | 90 | 0 | over 3,000,000 |
//! | channel: three senders send twice | 90 | 90 | 0 | over 3,000,000 |
//! | semaphore, one permit: three tasks take it twice | 90 | 90 | 0 | over 3,000,000 |
//! | semaphore, two permits: three tasks take one | 90 | 90 | 0 | 17,340 |
//! | notify: three waiters, woken one by one | 6 | 6 | 0 | 630 |
//! | UDP: three nodes send twice to one socket | 90 | 90 | 0 | over 3,000,000 |
//! | UDP: two nodes send once to one socket | 2 | 2 | 0 | 560 |
//! | processes: three nodes send to a fourth | 6 | 6 | 0 | 226,800 |
//! | processes: three send to one on their node | 24 (6 outcomes) | 30 | 6 | over 3,000,000 |
//! | three mutexes, one per task | 1 | 1 | 0 | |
//! | three UDP senders, a receiver each | 1 | 1 | 0 | |

use bach::{
    check::Explorer,
    ext::*,
    net::UdpSocket,
    process::{Context, Message, Process},
    sync::{mpsc, Mutex, Notify, RwLock, Semaphore},
    task::yield_now,
    Simulation,
};
use std::{cell::RefCell, collections::BTreeSet, rc::Rc, time::Duration};

/// Orders of six operations, two per task, each task's two in sequence.
const CLASSES: usize = 90;

/// The most executions a search without reduction may run for comparison
/// (about a second): most scenarios have far more, and report only that.
const FULL_BUDGET: u64 = 20_000;

thread_local! {
    static OUTCOMES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn outcome(text: String) {
    OUTCOMES.with(|outcomes| outcomes.borrow_mut().push(text));
}

/// Explores the scenario `run` runs under an explorer, first with the
/// reduction: it must be complete, see `distinct` outcomes and run at
/// most twice `classes` executions. Then without, up to [`FULL_BUDGET`]
/// executions: if that search is complete, it must see the same
/// outcomes. Prints both counts.
fn measure(
    name: &str,
    classes: usize,
    distinct: usize,
    run: impl Fn(Explorer) -> bach::check::Report,
) {
    let outcomes = |explorer| {
        OUTCOMES.with(|outcomes| outcomes.borrow_mut().clear());
        let report = run(explorer);
        let seen = OUTCOMES.with(|outcomes| std::mem::take(&mut *outcomes.borrow_mut()));
        (seen.into_iter().collect::<BTreeSet<_>>(), report)
    };
    let (reduced, report) = outcomes(Explorer::new().max_executions(10 * classes as u64));
    assert!(report.complete(), "{name}: {report}");
    assert_eq!(reduced.len(), distinct, "{name}: outcomes {reduced:?}");
    assert!(
        report.executions() <= 2 * classes as u64,
        "{name}: {} executions for {classes} classes ({report})",
        report.executions()
    );
    let (full, full_report) = outcomes(
        Explorer::new()
            .reduction(false)
            .progress(false)
            .max_executions(FULL_BUDGET),
    );
    let without = if full_report.complete() {
        assert_eq!(
            reduced, full,
            "{name}: the reduced search saw other outcomes"
        );
        full_report.executions().to_string()
    } else {
        format!("over {FULL_BUDGET}")
    };
    println!(
        "{name}: {classes} classes, {} executions with reduction ({} redundant), {without} without",
        report.executions(),
        report.outcome("redundant"),
    );
}

/// [`measure`] for a body whose every class has an outcome of its own.
fn explore(name: &str, classes: usize, body: impl Fn()) {
    measure(name, classes, classes, |explorer| explorer.run(&body));
}

/// Each task takes the lock twice: lock, record, unlock, yield.
fn three_lockers() {
    let log = Rc::new(Mutex::new(String::new()));
    for task in ["a", "b", "c"] {
        let log = log.clone();
        async move {
            for _ in 0..2 {
                log.lock().await.push_str(task);
                yield_now().await;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        outcome(log.lock().await.clone());
    }
    .primary()
    .spawn();
}

#[test]
fn three_tasks_locking_a_mutex_twice_run_once_per_lock_order() {
    explore("mutex", CLASSES, three_lockers);
}

/// Two writers append twice; one reader reads the length twice.
fn writers_and_a_reader() {
    let log = Rc::new(RwLock::new(String::new()));
    let reads = Rc::new(RefCell::new(Vec::new()));
    for task in ["a", "b"] {
        let log = log.clone();
        async move {
            for _ in 0..2 {
                log.write().await.push_str(task);
                yield_now().await;
            }
        }
        .spawn();
    }
    {
        let (log, reads) = (log.clone(), reads.clone());
        async move {
            for _ in 0..2 {
                let length = log.read().await.len();
                reads.borrow_mut().push(length);
                yield_now().await;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        let writes = log.read().await.clone();
        outcome(format!("{writes} read {:?}", reads.borrow()));
    }
    .primary()
    .spawn();
}

#[test]
fn writers_and_a_reader_on_an_rwlock_run_once_per_order() {
    explore("rwlock", CLASSES, writers_and_a_reader);
}

/// Three senders send twice each on one channel; the receiver drains it
/// once they are done.
fn three_senders() {
    let (tx, mut rx) = mpsc::channel::<&'static str>(8);
    for task in ["a", "b", "c"] {
        let tx = tx.clone();
        async move {
            for _ in 0..2 {
                tx.send(task).await.unwrap();
                yield_now().await;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        let mut order = String::new();
        while let Ok(message) = rx.try_recv() {
            order.push_str(message);
        }
        outcome(order);
    }
    .primary()
    .spawn();
}

#[test]
fn three_senders_on_a_channel_run_once_per_arrival_order() {
    explore("channel", CLASSES, three_senders);
}

/// Three tasks on three locks of their own: nothing to permute.
#[test]
fn independent_locks_still_run_once() {
    OUTCOMES.with(|outcomes| outcomes.borrow_mut().clear());
    let report = Explorer::new().run(|| {
        for task in 0..3 {
            let lock = Mutex::new(task);
            async move {
                for _ in 0..2 {
                    *lock.lock().await += 1;
                    yield_now().await;
                }
            }
            .primary()
            .spawn();
        }
    });
    assert!(report.complete(), "{report}");
    assert_eq!(report.executions(), 1, "{report}");
}

/// Each task takes the only permit twice: acquire, record, release,
/// yield; the same 90 orders as the mutex.
fn three_acquirers() {
    let semaphore = Rc::new(Semaphore::new(1));
    let log = Rc::new(RefCell::new(String::new()));
    for task in ["a", "b", "c"] {
        let (semaphore, log) = (semaphore.clone(), log.clone());
        async move {
            for _ in 0..2 {
                let permit = semaphore.acquire().await.unwrap();
                log.borrow_mut().push_str(task);
                drop(permit);
                yield_now().await;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        outcome(log.borrow().clone());
    }
    .primary()
    .spawn();
}

#[test]
fn three_tasks_taking_a_semaphore_permit_twice_run_once_per_order() {
    explore("semaphore", CLASSES, three_acquirers);
}

/// Two permits for three tasks: each takes one, holds it across a yield
/// and gives it back, logging both (and how many permits are free after
/// giving it back). Classes: the 6!/2^3 = 90 orders of the six operations
/// with each task's take before its release, less the 36 in which all
/// three take before anyone releases (impossible with two permits), is
/// 54; plus 36 in which the third task asks while two hold: it waits, the
/// first release hands it the permit (leaving none free: so the log tells
/// these apart), then the other release and its own take and release come
/// in any of 3 orders: 6 orders of the takes × 2 first releases × 3. In
/// all, 90.
fn two_permits_three_tasks() {
    let semaphore = Rc::new(Semaphore::new(2));
    let log = Rc::new(RefCell::new(String::new()));
    for task in ["a", "b", "c"] {
        let (semaphore, log) = (semaphore.clone(), log.clone());
        async move {
            let permit = semaphore.acquire().await.unwrap();
            log.borrow_mut().push_str(&format!("{task}+"));
            yield_now().await;
            drop(permit);
            let left = semaphore.available_permits();
            log.borrow_mut().push_str(&format!("{task}-{left} "));
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        outcome(log.borrow().clone());
    }
    .primary()
    .spawn();
}

#[test]
fn three_tasks_sharing_two_permits_run_once_per_order() {
    explore("semaphore of two", 90, two_permits_three_tasks);
}

/// Three tasks wait on one `Notify` at t = 0; a fourth notifies one
/// waiter per millisecond. `notify_one` wakes the oldest waiter, so the
/// wake order is the order the three registered: 3! = 6 classes.
fn three_waiters() {
    let notify = Rc::new(Notify::new());
    let woken = Rc::new(RefCell::new(String::new()));
    for task in ["a", "b", "c"] {
        let (notify, woken) = (notify.clone(), woken.clone());
        async move {
            notify.notified().await;
            woken.borrow_mut().push_str(task);
        }
        .spawn();
    }
    async move {
        for _ in 0..3 {
            1.ms().sleep().await;
            notify.notify_one();
        }
        1.ms().sleep().await;
        outcome(woken.borrow().clone());
    }
    .primary()
    .spawn();
}

#[test]
fn three_waiters_on_a_notify_run_once_per_wake_order() {
    explore("notify", 6, three_waiters);
}

/// Three nodes each send `sends` datagrams to one socket at t = 0. The
/// default link (a fixed 1 ms latency, no jitter, no loss) delivers them
/// all at t = 1 ms in the order they were sent, so the arrival order the
/// receiver sees is the order of the sends: with two each, the 90 orders
/// of six operations; with one each, 3! = 6.
fn udp_senders(nodes: &'static [&'static str], sends: usize) {
    for &node in nodes {
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            for _ in 0..sends {
                socket
                    .send_to(node.as_bytes(), "receiver:9000")
                    .await
                    .unwrap();
                yield_now().await;
            }
        }
        .group(node)
        .spawn();
    }
    async move {
        let socket = UdpSocket::bind("receiver:9000").await.unwrap();
        let mut order = String::new();
        let mut datagram = [0; 1];
        for _ in 0..nodes.len() * sends {
            socket.recv_from(&mut datagram).await.unwrap();
            order.push(char::from(datagram[0]));
        }
        outcome(order);
    }
    .group("receiver")
    .primary()
    .spawn();
}

#[test]
fn three_nodes_sending_to_one_udp_socket_run_once_per_arrival_order() {
    explore("udp", CLASSES, || udp_senders(&["a", "b", "c"], 2));
    explore("udp, two nodes", 2, || udp_senders(&["a", "b"], 1));
}

/// Three senders, each sending twice to a receiver of its own: nothing to
/// permute.
#[test]
fn independent_sockets_still_run_once() {
    let report = Explorer::new().run(|| {
        for pair in ["1", "2", "3"] {
            let receiver = format!("receiver{pair}");
            async move {
                let socket = UdpSocket::bind(format!("{receiver}:9000")).await.unwrap();
                let mut datagram = [0; 1];
                for _ in 0..2 {
                    socket.recv_from(&mut datagram).await.unwrap();
                }
            }
            .group(format!("receiver{pair}"))
            .primary()
            .spawn();
            async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                for _ in 0..2 {
                    let to = format!("receiver{pair}:9000");
                    socket.send_to(b"x", to.as_str()).await.unwrap();
                    yield_now().await;
                }
            }
            .group(format!("sender{pair}"))
            .spawn();
        }
    });
    assert!(report.complete(), "{report}");
    assert_eq!(report.executions(), 1, "{report}");
}

/// Sends its name to `receiver` when its timer fires, 1 ms after start.
struct Sender;

impl Process for Sender {
    fn on_start(&mut self, ctx: &mut Context) {
        ctx.set_timer("send", Duration::from_millis(1));
    }

    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}

    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        ctx.send(Message::new("HELLO", ""), "receiver");
    }
}

/// Records the order its three messages arrive in.
#[derive(Default)]
struct Receiver {
    order: Vec<String>,
}

impl Process for Receiver {
    fn on_message(&mut self, _: Message, from: &str, _: &mut Context) {
        self.order.push(from.to_string());
        if self.order.len() == 3 {
            outcome(self.order.join(" "));
        }
    }
}

/// Three processes, each on a node of its own (or all on `receiver`'s
/// node), send to `receiver` from timers that fire at the same instant.
/// Over the network (the default link: a fixed 1 ms latency) the messages
/// arrive together, in the order they were sent; on one node they are
/// queued for the receiver in that order. Either way the delivery order
/// is the order of the three sends, one of 3! = 6; over the network these
/// are the classes.
fn three_processes(same_node: bool) -> impl Fn(&mut Simulation) {
    move |sim| {
        sim.add_process("receiver", "receiver-node", Receiver::default());
        for name in ["a", "b", "c"] {
            let node = if same_node {
                "receiver-node".to_string()
            } else {
                format!("{name}-node")
            };
            sim.add_process(name, &node, Sender);
        }
    }
}

#[test]
fn three_processes_sending_to_one_run_once_per_delivery_order() {
    measure("processes", 6, 6, |explorer| {
        explorer.run_with(three_processes(false))
    });
}

/// On one node the receiver's task runs as soon as the first message is
/// queued for it and takes everything queued then: each of the 6 send
/// orders comes with the 4 ways of cutting it into batches (1+1+1, 1+2,
/// 2+1, 3), 24 classes, of which the delivery order shows 6.
#[test]
fn three_processes_on_one_node_run_once_per_delivery_order() {
    measure("processes on one node", 24, 6, |explorer| {
        explorer.run_with(three_processes(true))
    });
}

/// One operation of a generated task.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Lock mutex 0 or 1 and append the task's name.
    Lock(usize),
    /// Send the task's name on the channel.
    Send,
    /// Take one message off the channel if there is one, noting it.
    TryRecv,
    /// Read the rwlock's log, noting its length.
    Read,
    /// Append to the rwlock's log.
    Write,
    Yield,
    /// `notify_one` on the notify.
    NotifyOne,
    /// `notify_waiters` on the notify.
    NotifyWaiters,
    /// Wait on the notify (possibly for ever), noting when notified.
    Notified,
}

/// A small deterministic generator (SplitMix64) for the programs below;
/// with `notify`, operations on the notify are drawn too.
fn programs(seed: u64, count: usize, tasks: usize, ops: usize, notify: bool) -> Vec<Vec<Vec<Op>>> {
    let kinds = if notify { 10 } else { 7 };
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    };
    (0..count)
        .map(|_| {
            (0..tasks)
                .map(|_| {
                    (0..ops)
                        .map(|_| match next(kinds) {
                            0 => Op::Lock(0),
                            1 => Op::Lock(1),
                            2 => Op::Send,
                            3 => Op::TryRecv,
                            4 => Op::Read,
                            5 => Op::Write,
                            6 => Op::Yield,
                            7 => Op::NotifyOne,
                            8 => Op::NotifyWaiters,
                            _ => Op::Notified,
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

thread_local! {
    static PROGRAM: RefCell<Vec<Vec<Op>>> = const { RefCell::new(Vec::new()) };
}

/// Runs the current `PROGRAM`: each task runs its operations, noting what
/// it saw (a task may wait for ever on the notify); once all are done the
/// primary task records every note and the primitives' final contents.
fn generated() {
    let program = PROGRAM.with(|program| program.borrow().clone());
    let locks = Rc::new([Mutex::new(String::new()), Mutex::new(String::new())]);
    let log = Rc::new(RwLock::new(String::new()));
    let (tx, rx) = mpsc::channel::<usize>(16);
    let rx = Rc::new(Mutex::new(rx));
    let notify = Rc::new(Notify::new());
    let notes = Rc::new(RefCell::new(vec![String::new(); program.len()]));
    for (task, ops) in program.into_iter().enumerate() {
        let (locks, log, tx, rx, notify, notes) = (
            locks.clone(),
            log.clone(),
            tx.clone(),
            rx.clone(),
            notify.clone(),
            notes.clone(),
        );
        let note = move |seen: String| notes.borrow_mut()[task].push_str(&seen);
        async move {
            for op in ops {
                match op {
                    Op::Lock(at) => locks[at].lock().await.push_str(&task.to_string()),
                    Op::Send => tx.send(task).await.unwrap(),
                    Op::TryRecv => {
                        let got = rx.lock().await.try_recv().ok();
                        note(format!("r{got:?}"));
                    }
                    Op::Read => note(format!("l{}", log.read().await.len())),
                    Op::Write => log.write().await.push_str(&task.to_string()),
                    Op::Yield => yield_now().await,
                    Op::NotifyOne => notify.notify_one(),
                    Op::NotifyWaiters => notify.notify_waiters(),
                    Op::Notified => {
                        notify.notified().await;
                        note("n".into());
                    }
                }
            }
        }
        .spawn();
    }
    drop(tx);
    async move {
        1.ms().sleep().await;
        let mut rest = Vec::new();
        while let Ok(message) = rx.lock().await.try_recv() {
            rest.push(message);
        }
        let notes = notes.borrow().clone();
        outcome(format!(
            "{notes:?} {} {} {} {rest:?}",
            *locks[0].lock().await,
            *locks[1].lock().await,
            *log.read().await
        ));
    }
    .primary()
    .spawn();
}

/// The outcomes of an exhaustive search of the current program.
fn outcomes_of(explorer: Explorer) -> (BTreeSet<String>, u64) {
    OUTCOMES.with(|outcomes| outcomes.borrow_mut().clear());
    let report = explorer.run(generated);
    assert!(report.complete(), "{report}");
    let seen = OUTCOMES.with(|outcomes| std::mem::take(&mut *outcomes.borrow_mut()));
    (seen.into_iter().collect(), report.executions())
}

/// Generated programs compared: this many of three tasks with two
/// operations each, and as many of two tasks with four.
const PROGRAMS: usize = 20;

/// Runs every program with and without the reduction: the same outcomes,
/// and the reduced search never runs more. Returns the executions of
/// both.
fn compare(programs: impl Iterator<Item = Vec<Vec<Op>>>) -> (u64, u64) {
    let (mut reduced_total, mut full_total) = (0, 0);
    for (number, program) in programs.enumerate() {
        PROGRAM.with(|current| *current.borrow_mut() = program.clone());
        let (reduced, reduced_executions) = outcomes_of(Explorer::new());
        let (full, full_executions) = outcomes_of(Explorer::new().reduction(false).progress(false));
        assert_eq!(
            reduced, full,
            "program {number} {program:?}: the reduced search saw other outcomes than the full one"
        );
        assert!(reduced_executions <= full_executions);
        reduced_total += reduced_executions;
        full_total += full_executions;
    }
    (reduced_total, full_total)
}

#[test]
fn the_reduction_reaches_every_outcome_of_the_full_search() {
    let (reduced_total, full_total) = compare(
        programs(7, PROGRAMS, 3, 2, false)
            .into_iter()
            .chain(programs(11, PROGRAMS, 2, 4, false)),
    );
    println!(
        "{} programs: {reduced_total} executions reduced, {full_total} in full",
        2 * PROGRAMS
    );
    assert!(
        reduced_total * 4 < full_total,
        "{reduced_total} vs {full_total}"
    );
}

/// The same with operations on a `Notify` among the others: waiting,
/// `notify_one` (which a later wait may consume) and `notify_waiters`
/// (which only wakes waits that began before it).
#[test]
fn the_reduction_reaches_every_outcome_of_the_full_search_with_a_notify() {
    let (reduced_total, full_total) = compare(
        programs(13, PROGRAMS, 3, 2, true)
            .into_iter()
            .chain(programs(17, PROGRAMS, 2, 4, true)),
    );
    println!(
        "{} programs with a notify: {reduced_total} executions reduced, {full_total} in full",
        2 * PROGRAMS
    );
    assert!(
        reduced_total * 4 < full_total,
        "{reduced_total} vs {full_total}"
    );
}
