//! The simulation: configuration, the run loop and step-by-step control.
//!
//! [`Simulation`] owns one simulated world: a clock, the tasks, the timer
//! queue, the groups (nodes) and the choice source. The run loop alternates
//! two phases, and only these two:
//!
//! 1. poll every ready task, first-in first-out, until none is ready (the
//!    clock stands still);
//! 2. jump the clock to the earliest pending event and fire every event due
//!    at that instant: a timer wakes its task, a packet arrives (see `net`).
//!
//! `run` stops after phase 1 once every primary future has completed (or,
//! if none was ever created, when nothing is left to do); with primaries
//! left but nothing ready, no timer pending and no packet in flight it
//! reports a deadlock at once (packets in flight are events on the same
//! timer queue, so "queue empty" covers both).
//! A panicking task ends the run: the panic resurfaces from `run` with the
//! task, node, simulated time and seed in its message. This module never
//! reads the wall clock and never consults randomness itself.

pub(crate) mod context;

pub(crate) use crate::kernel::{Kernel, TimerEvent};
use crate::{
    executor::{join::panic_message, join::JoinError, waker, Polling},
    group::table::GroupId,
    rand::source::{ChoiceSource, Seeded},
    time::instant::{ticks, Instant},
    trace::recorder::RawKind,
};
use std::{
    cell::{Cell, RefCell},
    fmt::Write as _,
    panic::{catch_unwind, AssertUnwindSafe},
    rc::{Rc, Weak},
    task::{Context, Poll},
    time::Duration,
};

/// Shared state of one simulation: the kernel every engine runs on (see
/// `kernel`, reached through `Deref`), the engines' state and the state of
/// any search. Reached through `context` while entered, or through an `Rc`
/// held by join handles.
pub(crate) struct Inner {
    pub(crate) kernel: Kernel,
    this: Weak<Inner>,
    /// The network engine's state (`net::state`).
    pub(crate) net: RefCell<crate::net::state::State>,
    /// Node lifecycle and clocks, by group.
    pub(crate) nodes: RefCell<crate::node::Nodes>,
    /// Processes hosted on tasks (`process::engine`).
    pub(crate) processes: RefCell<crate::process::engine::Registry>,
    /// Model checking (`check::model`), off by default.
    pub(crate) model: crate::check::model::ModelCell,
    /// Invariants, goals, prunes and reported state (`bach::check`).
    pub(crate) checks: RefCell<crate::check::model::Properties>,
    time_limit: Cell<Option<u64>>,
}

impl crate::net::state::NetWorld for Inner {
    #[inline(always)]
    fn net(&self) -> &RefCell<crate::net::state::State> {
        &self.net
    }

    #[inline(always)]
    fn fault_budgets(&self) -> Option<&crate::net::choices::Budgets> {
        self.model.budgets()
    }
}

impl crate::process::engine::ProcessWorld for Inner {
    #[inline(always)]
    fn processes(&self) -> &RefCell<crate::process::engine::Registry> {
        &self.processes
    }
}

impl std::ops::Deref for Inner {
    type Target = Kernel;

    #[inline(always)]
    fn deref(&self) -> &Kernel {
        &self.kernel
    }
}

impl Inner {
    pub(crate) fn rc(&self) -> Rc<Inner> {
        self.this
            .upgrade()
            .expect("the simulation is alive while its code runs")
    }

    /// A weak handle, for objects that must not keep the simulation alive.
    pub(crate) fn rc_weak(&self) -> Weak<Inner> {
        self.this.clone()
    }

    /// Prints events recorded since the last flush to the live sink
    /// (`BACH_TRACE`), at a point where no simulation state is borrowed.
    #[inline]
    pub(crate) fn flush_trace_sink(&self) {
        if self.trace.has_sink() {
            self.print_unprinted();
        }
    }

    #[cold]
    pub(super) fn print_unprinted(&self) {
        for raw in self.trace.take_unprinted() {
            self.trace.note_name(&raw);
            let name_of = |id| self.trace.live_name(id);
            let event = crate::trace::expand(self, &raw, &name_of);
            crate::trace::print_to_sink(&self.trace, &event);
            self.trace.forget_name(&raw);
        }
    }
}

mod checked;
mod run_loop;
mod simulation;

pub(crate) use checked::{Checkpoint, PathEnd};
use run_loop::*;
pub use simulation::Simulation;
pub(crate) use simulation::{replay_from_env, seed_from_env};
