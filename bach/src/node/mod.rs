//! Node lifecycle: restartable software, crashes, and per-node wall clocks.
//!
//! A node is a group (see [`group`](crate::group)). [`host`] gives a node
//! *software*: a factory producing the future the node boots with, run
//! now and again after every [`restart`]. [`crash`] stops a node at once:
//! every task of the node is dropped inside the simulation (destructors
//! run), so its sockets close and its timers vanish; packets in flight to
//! it are dropped on arrival ("node down") and packets it had not yet put
//! on the wire are discarded. Spawning onto a crashed node panics with an
//! explanation; binding a socket there fails with `NotConnected`.
//!
//! Each node also has a wall clock, [`SystemTime`](crate::time::SystemTime),
//! with its own offset and drift from simulated time, so that bugs in code
//! that reads wall time (leases, expiry computed from timestamps) can be
//! reproduced. [`Instant`](crate::time::Instant) stays the one global
//! monotonic clock.
//!
//! This module owns node state; it never decides *when* faults happen —
//! fault scripts (tasks that sleep and then call [`crash`], or
//! [`Chaos`]) do, with every random choice drawn from the simulation's
//! choice source.

mod chaos;
pub(crate) mod clock;
pub(crate) mod table;

pub use chaos::Chaos;
pub use clock::ClockOffset;
use table::Boot;

use crate::{
    group::table::GroupId,
    runtime::{context, Inner},
    trace::RawKind,
};
use std::{future::Future, rc::Rc};

/// Registers restartable software for node `name` and boots it now: the
/// future `factory()` runs as a task named after the node. After every
/// [`restart`] the node boots again from a fresh `factory()`, with the same
/// name and address. Panics outside a simulation, or if the node already
/// has software.
#[track_caller]
pub fn host<F, Fut>(name: &str, factory: F)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    context::with("bach::node::host", |inner| host_in(inner, name, factory))
}

pub(crate) fn host_in<F, Fut>(inner: &Inner, name: &str, factory: F)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let group = inner.groups.borrow_mut().intern(name);
    let boot: Boot = Rc::new(move || Box::pin(factory()));
    {
        let mut nodes = inner.nodes.borrow_mut();
        let state = nodes.get_mut(group);
        assert!(
            state.boot.is_none(),
            "node `{name}` already has software registered with `host`"
        );
        state.boot = Some(boot);
    }
    boot_node(inner, group);
}

/// Registers `f` to run (inside the simulation, on node `name`) each time
/// the node restarts, after its software boots: re-create what a restart
/// must bring back that is not a [`host`] future — processes
/// ([`Simulation::add_process_factory`](crate::Simulation::add_process_factory)
/// uses it), a node's initial state. Hooks run in registration order.
/// Panics outside a simulation.
#[track_caller]
pub fn on_restart(name: &str, f: impl Fn() + 'static) {
    context::with("bach::node::on_restart", |inner| {
        let group = inner.groups.borrow_mut().intern(name);
        inner
            .nodes
            .borrow_mut()
            .get_mut(group)
            .on_restart
            .push(Rc::new(f));
    })
}

fn boot_node(inner: &Inner, group: GroupId) {
    let boot = inner.nodes.borrow().get(group).and_then(|s| s.boot.clone());
    if let Some(boot) = boot {
        let name = inner.groups.borrow().name(group);
        let previous = inner.current_group.replace(group);
        drop(crate::task::spawn_in(inner, boot(), Some(name)));
        inner.current_group.set(previous);
    }
}

fn lookup(inner: &Inner, name: &str, what: &str) -> GroupId {
    match inner.groups.borrow().lookup(name) {
        Some(group) => group,
        None => panic!("`bach::node::{what}`: there is no node called `{name}`"),
    }
}

/// Crashes node `name` now: drops all its tasks (inside the simulation),
/// closes its sockets, cancels its timers; packets in flight to it will be
/// dropped on arrival. Crashing a crashed node does nothing. Panics outside
/// a simulation or for an unknown node.
#[track_caller]
pub fn crash(name: &str) {
    context::with("bach::node::crash", |inner| {
        let group = lookup(inner, name, "crash");
        crash_in(inner, group);
    })
}

