//! UDP sockets over the simulated network: the README ping-pong, many
//! clients, ephemeral ports, connected sockets, host names and every error
//! a socket can report.

use bach::{ext::*, net::UdpSocket};

#[test]
fn ping_pong() {
    bach::sim(|| {
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

use bach::{
    net::{self, DropReason, PacketFate},
    time::Instant,
    Simulation,
};
use std::{cell::RefCell, future::poll_fn, io::ErrorKind, net::SocketAddr, rc::Rc, task::Poll};

fn panic_message(result: std::thread::Result<()>) -> String {
    let payload = result.expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        panic!("non-string panic payload")
    }
}

/// Spawns a primary task on `node`.
fn primary_on<F: std::future::Future<Output = ()> + 'static>(node: &str, f: F) {
    f.group(node).primary().spawn();
}

/// Spawns a background echo server on `node` at `port`.
fn echo_server(node: &str, port: u16) {
    async move {
        let socket = UdpSocket::bind(("0.0.0.0", port)).await.unwrap();
        let mut buf = [0; 2048];
        loop {
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(&buf[..len], from).await.unwrap();
        }
    }
    .group(node)
    .spawn();
}

#[test]
fn ping_pong_passes_because_the_server_binds_before_the_first_ping_lands() {
    let mut sim = Simulation::new().record_packets(true);
    sim.run(|| {
        for i in 0..2 {
            primary_on(&format!("client_{i}"), async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                socket.send_to(b"ping", "server:8080").await.unwrap();
                let mut data = [0; 4];
                let (len, from) = socket.recv_from(&mut data).await.unwrap();
                assert_eq!(&data[..len], b"pong");
                assert_eq!(from, "10.0.0.4:8080".parse::<SocketAddr>().unwrap());
                assert_eq!(Instant::now().elapsed_since_start(), 2.ms());
            });
        }
        async {
            let socket = UdpSocket::bind("server:8080").await.unwrap();
            // Bound at t=0, a full millisecond before the pings arrive.
            assert_eq!(Instant::now(), Instant::ZERO);
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
    let stats = sim.net_stats();
    assert_eq!((stats.sent, stats.delivered), (4, 4));
    assert_eq!(
        stats.dropped.total(),
        0,
        "no NoSocket drop: the server was bound"
    );
    let delivered: Vec<(u64, String, String)> = sim
        .packet_log()
        .into_iter()
        .filter(|e| e.fate == PacketFate::Delivered)
        .map(|e| {
            (
                e.time.as_nanos(),
                e.from.name().to_string(),
                e.to.name().to_string(),
            )
        })
        .collect();
    let ms = 1_000_000;
    assert_eq!(
        delivered,
        [
            (ms, "client_0".into(), "server".into()),
            (ms, "client_1".into(), "server".into()),
            (2 * ms, "server".into(), "client_0".into()),
            (2 * ms, "server".into(), "client_1".into()),
        ]
    );
}

#[test]
fn a_datagram_to_a_port_nobody_bound_is_dropped_and_counted() {
    let mut sim = Simulation::new();
    sim.run(|| {
        primary_on("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"hello?", "server:9").await.unwrap();
            2.ms().sleep().await;
        });
        async {}.group("server").spawn();
    });
    assert_eq!(sim.net_stats().dropped.get(DropReason::NoSocket), 1);
    assert_eq!(
        sim.node_stats("server")
            .dropped_as_receiver
            .get(DropReason::NoSocket),
        1
    );
}

#[test]
fn many_clients_all_get_their_answers() {
    const CLIENTS: usize = 200;
    const ROUNDS: u32 = 20;
    let done = Rc::new(RefCell::new(0));
    let mut sim = Simulation::new();
    sim.run(|| {
        echo_server("server", 7);
        for i in 0..CLIENTS {
            let done = done.clone();
            primary_on(&format!("client{i}"), async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                for round in 0..ROUNDS {
                    let message = format!("{i}/{round}");
                    socket
                        .send_to(message.as_bytes(), "server:7")
                        .await
                        .unwrap();
                    let mut buf = [0; 32];
                    let (len, _) = socket.recv_from(&mut buf).await.unwrap();
                    assert_eq!(&buf[..len], message.as_bytes());
                }
                *done.borrow_mut() += 1;
            });
        }
    });
    assert_eq!(*done.borrow(), CLIENTS);
    let expected = (2 * CLIENTS * ROUNDS as usize) as u64;
    assert_eq!(sim.net_stats().delivered, expected);
    assert_eq!(sim.elapsed(), (2 * ROUNDS as u64).ms());
}

#[test]
fn ephemeral_ports_are_distinct_per_node_and_count_up() {
    bach::sim(|| {
        primary_on("a", async {
            let mut sockets = Vec::new();
            for _ in 0..1000 {
                sockets.push(UdpSocket::bind("0.0.0.0:0").await.unwrap());
            }
            let mut ports: Vec<u16> = sockets
                .iter()
                .map(|s| s.local_addr().unwrap().port())
                .collect();
            assert_eq!(ports[0], 49152);
            ports.sort_unstable();
            ports.dedup();
            assert_eq!(ports.len(), 1000);
            // A fixed port taken from the range is skipped later.
            let fixed = UdpSocket::bind("a:50152").await.unwrap();
            let next = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            assert_eq!(next.local_addr().unwrap().port(), 50153);
            drop(fixed);
        });
        primary_on("b", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            assert_eq!(
                socket.local_addr().unwrap(),
                "10.0.0.3:49152".parse::<SocketAddr>().unwrap(),
                "another node has its own port space"
            );
        });
    });
}

