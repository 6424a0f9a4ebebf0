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
        timers::{Key, TimerQueue},
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

/// Everything a model-checking step can change in a simulation whose tasks
/// are all process hosts, saved between two steps ([`Inner::save_checkpoint`]).
pub(crate) struct Checkpoint {
    now: u64,
    timer_inserts: u64,
    tasks: (usize, u64),
    groups: usize,
    nodes: crate::node::Nodes,
    timers: crate::time::timers::Saved<TimerEvent>,
    net: crate::net::state::Saved,
    processes: crate::process::host::Saved,
    interleave: crate::check::interleave::Saved,
    checks: crate::check::model::SavedProperties,
    budgets: Option<[u32; 3]>,
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
    pub(crate) processes: RefCell<crate::process::host::Registry>,
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

    fn describe_task(&self, label: &TaskLabel) -> String {
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
    pub(crate) fn insert_timer(&self, deadline: u64, event: TimerEvent) -> Key {
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
    ) -> Key {
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
            now: self.now.get(),
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
        self.now.set(checkpoint.now);
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

    /// Polls one ready task. Returns `false` if none was ready.
    #[inline]
    fn poll_one(&self) -> bool {
        let exploring = self.interleave.enabled();
        let next = if exploring {
            self.executor
                .next_ready_with(|ready| self.interleave.pick(self, ready))
        } else {
            self.executor.next_ready()
        };
        let Some(mut polling) = next else {
            return false;
        };
        self.current_group.set(polling.group);
        if polling.aborted {
            if exploring {
                self.interleave.forget(polling.index);
            }
            self.cancel(polling);
            return true;
        }
        if exploring {
            self.interleave.begin_poll(polling.index);
        }
        let waker = waker::waker(
            self.sim_id,
            polling.index,
            waker::generation(polling.id.as_u64()),
        );
        let mut cx = Context::from_waker(&waker);
        if self.trace.enabled() {
            self.trace.set_current(Some(polling.id));
        }
        #[cfg(feature = "tracing")]
        let _span = crate::tracing::task_span(self, &polling).entered();
        let task = polling.task.as_mut();
        let result = catch_unwind(AssertUnwindSafe(|| task.poll(&mut cx, &self.root)));
        self.root.set(Root::NONE);
        self.current_group.set(GroupId::MAIN);
        let tracing = self.trace.enabled();
        if exploring {
            self.interleave
                .end_poll(polling.index, !matches!(result, Ok(Poll::Pending)));
        }
        match result {
            Ok(Poll::Pending) => self.executor.suspend(polling.index, polling.task),
            Ok(Poll::Ready(())) => {
                if tracing {
                    self.trace_task(polling.index, RawKind::Complete);
                }
                drop(self.executor.complete(polling.index, polling.task))
            }
            Err(payload) => self.task_panicked(polling, payload),
        }
        if tracing {
            self.trace.set_current(None);
            self.flush_trace_sink();
        }
        true
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
    fn print_unprinted(&self) {
        for raw in self.trace.take_unprinted() {
            self.trace.note_name(&raw);
            let name_of = |id| self.trace.live_name(id);
            let event = crate::trace::expand(self, &raw, &name_of);
            self.trace.print(&event);
            self.trace.forget_name(&raw);
        }
    }

    fn cancel(&self, mut polling: Polling) {
        if self.trace.enabled() {
            self.trace_task(polling.index, RawKind::Cancel);
            self.trace.set_current(Some(polling.id));
        }
        // Dropping the future runs its destructors inside the simulation.
        polling
            .task
            .as_mut()
            .finish_with(JoinError::cancelled(polling.id));
        self.current_group.set(GroupId::MAIN);
        self.trace.set_current(None);
        drop(self.executor.complete(polling.index, polling.task));
    }

    #[cold]
    fn task_panicked(&self, mut polling: Polling, payload: Box<dyn std::any::Any + Send>) {
        if self.trace.enabled() {
            let message: Rc<str> = panic_message(payload.as_ref()).into();
            self.trace_task(polling.index, RawKind::Panic(message));
        }
        if !self.abort_on_panic.get() {
            polling
                .task
                .as_mut()
                .finish_with(JoinError::panic(polling.id, payload));
            drop(self.executor.complete(polling.index, polling.task));
            return;
        }
        let message = self.panic_report(polling.index, payload.as_ref());
        // Keep the task so teardown drops it inside the simulation.
        self.executor.suspend(polling.index, polling.task);
        self.fail(message);
    }

    /// A process's handler run outside its host task (a message handed to
    /// it on arrival) panicked: as if the host task had, the task (`index`,
    /// `id`) is cancelled, or the run fails.
    #[cold]
    pub(crate) fn host_panicked(
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
    fn panic_report(&self, index: usize, payload: &(dyn std::any::Any + Send)) -> String {
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

    /// Polls until nothing is ready or a task failed.
    #[inline]
    fn drain(&self) -> Result<(), Stop> {
        if self.failed.get() {
            return Err(Stop::Failed);
        }
        while self.poll_one() {
            if self.failed.get() {
                return Err(Stop::Failed);
            }
        }
        Ok(())
    }

    /// Moves the clock to the next deadline `<= limit` and returns it.
    /// A deadline past the configured time limit (but within `limit`) is an
    /// error.
    #[inline(always)]
    fn advance(&self, limit: u64) -> Result<Option<u64>, Stop> {
        let time_limit = self.time_limit.get().unwrap_or(u64::MAX);
        let next = self
            .timers
            .borrow_mut()
            .next_expiring(limit.min(time_limit));
        if let Some(deadline) = next {
            self.now.set(deadline);
            return Ok(Some(deadline));
        }
        if time_limit < limit {
            if let Some(next) = self.timers.borrow().peek().filter(|next| *next <= limit) {
                return Err(Stop::TimeLimit(next));
            }
        }
        Ok(None)
    }

    /// Pops one event due now (see [`TimerEvent::freed_as_it_pops`]).
    #[inline(always)]
    fn pop_due(&self) -> Option<TimerEvent> {
        let popped = self
            .timers
            .borrow_mut()
            .pop_expired_freeing(TimerEvent::freed_as_it_pops);
        popped.map(|(_, event)| event)
    }

    /// One step (see `Simulation::step`): polls every ready task if any is
    /// ready; otherwise fires the next event and polls what it woke.
    /// `Ok(false)` when nothing is left to do.
    #[inline(always)]
    fn step(&self) -> Result<bool, Stop> {
        if self.executor.has_ready() {
            self.drain()?;
            return Ok(true);
        }
        // The next event, moving the clock to it (`advance` and `pop_due`
        // in one look at the queue).
        let time_limit = self.time_limit.get().unwrap_or(u64::MAX);
        let popped = self
            .timers
            .borrow_mut()
            .pop_next_freeing(time_limit, TimerEvent::freed_as_it_pops);
        let Some((deadline, event)) = popped else {
            // Nothing left, or only past the time limit (an error).
            return self.advance(u64::MAX).map(|_| false);
        };
        self.now.set(deadline);
        self.fire(event);
        // A message handed to its process on arrival wakes no task.
        if self.executor.has_ready() || self.failed.get() {
            self.drain()?;
        }
        Ok(true)
    }

    /// Fires every event due now.
    fn fire_due(&self) {
        loop {
            let popped = self.pop_due();
            match popped {
                Some(event) => self.fire(event),
                None => break,
            }
        }
    }

    #[inline(always)]
    fn fire(&self, event: TimerEvent) {
        match event {
            TimerEvent::Wake(waker) => {
                if self.trace.enabled() {
                    match waker::task_of(&waker, self.sim_id) {
                        Some(index) => self.trace_task(index, RawKind::TimerFire),
                        None => self.trace_node_event(GroupId::MAIN, RawKind::TimerFire),
                    }
                }
                waker::wake_in(&self.executor, self.sim_id, waker)
            }
            // Its entry is freed already (see `pop_due`).
            TimerEvent::Deliver(packet) => {
                // The network returns each packet a process takes at once;
                // the process engine handles it.
                use crate::{net::state, process::host};
                let mut arrivals = state::Arrivals::new(self.now(), packet);
                while let Some((process, payload)) = state::deliver(self, &mut arrivals) {
                    host::receive(self, process, payload);
                    if arrivals.finished() {
                        break;
                    }
                }
            }
        }
        self.flush_trace_sink();
    }

    /// The loop behind `run`: until primaries finish, or quiescence.
    fn run_primaries(&self) -> Result<(), Stop> {
        loop {
            self.drain()?;
            let primaries = self.executor.any_primary();
            if primaries && self.executor.live_primaries() == 0 {
                return Ok(());
            }
            // Without primaries and without a time limit, the run ends when
            // nothing is left to do; a background loop that never stops
            // would keep it busy forever, so it ends at `IDLE_RUN_LIMIT`.
            let limit = if primaries || self.time_limit.get().is_some() {
                u64::MAX
            } else {
                ticks(IDLE_RUN_LIMIT)
            };
            if self.advance(limit)?.is_none() {
                if self.executor.live_primaries() > 0 {
                    return Err(Stop::Deadlock);
                }
                if let Some(next) = self.timers.borrow().peek() {
                    return Err(Stop::Runaway(next));
                }
                return Ok(());
            }
            self.fire_due();
        }
    }

    /// The model-checking loop (`check::model`): after each step, check
    /// properties and the fingerprint, then let the choice source fire one
    /// enabled event (any packet in flight, any task's earliest timer).
    fn run_checked(&self, run: &crate::check::model::PathRun<'_>) -> Result<PathEnd, Stop> {
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
                self.now.set(pick.deadline);
            }
            depth += 1;
            self.fire(event);
        }
    }

    fn deadlock_message(&self) -> String {
        let blocked = self.executor.blocked_primaries();
        let live = self.executor.live_primaries();
        let mut message = format!(
            "deadlock at {} ({}): {} primary future{} still running, but no task is runnable, \
             no timer is pending and no packet is in flight",
            Instant::from_nanos(self.now()),
            self.reproduce(),
            live,
            if live == 1 { " is" } else { "s are" },
        );
        for label in &blocked {
            let _ = write!(message, "\n  - blocked: {}", self.describe_task(label));
        }
        if live > blocked.len() {
            let never = live - blocked.len();
            let _ = write!(
                message,
                "\n  - {never} primary future{} never polled: did you forget `.spawn()`?",
                if never == 1 { " was" } else { "s were" }
            );
        }
        if !blocked.is_empty() {
            message.push_str(
                "\nEach blocked task waits for something nothing can provide any more (a packet \
             nobody sends, a lock or channel nobody releases or fills). A server loop that \
             never ends should not be `.primary()`: mark the tasks whose completion ends the \
             simulation instead.",
            );
        }
        message
    }

    fn runaway_message(&self, next: u64) -> String {
        format!(
            "no primary task, and the simulation is still busy after {:?} of simulated time \
             ({}; the next event is at {}). Without a `.primary()` task a simulation runs until \
             nothing is left to do, and some background task never stops (a loop around a \
             sleep or an interval?). Mark the task whose completion ends the run with \
             `.primary()`, or set `Simulation::time_limit` to run longer on purpose.",
            IDLE_RUN_LIMIT,
            self.reproduce(),
            Instant::from_nanos(next),
        )
    }

    fn time_limit_message(&self, next: u64) -> String {
        let limit = self.time_limit.get().unwrap_or(u64::MAX);
        let mut message = format!(
            "time limit of {:?} exceeded at {} ({}): the next event is at {}",
            Duration::from_nanos(limit),
            Instant::from_nanos(self.now()),
            self.reproduce(),
            Instant::from_nanos(next),
        );
        for label in self.executor.blocked_primaries() {
            let _ = write!(
                message,
                "\n  - still running: {}",
                self.describe_task(&label)
            );
        }
        message
    }

    fn teardown(&self) {
        let _entered = context::Entered::new(self);
        self.executor.clear(|group, task| {
            // Destructors (a sleep cancelling its timer, a socket closing)
            // belong to the task being dropped, not to `main`.
            self.current_group.set(group);
            self.trace.set_current(Some(task));
        });
        self.current_group.set(GroupId::MAIN);
        self.trace.set_current(None);
        self.timers.borrow_mut().clear();
        self.net.borrow_mut().teardown();
        self.flush_trace_sink();
        self.trace.flush();
    }
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

/// Why a run stopped early.
enum Stop {
    Failed,
    Deadlock,
    TimeLimit(u64),
    /// No primary task, no time limit, and still busy at `IDLE_RUN_LIMIT`.
    Runaway(u64),
}

/// How long a simulation without primary tasks and without a time limit may
/// run before it is stopped as a runaway: one simulated day.
pub(crate) const IDLE_RUN_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// One simulated world; see the [module docs](self) and the crate docs.
///
/// ```
/// use bach::{ext::*, Simulation};
/// use std::time::Duration;
///
/// let mut sim = Simulation::new().seed(7);
/// let done = sim.run(|| {
///     async { 2.s().sleep().await }.primary().spawn();
///     async { loop { 1.s().sleep().await } }.spawn(); // background
/// });
/// assert_eq!(sim.elapsed(), Duration::from_secs(2));
/// ```
pub struct Simulation {
    pub(crate) inner: Rc<Inner>,
    torn_down: bool,
    /// Replaying `BACH_REPLAY`: seed and interleaving settings are fixed.
    pub(crate) env_replay: bool,
}

impl Default for Simulation {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulation {
    /// A simulation seeded from `BACH_SEED`, or 0 when it is not set.
    /// Panics if `BACH_SEED` is set but is not an unsigned integer.
    pub fn new() -> Self {
        let seed = seed_from_env();
        let trace = Rc::new(crate::trace::recorder::Recorder::default());
        if let Err(error) = trace.configure_from_env() {
            panic!("{error}");
        }
        let inner = context::register(|sim_id| {
            Rc::new_cyclic(|this| Inner {
                sim_id,
                this: this.clone(),
                now: Cell::new(0),
                executor: Executor::default(),
                timers: RefCell::new(TimerQueue::new()),
                timer_inserts: Cell::new(0),
                rand: RefCell::new(Box::new(Seeded::new(seed))),
                groups: RefCell::new(GroupTable::default()),
                current_group: Cell::new(GroupId::MAIN),
                root: Cell::new(Root::NONE),
                net: RefCell::new(crate::net::state::State::new(seed, trace.clone())),
                trace,
                nodes: RefCell::new(crate::node::Nodes::default()),
                processes: RefCell::new(crate::process::host::Registry::default()),
                interleave: Default::default(),
                model: Default::default(),
                checks: Default::default(),
                time_limit: Cell::new(None),
                abort_on_panic: Cell::new(true),
                failure: RefCell::new(None),
                failed: Cell::new(false),
            })
        });
        let sim = Self {
            inner,
            torn_down: false,
            env_replay: false,
        };
        match replay_from_env() {
            Some(recording) => {
                let mut sim = sim.replay_recording(recording);
                sim.env_replay = true;
                sim
            }
            None => sim,
        }
    }

    /// Seeds the default choice source (replacing any source set before).
    /// Ignored while `BACH_REPLAY` is set: the replay decides every choice.
    pub fn seed(self, seed: u64) -> Self {
        if self.env_replay {
            return self;
        }
        let this = self.choice_source(Seeded::new(seed));
        this.inner.net.borrow_mut().capture.set_seed(Some(seed));
        this
    }

    /// Replaces the choice source: a fuzzer's driver, an explorer, a replay.
    pub fn choice_source(self, source: impl ChoiceSource + 'static) -> Self {
        *self.inner.rand.borrow_mut() = Box::new(source);
        self.inner.net.borrow_mut().capture.set_seed(None);
        self
    }

    /// Explores interleavings: when several ready tasks contend for shared
    /// resources at the same instant, the choice source picks their order
    /// (see [`check`](crate::check)). Every async operation on a sync
    /// primitive, queue or socket becomes a scheduling point. Off by
    /// default (ready tasks run first-in, first-out). Set it before the
    /// simulation creates primitives.
    pub fn interleavings(self, on: bool) -> Self {
        if self.env_replay {
            return self;
        }
        self.inner.interleave.set_enabled(on);
        self.inner.net.borrow_mut().exploring = on;
        self
    }

    /// Partial-order reduction while exploring interleavings (on by
    /// default): only tasks whose footprints share a resource are
    /// permuted. Turning it off makes every ready set one choice — for
    /// comparing exploration sizes.
    pub fn reduction(self, on: bool) -> Self {
        if self.env_replay {
            return self;
        }
        self.inner.interleave.set_reduction(on);
        self
    }

    /// Panics (with context) if simulated time would pass `limit`.
    pub fn time_limit(self, limit: Duration) -> Self {
        self.inner.time_limit.set(Some(ticks(limit)));
        self
    }

    /// Whether a panicking task ends the simulation (the default, `true`)
    /// or is reported to its [`JoinHandle`](crate::task::JoinHandle) as a
    /// panic [`JoinError`] (tokio's behaviour).
    pub fn abort_on_panic(self, abort: bool) -> Self {
        self.inner.abort_on_panic.set(abort);
        self
    }

    /// How to reproduce this run, e.g. `seed 7; rerun with BACH_SEED=7`.
    pub fn reproduce(&self) -> String {
        self.inner.reproduce()
    }

    /// Runs `f` inside the simulation (it may spawn tasks), then runs until
    /// every primary future has completed — or, if no primary was ever
    /// created, until nothing is left to do. Returns `f`'s result.
    ///
    /// Panics, after dropping every task, if a task panics (unless
    /// `abort_on_panic(false)`), on deadlock, or past the time limit. Without
    /// primaries and without a [`time_limit`](Self::time_limit), a run still
    /// busy after one simulated day stops with a panic that says so (a
    /// background loop that never ends would otherwise run forever).
    #[track_caller]
    pub fn run<F: FnOnce() -> R, R>(&mut self, f: F) -> R {
        let output = self.enter(f);
        if let Some(mode) = self.inner.model.mode() {
            // A model-checked replay: the same loop, without pruning.
            let run = crate::check::model::PathRun::replay(mode);
            self.run_checked(|| {}, &run);
            return output;
        }
        let stop = self.with_entered(|inner| inner.run_primaries());
        self.check(stop);
        self.inner.net.borrow_mut().capture.flush();
        output
    }

    /// [`Simulation::run`] in model-checking mode: runs `f`, then steps
    /// under `run`'s rules until the path ends; panics on a violation.
    #[track_caller]
    pub(crate) fn run_checked<F: FnOnce()>(
        &mut self,
        f: F,
        run: &crate::check::model::PathRun<'_>,
    ) -> PathEnd {
        self.enter(f);
        let stop = self.with_entered(|inner| inner.run_checked(run));
        let end = self.check(stop);
        self.inner.net.borrow_mut().capture.flush();
        end
    }

    /// Restores a model-checking checkpoint of this simulation (see
    /// [`Inner::restore_checkpoint`]); `false` if it cannot be.
    pub(crate) fn restore_checkpoint(&mut self, checkpoint: &Checkpoint) -> bool {
        self.with_entered(|inner| inner.restore_checkpoint(checkpoint))
    }

    /// Puts the simulation in model-checking mode with these fault budgets.
    pub(crate) fn model_checked(
        self,
        [drops, duplicates, corruptions]: [u32; 3],
        ordering: crate::check::Ordering,
    ) -> Self {
        self.inner
            .model
            .start(drops, duplicates, corruptions, ordering);
        self.inner.net.borrow_mut().model_checking = true;
        // The model checker fires pending events by key.
        self.inner.timers.borrow_mut().key_all();
        self
    }

    /// Runs `f` inside the simulation without running any task.
    pub fn enter<F: FnOnce() -> R, R>(&mut self, f: F) -> R {
        self.assert_alive();
        self.with_entered(|_| f())
    }

    /// Processes the next event: polls every ready task if any is ready;
    /// otherwise moves the clock to the next event (a timer, or packets
    /// arriving: those sent in one go to arrive at the same instant count as
    /// one event), fires it and polls what it woke. Returns `false` when
    /// nothing is left to do.
    #[track_caller]
    pub fn step(&mut self) -> bool {
        self.assert_alive();
        let stop = self.with_entered(Inner::step);
        self.check(stop)
    }

    /// Steps until `done` (checked before each step) holds, at most
    /// `max_steps` times: `Some(true)` once it holds, `Some(false)` if it
    /// still does not after `max_steps` steps, `None` if nothing was left
    /// to do. The same steps as calling [`step`](Self::step) in a loop,
    /// without leaving the simulation between them.
    #[track_caller]
    pub(crate) fn steps_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&Inner) -> bool,
    ) -> Option<bool> {
        self.assert_alive();
        let stop = self.with_entered(|inner| {
            for _ in 0..max_steps {
                if done(inner) {
                    return Ok(Some(true));
                }
                if !inner.step()? {
                    return Ok(None);
                }
            }
            Ok(Some(done(inner)))
        });
        self.check(stop)
    }

    /// Runs every event up to `now + duration`, then sets the clock to
    /// exactly that instant, even if nothing happened.
    #[track_caller]
    pub fn run_for(&mut self, duration: Duration) {
        self.assert_alive();
        let target = self.inner.now().saturating_add(ticks(duration));
        let stop = self.with_entered(|inner| {
            let limit = inner.time_limit.get().unwrap_or(u64::MAX);
            loop {
                inner.drain()?;
                match inner.advance(target)? {
                    Some(_) => inner.fire_due(),
                    None => break,
                }
            }
            if target > limit {
                return Err(Stop::TimeLimit(target));
            }
            inner.timers.borrow_mut().advance_to(target);
            inner.now.set(target);
            Ok(())
        });
        self.check(stop)
    }

    /// Steps until `predicate` (evaluated inside the simulation) holds;
    /// returns `false` if the simulation ran out of events first.
    #[track_caller]
    pub fn run_until(&mut self, mut predicate: impl FnMut() -> bool) -> bool {
        loop {
            if self.enter(&mut predicate) {
                return true;
            }
            if !self.step() {
                return self.enter(&mut predicate);
            }
        }
    }

    /// Runs until no task is ready and no timer is pending, ignoring
    /// primaries. A task that sleeps forever in a loop never lets the
    /// simulation go idle: bound such runs with [`Simulation::time_limit`].
    #[track_caller]
    pub fn run_until_idle(&mut self) {
        self.assert_alive();
        let stop = self.with_entered(|inner| loop {
            inner.drain()?;
            if inner.advance(u64::MAX)?.is_none() {
                return Ok(());
            }
            inner.fire_due();
        });
        self.check(stop)
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.inner.now())
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.now())
    }

    /// When the next event (a timer, or a packet arriving) is due, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.inner.timers.borrow().peek().map(Instant::from_nanos)
    }

