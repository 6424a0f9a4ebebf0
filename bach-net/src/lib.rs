//! The network model behind bach: nodes and their addresses, directed links
//! with latency, jitter, loss, duplication, corruption, bandwidth and MTU,
//! injected faults, packet counters, and pcapng capture.
//!
//! Everything here is a plain data structure. The async runtime (`bach`)
//! owns the clock, the timers and the single choice source; it passes the
//! current simulated time and the choice source into [`Network::send`] and
//! schedules the returned deliveries itself. This crate never awaits, never
//! reads a clock, never consults randomness other than the [`Decisions`] it
//! is given, and never lets hash-map iteration order affect behaviour.
//!
//! Data flow of one UDP datagram:
//!
//! 1. the runtime resolves the destination ([`NodeTable::resolve`],
//!    [`NodeTable::node_by_addr`]);
//! 2. [`Network::send`] checks the MTU and faults and draws loss, corruption,
//!    duplication and latency from the choice source, returning a
//!    [`SendOutcome`];
//! 3. the runtime records the packet at egress in a [`CaptureWriter`],
//!    schedules each [`Delivery`], flips a bit with [`corrupt`] for corrupted
//!    copies, and on arrival records the ingress and calls
//!    [`Network::record_delivered`] or [`Network::record_drop`].
//!
//! ```
//! use std::time::Duration;
//! use bach_net::{decide::Seeded, DropReason, LinkConfig, Network};
//!
//! let mut net = Network::new();
//! let client = net.add_node("client")?;
//! let server = net.add_node("server")?;
//! assert_eq!(net.nodes().resolve("server")?.to_string(), "10.0.0.2");
//! net.set_link(client, server, LinkConfig::default().latency(Duration::from_millis(5)))?;
//!
//! let mut choices = Seeded::new(0); // the runtime passes its own choice source
//! let outcome = net.send(Duration::ZERO, client, server, 100, &mut choices)?;
//! let arrivals: Vec<Duration> = outcome.into_iter().map(|copy| copy.at).collect();
//! assert_eq!(arrivals, [Duration::from_millis(5)]);
//!
//! net.partition(&[client], &[server]);
//! let outcome = net.send(Duration::ZERO, server, client, 100, &mut choices)?;
//! assert_eq!(outcome.dropped(), Some(DropReason::Partitioned));
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

pub mod addr;
pub mod decide;
pub mod link;
pub mod network;
pub mod node;
pub mod outcome;
pub mod pcap;
pub mod stats;
mod wire;

pub use addr::AddressPlan;
pub use decide::{Decisions, Fault};
pub use link::{corrupt, Latency, LinkConfig, MAX_UDP_PAYLOAD};
pub use network::Network;
pub use node::{NodeId, NodeTable};
pub use outcome::{Deliveries, Delivery, DropReason, SendOutcome};
pub use pcap::{CaptureWriter, CapturedPacket, Direction};
pub use stats::{DropCounts, NodeStats, Stats};
