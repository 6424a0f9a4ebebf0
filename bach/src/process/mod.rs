//! AnySystem-style processes: message handlers hosted on async tasks.
//!
//! Many distributed systems are written — in courses, in AnySystem and
//! dslab-mp tests — as *processes*: objects whose handlers react to
//! messages, local messages from the outside world and named timers. This
//! module hosts that model on the runtime: each process is a task on its
//! node; its messages to other nodes are UDP datagrams through the
//! simulated network (so link faults, partitions, crashes, the trace and
//! pcap capture all apply, and Wireshark shows tip and data as text); its
//! timers live on the timer queue. Processes on the same node talk
//! reliably and immediately (same instant, no network).
//!
//! A message to another node crosses the network as itself, with the
//! length of its datagram, and is written out as that datagram only when
//! something reads the bytes (a capture, a network monitor, a corruption,
//! model checking): the run is the same either way, and a message costs no
//! allocation beyond what the handlers make.
//!
//! Handlers are synchronous (`&mut self`): they act through a [`Context`]
//! that collects sends, local messages and timer changes, applied in order
//! when the handler returns. The test drives the system through
//! [`Simulation`](crate::Simulation) methods: `add_process`, `send_local`,
//! `step_until_local_message`, `read_local_messages`, `process::<P>()`,
//! message counters, node crashes and network faults (all documented on
//! [`Simulation`](crate::Simulation)).
//!
//! ```
//! use bach::{process::{Context, Message, Process}, Simulation};
//! use std::time::Duration;
//!
//! struct Server;
//! impl Process for Server {
//!     fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
//!         if msg.tip() == "PING" {
//!             ctx.send(Message::new("PONG", msg.data()), from);
//!         }
//!     }
//! }
//!
//! struct Client;
//! impl Process for Client {
//!     fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
//!         ctx.send(msg, "server");
//!     }
//!     fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
//!         ctx.send_local(msg);
//!     }
//! }
//!
//! let mut sim = Simulation::new();
//! sim.add_process("server", "server-node", Server);
//! sim.add_process("client", "client-node", Client);
//! sim.send_local("client", Message::new("PING", r#"{"value":"Hello!"}"#));
//! let replies = sim.step_until_local_message("client").unwrap();
//! assert_eq!(replies, [Message::new("PONG", r#"{"value":"Hello!"}"#)]);
//! assert_eq!(sim.elapsed(), Duration::from_millis(2)); // two 1 ms hops
//! ```
//!
//! # What this module never does
//!
//! It never decides a message's fate (the network does, at send time) and
//! never consults randomness except through `Context::rand`/`gen_range`,
//! which draw from the simulation's one choice source. Exploration of
//! process systems (model checking) lives in `check`, not here.

mod context;
pub(crate) mod engine;
pub(crate) mod message;
mod simulation;

pub use context::Context;
pub use message::{Message, Tip};
pub use simulation::{local_outbox, send_local, state_of, StepError};

use std::time::Duration;

/// A process: state plus handlers, AnySystem style.
///
/// Handlers run one at a time, inside the process's task on its node, at
/// the simulated instant the message, local message or timer arrives. A
/// handler that panics aborts the run; the panic message names the process
/// and what it was handling.
pub trait Process: 'static {
    /// Called once, when the process is added (default: nothing).
    fn on_start(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }

    /// A message from process `from` arrived.
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context);

    /// A local message from the outside world (the test) arrived (default:
    /// panics, naming the message — a process that expects none should
    /// not silently ignore one).
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let _ = ctx;
        panic!("unexpected local message {msg}: this process does not implement on_local_message");
    }

    /// Timer `name` fired (default: nothing).
    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        let _ = (name, ctx);
    }

    /// A printable, hashable summary of the state, for inspection, the
    /// trace and state fingerprints; `None` (the default) when the process
    /// does not report one. A `String` is both `Debug` and `Hash`, and two
    /// processes in the same state must return the same string.
    fn state(&self) -> Option<String> {
        None
    }

    /// A copy of this process, for model checking (default: `None`).
    ///
    /// When every process of a model-checked system returns a copy (and
    /// the system has no tasks besides its processes), the depth-first
    /// explorer saves the system at each step and resumes a backtracked
    /// path from the nearest saved state instead of re-running the setup
    /// and the whole prefix: the same paths, states and replay tokens,
    /// several times faster. Implement it as `Some(self.clone())`, as
    /// AnySystem asks its processes to be `Clone`. Copies are taken and
    /// put back between handler calls only.
    fn clone_process(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// One entry of a process's event log (see `Simulation::event_log`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEvent {
    /// Simulated time since the start.
    pub time: Duration,
    /// What happened.
    pub kind: ProcessEventKind,
}

/// What a [`ProcessEvent`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessEventKind {
    /// The process sent `msg` to `to`.
    MessageSent {
        /// The receiving process.
        to: String,
        /// The message.
        msg: Message,
    },
    /// The process received `msg` from `from`.
    MessageReceived {
        /// The sending process.
        from: String,
        /// The message (as received: possibly corrupted).
        msg: Message,
    },
    /// The test sent the process a local message.
    LocalMessageReceived(Message),
    /// The process emitted a local message.
    LocalMessageSent(Message),
    /// The process armed a timer.
    TimerSet {
        /// The timer's name.
        name: String,
        /// Its delay.
        delay: Duration,
    },
    /// A timer fired.
    TimerFired(String),
    /// The process cancelled an active timer.
    TimerCancelled(String),
}
