//! [`QueueMetrics`]: what a queue observed, readable from code.

use crate::time::{Duration, Instant};
use std::{
    cell::{Cell, RefCell},
    fmt,
    rc::Rc,
};

/// Counters shared by every layer of one queue (and by every clone of the
/// handle, so keep one before moving the queue into a channel).
///
/// Storage queues count pushes, pops, overflow drops and rejections and
/// track the length; [`Lossy`](super::Lossy) counts losses;
/// [`Sojourn`](super::Sojourn) records time in queue; [`Span`](super::Span)
/// sets the name. Recording is a few `Cell` updates: no allocation, no
/// clock read except for the time-weighted length.
///
/// With bach's `metrics` feature, every recording is also forwarded to the
/// `metrics` crate (`bach_queue_*` series labelled `queue = <name>`).
#[derive(Clone)]
pub struct QueueMetrics {
    inner: Rc<Counters>,
}

#[derive(Default)]
struct Counters {
    name: RefCell<Option<Rc<str>>>,
    pushed: Cell<u64>,
    popped: Cell<u64>,
    dropped: Cell<u64>,
    rejected: Cell<u64>,
    lost: Cell<u64>,
    len: Cell<usize>,
    max_len: Cell<usize>,
    /// When the length was first observed (ns), and last changed.
    since: Cell<Option<u64>>,
    last_change: Cell<u64>,
    /// Integral of the length over time, in item-nanoseconds.
    len_area: Cell<u128>,
    sojourn_count: Cell<u64>,
    sojourn_total: Cell<u128>,
    sojourn_min: Cell<u64>,
    sojourn_max: Cell<u64>,
    #[cfg(feature = "metrics")]
    export: RefCell<Option<export::Handles>>,
}

impl QueueMetrics {
    /// Fresh counters.
    pub fn new() -> Self {
        let metrics = Self {
            inner: Rc::new(Counters {
                sojourn_min: Cell::new(u64::MAX),
                ..Counters::default()
            }),
        };
        if let Some(now) = Instant::try_now() {
            metrics.inner.since.set(Some(now.as_nanos()));
            metrics.inner.last_change.set(now.as_nanos());
        }
        metrics
    }

    /// The queue's name, if [`span`](super::QueueExt::span) gave it one.
    pub fn name(&self) -> Option<Rc<str>> {
        self.inner.name.borrow().clone()
    }

    /// Names the queue.
    pub fn set_name(&self, name: Rc<str>) {
        #[cfg(feature = "metrics")]
        {
            *self.inner.export.borrow_mut() = Some(export::Handles::new(&name));
        }
        *self.inner.name.borrow_mut() = Some(name);
    }

    /// Items accepted into storage.
    pub fn pushed(&self) -> u64 {
        self.inner.pushed.get()
    }

    /// Items removed by `pop`.
    pub fn popped(&self) -> u64 {
        self.inner.popped.get()
    }

