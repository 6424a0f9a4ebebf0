//! Replay: rerunning exactly the execution a [`Recording`] (printed as a
//! `BACH_REPLAY` token) describes.
//!
//! Users replay a token with [`replay`] or [`Simulation::replay`]; the
//! run loop replays `BACH_REPLAY` through [`Simulation::replay_recording`].
//! The explorer replays too: an entry point given `BACH_REPLAY` runs only
//! that execution (`Explorer::replay_env`), and every engine that finds a
//! failure replays its path once more with tracing on for the failure's
//! event trace (`Explorer::trace_of`).

use super::{
    builder::Explorer,
    report::{Failure, Report},
};
use crate::{
    check::{
        model::{Mode, Ordering, PathRun},
        token::{Recording, Replay},
    },
    Simulation,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

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
        let enumerate_values = recording.enumerate_values;
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
            .enumerate_values(enumerate_values)
            .choice_source(Replay::new(recording))
    }
}

impl Explorer {
    /// Runs only the execution `BACH_REPLAY` describes (with `stimulus`
    /// for a path continued from a collected state).
    pub(super) fn replay_env(
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
                states: 0,
                elapsed: started.elapsed(),
                message,
                token,
                trace: self.trace_of(recording, body, stimulus),
            }),
        }
    }

    /// The event trace of the execution `recording` describes (replayed
    /// with tracing on, and capture if configured).
    pub(super) fn trace_of(
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
}