    /// Number of pending timers (packets in flight not included; see
    /// [`packets_in_flight`](Self::packets_in_flight)).
    pub fn pending_timers(&self) -> usize {
        let events = self.inner.timers.borrow().pending();
        events - self.inner.net.borrow().scheduled_events()
    }

    /// Number of tasks that have not completed.
    pub fn live_tasks(&self) -> usize {
        self.inner.executor.live_tasks()
    }

    /// Runs up to `n` steps (see [`Simulation::step`]); returns how many
    /// ran (fewer when the simulation ran out of events).
    #[track_caller]
    pub fn steps(&mut self, n: usize) -> usize {
        (0..n).take_while(|_| self.step()).count()
    }

    /// Events waiting on the timer queue: timers plus packet arrivals
    /// (copies due at the same instant from one burst count once).
    pub fn pending_events(&self) -> usize {
        self.inner.timers.borrow().pending()
    }

    /// Registers restartable software for node `name` and boots it now; see
    /// [`node::host`](crate::node::host).
    pub fn host<F, Fut>(&mut self, name: &str, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        self.enter(|| crate::node::host(name, factory))
    }

    /// Crashes node `name` now; see [`node::crash`](crate::node::crash).
    pub fn crash(&mut self, name: &str) {
        self.enter(|| crate::node::crash(name))
    }

