//! One model-checked path: the loop that runs the world one enabled
//! event at a time, installed on a simulation as its run mode, and the
//! simulation's entry points for the explorer.

use super::*;
use crate::{
    runtime::{RunMode, Stop, TimerEvent},
    time::Instant,
    Simulation,
};

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
    /// The state was seen before, with at least as many faults left.
    Visited,
    /// The depth limit was reached.
    DepthLimit,
    /// A breadth-first frontier: the path continues in its children.
    Expanded,
    /// The collect predicate held after this many events.
    Collected(u32),
    /// Stopped by the search as equivalent to an execution already
    /// explored (sleep sets of the partial-order reduction).
    Redundant,
}

/// Model checking as a run mode: `Simulation::run` replays one path (the
/// choice source decides every step), without pruning.
impl RunMode for Mode {
    fn run(&self, world: &Inner) -> Result<(), Stop> {
        run_path(world, &PathRun::replay(*self)).map(drop)
    }
}

impl Simulation {
    /// Puts the simulation in model-checking mode with these fault budgets.
    pub(crate) fn model_checked(
        self,
        budgets: crate::net::choices::BudgetCounts,
        ordering: Ordering,
    ) -> Self {
        self.inner
            .install_run_mode(std::rc::Rc::new(Mode { ordering }), budgets);
        self
    }

    /// [`Simulation::run`] in model-checking mode: runs `f`, then steps
    /// under `run`'s rules until the path ends; panics on a violation.
    #[track_caller]
    pub(crate) fn run_checked<F: FnOnce()>(&mut self, f: F, run: &PathRun<'_>) -> PathEnd {
        self.enter(f);
        let stop = self.with_entered(|world| run_path(world, run));
        let end = self.check(stop);
        self.inner.net.borrow_mut().capture.flush();
        end
    }

    /// Restores a model-checking checkpoint of this simulation (see
    /// [`Inner::restore_checkpoint`]); `false` if it cannot be.
    pub(crate) fn restore_checkpoint(&mut self, checkpoint: &crate::runtime::Checkpoint) -> bool {
        self.with_entered(|world| world.restore_checkpoint(checkpoint))
    }
}

/// Crashes or restarts `group` as the checker chose, spending its budget.
fn node_fault(world: &Inner, group: crate::group::table::GroupId, restart: bool) {
    use crate::net::state::NetWorld as _;
    let budgets = world
        .fault_budgets()
        .expect("node faults come from budgets");
    let budget = if restart {
        &budgets.restarts
    } else {
        &budgets.crashes
    };
    crate::net::choices::Budgets::spend(budget);
    if restart {
        crate::node::restart_in(world, group);
    } else {
        crate::node::crash_in(world, group);
    }
}

/// [`run_path_steps`], then the checks of the whole run (a path that
/// ended is a whole run, whatever ended it: what it recorded is a prefix of
/// any longer run's, so a violation there is one there too).
pub(crate) fn run_path(world: &Inner, run: &PathRun<'_>) -> Result<PathEnd, Stop> {
    let end = run_path_steps(world, run)?;
    world.check_finals()?;
    Ok(end)
}

/// The model-checking loop: after each step, check properties and the
/// fingerprint, then let the choice source fire one enabled event (any
/// packet in flight, any task's earliest timer).
fn run_path_steps(world: &Inner, run: &PathRun<'_>) -> Result<PathEnd, Stop> {
    // A path resumed from a checkpoint starts right after the boundary
    // where the checkpoint was saved (its checks were done then).
    let mut depth = run.resume.unwrap_or(0);
    let mut resuming = run.resume.is_some();
    let mut stimulated = false;
    // Buffers for fingerprints and enabled events, kept per thread:
    // a model checker runs many short paths.
    let mut buffers = Buffers::take();
    let (scratch, enabled) = buffers.parts();
    loop {
        if !std::mem::take(&mut resuming) {
            world.drain()?;
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
            match evaluate(&world.properties) {
                Err(violation) => {
                    world.fail(format!(
                        "{violation} at {} after {depth} step{} ({})",
                        Instant::from_nanos(world.now()),
                        if depth == 1 { "" } else { "s" },
                        world.reproduce()
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
            if world.executor.any_primary() && world.executor.live_primaries() == 0 {
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
                let prunes = run.visited.is_some() || run.snapshot.is_some();
                let covered = !prunes || super::state_covered(world);
                if !covered {
                    run.uncovered.set(run.uncovered.get() + 1);
                }
                if prunes && (covered || run.force) {
                    let fingerprint = fingerprint(world, scratch);
                    let steps = run
                        .max_depth
                        .map_or(u32::MAX, |max| max.saturating_sub(depth));
                    let budgets = super::visited::left(budgets_left(world), steps);
                    if let Some(log) = run.log {
                        if let Some(last) = log.borrow_mut().last_mut() {
                            last.2 = Some((fingerprint, budgets));
                        }
                    }
                    if let Some(visited) = run.visited {
                        if !visited.borrow_mut().insert(fingerprint, budgets) {
                            return Ok(PathEnd::Visited);
                        }
                    }
                    if run
                        .snapshot
                        .is_some_and(|seen| seen.covers(fingerprint, &budgets))
                    {
                        return Ok(PathEnd::Visited);
                    }
                }
            }
            if run.max_depth.is_some_and(|max| depth >= max) {
                // Cut here while any event is pending (each is enabled);
                // with none, the path ends as any path does for lack of
                // events (a goal not reached is a violation at any depth).
                if world.timers.borrow().peek().is_some() {
                    return Ok(PathEnd::DepthLimit);
                }
            } else if let Some(checkpoint) = run.checkpoint {
                checkpoint(world, depth);
            }
        }
        super::enabled(world, run.mode, scratch, enabled);
        if enabled.is_empty() {
            if world.executor.live_primaries() > 0 {
                return Err(Stop::Deadlock);
            }
            if world.properties.borrow().has_goals() {
                world.fail(format!(
                    "nothing left to do at {} after {depth} step{}: no event is pending and no \
                     goal was reached ({})",
                    Instant::from_nanos(world.now()),
                    if depth == 1 { "" } else { "s" },
                    world.reproduce()
                ));
                return Err(Stop::Failed);
            }
            return Ok(PathEnd::Quiescent);
        }

        let pick = enabled[world.rand.borrow_mut().choose(enabled.len())];
        if let Some((group, restart)) = pick.node {
            depth += 1;
            node_fault(world, group, restart);
            continue;
        }
        let event = {
            let mut timers = world.timers.borrow_mut();
            let event = timers.take(pick.key).expect("an enabled event is pending");
            if let TimerEvent::Deliver(_) = event {
                // No one else holds an arrival's key.
                timers.remove(pick.key);
            }
            event
        };
        if !pick.delivery && pick.deadline > world.now() {
            world.set_now(pick.deadline);
        }
        depth += 1;
        world.fire(event);
    }
}
