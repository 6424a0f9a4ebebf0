//! The process registry: one slot per process ever added (its process
//! box, context, inbox, named timers, socket and process task), adding a
//! process, and saving, restoring and fingerprinting the registry for
//! model checking.

use super::*;

/// The first port of a node's processes.
pub(crate) const FIRST_PORT: u16 = 7000;

/// [`Process`] plus downcasting, for `Simulation::process`, and copying,
/// for model-checking checkpoints.
pub(crate) trait ProcessAny: Process {
    fn as_any(&self) -> &dyn Any;
    fn clone_any(&self) -> Option<Box<dyn ProcessAny>>;
}

impl<P: Process> ProcessAny for P {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_any(&self) -> Option<Box<dyn ProcessAny>> {
        self.clone_process()
            .map(|copy| Box::new(copy) as Box<dyn ProcessAny>)
    }
}

/// Every process of one simulation, by slot (slots are never reused).
#[derive(Default)]
pub(crate) struct Registry {
    /// The current incarnation of each name (shared with every context).
    pub(crate) names: Rc<Names>,
    pub(crate) slots: Vec<Slot>,
    /// Slots whose process is alive: [`live_process_tasks`] without a scan
    /// (model checking asks at every step). Changes only with
    /// [`Registry::set_alive`] and [`Registry::restore`].
    live: usize,
    /// Processes ever added per node (for ports).
    pub(super) ports: BTreeMap<GroupId, u16>,
    /// Keep a per-process event log (off by default: memory stays flat).
    pub(crate) record_events: bool,
    /// Messages sent between processes (same node or not).
    pub(crate) messages: u64,
    /// Bytes of tip and data of those messages.
    pub(crate) traffic: u64,
    /// A copy of the message being handled, for a panic report.
    pub(super) handling: Message,
    /// Spare envelope boxes: every message sent over the network takes
    /// one, every message received gives it back (boxes, not values: the
    /// network moves the box, so a reused one costs no allocation).
    #[allow(clippy::vec_box)]
    pub(super) envelopes: Vec<Box<Envelope>>,
}

pub(crate) struct Slot {
    pub(crate) name: Rc<str>,
    pub(crate) node: Rc<str>,
    pub(crate) group: GroupId,
    /// Its UDP port on its node.
    pub(super) udp_port: u16,
    /// Its node in the network.
    pub(super) net_node: bach_net::NodeId,
    /// `None` only while one of its handlers runs.
    pub(crate) process: Option<Box<dyn ProcessAny>>,
    /// False once its task is gone (node crashed); set through
    /// [`Registry::set_alive`], which keeps the count of live ones.
    alive: bool,
    pub(super) inbox: VecDeque<(Rc<str>, Message)>,
    /// Active timers: name → (deadline, order of setting).
    pub(super) timers: BTreeMap<String, (u64, u64)>,
    pub(super) timer_seq: u64,
    pub(crate) local_outbox: Vec<Message>,
    pub(super) waker: Option<Waker>,
    /// The queue entry waking the host at its earliest named timer, and
    /// that deadline. Kept here, not in the process task, so that the task
    /// holds no state between polls (model-checking checkpoints copy and
    /// restore slots, never tasks).
    pub(super) timer: Option<(TimerKey, u64)>,
    /// Its socket (while `alive`: a crash drops the socket with the task).
    pub(super) socket: ProcessPort,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) log: Vec<ProcessEvent>,
    /// The context handed to each handler (`None` only while one runs).
    /// Boxed: handing it over moves a pointer, not the context.
    pub(super) context: Option<Box<Context>>,
    /// Its process task's executor slot and id (`None` until spawned).
    pub(super) task: Option<(usize, TaskId)>,
}

impl Slot {
    /// Whether the process is alive (its task runs).
    #[inline]
    pub(crate) fn alive(&self) -> bool {
        self.alive
    }

    pub(super) fn earliest_timer(&self) -> Option<(u64, &str)> {
        self.timers
            .iter()
            .min_by_key(|(_, &(deadline, seq))| (deadline, seq))
            .map(|(name, &(deadline, _))| (deadline, name.as_str()))
    }
}

/// How many processes are alive, each with its process task.
#[inline]
pub(crate) fn live_process_tasks(inner: &impl ProcessWorld) -> usize {
    registry(inner).live()
}

/// Adds every process's state to a model-checking fingerprint: name,
/// whether it is alive, `state()`, local outbox and named timers relative
/// to `now`, in name order.
pub(crate) fn hash_processes(
    inner: &impl ProcessWorld,
    now: u64,
    hasher: &mut impl std::hash::Hasher,
) {
    use std::hash::Hash;
    let reg = registry(inner);
    for (name, &id) in reg.names.by_name.borrow().iter() {
        let slot = &reg.slots[id];
        name.hash(hasher);
        slot.alive.hash(hasher);
        slot.process.as_ref().and_then(|p| p.state()).hash(hasher);
        slot.local_outbox.hash(hasher);
        for (timer, &(deadline, _)) in &slot.timers {
            (timer, deadline.saturating_sub(now)).hash(hasher);
        }
    }
}

/// Every slot's state, saved by [`Registry::save`].
pub(crate) struct SavedProcesses {
    pub(super) slots: Vec<SavedSlot>,
    pub(super) messages: u64,
    pub(super) traffic: u64,
}

