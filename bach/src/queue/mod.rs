//! Composable queues: the [`Queue`] trait, storage queues (FIFO and LIFO
//! ring buffers, priority), wrappers that add behaviour, and adapters that
//! turn any queue into an async channel.
//!
//! Build a queue from a storage queue and wrap it with [`QueueExt`]
//! methods, innermost first; then hand it to tasks with
//! [`QueueExt::channel`] (or link two tasks with [`duplex`]):
//!
//! ```
//! use bach::{ext::*, queue::{self, Overflow}, time::Instant};
//!
//! bach::sim(|| {
//!     let queue = queue::fifo(64)
//!         .with_overflow(Overflow::DropOldest) // never blocks the sender
//!         .lossy(0.01)                         // 1% lost at push time
//!         .latent(10.ms())                     // poppable 10 ms after push
//!         .sojourn()                           // records time in queue
//!         .span("uplink");                     // names it in metrics and traces
//!     let metrics = queue.metrics().clone();
//!     let (tx, mut rx) = queue.channel();
//!     async move {
//!         for i in 0..100u32 {
//!             tx.send(i).await.unwrap();
//!             1.ms().sleep().await;
//!         }
//!     }
//!     .spawn();
//!     async move {
//!         while let Some(_item) = rx.recv().await {}
//!         assert_eq!(metrics.popped() + metrics.lost(), 100);
//!         assert_eq!(metrics.sojourn().max, 10.ms());
//!     }
//!     .primary()
//!     .spawn();
//! });
//! ```
//!
//! * Storage: [`fifo`], [`lifo`] ([`Ring`]) and [`priority`]
//!   ([`Priority`]) with a capacity and an [`Overflow`] policy: reject the
//!   new item ([`PushError::Full`]) or drop the oldest one.
//! * [`latent`](QueueExt::latent): items become poppable a latency after
//!   their push; poppers wait for the head item on the simulation's timer
//!   queue (one reusable timer per waiting receiver, no task per item).
//! * [`lossy`](QueueExt::lossy): each push is lost with probability `p`,
//!   drawn from the simulation's choice source.
//! * [`sojourn`](QueueExt::sojourn): records each item's time in queue.
//! * [`span`](QueueExt::span): names the queue in metrics, `Debug` output
//!   and (with the `tracing` feature) trace events.
//!
//! Wrappers that need per-item data ([`latent`](QueueExt::latent),
//! [`sojourn`](QueueExt::sojourn)) store items as [`Stamped`] in the queue
//! below them; build the storage queue without naming its item type and
//! inference fills it in.
//!
//! Every queue reports into one [`QueueMetrics`] handle shared by all its
//! layers: pushes, pops, length (current, maximum, time-weighted mean),
//! items dropped by overflow, rejected and lost, and sojourn statistics.
//! With the `metrics` feature the same figures go to the `metrics` crate.
//!
//! This module never spawns tasks and never consults randomness or time
//! except through `bach::rand` and `bach::time`. Queues are plain data; only
//! the channel adapters wait, through the same wait queues as
//! [`bach::sync`](crate::sync).

mod channel;
mod duplex;
mod latent;
mod lossy;
mod metrics;
mod priority;
mod ring;
mod sojourn;
mod span;

pub use channel::{Receiver, SendError, Sender};
pub use duplex::{duplex, Duplex};
pub use latent::{Latency, Latent};
pub use lossy::Lossy;
pub use metrics::{QueueMetrics, SojournStats};
pub use priority::Priority;
pub use ring::{Discipline, Ring};
pub use sojourn::Sojourn;
pub use span::Span;

use crate::time::Instant;
use std::fmt;

/// Anything that reports into a [`QueueMetrics`]: every queue, whatever
/// its item type (so `queue.metrics()` works before the item type is
/// known).
pub trait Metered {
    /// The metrics every layer of this queue reports into.
    fn metrics(&self) -> &QueueMetrics;
}

impl<Q: Metered + ?Sized> Metered for Box<Q> {
    fn metrics(&self) -> &QueueMetrics {
        (**self).metrics()
    }
}

/// A queue of `T`: the common interface of storage queues and wrappers.
///
/// All methods are synchronous; [`QueueExt::channel`] adds waiting.
pub trait Queue<T>: Metered {
    /// Adds an item. `Ok(None)`: stored. `Ok(Some(item))`: accepted, but
    /// `item` (this one or an older one) was discarded to honour the
    /// queue's policy (drop-oldest overflow, loss). `Err` hands the item
    /// back: [`PushError::Full`] or [`PushError::Closed`].
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>>;

    /// Removes the next item: [`PopError::Empty`], [`PopError::Closed`]
    /// (closed and drained) or [`PopError::NotReady`] (the next item
    /// becomes available at a later instant).
    fn pop(&mut self) -> Result<T, PopError>;

    /// The item `pop` would return next, ignoring readiness.
    fn peek(&self) -> Option<&T>;

    /// Refuses new items from now on; stored items can still be popped.
    fn close(&mut self);

    /// Whether [`Queue::close`] was called.
    fn is_closed(&self) -> bool;

    /// Number of stored items.
    fn len(&self) -> usize;

    /// Maximum number of stored items; `None` when unbounded.
    fn capacity(&self) -> Option<usize>;

    /// Whether no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a push would overflow.
    fn is_full(&self) -> bool {
        self.capacity()
            .is_some_and(|capacity| self.len() >= capacity)
    }
}

