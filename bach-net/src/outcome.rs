//! What happens to a packet: the values [`Network::send`](crate::Network::send)
//! returns and the reasons a packet can be dropped.
//!
//! A [`SendOutcome`] is a small `Copy` value: either one [`DropReason`], or one
//! or two [`Delivery`] times (two when the link duplicated the packet). The
//! runtime schedules each delivery on its timer queue at send time; iterating
//! an outcome never allocates. Some drop reasons are never produced by the
//! model itself but by the runtime (`NodeDown`, `ReceiveBufferFull`,
//! `NoSocket` when a scheduled delivery arrives, `Monitor` when a user's
//! monitor drops a packet); they live here so every
//! packet's fate has one vocabulary in stats, traces and captures.

use std::fmt;
use std::time::Duration;

/// Why a packet was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Lost on the link (the link's `loss_probability`).
    Loss,
    /// The sender and receiver are on different sides of a partition.
    Partitioned,
    /// The sender is disconnected from the network.
    SenderDisconnected,
    /// The receiver is disconnected from the network.
    ReceiverDisconnected,
    /// The directed link is disabled (by config or `set_link_enabled`).
    LinkDisabled,
    /// The sender drops all of its outgoing packets.
    DropOutgoing,
    /// The receiver drops all of its incoming packets.
    DropIncoming,
    /// The link's bandwidth queue was full.
    QueueFull,
    /// The receiving node was down when the packet arrived (runtime).
    NodeDown,
    /// The receiving socket's buffer was full (runtime).
    ReceiveBufferFull,
    /// No socket was bound at the destination port, or the socket there is
    /// connected to another peer (runtime).
    NoSocket,
    /// A monitor installed by the user dropped it (runtime).
    Monitor,
}

impl DropReason {
    /// How many reasons exist: the length of per-reason counter arrays.
    pub const COUNT: usize = 12;

    /// Every reason, in declaration order (`ALL[r.index()] == r`).
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Loss,
        DropReason::Partitioned,
        DropReason::SenderDisconnected,
        DropReason::ReceiverDisconnected,
        DropReason::LinkDisabled,
        DropReason::DropOutgoing,
        DropReason::DropIncoming,
        DropReason::QueueFull,
        DropReason::NodeDown,
        DropReason::ReceiveBufferFull,
        DropReason::NoSocket,
        DropReason::Monitor,
    ];

    /// The position of this reason in [`ALL`](Self::ALL).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short stable lowercase label for traces and captures, e.g. `"loss"`,
    /// `"partition"`, `"queue-full"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partitioned => "partition",
            DropReason::SenderDisconnected => "sender-disconnected",
            DropReason::ReceiverDisconnected => "receiver-disconnected",
            DropReason::LinkDisabled => "link-disabled",
            DropReason::DropOutgoing => "drop-outgoing",
            DropReason::DropIncoming => "drop-incoming",
            DropReason::QueueFull => "queue-full",
            DropReason::NodeDown => "node-down",
            DropReason::ReceiveBufferFull => "receive-buffer-full",
            DropReason::NoSocket => "no-socket",
            DropReason::Monitor => "monitor",
        }
    }

    /// The capture comment for a packet dropped for this reason,
    /// `"dropped: "` followed by [`as_str`](Self::as_str); static, so
    /// writing it costs no allocation.
    pub const fn capture_comment(self) -> &'static str {
        match self {
            DropReason::Loss => "dropped: loss",
            DropReason::Partitioned => "dropped: partition",
            DropReason::SenderDisconnected => "dropped: sender-disconnected",
            DropReason::ReceiverDisconnected => "dropped: receiver-disconnected",
            DropReason::LinkDisabled => "dropped: link-disabled",
            DropReason::DropOutgoing => "dropped: drop-outgoing",
            DropReason::DropIncoming => "dropped: drop-incoming",
            DropReason::QueueFull => "dropped: queue-full",
            DropReason::NodeDown => "dropped: node-down",
            DropReason::ReceiveBufferFull => "dropped: receive-buffer-full",
            DropReason::NoSocket => "dropped: no-socket",
            DropReason::Monitor => "dropped: monitor",
        }
    }
}

impl fmt::Display for DropReason {
    /// Writes [`as_str`](Self::as_str).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One copy of a packet arriving at its destination. Times are simulated
/// time since the start: a `Duration` from [`Network::send`](crate::Network::send),
/// nanoseconds (`u64`) from [`Network::send_nanos`](crate::Network::send_nanos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<T = Duration> {
    /// When the copy leaves the sender (after any bandwidth queueing).
    pub departs: T,
    /// When the copy arrives.
    pub at: T,
    /// Whether the runtime must flip a payload bit of this copy (with
    /// [`corrupt`](crate::corrupt)) before handing it over.
    pub corrupted: bool,
    /// Whether this copy is the extra one a duplication created.
    pub duplicate: bool,
}

