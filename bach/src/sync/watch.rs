//! A single-value channel that receivers observe (tokio's `watch`).
//!
//! The [`Sender`] replaces (or modifies) the current value; every
//! [`Receiver`] can [`borrow`](Receiver::borrow) it at any time and
//! [`changed`](Receiver::changed)`.await` waits until a version it has not
//! seen exists. Each send bumps a version counter and wakes every waiting
//! receiver (oldest first). Values are only borrowed, never cloned.
//!
//! Deviation from tokio: a [`Ref`] is a `RefCell` borrow, so sending while
//! a `Ref` is alive panics with an explanation (tokio would deadlock).

use super::wait::{ResourceId, WaitKey, WaitQueue, WakeList};
use crate::check::interleave;
use std::{
    cell::{self, RefCell},
    fmt,
    future::{poll_fn, Future},
    ops::Deref,
    pin::Pin,
    rc::Rc,
    task::{ready, Context, Poll},
};

/// Errors of the watch channel.
pub mod error {
    use std::fmt;

    /// Every receiver is gone; the value is handed back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// Every sender is gone (and, for `changed`, no unseen value is left).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

struct State {
    version: u64,
    senders: usize,
    receivers: usize,
    /// Receivers waiting in `changed`.
    changed: WaitQueue,
    /// Senders waiting in `closed`.
    closed: WaitQueue,
}

struct Shared<T> {
    /// The channel's id (also in its wait queues), readable without a borrow.
    resource: ResourceId,
    value: RefCell<T>,
    state: RefCell<State>,
}

impl<T> Shared<T> {
    /// Records a synchronous access by the running task (exploration).
    #[inline]
    fn touch(&self) {
        interleave::touch(self.resource);
    }

    fn value_mut(&self) -> cell::RefMut<'_, T> {
        self.value.try_borrow_mut().unwrap_or_else(|_| {
            panic!(
                "watch: a value was sent while a `watch::Ref` from `borrow()` was still alive; \
                 drop the Ref before sending (tokio would deadlock here)"
            )
        })
    }

    /// Records a new version and wakes every waiting receiver.
    fn publish(&self) {
        self.touch();
        self.state.borrow_mut().version += 1;
        wake_all(&self.state, |state| &mut state.changed);
    }
}

fn wake_all(state: &RefCell<State>, queue: impl Fn(&mut State) -> &mut WaitQueue) {
    let mut wakes = WakeList::new();
    loop {
        let more = queue(&mut state.borrow_mut()).wake_all(&mut wakes);
        wakes.wake_all();
        if !more {
            break;
        }
    }
}

/// Creates a watch channel holding `init`.
#[track_caller]
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let sender = Sender::new(init);
    let receiver = sender.subscribe();
    (sender, receiver)
}

/// Publishes values to a watch channel. Clone it for more senders.
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// A sender with no receivers yet (see [`Sender::subscribe`]).
    #[track_caller]
    pub fn new(init: T) -> Self {
        let resource = ResourceId::next();
        let site = std::panic::Location::caller();
        Self {
            shared: Rc::new(Shared {
                resource,
                value: RefCell::new(init),
                state: RefCell::new(State {
                    version: 0,
                    senders: 1,
                    receivers: 0,
                    changed: WaitQueue::new(resource, "watch channel", site),
                    closed: WaitQueue::new(resource, "watch channel", site),
                }),
            }),
        }
    }

    /// Replaces the value and notifies receivers; fails (returning the
    /// value, unchanged channel) if there is no receiver.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.shared.touch();
        if self.shared.state.borrow().receivers == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value even without receivers; returns the old one.
    pub fn send_replace(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.shared.value_mut(), value);
        self.shared.publish();
        old
    }

    /// Modifies the value in place and notifies receivers.
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Modifies the value in place; notifies receivers only if `modify`
    /// returns `true`. Returns what `modify` returned.
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        self.shared.touch();
        let modified = modify(&mut self.shared.value_mut());
        if modified {
            self.shared.publish();
        }
        modified
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.touch();
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: false,
        }
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Completes when every receiver is gone.
    pub async fn closed(&self) {
        let mut waiting = ClosedWait {
            resource: self.shared.resource,
            state: &self.shared.state,
            key: None,
        };
        poll_fn(|cx| waiting.poll(cx)).await
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.touch();
        let mut state = self.shared.state.borrow_mut();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            version: state.version,
        }
    }

    /// Number of live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.touch();
        self.shared.state.borrow().receivers
    }

    /// Number of live senders.
    pub fn sender_count(&self) -> usize {
        self.shared.touch();
        self.shared.state.borrow().senders
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.touch();
        self.shared.state.borrow_mut().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.touch();
        let last = {
            let mut state = self.shared.state.borrow_mut();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            wake_all(&self.shared.state, |state| &mut state.changed);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("resource", &self.shared.state.borrow().changed.resource())
            .field("value", &*self.borrow())
            .finish()
    }
}

