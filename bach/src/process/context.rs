//! [`Context`]: what a handler may do. Handlers are synchronous; the
//! context only *collects* their actions (sends, local messages, timer
//! changes), which the host applies, in order, once the handler returns.

use super::Message;
use crate::group::table::GroupId;
use std::{cell::Cell, rc::Rc, time::Duration};

/// One action requested by a handler.
#[derive(Debug)]
pub(crate) enum Action {
    /// `to` is the slot of the receiving process.
    Send {
        msg: Message,
        to: usize,
    },
    Local(Message),
    SetTimer {
        name: String,
        delay: Duration,
        once: bool,
    },
    CancelTimer(String),
}

/// The handle a [`Process`](super::Process) handler acts through.
///
/// Every method is cheap and infallible; the effects happen when the
/// handler returns, in the order requested: messages to processes on the
/// same node are delivered reliably in the same instant; messages to other
/// nodes go over the simulated network (faults decided at send time).
///
/// A process keeps one context for its whole life (handed to each of its
/// handlers in turn), so it also remembers the process it sent to last.
pub struct Context {
    pub(crate) name: Rc<str>,
    pub(crate) node: Rc<str>,
    pub(crate) group: GroupId,
    pub(crate) actions: Vec<Action>,
    /// The last receiver looked up: its name and slot, valid while no
    /// process was added since (`Registry::adds` unchanged).
    last_target: Option<(Rc<str>, usize)>,
    adds: Rc<Cell<u64>>,
    adds_seen: u64,
}

impl Context {
    pub(crate) fn new(name: Rc<str>, node: Rc<str>, group: GroupId, adds: Rc<Cell<u64>>) -> Self {
        Self {
            name,
            node,
            group,
            actions: Vec::new(),
            last_target: None,
            adds,
            adds_seen: 0,
        }
    }

    /// Sends `msg` to the process named `to` (on any node). Panics if no
    /// process was ever added under that name (listing the known ones).
    #[track_caller]
    #[inline(always)]
    pub fn send(&mut self, msg: Message, to: impl AsRef<str>) {
        let to = to.as_ref();
        let target = match &self.last_target {
            // A reply to `from` passes the very name the registry holds:
            // the pointers match, and the bytes need no comparing.
            Some((name, slot))
                if (std::ptr::eq(name.as_ptr(), to.as_ptr()) && name.len() == to.len()
                    || **name == *to)
                    && self.adds_seen == self.adds.get() =>
            {
                *slot
            }
            _ => self.look_up(to, &msg),
        };
        self.actions.push(Action::Send { msg, to: target });
    }

    /// The slot of the process now named `to`, remembered for the next send.
    #[track_caller]
    fn look_up(&mut self, to: &str, msg: &Message) -> usize {
        let (name, slot) = crate::runtime::context::with("bach::process::Context::send", |inner| {
            let reg = inner.processes.borrow();
            match reg.by_name.get_key_value(to) {
                Some((name, &slot)) => (name.clone(), slot),
                None => {
                    let known: Vec<&str> = reg.by_name.keys().map(|name| &**name).collect();
                    panic!(
                        "process `{}` sent {} to unknown process `{to}` (known: {})",
                        self.name,
                        msg.tip,
                        known.join(", ")
                    )
                }
            }
        });
        self.adds_seen = self.adds.get();
        self.last_target = Some((name, slot));
        slot
    }

    /// Emits a local message to the outside world (the test reads it with
    /// `Simulation::read_local_messages` or `step_until_local_message`).
    pub fn send_local(&mut self, msg: Message) {
        self.actions.push(Action::Local(msg));
    }

    /// Arms timer `name` to fire `delay` from now. Re-setting an active
    /// timer replaces it: it fires once, at the new time.
    pub fn set_timer(&mut self, name: impl Into<String>, delay: Duration) {
        self.actions.push(Action::SetTimer {
            name: name.into(),
            delay,
            once: false,
        });
    }

    /// Arms timer `name` unless it is already active (then does nothing).
    pub fn set_timer_once(&mut self, name: impl Into<String>, delay: Duration) {
        self.actions.push(Action::SetTimer {
            name: name.into(),
            delay,
            once: true,
        });
    }

    /// Cancels timer `name` (nothing happens if it is not active).
    pub fn cancel_timer(&mut self, name: impl Into<String>) {
        self.actions.push(Action::CancelTimer(name.into()));
    }

    /// The node's wall clock in seconds since the simulation started,
    /// including the node's clock offset and drift (see
    /// [`node::set_clock_offset`](crate::node::set_clock_offset)); may be
    /// negative for a clock set behind. Like AnySystem's `ctx.time()`.
    pub fn time(&self) -> f64 {
        crate::runtime::context::with("bach::process::Context::time", |inner| {
            let now = inner.now();
            let nanos = inner
                .nodes
                .borrow()
                .get(self.group)
                .map_or(now as i128, |node| node.clock.read(now));
            nanos as f64 / 1e9
        })
    }

    /// A random number in `[0, 1)` from the simulation's choice source.
    pub fn rand(&mut self) -> f64 {
        crate::rand::gen::<f64>()
    }

    /// A random number in `range` from the simulation's choice source.
    pub fn gen_range<T, R>(&mut self, range: R) -> T
    where
        T: rand::distr::uniform::SampleUniform,
        R: rand::distr::uniform::SampleRange<T>,
    {
        crate::rand::gen_range(range)
    }

    /// This process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node this process runs on.
    pub fn node(&self) -> &str {
        &self.node
    }
}
