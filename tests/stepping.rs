//! Step-by-step control: one event per step, exact clocks, and test code
//! acting between steps.

use bach::{ext::*, net::UdpSocket, node, time::Instant, Simulation};
use std::{cell::RefCell, rc::Rc};

fn at(ms: u64) -> Instant {
    Instant::from_duration(ms.ms())
}

#[test]
fn each_step_is_one_event_and_the_clock_follows() {
    let mut sim = Simulation::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    sim.enter(|| {
        for (name, period) in [("a", 3u64), ("b", 5)] {
            let l = l.clone();
            async move {
                for _ in 0..2 {
                    period.ms().sleep().await;
                    l.borrow_mut().push((name, Instant::now()));
                }
            }
            .spawn();
        }
    });
    assert_eq!(sim.pending_events(), 0);
    assert!(sim.step(), "first step polls the new tasks");
    assert_eq!(sim.pending_events(), 2, "two timers");
    assert_eq!(sim.next_event_time(), Some(at(3)));
    let mut times = Vec::new();
    while sim.step() {
        times.push(sim.now());
    }
    assert_eq!(times, [at(3), at(5), at(6), at(10)]);
    assert_eq!(
        *log.borrow(),
        [("a", at(3)), ("b", at(5)), ("a", at(6)), ("b", at(10))]
    );
    assert_eq!(sim.pending_events(), 0);
    assert_eq!(sim.next_event_time(), None);
}

#[test]
fn steps_runs_at_most_n_events() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        async {
            for _ in 0..10 {
                1.s().sleep().await;
            }
        }
        .spawn();
    });
    assert_eq!(sim.steps(4), 4);
    assert_eq!(sim.elapsed(), 3.s());
    assert_eq!(sim.steps(100), 7);
    assert_eq!(sim.elapsed(), 10.s());
    assert_eq!(sim.steps(1), 0);
}

#[test]
fn run_for_lands_exactly_even_without_events() {
    let mut sim = Simulation::new();
    sim.run_for(1234.ms());
    assert_eq!(sim.elapsed(), 1234.ms());
    sim.enter(|| {
        async { 1.ms().sleep().await }.spawn();
    });
    sim.run_for(500.us());
    assert_eq!(sim.elapsed(), 1234.ms() + 500.us());
    assert_eq!(sim.pending_events(), 1);
    sim.run_for(500.us());
    assert_eq!(sim.pending_events(), 0);
    assert_eq!(sim.elapsed(), 1235.ms());
}

#[test]
fn packets_in_flight_are_events() {
    let mut sim = Simulation::new();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    sim.enter(|| {
        async move {
            let socket = UdpSocket::bind("b:9").await.unwrap();
            let mut buf = [0u8; 16];
            loop {
                let (len, _) = socket.recv_from(&mut buf).await.unwrap();
                g.borrow_mut().push((buf[..len].to_vec(), Instant::now()));
            }
        }
        .group("b")
        .spawn();
    });
    assert!(sim.step());
    // Test code sends a packet between steps, from node `a`.
    sim.enter(|| {
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"one", "b:9").await.unwrap();
        }
        .group("a")
        .spawn();
    });
    assert!(sim.step(), "polls the sender");
    assert_eq!(sim.pending_events(), 1, "the datagram in flight");
    assert_eq!(sim.next_event_time(), Some(at(1)));
    assert!(got.borrow().is_empty());
    assert!(sim.step(), "delivers it");
    assert_eq!(*got.borrow(), [(b"one".to_vec(), at(1))]);
    assert!(!sim.step());
}

#[test]
fn state_can_be_read_and_faults_injected_between_steps() {
    let mut sim = Simulation::new();
    let counter = Rc::new(RefCell::new(0u32));
    let c = counter.clone();
    sim.enter(|| {
        node::host("worker", move || {
            let c = c.clone();
            async move {
                loop {
                    1.s().sleep().await;
                    *c.borrow_mut() += 1;
                }
            }
        });
    });
    let c = counter.clone();
    assert!(sim.run_until(move || *c.borrow() == 3));
    assert_eq!(sim.elapsed(), 3.s());
    sim.enter(|| node::crash("worker"));
    sim.run_for(5.s());
    assert_eq!(*counter.borrow(), 3, "nothing runs on a crashed node");
    sim.enter(|| node::restart("worker"));
    sim.run_for(2.s());
    assert_eq!(*counter.borrow(), 5);
}
