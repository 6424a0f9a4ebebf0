//! [`Simulation`]: the builder, running and step-by-step control, and the
//! environment variables that configure a run (`BACH_SEED`, `BACH_REPLAY`).

use crate::{
    rand::source::{ChoiceSource, Seeded},
    runtime::{context, Inner, Stop},
    time::instant::{ticks, Instant},
};
use std::{rc::Rc, time::Duration};

/// One simulated world; see the [run model](crate::runtime) and the crate docs.
///
/// The handle users hold: configuration, running and step-by-step control
/// over the world (`runtime`), which it owns.
///
/// ```
/// use bach::{ext::*, Simulation};
/// use std::time::Duration;
///
/// let mut sim = Simulation::new().seed(7);
/// let done = sim.run(|| {
///     async { 2.s().sleep().await }.primary().spawn();
///     async { loop { 1.s().sleep().await } }.spawn(); // background
/// });
/// assert_eq!(sim.elapsed(), Duration::from_secs(2));
/// ```
pub struct Simulation {
    pub(crate) inner: Rc<Inner>,
    torn_down: bool,
    /// Replaying `BACH_REPLAY`: seed and interleaving settings are fixed.
    pub(crate) env_replay: bool,
}

impl Default for Simulation {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulation {
    /// A simulation seeded from `BACH_SEED`, or 0 when it is not set.
    /// Panics if `BACH_SEED` is set but is not an unsigned integer.
    pub fn new() -> Self {
        let seed = seed_from_env();
        let trace = Rc::new(crate::trace::recorder::Recorder::default());
        if let Err(error) = trace.configure_from_env() {
            panic!("{error}");
        }
        let inner = Inner::create(seed, trace);
        let sim = Self {
            inner,
            torn_down: false,
            env_replay: false,
        };
        match replay_from_env() {
            Some(recording) => {
                let mut sim = sim.replay_recording(recording);
                sim.env_replay = true;
                sim
            }
            None => sim,
        }
    }

    /// Seeds the default choice source (replacing any source set before).
    /// Ignored while `BACH_REPLAY` is set: the replay decides every choice.
    pub fn seed(self, seed: u64) -> Self {
        if self.env_replay {
            return self;
        }
        let this = self.choice_source(Seeded::new(seed));
        this.inner.net.borrow_mut().capture.set_seed(Some(seed));
        this
    }

    /// Replaces the choice source: a fuzzer's driver, an explorer, a replay.
    pub fn choice_source(self, source: impl ChoiceSource + 'static) -> Self {
        *self.inner.rand.borrow_mut() = Box::new(source);
        self.inner.net.borrow_mut().capture.set_seed(None);
        self
    }

    /// Explores interleavings: when several ready tasks contend for shared
    /// resources at the same instant, the choice source picks their order
    /// (see [`check`](crate::check)). Every async operation on a sync
    /// primitive, queue or socket becomes a scheduling point. Off by
    /// default (ready tasks run first-in, first-out). Set it before the
    /// simulation creates primitives.
    pub fn interleavings(self, on: bool) -> Self {
        if self.env_replay {
            return self;
        }
        self.inner.interleave.set_enabled(on);
        self.inner.net.borrow_mut().exploring = on;
        self
    }

    /// Partial-order reduction while exploring interleavings (on by
    /// default): only tasks whose footprints share a resource are
    /// permuted. Turning it off makes every ready set one choice — for
    /// comparing exploration sizes.
    pub fn reduction(self, on: bool) -> Self {
        if self.env_replay {
            return self;
        }
        self.inner.interleave.set_reduction(on);
        self
    }

    /// Whether `bach::rand::gen_bool` is a choice of the choice source
    /// (exhaustive searches that enumerate values) instead of a random word.
    pub(crate) fn enumerate_values(self, on: bool) -> Self {
        if self.env_replay {
            return self;
        }
        self.inner.enumerate_values.set(on);
        self
    }

    /// Panics (with context) if simulated time would pass `limit`.
    pub fn time_limit(self, limit: Duration) -> Self {
        self.inner.time_limit.set(Some(ticks(limit)));
        self
    }

    /// Whether a panicking task ends the simulation (the default, `true`)
    /// or is reported to its [`JoinHandle`](crate::task::JoinHandle) as a
    /// panic [`JoinError`](crate::task::JoinError) (tokio's behaviour).
    pub fn abort_on_panic(self, abort: bool) -> Self {
        self.inner.set_abort_on_panic(abort);
        self
    }

    /// How to reproduce this run, e.g. `seed 7; rerun with BACH_SEED=7`.
    pub fn reproduce(&self) -> String {
        self.inner.reproduce()
    }

