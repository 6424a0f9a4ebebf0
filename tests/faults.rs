//! Node lifecycle and fault scripts: crashes drop tasks, timers, sockets and
//! in-flight packets; restarts reboot with the same address; partitions
//! during a request; chaos is reproducible.

use bach::{
    ext::*,
    net::{self, UdpSocket},
    node::{self, Chaos, ClockOffset},
    time::SystemTime,
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

/// Node `server` echoes every datagram on port 7; returns a counter of
/// datagrams it received.
fn echo_server(sim: &mut Simulation, received: Rc<Cell<u32>>) {
    sim.enter(|| {
        node::host("server", move || {
            let received = received.clone();
            async move {
                let socket = UdpSocket::bind("server:7").await.unwrap();
                let mut buf = [0u8; 64];
                loop {
                    let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                    received.set(received.get() + 1);
                    socket.send_to(&buf[..len], from).await.unwrap();
                }
            }
        });
    });
}

#[test]
fn crash_drops_tasks_timers_and_in_flight_packets() {
    let mut sim = Simulation::new().record_trace(true);
    let received = Rc::new(Cell::new(0));
    echo_server(&mut sim, received.clone());
    let dropped_guard = Rc::new(Cell::new(false));
    let flag = dropped_guard.clone();
    sim.enter(|| {
        // A timer owned by a task on the server: it must vanish.
        async move {
            struct Guard(Rc<Cell<bool>>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.set(bach::is_active());
                }
            }
            let _guard = Guard(flag);
            100.s().sleep().await;
        }
        .group("server")
        .spawn();
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"hello", "server:7").await.unwrap(); // lands at 1 ms
        }
        .group("client")
        .spawn();
    });
    sim.run_for(500.us());
    sim.enter(|| node::crash("server"));
    assert!(dropped_guard.get(), "destructors ran inside the simulation");
    assert!(sim.enter(|| node::is_crashed("server")));
    sim.run_until_idle();
    assert_eq!(
        received.get(),
        0,
        "the datagram in flight was dropped on arrival"
    );
    assert_eq!(
        sim.elapsed(),
        1.ms(),
        "the 100 s timer vanished with its task"
    );
    let drops: Vec<_> = sim
        .trace()
        .into_iter()
        .filter_map(|e| match e.kind {
            bach::trace::EventKind::Packet(p) => match p.fate {
                net::PacketFate::Dropped(reason) => Some(reason.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(drops, ["node-down"]);
}

#[test]
fn restart_boots_again_with_the_same_address() {
    let mut sim = Simulation::new();
    let received = Rc::new(Cell::new(0));
    echo_server(&mut sim, received.clone());
    let replies = Rc::new(RefCell::new(Vec::new()));
    let r = replies.clone();
    sim.enter(|| {
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let mut buf = [0u8; 8];
            for round in 0..2 {
                if round == 1 {
                    node::restart("server");
                    assert_eq!(node::restarts("server"), 1);
                    1.ms().sleep().await; // the new server binds
                }
                socket.send_to(b"hi", "server:7").await.unwrap();
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..len], b"hi");
                r.borrow_mut().push(from);
            }
        }
        .group("client")
        .primary()
        .spawn();
    });
    sim.run(|| {});
    let replies = replies.borrow();
    assert_eq!(replies.len(), 2);
    assert_eq!(
        replies[0], replies[1],
        "same address and port after the restart"
    );
    assert_eq!(received.get(), 2);
}

#[test]
fn crashing_a_node_cancels_its_primary_and_the_run_continues() {
    let mut sim = Simulation::new();
    let outcome = Rc::new(RefCell::new(None));
    let o = outcome.clone();
    sim.run(move || {
        let victim = async { 100.s().sleep().await }
            .group("victim")
            .primary()
            .spawn();
        async move {
            1.s().sleep().await;
            node::crash("victim");
            *o.borrow_mut() = Some(victim.await.unwrap_err().is_cancelled());
            2.s().sleep().await;
        }
        .primary()
        .spawn();
    });
    assert_eq!(*outcome.borrow(), Some(true));
    assert_eq!(sim.elapsed(), 3.s());
}