impl<T> Delivery<T> {
    /// The same delivery with its times converted by `f`.
    #[inline]
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Delivery<U> {
        Delivery {
            departs: f(self.departs),
            at: f(self.at),
            corrupted: self.corrupted,
            duplicate: self.duplicate,
        }
    }

    /// The capture comment for this copy's fate: `None` for a plain delivery,
    /// else `"duplicate"`, `"corrupted"` or `"duplicate, corrupted"`.
    pub const fn capture_comment(&self) -> Option<&'static str> {
        match (self.duplicate, self.corrupted) {
            (false, false) => None,
            (true, false) => Some("duplicate"),
            (false, true) => Some("corrupted"),
            (true, true) => Some("duplicate, corrupted"),
        }
    }
}

/// The fate of one send: a drop, or one or two deliveries (with times as
/// `T`, see [`Delivery`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome<T = Duration> {
    /// Not delivered at all.
    Dropped(DropReason),
    /// Delivered once, or twice when the link duplicated the packet.
    Delivered {
        /// The original copy.
        original: Delivery<T>,
        /// The extra copy, if the link duplicated the packet.
        duplicate: Option<Delivery<T>>,
    },
}

impl<T: Copy> SendOutcome<T> {
    /// The same outcome with its delivery times converted by `f`.
    #[inline]
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> SendOutcome<U> {
        match self {
            SendOutcome::Dropped(reason) => SendOutcome::Dropped(reason),
            SendOutcome::Delivered {
                original,
                duplicate,
            } => SendOutcome::Delivered {
                original: original.map_time(&f),
                duplicate: duplicate.map(|copy| copy.map_time(&f)),
            },
        }
    }

    /// The drop reason, if the packet was dropped.
    #[inline]
    pub const fn dropped(&self) -> Option<DropReason> {
        match *self {
            SendOutcome::Dropped(reason) => Some(reason),
            SendOutcome::Delivered { .. } => None,
        }
    }

    /// The deliveries (zero, one or two), original first, without allocating.
    #[inline]
    pub fn deliveries(&self) -> Deliveries<T> {
        let (first, second) = match *self {
            SendOutcome::Dropped(_) => (None, None),
            SendOutcome::Delivered {
                original,
                duplicate,
            } => (Some(original), duplicate),
        };
        Deliveries { first, second }
    }
}

impl<T: Copy> IntoIterator for SendOutcome<T> {
    type Item = Delivery<T>;
    type IntoIter = Deliveries<T>;

    #[inline]
    fn into_iter(self) -> Deliveries<T> {
        self.deliveries()
    }
}

/// Iterator over the deliveries of a [`SendOutcome`], original first.
#[derive(Clone, Debug)]
pub struct Deliveries<T = Duration> {
    first: Option<Delivery<T>>,
    second: Option<Delivery<T>>,
}

impl<T> Iterator for Deliveries<T> {
    type Item = Delivery<T>;

    #[inline]
    fn next(&mut self) -> Option<Delivery<T>> {
        self.first.take().or_else(|| self.second.take())
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.first.is_some()) + usize::from(self.second.is_some());
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for Deliveries<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_stable_distinct_labels_and_indices() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert_eq!(reason.to_string(), reason.as_str());
            assert_eq!(
                reason.capture_comment(),
                format!("dropped: {}", reason.as_str())
            );
            assert!(reason
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
        let mut labels: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::COUNT);
        assert_eq!(DropReason::Partitioned.as_str(), "partition");
    }

    #[test]
    fn outcome_iterates_original_then_duplicate() {
        let copy = |ms, duplicate| Delivery {
            departs: Duration::ZERO,
            at: Duration::from_millis(ms),
            corrupted: false,
            duplicate,
        };
        let two = SendOutcome::Delivered {
            original: copy(3, false),
            duplicate: Some(copy(2, true)),
        };
        assert_eq!(two.deliveries().len(), 2);
        assert_eq!(
            two.into_iter().collect::<Vec<_>>(),
            [copy(3, false), copy(2, true)]
        );
        assert_eq!(two.dropped(), None);

        let dropped: SendOutcome = SendOutcome::Dropped(DropReason::Loss);
        assert_eq!(dropped.deliveries().count(), 0);
        assert_eq!(dropped.dropped(), Some(DropReason::Loss));
        assert_eq!(copy(1, true).capture_comment(), Some("duplicate"));
        assert_eq!(copy(1, false).capture_comment(), None);
    }
}
