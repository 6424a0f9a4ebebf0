//! The process engine: running processes on tasks — the per-simulation
//! registry (`registry`), the one way into a handler (`handler`), the
//! application of a handler's actions (`actions`) and the task of
//! each process (`task`). It takes messages the run loop hands it and
//! sends through the network engine; the network never calls it.
//!
//! Each process is one task on its node (named after the process) owning a
//! port of the network engine (`net::state::ProcessPort`): `7000 + n` for the node's
//! `n`-th process (counting every process ever added there). The task waits
//! for three things only: same-node messages pushed to its inbox, datagrams
//! on its socket, and its earliest named timer (one [`Sleep`], re-armed as
//! timers change). A datagram that arrives while nothing is queued on the
//! socket does not wait for the task: the network hands it to [`receive`],
//! which runs the handler at once, as the task would on its next poll (a
//! message that finds same-node messages waiting joins them in the inbox,
//! so the order the task would take them in holds). Exploring
//! interleavings, the task receives every datagram itself, as a step.
//! The `#[inline(always)]`/`#[inline(never)]`/`#[cold]` marks here are
//! measured with the network engine's (see `net::state`): the message path
//! (`offer`, `run_handler`, a send) inlines, actions other than a send and
//! every failure path stay out of line.
//! The registry never holds a borrow while user code runs: a handler gets
//! the process box taken out of its slot and put back after.

use super::message::{self, Envelope, Message};
use crate::{
    executor::TaskId,
    group::table::GroupId,
    net::payload::Payload,
    net::state::{NetWorld, ProcessPort, Received},
    time::timers::TimerKey,
    trace::recorder::RawKind,
};
use std::{
    any::Any,
    collections::{BTreeMap, VecDeque},
    future::poll_fn,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
    rc::Rc,
    task::{Poll, Waker},
    time::Duration,
};

/// What the process engine needs of the world: what the network engine
/// needs (the kernel, the network state, the fault budgets), the registry
/// of processes, and a way for a process task to find its world when polled.
/// The world (`runtime::Inner`) implements it; the engine never names the
/// world.
pub(crate) trait ProcessWorld: NetWorld + Sized + 'static {
    /// The registry of processes.
    fn processes(&self) -> &std::cell::RefCell<Registry>;

    /// Runs `f` with the world entered on this thread, or `None` outside
    /// any (a process task dropped after its simulation).
    fn try_current<R>(f: impl FnOnce(Option<&Self>) -> R) -> R;
}

mod actions;
mod handler;
mod interface;
mod registry;
mod task;

use actions::*;
use handler::*;
pub(crate) use handler::{offer, receive, Incoming};
use interface::{Action, Names};
pub use interface::{Context, Process, ProcessEvent, ProcessEventKind};
pub(crate) use registry::{
    add, hash_processes, live_process_tasks, registry, ProcessAny, Registry, SavedProcesses, Slot,
};
use task::*;
