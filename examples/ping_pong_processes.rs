//! Ping-pong written as processes (AnySystem style) instead of async code:
//! a basic client on a perfect network, then a retrying client on a network
//! that loses half the messages. Prints the process-level trace:
//!
//! ```text
//! cargo run --example ping_pong_processes
//!    0.000000000  client --> server  PING {"value":"Hello!"}
//!    0.001000000  server <-- client  PING {"value":"Hello!"}
//!    ...
//! ```
//!
//! With `BACH_PCAP_DIR=dir` each run also writes a capture in which
//! Wireshark shows every message's tip and JSON data as text.

use bach::{
    net::PacketFate,
    process::{Context, Message, Process},
    trace::EventKind,
    Simulation,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct Ping {
    value: String,
}

/// Answers `PING` with `PONG`, same data.
struct Server;

impl Process for Server {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        if msg.tip() == "PING" {
            ctx.send(Message::new("PONG", msg.data()), from);
        }
    }
}

/// Sends the local `PING` to the server; with `retry`, again every `retry`
/// until the matching `PONG` arrives.
struct Client {
    retry: Option<Duration>,
    pending: Option<Message>,
}

impl Process for Client {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg.clone(), "server");
        if let Some(retry) = self.retry {
            ctx.set_timer("retry", retry);
        }
        self.pending = Some(msg);
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        let answered = self
            .pending
            .as_ref()
            .is_some_and(|ping| msg.tip() == "PONG" && msg.data() == ping.data());
        if answered {
            self.pending = None;
            ctx.cancel_timer("retry");
            ctx.send_local(msg);
        }
    }

    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        if let (Some(ping), Some(retry)) = (&self.pending, self.retry) {
            ctx.send(ping.clone(), "server");
            ctx.set_timer(name, retry);
        }
    }
}

fn run(title: &str, retry: Option<Duration>, drop_rate: f64, seed: u64) {
    println!("== {title} (seed {seed})");
    let mut sim = Simulation::new().seed(seed).record_trace(true);
    sim.add_process("server", "server-node", Server);
    sim.add_process(
        "client",
        "client-node",
        Client {
            retry,
            pending: None,
        },
    );
    sim.set_drop_rate(drop_rate);
    let ping = Message::json(
        "PING",
        &Ping {
            value: "Hello!".into(),
        },
    );
    sim.send_local("client", ping);
    let result = sim.step_until_local_message_timeout("client", Duration::from_secs(1));
    for event in sim.trace() {
        // Process lines, and the datagrams the network lost.
        let shown = match &event.kind {
            EventKind::Process { .. } => true,
            EventKind::Packet(packet) => matches!(packet.fate, PacketFate::Dropped(_)),
            _ => false,
        };
        if shown {
            bach::trace::write_console(std::io::stdout(), &event).unwrap();
        }
    }
    match result {
        Ok(pongs) => println!(
            "-> got {} after {:?}: {} messages sent, {} dropped by the network\n",
            pongs[0],
            sim.elapsed(),
            sim.network_message_count(),
            sim.net_stats().dropped.total()
        ),
        Err(error) => println!("-> failed: {error}\n"),
    }
}

fn main() {
    let seed = std::env::var("SEED").map_or(5, |s| s.parse().expect("SEED is a number"));
    run("basic client, reliable network", None, 0.0, seed);
    run("basic client, 50% loss", None, 0.5, seed);
    run(
        "retrying client, 50% loss",
        Some(Duration::from_millis(5)),
        0.5,
        seed,
    );
}
