//! A key-value store sharded over 10 nodes, one storage process each, with
//! a client that routes by key and times out: a node crash makes exactly
//! its shard unavailable; recovery brings the node back empty.

use bach::{
    process::{Context, Message, Process},
    Simulation,
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};

const SHARDS: usize = 10;

fn shard_of(key: &str) -> usize {
    key.bytes().map(usize::from).sum::<usize>() % SHARDS
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Request {
    id: u64,
    key: String,
    value: Option<String>,
}

#[derive(Default)]
struct Store {
    data: BTreeMap<String, String>,
}

impl Process for Store {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let mut request: Request = msg.parse().unwrap();
        match msg.tip() {
            "PUT" => {
                let value = request.value.clone().expect("PUT carries a value");
                self.data.insert(request.key.clone(), value);
            }
            "GET" => request.value = self.data.get(&request.key).cloned(),
            other => panic!("unknown request {other}"),
        }
        ctx.send(Message::json(format!("{}_OK", msg.tip()), &request), from);
    }

    fn state(&self) -> Option<String> {
        Some(format!("{:?}", self.data))
    }
}

/// Forwards local `GET`/`PUT`s to the key's shard; answers locally with
/// the reply, or `TIMEOUT` after 100 ms.
#[derive(Default)]
struct Client {
    next_id: u64,
    pending: Option<u64>,
}

impl Process for Client {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let mut request: Request = msg.parse().unwrap();
        request.id = self.next_id;
        self.next_id += 1;
        self.pending = Some(request.id);
        let store = format!("store{}", shard_of(&request.key));
        ctx.send(Message::json(msg.tip(), &request), store);
        ctx.set_timer("timeout", Duration::from_millis(100));
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        let reply: Request = msg.parse().unwrap();
        if self.pending == Some(reply.id) {
            self.pending = None;
            ctx.cancel_timer("timeout");
            ctx.send_local(msg);
        }
    }

    fn on_timer(&mut self, _name: &str, ctx: &mut Context) {
        if self.pending.take().is_some() {
            ctx.send_local(Message::new("TIMEOUT", ""));
        }
    }
}

fn request(sim: &mut Simulation, tip: &str, key: &str, value: Option<&str>) -> Message {
    let request = Request {
        id: 0,
        key: key.into(),
        value: value.map(Into::into),
    };
    sim.send_local("client", Message::json(tip, &request));
    let mut replies = sim.step_until_local_message("client").unwrap();
    assert_eq!(replies.len(), 1);
    replies.remove(0)
}

fn value_of(reply: &Message) -> Option<String> {
    reply.parse::<Request>().unwrap().value
}

#[test]
fn a_crashed_shard_is_unavailable_and_recovers_empty() {
    let mut sim = Simulation::new().seed(3);
    for i in 0..SHARDS {
        sim.add_process(&format!("store{i}"), &format!("node{i}"), Store::default());
    }
    sim.add_process("client", "client-node", Client::default());
    sim.set_delays(Duration::from_millis(1), Duration::from_millis(10));
    let keys: Vec<String> = (0..40).map(|i| format!("key-{i}")).collect();
    for key in &keys {
        let reply = request(&mut sim, "PUT", key, Some(&format!("v-{key}")));
        assert_eq!(reply.tip(), "PUT_OK", "{key}");
    }
    let crashed = 3;
    assert!(keys.iter().any(|key| shard_of(key) == crashed));
    sim.crash_node(&format!("node{crashed}"));
    for key in &keys {
        let reply = request(&mut sim, "GET", key, None);
        if shard_of(key) == crashed {
            assert_eq!(reply.tip(), "TIMEOUT", "{key}");
        } else {
            assert_eq!(reply.tip(), "GET_OK", "{key}");
            assert_eq!(value_of(&reply), Some(format!("v-{key}")));
        }
    }
    // Other shards kept their data; nothing more is pending.
    let store0 = sim.process::<Store>("store0").unwrap().data.len();
    assert_eq!(store0, keys.iter().filter(|k| shard_of(k) == 0).count());

    sim.recover_node(&format!("node{crashed}"));
    let key = keys.iter().find(|k| shard_of(k) == crashed).unwrap();
    assert_eq!(
        request(&mut sim, "GET", key, None).tip(),
        "TIMEOUT",
        "nothing runs there yet"
    );
    sim.add_process(
        &format!("store{crashed}"),
        &format!("node{crashed}"),
        Store::default(),
    );
    let reply = request(&mut sim, "GET", key, None);
    assert_eq!(reply.tip(), "GET_OK");
    assert_eq!(value_of(&reply), None, "the recovered store starts empty");
    let reply = request(&mut sim, "PUT", key, Some("again"));
    assert_eq!(reply.tip(), "PUT_OK");
    assert_eq!(
        value_of(&request(&mut sim, "GET", key, None)).as_deref(),
        Some("again")
    );
}
