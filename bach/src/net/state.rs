//! The simulation's network state and the life of a packet.
//!
//! [`State`] sits in the simulation (`Inner::net`) and owns the
//! [`bach_net::Network`] (nodes, links, faults, counters), the sockets and
//! their port tables, the packets in flight, the monitors, the capture and
//! the packet log. The rest of `net` are thin public faces over it.
//!
//! Nodes are groups. The node table is filled lazily, in group creation
//! order, whenever the network is used, so a group's name resolves as soon
//! as the group exists and addresses depend only on creation order: with the
//! default plan `main` (group 0) is `10.0.0.1`, the next group `10.0.0.2`,
//! and so on. A group whose name cannot be a host name (empty, with `:`, an
//! IP literal) has no address; binding a socket there fails with the reason.
//!
//! A packet's life, all on the simulation's one timer queue, through one
//! function each way:
//!
//! 1. [`send`] (every datagram: a socket's bytes or a process message):
//!    admit it (the sending socket, the route, the length, its id); then,
//!    while nothing observes packets ([`State::unwatched`]: no monitor,
//!    capture, packet log or trace) and the network is quiet, the link
//!    model's one-step decision ([`Network::send_quiet_nanos`]); otherwise
//!    [`send_observed`]: the MTU, the monitors, the link model per copy
//!    (drawing from the choice source), the egress record. Each surviving
//!    copy becomes a [`Packet`] ([`Packet::new`]) and is [`store`]d: its
//!    arrival [`schedule`]d, copies due at the same instant with nothing
//!    else scheduled in between sharing one `TimerEvent::Deliver`
//!    ([`Batch`]).
//! 2. [`deliver`] (the run loop calls it when the event fires) runs
//!    [`arrive`] per copy: while nothing observes arrivals it goes straight
//!    to its socket; otherwise [`arrive_checked`] drops it if the receiver
//!    is disconnected or down, asks the monitors, then finds the socket by
//!    port, checks the connected peer and the receive buffer, queues its
//!    key and wakes the receivers, and records the ingress. A packet for a
//!    process that takes it at once is handed to the function the run loop
//!    passed in (the process engine's `receive`) with the state released:
//!    the network never calls the process engine itself.
//! 3. [`poll_recv`]: copy the oldest queued datagram out and free it.
//!
//! A message between processes takes the same path as its datagram would
//! — same length, decisions and choices — but stays the message itself
//! (`Payload::Envelope`) until something reads its bytes: a capture, a
//! monitor, a corruption or a byte reader writes it out on the way. Model
//! checking, whose checkpoints copy and hash the packets in flight at
//! every step, sends bytes from the start ([`State::model_checking`], set
//! once). The receiving process takes it out as it went in
//! ([`poll_recv_envelope`]). A monitor that panics fails the run with the
//! same report whether the packet was leaving or arriving.
//!
//! The quiet steps of [`send`] and [`arrive`] are branches of the general
//! path, not copies of it: the outcome, counters and order are the ones the
//! general path gives, and tests run the same workloads both ways.
//! Arrivals wait on the timer queue as keyless entries, in a FIFO lane
//! while their deadlines come in order.
//!
//! A fault injected while a packet is in flight never recalls it; only the
//! receiver's state on arrival matters. Per packet there is no hashing, no
//! `String` and, in steady state, no allocation (see `payload`); a packet
//! is stored once, from send to receive. No state here is iterated in an
//! order that could depend on anything but the run.

use super::{
    addr::{Target, ToSocketAddrs},
    capture::{Capture, Note, Record},
    choices::Choices,
    log::{PacketFate, RawEvent},
    observer::{self, Combined, Monitor, PacketView},
    payload::{Payload, Pool},
};
use crate::process::message::Envelope;
use crate::{
    group::table::{GroupId, GroupTable},
    runtime::{Inner, TimerEvent},
    time::instant::Instant,
};
use bach_net::{Direction, DropReason, Network, NodeId, SendOutcome};
use std::rc::Rc;
use std::{
    cell::RefMut,
    collections::VecDeque,
    io,
    net::{IpAddr, SocketAddr},
    panic::{catch_unwind, AssertUnwindSafe},
    task::{Context, Poll, Waker},
};

/// The first port handed out for `port 0` binds (IANA's dynamic range).
const EPHEMERAL_START: u16 = 49_152;
/// Default receive buffer of a socket, in payload bytes.
pub(crate) const DEFAULT_RECV_BUFFER: usize = 256 * 1024;
/// `node_of_group` entry of a group that is not a network node.
const NO_NODE: u32 = u32::MAX;

/// The network state of one simulation.
pub(crate) struct State {
    pub(crate) network: Network,
    /// Interleavings are explored: wakes of receivers report endpoints.
    pub(crate) exploring: bool,
    /// Model checking, set once when it starts: every packet is its own
    /// keyed queue entry (no batches: each delivery can be chosen
    /// separately), a process message is sent as its datagram's bytes
    /// (checkpoints copy and hash the packets in flight), and a duplicated
    /// datagram may arrive a third time.
    pub(crate) model_checking: bool,
    /// Node index of each group, by group index (`NO_NODE` if it has none).
    node_of_group: Vec<u32>,
    /// Group of each node, by node index.
    group_of_node: Vec<GroupId>,
    /// Why a group is not a node, for its error messages.
    unavailable: Vec<(u32, io::ErrorKind, Box<str>)>,
    /// Bound ports of each node, by node index.
    ports: Vec<Ports>,
    sockets: slab::Slab<Socket>,
    /// Packet copies in flight or queued in a receive buffer.
    packets: Packets,
    /// The arrival batch a new packet may join (see [`schedule`]).
    batch: Option<Batch>,
    /// Packet keys of the pending batches of more than one packet.
    batch_lists: slab::Slab<Vec<u32>>,
    /// Emptied key lists, kept so steady-state batching allocates nothing.
    spare_lists: Vec<Vec<u32>>,
    /// Timer queue entries (arrival batches) the network has pending.
    scheduled: usize,
    /// Packets that arrived at a process's port, to hand to the process
    /// once the state is released: `(registry slot, packet key)`.
    handovers: VecDeque<(u32, u32)>,
    pool: Pool,
    /// The observers of packets besides the trace: the monitors, the
    /// capture and the packet log. Changed only through
    /// [`State::add_monitor`], [`State::clear_monitors`],
    /// [`State::set_capture_dir`] and [`State::record_packets`], which keep
    /// `observed` up to date.
    monitors: Vec<Box<dyn Monitor>>,
    pub(crate) capture: Capture,
    log: Option<Vec<RawEvent>>,
    /// Whether a monitor, the capture or the packet log is on (see
    /// [`State::unwatched`]).
    observed: bool,
    /// Crashes of each node, by node index, as `(time, first packet id sent
    /// after the crash)`: a packet still queued at its sender when the
    /// sender crashed is discarded on arrival.
    crashes: Vec<Vec<(u64, u64)>>,
    /// Whether each node is down (crashed), by node index.
    down: Vec<bool>,
    /// The simulation's trace; packet fates are recorded as they happen.
    pub(crate) trace: Rc<crate::trace::recorder::Recorder>,
    next_packet_id: u64,
    /// The host name resolved last: a loop sending to `"server:1337"`
    /// compares one string instead of searching the node table. Nodes are
    /// never renamed or removed, so it never goes stale.
    last_name: Option<(Box<str>, NodeId)>,
    /// The `"host:port"` text whose host was resolved last through the
    /// node table, and its address: a loop sending to `"server:1337"`
    /// compares a few bytes instead of parsing and resolving. Node names
    /// never change meaning, so it never goes stale (`localhost`, whose
    /// meaning depends on the sender, is never remembered).
    last_text: LastText,
}

