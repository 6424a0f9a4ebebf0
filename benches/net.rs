//! Simulated UDP workloads, side by side with the published `bach` 0.2:
//!
//! * `udp_stream`: a client sends 8-byte datagrams to `server:1337`, one
//!   every 2 ms; the server receives them (time per datagram). Also run
//!   with pcapng capture on (`bach+pcap`), to price capture.
//! * `udp_pingpong`: sequential round trips between a client and an echo
//!   server (time per round trip).
//! * `mesh`: K nodes each send one 8-byte datagram to every other node per
//!   round, then receive the K-1 sent to them; K = 10, 100, 1000, with
//!   about a million messages per iteration (time per message).
//!
//! Every link has the default 1 ms latency in both crates.
//! `cargo bench --bench net` prints both crates' figures in one group per
//! workload; `Throughput::Elements` makes criterion show the per-item rate.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::{net::SocketAddr, path::PathBuf, rc::Rc, time::Duration};

const STREAM: u64 = 100_000;
const ROUND_TRIPS: u64 = 100_000;
const MESH_MESSAGES: u64 = 1_000_000;
const PACING: Duration = Duration::from_millis(2);

fn stream_ours(pcap: Option<&PathBuf>, trace: bool) {
    use bach::{ext::*, net::UdpSocket};
    let mut sim = bach::Simulation::new().no_pcap().record_trace(trace);
    if let Some(dir) = pcap {
        sim = sim.pcap_dir(dir);
    }
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("server:1337").await.unwrap();
            let mut buf = [0; 8];
            loop {
                socket.recv_from(&mut buf).await.unwrap();
            }
        }
        .group("server")
        .spawn();
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            for i in 0..STREAM {
                socket
                    .send_to(&i.to_le_bytes(), "server:1337")
                    .await
                    .unwrap();
                PACING.sleep().await;
            }
        }
        .group("client")
        .primary()
        .spawn();
    });
    if let Some(path) = sim.pcap_path() {
        drop(sim);
        let _ = std::fs::remove_file(path);
    }
}

fn stream_02() {
    use bach02::{ext::*, net::UdpSocket};
    bach02::sim(|| {
        async {
            let socket = UdpSocket::bind("server:1337").await.unwrap();
            let mut buf = [0; 8];
            loop {
                socket.recv_from(&mut buf).await.unwrap();
            }
        }
        .group("server")
        .spawn();
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            for i in 0..STREAM {
                socket
                    .send_to(&i.to_le_bytes(), "server:1337")
                    .await
                    .unwrap();
                bach02::time::sleep(PACING).await;
            }
        }
        .group("client")
        .primary()
        .spawn();
    });
}

fn udp_stream(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-pcaps");
    let mut group = c.benchmark_group("udp_stream");
    group.throughput(Throughput::Elements(STREAM));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("bach", STREAM), |b| {
        b.iter(|| stream_ours(None, false))
    });
    group.bench_function(BenchmarkId::new("bach+pcap", STREAM), |b| {
        b.iter(|| stream_ours(Some(&dir), false))
    });
    // Trace recording on (every timer, packet and task event in the ring).
    group.bench_function(BenchmarkId::new("bach+trace", STREAM), |b| {
        b.iter(|| stream_ours(None, true))
    });
    group.bench_function(BenchmarkId::new("bach-0.2", STREAM), |b| b.iter(stream_02));
    group.finish();
}

fn udp_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("udp_pingpong");
    group.throughput(Throughput::Elements(ROUND_TRIPS));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("bach", ROUND_TRIPS), |b| {
        use bach::{ext::*, net::UdpSocket};
        b.iter(|| {
            bach::Simulation::new().no_pcap().run(|| {
                async {
                    let socket = UdpSocket::bind("server:7").await.unwrap();
                    let mut buf = [0; 8];
                    loop {
                        let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                        socket.send_to(&buf[..len], from).await.unwrap();
                    }
                }
                .group("server")
                .spawn();
                async {
                    let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                    let server = bach::net::try_lookup("server:7").unwrap();
                    let mut buf = [0; 8];
                    for i in 0..ROUND_TRIPS {
                        socket.send_to(&i.to_le_bytes(), server).await.unwrap();
                        socket.recv_from(&mut buf).await.unwrap();
                    }
                }
                .group("client")
                .primary()
                .spawn();
            })
        })
    });
    group.bench_function(BenchmarkId::new("bach-0.2", ROUND_TRIPS), |b| {
        use bach02::{ext::*, net::UdpSocket};
        b.iter(|| {
            bach02::sim(|| {
                async {
                    let socket = UdpSocket::bind("server:7").await.unwrap();
                    let mut buf = [0; 8];
                    loop {
                        let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                        socket.send_to(&buf[..len], from).await.unwrap();
                    }
                }
                .group("server")
                .spawn();
                async {
                    let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                    let server = bach02::net::try_lookup("server:7").unwrap();
                    let mut buf = [0; 8];
                    for i in 0..ROUND_TRIPS {
                        socket.send_to(&i.to_le_bytes(), server).await.unwrap();
                        socket.recv_from(&mut buf).await.unwrap();
                    }
                }
                .group("client")
                .primary()
                .spawn();
            })
        })
    });
    group.finish();
}

