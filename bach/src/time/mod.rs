//! Simulated time: [`Instant`], [`sleep`], [`timeout`] and [`interval`].
//!
//! The clock starts at zero, has nanosecond resolution and only moves when
//! nothing is runnable: it then jumps straight to the earliest pending timer
//! (idle time costs nothing). Timers live in a heap-ordered queue (see the
//! `timers` module) owned by the simulation. Everything here follows tokio's
//! semantics, so code ports by changing an import: a [`Sleep`] measures from
//! its creation, not from its first poll.

mod interval;
mod sleep;
mod system;
mod timeout;
pub(crate) mod timers;

pub use core::time::Duration;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use system::{SystemTime, SystemTimeError, SIMULATION_EPOCH_SECS, UNIX_EPOCH};
pub use timeout::{error, timeout, timeout_at, Timeout};

use crate::runtime::context;
use std::{fmt, ops};

/// A point in simulated time, measured in nanoseconds from the start of the
/// simulation.
///
/// `Display` prints `H:MM:SS.nnnnnnnnn` (`0:00:01.250000000`); the alternate
/// form (`{:#}`) trims trailing zeros (`1.25`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The start of every simulation.
    pub const ZERO: Instant = Instant(0);

    /// The current simulated time. Panics outside a simulation.
    #[inline]
    #[track_caller]
    pub fn now() -> Instant {
        context::with("bach::time::Instant::now", |inner| Instant(inner.now()))
    }

    /// The current simulated time, or `None` outside a simulation.
    #[inline]
    pub fn try_now() -> Option<Instant> {
        context::try_with(|inner| inner.map(|inner| Instant(inner.now())))
    }

    /// The instant `duration` after the start of the simulation (saturating).
    pub fn from_duration(duration: Duration) -> Instant {
        Instant(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds since the start of the simulation.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// Time since the start of the simulation.
    pub const fn elapsed_since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Time passed since `self` (zero if `self` is in the future).
    #[track_caller]
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }

    /// `self - earlier`, saturating at zero like `std::time::Instant`.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// `self - earlier`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// `self - earlier`, saturating at zero.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Instant)
    }

    /// `self - duration`, or `None` if it would precede the start.
    pub fn checked_sub(self, duration: Duration) -> Option<Instant> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_sub(nanos).map(Instant)
    }

    /// Whether the clock has reached this instant.
    #[track_caller]
    pub fn has_elapsed(self) -> bool {
        Instant::now() >= self
    }
}

impl ops::Add<Duration> for Instant {
    type Output = Instant;
    #[track_caller]
    fn add(self, rhs: Duration) -> Instant {
        self.checked_add(rhs)
            .expect("overflow when adding a duration to an Instant")
    }
}

impl ops::AddAssign<Duration> for Instant {
    #[track_caller]
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl ops::Sub<Duration> for Instant {
    type Output = Instant;
    #[track_caller]
    fn sub(self, rhs: Duration) -> Instant {
        self.checked_sub(rhs)
            .expect("subtracting the duration would move the Instant before the simulation start")
    }
}

impl ops::SubAssign<Duration> for Instant {
    #[track_caller]
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({self})")
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0 % 1_000_000_000;
        let total_secs = self.0 / 1_000_000_000;
        let secs = total_secs % 60;
        let mins = total_secs / 60 % 60;
        let hours = total_secs / 3600;
        if !f.alternate() {
            return write!(f, "{hours}:{mins:02}:{secs:02}.{nanos:09}");
        }
        let (mut frac, mut width) = (nanos, 9usize);
        while width > 0 && frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        match (hours, mins) {
            (0, 0) => write!(f, "{secs}")?,
            (0, _) => write!(f, "{mins}:{secs:02}")?,
            _ => write!(f, "{hours}:{mins:02}:{secs:02}")?,
        }
        if width > 0 {
            write!(f, ".{frac:0width$}")?;
        }
        Ok(())
    }
}

/// Converts a duration to clock ticks (nanoseconds), saturating.
#[inline]
pub(crate) fn ticks(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
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
