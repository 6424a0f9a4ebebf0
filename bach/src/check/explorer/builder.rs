//! The explorer's builder: [`Explorer`] and its options ([`Strategy`],
//! model-checking budgets, limits, the simulation each execution is built
//! from), and what every engine derives from them (the scheduler, the
//! per-path run, the execution budget).
//!
//! The engines that run a configured explorer are in the sibling files
//! (`stateless`, `checkpointed`, `parallel`), entered through `run`; this
//! file only holds settings and the helpers that read them.

use super::report::Report;
use crate::{
    check::model::PathEnd,
    check::{
        model::{Mode, Ordering, PathRun, Visited, VisitedStates},
        strategy::{
            Bfs, Bounded, Cost, Dfs, Dpor, Order, Pct, RandomWalk, Scheduler, StepObserver,
        },
    },
    executor::join::panic_message,
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    panic::{catch_unwind, AssertUnwindSafe},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

/// The built-in exploration strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every execution, depth first (the default of
    /// [`Explorer::model_checking`]): each discrete choice (task order,
    /// [`rand::choose`](crate::rand::choose), `pick`, `shuffle`, and when
    /// model checking which event fires and whether a fault happens) is
    /// enumerated; sampled values come from one fixed seed. With
    /// interleavings and reduction on (the default) outside model checking,
    /// task orders are enumerated up to equivalence (dynamic partial-order
    /// reduction: one execution per class of schedules that differ only in
    /// the order of independent steps; executions that sleep sets find
    /// equivalent to an explored one stop early and are counted as
    /// `redundant`).
    Dfs,
    /// Every execution, breadth first over choice prefixes: the first
    /// violation found has a shortest sequence of choices.
    Bfs,
    /// This many executions with uniformly random choices.
    Random(u64),
    /// Probabilistic concurrency testing with bug depth `d` (see
    /// [`Explorer::max_executions`] for the number of executions).
    Pct(usize),
    /// Every execution, fewest delays first (the default of
    /// [`Explorer::new`]): at each choice the default is the oldest ready
    /// task (or option 0), and option `i` costs `i` delays; executions run
    /// in order of total delays, each exactly once (iterative delay
    /// bounding without repeats). A bug needing few deviations is found
    /// early wherever they sit, a fault at the root as soon as below it.
    /// With interleavings and reduction on, outside model checking, it
    /// orders the same reduced tree as [`Strategy::Dfs`] (one execution
    /// per class of equivalent schedules); there a report stopped early
    /// names the delays every planned branch within was explored to, not
    /// every class within them.
    DelayBounded,
    /// Every execution, fewest preemptions first: at each choice the
    /// default keeps the task that ran last while it is ready (or option
    /// 0), and any other option costs one preemption (iterative
    /// preemption bounding, as CHESS). Reduced as
    /// [`Strategy::DelayBounded`] is.
    PreemptionBounded,
}

/// Runs a simulation body many times under a strategy; see the
/// [module docs](crate::check).
pub struct Explorer {
    /// The strategy the user selected; see [`Explorer::chosen_strategy`].
    strategy: Option<Strategy>,
    pub(super) custom: Option<Rc<RefCell<dyn Scheduler>>>,
    pub(super) seed: u64,
    pub(super) max_executions: Option<u64>,
    pub(super) time_limit: Option<Duration>,
    pub(super) interleavings: bool,
    pub(super) reduction: bool,
    pub(super) enumerate_values: bool,
    progress: bool,
    pub(super) model: Option<ModelOptions>,
    configure: Option<Box<dyn Fn(Simulation) -> Simulation + Send + Sync>>,
    pub(super) collect: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    pub(super) threads: usize,
}

impl Default for Explorer {
    fn default() -> Self {
        Self::new()
    }
}

/// Executions for strategies without a natural end, unless configured.
const DEFAULT_EXECUTIONS: u64 = 1000;

