//! `bach::check::sweep`: a body under many seeds on all cores finds the same
//! failures as a sequential loop, whatever the thread count; stopping at the
//! first failure reports the lowest failing seed; `BACH_SEEDS` picks the
//! range; sweep workers' panics stay quiet.

use bach::{
    check::{sweep, Sweep, SweepFailure},
    ext::*,
    sync::mpsc,
    Simulation,
};
use std::{
    panic::{self, AssertUnwindSafe},
    process::{Command, Output},
    time::Duration,
};

/// Two tasks ping-pong `rounds` messages over a channel, sleeping a random
/// few milliseconds before each reply.
fn ping_pong(rounds: u32) {
    let (to_pong, mut pong_rx) = mpsc::channel::<u32>(1);
    let (to_ping, mut ping_rx) = mpsc::channel::<u32>(1);
    async move {
        while let Some(n) = pong_rx.recv().await {
            bach::rand::gen_range(0..3u64).ms().sleep().await;
            if to_ping.send(n + 1).await.is_err() {
                break;
            }
        }
    }
    .spawn_named("pong");
    async move {
        for i in 0..rounds {
            to_pong.send(i).await.unwrap();
            assert_eq!(ping_rx.recv().await, Some(i + 1));
        }
    }
    .primary()
    .spawn_named("ping");
}

/// Fails for about one seed in seven: a task draws an unlucky number after
/// a ping-pong.
fn flaky() {
    ping_pong(3);
    async {
        1.ms().sleep().await;
        let draw = bach::rand::gen::<u64>();
        assert!(draw >= u64::MAX / 7, "unlucky draw {draw}");
    }
    .primary()
    .spawn_named("checker");
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        String::new()
    }
}

/// What running `seeds` one after another reports.
fn sequential(seeds: std::ops::Range<u64>, body: fn()) -> Vec<SweepFailure> {
    seeds
        .filter_map(|seed| {
            panic::catch_unwind(|| Simulation::new().seed(seed).run(body))
                .err()
                .map(|payload| SweepFailure {
                    seed,
                    message: message(payload),
                })
        })
        .collect()
}

#[test]
fn collecting_all_failures_matches_a_sequential_loop_on_any_thread_count() {
    let expected = sequential(0..200, flaky);
    assert!(
        expected.len() > 5 && expected.len() < 100,
        "{}",
        expected.len()
    );
    for threads in [1, 4] {
        let report = Sweep::new(0..200)
            .threads(threads)
            .stop_at_first_failure(false)
            .run(flaky);
        assert_eq!(report.failures(), &expected[..], "threads({threads})");
        assert_eq!(report.runs(), 200);
        assert_eq!(report.seeds(), 0..200);
        assert!(!report.stopped_at_failure());
    }
    // The messages are bach's: task, time and the seed to rerun.
    let first = &expected[0];
    assert!(first.message.contains("unlucky draw"), "{}", first.message);
    assert!(
        first.message.contains(&format!("BACH_SEED={}", first.seed)),
        "{}",
        first.message
    );
}

#[test]
fn stopping_at_the_first_failure_reports_exactly_the_lowest_failing_seed() {
    let lowest = sequential(40..200, flaky).remove(0);
    for threads in [1, 2, 4, 7] {
        let report = Sweep::new(40..200).threads(threads).run(flaky);
        assert_eq!(
            report.failures(),
            std::slice::from_ref(&lowest),
            "threads({threads})"
        );
        assert_eq!(report.first_failure(), Some(&lowest));
        assert_eq!(report.runs(), lowest.seed - 40 + 1, "threads({threads})");
        assert!(report.stopped_at_failure());
        let summary = report.to_string();
        assert!(
            summary.contains(&format!("seed {} failed", lowest.seed)),
            "{summary}"
        );
        assert!(
            summary.contains("stopped at the first failure"),
            "{summary}"
        );
    }
}

#[test]
fn sweep_panics_naming_the_failing_seed_and_how_to_rerun_it() {
    let lowest = sequential(0..100, flaky).remove(0).seed;
    let payload = panic::catch_unwind(|| sweep(0..100, flaky)).expect_err("some seeds fail");
    let text = message(payload);
    assert!(text.contains(&format!("seed {lowest} failed")), "{text}");
    assert!(text.contains("unlucky draw"), "{text}");
    assert!(
        text.ends_with(&format!("rerun with BACH_SEED={lowest}")),
        "{text}"
    );
}

