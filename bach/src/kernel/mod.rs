//! The kernel: what every engine runs on. One simulation's clock, its
//! executor, its one timer queue, its one choice source, its groups (and
//! each node's lifecycle and wall clock: `node::table`), the
//! trace sink, the failure state, the properties a run is checked against
//! (`properties`), and the scheduling hooks interleaving exploration drives
//! (`interleave`).
//!
//! The world (`runtime::Inner`) holds one `Kernel` and dereferences to it;
//! the engines work on the kernel and their own state. The kernel knows
//! nothing of networks, processes or searches, never reads the wall clock
//! and draws every nondeterministic decision from its choice source.

use crate::{
    executor::{cell::TaskCell, join::panic_message, root::Root, Executor, TaskId, TaskLabel},
    group::table::{GroupId, GroupTable},
    node::table::Nodes,
    rand::source::ChoiceSource,
    time::{
        instant::Instant,
        timers::{TimerKey, TimerQueue},
    },
    trace::recorder::{RawEvent, RawKind, Recorder},
};
pub(crate) mod current;
pub(crate) mod interleave;
pub(crate) mod properties;
pub(crate) mod rng;

use interleave::Interleave;
use properties::Properties;
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    task::{Context, Waker},
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
    pub(crate) fn freed_as_it_pops(&self) -> bool {
        matches!(self, TimerEvent::Deliver(_))
    }
}

/// The kernel of one simulation (see the module docs).
pub(crate) struct Kernel {
    /// The simulation's id on its thread (wakers carry it).
    pub(crate) sim_id: usize,
    now: Cell<u64>,
    pub(crate) executor: Executor,
    pub(crate) timers: RefCell<TimerQueue<TimerEvent>>,
    /// How many entries were ever put on `timers`: every insertion goes
    /// through [`Kernel::insert_timer`] (or counts itself, like `Sleep`), so
    /// the network can tell whether anything was scheduled since its last
    /// packet (see `net::state::Batch`).
    pub(crate) timer_inserts: Cell<u64>,
    pub(crate) rand: RefCell<Box<dyn ChoiceSource>>,
    pub(crate) groups: RefCell<GroupTable>,
    /// Each node's lifecycle and wall clock, by group.
    pub(crate) nodes: RefCell<Nodes>,
    /// The group (node) of the code running now.
    pub(crate) current_group: Cell<GroupId>,
    /// The future at the root of the task being polled.
    pub(crate) root: Cell<Root>,
    /// The event trace (shared with the network state).
    pub(crate) trace: Rc<Recorder>,
    /// Interleaving exploration (`interleave`), off by default.
    pub(crate) interleave: Interleave,
    /// Invariants, goals, prunes and reported state (`properties`).
    pub(crate) properties: RefCell<Properties>,
    /// Whether an invariant was ever registered: a run by the clock checks
    /// invariants after every step only then (one branch otherwise).
    invariants_on: Cell<bool>,
    abort_on_panic: Cell<bool>,
    failure: RefCell<Option<String>>,
    /// Set with `failure`; a `Cell` so the hot loop checks it cheaply.
    failed: Cell<bool>,
    /// The run was stopped as redundant ([`Kernel::abandon`]).
    abandoned: Cell<bool>,
    /// `bach::rand::gen_bool` is a choice of the choice source (an
    /// exhaustive search enumerating values).
    pub(crate) enumerate_values: Cell<bool>,
}

/// The panic payload a run stopped as redundant unwinds with (see
/// [`Kernel::abandon`]); searches catch it, and no message is printed.
pub(crate) struct Abandoned;

impl Kernel {
    /// A kernel at time zero drawing from `rand`, recording into `trace`.
    pub(crate) fn new(sim_id: usize, rand: Box<dyn ChoiceSource>, trace: Rc<Recorder>) -> Self {
        Kernel {
            sim_id,
            now: Cell::new(0),
            executor: Executor::default(),
            timers: RefCell::new(TimerQueue::new()),
            timer_inserts: Cell::new(0),
            rand: RefCell::new(rand),
            groups: RefCell::new(GroupTable::default()),
            nodes: Default::default(),
            current_group: Cell::new(GroupId::MAIN),
            root: Cell::new(Root::NONE),
            trace,
            interleave: Default::default(),
            properties: Default::default(),
            invariants_on: Cell::new(false),
            abort_on_panic: Cell::new(true),
            failure: RefCell::new(None),
            failed: Cell::new(false),
            abandoned: Cell::new(false),
            enumerate_values: Cell::new(false),
        }
    }

