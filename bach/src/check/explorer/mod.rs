//! The explorer: runs a simulation body many times under a strategy and
//! reports the first failing execution with its replay token.
//!
//! One concept per file:
//!
//! * `builder`: [`Explorer`], its options and [`Strategy`], and what the
//!   engines derive from them (scheduler, per-path run, budget);
//! * `run`: the entry points (`run`, `run_with`, `run_from` and their
//!   `try_` forms), which pick an engine;
//! * the engines, each an `impl Explorer` block of its own: `stateless`
//!   (every execution from the start, under any scheduler),
//!   `checkpointed` (depth-first model checking resumed from saved
//!   states) and `parallel` (breadth-first model checking on all cores);
//! * `recording_source`: the choice source every execution runs on,
//!   recording its choices for the replay token;
//! * `report`: what a search gives back ([`Report`], [`Failure`],
//!   [`Collected`]);
//! * `replay`: rerunning one recorded execution ([`replay`],
//!   `Simulation::replay`).

mod builder;
mod checkpointed;
mod parallel;
mod recording_source;
mod replay;
mod report;
mod run;
mod stateless;

pub use builder::{Explorer, Strategy};
#[cfg(feature = "bolero")]
pub(crate) use recording_source::RecordingSource;
pub use replay::replay;
pub use report::{Collected, Failure, Report};
