//! pcapng capture: what the file holds (interfaces per node, names, real
//! headers, simulated timestamps, fate comments), where it goes, and that
//! the same seed writes the same bytes.

use bach::{
    ext::*,
    net::{self, monitor, LinkConfig, UdpSocket},
    Simulation,
};
use pcap_file::pcapng::{
    blocks::{
        enhanced_packet::EnhancedPacketOption, interface_description::InterfaceDescriptionOption,
        name_resolution::Record,
    },
    Block, PcapNgReader,
};
use std::{path::PathBuf, sync::Mutex, time::Duration};

/// Serialises the tests that read or set `BACH_PCAP_DIR`.
static ENV: Mutex<()> = Mutex::new(());

fn dir(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("pcap-tests")
        .join(test)
}

/// A packet record, decoded.
#[derive(Debug)]
struct Packet {
    interface: String,
    time: Duration,
    outbound: bool,
    src: String,
    dst: String,
    payload: Vec<u8>,
    comment: Option<String>,
}

struct Capture {
    names: Vec<(String, String)>,
    packets: Vec<Packet>,
}

fn read(path: &std::path::Path) -> Capture {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
    let mut interfaces = Vec::new();
    let mut names = Vec::new();
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(idb) => {
                let name = idb.options.iter().find_map(|o| match o {
                    InterfaceDescriptionOption::IfName(name) => Some(name.to_string()),
                    _ => None,
                });
                interfaces.push(name.unwrap());
            }
            Block::NameResolution(nrb) => {
                for record in nrb.records {
                    if let Record::Ipv4(r) = record {
                        let ip = std::net::Ipv4Addr::new(
                            r.ip_addr[0],
                            r.ip_addr[1],
                            r.ip_addr[2],
                            r.ip_addr[3],
                        );
                        names.push((ip.to_string(), r.names[0].to_string()));
                    }
                }
            }
            Block::EnhancedPacket(epb) => {
                let data = &epb.data;
                let ip = |at: usize| {
                    format!(
                        "{}.{}.{}.{}",
                        data[at],
                        data[at + 1],
                        data[at + 2],
                        data[at + 3]
                    )
                };
                let port = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
                let mut outbound = false;
                let mut comment = None;
                for option in &epb.options {
                    match option {
                        EnhancedPacketOption::Flags(flags) => outbound = flags & 0b11 == 0b10,
                        EnhancedPacketOption::Comment(c) => comment = Some(c.to_string()),
                        _ => {}
                    }
                }
                packets.push(Packet {
                    interface: interfaces[epb.interface_id as usize].clone(),
                    time: epb.timestamp,
                    outbound,
                    src: format!("{}:{}", ip(12), port(20)),
                    dst: format!("{}:{}", ip(16), port(22)),
                    payload: data[28..].to_vec(),
                    comment,
                });
            }
            _ => {}
        }
    }
    Capture { names, packets }
}

fn ping_pong(sim: &mut Simulation) {
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
}

#[test]
fn a_capture_records_each_packet_leaving_and_arriving_with_node_names() {
    let dir = dir("records");
    let mut sim = Simulation::new().seed(0).pcap_dir(&dir);
    ping_pong(&mut sim);
    let path = sim.pcap_path().unwrap();
    assert_eq!(
        path,
        dir.join(
            "pcap__a_capture_records_each_packet_leaving_and_arriving_with_node_names.seed0.pcapng"
        )
    );
    // `run` flushed: the file is complete while the simulation lives.
    let capture = read(&path);
    assert_eq!(
        capture.names,
        [
            ("10.0.0.1".into(), "main".into()),
            ("10.0.0.2".into(), "client_0".into()),
            ("10.0.0.3".into(), "client_1".into()),
            ("10.0.0.4".into(), "server".into()),
        ]
    );
    let summary: Vec<(String, u128, bool, String, String, Vec<u8>)> = capture
        .packets
        .iter()
        .map(|p| {
            (
                p.interface.clone(),
                p.time.as_millis(),
                p.outbound,
                p.src.clone(),
                p.dst.clone(),
                p.payload.clone(),
            )
        })
        .collect();
    let row = |node: &str, ms, out, src: &str, dst: &str, payload: &[u8]| {
        (
            node.to_string(),
            ms,
            out,
            src.to_string(),
            dst.to_string(),
            payload.to_vec(),
        )
    };
    assert_eq!(
        summary,
        [
            row(
                "client_0",
                0,
                true,
                "10.0.0.2:49152",
                "10.0.0.4:8080",
                b"ping"
            ),
            row(
                "client_1",
                0,
                true,
                "10.0.0.3:49152",
                "10.0.0.4:8080",
                b"ping"
            ),
            // Both pings arrive at 1 ms before the server runs again.
            row(
                "server",
                1,
                false,
                "10.0.0.2:49152",
                "10.0.0.4:8080",
                b"ping"
            ),
            row(
                "server",
                1,
                false,
                "10.0.0.3:49152",
                "10.0.0.4:8080",
                b"ping"
            ),
            row(
                "server",
                1,
                true,
                "10.0.0.4:8080",
                "10.0.0.2:49152",
                b"pong"
            ),
            row(
                "server",
                1,
                true,
                "10.0.0.4:8080",
                "10.0.0.3:49152",
                b"pong"
            ),
            row(
                "client_0",
                2,
                false,
                "10.0.0.4:8080",
                "10.0.0.2:49152",
                b"pong"
            ),
            row(
                "client_1",
                2,
                false,
                "10.0.0.4:8080",
                "10.0.0.3:49152",
                b"pong"
            ),
        ]
    );
    assert!(capture.packets.iter().all(|p| p.comment.is_none()));
}

