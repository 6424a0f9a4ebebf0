//! The README example as a program: two clients send "ping" to
//! `server:8080` over simulated UDP, the server answers "pong".
//!
//! It writes a pcapng capture (to `$BACH_PCAP_DIR`, or `target/bach/pcaps/`)
//! and prints who sent what, when each datagram arrived, and where the
//! capture is:
//!
//! ```text
//! cargo run --example ping_pong
//! wireshark target/bach/pcaps/ping_pong.seed0.pcapng
//! ```

use bach::{
    ext::*,
    net::{PacketFate, UdpSocket},
    Simulation,
};
use std::path::PathBuf;

fn main() {
    let dir = std::env::var_os("BACH_PCAP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bach/pcaps"));
    let mut sim = Simulation::new().pcap_dir(&dir).record_packets(true);

    sim.run(|| {
        for i in 0..2 {
            async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                socket.send_to(b"ping", "server:8080").await.unwrap();
                let mut data = [0; 4];
                let (len, _) = socket.recv_from(&mut data).await.unwrap();
                assert_eq!(&data[..len], b"pong");
            }
            .group(format!("client_{i}"))
            .primary()
            .spawn();
        }

        async {
            let socket = UdpSocket::bind("server:8080").await.unwrap();
            loop {
                let mut data = [0; 4];
                let (len, addr) = socket.recv_from(&mut data).await.unwrap();
                assert_eq!(&data[..len], b"ping");
                socket.send_to(b"pong", addr).await.unwrap();
            }
        }
        .group("server")
        .spawn();
    });

    for event in sim.packet_log() {
        let what = match event.fate {
            PacketFate::Sent => "sent",
            PacketFate::Delivered => "delivered",
            PacketFate::Dropped(_) => "dropped",
        };
        let time = format!("{:#}", event.time);
        println!(
            "{time:>6} s  {what:<9}  {} ({}) -> {} ({})  {} bytes",
            event.from, event.src, event.to, event.dst, event.len
        );
    }
    let stats = sim.net_stats();
    println!(
        "{} sent, {} delivered, {} dropped; finished at {:#} s",
        stats.sent,
        stats.delivered,
        stats.dropped.total(),
        sim.now()
    );
    let capture = sim.pcap_path().expect("packets were captured");
    drop(sim); // flushes and closes the capture
    println!("capture: {}", capture.display());
}
