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
//! **Inlining is measured, not guessed.** The `#[inline(always)]` and
//! `#[inline(never)]` marks in this folder shape the per-packet path (send,
//! schedule, arrive, the hand-over) and keep the general paths out of its
//! frames: with every one of them turned into a plain `#[inline]`,
//! `benches/instructions.sh` counted +23 % instructions for
//! `process_pingpong`, +6.5 % for `udp_stream` and +5.3 % for `mesh_10`.
//! Without the `#[cold]` marks (failures, capture, trace) `mesh_10` costs
//! +1.8 %, without the plain `#[inline]` hints +2 %. Change a mark only with
//! a count before and after.
//!
//! A fault injected while a packet is in flight never recalls it; only the
//! receiver's state on arrival matters. Per packet there is no hashing, no
//! `String` and, in steady state, no allocation (see `payload`); a packet
//! is stored once, from send to receive. No state here is iterated in an
//! order that could depend on anything but the run.

use super::{
    addr::{Target, ToSocketAddrs},
    capture::{Capture, Note, Record},
    choices::{Budgets, Choices},
    log::{PacketFate, RawEvent},
    observer::{self, Combined, Monitor, PacketView},
    payload::{Payload, Pool},
};
use crate::process::message::Envelope;
use crate::{
    group::table::{GroupId, GroupTable},
    kernel::{Kernel, TimerEvent},
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

mod arrive;
mod fingerprint;
mod nodes;
mod observers;
mod packets;
mod port;
mod receive;
mod send;
mod sockets;

pub(crate) use arrive::{deliver, recycle, serve_process, Arrivals};
pub(crate) use fingerprint::{hash_network, packet_hash, packet_order};
use nodes::LastText;
use packets::*;
pub(crate) use port::{send_endpoints, ProcessPort};
pub(crate) use receive::{poll_recv, poll_recv_envelope, Received, Take};
use send::{monitor_panicked, reschedule, schedule, Head, Viewed};
pub(crate) use send::{send, Destination, Source};
use sockets::{socket_in, Ports, Socket};

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
pub(crate) struct SavedNetwork {
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

/// What the network engine needs of the world it runs in: the kernel
/// (through `Deref`), its own state, and the fault budgets while model
/// checking. The world (`runtime::Inner`) implements it; the engine never
/// names the world, and never calls the process engine.
pub(crate) trait NetWorld: std::ops::Deref<Target = Kernel> {
    /// The network engine's state.
    fn net(&self) -> &std::cell::RefCell<State>;
    /// Fault budgets, when model checking (each fault is then a choice).
    fn fault_budgets(&self) -> Option<&Budgets>;
}

/// The link model's decisions, drawn from the world's choice source.
#[inline(always)]
fn choices(inner: &impl NetWorld) -> Choices<'_> {
    Choices(&inner.rand, inner.fault_budgets())
}

/// Borrows the network state of `inner`, with its node table up to date.
///
/// Panics with an explanation when called re-entrantly, which only a
/// monitor calling `bach::net` can cause.
#[inline]
pub(crate) fn borrow(inner: &impl NetWorld) -> RefMut<'_, State> {
    let Ok(mut state) = inner.net().try_borrow_mut() else {
        reentrant()
    };
    state.sync(&inner.groups.borrow());
    state
}

/// The node of `group` (which has a bound socket, so it is a node).
pub(crate) fn node_of_group(inner: &impl NetWorld, group: GroupId) -> io::Result<NodeId> {
    borrow(inner).node_of(group)
}

/// Like [`borrow`], without adding new groups as nodes first: for paths
/// that only touch sockets and packets that already exist (delivering and
/// receiving), whose nodes are known already.
#[inline]
fn borrow_existing(inner: &impl NetWorld) -> RefMut<'_, State> {
    let Ok(state) = inner.net().try_borrow_mut() else {
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

    /// Packet copies scheduled but not yet arrived.
    pub(crate) fn in_flight(&self) -> usize {
        self.packets.in_flight
    }

    /// Timer-queue entries the network owns (arrival batches).
    pub(crate) fn scheduled_events(&self) -> usize {
        self.scheduled
    }

    /// The state packets and sockets are in, for [`State::restore`]
    /// (model-checking checkpoints). `None` when it cannot be restored
    /// exactly: monitors (user objects with their own state) are
    /// registered, packets are captured, or arrivals are batched.
    pub(crate) fn save(&self) -> Option<SavedNetwork> {
        if !self.monitors.is_empty() || self.capture.is_on() || !self.batch_lists.is_empty() {
            return None;
        }
        Some(SavedNetwork {
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
    pub(crate) fn can_restore(&self, saved: &SavedNetwork) -> bool {
        self.network.can_restore(&saved.network)
    }

    /// Puts packets and sockets back as [`State::save`] found them;
    /// `false` (nothing changed) if nodes were added since.
    pub(crate) fn restore(&mut self, saved: &SavedNetwork) -> bool {
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
}
