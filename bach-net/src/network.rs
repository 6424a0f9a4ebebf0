//! The topology: nodes, directed links, injected faults, and the decision of
//! what happens to each packet at the moment it is sent.
//!
//! The runtime's socket calls [`Network::send`] with the current simulated
//! time, the two nodes, the payload length and the simulation's choice source;
//! it gets back a [`SendOutcome`] (a drop reason, or one or two arrival times)
//! and schedules the deliveries itself. Everything is decided at send time, as
//! in a real network: a fault injected later never recalls a packet already
//! in flight (the runtime drops packets for crashed receivers on arrival).
//!
//! For each send, in this fixed order (the order is part of the contract,
//! because replaying a choice sequence must replay the run):
//!
//! 1. `from == to` is loopback: delivered now, never faulted, no decision.
//! 2. A payload over the link's `mtu` fails with `InvalidInput` (not counted).
//! 3. Faults that need no decision, first match wins: sender disconnected,
//!    receiver disconnected, sender drops outgoing, receiver drops incoming,
//!    partitioned, link disabled, bandwidth queue full.
//! 4. Decisions, each skipped when its probability is 0 or 1:
//!    `chance(Loss)`, `chance(Corrupt)` for the original, `chance(Duplicate)`,
//!    `chance(Corrupt)` for the duplicate (only if duplicated), then the
//!    original's latency and jitter samples, then the duplicate's.
//!
//! A packet admitted to a bandwidth-limited link occupies it even if it is
//! then lost (it is lost on the wire); duplication happens after the queue, so
//! both copies leave at the same time and differ only in their travel time.
//!
//! Per-send work does not grow with the node count: per-node state is in
//! dense vectors, partitions and disabled links are bit rows and bandwidth
//! queues a word per link, all indexed by node id, and the only hashing is a
//! lookup among links with their own config (skipped while there are none).
//! This module never awaits, never reads a clock and never draws a decision
//! other than the ones listed above.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::time::Duration;

use crate::decide::{chance, Decisions, Fault};
use crate::link::{self, MAX_UDP_PAYLOAD};
use crate::stats::{NodeStats, Stats};
use crate::{AddressPlan, Delivery, DropReason, LinkConfig, NodeId, NodeTable, SendOutcome};

/// The simulated network: nodes, links, faults and counters.
#[derive(Clone, Debug)]
pub struct Network {
    nodes: NodeTable,
    default_link: LinkConfig,
    /// Configs of links configured individually; all others use `default_link`.
    overrides: LinkMap<LinkConfig>,
    /// When each bandwidth-limited link finishes serialising its queue, in
    /// nanoseconds, as `[from][to]`. Rows grow on a link's first queued
    /// packet; dense rather than hashed because all-to-all traffic touches
    /// every link and a word per link is the least memory it can cost.
    busy_until: Vec<Vec<u64>>,
    node_faults: Vec<NodeFaults>,
    partitioned: BitMatrix,
    disabled: BitMatrix,
    stats: Stats,
    node_stats: Vec<NodeStats>,
    /// The default link's latency in nanoseconds while a send over it needs
    /// neither a decision nor a fault check: it is enabled, has a fixed
    /// latency, no jitter, loss, duplication, corruption or bandwidth, and
    /// no node, partition or disabled link is faulty. Kept up to date by
    /// every change to those ([`Network::refresh_quiet`]).
    quiet: Option<u64>,
}

impl Default for Network {
    fn default() -> Self {
        let mut network = Self {
            nodes: NodeTable::default(),
            default_link: LinkConfig::default(),
            overrides: LinkMap::default(),
            busy_until: Vec::new(),
            node_faults: Vec::new(),
            partitioned: BitMatrix::default(),
            disabled: BitMatrix::default(),
            stats: Stats::default(),
            node_stats: Vec::new(),
            quiet: None,
        };
        network.refresh_quiet();
        network
    }
}

/// Per-node faults, toggled at runtime and cleared by `heal`.
#[derive(Clone, Copy, Debug, Default)]
struct NodeFaults {
    disconnected: bool,
    drop_incoming: bool,
    drop_outgoing: bool,
}

/// Everything about a [`Network`] that changes as it runs — link configs,
/// faults, bandwidth queues, counters — without its node table (nodes are
/// only ever added, never renamed or removed). Taken by
/// [`Network::save`], put back by [`Network::restore`]: a model checker
/// resumes paths from saved states with it.
#[derive(Clone, Debug)]
pub struct Saved {
    nodes: usize,
    default_link: LinkConfig,
    overrides: LinkMap<LinkConfig>,
    busy_until: Vec<Vec<u64>>,
    node_faults: Vec<NodeFaults>,
    partitioned: BitMatrix,
    disabled: BitMatrix,
    stats: Stats,
    node_stats: Vec<NodeStats>,
}

impl Network {
    /// The network's changing state (see [`Saved`]).
    pub fn save(&self) -> Saved {
        Saved {
            nodes: self.nodes.len(),
            default_link: self.default_link,
            overrides: self.overrides.clone(),
            busy_until: self.busy_until.clone(),
            node_faults: self.node_faults.clone(),
            partitioned: self.partitioned.clone(),
            disabled: self.disabled.clone(),
            stats: self.stats,
            node_stats: self.node_stats.clone(),
        }
    }

    /// Whether [`Network::restore`] can put `saved` back (no node was
    /// added since).
    pub fn can_restore(&self, saved: &Saved) -> bool {
        self.nodes.len() == saved.nodes
    }

    /// Puts the state [`Network::save`] returned back, reusing this
    /// network's buffers. Returns `false`, changing nothing, if nodes were
    /// added since the save.
    pub fn restore(&mut self, saved: &Saved) -> bool {
        if !self.can_restore(saved) {
            return false;
        }
        self.default_link = saved.default_link;
        self.overrides.clone_from(&saved.overrides);
        self.busy_until.clone_from(&saved.busy_until);
        self.node_faults.clone_from(&saved.node_faults);
        self.partitioned.clone_from(&saved.partitioned);
        self.disabled.clone_from(&saved.disabled);
        self.stats = saved.stats;
        self.node_stats.clone_from(&saved.node_stats);
        self.refresh_quiet();
        true
    }

    /// An empty network numbering nodes from the default plan (`10.0.0.0/8`)
    /// with the default [`LinkConfig`] on every link.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty network numbering nodes from `plan`.
    pub fn with_address_plan(plan: AddressPlan) -> Self {
        Self {
            nodes: NodeTable::new(plan),
            ..Self::default()
        }
    }

