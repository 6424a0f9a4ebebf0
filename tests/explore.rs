//! `bach::check` exploration: strategies over the choice tree, interleaving
//! search with partial-order reduction (counts asserted), PCT, bolero's
//! engines driving a simulation, and replay tokens.

use bach::{
    check::{self, Explorer, Strategy},
    ext::*,
    sync::{mpsc, Mutex},
    Simulation,
};
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    rc::Rc,
};

thread_local! {
    /// What each execution observed, shared by bodies that run many times.
    static SEEN: RefCell<Vec<Vec<String>>> = const { RefCell::new(Vec::new()) };
}

fn take_seen() -> Vec<Vec<String>> {
    SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut()))
}

/// Records one execution's observations.
fn observed(events: Vec<String>) {
    SEEN.with(|seen| seen.borrow_mut().push(events));
}

#[test]
fn dfs_enumerates_every_discrete_choice_once() {
    take_seen();
    let report = Explorer::new().strategy(Strategy::Dfs).run(|| {
        async {
            let first = bach::rand::choose(2);
            let second = *bach::rand::pick(&["x", "y", "z"]);
            observed(vec![format!("{first}{second}")]);
        }
        .primary()
        .spawn();
    });
    let seen: Vec<String> = take_seen().into_iter().flatten().collect();
    assert_eq!(seen, ["0x", "0y", "0z", "1x", "1y", "1z"]);
    assert_eq!(report.executions(), 6);
    assert!(report.complete());
}

/// Two channels, two senders on each, sending at the same instant; after
/// every send, the primary task drains both channels and records the
/// arrival order.
fn two_channels_two_senders() {
    let mut receivers = Vec::new();
    for channel in ["a", "b"] {
        let (tx, rx) = mpsc::channel::<String>(4);
        for sender in 1..=2 {
            let tx = tx.clone();
            async move {
                tx.send(format!("{channel}{sender}")).await.unwrap();
            }
            .spawn();
        }
        receivers.push(rx);
    }
    async move {
        1.ms().sleep().await;
        let mut log = Vec::new();
        for rx in &mut receivers {
            while let Ok(message) = rx.try_recv() {
                log.push(message);
            }
        }
        observed(log);
    }
    .primary()
    .spawn();
}

fn per_channel_orders(seen: &[Vec<String>]) -> BTreeSet<(String, String)> {
    seen.iter()
        .map(|log| {
            let on = |c: char| -> String {
                log.iter()
                    .filter(|m| m.starts_with(c))
                    .map(|m| m[1..].to_string())
                    .collect()
            };
            (on('a'), on('b'))
        })
        .collect()
}

#[test]
fn reduction_explores_each_channel_order_once() {
    take_seen();
    let reduced = Explorer::new().run(two_channels_two_senders);
    let seen = take_seen();

    // 2 orders on channel a × 2 on channel b, each exactly once.
    assert_eq!(reduced.executions(), 4, "{reduced}");
    assert!(reduced.complete());
    let orders = per_channel_orders(&seen);
    assert_eq!(orders.len(), 4, "{orders:?}");
    // No interleaving repeats: every execution saw a different history.
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "{seen:?}");

    let full = Explorer::new()
        .reduction(false)
        .run(two_channels_two_senders);

    let seen_full = take_seen();
    // Without reduction the independent channels are permuted against each
    // other (and against tasks with nothing to contend for), for the same
    // four outcomes.
    assert_eq!(per_channel_orders(&seen_full), orders);
    assert!(
        full.executions() > reduced.executions(),
        "{full} vs {reduced}"
    );
    assert_eq!(full.executions(), FULL_TWO_CHANNELS, "{full}");
}

/// Executions without reduction for `two_channels_two_senders`: every
/// order of 9 polls (the primary's one, and each sender's two: declare at
/// the scheduling point, then send) that keeps each sender's two in
/// sequence, 9! / 2!⁴.
const FULL_TWO_CHANNELS: u64 = 22_680;

