//! Per-node wall clocks: simulated time, shifted and stretched.

use std::time::Duration;

/// A signed shift of a node's wall clock relative to simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockOffset {
    nanos: i128,
}

impl ClockOffset {
    /// No shift.
    pub const ZERO: ClockOffset = ClockOffset { nanos: 0 };

    /// The node's clock reads `by` later than the true time.
    pub fn ahead(by: Duration) -> Self {
        Self {
            nanos: by.as_nanos() as i128,
        }
    }

    /// The node's clock reads `by` earlier than the true time.
    pub fn behind(by: Duration) -> Self {
        Self {
            nanos: -(by.as_nanos() as i128),
        }
    }

    /// The shift in nanoseconds (positive: ahead).
    pub fn as_nanos(self) -> i128 {
        self.nanos
    }
}

impl From<Duration> for ClockOffset {
    /// A plain duration means "ahead by".
    fn from(by: Duration) -> Self {
        Self::ahead(by)
    }
}

/// A node's clock: `wall(t) = anchor_wall + (t - anchor) * (1 + drift) + offset`,
/// in nanoseconds since the simulation's wall-clock start. Re-anchored at
/// every drift change so that the clock stays continuous.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    anchor: u64,
    anchor_wall: i128,
    drift_ppm: f64,
    offset: i128,
}

impl Clock {
    /// Nanoseconds since the wall-clock start, as this node reads them at
    /// simulated time `now`.
    pub(crate) fn read(&self, now: u64) -> i128 {
        self.unshifted(now) + self.offset
    }

    fn unshifted(&self, now: u64) -> i128 {
        let elapsed = now.saturating_sub(self.anchor) as i128;
        let drift = if self.drift_ppm == 0.0 {
            0
        } else {
            (elapsed as f64 * self.drift_ppm / 1e6).round() as i128
        };
        self.anchor_wall + elapsed + drift
    }

    pub(crate) fn set_offset(&mut self, _now: u64, offset: ClockOffset) {
        self.offset = offset.nanos;
    }

    pub(crate) fn set_drift(&mut self, now: u64, ppm: f64) {
        self.anchor_wall = self.unshifted(now);
        self.anchor = now;
        self.drift_ppm = ppm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift_compose_continuously() {
        let mut clock = Clock::default();
        assert_eq!(clock.read(1_000), 1_000);
        clock.set_offset(1_000, ClockOffset::behind(Duration::from_nanos(300)));
        assert_eq!(clock.read(1_000), 700);
        clock.set_drift(1_000, 1_000.0); // +0.1%
        assert_eq!(clock.read(1_000), 700, "no jump when drift changes");
        assert_eq!(clock.read(1_001_000), 1_000_000 + 1_000 - 300 + 1_000);
        clock.set_drift(1_001_000, 0.0);
        assert_eq!(clock.read(2_001_000), 2_000_000 + 1_000 - 300 + 1_000);
    }
}