pub(crate) fn crash_in(inner: &Inner, group: GroupId) {
    {
        let mut nodes = inner.nodes.borrow_mut();
        let state = nodes.get_mut(group);
        if state.crashed {
            return;
        }
        state.crashed = true;
    }
    inner.trace_node_event(group, RawKind::NodeCrash);
    // Destructors of the node's tasks run as those tasks, on that node.
    let outer = (inner.trace.current(), inner.current_group.get());
    let around = |victim: Option<crate::executor::TaskId>| match victim {
        Some(id) => {
            inner.trace_task_event(group, id, RawKind::Cancel);
            inner.trace.set_current(Some(id));
            inner.current_group.set(group);
        }
        None => {
            inner.trace.set_current(outer.0);
            inner.current_group.set(outer.1);
        }
    };
    inner
        .executor
        .cancel_group(group, crate::executor::join::JoinError::cancelled, around);
    crate::net::node_crashed(inner, group);
    crate::fs::state::node_crashed(&inner.kernel, &inner.disks, group);
}

/// Restarts node `name`: crashes it if it is up, then boots its software
/// again (see [`host`]) with the same name and address. A node without
/// software comes back empty. Panics outside a simulation or for an unknown
/// node.
#[track_caller]
pub fn restart(name: &str) {
    context::with("bach::node::restart", |inner| {
        let group = lookup(inner, name, "restart");
        restart_in(inner, group);
    })
}

pub(crate) fn restart_in(inner: &Inner, group: GroupId) {
    crash_in(inner, group);
    {
        let mut nodes = inner.nodes.borrow_mut();
        let state = nodes.get_mut(group);
        state.crashed = false;
        state.restarts += 1;
    }
    crate::net::node_restarted(inner, group);
    inner.trace_node_event(group, RawKind::NodeRestart);
    boot_node(inner, group);
    let hooks = inner
        .nodes
        .borrow()
        .get(group)
        .map(|state| state.on_restart.clone())
        .unwrap_or_default();
    let previous = inner.current_group.replace(group);
    for hook in hooks {
        hook();
    }
    inner.current_group.set(previous);
}

/// Whether node `name` is crashed (unknown nodes are not). Panics outside a
/// simulation.
#[track_caller]
pub fn is_crashed(name: &str) -> bool {
    context::with("bach::node::is_crashed", |inner| {
        let group = inner.groups.borrow().lookup(name);
        group.is_some_and(|g| inner.nodes.borrow().is_crashed(g))
    })
}

/// How many times node `name` was restarted. Panics outside a simulation.
#[track_caller]
pub fn restarts(name: &str) -> u32 {
    context::with("bach::node::restarts", |inner| {
        let group = inner.groups.borrow().lookup(name);
        group
            .and_then(|g| inner.nodes.borrow().get(g).map(|s| s.restarts))
            .unwrap_or(0)
    })
}

/// Sets node `name`'s wall-clock offset from simulated time (see
/// [`SystemTime`](crate::time::SystemTime)). Creates the node if needed.
#[track_caller]
pub fn set_clock_offset(name: &str, offset: impl Into<ClockOffset>) {
    let offset = offset.into();
    context::with("bach::node::set_clock_offset", |inner| {
        let group = inner.groups.borrow_mut().intern(name);
        let now = inner.now();
        inner
            .nodes
            .borrow_mut()
            .get_mut(group)
            .clock
            .set_offset(now, offset);
    })
}

/// Sets node `name`'s clock drift in parts per million: at `+100` its wall
/// clock gains 100 µs per simulated second, from now on. Creates the node if
/// needed. Panics unless `-1e6 < ppm < 1e6`.
#[track_caller]
pub fn set_clock_drift(name: &str, ppm: f64) {
    assert!(
        ppm.is_finite() && ppm.abs() < 1e6,
        "clock drift {ppm} ppm is out of range (-1e6, 1e6)"
    );
    context::with("bach::node::set_clock_drift", |inner| {
        let group = inner.groups.borrow_mut().intern(name);
        let now = inner.now();
        inner
            .nodes
            .borrow_mut()
            .get_mut(group)
            .clock
            .set_drift(now, ppm);
    })
}
