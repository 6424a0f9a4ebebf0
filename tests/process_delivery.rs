//! Delivery guarantees built from processes over a faulty network:
//! request ids against reordering, and exactly-once ordered delivery over
//! a lossy, duplicating, reordering link — each checked over 100 seeds.

mod process_common;

use bach::{
    process::{Context, Message, Process},
    Simulation,
};
use process_common::{RetryClient, Server};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};

/// Three requests in a row over a link that delays messages by 1-100 ms
/// while the client retries every 20 ms; returns whether every answer
/// matched its request.
fn requests_answered_correctly(seed: u64, check_ids: bool) -> bool {
    let mut sim = Simulation::new().seed(seed);
    sim.add_process("server", "server-node", Server::default());
    sim.add_process(
        "client",
        "client-node",
        RetryClient::new("server", Duration::from_millis(20), check_ids),
    );
    sim.set_delays(Duration::from_millis(1), Duration::from_millis(100));
    (0..3).all(|i| {
        let ping = Message::json("PING", &serde_json::json!({ "id": i }));
        sim.send_local("client", ping.clone());
        let pongs = sim.step_until_local_message("client").unwrap();
        pongs == [Message::new("PONG", ping.data())]
    })
}

#[test]
fn a_client_without_request_ids_fails_under_reordering() {
    let failing: Vec<u64> = (0..100)
        .filter(|&seed| !requests_answered_correctly(seed, false))
        .collect();
    assert!(
        !failing.is_empty(),
        "a stale PONG must be taken for a fresh one for some seed"
    );
}

#[test]
fn a_client_with_request_ids_passes_under_reordering() {
    for seed in 0..100 {
        assert!(requests_answered_correctly(seed, true), "seed {seed}");
    }
}

#[derive(Serialize, Deserialize)]
struct Data {
    seq: u64,
    text: String,
}

/// Numbers local `SEND`s and retransmits every unacknowledged one.
#[derive(Default)]
struct Sender {
    next_seq: u64,
    unacked: BTreeMap<u64, String>,
}

impl Process for Sender {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let text = msg.data().to_string();
        ctx.send(
            Message::json(
                "MSG",
                &Data {
                    seq,
                    text: text.clone(),
                },
            ),
            "receiver",
        );
        self.unacked.insert(seq, text);
        ctx.set_timer_once("retransmit", Duration::from_millis(10));
    }

    fn on_message(&mut self, msg: Message, _from: &str, _ctx: &mut Context) {
        if msg.tip() == "ACK" {
            let seq: u64 = msg.parse().unwrap();
            self.unacked.remove(&seq);
        }
    }

    fn on_timer(&mut self, _name: &str, ctx: &mut Context) {
        for (&seq, text) in &self.unacked {
            ctx.send(
                Message::json(
                    "MSG",
                    &Data {
                        seq,
                        text: text.clone(),
                    },
                ),
                "receiver",
            );
        }
        if !self.unacked.is_empty() {
            ctx.set_timer("retransmit", Duration::from_millis(10));
        }
    }
}

/// Acknowledges everything; delivers in sequence order, once.
#[derive(Default)]
struct Receiver {
    next: u64,
    early: BTreeMap<u64, String>,
}

impl Process for Receiver {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let data: Data = msg.parse().unwrap();
        ctx.send(Message::json("ACK", &data.seq), from);
        if data.seq >= self.next {
            self.early.insert(data.seq, data.text);
        }
        while let Some(text) = self.early.remove(&self.next) {
            ctx.send_local(Message::new("DELIVER", text));
            self.next += 1;
        }
    }
}

#[test]
fn exactly_once_ordered_delivery_over_a_lossy_duplicating_link() {
    let mut duplicated = 0;
    for seed in 0..100 {
        let mut sim = Simulation::new().seed(seed);
        sim.add_process("sender", "a", Sender::default());
        sim.add_process("receiver", "b", Receiver::default());
        sim.set_drop_rate(0.3);
        sim.set_duplication_rate(0.3);
        sim.set_delays(Duration::from_millis(1), Duration::from_millis(30));
        let sent: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
        for text in &sent {
            sim.send_local("sender", Message::new("SEND", text.clone()));
        }
        let mut delivered = Vec::new();
        while delivered.len() < sent.len() {
            let batch = sim
                .step_until_local_message("receiver")
                .unwrap_or_else(|error| panic!("seed {seed}: {error}"));
            delivered.extend(batch.into_iter().map(|m| m.data));
        }
        // Retransmissions stop once everything is acknowledged.
        sim.run_until_idle();
        delivered.extend(
            sim.read_local_messages("receiver")
                .into_iter()
                .map(|m| m.data),
        );
        assert_eq!(delivered, sent, "seed {seed}");
        assert!(sim.process::<Sender>("sender").unwrap().unacked.is_empty());
        duplicated += sim.net_stats().duplicated;
    }
    assert!(duplicated > 0, "the link did duplicate messages");
}
