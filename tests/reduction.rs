//! Dynamic partial-order reduction: an exhaustive depth-first search runs
//! about one execution per class of equivalent schedules (schedules that
//! differ only in the order of independent steps), not one per order of
//! every step, and still sees every distinct outcome.
//!
//! Each scenario has three tasks contending for one primitive, each
//! acting on it twice; the number of classes is the number of orders of
//! those six operations that keep each task's own two in sequence,
//! 6! / (2!·2!·2!) = 90. The search must see all 90 outcomes and run at
//! most twice as many executions.

use bach::{
    check::Explorer,
    ext::*,
    sync::{mpsc, Mutex, RwLock},
    task::yield_now,
};
use std::{cell::RefCell, collections::BTreeSet, rc::Rc};

/// Orders of six operations, two per task, each task's two in sequence.
const CLASSES: usize = 90;

thread_local! {
    static OUTCOMES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn outcome(text: String) {
    OUTCOMES.with(|outcomes| outcomes.borrow_mut().push(text));
}

/// Runs an exhaustive search of `body` and checks what it saw and cost.
fn explore(name: &str, body: fn()) {
    OUTCOMES.with(|outcomes| outcomes.borrow_mut().clear());
    let report = Explorer::new().run(body);
    let seen = OUTCOMES.with(|outcomes| std::mem::take(&mut *outcomes.borrow_mut()));
    let distinct: BTreeSet<&String> = seen.iter().collect();
    println!("{name}: {report}");
    assert!(report.complete(), "{name}: {report}");
    assert_eq!(distinct.len(), CLASSES, "{name}: outcomes {distinct:?}");
    assert!(
        report.executions() <= 2 * CLASSES as u64,
        "{name}: {} executions for {CLASSES} classes ({report})",
        report.executions()
    );
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
    explore("mutex", three_lockers);
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
    explore("rwlock", writers_and_a_reader);
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
    explore("channel", three_senders);
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
}

/// A small deterministic generator (SplitMix64) for the programs below.
fn programs(seed: u64, count: usize, tasks: usize, ops: usize) -> Vec<Vec<Vec<Op>>> {
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
                        .map(|_| match next(7) {
                            0 => Op::Lock(0),
                            1 => Op::Lock(1),
                            2 => Op::Send,
                            3 => Op::TryRecv,
                            4 => Op::Read,
                            5 => Op::Write,
                            _ => Op::Yield,
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
/// it saw; once all are done the primary task records every note and the
/// primitives' final contents.
fn generated() {
    let program = PROGRAM.with(|program| program.borrow().clone());
    let locks = Rc::new([Mutex::new(String::new()), Mutex::new(String::new())]);
    let log = Rc::new(RwLock::new(String::new()));
    let (tx, rx) = mpsc::channel::<usize>(16);
    let rx = Rc::new(Mutex::new(rx));
    let notes = Rc::new(RefCell::new(vec![String::new(); program.len()]));
    for (task, ops) in program.into_iter().enumerate() {
        let (locks, log, tx, rx, notes) = (
            locks.clone(),
            log.clone(),
            tx.clone(),
            rx.clone(),
            notes.clone(),
        );
        async move {
            let mut seen = String::new();
            for op in ops {
                match op {
                    Op::Lock(at) => locks[at].lock().await.push_str(&task.to_string()),
                    Op::Send => tx.send(task).await.unwrap(),
                    Op::TryRecv => {
                        let got = rx.lock().await.try_recv().ok();
                        seen.push_str(&format!("r{got:?}"));
                    }
                    Op::Read => seen.push_str(&format!("l{}", log.read().await.len())),
                    Op::Write => log.write().await.push_str(&task.to_string()),
                    Op::Yield => yield_now().await,
                }
            }
            notes.borrow_mut()[task] = seen;
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

#[test]
fn the_reduction_reaches_every_outcome_of_the_full_search() {
    let (mut reduced_total, mut full_total) = (0, 0);
    let generated = programs(7, PROGRAMS, 3, 2)
        .into_iter()
        .chain(programs(11, PROGRAMS, 2, 4));
    for (number, program) in generated.enumerate() {
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
    println!(
        "{} programs: {reduced_total} executions reduced, {full_total} in full",
        2 * PROGRAMS
    );
    assert!(
        reduced_total * 4 < full_total,
        "{reduced_total} vs {full_total}"
    );
}
