//! Rendering trace events: one console line, or one JSON object, per event.

use super::{
    event::{Event, EventKind},
    packet::PacketFate,
    recorder,
};
use crate::net::log::PacketEvent;
use std::io::{self, Write};

/// Writes `event` as one human-readable line:
///
/// ```text
///    0.001000000  client_0 --> server    UDP 10.0.0.2:49152 > 10.0.0.3:8080 4B
///    0.002000000  server   <-- client_0  UDP 10.0.0.2:49152 > 10.0.0.3:8080 4B delivered
///    5.000000000  replica2  ** crashed
/// ```
pub fn write_console(mut w: impl Write, event: &Event) -> io::Result<()> {
    let nanos = event.time.as_nanos();
    write!(
        w,
        "{:>4}.{:09}  ",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    )?;
    let task = |w: &mut dyn Write| -> io::Result<()> {
        match &event.task {
            Some(task) => write!(w, " [{task}]"),
            None => Ok(()),
        }
    };
    match &event.kind {
        EventKind::Packet(packet) => {
            let (here, arrow, peer) = match packet.fate {
                PacketFate::Sent => (packet.from.name(), "-->", packet.to.name()),
                PacketFate::Delivered => (packet.to.name(), "<--", packet.from.name()),
                PacketFate::Dropped(_) => (packet.from.name(), "--x", packet.to.name()),
            };
            write!(
                w,
                "{here:<8} {arrow} {peer:<8}  UDP {} > {} {}B",
                packet.src, packet.dst, packet.len
            )?;
            write_packet_flags(&mut w, packet)?;
        }
        EventKind::Process { line } => write!(w, "{line}")?,
        other => {
            write!(w, "{:<8}  ", event.node)?;
            match other {
                EventKind::TaskSpawned => write!(w, "++ spawned")?,
                EventKind::TaskCompleted => write!(w, "-- completed")?,
                EventKind::TaskCancelled => write!(w, "-- cancelled")?,
                EventKind::TaskPanicked { message } => write!(w, "!! panicked: {message}")?,
                EventKind::TimerSet { deadline } => {
                    let nanos = deadline.as_nanos();
                    write!(
                        w,
                        "timer set, due at {}.{:09}",
                        nanos / 1_000_000_000,
                        nanos % 1_000_000_000
                    )?
                }
                EventKind::TimerFired => write!(w, "timer fired")?,
                EventKind::TimerCancelled => write!(w, "timer cancelled")?,
                EventKind::NodeCrashed => write!(w, "** crashed")?,
                EventKind::NodeRestarted => write!(w, "** restarted")?,
                EventKind::Fault { description } => write!(w, "## {description}")?,
                EventKind::Note { message } => write!(w, "# {message}")?,
                EventKind::Scheduled { among } => write!(w, ">> scheduled (1 of {among})")?,
                EventKind::Packet(_) | EventKind::Process { .. } => {
                    unreachable!("handled above")
                }
            }
            task(&mut w)?;
        }
    }
    writeln!(w)
}

fn write_packet_flags(mut w: impl Write, packet: &PacketEvent) -> io::Result<()> {
    match packet.fate {
        PacketFate::Sent => {}
        PacketFate::Delivered => write!(w, " delivered")?,
        PacketFate::Dropped(reason) => write!(w, " dropped: {reason}")?,
    }
    if packet.duplicate {
        write!(w, " (duplicate)")?;
    }
    if packet.corrupted {
        write!(w, " (corrupted)")?;
    }
    Ok(())
}

/// Writes `event` as one JSON object on its own line, with fields
/// `time_ns`, `node`, `task` (id or null), `task_name` and `event`, plus the
/// event's own fields.
pub fn write_json(mut w: impl Write, event: &Event) -> io::Result<()> {
    let mut object = serde_json::Map::new();
    object.insert("time_ns".into(), event.time.as_nanos().into());
    object.insert("node".into(), event.node.clone().into());
    object.insert(
        "task".into(),
        event
            .task
            .as_ref()
            .map_or(serde_json::Value::Null, |t| t.id.as_u64().into()),
    );
    object.insert(
        "task_name".into(),
        event
            .task
            .as_ref()
            .and_then(|t| t.name.clone())
            .map_or(serde_json::Value::Null, Into::into),
    );
    let (name, fields): (&str, Vec<(&str, serde_json::Value)>) = match &event.kind {
        EventKind::TaskSpawned => ("task_spawned", vec![]),
        EventKind::TaskCompleted => ("task_completed", vec![]),
        EventKind::TaskCancelled => ("task_cancelled", vec![]),
        EventKind::TaskPanicked { message } => {
            ("task_panicked", vec![("message", message.clone().into())])
        }
        EventKind::TimerSet { deadline } => (
            "timer_set",
            vec![("deadline_ns", deadline.as_nanos().into())],
        ),
        EventKind::TimerFired => ("timer_fired", vec![]),
        EventKind::TimerCancelled => ("timer_cancelled", vec![]),
        EventKind::NodeCrashed => ("node_crashed", vec![]),
        EventKind::NodeRestarted => ("node_restarted", vec![]),
        EventKind::Fault { description } => {
            ("fault", vec![("description", description.clone().into())])
        }
        EventKind::Note { message } => ("note", vec![("message", message.clone().into())]),
        EventKind::Scheduled { among } => ("scheduled", vec![("among", (*among).into())]),
        EventKind::Process { line } => ("process", vec![("line", line.clone().into())]),
        EventKind::Packet(packet) => {
            let fate = match packet.fate {
                PacketFate::Sent => "packet_sent",
                PacketFate::Delivered => "packet_delivered",
                PacketFate::Dropped(_) => "packet_dropped",
            };
            let mut fields = vec![
                ("id", packet.id.into()),
                ("from", packet.from.name().into()),
                ("to", packet.to.name().into()),
                ("src", packet.src.to_string().into()),
                ("dst", packet.dst.to_string().into()),
                ("len", packet.len.into()),
                ("duplicate", packet.duplicate.into()),
                ("corrupted", packet.corrupted.into()),
            ];
            if let PacketFate::Dropped(reason) = packet.fate {
                fields.push(("reason", reason.as_str().into()));
            }
            (fate, fields)
        }
    };
    object.insert("event".into(), name.into());
    for (key, value) in fields {
        object.insert(key.into(), value);
    }
    serde_json::to_writer(&mut w, &serde_json::Value::Object(object))?;
    writeln!(w)
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
