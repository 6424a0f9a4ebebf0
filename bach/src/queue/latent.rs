//! [`Latent`]: items become poppable a latency after their push.

use super::{Metered, PopError, PushError, Queue, QueueMetrics, Stamped};
use crate::time::{Duration, Instant};
use std::{fmt, marker::PhantomData};

/// How long an item stays invisible after its push.
pub trait Latency<T> {
    /// The latency of `item`, sampled once, at push time.
    fn latency(&mut self, item: &T) -> Duration;
}

impl<T> Latency<T> for Duration {
    fn latency(&mut self, _item: &T) -> Duration {
        *self
    }
}

impl<T, F: FnMut(&T) -> Duration> Latency<T> for F {
    fn latency(&mut self, item: &T) -> Duration {
        self(item)
    }
}

/// Delays items: each becomes poppable at its push instant plus its
/// latency; see [`QueueExt::latent`](super::QueueExt::latent).
///
/// Items are stored as [`Stamped`] with their ready instant in the queue
/// below, whose order decides what is next; `pop` returns
/// [`PopError::NotReady`] until the next item is ready, so receivers of a
/// channel sleep until exactly that instant. With a FIFO below and a fixed
/// latency, items leave in push order, each exactly `latency` after its
/// push.
pub struct Latent<Q, T, L = Duration> {
    inner: Q,
    latency: L,
    _item: PhantomData<fn(T) -> T>,
}

impl<Q, T, L> Latent<Q, T, L> {
    /// Wraps `inner`.
    pub fn new(inner: Q, latency: L) -> Self {
        Self {
            inner,
            latency,
            _item: PhantomData,
        }
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }
}

impl<Q, T, L> Queue<T> for Latent<Q, T, L>
where
    Q: Queue<Stamped<T>>,
    L: Latency<T>,
{
    #[track_caller]
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        if self.inner.is_closed() {
            return Err(PushError::Closed(item));
        }
        let at = Instant::now() + self.latency.latency(&item);
        match self.inner.push(Stamped { at, value: item }) {
            Ok(dropped) => Ok(dropped.map(|stamped| stamped.value)),
            Err(err) => Err(err.map(|stamped| stamped.value)),
        }
    }

    #[track_caller]
    fn pop(&mut self) -> Result<T, PopError> {
        if let Some(next) = self.inner.peek() {
            if next.at > Instant::now() {
                return Err(PopError::NotReady(next.at));
            }
        }
        self.inner.pop().map(|stamped| stamped.value)
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

impl<Q: Metered, T, L> Metered for Latent<Q, T, L> {
    fn metrics(&self) -> &QueueMetrics {
        self.inner.metrics()
    }
}

impl<Q: fmt::Debug, T, L> fmt::Debug for Latent<Q, T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latent")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
