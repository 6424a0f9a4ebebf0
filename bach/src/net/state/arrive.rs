//! Arrival: the one way a packet leaves the network ([`arrive`]), batch by
//! batch ([`deliver`]), to its socket or returned as a process's.

use super::*;

/// The arrivals of one batch, delivered in order by [`deliver`].
pub(crate) struct Arrivals {
    head: u32,
    /// The batch's key list in [`State::batch_lists`] (for a batch of more
    /// than one packet), and how many of its packets arrived.
    list: u32,
    next: u32,
    stage: Stage,
    /// Set by [`deliver`] as it returns a packet: every packet arrived and
    /// none waits in [`State::handovers`].
    finished: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Nothing delivered yet.
    Due,
    /// Delivering the batch's key list.
    Listed,
    /// Every packet arrived; hand-overs may still wait.
    Arrived,
}

impl Arrivals {
    /// Whether every packet arrived and none waits to be handed over: the
    /// caller need not call [`deliver`] again (the usual batch of one
    /// packet for a process ends so).
    #[inline(always)]
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }
}

impl Arrivals {
    /// The arrival batch headed by packet `head`, due now (the run loop
    /// fires its `TimerEvent::Deliver(head)`).
    #[inline(always)]
    pub(crate) fn new(head: u32) -> Self {
        Arrivals {
            head,
            list: NONE,
            next: 0,
            stage: Stage::Due,
            finished: false,
        }
    }

    /// The key of the batch's next packet, `None` once all arrived.
    #[inline(always)]
    pub(super) fn next_key(&mut self, st: &mut State) -> Option<u32> {
        match self.stage {
            Stage::Due => {
                st.scheduled -= 1;
                if st.batch.is_some_and(|batch| batch.head == self.head) {
                    st.batch = None;
                }
                let list = st.packets.get(self.head).batch_list();
                if list == NONE {
                    self.stage = Stage::Arrived;
                    return Some(self.head);
                }
                self.list = list;
                self.stage = Stage::Listed;
                self.next_listed(st)
            }
            Stage::Listed => self.next_listed(st),
            Stage::Arrived => None,
        }
    }

    #[inline(never)]
    pub(super) fn next_listed(&mut self, st: &mut State) -> Option<u32> {
        // The list stays in its slab slot while the batch arrives: nothing
        // joins it (the batch is no longer the newest, see `next_key`).
        let keys = &st.batch_lists[self.list as usize];
        let Some(&key) = keys.get(self.next as usize) else {
            let mut keys = st.batch_lists.remove(self.list as usize);
            keys.clear();
            st.spare_lists.push(keys);
            self.stage = Stage::Arrived;
            return None;
        };
        if let Some(&ahead) = keys.get(self.next as usize + DELIVER_AHEAD) {
            st.packets.prefetch(ahead);
        }
        self.next += 1;
        Some(key)
    }
}

/// Delivers the packets of an arrival batch ([`Arrivals`]) in order, until
/// one is for a process that takes it at once: that one is returned, with
/// the network state released, as the process's registry slot and the
/// payload, for the caller (the run loop) to hand to the process engine;
/// then the caller calls again, until `None`. The network never calls the
/// process engine. A monitor that panics ends the delivery and fails the
/// run.
#[inline(always)]
pub(crate) fn deliver(inner: &impl NetWorld, arrivals: &mut Arrivals) -> Option<(usize, Payload)> {
    let now = inner.now();
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    let (process, key) = loop {
        // Copies a monitor added, or a packet behind them, come first.
        if let Some(waiting) = st.handovers.pop_front() {
            break waiting;
        }
        let key = arrivals.next_key(st)?;
        st.packets.in_flight -= 1;
        match arrive(inner, st, now, key) {
            Ok(None) => {}
            // The usual case for a process: one message, handed over.
            Ok(Some(process)) if st.handovers.is_empty() => break (process, key),
            Ok(Some(process)) => st.handovers.push_back((process, key)),
            Err(message) => {
                drop(state);
                inner.fail(message);
                return None;
            }
        }
    };
    arrivals.finished = arrivals.stage == Stage::Arrived && st.handovers.is_empty();
    Some((process as usize, st.packets.take_payload(key)))
}

/// Takes back the payload of a packet handed over (see [`deliver`]).
pub(crate) fn recycle(inner: &impl NetWorld, payload: Payload) {
    borrow_existing(inner).pool.recycle(payload);
}

