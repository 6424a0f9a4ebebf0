//! What an exploration gives back: the [`Report`] of a finished search, the
//! [`Failure`] of a failing execution (message, trace, replay token) and the
//! [`Collected`] states a multi-stage check continues from.
//!
//! Every engine fills these the same way, so a report reads the same
//! whichever engine ran; the fields are written by the engines (siblings of
//! this file) and read by users through the accessors.

use crate::{check::model::PathEnd, check::token::Recording};
use std::{collections::BTreeMap, fmt, time::Duration};

/// What an exploration did.
#[derive(Clone, Debug)]
pub struct Report {
    pub(super) executions: u64,
    pub(super) complete: bool,
    pub(super) elapsed: Duration,
    pub(super) strategy: String,
    pub(super) states: u64,
    pub(super) unique_states: u64,
    pub(super) max_depth: u32,
    pub(super) outcomes: BTreeMap<&'static str, u64>,
    pub(super) collected: Vec<Collected>,
    pub(super) resumed: u64,
    /// Model checking: examined states where fingerprints did not cover
    /// async tasks' state.
    pub(super) uncovered: u64,
    /// Whether fingerprints pruned there anyway (`Visited::Fingerprints`).
    pub(super) forced: bool,
    /// The most random words one execution left to the seed.
    pub(super) fixed_draws: u64,
    /// The strategy ran out of choices to explore (complete unless draws
    /// were fixed).
    pub(super) exhausted: bool,
    /// What an incomplete search covered, as its scheduler says.
    pub(super) covered: Option<String>,
}

/// A state collected by [`Explorer::collect`]: the path that reached it,
/// to continue from with [`Explorer::run_from`].
///
/// [`Explorer::collect`]: crate::check::Explorer::collect
/// [`Explorer::run_from`]: crate::check::Explorer::run_from
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    pub(super) recording: Recording,
    pub(super) depth: u32,
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
    pub(super) fn empty(strategy: String) -> Self {
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
            uncovered: 0,
            forced: false,
            fixed_draws: 0,
            exhausted: false,
            covered: None,
        }
    }

    /// How many executions resumed from a checkpoint instead of running
    /// from the start (depth-first model checking of processes that
    /// implement [`Process::clone_process`](crate::process::Process::clone_process)).
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// The states collected by [`Explorer::collect`], in the order found.
    ///
    /// [`Explorer::collect`]: crate::check::Explorer::collect
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

    /// Whether the search covered every execution: DFS or BFS that ran out
    /// of choices rather than hitting a cap, with no value drawn from
    /// `bach::rand` left to the seed (see [`Report::fixed_draws`]).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// The most random values one execution left to the seed instead of
    /// branching on them: draws of `bach::rand` (`gen_bool`, `gen_range`,
    /// `gen`, `fill_bytes`, `rng()`) and the link model's decisions outside
    /// model checking (a loss, a duplicate, a latency). A search that left
    /// any is not complete. Branch on a value with
    /// [`rand::choose`](crate::rand::choose), on `gen_bool` with
    /// [`Explorer::enumerate_values`](crate::check::Explorer::enumerate_values),
    /// on link faults with model checking.
    pub fn fixed_draws(&self) -> u64 {
        self.fixed_draws
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

    /// Model checking: examined states at which async tasks held state the
    /// fingerprint does not cover (no [`check::state`](crate::check::state)
    /// reported, tasks other than process tasks alive). Pruning was off
    /// there, unless forced with
    /// [`Visited::Fingerprints`](crate::check::Visited::Fingerprints).
    pub fn uncovered_states(&self) -> u64 {
        self.uncovered
    }

    /// Whether pruning may have cut paths that differ: fingerprints were
    /// forced on ([`Visited::Fingerprints`](crate::check::Visited::Fingerprints))
    /// at states they do not cover.
    pub fn pruning_may_be_unsound(&self) -> bool {
        self.forced && self.uncovered > 0
    }

    /// Model checking: distinct state fingerprints seen. The fault budgets
    /// left are not part of a fingerprint: one explored again because it
    /// was reached with more of some fault left to spend counts once.
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
        if let Some(covered) = self.covered.as_ref().filter(|_| !self.exhausted) {
            write!(f, " ({covered})")?;
        }
        if self.exhausted && self.fixed_draws > 0 {
            write!(
                f,
                ", every choice explored but not complete: up to {} random value{} per \
                 execution fixed by the seed (bach::rand draws, link losses and latencies; \
                 branch with rand::choose, Explorer::enumerate_values(true) for gen_bool, or \
                 model checking for link faults)",
                self.fixed_draws,
                if self.fixed_draws == 1 { "" } else { "s" }
            )?;
        }
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
        } else if let Some(redundant) = self.outcomes.get(REDUNDANT) {
            write!(
                f,
                " ({redundant} stopped early as equivalent to one already explored)"
            )?;
        }
        if self.resumed > 0 {
            write!(f, ", {} resumed from checkpoints", self.resumed)?;
        }
        if self.uncovered > 0 {
            if self.forced {
                write!(
                    f,
                    "; pruning may be unsound: at {} states async tasks held state the \
                     fingerprints do not cover (report it with check::state, or use Visited::Off)",
                    self.uncovered
                )?;
            } else {
                write!(
                    f,
                    "; pruning off at {} states: async tasks hold state the fingerprints do not \
                     cover (report it with check::state to prune there)",
                    self.uncovered
                )?;
            }
        }
        Ok(())
    }
}

/// A failing execution found by an [`Explorer`](crate::check::Explorer).
#[derive(Clone, Debug)]
pub struct Failure {
    pub(super) execution: u64,
    /// States examined (model checking) until the failure, this one's
    /// path included.
    pub(super) states: u64,
    /// Wall-clock time from the search's start until the failure.
    pub(super) elapsed: std::time::Duration,
    pub(super) message: String,
    pub(super) token: String,
    pub(super) trace: Vec<String>,
}

impl Failure {
    /// Which execution failed (1-based).
    pub fn execution(&self) -> u64 {
        self.execution
    }

    /// States examined until the failure, its own path included (model
    /// checking; 0 for a search of schedules).
    pub fn states(&self) -> u64 {
        self.states
    }

    /// Wall-clock time from the start of the search until the failure.
    pub fn elapsed(&self) -> std::time::Duration {
        self.elapsed
    }

    /// The panic message (it names the task, node and simulated time).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The replay token: `BACH_REPLAY=<token>` or [`replay`] reruns it.
    ///
    /// [`replay`]: crate::check::replay
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
        writeln!(
            f,
            "found after {} execution{}, {} state{} examined, in {:.2?}",
            self.execution,
            if self.execution == 1 { "" } else { "s" },
            self.states,
            if self.states == 1 { "" } else { "s" },
            self.elapsed
        )?;
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

/// The outcome label of a path end, for reports.
/// The outcome of executions stopped by sleep sets.
const REDUNDANT: &str = "redundant";

pub(super) fn outcome_label(end: &Option<PathEnd>) -> &'static str {
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
        Some(PathEnd::Redundant) => REDUNDANT,
    }
}
