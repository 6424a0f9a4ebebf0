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

pub(crate) mod engine;
pub(crate) mod message;
mod simulation;

pub use engine::{Context, Process, ProcessEvent, ProcessEventKind};
pub use message::{Message, Tip};
pub use simulation::{local_outbox, send_local, state_of, StepError};
