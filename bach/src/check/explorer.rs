//! The explorer: runs a simulation body many times under a strategy and
//! reports the first failing execution with its replay token.

use super::{
    model::{Mode, Ordering, PathRun, Visited},
    strategy::{Bfs, BfsNode, Dfs, Pct, RandomWalk, Scheduler},
    token::{Entry, Recording, Replay},
};
use crate::{
    executor::join::panic_message, executor::TaskId, rand::source::ChoiceSource, runtime::PathEnd,
    Simulation,
};
use rand::{Rng as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, HashSet},
    fmt,
    panic::{catch_unwind, AssertUnwindSafe},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

/// A choice source that forwards to a [`Scheduler`] and records every
/// decision, so any execution can be printed as a replay token.
pub(crate) struct Recorder {
    scheduler: Rc<RefCell<dyn Scheduler>>,
    recording: Rc<RefCell<Recording>>,
    /// Shared with [`Recorder::words`], so a checkpoint can save and
    /// restore the generator's position.
    words: Rc<RefCell<Option<Xoshiro256PlusPlus>>>,
    /// How to describe the execution in failure messages.
    label: Rc<str>,
    /// The number of the execution, appended to `label` when not 0 (set
    /// per path when one simulation runs many, see [`Recorder::execution`]).
    execution: Rc<Cell<u64>>,
}

impl Recorder {
    pub(crate) fn new(
        scheduler: Rc<RefCell<dyn Scheduler>>,
        interleavings: bool,
        reduction: bool,
        model: Option<([u32; 3], bool)>,
        label: Rc<str>,
    ) -> (Self, Rc<RefCell<Recording>>) {
        let words_seed = scheduler.borrow().words_seed();
        let recording = Rc::new(RefCell::new(Recording {
            interleavings,
            reduction,
            words_seed,
            model,
            stage: None,
            // Room for a typical path's choices: grown once, not step by step.
            entries: Vec::with_capacity(32),
        }));
        let recorder = Self {
            scheduler,
            recording: recording.clone(),
            words: Rc::new(RefCell::new(
                words_seed.map(Xoshiro256PlusPlus::seed_from_u64),
            )),
            label,
            execution: Rc::new(Cell::new(0)),
        };
        (recorder, recording)
    }

    /// The generator of this recorder's random words (when drawn from a
    /// seed), shared.
    pub(crate) fn words(&self) -> Rc<RefCell<Option<Xoshiro256PlusPlus>>> {
        self.words.clone()
    }

    /// The number of the execution in failure messages, shared.
    pub(crate) fn execution(&self) -> Rc<Cell<u64>> {
        self.execution.clone()
    }

    /// [`Recorder::new`] for a path that gets a stimulus after `stage`
    /// events (recorded in the token).
    pub(crate) fn new_staged(
        stage: Option<u32>,
        scheduler: Rc<RefCell<dyn Scheduler>>,
        interleavings: bool,
        reduction: bool,
        model: Option<([u32; 3], bool)>,
        label: Rc<str>,
    ) -> (Self, Rc<RefCell<Recording>>) {
        let (recorder, recording) = Self::new(scheduler, interleavings, reduction, model, label);
        recording.borrow_mut().stage = stage;
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
        if let Some(words) = self.words.borrow_mut().as_mut() {
            return words.next_u64();
        }
        let word = self.scheduler.borrow_mut().next_u64();
        self.recording.borrow_mut().entries.push(Entry::Word(word));
        word
    }

    fn reproduce(&self) -> String {
        let token = self.recording.borrow().token();
        match self.execution.get() {
            0 => format!("{}; rerun with BACH_REPLAY={token}", self.label),
            n => format!(
                "{}, execution {n}; rerun with BACH_REPLAY={token}",
                self.label
            ),
        }
    }
}

/// The built-in exploration strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every execution, depth first: each discrete choice (task order,
    /// [`rand::choose`](crate::rand::choose), `pick`, `shuffle`, and when
    /// model checking which event fires and whether a fault happens) is
    /// enumerated; sampled values come from one fixed seed.
    Dfs,
    /// Every execution, breadth first over choice prefixes: the first
    /// violation found has a shortest sequence of choices.
    Bfs,
    /// This many executions with uniformly random choices.
    Random(u64),
    /// Probabilistic concurrency testing with bug depth `d` (see
    /// [`Explorer::max_executions`] for the number of executions).
    Pct(usize),
}

/// What every execution's simulation is built from; `Sync`, so parallel
/// workers build their own simulations from one copy.
#[derive(Clone, Copy)]
struct Settings<'a> {
    interleavings: bool,
    reduction: bool,
    model: Option<ModelOptions>,
    configure: Option<&'a (dyn Fn(Simulation) -> Simulation + Send + Sync)>,
}

