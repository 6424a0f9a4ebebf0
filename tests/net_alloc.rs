//! Allocations per UDP packet in steady state, counted by a global
//! allocator: the budget is at most one per packet (DESIGN §7). A
//! `udp_stream`-like run — a client sending a datagram every 2 ms to
//! `server:1337` — is measured over a window after warm-up, with small
//! (inline) and larger (pooled) payloads, and with capture on.

use bach::{ext::*, net::UdpSocket, Simulation};
use bach_workspace::alloc_counter::{allocations, Counting};
use std::{cell::Cell, rc::Rc};

#[global_allocator]
static ALLOC: Counting = Counting;

const WARM_UP: u64 = 1_000;
const WINDOW: u64 = 10_000;

/// Allocations per packet over the steady window.
fn per_packet(payload_len: usize, sim: Simulation) -> f64 {
    let mut sim = sim;
    let measured = Rc::new(Cell::new(0u64));
    let out = measured.clone();
    sim.run(move || {
        async move {
            let socket = UdpSocket::bind("server:1337").await.unwrap();
            let mut buf = [0; 2048];
            loop {
                socket.recv_from(&mut buf).await.unwrap();
            }
        }
        .group("server")
        .spawn();
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let payload = vec![7u8; payload_len];
            let mut start = 0;
            for i in 0..WARM_UP + WINDOW {
                if i == WARM_UP {
                    start = allocations();
                }
                socket.send_to(&payload, "server:1337").await.unwrap();
                2.ms().sleep().await;
            }
            out.set(allocations() - start);
        }
        .group("client")
        .primary()
        .spawn();
    });
    let stats = sim.net_stats();
    assert_eq!(stats.delivered, WARM_UP + WINDOW);
    measured.get() as f64 / WINDOW as f64
}

#[test]
fn a_udp_packet_costs_at_most_one_allocation() {
    let small = per_packet(8, Simulation::new().no_pcap());
    let large = per_packet(1200, Simulation::new().no_pcap());
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alloc-pcaps");
    let captured = per_packet(8, Simulation::new().pcap_dir(&dir));
    println!("allocations per packet: 8 B {small}, 1200 B {large}, 8 B captured {captured}");
    assert!(small <= 1.0, "{small} allocations per 8-byte packet");
    assert!(large <= 1.0, "{large} allocations per 1200-byte packet");
    assert!(
        captured <= 1.0,
        "{captured} allocations per captured packet"
    );
}
