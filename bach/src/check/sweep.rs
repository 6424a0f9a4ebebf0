//! Seed sweeps: one simulation body, many seeds, every core.
//!
//! One seed reproduces one run, so the cheapest search for a bug is to run
//! the same body under many seeds. A sweep runs `body` once per seed of a
//! range, each time in a fresh [`Simulation`] seeded with that seed, on
//! worker threads (one per core by default). Every simulation stays
//! single-threaded: it is created, run and dropped on one worker, so tasks
//! and their outputs need not be `Send` — only the body closure is shared.
//!
//! ```
//! use bach::{check::Sweep, ext::*};
//!
//! // A "bug" that shows up only when the random delay is long.
//! let body = || {
//!     async {
//!         let delay = bach::rand::gen_range(0..100u64);
//!         delay.ms().sleep().await;
//!         assert!(delay < 95, "slow path after {delay} ms");
//!     }
//!     .primary()
//!     .spawn();
//! };
//!
//! // `run` returns a report; `bach::check::sweep` panics on failure instead.
//! let report = Sweep::new(0..500).stop_at_first_failure(false).run(body);
//! assert_eq!(report.runs(), 500);
//! assert!(!report.is_ok());
//! // Rerun one failing seed on its own, as the report suggests:
//! let seed = report.failures()[0].seed;
//! let again = std::panic::catch_unwind(|| bach::Simulation::new().seed(seed).run(body));
//! assert!(again.is_err());
//!
//! // A healthy body passes every seed.
//! bach::check::sweep(0..100, || {
//!     async { bach::rand::gen_range(0..100u64).ms().sleep().await }
//!         .primary()
//!         .spawn();
//! });
//! ```
//!
//! ## What a sweep reports
//!
//! Workers take seeds in increasing order from one shared counter. With
//! [`Sweep::stop_at_first_failure`] (the default) a failure at seed `s`
//! stops workers from taking seeds above `s`, while the seeds below `s`
//! that were already handed out finish, so the report holds exactly the
//! *lowest* failing seed — what running the seeds one after another and
//! stopping at the first failure would report, whatever the thread count.
//! Runs past it that other workers had already started are finished and
//! discarded. Without stopping, the report lists every failing seed in
//! order. Wall-clock time is read only for the progress line and
//! [`SweepReport::elapsed`]; it never decides which seeds run or count.
//!
//! A failure is a panic out of [`Simulation::run`] (a task panicked, a
//! deadlock, the time limit) or out of the body itself; its message — which
//! names the task, node, simulated time and seed — is kept in
//! [`SweepFailure::message`]. Panics on sweep workers print nothing (a
//! process-wide panic hook, installed on the first sweep, silences them
//! and passes every other thread's panics to the hook that was there
//! before), so thousands of failing seeds do not flood stderr; print the
//! report instead. Sweeps running longer than 2 s print a progress line to
//! stderr about once a second (turn it off with [`Sweep::progress`]):
//!
//! ```text
//! bach sweep: 12345/100000 runs, 5400 runs/s, 0 failures
//! ```
//!
//! ## Choosing seeds from the environment
//!
//! * `BACH_SEEDS=a..b` (or `a..=b`, or a single seed `n`, meaning `n..n+1`;
//!   decimal or `0x` hex) replaces the range written in the code, in every
//!   sweep of the process. An empty value counts as unset; anything else
//!   that does not parse panics, naming the value.
//! * `BACH_SEED=n`, when `BACH_SEEDS` is not set, runs only seed `n`: the
//!   failure message's "rerun with `BACH_SEED=n`" reruns the failing seed,
//!   whether the test calls `sweep` or [`bach::sim`](crate::sim). Add
//!   `BACH_TRACE=1` to see what it did.
//!
//! ## Sharding large sweeps across CI machines
//!
//! Split one big range between machines with `BACH_SEEDS`, one slice per
//! machine; every machine runs the same test and together they cover all
//! seeds:
//!
//! ```text
//! # a million seeds of `tests/raft.rs::elections_converge` on 4 machines
//! machine 1: BACH_SEEDS=0..250000       cargo test --release --test raft elections_converge
//! machine 2: BACH_SEEDS=250000..500000  cargo test --release --test raft elections_converge
//! machine 3: BACH_SEEDS=500000..750000  cargo test --release --test raft elections_converge
//! machine 4: BACH_SEEDS=750000..1000000 cargo test --release --test raft elections_converge
//! ```
//!
//! Because `BACH_SEEDS` applies to every sweep in the process, filter to
//! one test when you set it. When the seeds are already spread over many
//! test functions (each sweeping its own range), shard the *tests* instead
//! and leave the ranges in code — nextest gives each machine a share:
//!
//! ```text
//! machine k of 4: cargo nextest run --release --partition count:k/4
//! ```
//!
//! Both compose: `--partition count:k/n` picks the tests, `BACH_SEEDS`
//! the seeds within each.

