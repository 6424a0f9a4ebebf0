//! Process runs keep memory flat in the number of events: nothing is kept
//! per message unless asked for (trace, packet log, process event log).

use bach::{
    process::{Context, Message, Process},
    Simulation,
};
use bach_workspace::alloc_counter::{live_bytes, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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

/// Bytes still allocated after `messages` messages, the simulation alive.
fn retained(messages: u64) -> u64 {
    let before = live_bytes();
    let mut sim = Simulation::new().no_pcap();
    sim.add_process("a", "node-a", Echo);
    sim.add_process("b", "node-b", Echo);
    sim.send_local("a", Message::json("PING", &messages));
    sim.run_until_idle();
    assert_eq!(sim.network_message_count(), messages + 1);
    let retained = live_bytes().saturating_sub(before);
    drop(sim);
    retained
}

#[test]
fn memory_is_flat_in_the_number_of_messages() {
    retained(1_000); // warm up thread-locals and lazily grown tables
    let small = retained(2_000);
    let large = retained(20_000);
    assert!(
        large <= small + 4_096,
        "retained {small} B after 2 000 messages but {large} B after 20 000"
    );
}
