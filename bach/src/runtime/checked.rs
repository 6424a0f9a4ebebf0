//! The model-checking side of the run loop: checkpoints of a whole
//! simulation between two steps, and the loop that lets the choice source
//! fire one enabled event at a time (see `check::model`).

use super::*;

/// Everything a model-checking step can change in a simulation whose tasks
/// are all process hosts, saved between two steps ([`Inner::save_checkpoint`]).
pub(crate) struct Checkpoint {
    now: u64,
    timer_inserts: u64,
    tasks: (usize, u64),
    groups: usize,
    nodes: crate::node::Nodes,
    timers: crate::time::timers::SavedTimers<TimerEvent>,
    net: crate::net::state::SavedNetwork,
    processes: crate::process::engine::SavedProcesses,
    interleave: crate::kernel::interleave::SavedInterleave,
    checks: crate::check::model::SavedProperties,
    budgets: Option<[u32; 3]>,
}

/// How a model-checked path ended (`check::model`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathEnd {
    /// Every primary future completed.
    Completed,
    /// Nothing left to do.
    Quiescent,
    /// A goal was reached.
    Goal(String),
    /// A prune held.
    Pruned,
    /// The state was seen before.
    Visited,
    /// The depth limit was reached.
    DepthLimit,
    /// A breadth-first frontier: the path continues in its children.
    Expanded,
    /// The collect predicate held after this many events.
    Collected(u32),
}

impl Inner {
    /// Saves the simulation between two model-checking steps, if it can be
    /// restored exactly: no task is ready, every task is a process host
    /// (whose futures keep nothing between polls: their state is in the
    /// process registry), every process copies itself, and neither the
    /// trace, a capture nor a network monitor is recording.
    pub(crate) fn save_checkpoint(&self) -> Option<Checkpoint> {
        if self.executor.has_ready() || self.trace.enabled() {
            return None;
        }
        let processes = {
            let registry = self.processes.try_borrow().ok()?;
            let hosts = registry.slots.iter().filter(|slot| slot.alive).count();
            if self.executor.live_tasks() != hosts {
                return None;
            }
            registry.save()?
        };
        let net = self.net.try_borrow().ok()?.save()?;
        Some(Checkpoint {
            now: self.now(),
            timer_inserts: self.timer_inserts.get(),
            tasks: self.executor.shape(),
            groups: self.groups.borrow().len(),
            nodes: self.nodes.borrow().clone(),
            timers: self.timers.borrow().save(),
            net,
            processes,
            interleave: self.interleave.save(),
            checks: self.checks.borrow().save(),
            budgets: self.model.budgets().map(|budgets| budgets.save()),
        })
    }

    /// Puts the simulation back as [`Inner::save_checkpoint`] found it.
    /// `false` (nothing changed) if tasks, nodes or processes were created
    /// or removed since: those cannot be restored.
    pub(crate) fn restore_checkpoint(&self, checkpoint: &Checkpoint) -> bool {
        if self.executor.has_ready()
            || self.executor.shape() != checkpoint.tasks
            || self.groups.borrow().len() != checkpoint.groups
            || !self.net.borrow().can_restore(&checkpoint.net)
            || !self.processes.borrow_mut().restore(&checkpoint.processes)
        {
            return false;
        }
        let restored = self.net.borrow_mut().restore(&checkpoint.net);
        debug_assert!(restored, "checked by can_restore");
        self.set_now(checkpoint.now);
        self.timer_inserts.set(checkpoint.timer_inserts);
        self.timers.borrow_mut().restore(&checkpoint.timers);
        self.nodes.borrow_mut().clone_from(&checkpoint.nodes);
        self.interleave.restore(&checkpoint.interleave);
        self.checks.borrow_mut().restore(&checkpoint.checks);
        if let (Some(budgets), Some(saved)) = (self.model.budgets(), checkpoint.budgets) {
            budgets.restore(saved);
        }
        true
    }

