//! What a handler asked for, applied after it returns: sends (same node:
//! to the inbox; other nodes: through the network), local messages, and
//! named timers set and cancelled.

use super::*;

/// Applies a handler's actions in order. `in_task`: the handler ran inside
/// the process's own task (which re-checks its timers by itself).
pub(super) fn apply(
    inner: &impl ProcessWorld,
    id: usize,
    actions: &mut Vec<Action>,
    in_task: bool,
) {
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
pub(super) fn apply_one(inner: &impl ProcessWorld, id: usize, action: Action) -> bool {
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
pub(super) fn send_local(inner: &impl ProcessWorld, id: usize, msg: Message) {
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
pub(super) fn set_timer(
    inner: &impl ProcessWorld,
    id: usize,
    name: String,
    delay: Duration,
    once: bool,
) -> bool {
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
pub(super) fn cancel_timer(inner: &impl ProcessWorld, id: usize, name: String) -> bool {
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
pub(super) fn send(inner: &impl ProcessWorld, id: usize, msg: Message, target: usize) {
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
        if !slot.alive() {
            return;
        }
        slot.inbox.push_back((from, msg));
        let waker = slot.waker.take();
        let port = slot.socket;
        drop(reg);
        port.touch_inbox(inner, waker.as_ref());
        if let Some(waker) = waker {
            waker.wake();
        }
        return;
    }
    if !reg.slots[id].alive() {
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
pub(super) fn record_send(inner: &impl ProcessWorld, id: usize, target: usize, msg: &Message) {
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
