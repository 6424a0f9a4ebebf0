//! Named timers of processes: re-setting replaces, `set_timer_once` keeps
//! the first, cancel prevents firing, deadline order, the node's clock, and
//! stepping with step budgets and timeouts.

use bach::{
    node::{self, ClockOffset},
    process::{Context, Message, Process, StepError},
    Simulation,
};
use std::time::Duration;

/// Obeys `SET`/`ONCE`/`CANCEL` local messages (`[name, millis]`), reports
/// `FIRED [name, node time]` locally.
struct Timers;

impl Process for Timers {
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}

    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let (name, ms): (String, u64) = msg.parse().unwrap();
        let delay = Duration::from_millis(ms);
        match msg.tip() {
            "SET" => ctx.set_timer(name, delay),
            "ONCE" => ctx.set_timer_once(name, delay),
            "CANCEL" => ctx.cancel_timer(name),
            other => panic!("unknown command {other}"),
        }
    }

    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        let time = ctx.time();
        ctx.send_local(Message::json("FIRED", &(name, time)));
    }
}

fn sim() -> Simulation {
    let mut sim = Simulation::new();
    sim.add_process("p", "node", Timers);
    sim
}

fn command(sim: &mut Simulation, tip: &str, name: &str, ms: u64) {
    sim.send_local("p", Message::json(tip, &(name, ms)));
}

fn fired(messages: Vec<Message>) -> Vec<(String, f64)> {
    messages.iter().map(|m| m.parse().unwrap()).collect()
}

#[test]
fn set_timer_twice_fires_once_at_the_later_setting() {
    let mut sim = sim();
    command(&mut sim, "SET", "a", 100);
    sim.run_for(Duration::from_millis(10));
    command(&mut sim, "SET", "a", 50);
    let got = fired(sim.step_until_local_message("p").unwrap());
    assert_eq!(got, [("a".to_string(), 0.060)]);
    assert_eq!(sim.elapsed(), Duration::from_millis(60));
    sim.run_until_idle();
    assert!(sim.read_local_messages("p").is_empty(), "fired once only");
    assert_eq!(
        sim.elapsed(),
        Duration::from_millis(60),
        "no stale wake-up at 100 ms"
    );
}

#[test]
fn set_timer_once_keeps_the_first_deadline() {
    let mut sim = sim();
    command(&mut sim, "ONCE", "a", 100);
    sim.run_for(Duration::from_millis(10));
    command(&mut sim, "ONCE", "a", 20);
    let got = fired(sim.step_until_local_message("p").unwrap());
    assert_eq!(got, [("a".to_string(), 0.100)]);
    sim.run_until_idle();
    assert!(sim.read_local_messages("p").is_empty());
    // Once it fired, the name is free again.
    command(&mut sim, "ONCE", "a", 20);
    let got = fired(sim.step_until_local_message("p").unwrap());
    assert_eq!(got, [("a".to_string(), 0.120)]);
}

#[test]
fn cancel_prevents_firing() {
    let mut sim = sim();
    command(&mut sim, "SET", "a", 50);
    command(&mut sim, "SET", "b", 70);
    sim.run_for(Duration::from_millis(10));
    command(&mut sim, "CANCEL", "a", 0);
    command(&mut sim, "CANCEL", "nothing", 0);
    let got = fired(sim.step_until_local_message("p").unwrap());
    assert_eq!(got, [("b".to_string(), 0.070)]);
    assert_eq!(sim.step_until_local_message("p"), Err(StepError::NoEvents));
    assert_eq!(sim.pending_timers(), 0);
}

#[test]
fn timers_fire_in_deadline_order_then_setting_order() {
    let mut sim = sim();
    command(&mut sim, "SET", "late", 30);
    command(&mut sim, "SET", "first", 20);
    command(&mut sim, "SET", "second", 20);
    sim.run_until_idle();
    let names: Vec<String> = fired(sim.read_local_messages("p"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["first", "second", "late"]);
}

#[test]
fn context_time_is_the_nodes_wall_clock() {
    let mut sim = sim();
    sim.enter(|| node::set_clock_offset("node", ClockOffset::ahead(Duration::from_secs(5))));
    command(&mut sim, "SET", "a", 20);
    let got = fired(sim.step_until_local_message("p").unwrap());
    assert_eq!(got, [("a".to_string(), 5.020)]);
}

#[test]
fn step_budgets_and_timeouts() {
    let mut sim = sim();
    assert_eq!(
        sim.step_until_local_message_max_steps("p", 0),
        Err(StepError::MaxSteps(0))
    );
    command(&mut sim, "SET", "a", 100);
    assert_eq!(
        sim.step_until_local_message_timeout("p", Duration::from_millis(50)),
        Err(StepError::Timeout(Duration::from_millis(50)))
    );
    assert_eq!(sim.elapsed(), Duration::from_millis(50));
    let got = sim
        .step_until_local_message_timeout("p", Duration::from_millis(50))
        .unwrap();
    assert_eq!(fired(got), [("a".to_string(), 0.100)]);
    // A message already waiting is returned without stepping.
    command(&mut sim, "SET", "b", 0);
    sim.run_until_idle();
    let before = sim.elapsed();
    assert_eq!(sim.local_outbox("p").len(), 1, "a copy; nothing read");
    assert_eq!(
        sim.step_until_local_message_max_steps("p", 0)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(sim.elapsed(), before);
    assert!(sim.local_outbox("p").is_empty());
}
