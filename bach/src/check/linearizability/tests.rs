//! The checker against hand-written histories with known verdicts, the
//! shipped models, malformed input, and generated histories of real objects.

use super::{
    check_events, check_operations, events_from_operations, generate,
    models::{
        KeyValue, KvInput, KvOutput, Lock, LockInput, LockOutput, Queue, QueueInput, QueueOutput,
        Register, RegisterInput, RegisterOutput, Set, SetInput, SetOutput,
    },
    operations_from_events, CheckResult, Event, HistoryError, Model, Operation, Options, Ties,
};
use std::time::{Duration, Instant};

type RegisterOp = Operation<RegisterInput<u64>, RegisterOutput<u64>>;
type KvOp = Operation<KvInput<u64, u64>, KvOutput<u64>>;

fn write(client: u64, value: u64, call: u64, ret: u64) -> RegisterOp {
    Operation::returned(
        client,
        RegisterInput::Write(value),
        call,
        RegisterOutput::Write,
        ret,
    )
}

fn read(client: u64, value: u64, call: u64, ret: u64) -> RegisterOp {
    Operation::returned(
        client,
        RegisterInput::Read,
        call,
        RegisterOutput::Read(value),
        ret,
    )
}

fn pending_write(client: u64, value: u64, call: u64) -> RegisterOp {
    Operation::pending(client, RegisterInput::Write(value), call)
}

fn check<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> CheckResult {
    check_operations(model, history, Options::default()).expect("a well-formed history")
}

fn register_verdict(history: &[RegisterOp]) -> bool {
    check(&Register::new(0), history).is_linearizable()
}

fn get(client: u64, key: u64, value: Option<u64>, call: u64, ret: u64) -> KvOp {
    Operation::returned(client, KvInput::Get(key), call, KvOutput::Get(value), ret)
}

fn put(client: u64, key: u64, value: u64, call: u64, ret: u64) -> KvOp {
    Operation::returned(client, KvInput::Put(key, value), call, KvOutput::Put, ret)
}

#[test]
fn an_empty_history_is_linearizable() {
    assert_eq!(check(&Register::new(0), &[]), CheckResult::Linearizable);
}

#[test]
fn sequential_register_histories() {
    assert!(register_verdict(&[
        read(0, 0, 0, 1),
        write(0, 1, 2, 3),
        read(1, 1, 4, 5),
        write(1, 2, 6, 7),
        read(0, 2, 8, 9),
    ]));
    // A read after a completed write sees the old value.
    assert!(!register_verdict(&[write(0, 1, 0, 10), read(1, 0, 20, 30)]));
    // A read of a value nobody wrote.
    assert!(!register_verdict(&[write(0, 1, 0, 10), read(1, 7, 20, 30)]));
}

#[test]
fn overlapping_operations_take_effect_in_some_order() {
    // Two concurrent writes: a later read may see either one...
    for seen in [1, 2] {
        assert!(register_verdict(&[
            write(0, 1, 0, 100),
            write(1, 2, 10, 90),
            read(2, seen, 110, 120),
        ]));
    }
    // ...but once both returned, the value no longer changes.
    assert!(!register_verdict(&[
        write(0, 1, 0, 100),
        write(1, 2, 10, 90),
        read(2, 1, 110, 120),
        read(2, 2, 130, 140),
    ]));
    // A read concurrent with a write sees the old or the new value, and a
    // later read that saw the old value is fine only if it overlaps too.
    assert!(register_verdict(&[
        write(0, 1, 0, 100),
        read(1, 1, 10, 20),
        read(2, 0, 15, 30),
    ]));
    assert!(!register_verdict(&[
        write(0, 1, 0, 100),
        read(1, 1, 10, 20),
        read(2, 0, 25, 30),
    ]));
}

#[test]
fn a_pending_write_explains_a_later_read() {
    // Only the write that never returned could have written 1.
    assert!(register_verdict(&[
        pending_write(0, 1, 0),
        read(1, 1, 10, 20),
        read(1, 1, 30, 40),
    ]));
}

