//! [`Lossy`]: each push is lost with a fixed probability.

use super::{Metered, PopError, PushError, Queue, QueueMetrics};
use std::fmt;

/// Loses pushed items with probability `p`, decided at push time through
/// `bach::rand::gen_bool` (the simulation's one choice source). A lost
/// item is returned as `Ok(Some(item))` and counted in
/// [`QueueMetrics::lost`].
pub struct Lossy<Q> {
    inner: Q,
    p: f64,
}

impl<Q> Lossy<Q> {
    /// Wraps `inner`. Panics unless `0 <= p <= 1`.
    #[track_caller]
    pub fn new(inner: Q, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "loss probability {p} is not in [0, 1]"
        );
        Self { inner, p }
    }

    /// The loss probability.
    pub fn probability(&self) -> f64 {
        self.p
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }
}

impl<T, Q: Queue<T>> Queue<T> for Lossy<Q> {
    #[track_caller]
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        if self.inner.is_closed() {
            return Err(PushError::Closed(item));
        }
        if crate::rand::gen_bool(self.p) {
            self.inner.metrics().record_lost();
            return Ok(Some(item));
        }
        self.inner.push(item)
    }

    fn pop(&mut self) -> Result<T, PopError> {
        self.inner.pop()
    }

    fn peek(&self) -> Option<&T> {
        self.inner.peek()
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

impl<Q: Metered> Metered for Lossy<Q> {
    fn metrics(&self) -> &QueueMetrics {
        self.inner.metrics()
    }
}

impl<Q: fmt::Debug> fmt::Debug for Lossy<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lossy")
            .field("p", &self.p)
            .field("inner", &self.inner)
            .finish()
    }
}
