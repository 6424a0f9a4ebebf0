//! The process side of [`Simulation`]: adding processes, local messages,
//! stepping until a process reports, inspection, counters, node crashes and
//! network faults in AnySystem's vocabulary.

use super::{
    engine::{self, registry, Incoming},
    Message, Process, ProcessEvent,
};
use crate::{net::Latency, runtime::Inner, Simulation};
use std::{cell::Ref, fmt, rc::Rc, time::Duration};

/// Why a `step_until_local_message*` call gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    /// Nothing was left to do (no task ready, no timer, no packet).
    NoEvents,
    /// The step budget ran out.
    MaxSteps(usize),
    /// Simulated time reached the timeout.
    Timeout(Duration),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::NoEvents => write!(f, "no events left before a local message arrived"),
            StepError::MaxSteps(n) => write!(f, "no local message within {n} steps"),
            StepError::Timeout(t) => write!(f, "no local message within {t:?}"),
        }
    }
}

impl std::error::Error for StepError {}

#[track_caller]
fn slot_id(inner: &Inner, name: &str) -> usize {
    let names = registry(inner).names.clone();
    let by_name = names.by_name.borrow();
    match by_name.get(name) {
        Some(&id) => id,
        None => {
            let known: Vec<&str> = by_name.keys().map(|name| &**name).collect();
            panic!("there is no process `{name}` (known: {})", known.join(", "))
        }
    }
}

impl Simulation {
    /// Keeps a per-process event log (sends, receipts, local messages,
    /// timers) for [`event_log`](Self::event_log). Off by default, so that
    /// memory stays flat however many events a run has.
    pub fn record_process_events(self, on: bool) -> Self {
        self.inner.processes.borrow_mut().record_events = on;
        self
    }

    /// Adds `process` under `name` on node `node` (created if needed) and
    /// runs its `on_start` now. The process runs as a task named `name` on
    /// the node, with a UDP socket on port `7000 + n` for the node's `n`-th
    /// process. A name can be reused only once its previous process is gone
    /// (its node crashed); panics otherwise, or if the node is crashed.
    #[track_caller]
    pub fn add_process(&mut self, name: &str, node: &str, process: impl Process) {
        self.enter(|| {
            crate::runtime::context::with("Simulation::add_process", |inner| {
                engine::add(inner, name, node, Box::new(process));
            })
        })
    }

    /// [`add_process`](Self::add_process) from a factory that also
    /// re-creates the process, fresh, each time `node` restarts (by
    /// [`recover_node`](Self::recover_node), [`node::restart`](crate::node::restart)
    /// or a model checker's restart choice,
    /// [`Explorer::max_restarts`](crate::check::Explorer::max_restarts)):
    /// a process whose node crashed comes back as the factory builds it,
    /// as a real process restarts from its initial state.
    #[track_caller]
    pub fn add_process_factory<P: Process>(
        &mut self,
        name: &str,
        node: &str,
        factory: impl Fn() -> P + 'static,
    ) {
        self.add_process(name, node, factory());
        let (name, node_name): (Rc<str>, Rc<str>) = (name.into(), node.into());
        self.enter(|| {
            let node = node_name.clone();
            crate::node::on_restart(&node, move || {
                crate::runtime::context::with("Simulation::add_process_factory", |inner| {
                    engine::add(inner, &name, &node_name, Box::new(factory()));
                })
            })
        })
    }

    /// Delivers local message `msg` to `process`: its `on_local_message`
    /// runs before this returns (no step is taken); the messages it sends
    /// are on their way, timers armed. Panics for an unknown or crashed
    /// process.
    #[track_caller]
    pub fn send_local(&mut self, process: &str, msg: Message) {
        self.enter(|| send_local(process, msg))
    }

    /// Takes the local messages `process` emitted so far, oldest first.
    #[track_caller]
    pub fn read_local_messages(&mut self, process: &str) -> Vec<Message> {
        let id = slot_id(&self.inner, process);
        std::mem::take(&mut registry(&*self.inner).slots[id].local_outbox)
    }

    /// The local messages `process` emitted and nobody read yet (a copy).
    #[track_caller]
    pub fn local_outbox(&self, process: &str) -> Vec<Message> {
        let id = slot_id(&self.inner, process);
        registry(&*self.inner).slots[id].local_outbox.clone()
    }

    fn has_local(&self, id: usize) -> bool {
        has_local(&self.inner, id)
    }