use crate::executor::join::panic_message;
use crate::Simulation;
use std::{
    cell::Cell,
    fmt,
    ops::Range,
    panic::{self, AssertUnwindSafe},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc, Mutex, Once, PoisonError,
    },
    thread,
    time::{Duration, Instant as WallInstant},
};

/// Sweeps start printing progress after this much wall time...
const PROGRESS_AFTER: Duration = Duration::from_secs(2);
/// ...and print a line about this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How many failing seeds a report's summary names before "… and N more".
const SEEDS_SHOWN: usize = 20;

/// Runs `body` once for each seed in `seeds` (or the range `BACH_SEEDS`
/// selects), on all cores, stopping at the first failure; returns the
/// report if every seed passed.
///
/// Panics if a seed fails, with a summary naming the lowest failing seed,
/// its panic message and `rerun with BACH_SEED=<seed>`. Use [`Sweep`] to
/// collect every failure, pick the thread count or configure each
/// simulation.
#[track_caller]
pub fn sweep<F: Fn() + Send + Sync>(seeds: Range<u64>, body: F) -> SweepReport {
    let report = Sweep::new(seeds).run(body);
    report.assert_ok();
    report
}

/// [`sweep`] with a setup that gets each seed's whole [`Simulation`]; see
/// [`Sweep::run_with`].
#[track_caller]
pub fn sweep_with<F: Fn(&mut Simulation) + Send + Sync>(
    seeds: Range<u64>,
    setup: F,
) -> SweepReport {
    let report = Sweep::new(seeds).run_with(setup);
    report.assert_ok();
    report
}

/// A seed sweep, configured with a builder; [`Sweep::run`] runs it.
pub struct Sweep {
    seeds: Range<u64>,
    /// `None`: one per core.
    threads: Option<usize>,
    stop_at_first_failure: bool,
    progress: bool,
    configure: Box<dyn Fn(Simulation) -> Simulation + Send + Sync>,
}

impl Sweep {
    /// A sweep over `seeds`, on every core, stopping at the first failure,
    /// with progress on. `BACH_SEEDS` (or `BACH_SEED`) replaces `seeds`
    /// when the sweep runs.
    pub fn new(seeds: Range<u64>) -> Self {
        Self {
            seeds,
            threads: None,
            stop_at_first_failure: true,
            progress: true,
            configure: Box::new(|sim| sim),
        }
    }