    /// Recomputes [`Network::quiet`] after a change to the default link or
    /// to faults.
    fn refresh_quiet(&mut self) {
        let link = &self.default_link;
        // As `chance` reads probabilities: only `p > 0` can ever happen
        // (NaN never does).
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let never = |p: f64| !(p > 0.0);
        let plain_link = link.enabled
            && link.jitter.is_zero()
            && link.bandwidth_bits_per_sec.is_none()
            && never(link.loss_probability)
            && never(link.duplicate_probability)
            && never(link.corrupt_probability);
        let faultless = !self.partitioned.any
            && !self.disabled.any
            && self
                .node_faults
                .iter()
                .all(|f| !(f.disconnected || f.drop_incoming || f.drop_outgoing));
        self.quiet = match link.latency {
            crate::Latency::Fixed(latency) if plain_link && faultless => Some(link::nanos(latency)),
            _ => None,
        };
    }

    // ----- nodes -----

    /// Adds a node called `name` (or returns the existing one); see
    /// [`NodeTable::add_node`] for the errors.
    pub fn add_node(&mut self, name: &str) -> io::Result<NodeId> {
        let id = self.nodes.add_node(name)?;
        if id.index() == self.node_faults.len() {
            self.node_faults.push(NodeFaults::default());
            self.node_stats.push(NodeStats::default());
        }
        Ok(id)
    }

    /// The node table: names, addresses, lookups and `resolve`.
    #[inline]
    pub fn nodes(&self) -> &NodeTable {
        &self.nodes
    }

    // ----- links -----

    /// The config of every link that was never configured individually.
    pub fn default_link(&self) -> &LinkConfig {
        &self.default_link
    }

    /// Replaces the default config (links with their own config keep it).
    /// Fails with `InvalidInput` if `config` does not [validate](LinkConfig::validate).
    pub fn set_default_link(&mut self, config: LinkConfig) -> io::Result<()> {
        config.validate()?;
        self.default_link = config;
        self.refresh_quiet();
        Ok(())
    }

    /// The config in effect on the directed link `from -> to`.
    #[inline]
    pub fn link(&self, from: NodeId, to: NodeId) -> &LinkConfig {
        self.nodes.checked(from);
        self.nodes.checked(to);
        self.config(LinkKey::new(from, to))
    }

    /// The config of `from -> to` for in-place edits, creating the link's own
    /// copy of the default config first.
    ///
    /// Edits through this reference are not validated; prefer
    /// [`update_link`](Self::update_link). An invalid value never panics: the
    /// model clamps it (see [`Latency::sample`](crate::Latency::sample)).
    pub fn link_mut(&mut self, from: NodeId, to: NodeId) -> &mut LinkConfig {
        self.nodes.checked(from);
        self.nodes.checked(to);
        let default = self.default_link;
        self.overrides
            .entry(LinkKey::new(from, to))
            .or_insert(default)
    }

