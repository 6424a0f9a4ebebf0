//! The channel adapter: any [`Queue`] as an async sender / receiver pair.
//!
//! Under interleaving exploration the whole channel is one resource: a
//! send's scheduling point is `SendFuture`'s poll, a receive's is
//! [`Receiver::poll_recv`], and every synchronous access records a touch.

use super::{PopError, PushError, Queue, QueueMetrics};
use crate::{
    check::interleave,
    sync::{ResourceId, WaitKey, WaitQueue, WakeList},
    time::{sleep_until, Instant, Sleep},
};
use std::{
    cell::RefCell,
    fmt,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{ready, Context, Poll, Waker},
};

struct State<Q: ?Sized> {
    /// Senders waiting for room.
    pushers: WaitQueue,
    /// Receivers waiting for an item (or for the next one to be ready).
    poppers: WaitQueue,
    senders: usize,
    receivers: usize,
    queue: Q,
}

type Shared<T> = Rc<RefCell<State<dyn Queue<T>>>>;

#[track_caller]
pub(super) fn channel<T: 'static, Q: Queue<T> + 'static>(queue: Q) -> (Sender<T>, Receiver<T>) {
    let resource = ResourceId::next();
    let site = std::panic::Location::caller();
    let shared: Shared<T> = Rc::new(RefCell::new(State {
        pushers: WaitQueue::new(resource, "queue channel", site),
        poppers: WaitQueue::new(resource, "queue channel", site),
        senders: 1,
        receivers: 1,
        queue,
    }));
    (
        Sender {
            resource,
            shared: shared.clone(),
        },
        Receiver {
            resource,
            shared,
            key: None,
            sleep: None,
        },
    )
}

/// Wakes every waiter of one side (after a close).
fn wake_all<T>(shared: &Shared<T>, pushers: bool) {
    let mut wakes = WakeList::new();
    loop {
        let more = {
            let mut state = shared.borrow_mut();
            let queue = if pushers {
                &mut state.pushers
            } else {
                &mut state.poppers
            };
            queue.wake_all(&mut wakes)
        };
        wakes.wake_all();
        if !more {
            break;
        }
    }
}

fn close<T>(shared: &Shared<T>) {
    shared.borrow_mut().queue.close();
    wake_all(shared, true);
    wake_all(shared, false);
}

fn debug<T>(shared: &Shared<T>, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let state = shared.borrow();
    f.debug_struct(name)
        .field("queue", &state.queue.metrics().name())
        .field("resource", &state.poppers.resource())
        .field("len", &state.queue.len())
        .field("capacity", &state.queue.capacity())
        .field("closed", &state.queue.is_closed())
        .finish()
}

/// The sending half of a queue channel. Clone it for more senders; when
/// the last one is dropped the queue closes (receivers drain it, then get
/// `None`).
pub struct Sender<T> {
    /// The channel's id (also in its wait queues), readable without a borrow.
    resource: ResourceId,
    shared: Shared<T>,
}

impl<T> Sender<T> {
    /// Pushes `item`, waiting while the queue is full (first-in, first-out
    /// among waiting senders). An item the queue discards by policy
    /// (drop-oldest, loss) still counts as sent. Fails, handing the item
    /// back, once the queue is closed.
    pub fn send(&self, item: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        SendFuture {
            resource: self.resource,
            shared: &self.shared,
            item: Some(item),
            key: None,
        }
    }

    /// Pushes `item` now, with the queue's own result: `Ok(Some(x))` if `x`
    /// was discarded by policy, [`PushError::Full`] if full.
    pub fn try_send(&self, item: T) -> Result<Option<T>, PushError<T>> {
        interleave::touch(self.resource);
        let (result, waker) = {
            let mut state = self.shared.borrow_mut();
            let result = state.queue.push(item);
            let waker = if result.is_ok() {
                state.poppers.wake_one()
            } else {
                None
            };
            (result, waker)
        };
        crate::sync::wake(waker);
        result
    }

