//! Hosting processes on tasks: the per-simulation registry, the host task
//! of each process, handler invocation and the application of actions.
//!
//! Each process is one task on its node (named after the process) owning a
//! [`UdpSocket`] bound to the process's port: `7000 + n` for the node's
//! `n`-th process (counting every process ever added there). The task waits
//! for three things only: same-node messages pushed to its inbox, datagrams
//! on its socket, and its earliest named timer (one [`Sleep`], re-armed as
//! timers change). A datagram that arrives while nothing is queued on the
//! socket does not wait for the task: the network hands it to [`receive`],
//! which runs the handler at once, as the task would on its next poll (a
//! message that finds same-node messages waiting joins them in the inbox,
//! so the order the task would take them in holds). Exploring
//! interleavings, the task receives every datagram itself, as a step.
//! The registry never holds a borrow while user code runs: a handler gets
//! the process box taken out of its slot and put back after.

use super::{
    context::Action,
    message::{self, Envelope, Message},
    Context, Process, ProcessEvent, ProcessEventKind,
};
use crate::{
    executor::TaskId,
    group::table::GroupId,
    net::payload::Payload,
    net::{socket::ProcessPort, state::Received, UdpSocket},
    runtime::{context, Inner, TimerEvent},
    time::timers::Key,
    trace::recorder::RawKind,
};
use std::{
    any::Any,
    collections::{BTreeMap, VecDeque},
    future::poll_fn,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
    rc::Rc,
    task::{Poll, Waker},
    time::Duration,
};

/// The first port of a node's processes.
pub(crate) const FIRST_PORT: u16 = 7000;

/// [`Process`] plus downcasting, for `Simulation::process`, and copying,
/// for model-checking checkpoints.
pub(crate) trait ProcessAny: Process {
    fn as_any(&self) -> &dyn Any;
    fn clone_any(&self) -> Option<Box<dyn ProcessAny>>;
}

impl<P: Process> ProcessAny for P {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_any(&self) -> Option<Box<dyn ProcessAny>> {
        self.clone_process()
            .map(|copy| Box::new(copy) as Box<dyn ProcessAny>)
    }
}

/// Every process of one simulation, by slot (slots are never reused).
#[derive(Default)]
pub(crate) struct Registry {
    /// The current incarnation of each name.
    pub(crate) by_name: BTreeMap<Rc<str>, usize>,
    pub(crate) slots: Vec<Slot>,
    /// Processes ever added per node (for ports).
    ports: BTreeMap<GroupId, u16>,
    /// Processes ever added: a context's remembered receiver is valid
    /// while this is unchanged.
    adds: Rc<std::cell::Cell<u64>>,
    /// Keep a per-process event log (off by default: memory stays flat).
    pub(crate) record_events: bool,
    /// Messages sent between processes (same node or not).
    pub(crate) messages: u64,
    /// Bytes of tip and data of those messages.
    pub(crate) traffic: u64,
    /// A copy of the message being handled, for a panic report.
    handling: Message,
    /// Spare envelope boxes: every message sent over the network takes
    /// one, every message received gives it back (boxes, not values: the
    /// network moves the box, so a reused one costs no allocation).
    #[allow(clippy::vec_box)]
    envelopes: Vec<Box<Envelope>>,
}

thread_local! {
    /// The receive buffer host tasks borrow while polled: one per thread,
    /// kept across simulations, so a model checker that builds thousands of
    /// short simulations does not allocate and zero 64 KiB for each. Its
    /// contents never matter: a datagram is copied in before it is read.
    static RECV_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

pub(crate) struct Slot {
    pub(crate) name: Rc<str>,
    pub(crate) node: Rc<str>,
    pub(crate) group: GroupId,
    /// Its UDP port on its node.
    udp_port: u16,
    /// Its node in the network.
    net_node: bach_net::NodeId,
    /// `None` only while one of its handlers runs.
    pub(crate) process: Option<Box<dyn ProcessAny>>,
    /// False once its task is gone (node crashed).
    pub(crate) alive: bool,
    inbox: VecDeque<(Rc<str>, Message)>,
    /// Active timers: name → (deadline, order of setting).
    timers: BTreeMap<String, (u64, u64)>,
    timer_seq: u64,
    pub(crate) local_outbox: Vec<Message>,
    waker: Option<Waker>,
    /// The queue entry waking the host at its earliest named timer, and
    /// that deadline. Kept here, not in the host task, so that the task
    /// holds no state between polls (model-checking checkpoints copy and
    /// restore slots, never tasks).
    timer: Option<(Key, u64)>,
    /// Its socket (while `alive`: a crash drops the socket with the task).
    socket: ProcessPort,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) log: Vec<ProcessEvent>,
    /// The context handed to each handler (`None` only while one runs).
    /// Boxed: handing it over moves a pointer, not the context.
    context: Option<Box<Context>>,
    /// Its host task's executor slot and id (`None` until spawned).
    task: Option<(usize, TaskId)>,
}