    /// Gives `from -> to` its own config. Fails with `InvalidInput` if it does
    /// not validate, leaving the link unchanged.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) -> io::Result<()> {
        config.validate()?;
        *self.link_mut(from, to) = config;
        Ok(())
    }

    /// Edits the config of `from -> to` with `edit`, then validates it; on
    /// `InvalidInput` the link keeps its previous config.
    pub fn update_link(
        &mut self,
        from: NodeId,
        to: NodeId,
        edit: impl FnOnce(&mut LinkConfig),
    ) -> io::Result<()> {
        let mut config = *self.link(from, to);
        edit(&mut config);
        self.set_link(from, to, config)
    }

    /// Applies `edit` to the default config and to every link configured on
    /// its own (a network-wide change such as "lose 10% of all packets").
    /// Fails with `InvalidInput`, changing nothing, if any result is invalid.
    pub fn update_all_links(&mut self, edit: impl Fn(&mut LinkConfig)) -> io::Result<()> {
        let mut default = self.default_link;
        edit(&mut default);
        default.validate()?;
        let mut overrides = self.overrides.clone();
        // Order-independent: each entry is edited on its own.
        for config in overrides.values_mut() {
            edit(config);
            config.validate()?;
        }
        self.default_link = default;
        self.overrides = overrides;
        self.refresh_quiet();
        Ok(())
    }

    /// Makes every link follow the default config again.
    pub fn reset_all_links(&mut self) {
        self.overrides.clear();
    }

    /// Makes `from -> to` follow the default config again.
    pub fn reset_link(&mut self, from: NodeId, to: NodeId) {
        self.nodes.checked(from);
        self.nodes.checked(to);
        self.overrides.remove(&LinkKey::new(from, to));
    }

    /// The largest payload `from` may send to `to`, in bytes: the link's
    /// `mtu`, or [`MAX_UDP_PAYLOAD`] for loopback.
    #[inline]
    pub fn mtu(&self, from: NodeId, to: NodeId) -> usize {
        if from == to {
            self.nodes.checked(from);
            MAX_UDP_PAYLOAD
        } else {
            self.link(from, to).mtu
        }
    }

    /// Fails with `InvalidInput`, naming the link, if a `payload_len`-byte
    /// payload exceeds [`mtu`](Self::mtu); the check [`send`](Self::send)
    /// starts with, for callers that must refuse a packet before anything
    /// else sees it.
    #[inline]
    pub fn check_mtu(&self, from: NodeId, to: NodeId, payload_len: usize) -> io::Result<()> {
        let mtu = self.mtu(from, to);
        if payload_len > mtu {
            return Err(self.too_large(from, to, payload_len, mtu));
        }
        Ok(())
    }

    // ----- faults -----

    /// Cuts both directions between every node of `side_a` and every node of
    /// `side_b` (a node on both sides keeps its loopback).
    pub fn partition(&mut self, side_a: &[NodeId], side_b: &[NodeId]) {
        self.partition_oneway(side_a, side_b);
        self.partition_oneway(side_b, side_a);
    }

    /// Cuts only the direction from every node of `from_side` to every node of
    /// `to_side`.
    pub fn partition_oneway(&mut self, from_side: &[NodeId], to_side: &[NodeId]) {
        for &from in from_side {
            for &to in to_side {
                let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
                self.partitioned.set(f, t, true);
            }
        }
        self.refresh_quiet();
    }

    /// Whether packets from `from` to `to` are cut by a partition.
    pub fn is_partitioned(&self, from: NodeId, to: NodeId) -> bool {
        self.partitioned
            .get(self.nodes.checked(from), self.nodes.checked(to))
    }

    /// Disconnects `node`: it can neither send nor receive (except loopback).
    pub fn disconnect(&mut self, node: NodeId) {
        self.set_faults(node, |faults| faults.disconnected = true);
    }

    /// Reconnects `node` after [`disconnect`](Self::disconnect).
    pub fn connect(&mut self, node: NodeId) {
        self.set_faults(node, |faults| faults.disconnected = false);
    }

    /// Whether `node` is disconnected.
    pub fn is_disconnected(&self, node: NodeId) -> bool {
        self.node_faults[self.nodes.checked(node)].disconnected
    }

    /// Makes `node` drop (or stop dropping) every packet addressed to it.
    pub fn drop_incoming(&mut self, node: NodeId, drop: bool) {
        self.set_faults(node, |faults| faults.drop_incoming = drop);
    }

    /// Makes `node` drop (or stop dropping) every packet it sends.
    pub fn drop_outgoing(&mut self, node: NodeId, drop: bool) {
        self.set_faults(node, |faults| faults.drop_outgoing = drop);
    }

    /// Disables (or re-enables) the directed link `from -> to` as a fault that
    /// [`heal`](Self::heal) clears. It does not touch the link's config, so
    /// a link whose config says `enabled: false` stays disabled.
    pub fn set_link_enabled(&mut self, from: NodeId, to: NodeId, enabled: bool) {
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        self.disabled.set(f, t, !enabled);
        self.refresh_quiet();
    }

    /// Whether `from -> to` carries packets: neither disabled as a fault nor
    /// by its config.
    pub fn is_link_enabled(&self, from: NodeId, to: NodeId) -> bool {
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        !self.disabled.get(f, t) && self.link(from, to).enabled
    }

    /// Clears every fault: partitions, disconnections, incoming and outgoing
    /// drops and links disabled with `set_link_enabled`. Link configs
    /// (including their `enabled` field) and bandwidth queues are kept.
    pub fn heal(&mut self) {
        self.partitioned.clear();
        self.disabled.clear();
        self.node_faults.fill(NodeFaults::default());
        self.refresh_quiet();
    }

    // ----- sending -----

    /// Decides the fate of a `payload_len`-byte packet sent from `from` to
    /// `to` at simulated time `now`, drawing choices from `d` in the order the
    /// [module docs](self) list, and counts it.
    ///
    /// Fails with `InvalidInput` (and counts nothing) if `payload_len` exceeds
    /// [`mtu`](Self::mtu). Delivery times are absolute (`>= now`).
    ///
    /// # Panics
    /// If `from` or `to` is not a node of this network.
    #[inline]
    pub fn send<D: Decisions + ?Sized>(
        &mut self,
        now: Duration,
        from: NodeId,
        to: NodeId,
        payload_len: usize,
        d: &mut D,
    ) -> io::Result<SendOutcome> {
        let outcome = self.send_nanos(link::nanos(now), from, to, payload_len, d)?;
        Ok(outcome.map_time(Duration::from_nanos))
    }

    /// [`send`](Self::send) with times in nanoseconds since the start, for a
    /// runtime whose clock counts nanoseconds: same decisions, same
    /// counters, no conversion to and from `Duration` on the way.
    #[inline(always)]
    pub fn send_nanos<D: Decisions + ?Sized>(
        &mut self,
        now: u64,
        from: NodeId,
        to: NodeId,
        payload_len: usize,
        d: &mut D,
    ) -> io::Result<SendOutcome<u64>> {
        if let Some(sent) = self.send_quiet_nanos(now, from, to, payload_len) {
            return sent.map(|original| SendOutcome::Delivered {
                original,
                duplicate: None,
            });
        }
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        if f == t {
            return self.loopback(now, from, payload_len);
        }
        // Borrowed field by field (not through `self.config`), so the
        // counters and the link queue can be updated while it is held.
        let config = if self.overrides.is_empty() {
            &self.default_link
        } else {
            self.overrides
                .get(&LinkKey::new(from, to))
                .unwrap_or(&self.default_link)
        };
        if payload_len > config.mtu {
            let mtu = config.mtu;
            return Err(self.too_large(from, to, payload_len, mtu));
        }
        self.stats.sent += 1;
        self.node_stats[f].sent += 1;
        let admitted = match self.structural_drop(f, t, config) {
            Some(reason) => Err(reason),
            None => enqueue(&mut self.busy_until, now, (f, t), config, payload_len),
        };
        let departure = match admitted {
            Ok(departure) => departure,
            Err(reason) => return Ok(self.drop_at_send(f, t, reason)),
        };
        if chance(d, Fault::Loss, config.loss_probability) {
            return Ok(self.drop_at_send(f, t, DropReason::Loss));
        }
        let corrupted = chance(d, Fault::Corrupt, config.corrupt_probability);
        let duplicated = chance(d, Fault::Duplicate, config.duplicate_probability);
        let duplicate_corrupted =
            duplicated && chance(d, Fault::Corrupt, config.corrupt_probability);

        let departs = departure;
        let original = Delivery {
            departs,
            at: departure.saturating_add(config.sample_delay_nanos(d)),
            corrupted,
            duplicate: false,
        };
        let duplicate = duplicated.then(|| Delivery {
            departs,
            at: departure.saturating_add(config.sample_delay_nanos(d)),
            corrupted: duplicate_corrupted,
            duplicate: true,
        });
        self.stats.duplicated += u64::from(duplicated);
        self.stats.corrupted += u64::from(corrupted) + u64::from(duplicate_corrupted);
        Ok(SendOutcome::Delivered {
            original,
            duplicate,
        })
    }

    /// [`send_nanos`](Self::send_nanos) of a datagram between two nodes
    /// while the network is quiet (see [`is_quiet`](Self::is_quiet)):
    /// nothing to decide or check, so it is delivered after the default
    /// link's latency, or refused if too large, with the same counters as
    /// `send_nanos`. `None`, and nothing counted, if the network is not
    /// quiet or `from` is `to`.
    #[inline(always)]
    pub fn send_quiet_nanos(
        &mut self,
        now: u64,
        from: NodeId,
        to: NodeId,
        payload_len: usize,
    ) -> Option<io::Result<Delivery<u64>>> {
        let latency = self.quiet.filter(|_| self.overrides.is_empty())?;
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        if f == t {
            return None;
        }
        let mtu = self.default_link.mtu;
        if payload_len > mtu {
            return Some(Err(self.too_large(from, to, payload_len, mtu)));
        }
        self.stats.sent += 1;
        self.node_stats[f].sent += 1;
        Some(Ok(Delivery {
            departs: now,
            at: now.saturating_add(latency),
            corrupted: false,
            duplicate: false,
        }))
    }

    /// Whether the network is quiet: every link is the default one, which
    /// has a fixed latency and nothing to decide (no jitter, loss,
    /// duplication, corruption or bandwidth limit), and no fault is set (no
    /// disconnected or dropping node, partition or disabled link). Then no
    /// node is disconnected, and a send is decided without asking.
    #[inline]
    pub fn is_quiet(&self) -> bool {
        self.quiet.is_some() && self.overrides.is_empty()
    }

    /// Counts a copy delivered to `to` (the runtime calls this on arrival).
    #[inline(always)]
    pub fn record_delivered(&mut self, to: NodeId) {
        let t = self.nodes.checked(to);
        self.stats.delivered += 1;
        self.node_stats[t].delivered += 1;
    }

    /// Counts a copy from `from` to `to` dropped for `reason` by the runtime
    /// (`NodeDown`, `ReceiveBufferFull`, `NoSocket`, …). Drops decided by
    /// [`send`](Self::send) are already counted.
    #[inline]
    pub fn record_drop(&mut self, from: NodeId, to: NodeId, reason: DropReason) {
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        self.count_drop(f, t, reason);
    }

    /// Counts a packet from `from` to `to` that the runtime dropped for
    /// `reason` before handing it to [`send`](Self::send) (for example a
    /// monitor dropped it as it left the socket): it counts as sent and as
    /// dropped, so `sent` still covers every packet a socket emitted.
    #[inline]
    pub fn record_dropped_send(&mut self, from: NodeId, to: NodeId, reason: DropReason) {
        let (f, t) = (self.nodes.checked(from), self.nodes.checked(to));
        self.stats.sent += 1;
        self.node_stats[f].sent += 1;
        self.count_drop(f, t, reason);
    }

    /// Network-wide counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The counters of `node`.
    pub fn node_stats(&self, node: NodeId) -> &NodeStats {
        &self.node_stats[self.nodes.checked(node)]
    }

    // ----- internals -----

    #[inline]
    fn config(&self, key: LinkKey) -> &LinkConfig {
        // Skip hashing entirely while no link has its own config.
        if self.overrides.is_empty() {
            return &self.default_link;
        }
        self.overrides.get(&key).unwrap_or(&self.default_link)
    }

    #[inline]
    fn loopback(&mut self, now: u64, node: NodeId, len: usize) -> io::Result<SendOutcome<u64>> {
        if len > MAX_UDP_PAYLOAD {
            return Err(self.too_large(node, node, len, MAX_UDP_PAYLOAD));
        }
        self.stats.sent += 1;
        self.node_stats[node.index()].sent += 1;
        Ok(SendOutcome::Delivered {
            original: Delivery {
                departs: now,
                at: now,
                corrupted: false,
                duplicate: false,
            },
            duplicate: None,
        })
    }

    /// The first fault that drops `f -> t` without needing a decision.
    #[inline]
    fn structural_drop(&self, f: usize, t: usize, config: &LinkConfig) -> Option<DropReason> {
        let (sender, receiver) = (self.node_faults[f], self.node_faults[t]);
        if sender.disconnected {
            Some(DropReason::SenderDisconnected)
        } else if receiver.disconnected {
            Some(DropReason::ReceiverDisconnected)
        } else if sender.drop_outgoing {
            Some(DropReason::DropOutgoing)
        } else if receiver.drop_incoming {
            Some(DropReason::DropIncoming)
        } else if self.partitioned.get(f, t) {
            Some(DropReason::Partitioned)
        } else if !config.enabled || self.disabled.get(f, t) {
            Some(DropReason::LinkDisabled)
        } else {
            None
        }
    }

    #[inline]
    fn drop_at_send(&mut self, f: usize, t: usize, reason: DropReason) -> SendOutcome<u64> {
        self.count_drop(f, t, reason);
        SendOutcome::Dropped(reason)
    }

    #[inline]
    fn count_drop(&mut self, f: usize, t: usize, reason: DropReason) {
        self.stats.dropped.add(reason);
        self.node_stats[f].dropped_as_sender.add(reason);
        self.node_stats[t].dropped_as_receiver.add(reason);
    }

    fn set_faults(&mut self, node: NodeId, edit: impl FnOnce(&mut NodeFaults)) {
        edit(&mut self.node_faults[self.nodes.checked(node)]);
        self.refresh_quiet();
    }

    #[cold]
    fn too_large(&self, from: NodeId, to: NodeId, len: usize, mtu: usize) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "payload of {len} bytes exceeds the mtu of {mtu} bytes on link {} -> {}",
                self.nodes.name(from),
                self.nodes.name(to)
            ),
        )
    }
}

