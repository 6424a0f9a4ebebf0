//! The explorer: runs a simulation body many times under a strategy and
//! reports the first failing execution with its replay token.

use super::{
    strategy::{Dfs, Pct, RandomWalk, Scheduler},
    token::{Entry, Recording, Replay},
};
use crate::{executor::cell::panic_message, rand::ChoiceSource, task::TaskId, Simulation};
use rand::{Rng as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::{
    cell::RefCell,
    fmt,
    panic::{catch_unwind, AssertUnwindSafe},
    rc::Rc,
    time::Duration,
};

/// A choice source that forwards to a [`Scheduler`] and records every
/// decision, so any execution can be printed as a replay token.
pub(crate) struct Recorder {
    scheduler: Rc<RefCell<dyn Scheduler>>,
    recording: Rc<RefCell<Recording>>,
    words: Option<Xoshiro256PlusPlus>,
    /// How to describe the execution in failure messages.
    label: Rc<str>,
}

impl Recorder {
    pub(crate) fn new(
        scheduler: Rc<RefCell<dyn Scheduler>>,
        interleavings: bool,
        reduction: bool,
        label: Rc<str>,
    ) -> (Self, Rc<RefCell<Recording>>) {
        let words_seed = scheduler.borrow().words_seed();
        let recording = Rc::new(RefCell::new(Recording {
            interleavings,
            reduction,
            words_seed,
            entries: Vec::new(),
        }));
        let recorder = Self {
            scheduler,
            recording: recording.clone(),
            words: words_seed.map(Xoshiro256PlusPlus::seed_from_u64),
            label,
        };
        (recorder, recording)
    }

    fn record(&self, options: usize, chosen: usize) -> usize {
        assert!(
            chosen < options,
            "the scheduler chose {chosen} among {options} options"
        );
        self.recording.borrow_mut().entries.push(Entry::Choice {
            options: options as u64,
            chosen: chosen as u64,
        });
        chosen
    }
}

impl ChoiceSource for Recorder {
    fn choose(&mut self, options: usize) -> usize {
        if options <= 1 {
            return 0;
        }
        let chosen = self.scheduler.borrow_mut().choose(options);
        self.record(options, chosen)
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        let chosen = self.scheduler.borrow_mut().schedule(tasks);
        self.record(tasks.len(), chosen)
    }

    fn next_u64(&mut self) -> u64 {
        if let Some(words) = &mut self.words {
            return words.next_u64();
        }
        let word = self.scheduler.borrow_mut().next_u64();
        self.recording.borrow_mut().entries.push(Entry::Word(word));
        word
    }

    fn reproduce(&self) -> String {
        format!(
            "{}; rerun with BACH_REPLAY={}",
            self.label,
            self.recording.borrow().token()
        )
    }
}

/// The built-in exploration strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every execution, depth first: each discrete choice (task order,
    /// [`rand::choose`](crate::rand::choose), `pick`, `shuffle`) is
    /// enumerated; sampled values come from one fixed seed.
    Dfs,
    /// This many executions with uniformly random choices.
    Random(u64),
    /// Probabilistic concurrency testing with bug depth `d` (see
    /// [`Explorer::max_executions`] for the number of executions).
    Pct(usize),
}

/// Runs a simulation body many times under a strategy; see the
/// [module docs](super).
pub struct Explorer {
    strategy: Strategy,
    custom: Option<Rc<RefCell<dyn Scheduler>>>,
    seed: u64,
    max_executions: Option<u64>,
    interleavings: bool,
    reduction: bool,
    progress: bool,
    configure: Option<Box<dyn Fn(Simulation) -> Simulation>>,
}

impl Default for Explorer {
    fn default() -> Self {
        Self::new()
    }
}

/// Executions for strategies without a natural end, unless configured.
const DEFAULT_EXECUTIONS: u64 = 1000;

