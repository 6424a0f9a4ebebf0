//! Searching for bugs: interleaving exploration, strategies, replay tokens,
//! seed sweeps and fuzzing.

pub(crate) mod interleave;
mod sweep;
pub use sweep::{sweep, Sweep, SweepFailure, SweepReport};