/// A directed link, packed into one word for cheap hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct LinkKey(u64);

impl LinkKey {
    #[inline]
    fn new(from: NodeId, to: NodeId) -> Self {
        Self(u64::from(from.as_u32()) << 32 | u64::from(to.as_u32()))
    }
}

/// A map keyed by directed link. Its iteration order is never observed, so
/// a fixed hasher keeps it deterministic and fast.
type LinkMap<V> = HashMap<LinkKey, V, BuildHasherDefault<LinkKeyHasher>>;

/// Hashes a [`LinkKey`] with the SplitMix64 finaliser: no per-process seed,
/// and good enough mixing for the table's low and high bits.
#[derive(Default)]
struct LinkKeyHasher(u64);

impl Hasher for LinkKeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

/// A square bit matrix stored as one growable row per source node, so adding
/// nodes never relayouts it and reading an unset row costs nothing.
#[derive(Debug, Default)]
struct BitMatrix {
    rows: Vec<Vec<u64>>,
    /// False while no bit was ever set since the last clear: the common case.
    any: bool,
}

impl Clone for BitMatrix {
    fn clone(&self) -> Self {
        Self {
            rows: self.rows.clone(),
            any: self.any,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.rows.clone_from(&source.rows);
        self.any = source.any;
    }
}

impl BitMatrix {
    #[inline]
    fn get(&self, row: usize, column: usize) -> bool {
        self.any
            && self
                .rows
                .get(row)
                .and_then(|words| words.get(column / 64))
                .is_some_and(|word| word >> (column % 64) & 1 == 1)
    }

    fn set(&mut self, row: usize, column: usize, value: bool) {
        if !value && !self.get(row, column) {
            return;
        }
        if self.rows.len() <= row {
            self.rows.resize_with(row + 1, Vec::new);
        }
        let words = &mut self.rows[row];
        if words.len() <= column / 64 {
            words.resize(column / 64 + 1, 0);
        }
        let bit = 1u64 << (column % 64);
        if value {
            words[column / 64] |= bit;
            self.any = true;
        } else {
            words[column / 64] &= !bit;
        }
    }

