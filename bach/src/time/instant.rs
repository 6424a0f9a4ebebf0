//! [`Instant`]: a point in simulated time, and the conversion of durations
//! to clock ticks. A leaf: reading the current time is `Instant::now`, in
//! the user-facing part of `time`.

use core::time::Duration;
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
