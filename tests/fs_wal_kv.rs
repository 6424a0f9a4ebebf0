//! The write-ahead-log store of `examples/wal_kv.rs`: a seed sweep and the
//! explorer (values enumerated: both outcomes of every crash point) each
//! find both durability bugs, acknowledging before the sync and renaming
//! without syncing the directory, and pass the fixed store with the same
//! budgets; runs without crash points never lose a write.

// The example's store, client and searches; its `main` is not called here.
#[allow(dead_code)]
#[path = "../examples/wal_kv.rs"]
mod wal_kv;

use bach::{
    check::{self, Sweep},
    Simulation,
};
use wal_kv::{
    explore, lost_write, rerun, scenario, sweep, Durability, ACK_BEFORE_SYNC, FIXED,
    RENAME_WITHOUT_DIR_SYNC,
};

/// Both searches fail on `durability`'s store, each with a lost
/// acknowledged write that its seed or token reproduces.
fn both_searches_find_the_bug(durability: Durability) {
    let body = scenario(durability, 1);

    let sweep = sweep(durability);
    let failure = sweep.first_failure().expect("the sweep finds the bug");
    let lost = lost_write(&failure.message);
    assert!(lost.starts_with("acknowledged write"), "{lost}");
    assert!(sweep.runs() < wal_kv::SEEDS, "{sweep}");
    let again = rerun(|| Simulation::new().seed(failure.seed).run(&body));
    assert_eq!(again.as_deref(), Some(lost));

    let failure = explore(durability).expect_err("the explorer finds the bug");
    let lost = lost_write(failure.message());
    assert!(lost.starts_with("acknowledged write"), "{lost}");
    assert!(failure.execution() < wal_kv::EXECUTIONS);
    let again = rerun(|| check::replay(failure.token(), &body));
    assert_eq!(again.as_deref(), Some(lost));
}

#[test]
fn acknowledging_before_the_sync_loses_an_acknowledged_write() {
    both_searches_find_the_bug(ACK_BEFORE_SYNC);
}

#[test]
fn a_rename_without_a_directory_sync_loses_an_acknowledged_write() {
    both_searches_find_the_bug(RENAME_WITHOUT_DIR_SYNC);
}

#[test]
fn the_fixed_store_passes_the_same_budgets_and_every_crash_point() {
    let sweep = sweep(FIXED);
    assert!(sweep.is_ok(), "{sweep}");
    assert_eq!(sweep.runs(), wal_kv::SEEDS);
    let report = explore(FIXED).expect("no acknowledged write lost");
    assert!(report.complete(), "every crash point tried: {report}");
    assert!(report.executions() <= wal_kv::EXECUTIONS);
}

#[test]
fn without_crash_points_no_store_loses_a_write() {
    // The client shuts the store down cleanly before the power cut: only a
    // crash in the middle shows the bugs.
    for durability in [ACK_BEFORE_SYNC, RENAME_WITHOUT_DIR_SYNC, FIXED] {
        let sweep = Sweep::new(0..50)
            .progress(false)
            .run(scenario(durability, 0));
        assert!(sweep.is_ok(), "{durability:?}: {sweep}");
    }
}
