//! The unbounded channel: [`UnboundedSender`], [`UnboundedReceiver`].

use super::{
    bounded::{recv_many, ClosedWait, RecvFuture},
    chan::Chan,
    error::{SendError, TryRecvError},
};
use crate::sync::wait::WaitKey;
use std::{
    fmt,
    future::{poll_fn, Future},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// Creates a channel without a capacity limit: sending never waits.
#[track_caller]
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Rc::new(Chan::new(None));
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { chan, key: None },
    )
}

/// Sends into an unbounded channel. Clone it for more senders.
pub struct UnboundedSender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once. Fails, handing it back, if the receiver is
    /// closed or dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.chan.is_closed() {
            return Err(SendError(value));
        }
        self.chan.push(value).map_err(SendError)
    }

    /// Completes when the receiver is closed or dropped.
    pub async fn closed(&self) {
        let mut wait = ClosedWait {
            chan: &self.chan,
            key: None,
        };
        poll_fn(|cx| wait.chan.poll_closed(&mut wait.key, cx)).await
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// A sender that does not keep the channel open.
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        self.chan.inner.borrow_mut().weak_senders += 1;
        WeakUnboundedSender {
            chan: self.chan.clone(),
        }
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }

    /// Number of live `UnboundedSender`s.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakUnboundedSender`s.
    pub fn weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::UnboundedSender", f)
    }
}

/// Receives from an unbounded channel; see [`Receiver`](super::Receiver)
/// for the end-of-channel rules. Also a [`Stream`](futures::Stream).
pub struct UnboundedReceiver<T> {
    chan: Rc<Chan<T>>,
    key: Option<WaitKey>,
}

impl<T> UnboundedReceiver<T> {
    /// Waits for the next message; `None` when the channel is finished.
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        RecvFuture {
            chan: &self.chan,
            key: &mut self.key,
        }
    }

    /// Waits for at least one message, then moves up to `limit` buffered
    /// messages into `buffer`; returns how many.
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        recv_many(&self.chan, &mut self.key, buffer, limit).await
    }

    /// Takes the next message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Polls for the next message.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(&mut self.key, cx)
    }

    /// Closes the channel for senders without dropping buffered messages.
    pub fn close(&mut self) {
        self.chan.close_rx();
    }

    /// Whether no more messages will arrive beyond those buffered.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_is_closed()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// Number of buffered messages.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Number of live `UnboundedSender`s.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakUnboundedSender`s.
    pub fn sender_weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.drop_rx(self.key.take());
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::UnboundedReceiver", f)
    }
}

impl<T> futures::Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), None)
    }
}

/// An unbounded sender that does not keep the channel open.
pub struct WeakUnboundedSender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> WeakUnboundedSender<T> {
    /// An `UnboundedSender`, if any other one is still alive.
    pub fn upgrade(&self) -> Option<UnboundedSender<T>> {
        self.chan.touch();
        self.chan.touch_count();
        let mut inner = self.chan.inner.borrow_mut();
        if inner.senders == 0 {
            return None;
        }
        inner.senders += 1;
        Some(UnboundedSender {
            chan: self.chan.clone(),
        })
    }

    /// Number of live `UnboundedSender`s.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakUnboundedSender`s.
    pub fn weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.inner.borrow_mut().weak_senders += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for WeakUnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.inner.borrow_mut().weak_senders -= 1;
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::WeakUnboundedSender", f)
    }
}
