//! # bach
//!
//! Deterministic discrete-event simulation for async Rust. Wrap ordinary
//! `async` code in [`bach::sim`](sim): tasks run on a single-threaded
//! executor over simulated time (idle time is free: the clock jumps to the
//! next event), grouped into nodes, and every random choice comes from one
//! seeded source, so one seed reproduces one run bit for bit.
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
//! [`check`] runs a body for many seeds on all cores ([`check::sweep`]),
//! explores task interleavings with partial-order reduction under DFS,
//! random or PCT strategies ([`check::Explorer`]), lets bolero's fuzzers
//! drive every choice (`check::fuzz`, feature `bolero`) and prints a
//! `BACH_REPLAY=<token>` for every failure it finds, which reruns exactly
//! that execution. `#[bach::test(seeds = N, interleavings, fuzz)]` exposes
//! the same from a test attribute.
//!
//! ## Determinism rules
//!
//! Inside a simulation, do not read the wall clock (`std::time`), OS
//! randomness, or iterate a `HashMap` in a way that changes behaviour; use
//! [`time::Instant`], [`rand`], and ordered collections instead. bach's own
//! runtime follows the same rules.

#![deny(missing_docs)]

pub mod check;
mod executor;
pub mod ext;
pub mod group;
pub mod net;
pub mod node;
pub mod process;
pub mod queue;
pub mod rand;
pub mod runtime;
pub mod sync;
pub mod task;
pub mod time;
pub mod trace;
#[cfg(feature = "tracing")]
pub mod tracing;

pub use bach_macros::test;
pub use runtime::Simulation;
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
