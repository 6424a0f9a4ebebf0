//! [`Ring`]: the FIFO / LIFO ring-buffer storage queue.

use super::{Metered, Overflow, PopError, PushError, Queue, QueueMetrics};
use std::{collections::VecDeque, fmt};

/// Which end of a [`Ring`] `pop` takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discipline {
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
}

/// A ring buffer of items, popped first-in first-out or last-in first-out.
///
/// Bounded rings reserve their whole capacity up front (up to 64 Ki items;
/// larger ones grow on demand), so pushing and popping never allocate once
/// the ring has reached its working size. When full, the [`Overflow`]
/// policy decides: reject the new item, or drop the oldest one (for both
/// disciplines, the item pushed earliest).
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: Option<usize>,
    discipline: Discipline,
    overflow: Overflow,
    closed: bool,
    metrics: QueueMetrics,
}

impl<T> Ring<T> {
    /// A ring with the given discipline and capacity (`None`: unbounded).
    /// Panics if the capacity is `Some(0)`.
    #[track_caller]
    pub fn new(discipline: Discipline, capacity: Option<usize>) -> Self {
        assert!(
            capacity != Some(0),
            "a bounded queue needs a capacity of at least 1"
        );
        let reserve = capacity.unwrap_or(0).min(1 << 16);
        Self {
            items: VecDeque::with_capacity(reserve),
            capacity,
            discipline,
            overflow: Overflow::RejectNew,
            closed: false,
            metrics: QueueMetrics::new(),
        }
    }

    /// Sets the overflow policy (default: [`Overflow::RejectNew`]).
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The discipline.
    pub fn discipline(&self) -> Discipline {
        self.discipline
    }

    /// The overflow policy.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }
}

impl<T> Queue<T> for Ring<T> {
    #[inline]
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
                    dropped = self.items.pop_front();
                    self.metrics.record_dropped();
                }
            }
        }
        self.items.push_back(item);
        self.metrics.record_push(self.items.len());
        Ok(dropped)
    }

    #[inline]
    fn pop(&mut self) -> Result<T, PopError> {
        let item = match self.discipline {
            Discipline::Fifo => self.items.pop_front(),
            Discipline::Lifo => self.items.pop_back(),
        };
        match item {
            Some(item) => {
                self.metrics.record_pop(self.items.len());
                Ok(item)
            }
            None if self.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn peek(&self) -> Option<&T> {
        match self.discipline {
            Discipline::Fifo => self.items.front(),
            Discipline::Lifo => self.items.back(),
        }
    }

    fn close(&mut self) {
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }
}

impl<T> Metered for Ring<T> {
    fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("name", &self.metrics.name())
            .field("discipline", &self.discipline)
            .field("len", &self.items.len())
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("closed", &self.closed)
            .finish()
    }
}
