//! Checkpoints of a whole simulation between two steps: what a model
//! checker (`check::model`) saves to resume a backtracked path without
//! replaying its prefix.

use super::*;
use crate::net::state::NetWorld;

/// Everything a model-checking step can change in a simulation whose tasks
/// are all process tasks, saved between two steps ([`Inner::save_checkpoint`]).
pub(crate) struct Checkpoint {
    now: u64,
    timer_inserts: u64,
    tasks: (usize, u64),
    groups: usize,
    nodes: crate::node::table::Nodes,
    timers: crate::time::timers::SavedTimers<TimerEvent>,
    net: crate::net::state::SavedNetwork,
    processes: crate::process::engine::SavedProcesses,
    interleave: crate::kernel::interleave::SavedInterleave,
    properties: crate::kernel::properties::SavedProperties,
    budgets: Option<crate::net::choices::BudgetCounts>,
    disks: crate::fs::state::Disks,
}

impl Inner {
    /// Saves the simulation between two model-checking steps, if it can be
    /// restored exactly: no task is ready, every task is a process task
    /// (whose futures keep nothing between polls: their state is in the
    /// process registry), every process copies itself, and neither the
    /// trace, a capture nor a network monitor is recording.
    pub(crate) fn save_checkpoint(&self) -> Option<Checkpoint> {
        if self.executor.has_ready() || self.trace.enabled() {
            return None;
        }
        let processes = {
            let registry = self.processes.try_borrow().ok()?;
            if self.executor.live_tasks() != registry.live() {
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
            properties: self.properties.borrow().save(),
            budgets: self.fault_budgets().map(|budgets| budgets.save()),
            disks: self.disks.try_borrow().ok()?.clone(),
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
        self.properties.borrow_mut().restore(&checkpoint.properties);
        self.disks.borrow_mut().clone_from(&checkpoint.disks);
        if let (Some(budgets), Some(saved)) = (self.fault_budgets(), checkpoint.budgets) {
            budgets.restore(saved);
        }
        true
    }
}
