//! The explorer's entry points: [`Explorer::run`], [`Explorer::run_with`]
//! and [`Explorer::run_from`] (each with its `try_` form returning the
//! failure).
//!
//! Each one replays only the `BACH_REPLAY` execution when that variable is
//! set, and otherwise picks the engine for the configured search: the
//! checkpointed depth-first search when it applies, else the stateless
//! search (for every collected state, with `run_from`). The parallel
//! engine has its own entry point, `par_run_with`.

use super::{
    builder::Explorer,
    report::{Collected, Failure, Report},
};
use crate::{
    check::{
        model::{Ordering, VisitedStates},
        strategy::{Dfs, Scheduler},
        token::Entry,
    },
    Simulation,
};
use std::{cell::RefCell, rc::Rc};

impl Explorer {
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
        let (scheduler, observer, label) = self.scheduler_for_run();
        let visited = RefCell::new(VisitedStates::default());
        let mut report = Report::empty(label.clone());
        report.forced = self.forces_pruning();
        if let Some(recording) = crate::simulation::replay_from_env() {
            return self.replay_env(recording, body, None, report, started);
        }
        let complete = match self.checkpointing() {
            Some(dfs) => {
                self.search_checkpointed(body, dfs, &label, &visited, &mut report, started)?
            }
            None => self.search(
                body,
                scheduler.clone(),
                observer,
                &label,
                None,
                &visited,
                &mut report,
                started,
            )?,
        };
        report.exhausted = complete && self.exhaustive();
        report.complete = report.exhausted && report.fixed_draws == 0;
        report.covered = scheduler.borrow().covered();
        report.elapsed = started.elapsed();
        report.unique_states = visited.borrow().fingerprints();
        Ok(report)
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
    ///
    /// [`replay`]: crate::check::replay
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
        let visited = RefCell::new(VisitedStates::default());
        let mut report = Report::empty("model checking from collected states".into());
        report.forced = self.forces_pruning();
        if let Some(recording) = crate::simulation::replay_from_env() {
            let stage = recording.stage.unwrap_or(0);
            return self.replay_env(recording, &setup, Some((stage, &stimulus)), report, started);
        }
        let mut complete = true;
        let model = self.model.unwrap_or_default();
        let settings = Some((model.budgets(), model.ordering == Ordering::MessagesFirst));
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
                None,
                "model checking from a collected state",
                Some((state.depth, &stimulus)),
                &visited,
                &mut report,
                started,
            )?;
        }
        report.exhausted = complete;
        report.complete = complete && report.fixed_draws == 0;
        report.elapsed = started.elapsed();
        report.unique_states = visited.borrow().fingerprints();
        Ok(report)
    }
}
