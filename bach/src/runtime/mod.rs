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

use crate::{
    executor::root::Root,
    executor::{join::panic_message, join::JoinError, waker, Executor, Polling, TaskLabel},
    group::table::{GroupId, GroupTable},
    rand::source::{ChoiceSource, Seeded},
    time::{
        instant::{ticks, Instant},
        timers::{TimerKey, TimerQueue},
    },
    trace::recorder::{RawEvent, RawKind},
};
use std::{
    cell::{Cell, RefCell},
    fmt::Write as _,
    panic::{catch_unwind, AssertUnwindSafe},
    rc::{Rc, Weak},
    task::{Context, Poll, Waker},
    time::Duration,
};

/// What an entry of the timer queue does when it fires.
#[derive(Clone)]
pub(crate) enum TimerEvent {
    /// Wake a task (a `Sleep`, which owns the entry and frees it).
    Wake(Waker),
    /// Deliver the arrival batch whose first packet has this key
    /// (`net::state`); the run loop frees the entry.
    Deliver(u32),
}

impl TimerEvent {
    /// Wakes the task behind `cx`.
    #[inline]
    pub(crate) fn wake(cx: &Context<'_>) -> Self {
        TimerEvent::Wake(cx.waker().clone())
    }

    /// Whether the run loop frees the event's queue entry as it pops it:
    /// an arrival's (nobody holds its key); a wake's stays for its sleeper
    /// to free.
    #[inline(always)]
    fn freed_as_it_pops(&self) -> bool {
        matches!(self, TimerEvent::Deliver(_))
    }
}

/// Shared state of one simulation. Reached through `context` while
/// entered, or through an `Rc` held by join handles.
pub(crate) struct Inner {
    pub(crate) sim_id: usize,
    this: Weak<Inner>,
    now: Cell<u64>,
    pub(crate) executor: Executor,
    pub(crate) timers: RefCell<TimerQueue<TimerEvent>>,
    /// How many entries were ever put on `timers`: every insertion goes
    /// through [`Inner::insert_timer`] (or counts itself, like `Sleep`), so
    /// the network can tell whether anything was scheduled since its last
    /// packet (see `net::state::Batch`).
    pub(crate) timer_inserts: Cell<u64>,
    pub(crate) rand: RefCell<Box<dyn ChoiceSource>>,
    pub(crate) groups: RefCell<GroupTable>,
    pub(crate) current_group: Cell<GroupId>,
    pub(crate) root: Cell<Root>,
    // ----- network (bach::net) -----
    pub(crate) net: RefCell<crate::net::state::State>,
    // -----
    /// The event trace (shared with the network state).
    pub(crate) trace: Rc<crate::trace::recorder::Recorder>,
    /// Node lifecycle and clocks, by group.
    pub(crate) nodes: RefCell<crate::node::Nodes>,
    /// Processes hosted on tasks (`bach::process`).
    pub(crate) processes: RefCell<crate::process::engine::Registry>,
    /// Interleaving exploration (`check::interleave`), off by default.
    pub(crate) interleave: crate::check::interleave::Interleave,
    /// Model checking (`check::model`), off by default.
    pub(crate) model: crate::check::model::ModelCell,
    /// Invariants, goals, prunes and reported state (`bach::check`).
    pub(crate) checks: RefCell<crate::check::model::Properties>,
    time_limit: Cell<Option<u64>>,
    abort_on_panic: Cell<bool>,
    failure: RefCell<Option<String>>,
    /// Set with `failure`; a `Cell` so the hot loop checks it cheaply.
    failed: Cell<bool>,
}

impl Inner {
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.now.get()
    }

    pub(crate) fn rc(&self) -> Rc<Inner> {
        self.this
            .upgrade()
            .expect("the simulation is alive while its code runs")
    }

    pub(super) fn describe_task(&self, label: &TaskLabel) -> String {
        let node = self.groups.borrow().name(label.group);
        match &label.name {
            Some(name) => format!("task `{name}` ({}) on node `{node}`", label.id),
            None => format!("task {} on node `{node}`", label.id),
        }
    }

    /// How to reproduce this run, for failure messages.
    pub(crate) fn reproduce(&self) -> String {
        self.rand.borrow().reproduce()
    }

    /// Puts an event on the timer queue, counting it in `timer_inserts`.
    #[inline(always)]
    pub(crate) fn insert_timer(&self, deadline: u64, event: TimerEvent) -> TimerKey {
        self.insert_timer_in(&mut self.timers.borrow_mut(), deadline, event)
    }

    /// Puts an event nobody cancels or looks up on the timer queue (see
    /// [`TimerQueue::insert_keyless`]), counting it in `timer_inserts`.
    #[inline(always)]
    pub(crate) fn insert_keyless_timer(&self, deadline: u64, event: TimerEvent) {
        self.timer_inserts.set(self.timer_inserts.get() + 1);
        self.timers.borrow_mut().insert_keyless(deadline, event);
    }

    /// [`Inner::insert_timer`] with the queue already borrowed.
    #[inline]
    pub(crate) fn insert_timer_in(
        &self,
        timers: &mut TimerQueue<TimerEvent>,
        deadline: u64,
        event: TimerEvent,
    ) -> TimerKey {
        self.timer_inserts.set(self.timer_inserts.get() + 1);
        timers.insert(deadline, event)
    }

    /// A weak handle, for objects that must not keep the simulation alive.
    pub(crate) fn rc_weak(&self) -> Weak<Inner> {
        self.this.clone()
    }

    /// Whether the run has failed (it stops at the next turn of its loop).
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.get()
    }

    /// Ends the run with `message` (a failure outside any task, such as a
    /// network monitor panicking while a packet arrives).
    pub(crate) fn fail(&self, message: String) {
        self.failure.borrow_mut().get_or_insert(message);
        self.failed.set(true);
    }

    /// Records an event about the task in slot `index`.
    pub(crate) fn trace_task(&self, index: usize, kind: RawKind) {
        if let Some((id, group)) = self.executor.identity(index) {
            self.trace.push(RawEvent {
                time: self.now(),
                node: Some(group),
                task: Some(id),
                kind,
            });
        }
    }

    /// Records an event about a task given by id (it may have no slot any
    /// more, e.g. when cancelled by a crash).
    pub(crate) fn trace_task_event(
        &self,
        group: GroupId,
        id: crate::executor::TaskId,
        kind: RawKind,
    ) {
        if self.trace.enabled() {
            self.trace.push(RawEvent {
                time: self.now(),
                node: Some(group),
                task: Some(id),
                kind,
            });
        }
    }

    /// Records an event on a node, outside any particular task.
    pub(crate) fn trace_node_event(&self, group: GroupId, kind: RawKind) {
        if self.trace.enabled() {
            self.trace.push(RawEvent {
                time: self.now(),
                node: Some(group),
                task: None,
                kind,
            });
        }
    }

    /// Records an event in the current context (node and task).
    #[inline]
    pub(crate) fn trace_event(&self, kind: RawKind) {
        if self.trace.enabled() {
            self.trace.push(RawEvent {
                time: self.now(),
                node: Some(self.current_group.get()),
                task: self.trace.current(),
                kind,
            });
        }
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
            self.trace.print(&event);
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