impl Slot {
    fn earliest_timer(&self) -> Option<(u64, &str)> {
        self.timers
            .iter()
            .min_by_key(|(_, &(deadline, seq))| (deadline, seq))
            .map(|(name, &(deadline, _))| (deadline, name.as_str()))
    }
}

/// Adds every process's state to a model-checking fingerprint: name,
/// whether it is alive, `state()`, local outbox and named timers relative
/// to `now`, in name order.
pub(crate) fn fingerprint(inner: &Inner, now: u64, hasher: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    let reg = registry(inner);
    for (name, &id) in &reg.by_name {
        let slot = &reg.slots[id];
        name.hash(hasher);
        slot.alive.hash(hasher);
        slot.process.as_ref().and_then(|p| p.state()).hash(hasher);
        slot.local_outbox.hash(hasher);
        for (timer, &(deadline, _)) in &slot.timers {
            (timer, deadline.saturating_sub(now)).hash(hasher);
        }
    }
}

/// Every slot's state, saved by [`Registry::save`].
pub(crate) struct Saved {
    slots: Vec<SavedSlot>,
    messages: u64,
    traffic: u64,
}

struct SavedSlot {
    process: Box<dyn ProcessAny>,
    alive: bool,
    inbox: VecDeque<(Rc<str>, Message)>,
    timers: BTreeMap<String, (u64, u64)>,
    timer_seq: u64,
    local_outbox: Vec<Message>,
    waker: Option<Waker>,
    timer: Option<(Key, u64)>,
    sent: u64,
    received: u64,
    log_len: usize,
}

