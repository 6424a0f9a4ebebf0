//! Crash amnesia: a key-value server that acknowledges a write before it
//! is on disk.
//!
//! The buggy server keeps writes in memory, acknowledges them at once and
//! flushes memory to its disk 10 ms later (group commit). A crash in
//! between loses an acknowledged write: after the restart the server loads
//! its disk and answers the client's read with nothing, breaking "an
//! acknowledged write survives a restart". The fixed server writes to
//! disk first and acknowledges after.
//!
//! Both are AnySystem-style processes; the server is added with
//! `Simulation::add_process_factory`, so a restart brings it back fresh
//! from its factory, and it reads its node's disk (`Context::disk`,
//! `bach::fs`) on start: what it wrote and synced survives the crash,
//! nothing else does. Under the sweep, the explorer's searches and
//! bolero, a fault script crashes and restarts the server (whether is
//! `bach::rand::gen_bool(0.3)`, when is `bach::rand::choose`); the model
//! checker crashes and restarts it itself, at any step, within budgets of
//! one crash and one restart.

mod bug_corpus;

use bach::{
    check::{self, Explorer},
    ext::*,
    node,
    process::{self, Context, Message, Process},
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{collections::BTreeMap, time::Duration};

/// The server's file on its node's disk: one `key=value` per line.
const STORE: &str = "/kv";

struct KvServer {
    memory: BTreeMap<String, String>,
    /// The fix: write to disk before acknowledging.
    write_through: bool,
}

impl KvServer {
    /// A server that loads its disk when it starts.
    fn new(write_through: bool) -> Self {
        Self {
            memory: BTreeMap::new(),
            write_through,
        }
    }

    /// Writes memory to the store, durably: the bytes, then the name.
    fn persist(&self, ctx: &mut Context) {
        let lines: String = self
            .memory
            .iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect();
        let mut disk = ctx.disk();
        disk.write(STORE, lines.as_bytes()).unwrap();
        disk.sync_data(STORE).unwrap();
        disk.sync_dir("/").unwrap();
    }
}

impl Process for KvServer {
    fn on_start(&mut self, ctx: &mut Context) {
        if let Ok(stored) = ctx.disk().read_to_string(STORE) {
            for line in stored.lines() {
                let (key, value) = line.split_once('=').expect("key=value");
                self.memory.insert(key.to_string(), value.to_string());
            }
        }
    }

    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        match msg.tip() {
            "PUT" => {
                let (key, value) = msg.data().split_once('=').expect("key=value");
                self.memory.insert(key.to_string(), value.to_string());
                if self.write_through {
                    self.persist(ctx);
                } else {
                    // The bug: acknowledged now, on disk only at the flush.
                    ctx.set_timer_once("flush", Duration::from_millis(10));
                }
                ctx.send(Message::new("ACK", msg.data()), from);
            }
            "GET" => {
                let value = self.memory.get(msg.data()).cloned().unwrap_or_default();
                ctx.send(
                    Message::new("VALUE", format!("{}={value}", msg.data())),
                    from,
                );
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        if name == "flush" {
            self.persist(ctx);
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!("{:?}", self.memory))
    }
}

/// Writes what the test asks it to, reports `ACKED key=value` once the
/// server acknowledges, then reads the key back 20 ms later (asking again
/// every 10 ms while the server does not answer) and reports
/// `READ key=value`.
#[derive(Default)]
struct Client {
    acknowledged: Option<String>,
    reads_left: u32,
}

impl Process for Client {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "kv");
    }

    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        match msg.tip() {
            "ACK" if self.acknowledged.is_none() => {
                self.acknowledged = Some(msg.data().to_string());
                self.reads_left = 5;
                ctx.send_local(Message::new("ACKED", msg.data()));
                ctx.set_timer("read", Duration::from_millis(20));
            }
            "VALUE" if self.reads_left > 0 => {
                self.reads_left = 0;
                ctx.cancel_timer("read");
                ctx.send_local(Message::new("READ", msg.data()));
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        let Some(written) = &self.acknowledged else {
            return;
        };
        if self.reads_left > 0 {
            self.reads_left -= 1;
            let key = written.split_once('=').map_or("", |(key, _)| key);
            ctx.send(Message::new("GET", key), "kv");
            ctx.set_timer("read", Duration::from_millis(10));
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!("{:?} {}", self.acknowledged, self.reads_left))
    }
}

/// The client writes `cart=3` and reads it back; with `fault_script` a
/// task may crash the server and restart it 3 ms later.
fn system(sim: &mut Simulation, write_through: bool, fault_script: bool) {
    sim.add_process_factory("kv", "server", move || KvServer::new(write_through));
    sim.add_process("client", "client", Client::default());
    sim.send_local("client", Message::new("PUT", "cart=3"));
    sim.enter(|| {
        check::invariant("an acknowledged write survives a restart", || {
            let reports = process::local_outbox("client");
            let acked = reports.iter().find(|m| m.tip() == "ACKED");
            reports
                .iter()
                .filter(|m| m.tip() == "READ")
                .all(|read| acked.is_some_and(|acked| acked.data() == read.data()))
        });
        if fault_script {
            async {
                if bach::rand::gen_bool(0.3) {
                    (bach::rand::choose(4) as u64 * 5).ms().sleep().await;
                    node::crash("server");
                    3.ms().sleep().await;
                    node::restart("server");
                }
            }
            .spawn_named("fault-script");
        }
    });
}

fn buggy(sim: &mut Simulation) {
    system(sim, false, true);
}

fn fixed(sim: &mut Simulation) {
    system(sim, true, true);
}

fn buggy_model_checked(sim: &mut Simulation) {
    system(sim, false, false);
}

fn fixed_model_checked(sim: &mut Simulation) {
    system(sim, true, false);
}

#[test]
fn acknowledging_before_persisting_is_found_and_the_fix_passes() {
    let corpus = Corpus::new(
        "bugs_crash_amnesia",
        "crash amnesia: acknowledged before persisted",
    )
    .enumerate_values()
    .model_checking("depth first, 1 crash, 1 restart", || {
        Explorer::model_checking().max_crashes(1).max_restarts(1)
    });
    corpus
        .search_split(Version::Buggy, &buggy, &buggy_model_checked)
        .assert_found_by(
            &[
                Search::Sweep,
                Search::Random,
                Search::DelayBounded,
                Search::ModelChecking,
                Search::Bolero,
            ],
            "survives a restart",
        );
    corpus
        .search_split(Version::Fixed, &fixed, &fixed_model_checked)
        .assert_none_failed();
}
