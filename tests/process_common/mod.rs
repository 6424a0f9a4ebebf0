//! Processes shared by the `process_*` tests: AnySystem's ping-pong cast.
#![allow(dead_code)]

use bach::process::{Context, Message, Process};
use std::time::Duration;

/// Answers every `PING` with a `PONG` carrying the same data.
#[derive(Default)]
pub struct Server {
    pub pings: u32,
}

impl Process for Server {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        if msg.tip() == "PING" {
            self.pings += 1;
            ctx.send(Message::new("PONG", msg.data()), from);
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!("pings={}", self.pings))
    }
}

/// Sends a local `PING` to the server once; reports every `PONG` locally.
pub struct BasicClient {
    pub server: String,
}

impl Process for BasicClient {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, self.server.clone());
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        if msg.tip() == "PONG" {
            ctx.send_local(msg);
        }
    }
}

/// Re-sends its pending `PING` every `retry` until a `PONG` arrives.
/// With `check_ids`, only a `PONG` whose data matches the pending `PING`
/// counts; without, any `PONG` does (the bug reordering exposes).
pub struct RetryClient {
    pub server: String,
    pub retry: Duration,
    pub check_ids: bool,
    pub pending: Option<Message>,
}

impl RetryClient {
    pub fn new(server: &str, retry: Duration, check_ids: bool) -> Self {
        Self {
            server: server.into(),
            retry,
            check_ids,
            pending: None,
        }
    }
}

impl Process for RetryClient {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg.clone(), self.server.clone());
        ctx.set_timer("retry", self.retry);
        self.pending = Some(msg);
    }

    fn on_message(&mut self, msg: Message, _from: &str, ctx: &mut Context) {
        let Some(pending) = &self.pending else {
            return; // a late duplicate
        };
        if msg.tip() != "PONG" || (self.check_ids && msg.data() != pending.data()) {
            return;
        }
        ctx.send_local(msg);
        ctx.cancel_timer("retry");
        self.pending = None;
    }

    fn on_timer(&mut self, _name: &str, ctx: &mut Context) {
        if let Some(pending) = &self.pending {
            ctx.send(pending.clone(), self.server.clone());
            ctx.set_timer("retry", self.retry);
        }
    }
}

/// The console lines of a simulation's trace.
pub fn trace_lines(sim: &bach::Simulation) -> Vec<String> {
    sim.trace()
        .iter()
        .map(|event| {
            let mut line = Vec::new();
            bach::trace::write_console(&mut line, event).unwrap();
            String::from_utf8(line).unwrap().trim_end().to_string()
        })
        .collect()
}
