//! Linearizability checking: is a concurrent history explained by some
//! sequential order of its operations?
//!
//! A test records, for every operation a client ran against a system (a
//! replicated register, a key-value store, a queue), when it was called,
//! what it returned and when. The history is **linearizable** if the
//! operations can be put in one order that (1) respects real time — an
//! operation that returned before another was called comes first — and (2)
//! is legal for a sequential specification, the [`Model`]: run one at a
//! time from the model's initial state, each returns what it returned in
//! the history. An operation that never returned (a timeout, a crashed
//! client) may have taken effect at any time after its call, or never.
//!
//! This module is the checker alone: it takes a finished history and a
//! model and gives a [`CheckResult`]. It knows nothing of simulations; in a
//! bach test the history is recorded as the simulation runs (with
//! `check::history()`) and handed to the functions here as a list of
//! [`Event`]s or [`Operation`]s.
//!
//! # Writing a model
//!
//! A model has a state (a value: `Clone + Eq + Hash`), an initial state,
//! and a `step` that, given a state, an operation's input and what it
//! returned, says whether that output is legal and what the state becomes.
//! An output of `None` means the call never returned: step must then apply
//! the operation's effect whatever it would have returned. Here, a counter:
//!
//! ```
//! use bach::check::linearizability::{check_operations, CheckResult, Model, Operation, Options};
//!
//! #[derive(Debug)]
//! enum Call { Increment, Read }
//!
//! struct Counter;
//!
//! impl Model for Counter {
//!     type State = u64;
//!     type Input = Call;
//!     type Output = u64; // increment returns the new count
//!
//!     fn init(&self) -> u64 {
//!         0
//!     }
//!
//!     fn step(&self, count: &u64, call: &Call, output: Option<&u64>) -> Option<u64> {
//!         let (next, result) = match call {
//!             Call::Increment => (count + 1, count + 1),
//!             Call::Read => (*count, *count),
//!         };
//!         // Unknown outputs (`None`) are legal; known ones must match.
//!         output.is_none_or(|&output| output == result).then_some(next)
//!     }
//! }
//!
//! // Two overlapping increments; a read after both returned sees 2.
//! let history = [
//!     Operation::returned(0, Call::Increment, 0, 2, 10),
//!     Operation::returned(1, Call::Increment, 5, 1, 12),
//!     Operation::returned(0, Call::Read, 15, 2, 20),
//! ];
//! let result = check_operations(&Counter, &history, Options::default()).unwrap();
//! assert_eq!(result, CheckResult::Linearizable);
//!
//! // A read that sees only one increment after both returned cannot be
//! // explained: the witness says what can be linearized and what cannot.
//! let stale = [
//!     Operation::returned(0, Call::Increment, 0, 1, 10),
//!     Operation::returned(1, Call::Increment, 5, 2, 12),
//!     Operation::returned(2, Call::Read, 15, 1, 20),
//! ];
//! let result = check_operations(&Counter, &stale, Options::default()).unwrap();
//! let witness = result.witness().expect("not linearizable");
//! assert_eq!(witness.failures[0].prefix.len(), 2);
//! assert_eq!(witness.failures[0].unplaceable[0].operation.client, 2);
//! println!("{result}");
//! ```
//!
//! The last line prints:
//!
//! ```text
//! the history is not linearizable
//! partition 0 of 1 (3 operation(s)) has no linearization
//!   initial state: 0
//!   longest linearizable prefix (2 of 3 operation(s)), in linearization order:
//!       1. client 0, called at 0, returned at 10: Increment -> 1
//!          state after: 1
//!       2. client 1, called at 5, returned at 12: Increment -> 2
//!          state after: 2
//!   none of these can come next:
//!     - client 2, called at 15, returned at 20: Read -> 1
//!       rejected by the model in that state
//! ```
//!
//! Beyond `init` and `step`, a model can [`partition`](Model::partition)
//! its history into independent parts (the keys of a map), and describe
//! operations and states for reports
//! ([`describe_operation`](Model::describe_operation),
//! [`describe_state`](Model::describe_state); `Debug` by default).
//! [`models`] ships a register, a key-value map (partitioned by key), a
//! FIFO queue, a set (partitioned by element) and a lock.
//!
//! # Histories
//!
//! [`check_operations`] takes [`Operation`]s: client, input, call time,
//! and output and return time if it returned. [`check_events`] takes
//! [`Event`]s, calls and returns matched by an id, as a recorder writes
//! them. Times are `u64`s in any unit: only their order counts. By default
//! an operation that returned at `t` precedes one called at `t`;
//! [`Options::ties`] with [`Ties::Concurrent`] makes them overlap instead,
//! which is right when many events share a clock reading (prefer
//! recording a counter, or nanoseconds that never repeat: equal times lose
//! information either way). A malformed history — a return without a call,
//! a return before its call, a repeated id — is an `Err` naming the id, not
//! a verdict.
//!
//! # Results
//!
//! [`CheckResult::Linearizable`], [`CheckResult::NotLinearizable`] with a
//! [`Witness`] (for the failing partition: the longest linearizable prefix
//! found, with the state after each operation, and the operations that
//! could come next but cannot be placed, with their clients and times), or
//! [`CheckResult::Unknown`] when [`Options::time_limit`] ran out before
//! every partition was decided and none had failed: the history may be
//! linearizable or not, and the result lists the partitions left
//! undecided. `Display` prints each for a test failure;
//! [`CheckResult::assert_linearizable`] panics with it.
//!
//! # Cost and limits
//!
//! Checking linearizability is NP-complete in general: the search
//! (Wing and Gong's, with Lowe's memoisation, as in Horn and Kroening's
//! checker and Porcupine) may try every order of operations that overlap
//! in time. Two things make it fast in practice. **Memoisation**: the
//! search visits each pair (set of operations linearized, state) once, so
//! its cost is bounded by the number of distinct such pairs, not of orders;
//! a small state space (a register, one key) keeps it small. **Partitioning**
//! (P-compositionality): when the object is a collection of independent
//! objects, each part is checked alone, and the search is exponential in
//! the concurrency of one part, not of the whole history. Parts are checked
//! on all cores ([`Options::threads`]), and the result does not depend on
//! the number of threads. What stays expensive: many operations
//! concurrent on one part (dozens of clients hammering one register with a
//! long timeout), operations that never returned (each may be placed
//! anywhere after its call), and models with large states (the memo keeps
//! one per configuration). Give such checks a [`Options::time_limit`].
//! For scale, on one core (`benches/linearizability.rs`): 10,000 key-value
//! operations by 16 clients over 100 keys take about a millisecond; 1,000
//! operations on one register with about 8 in flight at a time take about
//! 8 ms, and each further operation in flight multiplies that.
//!
//! The model must be a function of its arguments: the search calls `step`
//! many times with the same state and input and caches the results by
//! state. A model whose operation could have several effects with the same
//! output is not supported; put what tells them apart in the output.

mod checker;
mod history;
mod memo;
mod model;
pub mod models;
mod report;
mod search;

pub use checker::{check_events, check_operations, Options};
pub use history::{
    events_from_operations, operations_from_events, Event, HistoryError, Operation, Ties,
};
pub use model::Model;
pub use report::{CheckResult, OperationRecord, PartitionFailure, Placed, Unplaceable, Witness};

#[cfg(test)]
mod generate;
#[cfg(test)]
mod tests;