impl Settings<'_> {
    fn simulation(&self) -> Simulation {
        let sim = Simulation::new()
            .interleavings(self.interleavings)
            .reduction(self.reduction);
        let sim = match self.configure {
            Some(configure) => configure(sim),
            None => sim,
        };
        match &self.model {
            Some(model) => sim.model_checked(
                [model.drops, model.duplicates, model.corruptions],
                model.ordering,
            ),
            None => sim,
        }
    }

    /// Runs one execution of `body` on `sim`.
    fn execute(
        &self,
        mut sim: Simulation,
        body: &dyn Fn(&mut Simulation),
        run: &PathRun<'_>,
    ) -> Result<Option<PathEnd>, String> {
        let result = catch_unwind(AssertUnwindSafe(|| {
            body(&mut sim);
            match self.model {
                Some(_) => Some(sim.run_checked(|| {}, run)),
                None => {
                    sim.run(|| {});
                    None
                }
            }
        }));
        result.map_err(|payload| panic_message(payload.as_ref()).to_string())
    }
}

/// What one node of a parallel breadth-first search produced.
struct NodeResult {
    log: super::model::BoundaryLog,
    end: Result<Option<PathEnd>, String>,
    children: Vec<Vec<u32>>,
    recording: Recording,
}

/// The outcome label of a path end, for reports.
fn outcome_label(end: &Option<PathEnd>) -> &'static str {
    match end {
        None => "passed",
        Some(PathEnd::Completed) => "completed",
        Some(PathEnd::Quiescent) => "quiescent",
        Some(PathEnd::Goal(_)) => "goal reached",
        Some(PathEnd::Pruned) => "pruned",
        Some(PathEnd::Visited) => "visited state",
        Some(PathEnd::DepthLimit) => "depth limit",
        Some(PathEnd::Expanded) => "expanded",
        Some(PathEnd::Collected(_)) => "collected",
    }
}

/// Model-checking settings (see [`Explorer::model_checking`]).
#[derive(Clone, Copy, Debug, Default)]
struct ModelOptions {
    max_depth: Option<u32>,
    drops: u32,
    duplicates: u32,
    corruptions: u32,
    ordering: Ordering,
    visited: Visited,
}

/// Runs a simulation body many times under a strategy; see the
/// [module docs](super).
pub struct Explorer {
    strategy: Strategy,
    custom: Option<Rc<RefCell<dyn Scheduler>>>,
    seed: u64,
    max_executions: Option<u64>,
    time_limit: Option<Duration>,
    interleavings: bool,
    reduction: bool,
    progress: bool,
    model: Option<ModelOptions>,
    configure: Option<Box<dyn Fn(Simulation) -> Simulation + Send + Sync>>,
    collect: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    threads: usize,
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
    /// `BACH_SEED` (or 0), no execution cap, simulated time as usual.
    pub fn new() -> Self {
        Self {
            strategy: Strategy::Dfs,
            custom: None,
            seed: crate::runtime::seed_from_env(),
            max_executions: None,
            time_limit: None,
            interleavings: true,
            reduction: true,
            progress: true,
            model: None,
            configure: None,
            collect: None,
            threads: 0,
        }
    }

