//! Network control: partitions, disconnections, link configuration and
//! counters, from tasks (fault scripts) and from test code.
//!
//! The free functions act on the current simulation and panic outside one;
//! the same operations exist on [`Simulation`](crate::Simulation) for test
//! code between steps. Nodes are named like groups; naming a node that does
//! not exist panics with the list of known ones (a fault script with a typo
//! should fail loudly, not partition nothing).
//!
//! Faults act on packets sent from then on: a packet already in flight is
//! never recalled, but one arriving at a node that is disconnected by then
//! is dropped (`ReceiverDisconnected`).
//!
//! ```
//! use bach::{ext::*, net};
//!
//! bach::sim(|| {
//!     async {
//!         1.s().sleep().await;
//!         net::partition(&["a"], &["b", "c"]);
//!         5.s().sleep().await;
//!         net::heal();
//!         // A slow, lossy link from a to b (one direction).
//!         net::link("a", "b").latency(50.ms()).loss_probability(0.01);
//!     }
//!     .group("chaos")
//!     .primary()
//!     .spawn();
//!     for node in ["a", "b", "c"] {
//!         async {}.group(node).spawn();
//!     }
//! });
//! ```

use super::state::{self, State};
use crate::{
    runtime::{context, Inner},
    trace::RawKind,
};
use bach_net::{Latency, LinkConfig, NodeId, NodeStats, Stats};
use std::{io, rc::Weak, time::Duration};

#[track_caller]
fn node(st: &State, name: &str) -> NodeId {
    st.node_by_name(name)
        .unwrap_or_else(|error| panic!("bach::net: {error}"))
}

#[track_caller]
fn nodes<N: AsRef<str>>(st: &State, names: &[N]) -> Vec<NodeId> {
    names.iter().map(|name| node(st, name.as_ref())).collect()
}

pub(crate) fn partition_in<A: AsRef<str>, B: AsRef<str>>(inner: &Inner, a: &[A], b: &[B]) {
    {
        let mut st = state::borrow(inner);
        let (a, b) = (nodes(&st, a), nodes(&st, b));
        st.network.partition(&a, &b);
    }
    trace_fault(inner, || format!("partition {} | {}", list(a), list(b)));
}

/// Records a fault change in the trace (formatting only when recording).
fn trace_fault(inner: &Inner, description: impl FnOnce() -> String) {
    if inner.trace.enabled() {
        inner.trace_event(RawKind::Fault(description().into()));
    }
}

fn list<N: AsRef<str>>(names: &[N]) -> String {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    format!("[{}]", names.join(", "))
}

pub(crate) fn partition_oneway_in<A: AsRef<str>, B: AsRef<str>>(
    inner: &Inner,
    from: &[A],
    to: &[B],
) {
    {
        let mut st = state::borrow(inner);
        let (from, to) = (nodes(&st, from), nodes(&st, to));
        st.network.partition_oneway(&from, &to);
    }
    trace_fault(inner, || {
        format!("partition {} -> {}", list(from), list(to))
    });
}

pub(crate) fn heal_in(inner: &Inner) {
    state::borrow(inner).network.heal();
    trace_fault(inner, || "heal".to_string());
}

pub(crate) fn set_connected_in(inner: &Inner, name: &str, connected: bool) {
    let mut st = state::borrow(inner);
    let node = node(&st, name);
    if connected {
        st.network.connect(node);
    } else {
        st.network.disconnect(node);
    }
    drop(st);
    trace_fault(inner, || {
        format!(
            "{} {name}",
            if connected { "connect" } else { "disconnect" }
        )
    });
}

pub(crate) fn drop_incoming_in(inner: &Inner, name: &str, drop: bool) {
    let mut st = state::borrow(inner);
    let node = node(&st, name);
    st.network.drop_incoming(node, drop);
    std::mem::drop(st);
    trace_fault(inner, || format!("drop incoming to {name}: {drop}"));
}