    /// Closes the queue: sends fail from now on; receivers drain it.
    pub fn close(&self) {
        interleave::touch(self.resource);
        close(&self.shared);
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        interleave::touch(self.resource);
        self.shared.borrow().queue.is_closed()
    }

    /// Items stored right now.
    pub fn len(&self) -> usize {
        interleave::touch(self.resource);
        self.shared.borrow().queue.len()
    }

    /// Whether no item is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.shared.borrow().queue.capacity()
    }

    /// The queue's metrics.
    pub fn metrics(&self) -> QueueMetrics {
        self.shared.borrow().queue.metrics().clone()
    }

    /// Whether both senders feed the same queue.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        interleave::touch(self.resource);
        self.shared.borrow_mut().senders += 1;
        Self {
            resource: self.resource,
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        interleave::touch(self.resource);
        let last = {
            let mut state = self.shared.borrow_mut();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            close(&self.shared);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.shared, "queue::Sender", f)
    }
}

struct SendFuture<'a, T> {
    resource: ResourceId,
    shared: &'a Shared<T>,
    item: Option<T>,
    key: Option<WaitKey>,
}

// The item is moved, never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(interleave::point(cx, this.resource));
        let item = this.item.take().expect("send polled after completion");
        let mut guard = this.shared.borrow_mut();
        let state = &mut *guard;
        // Newcomers queue behind waiting senders (FIFO fairness).
        if this.key.is_none() && state.pushers.registered() > 0 && !state.queue.is_closed() {
            this.item = Some(item);
            this.key = Some(state.pushers.register(Some(cx.waker()), ()));
            return Poll::Pending;
        }
        match state.queue.push(item) {
            Ok(discarded) => {
                let mut next = None;
                if let Some(key) = this.key.take() {
                    state.pushers.remove(key);
                    // Room left: let the next waiting sender try too.
                    if !state.queue.is_full() {
                        next = state.pushers.wake_one();
                    }
                }
                let popper = state.poppers.wake_one();
                drop(guard);
                drop(discarded);
                crate::sync::wake(next);
                crate::sync::wake(popper);
                Poll::Ready(Ok(()))
            }
            Err(PushError::Full(item)) => {
                this.item = Some(item);
                match &this.key {
                    Some(key) => state.pushers.rearm(key, cx.waker()),
                    None => this.key = Some(state.pushers.register(Some(cx.waker()), ())),
                }
                Poll::Pending
            }
            Err(PushError::Closed(item)) => {
                if let Some(key) = this.key.take() {
                    state.pushers.remove(key);
                }
                Poll::Ready(Err(SendError(item)))
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            interleave::touch(self.resource);
            let waker = {
                let mut state = self.shared.borrow_mut();
                // Woken for room it will not use: pass the turn on.
                if state.pushers.remove(key).woken {
                    state.pushers.wake_one()
                } else {
                    None
                }
            };
            crate::sync::wake(waker);
        }
    }
}

/// The receiving half of a queue channel. Clone it for more receivers
/// (each item goes to one of them); when the last one is dropped the queue
/// closes and waiting senders fail. Also a [`Stream`](futures::Stream).
pub struct Receiver<T> {
    /// The channel's id (also in its wait queues), readable without a borrow.
    resource: ResourceId,
    shared: Shared<T>,
    key: Option<WaitKey>,
    /// The timer for a not-yet-ready head item, reused across waits.
    sleep: Option<Sleep>,
}

