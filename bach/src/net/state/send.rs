//! Sending: the one way a datagram enters the network ([`send`]), from
//! admission to the stored copies and their scheduled arrival.

use super::*;

/// A packet as a monitor is shown it (see [`State::view`]).
#[derive(Clone, Copy)]
pub(super) enum Viewed<'a> {
    /// Leaving its socket: the datagram and its bytes.
    Leaving(&'a Head, &'a [u8]),
    /// Arriving: the stored packet with this key.
    Arriving(u32),
}

/// Where a send goes: an address to route, or a node known already.
#[derive(Clone, Copy)]
pub(crate) enum Destination {
    Addr(SocketAddr),
    Node(NodeId, u16),
}

/// What a send carries.
pub(crate) enum Source<'a> {
    /// The caller's bytes, copied into each stored copy.
    Bytes(&'a [u8]),
    /// A process message, moved into the last stored copy (earlier ones
    /// get clones); `None` once moved.
    Envelope(Option<Box<Envelope>>),
}

impl Source<'_> {
    /// The message of a send that failed (a failed send stores no copy,
    /// so it is still here).
    pub(crate) fn into_envelope(self) -> Box<Envelope> {
        match self {
            Source::Envelope(Some(envelope)) => envelope,
            _ => unreachable!("a failed send stores no copy of its message"),
        }
    }

    // Always: left out of line it costs process_pingpong 20 instructions
    // per message (callgrind).
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        match self {
            Source::Bytes(bytes) => bytes.len(),
            Source::Envelope(Some(envelope)) => envelope.wire_len(),
            Source::Envelope(None) => 0,
        }
    }

    /// Runs `f` on the datagram's bytes (an envelope is written out for
    /// it: only a capture or a monitor asks).
    pub(super) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Source::Bytes(bytes) => f(bytes),
            Source::Envelope(envelope) => envelope
                .as_ref()
                .expect("the bytes are read before the last copy is stored")
                .with_datagram(f),
        }
    }

    /// The payload of one stored copy, filled; `last`: no other copy
    /// follows.
    #[inline(always)]
    pub(super) fn payload(&mut self, pool: &mut Pool, last: bool) -> Payload {
        match self {
            Source::Bytes(bytes) => {
                let mut payload = pool.payload_for(bytes);
                payload.fill(bytes);
                payload
            }
            Source::Envelope(envelope) => Payload::Envelope(match last {
                true => envelope
                    .take()
                    .expect("an envelope is stored once as the last copy"),
                false => envelope.clone().expect("copies come before the last one"),
            }),
        }
    }
}

