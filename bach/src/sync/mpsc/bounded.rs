//! The bounded channel: [`Sender`], [`Receiver`], permits, weak senders.

use super::{
    chan::Chan,
    error::{SendError, SendTimeoutError, TryRecvError, TrySendError},
};
use crate::{
    sync::{
        semaphore::{Acquire, TryAcquireError},
        wait::WaitKey,
    },
    time::Duration,
};
use std::{
    fmt,
    future::{poll_fn, Future},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// Creates a bounded channel holding at most `buffer` messages.
///
/// Senders wait (first-in, first-out) while it is full. Panics if
/// `buffer` is 0 (like tokio) or above the semaphore limit.
#[track_caller]
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    assert!(
        buffer <= crate::sync::semaphore::MAX_PERMITS,
        "mpsc bounded channel buffer of {buffer} exceeds the limit"
    );
    let chan = Rc::new(Chan::new(Some(buffer)));
    (Sender { chan: chan.clone() }, Receiver { chan, key: None })
}

/// Sends messages into a bounded channel. Clone it for more senders; the
/// channel closes for the receiver when every `Sender` is gone.
pub struct Sender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot (behind earlier waiting
    /// senders). Fails, handing the value back, if the receiver is closed
    /// or dropped.
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        SendFuture {
            chan: &self.chan,
            acquire: Acquire::new(&self.chan.permits, 1),
            value: Some(value),
        }
    }

    /// Sends `value` if a slot is free now and no sender waits.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.permits.borrow_mut().try_acquire(1) {
            Ok(()) => {}
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(value)),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(value)),
        }
        self.chan.push(value).map_err(|value| {
            self.chan.release(1);
            TrySendError::Closed(value)
        })
    }

    /// [`Self::send`], giving up after `timeout` of simulated time.
    pub async fn send_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        match crate::time::timeout(timeout, Acquire::new(&self.chan.permits, 1)).await {
            Err(_) => Err(SendTimeoutError::Timeout(value)),
            Ok(Err(_)) => Err(SendTimeoutError::Closed(value)),
            Ok(Ok(())) => self.chan.push(value).map_err(|value| {
                self.chan.release(1);
                SendTimeoutError::Closed(value)
            }),
        }
    }

    /// Waits for a free slot and reserves it.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        Acquire::new(&self.chan.permits, 1)
            .await
            .map_err(|_| SendError(()))?;
        self.chan.reserve(1);
        Ok(Permit { chan: &self.chan })
    }

    /// Waits for `n` free slots and reserves them. Fails if the channel is
    /// closed or `n` exceeds its capacity.
    pub async fn reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, SendError<()>> {
        if n > self.max_capacity() {
            return Err(SendError(()));
        }
        Acquire::new(&self.chan.permits, n)
            .await
            .map_err(|_| SendError(()))?;
        self.chan.reserve(n);
        Ok(PermitIterator {
            chan: &self.chan,
            remaining: n,
        })
    }

    /// Reserves a free slot now, if there is one and no sender waits.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.try_acquire(1)?;
        Ok(Permit { chan: &self.chan })
    }

    /// Reserves `n` free slots now, if there are and no sender waits.
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        if n > self.max_capacity() {
            return Err(TrySendError::Full(()));
        }
        self.try_acquire(n)?;
        Ok(PermitIterator {
            chan: &self.chan,
            remaining: n,
        })
    }

    /// [`Self::reserve`], the permit owning this sender.
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        Acquire::new(&self.chan.permits, 1)
            .await
            .map_err(|_| SendError(()))?;
        self.chan.reserve(1);
        Ok(OwnedPermit { sender: Some(self) })
    }

    /// [`Self::try_reserve`], the permit owning this sender.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        match self.try_acquire(1) {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }

    fn try_acquire(&self, n: usize) -> Result<(), TrySendError<()>> {
        match self.chan.permits.borrow_mut().try_acquire(n) {
            Ok(()) => {}
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(())),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(())),
        }
        self.chan.reserve(n);
        Ok(())
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

    /// Free slots right now.
    pub fn capacity(&self) -> usize {
        self.chan.permits.borrow().available()
    }

    /// The channel's buffer size.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound.expect("bounded channel")
    }

    /// A sender that does not keep the channel open.
    pub fn downgrade(&self) -> WeakSender<T> {
        self.chan.inner.borrow_mut().weak_senders += 1;
        WeakSender {
            chan: self.chan.clone(),
        }
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }

    /// Number of live `Sender`s.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakSender`s.
    pub fn weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::Sender", f)
    }
}

/// The future of [`Sender::send`].
struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    acquire: Acquire<'a>,
    value: Option<T>,
}

// The value is moved, never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let acquired = match Pin::new(&mut this.acquire).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(acquired) => acquired,
        };
        let value = this
            .value
            .take()
            .expect("SendFuture polled after completion");
        if acquired.is_err() {
            return Poll::Ready(Err(SendError(value)));
        }
        Poll::Ready(this.chan.push(value).map_err(|value| {
            this.chan.release(1);
            SendError(value)
        }))
    }
}