#[test]
fn a_pending_write_may_never_take_effect() {
    // Nobody saw it: it may have been lost.
    assert!(register_verdict(&[
        pending_write(0, 1, 0),
        read(1, 0, 10, 20),
        read(1, 0, 30, 40),
    ]));
    // Once seen, it took effect for good.
    assert!(!register_verdict(&[
        pending_write(0, 1, 0),
        read(1, 1, 10, 20),
        read(1, 0, 30, 40),
    ]));
    // It cannot take effect before it was called.
    assert!(!register_verdict(&[
        read(1, 1, 10, 20),
        pending_write(0, 1, 50)
    ]));
}

#[test]
fn equal_times_are_read_as_options_say() {
    // The write returned at 10 and the read was called at 10.
    let touching = [write(0, 1, 0, 10), read(1, 0, 10, 20)];
    let result = |ties| {
        check_operations(&Register::new(0), &touching, Options::new().ties(ties))
            .expect("well formed")
            .is_linearizable()
    };
    assert!(!result(Ties::ReturnBeforeCall), "the write came first");
    assert!(result(Ties::Concurrent), "they overlap");
    // An operation that returned as soon as it was called sits between the
    // returns and the calls at that time.
    let instant = [
        write(0, 1, 0, 10),
        read(1, 1, 10, 10),
        write(2, 2, 10, 20),
        read(3, 2, 25, 30),
    ];
    assert!(check(&Register::new(0), &instant).is_linearizable());
    let mut wrong = instant.clone();
    wrong[1] = read(1, 2, 10, 10);
    assert!(!check(&Register::new(0), &wrong).is_linearizable());
}

#[test]
fn a_key_value_violation_is_reported_in_its_key() {
    // Keys 0, 1, 2 behave; key 1 has a stale read.
    let history = vec![
        put(0, 0, 10, 0, 5),
        put(1, 1, 11, 0, 5),
        put(2, 2, 12, 0, 5),
        put(0, 1, 21, 10, 15),
        get(1, 0, Some(10), 20, 25),
        get(2, 1, Some(11), 20, 25),
        get(0, 2, Some(12), 20, 25),
    ];
    let result = check(&KeyValue::new(), &history);
    let witness = result.witness().expect("key 1 is not linearizable");
    assert_eq!(witness.partitions, 3);
    assert_eq!(witness.failures.len(), 1);
    let failure = &witness.failures[0];
    assert_eq!(failure.partition, 1, "key 1 is the second key to appear");
    assert_eq!(failure.operations, 3);
    let ids: Vec<u64> = failure
        .prefix
        .iter()
        .map(|placed| placed.operation.id)
        .collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(failure.prefix[1].state, "Some(21)");
    assert_eq!(failure.unplaceable.len(), 1);
    let stuck = &failure.unplaceable[0];
    assert_eq!(stuck.operation.id, 5);
    assert_eq!(stuck.operation.description, "get(1) -> Some(11)");
    assert_eq!(stuck.accepted, None);
}

#[test]
fn the_witness_names_the_unplaceable_operation() {
    let history = [write(3, 1, 0, 10), write(4, 2, 20, 30), read(7, 1, 40, 50)];
    let result = check(&Register::new(0), &history);
    let text = result.to_string();
    assert!(
        text.contains("partition 0 of 1 (3 operation(s)) has no linearization"),
        "{text}"
    );
    assert!(
        text.contains("client 7, called at 40, returned at 50: read() -> 1"),
        "{text}"
    );
    assert!(
        text.contains("rejected by the model in that state"),
        "{text}"
    );
    let failure = &result.witness().expect("not linearizable").failures[0];
    assert_eq!(failure.initial_state, "0");
    let states: Vec<&str> = failure
        .prefix
        .iter()
        .map(|placed| placed.state.as_str())
        .collect();
    assert_eq!(states, ["1", "2"]);
    assert_eq!(failure.unplaceable[0].operation.client, 7);
    assert_eq!(failure.unplaceable[0].operation.call, 40);
    assert_eq!(failure.unplaceable[0].operation.ret, Some(50));
}

