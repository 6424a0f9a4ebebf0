//! Ping-pong between processes, AnySystem's first scenario: exact times and
//! counts on a reliable network, faults decided at send time, retries under
//! loss, corruption, handler panics and reproducible traces.

mod process_common;

use bach::{
    process::{Message, ProcessEventKind, StepError},
    Simulation,
};
use process_common::{trace_lines, BasicClient, RetryClient, Server};
use std::time::Duration;

const DATA: &str = r#"{"value":"Hello!"}"#;

fn ping() -> Message {
    Message::new("PING", DATA)
}

fn basic(sim: &mut Simulation) {
    sim.add_process("server", "server-node", Server::default());
    sim.add_process(
        "client",
        "client-node",
        BasicClient {
            server: "server".into(),
        },
    );
}

#[test]
fn reliable_ping_pong_gets_exactly_one_pong() {
    let mut sim = Simulation::new().record_trace(true);
    basic(&mut sim);
    sim.send_local("client", ping());
    assert_eq!(
        sim.sent_message_count("client"),
        1,
        "send_local sends at once"
    );
    let pongs = sim.step_until_local_message("client").unwrap();
    assert_eq!(pongs, [Message::new("PONG", DATA)]);
    // Default links: 1 ms each way.
    assert_eq!(sim.elapsed(), Duration::from_millis(2));
    assert_eq!(sim.sent_message_count("client"), 1);
    assert_eq!(sim.received_message_count("client"), 1);
    assert_eq!(sim.sent_message_count("server"), 1);
    assert_eq!(sim.received_message_count("server"), 1);
    assert_eq!(sim.network_message_count(), 2);
    assert_eq!(sim.traffic(), 2 * (4 + DATA.len() as u64));
    assert_eq!(sim.process::<Server>("server").unwrap().pings, 1);
    assert_eq!(sim.process_state("server").as_deref(), Some("pings=1"));
    assert!(sim.process::<Server>("client").is_none(), "wrong type");
    // Nothing more ever arrives.
    sim.run_until_idle();
    assert!(sim.read_local_messages("client").is_empty());

    let lines = trace_lines(&sim);
    let expected = [
        r#"   0.000000000  client --> server  PING {"value":"Hello!"}"#,
        r#"   0.001000000  server <-- client  PING {"value":"Hello!"}"#,
        r#"   0.001000000  server --> client  PONG {"value":"Hello!"}"#,
        r#"   0.002000000  client <-- server  PONG {"value":"Hello!"}"#,
        r#"   0.002000000  client <<< PONG {"value":"Hello!"}"#,
    ];
    let process_lines: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|line| line.contains("client") && !line.contains("UDP") && !line.contains("spawn"))
        .filter(|line| line.contains("-->") || line.contains("<--") || line.contains("<<<"))
        .collect();
    assert_eq!(process_lines, expected, "trace:\n{}", lines.join("\n"));
}

#[test]
fn messages_travel_as_udp_datagrams() {
    let mut sim = Simulation::new().record_packets(true);
    basic(&mut sim);
    sim.send_local("client", ping());
    sim.step_until_local_message("client").unwrap();
    let stats = sim.net_stats();
    assert_eq!(stats.sent, 2);
    assert_eq!(stats.delivered, 2);
    let log = sim.packet_log();
    let first = log.first().expect("the PING datagram is logged");
    assert_eq!(
        (first.from.name(), first.to.name()),
        ("client-node", "server-node")
    );
    assert_eq!(first.dst.port(), 7000, "first process on its node");
}

#[test]
fn same_node_messages_are_reliable_and_immediate() {
    let mut sim = Simulation::new();
    sim.add_process("server", "host", Server::default());
    sim.add_process(
        "client",
        "host",
        BasicClient {
            server: "server".into(),
        },
    );
    sim.set_drop_rate(1.0);
    sim.send_local("client", ping());
    let pongs = sim.step_until_local_message("client").unwrap();
    assert_eq!(pongs.len(), 1);
    assert_eq!(sim.elapsed(), Duration::ZERO);
    assert_eq!(
        sim.net_stats().sent,
        0,
        "no datagram for a same-node message"
    );
}