#[test]
fn every_non_plain_fate_has_a_comment() {
    let dir = dir("comments");
    let mut sim = Simulation::new().pcap_dir(&dir);
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("b:9").await.unwrap();
            let mut buf = [0; 8];
            loop {
                socket.recv_from(&mut buf).await.unwrap();
            }
        }
        .group("b")
        .spawn();
        async {}.group("a").spawn();
        net::link("a", "b").duplicate_probability(1.0);
        monitor::on_send(|p| match p.payload() {
            b"corrupt" => monitor::Verdict::Corrupt,
            b"drop" => monitor::Verdict::Drop,
            _ => monitor::Verdict::Pass,
        });
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"twice", "b:9").await.unwrap();
            socket.send_to(b"corrupt", "b:9").await.unwrap();
            socket.send_to(b"drop", "b:9").await.unwrap();
            socket.send_to(b"nobody", "b:10").await.unwrap();
            2.ms().sleep().await;
        }
        .group("a")
        .primary()
        .spawn();
    });
    drop(sim);
    let path = dir.join("pcap__every_non_plain_fate_has_a_comment.seed0.pcapng");
    let comments: Vec<(String, bool, Option<String>)> = read(&path)
        .packets
        .into_iter()
        .map(|p| {
            (
                String::from_utf8_lossy(&p.payload).into_owned(),
                p.outbound,
                p.comment,
            )
        })
        .collect();
    let find = |payload: &str, outbound: bool| -> Vec<Option<String>> {
        comments
            .iter()
            .filter(|(p, o, _)| p == payload && *o == outbound)
            .map(|(_, _, c)| c.clone())
            .collect()
    };
    assert_eq!(find("twice", true), [Some("duplicated".into())]);
    assert_eq!(find("twice", false), [None, Some("duplicate".into())]);
    assert_eq!(find("drop", true), [Some("dropped: monitor".into())]);
    assert_eq!(
        find("nobody", false),
        vec![Some("dropped: no-socket".to_string()); 2]
    );
    let corrupted = comments
        .iter()
        .filter(|(_, o, c)| !o && c.as_deref().is_some_and(|c| c.contains("corrupted")))
        .count();
    assert_eq!(
        corrupted, 2,
        "both copies of the corrupted datagram: {comments:?}"
    );
}

fn lossy_capture(seed: u64, dir: &std::path::Path) -> Vec<u8> {
    let mut sim = Simulation::new().seed(seed).pcap_dir(dir).default_link(
        LinkConfig::default()
            .loss_probability(0.2)
            .duplicate_probability(0.2)
            .corrupt_probability(0.2)
            .jitter(2.ms()),
    );
    ping_pong_many(&mut sim);
    let path = sim.pcap_path().unwrap();
    drop(sim);
    std::fs::read(path).unwrap()
}

fn ping_pong_many(sim: &mut Simulation) {
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("server:1").await.unwrap();
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
            for i in 0u32..300 {
                socket.send_to(&i.to_be_bytes(), "server:1").await.unwrap();
                1.ms().sleep().await;
            }
        }
        .group("client")
        .primary()
        .spawn();
    });
}

#[test]
fn the_same_seed_writes_byte_identical_captures() {
    let dir = dir("determinism");
    let first = lossy_capture(9, &dir);
    let second = lossy_capture(9, &dir);
    assert!(first.len() > 10_000);
    assert!(first == second, "same seed, different bytes");
    assert!(lossy_capture(10, &dir) != first, "another seed, same bytes");
    // Repeated names in one test get counters, in creation order.
    let names: Vec<_> = (0..3)
        .map(|n| match n {
            0 => "pcap__the_same_seed_writes_byte_identical_captures.seed9.pcapng".to_string(),
            n => format!("pcap__the_same_seed_writes_byte_identical_captures.seed9.{n}.pcapng"),
        })
        .collect();
    assert!(dir.join(&names[0]).exists() && dir.join(&names[1]).exists());
    assert!(dir
        .join("pcap__the_same_seed_writes_byte_identical_captures.seed10.pcapng")
        .exists());
}

#[test]
fn bach_pcap_dir_turns_capture_on_for_every_simulation() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    // The suite may itself run under BACH_PCAP_DIR: restore it at the end.
    let outer = std::env::var_os("BACH_PCAP_DIR");
    let dir = dir("env");
    std::env::set_var("BACH_PCAP_DIR", &dir);
    let mut sim = Simulation::new().seed(4);
    std::env::remove_var("BACH_PCAP_DIR");
    ping_pong(&mut sim);
    let expected =
        dir.join("pcap__bach_pcap_dir_turns_capture_on_for_every_simulation.seed4.pcapng");
    assert_eq!(sim.pcap_path(), Some(expected.clone()));
    drop(sim);
    assert_eq!(read(&expected).packets.len(), 8);

    // Off unless asked for.
    let mut sim = Simulation::new();
    ping_pong(&mut sim);
    assert_eq!(sim.pcap_path(), None);
    // And `no_pcap` wins over the environment.
    std::env::set_var("BACH_PCAP_DIR", &dir);
    let mut sim = Simulation::new().no_pcap();
    std::env::remove_var("BACH_PCAP_DIR");
    ping_pong(&mut sim);
    assert_eq!(sim.pcap_path(), None);
    if let Some(outer) = outer {
        std::env::set_var("BACH_PCAP_DIR", outer);
    }
}

#[test]
fn an_unwritable_capture_directory_fails_loudly() {
    let file = dir("unwritable");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"not a directory").unwrap();
    let result = std::panic::catch_unwind(|| {
        let mut sim = Simulation::new().pcap_dir(&file);
        ping_pong(&mut sim);
    });
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("cannot create the packet capture"),
        "{message}"
    );
}