impl Registry {
    /// A copy of every process and its slot, for [`Registry::restore`]
    /// (model-checking checkpoints). `None` if a process does not copy
    /// itself ([`Process::clone_process`]).
    pub(crate) fn save(&self) -> Option<Saved> {
        let slots = self
            .slots
            .iter()
            .map(|slot| {
                Some(SavedSlot {
                    process: slot.process.as_ref()?.clone_any()?,
                    alive: slot.alive,
                    inbox: slot.inbox.clone(),
                    timers: slot.timers.clone(),
                    timer_seq: slot.timer_seq,
                    local_outbox: slot.local_outbox.clone(),
                    waker: slot.waker.clone(),
                    timer: slot.timer,
                    sent: slot.sent,
                    received: slot.received,
                    log_len: slot.log.len(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Saved {
            slots,
            messages: self.messages,
            traffic: self.traffic,
        })
    }

    /// Puts every slot back as [`Registry::save`] found it (with fresh
    /// copies of the saved processes, so the save can be restored again).
    /// `false` if processes were added since.
    pub(crate) fn restore(&mut self, saved: &Saved) -> bool {
        if self.slots.len() != saved.slots.len() {
            return false;
        }
        for (slot, saved) in self.slots.iter_mut().zip(&saved.slots) {
            slot.process = Some(
                saved
                    .process
                    .clone_any()
                    .expect("a process that copied itself once copies itself again"),
            );
            slot.alive = saved.alive;
            slot.inbox.clone_from(&saved.inbox);
            slot.timers.clone_from(&saved.timers);
            slot.timer_seq = saved.timer_seq;
            slot.local_outbox.clone_from(&saved.local_outbox);
            slot.waker.clone_from(&saved.waker);
            slot.timer = saved.timer;
            slot.sent = saved.sent;
            slot.received = saved.received;
            slot.log.truncate(saved.log_len);
        }
        self.messages = saved.messages;
        self.traffic = saved.traffic;
        true
    }
}

pub(crate) fn registry(inner: &Inner) -> std::cell::RefMut<'_, Registry> {
    inner
        .processes
        .try_borrow_mut()
        .expect("the process registry is not borrowed while user code runs")
}

/// Adds `process` as `name` on `node`, runs `on_start`, applies its actions.
pub(crate) fn add(inner: &Inner, name: &str, node: &str, process: Box<dyn ProcessAny>) -> usize {
    let group = inner.groups.borrow_mut().intern(node);
    let id = {
        let mut reg = registry(inner);
        if let Some(&old) = reg.by_name.get(name) {
            assert!(
                !reg.slots[old].alive,
                "add_process: a process named `{name}` already runs (on node `{}`)",
                reg.slots[old].node
            );
        }
        let port = {
            let next = reg.ports.entry(group).or_insert(0);
            let port = FIRST_PORT
                .checked_add(*next)
                .unwrap_or_else(|| panic!("add_process: node `{node}` ran out of process ports"));
            *next += 1;
            port
        };
        let id = reg.slots.len();
        let previous = inner.current_group.replace(group);
        let bound = futures::FutureExt::now_or_never(UdpSocket::bind(("0.0.0.0", port)));
        inner.current_group.set(previous);
        let socket = match bound {
            Some(Ok(socket)) => Rc::new(socket),
            Some(Err(error)) => panic!(
                "add_process: cannot bind process `{name}` to port {port} on node `{node}`: {error}"
            ),
            None => unreachable!("binding a UDP socket completes at once"),
        };
        let net_node = crate::net::state::node_of_group(inner, group)
            .expect("a node with a bound socket is in the network");
        let name: Rc<str> = name.into();
        let adds = reg.adds.clone();
        let socket_ref = socket.serve_process(inner, id);
        reg.slots.push(Slot {
            name: name.clone(),
            node: node.into(),
            group,
            udp_port: port,
            net_node,
            process: Some(process),
            alive: true,
            inbox: VecDeque::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            local_outbox: Vec::new(),
            waker: None,
            timer: None,
            socket: socket_ref,
            sent: 0,
            received: 0,
            log: Vec::new(),
            context: Some(Box::new(Context::new(
                name.clone(),
                node.into(),
                group,
                adds,
            ))),
            task: None,
        });
        reg.by_name.insert(name.clone(), id);
        reg.adds.set(reg.adds.get() + 1);
        drop(reg);
        let previous = inner.current_group.replace(group);
        let task = crate::task::spawn_in(inner, run(id, socket), Some(name));
        inner.current_group.set(previous);
        registry(inner).slots[id].task = Some(task.slot());
        id
    };
    offer(inner, id, Incoming::Start);
    id
}

/// What a handler is called for.
pub(crate) enum Incoming<'a> {
    Start,
    /// A message from another process. It stays where it waits (an
    /// envelope, the inbox's entry) until the handler takes it: it moves
    /// once. `to`: the process it was sent to, checked against the
    /// receiver (`None`: delivered to it already, from its inbox).
    Message {
        from: &'a str,
        /// The sender's name as the sender shares it (an envelope's, an
        /// inbox entry's), for the inbox; `None` for a decoded datagram.
        shared_from: Option<&'a Rc<str>>,
        to: Option<&'a str>,
        msg: &'a mut Message,
    },
    Local(Message),
    Timer(&'a str),
}

/// Offers `incoming` to the handler of process slot `id`: the one way into
/// a handler, for network messages (handed over on arrival or received by
/// the host task), same-node messages (from the inbox), local messages,
/// timers and the start. It decides from the slot's state and from where it
/// is called (inside the process's own host task or not):
///
/// * a message sent to another process (an earlier incarnation's port) or
///   to a process whose node crashed is dropped;
/// * a message arriving outside the host task waits in the inbox instead
///   while same-node messages wait there (the task takes those first),
///   while a handler runs, or once the run failed;
/// * otherwise the handler runs now and its actions are applied.
///
/// A handler that panics inside the host task unwinds into the executor,
/// which reports the task; one that panics on a message handed over
/// outside the task ends the process as its task would
/// (`Inner::host_panicked`); a panic on the start or a local message
/// reaches the caller. Each report names the process and what it handled.
#[inline(always)]
pub(crate) fn offer(inner: &Inner, id: usize, mut incoming: Incoming<'_>) {
    let mut reg = registry(inner);
    let slot = &mut reg.slots[id];
    let in_task = slot
        .task
        .is_some_and(|(index, _)| inner.executor.current() == Some(index));
    let Incoming::Message {
        from,
        shared_from,
        to,
        msg,
    } = &mut incoming
    else {
        return run_handler(inner, reg, id, &mut incoming, in_task);
    };
    let name = &*slot.name;
    let addressed = to.is_none_or(|to| std::ptr::eq(name, to) || name == to);
    if !addressed || !slot.alive {
        drop(std::mem::take(*msg));
        return;
    }
    if in_task {
        return run_handler(inner, reg, id, &mut incoming, true);
    }
    if slot.process.is_none() || !slot.inbox.is_empty() || inner.has_failed() {
        // It waits behind the same-node messages its host task has yet to
        // take (or for the running handler, or for a run that ends).
        let from = shared_from.map_or_else(|| Rc::from(*from), Rc::clone);
        slot.inbox.push_back((from, std::mem::take(*msg)));
        let waker = slot.waker.take();
        drop(reg);
        if let Some(waker) = waker {
            waker.wake();
        }
        return;
    }
    let task = slot
        .task
        .expect("a process's host task is spawned when it is added");
    let tracing = inner.trace.enabled();
    if tracing {
        inner.trace.set_current(Some(task.1));
    }
    let handled = catch_unwind(AssertUnwindSafe(|| {
        run_handler(inner, reg, id, &mut incoming, false)
    }));
    if tracing {
        inner.trace.set_current(None);
    }
    if let Err(payload) = handled {
        // Nothing more reaches it before its task is cancelled.
        registry(inner).slots[id].alive = false;
        inner.host_panicked(task, payload);
    }
}

/// A handler of slot `id` panicked: the process goes back to its slot and
/// the panic goes on, naming the process and what it handled (a message as
/// copied in the registry's `handling` before it moved into the handler).
#[cold]
#[inline(never)]
fn handler_panicked(
    inner: &Inner,
    id: usize,
    process: Box<dyn ProcessAny>,
    ctx: &Context,
    incoming: &Incoming<'_>,
    payload: Box<dyn Any + Send>,
) -> ! {
    let mut reg = registry(inner);
    reg.slots[id].process = Some(process);
    let what = match incoming {
        Incoming::Start => "on_start".to_string(),
        Incoming::Message { from, .. } => {
            format!("message {} from `{from}`", reg.handling)
        }
        Incoming::Local(_) => format!("local message {}", reg.handling),
        Incoming::Timer(name) => format!("timer `{name}`"),
    };
    drop(reg);
    let message = crate::executor::join::panic_message(payload.as_ref());
    resume_unwind(Box::new(format!(
        "process `{}` panicked while handling {what}: {message}",
        ctx.name
    )))
}

/// Runs the handler of slot `id` for `incoming` (see [`offer`], the only
/// caller), then applies its actions (`reg`, the registry borrowed by the
/// caller, is released first). A message moves into the handler: the
/// registry keeps a copy of its text for a panic report, in reused buffers,
/// so a message costs no allocation. `in_task`: inside the process's own
/// host task (which re-checks its timers by itself).
#[inline(always)]
fn run_handler(
    inner: &Inner,
    mut reg: std::cell::RefMut<'_, Registry>,
    id: usize,
    incoming: &mut Incoming<'_>,
    in_task: bool,
) {
    let (mut process, mut ctx) = {
        let reg = &mut *reg;
        // A copy of a message for a panic report, in reused buffers; a
        // message from another process counts as received.
        let (message, received) = match &*incoming {
            Incoming::Message { msg, .. } => (Some(&**msg), 1),
            Incoming::Local(msg) => (Some(msg), 0),
            Incoming::Start | Incoming::Timer(_) => (None, 0),
        };
        if let Some(msg) = message {
            reg.handling.tip.clone_from(&msg.tip);
            reg.handling.data.clone_from(&msg.data);
        }
        let record = reg.record_events;
        let slot = &mut reg.slots[id];
        slot.received += received;
        let process = slot
            .process
            .take()
            .expect("a process handles one thing at a time");
        // Only a handler that panicked before leaves no context behind.
        let ctx = slot.context.take().unwrap_or_else(|| {
            Box::new(Context::new(
                slot.name.clone(),
                slot.node.clone(),
                slot.group,
                reg.adds.clone(),
            ))
        });
        if record {
            log_incoming(slot, inner.now(), incoming);
        }
        (process, ctx)
    };
    drop(reg);
    if inner.trace.enabled() {
        trace_incoming(inner, &ctx, incoming);
    }
    let previous = inner.current_group.replace(ctx.group);
    let result = catch_unwind(AssertUnwindSafe(|| match incoming {
        Incoming::Start => process.on_start(&mut ctx),
        Incoming::Message { from, msg, .. } => {
            process.on_message(std::mem::take(*msg), from, &mut ctx)
        }
        Incoming::Local(msg) => process.on_local_message(std::mem::take(msg), &mut ctx),
        Incoming::Timer(name) => process.on_timer(name, &mut ctx),
    }));
    inner.current_group.set(previous);
    if let Err(payload) = result {
        handler_panicked(inner, id, process, &ctx, incoming, payload);
    }
    apply(inner, id, &mut ctx.actions, in_task);
    // Put back after its actions (no handler runs during them; they fail
    // only on a send that cannot be made, which ends the process anyway).
    let mut reg = registry(inner);
    let slot = &mut reg.slots[id];
    slot.process = Some(process);
    slot.context = Some(ctx);
}

/// Adds what a handler is about to handle to the process's event log.
#[cold]
#[inline(never)]
fn log_incoming(slot: &mut Slot, now: u64, incoming: &Incoming<'_>) {
    let kind = match incoming {
        Incoming::Start => return,
        Incoming::Message { from, msg, .. } => ProcessEventKind::MessageReceived {
            from: from.to_string(),
            msg: (**msg).clone(),
        },
        Incoming::Local(msg) => ProcessEventKind::LocalMessageReceived(msg.clone()),
        Incoming::Timer(name) => ProcessEventKind::TimerFired(name.to_string()),
    };
    slot.log.push(ProcessEvent {
        time: Duration::from_nanos(now),
        kind,
    });
}

/// Traces what a handler is about to handle.
#[cold]
#[inline(never)]
fn trace_incoming(inner: &Inner, ctx: &Context, incoming: &Incoming<'_>) {
    let line = match incoming {
        Incoming::Start => return,
        Incoming::Message { from, msg, .. } => {
            format!("{} <-- {from}  {msg}", ctx.name)
        }
        Incoming::Local(msg) => format!("{} >>> {msg}", ctx.name),
        Incoming::Timer(timer) => format!("{} !-- timer `{timer}` fired", ctx.name),
    };
    trace(inner, ctx.group, line);
}

fn trace(inner: &Inner, group: GroupId, line: String) {
    let previous = inner.current_group.replace(group);
    inner.trace_event(RawKind::Process(line.into()));
    inner.current_group.set(previous);
}

/// Applies a handler's actions in order. `in_task`: the handler ran inside
/// the process's own task (which re-checks its timers by itself).
fn apply(inner: &Inner, id: usize, actions: &mut Vec<Action>, in_task: bool) {
    let mut wake_self = false;
    // Most handlers do one thing (a reply, a timer): no drain for it.
    if actions.len() == 1 {
        let action = actions.pop().expect("one action");
        wake_self = apply_one(inner, id, action);
    } else {
        for action in actions.drain(..) {
            wake_self |= apply_one(inner, id, action);
        }
    }
    if wake_self && !in_task {
        let waker = registry(inner).slots[id].waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Applies one action; returns whether the process's timers changed.
/// Only a send is inlined here (the usual action); the others are out of
/// line, keeping the send path small.
#[inline(always)]
fn apply_one(inner: &Inner, id: usize, action: Action) -> bool {
    match action {
        Action::Send { msg, to } => {
            send(inner, id, msg, to);
            false
        }
        Action::Local(msg) => {
            send_local(inner, id, msg);
            false
        }
        Action::SetTimer { name, delay, once } => set_timer(inner, id, name, delay, once),
        Action::CancelTimer(name) => cancel_timer(inner, id, name),
    }
}

/// Puts a local message of slot `id` in its outbox.
#[inline(never)]
fn send_local(inner: &Inner, id: usize, msg: Message) {
    if inner.trace.enabled() {
        let (name, group) = {
            let reg = registry(inner);
            (reg.slots[id].name.clone(), reg.slots[id].group)
        };
        trace(inner, group, format!("{name} <<< {msg}"));
    }
    let mut reg = registry(inner);
    let record = reg.record_events;
    let slot = &mut reg.slots[id];
    if record {
        slot.log.push(ProcessEvent {
            time: Duration::from_nanos(inner.now()),
            kind: ProcessEventKind::LocalMessageSent(msg.clone()),
        });
    }
    slot.local_outbox.push(msg);
}

/// Sets (or, with `once`, keeps) a named timer of slot `id`; returns
/// whether its timers changed.
#[inline(never)]
fn set_timer(inner: &Inner, id: usize, name: String, delay: Duration, once: bool) -> bool {
    let mut reg = registry(inner);
    let record = reg.record_events;
    let slot = &mut reg.slots[id];
    if once && slot.timers.contains_key(&name) {
        return false;
    }
    let deadline = inner
        .now()
        .saturating_add(crate::time::instant::ticks(delay));
    slot.timer_seq += 1;
    let seq = slot.timer_seq;
    if record {
        slot.log.push(ProcessEvent {
            time: Duration::from_nanos(inner.now()),
            kind: ProcessEventKind::TimerSet {
                name: name.clone(),
                delay,
            },
        });
    }
    slot.timers.insert(name, (deadline, seq));
    true
}

/// Cancels a named timer of slot `id`; returns whether it was set.
#[inline(never)]
fn cancel_timer(inner: &Inner, id: usize, name: String) -> bool {
    let mut reg = registry(inner);
    let record = reg.record_events;
    let slot = &mut reg.slots[id];
    if slot.timers.remove(&name).is_none() {
        return false;
    }
    if record {
        slot.log.push(ProcessEvent {
            time: Duration::from_nanos(inner.now()),
            kind: ProcessEventKind::TimerCancelled(name),
        });
    }
    true
}

#[inline(always)]
fn send(inner: &Inner, id: usize, msg: Message, target: usize) {
    let mut reg = registry(inner);
    let reg_ref = &mut *reg;
    reg_ref.messages += 1;
    reg_ref.traffic += msg.size() as u64;
    let to_group = reg_ref.slots[target].group;
    let slot = &mut reg_ref.slots[id];
    slot.sent += 1;
    let from_group = slot.group;
    if reg_ref.record_events || inner.trace.enabled() {
        drop(reg);
        record_send(inner, id, target, &msg);
        reg = registry(inner);
    }
    if to_group == from_group {
        // Same node: reliable and immediate (this instant).
        let from = reg.slots[id].name.clone();
        let slot = &mut reg.slots[target];
        if !slot.alive {
            return;
        }
        slot.inbox.push_back((from, msg));
        let waker = slot.waker.take();
        drop(reg);
        if let Some(waker) = waker {
            waker.wake();
        }
        return;
    }
    if !reg.slots[id].alive {
        return; // the sender's node crashed
    }
    let reg_ref = &mut *reg;
    let (sender, receiver) = (&reg_ref.slots[id], &reg_ref.slots[target]);
    let socket = sender.socket;
    let to_port = (receiver.net_node, receiver.udp_port);
    let envelope = match reg_ref.envelopes.pop() {
        Some(mut envelope) => {
            envelope.address(&sender.name, &receiver.name);
            // Every pooled envelope's message was taken out (an empty
            // `Message` owns no memory): nothing to drop.
            let taken = std::mem::replace(&mut envelope.msg, msg);
            debug_assert!(taken.data.capacity() == 0 && !taken.tip.is_heap_allocated());
            std::mem::forget(taken);
            envelope
        }
        None => Box::new(Envelope {
            from: sender.name.clone(),
            to: receiver.name.clone(),
            msg,
        }),
    };
    drop(reg);
    if let Err((error, envelope)) = socket.send_envelope(inner, envelope, to_port) {
        panic!(
            "process `{}` cannot send {} to `{}`: {error}",
            envelope.from, envelope.msg.tip, envelope.to
        );
    }
}

/// Logs and traces a message being sent (when either is on).
#[cold]
#[inline(never)]
fn record_send(inner: &Inner, id: usize, target: usize, msg: &Message) {
    let mut reg = registry(inner);
    let to = reg.slots[target].name.clone();
    if reg.record_events {
        reg.slots[id].log.push(ProcessEvent {
            time: Duration::from_nanos(inner.now()),
            kind: ProcessEventKind::MessageSent {
                to: to.to_string(),
                msg: msg.clone(),
            },
        });
    }
    let (from, group) = (reg.slots[id].name.clone(), reg.slots[id].group);
    drop(reg);
    if inner.trace.enabled() {
        trace(inner, group, format!("{from} --> {to}  {msg}"));
    }
}

/// Marks a process dead when its task goes (crash, or the end of the run).
struct AliveGuard(usize);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        context::try_with(|inner| {
            if let Some(mut reg) = inner.and_then(|inner| inner.processes.try_borrow_mut().ok()) {
                if let Some(slot) = reg.slots.get_mut(self.0) {
                    slot.alive = false;
                    slot.inbox.clear();
                    slot.timers.clear();
                    slot.waker = None;
                    if let Some((key, _)) = slot.timer.take() {
                        drop(reg);
                        if let Some(inner) = inner {
                            let cancelled = inner
                                .timers
                                .try_borrow_mut()
                                .is_ok_and(|mut timers| timers.remove(key).is_some());
                            if cancelled {
                                inner.trace_event(RawKind::TimerCancel);
                            }
                        }
                    }
                }
            }
        })
    }
}

/// The host task of slot `id`. The guard lives in the future from the
/// start, so a process whose node crashes before its first poll dies too.
fn run(id: usize, socket: Rc<UdpSocket>) -> impl std::future::Future<Output = ()> {
    let alive = AliveGuard(id);
    async move {
        let _alive = alive;
        serve(id, socket).await
    }
}

async fn serve(id: usize, socket: Rc<UdpSocket>) {
    poll_fn(|cx| {
        context::with("bach::process host", |inner| {
            serve_poll(inner, id, &socket, cx)
        })
    })
    .await
}

fn serve_poll(
    inner: &Inner,
    id: usize,
    socket: &UdpSocket,
    cx: &mut std::task::Context<'_>,
) -> Poll<()> {
    loop {
        let waiting = registry(inner).slots[id].inbox.pop_front();
        if let Some((from, mut msg)) = waiting {
            let incoming = Incoming::Message {
                from: &from,
                shared_from: Some(&from),
                to: None,
                msg: &mut msg,
            };
            offer(inner, id, incoming);
            continue;
        }
        match socket.poll_recv_envelope(inner, cx) {
            Poll::Ready(Ok(Received::Envelope(envelope))) => {
                receive(inner, id, Payload::Envelope(envelope));
                continue;
            }
            Poll::Ready(Ok(Received::Datagram)) => match receive_datagram(inner, id, socket, cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => unreachable!("a datagram is queued"),
            },
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Pending => {}
        }
        let (due, armed) = {
            let reg = registry(inner);
            let slot = &reg.slots[id];
            (
                slot.earliest_timer().map(|(deadline, _)| deadline),
                slot.timer,
            )
        };
        if let Some(deadline) = due.filter(|&deadline| inner.now() >= deadline) {
            fire_timer(inner, id, deadline, armed);
            continue;
        }
        let timer = match (armed, due) {
            (None, None) => None,
            _ => arm(inner, armed, due, cx),
        };
        let mut reg = registry(inner);
        let slot = &mut reg.slots[id];
        slot.timer = timer;
        match &slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        return Poll::Pending;
    }
}

/// A datagram for slot `id`: one that arrived at its port, handed over by
/// the network (while nothing was queued there: the process takes it at
/// once, as its host task would on its next poll, without a wake and a
/// poll), or one its host task received. A message sent as an envelope is
/// offered as it is and the envelope goes back to the registry's pool; a
/// datagram's bytes are decoded first, and one that is no message is
/// dropped, as the host task drops it.
#[inline(always)]
pub(crate) fn receive(inner: &Inner, id: usize, payload: Payload) {
    match payload {
        Payload::Envelope(mut envelope) => {
            let Envelope { from, to, msg } = &mut *envelope;
            let incoming = Incoming::Message {
                from,
                shared_from: Some(from),
                to: Some(to),
                msg,
            };
            offer(inner, id, incoming);
            // Pooled envelopes hold no message (see `send`): the handler or
            // the inbox took it, or it was dropped as not for this process.
            registry(inner).envelopes.push(envelope);
        }
        bytes => {
            receive_bytes(inner, id, bytes.as_slice());
            crate::net::state::recycle(inner, bytes);
        }
    }
}

/// [`receive`] of a datagram's bytes.
#[cold]
#[inline(never)]
fn receive_bytes(inner: &Inner, id: usize, bytes: &[u8]) {
    if let Some(decoded) = message::decode(bytes) {
        let (from, to, mut msg) = decoded.split();
        let incoming = Incoming::Message {
            from: &from,
            shared_from: None,
            to: Some(&to),
            msg: &mut msg,
        };
        offer(inner, id, incoming);
    }
}

/// Receives a datagram that is not a message as sent (another program's,
/// or a corrupted message) and hands what it decodes to to the handler.
#[cold]
#[inline(never)]
fn receive_datagram(
    inner: &Inner,
    id: usize,
    socket: &UdpSocket,
    cx: &mut std::task::Context<'_>,
) -> Poll<std::io::Result<()>> {
    // One receive buffer per thread, lent to whichever host task is
    // receiving (a nested simulation finds it taken and makes its own).
    let mut buf = RECV_BUFFER.take();
    if buf.len() < crate::net::MAX_UDP_PAYLOAD {
        buf.resize(crate::net::MAX_UDP_PAYLOAD, 0);
    }
    let received = socket.poll_recv_from(cx, &mut buf);
    if let Poll::Ready(Ok((len, _))) = received {
        receive_bytes(inner, id, &buf[..len]);
    }
    RECV_BUFFER.set(buf);
    received.map(|result| result.map(drop))
}

/// Runs the handler of the earliest named timer, due at `deadline`;
/// `armed` is the host's queue entry.
#[cold]
#[inline(never)]
fn fire_timer(inner: &Inner, id: usize, deadline: u64, armed: Option<(Key, u64)>) {
    // Due (as a `Sleep` would be: the clock reached it).
    if let Some((key, _)) = armed {
        inner.timers.borrow_mut().remove(key);
    }
    // The name is copied only when the timer fires, not on every poll
    // that merely re-checks it.
    let name = {
        let mut reg = registry(inner);
        let slot = &mut reg.slots[id];
        slot.timer = None;
        let name = slot
            .timers
            .iter()
            .min_by_key(|(_, &(deadline, seq))| (deadline, seq))
            .map(|(name, _)| name.clone())
            .expect("the due timer is still set");
        debug_assert_eq!(slot.timers[&name].0, deadline);
        slot.timers.remove(&name);
        name
    };
    offer(inner, id, Incoming::Timer(&name));
}

/// Keeps the host's queue entry at `due` (its earliest named timer, not
/// yet reached), waking the task behind `cx`: the entry `armed` is kept if
/// it is still pending at that deadline, replaced if the deadline moved,
/// cancelled if no timer is set. Returns the entry now armed.
fn arm(
    inner: &Inner,
    armed: Option<(Key, u64)>,
    due: Option<u64>,
    cx: &std::task::Context<'_>,
) -> Option<(Key, u64)> {
    let mut timers = inner.timers.borrow_mut();
    if let Some((key, at)) = armed {
        if due == Some(at) {
            if let Some(TimerEvent::Wake(waker)) = timers.value_mut(key) {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                return armed;
            }
        }
        if timers.remove(key).is_some() {
            inner.trace_event(RawKind::TimerCancel);
        }
    }
    let deadline = due?;
    let key = inner.insert_timer_in(&mut timers, deadline, TimerEvent::wake(cx));
    inner.trace_event(RawKind::TimerSet(deadline));
    Some((key, deadline))
}
