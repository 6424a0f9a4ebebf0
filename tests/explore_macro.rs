//! `#[bach::test]` options: seed, seeds (sweep), interleavings (explorer),
//! fuzz (bolero), time_limit and pcap. Failing variants run in child
//! processes so their panic messages (seed, replay token) can be checked.

use bach::{ext::*, sync::Mutex, time::Instant};
use std::{
    cell::Cell,
    rc::Rc,
    sync::atomic::{AtomicU64, Ordering},
};

static SWEPT: AtomicU64 = AtomicU64::new(0);

#[bach::test(seeds = 50)]
async fn seeds_runs_every_seed() {
    SWEPT.fetch_add(1, Ordering::Relaxed);
    1.ms().sleep().await;
}

#[test]
fn seeds_ran_fifty_simulations() {
    // The sweep test may run on another thread of this binary; run it here
    // too so the count is checked deterministically.
    let before = SWEPT.load(Ordering::Relaxed);
    seeds_runs_every_seed();
    assert!(SWEPT.load(Ordering::Relaxed) - before >= 50);
}

thread_local! {
    static EXECUTIONS: Cell<u64> = const { Cell::new(0) };
}

/// Two tasks contend for a lock: depth-first exploration runs both orders.
#[bach::test(interleavings)]
async fn interleavings_explores_both_orders() {
    EXECUTIONS.with(|n| n.set(n.get() + 1));
    let lock = Rc::new(Mutex::new(Vec::new()));
    let other = lock.clone();
    let task = async move { other.lock().await.push("task") }.spawn();
    lock.lock().await.push("primary");
    task.await.unwrap();
    assert_eq!(lock.lock().await.len(), 2);
}

#[test]
fn interleavings_ran_more_than_one_execution() {
    EXECUTIONS.with(|n| n.set(0));
    interleavings_explores_both_orders();
    assert!(EXECUTIONS.with(Cell::get) >= 2);
}

#[bach::test(interleavings = "pct:3", executions = 20, seed = 4)]
async fn pct_with_options() {
    let lock = Rc::new(Mutex::new(0));
    let other = lock.clone();
    async move { *other.lock().await += 1 }
        .spawn()
        .await
        .unwrap();
    assert_eq!(*lock.lock().await, 1);
}

#[bach::test(interleavings = "random", executions = 10)]
async fn random_with_options() {
    bach::task::yield_now().await;
}

#[bach::test(fuzz)]
async fn fuzz_drives_the_simulation() {
    let delay = bach::rand::gen_range(0..1000u64);
    delay.ms().sleep().await;
    assert!(Instant::now().elapsed_since_start() < 1.s());
}

#[bach::test(fuzz = "exhaustive")]
async fn exhaustive_fuzzing() {
    let lock = Rc::new(Mutex::new(0));
    let other = lock.clone();
    async move { *other.lock().await += 1 }
        .spawn()
        .await
        .unwrap();
}

#[bach::test(seed = 9, time_limit = "5s", pcap)]
async fn seed_time_limit_and_pcap() {
    4.s().sleep().await;
}

/// Runs the test `name` of this binary in a child process with `env`;
/// returns (success, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (bool, String) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--ignored",
        ])
        .env_remove("BACH_REPLAY")
        .env_remove("BACH_SEED")
        .env_remove("BACH_SEEDS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[bach::test(seeds = 100)]
#[ignore = "fails on purpose; run by sweep_failures_name_the_seed"]
async fn failing_sweep() {
    if bach::rand::gen_range(0..10u32) == 3 {
        panic!("unlucky draw");
    }
}

#[test]
fn sweep_failures_name_the_seed() {
    let (ok, stderr) = child("failing_sweep", &[]);
    assert!(!ok);
    assert!(stderr.contains("unlucky draw"), "{stderr}");
    assert!(stderr.contains("rerun with BACH_SEED="), "{stderr}");
}

#[bach::test(interleavings)]
#[ignore = "fails on purpose; run by explorer_failures_print_a_replay_token"]
async fn failing_exploration() {
    let counter = Rc::new(Mutex::new(0));
    let other = counter.clone();
    let task = async move {
        let read = *other.lock().await;
        *other.lock().await = read + 1;
    }
    .spawn();
    *counter.lock().await += 1;
    task.await.unwrap();
    assert_eq!(*counter.lock().await, 2, "lost update");
}

#[test]
fn explorer_failures_print_a_replay_token_that_reruns_them() {
    let (ok, stderr) = child("failing_exploration", &[]);
    assert!(!ok);
    assert!(stderr.contains("lost update"), "{stderr}");
    let token = stderr
        .split("BACH_REPLAY=")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .next()
        })
        .expect("a replay token")
        .to_string();
    let (ok, replayed) = child("failing_exploration", &[("BACH_REPLAY", &token)]);
    assert!(!ok);
    assert!(replayed.contains("lost update"), "{replayed}");
    assert!(
        replayed.contains(&format!("replaying BACH_REPLAY={token}")),
        "{replayed}"
    );
}

#[bach::test(time_limit = "1s")]
#[ignore = "fails on purpose; run by time_limit_applies"]
async fn over_time_limit() {
    2.s().sleep().await;
}

#[test]
fn time_limit_applies() {
    let (ok, stderr) = child("over_time_limit", &[]);
    assert!(!ok);
    assert!(stderr.contains("time limit of 1s exceeded"), "{stderr}");
}
