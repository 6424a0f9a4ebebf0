//! The checkpointed depth-first search: depth-first model checking that
//! resumes each path from a state saved along the previous one instead of
//! re-running the setup and the shared prefix.
//!
//! `run` picks it over the stateless search for depth-first model checking
//! with the built-in strategy and nothing collected (`checkpointing`); it
//! explores the same paths, states and tokens, and falls back to re-running
//! paths from the start when a simulation cannot be saved or restored.

use super::{
    builder::{Explorer, Strategy},
    recording_source::{drawn, RecordingSource, SeededWords},
    report::{outcome_label, Failure, Report},
};
use crate::{
    check::{
        model::VisitedStates,
        strategy::{Dfs, Scheduler},
        token::Recording,
    },
    executor::join::panic_message,
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    panic::{catch_unwind, AssertUnwindSafe},
    rc::Rc,
};

impl Explorer {
    /// The depth-first scheduler to run a checkpointed search with, when
    /// this explorer may: model checking with the built-in depth-first
    /// strategy, no states collected.
    pub(super) fn checkpointing(&self) -> Option<Rc<RefCell<Dfs>>> {
        (self.model.is_some()
            && self.chosen_strategy() == Strategy::Dfs
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
    /// are not process tasks, tracing on) the search re-runs every path,
    /// like [`Explorer::search`]; if one cannot be restored (tasks or nodes
    /// came or went), that path is re-run from the start.
    pub(super) fn search_checkpointed(
        &self,
        body: &dyn Fn(&mut Simulation),
        dfs: Rc<RefCell<Dfs>>,
        label: &str,
        visited: &RefCell<VisitedStates>,
        report: &mut Report,
        started: std::time::Instant,
    ) -> Result<bool, Failure> {
        /// A checkpoint and where in the path it was saved.
        struct PathCheckpoint {
            /// Choices made before it.
            position: usize,
            depth: u32,
            words: Option<SeededWords>,
            checkpoint: crate::runtime::Checkpoint,
        }
        /// The simulation paths continue in, with its recording source's state.
        struct Live {
            sim: Simulation,
            recording: Rc<RefCell<Recording>>,
            words: Rc<RefCell<Option<SeededWords>>>,
            execution: Rc<Cell<u64>>,
        }
        let scheduler: Rc<RefCell<dyn Scheduler>> = dfs.clone();
        let saved: RefCell<Vec<PathCheckpoint>> = RefCell::new(Vec::new());
        let unsupported = Cell::new(false);
        let words_now: RefCell<Option<Rc<RefCell<Option<SeededWords>>>>> = RefCell::new(None);
        let save = |inner: &crate::runtime::Inner, depth: u32| {
            if unsupported.get() {
                return;
            }
            match inner.save_checkpoint() {
                Some(checkpoint) => saved.borrow_mut().push(PathCheckpoint {
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
                    let (source, recording) = RecordingSource::new(
                        scheduler.clone(),
                        self.interleavings,
                        self.reduction,
                        self.model_token(),
                        label.into(),
                    );
                    recording.borrow_mut().enumerate_values = self.settings().enumerate_values;
                    let (words, execution) = (source.words(), source.execution());
                    execution.set(executions);
                    *words_now.borrow_mut() = Some(words.clone());
                    let mut sim = self.simulation_for().choice_source(source);
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
            report.uncovered += run.uncovered.get();
            if let Some(current) = &live {
                report.fixed_draws = report.fixed_draws.max(drawn(&current.words));
            }
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
                        states: report.states,
                        elapsed: started.elapsed(),
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
}
