//! The run loop: polling ready tasks, moving the clock to the next event
//! and firing it, and how a run stops (done, deadlock, time limit, a
//! failure) and is torn down.

use super::*;
use crate::executor::TaskLabel;

impl Inner {
    /// Polls one ready task. Returns `false` if none was ready.
    #[inline]
    pub(crate) fn poll_one(&self) -> bool {
        let exploring = self.interleave.enabled();
        let next = if exploring {
            self.executor
                .next_ready_with(|ready| self.interleave.pick(self, ready))
        } else {
            self.executor.next_ready()
        };
        let Some(polling) = next else {
            return false;
        };
        self.poll_task(polling, exploring);
        true
    }

    /// Polls `polling`'s task once (and cancels it if it was aborted).
    #[inline(always)]
    fn poll_task(&self, mut polling: Polling, exploring: bool) {
        self.current_group.set(polling.group);
        if polling.aborted {
            if exploring {
                self.interleave.forget(polling.index);
            }
            self.cancel(polling);
            return;
        }
        if exploring {
            self.interleave.begin_poll(self, polling.index);
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
        let _span = self.task_span(&polling).entered();
        let task = polling.task.as_mut();
        let result = catch_unwind(AssertUnwindSafe(|| task.poll(&mut cx, &self.root)));
        self.root.set(crate::executor::root::Root::NONE);
        self.current_group.set(GroupId::MAIN);
        let tracing = self.trace.enabled();
        if exploring {
            self.interleave
                .end_poll(self, polling.index, !matches!(result, Ok(Poll::Pending)));
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
    }

    /// Polls every blocked task once more with notes on, so that the
    /// primitives they wait on say so (the deadlock report's notes, see
    /// `executor::waits`). A spurious poll: a future must tolerate it.
    #[cold]
    fn note_waits(&self) {
        self.executor.forget_waits();
        crate::executor::waits::diagnose(|| {
            for (index, _) in self.executor.blocked_tasks() {
                if let Some(polling) = self.executor.take_blocked(index) {
                    self.poll_task(polling, false);
                }
            }
        });
    }

    pub(crate) fn cancel(&self, mut polling: Polling) {
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
    pub(crate) fn task_panicked(
        &self,
        mut polling: Polling,
        payload: Box<dyn std::any::Any + Send>,
    ) {
        if self.trace.enabled() {
            let message: Rc<str> = panic_message(payload.as_ref()).into();
            self.trace_task(polling.index, RawKind::Panic(message));
        }
        if !self.aborts_on_panic() {
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

    /// Polls until nothing is ready or a task failed. Out of line, with the
    /// polls inlined into it: inlined into the loops that call it, it
    /// pushed `poll_one` out of line (+5 % instructions per sleep and per
    /// lock in `benches/instructions.sh --all`).
    #[inline(never)]
    pub(crate) fn drain(&self) -> Result<(), Stop> {
        if self.has_failed() {
            return Err(Stop::Failed);
        }
        while self.poll_one() {
            if self.has_failed() {
                return Err(Stop::Failed);
            }
        }
        Ok(())
    }

    /// [`drain`](Self::drain), then the invariants (`check::invariant`):
    /// the end of one step of a run by the clock.
    #[inline(always)]
    pub(crate) fn drain_checked(&self) -> Result<(), Stop> {
        self.drain()?;
        self.check_invariants()
    }

    /// Fails the run if an invariant does not hold (one branch while none
    /// is registered).
    #[inline(always)]
    fn check_invariants(&self) -> Result<(), Stop> {
        if !self.invariants_on() {
            return Ok(());
        }
        self.property_verdict(crate::kernel::properties::check_invariants(
            &self.properties,
        ))
    }

    /// At the end of a run by the clock, fails it if goals (`check::goal`)
    /// are registered and none was reached.
    pub(crate) fn check_goals(&self) -> Result<(), Stop> {
        self.property_verdict(crate::kernel::properties::check_goals_reached(
            &self.properties,
        ))
    }

    /// At the end of a run (by the clock, or a model-checking path), fails
    /// it if a check of the whole run (`check::linearizable`) does not pass.
    pub(crate) fn check_finals(&self) -> Result<(), Stop> {
        self.property_verdict(crate::kernel::properties::check_finals(&self.properties))
    }

    /// A broken property (`Err` naming it) fails the run, with the time
    /// and how to reproduce it.
    #[cold]
    #[inline(never)]
    fn property_verdict(&self, verdict: Result<(), String>) -> Result<(), Stop> {
        let Err(broken) = verdict else {
            return Ok(());
        };
        self.fail(format!(
            "{broken} at {} ({})",
            Instant::from_nanos(self.now()),
            self.reproduce()
        ));
        Err(Stop::Failed)
    }

    /// Moves the clock to the next deadline `<= limit` and returns it.
    /// A deadline past the configured time limit (but within `limit`) is an
    /// error.
    #[inline(always)]
    pub(crate) fn advance(&self, limit: u64) -> Result<Option<u64>, Stop> {
        let time_limit = self.time_limit.get().unwrap_or(u64::MAX);
        let next = self
            .timers
            .borrow_mut()
            .next_expiring(limit.min(time_limit));
        if let Some(deadline) = next {
            self.set_now(deadline);
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
    pub(crate) fn pop_due(&self) -> Option<TimerEvent> {
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
    pub(crate) fn step(&self) -> Result<bool, Stop> {
        if self.executor.has_ready() {
            self.drain_checked()?;
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
        self.set_now(deadline);
        self.fire(event);
        // A message handed to its process on arrival wakes no task.
        if self.executor.has_ready() || self.has_failed() {
            self.drain()?;
        }
        self.check_invariants()?;
        Ok(true)
    }

    /// Fires every event due now.
    pub(crate) fn fire_due(&self) {
        loop {
            let popped = self.pop_due();
            match popped {
                Some(event) => self.fire(event),
                None => break,
            }
        }
    }

    #[inline(always)]
    pub(crate) fn fire(&self, event: TimerEvent) {
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
                use crate::{net::state, process::engine};
                let mut arrivals = state::Arrivals::new(packet);
                while let Some((process, payload)) = state::deliver(self, &mut arrivals) {
                    engine::receive(self, process, payload);
                    if arrivals.finished() {
                        break;
                    }
                }
            }
        }
        self.flush_trace_sink();
    }

    /// The loop behind `run`: until primaries finish, or quiescence.
    pub(crate) fn run_primaries(&self) -> Result<(), Stop> {
        loop {
            self.drain_checked()?;
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

    pub(crate) fn deadlock_message(&self) -> String {
        self.note_waits();
        let live = self.executor.live_primaries();
        let blocked = self.executor.blocked_tasks();
        let primaries: Vec<&(usize, TaskLabel)> = blocked
            .iter()
            .filter(|(index, _)| self.executor.is_primary(*index))
            .collect();
        let mut message = format!(
            "deadlock at {} ({}): {} primary future{} still running, but no task is runnable, \
             no timer is pending and no packet is in flight",
            Instant::from_nanos(self.now()),
            self.reproduce(),
            live,
            if live == 1 { " is" } else { "s are" },
        );
        for (index, label) in &primaries {
            let _ = write!(
                message,
                "\n  - blocked: {}{}",
                self.describe_task(label),
                self.describe_wait(*index)
            );
        }
        if let Some(cycle) = self.wait_cycle(&blocked) {
            message.push_str("\n  wait-for cycle:");
            for index in &cycle {
                let task = self
                    .executor
                    .label(*index)
                    .map(|label| self.describe_task(&label))
                    .unwrap_or_else(|| "a finished task".into());
                let _ = write!(message, "\n    {task}{}", self.describe_wait(*index));
            }
        }
        if live > primaries.len() {
            let never = live - primaries.len();
            let _ = write!(
                message,
                "\n  - {never} primary future{} never polled: did you forget `.spawn()`?",
                if never == 1 { " was" } else { "s were" }
            );
        }
        if !primaries.is_empty() {
            message.push_str(
                "\nEach blocked task waits for something nothing can provide any more (a packet \
             nobody sends, a lock or channel nobody releases or fills). A server loop that \
             never ends should not be `.primary()`: mark the tasks whose completion ends the \
             simulation instead.",
            );
        }
        message
    }

    /// `: waits on mutex #3 (created at src/x.rs:10:5), held by task …`,
    /// or nothing when the task's last poll named no primitive.
    fn describe_wait(&self, index: usize) -> String {
        let Some(note) = self.executor.waiting_on(index) else {
            return String::new();
        };
        let mut text = format!(
            ": waits on {} #{} (created at {})",
            note.kind, note.resource, note.site
        );
        if note.holder.is_some() {
            // A mutex has one holder: its last taker. A semaphore's or an
            // rwlock's last taker is one of its holders.
            let how = if note.kind == "mutex" {
                "held by"
            } else {
                "last taken by"
            };
            let holder = match note.holder_slot() {
                Some(slot) if slot == index => "this task itself".to_string(),
                Some(slot) => self
                    .executor
                    .label(slot)
                    .map(|label| self.describe_task(&label))
                    .unwrap_or_else(|| "a finished task".into()),
                None => "code outside any task".to_string(),
            };
            let _ = write!(text, ", {how} {holder}");
        }
        text
    }

    /// A cycle of blocked tasks each waiting on a primitive the next one
    /// holds (slots, in order, the first waiting on the second …), if any.
    fn wait_cycle(&self, blocked: &[(usize, TaskLabel)]) -> Option<Vec<usize>> {
        let waits_for = |index: usize| -> Vec<usize> {
            self.executor
                .waiting_on(index)
                .and_then(|note| note.holder_slot())
                .into_iter()
                .collect()
        };
        let is_blocked = |index: usize| blocked.iter().any(|(slot, _)| *slot == index);
        for (start, _) in blocked {
            // Depth-first along wait-for edges, looking for a way back.
            let mut path = vec![*start];
            let mut next = vec![waits_for(*start)];
            while let Some(options) = next.last_mut() {
                match options.pop() {
                    Some(holder) if holder == *start => return Some(path),
                    Some(holder) if is_blocked(holder) && !path.contains(&holder) => {
                        path.push(holder);
                        next.push(waits_for(holder));
                    }
                    Some(_) => {}
                    None => {
                        path.pop();
                        next.pop();
                    }
                }
            }
        }
        None
    }

    pub(crate) fn runaway_message(&self, next: u64) -> String {
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

    pub(crate) fn time_limit_message(&self, next: u64) -> String {
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

    pub(crate) fn teardown(&self) {
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

/// Why a run stopped early.
pub(crate) enum Stop {
    Failed,
    Deadlock,
    TimeLimit(u64),
    /// No primary task, no time limit, and still busy at `IDLE_RUN_LIMIT`.
    Runaway(u64),
}

/// How long a simulation without primary tasks and without a time limit may
/// run before it is stopped as a runaway: one simulated day.
pub(crate) const IDLE_RUN_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
