//! The state shared by both halves of an `mpsc` channel, and the receive
//! logic common to the bounded and unbounded receivers.
//!
//! Capacity is a permit ledger (one permit per free slot, handed to waiting
//! senders first-in, first-out); messages sit in a `VecDeque` ring buffer
//! that grows to the channel's working size once and is reused from then
//! on. Sending and receiving in steady state therefore never allocate.
//!
//! Under interleaving exploration the channel is one resource: a bounded
//! send's scheduling point is its `Acquire` (the slot), a receive's is
//! `Chan::poll_recv`, and every synchronous access (`push`, `try_recv`,
//! closing) records a touch. The count of senders is a second resource:
//! counting reads it, cloning and dropping a sender change it in ways that
//! commute with each other (shared accesses), and only the last sender's
//! drop touches the channel.

use crate::{
    check::interleave,
    sync::{
        semaphore::{self, Permits},
        wait::{self, ResourceId, WaitKey, WaitQueue, WakeList},
    },
};
use std::{
    cell::RefCell,
    collections::VecDeque,
    fmt,
    task::{ready, Context, Poll},
};

use super::error::TryRecvError;

pub(super) struct Chan<T> {
    /// The channel's id (also its ledger's and wait queues'), readable
    /// without a borrow.
    pub(super) resource: ResourceId,
    /// Capacity of a bounded channel; `None` when unbounded.
    pub(super) bound: Option<usize>,
    /// Free slots of a bounded channel (untouched when unbounded).
    pub(super) permits: RefCell<Permits>,
    pub(super) inner: RefCell<Inner<T>>,
}

pub(super) struct Inner<T> {
    buffer: VecDeque<T>,
    /// The receiver, when it waits for a message.
    recv: WaitQueue,
    /// Senders waiting in `closed()`.
    closed: WaitQueue,
    pub(super) senders: usize,
    pub(super) weak_senders: usize,
    /// Permits reserved through `reserve*` and not yet used or dropped.
    reserved: usize,
    /// `Receiver::close` was called, or the receiver was dropped.
    pub(super) rx_closed: bool,
    /// The receiver was dropped: anything sent now is dropped at once.
    rx_dropped: bool,
}

impl<T> Chan<T> {
    #[track_caller]
    pub(super) fn new(bound: Option<usize>) -> Self {
        let resource = ResourceId::next();
        let site = std::panic::Location::caller();
        let kind = "mpsc channel";
        // Start small; the ring grows to the working size once.
        let initial = bound.unwrap_or(0).min(1024);
        Self {
            resource,
            bound,
            permits: RefCell::new(Permits::new(bound.unwrap_or(0), resource, kind, site)),
            inner: RefCell::new(Inner {
                buffer: VecDeque::with_capacity(initial),
                recv: WaitQueue::new(resource, kind, site),
                closed: WaitQueue::new(resource, kind, site),
                senders: 1,
                weak_senders: 0,
                reserved: 0,
                rx_closed: false,
                rx_dropped: false,
            }),
        }
    }

