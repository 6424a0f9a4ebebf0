//! Process ping-pong, side by side with AnySystem (the `anysystem` crate,
//! 0.3, from crates.io):
//!
//! * `process_pingpong`: a client process on one node and a server process
//!   on another exchange PING/PONG messages (JSON data) for 10 000 round
//!   trips over a 1 ms link; one local message starts the run and one
//!   reports its end. Criterion's throughput is *messages delivered* per
//!   second: each delivery is one simulated event in AnySystem's count.
//! * memory: before the criterion groups, the bench prints the bytes still
//!   allocated at the end of a run, per message delivered, for 10 000 and
//!   100 000 round trips (a counting allocator, switched off for the timed
//!   runs; the simulation still alive), for both crates.
//! * paired: also before the criterion groups, the two crates timed in
//!   alternation, round after round, and the ratio of their fastest runs
//!   (noise on a shared machine only ever adds time) and of each round:
//!   both sides then meet the machine's slow and fast phases alike, where
//!   the criterion groups, one after the other, can each meet another.
//!
//! `cargo bench --bench process` prints everything.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Counts live bytes only while `COUNTING` is on, so that the timed runs
/// pay no atomic read-modify-write per allocation (neither crate does).
struct Switchable;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers every call to `System` unchanged.
unsafe impl GlobalAlloc for Switchable {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as u64, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Switchable = Switchable;

/// Bytes allocated and not freed while counting was on.
fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

const ROUND_TRIPS: u64 = 10_000;

mod ours {
    use bach::{
        process::{Context, Message, Process},
        Simulation,
    };
    use std::time::Duration;

    pub struct Server;

    impl Process for Server {
        fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
            ctx.send(Message::new("PONG", msg.data), from);
        }
    }

    pub struct Client {
        pub left: u64,
    }

    impl Process for Client {
        fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
            ctx.send(msg, "server");
        }

        fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
            self.left -= 1;
            if self.left == 0 {
                ctx.send_local(msg);
            } else {
                ctx.send(Message::new("PING", msg.data), from);
            }
        }
    }

    pub fn setup(round_trips: u64) -> Simulation {
        let mut sim = Simulation::new().no_pcap();
        sim.add_process("server", "server-node", Server);
        sim.add_process("client", "client-node", Client { left: round_trips });
        sim.set_delay(Duration::from_millis(1));
        sim
    }

    pub fn run(sim: &mut Simulation, round_trips: u64) {
        sim.send_local("client", Message::new("PING", r#"{"value":"Hello!"}"#));
        let done = sim.step_until_local_message("client").unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(sim.network_message_count(), 2 * round_trips);
    }
}

mod anysystem_side {
    use anysystem::{system::System, Context, Message, Process};

    #[derive(Clone)]
    pub struct Server;

    impl Process for Server {
        fn on_message(
            &mut self,
            msg: Message,
            from: String,
            ctx: &mut Context,
        ) -> Result<(), String> {
            ctx.send(Message::new("PONG".to_string(), msg.data), from);
            Ok(())
        }
        fn on_local_message(&mut self, _: Message, _: &mut Context) -> Result<(), String> {
            Ok(())
        }
        fn on_timer(&mut self, _: String, _: &mut Context) -> Result<(), String> {
            Ok(())
        }
    }

    #[derive(Clone)]
    pub struct Client {
        pub left: u64,
    }

    impl Process for Client {
        fn on_local_message(&mut self, msg: Message, ctx: &mut Context) -> Result<(), String> {
            ctx.send(msg, "server".to_string());
            Ok(())
        }
        fn on_message(
            &mut self,
            msg: Message,
            from: String,
            ctx: &mut Context,
        ) -> Result<(), String> {
            self.left -= 1;
            if self.left == 0 {
                ctx.send_local(msg);
            } else {
                ctx.send(Message::new("PING".to_string(), msg.data), from);
            }
            Ok(())
        }
        fn on_timer(&mut self, _: String, _: &mut Context) -> Result<(), String> {
            Ok(())
        }
    }

    pub fn setup(round_trips: u64) -> System {
        let mut sys = System::new(0);
        sys.add_node("server-node");
        sys.add_node("client-node");
        sys.add_process("server", Box::new(Server), "server-node");
        sys.add_process(
            "client",
            Box::new(Client { left: round_trips }),
            "client-node",
        );
        sys.network().set_delay(0.001);
        sys
    }

    pub fn run(sys: &mut System, round_trips: u64) {
        sys.send_local_message("client", Message::new("PING", r#"{"value":"Hello!"}"#));
        let done = sys.step_until_local_message("client").unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(sys.network().network_message_count(), 2 * round_trips);
    }
}

/// Live bytes per delivered message at the end of a run (simulation alive).
fn memory_report() {
    // Only memory allocated and freed inside the window is counted, which
    // is all of each run's.
    COUNTING.store(true, Ordering::Relaxed);
    for round_trips in [ROUND_TRIPS, 10 * ROUND_TRIPS] {
        let messages = 2 * round_trips;
        let before = live_bytes();
        let mut sim = ours::setup(round_trips);
        ours::run(&mut sim, round_trips);
        let ours = live_bytes().saturating_sub(before);
        drop(sim);
        let before = live_bytes();
        let mut sys = anysystem_side::setup(round_trips);
        anysystem_side::run(&mut sys, round_trips);
        let theirs = live_bytes().saturating_sub(before);
        drop(sys);
        println!(
            "process_pingpong memory, {messages} messages: bach {ours} B total ({:.1} B/message), \
             anysystem {theirs} B total ({:.1} B/message)",
            ours as f64 / messages as f64,
            theirs as f64 / messages as f64,
        );
    }
    COUNTING.store(false, Ordering::Relaxed);
}

/// Rounds of the paired comparison, and runs per round of each crate.
const PAIRED_ROUNDS: usize = 60;
const PAIRED_RUNS_OURS: usize = 5;
const PAIRED_RUNS_THEIRS: usize = 2;

/// The fastest of `runs` timed runs (setup and teardown untimed, as in the
/// criterion groups).
fn fastest<S>(runs: usize, setup: impl Fn() -> S, run: impl Fn(&mut S)) -> Duration {
    (0..runs)
        .map(|_| {
            let mut state = setup();
            let start = Instant::now();
            run(&mut state);
            let elapsed = start.elapsed();
            drop(state);
            elapsed
        })
        .min()
        .expect("at least one run")
}

/// Times both crates in alternation and prints the ratio of their fastest
/// runs (noise only ever adds time) and of each round.
fn paired_report() {
    let rounds: Vec<(Duration, Duration)> = (0..PAIRED_ROUNDS)
        .map(|_| {
            let ours = fastest(
                PAIRED_RUNS_OURS,
                || ours::setup(ROUND_TRIPS),
                |sim| ours::run(sim, ROUND_TRIPS),
            );
            let theirs = fastest(
                PAIRED_RUNS_THEIRS,
                || anysystem_side::setup(ROUND_TRIPS),
                |sys| anysystem_side::run(sys, ROUND_TRIPS),
            );
            (ours, theirs)
        })
        .collect();
    let per_message = |time: Duration| time.as_secs_f64() * 1e9 / (2 * ROUND_TRIPS) as f64;
    let ours = rounds.iter().map(|r| r.0).min().expect("rounds");
    let theirs = rounds.iter().map(|r| r.1).min().expect("rounds");
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|(ours, theirs)| theirs.as_secs_f64() / ours.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "process_pingpong paired, {PAIRED_ROUNDS} rounds of {PAIRED_RUNS_OURS} bach and \
         {PAIRED_RUNS_THEIRS} anysystem runs: fastest bach {:.1} ns/message, fastest anysystem \
         {:.1} ns/message, anysystem/bach {:.2}x; per round (fastest of each): median {:.2}x, \
         range {:.2}x to {:.2}x",
        per_message(ours),
        per_message(theirs),
        theirs.as_secs_f64() / ours.as_secs_f64(),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

fn pingpong(c: &mut Criterion) {
    memory_report();
    paired_report();
    let mut group = c.benchmark_group("process_pingpong");
    group.throughput(Throughput::Elements(2 * ROUND_TRIPS));
    group.bench_function(BenchmarkId::new("bach", ROUND_TRIPS), |b| {
        b.iter_batched(
            || ours::setup(ROUND_TRIPS),
            |mut sim| {
                ours::run(&mut sim, ROUND_TRIPS);
                sim
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.bench_function(BenchmarkId::new("anysystem", ROUND_TRIPS), |b| {
        b.iter_batched(
            || anysystem_side::setup(ROUND_TRIPS),
            |mut sys| {
                anysystem_side::run(&mut sys, ROUND_TRIPS);
                sys
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, pingpong);

#[path = "common/count.rs"]
mod count;

fn main() {
    if count::run(&[("process_pingpong", &|| {
        let mut sim = ours::setup(ROUND_TRIPS);
        ours::run(&mut sim, ROUND_TRIPS);
    })]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