    /// Runs on `n` worker threads (`0` means the default: one per core, as
    /// [`std::thread::available_parallelism`] reports). The result does
    /// not depend on it.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = (n > 0).then_some(n);
        self
    }

    /// Whether to stop at the first (lowest) failing seed — the default —
    /// or run every seed and report all failures.
    pub fn stop_at_first_failure(mut self, stop: bool) -> Self {
        self.stop_at_first_failure = stop;
        self
    }

    /// Whether to print progress to stderr (on by default; only sweeps
    /// running longer than 2 s print, about once a second).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Configures each seed's simulation, after `.seed(seed)`: for example
    /// `|sim| sim.time_limit(Duration::from_secs(60))` or
    /// `|sim| sim.interleavings(true)`.
    pub fn simulation(
        mut self,
        configure: impl Fn(Simulation) -> Simulation + Send + Sync + 'static,
    ) -> Self {
        self.configure = Box::new(configure);
        self
    }

    /// Runs `body` once per seed and reports what failed. Never panics
    /// because a seed failed; panics if `BACH_SEEDS` or `BACH_SEED` is set
    /// to something that is not a seed range or seed.
    pub fn run<F: Fn() + Send + Sync>(self, body: F) -> SweepReport {
        self.run_with(|sim| sim.enter(&body))
    }

    /// [`Sweep::run`] with a setup that gets each seed's whole
    /// [`Simulation`] (AnySystem style: `add_process`, `set_drop_rate`,
    /// `send_local`, …); the simulation then runs to its end as
    /// [`Simulation::run`] runs it.
    pub fn run_with<F: Fn(&mut Simulation) + Send + Sync>(self, setup: F) -> SweepReport {
        let body = setup;
        let seeds = seeds_from_env().unwrap_or_else(|| self.seeds.clone());
        let total = seeds.end.saturating_sub(seeds.start);
        let threads = self
            .threads
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .min(usize::try_from(total).unwrap_or(usize::MAX));
        silence_sweep_panics();

        let started = WallInstant::now();
        let shared = Shared {
            next: AtomicU64::new(seeds.start),
            lowest_failure: AtomicU64::new(u64::MAX),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
        };
        thread::scope(|scope| {
            // Each worker holds a sender; the channel disconnects when the
            // last worker finishes, which ends the progress loop.
            let (alive, finished) = mpsc::channel::<()>();
            for index in 0..threads {
                let alive = alive.clone();
                let (this, shared, body, end) = (&self, &shared, &body, seeds.end);
                thread::Builder::new()
                    .name(format!("bach-sweep-{index}"))
                    .spawn_scoped(scope, move || {
                        let _alive = alive;
                        this.work(shared, end, body);
                    })
                    .expect("the OS can spawn a sweep worker thread");
            }
            drop(alive);
            if self.progress {
                show_progress(&finished, &shared, total, started);
            }
        });

        let mut failures = shared
            .failures
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        failures.sort_by_key(|failure| failure.seed);
        let stopped = self.stop_at_first_failure && !failures.is_empty();
        let runs = if stopped {
            // Seeds above the lowest failure that other workers had already
            // taken are not part of the result.
            failures.truncate(1);
            failures[0].seed - seeds.start + 1
        } else {
            shared.done.into_inner()
        };
        SweepReport {
            seeds,
            runs,
            failures,
            elapsed: started.elapsed(),
            stopped,
        }
    }

    /// One worker: takes seeds in increasing order until none is left (or,
    /// when stopping at the first failure, none below a known failure).
    fn work<F: Fn(&mut Simulation)>(&self, shared: &Shared, end: u64, setup: &F) {
        // `fetch_update` never moves the counter past `end`, so it cannot
        // overflow for ranges ending near `u64::MAX`.
        while let Ok(seed) = shared
            .next
            .fetch_update(Relaxed, Relaxed, |next| (next < end).then(|| next + 1))
        {
            // Seeds are taken in increasing order: once one is above a
            // failure, so is every later one. A seed below the lowest
            // failure is never skipped (the value read is never below it).
            if self.stop_at_first_failure && seed > shared.lowest_failure.load(Relaxed) {
                break;
            }
            SILENCED.with(|silenced| silenced.set(true));
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut sim = (self.configure)(Simulation::new().seed(seed));
                setup(&mut sim);
                sim.run(|| {});
            }));
            SILENCED.with(|silenced| silenced.set(false));
            shared.done.fetch_add(1, Relaxed);
            if let Err(payload) = result {
                let message = panic_message(&*payload);
                shared.failed.fetch_add(1, Relaxed);
                if self.stop_at_first_failure {
                    shared.lowest_failure.fetch_min(seed, Relaxed);
                }
                shared
                    .failures
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(SweepFailure { seed, message });
            }
        }
    }
}

impl fmt::Debug for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sweep")
            .field("seeds", &self.seeds)
            .field("threads", &self.threads)
            .field("stop_at_first_failure", &self.stop_at_first_failure)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// What the workers of one sweep share.
