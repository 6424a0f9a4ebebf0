//! bach's bench workloads on turmoil 0.7 and madsim 0.2, so that one table
//! can show every simulator on the same work. Group names and sizes match
//! bach's own benches (`benches/runtime.rs`, `benches/net.rs`):
//!
//! * `spawn`: 100k tasks spawned and completed (time per task). bach runs
//!   spawned tasks to completion by itself; here the spawning task joins
//!   them, which both peers need to wait for them.
//! * `sleep`: one task sleeping 1 ms, 1M times in sequence (time per sleep).
//! * `udp_stream`: a client sends 8-byte datagrams to `server:1337`, one
//!   every 2 ms, 100k in all (time per datagram).
//! * `udp_pingpong`: 100k sequential round trips with an echo server (time
//!   per round trip).
//! * `fs_write_sync` (turmoil only, its `unstable-fs` simulated file
//!   system; as `benches/fs.rs`): 1000 rounds of a 4 KiB `write_all` and
//!   `sync_data` on one file of a host, in one simulation, the file a ring
//!   of 64 blocks (a seek to the start every 64 rounds); time per round.
//!   madsim 0.2's `fs` is left out: it has positional writes only and no
//!   durability model (its `sync_all` does nothing, `power_fail` is a
//!   to-do), so the same loop would measure different work.
//!
//! Every link has a fixed 1 ms latency, as bach's default link. turmoil
//! advances in fixed 1 ms ticks (its default), so idle time costs it a step
//! per tick; madsim and bach jump to the next event.
//!
//! madsim simulates only under `--cfg madsim`: `benches/table.sh` builds
//! this crate with `RUSTFLAGS="--cfg madsim"`; without it, only turmoil's
//! benches run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

const SPAWN_TASKS: u64 = 100_000;
const SLEEPS: u64 = 1_000_000;
const STREAM: u64 = 100_000;
const ROUND_TRIPS: u64 = 100_000;
const PACING: Duration = Duration::from_millis(2);
const LATENCY: Duration = Duration::from_millis(1);
const FS_BLOCK: usize = 4096;
const FS_ROUNDS: u64 = 1000;
const FS_RING: u64 = 64;

mod turmoil_workloads {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use turmoil::net::UdpSocket;

    fn builder(simulated: Duration) -> turmoil::Builder {
        let mut builder = turmoil::Builder::new();
        builder
            .simulation_duration(simulated)
            .min_message_latency(LATENCY)
            .max_message_latency(LATENCY);
        builder
    }

    pub fn spawn() {
        let mut sim = builder(Duration::from_secs(60)).build();
        sim.client("main", async {
            let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| tokio::spawn(async {})).collect();
            for handle in handles {
                handle.await?;
            }
            Ok(())
        });
        sim.run().unwrap();
    }

    pub fn sleep() {
        let simulated = LATENCY * u32::try_from(SLEEPS).unwrap() * 2;
        let mut sim = builder(simulated).build();
        sim.client("main", async {
            for _ in 0..SLEEPS {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        });
        sim.run().unwrap();
    }

    fn echo_server(sim: &mut turmoil::Sim<'_>, port: u16, echo: bool) {
        sim.host("server", move || async move {
            let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
            let mut buf = [0; 8];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await?;
                if echo {
                    socket.send_to(&buf[..len], from).await?;
                }
            }
        });
    }

    pub fn udp_stream() {
        let simulated = PACING * u32::try_from(STREAM).unwrap() * 2;
        let mut sim = builder(simulated).build();
        echo_server(&mut sim, 1337, false);
        sim.client("client", async {
            let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
            let server = (turmoil::lookup("server"), 1337);
            for i in 0..STREAM {
                socket.send_to(&i.to_le_bytes(), server).await?;
                tokio::time::sleep(PACING).await;
            }
            Ok(())
        });
        sim.run().unwrap();
    }

    pub fn udp_pingpong() {
        let simulated = LATENCY * u32::try_from(ROUND_TRIPS).unwrap() * 4;
        let mut sim = builder(simulated).build();
        echo_server(&mut sim, 7, true);
        sim.client("client", async {
            let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
            let server = (turmoil::lookup("server"), 7);
            let mut buf = [0; 8];
            for i in 0..ROUND_TRIPS {
                socket.send_to(&i.to_le_bytes(), server).await?;
                socket.recv_from(&mut buf).await?;
            }
            Ok(())
        });
        sim.run().unwrap();
    }

    pub fn fs_write_sync() {
        use std::io::SeekFrom;
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        use turmoil::fs::shim::tokio::fs::File;
        let mut sim = builder(Duration::from_secs(60)).build();
        sim.client("db", async {
            let mut file = File::create("/log").await?;
            let block = [7u8; FS_BLOCK];
            for round in 0..FS_ROUNDS {
                if round % FS_RING == 0 {
                    file.seek(SeekFrom::Start(0)).await?;
                }
                file.write_all(&block).await?;
                file.sync_data().await?;
            }
            Ok(())
        });
        sim.run().unwrap();
    }
}