#[test]
fn the_witness_lists_every_operation_that_could_come_next() {
    // After write(1), two concurrent reads both see 5: neither fits.
    let history = [
        write(0, 1, 0, 10),
        read(1, 5, 20, 40),
        read(2, 5, 25, 35),
        pending_write(3, 9, 30),
    ];
    let result = check(&Register::new(0), &history);
    let failure = &result.witness().expect("not linearizable").failures[0];
    assert_eq!(failure.prefix.len(), 1);
    let stuck: Vec<(u64, Option<&str>)> = failure
        .unplaceable
        .iter()
        .map(|u| (u.operation.client, u.accepted.as_deref()))
        .collect();
    // In call order; the pending write is accepted but leads nowhere.
    assert_eq!(stuck, [(1, None), (2, None), (3, Some("9"))]);
    assert!(result
        .to_string()
        .contains("never returned: write(9) -> (no return)"));
}

#[test]
fn the_result_does_not_depend_on_threads() {
    // Violations in keys 3 and 7 of a generated history.
    let mut history = generate::kv(7, 2_000, 10, 6);
    let stale = generate::inject_stale_read(&mut history).expect("a stale read to inject");
    let key = *history[stale].input.key();
    let other = history
        .iter()
        .position(|op| *op.input.key() != key && matches!(op.output, Some(KvOutput::Get(Some(_)))))
        .expect("a read of another key");
    history[other].output = Some(KvOutput::Get(Some(u64::MAX)));
    let results: Vec<CheckResult> = [1, 2, 4, 8]
        .into_iter()
        .map(|threads| {
            check_operations(&KeyValue::new(), &history, Options::new().threads(threads))
                .expect("well formed")
        })
        .collect();
    assert!(results.iter().all(|result| *result == results[0]));
    let lowest = results[0].witness().expect("not linearizable");
    assert_eq!(lowest.failures.len(), 1);

    let every = check_operations(
        &KeyValue::new(),
        &history,
        Options::new().stop_at_first_failure(false),
    )
    .expect("well formed");
    let every = every.witness().expect("not linearizable");
    let failing: Vec<usize> = every.failures.iter().map(|f| f.partition).collect();
    assert_eq!(failing.len(), 2);
    assert_eq!(failing[0], lowest.failures[0].partition);
    assert_eq!(every.failures[0], lowest.failures[0]);
}

#[test]
fn a_time_limit_that_runs_out_gives_unknown() {
    let history = generate::kv(1, 1_000, 10, 4);
    let result = check_operations(
        &KeyValue::new(),
        &history,
        Options::new().time_limit(Duration::ZERO).threads(2),
    )
    .expect("well formed");
    assert_eq!(
        result,
        CheckResult::Unknown {
            unfinished: (0..10).collect(),
            partitions: 10
        }
    );
    assert!(
        result.to_string().contains("10 of 10 partition(s)"),
        "{result}"
    );
    // A limit that does not run out changes nothing.
    let generous = check_operations(
        &KeyValue::new(),
        &history,
        Options::new().time_limit(Duration::from_secs(60)),
    )
    .expect("well formed");
    assert!(generous.is_linearizable());
}

#[test]
fn malformed_event_histories_are_errors() {
    type E = Event<RegisterInput<u64>, RegisterOutput<u64>>;
    let call = |id, time| E::Call {
        client: 0,
        id,
        input: RegisterInput::Read,
        time,
    };
    let ret = |id, time| E::Return {
        id,
        output: RegisterOutput::Read(0),
        time,
    };
    let cases: [(Vec<E>, HistoryError); 4] = [
        (
            vec![call(1, 0), ret(2, 5)],
            HistoryError::ReturnWithoutCall { id: 2 },
        ),
        // The return must follow its call in the list.
        (
            vec![ret(1, 5), call(1, 0)],
            HistoryError::ReturnWithoutCall { id: 1 },
        ),
        (
            vec![call(1, 10), ret(1, 5)],
            HistoryError::ReturnBeforeCall {
                id: 1,
                call: 10,
                ret: 5,
            },
        ),
        (
            vec![call(1, 0), call(1, 3)],
            HistoryError::DuplicateCall { id: 1 },
        ),
    ];
    for (events, expected) in cases {
        let error = check_events(&Register::new(0), &events, Options::default()).unwrap_err();
        assert_eq!(error, expected);
        assert_eq!(operations_from_events(events).unwrap_err(), expected);
    }
    let twice = [call(4, 0), ret(4, 5), ret(4, 6)];
    let error = check_events(&Register::new(0), &twice, Options::default()).unwrap_err();
    assert_eq!(error, HistoryError::DuplicateReturn { id: 4 });
    assert_eq!(error.to_string(), "malformed history: two returns for id 4");
}

