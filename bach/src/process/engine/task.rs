//! The task of each process: it takes same-node messages from the
//! inbox, datagrams the network did not hand over, and its earliest named
//! timer, and offers each to the handler.

use super::*;
use crate::kernel::TimerEvent;
use std::marker::PhantomData;

thread_local! {
    /// The receive buffer process tasks borrow while polled: one per thread,
    /// kept across simulations, so a model checker that builds thousands of
    /// short simulations does not allocate and zero 64 KiB for each. Its
    /// contents never matter: a datagram is copied in before it is read.
    static RECV_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Closes a process's port and marks the process dead when its task goes
/// (crash, or the end of the run).
pub(super) struct AliveGuard<W: ProcessWorld> {
    id: usize,
    port: ProcessPort,
    world: PhantomData<fn(&W)>,
}

impl<W: ProcessWorld> Drop for AliveGuard<W> {
    fn drop(&mut self) {
        W::try_current(|inner| {
            if let Some(inner) = inner {
                self.port.close(inner);
            }
            if let Some(mut reg) = inner.and_then(|inner| inner.processes().try_borrow_mut().ok()) {
                if self.id < reg.slots.len() {
                    reg.set_alive(self.id, false);
                    let slot = &mut reg.slots[self.id];
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

/// The process task of slot `id`, owning its port. The guard lives in the
/// future from the start, so a process whose node crashes before its first
/// poll dies too (and its port closes).
pub(super) fn run<W: ProcessWorld>(
    id: usize,
    port: ProcessPort,
) -> impl std::future::Future<Output = ()> {
    let alive = AliveGuard::<W> {
        id,
        port,
        world: PhantomData,
    };
    async move {
        let _alive = alive;
        poll_fn(|cx| {
            W::try_current(|inner| match inner {
                Some(inner) => serve_poll(inner, id, port, cx),
                None => crate::kernel::current::outside("bach::process task"),
            })
        })
        .await
    }
}

pub(super) fn serve_poll(
    inner: &impl ProcessWorld,
    id: usize,
    socket: ProcessPort,
    cx: &mut std::task::Context<'_>,
) -> Poll<()> {
    loop {
        let waiting = registry(inner).slots[id].inbox.pop_front();
        if let Some((from, mut msg)) = waiting {
            socket.touch_inbox(inner, None);
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

/// Receives a datagram that is not a message as sent (another program's,
/// or a corrupted message) and hands what it decodes to to the handler.
#[cold]
#[inline(never)]
pub(super) fn receive_datagram(
    inner: &impl ProcessWorld,
    id: usize,
    socket: ProcessPort,
    cx: &mut std::task::Context<'_>,
) -> Poll<std::io::Result<()>> {
    // One receive buffer per thread, lent to whichever process task is
    // receiving (a nested simulation finds it taken and makes its own).
    let mut buf = RECV_BUFFER.take();
    if buf.len() < bach_net::MAX_UDP_PAYLOAD {
        buf.resize(bach_net::MAX_UDP_PAYLOAD, 0);
    }
    let received = socket.poll_recv_from(inner, cx, &mut buf);
    if let Poll::Ready(Ok((len, _))) = received {
        receive_bytes(inner, id, &buf[..len]);
    }
    RECV_BUFFER.set(buf);
    received.map(|result| result.map(drop))
}

/// Runs the handler of the earliest named timer, due at `deadline`;
/// `armed` is the task's queue entry.
#[cold]
#[inline(never)]
pub(super) fn fire_timer(
    inner: &impl ProcessWorld,
    id: usize,
    deadline: u64,
    armed: Option<(TimerKey, u64)>,
) {
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

/// Keeps the task's queue entry at `due` (its earliest named timer, not
/// yet reached), waking the task behind `cx`: the entry `armed` is kept if
/// it is still pending at that deadline, replaced if the deadline moved,
/// cancelled if no timer is set. Returns the entry now armed.
pub(super) fn arm(
    inner: &impl ProcessWorld,
    armed: Option<(TimerKey, u64)>,
    due: Option<u64>,
    cx: &std::task::Context<'_>,
) -> Option<(TimerKey, u64)> {
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
