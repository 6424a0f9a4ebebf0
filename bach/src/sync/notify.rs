//! [`Notify`]: wake one waiting task, or all of them, without data.

use super::wait::{self, ResourceId, WaitKey, WaitQueue, WakeList};
use crate::check::interleave;
use std::{
    cell::RefCell,
    fmt,
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

/// How a registered waiter was woken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Woken {
    Not,
    /// By `notify_one`: if dropped unconsumed, the wake-up moves on.
    One,
    /// By `notify_waiters`.
    All,
}

struct State {
    /// A stored `notify_one` with no one waiting (at most one).
    permit: bool,
    /// Number of `notify_waiters` calls so far.
    generation: u64,
    waiters: WaitQueue<Woken>,
}

/// Notifies tasks (tokio's `Notify`), with tokio's permit semantics.
///
/// * [`Notify::notify_one`] wakes the longest-waiting [`Notified`] future,
///   or, if none waits, stores a single permit that the next `notified()`
///   consumes at once.
/// * [`Notify::notify_waiters`] wakes every `Notified` future created
///   before the call (polled or not) and stores no permit.
/// * A future woken by `notify_one` that is dropped before it returns
///   passes the notification on to the next waiter (or the permit).
///
/// Deviation from tokio: no `notify_last`; waiters are woken in FIFO order.
pub struct Notify {
    /// The id of `state.waiters`, readable without a borrow.
    resource: ResourceId,
    state: RefCell<State>,
}

impl Notify {
    /// A `Notify` with no stored permit.
    #[track_caller]
    pub fn new() -> Self {
        let resource = ResourceId::next();
        let site = std::panic::Location::caller();
        Self {
            resource,
            state: RefCell::new(State {
                permit: false,
                generation: 0,
                waiters: WaitQueue::new(resource, "notify", site),
            }),
        }
    }

    /// A future that completes when this is notified.
    pub fn notified(&self) -> Notified<'_> {
        // Reads the generation, which only `notify_waiters` changes: a
        // shared touch of the side resource, so it commutes with waiting
        // and `notify_one`.
        interleave::touch_side(self.resource, true);
        Notified {
            notify: self,
            generation: self.state.borrow().generation,
            state: Stage::Init,
        }
    }

    /// Wakes the oldest waiter, or stores a permit if none waits.
    pub fn notify_one(&self) {
        interleave::touch(self.resource);
        let waker = {
            let mut state = self.state.borrow_mut();
            match state.waiters.next_waiter() {
                Some(chosen) => {
                    *state.waiters.chosen_data(chosen) = Woken::One;
                    state.waiters.wake(chosen)
                }
                None => {
                    state.permit = true;
                    None
                }
            }
        };
        wait::wake(waker);
    }

    /// Wakes every `Notified` future created before this call.
    pub fn notify_waiters(&self) {
        interleave::touch(self.resource);
        interleave::touch_side(self.resource, false);
        let mut wakes = WakeList::new();
        self.state.borrow_mut().generation += 1;
        loop {
            let more = {
                let mut state = self.state.borrow_mut();
                let mut more = false;
                while let Some(chosen) = state.waiters.next_waiter() {
                    if wakes.is_full() {
                        more = true;
                        break;
                    }
                    *state.waiters.chosen_data(chosen) = Woken::All;
                    wakes.push(state.waiters.wake(chosen));
                }
                more
            };
            wakes.wake_all();
            if !more {
                break;
            }
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Notify")
            .field("resource", &state.waiters.resource())
            .field("permit", &state.permit)
            .field("waiting", &state.waiters.len())
            .finish()
    }
}

enum Stage {
    Init,
    Waiting(WaitKey),
    /// Notified but not yet returned; `true` if by `notify_one`/permit.
    Notified(bool),
    Done,
}

/// Future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
    state: Stage,
}

impl Notified<'_> {
    /// Registers for notifications without waiting, so a `notify_waiters`
    /// (or a `notify_one`) between now and the first poll is not missed.
    /// Returns `true` if the future is already notified.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        this.step(None);
        matches!(this.state, Stage::Notified(_) | Stage::Done)
    }

    /// Advances the state machine; `waker` is `None` for `enable`.
    fn step(&mut self, waker: Option<&std::task::Waker>) -> bool {
        // Exclusive: covers the comparison of generations too.
        interleave::touch(self.notify.resource);
        let mut state = self.notify.state.borrow_mut();
        match &self.state {
            Stage::Init => {
                if state.generation != self.generation {
                    self.state = Stage::Notified(false);
                } else if std::mem::take(&mut state.permit) {
                    self.state = Stage::Notified(true);
                } else {
                    self.state = Stage::Waiting(state.waiters.register(waker, Woken::Not));
                    return false;
                }
            }
            Stage::Waiting(key) => {
                if !state.waiters.is_woken(key) {
                    if let Some(waker) = waker {
                        state.waiters.set_waker(key, waker);
                    }
                    return false;
                }
                let Stage::Waiting(key) = std::mem::replace(&mut self.state, Stage::Done) else {
                    unreachable!()
                };
                let removed = state.waiters.remove(key);
                self.state = Stage::Notified(removed.data == Woken::One);
            }
            Stage::Notified(_) | Stage::Done => {}
        }
        true
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if matches!(this.state, Stage::Init | Stage::Waiting(_)) {
            // Once notified (through `enable`) it only returns.
            ready!(interleave::point(cx, this.notify.resource));
        }
        if this.step(Some(cx.waker())) {
            this.state = Stage::Done;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let forward = match std::mem::replace(&mut self.state, Stage::Done) {
            Stage::Waiting(key) => {
                interleave::touch(self.notify.resource);
                let removed = self.notify.state.borrow_mut().waiters.remove(key);
                removed.data == Woken::One
            }
            Stage::Notified(by_one) => by_one,
            Stage::Init | Stage::Done => false,
        };
        if forward {
            self.notify.notify_one();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
    }
}