#[test]
fn malformed_operation_histories_are_errors() {
    let mut backwards = read(0, 0, 10, 20);
    backwards.ret = Some(5);
    let mut half = read(0, 0, 10, 20);
    half.ret = None;
    for (bad, expected) in [
        (
            backwards,
            HistoryError::ReturnBeforeCall {
                id: 1,
                call: 10,
                ret: 5,
            },
        ),
        (half, HistoryError::HalfReturned { id: 1 }),
    ] {
        let history = vec![read(0, 0, 0, 1), bad];
        let error = check_operations(&Register::new(0), &history, Options::default()).unwrap_err();
        assert_eq!(error, expected);
        assert_eq!(events_from_operations(history).unwrap_err(), expected);
    }
    let error = HistoryError::ReturnBeforeCall {
        id: 1,
        call: 10,
        ret: 5,
    };
    assert_eq!(
        error.to_string(),
        "malformed history: operation 1 returns at 5, before its call at 10"
    );
}

/// A register whose partition is whatever the test says.
struct Partitioned(Vec<Vec<usize>>);

impl Model for Partitioned {
    type State = u64;
    type Input = RegisterInput<u64>;
    type Output = RegisterOutput<u64>;

    fn init(&self) -> u64 {
        0
    }

    fn step(&self, state: &u64, input: &Self::Input, output: Option<&Self::Output>) -> Option<u64> {
        Register::new(0).step(state, input, output)
    }

    fn partition(&self, _: &[&Self::Input]) -> Vec<Vec<usize>> {
        self.0.clone()
    }
}

#[test]
fn an_invalid_partition_is_an_error() {
    let history = [read(0, 0, 0, 1), read(0, 0, 2, 3)];
    for (parts, reason) in [
        (
            vec![vec![0, 1, 2]],
            "it names position 2, but the history has 2 operation(s)",
        ),
        (vec![vec![0, 1], vec![1]], "operation 1 is in two parts"),
        (vec![vec![1]], "operation 0 is in no part"),
    ] {
        let error =
            check_operations(&Partitioned(parts), &history, Options::default()).unwrap_err();
        assert_eq!(
            error,
            HistoryError::InvalidPartition {
                reason: reason.to_string()
            }
        );
    }
    // Empty parts are allowed and keep their place.
    let result = check(&Partitioned(vec![vec![], vec![0, 1]]), &history);
    assert!(result.is_linearizable());
}

#[test]
fn events_and_operations_convert_both_ways() {
    let history = vec![
        write(0, 1, 0, 10),
        read(1, 1, 10, 10),
        pending_write(2, 2, 5),
        read(1, 2, 20, 30),
    ];
    let events = events_from_operations(history.clone()).expect("well formed");
    // Sorted by time; the instantaneous read after the write's return.
    let order: Vec<(u64, bool)> = events
        .iter()
        .map(|event| match event {
            Event::Call { id, .. } => (*id, false),
            Event::Return { id, .. } => (*id, true),
        })
        .collect();
    assert_eq!(
        order,
        [
            (0, false),
            (2, false),
            (0, true),
            (1, false),
            (1, true),
            (3, false),
            (3, true)
        ]
    );
    let back = operations_from_events(events.clone()).expect("well formed");
    // Operations come back in the order of their calls.
    assert_eq!(
        back,
        [&history[0], &history[2], &history[1], &history[3]].map(Clone::clone)
    );
    assert_eq!(
        check_events(&Register::new(0), &events, Options::default()).expect("well formed"),
        check(&Register::new(0), &history)
    );
}

