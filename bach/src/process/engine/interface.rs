//! What a process is and what its handlers act through: the [`Process`]
//! trait, the [`Context`] handed to each handler (it only *collects* the
//! handler's actions — sends, local messages, timer changes — which the
//! engine applies, in order, once the handler returns), and the entries of
//! a process's event log. Public as `bach::process::{Process, Context,
//! ProcessEvent, ProcessEventKind}`.

use crate::{
    group::table::GroupId,
    kernel::{current, rng::SimRng},
    process::message::Message,
};
use rand::distr::{Distribution, StandardUniform};
use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    rc::Rc,
    time::Duration,
};

/// A process: state plus handlers, AnySystem style.
///
/// Handlers run one at a time, inside the process's task on its node, at
/// the simulated instant the message, local message or timer arrives. A
/// handler that panics aborts the run; the panic message names the process
/// and what it was handling.
pub trait Process: 'static {
    /// Called once, when the process is added (default: nothing).
    fn on_start(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }

    /// A message from process `from` arrived.
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context);

    /// A local message from the outside world (the test) arrived (default:
    /// panics, naming the message — a process that expects none should
    /// not silently ignore one).
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        let _ = ctx;
        panic!("unexpected local message {msg}: this process does not implement on_local_message");
    }

    /// Timer `name` fired (default: nothing).
    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        let _ = (name, ctx);
    }

    /// A printable, hashable summary of the state, for inspection, the
    /// trace and state fingerprints; `None` (the default) when the process
    /// does not report one. A `String` is both `Debug` and `Hash`, and two
    /// processes in the same state must return the same string.
    fn state(&self) -> Option<String> {
        None
    }

    /// A copy of this process, for model checking (default: `None`).
    ///
    /// When every process of a model-checked system returns a copy (and
    /// the system has no tasks besides its processes), the depth-first
    /// explorer saves the system at each step and resumes a backtracked
    /// path from the nearest saved state instead of re-running the setup
    /// and the whole prefix: the same paths, states and replay tokens,
    /// several times faster. Implement it as `Some(self.clone())`, as
    /// AnySystem asks its processes to be `Clone`. Copies are taken and
    /// put back between handler calls only.
    fn clone_process(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// One entry of a process's event log (see `Simulation::event_log`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEvent {
    /// Simulated time since the start.
    pub time: Duration,
    /// What happened.
    pub kind: ProcessEventKind,
}

/// What a [`ProcessEvent`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessEventKind {
    /// The process sent `msg` to `to`.
    MessageSent {
        /// The receiving process.
        to: String,
        /// The message.
        msg: Message,
    },
    /// The process received `msg` from `from`.
    MessageReceived {
        /// The sending process.
        from: String,
        /// The message (as received: possibly corrupted).
        msg: Message,
    },
    /// The test sent the process a local message.
    LocalMessageReceived(Message),
    /// The process emitted a local message.
    LocalMessageSent(Message),
    /// The process armed a timer.
    TimerSet {
        /// The timer's name.
        name: String,
        /// Its delay.
        delay: Duration,
    },
    /// A timer fired.
    TimerFired(String),
    /// The process cancelled an active timer.
    TimerCancelled(String),
}

/// The current incarnation of each process name, shared by the registry
/// and every context (which looks receivers up without the registry).
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) by_name: RefCell<BTreeMap<Rc<str>, usize>>,
    /// Processes ever added: a context's remembered receiver is valid
    /// while this is unchanged.
    pub(crate) adds: Cell<u64>,
}

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

/// The handle a [`Process`] handler acts through.
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
    /// process was added since (`Names::adds` unchanged).
    last_target: Option<(Rc<str>, usize)>,
    names: Rc<Names>,
    adds_seen: u64,
}

impl Context {
    pub(crate) fn new(name: Rc<str>, node: Rc<str>, group: GroupId, names: Rc<Names>) -> Self {
        Self {
            name,
            node,
            group,
            actions: Vec::new(),
            last_target: None,
            names,
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
                    && self.adds_seen == self.names.adds.get() =>
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
        let (name, slot) = {
            let names = self.names.by_name.borrow();
            match names.get_key_value(to) {
                Some((name, &slot)) => (name.clone(), slot),
                None => {
                    let known: Vec<&str> = names.keys().map(|name| &**name).collect();
                    panic!(
                        "process `{}` sent {} to unknown process `{to}` (known: {})",
                        self.name,
                        msg.tip,
                        known.join(", ")
                    )
                }
            }
        };
        self.adds_seen = self.names.adds.get();
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
        current::with("bach::process::Context::time", |kernel| {
            let now = kernel.now();
            let nanos = kernel
                .nodes
                .borrow()
                .get(self.group)
                .map_or(now as i128, |node| node.clock.read(now));
            nanos as f64 / 1e9
        })
    }

    /// A random number in `[0, 1)` from the simulation's choice source.
    pub fn rand(&mut self) -> f64 {
        StandardUniform.sample(&mut SimRng::default())
    }

    /// A random number in `range` from the simulation's choice source.
    /// Panics on an empty range.
    #[track_caller]
    pub fn gen_range<T, R>(&mut self, range: R) -> T
    where
        T: rand::distr::uniform::SampleUniform,
        R: rand::distr::uniform::SampleRange<T>,
    {
        crate::kernel::rng::gen_range("bach::process::Context::gen_range", range)
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
