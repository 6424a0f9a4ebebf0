//! The stateless search: every execution runs the body from the start on a
//! new simulation, under one [`Scheduler`] that decides what each
//! execution chooses (depth first, breadth first, random, PCT or a custom
//! scheduler), until the scheduler is exhausted or a budget runs out.
//!
//! It is the explorer's general engine: `run` uses it for every strategy
//! the checkpointed search does not cover, and `run_from` for the paths
//! below each collected state.

use super::{
    builder::{Explorer, Observer},
    recording_source::{drawn, RecordingSource},
    report::{outcome_label, Collected, Failure, Report},
};
use crate::{
    check::model::{PathEnd, VisitedStates},
    check::strategy::Scheduler,
    Simulation,
};
use std::{cell::RefCell, rc::Rc};

impl Explorer {
    /// Runs executions of `body` under `scheduler` until it is exhausted
    /// or a cap is hit; returns whether it was exhausted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn search(
        &self,
        body: &dyn Fn(&mut Simulation),
        scheduler: Rc<RefCell<dyn Scheduler>>,
        observer: Option<Observer>,
        label: &str,
        stimulus: Option<(u32, &dyn Fn())>,
        visited: &RefCell<VisitedStates>,
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
            let (source, recording) = RecordingSource::new_staged(
                stimulus.map(|(depth, _)| depth),
                scheduler.clone(),
                self.interleavings,
                self.settings().reduction,
                self.model_token(),
                label.into(),
            );
            source.execution().set(executions);
            let words = source.words();
            recording.borrow_mut().enumerate_values = self.settings().enumerate_values;
            let sim = self.simulation_for().choice_source(source);
            if let Some(observer) = &observer {
                sim.inner.interleave.set_observer(observer.clone());
            }
            if self.model.is_some() {
                // Captures are written for the replay of a violation only.
                sim.inner.net.borrow_mut().set_capture_dir(None);
            }
            let mut run = self.path_run(&*scheduler, visited);
            run.stimulus = stimulus;
            let result = self.execute(sim, body, &run);
            report.states += run.states.get();
            report.uncovered += run.uncovered.get();
            report.fixed_draws = report.fixed_draws.max(drawn(&words));
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
                        states: report.states,
                        elapsed: started.elapsed(),
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
}
