//! The event trace: what is recorded, how it prints, bounded memory, and
//! the determinism self-check.

use bach::{
    ext::*,
    net::UdpSocket,
    trace::{self, Event, EventKind},
    Simulation,
};
use std::{cell::RefCell, collections::HashMap, panic, rc::Rc};

fn two_node_ping(sim: &mut Simulation) {
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("server:8080").await.unwrap();
            let mut buf = [0u8; 4];
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(&buf[..len], from).await.unwrap();
        }
        .group("server")
        .spawn_named("echo");
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"ping", "server:8080").await.unwrap();
            let mut buf = [0u8; 4];
            socket.recv_from(&mut buf).await.unwrap();
        }
        .group("client")
        .primary()
        .spawn_named("pinger");
    });
}

fn console(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut line = Vec::new();
            trace::write_console(&mut line, e).unwrap();
            String::from_utf8(line).unwrap().trim_end().to_string()
        })
        .collect()
}

#[test]
fn two_node_ping_traces_exactly_these_events() {
    let mut sim = Simulation::new().record_trace(true);
    two_node_ping(&mut sim);
    let lines = console(&sim.trace());
    assert_eq!(lines, EXPECTED_PING, "\nactual:\n{}", lines.join("\n"));
}

/// Server first (so it is 10.0.0.2 and has bound before the ping lands),
/// then the client; 1 ms per hop on the default link.
const EXPECTED_PING: &[&str] = &[
    "   0.000000000  server    ++ spawned [echo#0]",
    "   0.000000000  client    ++ spawned [pinger#1]",
    "   0.000000000  client   --> server    UDP 10.0.0.3:49152 > 10.0.0.2:8080 4B",
    "   0.001000000  server   <-- client    UDP 10.0.0.3:49152 > 10.0.0.2:8080 4B delivered",
    "   0.001000000  server   --> client    UDP 10.0.0.2:8080 > 10.0.0.3:49152 4B",
    "   0.001000000  server    -- completed [echo#0]",
    "   0.002000000  client   <-- server    UDP 10.0.0.2:8080 > 10.0.0.3:49152 4B delivered",
    "   0.002000000  client    -- completed [pinger#1]",
];

#[test]
fn recording_is_off_by_default_and_changes_nothing() {
    let mut plain = Simulation::new();
    two_node_ping(&mut plain);
    assert!(plain.trace().is_empty());
    let mut traced = Simulation::new().record_trace(true);
    two_node_ping(&mut traced);
    assert_eq!(plain.elapsed(), traced.elapsed());
    assert_eq!(plain.net_stats(), traced.net_stats());
}

#[test]
fn json_lines_carry_every_field() {
    let mut sim = Simulation::new().record_trace(true);
    two_node_ping(&mut sim);
    let events = sim.trace();
    let mut out = Vec::new();
    for event in &events {
        trace::write_json(&mut out, event).unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), events.len());
    let sent = lines.iter().find(|l| l["event"] == "packet_sent").unwrap();
    assert_eq!(sent["from"], "client");
    assert_eq!(sent["to"], "server");
    assert_eq!(sent["len"], 4);
    assert_eq!(sent["time_ns"], 0);
    assert_eq!(sent["task_name"], "pinger");
    let delivered = lines
        .iter()
        .find(|l| l["event"] == "packet_delivered")
        .unwrap();
    assert_eq!(delivered["time_ns"], 1_000_000);
}

#[test]
fn the_ring_buffer_keeps_memory_flat() {
    let mut sim = Simulation::new().record_trace(true).trace_capacity(1_000);
    sim.run(|| {
        async {
            for i in 0..100_000u32 {
                trace::note(i);
            }
        }
        .primary()
        .spawn();
    });
    let events = sim.trace();
    assert_eq!(events.len(), 1_000);
    assert_eq!(
        sim.trace_overwritten(),
        100_000 + 2 - 1_000,
        "notes plus spawn and completion"
    );
    assert_eq!(events.last().unwrap().kind, EventKind::TaskCompleted);
    assert_eq!(
        events[events.len() - 2].kind,
        EventKind::Note {
            message: "99999".into()
        }
    );
}

