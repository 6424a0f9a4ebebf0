//! Searching for bugs: seed sweeps, interleaving exploration with
//! partial-order reduction, strategies, replay tokens and fuzzing.
//!
//! One seeded run shows the bugs of one schedule. Every nondeterministic
//! decision in a simulation flows through its one choice source
//! ([`rand::source::ChoiceSource`](crate::rand::source::ChoiceSource)), so a search only
//! has to drive that source:
//!
//! * **Seed sweeps** ([`sweep`], [`Sweep`]) run a body for many seeds on all
//!   cores and report the failing seeds (`BACH_SEED=<n>` reruns one;
//!   `BACH_SEEDS=a..b` shards a sweep across machines).
//! * **Interleavings** ([`Simulation::interleavings`]): when several ready
//!   tasks contend for a shared resource at the same instant, the choice
//!   source picks who goes first. Every async operation on a `bach::sync`
//!   primitive, a `bach::queue` channel or a `UdpSocket` becomes a
//!   scheduling point. **Partial-order reduction** (on by default) only
//!   permutes tasks whose footprints — the resources their next step is
//!   predicted to touch — overlap: two senders on two independent channels
//!   are never reordered against each other. The systematic explorers go
//!   further with **dynamic partial-order reduction** (source sets and
//!   sleep sets): they run one execution per class of schedules that
//!   differ only in the order of independent steps — three tasks that each
//!   lock one mutex twice take 90 executions, one per lock order, where
//!   every order of their steps is 34,650.
//! * **The explorer** ([`Explorer`]) re-runs a body from the start for each
//!   execution, under a [`Strategy`]. By default
//!   ([`Strategy::DelayBounded`]) it enumerates every execution up to
//!   equivalence — each discrete choice: task order, `rand::choose`,
//!   `pick`, `shuffle` — fewest deviations from the default schedule first
//!   (iterative bounding: a bug that needs one reordering or one fault is
//!   found among the first executions, wherever it sits; a fault at the
//!   root is tried early, not after every interleaving below its
//!   default). [`Strategy::PreemptionBounded`] counts preemptions instead
//!   of delays, [`Strategy::Dfs`] enumerates the same executions depth
//!   first, [`Strategy::Random`] samples, [`Strategy::Pct`] runs
//!   probabilistic concurrency testing, which finds a bug of depth `d`
//!   among `n` tasks and `k` steps with probability at least
//!   `1/(n·k^(d-1))` per execution. Custom searches implement
//!   [`Scheduler`].
//! * **Model checking** ([`Explorer::model_checking`]): the network becomes
//!   asynchronous (any packet in flight may arrive next, each task's timers
//!   fire in deadline order but interleave freely with deliveries), losses,
//!   duplications and corruptions are choices bounded by budgets, and
//!   visited state fingerprints prune the search. Depth-first model
//!   checking of processes that implement
//!   [`Process::clone_process`](crate::process::Process::clone_process)
//!   resumes paths from states saved at each step instead of re-running
//!   the setup and the prefix (same paths, states and tokens; several
//!   times faster). [`invariant`], [`goal`],
//!   [`prune`] and [`state`] describe what to check and what the state is;
//!   [`Explorer::collect`] and [`Explorer::run_from`] run multi-stage
//!   checks; [`Strategy::Bfs`] finds a shortest counterexample and
//!   [`Explorer::par_run_with`] spreads a breadth-first search over all
//!   cores with results identical to one thread. A violation comes with its
//!   message, the event trace of the path and a replay token. See
//!   [`model`] for the exact rules and what pruning assumes.
//! * **Linearizability** ([`History`], [`linearizable`],
//!   [`linearizability`]): simulated clients record each call and return;
//!   every run of every search ends by checking that one sequential order
//!   explains what they saw, and fails with the witness if none does.
//! * **Fuzzing** (feature `bolero`): inside `bolero::check!().run(..)`,
//!   [`fuzz`] lets the fuzzer's input drive every choice (libFuzzer/AFL via
//!   `cargo bolero test`, bolero's random engine and corpus replay under
//!   `cargo test`); [`fuzz_choices`] with `check!().exhaustive()` enumerates
//!   every schedule exactly once.
//! * **Replay**: every failure found by the explorer or the fuzzer prints
//!   `BACH_REPLAY=<token>`, a compact printable record of the execution's
//!   choices. Setting that variable (run just the failing test) or calling
//!   [`replay`] reruns exactly that execution, with `BACH_TRACE` and
//!   `BACH_PCAP_DIR` honoured as usual. Tokens contain no addresses, so they
//!   survive a recompile of unchanged code; a token that no longer matches
//!   the code stops with "replay diverged" rather than running something
//!   else.
//!
//! ```
//! use bach::{check::{self, Explorer}, process::{self, Context, Message, Process}};
//!
//! struct Client;
//! impl Process for Client {
//!     fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
//!         ctx.send(msg, "server");
//!     }
//!     fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
//!         ctx.send_local(msg);
//!     }
//! }
//! struct Server;
//! impl Process for Server {
//!     fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
//!         ctx.send(msg, from);
//!     }
//! }
//!
//! // One lost message and the client waits forever: a liveness violation.
//! let failure = Explorer::model_checking()
//!     .max_drops(1)
//!     .try_run_with(|sim| {
//!         sim.add_process("client", "a", Client);
//!         sim.add_process("server", "b", Server);
//!         sim.set_drop_rate(0.1);
//!         sim.send_local("client", Message::new("PING", "1"));
//!         sim.enter(|| check::goal("answered", || !process::local_outbox("client").is_empty()));
//!     })
//!     .unwrap_err();
//! assert!(failure.message().contains("nothing left to do"));
//! assert!(failure.trace().iter().any(|line| line.contains("--x")));
//! ```
//!
//! `#[bach::test]` exposes all of this as options: `seeds = N`,
//! `interleavings`, `fuzz`, `seed`, `time_limit`, `pcap`.
//!
//! ```
//! use bach::{check::{Explorer, Strategy}, ext::*, sync::Mutex};
//! use std::rc::Rc;
//!
//! // A lost update: read and write under two separate locks.
//! let body = || {
//!     let counter = Rc::new(Mutex::new(0));
//!     for _ in 0..2 {
//!         let counter = counter.clone();
//!         async move {
//!             let read = *counter.lock().await;
//!             *counter.lock().await = read + 1;
//!         }
//!         .spawn();
//!     }
//!     async move {
//!         1.ms().sleep().await;
//!         assert_eq!(*counter.lock().await, 2, "lost update");
//!     }
//!     .primary()
//!     .spawn();
//! };
//! bach::sim(body); // one FIFO run passes
//! let failure = Explorer::new().try_run(body).unwrap_err();
//! assert!(failure.message().contains("lost update"));
//! // `BACH_REPLAY=<token>` (or `check::replay`) reruns that execution.
//! let replayed = std::panic::catch_unwind(|| bach::check::replay(failure.token(), body));
//! assert!(replayed.is_err());
//! ```
//!
//! ## What reduction can and cannot see
//!
//! Footprints cover bach's primitives, queues, sockets (a send touches
//! what is on its way to the destination node, a receive the socket) and
//! the messages queued for a process on the sender's node. State
//! shared outside them (an `Rc<RefCell<..>>` two tasks mutate between
//! awaits) is invisible: its races show up only where they line up with a
//! bach operation. A synchronous operation (`try_send`, an unlock, a
//! notification) on a resource a task never touched before is recorded
//! after the fact and counts for the task's next step. Reduction may
//! therefore miss an interleaving in such code, but it never invents one;
//! [`Explorer::reduction`]`(false)` explores every order of ready tasks.
//! Primitives keep their documented FIFO fairness under exploration: what
//! varies is the order in which tasks reach them.
//!
//! [`Simulation::interleavings`]: crate::Simulation::interleavings

mod explorer;
pub(crate) mod fingerprint;
pub(crate) mod footprint;
#[cfg(feature = "bolero")]
mod fuzz;
mod history;
pub(crate) mod interleave;
pub mod linearizability;
pub mod model;
pub(crate) mod strategy;
mod sweep;
pub(crate) mod token;

pub use explorer::{replay, Collected, Explorer, Failure, Report, Strategy};
#[cfg(feature = "bolero")]
pub use fuzz::{
    fuzz, fuzz_choices, fuzz_choices_with, fuzz_setup, fuzz_test, fuzz_with, try_fuzz_test, Bolero,
    FuzzFailure,
};
pub use history::{history, linearizable, linearizable_within, Call, CallId, History};
pub use model::{goal, invariant, prune, state, Ordering, Visited};
pub use strategy::Scheduler;
pub use sweep::{sweep, sweep_with, Sweep, SweepFailure, SweepReport};