/// What [`State::save`] keeps.
pub(crate) struct Saved {
    network: bach_net::network::Saved,
    ports: Vec<Ports>,
    sockets: slab::Slab<Socket>,
    packets: Packets,
    batch: Option<Batch>,
    scheduled: usize,
    crashes: Vec<Vec<(u64, u64)>>,
    down: Vec<bool>,
    next_packet_id: u64,
    log_len: Option<usize>,
}

/// A short `"host:port"` text and the address it resolved to, stored
/// inline so that remembering a new one never allocates.
struct LastText {
    len: u8,
    bytes: [u8; LastText::CAPACITY],
    addr: SocketAddr,
}

impl LastText {
    const CAPACITY: usize = 62;

    fn empty() -> Self {
        Self {
            len: 0,
            bytes: [0; Self::CAPACITY],
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    #[inline]
    fn recall(&self, text: &str) -> Option<SocketAddr> {
        (self.len > 0 && self.bytes[..usize::from(self.len)] == *text.as_bytes())
            .then_some(self.addr)
    }

    fn remember(&mut self, text: &str, addr: SocketAddr) {
        let Some(bytes) = self.bytes.get_mut(..text.len()) else {
            self.len = 0;
            return;
        };
        bytes.copy_from_slice(text.as_bytes());
        self.len = text.len() as u8;
        self.addr = addr;
    }
}

/// The sockets bound on one node.
#[derive(Clone, Default)]
struct Ports {
    /// `(port, socket key)`, sorted by port.
    bound: Vec<(u16, u32)>,
    /// Where the search for the next ephemeral port starts.
    next_ephemeral: u16,
}

impl Ports {
    #[inline]
    fn get(&self, port: u16) -> Option<u32> {
        let index = self.bound.binary_search_by_key(&port, |(p, _)| *p).ok()?;
        Some(self.bound[index].1)
    }

    fn insert(&mut self, port: u16, key: u32) {
        let index = self
            .bound
            .binary_search_by_key(&port, |(p, _)| *p)
            .expect_err("the port is free");
        self.bound.insert(index, (port, key));
    }

    fn remove(&mut self, port: u16) {
        if let Ok(index) = self.bound.binary_search_by_key(&port, |(p, _)| *p) {
            self.bound.remove(index);
        }
    }

    /// The next free port of the dynamic range, round-robin from the last one.
    fn ephemeral(&mut self) -> Option<u16> {
        let span = u32::from(u16::MAX - EPHEMERAL_START) + 1;
        let start = self.next_ephemeral.max(EPHEMERAL_START);
        for offset in 0..span {
            let port =
                EPHEMERAL_START + ((u32::from(start - EPHEMERAL_START) + offset) % span) as u16;
            if self.get(port).is_none() {
                self.next_ephemeral = port.checked_add(1).unwrap_or(EPHEMERAL_START);
                return Some(port);
            }
        }
        None
    }
}

/// One bound socket.
#[derive(Clone)]
struct Socket {
    /// Unique in the process, so a handle never reaches another socket
    /// that reused the slot (or another simulation's).
    serial: u64,
    node: NodeId,
    port: u16,
    /// The connected peer: its node, port and the address it was given as.
    peer: Option<(NodeId, u16, SocketAddr)>,
    /// Keys of the queued packets, oldest first.
    queue: VecDeque<u32>,
    queued_bytes: usize,
    capacity_bytes: usize,
    /// Tasks waiting for a datagram; all are woken on arrival.
    waiters: Vec<Waker>,
    /// The registry slot of the process this socket is the port of
    /// (`NO_HOST` for any other socket): a datagram arriving while nothing
    /// is queued goes to the process's handler at once (see [`arrive`]).
    host: u32,
}

/// [`Socket::host`] of a socket that is no process's port.
const NO_HOST: u32 = u32::MAX;

/// Packet keys use the low bits of `Packet::link`, flags the high ones.
const KEY_BITS: u32 = 28;
/// No batch list (and one more than the largest key).
const NONE: u32 = (1 << KEY_BITS) - 1;
/// This copy is an extra one made by duplication.
const DUPLICATE: u32 = 1 << KEY_BITS;
/// This copy's payload was corrupted.
const CORRUPTED: u32 = 1 << (KEY_BITS + 1);
/// A monitor made this copy.
const MONITOR_COPY: u32 = 1 << (KEY_BITS + 2);
/// The receive monitors already saw this copy.
const RECEIVED: u32 = 1 << (KEY_BITS + 3);

/// A packet copy, from the moment it is sent until it is received or
/// dropped: first in flight (in an arrival batch), then, once delivered,
/// queued in its socket's receive buffer by key. It never moves in between.
///
/// Exactly one cache line: with a million packets at once, each arrival
/// and each receive costs one memory access, not two.
#[repr(align(64))]
struct Packet {
    payload: Payload,
    id: u64,
    /// Delay added by monitors, for the capture comment.
    delayed: u64,
    /// When the copy leaves its sender (after bandwidth queueing): a crash
    /// of the sender before then discards it.
    departs: u64,
    from: NodeId,
    to: NodeId,
    src_port: u16,
    dst_port: u16,
    /// In the low `KEY_BITS` bits, for the head of an arrival batch: the
    /// batch's key list (`NONE` for a batch of one, see [`Batch`]); flags
    /// above.
    link: u32,
}

// The slot of a packet (`Option<Packet>`, using the payload's niche) is one
// cache line.
const _: () = assert!(std::mem::size_of::<Option<Packet>>() == 64);

impl Packet {
    /// A copy of the datagram `head` describes, leaving its sender at
    /// `departs`, delayed by monitors by `delayed`, with copy `flags`
    /// (see [`flags`]): every packet is made here.
    #[inline(always)]
    fn new(head: &Head, payload: Payload, departs: u64, delayed: u64, flags: u32) -> Packet {
        let ((from, src_port), (to, dst_port)) = head.ends;
        Packet {
            payload,
            id: head.id,
            delayed,
            departs,
            from,
            to,
            src_port,
            dst_port,
            link: NONE | flags,
        }
    }

    #[inline]
    fn batch_list(&self) -> u32 {
        self.link & NONE
    }

    #[inline]
    fn set_batch_list(&mut self, list: u32) {
        self.link = (self.link & !NONE) | list;
    }

    #[inline]
    fn has(&self, flag: u32) -> bool {
        self.link & flag != 0
    }

    #[inline]
    fn set(&mut self, flag: u32) {
        self.link |= flag;
    }
}

/// The flags of a copy, as `Packet::link` bits.
#[inline]
fn flags(duplicate: bool, corrupted: bool, monitor_copy: bool, received: bool) -> u32 {
    (u32::from(duplicate) * DUPLICATE)
        | (u32::from(corrupted) * CORRUPTED)
        | (u32::from(monitor_copy) * MONITOR_COPY)
        | (u32::from(received) * RECEIVED)
}

/// Packets arriving at the same instant, scheduled back to back: one
/// timer-queue entry (`TimerEvent::Deliver(head)`). A packet joins the
/// newest batch only if it arrives at the same instant and nothing else was
/// put on the queue since, which is exactly when a separate entry would have
/// fired right after the batch: batching changes no order, it only saves a
/// queue entry per packet.
///
/// A batch of one packet is just its head (its `Packet::batch_list` is
/// `NONE`). A larger batch keeps its keys, head first, in a list of
/// [`State::batch_lists`] whose index is the head's `batch_list`. A list
/// rather than a chain through the packets: delivering a million packets
/// then reads the keys ahead and prefetches the packets, instead of
/// chasing one cache miss after another.
#[derive(Clone, Copy)]
struct Batch {
    head: u32,
    /// The batch's key list, `NONE` while the batch is only its head.
    list: u32,
    at: u64,
    /// `Inner::timer_inserts` when the batch was scheduled.
    inserts: u64,
}

/// Packet storage: a slab with a LIFO free list, so keys stay dense and
/// recently freed (cache-warm) slots are reused first.
///
/// Slots live in fixed-size chunks that never move: growing never copies
/// (a cache-line-aligned `Vec` would be reallocated by copying, a million
/// packets at a time) and a packet's address is stable.
#[derive(Default)]
struct Packets {
    /// Each chunk is allocated with room for `CHUNK` slots and filled as
    /// fresh keys are handed out (never reallocated, never zeroed ahead).
    chunks: Vec<Vec<Option<Packet>>>,
    /// Keys handed out so far from fresh chunk space.
    fresh: u32,
    free: Vec<u32>,
    /// Packets scheduled and not yet arrived.
    in_flight: usize,
}

/// Slots per chunk (64 KiB).
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

thread_local! {
    /// An emptied first chunk of a dropped simulation's packet storage, for
    /// the next simulation on this thread: allocating and freeing 64 KiB for
    /// every short simulation (a model checker runs one per execution) costs
    /// more than its packets.
    static SPARE_CHUNK: std::cell::Cell<Vec<Option<Packet>>> = const { std::cell::Cell::new(Vec::new()) };
}

// Copied for model-checking checkpoints; `clone_from` reuses the
// destination's chunks and payload buffers.
impl Clone for Packet {
    fn clone(&self) -> Self {
        Self {
            payload: self.payload.clone(),
            id: self.id,
            delayed: self.delayed,
            departs: self.departs,
            from: self.from,
            to: self.to,
            src_port: self.src_port,
            dst_port: self.dst_port,
            link: self.link,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.payload.clone_from(&source.payload);
        self.id = source.id;
        self.delayed = source.delayed;
        self.departs = source.departs;
        self.from = source.from;
        self.to = source.to;
        self.src_port = source.src_port;
        self.dst_port = source.dst_port;
        self.link = source.link;
    }
}

impl Clone for Packets {
    fn clone(&self) -> Self {
        let mut copy = Packets::default();
        copy.clone_from(self);
        copy
    }

    fn clone_from(&mut self, source: &Self) {
        self.chunks.truncate(source.chunks.len());
        for (index, chunk) in source.chunks.iter().enumerate() {
            match self.chunks.get_mut(index) {
                Some(mine) => mine.clone_from(chunk),
                None => {
                    let mut mine = Vec::with_capacity(CHUNK);
                    mine.extend(chunk.iter().cloned());
                    self.chunks.push(mine);
                }
            }
        }
        self.fresh = source.fresh;
        self.free.clone_from(&source.free);
        self.in_flight = source.in_flight;
    }
}

impl Packets {
    #[inline(always)]
    fn slot(&mut self, key: u32) -> &mut Option<Packet> {
        &mut self.chunks[(key >> CHUNK_BITS) as usize][key as usize & (CHUNK - 1)]
    }

    #[inline(always)]
    fn insert(&mut self, packet: Packet) -> u32 {
        let Some(key) = self.free.pop() else {
            return self.insert_fresh(packet);
        };
        // A free slot holds nothing to drop.
        std::mem::forget(self.slot(key).replace(packet));
        // Freed slots are scattered (packets are received in another
        // order than sent): request the next one early.
        if let Some(&next) = self.free.last() {
            self.prefetch(next);
        }
        key
    }

    /// [`Packets::insert`] when no freed slot is left: the next fresh key,
    /// starting a chunk when the last one is full.
    #[cold]
    #[inline(never)]
    fn insert_fresh(&mut self, packet: Packet) -> u32 {
        let key = self.fresh;
        assert!(key < NONE, "fewer than 2^28 - 1 packets at once");
        if key as usize & (CHUNK - 1) == 0 {
            let chunk = match key {
                0 => SPARE_CHUNK
                    .try_with(|spare| spare.take())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            self.chunks.push(if chunk.capacity() == CHUNK {
                chunk
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        self.fresh += 1;
        self.chunks
            .last_mut()
            .expect("a chunk for the fresh key")
            .push(Some(packet));
        key
    }

    #[inline]
    fn get(&self, key: u32) -> &Packet {
        self.chunks[(key >> CHUNK_BITS) as usize][key as usize & (CHUNK - 1)]
            .as_ref()
            .expect("a packet key refers to a live packet")
    }

    #[inline]
    fn get_mut(&mut self, key: u32) -> &mut Packet {
        self.slot(key)
            .as_mut()
            .expect("a packet key refers to a live packet")
    }

    /// Frees a packet that is no longer needed, its payload buffer (if it
    /// has one) going back to `pool`. Unlike [`Packets::remove`] the packet
    /// is not moved out: a receive only reads the payload, then frees it.
    #[inline(always)]
    fn discard(&mut self, key: u32, pool: &mut Pool) {
        let slot = self.slot(key);
        let packet = slot.as_mut().expect("a packet key refers to a live packet");
        if let Payload::Heap(buffer) = &mut packet.payload {
            pool.recycle(Payload::Heap(std::mem::take(buffer)));
        }
        *slot = None;
        self.free.push(key);
    }

    /// Frees a packet, moving out only its payload.
    #[inline(always)]
    fn take_payload(&mut self, key: u32) -> Payload {
        let slot = self.slot(key);
        let packet = slot.as_mut().expect("a packet key refers to a live packet");
        let payload = std::mem::replace(&mut packet.payload, Payload::EMPTY);
        *slot = None;
        self.free.push(key);
        payload
    }

    #[inline]
    fn remove(&mut self, key: u32) -> Packet {
        let packet = self
            .slot(key)
            .take()
            .expect("a packet key refers to a live packet");
        self.free.push(key);
        packet
    }

    /// Drops every packet (their heap payloads go back to `pool`); the
    /// first chunk is kept for the thread's next simulation.
    fn clear(&mut self, pool: &mut Pool) {
        for chunk in &mut self.chunks {
            for packet in chunk.drain(..).flatten() {
                pool.recycle(packet.payload);
            }
        }
        if !self.chunks.is_empty() {
            let first = self.chunks.swap_remove(0);
            let _ = SPARE_CHUNK.try_with(|spare| {
                let kept = spare.take();
                spare.set(if kept.capacity() == CHUNK {
                    kept
                } else {
                    first
                });
            });
        }
        self.chunks.clear();
        self.fresh = 0;
        self.free.clear();
        self.in_flight = 0;
    }

    /// Hints the CPU to load a packet that will be read soon.
    ///
    /// A receive buffer holds packets from many senders, scattered through
    /// the slab in send order; with a million packets at once each read is a
    /// cache miss unless it was requested a few datagrams earlier.
    #[inline]
    fn prefetch(&self, key: u32) {
        #[cfg(target_arch = "x86_64")]
        if let Some(chunk) = self.chunks.get((key >> CHUNK_BITS) as usize) {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // The slot's address, unchecked: a prefetch never faults.
            let slot = chunk.as_ptr().wrapping_add(key as usize & (CHUNK - 1));
            // SAFETY: prefetching has no memory-safety preconditions.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(slot.cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }
}

/// How many queued datagrams ahead a receive prefetches.
const PREFETCH_AHEAD: usize = 4;
/// How many packets of an arrival batch ahead a delivery prefetches.
const DELIVER_AHEAD: usize = 8;

/// What a socket handle needs to find its socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handle {
    pub(crate) key: u32,
    pub(crate) serial: u64,
}

thread_local! {
    static NEXT_SERIAL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Borrows the network state of `inner`, with its node table up to date.
///
/// Panics with an explanation when called re-entrantly, which only a
/// monitor calling `bach::net` can cause.
#[inline]
pub(crate) fn borrow(inner: &Inner) -> RefMut<'_, State> {
    let Ok(mut state) = inner.net.try_borrow_mut() else {
        reentrant()
    };
    state.sync(&inner.groups.borrow());
    state
}

/// The node of `group` (which has a bound socket, so it is a node).
pub(crate) fn node_of_group(inner: &Inner, group: GroupId) -> io::Result<NodeId> {
    borrow(inner).node_of(group)
}

/// Like [`borrow`], without adding new groups as nodes first: for paths
/// that only touch sockets and packets that already exist (delivering and
/// receiving), whose nodes are known already.
#[inline]
fn borrow_existing(inner: &Inner) -> RefMut<'_, State> {
    let Ok(state) = inner.net.try_borrow_mut() else {
        reentrant()
    };
    state
}

#[cold]
#[track_caller]
fn reentrant() -> ! {
    panic!(
        "bach::net was called from inside a network monitor; monitors decide from the packet \
         they are given and may not use bach::net themselves"
    )
}

impl State {
    pub(crate) fn new(seed: u64, trace: Rc<crate::trace::recorder::Recorder>) -> Self {
        let mut state = Self {
            exploring: false,
            model_checking: false,
            network: Network::new(),
            node_of_group: Vec::new(),
            group_of_node: Vec::new(),
            unavailable: Vec::new(),
            ports: Vec::new(),
            sockets: slab::Slab::new(),
            packets: Packets::default(),
            batch: None,
            batch_lists: slab::Slab::new(),
            spare_lists: Vec::new(),
            scheduled: 0,
            handovers: VecDeque::new(),
            pool: Pool::default(),
            monitors: Vec::new(),
            capture: Capture::from_env(seed),
            log: None,
            observed: false,
            crashes: Vec::new(),
            down: Vec::new(),
            trace,
            next_packet_id: 0,
            last_name: None,
            last_text: LastText::empty(),
        };
        state.observers_changed();
        state
    }

    /// Adds the groups created since the last call as network nodes.
    #[inline]
    pub(crate) fn sync(&mut self, groups: &GroupTable) {
        if groups.len() != self.node_of_group.len() {
            self.add_groups(groups);
        }
    }

    #[cold]
    fn add_groups(&mut self, groups: &GroupTable) {
        for index in self.node_of_group.len()..groups.len() {
            let group = GroupId(index as u32);
            match self.network.add_node(&groups.name(group)) {
                Ok(node) => {
                    debug_assert_eq!(node.index(), self.group_of_node.len());
                    self.node_of_group.push(node.as_u32());
                    self.group_of_node.push(group);
                    self.ports.push(Ports::default());
                }
                Err(error) => {
                    self.node_of_group.push(NO_NODE);
                    self.unavailable
                        .push((index as u32, error.kind(), error.to_string().into()));
                }
            }
        }
    }

    /// Replaces the address plan; only possible before any node exists.
    pub(crate) fn set_address_plan(&mut self, plan: bach_net::AddressPlan) -> Result<(), String> {
        if !self.network.nodes().is_empty() {
            return Err(format!(
                "the address plan cannot change to {plan}: nodes already have addresses from {}",
                self.network.nodes().plan()
            ));
        }
        let default = *self.network.default_link();
        self.network = Network::with_address_plan(plan);
        self.network
            .set_default_link(default)
            .expect("the default link was valid before");
        Ok(())
    }

    /// The node a group runs on.
    pub(crate) fn node_of(&self, group: GroupId) -> io::Result<NodeId> {
        match self.node_of_group.get(group.0 as usize) {
            Some(&node) if node != NO_NODE => Ok(NodeId::from_u32(node)),
            _ => {
                let (kind, why) = self
                    .unavailable
                    .iter()
                    .find(|(g, _, _)| *g == group.0)
                    .map(|(_, kind, why)| (*kind, &**why))
                    .unwrap_or((io::ErrorKind::AddrNotAvailable, "unknown group"));
                Err(io::Error::new(
                    kind,
                    format!("this node has no network address: {why}"),
                ))
            }
        }
    }

    /// The group of a node.
    #[inline]
    pub(crate) fn group_of(&self, node: NodeId) -> GroupId {
        self.group_of_node[node.index()]
    }

    /// The node called `name`; `NotFound` lists the known names.
    pub(crate) fn node_by_name(&self, name: &str) -> io::Result<NodeId> {
        self.network.nodes().lookup(name)
    }

    /// Resolves a target to an address; `localhost` is node `here`.
    pub(crate) fn resolve(
        &mut self,
        target: Target<'_>,
        here: Option<NodeId>,
    ) -> io::Result<SocketAddr> {
        match target {
            Target::Addr(addr) => Ok(addr),
            Target::Host(name, port) => {
                if let Some(node) = self.node_named(name) {
                    return Ok(SocketAddr::new(self.network.nodes().addr(node), port));
                }
                let nodes = self.network.nodes();
                if let (Some(here), true) = (here, name.eq_ignore_ascii_case("localhost")) {
                    return Ok(SocketAddr::new(nodes.addr(here), port));
                }
                let err = nodes.lookup(name).expect_err("not a node name");
                Err(io::Error::new(
                    err.kind(),
                    format!(
                        "{err}; a node exists once a task is spawned on it with \
                         `.group(\"{name}\")`"
                    ),
                ))
            }
        }
    }

    /// The node called `name`, if any (not `localhost`).
    #[inline]
    fn node_named(&mut self, name: &str) -> Option<NodeId> {
        if let Some((last, node)) = &self.last_name {
            if **last == *name {
                return Some(*node);
            }
        }
        let node = self.network.nodes().node_by_name(name)?;
        self.last_name = Some((name.into(), node));
        Some(node)
    }

    /// Resolves a send's destination written as `"host:port"` text, like
    /// [`State::resolve`] with the node of socket `from` as `localhost`; a
    /// text naming a node is remembered, and the next call with the same
    /// text costs a comparison.
    #[inline]
    pub(crate) fn resolve_text(&mut self, text: &str, from: Handle) -> io::Result<SocketAddr> {
        if let Some(addr) = self.last_text.recall(text) {
            return Ok(addr);
        }
        self.resolve_text_slow(text, from)
    }

    #[cold]
    fn resolve_text_slow(&mut self, text: &str, from: Handle) -> io::Result<SocketAddr> {
        let target = text.to_target()?;
        let here = self.socket_node(from);
        let addr = self.resolve(target, here)?;
        if let Target::Host(name, _) = target {
            if self.node_named(name).is_some() {
                self.last_text.remember(text, addr);
            }
        }
        Ok(addr)
    }

    /// The node that receives packets sent from `from` to `ip`.
    #[inline(always)]
    fn route(&self, from: NodeId, ip: IpAddr) -> io::Result<NodeId> {
        match self.network.nodes().node_by_addr(ip) {
            Some(node) => Ok(node),
            None => self.route_special(from, ip),
        }
    }

    /// [`State::route`] for an address no node has: loopback and the
    /// unspecified address mean the sender's own node; anything else fails.
    #[cold]
    fn route_special(&self, from: NodeId, ip: IpAddr) -> io::Result<NodeId> {
        if ip.is_loopback() || ip.is_unspecified() {
            return Ok(from);
        }
        Err(io::Error::new(
            io::ErrorKind::HostUnreachable,
            format!(
                "no node has address {ip} (nodes are numbered from {})",
                self.network.nodes().plan()
            ),
        ))
    }

    /// Binds a socket on node `here` to `addr`.
    pub(crate) fn bind(
        &mut self,
        here: NodeId,
        addr: SocketAddr,
    ) -> io::Result<(Handle, SocketAddr)> {
        if self.is_down(here) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "cannot bind {addr} on node `{}`: the node is crashed",
                    self.network.nodes().name(here)
                ),
            ));
        }
        let nodes = self.network.nodes();
        let own = nodes.addr(here);
        let ip = addr.ip();
        if !(ip.is_unspecified() || ip.is_loopback() || ip == own) {
            let (owner, hint) = match nodes.node_by_addr(ip) {
                Some(node) => {
                    let name = nodes.name(node);
                    (
                        format!("it belongs to node `{name}`"),
                        format!(
                            " (to run this task on `{name}`, spawn it with `.group(\"{name}\")`)"
                        ),
                    )
                }
                None => ("no node has it".to_string(), String::new()),
            };
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "cannot bind {addr} on node `{}` ({own}): {owner}; a socket binds its own \
                     node's address, 0.0.0.0 or 127.0.0.1{hint}",
                    nodes.name(here)
                ),
            ));
        }
        let ports = &mut self.ports[here.index()];
        let port = match addr.port() {
            0 => ports.ephemeral().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "no free ephemeral port on node `{}`: all of {EPHEMERAL_START}..=65535 are bound",
                        nodes.name(here)
                    ),
                )
            })?,
            port if ports.get(port).is_some() => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "address {} is already in use on node `{}`",
                        SocketAddr::new(own, port),
                        nodes.name(here)
                    ),
                ))
            }
            port => port,
        };
        let serial = NEXT_SERIAL.with(|next| {
            let serial = next.get();
            next.set(serial + 1);
            serial
        });
        let key = self.sockets.insert(Socket {
            serial,
            node: here,
            port,
            peer: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            capacity_bytes: DEFAULT_RECV_BUFFER,
            waiters: Vec::new(),
            host: NO_HOST,
        });
        let key = u32::try_from(key).expect("fewer than 2^32 sockets");
        ports.insert(port, key);
        Ok((Handle { key, serial }, SocketAddr::new(own, port)))
    }

    #[inline]
    fn socket(&mut self, handle: Handle) -> io::Result<&mut Socket> {
        socket_in(&mut self.sockets, handle)
    }

    /// The node a socket is bound on.
    pub(crate) fn socket_node(&self, handle: Handle) -> Option<NodeId> {
        self.sockets
            .get(handle.key as usize)
            .filter(|socket| socket.serial == handle.serial)
            .map(|socket| socket.node)
    }

    /// Unbinds and frees a socket; its queued datagrams are discarded.
    pub(crate) fn close(&mut self, handle: Handle) {
        if self.socket(handle).is_err() {
            return;
        }
        let socket = self.sockets.remove(handle.key as usize);
        self.ports[socket.node.index()].remove(socket.port);
        for key in socket.queue {
            self.packets.discard(key, &mut self.pool);
        }
    }

    /// Connects a socket to `peer` (resolved by the caller).
    pub(crate) fn connect(&mut self, handle: Handle, peer: SocketAddr) -> io::Result<()> {
        let from = self.socket(handle)?.node;
        let node = self.route(from, peer.ip())?;
        let peer_addr = SocketAddr::new(self.network.nodes().addr(node), peer.port());
        self.socket(handle)?.peer = Some((node, peer.port(), peer_addr));
        Ok(())
    }

    /// The connected peer of a socket.
    pub(crate) fn peer(&mut self, handle: Handle) -> io::Result<Option<SocketAddr>> {
        Ok(self.socket(handle)?.peer.map(|(_, _, addr)| addr))
    }

    /// Sets the receive buffer size of a socket, in payload bytes.
    pub(crate) fn set_recv_buffer(&mut self, handle: Handle, bytes: usize) -> io::Result<()> {
        self.socket(handle)?.capacity_bytes = bytes;
        Ok(())
    }

    /// The receive buffer size of a socket, in payload bytes.
    pub(crate) fn recv_buffer(&mut self, handle: Handle) -> io::Result<usize> {
        Ok(self.socket(handle)?.capacity_bytes)
    }

    /// Forgets a waiter that no longer waits (its future was dropped).
    pub(crate) fn forget_waiter(&mut self, handle: Handle, waker: &Waker) {
        if let Ok(socket) = self.socket(handle) {
            socket.waiters.retain(|w| !w.will_wake(waker));
        }
    }

    /// Packet copies scheduled but not yet arrived.
    pub(crate) fn in_flight(&self) -> usize {
        self.packets.in_flight
    }

    /// Timer-queue entries the network owns (arrival batches).
    pub(crate) fn scheduled_events(&self) -> usize {
        self.scheduled
    }

    /// Starts (or stops) recording the packet log.
    pub(crate) fn record_packets(&mut self, on: bool) {
        match (on, self.log.is_some()) {
            (true, false) => self.log = Some(Vec::new()),
            (false, true) => self.log = None,
            _ => {}
        }
        self.observers_changed();
    }

    /// Installs a network monitor, after those already installed.
    pub(crate) fn add_monitor(&mut self, monitor: Box<dyn Monitor>) {
        self.monitors.push(monitor);
        self.observers_changed();
    }

    /// Removes every network monitor.
    pub(crate) fn clear_monitors(&mut self) {
        self.monitors.clear();
        self.observers_changed();
    }

    /// Captures to `dir` from now on (`None`: stops capturing).
    pub(crate) fn set_capture_dir(&mut self, dir: Option<std::path::PathBuf>) {
        self.capture.set_dir(dir);
        self.observers_changed();
    }

    fn observers_changed(&mut self) {
        self.observed = !self.monitors.is_empty() || self.capture.is_on() || self.log.is_some();
    }

    /// Whether nothing watches packets go by: no monitor, no capture, no
    /// packet log, no trace. Then a packet's only effects are its counters
    /// and its arrival.
    #[inline(always)]
    fn unwatched(&self) -> bool {
        debug_assert_eq!(
            self.observed,
            !self.monitors.is_empty() || self.capture.is_on() || self.log.is_some(),
            "`observed` is kept up to date by every change to monitors, capture and log"
        );
        !self.observed && !self.trace.enabled()
    }

    /// Whether a packet arriving now needs none of [`arrive`]'s
    /// checks before it reaches its socket: nothing watches packets (see
    /// [`State::unwatched`]), the network is quiet (so no node is
    /// disconnected) and no node ever crashed (so none is down and no
    /// sender crashed before its packet left).
    #[inline(always)]
    fn unwatched_arrivals(&self) -> bool {
        self.unwatched() && self.network.is_quiet() && self.crashes.is_empty()
    }

    #[inline]
    fn is_down(&self, node: NodeId) -> bool {
        self.down.get(node.index()).copied().unwrap_or(false)
    }

    /// Marks `node` crashed (`true`) or booted again (`false`).
    pub(crate) fn set_down(&mut self, node: NodeId, now: u64, down: bool) {
        let index = node.index();
        if self.down.len() <= index {
            self.down.resize(index + 1, false);
            self.crashes.resize_with(index + 1, Vec::new);
        }
        self.down[index] = down;
        if down {
            self.crashes[index].push((now, self.next_packet_id));
        }
    }

    /// Whether the sender of a packet with this id and departure time had
    /// crashed before the packet left it.
    #[inline]
    fn sender_crashed_first(&self, from: NodeId, id: u64, departs: u64) -> bool {
        let Some(crashes) = self.crashes.get(from.index()).filter(|c| !c.is_empty()) else {
            return false;
        };
        // The first crash after the packet was sent decides.
        let first = crashes.partition_point(|(_, next_id)| *next_id <= id);
        crashes.get(first).is_some_and(|(time, _)| *time < departs)
    }

    /// Expands one compact packet record.
    pub(crate) fn expand(&self, inner: &Inner, event: &RawEvent) -> super::log::PacketEvent {
        let nodes = self.network.nodes();
        event.expand(
            inner,
            |node| self.group_of(NodeId::from_u32(node)),
            |node| nodes.addr(NodeId::from_u32(node)),
        )
    }

    /// The packet log recorded so far.
    pub(crate) fn packet_log(&self, inner: &Inner) -> Vec<super::log::PacketEvent> {
        let Some(log) = &self.log else {
            return Vec::new();
        };
        let nodes = self.network.nodes();
        log.iter()
            .map(|event| {
                event.expand(
                    inner,
                    |node| self.group_of(NodeId::from_u32(node)),
                    |node| nodes.addr(NodeId::from_u32(node)),
                )
            })
            .collect()
    }

    /// The state packets and sockets are in, for [`State::restore`]
    /// (model-checking checkpoints). `None` when it cannot be restored
    /// exactly: monitors (user objects with their own state) are
    /// registered, packets are captured, or arrivals are batched.
    pub(crate) fn save(&self) -> Option<Saved> {
        if !self.monitors.is_empty() || self.capture.is_on() || !self.batch_lists.is_empty() {
            return None;
        }
        Some(Saved {
            network: self.network.save(),
            ports: self.ports.clone(),
            sockets: self.sockets.clone(),
            packets: self.packets.clone(),
            batch: self.batch,
            scheduled: self.scheduled,
            crashes: self.crashes.clone(),
            down: self.down.clone(),
            next_packet_id: self.next_packet_id,
            log_len: self.log.as_ref().map(Vec::len),
        })
    }

    /// Whether [`State::restore`] can put `saved` back.
    pub(crate) fn can_restore(&self, saved: &Saved) -> bool {
        self.network.can_restore(&saved.network)
    }

    /// Puts packets and sockets back as [`State::save`] found them;
    /// `false` (nothing changed) if nodes were added since.
    pub(crate) fn restore(&mut self, saved: &Saved) -> bool {
        if !self.network.restore(&saved.network) {
            return false;
        }
        self.ports.clone_from(&saved.ports);
        self.sockets.clone_from(&saved.sockets);
        self.packets.clone_from(&saved.packets);
        self.batch = saved.batch;
        self.scheduled = saved.scheduled;
        self.crashes.clone_from(&saved.crashes);
        self.down.clone_from(&saved.down);
        self.next_packet_id = saved.next_packet_id;
        if let (Some(log), Some(len)) = (self.log.as_mut(), saved.log_len) {
            log.truncate(len);
        }
        true
    }

    /// Drops every packet in flight and closes the capture (teardown).
    pub(crate) fn teardown(&mut self) {
        self.packets.clear(&mut self.pool);
        self.batch = None;
        self.batch_lists.clear();
        self.scheduled = 0;
        for (_, socket) in self.sockets.iter_mut() {
            socket.queue.clear();
            socket.waiters.clear();
        }
        self.capture.close();
    }

    /// The address the socket behind `handle` is bound to.
    pub(crate) fn local_addr(&self, handle: Handle) -> io::Result<SocketAddr> {
        match self.sockets.get(handle.key as usize) {
            Some(socket) if socket.serial == handle.serial => {
                Ok(self.addr(socket.node, socket.port))
            }
            _ => Err(closed()),
        }
    }

    #[inline]
    pub(crate) fn addr(&self, node: NodeId, port: u16) -> SocketAddr {
        SocketAddr::new(self.network.nodes().addr(node), port)
    }

    /// Records an event in the packet log, if it is on.
    #[inline]
    fn log(&mut self, event: impl FnOnce() -> RawEvent) {
        let tracing = self.trace.enabled();
        if self.log.is_none() && !tracing {
            return;
        }
        let event = event();
        if tracing {
            self.trace.record_packet(event);
        }
        if let Some(log) = &mut self.log {
            log.push(event);
        }
    }

    /// Writes a capture record (capture is on).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn capture_record(
        &mut self,
        at: u64,
        direction: Direction,
        (from, src_port): (NodeId, u16),
        (to, dst_port): (NodeId, u16),
        id: u64,
        payload: &[u8],
        note: Note,
    ) {
        let record = Record {
            node: match direction {
                Direction::Egress => from,
                Direction::Ingress => to,
            },
            at,
            direction,
            src: self.addr(from, src_port),
            dst: self.addr(to, dst_port),
            id,
            payload,
            note,
        };
        self.capture.record(self.network.nodes(), &record);
    }

    /// What a monitor sees of a packet at `now`: leaving its socket
    /// (`head` and the datagram's bytes) or arriving (a stored packet).
    fn view<'a>(&'a self, now: u64, packet: Viewed<'a>) -> PacketView<'a> {
        let (id, ((from, src_port), (to, dst_port)), payload, duplicate) = match packet {
            Viewed::Leaving(head, payload) => (head.id, head.ends, payload, false),
            Viewed::Arriving(key) => {
                let packet = self.packets.get(key);
                (
                    packet.id,
                    ((packet.from, packet.src_port), (packet.to, packet.dst_port)),
                    packet.payload.as_slice(),
                    packet.has(DUPLICATE),
                )
            }
        };
        let nodes = self.network.nodes();
        PacketView {
            time: Instant::from_nanos(now),
            id,
            from: nodes.name(from),
            to: nodes.name(to),
            src: self.addr(from, src_port),
            dst: self.addr(to, dst_port),
            payload,
            duplicate,
        }
    }

    /// Asks every monitor, in install order, about `packet` (leaving or
    /// arriving) at `now`, and puts the monitors back even if one panics:
    /// the caller then fails the run ([`monitor_panicked`]), the same way
    /// for both directions.
    fn consult_monitors(&mut self, now: u64, packet: Viewed<'_>) -> std::thread::Result<Combined> {
        let receive = matches!(packet, Viewed::Arriving(_));
        let mut monitors = std::mem::take(&mut self.monitors);
        let verdict = {
            let view = self.view(now, packet);
            catch_unwind(AssertUnwindSafe(|| {
                observer::consult(&mut monitors, &view, receive)
            }))
        };
        self.monitors = monitors;
        verdict
    }
}