/// Sends a datagram from the socket behind `handle` to `dst`: the one way
/// a packet enters the network, for sockets' sends and process messages
/// alike. In order:
///
/// 1. while model checking, a process message is sent as its datagram's
///    bytes ([`send_as_bytes`]: checkpoints copy and hash the packets in
///    flight, which bytes make cheaper than messages);
/// 2. **admit**: the sending socket, the route to the receiving node, the
///    length, and the packet's id (taken here, given back if the send
///    fails);
/// 3. **decide**: while nothing observes packets ([`State::unwatched`]) a
///    send over a quiet network is decided in one step
///    ([`Network::send_quiet_nanos`], the first step of the link model's
///    own decision); otherwise the general path ([`send_observed`]) asks
///    the monitors, records the capture and the log, and decides each copy
///    through the link model;
/// 4. **store**: each copy becomes a [`Packet`] ([`Packet::new`]),
///    scheduled to arrive ([`store`]).
///
/// Fails with `NotConnected` for a closed socket, `HostUnreachable` if no
/// node has `dst`'s address and `InvalidInput` if the payload exceeds the
/// link's MTU; a failed send stores nothing, takes no packet id and leaves
/// an envelope in `source`.
#[inline(always)]
pub(crate) fn send(
    inner: &impl NetWorld,
    handle: Handle,
    source: &mut Source<'_>,
    dst: Destination,
) -> io::Result<usize> {
    let mut state = match dst {
        // A group created since the last send must be routable.
        Destination::Addr(_) => borrow(inner),
        // Both ends are nodes already.
        Destination::Node(..) => borrow_existing(inner),
    };
    if state.model_checking {
        if let Source::Envelope(Some(envelope)) = source {
            drop(state);
            return send_as_bytes(inner, handle, envelope, dst);
        }
    }
    // Admit.
    let now = inner.now();
    let st = &mut *state;
    let socket = st.socket(handle)?;
    let (from, src_port) = (socket.node, socket.port);
    let (to, dst_port) = match dst {
        Destination::Addr(dst) => (st.route(from, dst.ip())?, dst.port()),
        Destination::Node(to, port) => (to, port),
    };
    let head = Head {
        now,
        id: st.next_packet_id,
        ends: ((from, src_port), (to, dst_port)),
        len: source.len(),
    };
    st.next_packet_id += 1;
    // Decide: the quiet network's one step, when nothing observes.
    if st.unwatched() {
        match st.network.send_quiet_nanos(now, from, to, head.len) {
            Some(Ok(delivery)) => {
                let payload = source.payload(&mut st.pool, true);
                let packet = Packet::new(&head, payload, delivery.departs, 0, 0);
                store(inner, st, packet, delivery.at);
                return Ok(head.len);
            }
            Some(Err(error)) => return Err(refuse(st, &head, error)),
            None => {}
        }
    }
    send_observed(inner, state, &head, source)
}

/// A send that failed after it was admitted: its id is given back.
#[cold]
pub(super) fn refuse(st: &mut State, head: &Head, error: io::Error) -> io::Error {
    st.next_packet_id = head.id;
    error
}

/// [`send`] of a process message as its datagram's bytes (model checking).
#[cold]
#[inline(never)]
pub(super) fn send_as_bytes(
    inner: &impl NetWorld,
    handle: Handle,
    envelope: &Envelope,
    dst: Destination,
) -> io::Result<usize> {
    envelope.with_datagram(|bytes| send(inner, handle, &mut Source::Bytes(bytes), dst))
}

/// The general part of [`send`]: the monitors are asked (after the MTU
/// check, so they see only datagrams the link would carry), then each copy
/// (the original and any a monitor asked for) goes through the link model
/// ([`send_copy`]). Out of line: [`send`]'s quiet step stays small.
#[inline(never)]
pub(super) fn send_observed(
    inner: &impl NetWorld,
    mut state: RefMut<'_, State>,
    head: &Head,
    source: &mut Source<'_>,
) -> io::Result<usize> {
    let st = &mut *state;
    let ((from, _), (to, _)) = head.ends;
    if st.monitors.is_empty() {
        // One copy, nothing to consult.
        send_copy(inner, st, head, source, &Combined::default(), false, true)
            .map_err(|error| refuse(st, head, error))?;
        return Ok(head.len);
    }
    if let Err(error) = st.network.check_mtu(from, to, head.len) {
        return Err(refuse(st, head, error));
    }
    let verdict =
        source.with_bytes(|payload| st.consult_monitors(head.now, Viewed::Leaving(head, payload)));
    let verdict = match verdict {
        Ok(verdict) => verdict,
        Err(panic) => {
            // Reported as on receive: the run fails, naming the monitor.
            drop(state);
            inner.fail(monitor_panicked(inner, head.now, "sending", panic));
            return Ok(head.len);
        }
    };
    if verdict.drop {
        st.network
            .record_dropped_send(from, to, DropReason::Monitor);
        let note = Note {
            dropped: Some(DropReason::Monitor),
            ..Note::default()
        };
        head.capture(st, source, note);
        st.log(|| head.event(PacketFate::Sent, false, false));
        st.log(|| head.event(PacketFate::Dropped(DropReason::Monitor), false, false));
        return Ok(head.len);
    }
    for copy in 0..verdict.extra + 1 {
        let last = copy == verdict.extra;
        send_copy(inner, st, head, source, &verdict, copy > 0, last)?;
    }
    Ok(head.len)
}