    /// Runs `f` inside the simulation (it may spawn tasks), then runs until
    /// every primary future has completed — or, if no primary was ever
    /// created, until nothing is left to do. Returns `f`'s result.
    ///
    /// Panics, after dropping every task, if a task panics (unless
    /// `abort_on_panic(false)`), on deadlock, past the time limit, when an
    /// invariant (`check::invariant`) breaks after a step, or when goals
    /// (`check::goal`) are registered and the run ends without reaching
    /// any. Without
    /// primaries and without a [`time_limit`](Self::time_limit), a run still
    /// busy after one simulated day stops with a panic that says so (a
    /// background loop that never ends would otherwise run forever).
    #[track_caller]
    pub fn run<F: FnOnce() -> R, R>(&mut self, f: F) -> R {
        let output = self.enter(f);
        let mode = self.inner.run_mode.borrow().clone();
        let stop = self.with_entered(|inner| match mode {
            // Another way of running the world (model checking installs one).
            Some(mode) => mode.run(inner),
            None => inner
                .run_primaries()
                .and_then(|()| inner.check_goals())
                .and_then(|()| inner.check_finals()),
        });
        self.check(stop);
        self.inner.net.borrow_mut().capture.flush();
        output
    }

    /// Runs `f` inside the simulation without running any task.
    pub fn enter<F: FnOnce() -> R, R>(&mut self, f: F) -> R {
        self.assert_alive();
        self.with_entered(|_| f())
    }

    /// Processes the next event: polls every ready task if any is ready;
    /// otherwise moves the clock to the next event (a timer, or packets
    /// arriving: those sent in one go to arrive at the same instant count as
    /// one event), fires it and polls what it woke. Returns `false` when
    /// nothing is left to do.
    #[track_caller]
    pub fn step(&mut self) -> bool {
        self.assert_alive();
        let stop = self.with_entered(Inner::step);
        self.check(stop)
    }

