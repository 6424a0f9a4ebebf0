//! Integration with the `tracing` crate (feature `tracing`).
//!
//! Every poll of a task runs inside a `task` span carrying the task id, its
//! name and its node, so log lines say where they come from. [`SimTime`]
//! stamps log lines with simulated time instead of the wall clock:
//!
//! ```
//! tracing_subscriber::fmt().with_timer(bach::tracing::SimTime).init();
//! ```

use crate::{executor::Polling, runtime::Inner, time::Instant};
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

pub(crate) fn task_span(inner: &Inner, polling: &Polling) -> tracing::Span {
    let label = inner.executor.label(polling.index);
    let node = inner.groups.borrow().name(polling.group);
    let name = label.as_ref().and_then(|l| l.name.as_deref()).unwrap_or("");
    tracing::info_span!("task", id = polling.id.as_u64(), name, node = &*node)
}

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
