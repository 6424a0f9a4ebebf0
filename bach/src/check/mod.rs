//! Searching for bugs: interleaving exploration, strategies, replay tokens,
//! seed sweeps and fuzzing.

mod explorer;
#[cfg(feature = "bolero")]
mod fuzz;
pub(crate) mod interleave;
mod strategy;
mod sweep;
pub(crate) mod token;

pub use explorer::{replay, Explorer, Failure, Report, Strategy};
#[cfg(feature = "bolero")]
pub use fuzz::{fuzz, fuzz_choices, fuzz_choices_with, fuzz_with, Bolero};
pub use strategy::Scheduler;
pub use sweep::{sweep, Sweep, SweepFailure, SweepReport};