impl Explorer {
    /// Delay-bounded ([`Strategy::DelayBounded`]: every execution, fewest
    /// delays first), interleavings explored with dynamic partial-order
    /// reduction, seed from `BACH_SEED` (or 0), no execution cap,
    /// simulated time as usual.
    pub fn new() -> Self {
        Self {
            strategy: None,
            custom: None,
            seed: crate::simulation::seed_from_env(),
            max_executions: None,
            time_limit: None,
            interleavings: true,
            reduction: true,
            enumerate_values: false,
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

    /// A model checker ([`Explorer::new`] in model-checking mode): the
    /// network is asynchronous (any packet in flight may arrive next,
    /// whatever its latency), each task's timers fire in deadline order but
    /// interleave freely with deliveries, faults are choices bounded by
    /// budgets (none by default), and visited state fingerprints prune the
    /// search. See [`check::model`](crate::check::model) for the exact rules and
    /// what fingerprints assume.
    pub fn model_checking() -> Self {
        let mut explorer = Self::new();
        explorer.model = Some(ModelOptions::default());
        explorer
    }

    fn model_options(&mut self) -> &mut ModelOptions {
        self.model.get_or_insert_with(ModelOptions::default)
    }

    /// Ends each path after this many events (deliveries and timers) while
    /// events are still pending; the report counts such paths as `depth
    /// limit`. A path with nothing left to do at the bound ends as any
    /// path does: a registered goal not reached by then is a violation
    /// ("nothing left to do"), whatever its length. Turns model checking
    /// on.
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

    /// How many node crashes one path may make: at any step boundary the
    /// checker may crash any node that is up (every task of it dropped,
    /// packets to it lost, as [`node::crash`](crate::node::crash) does),
    /// as a choice explored next to the events. Turns model checking on.
    pub fn max_crashes(mut self, crashes: u32) -> Self {
        self.model_options().crashes = crashes;
        self
    }

    /// How many crashed nodes one path may bring back: at any step
    /// boundary the checker may restart any crashed node, which boots its
    /// software again ([`node::host`](crate::node::host)) and re-creates
    /// its processes from their factories
    /// ([`Simulation::add_process_factory`](crate::Simulation::add_process_factory)).
    /// Turns model checking on.
    pub fn max_restarts(mut self, restarts: u32) -> Self {
        self.model_options().restarts = restarts;
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
        self.strategy = Some(strategy);
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

    /// Whether values drawn with [`bach::rand::gen_bool`](crate::rand::gen_bool)
    /// are choices an exhaustive search enumerates (both outcomes, however
    /// unlikely) instead of words fixed by the seed (default `false`).
    /// Other draws (`gen_range`, `gen`, `fill_bytes`, the generator of
    /// `bach::rand::rng`) stay fixed by the seed; branch on them with
    /// [`rand::choose`](crate::rand::choose) or `pick`. A depth-first or
    /// breadth-first search that leaves any draw to the seed does not
    /// report itself complete, and says how many draws it fixed. Random
    /// and PCT searches ignore it: they sample `gen_bool` with its own
    /// probability.
    pub fn enumerate_values(mut self, on: bool) -> Self {
        self.enumerate_values = on;
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

    /// The strategy a run uses: the one selected, or by default
    /// [`Strategy::DelayBounded`] for interleavings and depth first for
    /// model checking (which restores checkpoints instead of replaying
    /// prefixes, and prunes repeated states by their fingerprints).
    pub(super) fn chosen_strategy(&self) -> Strategy {
        self.strategy.unwrap_or(if self.model.is_some() {
            Strategy::Dfs
        } else {
            Strategy::DelayBounded
        })
    }

    /// Whether the search means to enumerate every execution (depth first,
    /// breadth first, bounded; not a sample, not a custom scheduler).
    pub(super) fn exhaustive(&self) -> bool {
        self.custom.is_none()
            && matches!(
                self.chosen_strategy(),
                Strategy::Dfs
                    | Strategy::Bfs
                    | Strategy::DelayBounded
                    | Strategy::PreemptionBounded
            )
    }

    /// Whether fingerprints prune even where they do not cover the state.
    pub(super) fn forces_pruning(&self) -> bool {
        self.model
            .is_some_and(|model| model.visited == Visited::Fingerprints)
    }

    /// Whether the search runs with dynamic partial-order reduction: a
    /// systematic strategy (depth first or bounded) over interleavings
    /// with reduction on, outside model checking. Its executions then run with the static
    /// reduction off (every ready task an option) and report each step to
    /// the scheduler.
    pub(super) fn dynamic_reduction(&self) -> bool {
        self.custom.is_none()
            && self.model.is_none()
            && self.reduced_order().is_some()
            && self.interleavings
            && self.reduction
    }

    /// The order of the reduced search for a systematic strategy.
    fn reduced_order(&self) -> Option<Order> {
        match self.chosen_strategy() {
            Strategy::Dfs => Some(Order::DepthFirst),
            Strategy::DelayBounded => Some(Order::Bounded(Cost::Delays)),
            Strategy::PreemptionBounded => Some(Order::Bounded(Cost::Preemptions)),
            Strategy::Bfs | Strategy::Random(_) | Strategy::Pct(_) => None,
        }
    }

    /// The scheduler a run uses (the custom one, or a new one for the
    /// built-in strategy), the step observer it needs (dynamic
    /// partial-order reduction), and how reports describe the search.
    pub(super) fn scheduler_for_run(
        &self,
    ) -> (Rc<RefCell<dyn Scheduler>>, Option<Observer>, String) {
        if let Some(custom) = &self.custom {
            return (custom.clone(), None, "a custom scheduler".into());
        }
        if let (true, Some(order)) = (self.dynamic_reduction(), self.reduced_order()) {
            let dpor = Rc::new(RefCell::new(Dpor::new(self.seed, order)));
            let label = match order {
                Order::DepthFirst => "depth-first exploration",
                Order::Bounded(Cost::Delays) => "delay-bounded exploration",
                Order::Bounded(Cost::Preemptions) => "preemption-bounded exploration",
            };
            return (
                dpor.clone(),
                Some(dpor),
                format!("{label} with dynamic partial-order reduction"),
            );
        }
        let what = if self.model.is_some() {
            "model checking"
        } else {
            "exploration"
        };
        let (scheduler, label): (Rc<RefCell<dyn Scheduler>>, String) = match self.chosen_strategy()
        {
            Strategy::Dfs => (
                Rc::new(RefCell::new(Dfs::new(self.seed))),
                format!("depth-first {what}"),
            ),
            Strategy::Bfs => (
                Rc::new(RefCell::new(Bfs::new(self.seed))),
                format!("breadth-first {what}"),
            ),
            Strategy::DelayBounded => (
                Rc::new(RefCell::new(Bounded::new(self.seed, Cost::Delays))),
                format!("delay-bounded {what}"),
            ),
            Strategy::PreemptionBounded => (
                Rc::new(RefCell::new(Bounded::new(self.seed, Cost::Preemptions))),
                format!("preemption-bounded {what}"),
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
        };
        (scheduler, None, label)
    }

    /// What each execution's simulation is built from.
    pub(super) fn settings(&self) -> Settings<'_> {
        Settings {
            enumerate_values: self.enumerate_values && self.exhaustive(),
            interleavings: self.interleavings,
            // The dynamic reduction chooses among every ready task.
            reduction: self.reduction && !self.dynamic_reduction(),
            model: self.model,
            configure: self.configure.as_deref(),
        }
    }

    /// A new simulation for one execution, as configured.
    pub(super) fn simulation_for(&self) -> Simulation {
        self.settings().simulation()
    }

    /// The fault budgets and ordering replay tokens record (`None`
    /// outside model checking).
    pub(super) fn model_token(&self) -> Option<(crate::net::choices::BudgetCounts, bool)> {
        self.model
            .map(|m| (m.budgets(), m.ordering == Ordering::MessagesFirst))
    }

    /// The parameters of one model-checked path under `scheduler`,
    /// pruned against `visited` when fingerprints are on.
    pub(super) fn path_run<'a>(
        &'a self,
        scheduler: &'a RefCell<dyn Scheduler>,
        visited: &'a RefCell<VisitedStates>,
    ) -> PathRun<'a> {
        let model = self.model.unwrap_or_default();
        PathRun {
            mode: Mode {
                ordering: model.ordering,
            },
            max_depth: model.max_depth,
            visited: (model.visited != Visited::Off).then_some(visited),
            scheduler: Some(scheduler),
            states: Cell::new(0),
            force: model.visited == Visited::Fingerprints,
            uncovered: Cell::new(0),
            max_depth_seen: Cell::new(0),
            collect: self.collect.as_deref().map(|c| c as &dyn Fn() -> bool),
            stimulus: None,
            snapshot: None,
            log: None,
            resume: None,
            checkpoint: None,
        }
    }

    /// Runs one execution of `body` on `sim` ([`Settings::execute`]).
    pub(super) fn execute(
        &self,
        sim: Simulation,
        body: &dyn Fn(&mut Simulation),
        run: &PathRun<'_>,
    ) -> Result<Option<PathEnd>, String> {
        self.settings().execute(sim, body, run)
    }

    /// Whether the execution cap or the time limit is reached; otherwise
    /// prints the progress line (at most once a second, after 2 s).
    pub(super) fn out_of_budget(
        &self,
        report: &mut Report,
        started: std::time::Instant,
        last_progress: &mut std::time::Instant,
        visited: &RefCell<VisitedStates>,
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
                report.unique_states = visited.borrow().fingerprints();
                eprintln!("bach explore: {report}");
            }
        }
        false
    }
}

