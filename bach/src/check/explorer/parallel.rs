//! The parallel breadth-first search: model checking on all cores, level by
//! level of the search tree, with results identical to the single-threaded
//! breadth-first run.
//!
//! Each node of a level is a stateless execution under a [`BfsNode`]
//! scheduler (replay a prefix of choices, stop at the first new one);
//! worker threads run a level's nodes, each with its own simulations, and
//! the calling thread merges their results in order against one set of
//! visited states (workers check a copy of it taken before the level; the
//! merge decides with the sequential search's rule). This file holds the
//! whole engine:
//! [`Explorer::par_run_with`], [`Explorer::try_par_run_with`] and what one
//! node produces.

use super::{
    builder::Explorer,
    recording_source::{drawn, RecordingSource},
    report::{outcome_label, Collected, Failure, Report},
};
use crate::{
    check::model::PathEnd,
    check::{
        model::{BoundaryLog, Mode, PathRun, Visited, VisitedStates},
        strategy::{BfsNode, Scheduler},
        token::Recording,
    },
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
};

impl Explorer {
    /// Breadth-first model checking on all cores (see
    /// [`Explorer::threads`]): each level of the search tree is split
    /// among worker threads, each running its own simulations; a level's
    /// results are merged in order against one set of visited states, so
    /// the report (paths, states, unique states, outcomes, the violation
    /// found) is identical to the single-threaded
    /// [`Strategy::Bfs`] run, whatever the thread count. `setup` must be
    /// `Sync`: it is called on the workers. Panics at the first violation.
    ///
    /// Uses breadth-first search whatever [`Explorer::strategy`] says, and
    /// no custom scheduler.
    ///
    /// [`Strategy::Bfs`]: crate::check::Strategy::Bfs
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
        if crate::simulation::replay_from_env().is_some() {
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
        report.forced = self.forces_pruning();
        let mut visited = VisitedStates::default();
        let mut level: Vec<Vec<u32>> = vec![Vec::new()];
        let cap = self.max_executions.unwrap_or(u64::MAX);
        let mut complete = true;
        let seed = self.seed;
        let node = |prefix: &[u32], snapshot: &VisitedStates| -> NodeResult {
            let scheduler = Rc::new(RefCell::new(BfsNode::new(seed, prefix.to_vec())));
            let (source, recording) = RecordingSource::new(
                scheduler.clone(),
                settings.interleavings,
                settings.reduction,
                model_token,
                "breadth-first model checking".into(),
            );
            recording.borrow_mut().enumerate_values = settings.enumerate_values;
            let words = source.words();
            let sim = settings.simulation().choice_source(source);
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
                force: model.visited == Visited::Fingerprints,
                uncovered: Cell::new(0),
                max_depth_seen: Cell::new(0),
                collect: collect.map(|c| c as &dyn Fn() -> bool),
                stimulus: None,
                snapshot: (model.visited != Visited::Off).then_some(snapshot),
                log: Some(&log),
                resume: None,
                checkpoint: None,
            };
            let end = settings.execute(sim, &setup, &run);
            let children: Vec<Vec<u32>> = scheduler.borrow().children().collect();
            let recording = recording.borrow().clone();
            NodeResult {
                uncovered: run.uncovered.get(),
                draws: drawn(&words),
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
            snapshot: VisitedStates,
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
            let mut snapshot = VisitedStates::default();
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
                    report.uncovered += result.uncovered;
                    report.fixed_draws = report.fixed_draws.max(result.draws);
                    // Replay the sequential search's bookkeeping in order.
                    let mut seen_before = false;
                    for &(depth, examined, state) in &result.log {
                        report.max_depth = report.max_depth.max(depth);
                        if examined {
                            report.states += 1;
                        }
                        if let Some((fingerprint, budgets)) = state {
                            if !visited.insert(fingerprint, budgets) {
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
                                states: report.states,
                                elapsed: started.elapsed(),
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
        report.exhausted = complete;
        report.complete = complete && report.fixed_draws == 0;
        report.elapsed = started.elapsed();
        report.unique_states = visited.fingerprints();
        Ok(report)
    }
}

/// What one node of a parallel breadth-first search produced.
struct NodeResult {
    /// Examined states not covered by fingerprints.
    uncovered: u64,
    /// Random words the path left to the seed.
    draws: u64,
    log: BoundaryLog,
    end: Result<Option<PathEnd>, String>,
    children: Vec<Vec<u32>>,
    recording: Recording,
}
