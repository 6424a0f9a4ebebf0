//! Integration with the `tracing` crate (feature `tracing`).
//!
//! Every poll of a task runs inside a `task` span carrying the task id, its
//! name and its node, so log lines say where they come from. [`SimTime`]
//! stamps log lines with simulated time instead of the wall clock:
//!
//! ```
//! tracing_subscriber::fmt().with_timer(bach::tracing::SimTime).init();
//! ```

use crate::time::Instant;
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

/// A `tracing_subscriber` timer printing simulated time (`0:00:01.250000000`),
/// or `-` outside a simulation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match Instant::try_now() {
            Some(now) => write!(w, "{now}"),
            None => write!(w, "-"),
        }
    }
}
