//! Multi-producer, single-consumer channels (tokio's `mpsc`).
//!
//! [`channel`] is bounded: a sender waits while the buffer is full, and
//! waiting senders get free slots first-in, first-out. Slots can be
//! reserved ahead of sending ([`Sender::reserve`], owned and batched
//! variants). [`unbounded_channel`] never makes senders wait. Receivers
//! yield messages in send order, then `None` once every sender is gone;
//! both receivers are also `futures::Stream`s. Weak senders do not keep a
//! channel open.
//!
//! Sending and receiving in steady state allocate nothing (a ring buffer
//! reused in place; wakers are task indices). Everything is single-threaded
//! (`!Send`), and every wait goes through the simulation's wait queues, so
//! wake order is deterministic.
//!
//! Deviations from tokio: no `blocking_send`/`blocking_recv` (nothing may
//! block the simulation thread); `send_timeout` measures simulated time.

mod bounded;
mod chan;
pub mod error;
mod unbounded;

pub use bounded::{channel, OwnedPermit, Permit, PermitIterator, Receiver, Sender, WeakSender};
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender, WeakUnboundedSender};