impl<T> Receiver<T> {
    /// Waits for the next ready item; `None` once the queue is closed and
    /// drained.
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        RecvFuture { receiver: self }
    }

    /// Pops now: [`PopError::Empty`], [`PopError::NotReady`] or
    /// [`PopError::Closed`] when there is nothing to take.
    pub fn try_recv(&mut self) -> Result<T, PopError> {
        interleave::touch(self.resource);
        let (result, waker) = {
            let mut state = self.shared.borrow_mut();
            let result = state.queue.pop();
            let waker = if result.is_ok() {
                state.pushers.wake_one()
            } else {
                None
            };
            (result, waker)
        };
        crate::sync::wake(waker);
        result
    }

    /// Polls for the next ready item (the registration stays with the
    /// receiver until an item or the end arrives).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        ready!(interleave::point(cx, self.resource));
        let ready_at = {
            let mut guard = self.shared.borrow_mut();
            let state = &mut *guard;
            match state.queue.pop() {
                Ok(item) => {
                    let mut next = None;
                    if let Some(key) = self.key.take() {
                        state.poppers.remove(key);
                        // More items: let the next waiting receiver look.
                        if !state.queue.is_empty() {
                            next = state.poppers.wake_one();
                        }
                    }
                    let pusher = state.pushers.wake_one();
                    drop(guard);
                    crate::sync::wake(next);
                    crate::sync::wake(pusher);
                    return Poll::Ready(Some(item));
                }
                Err(PopError::Closed) => {
                    if let Some(key) = self.key.take() {
                        state.poppers.remove(key);
                    }
                    return Poll::Ready(None);
                }
                Err(PopError::Empty) => None,
                Err(PopError::NotReady(at)) => Some(at),
            }
        };
        self.wait(cx.waker());
        if let Some(at) = ready_at {
            self.sleep_until(at, cx);
        }
        Poll::Pending
    }

    fn wait(&mut self, waker: &Waker) {
        let mut state = self.shared.borrow_mut();
        match &self.key {
            Some(key) => state.poppers.rearm(key, waker),
            None => self.key = Some(state.poppers.register(Some(waker), ())),
        }
    }

    /// Arms the receiver's timer for the head item's ready instant.
    fn sleep_until(&mut self, at: Instant, cx: &mut Context<'_>) {
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != at {
                    Pin::new(&mut *sleep).reset(at);
                }
                sleep
            }
            None => self.sleep.insert(sleep_until(at)),
        };
        // `at` is in the future, so this registers the timer and stays
        // pending; the wake-up re-polls the receive.
        let _ = Pin::new(sleep).poll(cx);
    }

    /// Stops waiting; if this receiver had been woken for an item, the
    /// wake-up goes to the next waiting receiver.
    fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            interleave::touch(self.resource);
            let waker = {
                let mut state = self.shared.borrow_mut();
                if state.poppers.remove(key).woken {
                    state.poppers.wake_one()
                } else {
                    None
                }
            };
            crate::sync::wake(waker);
        }
    }

    /// Closes the queue: sends fail from now on; stored items can still be
    /// received.
    pub fn close(&self) {
        interleave::touch(self.resource);
        close(&self.shared);
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        interleave::touch(self.resource);
        self.shared.borrow().queue.is_closed()
    }

    /// Items stored right now (ready or not).
    pub fn len(&self) -> usize {
        interleave::touch(self.resource);
        self.shared.borrow().queue.len()
    }

    /// Whether no item is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.shared.borrow().queue.capacity()
    }

    /// The queue's metrics.
    pub fn metrics(&self) -> QueueMetrics {
        self.shared.borrow().queue.metrics().clone()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        interleave::touch(self.resource);
        self.shared.borrow_mut().receivers += 1;
        Self {
            resource: self.resource,
            shared: self.shared.clone(),
            key: None,
            sleep: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.cancel();
        interleave::touch(self.resource);
        let last = {
            let mut state = self.shared.borrow_mut();
            state.receivers -= 1;
            state.receivers == 0
        };
        if last {
            close(&self.shared);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.shared, "queue::Receiver", f)
    }
}

impl<T> futures::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

struct RecvFuture<'a, T> {
    receiver: &'a mut Receiver<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().receiver.poll_recv(cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.receiver.cancel();
    }
}

/// The queue was closed; the item is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is closed")
    }
}

impl<T> std::error::Error for SendError<T> {}