#[test]
fn dropping_a_socket_frees_its_port() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("a:80").await.unwrap();
            let err = UdpSocket::bind("0.0.0.0:80").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
            drop(socket);
            UdpSocket::bind("a:80").await.unwrap();
        });
    });
}

#[test]
fn connected_sockets_talk_to_their_peer_only() {
    let mut sim = Simulation::new();
    sim.run(|| {
        primary_on("client", async {
            let socket = UdpSocket::bind("client:40000").await.unwrap();
            socket.connect("server:6000").await.unwrap();
            assert_eq!(
                socket.peer_addr().unwrap(),
                "10.0.0.3:6000".parse::<SocketAddr>().unwrap()
            );
            socket.send(b"hi").await.unwrap();
            let mut buf = [0; 16];
            // The stranger's datagram (sent first, arriving first) is filtered.
            let len = socket.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], b"reply");
            assert_eq!(Instant::now().elapsed_since_start(), 2.ms());
        });
        async {
            let socket = UdpSocket::bind("server:6000").await.unwrap();
            let mut buf = [0; 16];
            let (_, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(b"reply", from).await.unwrap();
        }
        .group("server")
        .spawn();
        async {
            let socket = UdpSocket::bind("stranger:6000").await.unwrap();
            socket.send_to(b"spam", "client:40000").await.unwrap();
        }
        .group("stranger")
        .spawn();
    });
    assert_eq!(
        sim.node_stats("client")
            .dropped_as_receiver
            .get(DropReason::NoSocket),
        1
    );
}

#[test]
fn unconnected_sockets_refuse_send_and_peer_addr() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let err = socket.send(b"x").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotConnected);
            assert!(err.to_string().contains("10.0.0.2:49152"), "{err}");
            assert_eq!(
                socket.peer_addr().unwrap_err().kind(),
                ErrorKind::NotConnected
            );
        });
    });
}

#[test]
fn unknown_hosts_are_not_found_and_the_message_lists_known_names() {
    bach::sim(|| {
        primary_on("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let err = socket.send_to(b"x", "servr:80").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(
                err.to_string(),
                "unknown host `servr` (known: client, main, server); a node exists once a task \
                 is spawned on it with `.group(\"servr\")`"
            );
            let err = UdpSocket::bind("nowhere:80").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            let err = net::lookup_host("nowhere:1").await.err().unwrap();
            assert_eq!(err.kind(), ErrorKind::NotFound);
        });
        async {}.group("server").spawn();
    });
}

#[test]
fn binding_a_port_in_use_fails_with_addr_in_use() {
    bach::sim(|| {
        primary_on("server", async {
            let _first = UdpSocket::bind("server:8080").await.unwrap();
            let err = UdpSocket::bind("0.0.0.0:8080").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
            assert_eq!(
                err.to_string(),
                "address 10.0.0.2:8080 is already in use on node `server`"
            );
        });
    });
}

#[test]
fn binding_another_nodes_address_fails_with_addr_not_available() {
    bach::sim(|| {
        async {}.group("server").spawn();
        primary_on("client", async {
            let err = UdpSocket::bind("server:8080").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
            assert!(
                err.to_string()
                    .starts_with("cannot bind 10.0.0.2:8080 on node `client` (10.0.0.3): it belongs to node `server`"),
                "{err}"
            );
            assert!(
                err.to_string().ends_with(
                    "(to run this task on `server`, spawn it with `.group(\"server\")`)"
                ),
                "{err}"
            );
            let err = UdpSocket::bind("192.0.2.1:1").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
            assert!(err.to_string().contains("no node has it"), "{err}");
        });
    });
}