    /// Stored items discarded to make room ([`Overflow::DropOldest`](super::Overflow::DropOldest)).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.get()
    }

    /// Pushes refused because the queue was full.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.get()
    }

    /// Pushes lost by [`Lossy`](super::Lossy).
    pub fn lost(&self) -> u64 {
        self.inner.lost.get()
    }

    /// Items discarded or refused for any reason: dropped, rejected, lost.
    pub fn total_drops(&self) -> u64 {
        self.dropped() + self.rejected() + self.lost()
    }

    /// Items stored right now.
    pub fn len(&self) -> usize {
        self.inner.len.get()
    }

    /// Whether no item is stored right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest length seen.
    pub fn max_len(&self) -> usize {
        self.inner.max_len.get()
    }

    /// The length averaged over simulated time since the queue was created
    /// (the `L` of Little's law). Outside the simulation (after it ended)
    /// the average runs up to the last change of length.
    pub fn mean_len(&self) -> f64 {
        let c = &self.inner;
        let Some(since) = c.since.get() else {
            return c.len.get() as f64;
        };
        let now = Instant::try_now()
            .map(Instant::as_nanos)
            .unwrap_or(c.last_change.get());
        let elapsed = now.saturating_sub(since);
        if elapsed == 0 {
            return c.len.get() as f64;
        }
        let pending = c.len.get() as u128 * now.saturating_sub(c.last_change.get()) as u128;
        (c.len_area.get() + pending) as f64 / elapsed as f64
    }

    /// Time-in-queue statistics recorded by [`Sojourn`](super::Sojourn).
    pub fn sojourn(&self) -> SojournStats {
        let c = &self.inner;
        let count = c.sojourn_count.get();
        if count == 0 {
            return SojournStats::default();
        }
        let total = c.sojourn_total.get();
        SojournStats {
            count,
            total: Duration::from_nanos(u64::try_from(total).unwrap_or(u64::MAX)),
            mean: Duration::from_nanos((total / count as u128) as u64),
            min: Duration::from_nanos(c.sojourn_min.get()),
            max: Duration::from_nanos(c.sojourn_max.get()),
        }
    }

    /// Records an accepted push; `len` is the length after it.
    #[inline]
    pub fn record_push(&self, len: usize) {
        let c = &self.inner;
        c.pushed.set(c.pushed.get() + 1);
        self.set_len(len);
        #[cfg(feature = "metrics")]
        self.export(|h| h.pushed.increment(1));
    }

    /// Records a pop; `len` is the length after it.
    #[inline]
    pub fn record_pop(&self, len: usize) {
        let c = &self.inner;
        c.popped.set(c.popped.get() + 1);
        self.set_len(len);
        #[cfg(feature = "metrics")]
        self.export(|h| h.popped.increment(1));
    }

    /// Records a stored item discarded to make room.
    pub fn record_dropped(&self) {
        let c = &self.inner;
        c.dropped.set(c.dropped.get() + 1);
        #[cfg(feature = "metrics")]
        self.export(|h| h.dropped.increment(1));
    }

    /// Records a push refused because the queue was full.
    pub fn record_rejected(&self) {
        let c = &self.inner;
        c.rejected.set(c.rejected.get() + 1);
        #[cfg(feature = "metrics")]
        self.export(|h| h.rejected.increment(1));
    }

    /// Records a lost push.
    pub fn record_lost(&self) {
        let c = &self.inner;
        c.lost.set(c.lost.get() + 1);
        #[cfg(feature = "metrics")]
        self.export(|h| h.lost.increment(1));
    }

    /// Records one item's time in queue.
    pub fn record_sojourn(&self, sojourn: Duration) {
        let c = &self.inner;
        let nanos = u64::try_from(sojourn.as_nanos()).unwrap_or(u64::MAX);
        c.sojourn_count.set(c.sojourn_count.get() + 1);
        c.sojourn_total.set(c.sojourn_total.get() + nanos as u128);
        c.sojourn_min.set(c.sojourn_min.get().min(nanos));
        c.sojourn_max.set(c.sojourn_max.get().max(nanos));
        #[cfg(feature = "metrics")]
        self.export(|h| h.sojourn.record(sojourn.as_secs_f64()));
    }

    #[inline]
    fn set_len(&self, len: usize) {
        let c = &self.inner;
        if let Some(now) = Instant::try_now() {
            let now = now.as_nanos();
            if c.since.get().is_none() {
                c.since.set(Some(now));
                c.last_change.set(now);
            }
            let span = now.saturating_sub(c.last_change.get());
            c.len_area
                .set(c.len_area.get() + c.len.get() as u128 * span as u128);
            c.last_change.set(now);
        }
        c.len.set(len);
        c.max_len.set(c.max_len.get().max(len));
        #[cfg(feature = "metrics")]
        self.export(|h| h.len.set(len as f64));
    }

    #[cfg(feature = "metrics")]
    #[inline]
    fn export(&self, f: impl FnOnce(&export::Handles)) {
        if let Some(handles) = &*self.inner.export.borrow() {
            f(handles);
        }
    }
}

impl Default for QueueMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for QueueMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueMetrics")
            .field("name", &self.name())
            .field("pushed", &self.pushed())
            .field("popped", &self.popped())
            .field("len", &self.len())
            .field("max_len", &self.max_len())
            .field("dropped", &self.dropped())
            .field("rejected", &self.rejected())
            .field("lost", &self.lost())
            .field("sojourn", &self.sojourn())
            .finish()
    }
}

/// Time-in-queue statistics; all zero before the first sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SojournStats {
    /// Number of items measured.
    pub count: u64,
    /// Sum of their sojourn times.
    pub total: Duration,
    /// Mean sojourn time.
    pub mean: Duration,
    /// Shortest sojourn time.
    pub min: Duration,
    /// Longest sojourn time.
    pub max: Duration,
}

#[cfg(feature = "metrics")]
mod export {
    //! Handles into the `metrics` crate, registered once per named queue.

    use std::rc::Rc;

    pub(super) struct Handles {
        pub(super) pushed: metrics::Counter,
        pub(super) popped: metrics::Counter,
        pub(super) dropped: metrics::Counter,
        pub(super) rejected: metrics::Counter,
        pub(super) lost: metrics::Counter,
        pub(super) len: metrics::Gauge,
        pub(super) sojourn: metrics::Histogram,
    }

    impl Handles {
        pub(super) fn new(name: &Rc<str>) -> Self {
            let queue = name.to_string();
            Self {
                pushed: metrics::counter!("bach_queue_pushed", "queue" => queue.clone()),
                popped: metrics::counter!("bach_queue_popped", "queue" => queue.clone()),
                dropped: metrics::counter!("bach_queue_dropped", "queue" => queue.clone()),
                rejected: metrics::counter!("bach_queue_rejected", "queue" => queue.clone()),
                lost: metrics::counter!("bach_queue_lost", "queue" => queue.clone()),
                len: metrics::gauge!("bach_queue_len", "queue" => queue.clone()),
                sojourn: metrics::histogram!("bach_queue_sojourn_seconds", "queue" => queue),
            }
        }
    }
}