    /// Worker threads for [`Explorer::par_run_with`] (default: every core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Breadth-first model checking on all cores (see
    /// [`Explorer::threads`]): each level of the search tree is split
    /// among worker threads, each running its own simulations; a level's
    /// results are merged in order against one shared fingerprint set, so
    /// the report (paths, states, unique states, outcomes, the violation
    /// found) is identical to the single-threaded
    /// [`Strategy::Bfs`] run, whatever the thread count. `setup` must be
    /// `Sync`: it is called on the workers. Panics at the first violation.
    ///
    /// Uses breadth-first search whatever [`Explorer::strategy`] says, and
    /// no custom scheduler.
    #[track_caller]
    pub fn par_run_with(&self, setup: impl Fn(&mut Simulation) + Sync) -> Report {
        match self.try_par_run_with(setup) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`Explorer::par_run_with`], returning the first violation.
    pub fn try_par_run_with(
        &self,
        setup: impl Fn(&mut Simulation) + Sync,
    ) -> Result<Report, Failure> {
        if crate::runtime::replay_from_env().is_some() {
            return self.try_run_with(setup);
        }
        let threads = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let started = std::time::Instant::now();
        let settings = self.settings();
        let model = self.model.unwrap_or_default();
        let collect = self.collect.as_deref();
        let model_token = self.model_token();
        let mut report = Report::empty(format!(
            "breadth-first model checking on {threads} thread{}",
            if threads == 1 { "" } else { "s" }
        ));
        let mut visited: HashSet<u64> = HashSet::new();
        let mut level: Vec<Vec<u32>> = vec![Vec::new()];
        let cap = self.max_executions.unwrap_or(u64::MAX);
        let mut complete = true;
        let seed = self.seed;
        let node = |prefix: &[u32], snapshot: &HashSet<u64>| -> NodeResult {
            let scheduler = Rc::new(RefCell::new(BfsNode::new(seed, prefix.to_vec())));
            let (recorder, recording) = Recorder::new(
                scheduler.clone(),
                settings.interleavings,
                settings.reduction,
                model_token,
                "breadth-first model checking".into(),
            );
            let sim = settings.simulation().choice_source(recorder);
            sim.inner.net.borrow_mut().set_capture_dir(None);
            let log = RefCell::new(Vec::new());
            let run = PathRun {
                mode: Mode {
                    ordering: model.ordering,
                },
                max_depth: model.max_depth,
                visited: None,
                scheduler: Some(&*scheduler as &RefCell<dyn Scheduler>),
                states: Cell::new(0),
                max_depth_seen: Cell::new(0),
                collect: collect.map(|c| c as &dyn Fn() -> bool),
                stimulus: None,
                snapshot: (model.visited == Visited::Fingerprints).then_some(snapshot),
                log: Some(&log),
                resume: None,
                checkpoint: None,
            };
            let end = settings.execute(sim, &setup, &run);
            let children: Vec<Vec<u32>> = scheduler.borrow().children().collect();
            let recording = recording.borrow().clone();
            NodeResult {
                log: log.into_inner(),
                end,
                children,
                recording,
            }
        };
        // Workers (the calling thread is one of them) take a level's nodes
        // from a shared counter; the calling thread then merges the
        // results in order. Small levels run on the calling thread alone.
        struct Job {
            level: Vec<Vec<u32>>,
            snapshot: HashSet<u64>,
            next: std::sync::atomic::AtomicUsize,
        }
        let work = |job: &Job, out: &mut Vec<(usize, NodeResult)>| loop {
            let index = job.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(prefix) = job.level.get(index) else {
                break;
            };
            out.push((index, node(prefix, &job.snapshot)));
        };
        let outcome = std::thread::scope(|scope| -> Result<(), Failure> {
            let (done_tx, done_rx) = std::sync::mpsc::channel::<Vec<(usize, NodeResult)>>();
            let mut workers = Vec::new();
            for _ in 1..threads {
                let (job_tx, job_rx) = std::sync::mpsc::channel::<Arc<Job>>();
                let done_tx = done_tx.clone();
                let work = &work;
                scope.spawn(move || {
                    while let Ok(job) = job_rx.recv() {
                        let mut out = Vec::new();
                        work(&job, &mut out);
                        drop(job);
                        if done_tx.send(out).is_err() {
                            break;
                        }
                    }
                });
                workers.push(job_tx);
            }
            let mut snapshot = HashSet::new();
            while !level.is_empty() {
                if self
                    .time_limit
                    .is_some_and(|limit| started.elapsed() >= limit)
                {
                    complete = false;
                    break;
                }
                let room = usize::try_from(cap - report.executions).unwrap_or(usize::MAX);
                if level.len() > room {
                    level.truncate(room);
                    complete = false;
                }
                snapshot.clone_from(&visited);
                let job = Arc::new(Job {
                    level: std::mem::take(&mut level),
                    snapshot: std::mem::take(&mut snapshot),
                    next: std::sync::atomic::AtomicUsize::new(0),
                });
                let helpers = if job.level.len() >= 2 * threads {
                    workers.len()
                } else {
                    0
                };
                for worker in &workers[..helpers] {
                    worker
                        .send(job.clone())
                        .expect("model-checking workers run");
                }
                let mut slots: Vec<Option<NodeResult>> = Vec::new();
                slots.resize_with(job.level.len(), || None);
                let mut mine = Vec::new();
                work(&job, &mut mine);
                for (index, result) in mine
                    .into_iter()
                    .chain((0..helpers).flat_map(|_| done_rx.recv().expect("a worker replies")))
                {
                    slots[index] = Some(result);
                }
                let Ok(job) = Arc::try_unwrap(job) else {
                    unreachable!("workers drop the job before replying")
                };
                level = job.level;
                snapshot = job.snapshot;
                let results = slots.into_iter().map(|slot| slot.expect("every node ran"));
                let mut next = Vec::new();
                for result in results {
                    report.executions += 1;
                    // Replay the sequential search's bookkeeping in order.
                    let mut seen_before = false;
                    for &(depth, examined, fingerprint) in &result.log {
                        report.max_depth = report.max_depth.max(depth);
                        if examined {
                            report.states += 1;
                        }
                        if let Some(fingerprint) = fingerprint {
                            if !visited.insert(fingerprint) {
                                seen_before = true;
                                break;
                            }
                        }
                    }
                    if seen_before {
                        *report.outcomes.entry("visited state").or_insert(0) += 1;
                        continue;
                    }
                    match result.end {
                        Err(message) => {
                            let token = result.recording.token();
                            eprintln!(
                                "bach explorer: execution {} failed; rerun it with BACH_REPLAY={token}",
                                report.executions
                            );
                            return Err(Failure {
                                execution: report.executions,
                                message,
                                trace: self.trace_of(result.recording, &setup, None),
                                token,
                            });
                        }
                        Ok(end) => {
                            if let Some(PathEnd::Collected(depth)) = end {
                                report.collected.push(Collected {
                                    recording: result.recording,
                                    depth,
                                });
                            }
                            // The first new choice's alternatives are children
                            // however the path ended after it.
                            next.extend(result.children);
                            *report.outcomes.entry(outcome_label(&end)).or_insert(0) += 1;
                        }
                    }
                }
                level = next;
            }
            Ok(())
        });
        outcome?;
        report.complete = complete;
        report.elapsed = started.elapsed();
        report.unique_states = visited.len() as u64;
        Ok(report)
    }

    /// A model checker ([`Explorer::new`] in model-checking mode): the
    /// network is asynchronous (any packet in flight may arrive next,
    /// whatever its latency), each task's timers fire in deadline order but
    /// interleave freely with deliveries, faults are choices bounded by
    /// budgets (none by default), and visited state fingerprints prune the
    /// search. See [`check::model`](super::model) for the exact rules and
    /// what fingerprints assume.
    pub fn model_checking() -> Self {
        let mut explorer = Self::new();
        explorer.model = Some(ModelOptions::default());
        explorer
    }