    /// The `tracing` span a poll of a task runs in (feature `tracing`):
    /// the task's id, its name and its node.
    #[cfg(feature = "tracing")]
    pub(crate) fn task_span(&self, polling: &crate::executor::Polling) -> tracing::Span {
        let label = self.executor.label(polling.index);
        let node = self.groups.borrow().name(polling.group);
        let name = label.as_ref().and_then(|l| l.name.as_deref()).unwrap_or("");
        tracing::info_span!("task", id = polling.id.as_u64(), name, node = &*node)
    }

    /// Registers an invariant (`check::invariant`), and turns on its check
    /// after every step of a run by the clock.
    pub(crate) fn add_invariant(&self, name: &str, holds: impl Fn() -> bool + 'static) {
        self.properties.borrow_mut().add_invariant(name, holds);
        self.invariants_on.set(true);
    }

    /// Whether an invariant was ever registered.
    #[inline(always)]
    pub(crate) fn invariants_on(&self) -> bool {
        self.invariants_on.get()
    }

    /// Spawns `future` as a task on the current node: its executor slot
    /// and id. Panics if the node is crashed.
    #[track_caller]
    pub(crate) fn spawn<F>(&self, future: F, name: Option<Rc<str>>) -> (usize, TaskId)
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        let group = self.current_group.get();
        if self.nodes.borrow().is_crashed(group) {
            self.crashed_spawn(group);
        }
        let task = Box::pin(TaskCell::new(future));
        let (index, id) = self.executor.insert(task, name, group);
        if self.trace.enabled() {
            let name = self.executor.label(index).and_then(|label| label.name);
            self.trace_task(index, RawKind::Spawn(name));
        }
        (index, id)
    }

    #[cold]
    #[track_caller]
    pub(crate) fn crashed_spawn(&self, group: GroupId) -> ! {
        let name = self.groups.borrow().name(group);
        panic!(
            "cannot spawn a task on node `{name}`: node `{name}` is crashed \
             (restart it with `bach::node::restart(\"{name}\")` first)"
        )
    }

    /// Moves the clock (the run loop, and checkpoints restoring it).
    #[inline(always)]
    pub(crate) fn set_now(&self, now: u64) {
        self.now.set(now);
    }

    /// Whether a panicking task ends the run (see
    /// `Simulation::abort_on_panic`).
    pub(crate) fn aborts_on_panic(&self) -> bool {
        self.abort_on_panic.get()
    }

    pub(crate) fn set_abort_on_panic(&self, abort: bool) {
        self.abort_on_panic.set(abort);
    }

    /// The failure that ended the run, once.
    pub(crate) fn take_failure(&self) -> Option<String> {
        self.failure.borrow_mut().take()
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.now.get()
    }

    pub(crate) fn describe_task(&self, label: &TaskLabel) -> String {
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

    /// [`Kernel::insert_timer`] with the queue already borrowed.
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

    /// Stops the run without a failure: a search found that every schedule
    /// it can still reach is equivalent to one it already explored. The
    /// run loop stops as on a failure, and the simulation unwinds with
    /// [`Abandoned`] instead of a message.
    pub(crate) fn abandon(&self) {
        self.abandoned.set(true);
        self.failed.set(true);
    }

    /// Whether the run was stopped by [`Kernel::abandon`].
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.get()
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

    /// A process's handler run outside its task (a message handed to
    /// it on arrival) panicked: as if the process task had, the task (`index`,
    /// `id`) is cancelled, or the run fails.
    #[cold]
    pub(crate) fn process_panicked(
        &self,
        (index, id): (usize, crate::executor::TaskId),
        payload: Box<dyn std::any::Any + Send>,
    ) {
        if self.trace.enabled() {
            let message: Rc<str> = panic_message(payload.as_ref()).into();
            self.trace_task(index, RawKind::Panic(message));
        }
        if !self.abort_on_panic.get() {
            self.executor.abort(index, id);
            return;
        }
        let message = self.panic_report(index, payload.as_ref());
        self.fail(message);
    }

    /// What a run that fails because task `index` panicked reports.
    pub(crate) fn panic_report(
        &self,
        index: usize,
        payload: &(dyn std::any::Any + Send),
    ) -> String {
        let label = self
            .executor
            .label(index)
            .expect("the panicking task has a slot");
        format!(
            "{} panicked at {} ({}): {}",
            self.describe_task(&label),
            Instant::from_nanos(self.now()),
            self.reproduce(),
            panic_message(payload)
        )
    }
}
