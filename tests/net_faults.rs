//! Faults on the simulated network, as the application sees them: loss,
//! duplication, corruption and reordering from link configs; partitions,
//! disconnections and heal with exact delivery counts; monitors; counters;
//! determinism; and deadlock reports that know about packets in flight.

use bach::{
    ext::*,
    net::{
        self,
        monitor::{self, Monitor, PacketView, Verdict},
        DropReason, LinkConfig, PacketFate, UdpSocket,
    },
    time::Instant,
    Simulation,
};
use std::{cell::RefCell, rc::Rc, time::Duration};

type Log = Rc<RefCell<Vec<(u64, Vec<u8>)>>>;

/// A sink on `node:9` logging (arrival time in ms, payload) of every datagram.
fn sink(node: &str) -> Log {
    let log: Log = Rc::default();
    let out = log.clone();
    async move {
        let socket = UdpSocket::bind("0.0.0.0:9").await.unwrap();
        let mut buf = [0; 64];
        loop {
            let (len, _) = socket.recv_from(&mut buf).await.unwrap();
            let now = Instant::now().elapsed_since_start().as_millis() as u64;
            out.borrow_mut().push((now, buf[..len].to_vec()));
        }
    }
    .group(node)
    .spawn();
    log
}

/// A source on `node` sending `count` numbered datagrams to `to:9`, one
/// every `every`, starting at once.
fn source(node: &str, to: &'static str, count: u32, every: Duration) {
    async move {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        for i in 0..count {
            socket.send_to(&i.to_be_bytes(), (to, 9)).await.unwrap();
            every.sleep().await;
        }
    }
    .group(node)
    .primary()
    .spawn();
}

fn numbers(log: &Log) -> Vec<u32> {
    log.borrow()
        .iter()
        .map(|(_, p)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn loss_is_visible_to_the_application_and_counted() {
    let mut sim = Simulation::new().seed(1);
    let log = sim.enter(|| {
        let log = sink("b");
        async {}.group("a").spawn();
        net::link("a", "b").loss_probability(0.3);
        source("a", "b", 1000, 1.ms());
        log
    });
    sim.run(|| {});
    let received = log.borrow().len() as u64;
    assert!((620..780).contains(&received), "{received}");
    let stats = sim.net_stats();
    assert_eq!(stats.sent, 1000);
    assert_eq!(stats.delivered, received);
    assert_eq!(stats.dropped.get(DropReason::Loss), 1000 - received);
    assert_eq!(
        sim.node_stats("a").dropped_as_sender.get(DropReason::Loss),
        1000 - received
    );
    // Only the a -> b direction is lossy.
    assert_eq!(net_default_loss(&sim), 0.0);
}

fn net_default_loss(sim: &Simulation) -> f64 {
    sim.link("b", "a").config().loss_probability
}

#[test]
fn duplicates_arrive_twice() {
    let mut sim = Simulation::new().default_link(LinkConfig::default().duplicate_probability(1.0));
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 10, 1.ms());
        log
    });
    sim.run(|| {});
    let mut got = numbers(&log);
    got.sort_unstable();
    let expected: Vec<u32> = (0..10).flat_map(|i| [i, i]).collect();
    assert_eq!(got, expected);
    assert_eq!(sim.net_stats().duplicated, 10);
    assert_eq!(sim.net_stats().delivered, 20);
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let mut sim = Simulation::new().default_link(LinkConfig::default().corrupt_probability(1.0));
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 50, 1.ms());
        log
    });
    sim.run(|| {});
    let log = log.borrow();
    assert_eq!(log.len(), 50);
    for (i, (_, payload)) in log.iter().enumerate() {
        let flipped: u32 = payload
            .iter()
            .zip((i as u32).to_be_bytes())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1, "datagram {i}: {payload:?}");
    }
    assert_eq!(sim.net_stats().corrupted, 50);
}