pub(crate) fn drop_outgoing_in(inner: &Inner, name: &str, drop: bool) {
    let mut st = state::borrow(inner);
    let node = node(&st, name);
    st.network.drop_outgoing(node, drop);
    std::mem::drop(st);
    trace_fault(inner, || format!("drop outgoing from {name}: {drop}"));
}

pub(crate) fn link_in(inner: &Inner, from: &str, to: &str) -> Link {
    let st = state::borrow(inner);
    Link {
        sim: inner.rc_weak(),
        from: node(&st, from),
        to: node(&st, to),
    }
}

pub(crate) fn node_stats_in(inner: &Inner, name: &str) -> NodeStats {
    let st = state::borrow(inner);
    *st.network.node_stats(node(&st, name))
}

/// Cuts both directions between every node of `side_a` and every node of
/// `side_b`, until [`heal`]. Panics on an unknown node name.
#[track_caller]
pub fn partition<A: AsRef<str>, B: AsRef<str>>(side_a: &[A], side_b: &[B]) {
    context::with("bach::net::partition", |inner| {
        partition_in(inner, side_a, side_b)
    })
}

/// Cuts only the direction from every node of `from` to every node of `to`.
#[track_caller]
pub fn partition_oneway<A: AsRef<str>, B: AsRef<str>>(from: &[A], to: &[B]) {
    context::with("bach::net::partition_oneway", |inner| {
        partition_oneway_in(inner, from, to)
    })
}

/// Clears every fault: partitions, disconnections, dropped directions and
/// disabled links. Link configurations stay.
#[track_caller]
pub fn heal() {
    context::with("bach::net::heal", heal_in)
}

/// Disconnects `node`: it neither sends nor receives (its loopback works),
/// until [`connect`] or [`heal`].
#[track_caller]
pub fn disconnect(node: &str) {
    context::with("bach::net::disconnect", |inner| {
        set_connected_in(inner, node, false)
    })
}

/// Reconnects `node` after [`disconnect`].
#[track_caller]
pub fn connect(node: &str) {
    context::with("bach::net::connect", |inner| {
        set_connected_in(inner, node, true)
    })
}

/// Makes `node` drop every packet addressed to it (`true`), or stop.
#[track_caller]
pub fn drop_incoming(node: &str, drop: bool) {
    context::with("bach::net::drop_incoming", |inner| {
        drop_incoming_in(inner, node, drop)
    })
}

/// Makes `node` drop every packet it sends (`true`), or stop.
#[track_caller]
pub fn drop_outgoing(node: &str, drop: bool) {
    context::with("bach::net::drop_outgoing", |inner| {
        drop_outgoing_in(inner, node, drop)
    })
}

/// The directed link from `from` to `to`, to read or change its
/// configuration. Panics on an unknown node name.
#[track_caller]
pub fn link(from: &str, to: &str) -> Link {
    context::with("bach::net::link", |inner| link_in(inner, from, to))
}

/// The configuration of every link not configured on its own.
#[track_caller]
pub fn default_link() -> LinkConfig {
    context::with("bach::net::default_link", |inner| {
        *state::borrow(inner).network.default_link()
    })
}

/// Replaces the default link configuration (links configured on their own
/// keep theirs). Fails with `InvalidInput`, naming the field, if `config`
/// is invalid.
#[track_caller]
pub fn set_default_link(config: LinkConfig) -> io::Result<()> {
    context::with("bach::net::set_default_link", |inner| {
        state::borrow(inner).network.set_default_link(config)
    })
}

/// Network-wide packet counters: sent, delivered, duplicated, corrupted and
/// dropped by reason.
#[track_caller]
pub fn stats() -> Stats {
    context::with("bach::net::stats", |inner| {
        *state::borrow(inner).network.stats()
    })
}

/// The packet counters of `node`. Panics on an unknown node name.
#[track_caller]
pub fn node_stats(node: &str) -> NodeStats {
    context::with("bach::net::node_stats", |inner| node_stats_in(inner, node))
}

