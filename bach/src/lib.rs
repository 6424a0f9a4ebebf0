//! # bach
//!
//! Deterministic discrete-event simulation for async Rust. Wrap ordinary
//! `async` code in [`bach::sim`](sim): tasks run on a single-threaded
//! executor over simulated time (idle time is free: the clock jumps to the
//! next event), grouped into nodes, and every random choice comes from one
//! seeded source, so one seed reproduces one run bit for bit.
//!
//! ## Why simulate
//!
//! Distributed and networked code fails in the gaps between events: a
//! retransmission that races an acknowledgement, a crash between two
//! writes, a packet reordered behind a timeout. On real machines those
//! orders are rare and never come back when you look. Under bach the
//! protocol code is unchanged, but time, the network, node failures and
//! task scheduling are simulated and driven by one seed: hours of
//! simulated traffic run in milliseconds, faults are injected on purpose,
//! a failing run replays exactly with a trace and a Wireshark capture, and
//! the search tools in [`check`] go looking for the bad orders instead of
//! waiting for them.
//!
//! ```
//! use bach::ext::*;
//! use bach::time::Instant;
//!
//! bach::sim(|| {
//!     async {
//!         let start = Instant::now();
//!         10.ms().sleep().await;
//!         assert_eq!(start.elapsed(), 10.ms());
//!     }
//!     .group("client")
//!     .primary()
//!     .spawn();
//! });
//! ```
//!
//! ## The run model
//!
//! * [`sim`] calls its closure inside a fresh [`Simulation`], then runs until
//!   every *primary* future (`.primary()`) has completed. Other tasks are
//!   background: they are dropped, inside the simulation, when it ends. With
//!   no primary at all, it runs until nothing is left to do.
//! * Ready tasks are polled first-in, first-out; each wake causes exactly one
//!   poll. When nothing is ready the clock jumps to the next timer.
//! * Primaries left, nothing runnable, nothing pending: the simulation panics
//!   at once with a deadlock report naming each blocked primary and its node.
//! * A panic in any task ends the simulation; the panic message names the
//!   task, its node, the simulated time and how to reproduce the run
//!   (`BACH_SEED=…`).
//! * [`time::sleep`] measures from its creation (tokio semantics).
//!
//! ## The network
//!
//! Groups are nodes: each gets an address (`10.0.0.1` for `main`, then one
//! per group in creation order) and its name resolves like a host name.
//! [`net::UdpSocket`] follows tokio's API (`UdpSocket::bind("server:8080")`,
//! `send_to`, `recv_from`, …) over directed links with latency, jitter,
//! loss, duplication, corruption and bandwidth; packets in flight are
//! events on the same clock as timers. Fault scripts partition, disconnect
//! and heal from a task at chosen times ([`net::partition`], [`net::heal`],
//! [`net::link`]), monitors ([`net::monitor`]) see every packet and may
//! drop, delay, duplicate or corrupt it, and every packet's fate is counted
//! ([`net::stats`]). With `BACH_PCAP_DIR=target/bach/pcaps` each simulation
//! also writes a pcapng capture that Wireshark opens, node names included.
//!
//! ## Nodes, crashes and clocks
//!
//! [`node::host`] gives a node restartable software; [`node::crash`] drops
//! every task of the node inside the simulation (sockets close, timers
//! vanish, packets on their way to it are dropped on arrival) and
//! [`node::restart`] boots it again with the same address. Each node has a
//! wall clock ([`time::SystemTime`]) with its own offset and drift, for
//! reproducing clock-skew bugs; [`node::Chaos`] injects random crashes and
//! partitions drawn from the simulation's choice source.
//!
//! ## Sync primitives and queues
//!
//! [`sync`] has tokio's `mpsc`, `oneshot`, `Mutex`, `RwLock`, `Semaphore`,
//! `Notify` and `watch`, native to the simulation (deterministic first-in,
//! first-out wake order); [`queue`] has composable queues (FIFO, LIFO,
//! priority; latent, lossy, sojourn-measuring) with metrics, for queueing
//! models.
//!
//! ## Seeing what happened
//!
//! [`Simulation::record_trace`] records every task, timer, packet, node and
//! fault event in a bounded ring ([`Simulation::trace`]); `BACH_TRACE=1`
//! prints them as they happen and `BACH_TRACE=run.jsonl` writes JSON lines
//! (see [`trace`]). [`Simulation::step`], [`Simulation::run_for`] and
//! friends run a simulation one event, or one stretch of time, at a time.
//!
//! ## Processes
//!
//! For systems written as message handlers rather than async code (courses,
//! AnySystem and dslab-mp ports), [`process`] hosts AnySystem-style
//! processes on tasks: `Process::on_message`/`on_local_message`/`on_timer`,
//! a [`process::Context`] to send messages, emit local messages and set
//! named timers, and `Simulation` methods to add processes, send local
//! messages, step until a process reports, inspect process state and inject
//! network faults. Messages between nodes are datagrams on the simulated
//! network, so every fault, the trace and the capture apply.
//!
//! ## Reproducing a failure
//!
//! Simulations are seeded from `BACH_SEED` (default 0). A failure prints the
//! seed; rerun the test with `BACH_SEED=<seed>` (and `BACH_TRACE=1`) to get
//! the same run again, traced. [`Simulation::check_determinism`] runs a body
//! twice and names the first event where the runs differ.
//!
//! ## Searching for bugs
//!
//! One seed shows one schedule. [`check`] searches many:
//!
//! * **Seed sweeps** ([`check::sweep`]) run a body for many seeds on all
//!   cores; `BACH_SEEDS=a..b` shards a sweep across machines.
//! * **Interleaving exploration** ([`check::Explorer`]) makes every
//!   operation on a sync primitive, queue channel or socket a scheduling
//!   point and explores task orders with partial-order reduction, by
//!   iterative delay or preemption bounding (the default: fewest
//!   deviations from the default schedule first), depth-first
//!   enumeration, random walks or PCT.
//! * **Fuzzing** (feature `bolero`): `check::fuzz(body)` inside
//!   `bolero::check!().run(..)` lets the fuzzer's input drive every choice,
//!   so libFuzzer or AFL steer the simulation by coverage.
//! * **Model checking** ([`check::Explorer::model_checking`]) explores every
//!   delivery order, loss, duplication and corruption of a system — async
//!   code or [`process`]es — within budgets, prunes states it has seen
//!   with at least as many faults left to spend (fingerprints of registered
//!   state, messages in flight and pending timers), and checks invariants
//!   and goals after every step.
//!
//! Every failure they find prints a `BACH_REPLAY=<token>`, which reruns
//! exactly that execution (`check::replay`, or the environment variable
//! with the same test). `#[bach::test(seeds = N, interleavings, fuzz)]`
//! exposes the same from a test attribute.
//!
//! ```
//! use bach::{
//!     check::{self, Explorer},
//!     process::{self, Context, Message, Process},
//!     Simulation,
//! };
//!
//! /// Forwards its local message to `receiver`.
//! struct Forwarder;
//! impl Process for Forwarder {
//!     fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
//!         ctx.send(msg, "receiver");
//!     }
//!     fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
//! }
//!
//! /// Reports every message it receives.
//! struct Receiver;
//! impl Process for Receiver {
//!     fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
//!         ctx.send_local(msg);
//!     }
//! }
//!
//! let failure = Explorer::model_checking()
//!     .max_duplicates(1)
//!     .try_run_with(|sim: &mut Simulation| {
//!         sim.add_process("forwarder", "a", Forwarder);
//!         sim.add_process("receiver", "b", Receiver);
//!         sim.set_duplication_rate(0.1); // duplication becomes a choice
//!         sim.send_local("forwarder", Message::new("MSG", "hello"));
//!         sim.enter(|| {
//!             check::invariant("received at most once", || {
//!                 process::local_outbox("receiver").len() <= 1
//!             })
//!         });
//!     })
//!     .expect_err("a duplicated datagram arrives twice");
//! assert!(failure.message().contains("received at most once"));
//! assert!(failure.token().len() > 0); // BACH_REPLAY=<token> reruns it
//! ```
//!
//! ## Determinism rules
//!
//! A run is a function of its seed as long as the code under simulation
//! takes every source of variation from the simulation:
//!
//! * time from [`time::Instant`] / [`time::SystemTime`] and timers from
//!   [`time`], never `std::time::Instant::now()` or `SystemTime::now()`;
//! * randomness from [`rand`] (or a generator seeded from it), never OS
//!   randomness (`rand::rng()`, `getrandom`, `RandomState`);
//! * no iteration over a `HashMap`/`HashSet` where the order changes what
//!   happens (their hasher is randomly keyed per map): use `BTreeMap`, an
//!   ordered index, or a fixed hasher;
//! * no OS threads, real sockets, files or other I/O inside the run, and
//!   no state carried in statics from one run to the next.
//!
//! bach's own runtime follows the same rules. Two checks catch a body
//! that does not: [`Simulation::check_determinism`] runs it twice with
//! one seed and names the first event where the traces differ (and what
//! to look for), and the depth-first explorer stops with "replay diverged
//! at recorded decision #i" when re-running a prefix takes a different
//! turn. Comparing two runs' capture files byte for byte is the same test
//! for the network.
//!
//! ## Limitations
//!
//! * **Single-threaded.** Tasks run on the simulation's thread; futures
//!   need not be `Send`, and a waker used from another OS thread panics
//!   with an explanation. Code that spawns OS threads or blocks on them
//!   cannot be simulated as is.
//! * **bach's primitives only.** Time, sockets, channels and locks must be
//!   bach's (`bach::time`, `bach::net`, `bach::sync`); tokio's types need
//!   tokio's runtime and do not run here. The network is UDP (datagrams);
//!   there is no simulated TCP.
//! * **Code takes no simulated time.** Polling a task is instantaneous on
//!   the simulated clock; model CPU cost with explicit sleeps where it
//!   matters.
//! * **Exploration re-executes.** Interleaving exploration and model
//!   checking run the body from the start for every execution (stateless),
//!   so bodies must be deterministic, and the cost grows with the depth of
//!   the search. The exception: depth-first model checking of a system made
//!   only of processes that copy themselves
//!   ([`Process::clone_process`](process::Process::clone_process)) saves
//!   the system at every step and resumes each path from the nearest saved
//!   state, with the same results. Pruning by fingerprints is sound only if
//!   everything that affects the future is registered (a process's
//!   `state()`, [`check::state`]); see [`check::model`].
//!
//! Simulations share nothing, so many run in parallel on separate threads
//! (that is how sweeps and parallel model checking use every core). Without
//! the `bolero` feature the crate builds for `wasm32-unknown-unknown`.

#![deny(missing_docs)]

pub mod check;
mod executor;
pub mod ext;
pub mod fs;
pub mod group;
mod kernel;
pub mod net;
pub mod node;
pub mod process;
pub mod queue;
pub mod rand;
pub mod runtime;
mod simulation;
pub mod sync;
pub mod task;
pub mod time;
pub mod trace;
#[cfg(feature = "tracing")]
pub mod tracing;

pub use bach_macros::test;
pub use simulation::Simulation;
pub use task::spawn;

/// Runs `f` in a new default [`Simulation`] (seeded from `BACH_SEED`, or 0)
/// until every primary future has completed; returns `f`'s result.
#[track_caller]
pub fn sim<F: FnOnce() -> R, R>(f: F) -> R {
    Simulation::new().run(f)
}

/// Whether the caller runs inside a simulation.
pub fn is_active() -> bool {
    runtime::context::is_active()
}

#[doc(hidden)]
pub mod __private {
    /// bolero, for `#[bach::test(fuzz)]`.
    #[cfg(feature = "bolero")]
    pub use bolero;

    /// A waker that does nothing, for macros that read finished futures.
    pub fn noop_waker() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }
}