    /// Restarts node `name` now; see [`node::restart`](crate::node::restart).
    pub fn restart(&mut self, name: &str) {
        self.enter(|| crate::node::restart(name))
    }

    /// Turns event recording on or off (see [`trace`](crate::trace)).
    pub fn record_trace(self, on: bool) -> Self {
        self.inner.trace.set_enabled(on);
        self
    }

    /// How many events the trace keeps (default 65 536); older ones are
    /// overwritten, so memory stays flat on long runs.
    pub fn trace_capacity(self, events: usize) -> Self {
        self.inner.trace.set_capacity(events);
        self
    }

    /// The recorded events, oldest first (empty unless recording is on).
    pub fn trace(&self) -> Vec<crate::trace::Event> {
        crate::trace::expand_all(&self.inner, &self.inner.trace.snapshot())
    }

    /// How many events fell out of the trace's ring buffer.
    pub fn trace_overwritten(&self) -> u64 {
        self.inner.trace.overwritten()
    }

    /// Runs `body` (as [`Simulation::run`] would) twice with `seed` and
    /// trace recording on, and panics if the two traces differ, naming the
    /// first divergent event. Catches bodies that read the wall clock, OS
    /// randomness or `HashMap` iteration order.
    #[track_caller]
    pub fn check_determinism(seed: u64, body: impl Fn()) {
        let run = || {
            let mut sim = Simulation::new()
                .seed(seed)
                .record_trace(true)
                .trace_capacity(usize::MAX);
            sim.run(&body);
            let lines: Vec<String> = sim
                .trace()
                .iter()
                .map(|event| {
                    let mut line = Vec::new();
                    let _ = crate::trace::write_console(&mut line, event);
                    String::from_utf8_lossy(&line).trim_end().to_string()
                })
                .collect();
            lines
        };
        let (first, second) = (run(), run());
        if first == second {
            return;
        }
        let index = first
            .iter()
            .zip(&second)
            .position(|(a, b)| a != b)
            .unwrap_or(first.len().min(second.len()));
        let show = |lines: &[String]| {
            lines
                .get(index)
                .cloned()
                .unwrap_or_else(|| "(no event: the run ended)".into())
        };
        panic!(
            "the simulation is nondeterministic (seed {seed}): the first difference at event #{index}\n  run 1: {}\n  run 2: {}\n\
             Look for reads of the wall clock, OS randomness or HashMap/HashSet iteration order in the code \
             that produced these events.",
            show(&first),
            show(&second)
        );
    }

