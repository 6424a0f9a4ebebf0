//! [`Priority`]: the priority storage queue.

use super::{Metered, Overflow, PopError, PushError, Queue, QueueMetrics};
use std::{cmp::Ordering, collections::BinaryHeap, fmt};

struct Entry<T> {
    item: T,
    /// Push order: older entries win ties and are dropped first.
    seq: u64,
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.item
            .cmp(&other.item)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A priority queue: `pop` returns the greatest item, the earliest pushed
/// among equals (wrap items in `std::cmp::Reverse` for smallest first).
///
/// A binary heap; push and pop are O(log n). With [`Overflow::DropOldest`]
/// a full queue discards the item pushed earliest (O(n), on overflow only).
pub struct Priority<T> {
    heap: BinaryHeap<Entry<T>>,
    capacity: Option<usize>,
    overflow: Overflow,
    seq: u64,
    closed: bool,
    metrics: QueueMetrics,
}

impl<T: Ord> Priority<T> {
    /// A priority queue holding at most `capacity` items (`None`:
    /// unbounded). Panics if the capacity is `Some(0)`.
    #[track_caller]
    pub fn new(capacity: Option<usize>) -> Self {
        assert!(
            capacity != Some(0),
            "a bounded queue needs a capacity of at least 1"
        );
        Self {
            heap: BinaryHeap::with_capacity(capacity.unwrap_or(0).min(1 << 16)),
            capacity,
            overflow: Overflow::RejectNew,
            seq: 0,
            closed: false,
            metrics: QueueMetrics::new(),
        }
    }

    /// Sets the overflow policy (default: [`Overflow::RejectNew`]).
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    fn drop_oldest(&mut self) -> Option<T> {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        let oldest = entries
            .iter()
            .enumerate()
            .min_by_key(|(_, entry)| entry.seq)
            .map(|(index, _)| index);
        let dropped = oldest.map(|index| entries.swap_remove(index).item);
        self.heap = BinaryHeap::from(entries);
        dropped
    }
}

impl<T: Ord> Queue<T> for Priority<T> {
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        if self.closed {
            return Err(PushError::Closed(item));
        }
        let mut dropped = None;
        if self.is_full() {
            match self.overflow {
                Overflow::RejectNew => {
                    self.metrics.record_rejected();
                    return Err(PushError::Full(item));
                }
                Overflow::DropOldest => {
                    dropped = self.drop_oldest();
                    self.metrics.record_dropped();
                }
            }
        }
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { item, seq });
        self.metrics.record_push(self.heap.len());
        Ok(dropped)
    }

    fn pop(&mut self) -> Result<T, PopError> {
        match self.heap.pop() {
            Some(entry) => {
                self.metrics.record_pop(self.heap.len());
                Ok(entry.item)
            }
            None if self.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn peek(&self) -> Option<&T> {
        self.heap.peek().map(|entry| &entry.item)
    }

    fn close(&mut self) {
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }
}

impl<T> Metered for Priority<T> {
    fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("name", &self.metrics.name())
            .field("len", &self.heap.len())
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("closed", &self.closed)
            .finish()
    }
}