/// Makes the socket behind `handle` the port of process `host` (its
/// registry slot): see [`arrive`].
pub(crate) fn serve_process(inner: &impl NetWorld, handle: Handle, process: usize) {
    let process = u32::try_from(process)
        .ok()
        .filter(|&process| process != NO_PROCESS)
        .expect("fewer than 2^32 - 1 processes");
    if let Ok(socket) = borrow(inner).socket(handle) {
        socket.process = process;
    }
}

/// Packet `key` arrives at `now`: the one way a packet leaves the network.
/// While nothing observes arrivals and none of their checks can fail
/// ([`State::unwatched_arrivals`]) it goes straight to its socket;
/// otherwise [`arrive_checked`] checks the receiver and asks the monitors
/// first. It ends queued at its socket (its receivers woken), returned as
/// a process's (`Ok(Some(slot))`: the caller hands it over once the state
/// is released), or dropped with its reason (counted, captured, logged);
/// `Err` with the failure message if a monitor panicked.
#[inline(always)]
pub(super) fn arrive(
    inner: &impl NetWorld,
    st: &mut State,
    now: u64,
    key: u32,
) -> Result<Option<u32>, String> {
    if st.unwatched_arrivals() {
        return Ok(reach_socket(inner, st, now, key, true));
    }
    arrive_checked(inner, st, now, key)
}

/// The general part of [`arrive`]: the receiver's node, the monitors,
/// then the socket. Out of line: [`arrive`]'s unwatched step stays small.
#[inline(never)]
pub(super) fn arrive_checked(
    inner: &impl NetWorld,
    st: &mut State,
    now: u64,
    key: u32,
) -> Result<Option<u32>, String> {
    let packet = st.packets.get(key);
    let (to, received) = (packet.to, packet.has(RECEIVED));
    if st.network.is_disconnected(to) {
        drop_on_arrival(st, now, key, DropReason::ReceiverDisconnected);
        return Ok(None);
    }
    if !received && !st.monitors.is_empty() {
        let packet = st.packets.get_mut(key);
        packet.set(RECEIVED);
        st.pool.materialize(&mut packet.payload);
        let verdict = st
            .consult_monitors(now, Viewed::Arriving(key))
            .map_err(|panic| monitor_panicked(inner, now, "receiving", panic))?;
        if verdict.drop {
            drop_on_arrival(st, now, key, DropReason::Monitor);
            return Ok(None);
        }
        let packet = st.packets.get_mut(key);
        if verdict.corrupt {
            bach_net::corrupt(packet.payload.as_mut_slice(), &mut choices(inner));
            packet.set(CORRUPTED);
        }
        packet.delayed = packet.delayed.saturating_add(verdict.delay);
        for _ in 0..verdict.extra {
            let original = st.packets.get(key);
            let payload = st.pool.payload(original.payload.as_slice());
            let flags = flags(true, original.has(CORRUPTED), true, true);
            let copy = Packet::new(
                &Head::of(now, original),
                payload,
                original.departs,
                original.delayed,
                flags,
            );
            let copy = st.packets.insert(copy);
            if verdict.delay > 0 {
                schedule(inner, st, now.saturating_add(verdict.delay), copy);
            } else {
                if let Some(process) = reach_socket(inner, st, now, copy, false) {
                    st.handovers.push_back((process, copy));
                }
            }
        }
        if verdict.delay > 0 {
            reschedule(inner, st, now.saturating_add(verdict.delay), key);
            return Ok(None);
        }
    }
    Ok(reach_socket(inner, st, now, key, false))
}

