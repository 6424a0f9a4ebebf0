//! The trace's events as users read them: [`Event`]s expanded from the
//! compact records (`recorder`), with node and task names resolved and
//! packets described from the network's state.

use super::{
    packet::PacketFate,
    recorder::{RawEvent, RawKind},
};
use crate::{
    executor::TaskId, net::log::PacketEvent, net::state::NetWorld, time::instant::Instant,
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
    /// A note recorded by user code with [`note`](crate::trace::note).
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
    inner: &impl NetWorld,
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
pub(crate) fn expand_all(inner: &impl NetWorld, raws: &[RawEvent]) -> Vec<Event> {
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