#[inline]
fn socket_in(sockets: &mut slab::Slab<Socket>, handle: Handle) -> io::Result<&mut Socket> {
    match sockets.get_mut(handle.key as usize) {
        Some(socket) if socket.serial == handle.serial => Ok(socket),
        _ => Err(closed()),
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket's simulation has ended (its sockets were closed)",
    )
}

/// A packet as a monitor is shown it (see [`State::view`]).
#[derive(Clone, Copy)]
enum Viewed<'a> {
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
    fn len(&self) -> usize {
        match self {
            Source::Bytes(bytes) => bytes.len(),
            Source::Envelope(Some(envelope)) => envelope.wire_len(),
            Source::Envelope(None) => 0,
        }
    }

    /// Runs `f` on the datagram's bytes (an envelope is written out for
    /// it: only a capture or a monitor asks).
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
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
    fn payload(&mut self, pool: &mut Pool, last: bool) -> Payload {
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
    inner: &Inner,
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
fn refuse(st: &mut State, head: &Head, error: io::Error) -> io::Error {
    st.next_packet_id = head.id;
    error
}

/// [`send`] of a process message as its datagram's bytes (model checking).
#[cold]
#[inline(never)]
fn send_as_bytes(
    inner: &Inner,
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
fn send_observed(
    inner: &Inner,
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
fn monitor_panicked(
    inner: &Inner,
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
struct Head {
    now: u64,
    id: u64,
    ends: ((NodeId, u16), (NodeId, u16)),
    len: usize,
}

impl Head {
    /// The datagram a stored packet is a copy of, seen at `now`.
    fn of(now: u64, packet: &Packet) -> Head {
        Head {
            now,
            id: packet.id,
            ends: ((packet.from, packet.src_port), (packet.to, packet.dst_port)),
            len: packet.payload.len(),
        }
    }

    /// Records the datagram leaving its node, if capture is on.
    #[inline(always)]
    fn capture(&self, st: &mut State, source: &Source<'_>, note: Note) {
        if st.capture.is_on() {
            self.capture_egress(st, source, note);
        }
    }

    #[cold]
    #[inline(never)]
    fn capture_egress(&self, st: &mut State, source: &Source<'_>, note: Note) {
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
    fn event(&self, fate: PacketFate, duplicate: bool, corrupted: bool) -> RawEvent {
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
fn send_copy(
    inner: &Inner,
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
        .send_nanos(head.now, from, to, head.len, &mut Choices::of(inner))?;
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
        Choices::of(inner).chance(bach_net::Fault::Duplicate, 0.5)
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
struct Copies<'a> {
    head: &'a Head,
    verdict: &'a Combined,
    monitor_copy: bool,
}

/// Stores one delivery of a datagram as a packet and schedules its arrival.
/// `last`: the datagram's last copy (an envelope moves into it).
#[inline(always)]
fn store_copy(
    inner: &Inner,
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
        bach_net::corrupt(payload.as_mut_slice(), &mut Choices::of(inner));
    }
    let duplicate = delivery.duplicate || monitor_copy;
    let flags = flags(duplicate, corrupted, monitor_copy, false);
    let packet = Packet::new(head, payload, delivery.departs, verdict.delay, flags);
    store(inner, st, packet, at);
}

/// Stores a packet and schedules its arrival at `at`.
#[inline(always)]
fn store(inner: &Inner, st: &mut State, packet: Packet, at: u64) {
    let key = st.packets.insert(packet);
    schedule(inner, st, at, key);
}

/// Schedules packet `key` again, to arrive at `at` (a monitor delayed it
/// on arrival): it no longer heads the batch it arrived with.
fn reschedule(inner: &Inner, st: &mut State, at: u64, key: u32) {
    st.packets.get_mut(key).set_batch_list(NONE);
    schedule(inner, st, at, key);
}

/// Schedules packet `key`, which heads no batch (its `batch_list` is
/// `NONE`), to arrive at `at`: appended to the newest arrival batch if it
/// may join it (see [`Batch`]), else as a new batch.
#[inline(always)]
fn schedule(inner: &Inner, st: &mut State, at: u64, key: u32) {
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

/// A content hash of packet `key` (ends, payload, corruption): identical
/// packets in flight are interchangeable for model checking.
pub(crate) fn packet_hash(inner: &Inner, key: u32) -> u64 {
    content_hash(borrow(inner).packets.get(key))
}

/// [`packet_hash`] of a packet at hand.
fn content_hash(packet: &Packet) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = crate::check::fingerprint::FingerprintHasher::default();
    (
        packet.from.as_u32(),
        packet.to.as_u32(),
        packet.src_port,
        packet.dst_port,
    )
        .hash(&mut hasher);
    packet.payload.hash_bytes(&mut hasher);
    hasher.finish()
}

/// When packet `key` was sent (send order, then storage key).
pub(crate) fn packet_order(inner: &Inner, key: u32) -> (u64, u32) {
    (borrow(inner).packets.get(key).id, key)
}

/// Adds the network's state to a model-checking fingerprint: the multiset
/// of packets in flight (among the queue's `pending` entries, hashed into
/// the reused `hashes`) and, per socket, the datagrams waiting in its
/// receive buffer.
pub(crate) fn fingerprint(
    inner: &Inner,
    timers: &crate::time::timers::TimerQueue<TimerEvent>,
    pending: &[(crate::time::timers::Key, u64)],
    hashes: &mut Vec<u64>,
    hasher: &mut impl std::hash::Hasher,
) {
    use std::hash::Hash;
    let st = borrow(inner);
    hashes.clear();
    hashes.extend(
        pending
            .iter()
            .filter_map(|&(key, _)| match timers.value(key)? {
                TimerEvent::Deliver(packet) => Some(content_hash(st.packets.get(*packet))),
                TimerEvent::Wake(_) => None,
            }),
    );
    hashes.sort_unstable();
    hashes.hash(hasher);
    for (_, socket) in &st.sockets {
        (socket.node.as_u32(), socket.port, socket.queue.len()).hash(hasher);
        for &key in &socket.queue {
            st.packets.get(key).payload.hash_bytes(hasher);
        }
    }
    st.down.hash(hasher);
}

/// The arrivals of one batch, delivered in order by [`deliver`].
pub(crate) struct Arrivals {
    now: u64,
    head: u32,
    /// The batch's keys (empty for a batch of one, `head`), and how many
    /// were delivered.
    keys: Vec<u32>,
    next: usize,
    stage: Stage,
    /// Whether packets wait in [`State::handovers`].
    waiting: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
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
        self.stage == Stage::Arrived && !self.waiting
    }
}

impl Arrivals {
    /// The arrival batch headed by packet `head`, due now (the run loop
    /// fires its `TimerEvent::Deliver(head)`).
    #[inline(always)]
    pub(crate) fn new(now: u64, head: u32) -> Self {
        Arrivals {
            now,
            head,
            keys: Vec::new(),
            next: 0,
            stage: Stage::Due,
            waiting: false,
        }
    }

    /// The key of the batch's next packet, `None` once all arrived.
    #[inline(always)]
    fn next_key(&mut self, st: &mut State) -> Option<u32> {
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
                self.keys = st.batch_lists.remove(list as usize);
                self.stage = Stage::Listed;
                self.next_listed(st)
            }
            Stage::Listed => self.next_listed(st),
            Stage::Arrived => None,
        }
    }

    #[inline(never)]
    fn next_listed(&mut self, st: &mut State) -> Option<u32> {
        let Some(&key) = self.keys.get(self.next) else {
            let mut keys = std::mem::take(&mut self.keys);
            keys.clear();
            st.spare_lists.push(keys);
            self.stage = Stage::Arrived;
            return None;
        };
        if let Some(&ahead) = self.keys.get(self.next + DELIVER_AHEAD) {
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
pub(crate) fn deliver(inner: &Inner, arrivals: &mut Arrivals) -> Option<(usize, Payload)> {
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    loop {
        // Copies a monitor added, or a packet behind them, come first.
        if arrivals.waiting {
            if let Some((host, key)) = st.handovers.pop_front() {
                arrivals.waiting = !st.handovers.is_empty();
                return Some((host as usize, st.packets.take_payload(key)));
            }
            arrivals.waiting = false;
        }
        let key = arrivals.next_key(st)?;
        st.packets.in_flight -= 1;
        let arrived = arrive(inner, st, arrivals.now, key);
        // Monitors' copies delivered at once wait to be handed over.
        arrivals.waiting = !st.handovers.is_empty();
        match arrived {
            Ok(None) => {}
            // The usual case for a process: one message, handed over.
            Ok(Some(host)) if !arrivals.waiting => {
                return Some((host as usize, st.packets.take_payload(key)));
            }
            Ok(Some(host)) => {
                st.handovers.push_back((host, key));
                arrivals.waiting = true;
            }
            Err(message) => {
                drop(state);
                inner.fail(message);
                return None;
            }
        }
    }
}

/// Takes back the payload of a packet handed over (see [`deliver`]).
pub(crate) fn recycle(inner: &Inner, payload: Payload) {
    borrow_existing(inner).pool.recycle(payload);
}

/// Makes the socket behind `handle` the port of process `host` (its
/// registry slot): see [`arrive`].
pub(crate) fn serve_process(inner: &Inner, handle: Handle, host: usize) {
    let host = u32::try_from(host)
        .ok()
        .filter(|&host| host != NO_HOST)
        .expect("fewer than 2^32 - 1 processes");
    if let Ok(socket) = borrow(inner).socket(handle) {
        socket.host = host;
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
fn arrive(inner: &Inner, st: &mut State, now: u64, key: u32) -> Result<Option<u32>, String> {
    if st.unwatched_arrivals() {
        return Ok(reach_socket(st, now, key, true));
    }
    arrive_checked(inner, st, now, key)
}

/// The general part of [`arrive`]: the receiver's node, the monitors,
/// then the socket. Out of line: [`arrive`]'s unwatched step stays small.
#[inline(never)]
fn arrive_checked(
    inner: &Inner,
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
            bach_net::corrupt(packet.payload.as_mut_slice(), &mut Choices::of(inner));
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
                if let Some(host) = reach_socket(st, now, copy, false) {
                    st.handovers.push_back((host, copy));
                }
            }
        }
        if verdict.delay > 0 {
            reschedule(inner, st, now.saturating_add(verdict.delay), key);
            return Ok(None);
        }
    }
    Ok(reach_socket(st, now, key, false))
}

/// Queues an arrived packet on its socket, or drops it; or, if it is for a
/// process that takes it at once, returns the process (its registry slot),
/// for the caller to hand the packet to once the state is released.
/// `unwatched`: [`State::unwatched_arrivals`] holds, so no node is down or
/// crashed and nothing records the arrival.
#[inline(always)]
fn reach_socket(st: &mut State, now: u64, key: u32, unwatched: bool) -> Option<u32> {
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
    if socket.host != NO_HOST && socket.queue.is_empty() && !st.exploring {
        // A process takes it at once, as its host task would on its next
        // poll (it only waits for its port when nothing is queued).
        // Exploring interleavings, the host task receives it, as a step.
        handover = Some(socket.host);
    } else {
        socket.queued_bytes += len(&st.packets);
        socket.queue.push_back(key);
        wake_receivers(st, socket_key, (to, dst_port));
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
fn capture_ingress(st: &mut State, now: u64, key: u32) {
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
fn wake_receivers(st: &mut State, socket_key: u32, (to, port): (NodeId, u16)) {
    let socket = &mut st.sockets[socket_key as usize];
    if st.exploring && !socket.waiters.is_empty() {
        // The woken receivers' next step touches this endpoint.
        let endpoint = crate::check::interleave::endpoint(st.addr(to, port));
        let socket = &mut st.sockets[socket_key as usize];
        for waiter in socket.waiters.drain(..) {
            crate::check::interleave::woke_endpoint(endpoint, &waiter);
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

fn drop_on_arrival(st: &mut State, now: u64, key: u32, reason: DropReason) {
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

fn arrival_event(now: u64, packet: &Packet, fate: PacketFate) -> RawEvent {
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

/// What a receive call wants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Remove the datagram.
    Pop,
    /// Leave it queued.
    Peek,
    /// Only wait until one is queued.
    Ready,
}

/// Copies the oldest queued datagram into `buf` (truncating it, as UDP
/// does). With `cx`, registers the task to be woken when none is queued;
/// without, fails with `WouldBlock`.
#[inline(always)]
pub(crate) fn poll_recv(
    inner: &Inner,
    handle: Handle,
    cx: Option<&mut Context<'_>>,
    buf: &mut [u8],
    take: Take,
) -> Poll<io::Result<(usize, SocketAddr)>> {
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    let socket = match socket_in(&mut st.sockets, handle) {
        Ok(socket) => socket,
        Err(error) => return Poll::Ready(Err(error)),
    };
    let key = match front_or_wait(socket, cx) {
        Ok(key) => key,
        Err(poll) => return poll,
    };
    let packet = st.packets.get_mut(key);
    // A process message read as bytes becomes its datagram.
    st.pool.materialize(&mut packet.payload);
    let packet = &*packet;
    let (from, port) = (packet.from, packet.src_port);
    let bytes = packet.payload.as_slice();
    let n = bytes.len().min(buf.len());
    if take != Take::Ready {
        buf[..n].copy_from_slice(&bytes[..n]);
    }
    if take == Take::Pop {
        socket.queue.pop_front();
        socket.queued_bytes -= bytes.len();
        if let Some(&ahead) = socket.queue.get(PREFETCH_AHEAD - 1) {
            st.packets.prefetch(ahead);
        }
        st.packets.discard(key, &mut st.pool);
    }
    let src = SocketAddr::new(st.network.nodes().addr(from), port);
    Poll::Ready(Ok((n, src)))
}

/// The key of the oldest datagram queued on `socket`; if there is none,
/// registers the task behind `cx` and returns `Pending` (without `cx`,
/// fails with `WouldBlock`).
#[inline(always)]
fn front_or_wait<T>(
    socket: &mut Socket,
    cx: Option<&mut Context<'_>>,
) -> Result<u32, Poll<io::Result<T>>> {
    if let Some(&key) = socket.queue.front() {
        return Ok(key);
    }
    Err(match cx {
        Some(cx) => {
            if !socket.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                socket.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        }
        None => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "no datagram is queued on this socket",
        ))),
    })
}

/// What a process's socket received.
pub(crate) enum Received {
    /// A message from another process, as sent.
    Envelope(Box<Envelope>),
    /// Any other datagram (or a corrupted message) is next: still queued,
    /// for [`poll_recv`] to copy out.
    Datagram,
}

/// [`poll_recv`] (popping) for a process's socket: a process message comes
/// out as it was sent, without being written out as bytes; anything else
/// is left for [`poll_recv`].
#[inline(always)]
pub(crate) fn poll_recv_envelope(
    inner: &Inner,
    handle: Handle,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Received>> {
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    let socket = match socket_in(&mut st.sockets, handle) {
        Ok(socket) => socket,
        Err(error) => return Poll::Ready(Err(error)),
    };
    let key = match front_or_wait(socket, Some(cx)) {
        Ok(key) => key,
        Err(poll) => return poll,
    };
    if let Payload::Envelope(envelope) = &st.packets.get(key).payload {
        socket.queue.pop_front();
        socket.queued_bytes -= envelope.wire_len();
        let Payload::Envelope(envelope) = st.packets.remove(key).payload else {
            unreachable!("the payload was just matched")
        };
        return Poll::Ready(Ok(Received::Envelope(envelope)));
    }
    Poll::Ready(Ok(Received::Datagram))
}