struct Shared {
    /// The next seed to hand out.
    next: AtomicU64,
    /// The lowest failing seed so far (`u64::MAX`: none), when stopping.
    lowest_failure: AtomicU64,
    /// Runs finished, for progress.
    done: AtomicU64,
    /// Runs failed, for progress.
    failed: AtomicU64,
    failures: Mutex<Vec<SweepFailure>>,
}

/// Prints a progress line once the sweep has run for [`PROGRESS_AFTER`],
/// then every [`PROGRESS_EVERY`], until every worker has finished.
fn show_progress(finished: &mpsc::Receiver<()>, shared: &Shared, total: u64, started: WallInstant) {
    let line = |suffix: &str| {
        let done = shared.done.load(Relaxed);
        let failed = shared.failed.load(Relaxed);
        let rate = done as f64 / started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
        let plural = if failed == 1 { "" } else { "s" };
        eprintln!(
            "bach sweep: {done}/{total} runs, {rate:.0} runs/s, {failed} failure{plural}{suffix}"
        );
    };
    let mut next_line = started + PROGRESS_AFTER;
    let mut printed = false;
    loop {
        let wait = next_line.saturating_duration_since(WallInstant::now());
        match finished.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                line("");
                printed = true;
                next_line = WallInstant::now() + PROGRESS_EVERY;
            }
            // Disconnected: the last worker is done. (Nobody sends.)
            _ => break,
        }
    }
    if printed {
        line(", done");
    }
}

thread_local! {
    /// Set while a sweep worker runs a seed: its panics print nothing.
    static SILENCED: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once per process, a panic hook that drops the output of
/// panics on sweep workers and hands every other panic to the hook
/// installed before it.
fn silence_sweep_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !SILENCED.try_with(Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
}

/// The seeds the environment selects: `BACH_SEEDS`, else `BACH_SEED`.
fn seeds_from_env() -> Option<Range<u64>> {
    if let Some(value) = env_value("BACH_SEEDS") {
        return Some(parse_seeds(&value).unwrap_or_else(|error| panic!("{error}")));
    }
    let value = env_value("BACH_SEED")?;
    let seed = parse_seed(&value)
        .unwrap_or_else(|| panic!("BACH_SEED=`{value}` is not an unsigned 64-bit integer"));
    Some(single(seed).unwrap_or_else(|error| panic!("BACH_SEED=`{value}` {error}")))
}

/// An environment variable's value; `None` when unset or empty.
fn env_value(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => None,
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => {
            panic!("{name}={value:?} is not valid UTF-8")
        }
    }
}