    /// Steps (see [`step`](Self::step)) until `process` has emitted a local
    /// message, then takes them all ([`read_local_messages`](Self::read_local_messages)).
    /// Fails with [`StepError::NoEvents`] when nothing is left to do.
    #[track_caller]
    pub fn step_until_local_message(&mut self, process: &str) -> Result<Vec<Message>, StepError> {
        let id = slot_id(&self.inner, process);
        match self.steps_until(usize::MAX, |inner| has_local(inner, id)) {
            Some(true) => Ok(self.read_local_messages(process)),
            Some(false) => unreachable!("usize::MAX steps without the message"),
            None => Err(StepError::NoEvents),
        }
    }

    /// Like [`step_until_local_message`](Self::step_until_local_message),
    /// taking at most `max_steps` steps (0: only look). Checks before each
    /// step.
    #[track_caller]
    pub fn step_until_local_message_max_steps(
        &mut self,
        process: &str,
        max_steps: usize,
    ) -> Result<Vec<Message>, StepError> {
        let id = slot_id(&self.inner, process);
        match self.steps_until(max_steps, |inner| has_local(inner, id)) {
            Some(true) => Ok(self.read_local_messages(process)),
            Some(false) => Err(StepError::MaxSteps(max_steps)),
            None => Err(StepError::NoEvents),
        }
    }

    /// Like [`step_until_local_message`](Self::step_until_local_message),
    /// for at most `timeout` of simulated time; on timeout the clock stands
    /// exactly `timeout` after the call, as after [`run_for`](Self::run_for).
    #[track_caller]
    pub fn step_until_local_message_timeout(
        &mut self,
        process: &str,
        timeout: Duration,
    ) -> Result<Vec<Message>, StepError> {
        let id = slot_id(&self.inner, process);
        let deadline = self.now() + timeout;
        loop {
            if self.has_local(id) {
                return Ok(self.read_local_messages(process));
            }
            let ready = self.inner.executor.has_ready();
            let next_in_time = self.next_event_time().is_some_and(|next| next <= deadline);
            if !ready && !next_in_time {
                let left = deadline.saturating_duration_since(self.now());
                self.run_for(left);
                return Err(StepError::Timeout(timeout));
            }
            self.step();
        }
    }