    fn with_entered<R>(&mut self, f: impl FnOnce(&Inner) -> R) -> R {
        let _entered = context::Entered::new(&self.inner);
        f(&self.inner)
    }

    #[track_caller]
    fn assert_alive(&self) {
        assert!(
            !self.torn_down,
            "this Simulation already failed (a task panicked, it deadlocked or hit its time limit) \
             and its tasks were dropped; create a new Simulation"
        );
    }

    /// Turns an early stop into a panic after dropping every task.
    #[track_caller]
    fn check<T>(&mut self, result: Result<T, Stop>) -> T {
        let stop = match result {
            Ok(value) => return value,
            Err(stop) => stop,
        };
        let message = match stop {
            Stop::Failed => self.inner.failure.borrow_mut().take().unwrap_or_default(),
            Stop::Deadlock => self.inner.deadlock_message(),
            Stop::TimeLimit(next) => self.inner.time_limit_message(next),
            Stop::Runaway(next) => self.inner.runaway_message(next),
        };
        self.torn_down = true;
        self.inner.teardown();
        panic!("{message}");
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        if !self.torn_down {
            self.torn_down = true;
            self.inner.teardown();
        }
        context::unregister(self.inner.sim_id);
    }
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now())
            .field("reproduce", &self.reproduce())
            .finish()
    }
}

/// The replay `BACH_REPLAY` asks for, if set. Panics with a clear message
/// if the variable is set but not a token.
pub(crate) fn replay_from_env() -> Option<crate::check::token::Recording> {
    let value = std::env::var("BACH_REPLAY").ok()?;
    if value.trim().is_empty() {
        return None;
    }
    match crate::check::token::Recording::parse(&value) {
        Ok(recording) => Some(recording),
        Err(error) => panic!("BACH_REPLAY: {error}"),
    }
}

pub(crate) fn seed_from_env() -> u64 {
    let Ok(value) = std::env::var("BACH_SEED") else {
        return 0;
    };
    let trimmed = value.trim();
    let parsed = match trimmed.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => trimmed.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("BACH_SEED=`{value}` is not an unsigned 64-bit integer"))
}