#[test]
fn a_fault_set_before_sending_loses_the_message() {
    let mut sim = Simulation::new();
    basic(&mut sim);
    sim.drop_outgoing("client-node", true);
    sim.send_local("client", ping());
    assert_eq!(
        sim.step_until_local_message("client"),
        Err(StepError::NoEvents)
    );
    assert_eq!(sim.received_message_count("server"), 0);
    assert_eq!(sim.process::<Server>("server").unwrap().pings, 0);
}

#[test]
fn a_fault_set_after_sending_does_not_recall_the_message() {
    let mut sim = Simulation::new();
    basic(&mut sim);
    sim.send_local("client", ping());
    // The PING is on the wire: the partition only catches the PONG.
    sim.make_partition(&["client-node"], &["server-node"]);
    assert_eq!(
        sim.step_until_local_message("client"),
        Err(StepError::NoEvents)
    );
    assert_eq!(sim.received_message_count("server"), 1);
    assert_eq!(sim.sent_message_count("server"), 1);
    assert_eq!(sim.received_message_count("client"), 0);
    // After a reset the network is perfect again.
    sim.reset();
    sim.send_local("client", ping());
    assert_eq!(sim.step_until_local_message("client").unwrap().len(), 1);
}

#[test]
fn retry_client_survives_half_the_messages_lost_for_100_seeds() {
    let mut dropped = 0;
    for seed in 0..100 {
        let mut sim = Simulation::new().seed(seed);
        sim.add_process("server", "server-node", Server::default());
        sim.add_process(
            "client",
            "client-node",
            RetryClient::new("server", Duration::from_millis(5), true),
        );
        sim.set_drop_rate(0.5);
        sim.send_local("client", ping());
        let pongs = sim
            .step_until_local_message("client")
            .unwrap_or_else(|error| panic!("seed {seed}: {error}"));
        assert_eq!(pongs, [Message::new("PONG", DATA)], "seed {seed}");
        // The retry timer is cancelled: nothing else happens, ever.
        sim.run_until_idle();
        assert!(sim.read_local_messages("client").is_empty(), "seed {seed}");
        assert!(sim
            .process::<RetryClient>("client")
            .unwrap()
            .pending
            .is_none());
        dropped += sim.net_stats().dropped.total();
    }
    assert!(dropped > 50, "the network did lose messages ({dropped})");
}

#[test]
fn basic_client_fails_under_loss_for_some_seed() {
    let failed = (0..20).any(|seed| {
        let mut sim = Simulation::new().seed(seed);
        basic(&mut sim);
        sim.set_drop_rate(0.5);
        sim.send_local("client", ping());
        sim.step_until_local_message("client").is_err()
    });
    assert!(
        failed,
        "a client without retries must lose a PING or PONG sometimes"
    );
}

#[test]
fn corrupted_messages_are_still_messages_with_altered_data() {
    let mut altered = 0;
    for seed in 0..20 {
        let mut sim = Simulation::new().seed(seed).record_process_events(true);
        basic(&mut sim);
        sim.set_corruption_rate(1.0);
        sim.send_local("client", ping());
        sim.step_until_local_message("client").unwrap();
        let log = sim.event_log("server");
        let received: Vec<_> = log
            .iter()
            .filter_map(|event| match &event.kind {
                ProcessEventKind::MessageReceived { from, msg } => Some((from, msg)),
                _ => None,
            })
            .collect();
        assert_eq!(received.len(), 1, "seed {seed}");
        let (from, msg) = received[0];
        assert_eq!(
            from, "client",
            "seed {seed}: the sender survives corruption"
        );
        assert_eq!(
            msg.tip(),
            "PING",
            "seed {seed}: the tip survives corruption"
        );
        if msg.data() != DATA {
            altered += 1;
        }
        assert_eq!(sim.net_stats().corrupted, 2, "seed {seed}");
    }
    assert!(altered > 0, "some corruption hit the data");
}