/// A sender's registration in `closed`, removed when dropped.
struct ClosedWait<'a> {
    resource: ResourceId,
    state: &'a RefCell<State>,
    key: Option<WaitKey>,
}

impl ClosedWait<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        ready!(interleave::point(cx, self.resource));
        let mut state = self.state.borrow_mut();
        if state.receivers == 0 {
            if let Some(key) = self.key.take() {
                state.closed.remove(key);
            }
            return Poll::Ready(());
        }
        match &self.key {
            Some(key) => state.closed.rearm(key, cx.waker()),
            None => self.key = Some(state.closed.register(Some(cx.waker()), ())),
        }
        Poll::Pending
    }
}

impl Drop for ClosedWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.state.borrow_mut().closed.remove(key);
        }
    }
}

/// Observes a watch channel. Clone it for more receivers (a clone has seen
/// what the original has seen).
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
    version: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.touch();
        let version = self.shared.state.borrow().version;
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: version != self.version,
        }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        self.shared.touch();
        let version = self.shared.state.borrow().version;
        let has_changed = version != self.version;
        self.version = version;
        Ref {
            inner: self.shared.value.borrow(),
            has_changed,
        }
    }

    /// Whether a value this receiver has not seen exists. Fails if every
    /// sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        self.shared.touch();
        let state = self.shared.state.borrow();
        if state.senders == 0 {
            return Err(RecvError(()));
        }
        Ok(state.version != self.version)
    }

    /// Makes the current value count as unseen.
    pub fn mark_changed(&mut self) {
        self.shared.touch();
        self.version = self.shared.state.borrow().version.wrapping_sub(1);
    }

    /// Makes the current value count as seen.
    pub fn mark_unchanged(&mut self) {
        self.shared.touch();
        self.version = self.shared.state.borrow().version;
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    /// Fails once every sender is gone and no unseen value is left.
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            receiver: self,
            key: None,
        }
    }

    /// Waits until the value satisfies `f` (checking the current value
    /// first) and returns it, marked seen. Fails if every sender is gone
    /// first.
    pub async fn wait_for(
        &mut self,
        mut f: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let current = self.borrow_and_update();
                if f(&current) {
                    break;
                }
            }
            self.changed().await?;
        }
        Ok(self.borrow())
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.touch();
        self.shared.state.borrow_mut().receivers += 1;
        Self {
            shared: self.shared.clone(),
            version: self.version,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.touch();
        let last = {
            let mut state = self.shared.state.borrow_mut();
            state.receivers -= 1;
            state.receivers == 0
        };
        if last {
            wake_all(&self.shared.state, |state| &mut state.closed);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("resource", &self.shared.state.borrow().changed.resource())
            .field("value", &*self.borrow())
            .finish()
    }
}

/// Future returned by [`Receiver::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, T> {
    receiver: &'a mut Receiver<T>,
    key: Option<WaitKey>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(interleave::point(cx, this.receiver.shared.resource));
        let mut state = this.receiver.shared.state.borrow_mut();
        let result = if state.version != this.receiver.version {
            this.receiver.version = state.version;
            Ok(())
        } else if state.senders == 0 {
            Err(RecvError(()))
        } else {
            match &this.key {
                Some(key) => state.changed.rearm(key, cx.waker()),
                None => this.key = Some(state.changed.register(Some(cx.waker()), ())),
            }
            return Poll::Pending;
        };
        if let Some(key) = this.key.take() {
            state.changed.remove(key);
        }
        Poll::Ready(result)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.receiver.shared.state.borrow_mut().changed.remove(key);
        }
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed").finish_non_exhaustive()
    }
}

/// A borrow of a watch channel's value.
pub struct Ref<'a, T> {
    inner: cell::Ref<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value was unseen by the receiver when borrowed.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