#[test]
fn datagrams_over_the_mtu_are_invalid_input() {
    let mut sim = Simulation::new();
    sim.run(|| {
        async {}.group("server").spawn();
        let client = async {}.group("client");
        net::link("client", "server").mtu(1472);
        drop(client);
        primary_on("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(&[0; 1472], "server:9").await.unwrap();
            let err = socket.send_to(&[0; 1473], "server:9").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(
                err.to_string(),
                "payload of 1473 bytes exceeds the mtu of 1472 bytes on link client -> server"
            );
            // Loopback allows the largest UDP payload, not more.
            let err = socket
                .send_to(&vec![0; 65_508], "localhost:9")
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        });
    });
    assert_eq!(sim.net_stats().sent, 1, "refused datagrams are not sent");
}

#[test]
fn addresses_no_node_has_are_unreachable_and_malformed_ones_invalid() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let err = socket.send_to(b"x", "10.9.9.9:1").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::HostUnreachable);
            assert!(
                err.to_string().contains("no node has address 10.9.9.9"),
                "{err}"
            );
            let err = socket.send_to(b"x", "a").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("`a`"), "{err}");
        });
    });
}

#[test]
fn using_the_network_outside_a_simulation_panics_with_an_explanation() {
    let message = panic_message(std::panic::catch_unwind(|| {
        let _ = futures::executor::block_on(UdpSocket::bind("0.0.0.0:0"));
    }));
    assert!(
        message.contains("`bach::net::UdpSocket::bind` was called outside a bach simulation"),
        "{message}"
    );
    let message = panic_message(std::panic::catch_unwind(|| {
        let _ = net::try_lookup("server:1");
    }));
    assert!(message.contains("outside a bach simulation"), "{message}");
}

#[test]
fn try_variants_do_not_wait() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("a:1").await.unwrap();
            let mut buf = [0; 8];
            let err = socket.try_recv_from(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            assert_eq!(socket.try_send_to(b"self", "a:1").unwrap(), 4);
            // Loopback has no latency, but arrives as an event once every
            // task ready now has run.
            assert_eq!(
                socket.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            socket.readable().await.unwrap();
            let (len, from) = socket.try_recv_from(&mut buf).unwrap();
            assert_eq!(
                (&buf[..len], from),
                (&b"self"[..], socket.local_addr().unwrap())
            );
            assert_eq!(Instant::now(), Instant::ZERO);
            socket.connect("a:1").await.unwrap();
            socket.try_send(b"again").unwrap();
            socket.readable().await.unwrap();
            assert_eq!(socket.try_recv(&mut buf).unwrap(), 5);
        });
    });
}

#[test]
fn poll_variants_work_with_poll_fn() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("a:1").await.unwrap();
            let mut buf = [0; 8];
            let mut polls = 0;
            let first = poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    assert!(socket.poll_recv_from(cx, &mut buf).is_pending());
                    let sent = socket.poll_send_to(cx, b"polled", socket.local_addr().unwrap());
                    assert!(matches!(sent, Poll::Ready(Ok(6))));
                    return Poll::Pending;
                }
                socket.poll_peek_from(cx, &mut buf)
            })
            .await
            .unwrap();
            assert_eq!(polls, 2, "woken exactly once by the arrival");
            assert_eq!(first.0, 6);
            let len = poll_fn(|cx| socket.poll_recv(cx, &mut buf)).await.unwrap();
            assert_eq!(&buf[..len], b"polled");
            assert!(poll_fn(|cx| socket.poll_send_ready(cx)).await.is_ok());
            socket.connect("a:1").await.unwrap();
            poll_fn(|cx| socket.poll_send(cx, b"x")).await.unwrap();
            poll_fn(|cx| socket.poll_recv_ready(cx)).await.unwrap();
        });
    });
}