#[test]
#[should_panic(expected = "node `gone` is crashed")]
fn spawning_onto_a_crashed_node_fails_clearly() {
    bach::sim(|| {
        async {}.group("gone").spawn();
        node::crash("gone");
        async {}.group("gone").spawn();
    });
}

#[test]
fn plain_group_tasks_die_with_the_node_and_do_not_come_back() {
    let mut sim = Simulation::new();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    sim.enter(|| {
        async move {
            loop {
                1.s().sleep().await;
                t.set(t.get() + 1);
            }
        }
        .group("worker")
        .spawn();
    });
    sim.run_for(2500.ms());
    sim.enter(|| node::restart("worker"));
    sim.run_for(10.s());
    assert_eq!(ticks.get(), 2);
    assert_eq!(sim.live_tasks(), 0);
}

#[test]
fn partition_during_request_then_heal() {
    let mut sim = Simulation::new();
    let received = Rc::new(Cell::new(0));
    echo_server(&mut sim, received.clone());
    let replies = Rc::new(RefCell::new(Vec::new()));
    let r = replies.clone();
    sim.enter(|| {
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let mut buf = [0u8; 8];
            for i in 0..6u8 {
                socket.send_to(&[i], "server:7").await.unwrap();
                let reply = bach::time::timeout(10.ms(), socket.recv_from(&mut buf)).await;
                if let Ok(Ok(_)) = reply {
                    r.borrow_mut().push(buf[0]);
                }
                100.ms().sleep().await;
            }
        }
        .group("client")
        .primary()
        .spawn();
        // The fault script: partition at 150 ms, heal at 350 ms.
        async {
            150.ms().sleep().await;
            net::partition(&["client"], &["server"]);
            200.ms().sleep().await;
            net::heal();
        }
        .spawn();
    });
    sim.run(|| {});
    // Requests at 0, 110, 220, 330, 440, 550 ms (each waits 10 ms if no reply
    // arrives); those sent at 220 and 330 ms fall inside the partition.
    assert_eq!(*replies.borrow(), [0, 1, 4, 5]);
    assert_eq!(received.get(), 4);
}

#[test]
fn node_clocks_have_offsets_and_drift() {
    bach::sim(|| {
        node::set_clock_offset("fast", 2.s());
        node::set_clock_offset("slow", ClockOffset::behind(500.ms()));
        node::set_clock_drift("drifty", 100.0); // +100 ppm
        async {
            let fast = async { SystemTime::now() }.group("fast").await;
            let slow = async { SystemTime::now() }.group("slow").await;
            let here = SystemTime::now();
            assert_eq!(fast.duration_since(here).unwrap(), 2.s());
            assert_eq!(here.duration_since(slow).unwrap(), 500.ms());
            let start = async { SystemTime::now() }.group("drifty").await;
            10.s().sleep().await;
            let later = async { SystemTime::now() }.group("drifty").await;
            assert_eq!(later.duration_since(start).unwrap(), 10.s() + 1.ms());
            assert_eq!(
                here.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
                1_767_225_600
            );
            assert!(slow.duration_since(fast).is_err());
        }
        .primary()
        .spawn();
    });
}

fn chaos_history(seed: u64) -> Vec<String> {
    let mut sim = Simulation::new().seed(seed).record_trace(true);
    sim.run(|| {
        for name in ["a", "b", "c"] {
            node::host(name, || async {
                loop {
                    1.s().sleep().await;
                }
            });
        }
        Chaos::new(&["a", "b", "c"])
            .crash_rate(0.5)
            .downtime(2.s())
            .partition_rate(0.3)
            .stop_after(30.s())
            .spawn();
        async { 60.s().sleep().await }.primary().spawn();
    });
    sim.trace()
        .into_iter()
        .filter_map(|e| match e.kind {
            bach::trace::EventKind::Note { message } => Some(format!("{} {message}", e.time)),
            _ => None,
        })
        .collect()
}

#[test]
fn chaos_is_reproducible_and_seed_dependent() {
    let a = chaos_history(1);
    assert!(a.iter().any(|l| l.contains("crash")), "{a:?}");
    assert!(a.iter().any(|l| l.contains("restart")), "{a:?}");
    assert!(a.iter().any(|l| l.contains("partition")), "{a:?}");
    assert_eq!(a, chaos_history(1));
    assert_ne!(a, chaos_history(2));
}
