//! The bug corpus's harness: every `tests/bugs_*.rs` file holds one classic
//! distributed-systems bug in a buggy and a fixed version, and runs both
//! through every search of `bach::check` with one budget.
//!
//! A [`Corpus`] names the bug and the budget; [`Corpus::search`] runs one
//! version under each [`Search`] and returns the [`Outcomes`]: for each
//! search, the executions it took to find a failure and the wall time
//! until then, or how many executions ran without one. The test then
//! asserts which searches found the buggy version and that none failed
//! the fixed one:
//!
//! ```ignore
//! let corpus = Corpus::new("bugs_retry_dedup", "retried request applied twice")
//!     .model_checking("1 drop", || Explorer::model_checking().max_drops(1));
//! corpus
//!     .search(Version::Buggy, buggy)
//!     .assert_found_by(&[Search::Random, Search::ModelChecking], "debited at most once");
//! corpus.search(Version::Fixed, fixed).assert_none_failed();
//! ```
//!
//! With `BACH_BUG_TABLE=<file>` in the environment each search also
//! appends one tab-separated row to that file, which `tools/bug-table.sh`
//! turns into the README's table: test file, bug, version, search, outcome
//! (`found`, `not-found`, `n/a`), executions (until the failure, or run),
//! wall time in nanoseconds (until the failure, or in all), budget,
//! whether the search was complete (`1`/`0`), and a note (why the search
//! does not apply, what explains its outcome, or the model checker's
//! configuration). Without the variable the tests only assert.
#![allow(dead_code)]

use bach::{
    check::{self, Explorer, Strategy, Sweep},
    Simulation,
};
use std::{
    fmt,
    io::Write,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Mutex,
    },
    time::{Duration, Instant},
};

/// Executions each search may spend on one version.
pub const BUDGET: u64 = 5_000;

/// The environment variable naming the file rows are appended to.
pub const TABLE_ENV: &str = "BACH_BUG_TABLE";

/// One search of `bach::check`, a column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// `Sweep::new(0..N)`: plain runs, one per seed.
    Sweep,
    /// `Strategy::Random(N)`.
    Random,
    /// `Strategy::Pct(2)`.
    Pct2,
    /// `Strategy::Pct(3)`.
    Pct3,
    /// `Strategy::Dfs` (dynamic partial-order reduction).
    Dfs,
    /// `Strategy::DelayBounded`.
    DelayBounded,
    /// `Strategy::PreemptionBounded`.
    PreemptionBounded,
    /// `Strategy::Bfs`.
    Bfs,
    /// `Explorer::model_checking()` with the bug's budgets.
    ModelChecking,
    /// `bolero::check!()` around `check::fuzz_setup`.
    Bolero,
}

impl Search {
    /// Every search, in the table's column order.
    pub const ALL: [Search; 10] = [
        Search::Sweep,
        Search::Random,
        Search::Pct2,
        Search::Pct3,
        Search::Dfs,
        Search::DelayBounded,
        Search::PreemptionBounded,
        Search::Bfs,
        Search::ModelChecking,
        Search::Bolero,
    ];

    /// Its key in table rows.
    pub fn key(self) -> &'static str {
        match self {
            Search::Sweep => "sweep",
            Search::Random => "random",
            Search::Pct2 => "pct2",
            Search::Pct3 => "pct3",
            Search::Dfs => "dfs",
            Search::DelayBounded => "delay-bounded",
            Search::PreemptionBounded => "preemption-bounded",
            Search::Bfs => "bfs",
            Search::ModelChecking => "model-checking",
            Search::Bolero => "bolero",
        }
    }

    /// The built-in strategy of an explorer search.
    fn strategy(self, budget: u64) -> Option<Strategy> {
        match self {
            Search::Random => Some(Strategy::Random(budget)),
            Search::Pct2 => Some(Strategy::Pct(2)),
            Search::Pct3 => Some(Strategy::Pct(3)),
            Search::Dfs => Some(Strategy::Dfs),
            Search::DelayBounded => Some(Strategy::DelayBounded),
            Search::PreemptionBounded => Some(Strategy::PreemptionBounded),
            Search::Bfs => Some(Strategy::Bfs),
            Search::Sweep | Search::ModelChecking | Search::Bolero => None,
        }
    }
}

/// Which version of a bug a search ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Buggy,
    Fixed,
}

impl Version {
    fn key(self) -> &'static str {
        match self {
            Version::Buggy => "buggy",
            Version::Fixed => "fixed",
        }
    }
}

/// What one search did with one version.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The `executions`-th execution failed, `elapsed` after the start.
    Found {
        executions: u64,
        elapsed: Duration,
        message: String,
    },
    /// `executions` ran without a failure (`complete`: the search covered
    /// every execution).
    NotFound {
        executions: u64,
        elapsed: Duration,
        complete: bool,
    },
    /// The search does not apply to this bug, for this reason.
    NotApplicable(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Found {
                executions,
                elapsed,
                message,
            } => write!(
                f,
                "found after {executions} executions in {elapsed:.2?}: {}",
                message.lines().next().unwrap_or_default()
            ),
            Outcome::NotFound {
                executions,
                elapsed,
                complete,
            } => write!(
                f,
                "not found in {executions} executions ({elapsed:.2?}{})",
                if *complete { ", complete" } else { "" }
            ),
            Outcome::NotApplicable(why) => write!(f, "n/a: {why}"),
        }
    }
}