    fn model_options(&mut self) -> &mut ModelOptions {
        self.model.get_or_insert_with(ModelOptions::default)
    }

    /// Ends each path after this many events (deliveries and timers).
    /// Turns model checking on.
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.model_options().max_depth = Some(depth);
        self
    }

    /// How many packets one path may lose (on links with a non-zero loss
    /// probability). Turns model checking on.
    pub fn max_drops(mut self, drops: u32) -> Self {
        self.model_options().drops = drops;
        self
    }

    /// How many duplications one path may make (on links with a non-zero
    /// duplication probability). Turns model checking on.
    pub fn max_duplicates(mut self, duplicates: u32) -> Self {
        self.model_options().duplicates = duplicates;
        self
    }

    /// How many packets one path may corrupt (on links with a non-zero
    /// corruption probability). Turns model checking on.
    pub fn max_corruptions(mut self, corruptions: u32) -> Self {
        self.model_options().corruptions = corruptions;
        self
    }

    /// Which events a step may pick. Turns model checking on.
    pub fn ordering(mut self, ordering: Ordering) -> Self {
        self.model_options().ordering = ordering;
        self
    }

    /// Whether visited fingerprints prune paths. Turns model checking on.
    pub fn visited(mut self, visited: Visited) -> Self {
        self.model_options().visited = visited;
        self
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

    /// Stops after this many executions (PCT runs 1000 unless set; DFS and
    /// BFS are unbounded unless set).
    pub fn max_executions(mut self, executions: u64) -> Self {
        self.max_executions = Some(executions);
        self
    }

    /// Stops the search after this much wall-clock time (the report then
    /// says it is incomplete). Reporting and budgeting only: what one
    /// execution does never depends on it.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
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
    /// stderr about every second (default `true`). Reporting only: it never
    /// changes what runs.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Configures each execution's simulation (time limit, trace, capture…);
    /// applied before the explorer installs its choice source. When model
    /// checking, capture is off while searching and on for the replay of a
    /// violation.
    pub fn simulation(
        mut self,
        configure: impl Fn(Simulation) -> Simulation + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Collects states for a later stage (AnySystem's `collect` and
    /// `run_from_states`): a path on which `holds` (evaluated inside the
    /// simulation after each step) becomes true ends there and is listed
    /// in [`Report::collected`]; [`Explorer::run_from`] continues from
    /// those states with a new stimulus. Turns model checking on.
    pub fn collect(mut self, holds: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.model_options();
        self.collect = Some(Arc::new(holds));
        self
    }

    fn scheduler_for_run(&self) -> (Rc<RefCell<dyn Scheduler>>, String) {
        if let Some(custom) = &self.custom {
            return (custom.clone(), "a custom scheduler".into());
        }
        let what = if self.model.is_some() {
            "model checking"
        } else {
            "exploration"
        };
        match self.strategy {
            Strategy::Dfs => (
                Rc::new(RefCell::new(Dfs::new(self.seed))),
                format!("depth-first {what}"),
            ),
            Strategy::Bfs => (
                Rc::new(RefCell::new(Bfs::new(self.seed))),
                format!("breadth-first {what}"),
            ),
            Strategy::Random(n) => (
                Rc::new(RefCell::new(RandomWalk::new(self.seed, n))),
                format!("random {what} (seed {})", self.seed),
            ),
            Strategy::Pct(depth) => (
                Rc::new(RefCell::new(Pct::new(
                    self.seed,
                    depth,
                    self.max_executions.unwrap_or(DEFAULT_EXECUTIONS),
                ))),
                format!("PCT depth {depth} {what} (seed {})", self.seed),
            ),
        }
    }

    fn settings(&self) -> Settings<'_> {
        Settings {
            interleavings: self.interleavings,
            reduction: self.reduction,
            model: self.model,
            configure: self.configure.as_deref(),
        }
    }

    fn simulation_for(&self) -> Simulation {
        self.settings().simulation()
    }

    fn model_token(&self) -> Option<([u32; 3], bool)> {
        self.model.map(|m| {
            (
                [m.drops, m.duplicates, m.corruptions],
                m.ordering == Ordering::MessagesFirst,
            )
        })
    }

    fn path_run<'a>(
        &'a self,
        scheduler: &'a RefCell<dyn Scheduler>,
        visited: &'a RefCell<HashSet<u64>>,
    ) -> PathRun<'a> {
        let model = self.model.unwrap_or_default();
        PathRun {
            mode: Mode {
                ordering: model.ordering,
            },
            max_depth: model.max_depth,
            visited: (model.visited == Visited::Fingerprints).then_some(visited),
            scheduler: Some(scheduler),
            states: Cell::new(0),
            max_depth_seen: Cell::new(0),
            collect: self.collect.as_deref().map(|c| c as &dyn Fn() -> bool),
            stimulus: None,
            snapshot: None,
            log: None,
            resume: None,
            checkpoint: None,
        }
    }

    fn execute(
        &self,
        sim: Simulation,
        body: &dyn Fn(&mut Simulation),
        run: &PathRun<'_>,
    ) -> Result<Option<PathEnd>, String> {
        self.settings().execute(sim, body, run)
    }

    /// Runs only the execution `BACH_REPLAY` describes (with `stimulus`
    /// for a path continued from a collected state).
    fn replay_env(
        &self,
        recording: Recording,
        body: &dyn Fn(&mut Simulation),
        stimulus: Option<(u32, &dyn Fn())>,
        mut report: Report,
        started: std::time::Instant,
    ) -> Result<Report, Failure> {
        let token = recording.token();
        let mut run = PathRun::replay(Mode {
            ordering: self.model.unwrap_or_default().ordering,
        });
        run.stimulus = stimulus;
        let sim = self.simulation_for().replay_recording(recording.clone());
        report.executions = 1;
        report.strategy = "replay of BACH_REPLAY".into();
        match self.execute(sim, body, &run) {
            Ok(_) => {
                report.elapsed = started.elapsed();
                Ok(report)
            }
            Err(message) => Err(Failure {
                execution: 1,
                message,
                token,
                trace: self.trace_of(recording, body, stimulus),
            }),
        }
    }

    /// The event trace of the execution `recording` describes (replayed
    /// with tracing on, and capture if configured).
    fn trace_of(
        &self,
        recording: Recording,
        body: &dyn Fn(&mut Simulation),
        stimulus: Option<(u32, &dyn Fn())>,
    ) -> Vec<String> {
        let mut run = PathRun::replay(Mode {
            ordering: self.model.unwrap_or_default().ordering,
        });
        run.stimulus = stimulus;
        let mut sim = self
            .simulation_for()
            .record_trace(true)
            .trace_capacity(1 << 20)
            .replay_recording(recording);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            body(&mut sim);
            match self.model {
                Some(_) => drop(sim.run_checked(|| {}, &run)),
                None => sim.run(|| {}),
            }
        }));
        sim.trace()
            .iter()
            .map(|event| {
                let mut line = Vec::new();
                let _ = crate::trace::write_console(&mut line, event);
                String::from_utf8_lossy(&line).trim_end().to_string()
            })
            .collect()
    }

    /// Whether the execution cap or the time limit is reached; otherwise
    /// prints the progress line (at most once a second, after 2 s).
    fn out_of_budget(
        &self,
        report: &mut Report,
        started: std::time::Instant,
        last_progress: &mut std::time::Instant,
        visited: &RefCell<HashSet<u64>>,
    ) -> bool {
        if report.executions == self.max_executions.unwrap_or(u64::MAX)
            || self
                .time_limit
                .is_some_and(|limit| started.elapsed() >= limit)
        {
            return true;
        }
        if self.progress && report.executions & 63 == 0 {
            let now = std::time::Instant::now();
            if now - started > Duration::from_secs(2)
                && now - *last_progress > Duration::from_secs(1)
            {
                *last_progress = now;
                report.elapsed = now - started;
                report.unique_states = visited.borrow().len() as u64;
                eprintln!("bach explore: {report}");
            }
        }
        false
    }

    /// Runs executions of `body` under `scheduler` until it is exhausted
    /// or a cap is hit; returns whether it was exhausted.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        body: &dyn Fn(&mut Simulation),
        scheduler: Rc<RefCell<dyn Scheduler>>,
        label: &str,
        stimulus: Option<(u32, &dyn Fn())>,
        visited: &RefCell<HashSet<u64>>,
        report: &mut Report,
        started: std::time::Instant,
    ) -> Result<bool, Failure> {
        let mut complete = true;
        let mut last_progress = started;
        loop {
            if self.out_of_budget(report, started, &mut last_progress, visited) {
                complete = false;
                break;
            }
            if !scheduler.borrow_mut().next_execution() {
                break;
            }
            report.executions += 1;
            let executions = report.executions;
            let (recorder, recording) = Recorder::new_staged(
                stimulus.map(|(depth, _)| depth),
                scheduler.clone(),
                self.interleavings,
                self.reduction,
                self.model_token(),
                label.into(),
            );
            recorder.execution().set(executions);
            let sim = self.simulation_for().choice_source(recorder);
            if self.model.is_some() {
                // Captures are written for the replay of a violation only.
                sim.inner.net.borrow_mut().set_capture_dir(None);
            }
            let mut run = self.path_run(&*scheduler, visited);
            run.stimulus = stimulus;
            let result = self.execute(sim, body, &run);
            report.states += run.states.get();
            report.max_depth = report.max_depth.max(run.max_depth_seen.get());
            match result {
                Ok(end) => {
                    if let Some(PathEnd::Collected(depth)) = end {
                        report.collected.push(Collected {
                            recording: recording.borrow().clone(),
                            depth,
                        });
                    }
                    *report.outcomes.entry(outcome_label(&end)).or_insert(0) += 1;
                }
                Err(message) => {
                    let recording = recording.borrow().clone();
                    let failure = Failure {
                        execution: executions,
                        message,
                        token: recording.token(),
                        trace: self.trace_of(recording, body, stimulus),
                    };
                    eprintln!(
                        "bach explorer: execution {executions} failed; rerun it with BACH_REPLAY={}",
                        failure.token
                    );
                    return Err(failure);
                }
            }
        }
        Ok(complete)
    }

    /// The depth-first scheduler to run a checkpointed search with, when
    /// this explorer may: model checking with the built-in depth-first
    /// strategy, no states collected.
    fn checkpointing(&self) -> Option<Rc<RefCell<Dfs>>> {
        (self.model.is_some()
            && self.strategy == Strategy::Dfs
            && self.custom.is_none()
            && self.collect.is_none())
        .then(|| Rc::new(RefCell::new(Dfs::new(self.seed))))
    }

    /// [`Explorer::search`] for depth-first model checking, resuming paths
    /// from checkpoints instead of re-running them from the start.
    ///
    /// Every step boundary of a path saves the simulation
    /// ([`Inner::save_checkpoint`](crate::runtime::Inner::save_checkpoint)),
    /// with how many choices were made. When the search backtracks to
    /// change the choice at index `i`, the deepest checkpoint made before
    /// that choice is restored and only the choices from there on are
    /// replayed: the same executions, states and tokens as re-running each
    /// path from the start, without the setup and most of the prefix. If a
    /// simulation cannot be saved (a process without
    /// [`clone_process`](crate::process::Process::clone_process), tasks that
    /// are not process hosts, tracing on) the search re-runs every path,
    /// like [`Explorer::search`]; if one cannot be restored (tasks or nodes
    /// came or went), that path is re-run from the start.
    fn search_checkpointed(
        &self,
        body: &dyn Fn(&mut Simulation),
        dfs: Rc<RefCell<Dfs>>,
        label: &str,
        visited: &RefCell<HashSet<u64>>,
        report: &mut Report,
        started: std::time::Instant,
    ) -> Result<bool, Failure> {
        /// A checkpoint and where in the path it was saved.
        struct Saved {
            /// Choices made before it.
            position: usize,
            depth: u32,
            words: Option<Xoshiro256PlusPlus>,
            checkpoint: crate::runtime::Checkpoint,
        }
        /// The simulation paths continue in, with its recorder's state.
        struct Live {
            sim: Simulation,
            recording: Rc<RefCell<Recording>>,
            words: Rc<RefCell<Option<Xoshiro256PlusPlus>>>,
            execution: Rc<Cell<u64>>,
        }
        let scheduler: Rc<RefCell<dyn Scheduler>> = dfs.clone();
        let saved: RefCell<Vec<Saved>> = RefCell::new(Vec::new());
        let unsupported = Cell::new(false);
        let words_now: RefCell<Option<Rc<RefCell<Option<Xoshiro256PlusPlus>>>>> =
            RefCell::new(None);
        let save = |inner: &crate::runtime::Inner, depth: u32| {
            if unsupported.get() {
                return;
            }
            match inner.save_checkpoint() {
                Some(checkpoint) => saved.borrow_mut().push(Saved {
                    position: dfs.borrow().cursor(),
                    depth,
                    words: words_now
                        .borrow()
                        .as_ref()
                        .and_then(|words| words.borrow().clone()),
                    checkpoint,
                }),
                None => {
                    unsupported.set(true);
                    saved.borrow_mut().clear();
                }
            }
        };
        let mut live: Option<Live> = None;
        let mut complete = true;
        let mut last_progress = started;
        loop {
            if self.out_of_budget(report, started, &mut last_progress, visited) {
                complete = false;
                break;
            }
            if !scheduler.borrow_mut().next_execution() {
                break;
            }
            report.executions += 1;
            let executions = report.executions;

            // Resume from the deepest checkpoint before the changed choice.
            let prefix = dfs.borrow().prefix();
            let mut resume = None;
            {
                let mut saved = saved.borrow_mut();
                while saved.last().is_some_and(|top| top.position >= prefix) {
                    saved.pop();
                }
                if let (Some(current), Some(top)) = (live.as_mut(), saved.last()) {
                    if current.sim.restore_checkpoint(&top.checkpoint) {
                        current
                            .recording
                            .borrow_mut()
                            .entries
                            .truncate(top.position);
                        current.words.borrow_mut().clone_from(&top.words);
                        dfs.borrow_mut().resume_at(top.position);
                        resume = Some(top.depth);
                    }
                }
                if resume.is_none() {
                    saved.clear();
                }
            }
            report.resumed += u64::from(resume.is_some());
            let mut run = self.path_run(&*scheduler, visited);
            run.resume = resume;
            run.checkpoint = Some(&save);
            let result = match (resume, live.as_mut()) {
                (Some(_), Some(current)) => {
                    current.execution.set(executions);
                    catch_unwind(AssertUnwindSafe(|| {
                        Some(current.sim.run_checked(|| {}, &run))
                    }))
                    .map_err(|payload| panic_message(payload.as_ref()).to_string())
                }
                _ => {
                    drop(live.take());
                    let (recorder, recording) = Recorder::new(
                        scheduler.clone(),
                        self.interleavings,
                        self.reduction,
                        self.model_token(),
                        label.into(),
                    );
                    let (words, execution) = (recorder.words(), recorder.execution());
                    execution.set(executions);
                    *words_now.borrow_mut() = Some(words.clone());
                    let mut sim = self.simulation_for().choice_source(recorder);
                    // Captures are written for the replay of a violation only.
                    sim.inner.net.borrow_mut().set_capture_dir(None);
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        body(&mut sim);
                        Some(sim.run_checked(|| {}, &run))
                    }))
                    .map_err(|payload| panic_message(payload.as_ref()).to_string());
                    live = Some(Live {
                        sim,
                        recording,
                        words,
                        execution,
                    });
                    result
                }
            };
            report.states += run.states.get();
            report.max_depth = report.max_depth.max(run.max_depth_seen.get());
            match result {
                Ok(end) => {
                    *report.outcomes.entry(outcome_label(&end)).or_insert(0) += 1;
                }
                Err(message) => {
                    let recording = live
                        .take()
                        .map(|current| current.recording.borrow().clone())
                        .expect("a path ran in a simulation");
                    let failure = Failure {
                        execution: executions,
                        message,
                        token: recording.token(),
                        trace: self.trace_of(recording, body, None),
                    };
                    eprintln!(
                        "bach explorer: execution {executions} failed; rerun it with BACH_REPLAY={}",
                        failure.token
                    );
                    return Err(failure);
                }
            }
        }
        Ok(complete)
    }

    /// Continues model checking from states collected by an earlier
    /// [`Explorer::collect`] run of the same `setup`: each path replays the
    /// way to a collected state, applies `stimulus` there (inside the
    /// simulation: send local messages, crash a node, register new goals)
    /// and explores everything below it, depth first. Panics at the first
    /// violation, like [`Explorer::run`].
    ///
    /// A violation's token replays through `run_from` itself (with
    /// `BACH_REPLAY` set, each collected state's search runs only that
    /// execution); [`replay`] alone cannot apply the stimulus.
    #[track_caller]
    pub fn run_from(
        &self,
        states: &[Collected],
        setup: impl Fn(&mut Simulation),
        stimulus: impl Fn(),
    ) -> Report {
        match self.try_run_from(states, setup, stimulus) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`Explorer::run_from`], returning the first failure.
    pub fn try_run_from(
        &self,
        states: &[Collected],
        setup: impl Fn(&mut Simulation),
        stimulus: impl Fn(),
    ) -> Result<Report, Failure> {
        let started = std::time::Instant::now();
        let visited = RefCell::new(HashSet::new());
        let mut report = Report::empty("model checking from collected states".into());
        if let Some(recording) = crate::runtime::replay_from_env() {
            let stage = recording.stage.unwrap_or(0);
            return self.replay_env(recording, &setup, Some((stage, &stimulus)), report, started);
        }
        let mut complete = true;
        let model = self.model.unwrap_or_default();
        let settings = Some((
            [model.drops, model.duplicates, model.corruptions],
            model.ordering == Ordering::MessagesFirst,
        ));
        for state in states {
            assert!(
                state.recording.model == settings,
                "Explorer::run_from: a collected state was found with fault budgets and ordering \
                 {:?}, this explorer has {settings:?}; continue with the same max_drops, \
                 max_duplicates, max_corruptions and ordering as the collecting run",
                state.recording.model
            );
            let prefix = state
                .recording
                .entries
                .iter()
                .filter_map(|entry| match *entry {
                    Entry::Choice { options, chosen } => Some((chosen, options)),
                    Entry::Word(_) => None,
                });
            let seed = state.recording.words_seed.unwrap_or(self.seed);
            let scheduler: Rc<RefCell<dyn Scheduler>> =
                Rc::new(RefCell::new(Dfs::below(seed, prefix)));
            complete &= self.search(
                &setup,
                scheduler,
                "model checking from a collected state",
                Some((state.depth, &stimulus)),
                &visited,
                &mut report,
                started,
            )?;
        }
        report.complete = complete;
        report.elapsed = started.elapsed();
        report.unique_states = visited.borrow().len() as u64;
        Ok(report)
    }

    /// Explores `body` (run as [`Simulation::run`] runs it, once per
    /// execution). Panics at the first failing execution, with its message,
    /// the event trace of the path and the `BACH_REPLAY` token that reruns
    /// it.
    #[track_caller]
    pub fn run(&self, body: impl Fn()) -> Report {
        self.run_with(|sim| sim.enter(&body))
    }

    /// Like [`Explorer::run`], but returns the first failure instead of
    /// panicking (its message and replay token are also printed to stderr).
    ///
    /// With `BACH_REPLAY` set, runs only the execution the token describes.
    pub fn try_run(&self, body: impl Fn()) -> Result<Report, Failure> {
        self.try_run_with(|sim| sim.enter(&body))
    }

    /// [`Explorer::run`] with a setup that gets the whole [`Simulation`]
    /// (AnySystem style: `add_process`, `set_drop_rate`, `send_local`, …);
    /// the simulation then runs (or is model checked) from there.
    #[track_caller]
    pub fn run_with(&self, setup: impl Fn(&mut Simulation)) -> Report {
        match self.try_run_with(setup) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`Explorer::try_run`] with a setup that gets the whole
    /// [`Simulation`]; see [`Explorer::run_with`].
    pub fn try_run_with(&self, setup: impl Fn(&mut Simulation)) -> Result<Report, Failure> {
        let body = &setup;
        let started = std::time::Instant::now();
        let (scheduler, label) = self.scheduler_for_run();
        let visited = RefCell::new(HashSet::new());
        let mut report = Report::empty(label.clone());
        if let Some(recording) = crate::runtime::replay_from_env() {
            return self.replay_env(recording, body, None, report, started);
        }
        let complete = match self.checkpointing() {
            Some(dfs) => {
                self.search_checkpointed(body, dfs, &label, &visited, &mut report, started)?
            }
            None => self.search(
                body,
                scheduler,
                &label,
                None,
                &visited,
                &mut report,
                started,
            )?,
        };
        report.complete = complete
            && self.custom.is_none()
            && matches!(self.strategy, Strategy::Dfs | Strategy::Bfs);
        report.elapsed = started.elapsed();
        report.unique_states = visited.borrow().len() as u64;
        Ok(report)
    }
}

