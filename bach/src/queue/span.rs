//! [`Span`]: a named queue.

use super::{Metered, PopError, PushError, Queue, QueueMetrics};
use std::{fmt, rc::Rc};

/// Gives a queue a name: its [`QueueMetrics`] carry it (and label the
/// `metrics` crate series with it, with the `metrics` feature), `Debug`
/// prints it, and with bach's `tracing` feature every push, pop and drop is
/// a `TRACE` event inside a `queue` span carrying the name and length.
pub struct Span<Q> {
    inner: Q,
    name: Rc<str>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl<Q> Span<Q> {
    /// Wraps `inner` under `name`.
    pub fn new(inner: Q, name: String) -> Self
    where
        Q: Metered,
    {
        #[cfg(feature = "tracing")]
        let span = tracing::trace_span!("queue", name = %name);
        let name: Rc<str> = name.into();
        inner.metrics().set_name(name.clone());
        Self {
            inner,
            name,
            #[cfg(feature = "tracing")]
            span,
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }
}

impl<T, Q: Queue<T>> Queue<T> for Span<Q> {
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        let result = self.inner.push(item);
        #[cfg(feature = "tracing")]
        {
            let len = self.inner.len();
            match &result {
                Ok(None) => tracing::trace!(parent: &self.span, len, "push"),
                Ok(Some(_)) => tracing::trace!(parent: &self.span, len, "push, dropping an item"),
                Err(PushError::Full(_)) => {
                    tracing::trace!(parent: &self.span, len, "push rejected: full")
                }
                Err(PushError::Closed(_)) => {
                    tracing::trace!(parent: &self.span, len, "push rejected: closed")
                }
            }
        }
        result
    }

    fn pop(&mut self) -> Result<T, PopError> {
        let result = self.inner.pop();
        #[cfg(feature = "tracing")]
        if result.is_ok() {
            tracing::trace!(parent: &self.span, len = self.inner.len(), "pop");
        }
        result
    }

    fn peek(&self) -> Option<&T> {
        self.inner.peek()
    }

    fn close(&mut self) {
        #[cfg(feature = "tracing")]
        tracing::trace!(parent: &self.span, len = self.inner.len(), "close");
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

impl<Q: Metered> Metered for Span<Q> {
    fn metrics(&self) -> &QueueMetrics {
        self.inner.metrics()
    }
}

impl<Q: fmt::Debug> fmt::Debug for Span<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Queue "uplink" Ring { .. }`
        write!(f, "Queue {:?} ", &*self.name)?;
        fmt::Debug::fmt(&self.inner, f)
    }
}