    /// The model-checking loop (`check::model`): after each step, check
    /// properties and the fingerprint, then let the choice source fire one
    /// enabled event (any packet in flight, any task's earliest timer).
    pub(super) fn run_checked(
        &self,
        run: &crate::check::model::PathRun<'_>,
    ) -> Result<PathEnd, Stop> {
        use crate::check::model::{self, Verdict};
        // A path resumed from a checkpoint starts right after the boundary
        // where the checkpoint was saved (its checks were done then).
        let mut depth = run.resume.unwrap_or(0);
        let mut resuming = run.resume.is_some();
        let mut stimulated = false;
        // Buffers for fingerprints and enabled events, kept per thread:
        // a model checker runs many short paths.
        let mut buffers = model::Buffers::take();
        let (scratch, enabled) = buffers.parts();
        loop {
            if !std::mem::take(&mut resuming) {
                self.drain()?;
                if let Some((at, stimulus)) = run.stimulus {
                    if !stimulated && depth == at {
                        // A collected state was reached again: apply the new
                        // stimulus, then explore from there.
                        stimulated = true;
                        stimulus();
                        continue;
                    }
                }
                run.max_depth_seen.set(run.max_depth_seen.get().max(depth));
                if let Some(log) = run.log {
                    log.borrow_mut().push((depth, false, None));
                }
                let replaying = run.scheduler.is_some_and(|s| s.borrow().replaying());
                match model::evaluate(self) {
                    Err(violation) => {
                        self.fail(format!(
                            "{violation} at {} after {depth} step{} ({})",
                            Instant::from_nanos(self.now()),
                            if depth == 1 { "" } else { "s" },
                            self.reproduce()
                        ));
                        return Err(Stop::Failed);
                    }
                    Ok(Verdict::Goal(name)) => {
                        run.examined_end(replaying);
                        return Ok(PathEnd::Goal(name.to_string()));
                    }
                    Ok(Verdict::Pruned) => {
                        run.examined_end(replaying);
                        return Ok(PathEnd::Pruned);
                    }
                    Ok(Verdict::Continue) => {}
                }
                if let Some(collect) = run.collect {
                    if !replaying && collect() {
                        return Ok(PathEnd::Collected(depth));
                    }
                }
                if self.executor.any_primary() && self.executor.live_primaries() == 0 {
                    return Ok(PathEnd::Completed);
                }
                if run.scheduler.is_some_and(|s| s.borrow().stop()) {
                    return Ok(PathEnd::Expanded);
                }
                if !replaying {
                    run.states.set(run.states.get() + 1);
                    if let Some(log) = run.log {
                        if let Some(last) = log.borrow_mut().last_mut() {
                            last.1 = true;
                        }
                    }
                    if run.visited.is_some() || run.snapshot.is_some() {
                        let fingerprint = model::fingerprint(self, scratch);
                        if let Some(log) = run.log {
                            if let Some(last) = log.borrow_mut().last_mut() {
                                last.2 = Some(fingerprint);
                            }
                        }
                        if let Some(visited) = run.visited {
                            if !visited.borrow_mut().insert(fingerprint) {
                                return Ok(PathEnd::Visited);
                            }
                        }
                        if run.snapshot.is_some_and(|seen| seen.contains(&fingerprint)) {
                            return Ok(PathEnd::Visited);
                        }
                    }
                }
                if run.max_depth.is_some_and(|max| depth >= max) {
                    return Ok(PathEnd::DepthLimit);
                }
                if let Some(checkpoint) = run.checkpoint {
                    checkpoint(self, depth);
                }
            }
            model::enabled(self, run.mode, scratch, enabled);
            if enabled.is_empty() {
                if self.executor.live_primaries() > 0 {
                    return Err(Stop::Deadlock);
                }
                if self.checks.borrow().has_goals() {
                    self.fail(format!(
                        "nothing left to do at {} after {depth} step{}: no event is pending and no \
                         goal was reached ({})",
                        Instant::from_nanos(self.now()),
                        if depth == 1 { "" } else { "s" },
                        self.reproduce()
                    ));
                    return Err(Stop::Failed);
                }
                return Ok(PathEnd::Quiescent);
            }
            let pick = enabled[self.rand.borrow_mut().choose(enabled.len())];
            let event = {
                let mut timers = self.timers.borrow_mut();
                let event = timers.take(pick.key).expect("an enabled event is pending");
                if let TimerEvent::Deliver(_) = event {
                    // No one else holds an arrival's key.
                    timers.remove(pick.key);
                }
                event
            };
            if !pick.delivery && pick.deadline > self.now() {
                self.set_now(pick.deadline);
            }
            depth += 1;
            self.fire(event);
        }
    }
}