#[test]
fn witnesses_of_event_histories_name_event_ids() {
    type E = Event<RegisterInput<u64>, RegisterOutput<u64>>;
    let events: Vec<E> = vec![
        E::Call {
            client: 1,
            id: 100,
            input: RegisterInput::Write(1),
            time: 0,
        },
        E::Return {
            id: 100,
            output: RegisterOutput::Write,
            time: 5,
        },
        E::Call {
            client: 2,
            id: 200,
            input: RegisterInput::Read,
            time: 6,
        },
        E::Return {
            id: 200,
            output: RegisterOutput::Read(0),
            time: 8,
        },
    ];
    let result = check_events(&Register::new(0), &events, Options::default()).expect("well formed");
    let failure = &result.witness().expect("a stale read").failures[0];
    assert_eq!(failure.prefix[0].operation.id, 100);
    assert_eq!(failure.unplaceable[0].operation.id, 200);
}

#[test]
fn models_can_be_trait_objects() {
    let model: &dyn Model<State = u64, Input = RegisterInput<u64>, Output = RegisterOutput<u64>> =
        &Register::new(0);
    let history = [write(0, 1, 0, 10), read(1, 1, 20, 30)];
    let result = check_operations(model, &history, Options::new().threads(2)).expect("well formed");
    assert!(result.is_linearizable());
}

#[test]
fn register_compare_and_swap() {
    let cas = |client, expected, new, swapped, call, ret| {
        Operation::returned(
            client,
            RegisterInput::Cas { expected, new },
            call,
            RegisterOutput::Cas(swapped),
            ret,
        )
    };
    // Two concurrent swaps from 0: exactly one may win.
    assert!(register_verdict(&[
        cas(0, 0, 1, true, 0, 10),
        cas(1, 0, 2, false, 0, 10),
        read(2, 1, 20, 30)
    ]));
    assert!(!register_verdict(&[
        cas(0, 0, 1, true, 0, 10),
        cas(1, 0, 2, true, 0, 10)
    ]));
    // A wrong output kind is illegal.
    assert!(!register_verdict(&[Operation::returned(
        0,
        RegisterInput::Read,
        0,
        RegisterOutput::Write,
        1
    )]));
}

#[test]
fn key_value_model() {
    let cas = |key, expected, new, swapped, call, ret| {
        Operation::returned(
            0,
            KvInput::Cas { key, expected, new },
            call,
            KvOutput::Cas(swapped),
            ret,
        )
    };
    let legal = [
        get(0, 1, None, 0, 1),
        cas(1, None, 5, true, 2, 3),
        cas(1, None, 6, false, 4, 5),
        put(0, 2, 7, 4, 5),
        get(0, 1, Some(5), 6, 7),
        get(0, 2, Some(7), 6, 7),
    ];
    assert!(check(&KeyValue::new(), &legal).is_linearizable());
    // Putting to key 2 does not change key 1.
    let illegal = [put(0, 2, 7, 0, 1), get(0, 1, Some(7), 2, 3)];
    assert!(!check(&KeyValue::new(), &illegal).is_linearizable());
}

#[test]
fn queue_model() {
    type Q = Operation<QueueInput<u64>, QueueOutput<u64>>;
    let enqueue = |value, call, ret| -> Q {
        Operation::returned(
            0,
            QueueInput::Enqueue(value),
            call,
            QueueOutput::Enqueue,
            ret,
        )
    };
    let dequeue = |value, call, ret| -> Q {
        Operation::returned(
            1,
            QueueInput::Dequeue,
            call,
            QueueOutput::Dequeue(value),
            ret,
        )
    };
    let legal = [
        dequeue(None, 0, 1),
        enqueue(1, 2, 3),
        enqueue(2, 4, 10),
        enqueue(3, 5, 9),
        dequeue(Some(1), 11, 12),
        dequeue(Some(3), 13, 14),
        dequeue(Some(2), 15, 16),
        dequeue(None, 17, 18),
    ];
    assert!(check(&Queue::new(), &legal).is_linearizable());
    // 1 went in before 2: it comes out first.
    let illegal = [enqueue(1, 0, 1), enqueue(2, 2, 3), dequeue(Some(2), 4, 5)];
    assert!(!check(&Queue::new(), &illegal).is_linearizable());
    // Empty after a completed enqueue.
    let lost = [enqueue(1, 0, 1), dequeue(None, 2, 3)];
    assert!(!check(&Queue::new(), &lost).is_linearizable());
}