pub(super) struct SavedSlot {
    pub(super) process: Box<dyn ProcessAny>,
    pub(super) alive: bool,
    pub(super) inbox: VecDeque<(Rc<str>, Message)>,
    pub(super) timers: BTreeMap<String, (u64, u64)>,
    pub(super) timer_seq: u64,
    pub(super) local_outbox: Vec<Message>,
    pub(super) waker: Option<Waker>,
    pub(super) timer: Option<(TimerKey, u64)>,
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) log_len: usize,
}

impl Registry {
    /// How many processes are alive, each with its process task.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        debug_assert_eq!(
            self.live,
            self.slots.iter().filter(|slot| slot.alive).count(),
            "the live-process count matches the slots"
        );
        self.live
    }

    /// Marks the process of slot `id` alive or dead.
    pub(super) fn set_alive(&mut self, id: usize, alive: bool) {
        let slot = &mut self.slots[id];
        if slot.alive != alive {
            slot.alive = alive;
            if alive {
                self.live += 1;
            } else {
                self.live -= 1;
            }
        }
    }

    /// A copy of every process and its slot, for [`Registry::restore`]
    /// (model-checking checkpoints). `None` if a process does not copy
    /// itself ([`Process::clone_process`]).
    pub(crate) fn save(&self) -> Option<SavedProcesses> {
        let slots = self
            .slots
            .iter()
            .map(|slot| {
                Some(SavedSlot {
                    process: slot.process.as_ref()?.clone_any()?,
                    alive: slot.alive,
                    inbox: slot.inbox.clone(),
                    timers: slot.timers.clone(),
                    timer_seq: slot.timer_seq,
                    local_outbox: slot.local_outbox.clone(),
                    waker: slot.waker.clone(),
                    timer: slot.timer,
                    sent: slot.sent,
                    received: slot.received,
                    log_len: slot.log.len(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SavedProcesses {
            slots,
            messages: self.messages,
            traffic: self.traffic,
        })
    }

    /// Puts every slot back as [`Registry::save`] found it (with fresh
    /// copies of the saved processes, so the save can be restored again).
    /// `false` if processes were added since.
    pub(crate) fn restore(&mut self, saved: &SavedProcesses) -> bool {
        if self.slots.len() != saved.slots.len() {
            return false;
        }
        for (slot, saved) in self.slots.iter_mut().zip(&saved.slots) {
            slot.process = Some(
                saved
                    .process
                    .clone_any()
                    .expect("a process that copied itself once copies itself again"),
            );
            slot.alive = saved.alive;
            slot.inbox.clone_from(&saved.inbox);
            slot.timers.clone_from(&saved.timers);
            slot.timer_seq = saved.timer_seq;
            slot.local_outbox.clone_from(&saved.local_outbox);
            slot.waker.clone_from(&saved.waker);
            slot.timer = saved.timer;
            slot.sent = saved.sent;
            slot.received = saved.received;
            slot.log.truncate(saved.log_len);
        }
        self.live = self.slots.iter().filter(|slot| slot.alive).count();
        self.messages = saved.messages;
        self.traffic = saved.traffic;
        true
    }
}

pub(crate) fn registry(inner: &impl ProcessWorld) -> std::cell::RefMut<'_, Registry> {
    inner
        .processes()
        .try_borrow_mut()
        .expect("the process registry is not borrowed while user code runs")
}

/// Adds `process` as `name` on `node`, runs `on_start`, applies its actions.
pub(crate) fn add<W: ProcessWorld>(
    inner: &W,
    name: &str,
    node: &str,
    process: Box<dyn ProcessAny>,
) -> usize {
    let group = inner.groups.borrow_mut().intern(node);
    let id = {
        let mut reg = registry(inner);
        if let Some(&old) = reg.names.by_name.borrow().get(name) {
            assert!(
                !reg.slots[old].alive(),
                "add_process: a process named `{name}` already runs (on node `{}`)",
                reg.slots[old].node
            );
        }
        let port = {
            let next = reg.ports.entry(group).or_insert(0);
            let port = FIRST_PORT
                .checked_add(*next)
                .unwrap_or_else(|| panic!("add_process: node `{node}` ran out of process ports"));
            *next += 1;
            port
        };
        let id = reg.slots.len();
        let socket = ProcessPort::bind(inner, group, port, id).unwrap_or_else(|error| {
            panic!(
                "add_process: cannot bind process `{name}` to port {port} on node `{node}`: {error}"
            )
        });
        let net_node = crate::net::state::node_of_group(inner, group)
            .expect("a node with a bound socket is in the network");
        let name: Rc<str> = name.into();
        let names = reg.names.clone();
        reg.slots.push(Slot {
            name: name.clone(),
            node: node.into(),
            group,
            udp_port: port,
            net_node,
            process: Some(process),
            alive: true,
            inbox: VecDeque::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            local_outbox: Vec::new(),
            waker: None,
            timer: None,
            socket,
            sent: 0,
            received: 0,
            log: Vec::new(),
            context: Some(Box::new(Context::new(
                name.clone(),
                node.into(),
                group,
                names,
            ))),
            task: None,
        });
        reg.live += 1;
        reg.names.by_name.borrow_mut().insert(name.clone(), id);
        reg.names.adds.set(reg.names.adds.get() + 1);
        drop(reg);
        let previous = inner.current_group.replace(group);
        let (index, task) = inner.spawn(run::<W>(id, socket), Some(name));
        // Nothing joins a process task: its slot is freed when it finishes.
        inner.executor.detach(index, task);
        inner.current_group.set(previous);
        registry(inner).slots[id].task = Some((index, task));
        id
    };
    offer(inner, id, Incoming::Start);
    id
}