#[cfg(madsim)]
mod madsim_workloads {
    use super::*;
    use madsim::{net::UdpSocket, runtime::Runtime};
    use std::net::SocketAddr;

    fn runtime() -> Runtime {
        let mut config = madsim::Config::default();
        // madsim samples latency from a half-open range.
        config.net.send_latency = LATENCY..LATENCY + Duration::from_nanos(1);
        Runtime::with_seed_and_config(1, config)
    }

    pub fn spawn() {
        runtime().block_on(async {
            let handles: Vec<_> = (0..SPAWN_TASKS)
                .map(|_| madsim::task::spawn(async {}))
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        });
    }

    pub fn sleep() {
        runtime().block_on(async {
            for _ in 0..SLEEPS {
                madsim::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }

    /// Runs `client` on node `client` against a server on node `server`
    /// (10.0.0.1) that receives on `port` and, with `echo`, answers.
    fn client_server<F>(port: u16, echo: bool, client: impl FnOnce(SocketAddr) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let server_addr: SocketAddr = ([10, 0, 0, 1], port).into();
        let rt = runtime();
        let server = rt.create_node().name("server").ip(server_addr.ip()).build();
        let client_node = rt
            .create_node()
            .name("client")
            .ip([10, 0, 0, 2].into())
            .build();
        let client = client(server_addr);
        rt.block_on(async move {
            server.spawn(async move {
                let socket = UdpSocket::bind(server_addr).await.unwrap();
                let mut buf = [0; 8];
                loop {
                    let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                    if echo {
                        socket.send_to(from, &buf[..len]).await.unwrap();
                    }
                }
            });
            client_node.spawn(client).await.unwrap();
        });
    }

    pub fn udp_stream() {
        client_server(1337, false, |server| async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            for i in 0..STREAM {
                socket.send_to(server, &i.to_le_bytes()).await.unwrap();
                madsim::time::sleep(PACING).await;
            }
        });
    }

    pub fn udp_pingpong() {
        client_server(7, true, |server| async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let mut buf = [0; 8];
            for i in 0..ROUND_TRIPS {
                socket.send_to(server, &i.to_le_bytes()).await.unwrap();
                socket.recv_from(&mut buf).await.unwrap();
            }
        });
    }
}

/// Adds `tool`'s run of a workload to the criterion group named `workload`.
fn bench(c: &mut Criterion, workload: &str, size: u64, tool: &str, run: fn()) {
    let mut group = c.benchmark_group(workload);
    group.throughput(Throughput::Elements(size));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new(tool, size), |b| b.iter(run));
    group.finish();
}

fn turmoil(c: &mut Criterion) {
    use turmoil_workloads as t;
    bench(c, "spawn", SPAWN_TASKS, "turmoil", t::spawn);
    bench(c, "sleep", SLEEPS, "turmoil", t::sleep);
    bench(c, "udp_stream", STREAM, "turmoil", t::udp_stream);
    bench(c, "udp_pingpong", ROUND_TRIPS, "turmoil", t::udp_pingpong);
    bench(c, "fs_write_sync", FS_ROUNDS, "turmoil", t::fs_write_sync);
}

#[cfg(madsim)]
fn madsim(c: &mut Criterion) {
    use madsim_workloads as m;
    bench(c, "spawn", SPAWN_TASKS, "madsim", m::spawn);
    bench(c, "sleep", SLEEPS, "madsim", m::sleep);
    bench(c, "udp_stream", STREAM, "madsim", m::udp_stream);
    bench(c, "udp_pingpong", ROUND_TRIPS, "madsim", m::udp_pingpong);
}

#[cfg(not(madsim))]
fn madsim(_: &mut Criterion) {
    eprintln!("madsim skipped: build with RUSTFLAGS=\"--cfg madsim\" (benches/table.sh does)");
}

criterion_group!(benches, turmoil, madsim);
criterion_main!(benches);