#[test]
fn peek_leaves_the_datagram_and_short_buffers_truncate() {
    bach::sim(|| {
        primary_on("a", async {
            let socket = UdpSocket::bind("a:1").await.unwrap();
            socket.send_to(b"0123456789", "a:1").await.unwrap();
            let mut small = [0; 4];
            let (len, _) = socket.peek_from(&mut small).await.unwrap();
            assert_eq!(&small[..len], b"0123");
            let mut big = [0; 16];
            let (len, _) = socket.try_peek_from(&mut big).unwrap();
            assert_eq!(&big[..len], b"0123456789");
            let (len, _) = socket.recv_from(&mut small).await.unwrap();
            assert_eq!(&small[..len], b"0123");
            // The rest of a truncated datagram is gone, as with real UDP.
            assert_eq!(
                socket.try_recv(&mut big).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        });
    });
}

#[test]
fn names_resolve_from_any_node_as_soon_as_the_group_exists() {
    bach::sim(|| {
        // `late` is created here, before anything runs on it.
        async {}.group("early").spawn();
        let late = async {}.group("late");
        primary_on("asker", async {
            let addrs: Vec<SocketAddr> = net::lookup_host("late:53").await.unwrap().collect();
            assert_eq!(addrs, ["10.0.0.3:53".parse().unwrap()]);
            assert_eq!(net::try_lookup("main:1").unwrap().to_string(), "10.0.0.1:1");
            assert_eq!(
                net::try_lookup("early:1").unwrap().to_string(),
                "10.0.0.2:1"
            );
            assert_eq!(
                net::try_lookup("asker:1").unwrap().to_string(),
                "10.0.0.4:1"
            );
            assert_eq!(
                net::try_lookup("localhost:1").unwrap().to_string(),
                "10.0.0.4:1"
            );
            assert_eq!(
                net::try_lookup("192.0.2.7:1").unwrap().to_string(),
                "192.0.2.7:1"
            );
        });
        drop(late);
    });
}

#[test]
fn host_texts_resolve_the_same_every_time_and_localhost_per_sender() {
    bach::sim(|| {
        for node in ["a", "b"] {
            async move {
                let server = UdpSocket::bind("0.0.0.0:7").await.unwrap();
                let client = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                let mut buf = [0; 1];
                for round in 0..3u8 {
                    // `localhost` is the sender's own node, whichever node
                    // sent the same text before.
                    client.send_to(&[round], "localhost:7").await.unwrap();
                    let (_, from) = server.recv_from(&mut buf).await.unwrap();
                    assert_eq!((from, buf), (client.local_addr().unwrap(), [round]));
                    for peer in ["c:8", "c:9"] {
                        client.send_to(&[round], peer).await.unwrap();
                    }
                }
            }
            .group(node)
            .primary()
            .spawn();
        }
        for port in [8u16, 9] {
            async move {
                let socket = UdpSocket::bind(("0.0.0.0", port)).await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0; 1];
                for _ in 0..6 {
                    let (_, from) = socket.recv_from(&mut buf).await.unwrap();
                    seen.push((from.ip(), buf[0]));
                }
                seen.sort();
                let ip = |node: &str| net::try_lookup((node, 0)).unwrap().ip();
                let expected: Vec<_> = ["a", "b"]
                    .into_iter()
                    .flat_map(|node| (0..3).map(move |round| (ip(node), round)))
                    .collect();
                assert_eq!(seen, expected);
            }
            .group("c")
            .primary()
            .spawn();
        }
    });
}

#[test]
fn loopback_traffic_has_no_latency() {
    bach::sim(|| {
        primary_on("a", async {
            let server = UdpSocket::bind("a:1").await.unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            assert_eq!(client.local_addr().unwrap().ip().to_string(), "10.0.0.2");
            client.send_to(b"x", "127.0.0.1:1").await.unwrap();
            let mut buf = [0; 1];
            let (_, from) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, client.local_addr().unwrap());
            assert_eq!(Instant::now(), Instant::ZERO);
        });
    });
}

#[test]
fn a_full_receive_buffer_drops_and_counts() {
    let mut sim = Simulation::new();
    sim.run(|| {
        primary_on("server", async {
            let socket = UdpSocket::bind("server:1").await.unwrap();
            assert_eq!(socket.recv_buffer_size().unwrap(), 256 * 1024);
            socket.set_recv_buffer_size(10).unwrap();
            5.ms().sleep().await;
            let mut buf = [0; 8];
            let mut received = 0;
            while socket.try_recv(&mut buf).is_ok() {
                received += 1;
            }
            assert_eq!(received, 2, "10 bytes hold two 4-byte datagrams");
        });
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            for _ in 0..5 {
                socket.send_to(b"data", "server:1").await.unwrap();
            }
        }
        .group("client")
        .spawn();
    });
    assert_eq!(
        sim.net_stats().dropped.get(DropReason::ReceiveBufferFull),
        3
    );
}