    /// Buffers a message (its slot, if bounded, is already acquired) and
    /// wakes the receiver. Hands the message back if the receiver is gone.
    /// Records no touch: every caller has already passed a scheduling point
    /// or touched the channel (acquiring the slot, `is_closed`, `unreserve`).
    #[inline]
    pub(super) fn push(&self, value: T) -> Result<(), T> {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if inner.rx_dropped {
                return Err(value);
            }
            inner.buffer.push_back(value);
            inner.recv.wake_one()
        };
        wait::wake(waker);
        Ok(())
    }

    /// Records a synchronous access by the running task (exploration).
    #[inline]
    pub(super) fn touch(&self) {
        interleave::touch(self.resource);
    }

    /// Returns `n` slots (bounded channels only). Records no touch: every
    /// caller has passed a scheduling point or touched the channel.
    #[inline]
    pub(super) fn release(&self, n: usize) {
        if self.bound.is_some() && n > 0 {
            semaphore::release_touched(&self.permits, n);
        }
    }

    /// Records `n` permits handed out by `reserve*`.
    pub(super) fn reserve(&self, n: usize) {
        self.inner.borrow_mut().reserved += n;
    }

    /// `n` reserved permits were used or dropped.
    pub(super) fn unreserve(&self, n: usize) {
        self.touch();
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.reserved -= n;
            if inner.rx_closed && inner.reserved == 0 {
                inner.recv.wake_one()
            } else {
                None
            }
        };
        wait::wake(waker);
    }

    /// Whether the receiver is closed or gone.
    pub(super) fn is_closed(&self) -> bool {
        self.touch();
        self.inner.borrow().rx_closed
    }

    /// The number of live senders. Counting touches the count only (a
    /// resource of its own), so it conflicts with cloning and dropping
    /// senders, not with sends.
    pub(super) fn sender_count(&self) -> usize {
        self.touch_count();
        self.inner.borrow().senders
    }

    /// Records a read of the count of senders (or a change that depends on
    /// it, such as upgrading a weak sender).
    pub(super) fn touch_count(&self) {
        interleave::touch_side(self.resource, false);
    }

    /// A new sender, cloned from a live one: commutes with other clones
    /// and drops (the count cannot reach zero meanwhile).
    pub(super) fn add_sender(&self) {
        interleave::touch_side(self.resource, true);
        self.inner.borrow_mut().senders += 1;
    }

    /// A sender is gone. Only the last one's drop (which closes the
    /// channel for the receiver) touches the channel itself: dropping any
    /// other commutes with sends and receives.
    pub(super) fn drop_sender(&self) {
        interleave::touch_side(self.resource, true);
        if self.inner.borrow().senders == 1 {
            self.touch();
        }
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.senders -= 1;
            if inner.senders == 0 {
                inner.recv.wake_one()
            } else {
                None
            }
        };
        wait::wake(waker);
    }

    /// Polls `Sender::closed`.
    pub(super) fn poll_closed(&self, key: &mut Option<WaitKey>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(interleave::point(cx, self.resource));
        let mut inner = self.inner.borrow_mut();
        if inner.rx_closed {
            if let Some(key) = key.take() {
                inner.closed.remove(key);
            }
            return Poll::Ready(());
        }
        match key {
            Some(key) => inner.closed.rearm(key, cx.waker()),
            None => *key = Some(inner.closed.register(Some(cx.waker()), ())),
        }
        Poll::Pending
    }

    pub(super) fn cancel_closed(&self, key: WaitKey) {
        self.inner.borrow_mut().closed.remove(key);
    }

    /// Closes the receiving side: senders fail from now on (except with
    /// permits reserved before), waiting senders and `closed()` wake up.
    pub(super) fn close_rx(&self) {
        self.touch();
        self.inner.borrow_mut().rx_closed = true;
        if self.bound.is_some() {
            semaphore::close(&self.permits);
        }
        let mut wakes = WakeList::new();
        loop {
            let more = self.inner.borrow_mut().closed.wake_all(&mut wakes);
            wakes.wake_all();
            if !more {
                break;
            }
        }
    }

    /// The receiver is dropped: close, and drop what is buffered.
    pub(super) fn drop_rx(&self, key: Option<WaitKey>) {
        let buffered = {
            let mut inner = self.inner.borrow_mut();
            if let Some(key) = key {
                inner.recv.remove(key);
            }
            inner.rx_dropped = true;
            std::mem::take(&mut inner.buffer)
        };
        self.close_rx();
        // Message destructors may use the channel: run them unborrowed.
        drop(buffered);
    }

    /// Polls for the next message: the scheduling point of every receive
    /// (`recv`, `recv_many`, `poll_recv`, the `Stream`).
    #[inline]
    pub(super) fn poll_recv(
        &self,
        key: &mut Option<WaitKey>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        ready!(interleave::point(cx, self.resource));
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.buffer.pop_front() {
            if let Some(key) = key.take() {
                inner.recv.remove(key);
            }
            drop(inner);
            self.release(1);
            return Poll::Ready(Some(value));
        }
        if inner.senders == 0 || (inner.rx_closed && inner.reserved == 0) {
            if let Some(key) = key.take() {
                inner.recv.remove(key);
            }
            return Poll::Ready(None);
        }
        match key {
            Some(key) => inner.recv.rearm(key, cx.waker()),
            None => *key = Some(inner.recv.register(Some(cx.waker()), ())),
        }
        Poll::Pending
    }

    /// Moves up to `limit` buffered messages into `buffer`.
    pub(super) fn drain_into(&self, buffer: &mut Vec<T>, limit: usize) -> usize {
        self.touch();
        let taken = {
            let mut inner = self.inner.borrow_mut();
            let n = limit.min(inner.buffer.len());
            buffer.extend(inner.buffer.drain(..n));
            n
        };
        self.release(taken);
        taken
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.touch();
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.buffer.pop_front() {
            drop(inner);
            self.release(1);
            return Ok(value);
        }
        if inner.senders == 0 || (inner.rx_closed && inner.reserved == 0) {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    pub(super) fn cancel_recv(&self, key: WaitKey) {
        self.inner.borrow_mut().recv.remove(key);
    }

    pub(super) fn len(&self) -> usize {
        self.touch();
        self.inner.borrow().buffer.len()
    }

    /// Whether the receiver will see no more messages after the buffer.
    pub(super) fn rx_is_closed(&self) -> bool {
        self.touch();
        let inner = self.inner.borrow();
        inner.rx_closed || inner.senders == 0
    }

    pub(super) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        let mut d = f.debug_struct(name);
        d.field("resource", &inner.recv.resource())
            .field("buffered", &inner.buffer.len());
        if let Some(bound) = self.bound {
            d.field("capacity", &bound);
        }
        d.field("senders", &inner.senders)
            .field("closed", &inner.rx_closed)
            .finish()
    }
}