/// Two tasks, each locking its own mutex twice: nothing contends.
fn independent_senders() {
    for _ in 0..2 {
        let lock = Mutex::new(0);
        async move {
            *lock.lock().await += 1;
            *lock.lock().await += 1;
        }
        .primary()
        .spawn();
    }
}

#[test]
fn independent_tasks_are_not_permuted() {
    let reduced = Explorer::new().run(independent_senders);
    assert_eq!(reduced.executions(), 1, "{reduced}");
    let full = Explorer::new().reduction(false).run(independent_senders);
    assert!(full.executions() >= 2, "{full}");
}

/// A lost update needing two ordering constraints (depth 2): task `a`
/// reads a counter under the lock, releases it, and writes back +1 under
/// the lock later; the bug shows only when one of the eight other
/// incrementers runs between its read and its write.
fn lost_update() {
    let counter = Rc::new(Mutex::new(0u32));
    let workers = 9;
    let done = Rc::new(RefCell::new(0));
    for worker in 0..workers {
        let counter = counter.clone();
        let done = done.clone();
        async move {
            if worker == 0 {
                let read = *counter.lock().await;
                *counter.lock().await = read + 1;
            } else {
                *counter.lock().await += 1;
            }
            *done.borrow_mut() += 1;
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        assert_eq!(*done.borrow(), workers);
        assert_eq!(*counter.lock().await, workers, "lost update");
    }
    .primary()
    .spawn();
}

#[test]
fn plain_runs_miss_the_lost_update() {
    for seed in 0..20 {
        Simulation::new().seed(seed).run(lost_update);
    }
    // Every lock is a scheduling point when exploring, so even the first
    // depth-first execution (always the oldest contender) splits `a`'s
    // read from its write.
    let failure = Explorer::new()
        .max_executions(1)
        .try_run(lost_update)
        .unwrap_err();
    assert_eq!(failure.execution(), 1);
}

#[test]
fn pct_finds_a_depth_two_bug_within_its_bound() {
    // n = 10 tasks, k ≈ 20 scheduling steps: one PCT execution finds a
    // depth-2 bug with probability >= 1/(n·k) = 1/200.
    let failure = Explorer::new()
        .strategy(Strategy::Pct(2))
        .seed(1)
        .max_executions(200)
        .try_run(lost_update)
        .expect_err("PCT(2) finds the lost update");
    assert!(failure.message().contains("lost update"), "{failure}");
    assert!(failure.execution() <= 200);
    // Depth 1 means no preemption: a fixed priority order never splits
    // the read from the write.
    Explorer::new()
        .strategy(Strategy::Pct(1))
        .seed(1)
        .max_executions(200)
        .run(lost_update);
}

#[test]
fn random_and_dfs_find_it_and_replay_reproduces_it() {
    let random = Explorer::new()
        .strategy(Strategy::Random(500))
        .try_run(lost_update)
        .expect_err("random exploration finds the lost update");
    let dfs = Explorer::new()
        .try_run(lost_update)
        .expect_err("depth-first exploration finds the lost update");
    for failure in [&random, &dfs] {
        let replayed = std::panic::catch_unwind(|| check::replay(failure.token(), lost_update))
            .expect_err("the replay fails the same way");
        let message = replayed
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        // Same failure, same simulated time and task.
        let strip = |m: &str| m.split(" (").next().unwrap_or(m).to_string();
        assert_eq!(strip(&message), strip(failure.message()), "{message}");
        assert!(message.contains("lost update"), "{message}");
    }
}

#[test]
fn replay_tokens_are_printable_and_reject_garbage() {
    let failure = Explorer::new().try_run(lost_update).unwrap_err();
    let token = failure.token();
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert!(failure
        .to_string()
        .contains(&format!("BACH_REPLAY={token}")));
    assert!(failure.message().contains("BACH_REPLAY="), "{failure}");
    let bad = std::panic::catch_unwind(|| Simulation::new().replay("not a token!"))
        .expect_err("garbage is rejected");
    let message = bad.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("`not a token!`"), "{message}");
}