#[test]
fn bach_trace_env_writes_json_lines() {
    if let Ok(path) = std::env::var("BACH_TRACE_CHILD") {
        let mut sim = Simulation::new();
        two_node_ping(&mut sim);
        drop(sim);
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.lines().count() >= 4, "{text}");
        println!("CHILD-OK {}", text.lines().count());
        return;
    }
    let dir = std::env::temp_dir().join(format!("bach-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "bach_trace_env_writes_json_lines",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BACH_TRACE_CHILD", &path)
        .env("BACH_TRACE", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("CHILD-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn determinism_self_check_passes_a_deterministic_body() {
    Simulation::check_determinism(3, || {
        for i in 0..4u64 {
            async move {
                let delay = bach::rand::gen_range(1..50u64);
                (delay + i).ms().sleep().await;
                trace::note(format!("task {i} woke"));
            }
            .primary()
            .spawn();
        }
    });
}

#[test]
fn determinism_self_check_catches_hash_map_iteration_order() {
    let result = panic::catch_unwind(|| {
        Simulation::check_determinism(3, || {
            // Iteration order of a std HashMap differs between instances.
            let map: HashMap<u32, ()> = (0..32).map(|i| (i, ())).collect();
            let order: Vec<u32> = map.keys().copied().collect();
            for i in order {
                async move {
                    trace::note(format!("spawned {i}"));
                }
                .spawn();
            }
        });
    });
    let payload = result.expect_err("the check must fail");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("nondeterministic"), "{message}");
    assert!(message.contains("first difference at event #"), "{message}");
    assert!(message.contains("spawned"), "{message}");
}

#[test]
fn notes_and_faults_appear_in_order() {
    let mut sim = Simulation::new().record_trace(true);
    let seen = Rc::new(RefCell::new(0));
    let s = seen.clone();
    sim.run(move || {
        for node in ["a", "b"] {
            drop(bach::group::Group::new(node));
        }
        async move {
            trace::note("before");
            bach::net::partition(&["a"], &["b"]);
            1.ms().sleep().await;
            bach::net::heal();
            *s.borrow_mut() += 1;
        }
        .primary()
        .spawn();
    });
    let kinds: Vec<String> = sim
        .trace()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Note { message } => Some(format!("note {message}")),
            EventKind::Fault { description } => Some(format!("fault {description}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        ["note before", "fault partition [a] | [b]", "fault heal"]
    );
    assert_eq!(*seen.borrow(), 1);
}

#[test]
fn timers_and_node_lifecycle_are_traced() {
    let mut sim = Simulation::new().record_trace(true);
    sim.run(|| {
        bach::node::host("n", || async {
            5.ms().sleep().await;
        });
        async {
            drop(1.s().sleep()); // never polled: no timer was armed
            let mut cancelled = Box::pin(2.s().sleep());
            assert!(futures::poll!(cancelled.as_mut()).is_pending());
            drop(cancelled);
            1.ms().sleep().await;
            bach::node::crash("n");
            bach::node::restart("n");
        }
        .group("ops")
        .primary()
        .spawn_named("ops");
    });
    let lines = console(&sim.trace());
    let expected = [
        "   0.000000000  n         ++ spawned [n#0]",
        "   0.000000000  ops       ++ spawned [ops#1]",
        "   0.000000000  n         timer set, due at 0.005000000 [n#0]",
        "   0.000000000  ops       timer set, due at 2.000000000 [ops#1]",
        "   0.000000000  ops       timer cancelled [ops#1]",
        "   0.000000000  ops       timer set, due at 0.001000000 [ops#1]",
        "   0.001000000  ops       timer fired [ops#1]",
        "   0.001000000  n         ** crashed",
        "   0.001000000  n         -- cancelled [n#0]",
        "   0.001000000  n         timer cancelled [n#0]",
        "   0.001000000  n         ** restarted",
        "   0.001000000  n         ++ spawned [n#2]",
        "   0.001000000  ops       -- completed [ops#1]",
        // The rebooted software's first poll, at the same instant.
        "   0.001000000  n         timer set, due at 0.006000000 [n#2]",
    ];
    assert_eq!(lines, expected, "\nactual:\n{}", lines.join("\n"));
}

#[test]
fn bach_trace_1_prints_to_stderr_as_it_happens() {
    if std::env::var("BACH_TRACE_STDERR_CHILD").is_ok() {
        let mut sim = Simulation::new();
        two_node_ping(&mut sim);
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "bach_trace_1_prints_to_stderr_as_it_happens",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BACH_TRACE_STDERR_CHILD", "1")
        .env("BACH_TRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in EXPECTED_PING {
        assert!(stderr.contains(line), "missing `{line}` in:\n{stderr}");
    }
}
