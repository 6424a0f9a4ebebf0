//! A channel for a single value (tokio's `oneshot`).
//!
//! [`channel`] returns a [`Sender`] that sends at most once and a
//! [`Receiver`] that is itself a future yielding `Result<T, RecvError>`: the
//! value, or an error once the sender is dropped without sending. The
//! sender can watch for the receiver going away with [`Sender::closed`].
//! Both halves are single-threaded (`!Send`); nothing here allocates after
//! [`channel`].

use super::wait::{self, ResourceId, WaitKey, WaitQueue};
use crate::check::interleave;
use std::{
    cell::RefCell,
    fmt,
    future::{poll_fn, Future},
    pin::Pin,
    rc::Rc,
    task::{ready, Context, Poll},
};

/// Errors of the oneshot channel.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending a value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No value yet; the sender is still alive.
        Empty,
        /// The sender was dropped without sending, or the value was taken.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Empty => f.write_str("channel empty"),
                Self::Closed => f.write_str("channel closed"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

struct State<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_closed: bool,
    /// The receiver waiting for the value.
    recv_waiter: WaitQueue,
    /// The sender waiting in `closed()`.
    closed_waiter: WaitQueue,
}

/// Creates a oneshot channel.
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let resource = ResourceId::next();
    let site = std::panic::Location::caller();
    let state = Rc::new(RefCell::new(State {
        value: None,
        sender_alive: true,
        receiver_closed: false,
        recv_waiter: WaitQueue::new(resource, "oneshot channel", site),
        closed_waiter: WaitQueue::new(resource, "oneshot channel", site),
    }));
    (
        Sender {
            resource,
            state: Some(state.clone()),
            key: None,
        },
        Receiver {
            resource,
            state: Some(state),
            key: None,
        },
    )
}

/// Sends the channel's single value.
pub struct Sender<T> {
    resource: ResourceId,
    state: Option<Rc<RefCell<State<T>>>>,
    key: Option<WaitKey>,
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender. Returns it back if the receiver
    /// was dropped or closed.
    pub fn send(mut self, value: T) -> Result<(), T> {
        interleave::touch(self.resource);
        let state = self.state.take().expect("the sender is alive until sent");
        let waker = {
            let mut st = state.borrow_mut();
            if let Some(key) = self.key.take() {
                st.closed_waiter.remove(key);
            }
            st.sender_alive = false;
            if st.receiver_closed {
                return Err(value);
            }
            st.value = Some(value);
            st.recv_waiter.wake_one()
        };
        wait::wake(waker);
        Ok(())
    }

    /// Whether the receiver was dropped or closed.
    pub fn is_closed(&self) -> bool {
        interleave::touch(self.resource);
        self.state
            .as_ref()
            .is_none_or(|state| state.borrow().receiver_closed)
    }

    /// Completes when the receiver is dropped or closed.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls for the receiver being dropped or closed.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(state) = &self.state else {
            return Poll::Ready(());
        };
        ready!(interleave::point(cx, self.resource));
        let mut st = state.borrow_mut();
        if st.receiver_closed {
            if let Some(key) = self.key.take() {
                st.closed_waiter.remove(key);
            }
            return Poll::Ready(());
        }
        match &self.key {
            Some(key) => st.closed_waiter.rearm(key, cx.waker()),
            None => self.key = Some(st.closed_waiter.register(Some(cx.waker()), ())),
        }
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        interleave::touch(self.resource);
        let waker = {
            let mut st = state.borrow_mut();
            if let Some(key) = self.key.take() {
                st.closed_waiter.remove(key);
            }
            st.sender_alive = false;
            st.recv_waiter.wake_one()
        };
        wait::wake(waker);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("oneshot::Sender");
        if let Some(state) = &self.state {
            d.field("resource", &state.borrow().recv_waiter.resource());
        }
        d.field("closed", &self.is_closed()).finish()
    }
}

/// Receives the channel's value; await it directly.
pub struct Receiver<T> {
    resource: ResourceId,
    /// `None` once the value (or the error) has been returned.
    state: Option<Rc<RefCell<State<T>>>>,
    key: Option<WaitKey>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(state) = &self.state else {
            return Err(TryRecvError::Closed);
        };
        interleave::touch(self.resource);
        let mut st = state.borrow_mut();
        if let Some(value) = st.value.take() {
            if let Some(key) = self.key.take() {
                st.recv_waiter.remove(key);
            }
            drop(st);
            self.state = None;
            return Ok(value);
        }
        if st.sender_alive && !st.receiver_closed {
            Err(TryRecvError::Empty)
        } else {
            Err(TryRecvError::Closed)
        }
    }

    /// Refuses the value from now on: a later `send` fails and the sender's
    /// `closed()` completes. A value sent before can still be received.
    pub fn close(&mut self) {
        let Some(state) = &self.state else {
            return;
        };
        interleave::touch(self.resource);
        let waker = {
            let mut st = state.borrow_mut();
            st.receiver_closed = true;
            st.closed_waiter.wake_one()
        };
        wait::wake(waker);
    }

    /// Whether the value (or the error) has already been returned.
    pub fn is_terminated(&self) -> bool {
        self.state.is_none()
    }

    /// Whether no value is waiting (sent but not yet received).
    pub fn is_empty(&self) -> bool {
        interleave::touch(self.resource);
        self.state
            .as_ref()
            .is_none_or(|state| state.borrow().value.is_none())
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(interleave::point(cx, this.resource));
        let state = this
            .state
            .as_ref()
            .expect("oneshot::Receiver polled after it completed");
        let mut st = state.borrow_mut();
        let result = match st.value.take() {
            Some(value) => Ok(value),
            None if !st.sender_alive || st.receiver_closed => Err(RecvError(())),
            None => {
                match &this.key {
                    Some(key) => st.recv_waiter.rearm(key, cx.waker()),
                    None => this.key = Some(st.recv_waiter.register(Some(cx.waker()), ())),
                }
                return Poll::Pending;
            }
        };
        if let Some(key) = this.key.take() {
            st.recv_waiter.remove(key);
        }
        drop(st);
        this.state = None;
        Poll::Ready(result)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        interleave::touch(self.resource);
        let (waker, value) = {
            let mut st = state.borrow_mut();
            if let Some(key) = self.key.take() {
                st.recv_waiter.remove(key);
            }
            st.receiver_closed = true;
            (st.closed_waiter.wake_one(), st.value.take())
        };
        // The unreceived value is dropped outside the borrow.
        drop(value);
        wait::wake(waker);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("oneshot::Receiver");
        if let Some(state) = &self.state {
            d.field("resource", &state.borrow().recv_waiter.resource());
        }
        d.field("terminated", &self.is_terminated()).finish()
    }
}