#[test]
fn sweep_passes_a_healthy_body_and_counts_every_run() {
    let report = sweep(0..300, || ping_pong(5));
    assert!(report.is_ok());
    assert_eq!(report.runs(), 300);
    assert_eq!(report.seeds(), 0..300);
    assert!(report.failures().is_empty());
    report.assert_ok();
    let summary = report.to_string();
    assert!(
        summary.starts_with("bach sweep: every seed passed (seeds 0..300, 300 runs"),
        "{summary}"
    );
    // An empty range runs nothing and passes.
    assert_eq!(sweep(5..5, || unreachable!()).runs(), 0);
}

#[test]
fn the_report_lists_every_failing_seed_and_assert_ok_panics_with_it() {
    let expected: Vec<u64> = sequential(0..60, flaky).iter().map(|f| f.seed).collect();
    let report = Sweep::new(0..60).stop_at_first_failure(false).run(flaky);
    let summary = report.to_string();
    let list = expected
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        summary.starts_with(&format!(
            "bach sweep: {} of 60 seeds failed",
            expected.len()
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("failing seeds: {list}\n")),
        "{summary}"
    );
    assert!(
        summary.ends_with(&format!("rerun with BACH_SEED={}", expected[0])),
        "{summary}"
    );
    let payload = panic::catch_unwind(AssertUnwindSafe(|| report.assert_ok())).unwrap_err();
    assert_eq!(message(payload), summary);

    // Thousands of failures: the summary names the first few only.
    let report = Sweep::new(0..500)
        .stop_at_first_failure(false)
        .run(|| panic!("always"));
    assert_eq!(report.failures().len(), 500);
    assert!(report.to_string().contains("… and 480 more"), "{report}");
}

#[test]
fn the_simulation_hook_configures_every_seed() {
    let body = || {
        async { 2.s().sleep().await }.primary().spawn();
    };
    assert!(Sweep::new(0..20).run(body).is_ok());
    let report = Sweep::new(0..20)
        .stop_at_first_failure(false)
        .simulation(|sim| sim.time_limit(1.s()))
        .run(body);
    assert_eq!(report.failures().len(), 20);
    let first = &report.failures()[0].message;
    assert!(first.contains("time limit"), "{first}");
}

