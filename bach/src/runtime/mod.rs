//! The simulation: configuration, the run loop and step-by-step control.
//!
//! [`Simulation`](crate::Simulation) owns one simulated world: a clock, the tasks, the timer
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
    rand::source::Seeded,
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
    /// Processes hosted on tasks (`process::engine`).
    pub(crate) processes: RefCell<crate::process::engine::Registry>,
    /// Each node's disk (`fs::state`), created when the node first
    /// touches it.
    pub(crate) disks: RefCell<crate::fs::state::Disks>,
    /// Fault budgets (`net::choices`), spent only while `budgets_on`: a
    /// run mode that makes faults choices turns them on.
    budgets: crate::net::choices::Budgets,
    budgets_on: Cell<bool>,
    /// How `Simulation::run` runs the world after the user's code: by the
    /// clock (`None`, the default), or by a run mode installed on it.
    pub(crate) run_mode: RefCell<Option<Rc<dyn RunMode>>>,
    pub(crate) time_limit: Cell<Option<u64>>,
}

/// A way of running the world other than following the clock from event to
/// event (`Inner::run_primaries`). The world offers this hook and never
/// names what installs it: model checking (`check::model`) installs one
/// that fires one enabled event at a time, as its choice source decides.
pub(crate) trait RunMode {
    /// Runs the entered world until it stops.
    fn run(&self, world: &Inner) -> Result<(), Stop>;
}

impl crate::net::state::NetWorld for Inner {
    #[inline(always)]
    fn net(&self) -> &RefCell<crate::net::state::State> {
        &self.net
    }

    #[inline(always)]
    fn fault_budgets(&self) -> Option<&crate::net::choices::Budgets> {
        self.budgets_on.get().then_some(&self.budgets)
    }
}

impl crate::process::engine::ProcessWorld for Inner {
    #[inline(always)]
    fn processes(&self) -> &RefCell<crate::process::engine::Registry> {
        &self.processes
    }

    #[inline(always)]
    fn try_current<R>(f: impl FnOnce(Option<&Self>) -> R) -> R {
        context::try_with(f)
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
    /// A new world on this thread, with the default choice source seeded
    /// with `seed` and `trace` as its recorder.
    pub(crate) fn create(seed: u64, trace: Rc<crate::trace::recorder::Recorder>) -> Rc<Inner> {
        context::register(|sim_id| {
            Rc::new_cyclic(|this| Inner {
                net: RefCell::new(crate::net::state::State::new(seed, trace.clone())),
                kernel: Kernel::new(sim_id, Box::new(Seeded::new(seed)), trace),
                this: this.clone(),
                processes: RefCell::new(crate::process::engine::Registry::default()),
                disks: RefCell::new(crate::fs::state::Disks::default()),
                budgets: Default::default(),
                budgets_on: Cell::new(false),
                run_mode: RefCell::new(None),
                time_limit: Cell::new(None),
            })
        })
    }

    /// Installs run mode `mode` (see [`RunMode`]), with network faults as
    /// choices, each kind within its budget (`[drops, duplicates,
    /// corruptions, crashes, restarts]`), and every pending event keyed so
    /// that the mode can fire any one.
    pub(crate) fn install_run_mode(
        &self,
        mode: Rc<dyn RunMode>,
        budgets: crate::net::choices::BudgetCounts,
    ) {
        self.budgets.restore(budgets);
        self.budgets_on.set(true);
        *self.run_mode.borrow_mut() = Some(mode);
        self.net.borrow_mut().model_checking = true;
        self.timers.borrow_mut().key_all();
    }

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
            let event = crate::trace::event::expand(self, &raw, &name_of);
            crate::trace::print::print_to_sink(&self.trace, &event);
            self.trace.forget_name(&raw);
        }
    }
}

mod checkpoint;
mod run_loop;

pub(crate) use checkpoint::Checkpoint;
pub(crate) use run_loop::*;