/// What an exploration did.
#[derive(Clone, Debug)]
pub struct Report {
    executions: u64,
    complete: bool,
    elapsed: Duration,
    strategy: String,
    states: u64,
    unique_states: u64,
    max_depth: u32,
    outcomes: BTreeMap<&'static str, u64>,
    collected: Vec<Collected>,
    resumed: u64,
}

/// A state collected by [`Explorer::collect`]: the path that reached it,
/// to continue from with [`Explorer::run_from`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    recording: Recording,
    depth: u32,
}

impl Collected {
    /// The replay token of the path to this state.
    pub fn token(&self) -> String {
        self.recording.token()
    }

    /// How many events the path fired before the state.
    pub fn depth(&self) -> u32 {
        self.depth
    }
}

impl Report {
    fn empty(strategy: String) -> Self {
        Report {
            executions: 0,
            complete: false,
            elapsed: Duration::ZERO,
            strategy,
            states: 0,
            unique_states: 0,
            max_depth: 0,
            outcomes: BTreeMap::new(),
            collected: Vec::new(),
            resumed: 0,
        }
    }

    /// How many executions resumed from a checkpoint instead of running
    /// from the start (depth-first model checking of processes that
    /// implement [`Process::clone_process`](crate::process::Process::clone_process)).
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// The states collected by [`Explorer::collect`], in the order found.
    pub fn collected(&self) -> &[Collected] {
        &self.collected
    }