    /// The process `name` as its concrete type, to read its fields;
    /// `None` for an unknown name or another type. Do not hold the `Ref`
    /// across a step.
    pub fn process<P: Process>(&self, name: &str) -> Option<Ref<'_, P>> {
        Ref::filter_map(self.inner.processes.borrow(), |reg| {
            let id = *reg.names.by_name.borrow().get(name)?;
            reg.slots[id].process.as_ref()?.as_any().downcast_ref::<P>()
        })
        .ok()
    }

    /// The [`state`](Process::state) of process `name` (`None` for an
    /// unknown name, or a process that reports none).
    pub fn process_state(&self, name: &str) -> Option<String> {
        let reg = self.inner.processes.borrow();
        let id = *reg.names.by_name.borrow().get(name)?;
        reg.slots[id].process.as_ref()?.state()
    }

    /// Names of the processes added, current incarnations, in name order.
    pub fn process_names(&self) -> Vec<String> {
        let names = self.inner.processes.borrow().names.clone();
        let names = names.by_name.borrow();
        names.keys().map(|name| name.to_string()).collect()
    }

    /// Messages `process` sent (to any process, delivered or not).
    #[track_caller]
    pub fn sent_message_count(&self, process: &str) -> u64 {
        let id = slot_id(&self.inner, process);
        registry(&*self.inner).slots[id].sent
    }

    /// Messages `process` received (handled), duplicates included.
    #[track_caller]
    pub fn received_message_count(&self, process: &str) -> u64 {
        let id = slot_id(&self.inner, process);
        registry(&*self.inner).slots[id].received
    }

    /// Messages sent between processes in this simulation (same-node ones
    /// included; local messages not).
    pub fn network_message_count(&self) -> u64 {
        self.inner.processes.borrow().messages
    }

    /// Bytes of tip and data of all messages sent between processes.
    pub fn traffic(&self) -> u64 {
        self.inner.processes.borrow().traffic
    }

    /// The event log of `process` (empty unless
    /// [`record_process_events`](Self::record_process_events) is on).
    #[track_caller]
    pub fn event_log(&self, process: &str) -> Vec<ProcessEvent> {
        let id = slot_id(&self.inner, process);
        registry(&*self.inner).slots[id].log.clone()
    }

    /// Crashes `node`: its processes stop at once (tasks, sockets and
    /// timers dropped), messages in flight to it are lost. See
    /// [`node::crash`](crate::node::crash).
    #[track_caller]
    pub fn crash_node(&mut self, node: &str) {
        self.crash(node)
    }

    /// Brings a crashed `node` back, *empty*: its processes do not come
    /// back on their own; re-add them with [`add_process`](Self::add_process)
    /// (as in AnySystem). Software registered with [`host`](Self::host)
    /// boots again.
    #[track_caller]
    pub fn recover_node(&mut self, node: &str) {
        self.restart(node)
    }

    fn update_links(&self, what: &str, edit: impl Fn(&mut crate::net::LinkConfig)) {
        let result = crate::net::state::borrow(&*self.inner)
            .network
            .update_all_links(edit);
        if let Err(error) = result {
            panic!("Simulation::{what}: {error}");
        }
    }

    /// Every link (default and configured ones) loses a message with
    /// probability `p`. Panics unless `0 <= p <= 1`.
    #[track_caller]
    pub fn set_drop_rate(&mut self, p: f64) {
        self.update_links("set_drop_rate", |link| link.loss_probability = p)
    }

    /// Every link delivers a message twice with probability `p`.
    #[track_caller]
    pub fn set_duplication_rate(&mut self, p: f64) {
        self.update_links("set_duplication_rate", |link| {
            link.duplicate_probability = p
        })
    }

    /// Every link corrupts a message's data with probability `p` (one bit
    /// flipped; the receiver still gets a valid [`Message`]).
    #[track_caller]
    pub fn set_corruption_rate(&mut self, p: f64) {
        self.update_links("set_corruption_rate", |link| link.corrupt_probability = p)
    }

    /// Every link delays each message uniformly in `[min, max]`, drawn per
    /// message (so messages can overtake each other).
    #[track_caller]
    pub fn set_delays(&mut self, min: Duration, max: Duration) {
        let latency = if min == max {
            Latency::Fixed(min)
        } else {
            Latency::Uniform { min, max }
        };
        self.update_links("set_delays", |link| {
            link.latency = latency;
            link.jitter = Duration::ZERO;
        })
    }

    /// Every link delays each message by exactly `delay`.
    #[track_caller]
    pub fn set_delay(&mut self, delay: Duration) {
        self.set_delays(delay, delay)
    }

    /// Disables the directed link `from -> to` (until [`reset`](Self::reset)
    /// or [`heal`](Self::heal)).
    #[track_caller]
    pub fn disable_link(&mut self, from: &str, to: &str) {
        drop(self.link(from, to).enabled(false))
    }

    /// Re-enables the directed link `from -> to`.
    #[track_caller]
    pub fn enable_link(&mut self, from: &str, to: &str) {
        drop(self.link(from, to).enabled(true))
    }

    /// Cuts both directions between the nodes of `side_a` and `side_b`
    /// (AnySystem's name for [`partition`](Self::partition)).
    #[track_caller]
    pub fn make_partition<A: AsRef<str>, B: AsRef<str>>(&mut self, side_a: &[A], side_b: &[B]) {
        self.partition(side_a, side_b)
    }

    /// Restores a perfect network: clears every fault ([`heal`](Self::heal))
    /// and puts every link back to `LinkConfig::default()`.
    pub fn reset(&mut self) {
        self.heal();
        let mut st = crate::net::state::borrow(&*self.inner);
        st.network.reset_all_links();
        st.network
            .set_default_link(crate::net::LinkConfig::default())
            .expect("the default link configuration is valid");
    }
}

/// The local messages `process` emitted and nobody read yet (a copy), from
/// inside a simulation: invariants, goals and tasks. Panics outside a
/// simulation or for an unknown process.
#[track_caller]
pub fn local_outbox(process: &str) -> Vec<Message> {
    crate::runtime::context::with("bach::process::local_outbox", |inner| {
        let id = slot_id(inner, process);
        registry(inner).slots[id].local_outbox.clone()
    })
}

/// The [`state`](Process::state) of process `name`, from inside a
/// simulation (`None` for an unknown name or a process that reports none).
#[track_caller]
pub fn state_of(name: &str) -> Option<String> {
    crate::runtime::context::with("bach::process::state_of", |inner| {
        let reg = inner.processes.borrow();
        let id = *reg.names.by_name.borrow().get(name)?;
        reg.slots[id].process.as_ref()?.state()
    })
}

/// Delivers local message `msg` to `process` from inside a simulation
/// (a task, or a model-checking stimulus); see [`Simulation::send_local`].
#[track_caller]
pub fn send_local(process: &str, msg: Message) {
    crate::runtime::context::with("bach::process::send_local", |inner| {
        let id = slot_id(inner, process);
        assert!(
            registry(inner).slots[id].alive(),
            "send_local: process `{process}` is not running (its node crashed)"
        );
        engine::offer(inner, id, Incoming::Local(msg));
    })
}

/// Whether process slot `id` has local messages nobody read yet.
fn has_local(inner: &crate::runtime::Inner, id: usize) -> bool {
    !registry(inner).slots[id].local_outbox.is_empty()
}