/// One direction of a link, to read or change its configuration.
///
/// The builder-style methods apply at once and panic on an invalid value
/// (with the field and value in the message); [`set`](Self::set) and
/// [`update`](Self::update) return the error instead.
///
/// ```
/// use bach::{ext::*, net};
///
/// bach::sim(|| {
///     async {}.group("a").spawn();
///     async {}.group("b").spawn();
///     let link = net::link("a", "b").latency(20.ms()).jitter(5.ms());
///     assert_eq!(link.config().jitter, 5.ms());
///     assert!(link.update(|config| config.loss_probability = 2.0).is_err());
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Link {
    sim: Weak<Inner>,
    from: NodeId,
    to: NodeId,
}

impl Link {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let inner = self
            .sim
            .upgrade()
            .expect("bach::net::Link used after its simulation ended");
        let mut st = state::borrow(&*inner);
        f(&mut st)
    }

    /// The configuration in effect.
    pub fn config(&self) -> LinkConfig {
        self.with(|st| *st.network.link(self.from, self.to))
    }

    /// Replaces the configuration; `InvalidInput` (link unchanged) if invalid.
    pub fn set(&self, config: LinkConfig) -> io::Result<()> {
        self.with(|st| st.network.set_link(self.from, self.to, config))
    }

    /// Edits the configuration; `InvalidInput` (link unchanged) if the
    /// result is invalid.
    pub fn update(&self, edit: impl FnOnce(&mut LinkConfig)) -> io::Result<()> {
        self.with(|st| st.network.update_link(self.from, self.to, edit))
    }

    #[track_caller]
    fn apply(self, edit: impl FnOnce(&mut LinkConfig)) -> Self {
        if let Err(error) = self.update(edit) {
            panic!("bach::net::Link: {error}");
        }
        self
    }

    /// Sets the latency (a `Duration` is a fixed latency).
    #[track_caller]
    pub fn latency(self, latency: impl Into<Latency>) -> Self {
        let latency = latency.into();
        self.apply(|config| config.latency = latency)
    }

    /// Sets the jitter: extra delay uniform in `[0, jitter]`, per copy.
    #[track_caller]
    pub fn jitter(self, jitter: Duration) -> Self {
        self.apply(|config| config.jitter = jitter)
    }

    /// Sets the probability that a packet is lost.
    #[track_caller]
    pub fn loss_probability(self, p: f64) -> Self {
        self.apply(|config| config.loss_probability = p)
    }

    /// Sets the probability that a packet is delivered twice.
    #[track_caller]
    pub fn duplicate_probability(self, p: f64) -> Self {
        self.apply(|config| config.duplicate_probability = p)
    }

    /// Sets the probability that a copy has a payload bit flipped.
    #[track_caller]
    pub fn corrupt_probability(self, p: f64) -> Self {
        self.apply(|config| config.corrupt_probability = p)
    }

    /// Sets the bandwidth in bits per second (`None`: unlimited).
    #[track_caller]
    pub fn bandwidth_bits_per_sec(self, bandwidth: Option<u64>) -> Self {
        self.apply(|config| config.bandwidth_bits_per_sec = bandwidth)
    }

    /// Sets the bandwidth queue's capacity in payload bytes.
    #[track_caller]
    pub fn queue_capacity_bytes(self, bytes: usize) -> Self {
        self.apply(|config| config.queue_capacity_bytes = bytes)
    }

    /// Sets the largest payload in bytes.
    #[track_caller]
    pub fn mtu(self, mtu: usize) -> Self {
        self.apply(|config| config.mtu = mtu)
    }

    /// Disables the link as a fault (cleared by [`heal`]) or re-enables it.
    pub fn enabled(self, enabled: bool) -> Self {
        self.with(|st| st.network.set_link_enabled(self.from, self.to, enabled));
        self
    }

    /// Makes the link follow the default configuration again.
    pub fn reset(self) -> Self {
        self.with(|st| st.network.reset_link(self.from, self.to));
        self
    }
}
