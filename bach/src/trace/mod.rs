//! The event trace: what happened, when, where and in which task.
//!
//! The runtime reports every task spawn, completion, cancellation and panic,
//! every timer set, fire and cancel, every packet fate, every node crash and
//! restart and every fault change to the trace. Recording is off by default
//! and then costs one branch per event. When on, events are kept compactly
//! (node and task ids, no strings) in a ring buffer of bounded size, so
//! memory stays flat on runs of any length; [`Simulation::trace`] expands
//! them into [`Event`]s. Printers render events as one console line each
//! (`0.001  client_0 --> server  UDP 10.0.0.2:49152 > 10.0.0.3:8080 4B`)
//! or as JSON lines.
//!
//! `BACH_TRACE=1` (or `stderr`) prints every event to stderr as it happens;
//! `BACH_TRACE=path.jsonl` writes JSON lines to that file. Tests usually
//! turn recording on with [`Simulation::record_trace`] and inspect
//! [`Simulation::trace`].
//!
//! The trace only observes: recording never changes the order or outcome of
//! anything, so a run traced and untraced behaves identically.
//!
//! [`Simulation::trace`]: crate::Simulation::trace
//! [`Simulation::record_trace`]: crate::Simulation::record_trace

pub(crate) mod event;
pub(crate) mod packet;
pub(crate) mod print;
pub(crate) mod recorder;

pub use event::{Event, EventKind, TaskRef};
pub use print::{write_console, write_json};
pub(crate) use recorder::RawKind;

use std::fmt;

/// Records a free-form note in the trace of the current simulation (a no-op
/// while recording is off). Panics outside a simulation.
#[track_caller]
pub fn note(message: impl fmt::Display) {
    crate::runtime::context::with("bach::trace::note", |inner| {
        if inner.trace.enabled() {
            let message: std::rc::Rc<str> = message.to_string().into();
            inner.trace_event(RawKind::Note(message));
        }
    })
}
