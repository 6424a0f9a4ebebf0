//! [`interval`]: ticks at a fixed period.

use super::{ticks, Duration, Instant, Sleep};
use std::{
    future::poll_fn,
    pin::Pin,
    task::{Context, Poll},
};

/// What an [`Interval`] does when ticks were missed because the task was
/// busy (tokio's semantics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default).
    #[default]
    Burst,
    /// Restart the schedule from the moment the late tick was taken.
    Delay,
    /// Drop the missed ticks and fire at the next multiple of the period.
    Skip,
}

/// A stream of ticks every `period`, the first completing immediately.
/// Panics if `period` is zero or outside a simulation.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// A stream of ticks every `period`, the first at `start`.
/// Panics if `period` is zero or outside a simulation.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "`bach::time::interval` needs a non-zero period"
    );
    Interval {
        sleep: super::sleep_until(start),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// Returned by [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.poll_at(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay if now > scheduled => now + self.period,
            MissedTickBehavior::Delay => scheduled + self.period,
            MissedTickBehavior::Skip => {
                let period = ticks(self.period);
                let behind = now.as_nanos() - scheduled.as_nanos();
                Instant::from_nanos(scheduled.as_nanos() + (behind / period + 1) * period)
            }
        };
        Pin::new(&mut self.sleep).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    #[track_caller]
    pub fn reset(&mut self) {
        let next = Instant::now() + self.period;
        Pin::new(&mut self.sleep).reset(next);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The missed-tick policy.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

impl futures::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