/// A sender's registration in `closed()`, removed when dropped.
pub(super) struct ClosedWait<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) key: Option<WaitKey>,
}

impl<T> Drop for ClosedWait<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.cancel_closed(key);
        }
    }
}

/// Receives from a bounded channel.
///
/// [`recv`](Self::recv) yields the messages in order, then `None` once
/// every sender is gone (or the receiver was closed and every reserved
/// permit was used or dropped). Dropping the receiver drops whatever is
/// still buffered. Also a [`Stream`](futures::Stream).
pub struct Receiver<T> {
    chan: Rc<Chan<T>>,
    key: Option<WaitKey>,
}

impl<T> Receiver<T> {
    /// Waits for the next message; `None` when the channel is finished.
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        RecvFuture {
            chan: &self.chan,
            key: &mut self.key,
        }
    }

    /// Waits for at least one message, then moves up to `limit` buffered
    /// messages into `buffer`; returns how many (0 when finished or when
    /// `limit` is 0).
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        recv_many(&self.chan, &mut self.key, buffer, limit).await
    }

    /// Takes the next message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Polls for the next message (the registration stays with the
    /// receiver until a message or the end arrives).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(&mut self.key, cx)
    }

    /// Closes the channel for senders without dropping buffered messages;
    /// senders holding permits may still use them.
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

    /// Free slots right now.
    pub fn capacity(&self) -> usize {
        self.chan.permits.borrow().available()
    }

    /// The channel's buffer size.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound.expect("bounded channel")
    }

    /// Number of live `Sender`s.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakSender`s.
    pub fn sender_weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_rx(self.key.take());
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::Receiver", f)
    }
}

impl<T> futures::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), None)
    }
}

/// The future of `recv`: removes its registration if dropped while waiting.
pub(super) struct RecvFuture<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) key: &'a mut Option<WaitKey>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        this.chan.poll_recv(this.key, cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.cancel_recv(key);
        }
    }
}

pub(super) async fn recv_many<T>(
    chan: &Chan<T>,
    key: &mut Option<WaitKey>,
    buffer: &mut Vec<T>,
    limit: usize,
) -> usize {
    if limit == 0 {
        return 0;
    }
    match (RecvFuture { chan, key }).await {
        None => 0,
        Some(first) => {
            buffer.push(first);
            1 + chan.drain_into(buffer, limit - 1)
        }
    }
}

/// One reserved slot; [`send`](Self::send) uses it, dropping returns it.
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved slot (never waits). If the receiver
    /// was dropped meanwhile, the value is dropped.
    pub fn send(self, value: T) {
        let chan = self.chan;
        std::mem::forget(self);
        if chan.push(value).is_err() {
            chan.release(1);
        }
        chan.unreserve(1);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release(1);
        self.chan.unreserve(1);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// Reserved slots from [`Sender::reserve_many`], one [`Permit`] per item;
/// slots not taken return when it is dropped.
pub struct PermitIterator<'a, T> {
    chan: &'a Chan<T>,
    remaining: usize,
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(Permit { chan: self.chan })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}

impl<T> Drop for PermitIterator<'_, T> {
    fn drop(&mut self) {
        if self.remaining > 0 {
            self.chan.release(self.remaining);
            self.chan.unreserve(self.remaining);
        }
    }
}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitIterator")
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// A reserved slot that owns its [`Sender`].
pub struct OwnedPermit<T> {
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` into the reserved slot and returns the sender.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.sender.take().expect("the permit owns its sender");
        if sender.chan.push(value).is_err() {
            sender.chan.release(1);
        }
        sender.chan.unreserve(1);
        sender
    }

    /// Gives the slot back without sending; returns the sender.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("the permit owns its sender");
        sender.chan.release(1);
        sender.chan.unreserve(1);
        sender
    }

    /// Whether both permits belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        match (&self.sender, &other.sender) {
            (Some(a), Some(b)) => a.same_channel(b),
            _ => false,
        }
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.chan.release(1);
            sender.chan.unreserve(1);
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

/// A sender that does not keep the channel open; [`upgrade`](Self::upgrade)
/// it to send.
pub struct WeakSender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> WeakSender<T> {
    /// A `Sender`, if any other `Sender` is still alive.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        self.chan.touch();
        self.chan.touch_count();
        let mut inner = self.chan.inner.borrow_mut();
        if inner.senders == 0 {
            return None;
        }
        inner.senders += 1;
        Some(Sender {
            chan: self.chan.clone(),
        })
    }

    /// Number of live `Sender`s.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// Number of live `WeakSender`s.
    pub fn weak_count(&self) -> usize {
        self.chan.inner.borrow().weak_senders
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        self.chan.inner.borrow_mut().weak_senders += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for WeakSender<T> {
    fn drop(&mut self) {
        self.chan.inner.borrow_mut().weak_senders -= 1;
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.debug("mpsc::WeakSender", f)
    }
}
