//! Process runs keep memory flat in the number of events: nothing is kept
//! per message unless asked for (trace, packet log, process event log), and
//! a message costs no allocation beyond what its handlers make.

use bach::{
    process::{Context, Message, Process},
    Simulation,
};
use bach_workspace::alloc_counter::{thread_allocations, thread_live_bytes, Counting};
use std::sync::Mutex;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests take turns (the counters read are this thread's own, but the
/// allocator is shared).
static SERIAL: Mutex<()> = Mutex::new(());

struct Echo;

impl Process for Echo {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "b");
    }

    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let n: u64 = msg.parse().unwrap();
        if n == 0 {
            ctx.send_local(msg);
        } else {
            ctx.send(Message::json("PING", &(n - 1)), from);
        }
    }
}

/// A simulation with process `a` on one node and `b` on another.
fn two_nodes(a: impl Process, b: impl Process) -> Simulation {
    let mut sim = Simulation::new().no_pcap();
    sim.add_process("a", "node-a", a);
    sim.add_process("b", "node-b", b);
    sim
}

/// Bytes still allocated after `messages` messages, the simulation alive.
fn retained(messages: u64) -> u64 {
    let before = thread_live_bytes();
    let mut sim = two_nodes(Echo, Echo);
    sim.send_local("a", Message::json("PING", &messages));
    sim.run_until_idle();
    assert_eq!(sim.network_message_count(), messages + 1);
    let retained = (thread_live_bytes() - before).max(0) as u64;
    drop(sim);
    retained
}

/// Asserts that `measure` of a run grows by at most `slack` from a run of
/// size `small` to one of size `large` (after a first run that warms up
/// thread-locals and lazily grown tables).
fn assert_flat(what: &str, measure: fn(u64) -> u64, (small, large): (u64, u64), slack: u64) {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    measure(small);
    let (at_small, at_large) = (measure(small), measure(large));
    assert!(
        at_large <= at_small + slack,
        "{what}: {at_small} for a run of {small}, {at_large} for a run of {large}"
    );
}

#[test]
fn memory_is_flat_in_the_number_of_messages() {
    assert_flat("bytes retained", retained, (2_000, 20_000), 4_096);
}

/// Sends every message it gets back, unchanged, `left` times.
struct Forward {
    left: u64,
}

impl Process for Forward {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "b");
    }

    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        if self.left == 0 {
            ctx.send_local(msg);
        } else {
            self.left -= 1;
            ctx.send(msg, from);
        }
    }
}

/// Allocations made by a run of about `2 * round_trips` messages between
/// two nodes whose handlers allocate nothing.
fn allocations_for(round_trips: u64) -> u64 {
    let mut sim = two_nodes(Forward { left: round_trips }, Forward { left: u64::MAX });
    sim.set_delays(Duration::from_millis(1), Duration::from_millis(3));
    let before = thread_allocations();
    sim.send_local("a", Message::new("PING", r#"{"value":"Hello!"}"#));
    let done = sim.step_until_local_message("a").unwrap();
    let made = thread_allocations() - before;
    assert_eq!(done.len(), 1);
    assert_eq!(sim.network_message_count(), 2 * round_trips + 2);
    made
}

#[test]
fn a_message_between_nodes_allocates_nothing() {
    assert_flat("allocations", allocations_for, (1_000, 11_000), 8);
}