    /// Executions run (paths, when model checking).
    pub fn executions(&self) -> u64 {
        self.executions
    }

    /// Paths explored: the same as [`Report::executions`].
    pub fn paths(&self) -> u64 {
        self.executions
    }

    /// Whether the search covered every execution (DFS or BFS that ran out
    /// of branches rather than hitting a cap).
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

    /// Model checking: step boundaries whose state was examined: its
    /// properties evaluated and, unless a goal or prune ended the path
    /// there, its fingerprint looked up (replayed prefixes not counted).
    pub fn states(&self) -> u64 {
        self.states
    }

    /// Model checking: distinct state fingerprints seen.
    pub fn unique_states(&self) -> u64 {
        self.unique_states
    }

    /// States examined per wall-clock second.
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Model checking: the most events any path fired.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// How paths ended, by outcome: `completed` (primaries done),
    /// `quiescent` (nothing left), `goal reached`, `pruned`, `visited
    /// state`, `depth limit`, `expanded` (BFS frontier), `passed` (outside
    /// model checking).
    pub fn outcomes(&self) -> &BTreeMap<&'static str, u64> {
        &self.outcomes
    }

    /// How many paths ended with `outcome` (see [`Report::outcomes`]).
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
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
        )?;
        if self.states > 0 {
            write!(
                f,
                ", {} states ({} unique, {:.0}/s), max depth {}",
                self.states,
                self.unique_states,
                self.states_per_second(),
                self.max_depth
            )?;
            for (outcome, count) in &self.outcomes {
                write!(f, ", {outcome}: {count}")?;
            }
        }
        if self.resumed > 0 {
            write!(f, ", {} resumed from checkpoints", self.resumed)?;
        }
        Ok(())
    }
}

/// A failing execution found by an [`Explorer`].
#[derive(Clone, Debug)]
pub struct Failure {
    execution: u64,
    message: String,
    token: String,
    trace: Vec<String>,
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

    /// The event trace of the failing path, one printed event per line
    /// (the console format of [`trace`](crate::trace)).
    pub fn trace(&self) -> &[String] {
        &self.trace
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "execution {} failed: {}", self.execution, self.message)?;
        if !self.trace.is_empty() {
            writeln!(f, "trace of the failing path:")?;
            let skip = self.trace.len().saturating_sub(200);
            if skip > 0 {
                writeln!(f, "  … {skip} earlier events")?;
            }
            for line in &self.trace[skip..] {
                writeln!(f, "  {line}")?;
            }
        }
        write!(
            f,
            "rerun exactly this execution with BACH_REPLAY={}",
            self.token
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
        let sim = match recording.model {
            Some((budgets, messages_first)) => self.model_checked(
                budgets,
                if messages_first {
                    Ordering::MessagesFirst
                } else {
                    Ordering::Normal
                },
            ),
            None => self,
        };
        sim.interleavings(interleavings)
            .reduction(reduction)
            .choice_source(Replay::new(recording))
    }
}
