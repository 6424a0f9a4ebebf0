//! The network side of [`Simulation`]: capture and address configuration,
//! network control and counters for test code between steps.
//!
//! These are the same operations as the free functions of [`crate::net`],
//! addressed to one simulation instead of the current one, so a test can
//! partition, step, heal and count without writing a fault-script task.

use super::{
    control,
    log::PacketEvent,
    observer::Monitor,
    state::{self},
    Link,
};
use crate::Simulation;
use bach_net::{AddressPlan, LinkConfig, NodeStats, Stats};
use std::{
    io,
    path::{Path, PathBuf},
};

impl Simulation {
    /// Captures this simulation's packets to a pcapng file in `dir`
    /// (created if needed), overriding `BACH_PCAP_DIR`; see
    /// [`net`](crate::net#capture) for the file's name and contents.
    pub fn pcap_dir(self, dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref().to_path_buf();
        self.inner.net.borrow_mut().set_capture_dir(Some(dir));
        self
    }

    /// Turns capture off for this simulation, even with `BACH_PCAP_DIR` set.
    pub fn no_pcap(self) -> Self {
        self.inner.net.borrow_mut().set_capture_dir(None);
        self
    }

    /// The capture file, once the first packet was recorded in it.
    pub fn pcap_path(&self) -> Option<PathBuf> {
        self.inner
            .net
            .borrow()
            .capture
            .path()
            .map(Path::to_path_buf)
    }

    /// Numbers nodes from `plan` instead of `10.0.0.0/8` (for example
    /// `"fd00::/64".parse()?` for IPv6). Panics if a node already has an
    /// address (the plan must be chosen before the network is used).
    #[track_caller]
    pub fn address_plan(self, plan: AddressPlan) -> Self {
        if let Err(message) = self.inner.net.borrow_mut().set_address_plan(plan) {
            panic!("{message}");
        }
        self
    }

    /// Sets the configuration of every link not configured on its own.
    /// Panics, naming the field, if `config` is invalid (see
    /// [`set_default_link`](Self::set_default_link) for the fallible form).
    #[track_caller]
    pub fn default_link(self, config: LinkConfig) -> Self {
        if let Err(error) = self.set_default_link(config) {
            panic!("Simulation::default_link: {error}");
        }
        self
    }

    /// Replaces the default link configuration; `InvalidInput` if invalid.
    pub fn set_default_link(&self, config: LinkConfig) -> io::Result<()> {
        self.inner.net.borrow_mut().network.set_default_link(config)
    }

    /// Records every packet fate in the [packet log](Self::packet_log)
    /// (off by default).
    pub fn record_packets(self, on: bool) -> Self {
        self.inner.net.borrow_mut().record_packets(on);
        self
    }

    /// The packet fates recorded so far, oldest first (empty unless
    /// [`record_packets`](Self::record_packets) is on).
    pub fn packet_log(&self) -> Vec<PacketEvent> {
        state::borrow(&*self.inner).packet_log(&self.inner.kernel)
    }

    /// Installs a network [`Monitor`], after those already installed.
    pub fn monitor(&self, monitor: impl Monitor) {
        state::borrow(&*self.inner).add_monitor(Box::new(monitor));
    }

    /// Cuts both directions between the nodes of `side_a` and `side_b`.
    /// Panics on an unknown node name.
    #[track_caller]
    pub fn partition<A: AsRef<str>, B: AsRef<str>>(&self, side_a: &[A], side_b: &[B]) {
        control::partition_in(&self.inner, side_a, side_b)
    }

    /// Cuts the direction from the nodes of `from` to those of `to`.
    #[track_caller]
    pub fn partition_oneway<A: AsRef<str>, B: AsRef<str>>(&self, from: &[A], to: &[B]) {
        control::partition_oneway_in(&self.inner, from, to)
    }

    /// Clears every network fault (link configurations stay).
    pub fn heal(&self) {
        control::heal_in(&self.inner)
    }

    /// Disconnects `node` from the network until [`connect`](Self::connect).
    #[track_caller]
    pub fn disconnect(&self, node: &str) {
        control::set_connected_in(&self.inner, node, false)
    }

    /// Reconnects `node`.
    #[track_caller]
    pub fn connect(&self, node: &str) {
        control::set_connected_in(&self.inner, node, true)
    }

    /// Makes `node` drop every packet addressed to it (`true`), or stop.
    #[track_caller]
    pub fn drop_incoming(&self, node: &str, drop: bool) {
        control::drop_incoming_in(&self.inner, node, drop)
    }

    /// Makes `node` drop every packet it sends (`true`), or stop.
    #[track_caller]
    pub fn drop_outgoing(&self, node: &str, drop: bool) {
        control::drop_outgoing_in(&self.inner, node, drop)
    }

    /// The directed link from `from` to `to`. Panics on an unknown node.
    #[track_caller]
    pub fn link(&self, from: &str, to: &str) -> Link {
        control::link_in(&self.inner, from, to)
    }

    /// Network-wide packet counters.
    pub fn net_stats(&self) -> Stats {
        *state::borrow(&*self.inner).network.stats()
    }

    /// The packet counters of `node`. Panics on an unknown node name.
    #[track_caller]
    pub fn node_stats(&self, node: &str) -> NodeStats {
        control::node_stats_in(&self.inner, node)
    }

    /// Packet copies sent and not yet arrived.
    pub fn packets_in_flight(&self) -> usize {
        self.inner.net.borrow().in_flight()
    }
}