impl Explorer {
    /// Depth-first, interleavings explored with reduction, seed from
    /// `BACH_SEED` (or 0), no execution cap.
    pub fn new() -> Self {
        Self {
            strategy: Strategy::Dfs,
            custom: None,
            seed: crate::runtime::seed_from_env(),
            max_executions: None,
            interleavings: true,
            reduction: true,
            progress: true,
            configure: None,
        }
    }

    /// Selects a built-in strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self.custom = None;
        self
    }

    /// Uses a custom [`Scheduler`].
    pub fn scheduler(mut self, scheduler: impl Scheduler + 'static) -> Self {
        self.custom = Some(Rc::new(RefCell::new(scheduler)));
        self
    }

    /// The seed random strategies derive every execution's seed from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stops after this many executions (PCT runs 1000 unless set; DFS is
    /// unbounded unless set).
    pub fn max_executions(mut self, executions: u64) -> Self {
        self.max_executions = Some(executions);
        self
    }

    /// Whether the order of contending ready tasks is a choice (default
    /// `true`); see [`Simulation::interleavings`].
    pub fn interleavings(mut self, on: bool) -> Self {
        self.interleavings = on;
        self
    }

    /// Partial-order reduction (default `true`); see
    /// [`Simulation::reduction`].
    pub fn reduction(mut self, on: bool) -> Self {
        self.reduction = on;
        self
    }

    /// Whether a long exploration (over 2 s) prints a progress line to
    /// stderr about every second: executions done, executions per second
    /// (default `true`). Reporting only: it never changes what runs.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Configures each execution's simulation (time limit, trace, capture…);
    /// applied before the explorer installs its choice source.
    pub fn simulation(mut self, configure: impl Fn(Simulation) -> Simulation + 'static) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    fn scheduler_for_run(&self) -> (Rc<RefCell<dyn Scheduler>>, String) {
        if let Some(custom) = &self.custom {
            return (custom.clone(), "a custom scheduler".into());
        }
        match self.strategy {
            Strategy::Dfs => (
                Rc::new(RefCell::new(Dfs::new(self.seed))),
                "depth-first exploration".into(),
            ),
            Strategy::Random(n) => (
                Rc::new(RefCell::new(RandomWalk::new(self.seed, n))),
                format!("random exploration (seed {})", self.seed),
            ),
            Strategy::Pct(depth) => (
                Rc::new(RefCell::new(Pct::new(
                    self.seed,
                    depth,
                    self.max_executions.unwrap_or(DEFAULT_EXECUTIONS),
                ))),
                format!("PCT depth {depth} (seed {})", self.seed),
            ),
        }
    }

    fn simulation_for(&self) -> Simulation {
        let sim = Simulation::new()
            .interleavings(self.interleavings)
            .reduction(self.reduction);
        match &self.configure {
            Some(configure) => configure(sim),
            None => sim,
        }
    }

    /// Explores `body` (run as [`Simulation::run`] runs it, once per
    /// execution). Panics at the first failing execution, with its message
    /// and the `BACH_REPLAY` token that reruns it.
    #[track_caller]
    pub fn run(&self, body: impl Fn()) -> Report {
        match self.try_run(body) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Like [`Explorer::run`], but returns the first failure instead of
    /// panicking (its message and replay token are also printed to stderr).
    ///
    /// With `BACH_REPLAY` set, runs only the execution the token describes.
    pub fn try_run(&self, body: impl Fn()) -> Result<Report, Failure> {
        let started = std::time::Instant::now();
        if let Some(recording) = crate::runtime::replay_from_env() {
            let token = recording.token();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut sim = self.simulation_for().replay_recording(recording);
                sim.run(&body);
            }));
            return match result {
                Ok(()) => Ok(Report {
                    executions: 1,
                    complete: false,
                    elapsed: started.elapsed(),
                    strategy: "replay of BACH_REPLAY".into(),
                }),
                Err(payload) => Err(Failure {
                    execution: 1,
                    message: panic_message(payload.as_ref()).to_string(),
                    token,
                }),
            };
        }
        let (scheduler, label) = self.scheduler_for_run();
        let cap = self.max_executions.unwrap_or(u64::MAX);
        let mut executions = 0;
        let mut complete = true;
        let mut last_progress = started;
        loop {
            if self.progress && executions % 64 == 0 {
                let now = std::time::Instant::now();
                if now - started > Duration::from_secs(2)
                    && now - last_progress > Duration::from_secs(1)
                {
                    last_progress = now;
                    let rate = executions as f64 / (now - started).as_secs_f64();
                    eprintln!("bach explore: {label}: {executions} executions, {rate:.0}/s");
                }
            }
            if executions == cap {
                complete = false;
                break;
            }
            if !scheduler.borrow_mut().next_execution() {
                break;
            }
            executions += 1;
            let label: Rc<str> = format!("{label}, execution {executions}").into();
            let (recorder, recording) =
                Recorder::new(scheduler.clone(), self.interleavings, self.reduction, label);
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut sim = self.simulation_for().choice_source(recorder);
                sim.run(&body);
            }));
            if let Err(payload) = result {
                let failure = Failure {
                    execution: executions,
                    message: panic_message(payload.as_ref()).to_string(),
                    token: recording.borrow().token(),
                };
                eprintln!(
                    "bach explorer: execution {executions} failed; rerun it with BACH_REPLAY={}",
                    failure.token
                );
                return Err(failure);
            }
        }
        let complete = complete && self.custom.is_none() && self.strategy == Strategy::Dfs;
        Ok(Report {
            executions,
            complete,
            elapsed: started.elapsed(),
            strategy: label,
        })
    }
}