/// Rounds so that an iteration carries about `MESH_MESSAGES` messages.
fn mesh_rounds(k: u64) -> u64 {
    MESH_MESSAGES.div_ceil(k * (k - 1))
}

fn mesh_ours(k: u64) {
    use bach::{ext::*, net::UdpSocket};
    let rounds = mesh_rounds(k);
    bach::Simulation::new().no_pcap().run(|| {
        let names: Vec<String> = (0..k).map(|i| format!("n{i}")).collect();
        let nodes: Vec<_> = names.iter().map(|name| async {}.group(name)).collect();
        drop(nodes);
        let peers: Rc<Vec<SocketAddr>> = Rc::new(
            names
                .iter()
                .map(|name| bach::net::try_lookup((name.as_str(), 1000)).unwrap())
                .collect(),
        );
        for (i, name) in names.iter().enumerate() {
            let peers = peers.clone();
            async move {
                let socket = UdpSocket::bind("0.0.0.0:1000").await.unwrap();
                let mut buf = [0; 8];
                for round in 0..rounds {
                    for (j, peer) in peers.iter().enumerate() {
                        if j != i {
                            socket.send_to(&round.to_le_bytes(), peer).await.unwrap();
                        }
                    }
                    for _ in 1..peers.len() {
                        socket.recv_from(&mut buf).await.unwrap();
                    }
                }
            }
            .group(name)
            .primary()
            .spawn();
        }
    });
}

fn mesh_02(k: u64) {
    use bach02::{ext::*, net::UdpSocket};
    let rounds = mesh_rounds(k);
    bach02::sim(|| {
        let names: Rc<Vec<String>> = Rc::new((0..k).map(|i| format!("n{i}")).collect());
        for i in 0..names.len() {
            let name = names[i].clone();
            let names = names.clone();
            async move {
                let socket = UdpSocket::bind("0.0.0.0:1000").await.unwrap();
                // Names resolve once every node has bound; look up after a tick.
                bach02::time::sleep(Duration::from_micros(1)).await;
                let peers: Vec<SocketAddr> = names
                    .iter()
                    .map(|name| bach02::net::try_lookup((name.as_str(), 1000)).unwrap())
                    .collect();
                let mut buf = [0; 8];
                for round in 0..rounds {
                    for (j, peer) in peers.iter().enumerate() {
                        if j != i {
                            socket.send_to(&round.to_le_bytes(), peer).await.unwrap();
                        }
                    }
                    for _ in 1..peers.len() {
                        socket.recv_from(&mut buf).await.unwrap();
                    }
                }
            }
            .group(name)
            .primary()
            .spawn();
        }
    });
}

fn mesh(c: &mut Criterion) {
    let mut group = c.benchmark_group("mesh");
    group.sample_size(10);
    for k in [10u64, 100, 1000] {
        let messages = mesh_rounds(k) * k * (k - 1);
        group.throughput(Throughput::Elements(messages));
        group.bench_function(BenchmarkId::new("bach", k), |b| b.iter(|| mesh_ours(k)));
        group.bench_function(BenchmarkId::new("bach-0.2", k), |b| b.iter(|| mesh_02(k)));
    }
    group.finish();
}

criterion_group!(benches, udp_stream, udp_pingpong, mesh);

#[path = "common/count.rs"]
mod count;

fn main() {
    if count::run(&[
        ("udp_stream", &|| stream_ours(None, false)),
        ("mesh_10", &|| mesh_ours(10)),
    ]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
