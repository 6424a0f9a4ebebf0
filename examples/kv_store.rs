//! Three key-value replicas and a client over simulated UDP, with a fault
//! script that crashes one replica mid-run and restarts it.
//!
//! The client writes to every replica and waits for a majority of
//! acknowledgements (retrying on timeout); reads ask every replica and take
//! the newest version among a majority of answers. Replicas keep their data
//! in memory, so the crashed one comes back empty — and the majority rule
//! keeps every read correct anyway.
//!
//! ```text
//! cargo run --example kv_store
//! BACH_TRACE=1 cargo run --example kv_store     # every event, live
//! ```
//!
//! It prints the trace around the crash, the outcome of every read, and
//! where the capture was written.

use bach::{
    ext::*,
    net::UdpSocket,
    node,
    time::timeout,
    trace::{self, EventKind},
    Simulation,
};
use std::{cell::RefCell, collections::BTreeMap, path::PathBuf, rc::Rc, time::Duration};

const REPLICAS: [&str; 3] = ["replica0", "replica1", "replica2"];
const PORT: u16 = 4000;
const KEYS: u32 = 12;

/// A replica: `PUT key version value` → `ACK id`, `GET key` → `VAL id version value`.
async fn replica() {
    let socket = UdpSocket::bind(("0.0.0.0", PORT))
        .await
        .expect("bind the replica port");
    let mut store: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut buf = [0u8; 512];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.expect("receive");
        let text = String::from_utf8_lossy(&buf[..len]).to_string();
        let words: Vec<&str> = text.split(' ').collect();
        let reply = match words.as_slice() {
            ["PUT", id, key, version, value] => {
                let version: u64 = version.parse().unwrap_or(0);
                let entry = store.entry(key.to_string()).or_insert((0, String::new()));
                if version >= entry.0 {
                    *entry = (version, value.to_string());
                }
                format!("ACK {id}")
            }
            ["GET", id, key] => match store.get(*key) {
                Some((version, value)) => format!("VAL {id} {version} {value}"),
                None => format!("VAL {id} 0 -"),
            },
            _ => continue,
        };
        socket.send_to(reply.as_bytes(), from).await.expect("reply");
    }
}

/// Sends `request` (with its id) to every replica until a majority answers;
/// returns the answers.
async fn quorum(socket: &UdpSocket, id: u64, request: &str) -> Vec<String> {
    let majority = REPLICAS.len() / 2 + 1;
    let mut answers: BTreeMap<std::net::SocketAddr, String> = BTreeMap::new();
    let mut buf = [0u8; 512];
    loop {
        for replica in REPLICAS {
            socket
                .send_to(request.as_bytes(), (replica, PORT))
                .await
                .expect("send to a replica");
        }
        let deadline = bach::time::Instant::now() + Duration::from_millis(20);
        while answers.len() < majority {
            let left = deadline.saturating_duration_since(bach::time::Instant::now());
            let Ok(received) = timeout(left, socket.recv_from(&mut buf)).await else {
                break; // retry the round
            };
            let (len, from) = received.expect("receive");
            let text = String::from_utf8_lossy(&buf[..len]).to_string();
            if text.split(' ').nth(1) == Some(&id.to_string()) {
                answers.insert(from, text);
            }
        }
        if answers.len() >= majority {
            return answers.into_values().collect();
        }
        trace::note(format!("client: request {id} timed out, retrying"));
    }
}

fn main() {
    let dir = std::env::var_os("BACH_PCAP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bach/pcaps"));
    let mut sim = Simulation::new().seed(7).pcap_dir(&dir).record_trace(true);
    let reads = Rc::new(RefCell::new(Vec::new()));
    let r = reads.clone();

    sim.run(|| {
        for name in REPLICAS {
            node::host(name, replica);
        }
        // A slower, lossy path to one replica: retries show up in the trace.
        drop(bach::group::Group::new("client"));
        bach::net::link("client", "replica1")
            .latency(Duration::from_millis(3))
            .loss_probability(0.1);

        // The fault script.
        async {
            Duration::from_millis(55).sleep().await;
            trace::note("fault script: crash replica2");
            node::crash("replica2");
            Duration::from_millis(60).sleep().await;
            trace::note("fault script: restart replica2");
            node::restart("replica2");
        }
        .spawn_named("fault-script");

        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind the client");
            let mut id = 0;
            for key in 0..KEYS {
                id += 1;
                let request = format!("PUT {id} k{key} {} v{key}", key + 1);
                quorum(&socket, id, &request).await;
                Duration::from_millis(10).sleep().await;
            }
            for key in 0..KEYS {
                id += 1;
                let answers = quorum(&socket, id, &format!("GET {id} k{key}")).await;
                let newest = answers
                    .iter()
                    .filter_map(|a| {
                        let parts: Vec<&str> = a.split(' ').collect();
                        Some((
                            parts.get(2)?.parse::<u64>().ok()?,
                            parts.get(3)?.to_string(),
                        ))
                    })
                    .max()
                    .map(|(_, value)| value)
                    .unwrap_or_default();
                r.borrow_mut().push((key, newest));
            }
        }
        .group("client")
        .primary()
        .spawn_named("client");
    });

    // The trace around each node crash and restart: a few ms either side.
    let events = sim.trace();
    let faults: Vec<Duration> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::NodeCrashed | EventKind::NodeRestarted))
        .map(|e| e.time.elapsed_since_start())
        .collect();
    for at in faults {
        println!(
            "== trace around {:#} ==",
            bach::time::Instant::from_duration(at)
        );
        for event in &events {
            let t = event.time.elapsed_since_start();
            let shown = !matches!(
                event.kind,
                EventKind::TimerSet { .. } | EventKind::TimerFired | EventKind::TimerCancelled
            );
            if shown && t + Duration::from_millis(2) >= at && t <= at + Duration::from_millis(8) {
                trace::write_console(std::io::stdout().lock(), event).expect("write to stdout");
            }
        }
    }
    println!("== reads after the crash and restart ==");
    let mut all_correct = true;
    for (key, value) in reads.borrow().iter() {
        let correct = *value == format!("v{key}");
        all_correct &= correct;
        println!(
            "k{key} = {value}{}",
            if correct { "" } else { "   <-- WRONG" }
        );
    }
    let stats = sim.net_stats();
    println!(
        "== {} datagrams sent, {} delivered, {} dropped; finished at {:#}",
        stats.sent,
        stats.delivered,
        stats.dropped.total(),
        sim.now()
    );
    if let Some(path) = sim.pcap_path() {
        println!("capture: {}", path.display());
    }
    assert!(all_correct, "a read returned a wrong value");
}
