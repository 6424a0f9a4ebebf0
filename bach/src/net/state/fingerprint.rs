//! What model checking reads of the packets in flight: content hashes,
//! their order, and the network's part of a state fingerprint.

use super::*;

/// A content hash of packet `key` (ends, payload, corruption): identical
/// packets in flight are interchangeable for model checking.
pub(crate) fn packet_hash(inner: &impl NetWorld, key: u32) -> u64 {
    content_hash(borrow(inner).packets.get(key))
}

/// [`packet_hash`] of a packet at hand.
pub(super) fn content_hash(packet: &Packet) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = crate::check::fingerprint::FingerprintHasher::default();
    (
        packet.from.as_u32(),
        packet.to.as_u32(),
        packet.src_port,
        packet.dst_port,
    )
        .hash(&mut hasher);
    packet.payload.hash_bytes(&mut hasher);
    hasher.finish()
}

/// When packet `key` was sent (send order, then storage key).
pub(crate) fn packet_order(inner: &impl NetWorld, key: u32) -> (u64, u32) {
    (borrow(inner).packets.get(key).id, key)
}

/// Adds the network's state to a model-checking fingerprint: the multiset
/// of packets in flight (among the queue's `pending` entries, hashed into
/// the reused `hashes`) and, per socket, the datagrams waiting in its
/// receive buffer.
pub(crate) fn hash_network(
    inner: &impl NetWorld,
    timers: &crate::time::timers::TimerQueue<TimerEvent>,
    pending: &[(crate::time::timers::TimerKey, u64)],
    hashes: &mut Vec<u64>,
    hasher: &mut impl std::hash::Hasher,
) {
    use std::hash::Hash;
    let st = borrow(inner);
    hashes.clear();
    hashes.extend(
        pending
            .iter()
            .filter_map(|&(key, _)| match timers.value(key)? {
                TimerEvent::Deliver(packet) => Some(content_hash(st.packets.get(*packet))),
                TimerEvent::Wake(_) => None,
            }),
    );
    hashes.sort_unstable();
    hashes.hash(hasher);
    for (_, socket) in &st.sockets {
        (socket.node.as_u32(), socket.port, socket.queue.len()).hash(hasher);
        for &key in &socket.queue {
            st.packets.get(key).payload.hash_bytes(hasher);
        }
    }
    st.down.hash(hasher);
}