    /// Steps until `done` (checked before each step) holds, at most
    /// `max_steps` times: `Some(true)` once it holds, `Some(false)` if it
    /// still does not after `max_steps` steps, `None` if nothing was left
    /// to do. The same steps as calling [`step`](Self::step) in a loop,
    /// without leaving the simulation between them.
    #[track_caller]
    pub(crate) fn steps_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&Inner) -> bool,
    ) -> Option<bool> {
        self.assert_alive();
        let stop = self.with_entered(|inner| {
            for _ in 0..max_steps {
                if done(inner) {
                    return Ok(Some(true));
                }
                if !inner.step()? {
                    return Ok(None);
                }
            }
            Ok(Some(done(inner)))
        });
        self.check(stop)
    }

    /// Runs every event up to `now + duration`, then sets the clock to
    /// exactly that instant, even if nothing happened.
    #[track_caller]
    pub fn run_for(&mut self, duration: Duration) {
        self.assert_alive();
        let target = self.inner.now().saturating_add(ticks(duration));
        let stop = self.with_entered(|inner| {
            let limit = inner.time_limit.get().unwrap_or(u64::MAX);
            loop {
                inner.drain_checked()?;
                match inner.advance(target)? {
                    Some(_) => inner.fire_due(),
                    None => break,
                }
            }
            if target > limit {
                return Err(Stop::TimeLimit(target));
            }
            inner.timers.borrow_mut().advance_to(target);
            inner.set_now(target);
            Ok(())
        });
        self.check(stop)
    }

    /// Steps until `predicate` (evaluated inside the simulation) holds;
    /// returns `false` if the simulation ran out of events first.
    #[track_caller]
    pub fn run_until(&mut self, mut predicate: impl FnMut() -> bool) -> bool {
        loop {
            if self.enter(&mut predicate) {
                return true;
            }
            if !self.step() {
                return self.enter(&mut predicate);
            }
        }
    }

    /// Runs until no task is ready and no timer is pending, ignoring
    /// primaries. A task that sleeps forever in a loop never lets the
    /// simulation go idle: bound such runs with [`Simulation::time_limit`].
    #[track_caller]
    pub fn run_until_idle(&mut self) {
        self.assert_alive();
        let stop = self.with_entered(|inner| loop {
            inner.drain_checked()?;
            if inner.advance(u64::MAX)?.is_none() {
                return Ok(());
            }
            inner.fire_due();
        });
        self.check(stop)
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.inner.now())
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.now())
    }

    /// When the next event (a timer, or a packet arriving) is due, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.inner.timers.borrow().peek().map(Instant::from_nanos)
    }

    /// Number of pending timers (packets in flight not included; see
    /// [`packets_in_flight`](Self::packets_in_flight)).
    pub fn pending_timers(&self) -> usize {
        let events = self.inner.timers.borrow().pending();
        events - self.inner.net.borrow().scheduled_events()
    }

    /// Number of tasks that have not completed.
    pub fn live_tasks(&self) -> usize {
        self.inner.executor.live_tasks()
    }

    /// Runs up to `n` steps (see [`Simulation::step`]); returns how many
    /// ran (fewer when the simulation ran out of events).
    #[track_caller]
    pub fn steps(&mut self, n: usize) -> usize {
        (0..n).take_while(|_| self.step()).count()
    }

    /// Events waiting on the timer queue: timers plus packet arrivals
    /// (copies due at the same instant from one burst count once).
    pub fn pending_events(&self) -> usize {
        self.inner.timers.borrow().pending()
    }

    /// Registers restartable software for node `name` and boots it now; see
    /// [`node::host`](crate::node::host).
    pub fn host<F, Fut>(&mut self, name: &str, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        self.enter(|| crate::node::host(name, factory))
    }

    /// Crashes node `name` now; see [`node::crash`](crate::node::crash).
    pub fn crash(&mut self, name: &str) {
        self.enter(|| crate::node::crash(name))
    }

    /// Restarts node `name` now; see [`node::restart`](crate::node::restart).
    pub fn restart(&mut self, name: &str) {
        self.enter(|| crate::node::restart(name))
    }

    /// Turns event recording on or off (see [`trace`](crate::trace)).
    pub fn record_trace(self, on: bool) -> Self {
        self.inner.trace.set_enabled(on);
        self
    }

    /// How many events the trace keeps (default 65 536); older ones are
    /// overwritten, so memory stays flat on long runs.
    pub fn trace_capacity(self, events: usize) -> Self {
        self.inner.trace.set_capacity(events);
        self
    }

    /// The recorded events, oldest first (empty unless recording is on).
    pub fn trace(&self) -> Vec<crate::trace::Event> {
        crate::trace::event::expand_all(&*self.inner, &self.inner.trace.snapshot())
    }

    /// How many events fell out of the trace's ring buffer.
    pub fn trace_overwritten(&self) -> u64 {
        self.inner.trace.overwritten()
    }

    /// Runs `body` (as [`Simulation::run`] would) twice with `seed` and
    /// trace recording on, and panics if the two traces differ, naming the
    /// first divergent event. Catches bodies that read the wall clock, OS
    /// randomness or `HashMap` iteration order.
    #[track_caller]
    pub fn check_determinism(seed: u64, body: impl Fn()) {
        let run = || {
            let mut sim = Simulation::new()
                .seed(seed)
                .record_trace(true)
                .trace_capacity(usize::MAX);
            sim.run(&body);
            let lines: Vec<String> = sim
                .trace()
                .iter()
                .map(|event| {
                    let mut line = Vec::new();
                    let _ = crate::trace::write_console(&mut line, event);
                    String::from_utf8_lossy(&line).trim_end().to_string()
                })
                .collect();
            lines
        };
        let (first, second) = (run(), run());
        if first == second {
            return;
        }
        let index = first
            .iter()
            .zip(&second)
            .position(|(a, b)| a != b)
            .unwrap_or(first.len().min(second.len()));
        let show = |lines: &[String]| {
            lines
                .get(index)
                .cloned()
                .unwrap_or_else(|| "(no event: the run ended)".into())
        };
        panic!(
            "the simulation is nondeterministic (seed {seed}): the first difference at event #{index}\n  run 1: {}\n  run 2: {}\n\
             Look for reads of the wall clock, OS randomness or HashMap/HashSet iteration order in the code \
             that produced these events.",
            show(&first),
            show(&second)
        );
    }

    pub(crate) fn with_entered<R>(&mut self, f: impl FnOnce(&Inner) -> R) -> R {
        let _entered = context::Entered::new(&self.inner);
        f(&self.inner)
    }

    #[track_caller]
    fn assert_alive(&self) {
        assert!(
            !self.torn_down,
            "this Simulation already failed (a task panicked, it deadlocked or hit its time limit) \
             and its tasks were dropped; create a new Simulation"
        );
    }

    /// Turns an early stop into a panic after dropping every task.
    #[track_caller]
    pub(crate) fn check<T>(&mut self, result: Result<T, Stop>) -> T {
        let stop = match result {
            Ok(value) => return value,
            Err(stop) => stop,
        };
        if self.inner.abandoned() {
            // Redundant for the search that stopped it: not a failure.
            self.torn_down = true;
            self.inner.teardown();
            std::panic::resume_unwind(Box::new(crate::kernel::Abandoned));
        }
        let message = match stop {
            Stop::Failed => self.inner.take_failure().unwrap_or_default(),
            Stop::Deadlock => self.with_entered(|inner| inner.deadlock_message()),
            Stop::TimeLimit(next) => self.inner.time_limit_message(next),
            Stop::Runaway(next) => self.inner.runaway_message(next),
        };
        self.torn_down = true;
        self.inner.teardown();
        panic!("{message}");
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        if !self.torn_down {
            self.torn_down = true;
            self.inner.teardown();
        }
        context::unregister(self.inner.sim_id);
    }
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now())
            .field("reproduce", &self.reproduce())
            .finish()
    }
}

/// The replay `BACH_REPLAY` asks for, if set. Panics with a clear message
/// if the variable is set but not a token.
pub(crate) fn replay_from_env() -> Option<crate::check::token::Recording> {
    let value = std::env::var("BACH_REPLAY").ok()?;
    if value.trim().is_empty() {
        return None;
    }
    match crate::check::token::Recording::parse(&value) {
        Ok(recording) => Some(recording),
        Err(error) => panic!("BACH_REPLAY: {error}"),
    }
}

pub(crate) fn seed_from_env() -> u64 {
    let Ok(value) = std::env::var("BACH_SEED") else {
        return 0;
    };
    let trimmed = value.trim();
    let parsed = match trimmed.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => trimmed.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("BACH_SEED=`{value}` is not an unsigned 64-bit integer"))
}