/// Queues an arrived packet on its socket, or drops it; or, if it is for a
/// process that takes it at once, returns the process (its registry slot),
/// for the caller to hand the packet to once the state is released.
/// `unwatched`: [`State::unwatched_arrivals`] holds, so no node is down or
/// crashed and nothing records the arrival.
#[inline(always)]
pub(super) fn reach_socket(
    kernel: &Kernel,
    st: &mut State,
    now: u64,
    key: u32,
    unwatched: bool,
) -> Option<u32> {
    let packet = st.packets.get(key);
    let (from, to, src_port, dst_port) = (packet.from, packet.to, packet.src_port, packet.dst_port);
    if !unwatched && (st.is_down(to) || st.sender_crashed_first(from, packet.id, packet.departs)) {
        drop_on_arrival(st, now, key, DropReason::NodeDown);
        return None;
    }
    let Some(socket_key) = st.ports[to.index()].get(dst_port) else {
        drop_on_arrival(st, now, key, DropReason::NoSocket);
        return None;
    };
    let socket = &mut st.sockets[socket_key as usize];
    if let Some((node, port, _)) = socket.peer {
        if (node, port) != (from, src_port) {
            drop_on_arrival(st, now, key, DropReason::NoSocket);
            return None;
        }
    }
    let len = |packets: &Packets| packets.get(key).payload.len();
    if !socket.queue.is_empty() && socket.queued_bytes + len(&st.packets) > socket.capacity_bytes {
        drop_on_arrival(st, now, key, DropReason::ReceiveBufferFull);
        return None;
    }
    let mut handover = None;
    if socket.process != NO_PROCESS && socket.queue.is_empty() && !st.exploring {
        // A process takes it at once, as its task would on its next
        // poll (it only waits for its port when nothing is queued).
        // Exploring interleavings, the process task receives it, as a step.
        handover = Some(socket.process);
    } else {
        socket.queued_bytes += len(&st.packets);
        socket.queue.push_back(key);
        wake_receivers(kernel, st, socket_key, (to, dst_port));
    }
    st.network.record_delivered(to);
    if unwatched {
        return handover;
    }
    if st.capture.is_on() {
        capture_ingress(st, now, key);
    }
    if st.log.is_some() || st.trace.enabled() {
        let event = arrival_event(now, st.packets.get(key), PacketFate::Delivered);
        st.log(|| event);
    }
    handover
}

/// Records a delivered packet arriving at its node (capture is on).
#[cold]
#[inline(never)]
pub(super) fn capture_ingress(st: &mut State, now: u64, key: u32) {
    let packet = st.packets.get_mut(key);
    st.pool.materialize(&mut packet.payload);
    let packet = st.packets.get(key);
    let (from, to, src_port, dst_port) = (packet.from, packet.to, packet.src_port, packet.dst_port);
    let note = Note {
        dropped: None,
        duplicated: packet.has(DUPLICATE),
        corrupted: packet.has(CORRUPTED),
        monitor_copy: packet.has(MONITOR_COPY),
        delayed: packet.delayed,
    };
    let record = Record {
        node: to,
        at: now,
        direction: Direction::Ingress,
        src: st.addr(from, src_port),
        dst: st.addr(to, dst_port),
        id: packet.id,
        payload: packet.payload.as_slice(),
        note,
    };
    st.capture.record(st.network.nodes(), &record);
}

/// Wakes the tasks waiting on socket `socket_key` (at `to:port`) for a
/// datagram.
#[inline]
pub(super) fn wake_receivers(
    kernel: &Kernel,
    st: &mut State,
    socket_key: u32,
    (to, port): (NodeId, u16),
) {
    let socket = &mut st.sockets[socket_key as usize];
    if st.exploring && !socket.waiters.is_empty() {
        // The woken receivers' next step touches this endpoint.
        let endpoint = crate::kernel::interleave::endpoint(st.addr(to, port));
        let socket = &mut st.sockets[socket_key as usize];
        for waiter in socket.waiters.drain(..) {
            kernel.interleave.woke_key(kernel, endpoint, &waiter);
            waiter.wake();
        }
    } else if socket.waiters.len() == 1 {
        // The usual case: one receiver waits.
        if let Some(waiter) = socket.waiters.pop() {
            waiter.wake();
        }
    } else {
        for waiter in socket.waiters.drain(..) {
            waiter.wake();
        }
    }
}

pub(super) fn drop_on_arrival(st: &mut State, now: u64, key: u32, reason: DropReason) {
    let mut packet = st.packets.remove(key);
    st.network.record_drop(packet.from, packet.to, reason);
    if st.capture.is_on() {
        st.pool.materialize(&mut packet.payload);
        let note = Note {
            dropped: Some(reason),
            ..Note::default()
        };
        st.capture_record(
            now,
            Direction::Ingress,
            (packet.from, packet.src_port),
            (packet.to, packet.dst_port),
            packet.id,
            packet.payload.as_slice(),
            note,
        );
    }
    st.log(|| arrival_event(now, &packet, PacketFate::Dropped(reason)));
    st.pool.recycle(packet.payload);
}

pub(super) fn arrival_event(now: u64, packet: &Packet, fate: PacketFate) -> RawEvent {
    RawEvent {
        time: now,
        id: packet.id,
        from: packet.from.as_u32(),
        to: packet.to.as_u32(),
        src_port: packet.src_port,
        dst_port: packet.dst_port,
        len: packet.payload.len() as u32,
        fate,
        duplicate: packet.has(DUPLICATE),
        corrupted: packet.has(CORRUPTED),
    }
}
