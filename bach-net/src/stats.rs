//! Packet counters: how many packets were sent, delivered and dropped (by
//! reason), in total and per node.
//!
//! [`Network::send`](crate::Network::send) counts what it decides (sends,
//! send-time drops, duplications, corruptions); the runtime reports what only
//! it sees through [`Network::record_delivered`](crate::Network::record_delivered)
//! and [`Network::record_drop`](crate::Network::record_drop). Counters are
//! fixed arrays indexed by [`DropReason::index`], so counting never allocates
//! or hashes. This module never decides anything.

use crate::DropReason;

/// One counter per [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::COUNT]);

impl DropCounts {
    /// The count for `reason`.
    #[inline]
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every reason, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&reason| (reason, self.get(reason)))
    }

    #[inline]
    pub(crate) fn add(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }
}

/// Network-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed to [`Network::send`](crate::Network::send) (loopback
    /// included; sends refused for exceeding the MTU excluded), plus those
    /// reported through
    /// [`Network::record_dropped_send`](crate::Network::record_dropped_send).
    pub sent: u64,
    /// Copies delivered, as reported by the runtime through `record_delivered`.
    pub delivered: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Copies marked corrupted.
    pub corrupted: u64,
    /// Packets and copies dropped, by reason (send-time and runtime drops).
    pub dropped: DropCounts,
}

/// Counters of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Packets this node sent.
    pub sent: u64,
    /// Copies delivered to this node.
    pub delivered: u64,
    /// Drops of packets this node sent, by reason.
    pub dropped_as_sender: DropCounts,
    /// Drops of packets addressed to this node, by reason.
    pub dropped_as_receiver: DropCounts,
}
