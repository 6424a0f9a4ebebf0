//! Extension traits: `use bach::ext::*;` brings the simulation vocabulary
//! into scope (`.spawn()`, `.primary()`, `.group(..)`, `.sleep()`, `5.ms()`).

use crate::{
    task::{self, JoinHandle, Primary},
    time::{self, Duration, Sleep},
};
use std::{fmt, future::Future};

pub use crate::group::GroupExt;

/// Spawns futures: `async { .. }.spawn()`.
pub trait SpawnExt: Future + Sized + 'static
where
    Self::Output: 'static,
{
    /// Spawns this future as a task on the current node.
    #[track_caller]
    fn spawn(self) -> JoinHandle<Self::Output> {
        task::spawn(self)
    }

    /// Spawns this future as a named task.
    #[track_caller]
    fn spawn_named<N: fmt::Display>(self, name: N) -> JoinHandle<Self::Output> {
        task::spawn_named(self, name)
    }
}

impl<F> SpawnExt for F
where
    F: Future + 'static,
    F::Output: 'static,
{
}

/// Marks futures the simulation waits for: `async { .. }.primary().spawn()`.
pub trait PrimaryExt: Future + Sized {
    /// The simulation's `run` returns once every primary future completed.
    /// Panics outside a simulation.
    #[track_caller]
    fn primary(self) -> Primary<Self> {
        task::primary(self)
    }
}

impl<F: Future> PrimaryExt for F {}

/// Sleeps for a duration: `5.ms().sleep().await`.
pub trait SleepExt {
    /// A [`Sleep`] that completes this long after this call.
    fn sleep(self) -> Sleep;
}

impl SleepExt for Duration {
    #[track_caller]
    fn sleep(self) -> Sleep {
        time::sleep(self)
    }
}

/// Duration literals: `5.s()`, `10.ms()`, `3.us()`, `7.ns()`.
pub trait DurationLiteral {
    /// Seconds.
    fn s(self) -> Duration;
    /// Milliseconds.
    fn ms(self) -> Duration;
    /// Microseconds.
    fn us(self) -> Duration;
    /// Nanoseconds.
    fn ns(self) -> Duration;
}

impl DurationLiteral for u64 {
    fn s(self) -> Duration {
        Duration::from_secs(self)
    }
    fn ms(self) -> Duration {
        Duration::from_millis(self)
    }
    fn us(self) -> Duration {
        Duration::from_micros(self)
    }
    fn ns(self) -> Duration {
        Duration::from_nanos(self)
    }
}

pub use crate::queue::{Metered, QueueExt};