/// The outcome of every search on one version.
pub struct Outcomes {
    bug: &'static str,
    version: Version,
    outcomes: Vec<(Search, Outcome)>,
}

impl Outcomes {
    /// The outcome of `search`.
    pub fn get(&self, search: Search) -> &Outcome {
        &self
            .outcomes
            .iter()
            .find(|(s, _)| *s == search)
            .expect("every search has an outcome")
            .1
    }

    /// Panics unless each of `searches` found a failure whose message
    /// contains `symptom`.
    #[track_caller]
    pub fn assert_found_by(&self, searches: &[Search], symptom: &str) {
        for &search in searches {
            match self.get(search) {
                Outcome::Found { message, .. } => assert!(
                    message.contains(symptom),
                    "{}: {search:?} found a failure other than `{symptom}`: {message}",
                    self.bug
                ),
                other => panic!(
                    "{}: {search:?} should find the bug: {other}\n{self}",
                    self.bug
                ),
            }
        }
    }

    /// Panics if any search found a failure.
    #[track_caller]
    pub fn assert_none_failed(&self) {
        for (search, outcome) in &self.outcomes {
            if let Outcome::Found { message, .. } = outcome {
                panic!(
                    "{} ({:?}): {search:?} failed the fixed version: {message}",
                    self.bug, self.version
                );
            }
        }
    }
}

impl fmt::Display for Outcomes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({}):", self.bug, self.version.key())?;
        for (search, outcome) in &self.outcomes {
            writeln!(f, "  {:<20} {outcome}", search.key())?;
        }
        Ok(())
    }
}

