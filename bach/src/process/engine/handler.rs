//! The one way into a handler ([`offer`]): network messages (handed over
//! by the run loop on arrival, or received by the process task), same-node
//! messages from the inbox, local messages, timers and the start.

use super::*;

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
/// the process task), same-node messages (from the inbox), local messages,
/// timers and the start. It decides from the slot's state and from where it
/// is called (inside the process's own task or not):
///
/// * a message sent to another process (an earlier incarnation's port) or
///   to a process whose node crashed is dropped;
/// * a message arriving outside the process task waits in the inbox instead
///   while same-node messages wait there (the task takes those first),
///   while a handler runs, or once the run failed;
/// * otherwise the handler runs now and its actions are applied.
///
/// A handler that panics inside the process task unwinds into the executor,
/// which reports the task; one that panics on a message handed over
/// outside the task ends the process as its task would
/// (`Inner::process_panicked`); a panic on the start or a local message
/// reaches the caller. Each report names the process and what it handled.
#[inline(always)]
pub(crate) fn offer(inner: &impl ProcessWorld, id: usize, mut incoming: Incoming<'_>) {
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
    if !addressed || !slot.alive() {
        drop(std::mem::take(*msg));
        return;
    }
    if in_task {
        return run_handler(inner, reg, id, &mut incoming, true);
    }
    if slot.process.is_none() || !slot.inbox.is_empty() || inner.has_failed() {
        // It waits behind the same-node messages its task has yet to
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
        .expect("a process's task is spawned when it is added");
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
        registry(inner).set_alive(id, false);
        inner.process_panicked(task, payload);
    }
}

/// A handler of slot `id` panicked: the process goes back to its slot and
/// the panic goes on, naming the process and what it handled (a message as
/// copied in the registry's `handling` before it moved into the handler).
#[cold]
#[inline(never)]
pub(super) fn handler_panicked(
    inner: &impl ProcessWorld,
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
/// process task (which re-checks its timers by itself).
#[inline(always)]
pub(super) fn run_handler(
    inner: &impl ProcessWorld,
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
                reg.names.clone(),
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
pub(super) fn log_incoming(slot: &mut Slot, now: u64, incoming: &Incoming<'_>) {
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
pub(super) fn trace_incoming(inner: &impl ProcessWorld, ctx: &Context, incoming: &Incoming<'_>) {
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

pub(super) fn trace(inner: &impl ProcessWorld, group: GroupId, line: String) {
    let previous = inner.current_group.replace(group);
    inner.trace_event(RawKind::Process(line.into()));
    inner.current_group.set(previous);
}

/// A datagram for slot `id`: one that arrived at its port, handed over by
/// the network (while nothing was queued there: the process takes it at
/// once, as its task would on its next poll, without a wake and a
/// poll), or one its task received. A message sent as an envelope is
/// offered as it is and the envelope goes back to the registry's pool; a
/// datagram's bytes are decoded first, and one that is no message is
/// dropped, as the process task drops it.
#[inline(always)]
pub(crate) fn receive(inner: &impl ProcessWorld, id: usize, payload: Payload) {
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
pub(super) fn receive_bytes(inner: &impl ProcessWorld, id: usize, bytes: &[u8]) {
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
