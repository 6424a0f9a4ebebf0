//! Broadcast among five processes when the sender crashes mid-broadcast:
//! reliable broadcast (relay before delivering) keeps agreement among the
//! correct processes; best-effort broadcast does not.

use bach::{
    process::{Context, Message, Process},
    Simulation,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Serialize, Deserialize)]
struct Broadcast {
    id: String,
    text: String,
}

struct Broadcaster {
    peers: Vec<String>,
    relay: bool,
    sent: u32,
    seen: BTreeSet<String>,
}

impl Broadcaster {
    fn new(peers: &[String], relay: bool) -> Self {
        Self {
            peers: peers.to_vec(),
            relay,
            sent: 0,
            seen: BTreeSet::new(),
        }
    }

    fn to_others(&self, msg: &Message, ctx: &mut Context) {
        for peer in &self.peers {
            if peer != ctx.name() {
                ctx.send(msg.clone(), peer.clone());
            }
        }
    }
}

impl Process for Broadcaster {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let id = format!("{}/{}", ctx.name(), self.sent);
        self.sent += 1;
        let bcast = Message::json(
            "BCAST",
            &Broadcast {
                id: id.clone(),
                text: msg.data,
            },
        );
        self.seen.insert(id);
        self.to_others(&bcast, ctx);
        ctx.send_local(Message::new(
            "DELIVER",
            bcast.parse::<Broadcast>().unwrap().text,
        ));
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        let bcast: Broadcast = msg.parse().unwrap();
        if self.seen.insert(bcast.id) {
            if self.relay {
                self.to_others(&msg, ctx);
            }
            ctx.send_local(Message::new("DELIVER", bcast.text));
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!("{:?}", self.seen))
    }
}

/// `p0` broadcasts, reaching only `p1` before its node crashes; returns
/// what each correct process delivered.
fn crashed_sender(relay: bool) -> Vec<Vec<String>> {
    let mut sim = Simulation::new();
    let names: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        sim.add_process(name, &format!("n{i}"), Broadcaster::new(&names, relay));
    }
    for i in 2..5 {
        sim.disable_link("n0", &format!("n{i}"));
    }
    sim.send_local("p0", Message::new("SEND", "hello"));
    assert_eq!(
        sim.read_local_messages("p0").len(),
        1,
        "the sender delivers first"
    );
    sim.crash_node("n0");
    sim.run_until_idle();
    names[1..]
        .iter()
        .map(|name| {
            sim.read_local_messages(name)
                .into_iter()
                .map(|m| m.data)
                .collect()
        })
        .collect()
}

#[test]
fn reliable_broadcast_keeps_agreement_when_the_sender_crashes() {
    let delivered = crashed_sender(true);
    for (i, got) in delivered.iter().enumerate() {
        assert_eq!(got, &["hello"], "p{} delivered {got:?}", i + 1);
    }
}

#[test]
fn best_effort_broadcast_loses_agreement_when_the_sender_crashes() {
    let delivered = crashed_sender(false);
    assert_eq!(delivered[0], ["hello"], "p1 was reached");
    assert!(delivered[1..].iter().all(Vec::is_empty), "{delivered:?}");
}

#[test]
fn a_crashed_node_loses_its_processes_until_re_added() {
    let mut sim = Simulation::new();
    let names: Vec<String> = (0..3).map(|i| format!("p{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        sim.add_process(name, &format!("n{i}"), Broadcaster::new(&names, true));
    }
    sim.crash_node("n2");
    sim.send_local("p0", Message::new("SEND", "while down"));
    sim.run_until_idle();
    assert!(sim.read_local_messages("p2").is_empty());
    sim.recover_node("n2");
    // The node is back, empty: nothing runs there until the test re-adds.
    sim.send_local("p0", Message::new("SEND", "back, but empty"));
    sim.run_until_idle();
    assert_eq!(sim.received_message_count("p2"), 0);
    sim.add_process("p2", "n2", Broadcaster::new(&names, true));
    assert_eq!(
        sim.process_state("p2").as_deref(),
        Some("{}"),
        "fresh state"
    );
    sim.send_local("p0", Message::new("SEND", "welcome"));
    sim.run_until_idle();
    let got: Vec<String> = sim
        .read_local_messages("p2")
        .into_iter()
        .map(|m| m.data)
        .collect();
    assert_eq!(got, ["welcome"]);
}
