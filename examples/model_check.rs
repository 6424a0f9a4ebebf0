//! Model checking a small protocol: a counter service that must apply each
//! increment exactly once, although its client retries.
//!
//! The client sends `INCR` with a request id and retries every 2 s until it
//! gets an `ACK`. The server applies the increment and acknowledges. Under
//! model checking the network is asynchronous — any message in flight may
//! arrive next, a retry timer may fire before the first copy arrives — and
//! the checker may also drop or duplicate a message, within budgets. It
//! explores every such execution up to a depth, pruning states it has
//! already seen, and checks after every step that
//!
//! * the counter never exceeds 1 (an invariant), and
//! * every execution that ends has the counter at 1 and the client
//!   acknowledged (a goal; ending without it is a liveness violation).
//!
//! The naive server applies every `INCR` it receives. The checker finds the
//! shortest execution where that breaks (breadth-first search), prints it
//! as an event trace with its replay token, and the example reruns exactly
//! that execution from the token. The server that remembers request ids
//! passes the same exhaustive search.
//!
//! ```text
//! cargo run --example model_check
//! ```

use bach::{
    check::{self, Explorer, Strategy},
    process::{self, Context, Message, Process},
    time::Duration,
    Simulation,
};
use std::collections::BTreeSet;

/// Sends one increment and retries until it is acknowledged.
#[derive(Clone, Default)]
struct Client {
    acked: bool,
}

impl Process for Client {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "counter");
        ctx.set_timer("retry", Duration::from_secs(2));
    }

    fn on_message(&mut self, _: Message, _: &str, ctx: &mut Context) {
        self.acked = true;
        ctx.cancel_timer("retry");
    }

    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        ctx.send(Message::new("INCR", "req-1"), "counter");
        ctx.set_timer("retry", Duration::from_secs(2));
    }

    // What the future of the search depends on: two executions that reach
    // the same fingerprint (these states, messages in flight, pending
    // timers) continue identically, so the checker explores only one (the
    // other too if it has more of some fault left to spend).
    fn state(&self) -> Option<String> {
        Some(format!("acked={}", self.acked))
    }

    // A copy lets the depth-first checker save the system at each step and
    // resume paths from there instead of re-running them from the start.
    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Applies increments; with `dedup`, each request id only once.
#[derive(Clone)]
struct Counter {
    dedup: bool,
    value: u64,
    applied: BTreeSet<String>,
}

impl Process for Counter {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let id = msg.data().to_string();
        if !self.dedup || self.applied.insert(id) {
            self.value += 1;
            ctx.send_local(Message::new("VALUE", self.value.to_string()));
        }
        ctx.send(Message::new("ACK", msg.data()), from);
    }

    fn state(&self) -> Option<String> {
        Some(format!("value={} applied={:?}", self.value, self.applied))
    }

    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// The system under check: the setup every explored execution starts from.
fn system(dedup: bool) -> impl Fn(&mut Simulation) {
    move |sim: &mut Simulation| {
        sim.add_process("client", "client-node", Client::default());
        sim.add_process(
            "counter",
            "counter-node",
            Counter {
                dedup,
                value: 0,
                applied: BTreeSet::new(),
            },
        );
        // A non-zero probability makes loss and duplication choices of the
        // checker (bounded by the budgets below), not random events.
        sim.set_drop_rate(0.1);
        sim.set_duplication_rate(0.1);
        sim.send_local("client", Message::new("INCR", "req-1"));
        sim.enter(|| {
            check::invariant("applied at most once", || value() <= 1);
            check::goal("applied and acknowledged", || {
                value() == 1 && process::state_of("client").as_deref() == Some("acked=true")
            });
        });
    }
}

/// The counter's latest reported value.
fn value() -> u64 {
    process::local_outbox("counter")
        .last()
        .map_or(0, |msg| msg.data().parse().expect("a number"))
}

fn explorer() -> Explorer {
    Explorer::model_checking()
        .max_drops(1)
        .max_duplicates(1)
        .max_depth(12)
}

fn main() {
    // The failures below are expected; keep the output to what is printed.
    std::panic::set_hook(Box::new(|_| {}));

    println!("== the naive counter (applies every INCR it receives)");
    let failure = explorer()
        .strategy(Strategy::Bfs)
        .try_run_with(system(false))
        .expect_err("the naive counter applies a retried request twice");
    println!("{failure}\n");

    println!("== replaying the counterexample from its token");
    let replayed = std::panic::catch_unwind(|| {
        let mut sim = Simulation::new().replay(failure.token());
        system(false)(&mut sim);
        sim.run(|| {});
    })
    .expect_err("the replay breaks the invariant again");
    let message = replayed
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    let first_line = message.lines().next().unwrap_or_default();
    println!("the replay fails the same way: {first_line}\n");
    assert!(message.contains("applied at most once"), "{message}");

    println!("== the counter that remembers request ids");
    let report = explorer().run_with(system(true));
    println!("{report}");
    assert!(report.complete(), "the search covers every execution");
    assert!(report.outcome("goal reached") > 0, "{report}");
    println!("every execution within the bounds applies the increment exactly once");
}