/// What an exploration did.
#[derive(Clone, Debug)]
pub struct Report {
    executions: u64,
    complete: bool,
    elapsed: Duration,
    strategy: String,
}

impl Report {
    /// Executions run.
    pub fn executions(&self) -> u64 {
        self.executions
    }

    /// Whether the search covered every execution (DFS that ran out of
    /// branches rather than hitting its cap).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Wall time spent.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Executions per wall-clock second.
    pub fn executions_per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} execution{}{} in {:.2?} ({:.0}/s)",
            self.strategy,
            self.executions,
            if self.executions == 1 { "" } else { "s" },
            if self.complete { ", all explored" } else { "" },
            self.elapsed,
            self.executions_per_second()
        )
    }
}

/// A failing execution found by an [`Explorer`].
#[derive(Clone, Debug)]
pub struct Failure {
    execution: u64,
    message: String,
    token: String,
}

impl Failure {
    /// Which execution failed (1-based).
    pub fn execution(&self) -> u64 {
        self.execution
    }

    /// The panic message (it names the task, node and simulated time).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The replay token: `BACH_REPLAY=<token>` or [`replay`] reruns it.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "execution {} failed: {}\nrerun exactly this execution with BACH_REPLAY={}",
            self.execution, self.message, self.token
        )
    }
}

impl std::error::Error for Failure {}

/// Reruns exactly the execution `token` describes (printed as
/// `BACH_REPLAY=<token>` by a failure), as [`Simulation::run`] would: a
/// failure panics again, with the same message. Turn on tracing or capture
/// through the environment (`BACH_TRACE`, `BACH_PCAP_DIR`) as usual.
///
/// Panics with an [`InvalidInput`](std::io::ErrorKind::InvalidInput)
/// message if `token` is not a replay token.
#[track_caller]
pub fn replay<F: FnOnce() -> R, R>(token: &str, body: F) -> R {
    Simulation::new().replay(token).run(body)
}

impl Simulation {
    /// Replays the execution `token` describes (choices, interleavings and
    /// reduction settings); see [`replay`]. Panics if `token` is not a
    /// replay token.
    #[track_caller]
    pub fn replay(self, token: &str) -> Simulation {
        match Recording::parse(token) {
            Ok(recording) => self.replay_recording(recording),
            Err(error) => panic!("{error}"),
        }
    }

    pub(crate) fn replay_recording(self, recording: Recording) -> Simulation {
        let interleavings = recording.interleavings;
        let reduction = recording.reduction;
        self.interleavings(interleavings)
            .reduction(reduction)
            .choice_source(Replay::new(recording))
    }
}