#[test]
fn jitter_reorders_datagrams() {
    let mut sim = Simulation::new()
        .seed(3)
        .default_link(LinkConfig::default().jitter(10.ms()));
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 100, 1.ms());
        log
    });
    sim.run(|| {});
    // Let the last ones land.
    sim.run_for(20.ms());
    let got = numbers(&log);
    assert_eq!(got.len(), 100);
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "no reordering: {got:?}"
    );
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
}

#[test]
fn partition_and_heal_give_exact_delivery_counts() {
    let mut sim = Simulation::new();
    let (ab, ba) = sim.enter(|| (sink("b"), sink("a")));
    sim.enter(|| {
        // 100 datagrams each way, one per ms, sent at t = 0..=99 ms.
        source("a", "b", 100, 1.ms());
        source("b", "a", 100, 1.ms());
        async {
            // Sends at t = 30..=59 are cut (both directions), then healed.
            30.ms().sleep().await;
            net::partition(&["a"], &["b"]);
            30.ms().sleep().await;
            net::heal();
        }
        .group("chaos")
        .spawn();
    });
    sim.run(|| {});
    sim.run_for(2.ms());
    assert_eq!(ab.borrow().len(), 70);
    assert_eq!(ba.borrow().len(), 70);
    let missing: Vec<u32> = (0..100).filter(|i| !numbers(&ab).contains(i)).collect();
    assert_eq!(missing, (30..60).collect::<Vec<_>>());
    assert_eq!(sim.net_stats().dropped.get(DropReason::Partitioned), 60);
}

#[test]
fn oneway_partitions_cut_one_direction() {
    let mut sim = Simulation::new();
    let (ab, ba) = sim.enter(|| (sink("b"), sink("a")));
    sim.enter(|| {
        source("a", "b", 10, 1.ms());
        source("b", "a", 10, 1.ms());
    });
    sim.partition_oneway(&["a"], &["b"]);
    sim.run(|| {});
    sim.run_for(2.ms());
    assert_eq!((ab.borrow().len(), ba.borrow().len()), (0, 10));
}

#[test]
fn a_fault_never_recalls_a_packet_in_flight() {
    let mut sim = Simulation::new().default_link(LinkConfig::default().latency(10.ms()));
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 1, 1.ms());
        log
    });
    sim.run_for(5.ms());
    assert_eq!(sim.packets_in_flight(), 1);
    sim.partition(&["a"], &["b"]);
    sim.run_for(10.ms());
    assert_eq!(*log.borrow(), [(10, 0u32.to_be_bytes().to_vec())]);
}

#[test]
fn a_packet_arriving_at_a_disconnected_node_is_dropped_with_that_reason() {
    let mut sim = Simulation::new()
        .default_link(LinkConfig::default().latency(10.ms()))
        .record_packets(true);
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 1, 1.ms());
        log
    });
    sim.run_for(5.ms());
    sim.disconnect("b");
    sim.run_for(10.ms());
    assert!(log.borrow().is_empty());
    assert_eq!(
        sim.net_stats()
            .dropped
            .get(DropReason::ReceiverDisconnected),
        1
    );
    let last = sim.packet_log().pop().unwrap();
    assert_eq!(
        last.fate,
        PacketFate::Dropped(DropReason::ReceiverDisconnected)
    );
    assert_eq!(last.time, Instant::ZERO + 10.ms());
    // Connected again, b hears from a.
    sim.connect("b");
    sim.enter(|| source("a", "b", 1, 1.ms()));
    sim.run_for(20.ms());
    assert_eq!(log.borrow().len(), 1);
}