#[test]
fn event_log_records_what_the_process_did() {
    let mut sim = Simulation::new().record_process_events(true);
    basic(&mut sim);
    sim.send_local("client", ping());
    sim.step_until_local_message("client").unwrap();
    let kinds: Vec<_> = sim
        .event_log("client")
        .into_iter()
        .map(|event| (event.time, event.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                Duration::ZERO,
                ProcessEventKind::LocalMessageReceived(ping())
            ),
            (
                Duration::ZERO,
                ProcessEventKind::MessageSent {
                    to: "server".into(),
                    msg: ping()
                }
            ),
            (
                Duration::from_millis(2),
                ProcessEventKind::MessageReceived {
                    from: "server".into(),
                    msg: Message::new("PONG", DATA)
                }
            ),
            (
                Duration::from_millis(2),
                ProcessEventKind::LocalMessageSent(Message::new("PONG", DATA))
            ),
        ]
    );
    let quiet = {
        let mut sim = Simulation::new();
        basic(&mut sim);
        sim.send_local("client", ping());
        sim.step_until_local_message("client").unwrap();
        sim.event_log("client")
    };
    assert!(quiet.is_empty(), "the log is off by default");
}

#[test]
#[should_panic(
    expected = "process `server` panicked while handling message PING {\"value\":\"Hello!\"} from `client`: boom"
)]
fn a_panicking_handler_names_the_process_and_the_message() {
    struct Faulty;
    impl bach::process::Process for Faulty {
        fn on_message(&mut self, _: Message, _: &str, _: &mut bach::process::Context) {
            panic!("boom");
        }
    }
    let mut sim = Simulation::new();
    sim.add_process("server", "server-node", Faulty);
    sim.add_process(
        "client",
        "client-node",
        BasicClient {
            server: "server".into(),
        },
    );
    sim.send_local("client", ping());
    let _ = sim.step_until_local_message("client");
}

#[test]
fn with_abort_on_panic_off_a_panicking_handler_ends_only_its_process() {
    /// Panics on its first message.
    struct Faulty;
    impl bach::process::Process for Faulty {
        fn on_message(&mut self, _: Message, _: &str, _: &mut bach::process::Context) {
            panic!("boom");
        }
    }
    let mut sim = Simulation::new().abort_on_panic(false);
    sim.add_process("faulty", "faulty-node", Faulty);
    sim.add_process("server", "server-node", Server::default());
    let client = |server: &str| BasicClient {
        server: server.into(),
    };
    sim.add_process("asks-faulty", "client-node", client("faulty"));
    sim.add_process("asks-server", "client-node", client("server"));
    sim.send_local("asks-faulty", ping());
    sim.send_local("asks-server", ping());
    assert_eq!(
        sim.step_until_local_message("asks-server").unwrap(),
        [Message::new("PONG", DATA)],
        "the other processes go on"
    );
    assert_eq!(sim.received_message_count("faulty"), 1);
    // The panicked process receives nothing more.
    sim.send_local("asks-faulty", ping());
    sim.run_until_idle();
    assert_eq!(sim.received_message_count("faulty"), 1);
    assert!(sim.read_local_messages("asks-faulty").is_empty());
}

#[test]
fn a_message_arriving_behind_same_node_messages_is_handled_after_them() {
    /// Records what it receives, in order; a `FORWARD` is passed on to
    /// `next` (on the same node) as `FORWARDED`.
    #[derive(Default)]
    struct Recorder {
        next: Option<String>,
        got: Vec<String>,
    }
    impl bach::process::Process for Recorder {
        fn on_local_message(&mut self, msg: Message, ctx: &mut bach::process::Context) {
            for to in msg.data().split(',') {
                ctx.send(Message::new(msg.tip(), ""), to);
            }
        }
        fn on_message(&mut self, msg: Message, from: &str, ctx: &mut bach::process::Context) {
            self.got.push(format!("{} from {from}", msg.tip()));
            if let Some(next) = self.next.as_deref().filter(|_| msg.tip() == "FORWARD") {
                ctx.send(Message::new("FORWARDED", ""), next);
            }
        }
    }
    let mut sim = Simulation::new();
    let recorder = |next: Option<&str>| Recorder {
        next: next.map(str::to_string),
        got: Vec::new(),
    };
    sim.add_process("a", "shared-node", recorder(Some("b")));
    sim.add_process("b", "shared-node", recorder(None));
    sim.add_process("sender", "sender-node", recorder(None));
    // Both arrive at the same instant, `a`'s first; `a` forwards to `b`
    // on its node, which then has a same-node message waiting when the
    // sender's own message to it arrives.
    sim.send_local("sender", Message::new("FORWARD", "a,b"));
    sim.run_until_idle();
    assert_eq!(
        sim.process::<Recorder>("a").unwrap().got,
        ["FORWARD from sender"]
    );
    assert_eq!(
        sim.process::<Recorder>("b").unwrap().got,
        ["FORWARDED from a", "FORWARD from sender"],
        "same-node messages first, as the host task takes them"
    );
}

