//! The packet log's record: what became of a packet (or one copy of it),
//! stored compactly (nodes by index, ports) until it is read. A leaf: the
//! network engine records it, the trace's ring holds it, and `net::log`
//! expands it into a user-facing `PacketEvent`.

use bach_net::DropReason;

/// What happened to a packet (or one copy of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketFate {
    /// It left its socket; further events tell the fate of each copy.
    Sent,
    /// It reached the destination socket's receive buffer.
    Delivered,
    /// It was dropped, at send or on arrival.
    Dropped(DropReason),
}

/// A compact log entry: nodes by index, addresses rebuilt on read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawPacket {
    pub(crate) time: u64,
    pub(crate) id: u64,
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) len: u32,
    pub(crate) fate: PacketFate,
    pub(crate) duplicate: bool,
    pub(crate) corrupted: bool,
}