#[test]
fn disconnected_and_dropping_nodes_lose_traffic_until_healed() {
    let mut sim = Simulation::new();
    let log = sim.enter(|| sink("b"));
    sim.enter(|| source("a", "b", 40, 1.ms()));
    sim.disconnect("a");
    sim.run_for(10.ms());
    sim.heal();
    sim.drop_incoming("b", true);
    sim.run_for(10.ms());
    sim.drop_incoming("b", false);
    sim.drop_outgoing("a", true);
    sim.run_for(10.ms());
    sim.drop_outgoing("a", false);
    sim.run(|| {});
    sim.run_for(2.ms());
    // `run_for(10 ms)` includes the send due at its last instant: sends at
    // 0..=10 ms found `a` disconnected, 11..=20 `b` dropping, 21..=30 `a`
    // dropping.
    let stats = sim.net_stats();
    assert_eq!(stats.dropped.get(DropReason::SenderDisconnected), 11);
    assert_eq!(stats.dropped.get(DropReason::DropIncoming), 10);
    assert_eq!(stats.dropped.get(DropReason::DropOutgoing), 10);
    assert_eq!(numbers(&log), (31..40).collect::<Vec<_>>());
}

#[test]
fn disabled_links_and_bandwidth_queues_drop() {
    let mut sim = Simulation::new();
    let log = sim.enter(|| {
        let log = sink("b");
        async {}.group("a").spawn();
        net::link("a", "b")
            .bandwidth_bits_per_sec(Some(8_000))
            .queue_capacity_bytes(8);
        source("a", "b", 3, Duration::ZERO);
        log
    });
    sim.run(|| {});
    sim.run_for(10.ms());
    // 4 bytes take 4 ms at 1 kB/s: two fit the 8-byte queue, the third not.
    assert_eq!(sim.net_stats().dropped.get(DropReason::QueueFull), 1);
    assert_eq!(
        *log.borrow(),
        [(5, vec![0, 0, 0, 0]), (9, vec![0, 0, 0, 1])]
    );
    sim.link("a", "b").enabled(false);
    sim.enter(|| source("a", "b", 1, Duration::ZERO));
    sim.run(|| {});
    assert_eq!(sim.net_stats().dropped.get(DropReason::LinkDisabled), 1);
}

#[test]
fn a_fault_script_runs_at_chosen_simulated_times() {
    let mut sim = Simulation::new().record_packets(true);
    sim.run(|| {
        let _log = sink("server");
        async {}.group("client").spawn();
        source("client", "server", 10, 10.ms());
        async {
            25.ms().sleep().await;
            net::link("client", "server").latency(5.ms());
            net::disconnect("server");
            50.ms().sleep().await;
            net::connect("server");
        }
        .group("chaos")
        .spawn();
    });
    sim.run_for(10.ms());
    let delivered: Vec<u64> = sim
        .packet_log()
        .iter()
        .filter(|e| e.fate == PacketFate::Delivered)
        .map(|e| e.time.as_nanos() / 1_000_000)
        .collect();
    // 1 ms latency before 25 ms, receiver down until 75 ms, then 5 ms.
    assert_eq!(delivered, [1, 11, 21, 85, 95]);
}

#[test]
fn monitors_see_every_packet_and_inject_faults() {
    struct EveryOther(u32);
    impl Monitor for EveryOther {
        fn on_send(&mut self, _packet: &PacketView<'_>) -> Verdict {
            self.0 += 1;
            if self.0 & 1 == 0 {
                Verdict::Drop
            } else {
                Verdict::Pass
            }
        }
    }
    let seen = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Simulation::new();
    let log = sim.enter(|| {
        let log = sink("b");
        monitor::install(EveryOther(0));
        let seen = seen.clone();
        monitor::on_receive(move |packet| {
            seen.borrow_mut().push((
                packet.from().to_string(),
                packet.to().to_string(),
                packet.payload().to_vec(),
                packet.src().port(),
                packet.dst().port(),
            ));
            Verdict::Pass
        });
        source("a", "b", 10, 1.ms());
        log
    });
    sim.run(|| {});
    sim.run_for(2.ms());
    assert_eq!(numbers(&log), [0, 2, 4, 6, 8]);
    assert_eq!(seen.borrow().len(), 5);
    assert_eq!(
        seen.borrow()[0],
        (
            "a".into(),
            "b".into(),
            0u32.to_be_bytes().to_vec(),
            49152,
            9
        )
    );
    assert_eq!(sim.net_stats().dropped.get(DropReason::Monitor), 5);
    assert_eq!(sim.net_stats().sent, 10);
}