#[test]
fn same_seed_same_trace_under_faults() {
    let run = |seed| {
        let mut sim = Simulation::new()
            .seed(seed)
            .record_trace(true)
            .trace_capacity(usize::MAX);
        sim.add_process("server", "server-node", Server::default());
        sim.add_process(
            "client",
            "client-node",
            RetryClient::new("server", Duration::from_millis(20), true),
        );
        sim.set_drop_rate(0.3);
        sim.set_duplication_rate(0.3);
        sim.set_delays(Duration::from_millis(1), Duration::from_millis(30));
        for i in 0..5 {
            sim.send_local("client", Message::json("PING", &i));
            sim.step_until_local_message("client").unwrap();
        }
        trace_lines(&sim)
    };
    let first = run(7);
    assert!(first.len() > 20);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8), "another seed, another run");
}

#[test]
fn incoming_drops_and_disabled_links_act_per_direction() {
    let mut sim = Simulation::new();
    basic(&mut sim);
    assert_eq!(sim.process_names(), ["client", "server"]);
    sim.drop_incoming("server-node", true);
    sim.send_local("client", ping());
    assert_eq!(
        sim.step_until_local_message("client"),
        Err(StepError::NoEvents)
    );
    assert_eq!(sim.received_message_count("server"), 0);
    sim.drop_incoming("server-node", false);
    // Only the answer's direction is disabled: the PING gets through.
    sim.disable_link("server-node", "client-node");
    sim.send_local("client", ping());
    assert_eq!(
        sim.step_until_local_message("client"),
        Err(StepError::NoEvents)
    );
    assert_eq!(sim.received_message_count("server"), 1);
    sim.enable_link("server-node", "client-node");
    sim.send_local("client", ping());
    assert_eq!(sim.step_until_local_message("client").unwrap().len(), 1);
}

#[test]
#[should_panic(expected = "process `client` panicked while handling local message PING")]
fn a_panic_in_a_local_message_handler_names_the_process() {
    let mut sim = Simulation::new();
    sim.add_process("client", "client-node", Server::default());
    // `Server` does not take local messages.
    sim.send_local("client", ping());
}

/// A monitor that lets everything pass: installing it makes the network
/// read every message's bytes.
struct PassThrough;

impl bach::net::monitor::Monitor for PassThrough {}