#[test]
fn bach_replay_env_reruns_the_failing_execution() {
    if let Ok(token) = std::env::var("BACH_EXPLORE_CHILD") {
        assert_eq!(std::env::var("BACH_REPLAY").unwrap(), token);
        // The explorer runs only the replayed execution, which fails.
        let failure = Explorer::new().try_run(lost_update).unwrap_err();
        assert_eq!(failure.execution(), 1);
        // And a plain simulation picks the replay up too.
        let plain = std::panic::catch_unwind(|| Simulation::new().seed(99).run(lost_update));
        assert!(plain.is_err());
        println!("CHILD-OK");
        return;
    }
    let failure = Explorer::new().try_run(lost_update).unwrap_err();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "bach_replay_env_reruns_the_failing_execution",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BACH_EXPLORE_CHILD", failure.token())
        .env("BACH_REPLAY", failure.token())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("CHILD-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn bolero_exhaustive_enumerates_exactly_the_expected_orders() {
    take_seen();
    bolero::check!()
        .exhaustive()
        .run(|| check::fuzz_choices(two_channels_two_senders));
    let seen = take_seen();
    let orders = per_channel_orders(&seen);
    let expected: BTreeSet<(String, String)> =
        [("12", "12"), ("12", "21"), ("21", "12"), ("21", "21")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(orders, expected);
    let mut counts = BTreeMap::new();
    for log in &seen {
        *counts.entry(log.clone()).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "an interleaving repeated: {counts:?}"
    );
    assert_eq!(seen.len(), 4);
}

#[test]
fn bolero_random_engine_drives_choices_and_finds_the_bug() {
    let found = std::panic::catch_unwind(|| {
        bolero::check!()
            .with_iterations(2000)
            .run(|| check::fuzz(lost_update));
    });
    assert!(found.is_err(), "the fuzzer's schedules hit the lost update");
}

#[test]
fn replays_are_exact_down_to_the_trace() {
    let failure = Explorer::new()
        .strategy(Strategy::Random(100))
        .try_run(lost_update)
        .unwrap_err();
    let trace = || {
        let mut sim = Simulation::new()
            .record_trace(true)
            .abort_on_panic(false)
            .replay(failure.token());
        sim.run(lost_update_recorded);
        sim.trace()
    };
    let (first, second) = (trace(), trace());
    assert_eq!(first, second);
    // The explorer's decisions are in the trace.
    let scheduled = first
        .iter()
        .filter(|e| matches!(e.kind, bach::trace::EventKind::Scheduled { .. }))
        .count();
    assert!(scheduled > 0, "{first:?}");
    // Tokens do not depend on anything but the choices: the same search
    // finds the same execution with the same token.
    let again = Explorer::new()
        .strategy(Strategy::Random(100))
        .try_run(lost_update)
        .unwrap_err();
    assert_eq!(again.token(), failure.token());
    assert_eq!(again.execution(), failure.execution());
}

/// `lost_update` with the final check reported instead of asserted, so a
/// traced replay runs to completion.
fn lost_update_recorded() {
    let counter = Rc::new(Mutex::new(0u32));
    for worker in 0..9 {
        let counter = counter.clone();
        async move {
            if worker == 0 {
                let read = *counter.lock().await;
                *counter.lock().await = read + 1;
            } else {
                *counter.lock().await += 1;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        bach::trace::note(format!("count {}", *counter.lock().await));
    }
    .primary()
    .spawn();
}

/// A branch taken once in a hundred runs, drawn with `gen_bool`.
fn rare_branch() {
    async {
        if bach::rand::gen_bool(0.01) {
            panic!("the rare branch");
        }
    }
    .primary()
    .spawn();
}

#[test]
fn a_search_that_fixed_random_draws_is_not_complete() {
    let report = Explorer::new()
        .try_run(rare_branch)
        .expect("the seed picks the likely branch");
    assert!(!report.complete(), "{report}");
    assert_eq!(report.fixed_draws(), 1, "{report}");
    let text = report.to_string();
    assert!(!text.contains("all explored"), "{text}");
    assert!(text.contains("not complete"), "{text}");
    assert!(text.contains("1 random value per execution"), "{text}");
}

#[test]
fn enumerating_values_explores_both_outcomes_of_gen_bool() {
    let failure = Explorer::new()
        .enumerate_values(true)
        .try_run(rare_branch)
        .expect_err("both outcomes are explored");
    assert!(failure.message().contains("the rare branch"), "{failure}");
    // The token replays the unlikely outcome.
    let replayed = std::panic::catch_unwind(|| check::replay(failure.token(), rare_branch));
    assert!(replayed.is_err());
    // Without the rare branch, the enumerating search is complete.
    let report = Explorer::new().enumerate_values(true).run(|| {
        async {
            let heads = bach::rand::gen_bool(0.5);
            observed(vec![heads.to_string()]);
        }
        .primary()
        .spawn();
    });
    assert!(report.complete(), "{report}");
    assert_eq!(report.executions(), 2, "{report}");
    assert_eq!(report.fixed_draws(), 0, "{report}");
}

#[test]
fn a_bolero_failure_carries_its_replay_token() {
    let failure = check::try_fuzz_test(|| {
        bolero::check!()
            .with_iterations(2000)
            .run(|| check::fuzz(lost_update));
    })
    .expect_err("the fuzzer finds the lost update");
    assert!(failure.message().contains("lost update"), "{failure}");
    // The token reruns the failing execution without the fuzzer.
    let replayed = std::panic::catch_unwind(|| check::replay(failure.token(), lost_update));
    assert!(replayed.is_err(), "the token replays the failure");
    // `fuzz_test` panics with the token in its payload.
    let caught = std::panic::catch_unwind(|| {
        check::fuzz_test(|| {
            bolero::check!()
                .with_iterations(2000)
                .run(|| check::fuzz(lost_update));
        })
    })
    .expect_err("the harness fails");
    let payload = caught.downcast_ref::<String>().expect("a message payload");
    assert!(payload.contains("BACH_REPLAY="), "{payload}");
    assert!(payload.contains("lost update"), "{payload}");
}

#[test]
fn a_decision_made_before_the_fuzzer_took_over_is_an_error() {
    let caught = std::panic::catch_unwind(|| {
        let mut sim = Simulation::new();
        // The seed decides this value: outside the fuzzer's reach.
        let coin = sim.enter(|| bach::rand::gen_bool(0.5));
        check::fuzz_with(sim, move || observed(vec![coin.to_string()]));
    })
    .expect_err("refused");
    let message = caught
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| caught.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("before the fuzzer took over"), "{message}");
    // A configured but untouched simulation is fine.
    check::fuzz_with(Simulation::new().time_limit(1.s()), || {});
}

#[test]
fn fuzz_setup_puts_the_stimulus_under_the_fuzzers_control() {
    let failure = check::try_fuzz_test(|| {
        bolero::check!().with_iterations(500).run(|| {
            check::fuzz_setup(|sim| {
                sim.enter(|| {
                    // Decided by the input, not by a seed.
                    assert_ne!(bach::rand::choose(8), 5, "picked five");
                });
            })
        });
    })
    .expect_err("the fuzzer picks five");
    assert!(failure.message().contains("picked five"), "{failure}");
}

/// A fault decided at the root (a partition cuts writer 0 off), then four
/// writers sending five updates each to one server over one channel: the
/// updates of the partitioned writer are lost. Below the root's default
/// (no partition) lie billions of orders of the twenty sends.
fn lost_update_under_partition() {
    let partitioned = bach::rand::choose(2) == 1;
    let (tx, mut rx) = mpsc::channel::<usize>(32);
    for writer in 0..4 {
        let tx = tx.clone();
        async move {
            for _ in 0..5 {
                tx.send(writer).await.unwrap();
            }
        }
        .spawn();
    }
    drop(tx);
    async move {
        let mut applied = 0;
        while let Some(writer) = rx.recv().await {
            if !(partitioned && writer == 0) {
                applied += 1;
            }
        }
        assert_eq!(applied, 20, "an update was lost");
    }
    .primary()
    .spawn();
}

#[test]
fn bounded_search_reaches_a_fault_at_the_root_early() {
    // Depth first, every execution below the root's default comes first.
    let dfs = Explorer::new()
        .strategy(Strategy::Dfs)
        .max_executions(2_000)
        .progress(false)
        .try_run(lost_update_under_partition)
        .expect("depth-first search stays below the root's default");
    assert!(!dfs.complete(), "{dfs}");
    // Fewest deviations first (the default): the root's other option
    // costs one.
    for explorer in [
        Explorer::new(),
        Explorer::new().strategy(Strategy::DelayBounded),
        Explorer::new().strategy(Strategy::PreemptionBounded),
    ] {
        let failure = explorer
            .max_executions(2_000)
            .try_run(lost_update_under_partition)
            .expect_err("the partition is one deviation away");
        assert!(
            failure.message().contains("an update was lost"),
            "{failure}"
        );
        assert!(failure.execution() <= 50, "{failure}");
        let replayed = std::panic::catch_unwind(|| {
            check::replay(failure.token(), lost_update_under_partition)
        });
        assert!(replayed.is_err());
    }
}

#[test]
fn a_bounded_search_runs_every_execution_once_and_says_how_far_it_got() {
    take_seen();
    let report = Explorer::new()
        .strategy(Strategy::DelayBounded)
        .run(two_channels_two_senders);
    let seen = take_seen();
    assert!(report.complete(), "{report}");
    // Each channel order once, as the reduced depth-first search.
    assert_eq!(report.executions(), 4, "{report}");
    assert_eq!(per_channel_orders(&seen).len(), 4);
    // Without reduction, every order of every poll, each once.
    let full = Explorer::new()
        .strategy(Strategy::DelayBounded)
        .reduction(false)
        .progress(false)
        .run(two_channels_two_senders);
    let seen = take_seen();
    assert!(full.complete(), "{full}");
    assert_eq!(full.executions(), FULL_TWO_CHANNELS, "{full}");
    assert_eq!(per_channel_orders(&seen).len(), 4);
    let partial = Explorer::new()
        .strategy(Strategy::DelayBounded)
        .reduction(false)
        .max_executions(50)
        .run(two_channels_two_senders);
    assert!(!partial.complete(), "{partial}");
    assert!(
        partial.to_string().contains("every execution with at most"),
        "{partial}"
    );
    // Reduced, a search stopped early names the bound its planned
    // branches reached, not a count of classes.
    let reduced = Explorer::new()
        .max_executions(3)
        .progress(false)
        .run(two_channels_two_senders);
    assert!(!reduced.complete(), "{reduced}");
    assert!(
        reduced
            .to_string()
            .contains("every branch the reduction planned within"),
        "{reduced}"
    );
}

#[test]
fn a_search_that_left_link_losses_to_the_seed_is_not_complete() {
    let lossy = || {
        bach::net::set_default_link(bach::net::default_link().loss_probability(0.5)).unwrap();
        async {
            let _server = bach::net::UdpSocket::bind("0.0.0.0:9000").await.unwrap();
        }
        .group("server")
        .spawn();
        async {
            let socket = bach::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"ping", "server:9000").await.unwrap();
        }
        .group("client")
        .primary()
        .spawn();
    };
    let report = Explorer::new().run(lossy);
    assert!(!report.complete(), "{report}");
    assert!(report.fixed_draws() >= 1, "{report}");
    // Model checking makes the loss a choice.
    let checked = Explorer::model_checking().max_drops(1).run(lossy);
    assert!(checked.complete(), "{checked}");
}