#[test]
fn monitor_verdicts_delay_duplicate_and_corrupt() {
    let mut sim = Simulation::new().record_packets(true);
    let log = sim.enter(|| {
        let log = sink("b");
        monitor::on_send(|packet| match packet.payload()[3] {
            0 => Verdict::Delay(5.ms()),
            1 => Verdict::Duplicate(2),
            2 => Verdict::Corrupt,
            _ => Verdict::Pass,
        });
        monitor::on_receive(|packet| match packet.payload()[3] {
            3 => Verdict::Delay(3.ms()),
            4 => Verdict::Duplicate(1),
            5 => Verdict::Drop,
            _ => Verdict::Pass,
        });
        source("a", "b", 6, 10.ms());
        log
    });
    sim.run(|| {});
    sim.run_for(10.ms());
    let log = log.borrow();
    let summary: Vec<(u64, u8)> = log.iter().map(|(t, p)| (*t, p[3])).collect();
    // 0: sent 0, +5 ms delay; 1: sent 10, three copies; 2: corrupted (one
    // bit of "2" or its zero bytes flipped); 3: sent 30, held 3 ms on
    // receive; 4: one extra copy on receive; 5: dropped on receive.
    assert_eq!(summary[0], (6, 0));
    assert_eq!(&summary[1..4], [(11, 1), (11, 1), (11, 1)]);
    assert_eq!(summary[4].0, 21);
    assert_ne!(log[4].1, 2u32.to_be_bytes());
    assert_eq!(&summary[5..], [(34, 3), (41, 4), (41, 4)]);
    assert_eq!(sim.net_stats().dropped.get(DropReason::Monitor), 1);
    let duplicates = sim
        .packet_log()
        .iter()
        .filter(|e| e.fate == PacketFate::Delivered && e.duplicate)
        .count();
    assert_eq!(duplicates, 3);
}

#[test]
fn monitors_installed_on_the_simulation_run_in_install_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Simulation::new();
    for name in ["first", "second"] {
        let order = order.clone();
        struct Named(&'static str, Rc<RefCell<Vec<&'static str>>>);
        impl Monitor for Named {
            fn on_send(&mut self, _: &PacketView<'_>) -> Verdict {
                self.1.borrow_mut().push(self.0);
                Verdict::Pass
            }
        }
        sim.monitor(Named(name, order));
    }
    sim.enter(|| {
        let _ = sink("b");
        source("a", "b", 2, 1.ms());
    });
    sim.run(|| {});
    assert_eq!(*order.borrow(), ["first", "second", "first", "second"]);
}

#[test]
fn a_monitor_that_uses_the_network_panics_with_an_explanation() {
    let result = std::panic::catch_unwind(|| {
        bach::sim(|| {
            monitor::on_send(|_| {
                let _ = net::stats();
                Verdict::Pass
            });
            async {}.group("b").spawn();
            source("a", "b", 1, 1.ms());
        })
    });
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("bach::net was called from inside a network monitor"),
        "{message}"
    );
}

#[test]
fn counters_are_kept_per_node_and_in_total() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        let _ = sink("c");
        source("a", "c", 3, 1.ms());
        source("b", "c", 5, 1.ms());
        source("b", "nowhere", 2, 1.ms());
        async {}.group("nowhere").spawn();
    });
    sim.run(|| {});
    sim.run_for(2.ms());
    let total = sim.net_stats();
    assert_eq!((total.sent, total.delivered), (10, 8));
    assert_eq!(total.dropped.get(DropReason::NoSocket), 2);
    assert_eq!(sim.node_stats("a").sent, 3);
    assert_eq!(sim.node_stats("b").sent, 7);
    assert_eq!(sim.node_stats("c").delivered, 8);
    sim.enter(|| assert_eq!(net::stats(), total));
    sim.enter(|| assert_eq!(net::node_stats("b").dropped_as_sender.total(), 2));
}

