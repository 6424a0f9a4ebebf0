//! Simulated time: [`Instant`], [`sleep`], [`timeout`] and [`interval`].
//!
//! The clock starts at zero, has nanosecond resolution and only moves when
//! nothing is runnable: it then jumps straight to the earliest pending timer
//! (idle time costs nothing). Timers live in a heap-ordered queue (see the
//! `timers` module) owned by the simulation. Everything here follows tokio's
//! semantics, so code ports by changing an import: a [`Sleep`] measures from
//! its creation, not from its first poll.

pub(crate) mod instant;
mod interval;
mod sleep;
mod system;
mod timeout;
pub(crate) mod timers;

pub use core::time::Duration;
pub(crate) use instant::ticks;
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use system::{SystemTime, SystemTimeError, SIMULATION_EPOCH_SECS, UNIX_EPOCH};
pub use timeout::{error, timeout, timeout_at, Timeout};

use crate::runtime::context;

impl Instant {
    /// The current simulated time. Panics outside a simulation.
    #[inline]
    #[track_caller]
    pub fn now() -> Instant {
        context::with("bach::time::Instant::now", |inner| {
            Instant::from_nanos(inner.now())
        })
    }

    /// The current simulated time, or `None` outside a simulation.
    #[inline]
    pub fn try_now() -> Option<Instant> {
        context::try_with(|inner| inner.map(|inner| Instant::from_nanos(inner.now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let t = Instant::from_duration(Duration::from_millis(1250));
        assert_eq!(t.to_string(), "0:00:01.250000000");
        assert_eq!(format!("{t:#}"), "1.25");
        let t = Instant::from_duration(Duration::new(3661, 5));
        assert_eq!(t.to_string(), "1:01:01.000000005");
        assert_eq!(format!("{t:#}"), "1:01:01.000000005");
        assert_eq!(format!("{:#}", Instant::ZERO), "0");
        assert_eq!(
            format!("{:#}", Instant::from_duration(Duration::from_secs(65))),
            "1:05"
        );
    }

    #[test]
    fn arithmetic() {
        let t = Instant::from_duration(Duration::from_secs(2));
        assert_eq!(t + Duration::from_secs(1) - t, Duration::from_secs(1));
        assert_eq!(t.checked_sub(Duration::from_secs(3)), None);
        assert_eq!(Instant::ZERO.checked_duration_since(t), None);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(
            Instant::from_nanos(u64::MAX).checked_add(Duration::from_nanos(1)),
            None
        );
    }
}
