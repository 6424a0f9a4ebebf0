//! Reliable broadcast among five processes whose sender crashes halfway:
//! only `p1` hears the sender before its node goes down, yet every correct
//! process delivers the message, because each relays before delivering.
//!
//! ```text
//! cargo run --example broadcast
//! ```

use bach::{
    net::PacketFate,
    process::{Context, Message, Process},
    trace::EventKind,
    Simulation,
};
use std::collections::BTreeSet;

struct Broadcaster {
    peers: Vec<String>,
    seen: BTreeSet<String>,
}

impl Broadcaster {
    fn relay(&self, msg: &Message, ctx: &mut Context) {
        let me = ctx.name().to_string();
        for peer in self.peers.iter().filter(|peer| **peer != me) {
            ctx.send(msg.clone(), peer.clone());
        }
    }
}

impl Process for Broadcaster {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        self.seen.insert(msg.data.clone());
        self.relay(&Message::new("BCAST", msg.data()), ctx);
        ctx.send_local(Message::new("DELIVER", msg.data));
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        if self.seen.insert(msg.data.clone()) {
            self.relay(&msg, ctx);
            ctx.send_local(Message::new("DELIVER", msg.data));
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!("seen {:?}", self.seen))
    }
}

fn main() {
    let mut sim = Simulation::new().record_trace(true);
    let names: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let process = Broadcaster {
            peers: names.clone(),
            seen: BTreeSet::new(),
        };
        sim.add_process(name, &format!("n{i}"), process);
    }
    // The sender reaches only p1 before it crashes.
    for i in 2..5 {
        sim.disable_link("n0", &format!("n{i}"));
    }
    sim.send_local("p0", Message::new("SEND", "hello"));
    sim.crash_node("n0");
    sim.run_until_idle();

    // Process lines, node events and the datagrams the network lost.
    for event in sim.trace() {
        let shown = match &event.kind {
            EventKind::Process { .. } | EventKind::NodeCrashed => true,
            EventKind::Packet(packet) => matches!(packet.fate, PacketFate::Dropped(_)),
            _ => false,
        };
        if shown {
            bach::trace::write_console(std::io::stdout(), &event).unwrap();
        }
    }
    println!();
    let mut agreed = true;
    for name in &names[1..] {
        let delivered = sim.read_local_messages(name);
        let texts: Vec<&str> = delivered.iter().map(|m| m.data()).collect();
        let state = sim.process_state(name).unwrap_or_default();
        println!("{name}: delivered {}, {state}", texts.join(", "));
        agreed &= delivered.len() == 1;
    }
    println!("agreement among correct processes: {agreed}");
    assert!(agreed);
}