    fn clear(&mut self) {
        // Keep the rows' capacity: scripts tend to partition again.
        self.rows.iter_mut().for_each(|words| words.fill(0));
        self.any = false;
    }
}

/// Admits a packet to the drop-tail queue of link `f -> t` (whose busy
/// times are `busy_until`) and returns, in nanoseconds, when its last bit
/// leaves, or `QueueFull`.
///
/// The queue is a fluid model: at `now` it holds the bytes the link still
/// has to serialise until `busy_until`, so no per-packet state is kept.
#[inline(always)]
fn enqueue(
    busy_until: &mut Vec<Vec<u64>>,
    now: u64,
    (f, t): (usize, usize),
    config: &LinkConfig,
    len: usize,
) -> Result<u64, DropReason> {
    if config.bandwidth_bits_per_sec.is_none() {
        return Ok(now);
    }
    if busy_until.len() <= f {
        busy_until.resize_with(f + 1, Vec::new);
    }
    let row = &mut busy_until[f];
    if row.len() <= t {
        row.resize(t + 1, 0);
    }
    let busy = row[t];
    let backlog = config.backlog_bytes(Duration::from_nanos(busy.saturating_sub(now)));
    if backlog + len as u128 > config.queue_capacity_bytes as u128 {
        return Err(DropReason::QueueFull);
    }
    let done = busy
        .max(now)
        .saturating_add(link::nanos(config.serialization_delay(len)));
    row[t] = done;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Seeded;
    use crate::Latency;

    const MS: Duration = Duration::from_millis(1);

    fn network(names: &[&str]) -> (Network, Vec<NodeId>) {
        let mut net = Network::new();
        let ids = names.iter().map(|n| net.add_node(n).unwrap()).collect();
        (net, ids)
    }

    fn send(
        net: &mut Network,
        now: Duration,
        from: NodeId,
        to: NodeId,
        d: &mut Seeded,
    ) -> SendOutcome {
        net.send(now, from, to, 100, d).unwrap()
    }

    /// Sends the same traffic over `quiet` and over a copy that takes the
    /// general path (an unrelated link has its own, identical config), and
    /// checks both decide and count alike.
    fn assert_decides_like_the_general_path(quiet: &mut Network, n: &[NodeId]) {
        let mut general = quiet.clone();
        general
            .set_link(n[2], n[0], *general.default_link())
            .unwrap();
        let (mut dq, mut dg) = (Seeded::new(7), Seeded::new(7));
        for i in 0..200u64 {
            let (from, to) = (n[(i % 3) as usize], n[((i / 3) % 2) as usize]);
            let now = Duration::from_micros(i * 37);
            assert_eq!(
                send(quiet, now, from, to, &mut dq),
                send(&mut general, now, from, to, &mut dg),
                "send {i}"
            );
        }
        assert_eq!(quiet.stats(), general.stats());
        for &node in n {
            assert_eq!(quiet.node_stats(node), general.node_stats(node));
        }
    }

    #[test]
    fn a_quiet_network_decides_like_the_general_path() {
        let (mut net, n) = network(&["a", "b", "c"]);
        assert!(net.quiet.is_some(), "the default network is quiet");
        assert_decides_like_the_general_path(&mut net, &n);
        // Every kind of fault or decision ends quietness, and each is
        // decided as before; healing or a plain config restores it.
        net.disconnect(n[1]);
        assert!(net.quiet.is_none());
        assert_decides_like_the_general_path(&mut net, &n);
        net.heal();
        assert!(net.quiet.is_some());
        net.drop_incoming(n[0], true);
        assert_decides_like_the_general_path(&mut net, &n);
        net.heal();
        net.partition_oneway(&[n[0]], &[n[1]]);
        assert_decides_like_the_general_path(&mut net, &n);
        net.heal();
        net.set_link_enabled(n[1], n[0], false);
        assert_decides_like_the_general_path(&mut net, &n);
        net.heal();
        for config in [
            LinkConfig::default().loss_probability(0.3),
            LinkConfig::default().duplicate_probability(0.3),
            LinkConfig::default().corrupt_probability(0.3),
            LinkConfig::default().jitter(MS),
            LinkConfig::default().bandwidth_bits_per_sec(Some(1_000_000)),
            LinkConfig::default().latency(Latency::Uniform {
                min: MS,
                max: 3 * MS,
            }),
            LinkConfig {
                enabled: false,
                ..LinkConfig::default()
            },
        ] {
            net.set_default_link(config).unwrap();
            assert!(net.quiet.is_none(), "{config:?}");
            assert_decides_like_the_general_path(&mut net, &n);
        }
        net.set_default_link(LinkConfig::default().latency(Latency::Fixed(3 * MS)))
            .unwrap();
        assert_eq!(net.quiet, Some(3_000_000));
        assert_decides_like_the_general_path(&mut net, &n);
        net.update_all_links(|link| link.loss_probability = 0.5)
            .unwrap();
        assert!(net.quiet.is_none());
        let saved = net.save();
        net.update_all_links(|link| link.loss_probability = 0.0)
            .unwrap();
        assert!(net.quiet.is_some());
        net.restore(&saved);
        assert!(net.quiet.is_none(), "restored with its loss");
    }

    #[test]
    fn send_nanos_decides_exactly_like_send() {
        let config = LinkConfig::default()
            .loss_probability(0.2)
            .duplicate_probability(0.3)
            .corrupt_probability(0.2)
            .jitter(MS)
            .bandwidth_bits_per_sec(Some(10_000_000));
        let (mut a, n) = network(&["a", "b"]);
        let (mut b, _) = network(&["a", "b"]);
        a.set_default_link(config).unwrap();
        b.set_default_link(config).unwrap();
        let (mut da, mut db) = (Seeded::new(3), Seeded::new(3));
        for i in 0..500u64 {
            let now = Duration::from_micros(37 * i);
            let by_duration = send(&mut a, now, n[0], n[1], &mut da);
            let by_nanos = b.send_nanos(37_000 * i, n[0], n[1], 100, &mut db).unwrap();
            assert_eq!(
                by_duration,
                by_nanos.map_time(Duration::from_nanos),
                "send {i}"
            );
        }
        assert_eq!(a.stats(), b.stats());
    }

    #[test]
    fn restore_puts_back_counters_faults_and_links() {
        let (mut net, ids) = network(&["a", "b"]);
        let mut d = Seeded::new(1);
        send(&mut net, Duration::ZERO, ids[0], ids[1], &mut d);
        let saved = net.save();
        let sent = net.stats().sent;
        net.partition(&[ids[0]], &[ids[1]]);
        net.set_default_link(LinkConfig {
            loss_probability: 1.0,
            ..LinkConfig::default()
        })
        .unwrap();
        send(&mut net, MS, ids[0], ids[1], &mut d);
        assert!(net.is_partitioned(ids[0], ids[1]));
        assert!(net.restore(&saved));
        assert_eq!(net.stats().sent, sent);
        assert!(!net.is_partitioned(ids[0], ids[1]));
        assert!(matches!(
            send(&mut net, MS, ids[0], ids[1], &mut d),
            SendOutcome::Delivered { .. }
        ));
        // A node added since cannot be taken back: nothing is restored.
        net.add_node("c").unwrap();
        assert!(!net.can_restore(&saved));
        assert!(!net.restore(&saved));
        assert_eq!(net.stats().sent, sent + 1);
    }

    /// A decision source that logs every call, to pin down the decision order.
    struct Recorder {
        inner: Seeded,
        log: Vec<String>,
    }

    impl Decisions for Recorder {
        fn chance(&mut self, fault: Fault, p: f64) -> bool {
            self.log.push(format!("chance {fault}"));
            self.inner.chance(fault, p)
        }
        fn below(&mut self, bound: u64) -> u64 {
            self.log.push(format!("below {bound}"));
            self.inner.below(bound)
        }
        fn unit(&mut self) -> f64 {
            self.log.push("unit".into());
            self.inner.unit()
        }
    }

    #[test]
    fn default_link_delivers_once_after_fixed_latency() {
        let (mut net, n) = network(&["a", "b"]);
        let mut d = Seeded::new(0);
        let outcome = send(&mut net, 5 * MS, n[0], n[1], &mut d);
        assert_eq!(
            outcome,
            SendOutcome::Delivered {
                original: Delivery {
                    departs: 5 * MS,
                    at: 6 * MS,
                    corrupted: false,
                    duplicate: false
                },
                duplicate: None
            }
        );
        assert_eq!(
            d.consumed(),
            0,
            "a fault-free fixed link needs no decisions"
        );
    }

    #[test]
    fn loopback_is_reliable_instant_and_consumes_no_decisions() {
        let (mut net, n) = network(&["a", "b"]);
        net.set_default_link(
            LinkConfig::default()
                .loss_probability(0.5)
                .duplicate_probability(0.5)
                .jitter(MS),
        )
        .unwrap();
        net.disconnect(n[0]);
        net.drop_outgoing(n[0], true);
        net.drop_incoming(n[0], true);
        net.partition(&[n[0]], &[n[0], n[1]]);
        let mut d = Seeded::new(0);
        for i in 0..100 {
            let now = Duration::from_micros(i);
            let deliveries: Vec<_> = send(&mut net, now, n[0], n[0], &mut d)
                .into_iter()
                .collect();
            assert_eq!(
                deliveries,
                [Delivery {
                    departs: now,
                    at: now,
                    corrupted: false,
                    duplicate: false
                }]
            );
        }
        assert_eq!(d.consumed(), 0);
        assert_eq!(net.node_stats(n[0]).sent, 100);
    }

    #[test]
    fn jitter_reorders_within_bounds() {
        let (mut net, n) = network(&["a", "b"]);
        net.set_link(
            n[0],
            n[1],
            LinkConfig::default().latency(10 * MS).jitter(5 * MS),
        )
        .unwrap();
        let mut d = Seeded::new(1);
        let arrivals: Vec<Duration> = (0..1000)
            .map(|i| {
                let now = Duration::from_micros(i);
                let at = send(&mut net, now, n[0], n[1], &mut d)
                    .deliveries()
                    .next()
                    .unwrap()
                    .at;
                assert!(at >= now + 10 * MS && at <= now + 15 * MS, "{at:?}");
                at
            })
            .collect();
        let inversions = arrivals.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(
            inversions > 100,
            "jitter must reorder packets: {inversions}"
        );
    }

    fn fault_rate(config: LinkConfig, count: impl Fn(&SendOutcome) -> u64) -> u64 {
        let (mut net, n) = network(&["a", "b"]);
        net.set_default_link(config).unwrap();
        let mut d = Seeded::new(7);
        (0..100_000)
            .map(|_| count(&send(&mut net, Duration::ZERO, n[0], n[1], &mut d)))
            .sum()
    }

    #[test]
    fn loss_probability_matches_over_100k_packets() {
        let lost = fault_rate(LinkConfig::default().loss_probability(0.1), |o| {
            u64::from(o.dropped() == Some(DropReason::Loss))
        });
        // 0.5 percentage points is five standard deviations.
        assert!((9_500..=10_500).contains(&lost), "lost {lost}");
    }

    #[test]
    fn duplicate_probability_matches_and_copies_sample_their_own_latency() {
        let config = LinkConfig::default()
            .duplicate_probability(0.2)
            .latency(Latency::Uniform {
                min: MS,
                max: 2 * MS,
            });
        let duplicated = fault_rate(config, |o| {
            o.deliveries().filter(|c| c.duplicate).count() as u64
        });
        assert!(
            (19_400..=20_600).contains(&duplicated),
            "duplicated {duplicated}"
        );

        let (mut net, n) = network(&["a", "b"]);
        net.set_default_link(config.duplicate_probability(1.0))
            .unwrap();
        let mut d = Seeded::new(3);
        let differing = (0..100)
            .filter(|_| {
                let copies: Vec<_> = send(&mut net, MS, n[0], n[1], &mut d).into_iter().collect();
                assert_eq!(copies.len(), 2);
                assert!(!copies[0].duplicate && copies[1].duplicate);
                copies[0].at != copies[1].at
            })
            .count();
        assert!(differing > 90);
        assert_eq!(net.stats().duplicated, 100);
    }

    #[test]
    fn corrupt_probability_matches_per_copy() {
        let corrupted = fault_rate(LinkConfig::default().corrupt_probability(0.05), |o| {
            o.deliveries().filter(|c| c.corrupted).count() as u64
        });
        assert!(
            (4_650..=5_350).contains(&corrupted),
            "corrupted {corrupted}"
        );

        let both = LinkConfig::default()
            .corrupt_probability(1.0)
            .duplicate_probability(1.0);
        assert_eq!(
            fault_rate(both, |o| o.deliveries().filter(|c| c.corrupted).count()
                as u64),
            200_000
        );
    }

    #[test]
    fn bandwidth_serialises_packets_back_to_back_and_drops_at_capacity() {
        let (mut net, n) = network(&["a", "b"]);
        // 8 Mbit/s is one byte per microsecond: 1000 bytes take exactly 1 ms.
        let config = LinkConfig::default()
            .latency(10 * MS)
            .bandwidth_bits_per_sec(Some(8_000_000))
            .queue_capacity_bytes(3000);
        net.set_link(n[0], n[1], config).unwrap();
        let mut d = Seeded::new(0);
        let mut send_1000 =
            |net: &mut Network, now| net.send(now, n[0], n[1], 1000, &mut d).unwrap();
        let arrivals: Vec<_> = (0..3)
            .map(|_| {
                send_1000(&mut net, Duration::ZERO)
                    .deliveries()
                    .next()
                    .unwrap()
                    .at
            })
            .collect();
        assert_eq!(arrivals, [11 * MS, 12 * MS, 13 * MS]);
        assert_eq!(
            send_1000(&mut net, Duration::ZERO).dropped(),
            Some(DropReason::QueueFull)
        );
        // After 1 ms the first packet has left: room for exactly one more.
        let at = send_1000(&mut net, MS).deliveries().next().unwrap().at;
        assert_eq!(at, 14 * MS);
        assert_eq!(
            send_1000(&mut net, MS).dropped(),
            Some(DropReason::QueueFull)
        );
        // Once idle, a packet only waits for its own serialisation.
        let at = send_1000(&mut net, 100 * MS)
            .deliveries()
            .next()
            .unwrap()
            .at;
        assert_eq!(at, 111 * MS);
        assert_eq!(net.stats().dropped.get(DropReason::QueueFull), 2);
        // The reverse direction is another link with the default config.
        let back = net.send(Duration::ZERO, n[1], n[0], 1000, &mut d).unwrap();
        assert_eq!(back.deliveries().next().unwrap().at, MS);
    }

    #[test]
    fn mtu_refuses_oversized_payloads_with_a_clear_error() {
        let (mut net, n) = network(&["client", "server"]);
        net.update_link(n[0], n[1], |link| link.mtu = 1472).unwrap();
        assert_eq!(net.mtu(n[0], n[1]), 1472);
        assert_eq!(net.mtu(n[1], n[0]), MAX_UDP_PAYLOAD);
        assert_eq!(net.mtu(n[0], n[0]), MAX_UDP_PAYLOAD);
        let mut d = Seeded::new(0);
        assert!(net.send(Duration::ZERO, n[0], n[1], 1472, &mut d).is_ok());
        let err = net
            .send(Duration::ZERO, n[0], n[1], 1473, &mut d)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "payload of 1473 bytes exceeds the mtu of 1472 bytes on link client -> server"
        );
        let err = net
            .send(Duration::ZERO, n[0], n[0], 65_508, &mut d)
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("mtu of 65507 bytes on link client -> client"));
        assert_eq!(net.stats().sent, 1, "refused sends are not counted");
        assert!(net.check_mtu(n[0], n[1], 1472).is_ok());
        assert_eq!(
            net.check_mtu(n[0], n[1], 1473).unwrap_err().to_string(),
            "payload of 1473 bytes exceeds the mtu of 1472 bytes on link client -> server"
        );
    }

    #[test]
    fn two_sided_partition_cuts_both_directions_only_across_sides() {
        let (mut net, n) = network(&["a", "b", "c"]);
        net.partition(&[n[0], n[1]], &[n[2]]);
        let mut d = Seeded::new(0);
        for (from, to) in [(0, 2), (2, 0), (1, 2), (2, 1)] {
            let outcome = send(&mut net, Duration::ZERO, n[from], n[to], &mut d);
            assert_eq!(
                outcome.dropped(),
                Some(DropReason::Partitioned),
                "{from}->{to}"
            );
        }
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            None
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            None
        );
        assert!(net.is_partitioned(n[0], n[2]));
        net.heal();
        assert!(!net.is_partitioned(n[0], n[2]));
        assert_eq!(
            send(&mut net, Duration::ZERO, n[2], n[0], &mut d).dropped(),
            None
        );
    }

    #[test]
    fn oneway_partition_cuts_one_direction() {
        let (mut net, n) = network(&["a", "b"]);
        net.partition_oneway(&[n[0]], &[n[1]]);
        let mut d = Seeded::new(0);
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            Some(DropReason::Partitioned)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            None
        );
    }

    #[test]
    fn disconnect_cuts_both_roles_until_connect() {
        let (mut net, n) = network(&["a", "b"]);
        let mut d = Seeded::new(0);
        net.disconnect(n[0]);
        assert!(net.is_disconnected(n[0]));
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            Some(DropReason::SenderDisconnected)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            Some(DropReason::ReceiverDisconnected)
        );
        net.connect(n[0]);
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            None
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            None
        );
    }

    #[test]
    fn drop_incoming_and_outgoing_are_per_node_and_per_direction() {
        let (mut net, n) = network(&["a", "b", "c"]);
        let mut d = Seeded::new(0);
        net.drop_incoming(n[1], true);
        net.drop_outgoing(n[2], true);
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            Some(DropReason::DropIncoming)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            None
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[2], n[0], &mut d).dropped(),
            Some(DropReason::DropOutgoing)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[2], &mut d).dropped(),
            None
        );
        net.drop_incoming(n[1], false);
        net.drop_outgoing(n[2], false);
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            None
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[2], n[0], &mut d).dropped(),
            None
        );
    }

    #[test]
    fn disabled_links_drop_one_direction_and_heal_restores_only_the_fault() {
        let (mut net, n) = network(&["a", "b", "c"]);
        let mut d = Seeded::new(0);
        net.set_link_enabled(n[0], n[1], false);
        net.update_link(n[0], n[2], |link| link.enabled = false)
            .unwrap();
        assert!(!net.is_link_enabled(n[0], n[1]) && !net.is_link_enabled(n[0], n[2]));
        assert!(net.is_link_enabled(n[1], n[0]));
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            Some(DropReason::LinkDisabled)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[2], &mut d).dropped(),
            Some(DropReason::LinkDisabled)
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[1], n[0], &mut d).dropped(),
            None
        );
        net.heal();
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[1], &mut d).dropped(),
            None
        );
        assert_eq!(
            send(&mut net, Duration::ZERO, n[0], n[2], &mut d).dropped(),
            Some(DropReason::LinkDisabled),
            "a link configured as absent stays absent"
        );
        net.set_link_enabled(n[0], n[1], false);
        net.set_link_enabled(n[0], n[1], true);
        assert!(net.is_link_enabled(n[0], n[1]));
    }

    #[test]
    fn heal_clears_every_fault_but_keeps_link_configs() {
        let (mut net, n) = network(&["a", "b", "c"]);
        let slow = LinkConfig::default()
            .latency(50 * MS)
            .loss_probability(0.25);
        net.set_link(n[0], n[1], slow).unwrap();
        net.partition(&[n[0]], &[n[1]]);
        net.disconnect(n[2]);
        net.drop_incoming(n[0], true);
        net.drop_outgoing(n[1], true);
        net.set_link_enabled(n[1], n[2], false);
        net.heal();
        assert_eq!(*net.link(n[0], n[1]), slow);
        assert!(!net.is_partitioned(n[0], n[1]) && !net.is_disconnected(n[2]));
        let mut d = Seeded::new(0);
        for (from, to) in [(1, 0), (1, 2), (2, 0), (0, 2)] {
            assert_eq!(
                send(&mut net, Duration::ZERO, n[from], n[to], &mut d).dropped(),
                None,
                "{from}->{to}"
            );
        }
    }

    #[test]
    fn link_overrides_copy_the_default_and_reset_follows_it_again() {
        let (mut net, n) = network(&["a", "b"]);
        net.link_mut(n[0], n[1]).jitter = MS;
        assert_eq!(net.link(n[0], n[1]).latency, Latency::Fixed(MS));
        net.set_default_link(LinkConfig::default().latency(7 * MS))
            .unwrap();
        assert_eq!(
            net.link(n[0], n[1]).latency,
            Latency::Fixed(MS),
            "override kept"
        );
        assert_eq!(net.link(n[1], n[0]).latency, Latency::Fixed(7 * MS));
        net.reset_link(n[0], n[1]);
        assert_eq!(*net.link(n[0], n[1]), *net.default_link());
    }

    #[test]
    fn invalid_configs_are_refused_and_leave_links_unchanged() {
        let (mut net, n) = network(&["a", "b"]);
        let err = net
            .update_link(n[0], n[1], |link| link.loss_probability = 2.0)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("loss_probability"), "{err}");
        assert_eq!(net.link(n[0], n[1]).loss_probability, 0.0);
        assert!(net.set_default_link(LinkConfig::default().mtu(0)).is_err());
        assert_eq!(net.default_link().mtu, MAX_UDP_PAYLOAD);
    }

    #[test]
    fn decisions_are_drawn_in_the_documented_order() {
        let (mut net, n) = network(&["a", "b"]);
        net.set_default_link(
            LinkConfig::default()
                .loss_probability(0.5)
                .corrupt_probability(0.5)
                .duplicate_probability(1.0)
                .latency(Latency::Uniform {
                    min: MS,
                    max: 2 * MS,
                })
                .jitter(Duration::from_nanos(9)),
        )
        .unwrap();
        let mut d = Recorder {
            inner: Seeded::new(2),
            log: Vec::new(),
        };
        // Find a send that is not lost, and check its full decision log.
        loop {
            d.log.clear();
            if net
                .send(Duration::ZERO, n[0], n[1], 10, &mut d)
                .unwrap()
                .dropped()
                .is_none()
            {
                break;
            }
            assert_eq!(d.log, ["chance loss"]);
        }
        assert_eq!(
            d.log,
            [
                "chance loss",
                "chance corrupt",
                // duplicate_probability 1.0 is certain: no decision.
                "chance corrupt",
                "below 1000001",
                "below 10",
                "below 1000001",
                "below 10",
            ]
        );

        // Faults decided without chance consume nothing.
        net.partition(&[n[0]], &[n[1]]);
        d.log.clear();
        net.send(Duration::ZERO, n[0], n[1], 10, &mut d).unwrap();
        assert!(d.log.is_empty());
    }

    #[test]
    fn same_seed_same_outcomes() {
        let run = |seed| {
            let (mut net, n) = network(&["a", "b", "c"]);
            net.set_default_link(
                LinkConfig::default()
                    .loss_probability(0.2)
                    .duplicate_probability(0.2)
                    .corrupt_probability(0.2)
                    .latency(Latency::Pareto {
                        min: MS,
                        shape: 2.0,
                        max: 9 * MS,
                    })
                    .jitter(MS)
                    .bandwidth_bits_per_sec(Some(1_000_000)),
            )
            .unwrap();
            let mut d = Seeded::new(seed);
            let outcomes: Vec<_> = (0..2000u64)
                .map(|i| {
                    let (from, to) = (n[(i % 3) as usize], n[(i / 3 % 3) as usize]);
                    send(&mut net, Duration::from_micros(i * 50), from, to, &mut d)
                })
                .collect();
            (outcomes, *net.stats())
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11).0, run(12).0);
    }

    #[test]
    fn counters_track_sends_drops_and_runtime_reports() {
        let (mut net, n) = network(&["a", "b", "c"]);
        let mut d = Seeded::new(0);
        net.drop_incoming(n[2], true);
        send(&mut net, Duration::ZERO, n[0], n[1], &mut d);
        send(&mut net, Duration::ZERO, n[0], n[2], &mut d);
        send(&mut net, Duration::ZERO, n[1], n[2], &mut d);
        net.record_delivered(n[1]);
        net.record_drop(n[1], n[0], DropReason::NoSocket);

        let stats = net.stats();
        assert_eq!((stats.sent, stats.delivered), (3, 1));
        assert_eq!(stats.dropped.get(DropReason::DropIncoming), 2);
        assert_eq!(stats.dropped.get(DropReason::NoSocket), 1);
        assert_eq!(stats.dropped.total(), 3);

        assert_eq!(net.node_stats(n[0]).sent, 2);
        assert_eq!(net.node_stats(n[0]).dropped_as_sender.total(), 1);
        assert_eq!(
            net.node_stats(n[0])
                .dropped_as_receiver
                .get(DropReason::NoSocket),
            1
        );
        assert_eq!(net.node_stats(n[1]).delivered, 1);
        assert_eq!(
            net.node_stats(n[2])
                .dropped_as_receiver
                .get(DropReason::DropIncoming),
            2
        );
        let listed: Vec<_> = stats.dropped.iter().filter(|&(_, c)| c > 0).collect();
        assert_eq!(
            listed,
            [(DropReason::DropIncoming, 2), (DropReason::NoSocket, 1)]
        );
    }

    #[test]
    fn runtime_drops_before_send_count_as_sent_and_dropped() {
        let (mut net, n) = network(&["a", "b"]);
        net.record_dropped_send(n[0], n[1], DropReason::Monitor);
        assert_eq!(net.stats().sent, 1);
        assert_eq!(net.stats().dropped.get(DropReason::Monitor), 1);
        assert_eq!(net.node_stats(n[0]).sent, 1);
        assert_eq!(
            net.node_stats(n[1])
                .dropped_as_receiver
                .get(DropReason::Monitor),
            1
        );
    }

    #[test]
    fn all_to_all_among_many_nodes() {
        let mut net = Network::new();
        let ids: Vec<_> = (0..300)
            .map(|i| net.add_node(&format!("n{i}")).unwrap())
            .collect();
        assert_eq!(net.nodes().addr(ids[299]).to_string(), "10.0.1.46");
        net.partition(&ids[..10], &ids[10..20]);
        let mut d = Seeded::new(0);
        for &from in &ids {
            for &to in &ids {
                send(&mut net, Duration::ZERO, from, to, &mut d);
            }
        }
        assert_eq!(net.stats().sent, 90_000);
        assert_eq!(net.stats().dropped.get(DropReason::Partitioned), 200);
    }

    #[test]
    fn send_is_total_on_unvalidated_configs() {
        bolero::check!()
            .with_type::<(u64, u64, f64, f64, u64, usize, u64)>()
            .for_each(|&(a, b, p, shape, bandwidth, capacity, seed)| {
                let (mut net, n) = network(&["a", "b"]);
                *net.link_mut(n[0], n[1]) = LinkConfig {
                    latency: Latency::Pareto {
                        min: Duration::from_nanos(a),
                        shape,
                        max: Duration::from_nanos(b),
                    },
                    jitter: Duration::from_nanos(b),
                    loss_probability: p,
                    duplicate_probability: p,
                    corrupt_probability: -p,
                    bandwidth_bits_per_sec: Some(bandwidth),
                    queue_capacity_bytes: capacity,
                    mtu: usize::MAX,
                    enabled: true,
                };
                let mut d = Seeded::new(seed);
                let now = Duration::from_nanos(a);
                for _ in 0..3 {
                    let outcome = net.send(now, n[0], n[1], 1000, &mut d).unwrap();
                    assert!(outcome.into_iter().all(|copy| copy.at >= now));
                }
            });
    }
}