/// The model checker's configuration: a few words describing it, and the
/// explorer.
type ModelChecker = (&'static str, fn() -> Explorer);

/// A bug of the corpus and how its searches are configured.
pub struct Corpus {
    /// The test file's name (`bugs_retry_dedup`): the table row's key.
    file: &'static str,
    /// What the bug is, in a few words: the table row's label.
    title: &'static str,
    budget: u64,
    enumerate_values: bool,
    model_checking: Option<ModelChecker>,
    not_applicable: Vec<(Search, &'static str)>,
    /// What the table should say about a search's cell.
    notes: Vec<(Search, &'static str)>,
}

impl Corpus {
    /// A bug searched with [`BUDGET`] executions per search, `gen_bool`
    /// left to the seed, model checking not configured.
    pub fn new(file: &'static str, title: &'static str) -> Self {
        Self {
            file,
            title,
            budget: BUDGET,
            enumerate_values: false,
            model_checking: None,
            not_applicable: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Makes `bach::rand::gen_bool` a choice of the systematic searches
    /// (`Explorer::enumerate_values` for depth first, bounded, breadth
    /// first and model checking). The random searches keep drawing it with
    /// its probability: as a choice they would flip a fair coin.
    pub fn enumerate_values(mut self) -> Self {
        self.enumerate_values = true;
        self
    }

    /// The model checker to run (its strategy and budgets; the execution
    /// cap and `enumerate_values` are added), and a few words describing
    /// it for the table's notes.
    pub fn model_checking(mut self, description: &'static str, explorer: fn() -> Explorer) -> Self {
        self.model_checking = Some((description, explorer));
        self
    }

    /// Marks `search` as not applicable to this bug, saying why.
    pub fn not_applicable(mut self, search: Search, why: &'static str) -> Self {
        self.not_applicable.push((search, why));
        self
    }

    /// Explains the outcome of `searches` in the table's notes.
    pub fn note(mut self, searches: &[Search], note: &'static str) -> Self {
        self.notes
            .extend(searches.iter().map(|&search| (search, note)));
        self
    }

    /// Runs `setup` under every search.
    pub fn search(
        &self,
        version: Version,
        setup: impl Fn(&mut Simulation) + Send + Sync,
    ) -> Outcomes {
        self.search_split(version, &setup, &setup)
    }

    /// [`Corpus::search`] with another setup for the model checker (one
    /// whose faults are the checker's budgets rather than a fault script).
    pub fn search_split(
        &self,
        version: Version,
        setup: &(dyn Fn(&mut Simulation) + Send + Sync),
        model_checked: &(dyn Fn(&mut Simulation) + Send + Sync),
    ) -> Outcomes {
        let outcomes = Search::ALL
            .into_iter()
            .map(|search| {
                let outcome = self.run(search, setup, model_checked);
                self.record(version, search, &outcome);
                (search, outcome)
            })
            .collect();
        let outcomes = Outcomes {
            bug: self.file,
            version,
            outcomes,
        };
        eprintln!("{outcomes}");
        outcomes
    }

    fn run(
        &self,
        search: Search,
        setup: &(dyn Fn(&mut Simulation) + Send + Sync),
        model_checked: &(dyn Fn(&mut Simulation) + Send + Sync),
    ) -> Outcome {
        if let Some((_, why)) = self.not_applicable.iter().find(|(s, _)| *s == search) {
            return Outcome::NotApplicable(why);
        }
        match search {
            Search::Sweep => self.sweep(setup),
            Search::Bolero => self.bolero(setup),
            Search::ModelChecking => match self.model_checking {
                Some((_, explorer)) => self.explore(
                    explorer().enumerate_values(self.enumerate_values),
                    model_checked,
                ),
                None => Outcome::NotApplicable("model checking not configured"),
            },
            Search::Random | Search::Pct2 | Search::Pct3 => {
                let strategy = search.strategy(self.budget).expect("an explorer search");
                self.explore(Explorer::new().strategy(strategy), setup)
            }
            Search::Dfs | Search::DelayBounded | Search::PreemptionBounded | Search::Bfs => {
                let strategy = search.strategy(self.budget).expect("an explorer search");
                let explorer = Explorer::new().strategy(strategy);
                self.explore(explorer.enumerate_values(self.enumerate_values), setup)
            }
        }
    }

    fn sweep(&self, setup: &(dyn Fn(&mut Simulation) + Send + Sync)) -> Outcome {
        let report = Sweep::new(0..self.budget)
            .stop_at_first_failure(true)
            .progress(false)
            .run_with(setup);
        match report.first_failure() {
            Some(failure) => Outcome::Found {
                executions: failure.seed - report.seeds().start + 1,
                elapsed: report.elapsed(),
                message: failure.message.clone(),
            },
            None => Outcome::NotFound {
                executions: report.runs(),
                elapsed: report.elapsed(),
                complete: false,
            },
        }
    }

    fn explore(&self, explorer: Explorer, setup: &dyn Fn(&mut Simulation)) -> Outcome {
        let started = Instant::now();
        let result = explorer
            .max_executions(self.budget)
            .progress(false)
            .try_run_with(setup);
        match result {
            Err(failure) => Outcome::Found {
                executions: failure.execution(),
                elapsed: failure.elapsed(),
                message: failure.message().to_string(),
            },
            Ok(report) => Outcome::NotFound {
                executions: report.executions(),
                elapsed: started.elapsed(),
                complete: report.complete(),
            },
        }
    }

    fn bolero(&self, setup: &(dyn Fn(&mut Simulation) + Send + Sync)) -> Outcome {
        let executions = AtomicU64::new(0);
        let first_failure = Mutex::new(None);
        let started = Instant::now();
        let setup = AssertUnwindSafe(setup);
        let iterations = usize::try_from(self.budget).expect("a budget that fits");
        let result = check::try_fuzz_test(|| {
            bolero::check!()
                .with_iterations(iterations)
                .with_shrink_time(Duration::ZERO)
                .run(|| {
                    let execution = executions.fetch_add(1, Relaxed) + 1;
                    let run = catch_unwind(AssertUnwindSafe(|| check::fuzz_setup(*setup)));
                    if let Err(payload) = run {
                        first_failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert((execution, started.elapsed()));
                        resume_unwind(payload);
                    }
                })
        });
        let first_failure = first_failure
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        match (result, first_failure) {
            (Err(failure), Some((executions, elapsed))) => Outcome::Found {
                executions,
                elapsed,
                message: failure.message().to_string(),
            },
            (Err(failure), None) => panic!("bolero failed outside an execution: {failure}"),
            (Ok(()), _) => Outcome::NotFound {
                executions: executions.into_inner(),
                elapsed: started.elapsed(),
                complete: false,
            },
        }
    }

    /// Appends the outcome's row to `$BACH_BUG_TABLE`, if set.
    fn record(&self, version: Version, search: Search, outcome: &Outcome) {
        let Some(path) = std::env::var_os(TABLE_ENV).filter(|p| !p.is_empty()) else {
            return;
        };
        let (status, executions, elapsed, complete) = match outcome {
            Outcome::Found {
                executions,
                elapsed,
                ..
            } => ("found", *executions, elapsed.as_nanos(), false),
            Outcome::NotFound {
                executions,
                elapsed,
                complete,
            } => ("not-found", *executions, elapsed.as_nanos(), *complete),
            Outcome::NotApplicable(_) => ("n/a", 0, 0, false),
        };
        let note = self
            .notes
            .iter()
            .find(|(s, _)| *s == search)
            .map(|(_, note)| *note);
        let note = match (outcome, search, self.model_checking) {
            (Outcome::NotApplicable(why), _, _) => why,
            (_, Search::ModelChecking, Some((description, _))) => description,
            _ => note.unwrap_or_default(),
        };
        let row = format!(
            "{}\t{}\t{}\t{}\t{status}\t{executions}\t{elapsed}\t{}\t{}\t{note}\n",
            self.file,
            self.title,
            version.key(),
            search.key(),
            self.budget,
            u8::from(complete),
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {TABLE_ENV}={path:?}: {e}"));
        file.write_all(row.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write {TABLE_ENV}={path:?}: {e}"));
    }
}