impl<T, Q: Queue<T> + ?Sized> Queue<T> for Box<Q> {
    fn push(&mut self, item: T) -> Result<Option<T>, PushError<T>> {
        (**self).push(item)
    }
    fn pop(&mut self) -> Result<T, PopError> {
        (**self).pop()
    }
    fn peek(&self) -> Option<&T> {
        (**self).peek()
    }
    fn close(&mut self) {
        (**self).close()
    }
    fn is_closed(&self) -> bool {
        (**self).is_closed()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn capacity(&self) -> Option<usize> {
        (**self).capacity()
    }
}

/// What a full storage queue does with a new item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse it: `push` returns [`PushError::Full`] (the default).
    #[default]
    RejectNew,
    /// Make room by discarding the item that was pushed earliest; `push`
    /// returns it as `Ok(Some(oldest))`.
    DropOldest,
}

/// Why a push failed; the item is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The queue is at capacity and its policy is [`Overflow::RejectNew`].
    Full(T),
    /// The queue was closed.
    Closed(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// The same error around another item.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> PushError<U> {
        match self {
            Self::Full(item) => PushError::Full(f(item)),
            Self::Closed(item) => PushError::Closed(f(item)),
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue is full (overflow policy: reject new items)"),
            Self::Closed(_) => f.write_str("queue is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

impl<T> From<PushError<T>> for std::io::Error {
    fn from(err: PushError<T>) -> Self {
        let kind = match err {
            PushError::Full(_) => std::io::ErrorKind::WouldBlock,
            PushError::Closed(_) => std::io::ErrorKind::BrokenPipe,
        };
        std::io::Error::new(kind, err.to_string())
    }
}

/// Why a pop returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopError {
    /// Nothing stored.
    Empty,
    /// Nothing stored, and the queue is closed: nothing will come.
    Closed,
    /// The next item becomes available at this instant.
    NotReady(Instant),
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("queue is empty"),
            Self::Closed => f.write_str("queue is empty and closed"),
            Self::NotReady(at) => write!(f, "the next item is not ready until {at}"),
        }
    }
}

impl std::error::Error for PopError {}

impl From<PopError> for std::io::Error {
    fn from(err: PopError) -> Self {
        let kind = match err {
            PopError::Empty | PopError::NotReady(_) => std::io::ErrorKind::WouldBlock,
            PopError::Closed => std::io::ErrorKind::BrokenPipe,
        };
        std::io::Error::new(kind, err.to_string())
    }
}

/// An item with an instant attached, as stored below [`Latent`] (the
/// instant it becomes ready) and [`Sojourn`] (the instant it was pushed).
///
/// Equality and ordering look at `value` only, so a [`Priority`] queue of
/// stamped items orders them by their values.
#[derive(Clone, Copy, Debug)]
pub struct Stamped<T> {
    /// The instant attached by the wrapper above.
    pub at: Instant,
    /// The item.
    pub value: T,
}

impl<T: PartialEq> PartialEq for Stamped<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Stamped<T> {}

impl<T: PartialOrd> PartialOrd for Stamped<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Stamped<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

/// A bounded first-in, first-out queue; see [`Ring`].
/// Panics if `capacity` is 0.
#[track_caller]
pub fn fifo<T>(capacity: usize) -> Ring<T> {
    Ring::new(Discipline::Fifo, Some(capacity))
}

/// A bounded last-in, first-out queue; see [`Ring`].
/// Panics if `capacity` is 0.
#[track_caller]
pub fn lifo<T>(capacity: usize) -> Ring<T> {
    Ring::new(Discipline::Lifo, Some(capacity))
}

/// An unbounded first-in, first-out queue.
pub fn unbounded<T>() -> Ring<T> {
    Ring::new(Discipline::Fifo, None)
}

/// A bounded priority queue: greatest item first, FIFO among equals.
/// Panics if `capacity` is 0.
#[track_caller]
pub fn priority<T: Ord>(capacity: usize) -> Priority<T> {
    Priority::new(Some(capacity))
}

/// Wrappers and adapters for every queue: `queue::fifo(8).latent(5.ms())`.
pub trait QueueExt<T>: Queue<T> + Sized {
    /// Loses each pushed item with probability `p` (drawn through
    /// `bach::rand`, at push time). Panics unless `0 <= p <= 1`.
    #[track_caller]
    fn lossy(self, p: f64) -> Lossy<Self> {
        Lossy::new(self, p)
    }

    /// Names the queue in its metrics, `Debug` output and trace events.
    fn span(self, name: impl Into<String>) -> Span<Self> {
        Span::new(self, name.into())
    }

    /// Makes each item poppable `latency` after its push (a [`Duration`](crate::time::Duration),
    /// or a closure `FnMut(&I) -> Duration` for per-item latency).
    fn latent<I, L>(self, latency: L) -> Latent<Self, I, L>
    where
        Self: Queue<Stamped<I>>,
        L: Latency<I>,
    {
        Latent::new(self, latency)
    }

    /// Records each item's time in queue into the queue's metrics.
    fn sojourn<I>(self) -> Sojourn<Self, I>
    where
        Self: Queue<Stamped<I>>,
    {
        Sojourn::new(self)
    }

    /// Turns the queue into an async channel: cloneable senders that wait
    /// while the queue is full, cloneable receivers that wait for the next
    /// ready item.
    #[track_caller]
    fn channel(self) -> (Sender<T>, Receiver<T>)
    where
        Self: 'static,
        T: 'static,
    {
        channel::channel(self)
    }
}

impl<T, Q: Queue<T>> QueueExt<T> for Q {}
