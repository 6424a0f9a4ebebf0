//! The [`Sleep`] future.

use super::{ticks, timers::TimerKey, Duration, Instant};
use crate::runtime::{context, TimerEvent};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// Waits until `duration` has passed, measured from this call (tokio
/// semantics: a sleep created at t=0 and first polled at t=5s with a 1s
/// duration is already complete). Panics outside a simulation.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    context::with("bach::time::sleep", |inner| {
        Sleep::new(inner.sim_id, inner.now().saturating_add(ticks(duration)))
    })
}

/// Waits until the clock reaches `deadline`. Panics outside a simulation.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    context::with("bach::time::sleep_until", |inner| {
        Sleep::new(inner.sim_id, deadline.as_nanos())
    })
}

/// A future that completes at a fixed simulated instant.
///
/// The timer is registered on first poll and cancelled on drop; neither
/// allocates once the simulation's timer storage has grown to its working
/// size.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Sleep {
    deadline: u64,
    key: Option<TimerKey>,
    sim: usize,
}

impl Sleep {
    fn new(sim: usize, deadline: u64) -> Self {
        Self {
            deadline,
            key: None,
            sim,
        }
    }

    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        Instant::from_nanos(self.deadline)
    }

    /// Whether the deadline has been reached.
    #[track_caller]
    pub fn is_elapsed(&self) -> bool {
        Instant::now().as_nanos() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep may be polled again.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.release();
        this.deadline = deadline.as_nanos();
    }

    /// Polls without pinning (the type is `Unpin`).
    pub(crate) fn poll_at(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        context::with("Sleep::poll", |inner| {
            debug_assert_eq!(
                inner.sim_id, self.sim,
                "a Sleep was moved into another simulation"
            );
            if inner.now() >= self.deadline {
                if let Some(key) = self.key.take() {
                    inner.timers.borrow_mut().remove(key);
                }
                return Poll::Ready(());
            }
            let mut timers = inner.timers.borrow_mut();
            let count_insert = || inner.timer_inserts.set(inner.timer_inserts.get() + 1);
            match self.key {
                None => {
                    count_insert();
                    self.key = Some(timers.insert(self.deadline, TimerEvent::wake(cx)));
                    inner.trace_event(crate::trace::RawKind::TimerSet(self.deadline));
                }
                Some(key) => match timers.value_mut(key) {
                    Some(TimerEvent::Wake(waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            waker.clone_from(cx.waker());
                        }
                    }
                    // Expired at an earlier deadline before a reset; re-arm.
                    // (A sleep's key never holds a packet delivery.)
                    _ => {
                        timers.remove(key);
                        count_insert();
                        self.key = Some(timers.insert(self.deadline, TimerEvent::wake(cx)));
                    }
                },
            }
            Poll::Pending
        })
    }

    #[inline]
    fn release(&mut self) {
        if let Some(key) = self.key.take() {
            self.cancel(key);
        }
    }

    /// Frees the timer entry `key` (cancelling it if it has not fired).
    #[inline(never)]
    fn cancel(&self, key: TimerKey) {
        context::with_sim_if_alive(self.sim, |inner| {
            let pending = inner.timers.borrow_mut().remove(key).is_some();
            if pending {
                inner.trace_event(crate::trace::RawKind::TimerCancel);
            }
        });
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_at(cx)
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        self.release();
    }
}
