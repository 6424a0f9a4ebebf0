//! Linearizability of what simulated clients saw (`check::History`,
//! `check::linearizable`): a primary-backup register that acknowledges a
//! write before its backup has it serves stale reads from the backup; the
//! check fails the run with the witness in a plain run, a sweep, the
//! explorer, bolero and model checking, and the fixed store passes the same
//! searches.

use bach::{
    check::{
        self,
        linearizability::models::{KeyValue, KvInput, KvOutput},
        Explorer, History, Sweep,
    },
    ext::*,
    sync::{mpsc, oneshot},
};
use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

type Kv = History<KvInput<&'static str, u32>, KvOutput<u32>>;

/// A request to the primary: write `value` under `key`, answer when done.
struct Put {
    key: &'static str,
    value: u32,
    done: oneshot::Sender<()>,
}

/// Two replicas of a map. The primary applies a write, replicates it over
/// a channel, and acknowledges it — before the backup applied it
/// (`wait_for_backup` false) or after. Reads go to the backup.
fn replicated_store(history: &Kv, wait_for_backup: bool, checked: bool) {
    if checked {
        check::linearizable(history, KeyValue::new());
    }
    let backup: Rc<RefCell<BTreeMap<&'static str, u32>>> = Rc::default();
    let (to_primary, mut puts) = mpsc::channel::<Put>(8);
    let (to_backup, mut replication) = mpsc::channel::<(&'static str, u32, oneshot::Sender<()>)>(8);
    async move {
        let mut primary = BTreeMap::new();
        while let Some(put) = puts.recv().await {
            primary.insert(put.key, put.value);
            let (applied, on_backup) = oneshot::channel();
            to_backup.send((put.key, put.value, applied)).await.unwrap();
            if wait_for_backup {
                on_backup.await.unwrap();
            }
            let _ = put.done.send(());
        }
    }
    .spawn_named("primary");
    {
        let backup = backup.clone();
        async move {
            while let Some((key, value, applied)) = replication.recv().await {
                // Replication takes a while.
                bach::rand::gen_range(0..3u64).ms().sleep().await;
                backup.borrow_mut().insert(key, value);
                let _ = applied.send(());
            }
        }
        .spawn_named("backup");
    }
    for client in 0..2u64 {
        let (history, to_primary, backup) = (history.clone(), to_primary.clone(), backup.clone());
        async move {
            bach::rand::gen_range(0..2u64).ms().sleep().await;
            let value = client as u32 + 1;
            let write = history.call(client, KvInput::Put("x", value));
            let (done, acknowledged) = oneshot::channel();
            to_primary
                .send(Put {
                    key: "x",
                    value,
                    done,
                })
                .await
                .unwrap();
            acknowledged.await.unwrap();
            history.ret(write, KvOutput::Put);
            let read = history.call(client, KvInput::Get("x"));
            let seen = backup.borrow().get("x").copied();
            history.ret(read, KvOutput::Get(seen));
        }
        .primary()
        .spawn_named(format!("client {client}"));
    }
}

fn fixed() {
    replicated_store(&History::new(), true, true)
}

fn stale() {
    replicated_store(&History::new(), false, true)
}

#[test]
fn a_sweep_finds_the_stale_read_and_reports_the_witness() {
    let report = Sweep::new(0..200)
        .stop_at_first_failure(true)
        .progress(false)
        .run(stale);
    let failure = report.first_failure().expect("some seed reads stale");
    let message = &failure.message;
    assert!(message.contains("check `linearizable` failed"), "{message}");
    assert!(
        message.contains("the history is not linearizable"),
        "{message}"
    );
    assert!(message.contains("cannot come next: client"), "{message}");
    assert!(message.contains("get(\"x\") -> None"), "{message}");
    assert!(
        message.contains(&format!("BACH_SEED={}", failure.seed)),
        "{message}"
    );

    let fixed = Sweep::new(0..200).progress(false).run(fixed);
    assert!(fixed.is_ok(), "{fixed}");
}

#[test]
fn the_explorer_finds_it_and_its_token_replays_it() {
    let failure = Explorer::new()
        .max_executions(2_000)
        .try_run(stale)
        .expect_err("an interleaving reads stale");
    assert!(failure.message().contains("not linearizable"), "{failure}");
    let replayed = std::panic::catch_unwind(|| check::replay(failure.token(), stale));
    assert!(replayed.is_err());
    let report = Explorer::new()
        .max_executions(2_000)
        .try_run(fixed)
        .expect("the fixed store is linearizable in every execution");
    assert!(report.executions() > 1, "{report}");
}

#[test]
fn bolero_and_model_checking_find_it_too() {
    let failure = check::try_fuzz_test(|| {
        bolero::check!()
            .with_iterations(1_000)
            .run(|| check::fuzz(stale));
    })
    .expect_err("the fuzzer reads stale");
    assert!(failure.message().contains("not linearizable"), "{failure}");

    let failure = Explorer::model_checking()
        .max_depth(30)
        .try_run(stale)
        .expect_err("a path reads stale");
    assert!(failure.message().contains("not linearizable"), "{failure}");
    Explorer::model_checking()
        .max_depth(30)
        .try_run(fixed)
        .expect("no path of the fixed store reads stale");
}

#[test]
fn the_history_is_kept_for_the_body_with_calls_that_never_returned() {
    let history: Kv = History::new();
    let h = history.clone();
    bach::sim(move || {
        let h = h.clone();
        async move {
            let write = h.call(7, KvInput::Put("k", 1));
            1.ms().sleep().await;
            h.ret(write, KvOutput::Put);
            // A read that times out: dropped without its return.
            let pending = h.guard(7, KvInput::Get("k"));
            2.ms().sleep().await;
            drop(pending);
        }
        .primary()
        .spawn();
    });
    let operations = history.operations();
    assert_eq!(operations.len(), 2);
    assert_eq!(operations[0].call, 0);
    assert_eq!(operations[0].ret, Some(1_000_000));
    assert_eq!(operations[1].client, 7);
    assert_eq!(operations[1].output, None);
    assert_eq!(operations[1].ret, None);
    assert!(history.check(&KeyValue::new()).is_linearizable());
}

#[test]
fn a_run_without_a_registered_check_checks_nothing() {
    // The stale store, recording its history without registering a model:
    // every seed passes, where the checked store fails some.
    let unchecked = Sweep::new(0..200)
        .progress(false)
        .run(|| replicated_store(&History::new(), false, false));
    assert!(unchecked.is_ok(), "{unchecked}");
    let checked = Sweep::new(0..200)
        .stop_at_first_failure(false)
        .progress(false)
        .run(stale);
    assert!(!checked.is_ok(), "{checked}");
}