/// What a dependency-aware search is told about every step.
pub(super) type Observer = Rc<RefCell<dyn StepObserver>>;

/// Model-checking settings (see [`Explorer::model_checking`]).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ModelOptions {
    pub(super) max_depth: Option<u32>,
    pub(super) drops: u32,
    pub(super) duplicates: u32,
    pub(super) corruptions: u32,
    pub(super) ordering: Ordering,
    pub(super) visited: Visited,
    pub(super) crashes: u32,
    pub(super) restarts: u32,
}

impl ModelOptions {
    /// `[drops, duplicates, corruptions, crashes, restarts]`.
    pub(super) fn budgets(&self) -> crate::net::choices::BudgetCounts {
        [
            self.drops,
            self.duplicates,
            self.corruptions,
            self.crashes,
            self.restarts,
        ]
    }
}

/// What every execution's simulation is built from; `Sync`, so parallel
/// workers build their own simulations from one copy.
#[derive(Clone, Copy)]
pub(super) struct Settings<'a> {
    pub(super) enumerate_values: bool,
    pub(super) interleavings: bool,
    pub(super) reduction: bool,
    model: Option<ModelOptions>,
    configure: Option<&'a (dyn Fn(Simulation) -> Simulation + Send + Sync)>,
}

impl Settings<'_> {
    pub(super) fn simulation(&self) -> Simulation {
        let sim = Simulation::new()
            .interleavings(self.interleavings)
            .reduction(self.reduction)
            .enumerate_values(self.enumerate_values);
        let sim = match self.configure {
            Some(configure) => configure(sim),
            None => sim,
        };
        match &self.model {
            Some(model) => sim.model_checked(model.budgets(), model.ordering),
            None => sim,
        }
    }

    /// Runs one execution of `body` on `sim`.
    pub(super) fn execute(
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
        match result {
            Ok(end) => Ok(end),
            Err(payload) if payload.is::<crate::kernel::Abandoned>() => {
                Ok(Some(PathEnd::Redundant))
            }
            Err(payload) => Err(panic_message(payload.as_ref()).to_string()),
        }
    }
}