#[test]
fn set_model() {
    type S = Operation<SetInput<u64>, SetOutput>;
    let op = |input, output, call, ret| -> S { Operation::returned(0, input, call, output, ret) };
    let legal = [
        op(SetInput::Contains(1), SetOutput::Contains(false), 0, 1),
        op(SetInput::Add(1), SetOutput::Add(true), 2, 10),
        op(SetInput::Add(1), SetOutput::Add(false), 3, 11),
        op(SetInput::Add(2), SetOutput::Add(true), 3, 11),
        op(SetInput::Remove(1), SetOutput::Remove(true), 12, 13),
        op(SetInput::Contains(1), SetOutput::Contains(false), 14, 15),
        op(SetInput::Contains(2), SetOutput::Contains(true), 14, 15),
    ];
    let result = check(&Set::new(), &legal);
    assert!(result.is_linearizable(), "{result}");
    // Both concurrent adds of 1 cannot be the first.
    let illegal = [
        op(SetInput::Add(1), SetOutput::Add(true), 0, 10),
        op(SetInput::Add(1), SetOutput::Add(true), 1, 11),
    ];
    assert!(!check(&Set::new(), &illegal).is_linearizable());
}

#[test]
fn lock_model() {
    type L = Operation<LockInput, LockOutput>;
    let acquire = |owner, ok, call, ret| -> L {
        Operation::returned(
            owner,
            LockInput::Acquire { owner },
            call,
            LockOutput::Acquire(ok),
            ret,
        )
    };
    let release = |owner, ok, call, ret| -> L {
        Operation::returned(
            owner,
            LockInput::Release { owner },
            call,
            LockOutput::Release(ok),
            ret,
        )
    };
    let legal = [
        acquire(1, true, 0, 10),
        acquire(2, false, 5, 15),
        release(2, false, 16, 17),
        release(1, true, 18, 20),
        acquire(2, true, 21, 22),
    ];
    assert!(check(&Lock, &legal).is_linearizable());
    // Two holders at once.
    let illegal = [acquire(1, true, 0, 10), acquire(2, true, 20, 30)];
    let result = check(&Lock, &illegal);
    assert!(!result.is_linearizable());
    assert!(
        result.to_string().contains("state after: held by 1"),
        "{result}"
    );
    // A lock taken by a client that timed out may be held forever.
    let timed_out = [
        Operation::pending(1, LockInput::Acquire { owner: 1 }, 0),
        acquire(2, false, 10, 20),
        acquire(3, false, 30, 40),
    ];
    assert!(check(&Lock, &timed_out).is_linearizable());
}

/// Whether `history` is linearizable, by trying every order of its
/// operations that respects real time (each with any subset of the
/// operations that never returned).
fn brute_force(history: &[RegisterOp], ties: Ties) -> bool {
    // `a` precedes `b` in real time.
    let precedes = |a: &RegisterOp, b: &RegisterOp| match a.ret {
        None => false,
        Some(ret) if ret < b.call => true,
        Some(ret) if ret == b.call => {
            let instantaneous = |op: &RegisterOp| op.ret == Some(op.call);
            ties == Ties::ReturnBeforeCall && !(instantaneous(a) && instantaneous(b))
        }
        Some(_) => false,
    };
    fn search(
        history: &[RegisterOp],
        precedes: &dyn Fn(&RegisterOp, &RegisterOp) -> bool,
        placed: &mut Vec<bool>,
        state: u64,
    ) -> bool {
        if (0..history.len()).all(|i| placed[i] || history[i].ret.is_none()) {
            return true;
        }
        for next in 0..history.len() {
            let ready = !placed[next]
                && (0..history.len())
                    .all(|before| placed[before] || !precedes(&history[before], &history[next]));
            let op = &history[next];
            let Some(after) = ready
                .then(|| Register::new(0).step(&state, &op.input, op.output.as_ref()))
                .flatten()
            else {
                continue;
            };
            placed[next] = true;
            if search(history, precedes, placed, after) {
                return true;
            }
            placed[next] = false;
        }
        false
    }
    search(history, &precedes, &mut vec![false; history.len()], 0)
}