fn lossy_run(seed: u64) -> Vec<(u64, String, PacketFate)> {
    let mut sim = Simulation::new()
        .seed(seed)
        .record_packets(true)
        .default_link(
            LinkConfig::default()
                .loss_probability(0.2)
                .duplicate_probability(0.1)
                .corrupt_probability(0.1)
                .jitter(3.ms()),
        );
    sim.enter(|| {
        let _ = sink("b");
        let _ = sink("a");
        source("a", "b", 200, 1.ms());
        source("b", "a", 200, 1.ms());
    });
    sim.run(|| {});
    sim.run_for(10.ms());
    sim.packet_log()
        .into_iter()
        .map(|e| (e.time.as_nanos(), e.from.name().to_string(), e.fate))
        .collect()
}

#[test]
fn the_same_seed_replays_every_packet_fate() {
    let a = lossy_run(42);
    assert_eq!(a, lossy_run(42));
    assert_ne!(a, lossy_run(43));
}

#[test]
fn a_deadlock_report_knows_no_packet_is_in_flight() {
    let result = std::panic::catch_unwind(|| {
        bach::sim(|| {
            async {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                let mut buf = [0; 4];
                socket.recv_from(&mut buf).await.unwrap();
            }
            .group("lonely")
            .primary()
            .spawn();
        })
    });
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("no packet is in flight"), "{message}");
    assert!(message.contains("node `lonely`"), "{message}");
}

#[test]
fn a_packet_in_flight_is_not_a_deadlock() {
    let mut sim = Simulation::new().default_link(LinkConfig::default().latency(1.s()));
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("b:1").await.unwrap();
            let mut buf = [0; 4];
            socket.recv_from(&mut buf).await.unwrap();
        }
        .group("b")
        .primary()
        .spawn();
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"slow", "b:1").await.unwrap();
        }
        .group("a")
        .spawn();
    });
    assert_eq!(sim.elapsed(), 1.s());
}

#[test]
fn stepping_processes_packet_arrivals_one_event_at_a_time() {
    let mut sim = Simulation::new();
    let log = sim.enter(|| {
        let log = sink("b");
        source("a", "b", 2, 10.ms());
        log
    });
    assert!(sim.step(), "first polls");
    assert_eq!(sim.packets_in_flight(), 1);
    assert_eq!(sim.pending_timers(), 1, "the source's sleep");
    assert_eq!(sim.next_event_time(), Some(Instant::ZERO + 1.ms()));
    assert!(sim.step(), "the arrival");
    assert_eq!(sim.now(), Instant::ZERO + 1.ms());
    assert_eq!(log.borrow().len(), 1);
    assert_eq!(sim.packets_in_flight(), 0);
}

#[test]
fn a_monitor_panicking_on_send_ends_the_run_as_on_receive() {
    // The same report whichever direction the monitor was asked about: the
    // run fails (even with `abort_on_panic(false)`, as on receive), naming
    // the direction, the time, the seed and the monitor's message.
    let run = |abort: bool| {
        std::panic::catch_unwind(|| {
            Simulation::new().abort_on_panic(abort).run(|| {
                let _ = sink("b");
                monitor::on_send(|_| panic!("monitor bug"));
                source("a", "b", 1, 5.ms());
            })
        })
    };
    for abort in [true, false] {
        let payload = run(abort).unwrap_err();
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("a network monitor panicked on sending a packet at 0:00:00.000000000"),
            "{message}"
        );
        assert!(
            message.contains("BACH_SEED=0") && message.contains("monitor bug"),
            "{message}"
        );
    }
}

#[test]
fn a_monitor_panicking_on_receive_ends_the_run_with_context() {
    let result = std::panic::catch_unwind(|| {
        bach::sim(|| {
            let _ = sink("b");
            monitor::on_receive(|_| panic!("monitor bug"));
            source("a", "b", 1, 5.ms());
        })
    });
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("a network monitor panicked on receiving a packet at 0:00:00.001000000"),
        "{message}"
    );
    assert!(
        message.contains("BACH_SEED=0") && message.contains("monitor bug"),
        "{message}"
    );
}