/// How a failed run reports a monitor that panicked on `what` ("sending"
/// or "receiving") a packet.
#[cold]
pub(super) fn monitor_panicked(
    inner: &impl NetWorld,
    now: u64,
    what: &str,
    panic: Box<dyn std::any::Any + Send>,
) -> String {
    format!(
        "a network monitor panicked on {what} a packet at {} ({}): {}",
        Instant::from_nanos(now),
        inner.reproduce(),
        crate::executor::join::panic_message(panic.as_ref())
    )
}

/// What every copy of one sent datagram shares.
pub(super) struct Head {
    pub(super) now: u64,
    pub(super) id: u64,
    pub(super) ends: ((NodeId, u16), (NodeId, u16)),
    pub(super) len: usize,
}

impl Head {
    /// The datagram a stored packet is a copy of, seen at `now`.
    pub(super) fn of(now: u64, packet: &Packet) -> Head {
        Head {
            now,
            id: packet.id,
            ends: ((packet.from, packet.src_port), (packet.to, packet.dst_port)),
            len: packet.payload.len(),
        }
    }

    /// Records the datagram leaving its node, if capture is on.
    #[inline(always)]
    pub(super) fn capture(&self, st: &mut State, source: &Source<'_>, note: Note) {
        if st.capture.is_on() {
            self.capture_egress(st, source, note);
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn capture_egress(&self, st: &mut State, source: &Source<'_>, note: Note) {
        let (from, to) = self.ends;
        source.with_bytes(|payload| {
            st.capture_record(
                self.now,
                Direction::Egress,
                from,
                to,
                self.id,
                payload,
                note,
            )
        });
    }

    #[inline]
    pub(super) fn event(&self, fate: PacketFate, duplicate: bool, corrupted: bool) -> RawEvent {
        let ((from, src_port), (to, dst_port)) = self.ends;
        RawEvent {
            time: self.now,
            id: self.id,
            from: from.as_u32(),
            to: to.as_u32(),
            src_port,
            dst_port,
            len: self.len as u32,
            fate,
            duplicate,
            corrupted,
        }
    }
}

/// One copy of a datagram (the original, or an extra one a monitor asked
/// for) through the link model: dropped, or stored and scheduled, with its
/// link duplicate (and, while model checking, a possible third copy).
/// `last`: no other copy of the datagram follows this one's.
#[inline(always)]
pub(super) fn send_copy(
    inner: &impl NetWorld,
    st: &mut State,
    head: &Head,
    source: &mut Source<'_>,
    verdict: &Combined,
    monitor_copy: bool,
    last: bool,
) -> io::Result<()> {
    let ((from, _), (to, _)) = head.ends;
    let outcome = st
        .network
        .send_nanos(head.now, from, to, head.len, &mut choices(inner))?;
    st.log(|| head.event(PacketFate::Sent, monitor_copy, false));
    let (original, duplicate) = match outcome {
        SendOutcome::Dropped(reason) => {
            let note = Note {
                dropped: Some(reason),
                ..Note::default()
            };
            head.capture(st, source, note);
            st.log(|| head.event(PacketFate::Dropped(reason), monitor_copy, false));
            return Ok(());
        }
        SendOutcome::Delivered {
            original,
            duplicate,
        } => (original, duplicate),
    };
    if st.capture.is_on() {
        let note = Note {
            dropped: None,
            duplicated: duplicate.is_some(),
            corrupted: verdict.corrupt
                || original.corrupted
                || duplicate.is_some_and(|copy| copy.corrupted),
            monitor_copy,
            delayed: verdict.delay,
        };
        head.capture(st, source, note);
    }
    // Model checking, like AnySystem: a duplicated datagram may arrive a
    // third time while the duplicate budget lasts (decided before any copy
    // is stored: storing a corrupted copy draws from the choice source too).
    let third = duplicate.is_some() && st.model_checking && {
        use bach_net::Decisions as _;
        choices(inner).chance(bach_net::Fault::Duplicate, 0.5)
    };
    let copies = 1 + u32::from(duplicate.is_some()) + u32::from(third);
    let shared = Copies {
        head,
        verdict,
        monitor_copy,
    };
    store_copy(inner, st, &shared, source, &original, last && copies == 1);
    if let Some(duplicate) = duplicate {
        store_copy(inner, st, &shared, source, &duplicate, last && copies == 2);
        if third {
            store_copy(inner, st, &shared, source, &duplicate, last);
        }
    }
    Ok(())
}

/// What the stored copies of one datagram share.
pub(super) struct Copies<'a> {
    pub(super) head: &'a Head,
    pub(super) verdict: &'a Combined,
    pub(super) monitor_copy: bool,
}

/// Stores one delivery of a datagram as a packet and schedules its arrival.
/// `last`: the datagram's last copy (an envelope moves into it).
#[inline(always)]
pub(super) fn store_copy(
    inner: &impl NetWorld,
    st: &mut State,
    shared: &Copies<'_>,
    source: &mut Source<'_>,
    delivery: &bach_net::Delivery<u64>,
    last: bool,
) {
    let Copies {
        head,
        verdict,
        monitor_copy,
    } = *shared;
    let corrupted = delivery.corrupted || verdict.corrupt;
    let at = delivery.at.saturating_add(verdict.delay);
    let mut payload = source.payload(&mut st.pool, last);
    if corrupted {
        st.pool.materialize(&mut payload);
        bach_net::corrupt(payload.as_mut_slice(), &mut choices(inner));
    }
    let duplicate = delivery.duplicate || monitor_copy;
    let flags = flags(duplicate, corrupted, monitor_copy, false);
    let packet = Packet::new(head, payload, delivery.departs, verdict.delay, flags);
    store(inner, st, packet, at);
}

/// Stores a packet and schedules its arrival at `at`.
#[inline(always)]
pub(super) fn store(inner: &impl NetWorld, st: &mut State, packet: Packet, at: u64) {
    let key = st.packets.insert(packet);
    schedule(inner, st, at, key);
}

/// Schedules packet `key` again, to arrive at `at` (a monitor delayed it
/// on arrival): it no longer heads the batch it arrived with.
pub(super) fn reschedule(inner: &impl NetWorld, st: &mut State, at: u64, key: u32) {
    st.packets.get_mut(key).set_batch_list(NONE);
    schedule(inner, st, at, key);
}

/// Schedules packet `key`, which heads no batch (its `batch_list` is
/// `NONE`), to arrive at `at`: appended to the newest arrival batch if it
/// may join it (see [`Batch`]), else as a new batch.
#[inline(always)]
pub(super) fn schedule(inner: &impl NetWorld, st: &mut State, at: u64, key: u32) {
    st.packets.in_flight += 1;
    let inserts = inner.timer_inserts.get();
    if let Some(batch) = st.batch.as_mut().filter(|_| !st.model_checking) {
        if batch.at == at && batch.inserts == inserts {
            if batch.list == NONE {
                let mut keys = st.spare_lists.pop().unwrap_or_default();
                keys.push(batch.head);
                let list = st.batch_lists.insert(keys);
                assert!(list < NONE as usize, "fewer than 2^28 - 1 batches at once");
                batch.list = list as u32;
                st.packets.get_mut(batch.head).set_batch_list(batch.list);
            }
            st.batch_lists[batch.list as usize].push(key);
            return;
        }
    }
    // No one cancels an arrival; the model checker fires them by key.
    match st.model_checking {
        false => inner.insert_keyless_timer(at, TimerEvent::Deliver(key)),
        true => {
            inner.insert_timer(at, TimerEvent::Deliver(key));
        }
    }
    st.scheduled += 1;
    st.batch = Some(Batch {
        head: key,
        list: NONE,
        at,
        inserts: inner.timer_inserts.get(),
    });
}