#[test]
fn the_search_agrees_with_brute_force_on_small_histories() {
    let mut rng = generate::Rng(11);
    let mut verdicts = [0; 2];
    for _ in 0..3_000 {
        let history: Vec<RegisterOp> = (0..1 + rng.below(6))
            .map(|_| {
                let client = rng.below(3);
                let call = rng.below(8);
                let input = match rng.below(3) {
                    0 => RegisterInput::Read,
                    1 => RegisterInput::Write(rng.below(3)),
                    _ => RegisterInput::Cas {
                        expected: rng.below(3),
                        new: rng.below(3),
                    },
                };
                if rng.below(6) == 0 {
                    return Operation::pending(client, input, call);
                }
                let output = match input {
                    RegisterInput::Read => RegisterOutput::Read(rng.below(3)),
                    RegisterInput::Write(_) => RegisterOutput::Write,
                    RegisterInput::Cas { .. } => RegisterOutput::Cas(rng.below(2) == 0),
                };
                Operation::returned(client, input, call, output, call + rng.below(4))
            })
            .collect();
        for ties in [Ties::ReturnBeforeCall, Ties::Concurrent] {
            let options = Options::new().ties(ties).threads(1);
            let result =
                check_operations(&Register::new(0), &history, options).expect("well formed");
            let expected = brute_force(&history, ties);
            assert_eq!(
                result.is_linearizable(),
                expected,
                "{ties:?} {history:#?}\n{result}"
            );
            verdicts[usize::from(expected)] += 1;
        }
    }
    // Both verdicts are well represented.
    assert!(verdicts.iter().all(|&n| n > 1_000), "{verdicts:?}");
}

#[test]
fn a_generated_key_value_history_is_linearizable_and_a_stale_read_is_found() {
    let mut history = generate::kv(42, 10_000, 100, 16);
    assert!(
        history.iter().any(|op| op.ret.is_none()),
        "some operations time out"
    );
    let result = check(&KeyValue::new(), &history);
    result.assert_linearizable();

    let stale = generate::inject_stale_read(&mut history).expect("a stale read to inject");
    let result = check(&KeyValue::new(), &history);
    let witness = result.witness().expect("the stale read is caught");
    let failure = &witness.failures[0];
    assert_eq!(witness.partitions, 100);
    assert!(
        failure
            .unplaceable
            .iter()
            .any(|stuck| stuck.operation.id == stale as u64),
        "{result}"
    );
}

#[test]
fn a_generated_register_history_is_linearizable() {
    let mut history = generate::register(5, 2_000, 8);
    check(&Register::new(0), &history).assert_linearizable();
    // Reading a value that was never written breaks it.
    let at = history
        .iter()
        .rposition(|op| matches!(op.output, Some(RegisterOutput::Read(_))))
        .expect("a read");
    history[at].output = Some(RegisterOutput::Read(u64::MAX));
    assert!(!check(&Register::new(0), &history).is_linearizable());
}

/// The speed budget: 10,000 operations over 100 keys, linearizable and
/// not, in well under a second (release builds only).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "timing is meaningful in release builds only"
)]
fn ten_thousand_key_value_operations_check_in_well_under_a_second() {
    let mut history = generate::kv(3, 10_000, 100, 16);
    let started = Instant::now();
    check(&KeyValue::new(), &history).assert_linearizable();
    generate::inject_stale_read(&mut history).expect("a stale read to inject");
    assert!(!check(&KeyValue::new(), &history).is_linearizable());
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
}