#[test]
fn closing_a_socket_drops_what_is_still_in_flight_to_it() {
    let mut sim = Simulation::new();
    sim.run(|| {
        primary_on("server", async {
            let socket = UdpSocket::bind("server:1").await.unwrap();
            drop(socket);
            3.ms().sleep().await;
        });
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"late", "server:1").await.unwrap();
        }
        .group("client")
        .spawn();
    });
    assert_eq!(sim.net_stats().dropped.get(DropReason::NoSocket), 1);
}

#[test]
fn sockets_work_from_test_code_between_steps() {
    let mut sim = Simulation::new();
    let socket = Rc::new(RefCell::new(None));
    let slot = socket.clone();
    sim.enter(|| {
        async move {
            *slot.borrow_mut() = Some(UdpSocket::bind("probe:1").await.unwrap());
        }
        .group("probe")
        .spawn();
        echo_server("echo", 7);
    });
    sim.run_for(0.ms());
    let socket = socket.borrow_mut().take().unwrap();
    socket.try_send_to(b"from the test", "echo:7").unwrap();
    assert_eq!(sim.packets_in_flight(), 1);
    assert_eq!(sim.next_event_time(), Some(Instant::ZERO + 1.ms()));
    sim.run_for(2.ms());
    let mut buf = [0; 32];
    let (len, from) = socket.try_recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"from the test");
    assert_eq!(from.to_string(), "10.0.0.3:7");
    drop(socket);
}

#[test]
fn ipv6_address_plans_work_end_to_end() {
    let mut sim = Simulation::new().address_plan("fd00::/64".parse().unwrap());
    sim.run(|| {
        echo_server("server", 7);
        primary_on("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            assert_eq!(socket.local_addr().unwrap().to_string(), "[fd00::3]:49152");
            socket.send_to(b"v6", "server:7").await.unwrap();
            let mut buf = [0; 2];
            let (_, from) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(from.to_string(), "[fd00::2]:7");
        });
    });
}

#[test]
fn groups_that_cannot_be_host_names_have_no_address() {
    bach::sim(|| {
        primary_on("bad:name", async {
            let err = UdpSocket::bind("0.0.0.0:0").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("`bad:name`"), "{err}");
        });
        primary_on("good", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            assert_eq!(socket.local_addr().unwrap().ip().to_string(), "10.0.0.2");
        });
    });
}

#[test]
fn arrivals_keep_first_in_first_out_order_with_timers_due_at_the_same_instant() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        async {
            let socket = UdpSocket::bind("b:1").await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        }
        .group("b")
        .spawn();
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.send_to(b"A", "b:1").await.unwrap();
            // A timer due when the packets land, scheduled between A and B.
            let mut sleep = std::pin::pin!(1.ms().sleep());
            assert!(futures::poll!(sleep.as_mut()).is_pending());
            socket.send_to(b"B", "b:1").await.unwrap();
            socket.send_to(b"C", "b:1").await.unwrap();
            sleep.await;
        }
        .group("a")
        .spawn();
    });
    assert!(sim.step(), "t = 0: both tasks run");
    assert_eq!(sim.packets_in_flight(), 3);
    assert!(
        sim.step(),
        "A arrives alone: it was scheduled before the timer"
    );
    assert_eq!(sim.now(), Instant::ZERO + 1.ms());
    assert_eq!(sim.packets_in_flight(), 2);
    assert!(sim.step(), "then the timer");
    assert_eq!(sim.packets_in_flight(), 2);
    assert!(sim.step(), "then B and C, scheduled back to back");
    assert_eq!(sim.packets_in_flight(), 0);
    assert_eq!(sim.net_stats().delivered, 3);
}

#[test]
fn running_out_of_ephemeral_ports_is_addr_in_use() {
    bach::sim(|| {
        primary_on("busy", async {
            let mut sockets = Vec::new();
            for _ in 49152..=65535u32 {
                sockets.push(UdpSocket::bind("0.0.0.0:0").await.unwrap());
            }
            let err = UdpSocket::bind("0.0.0.0:0").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
            assert!(
                err.to_string()
                    .contains("no free ephemeral port on node `busy`"),
                "{err}"
            );
            // Freeing one makes exactly that one available again.
            let freed = sockets.swap_remove(100).local_addr().unwrap().port();
            let again = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            assert_eq!(again.local_addr().unwrap().port(), freed);
        });
    });
}