/// Parses a `BACH_SEEDS` value: `a..b`, `a..=b`, or `n` (meaning
/// `n..n+1`), each number decimal or `0x` hex. The error names the value.
pub(crate) fn parse_seeds(value: &str) -> Result<Range<u64>, String> {
    let bad = |why: String| {
        format!(
            "BACH_SEEDS=`{value}` is not a seed range: {why} \
             (expected `a..b`, `a..=b` or a single seed `n`, unsigned 64-bit integers)"
        )
    };
    let number = |text: &str| {
        parse_seed(text).ok_or_else(|| bad(format!("`{}` is not a number", text.trim())))
    };
    let text = value.trim();
    let range = if let Some((start, last)) = text.split_once("..=") {
        let (start, last) = (number(start)?, number(last)?);
        let end = last
            .checked_add(1)
            .ok_or_else(|| bad(format!("a sweep cannot include seed {}", u64::MAX)))?;
        start..end
    } else if let Some((start, end)) = text.split_once("..") {
        number(start)?..number(end)?
    } else {
        single(number(text)?).map_err(bad)?
    };
    if range.start > range.end {
        return Err(bad(format!(
            "it starts ({}) after it ends ({})",
            range.start, range.end
        )));
    }
    Ok(range)
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn single(seed: u64) -> Result<Range<u64>, String> {
    let end = seed
        .checked_add(1)
        .ok_or_else(|| format!("a sweep cannot include seed {}", u64::MAX))?;
    Ok(seed..end)
}

/// What a sweep found: how many seeds ran, which failed, how long it took.
///
/// Its `Display` is a short summary naming the failing seeds, the first
/// failure's message and how to rerun it.
#[derive(Clone, Debug)]
pub struct SweepReport {
    seeds: Range<u64>,
    runs: u64,
    failures: Vec<SweepFailure>,
    elapsed: Duration,
    stopped: bool,
}

impl SweepReport {
    /// The seeds swept: the range given in code, or the one `BACH_SEEDS`
    /// (or `BACH_SEED`) selected.
    pub fn seeds(&self) -> Range<u64> {
        self.seeds.clone()
    }

    /// How many seeds ran: all of them, or, after stopping at the first
    /// failure, those up to and including the failing one.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The failing seeds and their panic messages, in seed order. After
    /// stopping at the first failure: just the lowest failing seed.
    pub fn failures(&self) -> &[SweepFailure] {
        &self.failures
    }

    /// The lowest failing seed, if any.
    pub fn first_failure(&self) -> Option<&SweepFailure> {
        self.failures.first()
    }

    /// Whether every seed that ran passed.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Whether the sweep stopped at a failure before running every seed.
    pub fn stopped_at_failure(&self) -> bool {
        self.stopped
    }

    /// Wall time the sweep took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// [`runs`](Self::runs) per second of wall time.
    pub fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Panics with the summary if any seed failed.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Range { start, end } = self.seeds;
        let stats = format!(
            "seeds {start}..{end}, {} runs in {:.2?}, {:.0} runs/s",
            self.runs,
            self.elapsed,
            self.runs_per_second()
        );
        let Some(first) = self.first_failure() else {
            return write!(f, "bach sweep: every seed passed ({stats})");
        };
        if self.stopped {
            writeln!(
                f,
                "bach sweep: seed {} failed; stopped at the first failure ({stats})",
                first.seed
            )?;
        } else {
            let failed = self.failures.len();
            let seeds = self
                .failures
                .iter()
                .take(SEEDS_SHOWN)
                .map(|failure| failure.seed.to_string());
            let mut list = seeds.collect::<Vec<_>>().join(", ");
            if failed > SEEDS_SHOWN {
                list.push_str(&format!(" … and {} more", failed - SEEDS_SHOWN));
            }
            writeln!(
                f,
                "bach sweep: {failed} of {} seeds failed ({stats})",
                self.runs
            )?;
            writeln!(f, "failing seeds: {list}")?;
        }
        writeln!(f, "seed {} failed with: {}", first.seed, first.message)?;
        write!(f, "rerun with BACH_SEED={}", first.seed)
    }
}

/// One failing seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepFailure {
    /// The seed whose run failed.
    pub seed: u64,
    /// The panic message (bach's name the task, node, simulated time and
    /// seed).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::parse_seeds;

    #[test]
    fn parses_ranges_inclusive_ranges_and_single_seeds() {
        assert_eq!(parse_seeds("3..7"), Ok(3..7));
        assert_eq!(parse_seeds(" 3..=7 "), Ok(3..8));
        assert_eq!(parse_seeds("5"), Ok(5..6));
        assert_eq!(parse_seeds("0x10..0x20"), Ok(16..32));
        assert_eq!(parse_seeds("4..4"), Ok(4..4));
        assert_eq!(parse_seeds("0..=18446744073709551614"), Ok(0..u64::MAX));
    }

    #[test]
    fn rejects_garbage_naming_the_value() {
        for value in [
            "abc",
            "3..",
            "..7",
            "3...7",
            "-1..4",
            "7..3",
            "1..=18446744073709551615",
        ] {
            let error = parse_seeds(value).expect_err(value);
            assert!(
                error.starts_with(&format!("BACH_SEEDS=`{value}` is not a seed range")),
                "{error}"
            );
        }
        let error = parse_seeds("3..x").unwrap_err();
        assert!(error.contains("`x` is not a number"), "{error}");
        assert!(
            error.contains("expected `a..b`, `a..=b` or a single seed `n`"),
            "{error}"
        );
    }
}
