//! [`SystemTime`]: each node's wall clock.

use super::Duration;
use crate::runtime::context;
use std::{fmt, ops};

/// Seconds from the Unix epoch to the wall-clock start of every simulation
/// (2026-01-01T00:00:00Z): realistic timestamps without reading the host.
pub const SIMULATION_EPOCH_SECS: u64 = 1_767_225_600;

/// A node's wall-clock time, like `std::time::SystemTime` but simulated.
///
/// Every simulation starts at 2026-01-01T00:00:00Z on every node. A node's
/// clock follows simulated time, shifted by its offset and stretched by its
/// drift ([`node::set_clock_offset`](crate::node::set_clock_offset),
/// [`node::set_clock_drift`](crate::node::set_clock_drift)); unlike
/// [`Instant`](super::Instant) it can jump backwards when its offset
/// changes, exactly like a real wall clock being corrected.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemTime {
    /// Nanoseconds since the Unix epoch (may be negative).
    nanos: i128,
}

/// The Unix epoch.
pub const UNIX_EPOCH: SystemTime = SystemTime { nanos: 0 };

/// `SystemTime::duration_since` was given a later time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemTimeError(Duration);

impl SystemTimeError {
    /// How much later the other time was.
    pub fn duration(&self) -> Duration {
        self.0
    }
}

impl fmt::Display for SystemTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "second time provided was later than self by {:?}",
            self.0
        )
    }
}

impl std::error::Error for SystemTimeError {}

impl SystemTime {
    /// The Unix epoch.
    pub const UNIX_EPOCH: SystemTime = UNIX_EPOCH;

    /// The current node's wall-clock time. Panics outside a simulation.
    #[track_caller]
    pub fn now() -> SystemTime {
        context::with("bach::time::SystemTime::now", |inner| {
            let group = inner.current_group.get();
            let since_start = inner
                .nodes
                .borrow()
                .get(group)
                .map_or(inner.now() as i128, |node| node.clock.read(inner.now()));
            SystemTime {
                nanos: SIMULATION_EPOCH_SECS as i128 * 1_000_000_000 + since_start,
            }
        })
    }

    /// `self - earlier`, or an error if `earlier` is later.
    pub fn duration_since(&self, earlier: SystemTime) -> Result<Duration, SystemTimeError> {
        let delta = self.nanos - earlier.nanos;
        if delta >= 0 {
            Ok(nanos_to_duration(delta))
        } else {
            Err(SystemTimeError(nanos_to_duration(-delta)))
        }
    }

    /// Time since `self` on the current node's clock.
    #[track_caller]
    pub fn elapsed(&self) -> Result<Duration, SystemTimeError> {
        SystemTime::now().duration_since(*self)
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<SystemTime> {
        let nanos = self
            .nanos
            .checked_add(duration.as_nanos().try_into().ok()?)?;
        Some(SystemTime { nanos })
    }

    /// `self - duration`, or `None` on overflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<SystemTime> {
        let nanos = self
            .nanos
            .checked_sub(duration.as_nanos().try_into().ok()?)?;
        Some(SystemTime { nanos })
    }

    /// The same instant as a `std::time::SystemTime` (for formatting
    /// libraries), or `None` if std cannot represent it.
    pub fn to_std(&self) -> Option<std::time::SystemTime> {
        if self.nanos >= 0 {
            std::time::UNIX_EPOCH.checked_add(nanos_to_duration(self.nanos))
        } else {
            std::time::UNIX_EPOCH.checked_sub(nanos_to_duration(-self.nanos))
        }
    }
}

fn nanos_to_duration(nanos: i128) -> Duration {
    let nanos = nanos.max(0) as u128;
    Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    )
}

impl ops::Add<Duration> for SystemTime {
    type Output = SystemTime;
    #[track_caller]
    fn add(self, rhs: Duration) -> SystemTime {
        self.checked_add(rhs)
            .expect("overflow when adding a duration to a SystemTime")
    }
}

impl ops::Sub<Duration> for SystemTime {
    type Output = SystemTime;
    #[track_caller]
    fn sub(self, rhs: Duration) -> SystemTime {
        self.checked_sub(rhs)
            .expect("overflow when subtracting a duration from a SystemTime")
    }
}

impl fmt::Debug for SystemTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        write!(
            f,
            "SystemTime({sign}{}.{:09}s since the Unix epoch)",
            abs / 1_000_000_000,
            abs % 1_000_000_000
        )
    }
}