#[test]
fn messages_run_the_same_whether_or_not_their_bytes_are_read() {
    // A message travels as itself unless something reads its bytes (a
    // monitor, a capture); either way the run must be the same.
    let dir = std::env::temp_dir().join(format!("bach-process-bytes-{}", std::process::id()));
    let run = |seed: u64, variant: &str| {
        let mut sim = Simulation::new()
            .seed(seed)
            .record_trace(true)
            .trace_capacity(usize::MAX)
            .record_packets(true);
        if variant == "capture" {
            sim = sim.pcap_dir(&dir);
        } else {
            sim = sim.no_pcap();
        }
        if variant == "monitor" {
            sim.monitor(PassThrough);
        }
        sim.add_process("server", "server-node", Server::default());
        sim.add_process(
            "client",
            "client-node",
            RetryClient::new("server", Duration::from_millis(20), true),
        );
        sim.set_drop_rate(0.2);
        sim.set_duplication_rate(0.2);
        sim.set_corruption_rate(0.2);
        sim.set_delays(Duration::from_millis(1), Duration::from_millis(30));
        let mut replies = Vec::new();
        for i in 0..5 {
            sim.send_local("client", Message::json("PING", &i));
            replies.extend(sim.step_until_local_message("client").unwrap());
        }
        let log: Vec<String> = sim.packet_log().iter().map(|e| format!("{e:?}")).collect();
        let stats = sim.net_stats();
        (
            trace_lines(&sim),
            log,
            replies,
            format!("{stats:?}"),
            sim.elapsed(),
        )
    };
    for seed in 0..10 {
        let plain = run(seed, "plain");
        assert!(plain.1.len() >= 10, "seed {seed}: packets were logged");
        assert_eq!(plain, run(seed, "monitor"), "seed {seed}: with a monitor");
        assert_eq!(plain, run(seed, "capture"), "seed {seed}: with a capture");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Relays each message it gets to every other process while hops remain
/// (a fan-out: several arrivals at one instant), and sends one on a timer
/// of its own: arrivals and timers interleave.
struct Relay {
    peers: Vec<String>,
    ticks: u32,
    heard: Vec<String>,
}

impl bach::process::Process for Relay {
    fn on_start(&mut self, ctx: &mut bach::process::Context) {
        ctx.set_timer("tick", Duration::from_micros(700));
    }

    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut bach::process::Context) {
        self.heard
            .push(format!("{} {from} {}", ctx.time(), msg.data()));
        let hops: u32 = msg.data().parse().expect("a hop count");
        if hops > 0 {
            let me = ctx.name().to_string();
            for peer in self.peers.iter().filter(|peer| **peer != me) {
                ctx.send(Message::new("HOP", (hops - 1).to_string()), peer);
            }
        }
    }

    fn on_timer(&mut self, name: &str, ctx: &mut bach::process::Context) {
        self.heard.push(format!("{} timer {name}", ctx.time()));
        self.ticks += 1;
        if self.ticks < 20 {
            ctx.set_timer("tick", Duration::from_micros(700));
        }
        let next = &self.peers[self.ticks as usize % self.peers.len()];
        if next != ctx.name() {
            ctx.send(Message::new("HOP", "1"), next);
        }
    }
}

#[test]
fn a_quiet_network_runs_the_same_whether_or_not_anything_watches() {
    // With nothing watching (no monitor, capture or trace) a message over a
    // quiet network skips the checks it cannot fail; watched, it takes
    // every one. Either way the run must be the same, also once a crash
    // brings the checks back.
    let dir = std::env::temp_dir().join(format!("bach-process-quiet-{}", std::process::id()));
    let names: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
    let run = |variant: &str| {
        let mut sim = Simulation::new().seed(7);
        sim = match variant {
            "capture" => sim.pcap_dir(&dir),
            _ => sim.no_pcap(),
        };
        if variant == "traced" {
            sim = sim.record_trace(true).record_packets(true);
        }
        if variant == "monitor" {
            sim.monitor(PassThrough);
        }
        sim.set_delay(Duration::from_millis(1));
        for (i, name) in names.iter().enumerate() {
            let relay = Relay {
                peers: names.clone(),
                ticks: 0,
                heard: Vec::new(),
            };
            sim.add_process(name, &format!("node{i}"), relay);
        }
        sim.run_for(Duration::from_millis(8));
        sim.crash_node("node3");
        sim.run_for(Duration::from_millis(30));
        let mut seen = Vec::new();
        for name in &names[..3] {
            let heard = sim
                .process::<Relay>(name)
                .expect("a running relay")
                .heard
                .clone();
            seen.push(heard);
            seen.push(vec![format!(
                "sent {} received {}",
                sim.sent_message_count(name),
                sim.received_message_count(name)
            )]);
        }
        let nodes: Vec<String> = (0..4)
            .map(|i| format!("{:?}", sim.node_stats(&format!("node{i}"))))
            .collect();
        (
            seen,
            nodes,
            format!("{:?}", sim.net_stats()),
            sim.network_message_count(),
            sim.traffic(),
            sim.elapsed(),
        )
    };
    let plain = run("plain");
    let heard: usize = plain.0.iter().map(Vec::len).sum();
    assert!(heard > 150, "the relays were busy: {heard}");
    assert!(plain.2.contains("dropped"), "{}", plain.2);
    for variant in ["monitor", "capture", "traced"] {
        assert_eq!(plain, run(variant), "{variant}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
