//! The simulated network: async UDP sockets between nodes, host names,
//! faults, monitors and pcapng capture.
//!
//! Every group is a node with an address, and its name resolves like a
//! host name from any node as soon as the group exists. Tasks talk through
//! [`UdpSocket`]s, whose datagrams cross directed links modelled by
//! [`bach_net`] (latency, jitter, loss, duplication, corruption, bandwidth,
//! MTU); every decision comes from the simulation's one choice source, so a
//! seed replays every packet's fate.
//!
//! ```
//! use bach::{ext::*, net::UdpSocket};
//!
//! bach::sim(|| {
//!     for i in 0..2 {
//!         async move {
//!             let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
//!             socket.send_to(b"ping", "server:8080").await.unwrap();
//!             let mut data = [0; 4];
//!             let (len, _) = socket.recv_from(&mut data).await.unwrap();
//!             assert_eq!(&data[..len], b"pong");
//!         }
//!         .group(format!("client_{i}"))
//!         .primary()
//!         .spawn();
//!     }
//!     async {
//!         let socket = UdpSocket::bind("server:8080").await.unwrap();
//!         loop {
//!             let mut data = [0; 4];
//!             let (len, addr) = socket.recv_from(&mut data).await.unwrap();
//!             assert_eq!(&data[..len], b"ping");
//!             socket.send_to(b"pong", addr).await.unwrap();
//!         }
//!     }
//!     .group("server")
//!     .spawn();
//! });
//! ```
//!
//! # Addresses
//!
//! Nodes are numbered in group creation order from the address plan,
//! `10.0.0.0/8` unless [`Simulation::address_plan`] says otherwise: `main`
//! (the node of code outside any group) is `10.0.0.1`, the next group
//! `10.0.0.2`, and so on (`.0` and `.255` are skipped). `0.0.0.0`,
//! `127.0.0.1` and `localhost` mean the caller's own node. Binding port 0
//! picks a free ephemeral port, counting up from 49152 on each node.
//!
//! # Links and faults
//!
//! Every directed link follows the default [`LinkConfig`] (1 ms fixed
//! latency, nothing lost) until configured with [`link`]; packets to the
//! sender's own node are loopback (reliable, no latency). The link model
//! decides each packet's fate when it is sent; a later fault never recalls
//! a packet in flight, but a packet arriving at a node disconnected by then
//! is dropped. On arrival a packet is also dropped if no socket is bound at
//! its port (`NoSocket`; the default 1 ms latency is what lets a server
//! spawned in the same instant as its clients bind before their first
//! datagram lands), or if the socket's receive buffer is full. Every drop
//! is counted ([`stats`], [`node_stats`]) by [`DropReason`].
//!
//! Fault scripts use [`partition`], [`partition_oneway`], [`disconnect`],
//! [`connect`], [`drop_incoming`], [`drop_outgoing`], [`link`] and
//! [`heal`] from a task at chosen simulated times; tests can do the same
//! between steps through the same-named [`Simulation`] methods. For
//! packet-level fault injection install a [`monitor`].
//!
//! # Capture
//!
//! With `BACH_PCAP_DIR=dir` in the environment (or
//! [`Simulation::pcap_dir`]) every simulation writes one pcapng file that
//! Wireshark and `tshark` open: one interface per node (named after it),
//! each packet recorded leaving its sender and arriving at its receiver
//! with real IPv4/IPv6 and UDP headers, simulated-time timestamps, node
//! names for every address, and a comment on every packet whose fate was
//! not a plain delivery (`dropped: loss`, `duplicate`, `corrupted`, …).
//! The file is `dir/<binary>__<test>.seed<N>.pcapng`; see
//! [`Simulation::pcap_path`]. Same seed, same bytes.
//!
//! # Packet log
//!
//! [`Simulation::record_packets`] keeps every packet fate as a
//! [`PacketEvent`], read with [`Simulation::packet_log`].
//!
//! [`Simulation`]: crate::Simulation
//! [`Simulation::address_plan`]: crate::Simulation::address_plan
//! [`Simulation::pcap_dir`]: crate::Simulation::pcap_dir
//! [`Simulation::pcap_path`]: crate::Simulation::pcap_path
//! [`Simulation::record_packets`]: crate::Simulation::record_packets
//! [`Simulation::packet_log`]: crate::Simulation::packet_log

mod addr;
mod capture;
pub(crate) mod choices;
mod control;
pub(crate) mod log;
pub mod monitor;
mod observer;
pub(crate) mod payload;
mod simulation;
pub(crate) mod socket;
pub(crate) mod state;

pub use addr::ToSocketAddrs;
pub use bach_net::{
    AddressPlan, DropCounts, DropReason, Latency, LinkConfig, NodeStats, Stats, MAX_UDP_PAYLOAD,
};
pub use control::{
    connect, default_link, disconnect, drop_incoming, drop_outgoing, heal, link, node_stats,
    partition, partition_oneway, set_default_link, stats, Link,
};
pub use log::{PacketEvent, PacketFate};
pub use socket::UdpSocket;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::runtime::context;
use std::io;

/// Resolves `host` (`"server:8080"`, an IP literal with port, or any
/// [`ToSocketAddrs`]) to its one address; nodes resolve from the moment
/// their group exists.
///
/// Fails with `NotFound` for an unknown name (the message lists the known
/// ones) and `InvalidInput` for a malformed address. Panics outside a
/// simulation.
pub async fn lookup_host<T: ToSocketAddrs>(
    host: T,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    try_lookup(host).map(std::iter::once)
}

/// [`lookup_host`] without `async`, returning the one address.
#[track_caller]
pub fn try_lookup<T: ToSocketAddrs>(host: T) -> io::Result<SocketAddr> {
    context::with("bach::net::lookup_host", |inner| {
        let target = host.to_target()?;
        let mut st = state::borrow(inner);
        let here = st.node_of(inner.current_group.get()).ok();
        st.resolve(target, here)
    })
}

/// A node crashed: packets to it are dropped on arrival, packets it had not
/// yet put on the wire are discarded, and binding on it fails.
pub(crate) fn node_crashed(inner: &crate::runtime::Inner, group: crate::group::table::GroupId) {
    set_node_down(inner, group, true);
}

/// A node booted again after a crash.
pub(crate) fn node_restarted(inner: &crate::runtime::Inner, group: crate::group::table::GroupId) {
    set_node_down(inner, group, false);
}

fn set_node_down(inner: &crate::runtime::Inner, group: crate::group::table::GroupId, down: bool) {
    let now = inner.now();
    let mut st = state::borrow(inner);
    st.sync(&inner.groups.borrow());
    if let Ok(node) = st.node_of(group) {
        st.set_down(node, now, down);
    }
}
