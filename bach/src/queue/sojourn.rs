//! [`Sojourn`]: records how long each item stays in the queue.

use super::{Metered, PopError, PushError, Queue, QueueMetrics, Stamped};
use crate::time::Instant;
use std::{fmt, marker::PhantomData};

/// Stamps items with their push instant and, when they are popped, records
/// the time they spent queued in [`QueueMetrics::sojourn`] (items dropped
/// by overflow or loss are not counted).
pub struct Sojourn<Q, T> {
    inner: Q,
    _item: PhantomData<fn(T) -> T>,
}

impl<Q, T> Sojourn<Q, T> {
    /// Wraps `inner`.
    pub fn new(inner: Q) -> Self {
        Self {
            inner,
            _item: PhantomData,
        }
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }
}

impl<Q: Queue<Stamped<T>>, T> Queue<T> for Sojourn<Q, T> {
    #[track_caller]
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        let stamped = Stamped {
            at: Instant::now(),
            value: item,
        };
        match self.inner.push(stamped) {
            Ok(dropped) => Ok(dropped.map(|stamped| stamped.value)),
            Err(err) => Err(err.map(|stamped| stamped.value)),
        }
    }

    #[track_caller]
    fn pop(&mut self) -> Result<T, PopError> {
        let stamped = self.inner.pop()?;
        self.inner
            .metrics()
            .record_sojourn(Instant::now().saturating_duration_since(stamped.at));
        Ok(stamped.value)
    }

    fn peek(&self) -> Option<&T> {
        self.inner.peek().map(|stamped| &stamped.value)
    }

    fn close(&mut self) {
        self.inner.close()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }
}

impl<Q: Metered, T> Metered for Sojourn<Q, T> {
    fn metrics(&self) -> &QueueMetrics {
        self.inner.metrics()
    }
}

impl<Q: fmt::Debug, T> fmt::Debug for Sojourn<Q, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sojourn")
            .field("inner", &self.inner)
            .finish()
    }
}