/// Runs this test binary's `test` alone, with `vars` set (and any
/// `BACH_SEED`/`BACH_SEEDS` of ours removed).
fn child(test: &str, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env_remove("BACH_SEED")
        .env_remove("BACH_SEEDS")
        .env("BACH_SWEEP_CHILD", "1");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bach_seeds_replaces_the_range_in_code() {
    if std::env::var("BACH_SWEEP_CHILD").is_ok() {
        let report = Sweep::new(0..100)
            .stop_at_first_failure(false)
            .run(|| panic!("always"));
        let ran: Vec<u64> = report.failures().iter().map(|f| f.seed).collect();
        println!("CHILD seeds={:?} ran={ran:?}", report.seeds());
        return;
    }
    for (value, expected) in [
        ("3..7", "seeds=3..7 ran=[3, 4, 5, 6]"),
        ("3..=7", "seeds=3..8 ran=[3, 4, 5, 6, 7]"),
        ("5", "seeds=5..6 ran=[5]"),
        ("0x10..0x12", "seeds=16..18 ran=[16, 17]"),
    ] {
        let output = child(
            "bach_seeds_replaces_the_range_in_code",
            &[("BACH_SEEDS", value)],
        );
        let out = stdout(&output);
        assert!(
            out.contains(&format!("CHILD {expected}")),
            "BACH_SEEDS={value}:\n{out}\n{}",
            stderr(&output)
        );
    }
    // BACH_SEED alone (the rerun hint) runs that one seed.
    let output = child(
        "bach_seeds_replaces_the_range_in_code",
        &[("BACH_SEED", "42")],
    );
    assert!(
        stdout(&output).contains("CHILD seeds=42..43 ran=[42]"),
        "{}",
        stdout(&output)
    );
    // BACH_SEEDS wins over BACH_SEED.
    let output = child(
        "bach_seeds_replaces_the_range_in_code",
        &[("BACH_SEED", "42"), ("BACH_SEEDS", "1..3")],
    );
    assert!(
        stdout(&output).contains("CHILD seeds=1..3 ran=[1, 2]"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn bach_seeds_garbage_panics_naming_the_value() {
    if std::env::var("BACH_SWEEP_CHILD").is_ok() {
        Sweep::new(0..10).run(|| {});
        println!("CHILD-RAN");
        return;
    }
    for value in ["lots", "3..x", "9..2"] {
        let output = child(
            "bach_seeds_garbage_panics_naming_the_value",
            &[("BACH_SEEDS", value)],
        );
        let err = stderr(&output);
        assert!(!output.status.success());
        assert!(!stdout(&output).contains("CHILD-RAN"));
        assert!(
            err.contains(&format!("BACH_SEEDS=`{value}` is not a seed range")),
            "{err}"
        );
        assert!(
            err.contains("expected `a..b`, `a..=b` or a single seed `n`"),
            "{err}"
        );
    }
}

#[test]
fn panics_on_sweep_workers_are_silent_and_others_still_print() {
    if std::env::var("BACH_SWEEP_CHILD").is_ok() {
        let report = Sweep::new(0..200).stop_at_first_failure(false).run(|| {
            async { panic!("failing quietly") }.primary().spawn();
        });
        assert_eq!(report.failures().len(), 200);
        let _ = panic::catch_unwind(|| panic!("outside any sweep"));
        return;
    }
    let output = child(
        "panics_on_sweep_workers_are_silent_and_others_still_print",
        &[],
    );
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(!err.contains("failing quietly"), "{err}");
    assert!(err.contains("outside any sweep"), "{err}");
}

#[test]
fn long_sweeps_print_progress_to_stderr() {
    if std::env::var("BACH_SWEEP_CHILD").is_ok() {
        // Wall-clock sleeps stand in for a heavy body: ~2.5 s in total.
        let report = Sweep::new(0..1250)
            .threads(1)
            .run(|| std::thread::sleep(Duration::from_millis(2)));
        assert_eq!(report.runs(), 1250);
        Sweep::new(0..10).run(|| {}); // quick sweeps say nothing
        return;
    }
    let output = child("long_sweeps_print_progress_to_stderr", &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|line| line.starts_with("bach sweep: "))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    assert!(lines[0].contains("/1250 runs, "), "{err}");
    assert!(lines[0].contains(" runs/s, 0 failures"), "{err}");
    assert_eq!(
        lines.last().unwrap().split(", ").next(),
        Some("bach sweep: 1250/1250 runs"),
        "{err}"
    );
    assert!(lines.last().unwrap().ends_with("0 failures, done"), "{err}");
}

/// Throughput of a small sweep, one thread against all cores:
/// `cargo test --release --test sweep -- --ignored --nocapture`
/// (`BACH_SEEDS=0..100000` for a longer, steadier measurement).
#[test]
#[ignore = "a measurement; run it in release mode"]
fn ping_pong_sweep_throughput() {
    let body = || ping_pong(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        let report = Sweep::new(0..10_000).threads(threads).run(body);
        report.assert_ok();
        println!(
            "{} seeds of a 10-message ping-pong on {threads} thread(s): {:.0} runs/s ({:.2?})",
            report.runs(),
            report.runs_per_second(),
            report.elapsed()
        );
    }
}

mod setup {
    use bach::{
        check::{self, Sweep},
        process::{self, Context, Message, Process},
        Simulation,
    };

    /// Forwards its local messages to `server`; replies become local
    /// messages.
    struct Client;
    impl Process for Client {
        fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
            ctx.send(msg, "server");
        }
        fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
            ctx.send_local(msg);
        }
    }

    /// Echoes every message.
    struct Server;
    impl Process for Server {
        fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
            ctx.send(msg, from);
        }
    }

    /// A request over a lossy network, without retries: the goal fails on
    /// the seeds that lose the request or its reply.
    fn lossy_request(sim: &mut Simulation) {
        sim.add_process("client", "a", Client);
        sim.add_process("server", "b", Server);
        sim.set_drop_rate(0.3);
        sim.send_local("client", Message::new("PING", "1"));
        sim.enter(|| check::goal("answered", || !process::local_outbox("client").is_empty()));
    }

    #[test]
    fn sweeps_take_a_setup_with_the_whole_simulation() {
        let report = Sweep::new(0..40)
            .stop_at_first_failure(false)
            .progress(false)
            .run_with(lossy_request);
        assert_eq!(report.runs(), 40);
        // About half the seeds lose one of the two messages (1 - 0.7²).
        let failed = report.failures().len();
        assert!((8..=32).contains(&failed), "{report}");
        let first = report.first_failure().expect("a seed loses a message");
        assert!(first.message.contains("goal"), "{}", first.message);
        // Each failing seed fails again on its own.
        let rerun = std::panic::catch_unwind(|| {
            let mut sim = Simulation::new().seed(first.seed);
            lossy_request(&mut sim);
            sim.run(|| {});
        });
        assert!(rerun.is_err());
    }
}
