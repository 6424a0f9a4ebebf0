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

pub(crate) mod packet;
mod print;
pub(crate) mod recorder;

pub use print::{write_console, write_json};
pub(crate) use recorder::{RawEvent, RawKind};

use crate::{
    executor::TaskId,
    net::{PacketEvent, PacketFate},
    runtime::Inner,
    time::Instant,
};
use std::fmt;

/// One traced event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened.
    pub time: Instant,
    /// The node it happened on.
    pub node: String,
    /// The task it concerns or that was running, if any.
    pub task: Option<TaskRef>,
    /// What happened.
    pub kind: EventKind,
}

/// A task as named in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRef {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it was spawned with one.
    pub name: Option<String>,
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}{}", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

/// What an [`Event`] records.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A task was spawned (the event's task is the new one).
    TaskSpawned,
    /// A task completed.
    TaskCompleted,
    /// A task was cancelled (aborted, or its node crashed).
    TaskCancelled,
    /// A task panicked.
    TaskPanicked {
        /// The panic message.
        message: String,
    },
    /// A timer was armed.
    TimerSet {
        /// When it will fire.
        deadline: Instant,
    },
    /// A timer fired.
    TimerFired,
    /// A timer was cancelled before firing.
    TimerCancelled,
    /// A packet was sent, delivered or dropped.
    Packet(PacketEvent),
    /// A node crashed: its tasks, sockets and timers are gone.
    NodeCrashed,
    /// A node booted again after a crash.
    NodeRestarted,
    /// The network's fault state changed (partition, heal, link change …).
    Fault {
        /// What changed, e.g. `partition [a] | [b, c]`.
        description: String,
    },
    /// A note recorded by user code with [`note`].
    Note {
        /// The note.
        message: String,
    },
    /// While exploring interleavings, the choice source picked this task to
    /// run next among `among` ready tasks contending for shared resources.
    Scheduled {
        /// How many tasks were candidates.
        among: usize,
    },
    /// A process handled or sent something (see [`process`](crate::process)):
    /// `client --> server  PING {"value":"Hello!"}` for a send, `<--` for a
    /// receipt, `>>>`/`<<<` for local messages in and out, `!--` for a timer.
    Process {
        /// The line, naming the processes involved.
        line: String,
    },
}

/// Expands a compact record into an [`Event`]; `name_of` resolves task
/// names (from spawn events, or live tasks).
pub(crate) fn expand(
    inner: &Inner,
    raw: &RawEvent,
    name_of: &dyn Fn(TaskId) -> Option<std::rc::Rc<str>>,
) -> Event {
    let name = |group| inner.groups.borrow().name(group).to_string();
    let (node, kind) = match &raw.kind {
        RawKind::Packet(packet) => {
            let packet = crate::net::state::borrow(inner).expand(inner, packet);
            // Deliveries happen at the receiver; sends and drops are
            // attributed to the sender (the line reads `from --x to`).
            let node = match packet.fate {
                PacketFate::Delivered => packet.to.name().to_string(),
                _ => packet.from.name().to_string(),
            };
            (node, EventKind::Packet(packet))
        }
        other => {
            let node = raw.node.map(name).unwrap_or_default();
            let kind = match other {
                RawKind::Spawn(_) => EventKind::TaskSpawned,
                RawKind::Complete => EventKind::TaskCompleted,
                RawKind::Cancel => EventKind::TaskCancelled,
                RawKind::Panic(message) => EventKind::TaskPanicked {
                    message: message.to_string(),
                },
                RawKind::TimerSet(deadline) => EventKind::TimerSet {
                    deadline: Instant::from_nanos(*deadline),
                },
                RawKind::TimerFire => EventKind::TimerFired,
                RawKind::TimerCancel => EventKind::TimerCancelled,
                RawKind::NodeCrash => EventKind::NodeCrashed,
                RawKind::NodeRestart => EventKind::NodeRestarted,
                RawKind::Fault(description) => EventKind::Fault {
                    description: description.to_string(),
                },
                RawKind::Note(message) => EventKind::Note {
                    message: message.to_string(),
                },
                RawKind::Scheduled(among) => EventKind::Scheduled {
                    among: *among as usize,
                },
                RawKind::Process(line) => EventKind::Process {
                    line: line.to_string(),
                },
                RawKind::Packet(_) => unreachable!("handled above"),
            };
            (node, kind)
        }
    };
    Event {
        time: Instant::from_nanos(raw.time),
        node,
        task: raw.task.map(|id| TaskRef {
            id,
            name: name_of(id).as_deref().map(str::to_string),
        }),
        kind,
    }
}

/// Expands a whole recording, resolving names from its spawn events and,
/// for tasks spawned before the oldest kept event, from live tasks.
pub(crate) fn expand_all(inner: &Inner, raws: &[RawEvent]) -> Vec<Event> {
    let mut names = std::collections::HashMap::new();
    for raw in raws {
        if let (Some(id), RawKind::Spawn(Some(name))) = (raw.task, &raw.kind) {
            names.insert(id, name.clone());
        }
    }
    let name_of = |id: TaskId| {
        names
            .get(&id)
            .cloned()
            .or_else(|| inner.executor.name_of(id))
    };
    raws.iter()
        .map(|raw| expand(inner, raw, &name_of))
        .collect()
}

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

/// Prints one expanded event to the live sink of `recorder`
/// (`BACH_TRACE`: stderr, or a JSON-lines file).
pub(crate) fn print_to_sink(recorder: &recorder::Recorder, event: &Event) {
    match recorder.sink().as_mut() {
        Some(recorder::Sink::Stderr) => {
            let _ = write_console(std::io::stderr().lock(), event);
        }
        Some(recorder::Sink::Jsonl(file)) => {
            let _ = write_json(file, event);
        }
        None => {}
    }
}
