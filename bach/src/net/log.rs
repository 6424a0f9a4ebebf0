//! The packet log: one event per packet fate, for tests and traces.
//!
//! Every packet produces a [`PacketFate::Sent`] event when it leaves its
//! socket, then one event per copy saying what became of it:
//! [`Delivered`](PacketFate::Delivered) to the destination socket or
//! [`Dropped`](PacketFate::Dropped) with a reason (at send or on arrival).
//! Recording is opt-in ([`Simulation::record_packets`]); while it is off
//! the only cost is one branch per fate. Events are stored compactly (node
//! indices, ports) and expanded into [`PacketEvent`]s when read.
//!
//! [`Simulation::record_packets`]: crate::Simulation::record_packets

pub use crate::trace::packet::PacketFate;
pub(crate) use crate::trace::packet::RawPacket as RawEvent;
use crate::{
    group::table::{Group, GroupId},
    kernel::Kernel,
    time::instant::Instant,
};
use std::net::SocketAddr;

/// One entry of the packet log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketEvent {
    /// When it happened.
    pub time: Instant,
    /// The packet's id, shared by its copies (and its capture records).
    pub id: u64,
    /// The sending node.
    pub from: Group,
    /// The destination node.
    pub to: Group,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Payload length in bytes.
    pub len: usize,
    /// What happened.
    pub fate: PacketFate,
    /// Whether this copy is an extra one made by duplication.
    pub duplicate: bool,
    /// Whether this copy's payload was corrupted.
    pub corrupted: bool,
}

impl RawEvent {
    /// Expands the entry; `group_of` maps a node index to its group.
    pub(crate) fn expand(
        &self,
        inner: &Kernel,
        group_of: impl Fn(u32) -> GroupId,
        addr_of: impl Fn(u32) -> std::net::IpAddr,
    ) -> PacketEvent {
        PacketEvent {
            time: Instant::from_nanos(self.time),
            id: self.id,
            from: inner.groups.borrow().group(group_of(self.from)),
            to: inner.groups.borrow().group(group_of(self.to)),
            src: SocketAddr::new(addr_of(self.from), self.src_port),
            dst: SocketAddr::new(addr_of(self.to), self.dst_port),
            len: self.len as usize,
            fate: self.fate,
            duplicate: self.duplicate,
            corrupted: self.corrupted,
        }
    }
}
